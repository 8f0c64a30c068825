//! Consumer lag per partition: how many records of each partition this consumer owns are not
//! yet in ClickHouse (`hookline_consumers_lag_records{topic,partition}`).
//!
//! Lag is the partition's high watermark minus the group's committed offset, both asked of the
//! broker every `HOOKLINE_KAFKA_LAG_INTERVAL_MS` on a thread of its own. It is measured this
//! way rather than from librdkafka's statistics because those reach the application only when
//! the consumer is polled, and the consume loop does not poll while it retries an insert that
//! ClickHouse refuses: exactly when lag grows, the statistics would stand still. Offsets are
//! committed only after a batch is in ClickHouse, so the lag includes the batch being filled
//! or inserted. Partitions this consumer no longer owns lose their series, so the series of
//! all replicas in a group add up to the group's lag.
//!
//! The same thread publishes how many partitions of each topic the consumer owns
//! (`hookline_consumers_assigned_partitions{topic}`) and, while it owns none, measures every
//! partition of the subscribed topics instead, for [`crate::membership`] to tell a replica that
//! is idle by design from one the group left out: one measurement serves both, so the broker
//! is not asked twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;
use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use crate::group::{GroupConsumer, Partition};
use crate::membership::{self, Observation, Verdict, Watchdog};
use crate::prometheus::ConsumerMetrics;

/// The longest a broker request of one measurement may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The readiness check of [`crate::membership`].
pub const ASSIGNMENT_CHECK: &str = "assignment";

/// What the measuring task needs besides the consumer.
pub struct LagWatch {
    /// The group's consumer: its assignment, and the broker to ask.
    pub kafka: Arc<GroupConsumer>,
    /// The topics the consumer subscribes to, for the ownership gauge and the rejoin.
    pub topics: Vec<String>,
    /// Where lag, ownership and stalls are published.
    pub metrics: ConsumerMetrics,
    /// How often to measure.
    pub interval: Duration,
    /// Decides from each measurement whether owning nothing has become a stall.
    pub watchdog: Watchdog,
    /// `/readyz`: its `assignment` check fails while the replica is stalled.
    pub readiness: Readiness,
}

/// Measures the lag every `interval` and publishes it, until `shutdown`. While the consumer
/// owns no partition, the same measurement covers every partition of the subscribed topics
/// and feeds the [`Watchdog`], which may make the consumer leave and rejoin its group.
pub async fn watch(mut watch: LagWatch, shutdown: CancellationToken) {
    watch.readiness.set_ready(ASSIGNMENT_CHECK);
    let mut published = BTreeSet::<Partition>::new();
    loop {
        let consumer = watch.kafka.clone();
        let topics = watch.topics.clone();
        let timeout = watch
            .interval
            .clamp(Duration::from_secs(1), REQUEST_TIMEOUT);
        // A measurement still waiting on the brokers at shutdown is left to finish on the
        // blocking pool, so that shutdown does not wait for its timeout.
        let measured = tokio::select! {
            measured = tokio::task::spawn_blocking(move || measure(&consumer, &topics, timeout)) => measured,
            () = shutdown.cancelled() => return,
        };
        match measured {
            Ok(Ok(measurement)) => {
                let owned: BTreeSet<Partition> =
                    measurement.owned.iter().map(|(p, _)| p.clone()).collect();
                for (topic, partition) in published.difference(&owned) {
                    let _ = watch
                        .metrics
                        .lag_records
                        .remove_label_values(&[topic, &partition.to_string()]);
                }
                for ((topic, partition), lag) in &measurement.owned {
                    watch
                        .metrics
                        .lag_records
                        .with_label_values(&[topic, &partition.to_string()])
                        .set(*lag);
                }
                for topic in &watch.topics {
                    let count = measurement
                        .assigned
                        .iter()
                        .filter(|(t, _)| t == topic)
                        .count();
                    watch
                        .metrics
                        .assigned_partitions
                        .with_label_values(&[topic])
                        .set(count as i64);
                }
                published = owned;
                let observation = match measurement.group {
                    Some(partitions) => Observation::OwnsNothing(partitions),
                    None => Observation::Owns(measurement.assigned.len()),
                };
                let verdict = watch.watchdog.observe(observation, Instant::now());
                act(&watch, verdict).await;
            }
            // The last values stay: they are the best known until the broker answers again.
            Ok(Err(error)) => tracing::warn!(%error, "cannot measure consumer lag"),
            Err(error) => tracing::warn!(%error, "consumer lag measurement panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(watch.interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Publishes a verdict of the watchdog and rejoins the group when it says so.
async fn act(watch: &LagWatch, verdict: Verdict) {
    let Some(partitions) = publish(&verdict, &watch.metrics, &watch.readiness) else {
        return;
    };
    tracing::warn!(
        partitions,
        "this replica owns no partition while partitions of the group's topics have lag and \
         no progress; leaving and rejoining the consumer group"
    );
    watch.metrics.group_rejoins_total.inc();
    let consumer = watch.kafka.clone();
    let topics = watch.topics.clone();
    match tokio::task::spawn_blocking(move || membership::rejoin(&consumer, &topics)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot rejoin the consumer group; trying again"),
        Err(error) => tracing::warn!(%error, "rejoining the consumer group panicked"),
    }
}

/// Shows a verdict in `/readyz` and the stall gauge; the number of stalled partitions when
/// the replica should rejoin now.
fn publish(verdict: &Verdict, metrics: &ConsumerMetrics, readiness: &Readiness) -> Option<usize> {
    let Verdict::Stalled { partitions, rejoin } = *verdict else {
        metrics.assignment_stalled.set(0);
        readiness.set_ready(ASSIGNMENT_CHECK);
        return None;
    };
    metrics.assignment_stalled.set(1);
    readiness.set_not_ready(
        ASSIGNMENT_CHECK,
        format!(
            "owns no partition while {partitions} partition(s) of the group's topics have had \
             lag without progress for longer than HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS; \
             rejoining the consumer group"
        ),
    );
    rejoin.then_some(partitions)
}

/// One measurement.
#[derive(Debug, Default)]
struct Measurement {
    /// The partitions the consumer owns.
    assigned: Vec<Partition>,
    /// The lag of every partition the consumer owns (those the broker reported on).
    owned: Vec<(Partition, i64)>,
    /// When it owns none: per partition of the subscribed topics, the lag and the group's
    /// next offset to read, for the [`Watchdog`].
    group: Option<Vec<(Partition, i64, i64)>>,
}

/// The lag of every partition assigned to the consumer, or of the whole subscription when
/// none is (blocking: asks the broker). Three requests whatever the number of partitions
/// (and a metadata request for the subscription): committed offsets, then the earliest and
/// the latest offsets of every partition at once (asking partition by partition took Tansu
/// half a second each).
fn measure(
    kafka: &GroupConsumer,
    topics: &[String],
    timeout: Duration,
) -> KafkaResult<Measurement> {
    let assignment = kafka.assignment()?;
    if assignment.count() > 0 {
        let assigned = crate::group::partitions(&assignment);
        let owned = lags(kafka, assignment, timeout)?
            .into_iter()
            .map(|(partition, lag, _)| (partition, lag))
            .collect();
        return Ok(Measurement {
            assigned,
            owned,
            group: None,
        });
    }
    let metadata = kafka.fetch_metadata(None, timeout)?;
    let mut subscription = TopicPartitionList::new();
    for topic in metadata.topics() {
        if topics.iter().any(|t| t == topic.name()) {
            for partition in topic.partitions() {
                subscription.add_partition(topic.name(), partition.id());
            }
        }
    }
    let group = if subscription.count() == 0 {
        Vec::new()
    } else {
        lags(kafka, subscription, timeout)?
    };
    Ok(Measurement {
        assigned: Vec::new(),
        owned: Vec::new(),
        group: Some(group),
    })
}

/// Per partition of `partitions`: its lag and the group's next offset to read.
fn lags(
    kafka: &GroupConsumer,
    partitions: TopicPartitionList,
    timeout: Duration,
) -> KafkaResult<Vec<(Partition, i64, i64)>> {
    let low = offsets_at(kafka, &partitions, Offset::Beginning, timeout)?;
    let high = offsets_at(kafka, &partitions, Offset::End, timeout)?;
    let committed = kafka.committed_offsets(partitions, timeout)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|element| {
            let partition = (element.topic().to_owned(), element.partition());
            let high = *high.get(&partition)?;
            let low = low.get(&partition).copied().unwrap_or_default();
            let lag = lag_records(element.offset(), low, high);
            Some((partition, lag, next_offset(element.offset(), low)))
        })
        .collect())
}

/// The earliest (`Offset::Beginning`) or latest (`Offset::End`) offset of every partition of
/// `partitions` that the broker reports.
fn offsets_at(
    kafka: &GroupConsumer,
    partitions: &TopicPartitionList,
    at: Offset,
    timeout: Duration,
) -> KafkaResult<BTreeMap<Partition, i64>> {
    let mut query = partitions.clone();
    query.set_all_offsets(at)?;
    let found = kafka.offsets_for_times(query, timeout)?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) => {
                Some(((element.topic().to_owned(), element.partition()), offset))
            }
            _ => None,
        })
        .collect())
}

/// The group's next offset to read: the committed offset, or without a commit the earliest
/// record still stored (`auto.offset.reset=earliest`); records below the low watermark were
/// deleted by retention and cannot be read.
fn next_offset(committed: Offset, low: i64) -> i64 {
    match committed {
        Offset::Offset(next) => next.max(low),
        _ => low,
    }
}

/// Records from the committed offset to the high watermark. Without a commit the group reads
/// from the earliest record still stored (`auto.offset.reset=earliest`), so all of them count.
pub fn lag_records(committed: Offset, low: i64, high: i64) -> i64 {
    (high - next_offset(committed, low)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_fails_readiness_until_the_replica_is_fine_again() {
        let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).expect("metrics");
        let readiness = Readiness::default();
        let stalled = |rejoin| Verdict::Stalled {
            partitions: 2,
            rejoin,
        };
        assert_eq!(publish(&stalled(true), &metrics, &readiness), Some(2));
        let status = readiness.status().expect_err("not ready while stalled");
        assert!(
            status.starts_with("assignment: owns no partition while 2 partition(s)"),
            "{status}"
        );
        assert_eq!(metrics.assignment_stalled.get(), 1);
        assert_eq!(publish(&stalled(false), &metrics, &readiness), None);
        assert!(readiness.status().is_err());
        assert_eq!(publish(&Verdict::Fine, &metrics, &readiness), None);
        assert_eq!(readiness.status(), Ok(()));
        assert_eq!(metrics.assignment_stalled.get(), 0);
    }

    #[test]
    fn lag_counts_from_the_commit_or_the_earliest_record() {
        assert_eq!(lag_records(Offset::Offset(7), 0, 10), 3);
        assert_eq!(lag_records(Offset::Offset(10), 0, 10), 0);
        assert_eq!(lag_records(Offset::Invalid, 4, 10), 6);
        // Records below the low watermark were deleted by retention: they cannot be read.
        assert_eq!(lag_records(Offset::Offset(2), 4, 10), 6);
        // A commit ahead of what the broker reports (a stale watermark) is no negative lag.
        assert_eq!(lag_records(Offset::Offset(12), 0, 10), 0);
    }
}
