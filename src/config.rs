//! The one typed configuration of the service.
//!
//! Values are layered, later winning: built-in defaults, then a TOML file (`--config FILE`,
//! or `triage.toml` in the working directory if present), then `TRIAGE_*` environment
//! variables, then command-line flags (applied by the CLI on the returned struct).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::ServerSettings;
use crate::model::{EncoderOptions, Int8Kernel, WeightMode, DEFAULT_MODEL_DIR};
use crate::text::DEFAULT_DICT_DIR;

pub const DEFAULT_CONFIG_FILE: &str = "triage.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("environment variable {name}={value:?}: {reason}")]
    Env { name: String, value: String, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The encoder folder (see `triage model fetch`).
    pub model_dir: PathBuf,
    /// The encoder adapter merged at load (`triage adapt`): unset uses `models/adapter` when it
    /// exists, `"none"` uses none, any other path must hold one.
    pub adapter: Option<PathBuf>,
    /// jieba user dictionaries, stop words and the IDF table.
    pub dict_dir: PathBuf,
    /// Classifier heads: `topic/`, `department/`, `appeal_type/`.
    pub heads_dir: PathBuf,
    /// Topics and departments (another city ships its own).
    pub taxonomy: PathBuf,
    /// The city's districts and streets.
    pub gazetteer: PathBuf,
    /// Compute threads for the encoder; 0 means one per core.
    pub threads: usize,
    /// Never try hf-hub when fetching (saves the failed attempt on offline machines).
    pub skip_hub: bool,
    pub encoder: EncoderOptions,
    /// How department head, topic prior and duty keywords are mixed.
    pub ranking: crate::dispatch::Weights,
    pub server: ServerSettings,
    /// Recent cases: duplicates, groups and hot spots.
    pub cases: crate::cases::CaseSettings,
    /// Events for downstream systems: webhook and NATS JetStream.
    pub events: crate::publish::PublishSettings,
    /// Same-day learning from operators' decisions in `/v1/classify`.
    pub precedents: crate::dispatch::precedents::PrecedentSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
            adapter: None,
            dict_dir: PathBuf::from(DEFAULT_DICT_DIR),
            heads_dir: PathBuf::from(crate::dispatch::DEFAULT_HEADS_DIR),
            taxonomy: PathBuf::from(crate::dispatch::DEFAULT_TAXONOMY),
            gazetteer: PathBuf::from(crate::text::DEFAULT_GAZETTEER),
            threads: 0,
            skip_hub: false,
            encoder: EncoderOptions { weights: WeightMode::for_this_cpu(), ..EncoderOptions::default() },
            ranking: crate::dispatch::Weights::default(),
            server: ServerSettings::default(),
            cases: crate::cases::CaseSettings::default(),
            events: crate::publish::PublishSettings::default(),
            precedents: crate::dispatch::precedents::PrecedentSettings::default(),
        }
    }
}

impl Settings {
    /// Defaults, then the file, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut settings = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => Self::from_file(Path::new(DEFAULT_CONFIG_FILE))?,
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    /// The adapter to merge into the encoder, if any (see [`Settings::adapter`]).
    pub fn adapter_dir(&self) -> Option<PathBuf> {
        match &self.adapter {
            None => Some(PathBuf::from(crate::model::DEFAULT_ADAPTER_DIR)).filter(|d| crate::model::Adapter::exists(d)),
            Some(p) if p.as_os_str() == "none" => None,
            Some(p) => Some(p.clone()),
        }
    }

    /// `folder` with the configured adapter merged in.
    pub fn with_adapter(&self, folder: crate::model::ModelFolder) -> Result<crate::model::ModelFolder, crate::model::ModelError> {
        match self.adapter_dir() {
            Some(dir) => folder.with_adapter(&dir),
            None => Ok(folder),
        }
    }

    /// The encoder folder as the service runs it: verified, with the adapter merged.
    pub fn model_folder(&self) -> Result<crate::model::ModelFolder, crate::model::ModelError> {
        self.with_adapter(crate::model::ModelFolder::open(&self.model_dir)?)
    }

    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File { path: path.into(), reason: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::File { path: path.into(), reason: e.to_string() })
    }

    /// `TRIAGE_<FIELD>` overrides; `lookup` is injectable so tests need not touch the
    /// process environment.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.trim().parse().map_err(|e: T::Err| ConfigError::Env { name: name.into(), value: value.into(), reason: e.to_string() })
        }
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(|v| (name.to_string(), v));
        if let Some((_, v)) = var("TRIAGE_MODEL_DIR") {
            self.model_dir = v.into();
        }
        if let Some((_, v)) = var("TRIAGE_ADAPTER") {
            self.adapter = Some(v.into());
        }
        if let Some((_, v)) = var("TRIAGE_DICT_DIR") {
            self.dict_dir = v.into();
        }
        if let Some((_, v)) = var("TRIAGE_HEADS_DIR") {
            self.heads_dir = v.into();
        }
        if let Some((_, v)) = var("TRIAGE_TAXONOMY") {
            self.taxonomy = v.into();
        }
        if let Some((n, v)) = var("TRIAGE_THREADS") {
            self.threads = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_SKIP_HUB") {
            self.skip_hub = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_MAX_TOKENS") {
            self.encoder.max_tokens = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_WEIGHTS") {
            self.encoder.weights = match v.as_str() {
                "quantized" => return Err(ConfigError::Env { name: n, value: v, reason: "the quantized weight mode was removed (5.7x slower than f32, no memory saved): use f32 or int8".into() }),
                // The names `--weights` takes, so a new format needs no change here.
                other => <WeightMode as clap::ValueEnum>::from_str(other, false).map_err(|_| ConfigError::Env { name: n, value: v.clone(), reason: "expected f32, int8 or bf16".into() })?,
            };
        }
        if let Some((n, v)) = var("TRIAGE_INT8_KERNEL") {
            self.encoder.int8_kernel = match v.as_str() {
                "auto" => None,
                other => Some(<Int8Kernel as clap::ValueEnum>::from_str(other, true).map_err(|_| ConfigError::Env { name: n, value: v.clone(), reason: "expected auto, avx512_vnni, avx2 or portable".into() })?),
            };
        }
        if let Some((_, v)) = var("TRIAGE_ADDR") {
            self.server.addr = v;
        }
        if let Some((n, v)) = var("TRIAGE_MAX_TEXT_CHARS") {
            self.server.max_text_chars = parse(&n, &v)?;
        }
        if let Some((_, v)) = var("TRIAGE_API_KEY_FILE") {
            self.server.api_key_file = Some(v.into());
        }
        if let Some((_, v)) = var("TRIAGE_ADMIN_KEY_FILE") {
            self.server.admin_key_file = Some(v.into());
        }
        if let Some((_, v)) = var("TRIAGE_CORS_ALLOWED_ORIGINS") {
            self.server.cors_allowed_origins = v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        }
        if let Some((_, v)) = var("TRIAGE_FEEDBACK_DB") {
            self.server.feedback_db = v.into();
        }
        if let Some((_, v)) = var("TRIAGE_DATABASE_URL") {
            self.server.database_url = Some(v);
        }
        if let Some((_, v)) = var("TRIAGE_WEBHOOK_URL") {
            self.events.webhook_url = Some(v);
        }
        if let Some((_, v)) = var("TRIAGE_WEBHOOK_SECRET_FILE") {
            self.events.webhook_secret_file = Some(v.into());
        }
        if let Some((_, v)) = var("TRIAGE_NATS_URL") {
            self.events.nats_url = Some(v);
        }
        if let Some((n, v)) = var("TRIAGE_CASE_RETENTION_DAYS") {
            self.cases.retention_days = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_CASE_RELATED_DAYS") {
            self.cases.related_days = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_PRECEDENTS") {
            self.precedents.enabled = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_KPI_REFRESH_SECS") {
            self.cases.kpi_refresh_secs = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_QUEUE_CAPACITY") {
            self.server.batching.queue_capacity = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_HEADER_READ_TIMEOUT_MS") {
            self.server.header_read_timeout_ms = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_BODY_READ_TIMEOUT_MS") {
            self.server.body_read_timeout_ms = parse(&n, &v)?;
        }
        if let Some((n, v)) = var("TRIAGE_REQUEST_TIMEOUT_MS") {
            self.server.batching.request_timeout_ms = parse(&n, &v)?;
        }
        Ok(())
    }

    pub fn dispatch_paths(&self) -> crate::dispatch::DispatchPaths {
        crate::dispatch::DispatchPaths {
            heads_dir: self.heads_dir.clone(),
            taxonomy: self.taxonomy.clone(),
            dict_dir: self.dict_dir.clone(),
            gazetteer: self.gazetteer.clone(),
        }
    }

    /// The thread count to use: the configured one, or every core.
    pub fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_in_that_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, "threads = 3\nmodel_dir = \"/from/file\"\n[encoder]\nmax_tokens = 256\n").unwrap();
        let mut s = Settings::from_file(&path).unwrap();
        assert_eq!((s.threads, s.encoder.max_tokens), (3, 256));
        s.apply_env(|n| (n == "TRIAGE_THREADS").then(|| "2".to_string())).unwrap();
        assert_eq!(s.threads, 2, "the environment overrides the file");
        assert_eq!(s.model_dir, PathBuf::from("/from/file"), "unset variables leave the file's value");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, "treads = 3\n").unwrap();
        let err = Settings::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("treads"), "{err}");
        let err = Settings::default().apply_env(|n| (n == "TRIAGE_THREADS").then(|| "many".to_string())).unwrap_err();
        assert!(err.to_string().contains("TRIAGE_THREADS"), "{err}");
        let err = Settings::default().apply_env(|n| (n == "TRIAGE_INT8_KERNEL").then(|| "sse9".to_string())).unwrap_err();
        assert!(err.to_string().contains("TRIAGE_INT8_KERNEL"), "{err}");
    }

    #[test]
    fn weights_default_to_the_cpus_and_int8_and_its_kernel_can_be_named() {
        let mut s = Settings::default();
        assert_eq!((s.encoder.weights, s.encoder.int8_kernel), (WeightMode::for_this_cpu(), None));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, "[encoder]\nmax_tokens = 256\n").unwrap();
        assert_eq!(Settings::from_file(&path).unwrap().encoder.weights, WeightMode::for_this_cpu(), "a file that names no weights gets the CPU's default");
        let env = |n: &str| match n {
            "TRIAGE_WEIGHTS" => Some("int8".to_string()),
            "TRIAGE_INT8_KERNEL" => Some("avx512_vnni".to_string()),
            _ => None,
        };
        s.apply_env(env).unwrap();
        assert_eq!((s.encoder.weights, s.encoder.int8_kernel), (WeightMode::Int8, Some(Int8Kernel::Avx512Vnni)));
        s.apply_env(|n| (n == "TRIAGE_INT8_KERNEL").then(|| "auto".to_string())).unwrap();
        assert_eq!(s.encoder.int8_kernel, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, "[encoder]\nweights = \"int8\"\nint8_kernel = \"portable\"\n").unwrap();
        let s = Settings::from_file(&path).unwrap();
        assert_eq!((s.encoder.weights, s.encoder.int8_kernel), (WeightMode::Int8, Some(Int8Kernel::Portable)));
        let mut s = Settings::default();
        s.apply_env(|n| (n == "TRIAGE_WEIGHTS").then(|| "bf16".to_string())).unwrap();
        assert_eq!(s.encoder.weights, WeightMode::Bf16);
        let err = Settings::default().apply_env(|n| (n == "TRIAGE_WEIGHTS").then(|| "fp8".to_string())).unwrap_err();
        assert!(err.to_string().contains("expected f32, int8 or bf16"), "{err}");
    }
}
