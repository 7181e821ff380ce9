//! `triage events replay|status`: the outbox, offline.

use anyhow::{bail, Result};

use hotline_triage::config::Settings;

use super::{city_time, open_existing_database};

pub fn replay(settings: &Settings, since: &str, sink: Option<String>, db: Option<String>) -> Result<()> {
    let since_ms = city_time(settings, "since", since)?.timestamp_millis();
    let sinks = match sink {
        Some(s) if s == hotline_triage::publish::webhook::SINK || s == hotline_triage::publish::nats::SINK => vec![s],
        Some(s) => bail!("--sink {s:?}: expected webhook or nats"),
        None => settings.events.sinks(),
    };
    if sinks.is_empty() {
        bail!("no sink configured: pass --sink, or set events.webhook_url / events.nats_url");
    }
    let db = open_existing_database(settings, db)?;
    for sink in sinks {
        let n = db.with_events(|t| t.replay(&sink, since_ms))?;
        eprintln!("{sink}: {n} events due again");
    }
    Ok(())
}

pub fn status(settings: &Settings, db: Option<String>) -> Result<()> {
    let db = open_existing_database(settings, db)?;
    println!("{}", serde_json::to_string_pretty(&db.with_events(|t| t.delivery_counts())?)?);
    Ok(())
}
