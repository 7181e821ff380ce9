//! `triage duplicates eval` and `triage cases bench`: the repeated-call rules judged on labelled
//! pairs, and the recent-case index timed at a city's volume.

use std::path::Path;

use anyhow::Result;

use hotline_triage::cases::pairs;
use hotline_triage::config::Settings;

use super::load_dispatch;

pub fn duplicates_eval(settings: &Settings, pairs_file: &Path, source: &Path, text_fields: &[String], markdown: bool, random_texts: usize) -> Result<()> {
    let labelled = pairs::load_pairs(pairs_file).map_err(anyhow::Error::msg)?;
    let texts = pairs::load_texts(source, &labelled, text_fields).map_err(anyhow::Error::msg)?;
    let model = load_dispatch(settings)?;
    let evidence = pairs::evidence(&model, &labelled, &texts)?;
    let sample = pairs::load_sample(source, random_texts, &labelled, text_fields).map_err(anyhow::Error::msg)?;
    let random = pairs::random_evidence(&model, &sample)?;
    let result = pairs::evaluate(&evidence, &random);
    if markdown {
        print!("{}", result.markdown());
    } else {
        // Each pair's evidence too, so a reader can see which pairs a rule gets wrong.
        let per_pair: Vec<serde_json::Value> =
            labelled.iter().zip(&evidence).map(|(p, e)| serde_json::json!({"a": p.a, "b": p.b, "evidence": e})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"result": result, "pairs": per_pair}))?);
    }
    Ok(())
}

pub fn bench(size: usize, queries: usize) -> Result<()> {
    let report = hotline_triage::cases::bench::index_query_time(size, queries, 384, rayon::current_num_threads());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
