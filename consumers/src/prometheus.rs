//! The consumers' Prometheus metrics, registered in a registry the caller owns.

use hookline_runtime::metrics::register;
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Handles to every consumers metric; cheap to clone.
#[derive(Clone)]
pub struct ConsumerMetrics {
    /// Records read from Kafka, by topic.
    pub records_consumed_total: IntCounterVec,
    /// Rows inserted into ClickHouse, by table.
    pub rows_written_total: IntCounterVec,
    /// Letters written to the dead-letter topic: records no table could take in full.
    pub dead_letters_total: IntCounter,
    /// Of those, pointers standing for copies Kafka refused (too large): the body is only in
    /// the original topic and, when readable, in `raw_hooks`.
    pub dead_letter_pointers_total: IntCounter,
    /// Failed ClickHouse inserts (each is retried until it succeeds).
    pub clickhouse_errors_total: IntCounter,
    /// Records whose rows ClickHouse refused while it took others: isolated by splitting the
    /// batch and dead-lettered (see `clickhouse::sink`).
    pub clickhouse_rejected_records_total: IntCounter,
    /// Records per flushed batch.
    pub batch_records: Histogram,
    /// Time to insert one batch into every table.
    pub insert_seconds: Histogram,
    /// Records not yet in ClickHouse, per assigned partition (see [`crate::lag`]).
    pub lag_records: IntGaugeVec,
    /// Partitions of each subscribed topic this consumer owns (see [`crate::membership`]).
    pub assigned_partitions: IntGaugeVec,
    /// 1 while this consumer owns nothing although partitions have lag and no progress.
    pub assignment_stalled: IntGauge,
    /// Times this consumer left and rejoined its group because of such a stall.
    pub group_rejoins_total: IntCounter,
}

impl ConsumerMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            records_consumed_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_consumers_records_consumed_total",
                    "Records read from Kafka, by topic.",
                ),
                &["topic"],
            )?)?,
            rows_written_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_consumers_rows_written_total",
                    "Rows inserted into ClickHouse, by table.",
                ),
                &["table"],
            )?)?,
            dead_letters_total: register(registry, IntCounter::new(
                "hookline_consumers_dead_letters_total",
                "Records sent to the dead-letter topic because no table could take them.",
            )?)?,
            dead_letter_pointers_total: register(registry, IntCounter::new(
                "hookline_consumers_dead_letter_pointers_total",
                "Dead letters written as a pointer (origin and reason, no body) because Kafka refused the full copy.",
            )?)?,
            clickhouse_errors_total: register(registry, IntCounter::new(
                "hookline_consumers_clickhouse_errors_total",
                "Failed ClickHouse insert attempts; each batch is retried until ClickHouse takes it.",
            )?)?,
            clickhouse_rejected_records_total: register(registry, IntCounter::new(
                "hookline_consumers_clickhouse_rejected_records_total",
                "Records whose rows ClickHouse refused while it took the rest of their batch; each was dead-lettered.",
            )?)?,
            batch_records: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_consumers_batch_records",
                    "Records per batch flushed to ClickHouse.",
                )
                .buckets(exponential_buckets(1.0, 4.0, 10)?),
            )?)?,
            insert_seconds: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_consumers_insert_seconds",
                    "Time to insert one batch into ClickHouse, in seconds.",
                )
                .buckets(exponential_buckets(0.001, 2.0, 16)?),
            )?)?,
            lag_records: register(registry, IntGaugeVec::new(
                Opts::new(
                    "hookline_consumers_lag_records",
                    "Records of a partition this consumer owns that are not yet in ClickHouse: \
                     the partition's high watermark minus the group's committed offset.",
                ),
                &["topic", "partition"],
            )?)?,
            assigned_partitions: register(registry, IntGaugeVec::new(
                Opts::new(
                    "hookline_consumers_assigned_partitions",
                    "Partitions of each subscribed topic this consumer owns in its group.",
                ),
                &["topic"],
            )?)?,
            assignment_stalled: register(registry, IntGauge::new(
                "hookline_consumers_assignment_stalled",
                "1 while this consumer owns no partition although partitions of the group's \
                 topics have had lag without progress for longer than the grace period.",
            )?)?,
            group_rejoins_total: register(registry, IntCounter::new(
                "hookline_consumers_group_rejoins_total",
                "Times this consumer left and rejoined its group because it owned no partition \
                 while the group's work stood still.",
            )?)?,
        };
        Ok(metrics)
    }
}
