//! The durable sink: a hook is answered 2xx once Kafka has acknowledged it *or* it is
//! fsynced in the local [`Spool`], and a background [`Drainer`] forwards spooled hooks to
//! Kafka. No hook answered 2xx is ever discarded: a record that cannot be forwarded stays on
//! disk (parked), is counted and is alerted on.
//!
//! **Writing.** While the spool is empty, a hook goes to Kafka (idempotent producer,
//! `acks=all`) and is answered when acknowledged. If Kafka does not acknowledge within
//! `HOOKLINE_KAFKA_ACK_DEADLINE_MS` (default 1 s), or fails, the hook is written to the spool
//! and answered once the commit is fsynced. The record may still reach Kafka from librdkafka's
//! queue (within `HOOKLINE_KAFKA_ACK_TIMEOUT_MS`) and then again from the spool: a duplicate
//! with the same `event_id`, which the tables collapse. A record Kafka refuses outright (too
//! large, invalid) is not spooled, since retrying cannot help: it is answered 503 as before.
//!
//! **Order.** While the spool holds anything (or a hook is being spooled), new hooks go to
//! the spool too, without trying Kafka first. So a hook that arrives after another was
//! answered is never in Kafka before it, whichever path the earlier one took; hooks that
//! overlap in time have no order to keep. The drainer forwards strictly in arrival
//! (sequence) order, a window of records at a time (at most [`DRAIN_WINDOW`] records and
//! [`DRAIN_WINDOW_BYTES`] bytes, always at least one) whose sends are queued in order on the
//! one idempotent producer (which keeps a partition's, hence a key's, records in order), and
//! removes every acknowledged record of the window. After a failure it retries from the
//! first unacknowledged record, so records of that window that reached Kafka before it are
//! ahead of it there.
//!
//! **Full disk.** When a removal cannot commit (on a full file system redb cannot write even
//! a deletion), the drainer keeps the acknowledged records' sequence numbers in memory, reads
//! past them and stops trying removals until it has forwarded everything: spooled hooks reach
//! Kafka whether or not the disk has room. Then, holding nothing but forwarded records, it
//! has the spool recreate its file empty ([`Spool::recreate_if_all_forwarded`]), which frees
//! the disk; failing that (parked records must stay), it retries the removal with backoff.
//! A restart meanwhile sends those records again: duplicates, which the tables collapse.
//!
//! **When the spool cannot take hooks** (its storage failed and is being reopened, or it is
//! full), new hooks go to Kafka first even though the spool holds older ones
//! (`hookline_ingest_spool_bypassed_total`), and to the spool only if Kafka fails them too;
//! a hook the spool fails as it arrives is offered to Kafka the same way.
//! That gives up the order above for those hooks, rather than answering 503 to hooks Kafka
//! would take; once the spool is healthy again the order rule applies again.
//!
//! **Failure modes.** Spool full (`HOOKLINE_SPOOL_MAX_BYTES`) or a storage error while Kafka
//! fails too → the hook is answered 503 and counted in
//! `hookline_ingest_spool_rejections_total`. Kafka down → hooks are spooled (after the
//! deadline for the first one, at once for the rest) and the drainer backs off (100 ms
//! doubling to 5 s), retrying once the brokers answer a metadata request, with a few records
//! ([`RECOVERY_WINDOW`]) until Kafka acknowledges again. A spooled record Kafka refuses
//! outright, one that cannot be decoded, or one that failed [`MAX_ATTEMPTS`] times while
//! Kafka acknowledged others in the same window is parked ([`Spool::park`]): kept on disk,
//! logged at error level, counted (`hookline_ingest_spool_parked_records`,
//! `hookline_ingest_spool_parked_total`), and queued again when ingest next starts. So one
//! bad record cannot block the spool, and none is lost.
//!
//! **Readiness.** Ingest is ready while the spool can take hooks, Kafka or not
//! ([`DurableSink::check_ready`]); Kafka's reachability is the `hookline_ingest_kafka_reachable`
//! gauge and a log line when it changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookline_runtime::shutdown::CancellationToken;
use rdkafka::error::KafkaError;
use tokio::task::JoinHandle;

use super::kafka::KafkaSink;
use super::metrics::{ParkReason, Rejection, SpoolMetrics, SpoolReason};
use super::spool::{codec, Spool, SpoolError, Spooled};
use super::{HookRecord, HookSink, SinkError};

/// Most records the drainer sends at once while Kafka acknowledges.
pub const DRAIN_WINDOW: usize = 256;

/// Most bytes of spooled records the drainer holds at once (one record at least, whatever
/// its size): with 25 MB bodies, 256 records would be several gigabytes.
pub const DRAIN_WINDOW_BYTES: u64 = 32 * 1024 * 1024;

/// Records sent at once after a failure, once the brokers answer again: few, so that records
/// are not piled into the producer while Kafka is unwell, but more than one, so that a
/// record that fails alone is told apart from Kafka failing everything.
pub const RECOVERY_WINDOW: usize = 8;

/// Attempts a record gets while Kafka acknowledges other records of its window; then it is
/// parked.
pub const MAX_ATTEMPTS: u32 = 5;

/// First and longest pause between drain attempts while Kafka does not acknowledge.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long the drainer waits for a metadata answer before retrying after a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the oldest-age gauge is refreshed.
const AGE_INTERVAL: Duration = Duration::from_secs(1);

/// What the durable sink needs of Kafka: writing records, and whether the brokers answer.
/// [`KafkaSink`] in production; unit tests use fakes.
pub trait Forward: HookSink {
    /// Whether the brokers answer a metadata request within `timeout`. Blocking.
    fn check_reachable(&self, timeout: Duration) -> Result<(), String>;
}

impl Forward for KafkaSink {
    fn check_reachable(&self, timeout: Duration) -> Result<(), String> {
        KafkaSink::check_reachable(self, timeout).map_err(|error| error.to_string())
    }
}

/// Kafka first, the spool when Kafka does not acknowledge within `deadline`.
pub struct DurableSink<K = KafkaSink> {
    /// Where hooks go first; shared with the drainer.
    kafka: Arc<K>,
    /// Where hooks go when Kafka does not acknowledge in time.
    spool: Arc<Spool>,
    /// How long Kafka has to acknowledge (HOOKLINE_KAFKA_ACK_DEADLINE_MS).
    deadline: Duration,
    /// Hooks spooled, rejected, drained and parked.
    metrics: SpoolMetrics,
    /// Hooks being written to the spool now; while any is, new hooks follow them there.
    spooling: AtomicUsize,
    /// Kafka reachability last seen by [`DurableSink::check_ready`], to log changes once.
    kafka_reachable: AtomicBool,
}

impl<K: Forward> DurableSink<K> {
    pub fn new(
        kafka: Arc<K>,
        spool: Arc<Spool>,
        deadline: Duration,
        metrics: SpoolMetrics,
    ) -> Self {
        Self {
            kafka,
            spool,
            deadline,
            metrics,
            spooling: AtomicUsize::new(0),
            kafka_reachable: AtomicBool::new(true),
        }
    }

    /// For `/readyz`: ready while hooks can be made durable, i.e. while the spool can take
    /// them, whether or not Kafka answers. Kafka's reachability (a metadata request within
    /// `timeout`) goes to `hookline_ingest_kafka_reachable` and to the log when it changes.
    pub fn check_ready(&self, timeout: Duration) -> Result<(), String> {
        let reachable = self.kafka.check_reachable(timeout);
        self.metrics
            .kafka_reachable
            .set(i64::from(reachable.is_ok()));
        let was = self
            .kafka_reachable
            .swap(reachable.is_ok(), Ordering::SeqCst);
        match &reachable {
            Err(error) if was => {
                tracing::warn!(%error, "Kafka brokers unreachable: hooks go to the spool")
            }
            Ok(()) if !was => tracing::info!("Kafka brokers reachable again"),
            _ => {}
        }
        self.spool.health()
    }

    /// Writes `record` to the spool, counting it under `reason` once stored.
    async fn spool_write(
        &self,
        record: &HookRecord,
        reason: SpoolReason,
    ) -> Result<(), SpoolError> {
        let result = {
            // A guard, not a decrement after the await: the request may be dropped meanwhile
            // (client gone), and a count left behind would divert every later hook.
            let _spooling = Spooling::enter(&self.spooling);
            self.spool.append(record).await
        };
        if result.is_ok() {
            self.metrics
                .spooled_total
                .with_label_values(&[reason.as_str()])
                .inc();
        }
        result.map(|_| ())
    }

    /// Counts a hook neither Kafka nor the spool took (a 503) and says why.
    fn rejected(&self, error: SpoolError) -> SinkError {
        let rejection = match error {
            SpoolError::Full { .. } => Rejection::Full,
            SpoolError::Storage(_) | SpoolError::Closed => Rejection::Disk,
        };
        self.metrics
            .rejections_total
            .with_label_values(&[rejection.as_str()])
            .inc();
        error.into()
    }

    /// Kafka within the deadline: `None` when it acknowledged, else why not.
    async fn kafka_write(&self, record: &HookRecord) -> Option<KafkaOutcome> {
        match tokio::time::timeout(self.deadline, self.kafka.write(record.clone())).await {
            Ok(Ok(())) => None,
            Ok(Err(SinkError::Refused(reason))) => Some(KafkaOutcome::Refused(reason)),
            Ok(Err(error)) => Some(KafkaOutcome::Failed(error)),
            Err(_) => Some(KafkaOutcome::Deadline),
        }
    }
}

/// Why Kafka did not take a hook.
enum KafkaOutcome {
    /// Refused outright: retrying cannot help.
    Refused(KafkaError),
    /// Failed otherwise; the spool may get it there later.
    Failed(SinkError),
    Deadline,
}

/// Counts a hook in [`DurableSink::spooling`] for as long as it lives.
struct Spooling<'a>(&'a AtomicUsize);

impl<'a> Spooling<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Spooling<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<K: Forward> HookSink for DurableSink<K> {
    async fn write(&self, record: HookRecord) -> Result<(), SinkError> {
        let held = !self.spool.is_empty() || self.spooling.load(Ordering::SeqCst) > 0;
        // A spool that cannot take hooks (storage failed, or full) must not attract them:
        // Kafka gets them first, out of order with what the spool holds.
        let backlog = held && self.spool.health().is_ok();
        if held && !backlog {
            self.metrics.bypassed_total.inc();
        }
        if backlog {
            let Err(error) = self.spool_write(&record, SpoolReason::Backlog).await else {
                return Ok(());
            };
            // The spool failed just now (a storage error, or full): Kafka may still take it.
            tracing::warn!(event_id = %record.headers.event_id, %error, "the spool failed a hook; sending it straight to Kafka");
            self.metrics.bypassed_total.inc();
            return match self.kafka_write(&record).await {
                None => Ok(()),
                Some(KafkaOutcome::Refused(reason)) => Err(SinkError::Refused(reason)),
                Some(_) => Err(self.rejected(error)),
            };
        }
        let reason = match self.kafka_write(&record).await {
            None => return Ok(()),
            Some(KafkaOutcome::Refused(reason)) => return Err(SinkError::Refused(reason)),
            Some(KafkaOutcome::Failed(error)) => {
                tracing::warn!(event_id = %record.headers.event_id, %error, "Kafka failed the hook; spooling it");
                SpoolReason::KafkaError
            }
            Some(KafkaOutcome::Deadline) => SpoolReason::Deadline,
        };
        self.spool_write(&record, reason)
            .await
            .map_err(|error| self.rejected(error))
    }
}

/// Forwards spooled hooks to Kafka in arrival order and removes them once acknowledged.
pub struct Drainer<K = KafkaSink> {
    /// Where hooks go first; shared with the drainer.
    kafka: Arc<K>,
    /// Where hooks go when Kafka does not acknowledge in time.
    spool: Arc<Spool>,
    /// Hooks spooled, rejected, drained and parked.
    metrics: SpoolMetrics,
    /// Most bytes of records read at once ([`DRAIN_WINDOW_BYTES`] unless changed).
    window_bytes: u64,
    /// Failed attempts of records of the current window, counted while Kafka acknowledged
    /// other records of the same window.
    failures: HashMap<u64, u32>,
    /// Records Kafka acknowledged whose removal has not committed yet: reads skip them.
    forwarded: BTreeSet<u64>,
    /// Whether the last removal failed (a full disk, say): then no removal is tried until
    /// everything spooled has been forwarded, as each failure costs the spool a reopen.
    removals_failing: bool,
}

impl<K: Forward> Drainer<K> {
    pub fn new(kafka: Arc<K>, spool: Arc<Spool>, metrics: SpoolMetrics) -> Self {
        Self {
            kafka,
            spool,
            metrics,
            window_bytes: DRAIN_WINDOW_BYTES,
            failures: HashMap::new(),
            forwarded: BTreeSet::new(),
            removals_failing: false,
        }
    }

    /// Bounds the bytes of records read at once (at least one record is always read).
    pub fn with_window_bytes(mut self, window_bytes: u64) -> Self {
        self.window_bytes = window_bytes;
        self
    }

    /// Runs the drainer, and the oldest-age gauge refresh, until `shutdown` is cancelled; the
    /// handle resolves once both have stopped.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        let spool = self.spool.clone();
        let ages = shutdown.clone();
        let refresh_ages = async move {
            loop {
                if let Err(error) = spool.refresh_oldest_age().await {
                    tracing::warn!(%error, "cannot read the spool's oldest hook");
                }
                tokio::select! {
                    () = tokio::time::sleep(AGE_INTERVAL) => {}
                    () = ages.cancelled() => break,
                }
            }
        };
        tokio::spawn(async move {
            tokio::join!(refresh_ages, self.run(shutdown));
        })
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        let mut healthy = true;
        while !shutdown.is_cancelled() {
            let attempt = tokio::select! {
                attempt = self.attempt(healthy) => attempt,
                // Unacknowledged records stay spooled; librdkafka may still deliver some
                // while the producer is flushed, which only duplicates them.
                () = shutdown.cancelled() => break,
            };
            match attempt {
                Ok(Drained::Nothing) => {
                    tokio::select! {
                        () = self.spool.appended() => {}
                        () = shutdown.cancelled() => break,
                    }
                }
                Ok(Drained::Unremoved) => {
                    // Everything was forwarded; only the disk has to make room.
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.spool.appended() => {}
                        () = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Ok(Drained::All) | Ok(Drained::Some) => {
                    if !healthy {
                        tracing::info!(
                            spooled = self.spool.len(),
                            "Kafka acknowledges again: draining the spool"
                        );
                    }
                    healthy = true;
                    backoff = BACKOFF_MIN;
                }
                Err(error) => {
                    if healthy {
                        tracing::warn!(%error, spooled = self.spool.len(), "cannot drain the spool; retrying with backoff");
                    }
                    healthy = false;
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        tracing::info!(spooled = self.spool.len(), "spool drainer stopped");
    }

    /// One drain attempt. After a failure, Kafka must first answer a metadata request, and
    /// then gets a few records rather than a window: records are not piled into the producer
    /// (to time out there) while the brokers are away.
    async fn attempt(&mut self, healthy: bool) -> Result<Drained, String> {
        if !healthy {
            let kafka = self.kafka.clone();
            tokio::task::spawn_blocking(move || kafka.check_reachable(PROBE_TIMEOUT))
                .await
                .map_err(|error| error.to_string())?
                .map_err(|error| format!("brokers unreachable: {error}"))?;
        }
        self.drain_once(if healthy {
            DRAIN_WINDOW
        } else {
            RECOVERY_WINDOW
        })
        .await
    }

    /// Sends up to `window` of the oldest records not forwarded yet (within the byte budget),
    /// removes the acknowledged ones and parks those that can never be sent. Fails when Kafka
    /// acknowledged none of them (they stay spooled).
    async fn drain_once(&mut self, window: usize) -> Result<Drained, String> {
        let batch = self
            .spool
            .oldest_within(window, self.window_bytes, &self.forwarded)
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(self.settle_forwarded().await);
        }
        // join_all polls the sends in order, so they are queued on the producer in order.
        let sends = batch.iter().map(|spooled| self.send(spooled));
        let outcomes = futures::future::join_all(sends).await;
        let mut done = Vec::new();
        let mut park = Vec::new();
        let mut failed = Vec::new();
        for (spooled, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Sent::Acknowledged => done.push(spooled.seq),
                Sent::Unsendable {
                    event_id,
                    reason,
                    error,
                } => park.push((spooled.seq, event_id, reason, error)),
                Sent::Failed { event_id, error } => failed.push((spooled.seq, event_id, error)),
            }
        }
        // Only the records of this window have counts worth keeping.
        self.failures
            .retain(|seq, _| failed.iter().any(|(failed, _, _)| failed == seq));
        let others_acknowledged = !done.is_empty();
        let first_error = failed.first().map(|(_, _, error)| error.clone());
        if others_acknowledged {
            // Kafka takes records, just not these: after MAX_ATTEMPTS they are parked rather
            // than block the spool.
            for (seq, event_id, error) in failed {
                let count = self.failures.entry(seq).or_insert(0);
                *count += 1;
                if *count >= MAX_ATTEMPTS {
                    self.failures.remove(&seq);
                    park.push((seq, event_id, ParkReason::RetriesExhausted, error));
                }
            }
        }
        if !done.is_empty() {
            self.metrics.drained_total.inc_by(done.len() as u64);
            self.forwarded.extend(done);
            if !self.removals_failing {
                self.remove_forwarded().await;
            }
        }
        for (seq, event_id, reason, error) in park {
            self.spool.park(seq).await.map_err(|e| e.to_string())?;
            self.metrics
                .parked_total
                .with_label_values(&[reason.as_str()])
                .inc();
            tracing::error!(
                seq,
                event_id = event_id.as_deref().unwrap_or("(unreadable)"),
                reason = reason.as_str(),
                %error,
                parked = self.spool.parked(),
                "parked a spooled hook that cannot be forwarded to Kafka; it stays on disk and is queued again when ingest restarts"
            );
        }
        match first_error {
            None => Ok(Drained::All),
            Some(_) if others_acknowledged => Ok(Drained::Some),
            Some(error) => Err(error),
        }
    }

    /// Removes the forwarded records from the spool; on failure keeps them to skip and says
    /// so once.
    async fn remove_forwarded(&mut self) {
        let seqs: Vec<u64> = self.forwarded.iter().copied().collect();
        match self.spool.remove(seqs).await {
            Ok(()) => {
                if self.removals_failing {
                    tracing::info!("forwarded hooks are removed from the spool again");
                }
                self.forwarded.clear();
                self.removals_failing = false;
            }
            Err(error) => {
                if !self.removals_failing {
                    tracing::warn!(%error, forwarded = self.forwarded.len(), "cannot remove forwarded hooks from the spool (is its disk full?); forwarding the rest first");
                }
                self.removals_failing = true;
            }
        }
    }

    /// With nothing left to forward, clears the records forwarded but not removed (only a
    /// failed removal leaves any): by recreating the spool's file, which frees a full disk
    /// without writing, when they are all it holds, else by removing them.
    async fn settle_forwarded(&mut self) -> Drained {
        if self.forwarded.is_empty() {
            return Drained::Nothing;
        }
        match self
            .spool
            .recreate_if_all_forwarded(self.forwarded.clone())
            .await
        {
            Ok(true) => {
                tracing::warn!(
                    forwarded = self.forwarded.len(),
                    "every spooled hook had reached Kafka but could not be removed: recreated the spool's file empty"
                );
                self.forwarded.clear();
                self.removals_failing = false;
                return Drained::All;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot recreate the spool's file");
                return Drained::Unremoved;
            }
        }
        self.remove_forwarded().await;
        if self.forwarded.is_empty() {
            Drained::All
        } else {
            Drained::Unremoved
        }
    }

    /// Sends one spooled record.
    async fn send(&self, spooled: &Spooled) -> Sent {
        let record = match codec::decode(&spooled.value) {
            Ok((record, _)) => record,
            Err(error) => {
                return Sent::Unsendable {
                    event_id: None,
                    reason: ParkReason::Corrupt,
                    error: error.to_string(),
                }
            }
        };
        let event_id = Some(record.headers.event_id.clone());
        match self.kafka.write(record).await {
            Ok(()) => Sent::Acknowledged,
            Err(SinkError::Refused(error)) => Sent::Unsendable {
                event_id,
                reason: ParkReason::RefusedByKafka,
                error: error.to_string(),
            },
            Err(error) => Sent::Failed {
                event_id,
                error: error.to_string(),
            },
        }
    }
}

/// What became of one spooled record sent to Kafka.
enum Sent {
    Acknowledged,
    /// Retrying cannot help: to be parked.
    Unsendable {
        event_id: Option<String>,
        reason: ParkReason,
        error: String,
    },
    /// Kafka did not acknowledge it; it stays spooled.
    Failed {
        event_id: Option<String>,
        error: String,
    },
}

/// What one drain attempt did.
enum Drained {
    /// The spool was empty.
    Nothing,
    /// Every record read was forwarded (or parked) and removed.
    All,
    /// Kafka acknowledged some records of the window but failed others, which stay spooled.
    Some,
    /// Every record was forwarded, but some could not be removed from the spool yet.
    Unremoved,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::IngestMetrics;
    use crate::sinks::kafka::KafkaSettings;
    use crate::sinks::spool::codec::tests::record;
    use crate::sinks::spool::tests::{bodies, faulty_spool, wait_healthy, Failing};
    use crate::sinks::spool::SpoolSettings;
    use hookline_runtime::kafka::KafkaConnection;
    use rdkafka::types::RDKafkaErrorCode;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// A Kafka that acknowledges every record but those whose body it was told to refuse
    /// (permanently) or to fail (retriably), and remembers the bodies it took.
    #[derive(Default)]
    struct FakeKafka {
        refuse: Mutex<HashSet<Vec<u8>>>,
        fail: Mutex<HashSet<Vec<u8>>>,
        written: Mutex<Vec<Vec<u8>>>,
    }

    impl FakeKafka {
        fn written(&self) -> Vec<Vec<u8>> {
            self.written.lock().unwrap().clone()
        }
    }

    impl HookSink for FakeKafka {
        async fn write(&self, record: HookRecord) -> Result<(), SinkError> {
            let body = record.body.to_vec();
            if self.refuse.lock().unwrap().contains(&body) {
                return Err(SinkError::Refused(KafkaError::MessageProduction(
                    RDKafkaErrorCode::MessageSizeTooLarge,
                )));
            }
            if self.fail.lock().unwrap().contains(&body) {
                return Err(SinkError::NotAcknowledged(KafkaError::MessageProduction(
                    RDKafkaErrorCode::MessageTimedOut,
                )));
            }
            self.written.lock().unwrap().push(body);
            Ok(())
        }
    }

    impl Forward for FakeKafka {
        fn check_reachable(&self, _timeout: Duration) -> Result<(), String> {
            Ok(())
        }
    }

    /// A spool in `dir` whose storage fails as `failing` says while the returned flag is set.
    fn failing_spool(
        dir: &std::path::Path,
        failing: Failing,
    ) -> (Arc<Spool>, Arc<AtomicBool>, SpoolMetrics) {
        let fail = Arc::new(AtomicBool::new(false));
        let metrics = SpoolMetrics::for_test();
        let spool = faulty_spool(dir, 1 << 20, metrics.clone(), fail.clone(), failing);
        (Arc::new(spool), fail, metrics)
    }

    #[tokio::test]
    async fn hooks_go_to_kafka_while_the_spool_cannot_take_them() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, fail, metrics) = failing_spool(dir.path(), Failing::Everything);
        let kafka = Arc::new(FakeKafka::default());
        let sink = DurableSink::new(
            kafka.clone(),
            spool.clone(),
            Duration::from_secs(1),
            metrics.clone(),
        );
        // The spool holds a hook, so new hooks would follow it there.
        spool.append(&record("1", b"held", true)).await.unwrap();
        sink.write(record("1", b"follows", true)).await.unwrap();
        assert_eq!(
            metrics.spooled_total.with_label_values(&["backlog"]).get(),
            1
        );
        assert!(kafka.written().is_empty());

        // The disk fails under a hook that follows the backlog: Kafka takes it instead.
        fail.store(true, Ordering::SeqCst);
        sink.write(record("1", b"to kafka", true)).await.unwrap();
        assert_eq!(kafka.written(), vec![b"to kafka".to_vec()]);
        // Now known unhealthy, the spool is not even tried.
        assert!(spool.health().is_err());
        sink.write(record("1", b"straight", true)).await.unwrap();
        assert_eq!(
            kafka.written(),
            vec![b"to kafka".to_vec(), b"straight".to_vec()]
        );
        assert_eq!(metrics.bypassed_total.get(), 2);
        assert_eq!(
            metrics.rejections_total.with_label_values(&["disk"]).get(),
            0
        );
        // Only when Kafka fails it too is a hook refused (503).
        kafka.fail.lock().unwrap().insert(b"nowhere".to_vec());
        let refused = sink.write(record("1", b"nowhere", true)).await;
        assert!(matches!(refused, Err(SinkError::Spool(_))), "{refused:?}");
        assert_eq!(
            metrics.rejections_total.with_label_values(&["disk"]).get(),
            1
        );

        // Healed: the order rule applies again, behind what the spool still holds.
        fail.store(false, Ordering::SeqCst);
        wait_healthy(&spool).await;
        sink.write(record("1", b"behind", true)).await.unwrap();
        assert_eq!(
            metrics.spooled_total.with_label_values(&["backlog"]).get(),
            2
        );
        assert_eq!(
            bodies(&spool.oldest(10).await.unwrap()),
            vec![b"held".to_vec(), b"follows".to_vec(), b"behind".to_vec()]
        );
    }

    #[tokio::test]
    async fn the_drainer_parks_what_kafka_refuses_and_what_keeps_failing() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = SpoolMetrics::for_test();
        let settings = SpoolSettings {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 20,
        };
        let spool = Arc::new(Spool::open(&settings, metrics.clone()).unwrap());
        let kafka = Arc::new(FakeKafka::default());
        kafka.refuse.lock().unwrap().insert(b"too large".to_vec());
        kafka.fail.lock().unwrap().insert(b"stuck".to_vec());
        for body in [&b"too large"[..], b"first", b"stuck", b"second"] {
            spool.append(&record("1", body, true)).await.unwrap();
        }
        let mut drainer = Drainer::new(kafka.clone(), spool.clone(), metrics.clone());

        // The refused record is parked at once; the others are forwarded past the stuck one.
        assert!(matches!(
            drainer.drain_once(DRAIN_WINDOW).await,
            Ok(Drained::Some)
        ));
        assert_eq!(kafka.written(), vec![b"first".to_vec(), b"second".to_vec()]);
        assert_eq!((spool.len(), spool.parked()), (1, 1));
        let parked = |reason: &str| metrics.parked_total.with_label_values(&[reason]).get();
        assert_eq!(parked("refused_by_kafka"), 1);

        // Alone, its failures say nothing about it: Kafka may be failing everything.
        for _ in 0..MAX_ATTEMPTS {
            assert!(drainer.drain_once(DRAIN_WINDOW).await.is_err());
        }
        assert_eq!((spool.len(), spool.parked()), (1, 1));

        // While Kafka takes the hooks behind it, it gets MAX_ATTEMPTS attempts in all.
        for n in 1..MAX_ATTEMPTS {
            spool
                .append(&record("1", format!("later {n}").as_bytes(), true))
                .await
                .unwrap();
            assert!(matches!(
                drainer.drain_once(DRAIN_WINDOW).await,
                Ok(Drained::Some)
            ));
        }
        assert_eq!(parked("retries_exhausted"), 1);
        assert_eq!((spool.len(), spool.parked()), (0, 2));
        assert_eq!(metrics.parked_records.get(), 2);
        assert_eq!(kafka.written().len(), 2 + MAX_ATTEMPTS as usize - 1);

        // Parked, not lost: the next start queues both again, in their original order.
        drop(drainer);
        spool.close();
        drop(spool);
        let spool = Spool::open(&settings, SpoolMetrics::for_test()).unwrap();
        assert_eq!(
            bodies(&spool.oldest(10).await.unwrap()),
            vec![b"too large".to_vec(), b"stuck".to_vec()]
        );
    }

    #[tokio::test]
    async fn a_full_disk_keeps_no_spooled_hook_from_kafka_and_is_freed_by_the_drainer() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, fail, metrics) = failing_spool(dir.path(), Failing::Commits);
        let hooks: Vec<Vec<u8>> = (0..20).map(|n| format!("hook {n}").into_bytes()).collect();
        for body in &hooks {
            spool.append(&record("1", body, true)).await.unwrap();
        }
        // The disk fills: no removal can commit any more.
        fail.store(true, Ordering::SeqCst);
        let kafka = Arc::new(FakeKafka::default());
        let mut drainer = Drainer::new(kafka.clone(), spool.clone(), metrics.clone());

        // Window after window, every hook reaches Kafka once, in order, although none can
        // be removed (a failed removal has the spool reopen its file: wait for that).
        for _ in 0..hooks.len() {
            if kafka.written().len() == hooks.len() {
                break;
            }
            let _ = drainer.drain_once(RECOVERY_WINDOW).await;
            wait_healthy(&spool).await;
        }
        assert_eq!(kafka.written(), hooks);
        assert_eq!(spool.len(), hooks.len() as u64);

        // Holding only forwarded hooks, the spool's file is recreated empty, which frees the
        // disk; nothing is sent twice.
        assert!(matches!(
            drainer.drain_once(RECOVERY_WINDOW).await,
            Ok(Drained::All)
        ));
        assert_eq!((spool.len(), spool.bytes()), (0, 0));
        assert!(!fail.load(Ordering::SeqCst));
        spool.append(&record("1", b"after", true)).await.unwrap();
        assert!(matches!(
            drainer.drain_once(RECOVERY_WINDOW).await,
            Ok(Drained::All)
        ));
        assert_eq!(kafka.written().len(), hooks.len() + 1);
        assert!(spool.is_empty());
        assert_eq!(metrics.drained_total.get(), hooks.len() as u64 + 1);
    }

    #[tokio::test]
    async fn the_drainer_holds_at_most_its_byte_budget_of_records() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = SpoolMetrics::for_test();
        let settings = SpoolSettings {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 30,
        };
        let spool = Arc::new(Spool::open(&settings, metrics.clone()).unwrap());
        for n in 0..10u8 {
            spool.append(&record("1", &[n; 4096], true)).await.unwrap();
        }
        let one = spool.oldest(1).await.unwrap()[0].value.len() as u64;
        let kafka = Arc::new(FakeKafka::default());
        let mut drainer =
            Drainer::new(kafka.clone(), spool.clone(), metrics.clone()).with_window_bytes(3 * one);
        assert!(matches!(
            drainer.drain_once(DRAIN_WINDOW).await,
            Ok(Drained::All)
        ));
        assert_eq!(kafka.written().len(), 3);
        assert_eq!(spool.len(), 7);
        // A record larger than the budget still goes, alone.
        let mut drainer = Drainer::new(kafka.clone(), spool.clone(), metrics).with_window_bytes(1);
        assert!(matches!(
            drainer.drain_once(DRAIN_WINDOW).await,
            Ok(Drained::All)
        ));
        assert_eq!(kafka.written().len(), 4);
    }

    #[tokio::test]
    async fn a_body_over_a_megabyte_is_not_refused_by_the_producer() {
        // Kafka's default message.max.bytes (1 MB) made librdkafka refuse such a record at
        // once; sized from the body limit, it is queued (and here waits for a broker that
        // never answers).
        let kafka = unreachable_kafka();
        let big = record("5", &vec![b'x'; 5 * 1024 * 1024], true);
        let outcome = tokio::time::timeout(Duration::from_millis(500), kafka.write(big)).await;
        assert!(
            outcome.is_err(),
            "the producer answered at once: {outcome:?}"
        );
    }

    /// A producer whose broker never answers (nothing listens on port 1).
    fn unreachable_kafka() -> Arc<KafkaSink> {
        let settings = KafkaSettings {
            kafka: KafkaConnection::plaintext("127.0.0.1:1").resolve().unwrap(),
            ack_timeout: Duration::from_secs(30),
            linger_ms: 0,
            compression: "none".to_owned(),
            statistics_interval: Duration::ZERO,
            dedup_log: None,
        };
        let metrics = IngestMetrics::register(&prometheus::Registry::new()).unwrap();
        Arc::new(KafkaSink::new(&settings, metrics).unwrap())
    }

    #[tokio::test]
    async fn without_kafka_hooks_are_spooled_until_the_spool_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = SpoolMetrics::for_test();
        let one = codec::encode(&record("5", b"{}", true), 0).len() as u64 + 8;
        let settings = SpoolSettings {
            dir: dir.path().to_owned(),
            max_bytes: 2 * one,
        };
        let spool = Arc::new(Spool::open(&settings, metrics.clone()).unwrap());
        let sink = DurableSink::new(
            unreachable_kafka(),
            spool.clone(),
            Duration::from_millis(50),
            metrics.clone(),
        );
        let spooled = |reason: &str| metrics.spooled_total.with_label_values(&[reason]).get();

        // The first waits for Kafka until the deadline; the second follows it at once.
        sink.write(record("5", b"{}", true)).await.unwrap();
        assert_eq!(spooled("deadline") + spooled("kafka_error"), 1);
        sink.write(record("5", b"{}", true)).await.unwrap();
        assert_eq!(spooled("backlog"), 1);
        assert_eq!(spool.len(), 2);

        let full = sink.write(record("5", b"{}", true)).await;
        assert!(
            matches!(full, Err(SinkError::Spool(SpoolError::Full { .. }))),
            "{full:?}"
        );
        assert_eq!(
            metrics.rejections_total.with_label_values(&["full"]).get(),
            1
        );
        assert!(sink.check_ready(Duration::from_millis(100)).is_err());
        assert_eq!(metrics.kafka_reachable.get(), 0);
    }
}
