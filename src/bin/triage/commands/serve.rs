//! `triage serve`: the HTTP service.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use hotline_triage::api::{self, AppState};
use hotline_triage::config::Settings;
use hotline_triage::model::{self, FetchOptions};

/// Flags override the configuration; then fetch the encoder if absent, load, warm up and listen.
pub fn serve(mut settings: Settings, addr: Option<String>, api_key_file: Option<PathBuf>, feedback_db: Option<PathBuf>, database_url: Option<String>) -> Result<()> {
    if let Some(a) = addr {
        settings.server.addr = a;
    }
    if let Some(f) = api_key_file {
        settings.server.api_key_file = Some(f);
    }
    if let Some(f) = feedback_db {
        settings.server.feedback_db = f;
    }
    if let Some(u) = database_url {
        settings.server.database_url = Some(u);
    }
    let mut opts = FetchOptions::new(settings.model_dir.clone());
    opts.skip_hub = settings.skip_hub;
    let (folder, source) = model::ensure_model(&opts)?;
    let folder = settings.with_adapter(folder)?;
    tracing::info!("model folder {} ({:?})", folder.dir.display(), source);
    let dispatch = hotline_triage::dispatch::DispatchModel::load(&folder, &settings.encoder, &settings.dispatch_paths())
        .with_context(|| format!("cannot load the dispatch model from {}", settings.heads_dir.display()))?
        .with_weights(settings.ranking);
    // /v1/embed reads whole texts with the configured options; the heads read their recipe.
    // Both are views of one model in memory.
    let encoder = dispatch.encoder().with_options(settings.encoder.clone())?;
    let text = dispatch.pipeline().clone();
    // One pass of each before listening: the first request should not pay for page faults and
    // lazy initialisation.
    let warm = Instant::now();
    encoder.embed(&["坐席：您好，请讲。市民：我家楼下饭店油烟很大。"])?;
    dispatch.classify("坐席：您好。市民：楼道里暖气不热。", 1)?;
    tracing::info!(kernels = %encoder.kernels(), "encoder {} warmed up in {:.2}s", encoder.version(), warm.elapsed().as_secs_f64());
    // Heads and taxonomy reload from the same folders (SIGHUP, POST /admin/reload).
    let reload_settings = settings.clone();
    let loader: Box<api::ModelLoader> = Box::new(move || {
        let folder = reload_settings.model_folder().map_err(|e| e.to_string())?;
        let folder = reload_settings.with_adapter(folder).map_err(|e| e.to_string())?;
        hotline_triage::dispatch::DispatchModel::load(&folder, &reload_settings.encoder, &reload_settings.dispatch_paths())
            .map(|m| m.with_weights(reload_settings.ranking))
            .map_err(|e| e.to_string())
    });
    let dispatch = Arc::new(api::ModelSlot::new(Arc::new(dispatch), Some(loader)));
    let metrics = Arc::new(api::Metrics::default());
    metrics.set_encoder_kernels(encoder.kernels());
    let batcher = api::Batcher::start(dispatch.clone(), settings.server.batching.clone(), metrics.clone())?;
    let api_keys = match &settings.server.api_key_file {
        Some(path) => api::ApiKeys::from_file(path).map_err(anyhow::Error::msg)?,
        None => api::ApiKeys::none(),
    };
    let admin_keys = match &settings.server.admin_key_file {
        Some(path) => api::ApiKeys::from_file(path).map_err(anyhow::Error::msg)?,
        None => api::ApiKeys::none(),
    };
    let database = hotline_triage::store::open(&settings.server.database())
        .with_context(|| "cannot open the database (server.feedback_db / TRIAGE_FEEDBACK_DB, or server.database_url / TRIAGE_DATABASE_URL)")?;
    tracing::info!("database: {} {}", database.engine(), database.target());
    // Every stored case, decision and merge writes an event, delivered to these sinks.
    let sinks = hotline_triage::publish::sinks(&settings.events)?;
    let outbox = hotline_triage::events::Outbox { sinks: sinks.iter().map(|s| s.name().to_string()).collect() };
    let feedback = hotline_triage::feedback::FeedbackStore::open(database.clone(), dispatch.current().encoder().version())
        .with_context(|| "cannot open the feedback store")?
        .with_outbox(outbox.clone());
    let city_offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    let cases = hotline_triage::cases::CaseStore::open(
        database.clone(),
        dispatch.current().encoder().version(),
        dispatch.current().encoder().dimension(),
        settings.cases.clone(),
    )
    .with_context(|| "cannot open the case store")?
    .with_outbox(outbox);
    tracing::info!("case store: {} recent cases indexed", cases.indexed_len());
    let state = Arc::new(AppState {
        api_keys,
        admin_keys,
        dispatch,
        batcher,
        metrics,
        encoder: Arc::new(encoder),
        text,
        feedback: Arc::new(feedback),
        cases: Arc::new(cases),
        recent: hotline_triage::api::RecentEmbeddings::new(hotline_triage::api::RECENT_EMBEDDINGS),
        city_offset,
        limits: settings.server.clone(),
        precedents: settings.precedents,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let publisher = (database.clone(), state.metrics.events.clone());
    let (kpi_state, kpi_every) = (state.clone(), settings.cases.kpi_refresh_secs);
    let reload_slot = state.dispatch.clone();
    runtime.block_on(async move {
        hotline_triage::publish::start(publisher.0, sinks, &settings.events, publisher.1);
        tokio::spawn(api::refresh_kpis(kpi_state, std::time::Duration::from_secs(kpi_every.max(1))));
        tokio::spawn(reload_on_sighup(reload_slot));
        let listener = tokio::net::TcpListener::bind(&settings.server.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.addr))?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        api::serve(listener, state).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// SIGHUP reloads the heads and the taxonomy, as `POST /admin/reload` does.
async fn reload_on_sighup(slot: Arc<api::ModelSlot>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        if let Err(e) = slot.reload().await {
            tracing::error!(error = %e, "reload on SIGHUP failed; the model in service stays");
        }
    }
}
