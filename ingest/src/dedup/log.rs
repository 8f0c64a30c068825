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
//!
//! At shutdown, [`DedupLog::close`] has the task write what it holds and wait for those
//! records' acknowledgements, before the producer is flushed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::record::DedupEntry;
use prometheus::IntCounter;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientContext;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long entries are gathered into one record.
pub const LINGER: Duration = Duration::from_millis(20);
/// Most entries in one record (about 150 bytes each).
const MAX_ENTRIES: usize = 1_000;
/// Entries waiting to be written at most; beyond, new ones are dropped and counted.
const QUEUE: usize = 100_000;

/// Appends entries to the deduplication log; cheap to clone.
#[derive(Clone)]
pub struct DedupLog {
    /// The writer task's queue.
    entries: mpsc::Sender<DedupEntry>,
    /// Counts entries lost to a full queue (and, in the task, to failed writes).
    failures: IntCounter,
    /// Tells the writer task to write what it holds and end.
    stop: CancellationToken,
    /// The writer task, until [`DedupLog::close`] joins it.
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl DedupLog {
    /// Starts the task writing to `topic` with `producer`; it ends at [`DedupLog::close`],
    /// or once every [`DedupLog`] is dropped, after writing what it holds.
    pub fn spawn<C>(producer: FutureProducer<C>, topic: String, failures: IntCounter) -> Self
    where
        C: ClientContext + 'static,
    {
        let (entries, queue) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let writer = tokio::spawn(write(
            producer,
            topic,
            queue,
            failures.clone(),
            stop.clone(),
        ));
        Self {
            entries,
            failures,
            stop,
            writer: Arc::new(Mutex::new(Some(writer))),
        }
    }

    /// Has the task write the entries it holds, waits for their acknowledgements (at most the
    /// producer's `message.timeout.ms`) and for the task to end. Entries appended later are
    /// dropped and counted.
    pub async fn close(&self) {
        self.stop.cancel();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            if writer.await.is_err() {
                tracing::error!("the deduplication log writer panicked");
            }
        }
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
    stop: CancellationToken,
) where
    C: ClientContext + 'static,
{
    let mut batch = Vec::with_capacity(MAX_ENTRIES);
    // Records handed to the producer whose acknowledgement is awaited, to count failures.
    let mut deliveries: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let first = tokio::select! {
            first = queue.recv() => first,
            // What is queued already is still written, below: `recv` returns it, then `None`.
            () = stop.cancelled(), if !queue.is_closed() => {
                queue.close();
                continue;
            }
        };
        let Some(first) = first else {
            break;
        };
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
        deliveries.retain(|delivery| !delivery.is_finished());
        match delivery {
            Ok(delivery) => {
                let failures = failures.clone();
                deliveries.push(tokio::spawn(async move {
                    if !matches!(delivery.await, Ok(Ok(_))) {
                        failures.inc_by(entries);
                    }
                }));
            }
            Err((error, _)) => {
                failures.inc_by(entries);
                tracing::warn!(%error, entries, "cannot queue deduplication log entries");
            }
        }
    }
    for delivery in deliveries {
        let _ = delivery.await;
    }
}
