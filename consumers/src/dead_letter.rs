//! The dead-letter topic: records no table can take, kept with the reason and where they were.
//!
//! A record that cannot be projected must neither block its partition (every later hook of
//! that project would wait behind it) nor be lost. It is copied, bytes and headers unchanged,
//! to `{prefix}dead_letter` with the reason and its original coordinates added, and the
//! consumer moves on. Copies are queued as the batch fills and all awaited before its offsets
//! are committed ([`PendingLetters::delivered`]).
//!
//! **Nothing here can stop the consumers.** The reason quoted in the copy is capped
//! ([`MAX_REASON_BYTES`]), since it may quote a hostile value in full (a 600 KB string where a
//! number belongs). A copy Kafka refuses outright (larger than the topic takes) is replaced by
//! a small *pointer* letter: no body, the reason, the origin coordinates and the event id, so
//! the record can still be found where it is (and in `raw_hooks`, which keeps every record
//! with a readable body). Any other failure (brokers away, timeouts) is retried with backoff
//! until Kafka takes the letter or the service stops, in which case the batch is not committed
//! and is read again: a record is never committed without its letter.

use std::time::Duration;

use hookline_runtime::shutdown::CancellationToken;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use hookline_runtime::kafka::{refuses_record, KafkaClient};
use hookline_schemas::record::{header, RecordHeaders};

use crate::projection::RawHookRow;

/// Headers added to a dead-lettered record, besides [`header::DEAD_LETTER_REASON`].
pub mod origin {
    pub const TOPIC: &str = "hookline-origin-topic";
    pub const PARTITION: &str = "hookline-origin-partition";
    pub const OFFSET: &str = "hookline-origin-offset";
    /// On pointer letters only: why the full copy could not be written.
    pub const POINTER: &str = "hookline-dead-letter-pointer";
}

/// Most bytes of a reason kept in a letter; longer ones are cut (at a character boundary)
/// and end with `…`.
pub const MAX_REASON_BYTES: usize = 1024;

/// First and longest pause between two tries of a letter Kafka did not take.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The dead-letter producer.
pub struct DeadLetters {
    /// The producer writing dead letters.
    producer: FutureProducer,
    /// The dead-letter topic.
    topic: String,
}

/// The letter was not delivered because the service is shutting down; the batch holding its
/// record is not committed and will be read again.
#[derive(Debug, thiserror::Error)]
#[error("shutting down before the dead-letter topic took every letter; the batch will be consumed again")]
pub struct Interrupted;

impl DeadLetters {
    /// A producer for `topic` that takes records up to `max_message_bytes` (librdkafka
    /// `message.max.bytes`): at least the largest hook a family topic can hold, so that a
    /// full copy fits whenever the topic allows it.
    pub fn new(
        kafka: &KafkaClient,
        topic: String,
        max_message_bytes: usize,
    ) -> Result<Self, KafkaError> {
        let producer = kafka
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.max.bytes", max_message_bytes.to_string())
            // How long one try of a letter may take; failed tries are retried (see the module).
            .set("message.timeout.ms", "30000")
            .set("client.id", "hookline-consumers-dead-letters")
            .create()?;
        Ok(Self { producer, topic })
    }

    /// Sends `letter` now, without waiting; [`PendingLetters::delivered`] waits for it.
    pub fn queue(&self, letter: Letter, pending: &mut PendingLetters) {
        let delivery = self.send(&letter);
        pending.0.push((letter, Some(delivery)));
    }

    fn send(&self, letter: &Letter) -> Result<DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len());
        for (key, value) in &letter.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key);
        }
        if let Some(payload) = &letter.payload {
            record = record.payload(payload);
        }
        self.producer
            .send_result(record)
            .map_err(|(error, _)| error)
    }

    /// Waits until Kafka has `letter`, replacing it by its pointer if Kafka refuses it and
    /// retrying any other failure, until `shutdown`. Returns whether a pointer was written.
    async fn deliver(
        &self,
        mut letter: Letter,
        mut sent: Option<Result<DeliveryFuture, KafkaError>>,
        shutdown: &CancellationToken,
    ) -> Result<bool, Interrupted> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = sent.take().unwrap_or_else(|| self.send(&letter));
            let outcome = match attempt {
                Ok(delivery) => tokio::select! {
                    outcome = delivery => match outcome {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((error, _))) => Err(error),
                        Err(_canceled) => Err(KafkaError::Canceled),
                    },
                    () = shutdown.cancelled() => return Err(Interrupted),
                },
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => return Ok(letter.pointer),
                Err(error) if refuses_record(&error) && !letter.pointer => {
                    tracing::warn!(%error, origin = %letter.origin, "Kafka refuses the dead-letter copy; writing a pointer to the record instead");
                    letter = letter.pointer_for(&error);
                    backoff = FIRST_BACKOFF;
                }
                Err(error) => {
                    tracing::warn!(%error, origin = %letter.origin, retry_in_ms = backoff.as_millis() as u64, "cannot write to the dead-letter topic; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return Err(Interrupted),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// One record for the dead-letter topic, owned so that it can be sent again.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The original record's key (its project), so the letter lands with its project's.
    key: Option<Vec<u8>>,
    /// The original body; `None` on a pointer letter.
    payload: Option<Vec<u8>>,
    /// The original headers, then the reason and the origin (and on a pointer, why).
    headers: Vec<(String, Option<Vec<u8>>)>,
    /// `topic/partition@offset` of the original record, for logs.
    origin: String,
    /// Whether this is already the small stand-in for a refused copy.
    pointer: bool,
}

impl Letter {
    /// A copy of a record read from Kafka that cannot be read or projected.
    pub fn of_message(message: &impl Message, reason: &str) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self::new(
            message.key().map(<[u8]>::to_vec),
            message.payload().map(<[u8]>::to_vec),
            headers,
            (message.topic(), message.partition(), message.offset()),
            reason,
        )
    }

    /// A copy of a record that ClickHouse refused, rebuilt from its `raw_hooks` row (which
    /// holds its body, headers and coordinates) after the batch was read.
    pub fn of_raw_row(row: &RawHookRow, reason: &str) -> Self {
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        let record = RecordHeaders {
            event_type: row.event_type.clone(),
            event_id: row.event_id.clone(),
            delivery_key: non_empty(&row.delivery_key),
            received_at_ms: (row.received_at.unix_timestamp_nanos() / 1_000_000) as i64,
            gitlab_instance: non_empty(&row.gitlab_instance),
            source: non_empty(&row.source),
            gitlab_version: non_empty(&row.gitlab_version),
        };
        let headers = record
            .to_pairs()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Some(value.into_bytes())))
            .collect();
        Self::new(
            Some(row.project_key.clone().into_bytes()),
            Some(row.body.clone().into_bytes()),
            headers,
            (&row.topic, row.partition as i32, row.offset as i64),
            reason,
        )
    }

    fn new(
        key: Option<Vec<u8>>,
        payload: Option<Vec<u8>>,
        mut headers: Vec<(String, Option<Vec<u8>>)>,
        (topic, partition, offset): (&str, i32, i64),
        reason: &str,
    ) -> Self {
        for (name, value) in [
            (header::DEAD_LETTER_REASON, capped(reason)),
            (origin::TOPIC, topic.to_owned()),
            (origin::PARTITION, partition.to_string()),
            (origin::OFFSET, offset.to_string()),
        ] {
            headers.push((name.to_owned(), Some(value.into_bytes())));
        }
        Self {
            key,
            payload,
            headers,
            origin: format!("{topic}/{partition}@{offset}"),
            pointer: false,
        }
    }

    /// The small stand-in for this letter once Kafka refused it: the key, the reason, the
    /// origin, the event id and why the copy was refused; no body and no other header.
    fn pointer_for(&self, error: &KafkaError) -> Self {
        const KEPT: &[&str] = &[
            header::EVENT_TYPE,
            header::EVENT_ID,
            header::DEAD_LETTER_REASON,
            origin::TOPIC,
            origin::PARTITION,
            origin::OFFSET,
        ];
        let mut headers: Vec<_> = self
            .headers
            .iter()
            .filter(|(name, _)| KEPT.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.as_ref().map(|v| capped_bytes(v))))
            .collect();
        let why = format!(
            "Kafka refused the full copy ({error}); the record is at {} and, if its body is \
             text, in raw_hooks",
            self.origin
        );
        headers.push((origin::POINTER.to_owned(), Some(capped(&why).into_bytes())));
        Self {
            key: self.key.as_deref().map(capped_bytes),
            payload: None,
            headers,
            origin: self.origin.clone(),
            pointer: true,
        }
    }

    /// The reason header's value, for tests and logs.
    pub fn reason(&self) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(name, _)| name == header::DEAD_LETTER_REASON)
            .and_then(|(_, value)| value.as_deref())
    }

    /// The letter's size on the wire, roughly: payload, key and headers.
    pub fn len(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.as_ref().map_or(0, Vec::len))
            .sum();
        self.payload.as_ref().map_or(0, Vec::len) + self.key.as_ref().map_or(0, Vec::len) + headers
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `text` cut to at most [`MAX_REASON_BYTES`] bytes at a character boundary, `…` marking a cut.
pub fn capped(text: &str) -> String {
    if text.len() <= MAX_REASON_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_REASON_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// Bytes cut to [`MAX_REASON_BYTES`], for header values and keys of a pointer letter.
fn capped_bytes(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(MAX_REASON_BYTES)].to_vec()
}

/// The dead-letter letters queued for one batch.
#[derive(Default)]
pub struct PendingLetters(Vec<(Letter, Option<Result<DeliveryFuture, KafkaError>>)>);

/// What [`PendingLetters::delivered`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Letters written, full copies and pointers.
    pub letters: u64,
    /// Of those, pointers standing for copies Kafka refused.
    pub pointers: u64,
}

impl PendingLetters {
    /// Queues a letter that is sent only when [`PendingLetters::delivered`] runs (for
    /// records found after the batch was read, such as those ClickHouse refused).
    pub fn push(&mut self, letter: Letter) {
        self.0.push((letter, None));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until Kafka has every letter (or its pointer), retrying as the module says.
    pub async fn delivered(
        self,
        dead_letters: &DeadLetters,
        shutdown: &CancellationToken,
    ) -> Result<Delivered, Interrupted> {
        let mut delivered = Delivered::default();
        for (letter, sent) in self.0 {
            let pointer = dead_letters.deliver(letter, sent, shutdown).await?;
            delivered.letters += 1;
            delivered.pointers += u64::from(pointer);
        }
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;
    use rdkafka::message::OwnedMessage;
    use rdkafka::Timestamp;

    fn message(payload: Vec<u8>) -> OwnedMessage {
        let headers = OwnedHeaders::new().insert(Header {
            key: header::EVENT_ID,
            value: Some("e1".as_bytes()),
        });
        OwnedMessage::new(
            Some(payload),
            Some(b"42".to_vec()),
            "gitlab.pipeline".to_owned(),
            Timestamp::NotAvailable,
            3,
            77,
            Some(headers),
        )
    }

    fn header_value<'a>(letter: &'a Letter, name: &str) -> Option<&'a [u8]> {
        letter
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_deref())
    }

    #[test]
    fn a_reason_quoting_a_huge_value_is_capped() {
        // serde quotes the offending string in full: 600 KB where a number belongs.
        let huge = format!(
            "invalid type: string \"{}\", expected u64",
            "é".repeat(300_000)
        );
        let letter = Letter::of_message(&message(b"{}".to_vec()), &huge);
        let reason = letter.reason().unwrap();
        assert!(reason.len() <= MAX_REASON_BYTES, "{}", reason.len());
        let text = std::str::from_utf8(reason).expect("cut at a character boundary");
        assert!(text.starts_with("invalid type: string") && text.ends_with('…'));
        assert_eq!(capped("short"), "short");
    }

    #[test]
    fn a_letter_keeps_the_record_and_adds_its_origin() {
        let letter = Letter::of_message(&message(b"{\"a\":1}".to_vec()), "why");
        assert_eq!(letter.payload.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(letter.key.as_deref(), Some(&b"42"[..]));
        assert_eq!(header_value(&letter, header::EVENT_ID), Some(&b"e1"[..]));
        assert_eq!(header_value(&letter, origin::PARTITION), Some(&b"3"[..]));
        assert_eq!(header_value(&letter, origin::OFFSET), Some(&b"77"[..]));
        assert!(!letter.pointer);
    }

    #[test]
    fn a_pointer_is_small_and_says_where_the_record_is() {
        let body = vec![b'x'; 30 * 1024 * 1024];
        let letter = Letter::of_message(&message(body), &"r".repeat(5000));
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(refuses_record(&error));
        let pointer = letter.pointer_for(&error);
        assert!(pointer.pointer && pointer.payload.is_none());
        assert!(pointer.len() < 4 * MAX_REASON_BYTES, "{}", pointer.len());
        let why =
            String::from_utf8(header_value(&pointer, origin::POINTER).unwrap().to_vec()).unwrap();
        assert!(why.contains("gitlab.pipeline/3@77"), "{why}");
        assert_eq!(header_value(&pointer, header::EVENT_ID), Some(&b"e1"[..]));
        assert!(!refuses_record(&KafkaError::MessageProduction(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
    }
}
