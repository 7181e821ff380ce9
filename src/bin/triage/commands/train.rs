//! `triage train`, `triage eval` and `triage dict build-idf`: heads and dictionary tables.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use hotline_triage::config::Settings;
use hotline_triage::model::ModelFolder;
use hotline_triage::text::{self, TextPipeline};

use crate::args::{AdaptArgs, DictCommand, EvalArgs, TrainArgs};

/// `triage adapt`: always from the base encoder; the heads are retrained on the result after.
pub fn adapt(settings: &Settings, args: AdaptArgs) -> Result<()> {
    use hotline_triage::training::adapt::{adapt, AdaptOptions};
    let folder = ModelFolder::open(&settings.model_dir)?;
    let options = AdaptOptions {
        layers: args.layers,
        rank: args.rank,
        alpha: args.alpha,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        transcript_repeats: args.transcript_repeats,
        max_minutes: args.max_minutes,
        max_texts: args.max_texts,
        seed: args.seed,
        ..AdaptOptions::default()
    };
    let checkpoints = args.checkpoints.clone().unwrap_or_else(|| hotline_triage::training::embed_cache::default_cache_dir().with_file_name("adapt"));
    let summary = adapt(&folder, &args.data, &args.out, &checkpoints, &options, args.resume)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

pub fn train(settings: &Settings, args: TrainArgs) -> Result<()> {
    use hotline_triage::training::{self, TrainOptions, TrainerOptions};
    let folder = settings.model_folder()?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let name = args.name.clone().unwrap_or_else(|| args.out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "head".into()));
    let opts = TrainOptions {
        data: args.data.spec(),
        out: args.out.clone(),
        name,
        features: args.features,
        max_features: args.max_features,
        min_df: args.min_df,
        review_target_accuracy: args.review_target_accuracy,
        embed_max_tokens: args.embed_max_tokens,
        embed_max_windows: args.embed_max_windows,
        cache_dir: args.cache_dir.clone().unwrap_or_else(training::embed_cache::default_cache_dir),
        trainer: TrainerOptions {
            epochs: args.epochs,
            learning_rate: args.learning_rate,
            weight_decay: args.weight_decay,
            class_balance: args.class_balance,
            patience: args.patience,
            l2: args.l2.clone(),
            fusion: args.fusion,
            ..TrainerOptions::default()
        },
        also_weights: args.also_weights,
    };
    let summary = training::train(&opts, &folder, &settings.encoder, &pipeline)?;
    println!("trained {} ({} labels) in {:.0}s; rows {}", summary.out.display(), summary.labels, summary.seconds, summary.rows);
    println!("\n== dev ==\n{}", training::report::render_text(&summary.dev));
    if let Some(test) = &summary.test {
        println!("\n== test ==\n{}", training::report::render_text(test));
    }
    Ok(())
}

pub fn eval(settings: &Settings, args: EvalArgs) -> Result<()> {
    use hotline_triage::model::head::ClassifierHead;
    use hotline_triage::training::{self, metrics, Split};
    let split = Split::parse(&args.split).with_context(|| format!("unknown split {:?} (train, dev or test)", args.split))?;
    let head = ClassifierHead::load(&args.heads)?;
    let folder = settings.model_folder()?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let data = training::read_dataset(&args.data.spec())?;
    if !data.bad_rows.is_empty() {
        tracing::warn!("{} bad rows skipped (first: line {}: {})", data.bad_rows.len(), data.bad_rows[0].line, data.bad_rows[0].reason);
    }
    let cache_dir = args.cache_dir.clone().unwrap_or_else(training::embed_cache::default_cache_dir);
    let preds = training::predict_split(&head, &data, split, &folder, &settings.encoder, &pipeline, &cache_dir)?;
    if preds.gold.is_empty() {
        bail!("the {} split has no rows with labels this head knows", args.split);
    }
    let mut report = metrics::evaluate(&head.meta.labels, &preds.gold, &preds.probs);
    report.abstain = Some(training::calibration::abstain_report(&preds.gold, &preds.probs, head.meta.review));
    if preds.unknown_labels > 0 {
        tracing::warn!("{} rows have labels the head does not know; not scored", preds.unknown_labels);
    }
    if let Some(dir) = &args.report {
        let extra = format!(
            "\n## Setup\n- head: `{}` ({})\n- data: `{}`, split `{}`, label field `{}`\n- rows not scored (unknown label): {}\n- command: `triage eval --heads {} --data {} --label-field {} --split {}`\n",
            args.heads.display(), head.meta.name, args.data.data.display(), args.split, args.data.label_field, preds.unknown_labels,
            args.heads.display(), args.data.data.display(), args.data.label_field, args.split
        );
        let path = training::report::write_report(&report, dir, &format!("{} on {} ({})", head.meta.name, args.data.data.display(), args.split), &extra)?;
        eprintln!("report written to {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", training::report::render_text(&report));
    }
    Ok(())
}

pub fn dict(settings: &Settings, command: DictCommand) -> Result<()> {
    let DictCommand::BuildIdf { data, text_fields, split, out } = command;
    let segmenter = text::Segmenter::from_dict_dir(&settings.dict_dir)?;
    let mut docs = Vec::new();
    for path in &data {
        docs.extend(read_corpus(path, &text_fields, &split)?);
    }
    let stats = text::build_idf_table(docs.into_iter(), &segmenter, &out)?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}

fn read_corpus(path: &PathBuf, fields: &[String], split: &str) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        let row: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if row.get("split").and_then(|v| v.as_str()) != Some(split) {
            continue;
        }
        let text: Vec<&str> = fields.iter().filter_map(|f| row.get(f).and_then(|v| v.as_str())).collect();
        docs.push(text.join("\n"));
    }
    Ok(docs)
}
