//! Recent cases, for "未诉先办": the same matter called in by many people, and problems that
//! surge somewhere.
//!
//! - [`store`]: cases kept (masked) in the feedback database, each joined to a cluster of
//!   the same matter as it arrives;
//! - [`index`]: the nearest-neighbour index that makes that join cheap at a city's volume;
//! - [`hotspots`]: clusters whose count in a window rises clearly above their own baseline;
//! - [`report`]: the Markdown and PNG report of `triage hotspots`;
//! - [`pairs`]: duplicate detection judged on labelled pairs;
//! - [`record`]: the case record, each case's steps after dispatch;
//! - [`reader`]: files of historical cases (JSON lines, CSV), record by record, resumable;
//! - [`time`]: the time formats exports mix.

pub mod bench;
pub mod hotspots;
pub mod kpi_report;
pub mod kpis;
pub mod import;
pub mod index;
pub mod pairs;
pub mod record;
pub mod reader;
pub mod report;
pub mod scan;
pub mod store;
pub mod time;

use serde::{Deserialize, Serialize};

pub use hotspots::{HotSpot, HotspotSettings};
pub use store::{CaseStore, NewCase};

/// How cases are matched and kept (`[cases]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseSettings {
    /// Cases older than this are deleted from the store.
    pub retention_days: u32,
    /// A new case is compared with the cases of this many days before it.
    pub related_days: u32,
    /// Cosine similarity from which a recent case counts as related (and joins the cluster).
    pub related_threshold: f32,
    /// Cosine similarity from which a related case is the same matter (`duplicate_of`).
    pub duplicate_threshold: f32,
    /// Related cases must share the top topic.
    pub same_topic: bool,
    /// Related cases must not name conflicting places (district, street, estate, road...).
    pub same_place: bool,
    /// Hamming-scan candidates re-ranked by exact cosine.
    pub candidates: usize,
    /// The city's UTC offset, for times written without one.
    pub time_offset: String,
    pub hotspots: HotspotSettings,
    /// How often the server recomputes the KPI gauges in `/metrics` (seconds).
    pub kpi_refresh_secs: u64,
}

impl Default for CaseSettings {
    fn default() -> Self {
        // Thresholds chosen on the tuning half of tests/data/duplicate_pairs.jsonl
        // (`triage duplicates eval`); docs/hotspots.md reports the other half.
        CaseSettings {
            retention_days: 90,
            related_days: 30,
            related_threshold: 0.909,
            duplicate_threshold: 0.939,
            // The topic check cost recall on the labelled pairs (the topic head splits one
            // matter between two topics more often than it joins two matters), so it is off.
            same_topic: false,
            same_place: true,
            candidates: 256,
            time_offset: "+08:00".into(),
            hotspots: HotspotSettings::default(),
            kpi_refresh_secs: 300,
        }
    }
}

/// A recent case like the new one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RelatedCase {
    pub case_id: String,
    pub similarity: f32,
    /// RFC 3339.
    pub at: String,
}

/// What the store found about a new case: its near-duplicates and its group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Related {
    /// Related cases from the last `related_days`, most similar first (at most 10).
    pub cases: Vec<RelatedCase>,
    /// Cases in this case's group (the same matter) over the last `related_days`, itself included.
    pub group_size: u64,
    /// The earlier case this one repeats, when it is the same matter: merge instead of
    /// dispatching again.
    pub duplicate_of: Option<String>,
    /// The group's id, shared by every case of the same matter.
    pub group: i64,
}
