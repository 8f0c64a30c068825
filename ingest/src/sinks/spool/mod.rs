//! The local spool: hooks Kafka has not acknowledged, kept on disk until the drainer
//! ([`crate::sinks::durable`]) has forwarded them.
//!
//! Stored in [redb](https://www.redb.org) (an embedded, pure-Rust, ACID key-value store) in
//! one file, `spool.redb`, under `HOOKLINE_SPOOL_DIR`. One table maps a `u64` sequence number
//! (arrival order; the next one is the largest stored plus one at open) to the record in the
//! [`codec`] format. Every commit uses redb's `Durability::Immediate`, so it is fsynced before
//! anyone is told it succeeded; redb's two-phase commit with checksums recovers the last
//! committed state after a kill -9 or a power loss. redb locks the file, so a second ingest
//! pointed at the same directory fails at start instead of corrupting it.
//!
//! **Group commit.** One writer thread owns every write transaction. Appends and removals are
//! requests on a channel, each with a oneshot for its answer; the writer takes everything
//! queued (up to [`MAX_BATCH`] requests or [`MAX_BATCH_BYTES`]), applies it in one
//! transaction, commits it with one fsync and then answers every request of the batch. Under
//! load many hooks share one fsync; alone, a hook pays one. Reads (the drainer's) use redb's
//! read transactions on the blocking thread pool and never wait for the writer.
//!
//! **Bound.** The spool holds at most `HOOKLINE_SPOOL_MAX_BYTES` of encoded records (value
//! plus 8 bytes of key each); an append that would exceed it is refused with
//! [`SpoolError::Full`]. The file itself is larger by redb's page overhead and keeps its size
//! after draining (freed pages are reused, not returned), so plan disk for about twice the
//! bound.

pub mod codec;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::sinks::metrics::SpoolMetrics;
use crate::sinks::HookRecord;

/// Sequence number → encoded record.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Name of the database file inside the spool directory.
pub const FILE_NAME: &str = "spool.redb";

/// Most requests applied in one transaction.
pub const MAX_BATCH: usize = 512;

/// Most bytes of appended records applied in one transaction (a batch closes once past it).
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Requests waiting for the writer; senders wait when it is full.
const QUEUE: usize = 4096;

/// Bytes a record counts against the bound: its value and its key.
fn stored_size(value: &[u8]) -> u64 {
    value.len() as u64 + 8
}

/// Why the spool did not take or give back a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full: {stored} of {max} bytes used, {wanted} more asked")]
    Full { stored: u64, max: u64, wanted: u64 },
    #[error("the spool cannot be written or read: {0}")]
    Storage(String),
    #[error("the spool is closed")]
    Closed,
}

impl SpoolError {
    fn storage(error: impl Into<redb::Error>) -> Self {
        Self::Storage(error.into().to_string())
    }
}

/// Where the spool lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// A record read back from the spool, still encoded.
#[derive(Debug, Clone)]
pub struct Spooled {
    pub seq: u64,
    pub value: Vec<u8>,
}

enum Request {
    Append {
        value: Vec<u8>,
        reply: oneshot::Sender<Result<u64, SpoolError>>,
    },
    Remove {
        seqs: Vec<u64>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

/// What the writer and the readers share.
struct Shared {
    db: Database,
    max_bytes: u64,
    records: AtomicU64,
    bytes: AtomicU64,
    /// Whether the last commit failed (redb refuses every commit after an I/O error, until
    /// the spool is opened again), for the readiness check.
    failed: AtomicBool,
    /// Woken after every commit that appended something.
    appended: Notify,
    metrics: SpoolMetrics,
}

impl Shared {
    fn publish(&self) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.metrics
            .records
            .set(gauge(self.records.load(Ordering::SeqCst)));
        self.metrics
            .bytes
            .set(gauge(self.bytes.load(Ordering::SeqCst)));
    }
}

/// The spool: cheap to share behind an `Arc`; [`Spool::close`] ends the writer.
pub struct Spool {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Spool {
    /// Opens (or creates) the spool in `settings.dir` and starts its writer thread. Blocking:
    /// call it before serving, or from the blocking pool.
    pub fn open(settings: &SpoolSettings, metrics: SpoolMetrics) -> Result<Self, SpoolError> {
        let dir = &settings.dir;
        std::fs::create_dir_all(dir).map_err(|error| {
            SpoolError::Storage(format!("cannot create {}: {error}", dir.display()))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|error| {
            SpoolError::Storage(format!("cannot open {}: {error}", path.display()))
        })?;
        let (records, bytes, next_seq) = scan(&db)?;
        metrics
            .capacity_bytes
            .set(i64::try_from(settings.max_bytes).unwrap_or(i64::MAX));
        let shared = Arc::new(Shared {
            db,
            max_bytes: settings.max_bytes,
            records: AtomicU64::new(records),
            bytes: AtomicU64::new(bytes),
            failed: AtomicBool::new(false),
            appended: Notify::new(),
            metrics,
        });
        shared.publish();
        if records > 0 {
            tracing::info!(records, bytes, path = %path.display(), "spool holds hooks from an earlier run; they will be forwarded to Kafka");
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hookline-spool-writer".to_owned())
                .spawn(move || write_loop(&shared, receiver, next_seq))
                .map_err(|error| SpoolError::Storage(format!("cannot start the writer: {error}")))?
        };
        Ok(Self {
            shared,
            requests: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Writes `record` durably (fsynced) and returns its sequence number.
    pub async fn append(&self, record: &HookRecord) -> Result<u64, SpoolError> {
        let started = Instant::now();
        let value = codec::encode(record, now_ms());
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Append { value, reply }).await?;
        let result = answer.await.unwrap_or(Err(SpoolError::Closed));
        self.shared
            .metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Removes the records with these sequence numbers (durably) once Kafka has them.
    pub async fn remove(&self, seqs: Vec<u64>) -> Result<(), SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Remove { seqs, reply }).await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    async fn submit(&self, request: Request) -> Result<(), SpoolError> {
        let sender = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(SpoolError::Closed)?;
        sender.send(request).await.map_err(|_| SpoolError::Closed)
    }

    /// Up to `limit` of the oldest records, in arrival order.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<Spooled>, SpoolError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || read_oldest(&shared.db, limit))
            .await
            .map_err(|error| SpoolError::Storage(error.to_string()))?
    }

    /// Sets the oldest-age gauge from the first record (0 when the spool is empty).
    pub async fn refresh_oldest_age(&self) -> Result<(), SpoolError> {
        let first = self.oldest(1).await?;
        let age = match first.first() {
            Some(spooled) => {
                let at = codec::spooled_at_ms(&spooled.value)
                    .map_err(|error| SpoolError::Storage(error.to_string()))?;
                (now_ms() - at).max(0) as f64 / 1000.0
            }
            None => 0.0,
        };
        self.shared.metrics.oldest_age_seconds.set(age);
        Ok(())
    }

    /// Records in the spool (committed appends minus committed removals).
    pub fn len(&self) -> u64 {
        self.shared.records.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encoded bytes in the spool, the quantity the bound applies to.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Resolves after the next commit that appends a record (or at once if one happened since
    /// the last call).
    pub async fn appended(&self) {
        self.shared.appended.notified().await;
    }

    /// Whether the spool can take hooks: open, its writer alive, and not full.
    pub fn health(&self) -> Result<(), String> {
        let open = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        let running = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|writer| !writer.is_finished());
        if !open || !running {
            return Err("the spool writer has stopped".to_owned());
        }
        if self.shared.failed.load(Ordering::SeqCst) {
            return Err("the spool's last write failed; see the log".to_owned());
        }
        let (bytes, max) = (self.bytes(), self.shared.max_bytes);
        if bytes >= max {
            return Err(format!("the spool is full ({bytes} of {max} bytes)"));
        }
        Ok(())
    }

    /// Stops taking requests, lets the writer commit and answer what is queued, and waits for
    /// it to end. Later appends get [`SpoolError::Closed`]. Blocks for at most one commit.
    pub fn close(&self) {
        drop(
            self.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            if writer.join().is_err() {
                tracing::error!("the spool writer panicked");
            }
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.close();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Records, bytes and the next sequence number of a freshly opened spool.
fn scan(db: &Database) -> Result<(u64, u64, u64), SpoolError> {
    // Creating the table in a write transaction first lets readers assume it exists.
    let txn = db.begin_write().map_err(SpoolError::storage)?;
    txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    txn.commit().map_err(SpoolError::storage)?;

    let txn = db.begin_read().map_err(SpoolError::storage)?;
    let table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    let mut bytes = 0;
    for entry in table.iter().map_err(SpoolError::storage)? {
        let (_, value) = entry.map_err(SpoolError::storage)?;
        bytes += stored_size(value.value());
    }
    let records = table.len().map_err(SpoolError::storage)?;
    let next_seq = match table.last().map_err(SpoolError::storage)? {
        Some((seq, _)) => seq.value() + 1,
        None => 0,
    };
    Ok((records, bytes, next_seq))
}

fn read_oldest(db: &Database, limit: usize) -> Result<Vec<Spooled>, SpoolError> {
    let txn = db.begin_read().map_err(SpoolError::storage)?;
    let table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(SpoolError::storage)?.take(limit) {
        let (seq, value) = entry.map_err(SpoolError::storage)?;
        out.push(Spooled {
            seq: seq.value(),
            value: value.value().to_vec(),
        });
    }
    Ok(out)
}

/// The writer thread: batches queued requests into one fsynced transaction each.
fn write_loop(shared: &Shared, mut requests: mpsc::Receiver<Request>, mut next_seq: u64) {
    let value_len = |request: &Request| match request {
        Request::Append { value, .. } => value.len(),
        Request::Remove { .. } => 0,
    };
    while let Some(first) = requests.blocking_recv() {
        let mut batch_bytes = value_len(&first);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && batch_bytes < MAX_BATCH_BYTES {
            match requests.try_recv() {
                Ok(request) => {
                    batch_bytes += value_len(&request);
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        next_seq = commit_batch(shared, batch, next_seq);
    }
}

/// What one request of a batch will be answered.
enum Outcome {
    Appended(u64),
    Full { wanted: u64 },
    Removed,
}

/// What a batch changed: records and bytes added, records and bytes removed.
#[derive(Default)]
struct Change {
    added: u64,
    added_bytes: u64,
    removed: u64,
    removed_bytes: u64,
}

/// Applies `batch` in one transaction and answers it; returns the next sequence number.
fn commit_batch(shared: &Shared, batch: Vec<Request>, next_seq: u64) -> u64 {
    let applied = apply(shared, &batch, next_seq);
    shared.failed.store(applied.is_err(), Ordering::SeqCst);
    match applied {
        Ok((outcomes, change)) => {
            shared.records.fetch_add(change.added, Ordering::SeqCst);
            shared.records.fetch_sub(change.removed, Ordering::SeqCst);
            shared.bytes.fetch_add(change.added_bytes, Ordering::SeqCst);
            shared
                .bytes
                .fetch_sub(change.removed_bytes, Ordering::SeqCst);
            shared.publish();
            if change.added > 0 {
                shared.appended.notify_one();
            }
            let stored = shared.bytes.load(Ordering::SeqCst);
            for (request, outcome) in batch.into_iter().zip(outcomes) {
                match (request, outcome) {
                    (Request::Append { reply, .. }, Outcome::Appended(seq)) => {
                        let _ = reply.send(Ok(seq));
                    }
                    (Request::Append { reply, .. }, Outcome::Full { wanted }) => {
                        let _ = reply.send(Err(SpoolError::Full {
                            stored,
                            max: shared.max_bytes,
                            wanted,
                        }));
                    }
                    (Request::Remove { reply, .. }, _) => {
                        let _ = reply.send(Ok(()));
                    }
                    (Request::Append { .. }, Outcome::Removed) => {
                        unreachable!("an append is answered as appended or full")
                    }
                }
            }
            next_seq + change.added
        }
        Err(error) => {
            tracing::error!(%error, requests = batch.len(), "spool commit failed");
            for request in batch {
                match request {
                    Request::Append { reply, .. } => {
                        let _ = reply.send(Err(error.clone()));
                    }
                    Request::Remove { reply, .. } => {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
            next_seq
        }
    }
}

/// Writes `batch` in one fsynced transaction: appends in order while they fit the bound,
/// then numbered from `next_seq`, and removals.
fn apply(
    shared: &Shared,
    batch: &[Request],
    next_seq: u64,
) -> Result<(Vec<Outcome>, Change), SpoolError> {
    let stored = shared.bytes.load(Ordering::SeqCst);
    let mut change = Change::default();
    let mut outcomes = Vec::with_capacity(batch.len());
    let txn = shared.db.begin_write().map_err(SpoolError::storage)?;
    {
        let mut table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
        for request in batch {
            outcomes.push(match request {
                Request::Append { value, .. } => {
                    let size = stored_size(value);
                    let after = stored + change.added_bytes - change.removed_bytes + size;
                    if after > shared.max_bytes {
                        Outcome::Full { wanted: size }
                    } else {
                        let seq = next_seq + change.added;
                        table
                            .insert(seq, value.as_slice())
                            .map_err(SpoolError::storage)?;
                        change.added += 1;
                        change.added_bytes += size;
                        Outcome::Appended(seq)
                    }
                }
                Request::Remove { seqs, .. } => {
                    for seq in seqs {
                        if let Some(value) = table.remove(seq).map_err(SpoolError::storage)? {
                            change.removed += 1;
                            change.removed_bytes += stored_size(value.value());
                        }
                    }
                    Outcome::Removed
                }
            });
        }
    }
    // Durability::Immediate (redb's default): the commit returns once it is fsynced.
    txn.commit().map_err(SpoolError::storage)?;
    Ok((outcomes, change))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::codec::tests::record;
    use super::*;

    fn settings(dir: &Path, max_bytes: u64) -> SpoolSettings {
        SpoolSettings {
            dir: dir.to_owned(),
            max_bytes,
        }
    }

    fn open(dir: &Path, max_bytes: u64) -> Spool {
        Spool::open(&settings(dir, max_bytes), SpoolMetrics::for_test()).unwrap()
    }

    fn bodies(spooled: &[Spooled]) -> Vec<Vec<u8>> {
        spooled
            .iter()
            .map(|s| codec::decode(&s.value).unwrap().0.body.to_vec())
            .collect()
    }

    #[tokio::test]
    async fn appends_read_back_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = open(dir.path(), 1 << 20);
        let mut seqs = Vec::new();
        for n in 0..5 {
            seqs.push(
                spool
                    .append(&record("1", format!("{n}").as_bytes(), n % 2 == 0))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
        assert_eq!(spool.len(), 5);
        let oldest = spool.oldest(3).await.unwrap();
        assert_eq!(
            bodies(&oldest),
            vec![b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]
        );

        spool.remove(vec![0, 1]).await.unwrap();
        assert_eq!(spool.len(), 3);
        let bytes = spool.bytes();
        spool.close();
        assert_eq!(
            spool.append(&record("1", b"x", true)).await,
            Err(SpoolError::Closed)
        );
        drop(spool);

        let spool = open(dir.path(), 1 << 20);
        assert_eq!((spool.len(), spool.bytes()), (3, bytes));
        let all = spool.oldest(10).await.unwrap();
        assert_eq!(
            bodies(&all),
            vec![b"2".to_vec(), b"3".to_vec(), b"4".to_vec()]
        );
        // Sequence numbers go on from the largest stored one.
        assert_eq!(spool.append(&record("1", b"5", true)).await, Ok(5));
        spool.refresh_oldest_age().await.unwrap();
    }

    #[tokio::test]
    async fn the_bound_refuses_appends_and_removals_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let one = stored_size(&codec::encode(&record("1", b"0123456789", true), 0));
        let spool = open(dir.path(), 2 * one);
        spool
            .append(&record("1", b"0123456789", true))
            .await
            .unwrap();
        spool
            .append(&record("1", b"0123456789", true))
            .await
            .unwrap();
        let refused = spool.append(&record("1", b"0123456789", true)).await;
        assert!(
            matches!(refused, Err(SpoolError::Full { .. })),
            "{refused:?}"
        );
        assert!(spool.health().unwrap_err().contains("full"));
        assert_eq!(spool.len(), 2);
        spool.remove(vec![0]).await.unwrap();
        assert!(spool.health().is_ok());
        assert_eq!(spool.append(&record("1", b"0123456789", true)).await, Ok(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn group_commit_answers_every_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(open(dir.path(), 1 << 30));
        let writers: Vec<_> = (0..200)
            .map(|n| {
                let spool = spool.clone();
                tokio::spawn(async move {
                    spool
                        .append(&record(
                            &format!("{}", n % 7),
                            format!("{n}").as_bytes(),
                            true,
                        ))
                        .await
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for writer in writers {
            seqs.push(writer.await.unwrap().unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..200).collect::<Vec<u64>>());
        assert_eq!(spool.len(), 200);
        assert_eq!(spool.oldest(1000).await.unwrap().len(), 200);
    }

    #[tokio::test]
    async fn one_commit_answers_every_request_of_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let spool = open(dir.path(), 1 << 20);
        let mut answers = Vec::new();
        let mut batch = Vec::new();
        for n in 0..10 {
            let (reply, answer) = oneshot::channel();
            let value = codec::encode(&record("3", format!("{n}").as_bytes(), true), 0);
            batch.push(Request::Append { value, reply });
            answers.push(answer);
        }
        let (reply, removal) = oneshot::channel();
        batch.push(Request::Remove {
            seqs: vec![100, 101],
            reply,
        });
        assert_eq!(commit_batch(&spool.shared, batch, 100), 110);
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.await.unwrap(), Ok(100 + n as u64));
        }
        assert_eq!(removal.await.unwrap(), Ok(()));
        assert_eq!(spool.len(), 8);
        let left = spool.oldest(100).await.unwrap();
        assert_eq!(left.first().map(|s| s.seq), Some(102));
    }

    #[test]
    fn a_second_open_of_the_same_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(dir.path(), 1 << 20);
        let second = Spool::open(&settings(dir.path(), 1 << 20), SpoolMetrics::for_test());
        assert!(matches!(second, Err(SpoolError::Storage(_))));
    }
}
