//! The durable sink: a hook is answered 2xx once Kafka has acknowledged it *or* it is
//! fsynced in the local [`Spool`], and a background [`Drainer`] forwards spooled hooks to
//! Kafka.
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
//! (sequence) order, a window of records at a time whose sends are queued in order on the one
//! idempotent producer (which keeps a partition's, hence a key's, records in order), and
//! removes only the acknowledged prefix of the window. After a failure it retries from the
//! first unacknowledged record, so later records of that window may reach Kafka twice.
//!
//! **Failure modes.** Spool full (`HOOKLINE_SPOOL_MAX_BYTES`) or a storage error → the hook
//! is answered 503 and counted in `hookline_ingest_spool_rejections_total`. Kafka down →
//! hooks are spooled (after the deadline for the first one, at once for the rest) and the
//! drainer backs off (100 ms doubling to 5 s), retrying once the brokers answer a metadata
//! request, with one record until Kafka acknowledges again. A spooled record Kafka refuses
//! outright, or one that cannot be decoded, is logged and dropped
//! (`hookline_ingest_spool_discarded_total`), so one bad record cannot block the spool.
//!
//! **Readiness.** Ingest is ready while the spool can take hooks, Kafka or not
//! ([`DurableSink::check_ready`]); Kafka's reachability is the `hookline_ingest_kafka_reachable`
//! gauge and a log line when it changes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookline_runtime::shutdown::CancellationToken;
use tokio::task::JoinHandle;

use super::kafka::KafkaSink;
use super::metrics::SpoolMetrics;
use super::spool::{codec, Spool, SpoolError, Spooled};
use super::{HookRecord, HookSink, SinkError};

/// Records the drainer sends at once while Kafka acknowledges.
pub const DRAIN_WINDOW: usize = 256;

/// First and longest pause between drain attempts while Kafka does not acknowledge.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long the drainer waits for a metadata answer before retrying after a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the oldest-age gauge is refreshed.
const AGE_INTERVAL: Duration = Duration::from_secs(1);

/// Kafka first, the spool when Kafka does not acknowledge within `deadline`.
pub struct DurableSink {
    kafka: Arc<KafkaSink>,
    spool: Arc<Spool>,
    deadline: Duration,
    metrics: SpoolMetrics,
    /// Hooks being written to the spool now; while any is, new hooks follow them there.
    spooling: AtomicUsize,
    /// Kafka reachability last seen by [`DurableSink::check_ready`], to log changes once.
    kafka_reachable: AtomicBool,
}

impl DurableSink {
    pub fn new(
        kafka: Arc<KafkaSink>,
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

    async fn spool_write(
        &self,
        record: &HookRecord,
        reason: &'static str,
    ) -> Result<(), SinkError> {
        let result = {
            // A guard, not a decrement after the await: the request may be dropped meanwhile
            // (client gone), and a count left behind would divert every later hook.
            let _spooling = Spooling::enter(&self.spooling);
            self.spool.append(record).await
        };
        match result {
            Ok(_) => {
                self.metrics
                    .spooled_total
                    .with_label_values(&[reason])
                    .inc();
                Ok(())
            }
            Err(error) => {
                let label = match error {
                    SpoolError::Full { .. } => "full",
                    SpoolError::Storage(_) | SpoolError::Closed => "disk",
                };
                self.metrics
                    .rejections_total
                    .with_label_values(&[label])
                    .inc();
                Err(error.into())
            }
        }
    }
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

impl HookSink for DurableSink {
    async fn write(&self, record: HookRecord) -> Result<(), SinkError> {
        let backlog = !self.spool.is_empty() || self.spooling.load(Ordering::SeqCst) > 0;
        let reason = if backlog {
            "backlog"
        } else {
            match tokio::time::timeout(self.deadline, self.kafka.write(record.clone())).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(SinkError::Refused(reason))) => return Err(SinkError::Refused(reason)),
                Ok(Err(error)) => {
                    tracing::warn!(event_id = %record.headers.event_id, %error, "Kafka failed the hook; spooling it");
                    "kafka_error"
                }
                Err(_) => "deadline",
            }
        };
        self.spool_write(&record, reason).await
    }
}

/// Forwards spooled hooks to Kafka in arrival order and removes them once acknowledged.
pub struct Drainer {
    kafka: Arc<KafkaSink>,
    spool: Arc<Spool>,
    metrics: SpoolMetrics,
}

impl Drainer {
    pub fn new(kafka: Arc<KafkaSink>, spool: Arc<Spool>, metrics: SpoolMetrics) -> Self {
        Self {
            kafka,
            spool,
            metrics,
        }
    }

    /// Runs the drainer, and the oldest-age gauge refresh, until `shutdown` is cancelled.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        let spool = self.spool.clone();
        let ages = shutdown.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = spool.refresh_oldest_age().await {
                    tracing::warn!(%error, "cannot read the spool's oldest hook");
                }
                tokio::select! {
                    () = tokio::time::sleep(AGE_INTERVAL) => {}
                    () = ages.cancelled() => break,
                }
            }
        });
        tokio::spawn(self.run(shutdown))
    }

    async fn run(self, shutdown: CancellationToken) {
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
                Ok(Drained::All) => {
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
    /// then gets one record rather than a window: records are not piled into the producer
    /// (to time out there) while the brokers are away.
    async fn attempt(&self, healthy: bool) -> Result<Drained, String> {
        if !healthy {
            let kafka = self.kafka.clone();
            tokio::task::spawn_blocking(move || kafka.check_reachable(PROBE_TIMEOUT))
                .await
                .map_err(|error| error.to_string())?
                .map_err(|error| format!("brokers unreachable: {error}"))?;
        }
        self.drain_once(if healthy { DRAIN_WINDOW } else { 1 })
            .await
    }

    /// Sends up to `window` of the oldest records and removes the acknowledged prefix; fails
    /// when Kafka failed one of them (it and the rest of the window stay spooled).
    async fn drain_once(&self, window: usize) -> Result<Drained, String> {
        let batch = self.spool.oldest(window).await.map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(Drained::Nothing);
        }
        // join_all polls the sends in order, so they are queued on the producer in order.
        let sends = batch.iter().map(|spooled| self.send(spooled));
        let outcomes = futures::future::join_all(sends).await;
        let mut done = Vec::new();
        let mut stopped = None;
        for (spooled, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(()) => done.push(spooled.seq),
                Err(error) => {
                    stopped = Some(error);
                    break;
                }
            }
        }
        if !done.is_empty() {
            let count = done.len() as u64;
            self.spool.remove(done).await.map_err(|e| e.to_string())?;
            self.metrics.drained_total.inc_by(count);
        }
        match stopped {
            None => Ok(Drained::All),
            Some(error) => Err(error.to_string()),
        }
    }

    /// Sends one spooled record; `Ok` also for a record dropped because it can never be sent.
    async fn send(&self, spooled: &Spooled) -> Result<(), SinkError> {
        let record = match codec::decode(&spooled.value) {
            Ok((record, _)) => record,
            Err(error) => {
                tracing::error!(seq = spooled.seq, %error, "dropping a spooled record that cannot be decoded");
                self.discard("corrupt");
                return Ok(());
            }
        };
        match self.kafka.write(record.clone()).await {
            Err(SinkError::Refused(reason)) => {
                tracing::error!(seq = spooled.seq, event_id = %record.headers.event_id, %reason, "dropping a spooled hook Kafka refuses");
                self.discard("refused_by_kafka");
                Ok(())
            }
            other => other,
        }
    }

    fn discard(&self, reason: &str) {
        self.metrics
            .discarded_total
            .with_label_values(&[reason])
            .inc();
    }
}

/// What one drain attempt did.
enum Drained {
    /// The spool was empty.
    Nothing,
    /// Every record read was forwarded (or dropped as unsendable) and removed.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::IngestMetrics;
    use crate::sinks::kafka::KafkaSettings;
    use crate::sinks::spool::codec::tests::record;
    use crate::sinks::spool::SpoolSettings;
    use hookline_runtime::kafka::KafkaConnection;

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
