//! Membership of the consumer group: which partitions this consumer may commit.
//!
//! librdkafka runs the rebalance callbacks inside the consumer's poll, that is inside
//! [`crate::consumer::Consumer`]'s `recv`, between two records. [`GroupContext`] notes every
//! partition taken away from this consumer (a revoke), and the consume loop forgets the
//! positions it holds for those partitions before it records the next one and before it
//! commits. Why that is enough, and why nothing is flushed on revoke, is in
//! [`crate::consumer`].

use std::collections::BTreeSet;
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::TopicPartitionList;

/// The Kafka consumer of the consume loop.
pub type GroupConsumer = StreamConsumer<GroupContext>;

/// A partition: topic and partition number.
pub type Partition = (String, i32);

/// The consumer's client context: remembers revoked partitions until the loop has seen them.
#[derive(Debug, Default)]
pub struct GroupContext {
    /// Partitions taken away by rebalances since the loop last looked, so that it does not
    /// commit positions it no longer owns.
    revoked: Mutex<BTreeSet<Partition>>,
}

impl GroupContext {
    /// Removes from `positions` every partition revoked since the last call.
    ///
    /// A partition revoked and then assigned again is forgotten too: the positions read
    /// before the revoke may be behind a commit made by its owner in between.
    pub fn forget_revoked<V>(&self, positions: &mut std::collections::BTreeMap<Partition, V>) {
        let revoked = std::mem::take(&mut *self.revoked());
        if revoked.is_empty() {
            return;
        }
        let held = positions.len();
        positions.retain(|partition, _| !revoked.contains(partition));
        if positions.len() < held {
            tracing::info!(
                partitions = held - positions.len(),
                "not committing the positions of revoked partitions; whoever owns them next reads those records again"
            );
        }
    }

    fn revoked(&self) -> std::sync::MutexGuard<'_, BTreeSet<Partition>> {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                let partitions = partitions(list);
                tracing::info!(
                    partitions = %describe(&partitions),
                    "partitions revoked; records of them not yet committed are left to their next owner"
                );
                self.revoked().extend(partitions);
            }
            Rebalance::Assign(list) => {
                tracing::info!(partitions = %describe(&partitions(list)), "partitions assigned");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "consumer group rebalance failed"),
        }
    }
}

/// The partitions of a list.
pub fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements()
        .iter()
        .map(|element| (element.topic().to_owned(), element.partition()))
        .collect()
}

/// `gitlab.job[0,2] gitlab.pipeline[1]`, for logs.
fn describe(partitions: &[Partition]) -> String {
    let mut by_topic = std::collections::BTreeMap::<&str, Vec<String>>::new();
    for (topic, partition) in partitions {
        by_topic
            .entry(topic)
            .or_default()
            .push(partition.to_string());
    }
    if by_topic.is_empty() {
        return "none".to_owned();
    }
    by_topic
        .iter()
        .map(|(topic, numbers)| format!("{topic}[{}]", numbers.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn partition(topic: &str, number: i32) -> Partition {
        (topic.to_owned(), number)
    }

    #[test]
    fn positions_of_revoked_partitions_are_forgotten_once() {
        let context = GroupContext::default();
        let mut positions = BTreeMap::from([
            (partition("gitlab.pipeline", 0), 10),
            (partition("gitlab.pipeline", 1), 20),
            (partition("gitlab.job", 0), 30),
        ]);
        context
            .revoked()
            .extend([partition("gitlab.pipeline", 1), partition("gitlab.job", 0)]);
        context.forget_revoked(&mut positions);
        assert_eq!(
            positions,
            BTreeMap::from([(partition("gitlab.pipeline", 0), 10)])
        );

        // Read again after the partition came back: that position stays.
        positions.insert(partition("gitlab.pipeline", 1), 15);
        context.forget_revoked(&mut positions);
        assert_eq!(positions.len(), 2);
    }

    #[test]
    fn partitions_are_described_by_topic() {
        let list = [
            partition("gitlab.pipeline", 1),
            partition("gitlab.job", 2),
            partition("gitlab.job", 0),
        ];
        assert_eq!(describe(&list), "gitlab.job[2,0] gitlab.pipeline[1]");
        assert_eq!(describe(&[]), "none");
    }
}
