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

/// The case store for offline commands on the service's database (no embeddings are read).
fn open_record(settings: &Settings, db: Option<String>) -> Result<hotline_triage::cases::CaseStore> {
    Ok(hotline_triage::cases::CaseStore::open(super::open_existing_database(settings, db)?, "", 1, settings.cases.clone())?)
}

pub fn import(settings: &Settings, input: &Path, errors: &Path, db: Option<String>) -> Result<()> {
    let store = open_record(settings, db)?;
    let taxonomy = hotline_triage::dispatch::Taxonomy::load(&settings.taxonomy)?;
    let offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    let summary = hotline_triage::cases::import::import(&store, input, errors, offset, |d| taxonomy.department(d).is_some())?;
    eprintln!("{} rows: {} recorded, {} already recorded, {} errors (in {})", summary.rows, summary.recorded, summary.repeats, summary.errors, errors.display());
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

pub fn kpis(settings: &Settings, dir: &Path, from: Option<String>, to: Option<String>, db: Option<String>) -> Result<()> {
    let store = open_record(settings, db)?;
    let offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    let to = to.map(|t| super::city_time(settings, "to", &t)).transpose()?.map_or_else(|| chrono::Utc::now().timestamp(), |t| t.timestamp());
    let from = from.map(|t| super::city_time(settings, "from", &t)).transpose()?.map_or(to - 28 * 86_400, |t| t.timestamp());
    anyhow::ensure!(from < to, "--from must be before --to");
    let filter = hotline_triage::cases::kpis::KpiFilter { from, to, ..Default::default() };
    let report = store.kpis(&filter, offset.local_minus_utc() as i64, 0.01)?;
    let taxonomy = hotline_triage::dispatch::Taxonomy::load(&settings.taxonomy)?;
    let path = hotline_triage::cases::kpi_report::write(dir, &report, |d| taxonomy.department(d).map(|x| format!("{} ({d})", x.name)).unwrap_or_else(|| d.to_string()))?;
    eprintln!("wrote {}", path.display());
    println!("{}", serde_json::to_string(&report.overall)?);
    Ok(())
}

/// Department first and in the top 3, for the serving heads and the candidate, on the cases
/// whose final department the call centre reported.
pub fn eval_heads(settings: &Settings, candidate: &Path, days: u32, db: Option<String>) -> Result<()> {
    let store = open_record(settings, db)?;
    let to = chrono::Utc::now().timestamp();
    let labelled = store.final_departments(to - days as i64 * 86_400, to)?;
    anyhow::ensure!(!labelled.is_empty(), "no dispatched case in the last {days} days: record steps with POST /v1/cases/{{id}}/events or triage cases import");
    let texts: Vec<&str> = labelled.iter().map(|(t, _)| t.as_str()).collect();
    let mut rows = Vec::new();
    for (name, heads) in [("serving", settings.heads_dir.clone()), ("candidate", candidate.to_path_buf())] {
        let model = hotline_triage::dispatch::DispatchModel::load(&settings.model_folder()?, &settings.encoder, &hotline_triage::dispatch::DispatchPaths { heads_dir: heads.clone(), ..settings.dispatch_paths() })
            .map_err(|e| anyhow::anyhow!("{}: {e}", heads.display()))?
            .with_weights(settings.ranking);
        let mut first = 0;
        let mut top3 = 0;
        for (chunk, labels) in texts.chunks(32).zip(labelled.chunks(32)) {
            for (s, (_, label)) in model.classify_batch(chunk, 3)?.iter().zip(labels) {
                first += (&s.dispatch.department == label) as usize;
                top3 += s.departments.iter().take(3).any(|d| &d.id == label) as usize;
            }
        }
        let n = labelled.len() as f64;
        rows.push(serde_json::json!({"heads": name, "path": heads.display().to_string(), "cases": labelled.len(), "department_first": first as f64 / n, "department_top3": top3 as f64 / n}));
        eprintln!("{name:>9} {}: department first {:.3}, top 3 {:.3} on {} cases", heads.display(), first as f64 / n, top3 as f64 / n, labelled.len());
    }
    println!("{}", serde_json::to_string(&rows)?);
    Ok(())
}
