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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hookline_runtime::shutdown::CancellationToken;
use prometheus::IntGaugeVec;
use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use crate::group::{GroupConsumer, Partition};

/// The longest a broker request of one measurement may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Measures the lag every `interval` and publishes it on `gauge`, until `shutdown`.
pub async fn watch(
    kafka: Arc<GroupConsumer>,
    gauge: IntGaugeVec,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut published = BTreeSet::<Partition>::new();
    loop {
        let consumer = kafka.clone();
        let timeout = interval.clamp(Duration::from_secs(1), REQUEST_TIMEOUT);
        match tokio::task::spawn_blocking(move || measure(&consumer, timeout)).await {
            Ok(Ok(lags)) => {
                let owned: BTreeSet<Partition> = lags.iter().map(|(p, _)| p.clone()).collect();
                for (topic, partition) in published.difference(&owned) {
                    let _ = gauge.remove_label_values(&[topic, &partition.to_string()]);
                }
                for ((topic, partition), lag) in &lags {
                    gauge
                        .with_label_values(&[topic, &partition.to_string()])
                        .set(*lag);
                }
                published = owned;
            }
            // The last values stay: they are the best known until the broker answers again.
            Ok(Err(error)) => tracing::warn!(%error, "cannot measure consumer lag"),
            Err(error) => tracing::warn!(%error, "consumer lag measurement panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The lag of every partition assigned to the consumer (blocking: asks the broker). Three
/// requests whatever the number of partitions: committed offsets, then the earliest and the
/// latest offsets of every partition at once (asking partition by partition took Tansu half a
/// second each).
fn measure(kafka: &GroupConsumer, timeout: Duration) -> KafkaResult<Vec<(Partition, i64)>> {
    let assignment = kafka.assignment()?;
    if assignment.count() == 0 {
        return Ok(Vec::new());
    }
    let low = offsets_at(kafka, &assignment, Offset::Beginning, timeout)?;
    let high = offsets_at(kafka, &assignment, Offset::End, timeout)?;
    let committed = kafka.committed_offsets(assignment, timeout)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|element| {
            let partition = (element.topic().to_owned(), element.partition());
            let high = *high.get(&partition)?;
            let low = low.get(&partition).copied().unwrap_or_default();
            let lag = lag_records(element.offset(), low, high);
            Some((partition, lag))
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

/// Records from the committed offset to the high watermark. Without a commit the group reads
/// from the earliest record still stored (`auto.offset.reset=earliest`), so all of them count.
pub fn lag_records(committed: Offset, low: i64, high: i64) -> i64 {
    let next = match committed {
        Offset::Offset(next) => next.max(low),
        _ => low,
    };
    (high - next).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
