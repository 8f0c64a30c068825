//! Noticing a replica that owns no partition while the group's work stands still, and putting
//! it back into the group.
//!
//! A replica killed with -9 and started again at once joins the group while its old self is
//! still a member: the group drops a member only `session.timeout.ms` after its last
//! heartbeat. Apache Kafka holds the newcomer's JoinGroup until every known member has
//! rejoined or expired, then shares the partitions among the live ones. The local broker
//! (Tansu 0.6, `coordinator/group/administrator.rs`) answers JoinGroup at once and keeps the
//! dead member as the group's leader, so the newcomer is a follower whose SyncGroup is
//! refused ("rebalance in progress") until the dead leader expires. The expiry clears the
//! leader, and the newcomer's next SyncGroup, a follower's without assignments, is then taken
//! as the leader's: the group is formed with an empty assignment. The newcomer is told
//! `partitions=none`, its heartbeats succeed, and with every member alive no new generation
//! ever starts, so it owns nothing for good while the topics fill up. Nothing in the client
//! sees an error; librdkafka did what the protocol asks. It is a race: when the expiry is seen
//! in the newcomer's JoinGroup instead, the newcomer leads and gets every partition.
//!
//! So the replica watches for the symptom instead of trusting the broker: it owns no partition
//! (librdkafka's assignment is empty) while some partition of the subscribed topics has lag
//! (records after the group's committed offset) and that partition's committed offset has not
//! moved for longer than the grace period (`HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS`). The grace
//! must exceed the session timeout, since that long a restarted replica legitimately waits for
//! its old self to expire. Replicas beyond the partition count own nothing legitimately; they
//! are not affected while the partitions' owners commit, because a committed offset that moves
//! is progress. A stalled replica is not ready (`/readyz`: `assignment`), reports
//! `hookline_consumers_assignment_stalled 1`, and leaves and rejoins the group (unsubscribe,
//! subscribe: a new member, hence a new generation whose leader sees only live members), once
//! per grace period until it owns partitions or the lag is gone.
//!
//! Limits: a replica that owns some partitions does not look after the others (each replica's
//! own watchdog does, when it owns nothing); and when every owner is stuck for a reason of its
//! own (ClickHouse down), an idle replica also counts as stalled and rejoins once per grace
//! period, which costs the group a rebalance and nothing else.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaResult;

use crate::config::RunConfig;
use crate::group::{GroupConsumer, Partition};

/// The grace period is not longer than the session timeout.
#[derive(Debug, thiserror::Error)]
#[error(
    "HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS ({grace_ms}) must exceed HOOKLINE_KAFKA_SESSION_TIMEOUT_MS \
     ({session_ms}): a restarted consumer owns nothing until its old self's session expires; \
     raise the grace or lower the session timeout"
)]
pub struct GraceTooShort {
    /// The configured grace, in milliseconds.
    pub grace_ms: u64,
    /// The configured session timeout, in milliseconds.
    pub session_ms: u64,
}

/// The [`Watchdog`]'s grace period from the configuration, which must exceed the session
/// timeout: for that long a restarted replica legitimately owns nothing.
pub fn unassigned_grace(config: &RunConfig) -> Result<Duration, GraceTooShort> {
    let (grace_ms, session_ms) = (
        config.kafka_unassigned_grace_ms,
        config.kafka_session_timeout_ms,
    );
    if grace_ms <= session_ms {
        return Err(GraceTooShort {
            grace_ms,
            session_ms,
        });
    }
    Ok(Duration::from_millis(grace_ms))
}

/// What one lag measurement saw of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// This replica owns partitions: it takes part in the group's work.
    Owns(usize),
    /// This replica owns nothing; per partition of the subscribed topics, its lag and the
    /// group's next offset to read (the committed offset, or the earliest stored record).
    OwnsNothing(Vec<(Partition, i64, i64)>),
}

/// What the replica should do about its membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It owns partitions, or owning nothing leaves no work undone (yet).
    Fine,
    /// It owns nothing while `partitions` partitions have had lag without progress for at
    /// least the grace period; `rejoin` says whether to leave and rejoin the group now.
    Stalled { partitions: usize, rejoin: bool },
}

/// Follows successive observations (see the module documentation).
#[derive(Debug)]
pub struct Watchdog {
    /// How long partitions may stand still while this replica owns nothing.
    grace: Duration,
    /// Per partition with lag: the next offset last seen and since when it has not moved.
    unmoved: BTreeMap<Partition, (i64, Instant)>,
    /// When this replica last left and rejoined the group, so it does so once per grace.
    last_rejoin: Option<Instant>,
}

impl Watchdog {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            unmoved: BTreeMap::new(),
            last_rejoin: None,
        }
    }

    /// Takes one observation made at `now` and says what to do.
    pub fn observe(&mut self, observation: Observation, now: Instant) -> Verdict {
        let partitions = match observation {
            Observation::Owns(n) if n > 0 => {
                self.unmoved.clear();
                self.last_rejoin = None;
                return Verdict::Fine;
            }
            Observation::Owns(_) => Vec::new(),
            Observation::OwnsNothing(partitions) => partitions,
        };
        let previous = std::mem::take(&mut self.unmoved);
        for (partition, lag, next) in partitions {
            if lag <= 0 {
                continue;
            }
            let since = match previous.get(&partition) {
                Some((seen, since)) if *seen == next => *since,
                _ => now,
            };
            self.unmoved.insert(partition, (next, since));
        }
        let stalled = self
            .unmoved
            .values()
            .filter(|(_, since)| now.saturating_duration_since(*since) >= self.grace)
            .count();
        if stalled == 0 {
            return Verdict::Fine;
        }
        let rejoin = self
            .last_rejoin
            .is_none_or(|last| now.saturating_duration_since(last) >= self.grace);
        if rejoin {
            self.last_rejoin = Some(now);
        }
        Verdict::Stalled {
            partitions: stalled,
            rejoin,
        }
    }
}

/// Leaves the consumer group and joins it again as a new member (blocking). librdkafka sends
/// LeaveGroup on unsubscribe and a JoinGroup without a member id on subscribe; the rebalance
/// callbacks run in the consume loop's next poll, as for any rebalance.
pub fn rejoin(kafka: &GroupConsumer, topics: &[String]) -> KafkaResult<()> {
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    kafka.unsubscribe();
    kafka.subscribe(&topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    fn partition(number: i32) -> Partition {
        ("gitlab.pipeline".to_owned(), number)
    }

    fn idle(partitions: &[(i32, i64, i64)]) -> Observation {
        Observation::OwnsNothing(
            partitions
                .iter()
                .map(|(p, lag, next)| (partition(*p), *lag, *next))
                .collect(),
        )
    }

    #[test]
    fn owning_nothing_while_a_partition_stands_still_is_stalled_after_the_grace() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(GRACE);
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(watchdog.observe(idle(&[(0, 5, 10)]), at(0)), Verdict::Fine);
        assert_eq!(watchdog.observe(idle(&[(0, 9, 10)]), at(59)), Verdict::Fine);
        assert_eq!(
            watchdog.observe(idle(&[(0, 9, 10)]), at(60)),
            Verdict::Stalled {
                partitions: 1,
                rejoin: true
            }
        );
        // Still stalled, but it rejoins only once per grace period.
        assert_eq!(
            watchdog.observe(idle(&[(0, 9, 10)]), at(90)),
            Verdict::Stalled {
                partitions: 1,
                rejoin: false
            }
        );
        assert_eq!(
            watchdog.observe(idle(&[(0, 9, 10)]), at(120)),
            Verdict::Stalled {
                partitions: 1,
                rejoin: true
            }
        );
        // Owning partitions again ends it.
        assert_eq!(
            watchdog.observe(Observation::Owns(3), at(121)),
            Verdict::Fine
        );
        assert_eq!(
            watchdog.observe(idle(&[(0, 9, 10)]), at(122)),
            Verdict::Fine
        );
    }

    #[test]
    fn partitions_that_other_replicas_move_forward_are_no_stall() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(GRACE);
        let at = |secs| start + Duration::from_secs(secs);
        // A replica beyond the partition count: the owners commit, lag comes and goes.
        for (second, next) in [(0, 10), (30, 20), (61, 30), (90, 40), (200, 50)] {
            assert_eq!(
                watchdog.observe(idle(&[(0, 3, next), (1, 0, 7)]), at(second)),
                Verdict::Fine
            );
        }
        // A partition without lag never counts, however long its offset stays.
        assert_eq!(watchdog.observe(idle(&[(1, 0, 7)]), at(400)), Verdict::Fine);
    }

    #[test]
    fn only_the_partitions_that_stand_still_count() {
        let start = Instant::now();
        let mut watchdog = Watchdog::new(GRACE);
        let at = |secs| start + Duration::from_secs(secs);
        watchdog.observe(idle(&[(0, 3, 10), (1, 3, 10), (2, 3, 10)]), at(0));
        assert_eq!(
            watchdog.observe(idle(&[(0, 3, 10), (1, 3, 11), (2, 0, 13)]), at(70)),
            Verdict::Stalled {
                partitions: 1,
                rejoin: true
            }
        );
    }

    #[test]
    fn the_grace_must_exceed_the_session_timeout() {
        use crate::config::tests::run_config as config;

        assert_eq!(
            unassigned_grace(&config(&[])).expect("the defaults fit"),
            Duration::from_secs(60)
        );
        let error = unassigned_grace(&config(&[
            "--kafka-session-timeout-ms",
            "60000",
            "--kafka-unassigned-grace-ms",
            "60000",
        ]))
        .expect_err("a grace equal to the session timeout");
        assert!(
            error
                .to_string()
                .contains("HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS (60000) must exceed"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_subscription_is_fine() {
        let mut watchdog = Watchdog::new(GRACE);
        let now = Instant::now();
        assert_eq!(watchdog.observe(Observation::Owns(0), now), Verdict::Fine);
        assert_eq!(
            watchdog.observe(Observation::OwnsNothing(Vec::new()), now + GRACE * 2),
            Verdict::Fine
        );
    }
}
