//! Ingest's Prometheus metrics, registered in a registry the caller owns.
//!
//! Labels are bounded: hooks are counted by event *family* (a fixed set), never by the raw
//! `X-Gitlab-Event` value, which an unauthenticated client could vary without limit.

use hookline_runtime::metrics::register;
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

/// Handles to every ingest metric; cheap to clone.
#[derive(Clone)]
pub struct IngestMetrics {
    /// Deliveries by event family and outcome (accepted, dead_lettered, duplicate,
    /// unauthorized, too_large, unknown_source, bad_request, timeout, overloaded, unavailable).
    pub requests_total: IntCounterVec,
    /// Authentication failures by source label and reason.
    pub auth_failures_total: IntCounterVec,
    /// Size of accepted bodies, to size the broker's `message.max.bytes`.
    pub payload_bytes: Histogram,
    /// Time from the end of the request body to the answer GitLab receives.
    pub ack_seconds: Histogram,
    /// Time Kafka took to acknowledge a record.
    pub kafka_produce_seconds: Histogram,
    /// Deliveries being handled now (bounded by --max-concurrent-requests).
    pub requests_in_flight: IntGauge,
    /// Records in librdkafka's producer queues, from its statistics callback.
    pub kafka_queue_messages: IntGauge,
    /// Bytes of those records.
    pub kafka_queue_bytes: IntGauge,
    /// How many records those queues hold at most (`queue.buffering.max.messages`).
    pub kafka_queue_capacity_messages: IntGauge,
    /// Hooks written whose ids did not reach the deduplication log: other replicas (and this
    /// one after a restart) will not recognise their repeats, which the consumers collapse.
    pub dedup_log_failures: IntCounter,
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let latency_buckets = exponential_buckets(0.0005, 2.0, 16)?;
        let metrics = Self {
            requests_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_requests_total",
                    "Webhook deliveries by event family and outcome.",
                ),
                &["family", "outcome"],
            )?)?,
            auth_failures_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_auth_failures_total",
                    "Deliveries refused for a missing or wrong credential, by source and reason.",
                ),
                &["source", "reason"],
            )?)?,
            payload_bytes: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_payload_bytes",
                    "Size of accepted webhook bodies in bytes.",
                )
                .buckets(exponential_buckets(256.0, 4.0, 10)?),
            )?)?,
            ack_seconds: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_ack_seconds",
                    "Time from receiving a webhook body to answering GitLab, in seconds.",
                )
                .buckets(latency_buckets.clone()),
            )?)?,
            kafka_produce_seconds: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_kafka_produce_seconds",
                    "Time for Kafka to acknowledge a produced record, in seconds.",
                )
                .buckets(latency_buckets),
            )?)?,
            requests_in_flight: register(registry, IntGauge::new(
                "hookline_ingest_requests_in_flight",
                "Webhook deliveries being handled now.",
            )?)?,
            dedup_log_failures: register(registry, IntCounter::new(
                "hookline_ingest_dedup_log_failures_total",
                "Hooks written to Kafka whose ids could not be written to the deduplication log topic.",
            )?)?,
            kafka_queue_messages: register(registry, IntGauge::new(
                "hookline_ingest_kafka_queue_messages",
                "Records waiting in the Kafka producer's queues (librdkafka statistics msg_cnt).",
            )?)?,
            kafka_queue_bytes: register(registry, IntGauge::new(
                "hookline_ingest_kafka_queue_bytes",
                "Bytes of the records waiting in the Kafka producer's queues (librdkafka statistics msg_size).",
            )?)?,
            kafka_queue_capacity_messages: register(registry, IntGauge::new(
                "hookline_ingest_kafka_queue_capacity_messages",
                "Records the Kafka producer's queues hold at most (librdkafka statistics msg_max); 0 until the first statistics.",
            )?)?,
        };
        Ok(metrics)
    }
}
