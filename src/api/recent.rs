//! Embeddings of the transcripts `/v1/classify` answered most recently, by their masked text.
//!
//! The console classifies a call as the operator types, then posts the decision on the same text
//! to `/v1/feedback`, which stores the embedding as a precedent. Remembering it here spares the
//! encoder that second pass; a transcript not found (evicted, or never classified) is embedded as
//! before.

use std::sync::Mutex;

use hashlink::LruCache;
use sha2::{Digest, Sha256};

pub struct RecentEmbeddings {
    // Keyed by a digest so that the cache holds no transcript text, masked or not.
    cache: Mutex<LruCache<[u8; 32], Vec<f32>>>,
}

fn key(masked: &str) -> [u8; 32] {
    Sha256::digest(masked.as_bytes()).into()
}

impl RecentEmbeddings {
    pub fn new(capacity: usize) -> Self {
        RecentEmbeddings { cache: Mutex::new(LruCache::new(capacity.max(1))) }
    }

    pub fn remember(&self, masked: &str, embedding: &[f32]) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key(masked), embedding.to_vec());
    }

    /// The embedding of `masked`, if it was classified recently.
    pub fn recall(&self, masked: &str) -> Option<Vec<f32>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key(masked)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entry_goes_first() {
        let recent = RecentEmbeddings::new(2);
        recent.remember("a", &[1.0]);
        recent.remember("b", &[2.0]);
        assert_eq!(recent.recall("a"), Some(vec![1.0]));
        recent.remember("c", &[3.0]);
        // "a" was used after "b", so "b" is the one evicted.
        assert_eq!((recent.recall("a"), recent.recall("b"), recent.recall("c")), (Some(vec![1.0]), None, Some(vec![3.0])));
    }
}
