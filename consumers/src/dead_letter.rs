//! The dead-letter topic: records no table can take, kept with the reason and where they were.
//!
//! A record that cannot be projected must neither block its partition (every later hook of
//! that project would wait behind it) nor be lost. It is copied, bytes and headers unchanged,
//! to `{prefix}dead_letter` with the reason and its original coordinates added, and the
//! consumer moves on. Copies are queued as the batch fills and all awaited before its offsets
//! are committed.

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

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
            // How long a copy may take to be acknowledged before the batch gives up.
            .set("message.timeout.ms", "30000")
            .set("client.id", "hookline-consumers-dead-letters")
            .create()?;
        Ok(Self { producer, topic })
    }

    /// Queues a copy of the record for the dead-letter topic, without waiting: the batch
    /// awaits every copy ([`PendingCopies::acknowledged`]) before it commits, so a flood of
    /// unreadable records costs one broker round trip per batch, not one per record.
    pub fn queue(
        &self,
        message: &impl Message,
        reason: &str,
    ) -> Result<DeliveryFuture, KafkaError> {
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
            .send_result(record)
            .map_err(|(error, _)| error)
    }
}

/// The dead-letter copies queued for one batch.
#[derive(Default)]
pub struct PendingCopies(Vec<DeliveryFuture>);

impl PendingCopies {
    pub fn push(&mut self, copy: DeliveryFuture) {
        self.0.push(copy);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until Kafka acknowledged every copy; the first failure, if any.
    pub async fn acknowledged(self) -> Result<(), KafkaError> {
        for copy in self.0 {
            match copy.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error),
                Err(_canceled) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }
}
