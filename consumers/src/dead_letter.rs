//! The dead-letter topic: records no table can take, kept with the reason and where they were.
//!
//! A record that cannot be projected must neither block its partition (every later hook of
//! that project would wait behind it) nor be lost. It is copied, bytes and headers unchanged,
//! to `{prefix}dead_letter` with the reason and its original coordinates added, and the
//! consumer moves on. The dead-letter write is awaited before the offset is committed.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use hookline_runtime::kafka::KafkaClient;
use hookline_schemas::record::header;

/// Headers added to a dead-lettered record, besides [`header::DEAD_LETTER_REASON`].
pub mod origin {
    pub const TOPIC: &str = "hookline-origin-topic";
    pub const PARTITION: &str = "hookline-origin-partition";
    pub const OFFSET: &str = "hookline-origin-offset";
}

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(kafka: &KafkaClient, topic: String) -> Result<Self, KafkaError> {
        let producer = kafka
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("client.id", "hookline-consumers-dead-letters")
            .create()?;
        Ok(Self { producer, topic })
    }

    /// Copies the record to the dead-letter topic and waits for Kafka's acknowledgement.
    pub async fn send(&self, message: &impl Message, reason: &str) -> Result<(), KafkaError> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for header in original.iter() {
                headers = headers.insert(header);
            }
        }
        for (key, value) in [
            (header::DEAD_LETTER_REASON, reason.as_bytes()),
            (origin::TOPIC, message.topic().as_bytes()),
            (origin::PARTITION, partition.as_bytes()),
            (origin::OFFSET, offset.as_bytes()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
