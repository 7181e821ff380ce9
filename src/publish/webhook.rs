//! Events as signed HTTP POSTs. The receiver checks `X-Hotline-Signature` (HMAC-SHA256 of the
//! raw body with the shared key, hex) and deduplicates on `Idempotency-Key` (the event id): a
//! retried event carries the same key.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{PublishError, PublishSettings};
use crate::store::DueEvent;

pub const SINK: &str = "webhook";

pub struct Webhook {
    url: String,
    key: Vec<u8>,
    agent: ureq::Agent,
}

/// The HMAC key: TRIAGE_WEBHOOK_SECRET, else the file `webhook_secret_file`. A webhook without
/// one is refused: an unsigned feed of citizens' appeals could be forged by anyone.
pub fn secret(settings: &PublishSettings) -> Result<Vec<u8>, PublishError> {
    if let Ok(s) = std::env::var("TRIAGE_WEBHOOK_SECRET") {
        if !s.trim().is_empty() {
            return Ok(s.trim().as_bytes().to_vec());
        }
    }
    let Some(path) = &settings.webhook_secret_file else {
        return Err(PublishError::Settings("a webhook needs a signing key: set TRIAGE_WEBHOOK_SECRET or events.webhook_secret_file".into()));
    };
    let key = std::fs::read_to_string(path).map_err(|e| PublishError::Settings(format!("{}: {e}", path.display())))?;
    if key.trim().len() < 16 {
        return Err(PublishError::Settings(format!("{}: the webhook key must be at least 16 characters", path.display())));
    }
    Ok(key.trim().as_bytes().to_vec())
}

/// `sha256=<hex>` of `body` under `key`, as the header carries it.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(url: &str, key: &[u8], timeout: Duration) -> Result<Self, PublishError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PublishError::Settings(format!("webhook_url must be http:// or https://, not {url:?}")));
        }
        let config = ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build();
        Ok(Webhook { url: url.to_string(), key: key.to_vec(), agent: ureq::Agent::new_with_config(config) })
    }

    pub async fn deliver(&self, e: &DueEvent) -> Result<(), PublishError> {
        let (agent, url, sig) = (self.agent.clone(), self.url.clone(), signature(&self.key, e.payload.as_bytes()));
        let (id, kind, body) = (e.event_id.clone(), e.kind.clone(), e.payload.clone());
        let status = tokio::task::spawn_blocking(move || {
            agent
                .post(&url)
                .header("content-type", "application/json")
                .header("idempotency-key", &id)
                .header("x-hotline-event", &kind)
                .header("x-hotline-signature", &sig)
                .send(body.as_bytes())
                .map(|r| r.status().as_u16())
        })
        .await
        .map_err(|e| PublishError::Webhook(e.to_string()))?
        .map_err(|e| PublishError::Webhook(e.to_string()))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PublishError::Webhook(format!("HTTP {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(signature(b"Jefe", b"what do ya want for nothing?"), "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
