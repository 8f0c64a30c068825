//! Ingest's Prometheus metrics, registered in a registry the caller owns.
//!
//! Labels are bounded: hooks are counted by event *family* (a fixed set), never by the raw
//! `X-Gitlab-Event` value, which an unauthenticated client could vary without limit.

use prometheus::{exponential_buckets, Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

/// Handles to every ingest metric; cheap to clone.
#[derive(Clone)]
pub struct IngestMetrics {
    /// Deliveries by event family and outcome (accepted, dead_letter, unauthorized,
    /// too_large, unavailable).
    pub requests_total: IntCounterVec,
    /// Authentication failures by source label and reason.
    pub auth_failures_total: IntCounterVec,
    /// Size of accepted bodies, to size the broker's `message.max.bytes`.
    pub payload_bytes: Histogram,
    /// Time from the end of the request body to the answer GitLab receives.
    pub ack_seconds: Histogram,
    /// Time Kafka took to acknowledge a record.
    pub kafka_produce_seconds: Histogram,
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let latency_buckets = exponential_buckets(0.0005, 2.0, 16)?;
        let metrics = Self {
            requests_total: IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_requests_total",
                    "Webhook deliveries by event family and outcome.",
                ),
                &["family", "outcome"],
            )?,
            auth_failures_total: IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_auth_failures_total",
                    "Deliveries refused for a missing or wrong credential, by source and reason.",
                ),
                &["source", "reason"],
            )?,
            payload_bytes: Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_payload_bytes",
                    "Size of accepted webhook bodies in bytes.",
                )
                .buckets(exponential_buckets(256.0, 4.0, 10)?),
            )?,
            ack_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_ack_seconds",
                    "Time from receiving a webhook body to answering GitLab, in seconds.",
                )
                .buckets(latency_buckets.clone()),
            )?,
            kafka_produce_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_kafka_produce_seconds",
                    "Time for Kafka to acknowledge a produced record, in seconds.",
                )
                .buckets(latency_buckets),
            )?,
        };
        registry.register(Box::new(metrics.requests_total.clone()))?;
        registry.register(Box::new(metrics.auth_failures_total.clone()))?;
        registry.register(Box::new(metrics.payload_bytes.clone()))?;
        registry.register(Box::new(metrics.ack_seconds.clone()))?;
        registry.register(Box::new(metrics.kafka_produce_seconds.clone()))?;
        Ok(metrics)
    }
}
