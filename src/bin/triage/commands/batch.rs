//! `triage batch` and `triage hotspots`: files of historical cases, reclassified or scanned for surges.

use anyhow::Result;

use hotline_triage::config::Settings;

use super::load_dispatch;
use crate::args::{BatchArgs, HotspotsArgs};

pub fn batch(settings: &Settings, args: BatchArgs) -> Result<()> {
    use hotline_triage::batch::{self, BatchOptions, FieldSpec, InputFormat};
    if !args.input.is_file() {
        anyhow::bail!("{}: no such input file", args.input.display());
    }
    let model = load_dispatch(settings)?;
    let aliases = match (&args.aliases, &args.compare_field) {
        (Some(path), _) => Some(hotline_triage::dispatch::AliasTable::load(path, &model.taxonomy)?),
        (None, Some(_)) => Some(hotline_triage::dispatch::AliasTable::load(std::path::Path::new(hotline_triage::dispatch::DEFAULT_ALIASES), &model.taxonomy)?),
        (None, None) => None,
    };
    let errors = args.errors.clone().unwrap_or_else(|| {
        let mut name = args.output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".errors.jsonl");
        args.output.with_file_name(name)
    });
    let opts = BatchOptions {
        format: args.format.unwrap_or_else(|| InputFormat::guess(&args.input)),
        fields: FieldSpec { text_fields: args.text_fields, id_field: args.id_field, compare_field: args.compare_field, time_field: None },
        input: args.input,
        output: args.output,
        resume: args.resume,
        shard: args.shard,
        errors,
        report: args.report,
        chunk_rows: args.chunk_rows,
    };
    let summary = batch::run(&model, aliases.as_ref(), &opts)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

pub fn hotspots(settings: &Settings, args: HotspotsArgs) -> Result<()> {
    use hotline_triage::cases::scan::{self, ScanOptions};
    if !args.input.is_file() {
        anyhow::bail!("{}: no such input file", args.input.display());
    }
    let window = hotline_triage::cases::time::parse_span(&args.window).map_err(anyhow::Error::msg)?;
    let model = load_dispatch(settings)?;
    let opts = ScanOptions {
        format: args.format.unwrap_or_else(|| hotline_triage::batch::InputFormat::guess(&args.input)),
        input: args.input,
        text_fields: args.text_fields,
        id_field: args.id_field,
        time_field: args.time_field,
        window,
        window_label: args.window,
        top: args.top,
        report: args.report,
        chunk_rows: 256,
        store: args.store,
    };
    let mut cases = settings.cases.clone();
    if let Some(alpha) = args.alpha {
        cases.hotspots.alpha = alpha;
    }
    let result = scan::run(&model, &cases, &opts)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
