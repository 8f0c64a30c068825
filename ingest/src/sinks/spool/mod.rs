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
//! **Parking.** A record the drainer can never forward (Kafka refuses it, it cannot be
//! decoded, or it kept failing while Kafka took others) is moved to a second table,
//! `parked`, in the same file and transaction, under the same sequence number: it stays on
//! disk, counted in `hookline_ingest_spool_parked_records`, but no longer holds up the
//! records behind it. At the next start, [`Spool::open`] moves every parked record back, so
//! once the cause is fixed (e.g. a topic's `max.message.bytes` raised) a restart forwards
//! them, ahead of newer records since their sequence numbers are smaller.
//!
//! **Healing.** redb refuses every operation after an I/O error (`PreviousIo`) until the
//! database is opened again. So after a failed commit (or a failed read, reported with
//! [`Spool::report_failure`]), the writer drops its handle and reopens the file, with
//! backoff (100 ms doubling to 5 s), answering requests meanwhile with the error; redb's
//! repair brings the file back to its last commit. Until then [`Spool::health`] fails, and
//! the durable sink sends hooks straight to Kafka. Once the disk works again (space freed,
//! device back), the spool takes hooks again without a restart.
//!
//! **A full disk.** On a full file system redb cannot commit even a removal (it writes
//! copy-on-write pages), so the drainer keeps the records Kafka acknowledged in memory and
//! reads past them ([`Spool::oldest_within`]'s `skip`), retrying their removal at every
//! attempt. Once every record left has reached Kafka and none is parked, the drainer asks for
//! [`Spool::recreate_if_all_forwarded`]: the writer checks that against the file, deletes it
//! and creates an empty one, which frees the disk without a restart.
//!
//! **Bound.** The spool holds at most `HOOKLINE_SPOOL_MAX_BYTES` of encoded records (value
//! plus 8 bytes of key each, parked records included); an append that would exceed it is refused with
//! [`SpoolError::Full`]. The file itself is larger by redb's page overhead and keeps its size
//! after draining (freed pages are reused, not returned), so plan disk for about twice the
//! bound.

pub mod codec;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::clock::now_ms;
use crate::sinks::metrics::SpoolMetrics;
use crate::sinks::HookRecord;

/// Sequence number → encoded record, waiting for the drainer.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Sequence number → encoded record the drainer could not forward; moved back at start.
const PARKED: TableDefinition<u64, &[u8]> = TableDefinition::new("parked");

/// Name of the database file inside the spool directory.
pub const FILE_NAME: &str = "spool.redb";

/// Most requests applied in one transaction.
pub const MAX_BATCH: usize = 512;

/// Most bytes of appended records applied in one transaction (a batch closes once past it).
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Requests waiting for the writer; senders wait when it is full.
const QUEUE: usize = 4096;

/// First and longest pause between attempts to reopen the database after a failure.
const HEAL_BACKOFF_MIN: Duration = Duration::from_millis(100);
const HEAL_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How often the writer looks for requests (to refuse them) while it waits to reopen.
const HEAL_POLL: Duration = Duration::from_millis(10);

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
    Storage(#[source] StorageError),
    #[error("the spool is closed")]
    Closed,
}

impl SpoolError {
    /// A redb operation failed.
    fn storage(error: impl Into<redb::Error>) -> Self {
        let error = error.into();
        Self::Storage(StorageError {
            message: error.to_string(),
            source: Some(Arc::new(error)),
        })
    }

    /// Doing `what` failed with `source`.
    fn failed(what: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Storage(StorageError {
            message: format!("{what}: {source}"),
            source: Some(Arc::new(source)),
        })
    }

    /// The storage is unusable for a reason with no error of its own.
    fn unusable(message: String) -> Self {
        Self::Storage(StorageError {
            message,
            source: None,
        })
    }
}

/// What failed in the spool's storage. Shared (`Arc`) because one failed commit answers
/// every request of its batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    /// What failed, the cause's own message included, for logs that print only `Display`.
    message: String,
    /// The error behind it (redb's, the file system's), when there is one.
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two failures are the same when they say the same (the sources have no equality).
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for StorageError {}

/// Where the spool lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// The directory of the database file (HOOKLINE_SPOOL_DIR).
    pub dir: PathBuf,
    /// Bytes of records held at most (HOOKLINE_SPOOL_MAX_BYTES).
    pub max_bytes: u64,
}

/// Opens the spool's database: at start, and again after a storage error. Tests pass one
/// that wraps the file in a backend injecting errors.
pub type Opener = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// A record read back from the spool, still encoded.
#[derive(Debug, Clone)]
pub struct Spooled {
    /// Its sequence number: arrival order, and its key for removal.
    pub seq: u64,
    /// The record in the [`codec`] format.
    pub value: Vec<u8>,
}

/// What the writer thread is asked to do; every request but [`Request::Check`] carries the
/// channel its answer goes back on.
enum Request {
    /// A change to the tables, committed in one transaction with the rest of its batch.
    Write(Write),
    /// Replace the file with an empty one if it holds only these records and none parked.
    Recreate {
        /// The records Kafka has acknowledged.
        forwarded: BTreeSet<u64>,
        /// Whether the file was replaced.
        reply: oneshot::Sender<Result<bool, SpoolError>>,
    },
    /// A reader hit a storage error: check that the database still works, heal it if not.
    Check,
}

impl Request {
    /// Answers the request with `error` without doing it.
    fn fail(self, error: &SpoolError) {
        match self {
            Request::Write(write) => write.fail(error),
            Request::Recreate { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Request::Check => {}
        }
    }
}

/// A change to the tables.
enum Write {
    /// Store a record under the next sequence number, if the bound allows it.
    Append {
        /// The encoded record.
        value: Vec<u8>,
        /// Its sequence number once committed.
        reply: oneshot::Sender<Result<u64, SpoolError>>,
    },
    /// Delete records Kafka has acknowledged.
    Remove {
        /// Their sequence numbers; unknown ones are ignored.
        seqs: Vec<u64>,
        /// Answered once the removal is committed.
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
    /// Move a record to the parked table.
    Park {
        /// Its sequence number.
        seq: u64,
        /// Answered once the move is committed.
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

impl Write {
    /// Answers the write with `error` without applying it.
    fn fail(self, error: &SpoolError) {
        match self {
            Write::Append { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Write::Remove { reply, .. } | Write::Park { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }

    /// Bytes of record it adds, for the batch's size limit.
    fn value_len(&self) -> usize {
        match self {
            Write::Append { value, .. } => value.len(),
            Write::Remove { .. } | Write::Park { .. } => 0,
        }
    }
}

/// What the writer and the readers share.
struct Shared {
    /// The open database; `None` while the writer reopens it after a storage error.
    db: RwLock<Option<Arc<Database>>>,
    /// How to open it again.
    opener: Opener,
    /// For messages.
    path: PathBuf,
    /// The bound appends are checked against.
    max_bytes: u64,
    /// Records waiting for the drainer (not parked).
    records: AtomicU64,
    /// Bytes of every stored record, parked ones included: the quantity the bound applies to.
    bytes: AtomicU64,
    /// Records parked.
    parked: AtomicU64,
    /// Whether the database failed and is not open again yet, for the readiness check and the
    /// durable sink's routing.
    failed: AtomicBool,
    /// Woken after every commit that appended something.
    appended: Notify,
    /// The gauges [`Shared::publish`] keeps current.
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
        self.metrics
            .parked_records
            .set(gauge(self.parked.load(Ordering::SeqCst)));
    }

    /// The open database, or an error while it is being reopened.
    fn db(&self) -> Result<Arc<Database>, SpoolError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                SpoolError::unusable(format!(
                    "{} is being reopened after a storage error",
                    self.path.display()
                ))
            })
    }

    /// Replaces the counters with what `db` holds.
    fn set_counts(&self, counts: &Counts) {
        self.records.store(counts.records, Ordering::SeqCst);
        self.bytes.store(counts.bytes, Ordering::SeqCst);
        self.parked.store(counts.parked, Ordering::SeqCst);
        self.publish();
    }
}

/// The spool: cheap to share behind an `Arc`; [`Spool::close`] ends the writer.
pub struct Spool {
    /// What the writer thread and the readers share.
    shared: Arc<Shared>,
    /// The writer's queue; `None` once closed.
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    /// The writer thread, until [`Spool::close`] joins it.
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Spool {
    /// Opens (or creates) the spool in `settings.dir` and starts its writer thread; records
    /// parked by an earlier run are queued for the drainer again. Blocking: call it before
    /// serving, or from the blocking pool.
    pub fn open(settings: &SpoolSettings, metrics: SpoolMetrics) -> Result<Self, SpoolError> {
        let dir = &settings.dir;
        std::fs::create_dir_all(dir).map_err(|error| {
            SpoolError::failed(format!("cannot create {}", dir.display()), error)
        })?;
        let path = dir.join(FILE_NAME);
        let file = path.clone();
        Self::open_with(settings, metrics, Box::new(move || Database::create(&file)))
    }

    /// [`Spool::open`] with the database opened by `opener` (at start and after every
    /// storage error) instead of from the file in `settings.dir`.
    pub fn open_with(
        settings: &SpoolSettings,
        metrics: SpoolMetrics,
        opener: Opener,
    ) -> Result<Self, SpoolError> {
        let path = settings.dir.join(FILE_NAME);
        let db = opener().map_err(|error| {
            SpoolError::failed(format!("cannot open {}", path.display()), error)
        })?;
        let unparked = unpark(&db)?;
        let counts = scan(&db)?;
        metrics
            .capacity_bytes
            .set(i64::try_from(settings.max_bytes).unwrap_or(i64::MAX));
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(Arc::new(db))),
            opener,
            path: path.clone(),
            max_bytes: settings.max_bytes,
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            appended: Notify::new(),
            metrics,
        });
        shared.set_counts(&counts);
        if unparked > 0 {
            tracing::warn!(unparked, path = %path.display(), "hooks parked by an earlier run are queued again for Kafka");
        }
        if counts.records > 0 {
            tracing::info!(records = counts.records, bytes = counts.bytes, path = %path.display(), "spool holds hooks from an earlier run; they will be forwarded to Kafka");
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = {
            let shared = shared.clone();
            let next_seq = counts.next_seq;
            std::thread::Builder::new()
                .name("hookline-spool-writer".to_owned())
                .spawn(move || write_loop(&shared, receiver, next_seq))
                .map_err(|error| SpoolError::failed("cannot start the writer".to_owned(), error))?
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
        self.submit(Request::Write(Write::Append { value, reply }))
            .await?;
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
        self.submit(Request::Write(Write::Remove { seqs, reply }))
            .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Moves the record `seq` to the parked table (durably): kept, but no longer drained.
    pub async fn park(&self, seq: u64) -> Result<(), SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Write(Write::Park { seq, reply }))
            .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Deletes the spool's file and starts an empty one, if every record it holds is in
    /// `forwarded` (acknowledged by Kafka) and none is parked; `Ok(false)` otherwise. For a
    /// full disk, where removals cannot commit: this frees the space without writing.
    pub async fn recreate_if_all_forwarded(
        &self,
        forwarded: BTreeSet<u64>,
    ) -> Result<bool, SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Recreate { forwarded, reply }).await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    async fn submit(&self, request: Request) -> Result<(), SpoolError> {
        let sender = self.sender()?;
        sender.send(request).await.map_err(|_| SpoolError::Closed)
    }

    fn sender(&self) -> Result<mpsc::Sender<Request>, SpoolError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(SpoolError::Closed)
    }

    /// Tells the writer that a read failed, so that it reopens the database if redb now
    /// refuses it (redb refuses everything after one I/O error).
    pub fn report_failure(&self) {
        if let Ok(sender) = self.sender() {
            // A full queue means the writer has work, and will see the failure itself.
            let _ = sender.try_send(Request::Check);
        }
    }

    /// Up to `limit` of the oldest records, in arrival order.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<Spooled>, SpoolError> {
        self.oldest_within(limit, u64::MAX, &BTreeSet::new()).await
    }

    /// Up to `limit` of the oldest records not in `skip`, in arrival order, as long as their
    /// values add up to at most `max_bytes`; always the first one, whatever its size.
    pub async fn oldest_within(
        &self,
        limit: usize,
        max_bytes: u64,
        skip: &BTreeSet<u64>,
    ) -> Result<Vec<Spooled>, SpoolError> {
        let shared = self.shared.clone();
        let skip = skip.clone();
        let result = tokio::task::spawn_blocking(move || {
            read_oldest(&*shared.db()?, limit, max_bytes, &skip)
        })
        .await
        .map_err(|error| SpoolError::failed("the read stopped".to_owned(), error))?;
        if result.is_err() {
            self.report_failure();
        }
        result
    }

    /// Sets the oldest-age gauge from the first record (0 when the spool is empty).
    pub async fn refresh_oldest_age(&self) -> Result<(), SpoolError> {
        let first = self.oldest(1).await?;
        let age = match first.first() {
            Some(spooled) => {
                let at = codec::spooled_at_ms(&spooled.value).map_err(|error| {
                    SpoolError::failed("the oldest record is unreadable".to_owned(), error)
                })?;
                (now_ms() - at).max(0) as f64 / 1000.0
            }
            None => 0.0,
        };
        self.shared.metrics.oldest_age_seconds.set(age);
        Ok(())
    }

    /// Records waiting for the drainer (committed appends minus removals and parkings).
    pub fn len(&self) -> u64 {
        self.shared.records.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records parked: kept on disk, not drained until the next start.
    pub fn parked(&self) -> u64 {
        self.shared.parked.load(Ordering::SeqCst)
    }

    /// Encoded bytes in the spool, parked records included: the quantity the bound applies to.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Resolves after the next commit that appends a record (or at once if one happened since
    /// the last call).
    pub async fn appended(&self) {
        self.shared.appended.notified().await;
    }

    /// Whether the spool can take hooks: open, its writer alive, its storage working, and not
    /// full.
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
            return Err("the spool's storage failed and is being reopened; see the log".to_owned());
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

/// What a database holds.
struct Counts {
    /// Records waiting for the drainer.
    records: u64,
    /// Bytes of all records, parked ones included.
    bytes: u64,
    /// Records parked.
    parked: u64,
    /// The sequence number of the next append.
    next_seq: u64,
}

/// Creates both tables if they do not exist yet, so that readers can assume they do.
fn create_tables(db: &Database) -> Result<(), SpoolError> {
    let txn = db.begin_write().map_err(SpoolError::storage)?;
    txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    txn.open_table(PARKED).map_err(SpoolError::storage)?;
    txn.commit().map_err(SpoolError::storage)
}

/// Moves every parked record back to the records table; returns how many.
fn unpark(db: &Database) -> Result<u64, SpoolError> {
    // Creating both tables in a write transaction first lets readers assume they exist.
    let txn = db.begin_write().map_err(SpoolError::storage)?;
    let mut moved = 0;
    {
        let mut records = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
        let mut parked = txn.open_table(PARKED).map_err(SpoolError::storage)?;
        while let Some((seq, value)) = parked.pop_first().map_err(SpoolError::storage)? {
            records
                .insert(seq.value(), value.value())
                .map_err(SpoolError::storage)?;
            moved += 1;
        }
    }
    txn.commit().map_err(SpoolError::storage)?;
    Ok(moved)
}

/// Records, bytes, parked records and the next sequence number of an opened spool.
fn scan(db: &Database) -> Result<Counts, SpoolError> {
    let txn = db.begin_read().map_err(SpoolError::storage)?;
    let table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    let parked = txn.open_table(PARKED).map_err(SpoolError::storage)?;
    let mut bytes = 0;
    for entry in table.iter().map_err(SpoolError::storage)? {
        let (_, value) = entry.map_err(SpoolError::storage)?;
        bytes += stored_size(value.value());
    }
    for entry in parked.iter().map_err(SpoolError::storage)? {
        let (_, value) = entry.map_err(SpoolError::storage)?;
        bytes += stored_size(value.value());
    }
    let last = |table: &redb::ReadOnlyTable<u64, &[u8]>| -> Result<Option<u64>, SpoolError> {
        Ok(table
            .last()
            .map_err(SpoolError::storage)?
            .map(|(seq, _)| seq.value()))
    };
    let next_seq = last(&table)?.max(last(&parked)?).map_or(0, |seq| seq + 1);
    Ok(Counts {
        records: table.len().map_err(SpoolError::storage)?,
        bytes,
        parked: parked.len().map_err(SpoolError::storage)?,
        next_seq,
    })
}

fn read_oldest(
    db: &Database,
    limit: usize,
    max_bytes: u64,
    skip: &BTreeSet<u64>,
) -> Result<Vec<Spooled>, SpoolError> {
    let txn = db.begin_read().map_err(SpoolError::storage)?;
    let table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for entry in table.iter().map_err(SpoolError::storage)? {
        if out.len() == limit {
            break;
        }
        let (seq, value) = entry.map_err(SpoolError::storage)?;
        if skip.contains(&seq.value()) {
            continue;
        }
        let value = value.value();
        bytes = bytes.saturating_add(value.len() as u64);
        if bytes > max_bytes && !out.is_empty() {
            break;
        }
        out.push(Spooled {
            seq: seq.value(),
            value: value.to_vec(),
        });
    }
    Ok(out)
}

/// The writer thread: batches queued requests into one fsynced transaction each, and
/// reopens the database after a storage error.
fn write_loop(shared: &Shared, mut requests: mpsc::Receiver<Request>, mut next_seq: u64) {
    let value_len = |request: &Request| match request {
        Request::Write(write) => write.value_len(),
        Request::Recreate { .. } | Request::Check => 0,
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
        // Recreations go after the batch's commit: each checks the file as it then is.
        let mut writes = Vec::with_capacity(batch.len());
        let mut recreations = Vec::new();
        for request in batch {
            match request {
                Request::Write(write) => writes.push(write),
                Request::Recreate { forwarded, reply } => recreations.push((forwarded, reply)),
                // A commit checks the database anyway; without one, `check` below does.
                Request::Check => {}
            }
        }
        let mut error = if writes.is_empty() {
            // Only checks: redb refuses a write transaction after an I/O error.
            check(shared).err()
        } else {
            next_seq = commit_batch(shared, writes, next_seq);
            shared
                .failed
                .load(Ordering::SeqCst)
                .then(|| SpoolError::unusable("the last commit failed".to_owned()))
        };
        for (forwarded, reply) in recreations {
            let result = match &error {
                Some(error) => Err(error.clone()),
                None => recreate_if_all_forwarded(shared, &forwarded),
            };
            if let Err(failure) = &result {
                error.get_or_insert_with(|| failure.clone());
            }
            let _ = reply.send(result);
        }
        if let Some(error) = error {
            shared.failed.store(true, Ordering::SeqCst);
            match heal(shared, &mut requests, next_seq, &error) {
                Some(seq) => next_seq = seq,
                None => return,
            }
        }
    }
}

/// Whether the database still takes a write transaction.
fn check(shared: &Shared) -> Result<(), SpoolError> {
    let db = shared.db()?;
    let txn = db.begin_write().map_err(SpoolError::storage)?;
    txn.abort().map_err(SpoolError::storage)
}

/// Reopens the database, with backoff, refusing requests with `error` meanwhile. Returns the
/// next sequence number once it is open again, `None` if the spool was closed first.
fn heal(
    shared: &Shared,
    requests: &mut mpsc::Receiver<Request>,
    next_seq: u64,
    error: &SpoolError,
) -> Option<u64> {
    let mut backoff = HEAL_BACKOFF_MIN;
    let mut attempts = 0u64;
    loop {
        // Our handle goes first: redb locks the file until every handle (and every read
        // transaction) is dropped.
        drop(shared.db.write().unwrap_or_else(|e| e.into_inner()).take());
        attempts += 1;
        match reopen(shared) {
            Ok(counts) => {
                shared.failed.store(false, Ordering::SeqCst);
                shared.metrics.reopened_total.inc();
                tracing::warn!(
                    attempts,
                    records = counts.records,
                    path = %shared.path.display(),
                    "spool storage reopened after an error; taking hooks again"
                );
                return Some(next_seq.max(counts.next_seq));
            }
            Err(reopen_error) => {
                if attempts == 1 || attempts.is_power_of_two() {
                    tracing::error!(%reopen_error, attempts, retry_in_ms = backoff.as_millis() as u64, path = %shared.path.display(), "spool storage failed and cannot be reopened yet; hooks go straight to Kafka meanwhile");
                }
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            match requests.try_recv() {
                Ok(request) => request.fail(error),
                Err(TryRecvError::Empty) => std::thread::sleep(HEAL_POLL),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
        backoff = (backoff * 2).min(HEAL_BACKOFF_MAX);
    }
}

/// Deletes the database file and opens an empty one, if the file holds only records in
/// `forwarded` and none parked. Run by the writer, so no commit races it.
fn recreate_if_all_forwarded(
    shared: &Shared,
    forwarded: &BTreeSet<u64>,
) -> Result<bool, SpoolError> {
    {
        let db = shared.db()?;
        let txn = db.begin_read().map_err(SpoolError::storage)?;
        let records = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
        let parked = txn.open_table(PARKED).map_err(SpoolError::storage)?;
        if !parked.is_empty().map_err(SpoolError::storage)? {
            return Ok(false);
        }
        for entry in records.iter().map_err(SpoolError::storage)? {
            let (seq, _) = entry.map_err(SpoolError::storage)?;
            if !forwarded.contains(&seq.value()) {
                return Ok(false);
            }
        }
    }
    // A reader may still hold the old handle for a moment: the file is unlinked, and its
    // space freed once that handle goes; the new file is a new inode with its own lock.
    drop(shared.db.write().unwrap_or_else(|e| e.into_inner()).take());
    std::fs::remove_file(&shared.path).map_err(|error| {
        SpoolError::failed(format!("cannot delete {}", shared.path.display()), error)
    })?;
    reopen(shared)?;
    Ok(true)
}

/// Opens the database again and reloads the counters from it. Only reads, so that a full
/// disk does not keep the spool's records from the drainer, unless the file is new
/// ([`recreate_if_all_forwarded`]) and its tables must be created.
fn reopen(shared: &Shared) -> Result<Counts, SpoolError> {
    let db = (shared.opener)().map_err(|error| {
        SpoolError::failed(format!("cannot open {}", shared.path.display()), error)
    })?;
    let new = {
        let txn = db.begin_read().map_err(SpoolError::storage)?;
        matches!(
            txn.open_table(RECORDS),
            Err(redb::TableError::TableDoesNotExist(_))
        )
    };
    if new {
        create_tables(&db)?;
    }
    let counts = scan(&db)?;
    shared.set_counts(&counts);
    *shared.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
    Ok(counts)
}

/// A write applied in the batch's transaction, with the answer it gets once that commits.
enum Applied {
    /// Stored under `seq`.
    Appended {
        /// The append's answer channel.
        reply: oneshot::Sender<Result<u64, SpoolError>>,
        /// Its sequence number.
        seq: u64,
    },
    /// Not stored: the bound has no room for `wanted` more bytes.
    Full {
        /// The append's answer channel.
        reply: oneshot::Sender<Result<u64, SpoolError>>,
        /// What the record would have counted against the bound.
        wanted: u64,
    },
    /// A removal or parking.
    Done {
        /// Its answer channel.
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

impl Applied {
    /// The transaction committed: tells the request what became of it. `stored` is the
    /// bytes stored after the commit, for the `Full` answer.
    fn answer(self, stored: u64, max: u64) {
        match self {
            Applied::Appended { reply, seq } => {
                let _ = reply.send(Ok(seq));
            }
            Applied::Full { reply, wanted } => {
                let _ = reply.send(Err(SpoolError::Full {
                    stored,
                    max,
                    wanted,
                }));
            }
            Applied::Done { reply } => {
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// The transaction failed: nothing of it is stored.
    fn fail(self, error: &SpoolError) {
        match self {
            Applied::Appended { reply, .. } | Applied::Full { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Applied::Done { reply } => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// What a batch changed.
#[derive(Default)]
struct Change {
    /// Records appended.
    added: u64,
    /// Their bytes, as counted against the bound.
    added_bytes: u64,
    /// Records removed.
    removed: u64,
    /// Their bytes.
    removed_bytes: u64,
    /// Records moved to the parked table (their bytes still count).
    parked: u64,
}

/// Applies `batch` in one transaction and answers every write of it, with its result once
/// the transaction is committed or with the error if it is not; returns the next sequence
/// number.
fn commit_batch(shared: &Shared, batch: Vec<Write>, next_seq: u64) -> u64 {
    let requests = batch.len();
    let mut pending = batch.into_iter();
    let mut applied = Vec::with_capacity(requests);
    let committed = shared
        .db()
        .and_then(|db| apply(shared, &db, &mut pending, next_seq, &mut applied));
    shared.failed.store(committed.is_err(), Ordering::SeqCst);
    match committed {
        Ok(change) => {
            shared.records.fetch_add(change.added, Ordering::SeqCst);
            shared
                .records
                .fetch_sub(change.removed + change.parked, Ordering::SeqCst);
            shared.parked.fetch_add(change.parked, Ordering::SeqCst);
            shared.bytes.fetch_add(change.added_bytes, Ordering::SeqCst);
            shared
                .bytes
                .fetch_sub(change.removed_bytes, Ordering::SeqCst);
            shared.publish();
            if change.added > 0 {
                shared.appended.notify_one();
            }
            let stored = shared.bytes.load(Ordering::SeqCst);
            for write in applied {
                write.answer(stored, shared.max_bytes);
            }
            next_seq + change.added
        }
        Err(error) => {
            tracing::error!(%error, requests, "spool commit failed");
            for write in applied {
                write.fail(&error);
            }
            for write in pending {
                write.fail(&error);
            }
            next_seq
        }
    }
}

/// Writes the `writes` in one fsynced transaction: appends in order while they fit the bound,
/// numbered from `next_seq`, removals and parkings. Each write taken from `writes` goes to
/// `applied` with its answer; on an error, the writes not taken yet stay in `writes`.
fn apply(
    shared: &Shared,
    db: &Database,
    writes: &mut impl Iterator<Item = Write>,
    next_seq: u64,
    applied: &mut Vec<Applied>,
) -> Result<Change, SpoolError> {
    let stored = shared.bytes.load(Ordering::SeqCst);
    let mut change = Change::default();
    let txn = db.begin_write().map_err(SpoolError::storage)?;
    {
        let mut table = txn.open_table(RECORDS).map_err(SpoolError::storage)?;
        let mut parked = txn.open_table(PARKED).map_err(SpoolError::storage)?;
        for write in writes {
            match write {
                Write::Append { value, reply } => {
                    let size = stored_size(&value);
                    let after = stored + change.added_bytes - change.removed_bytes + size;
                    if after > shared.max_bytes {
                        applied.push(Applied::Full {
                            reply,
                            wanted: size,
                        });
                    } else {
                        let seq = next_seq + change.added;
                        applied.push(Applied::Appended { reply, seq });
                        table
                            .insert(seq, value.as_slice())
                            .map_err(SpoolError::storage)?;
                        change.added += 1;
                        change.added_bytes += size;
                    }
                }
                Write::Remove { seqs, reply } => {
                    applied.push(Applied::Done { reply });
                    for seq in seqs {
                        if let Some(value) = table.remove(seq).map_err(SpoolError::storage)? {
                            change.removed += 1;
                            change.removed_bytes += stored_size(value.value());
                        }
                    }
                }
                Write::Park { seq, reply } => {
                    applied.push(Applied::Done { reply });
                    let value = table.remove(seq).map_err(SpoolError::storage)?;
                    if let Some(value) = value {
                        parked
                            .insert(seq, value.value())
                            .map_err(SpoolError::storage)?;
                        change.parked += 1;
                    }
                }
            }
        }
    }
    // Durability::Immediate (redb's default): the commit returns once it is fsynced.
    txn.commit().map_err(SpoolError::storage)?;
    Ok(change)
}

#[cfg(test)]
pub(crate) mod tests {
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

    pub(crate) fn bodies(spooled: &[Spooled]) -> Vec<Vec<u8>> {
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
            batch.push(Write::Append { value, reply });
            answers.push(answer);
        }
        let (reply, removal) = oneshot::channel();
        batch.push(Write::Remove {
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

    /// A file backend whose writes and syncs fail, as on a full disk, while `fail` is set and
    /// `opening` is not.
    #[derive(Debug)]
    struct FaultyBackend {
        inner: redb::backends::FileBackend,
        fail: Arc<AtomicBool>,
        opening: Arc<AtomicBool>,
    }

    impl FaultyBackend {
        fn check(&self) -> std::io::Result<()> {
            if self.fail.load(Ordering::SeqCst) && !self.opening.load(Ordering::SeqCst) {
                Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ))
            } else {
                Ok(())
            }
        }
    }

    impl redb::StorageBackend for FaultyBackend {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
            self.inner.read(offset, len)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self, eventual: bool) -> std::io::Result<()> {
            self.check()?;
            self.inner.sync_data(eventual)
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.inner.write(offset, data)
        }
    }

    /// What the injected storage failure spares.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Failing {
        /// Every write fails, a reopen's recovery too (a device gone).
        Everything,
        /// Transactions fail but a reopen recovers, as on a full tmpfs where redb's repair
        /// rewrites pages the file already has.
        Commits,
    }

    /// A spool in `dir` whose storage fails while `fail` is set, as on a disk the spool
    /// itself filled: deleting its file makes room (clears `fail`).
    pub(crate) fn faulty_spool(
        dir: &Path,
        max_bytes: u64,
        metrics: SpoolMetrics,
        fail: Arc<AtomicBool>,
        failing: Failing,
    ) -> Spool {
        let path = dir.join(FILE_NAME);
        let opening = Arc::new(AtomicBool::new(false));
        let opener: Opener = Box::new(move || {
            if !path.exists() {
                fail.store(false, Ordering::SeqCst);
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            opening.store(failing == Failing::Commits, Ordering::SeqCst);
            let db = redb::Builder::new().create_with_backend(FaultyBackend {
                inner: redb::backends::FileBackend::new(file)?,
                fail: fail.clone(),
                opening: opening.clone(),
            });
            opening.store(false, Ordering::SeqCst);
            db
        });
        Spool::open_with(&settings(dir, max_bytes), metrics, opener).unwrap()
    }

    /// Polls `healthy` every 10 ms for up to 10 s.
    pub(crate) async fn wait_healthy(spool: &Spool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while spool.health().is_err() {
            assert!(
                Instant::now() < deadline,
                "the spool did not heal: {:?}",
                spool.health()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_spool_heals_after_a_full_disk_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let fail = Arc::new(AtomicBool::new(false));
        let metrics = SpoolMetrics::for_test();
        let spool = faulty_spool(
            dir.path(),
            1 << 20,
            metrics.clone(),
            fail.clone(),
            Failing::Everything,
        );
        spool.append(&record("1", b"before", true)).await.unwrap();

        fail.store(true, Ordering::SeqCst);
        let refused = spool.append(&record("1", b"lost", true)).await;
        assert!(
            matches!(refused, Err(SpoolError::Storage(_))),
            "{refused:?}"
        );
        assert!(spool.health().is_err());
        // Still failing: further appends are refused, not queued forever.
        let refused = spool.append(&record("1", b"lost too", true)).await;
        assert!(
            matches!(refused, Err(SpoolError::Storage(_))),
            "{refused:?}"
        );

        // The disk has room again: the same spool takes hooks, nothing committed is lost.
        fail.store(false, Ordering::SeqCst);
        wait_healthy(&spool).await;
        assert!(metrics.reopened_total.get() >= 1);
        spool.append(&record("1", b"after", true)).await.unwrap();
        let all = spool.oldest(10).await.unwrap();
        assert_eq!(bodies(&all), vec![b"before".to_vec(), b"after".to_vec()]);
        assert_eq!(spool.len(), 2);
        spool.remove(vec![all[0].seq]).await.unwrap();
        assert_eq!(spool.len(), 1);
    }

    #[tokio::test]
    async fn the_drain_window_is_bounded_in_bytes_but_holds_at_least_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let spool = open(dir.path(), 1 << 30);
        for n in 0..10u8 {
            spool.append(&record("1", &[n; 1000], true)).await.unwrap();
        }
        let one = spool.oldest(1).await.unwrap()[0].value.len() as u64;
        let none = BTreeSet::new();
        assert_eq!(
            spool
                .oldest_within(256, 3 * one, &none)
                .await
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            spool
                .oldest_within(256, 3 * one - 1, &none)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(spool.oldest_within(256, 1, &none).await.unwrap().len(), 1);
        assert_eq!(
            spool.oldest_within(4, u64::MAX, &none).await.unwrap().len(),
            4
        );
        // Skipped records do not count towards the limit.
        let skipped = spool
            .oldest_within(4, u64::MAX, &BTreeSet::from([0, 2]))
            .await
            .unwrap();
        let seqs: Vec<u64> = skipped.iter().map(|spooled| spooled.seq).collect();
        assert_eq!(seqs, vec![1, 3, 4, 5]);
    }

    /// A spool in `dir` holding three records, numbered 0, 1 and 2.
    async fn three_records(dir: &Path) -> Spool {
        let spool = open(dir, 1 << 30);
        for n in 0..3u8 {
            spool.append(&record("1", &[n; 1000], true)).await.unwrap();
        }
        spool
    }

    #[tokio::test]
    async fn a_spool_holding_only_forwarded_records_is_recreated_empty() {
        // A record not forwarded yet, or a parked one, keeps the file.
        let kept = tempfile::tempdir().unwrap();
        let spool = three_records(kept.path()).await;
        for park in [false, true] {
            if park {
                spool.park(2).await.unwrap();
            }
            let forwarded = BTreeSet::from([0, 1]);
            assert_eq!(spool.recreate_if_all_forwarded(forwarded).await, Ok(false));
        }
        assert_eq!((spool.len(), spool.parked()), (2, 1));

        let dir = tempfile::tempdir().unwrap();
        let spool = three_records(dir.path()).await;
        let forwarded = BTreeSet::from([0, 1, 2, 7]);
        assert_eq!(spool.recreate_if_all_forwarded(forwarded).await, Ok(true));
        assert_eq!((spool.len(), spool.bytes()), (0, 0));
        assert!(spool.health().is_ok());
        // The new file takes hooks, numbered after the old ones, and survives a reopen.
        assert_eq!(spool.append(&record("1", b"after", true)).await, Ok(3));
        spool.close();
        drop(spool);
        let spool = open(dir.path(), 1 << 30);
        let left = spool.oldest(10).await.unwrap();
        assert_eq!(bodies(&left), vec![b"after".to_vec()]);
    }

    #[tokio::test]
    async fn parked_records_stay_on_disk_and_are_queued_again_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = SpoolMetrics::for_test();
        let spool = Spool::open(&settings(dir.path(), 1 << 20), metrics.clone()).unwrap();
        for body in [&b"a"[..], b"b", b"c"] {
            spool.append(&record("1", body, true)).await.unwrap();
        }
        let bytes = spool.bytes();
        spool.park(0).await.unwrap();
        assert_eq!((spool.len(), spool.parked(), spool.bytes()), (2, 1, bytes));
        assert_eq!(metrics.parked_records.get(), 1);
        assert_eq!(
            bodies(&spool.oldest(10).await.unwrap()),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        spool.close();
        drop(spool);

        let metrics = SpoolMetrics::for_test();
        let spool = Spool::open(&settings(dir.path(), 1 << 20), metrics.clone()).unwrap();
        assert_eq!((spool.len(), spool.parked(), spool.bytes()), (3, 0, bytes));
        assert_eq!(metrics.parked_records.get(), 0);
        assert_eq!(
            bodies(&spool.oldest(10).await.unwrap()),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(spool.append(&record("1", b"d", true)).await, Ok(3));
    }

    #[test]
    fn a_second_open_of_the_same_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(dir.path(), 1 << 20);
        let second = Spool::open(&settings(dir.path(), 1 << 20), SpoolMetrics::for_test());
        assert!(matches!(second, Err(SpoolError::Storage(_))));
    }
}
