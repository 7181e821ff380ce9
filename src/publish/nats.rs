//! Events on NATS JetStream: `<subject>.<type>`, each with the event id as `Nats-Msg-Id`, so
//! JetStream's duplicate window drops a retried event. A delivery counts once the stream
//! acknowledges it (stored), not when it is sent.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use super::PublishError;
use crate::store::DueEvent;

pub const SINK: &str = "nats";

pub struct Nats {
    url: String,
    stream: String,
    subject: String,
    timeout: Duration,
    /// Connected on first use, so that a NATS server that is down at start delays events,
    /// not the service.
    context: Option<jetstream::Context>,
}

impl Nats {
    pub fn new(url: &str, stream: &str, subject: &str, timeout: Duration) -> Self {
        Nats { url: url.to_string(), stream: stream.to_string(), subject: subject.to_string(), timeout, context: None }
    }

    async fn connect(&mut self) -> Result<jetstream::Context, PublishError> {
        if let Some(c) = &self.context {
            return Ok(c.clone());
        }
        let err = |e: String| PublishError::Nats(e);
        let client = tokio::time::timeout(self.timeout, async_nats::ConnectOptions::new().connection_timeout(self.timeout).connect(self.url.as_str()))
            .await
            .map_err(|_| err(format!("{}: no connection within {:?}", self.url, self.timeout)))?
            .map_err(|e| err(format!("{}: {e}", self.url)))?;
        let mut context = jetstream::new(client);
        context.set_timeout(self.timeout);
        let config = jetstream::stream::Config { name: self.stream.clone(), subjects: vec![format!("{}.>", self.subject)], ..Default::default() };
        context.get_or_create_stream(config).await.map_err(|e| err(format!("stream {}: {e}", self.stream)))?;
        self.context = Some(context.clone());
        Ok(context)
    }

    pub async fn deliver(&mut self, e: &DueEvent) -> Result<(), PublishError> {
        let context = self.connect().await?;
        let subject = format!("{}.{}", self.subject, e.kind);
        let publish = PublishMessage::build().payload(e.payload.clone().into()).message_id(&e.event_id);
        let ack = context.send_publish(subject, publish).await.map_err(|err| PublishError::Nats(err.to_string()))?;
        ack.await.map_err(|err| PublishError::Nats(err.to_string()))?;
        Ok(())
    }
}
