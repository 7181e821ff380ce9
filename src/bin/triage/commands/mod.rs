//! One file per family of subcommands, plus the loading every command shares.

pub mod batch;
pub mod cases;
pub mod classify;
pub mod events;
pub mod feedback;
pub mod model;
pub mod serve;
pub mod train;

use std::time::Instant;

use anyhow::{Context, Result};

use hotline_triage::config::Settings;
use hotline_triage::model::Encoder;

pub fn load_encoder(settings: &Settings) -> Result<Encoder> {
    let started = Instant::now();
    let encoder = settings
        .model_folder()
        .and_then(|folder| Encoder::load(&folder, settings.encoder.clone()))
        .with_context(|| format!("cannot load the encoder from {}", settings.model_dir.display()))?;
    tracing::info!("encoder {} loaded in {:.2}s", encoder.version(), started.elapsed().as_secs_f64());
    Ok(encoder)
}

pub fn load_dispatch(settings: &Settings) -> Result<hotline_triage::dispatch::DispatchModel> {
    let folder = settings.model_folder()?;
    let started = Instant::now();
    let model = hotline_triage::dispatch::DispatchModel::load(&folder, &settings.encoder, &settings.dispatch_paths())?.with_weights(settings.ranking);
    tracing::info!("dispatch model loaded in {:.2}s", started.elapsed().as_secs_f64());
    Ok(model)
}
