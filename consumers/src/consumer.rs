//! The consume loop: read records, project them into a batch, insert, then commit.
//!
//! A batch closes when it holds `batch_max_records` records or `batch_max_bytes` of bodies, or
//! `batch_max_wait` after its first record, whichever comes first; ClickHouse prefers a few
//! large inserts to many small ones.
//!
//! # No input stops the loop
//!
//! Every record becomes rows or a dead letter, and usually both: a record with Hookline's
//! headers and a UTF-8 body always gets its `raw_hooks` row (the event store that projections
//! are rebuilt from), and is dead-lettered as well when its typed rows cannot be made (a
//! model that does not fit, a panic caught in a projection) or when ClickHouse refuses them
//! (see [`crate::clickhouse::sink`]). A record without Hookline's headers or with a body that
//! is not text is only dead-lettered. Dead letters are bounded and retried until Kafka takes
//! them ([`crate::dead_letter`]), so neither a hostile payload nor a letter Kafka refuses can
//! make the consumers exit and meet the same record again after a restart.
//!
//! # Delivery guarantees
//!
//! Delivery is at least once; query results are exactly once.
//!
//! - Offsets are committed, synchronously, only after the whole batch is in ClickHouse (see
//!   [`crate::clickhouse::sink`]), and a dead-lettered record only after Kafka acknowledged its
//!   letter (letters are queued as the batch fills and all awaited before the commit). A crash
//!   at any point, `kill -9` included, means the records after the last commit are read and
//!   inserted again, never skipped.
//! - Inserting a record again is harmless: every table collapses repeats on a key from the
//!   hook itself (`raw_hooks` on its content hash, the typed tables on the entity, with row
//!   versions from the payload), so `SELECT … FINAL` shows each hook and each entity once.
//!
//! # Rebalances
//!
//! Replicas in one consumer group share the partitions (librdkafka's default eager
//! assignment: on every rebalance each member gives up all its partitions, then gets its new
//! share). librdkafka runs the rebalance inside `recv`, so a partition can be revoked while a
//! batch holding records of it is being filled. Then:
//!
//! - **The batch is still inserted whole.** Its rows are correct; the partition's new owner
//!   reads it again from the last commit and inserts the same rows, which the tables collapse.
//! - **The revoked partition's offset is not committed.** The loop forgets its position
//!   ([`crate::group::GroupContext::forget_revoked`]) before recording the next record and
//!   before committing, so a commit can neither fail for, nor move back, the offset of a
//!   partition another consumer now owns. A partition revoked and assigned back is read again
//!   from its committed offset, and only what is read after that is committed.
//! - **Nothing is flushed on revoke.** Flushing would mean waiting for ClickHouse inside the
//!   rebalance callback and holding up the whole group for as long as ClickHouse is slow or
//!   down; reading a batch again costs less and ends in the same rows.
//!
//! The loop does not poll Kafka while it inserts (and retries) a batch, so no rebalance
//! completes then: the group waits for this member to give up its partitions, and the commit
//! that follows the insert is made while it still owns them. Should ClickHouse stay down
//! longer than `max.poll.interval.ms` (5 minutes), librdkafka leaves the group; Kafka then
//! refuses the commit of the old group generation, the failure is logged, and the new owners
//! read the batch again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::record::RecordHeaders;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::clickhouse::sink::ClickHouseSink;
use crate::dead_letter::{DeadLetters, Letter, PendingLetters};
use crate::group::{GroupConsumer, Partition};
use crate::projection::{Added, Batch, HookMessage};
use crate::prometheus::ConsumerMetrics;

/// When a batch is flushed.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Records in a batch at most (HOOKLINE_BATCH_MAX_RECORDS).
    pub max_records: u64,
    /// Bytes of raw hooks in a batch at most (HOOKLINE_BATCH_MAX_BYTES).
    pub max_bytes: u64,
    /// Age of a batch's first record at which it is flushed (HOOKLINE_BATCH_MAX_WAIT_MS).
    pub max_wait: Duration,
}

pub struct Consumer {
    /// The group member reading the hook topics; shared with the lag watch.
    pub kafka: Arc<GroupConsumer>,
    /// Where batches are written.
    pub sink: ClickHouseSink,
    /// Where records no table can take go.
    pub dead_letters: DeadLetters,
    /// Records consumed and batch sizes.
    pub metrics: ConsumerMetrics,
    /// When a batch is flushed.
    pub limits: BatchLimits,
}

/// The offsets to commit after a batch: the next offset to read, per partition owned.
type Positions = BTreeMap<Partition, i64>;

impl Consumer {
    /// Consumes until `shutdown` is cancelled, then flushes and commits what it holds. A
    /// batch interrupted by the shutdown before ClickHouse or the dead-letter topic took it is
    /// not committed and is read again by whoever owns its partitions next.
    pub async fn run(&self, shutdown: CancellationToken) {
        loop {
            let mut batch = Batch::default();
            let mut positions = Positions::new();
            let mut letters = PendingLetters::default();
            let stopping = self
                .fill(&mut batch, &mut positions, &mut letters, &shutdown)
                .await;
            if !positions.is_empty() {
                if !batch.is_empty() {
                    let Ok(written) = self.sink.write(&batch, &shutdown).await else {
                        tracing::info!(
                            "stopped before the batch was written; it will be read again"
                        );
                        return;
                    };
                    for rejected in written.rejected {
                        let row = &batch.raw_hooks[rejected.record];
                        tracing::warn!(
                            topic = %row.topic,
                            partition = row.partition,
                            offset = row.offset,
                            raw_kept = rejected.raw_kept,
                            reason = %rejected.reason,
                            "ClickHouse refuses this record's rows; it goes to the dead-letter topic"
                        );
                        letters.push(Letter::of_raw_row(row, &rejected.reason));
                    }
                    self.metrics.batch_records.observe(batch.len() as f64);
                }
                let Ok(delivered) = letters.delivered(&self.dead_letters, &shutdown).await else {
                    tracing::info!(
                        "stopped before every dead letter was written; the batch will be read again"
                    );
                    return;
                };
                self.metrics.dead_letters_total.inc_by(delivered.letters);
                self.metrics
                    .dead_letter_pointers_total
                    .inc_by(delivered.pointers);
                // No rebalance completes during the insert (nothing polls), but one may have
                // run inside the last `recv`.
                self.kafka.context().forget_revoked(&mut positions);
                if let Err(error) = self.commit(&positions) {
                    // The partitions' next owner reads the batch again: a repeat, never a loss.
                    tracing::warn!(%error, "cannot commit offsets; the batch may be read again");
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Reads records into `batch` until a limit is reached; `true` when shutdown was asked.
    async fn fill(
        &self,
        batch: &mut Batch,
        positions: &mut Positions,
        letters: &mut PendingLetters,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut records = 0u64;
        let mut bytes = 0u64;
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            let received = tokio::select! {
                _ = shutdown.cancelled() => return true,
                received = tokio::time::timeout(wait, self.kafka.recv()) => received,
            };
            let message = match received {
                Err(_elapsed) => return false,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Kafka consumer error; continuing");
                    continue;
                }
                Ok(Ok(message)) => message,
            };
            // Positions of partitions revoked inside that `recv` are not ours to commit.
            self.kafka.context().forget_revoked(positions);
            deadline.get_or_insert_with(|| Instant::now() + self.limits.max_wait);
            records += 1;
            bytes += message.payload_len() as u64;
            self.metrics
                .records_consumed_total
                .with_label_values(&[message.topic()])
                .inc();
            self.take(&message, batch, letters);
            positions.insert(
                (message.topic().to_owned(), message.partition()),
                message.offset() + 1,
            );
            if records >= self.limits.max_records || bytes >= self.limits.max_bytes {
                return false;
            }
        }
    }

    /// Adds one record to the batch, and queues its dead letter when a table cannot take it.
    fn take(&self, message: &BorrowedMessage<'_>, batch: &mut Batch, letters: &mut PendingLetters) {
        let reason = match decode(message) {
            Err(error) => error.to_string(),
            Ok(hook) => match batch.add(&hook) {
                Ok(Added::Complete) => return,
                Ok(Added::RawOnly(error)) => format!("kept in raw_hooks only: {error}"),
                Err(error) => error.to_string(),
            },
        };
        let letter = Letter::of_message(message, &reason);
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason = %String::from_utf8_lossy(letter.reason().unwrap_or_default()),
            "record sent to the dead-letter topic"
        );
        self.dead_letters.queue(letter, letters);
    }

    fn commit(&self, positions: &Positions) -> Result<(), KafkaError> {
        if positions.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), next) in positions {
            list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        // A synchronous commit, so that a batch counts as done only once Kafka has recorded it.
        tokio::task::block_in_place(|| self.kafka.commit(&list, CommitMode::Sync))
    }
}

/// Reads a Kafka record in the Hookline record format.
pub(crate) fn decode(
    message: &BorrowedMessage<'_>,
) -> Result<HookMessage, hookline_schemas::record::RecordError> {
    let headers = RecordHeaders::from_pairs(
        message
            .headers()
            .into_iter()
            .flat_map(|headers| headers.iter())
            .map(|header| (header.key, header.value)),
    )?;
    Ok(HookMessage {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .unwrap_or_default(),
        headers,
        body: message.payload().unwrap_or_default().to_vec(),
    })
}
