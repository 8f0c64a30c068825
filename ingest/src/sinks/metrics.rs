//! Metrics of the spool and of the durable sink around it, registered next to
//! [`crate::prometheus::IngestMetrics`] in the same registry.

use hookline_runtime::metrics::register;
use prometheus::{
    exponential_buckets, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry,
};

/// Handles to every spool metric; cheap to clone.
/// Defines a label's values as an enum, each with the name it has in the metric.
macro_rules! label_values {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $label:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }
        }
    };
}

label_values! {
    /// Why a hook went to the spool: the `reason` of `hookline_ingest_spooled_total`.
    SpoolReason {
        /// Kafka did not acknowledge within `HOOKLINE_KAFKA_ACK_DEADLINE_MS`.
        Deadline => "deadline",
        /// Kafka failed the hook.
        KafkaError => "kafka_error",
        /// The spool held older hooks, which it must not overtake.
        Backlog => "backlog",
    }
}

label_values! {
    /// Why neither Kafka nor the spool took a hook: the `reason` of
    /// `hookline_ingest_spool_rejections_total`.
    Rejection {
        /// The spool is at `HOOKLINE_SPOOL_MAX_BYTES`.
        Full => "full",
        /// The spool's storage failed, or it is closed.
        Disk => "disk",
    }
}

label_values! {
    /// Why a spooled hook was parked: the `reason` of `hookline_ingest_spool_parked_total`.
    ParkReason {
        /// Kafka refuses the record itself (too large, invalid).
        RefusedByKafka => "refused_by_kafka",
        /// The record cannot be decoded.
        Corrupt => "corrupt",
        /// It failed `MAX_ATTEMPTS` times while Kafka took others.
        RetriesExhausted => "retries_exhausted",
    }
}

#[derive(Clone)]
pub struct SpoolMetrics {
    /// Records waiting in the spool for Kafka.
    pub records: IntGauge,
    /// Their encoded size, the quantity `HOOKLINE_SPOOL_MAX_BYTES` bounds.
    pub bytes: IntGauge,
    /// `HOOKLINE_SPOOL_MAX_BYTES`, so alerts can use a ratio.
    pub capacity_bytes: IntGauge,
    /// Age of the oldest spooled record; 0 when the spool is empty.
    pub oldest_age_seconds: Gauge,
    /// Time from asking for a spool write to its fsynced commit, per hook.
    pub write_seconds: Histogram,
    /// Hooks written to the spool, by why they did not go straight to Kafka.
    pub spooled_total: IntCounterVec,
    /// Spooled records forwarded to Kafka and removed from the spool.
    pub drained_total: IntCounter,
    /// Hooks the spool could not take (`full`, `disk`): each one is a 503.
    pub rejections_total: IntCounterVec,
    /// Records parked: kept on disk but no longer drained, until the next start.
    pub parked_records: IntGauge,
    /// Records parked, by why (`refused_by_kafka`, `corrupt`, `retries_exhausted`).
    pub parked_total: IntCounterVec,
    /// Times the spool's storage was reopened after an error, without a restart.
    pub reopened_total: IntCounter,
    /// Hooks sent straight to Kafka, although the spool held older ones, because the spool
    /// could not take them (storage failed, or full): their order is not kept.
    pub bypassed_total: IntCounter,
    /// 1 when the last metadata request to the brokers succeeded, 0 otherwise.
    pub kafka_reachable: IntGauge,
}

impl SpoolMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            records: register(registry, IntGauge::new(
                "hookline_ingest_spool_records",
                "Hooks waiting in the local spool for Kafka.",
            )?)?,
            bytes: register(registry, IntGauge::new(
                "hookline_ingest_spool_bytes",
                "Encoded size of the hooks in the local spool, in bytes.",
            )?)?,
            capacity_bytes: register(registry, IntGauge::new(
                "hookline_ingest_spool_capacity_bytes",
                "Bytes the local spool holds at most (HOOKLINE_SPOOL_MAX_BYTES).",
            )?)?,
            oldest_age_seconds: register(registry, Gauge::new(
                "hookline_ingest_spool_oldest_age_seconds",
                "Age of the oldest hook in the local spool in seconds; 0 when it is empty.",
            )?)?,
            write_seconds: register(registry, Histogram::with_opts(
                HistogramOpts::new(
                    "hookline_ingest_spool_write_seconds",
                    "Time to write a hook to the local spool, fsync included, in seconds.",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 14)?),
            )?)?,
            spooled_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_spooled_total",
                    "Hooks written to the local spool instead of straight to Kafka, by reason (deadline, kafka_error, backlog).",
                ),
                &["reason"],
            )?)?,
            drained_total: register(registry, IntCounter::new(
                "hookline_ingest_spool_drained_total",
                "Spooled hooks forwarded to Kafka and removed from the spool.",
            )?)?,
            rejections_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_spool_rejections_total",
                    "Hooks the local spool could not take, by reason (full, disk); each was answered 503.",
                ),
                &["reason"],
            )?)?,
            parked_records: register(registry, IntGauge::new(
                "hookline_ingest_spool_parked_records",
                "Spooled hooks parked because they could not be forwarded to Kafka; kept on disk and queued again at the next start.",
            )?)?,
            parked_total: register(registry, IntCounterVec::new(
                Opts::new(
                    "hookline_ingest_spool_parked_total",
                    "Spooled hooks parked, by reason (refused_by_kafka, corrupt, retries_exhausted).",
                ),
                &["reason"],
            )?)?,
            reopened_total: register(registry, IntCounter::new(
                "hookline_ingest_spool_reopened_total",
                "Times the local spool's storage was reopened after an I/O error.",
            )?)?,
            bypassed_total: register(registry, IntCounter::new(
                "hookline_ingest_spool_bypassed_total",
                "Hooks sent straight to Kafka while the spool held older ones, because the spool could not take them (storage failed or full).",
            )?)?,
            kafka_reachable: register(registry, IntGauge::new(
                "hookline_ingest_kafka_reachable",
                "1 when the Kafka brokers answered the last metadata request, 0 otherwise.",
            )?)?,
        };
        Ok(metrics)
    }

    /// Unregistered metrics, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test() -> Self {
        Self::register(&Registry::new()).expect("metrics register")
    }
}
