//! The write side of the deduplication log (`{prefix}dedup`; the [`super::tailer`] reads it).
//!
//! The Kafka sink hands over the ids of every hook Kafka acknowledged ([`DedupLog::append`],
//! which never waits); a task gathers them for up to [`LINGER`] and writes them as one record
//! of [`DedupEntry`] lines. One record per [`LINGER`] rather than one per hook matters
//! for brokers with a cost per record (the local Tansu writes a database row for each) and
//! costs little propagation delay. Entries are written only after their hook's
//! acknowledgement, so no replica ever answers "duplicate" for a hook Kafka lacks. An entry
//! lost to a crash, a full queue or a failed write only lets a repeat through to the
//! consumers, which collapse it; `hookline_ingest_dedup_log_failures_total` counts them.

use std::time::Duration;

use hookline_schemas::record::DedupEntry;
use prometheus::IntCounter;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientContext;
use tokio::sync::mpsc;

/// How long entries are gathered into one record.
pub const LINGER: Duration = Duration::from_millis(20);
/// Most entries in one record (about 150 bytes each).
const MAX_ENTRIES: usize = 1_000;
/// Entries waiting to be written at most; beyond, new ones are dropped and counted.
const QUEUE: usize = 100_000;

/// Appends entries to the deduplication log; cheap to clone.
#[derive(Clone)]
pub struct DedupLog {
    entries: mpsc::Sender<DedupEntry>,
    failures: IntCounter,
}

impl DedupLog {
    /// Starts the task writing to `topic` with `producer`; it ends once every [`DedupLog`]
    /// is dropped, after writing what it holds.
    pub fn spawn<C>(producer: FutureProducer<C>, topic: String, failures: IntCounter) -> Self
    where
        C: ClientContext + 'static,
    {
        let (entries, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write(producer, topic, queue, failures.clone()));
        Self { entries, failures }
    }

    /// Queues the entry of a hook Kafka acknowledged.
    pub fn append(&self, entry: DedupEntry) {
        if self.entries.try_send(entry).is_err() {
            self.failures.inc();
        }
    }
}

async fn write<C>(
    producer: FutureProducer<C>,
    topic: String,
    mut queue: mpsc::Receiver<DedupEntry>,
    failures: IntCounter,
) where
    C: ClientContext + 'static,
{
    let mut batch = Vec::with_capacity(MAX_ENTRIES);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        let gathering = tokio::time::sleep(LINGER);
        tokio::pin!(gathering);
        while batch.len() < MAX_ENTRIES {
            tokio::select! {
                entry = queue.recv() => match entry {
                    Some(entry) => batch.push(entry),
                    None => break,
                },
                () = &mut gathering => break,
            }
        }
        let value = DedupEntry::encode_lines(&batch);
        let entries = batch.len() as u64;
        batch.clear();
        let delivery = producer.send_result(FutureRecord::<(), _>::to(&topic).payload(&value));
        match delivery {
            Ok(delivery) => {
                let failures = failures.clone();
                tokio::spawn(async move {
                    if !matches!(delivery.await, Ok(Ok(_))) {
                        failures.inc_by(entries);
                    }
                });
            }
            Err((error, _)) => {
                failures.inc_by(entries);
                tracing::warn!(%error, entries, "cannot queue deduplication log entries");
            }
        }
    }
    // Whatever is still in the producer's queue is flushed with the hooks at shutdown.
}
