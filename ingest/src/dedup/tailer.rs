//! The tailer: keeps the deduplication window current from the deduplication log in Kafka.
//!
//! Every replica writes the ids of each hook it made durable to `{prefix}dedup`
//! ([`DedupEntry`], written by the Kafka sink after the hook's acknowledgement). A librdkafka
//! consumer outside any consumer group (its partitions are assigned, not subscribed: nothing
//! is committed and every replica reads every partition) reads all partitions of that log:
//! about 150 bytes per hook, where the hook topics would have meant every body.
//!
//! - **Rebuild.** At start it reads each partition up to its high watermark as it was at
//!   start, remembering every entry's ids whose `received_at_ms` is within the window; the
//!   `dedup` readiness check stays failing until every partition is read that far, or until
//!   the rebuild timeout (then the rebuild goes on behind a ready replica).
//! - **Where the rebuild starts.** At the offset a timestamp lookup (`offsets_for_times`)
//!   gives for the start of the window, so only the window is read, not the log's whole
//!   retention. The lookup goes by the
//!   records' Kafka timestamp, which the producer sets after ingest received the hook, so it
//!   never skips a record received within the window. It is not trusted blindly (the local
//!   broker answers it unreliably): the rebuild starts one record earlier, and unless that
//!   record is older than the window, the partition is read from its low watermark instead.
//!   A failed lookup also means reading from the low watermark.
//! - **Tail.** Then it keeps reading. Kafka answers a waiting fetch as soon as a record
//!   arrives, so another replica's record reaches this window about one broker round trip
//!   after its acknowledgement; a broker that holds every fetch for `fetch.wait.max.ms` (the
//!   local Tansu) adds up to `HOOKLINE_DEDUP_FETCH_WAIT_MS` ([`TailerSettings::fetch_wait`]).
//! - Partitions added later are picked up within `REFRESH_INTERVAL`, from their beginning.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_runtime::admin::Readiness;
use hookline_runtime::kafka::KafkaClient;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::record::DedupEntry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{Dedup, HookIds};
use crate::clock::now_ms;

/// The name of the readiness check that holds until the window is rebuilt.
pub const READINESS_CHECK: &str = "dedup";
/// The group id librdkafka requires; see [`Tail::start`].
const GROUP_ID: &str = "hookline-ingest-dedup";
/// How long one poll waits for records; also how quickly shutdown is noticed.
const POLL: Duration = Duration::from_millis(100);
/// How long to wait before trying to start reading again after a failure.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Records read between two updates of the window (one lock each).
const BATCH: usize = 512;
/// How often new partitions are looked for.
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Timeout of metadata and watermark requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between two logged consumer errors (librdkafka repeats them every poll).
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What the tailer reads.
#[derive(Debug, Clone)]
pub struct TailerSettings {
    /// The brokers and the connection's security settings.
    pub kafka: KafkaClient,
    /// The deduplication log (`{prefix}dedup`).
    pub topic: String,
    /// The window's length in milliseconds.
    pub span_ms: i64,
    /// How long the readiness check waits for the rebuild at most.
    pub rebuild_timeout: Duration,
    /// How long the broker may hold a fetch for new records (librdkafka `fetch.wait.max.ms`);
    /// see `HOOKLINE_DEDUP_FETCH_WAIT_MS`.
    pub fetch_wait: Duration,
}

/// Starts the tailer on a thread of its own; it stops when `shutdown` is cancelled. The
/// [`READINESS_CHECK`] fails from now until the window is rebuilt.
pub fn spawn(
    settings: TailerSettings,
    dedup: Arc<Dedup>,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    readiness.set_not_ready(READINESS_CHECK, "rebuilding the deduplication window");
    std::thread::Builder::new()
        .name("dedup-tailer".to_owned())
        .spawn(move || run(&settings, &dedup, &readiness, &shutdown))
}

fn run(
    settings: &TailerSettings,
    dedup: &Dedup,
    readiness: &Readiness,
    shutdown: &CancellationToken,
) {
    let mut rebuild = Rebuild {
        started: Instant::now(),
        timeout: settings.rebuild_timeout,
        ready: false,
    };
    let mut tail = loop {
        if shutdown.is_cancelled() {
            return;
        }
        match Tail::start(settings) {
            Ok(tail) => break tail,
            Err(error) => {
                tracing::warn!(%error, "cannot start reading the topics to rebuild the deduplication window; retrying");
                if !rebuild.ready {
                    readiness.set_not_ready(
                        READINESS_CHECK,
                        format!("cannot read the topics to rebuild the window: {error}"),
                    );
                }
                rebuild.give_up_waiting(readiness);
                // In steps of `POLL`, so that shutdown is noticed as quickly as while tailing.
                for _ in 0..(RETRY_INTERVAL.as_millis() / POLL.as_millis()) {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
    };
    let mut rebuilt = false;
    let mut records: u64 = 0;
    let mut refreshed = Instant::now();
    let mut last_error: Option<Instant> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while !shutdown.is_cancelled() {
        while batch.len() < BATCH {
            let wait = if batch.is_empty() {
                POLL
            } else {
                Duration::ZERO
            };
            match tail.consumer.poll(wait) {
                Some(Ok(message)) => {
                    records += 1;
                    if !confirm_lookup(&tail.consumer, &mut tail.checks, &message) {
                        continue;
                    }
                    progress(&mut tail.pending, &message);
                    batch.extend(ids_of(&message));
                }
                Some(Err(error)) => {
                    if last_error.is_none_or(|at| at.elapsed() >= ERROR_LOG_INTERVAL) {
                        tracing::warn!(%error, "deduplication tailer cannot read Kafka");
                        last_error = Some(Instant::now());
                    }
                    break;
                }
                None => break,
            }
        }
        if !batch.is_empty() {
            dedup.remember(&batch, now_ms());
            batch.clear();
        }
        if !rebuilt && tail.pending.is_empty() {
            rebuilt = true;
            rebuild.ready = true;
            readiness.set_ready(READINESS_CHECK);
            tracing::info!(
                records,
                seconds = rebuild.started.elapsed().as_secs_f64(),
                "deduplication window rebuilt from Kafka; tailing"
            );
        } else if !rebuilt {
            rebuild.give_up_waiting(readiness);
        }
        if refreshed.elapsed() >= REFRESH_INTERVAL {
            refreshed = Instant::now();
            if let Err(error) = tail.assign_new_partitions(settings) {
                tracing::warn!(%error, "cannot look for new partitions to tail");
            }
        }
    }
}

/// How long readiness waits for the rebuild.
struct Rebuild {
    /// When the rebuild started.
    started: Instant,
    /// How long readiness waits for it (HOOKLINE_DEDUP_REBUILD_TIMEOUT_SECS).
    timeout: Duration,
    /// Whether the readiness check was released (rebuilt, or waited long enough).
    ready: bool,
}

impl Rebuild {
    /// Past the timeout, reports ready although the rebuild goes on: a replica that cannot
    /// read Kafka (an outage during a restart) still takes hooks (into the spool), and
    /// duplicates it misses meanwhile are collapsed by the consumers.
    fn give_up_waiting(&mut self, readiness: &Readiness) {
        if !self.ready && self.started.elapsed() >= self.timeout {
            self.ready = true;
            readiness.set_ready(READINESS_CHECK);
            tracing::warn!(
                seconds = self.timeout.as_secs(),
                "deduplication window not rebuilt in time; ready anyway, still rebuilding"
            );
        }
    }
}

/// The consumer and the rebuild's progress.
struct Tail {
    /// Reads the deduplication log, outside any consumer group.
    consumer: BaseConsumer,
    /// Partitions tailed.
    assigned: HashSet<(String, i32)>,
    /// Partitions the rebuild has not read to the end yet: the offset it must reach.
    pending: HashMap<(String, i32), i64>,
    /// Partitions whose timestamp lookup is still to be checked by their first record.
    checks: HashMap<(String, i32), LookupCheck>,
}

/// What the first record read from a partition must be to confirm its timestamp lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LookupCheck {
    /// The record just before the offset the lookup gave…
    offset: i64,
    /// …must have a timestamp before this (the start of the window)…
    before_ms: i64,
    /// …or the partition is read again from here (its low watermark).
    low: i64,
}

/// Where the rebuild of a partition starts, given its watermarks and the offset a timestamp
/// lookup gave (if any): the record before that offset, to be checked, or the low watermark.
fn rebuild_start(low: i64, high: i64, found: Option<Offset>) -> (i64, bool) {
    let found = match found {
        Some(Offset::Offset(offset)) => Some(offset),
        // No record at or after the timestamp.
        Some(Offset::End) => Some(high),
        _ => None,
    };
    match found.filter(|offset| *offset > low && *offset <= high) {
        Some(offset) => (offset - 1, true),
        None => (low, false),
    }
}

impl Tail {
    fn start(settings: &TailerSettings) -> KafkaResult<Self> {
        let consumer: BaseConsumer = settings
            .kafka
            .config()
            .set("client.id", "hookline-ingest-dedup")
            // librdkafka's assign() needs a group id, but partitions are assigned, never
            // subscribed: no replica joins this group, and nothing is ever committed.
            .set("group.id", GROUP_ID)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "fetch.wait.max.ms",
                settings.fetch_wait.as_millis().to_string(),
            )
            .create()?;
        let mut tail = Self {
            consumer,
            assigned: HashSet::new(),
            pending: HashMap::new(),
            checks: HashMap::new(),
        };
        let window_start = now_ms().saturating_sub(settings.span_ms);
        let mut watermarks = Vec::new();
        let mut lookup = TopicPartitionList::new();
        for (topic, partition) in tail.partitions(settings)? {
            let (low, high) = tail
                .consumer
                .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)?;
            lookup.add_partition_offset(&topic, partition, Offset::Offset(window_start))?;
            watermarks.push((topic, partition, low, high));
        }
        let found = tail
            .consumer
            .offsets_for_times(lookup, REQUEST_TIMEOUT)
            .inspect_err(|error| {
                tracing::warn!(%error, "timestamp lookup failed; rebuilding from the low watermarks")
            })
            .ok();
        let mut assignment = TopicPartitionList::new();
        for (topic, partition, low, high) in watermarks {
            let hint = found.as_ref().and_then(|list| {
                let element = list.find_partition(&topic, partition)?;
                element.error().ok().map(|()| element.offset())
            });
            let (start, checked) = rebuild_start(low, high, hint);
            assignment.add_partition_offset(&topic, partition, Offset::Offset(start))?;
            let key = (topic, partition);
            if checked {
                let check = LookupCheck {
                    offset: start,
                    before_ms: window_start,
                    low,
                };
                tail.checks.insert(key.clone(), check);
            }
            if high > start {
                tail.pending.insert(key.clone(), high);
            }
            tail.assigned.insert(key);
        }
        tail.consumer.assign(&assignment)?;
        tracing::info!(
            partitions = tail.assigned.len(),
            to_read = tail.pending.len(),
            "rebuilding the deduplication window from Kafka"
        );
        Ok(tail)
    }

    /// Every partition of the tailed topics, as the brokers know them now.
    fn partitions(&self, settings: &TailerSettings) -> KafkaResult<Vec<(String, i32)>> {
        let metadata = self.consumer.fetch_metadata(None, REQUEST_TIMEOUT)?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|topic| topic.name() == settings.topic)
            .flat_map(|topic| {
                topic
                    .partitions()
                    .iter()
                    .map(|p| (topic.name().to_owned(), p.id()))
            })
            .collect())
    }

    fn assign_new_partitions(&mut self, settings: &TailerSettings) -> KafkaResult<()> {
        let mut added = TopicPartitionList::new();
        for partition in self.partitions(settings)? {
            if !self.assigned.contains(&partition) {
                added.add_partition_offset(&partition.0, partition.1, Offset::Beginning)?;
                self.assigned.insert(partition);
            }
        }
        if added.count() > 0 {
            tracing::info!(partitions = added.count(), "tailing new partitions");
            self.consumer.incremental_assign(&added)?;
        }
        Ok(())
    }
}

/// Checks a partition's timestamp lookup on its first record; when it does not hold, reads
/// the partition again from its low watermark and returns false (drop this record).
fn confirm_lookup(
    consumer: &BaseConsumer,
    checks: &mut HashMap<(String, i32), LookupCheck>,
    message: &BorrowedMessage<'_>,
) -> bool {
    if checks.is_empty() {
        return true;
    }
    let (topic, partition) = (message.topic(), message.partition());
    let Some(check) = checks.remove(&(topic.to_owned(), partition)) else {
        return true;
    };
    let older = message
        .timestamp()
        .to_millis()
        .is_some_and(|at| at < check.before_ms);
    if message.offset() == check.offset && older {
        return true;
    }
    tracing::warn!(
        topic,
        partition,
        "timestamp lookup skipped records of the window; reading the partition from its low watermark"
    );
    if let Err(error) = consumer.seek(topic, partition, Offset::Offset(check.low), REQUEST_TIMEOUT)
    {
        tracing::warn!(%error, topic, partition, "cannot seek back; the window may miss ids");
        return true;
    }
    false
}

/// Marks a partition rebuilt once the record before its end at start has been read.
fn progress(pending: &mut HashMap<(String, i32), i64>, message: &BorrowedMessage<'_>) {
    if pending.is_empty() {
        return;
    }
    let key = (message.topic().to_owned(), message.partition());
    if pending
        .get(&key)
        .is_some_and(|end| message.offset() + 1 >= *end)
    {
        pending.remove(&key);
    }
}

/// The ids and received-at time of every entry in a deduplication log record; lines that are
/// not entries are skipped.
fn ids_of<'a>(message: &'a BorrowedMessage<'_>) -> impl Iterator<Item = (HookIds, i64)> + 'a {
    DedupEntry::decode_lines(message.payload().unwrap_or_default()).map(|entry| {
        let ids = HookIds::of(&entry.event_id, entry.delivery_key.as_deref());
        (ids, entry.received_at_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebuild_starts_before_the_looked_up_offset_or_at_the_low_watermark() {
        // The record before the lookup's answer is read first, to check it.
        assert_eq!(rebuild_start(10, 50, Some(Offset::Offset(30))), (29, true));
        // Nothing at or after the timestamp: the last record is checked.
        assert_eq!(rebuild_start(10, 50, Some(Offset::End)), (49, true));
        // The whole partition is in the window, or the answer makes no sense, or none came.
        for found in [
            Some(Offset::Offset(10)),
            Some(Offset::Offset(5)),
            Some(Offset::Offset(51)),
            Some(Offset::Invalid),
            None,
        ] {
            assert_eq!(rebuild_start(10, 50, found), (10, false), "{found:?}");
        }
        // An empty partition.
        assert_eq!(rebuild_start(7, 7, Some(Offset::End)), (7, false));
    }
}
