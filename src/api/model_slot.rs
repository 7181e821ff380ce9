//! The dispatch model in service, swappable while the server runs: heads and taxonomy reload on
//! SIGHUP or `POST /admin/reload` without a failed request. A batch or a request that took the
//! old model finishes with it; the next one takes the new.

use std::sync::{Arc, RwLock};

use crate::dispatch::DispatchModel;

/// Builds a fresh model from the configured files (set by the binary, which knows them).
pub type ModelLoader = dyn Fn() -> Result<DispatchModel, String> + Send + Sync;

pub struct ModelSlot {
    current: RwLock<Arc<DispatchModel>>,
    loader: Option<Box<ModelLoader>>,
    /// One reload at a time: two would load twice and race to swap.
    reloading: tokio::sync::Mutex<()>,
}

impl ModelSlot {
    pub fn new(model: Arc<DispatchModel>, loader: Option<Box<ModelLoader>>) -> Self {
        ModelSlot { current: RwLock::new(model), loader, reloading: tokio::sync::Mutex::new(()) }
    }

    /// The model to use for one request or one batch.
    pub fn current(&self) -> Arc<DispatchModel> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Load the configured heads and taxonomy again, warm the new model up, then swap it in.
    /// On any error the model in service stays.
    pub async fn reload(self: &Arc<Self>) -> Result<crate::dispatch::ModelVersions, String> {
        let _one = self.reloading.lock().await;
        let slot = self.clone();
        let fresh = tokio::task::spawn_blocking(move || -> Result<DispatchModel, String> {
            let load = slot.loader.as_ref().ok_or("this server was started without a way to reload its model")?;
            let model = load()?;
            // A first pass before it takes traffic, as at start.
            model.classify("坐席：您好。市民：楼道里暖气不热。", 1).map_err(|e| e.to_string())?;
            Ok(model)
        })
        .await
        .map_err(|e| e.to_string())??;
        let versions = fresh.versions().clone();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        tracing::info!(heads = %versions.heads, taxonomy = %versions.taxonomy, "model reloaded");
        Ok(versions)
    }
}
