//! Where accepted hooks are written.
//!
//! The request handler depends only on [`HookSink`], so unit tests can swap in an in-memory
//! sink. Production uses [`durable::DurableSink`]: [`kafka::KafkaSink`] first, and the local
//! [`spool`] when Kafka does not acknowledge in time, drained back to Kafka in the background.

pub mod durable;
pub mod kafka;
pub mod metrics;
pub mod spool;

use std::future::Future;

use bytes::Bytes;
use hookline_schemas::record::RecordHeaders;

/// One hook ready to be written: everything the record format needs.
#[derive(Debug, Clone)]
pub struct HookRecord {
    /// The topic the record goes to.
    pub topic: String,
    /// See [`hookline_schemas::record::record_key`].
    pub key: String,
    /// The record headers (ids, source, received-at time).
    pub headers: RecordHeaders,
    /// Present only on dead-letter records: why the body could not be routed.
    pub dead_letter_reason: Option<String>,
    /// The exact bytes GitLab sent.
    pub body: Bytes,
}

/// A hook could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("Kafka did not acknowledge the record: {0}")]
    NotAcknowledged(#[source] rdkafka::error::KafkaError),
    /// Kafka refused the record itself (too large, invalid): retrying cannot help.
    #[error("Kafka refused the record: {0}")]
    Refused(#[source] rdkafka::error::KafkaError),
    /// Kafka did not acknowledge in time and the spool could not take the record.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
}

/// Makes hooks durable. `write` resolves only once the record is safely stored.
pub trait HookSink: Send + Sync + 'static {
    fn write(&self, record: HookRecord) -> impl Future<Output = Result<(), SinkError>> + Send;
}
