//! `triage events replay|status`: the outbox, offline.

use anyhow::{bail, Result};

use hotline_triage::config::Settings;

fn open(settings: &Settings, db: Option<String>) -> Result<std::sync::Arc<dyn hotline_triage::store::Database>> {
    let target = db.unwrap_or_else(|| settings.server.database());
    if !hotline_triage::store::is_postgres_url(&target) && !std::path::Path::new(&target).is_file() {
        bail!("{target}: no database there (the server creates it on its first start)");
    }
    Ok(hotline_triage::store::open(&target)?)
}

pub fn replay(settings: &Settings, since: &str, sink: Option<String>, db: Option<String>) -> Result<()> {
    let offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    let since_ms = hotline_triage::cases::time::parse_case_time(since, offset).map_err(|e| anyhow::anyhow!("--since: {e}"))?.timestamp_millis();
    let sinks = match sink {
        Some(s) if s == hotline_triage::publish::webhook::SINK || s == hotline_triage::publish::nats::SINK => vec![s],
        Some(s) => bail!("--sink {s:?}: expected webhook or nats"),
        None => settings.events.sinks(),
    };
    if sinks.is_empty() {
        bail!("no sink configured: pass --sink, or set events.webhook_url / events.nats_url");
    }
    let db = open(settings, db)?;
    for sink in sinks {
        let n = db.with_events(|t| t.replay(&sink, since_ms))?;
        eprintln!("{sink}: {n} events due again");
    }
    Ok(())
}

pub fn status(settings: &Settings, db: Option<String>) -> Result<()> {
    let db = open(settings, db)?;
    println!("{}", serde_json::to_string_pretty(&db.with_events(|t| t.delivery_counts())?)?);
    Ok(())
}
