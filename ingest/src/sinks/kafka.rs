//! The Kafka sink: an idempotent librdkafka producer that waits for `acks=all`.
//!
//! A write resolves when every in-sync replica has the record, so a 200 to GitLab means the
//! hook survives the loss of the leader. The idempotent producer (`enable.idempotence`) keeps
//! librdkafka's internal retries from duplicating or reordering records within a partition.
//!
//! librdkafka's periodic statistics (`statistics.interval.ms`) feed the queue-depth gauges
//! through [`StatsContext`], so a broker that slows down shows before deliveries time out.
//!
//! **Record size.** librdkafka refuses records over `message.max.bytes` (default 1 MB) before
//! sending them; the producer is sized from `HOOKLINE_MAX_BODY_BYTES` plus room for the key
//! and headers ([`hookline_runtime::topics::max_message_bytes_for`]), as are the topics.
//!
//! Once a hook is acknowledged, its ids go to the deduplication log ([`DedupLog`]), which
//! shares the producer.

use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use serde::Deserialize;

use super::{HookRecord, HookSink, SinkError};
use crate::dedup::log::DedupLog;
use crate::prometheus::IngestMetrics;
use hookline_runtime::kafka::KafkaClient;
use hookline_schemas::record::{header, DedupEntry};

/// Producer settings taken from the service configuration.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// The brokers and the connection's security settings.
    pub kafka: KafkaClient,
    /// librdkafka `message.timeout.ms`: how long a record may wait for its acknowledgement.
    pub ack_timeout: Duration,
    /// librdkafka `linger.ms`.
    pub linger_ms: u64,
    /// librdkafka `compression.type`.
    pub compression: String,
    /// librdkafka `statistics.interval.ms`; zero turns statistics off.
    pub statistics_interval: Duration,
    /// Where to log the ids of every hook written ([`DedupEntry`]), when deduplication is on.
    pub dedup_log: Option<String>,
}

/// The producer's client context: publishes librdkafka's statistics as metrics.
pub struct StatsContext {
    /// The gauges the statistics feed.
    metrics: IngestMetrics,
}

/// The part of librdkafka's statistics JSON the gauges need (top-level producer queue).
///
/// Parsed here rather than through rdkafka's full `Statistics` model: that model fails on a
/// report missing any of its many fields, and reports its failures only through the `log`
/// crate, which these services do not collect (against the local broker, `stats()` was
/// never called).
#[derive(Debug, Deserialize)]
struct QueueStatistics {
    /// Records in the producer queues.
    msg_cnt: u64,
    /// Bytes of those records.
    msg_size: u64,
    /// Maximum records the queues hold.
    msg_max: u64,
}

impl ClientContext for StatsContext {
    fn stats_raw(&self, statistics: &[u8]) {
        match serde_json::from_slice::<QueueStatistics>(statistics) {
            Ok(queue) => {
                let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
                self.metrics.kafka_queue_messages.set(gauge(queue.msg_cnt));
                self.metrics.kafka_queue_bytes.set(gauge(queue.msg_size));
                self.metrics
                    .kafka_queue_capacity_messages
                    .set(gauge(queue.msg_max));
            }
            Err(error) => tracing::warn!(%error, "cannot read librdkafka statistics"),
        }
    }
}

pub struct KafkaSink {
    /// The idempotent producer; shared with the deduplication log.
    producer: FutureProducer<StatsContext>,
    /// The gauges the statistics feed.
    metrics: IngestMetrics,
    /// Where the ids of written hooks go, when deduplication is on.
    dedup_log: Option<DedupLog>,
}

/// librdkafka's largest `message.max.bytes`.
const LIBRDKAFKA_MAX_MESSAGE_BYTES: u64 = 1_000_000_000;

/// The body limit [`KafkaSink::new`] sizes the producer for: ingest's default, GitLab's own.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;

impl KafkaSink {
    /// A producer sized for bodies up to [`DEFAULT_MAX_BODY_BYTES`].
    pub fn new(settings: &KafkaSettings, metrics: IngestMetrics) -> Result<Self, KafkaError> {
        Self::with_max_body_bytes(settings, metrics, DEFAULT_MAX_BODY_BYTES)
    }

    /// A producer that takes records with bodies up to `max_body_bytes`
    /// (`HOOKLINE_MAX_BODY_BYTES`).
    pub fn with_max_body_bytes(
        settings: &KafkaSettings,
        metrics: IngestMetrics,
        max_body_bytes: u64,
    ) -> Result<Self, KafkaError> {
        let message_max_bytes = hookline_runtime::topics::max_message_bytes_for(max_body_bytes)
            .min(LIBRDKAFKA_MAX_MESSAGE_BYTES);
        let producer: FutureProducer<StatsContext> = settings
            .kafka
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &settings.compression)
            .set("message.max.bytes", message_max_bytes.to_string())
            .set("linger.ms", settings.linger_ms.to_string())
            .set(
                "message.timeout.ms",
                settings.ack_timeout.as_millis().to_string(),
            )
            .set(
                "statistics.interval.ms",
                settings.statistics_interval.as_millis().to_string(),
            )
            // Reconnect within a second of a broker coming back, so the spool drains promptly
            // (librdkafka's default backs off to 10 s).
            .set("reconnect.backoff.max.ms", "1000")
            .set("client.id", "hookline-ingest")
            .create_with_context(StatsContext {
                metrics: metrics.clone(),
            })?;
        let dedup_log = settings.dedup_log.clone().map(|topic| {
            DedupLog::spawn(producer.clone(), topic, metrics.dedup_log_failures.clone())
        });
        Ok(Self {
            producer,
            metrics,
            dedup_log,
        })
    }

    /// Whether the brokers answer a metadata request within `timeout` (for `/readyz`).
    pub fn check_reachable(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .client()
            .fetch_metadata(None, Timeout::After(timeout))
            .map(|_| ())
    }

    /// Has the deduplication log write its last entries and stop (on shutdown, before
    /// [`KafkaSink::flush`], so that the flush covers them).
    pub async fn close_dedup_log(&self) {
        if let Some(log) = &self.dedup_log {
            log.close().await;
        }
    }

    /// Waits until every queued record is acknowledged or `timeout` passes (on shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(Timeout::After(timeout))
    }
}

impl HookSink for KafkaSink {
    async fn write(&self, record: HookRecord) -> Result<(), SinkError> {
        let pairs = record.headers.to_pairs();
        let mut headers = OwnedHeaders::new_with_capacity(pairs.len() + 1);
        for (name, value) in &pairs {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        if let Some(reason) = &record.dead_letter_reason {
            headers = headers.insert(Header {
                key: header::DEAD_LETTER_REASON,
                value: Some(reason.as_bytes()),
            });
        }
        let started = Instant::now();
        let result = self
            .producer
            .send(
                FutureRecord::to(&record.topic)
                    .key(record.key.as_bytes())
                    .payload(record.body.as_ref())
                    .headers(headers),
                // Never block on a full local queue longer than a delivery may take anyway.
                Timeout::Never,
            )
            .await;
        self.metrics
            .kafka_produce_seconds
            .observe(started.elapsed().as_secs_f64());
        result.map_err(|(error, _)| classify(error))?;
        // Only now, so that no replica calls a hook Kafka lacks a duplicate.
        if let (Some(log), None) = (&self.dedup_log, &record.dead_letter_reason) {
            log.append(DedupEntry::of(&record.headers));
        }
        Ok(())
    }
}

/// Whether retrying (from the spool) can ever get `error`'s record into Kafka.
fn classify(error: KafkaError) -> SinkError {
    if hookline_runtime::kafka::refuses_record(&error) {
        SinkError::Refused(error)
    } else {
        SinkError::NotAcknowledged(error)
    }
}
