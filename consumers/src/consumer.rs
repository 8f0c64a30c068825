//! The consume loop: read records, project them into a batch, insert, then commit.
//!
//! A batch closes when it holds `batch_max_records` records or `batch_max_bytes` of bodies, or
//! `batch_max_wait` after its first record, whichever comes first; ClickHouse prefers a few
//! large inserts to many small ones. Records that cannot be projected go to the dead-letter
//! topic and their partition keeps flowing.
//!
//! # Delivery guarantees
//!
//! Delivery is at least once; query results are exactly once.
//!
//! - Offsets are committed, synchronously, only after the whole batch is in ClickHouse (see
//!   [`crate::clickhouse::sink`]), and a dead-lettered record only after Kafka acknowledged its
//!   copy (copies are queued as the batch fills and all awaited before the commit). A crash
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
use crate::dead_letter::{DeadLetters, PendingCopies};
use crate::group::{GroupConsumer, Partition};
use crate::projection::{Batch, HookMessage};
use crate::prometheus::ConsumerMetrics;

/// When a batch is flushed.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_records: u64,
    pub max_bytes: u64,
    pub max_wait: Duration,
}

/// The consume loop could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("cannot write to the dead-letter topic: {0}; the record is not committed and will be read again")]
    DeadLetter(#[source] KafkaError),
}

pub struct Consumer {
    pub kafka: Arc<GroupConsumer>,
    pub sink: ClickHouseSink,
    pub dead_letters: DeadLetters,
    pub metrics: ConsumerMetrics,
    pub limits: BatchLimits,
}

/// The offsets to commit after a batch: the next offset to read, per partition owned.
type Positions = BTreeMap<Partition, i64>;

impl Consumer {
    /// Consumes until `shutdown` is cancelled, then flushes and commits what it holds.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ConsumeError> {
        loop {
            let mut batch = Batch::default();
            let mut positions = Positions::new();
            let mut copies = PendingCopies::default();
            let stopping = self
                .fill(&mut batch, &mut positions, &mut copies, &shutdown)
                .await?;
            if !positions.is_empty() {
                if !batch.is_empty() {
                    if self.sink.write(&batch, &shutdown).await.is_err() {
                        tracing::info!(
                            "stopped before the batch was written; it will be read again"
                        );
                        return Ok(());
                    }
                    self.metrics
                        .batch_records
                        .observe(batch.raw_hooks.len() as f64);
                }
                let dead_lettered = copies.len() as u64;
                copies
                    .acknowledged()
                    .await
                    .map_err(ConsumeError::DeadLetter)?;
                self.metrics.dead_letters_total.inc_by(dead_lettered);
                // No rebalance completes during the insert (nothing polls), but one may have
                // run inside the last `recv`.
                self.kafka.context().forget_revoked(&mut positions);
                if let Err(error) = self.commit(&positions) {
                    // The partitions' next owner reads the batch again: a repeat, never a loss.
                    tracing::warn!(%error, "cannot commit offsets; the batch may be read again");
                }
            }
            if stopping {
                return Ok(());
            }
        }
    }

    /// Reads records into `batch` until a limit is reached; `true` when shutdown was asked.
    async fn fill(
        &self,
        batch: &mut Batch,
        positions: &mut Positions,
        copies: &mut PendingCopies,
        shutdown: &CancellationToken,
    ) -> Result<bool, ConsumeError> {
        let mut records = 0u64;
        let mut bytes = 0u64;
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            let received = tokio::select! {
                _ = shutdown.cancelled() => return Ok(true),
                received = tokio::time::timeout(wait, self.kafka.recv()) => received,
            };
            let message = match received {
                Err(_elapsed) => return Ok(false),
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
            self.take(&message, batch, copies)?;
            positions.insert(
                (message.topic().to_owned(), message.partition()),
                message.offset() + 1,
            );
            if records >= self.limits.max_records || bytes >= self.limits.max_bytes {
                return Ok(false);
            }
        }
    }

    /// Adds one record to the batch, or sends it to the dead-letter topic.
    fn take(
        &self,
        message: &BorrowedMessage<'_>,
        batch: &mut Batch,
        copies: &mut PendingCopies,
    ) -> Result<(), ConsumeError> {
        let projected = decode(message)
            .map_err(|error| error.to_string())
            .and_then(|hook| batch.add(&hook).map_err(|error| error.to_string()));
        if let Err(reason) = projected {
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                %reason,
                "record sent to the dead-letter topic"
            );
            let copy = self
                .dead_letters
                .queue(message, &reason)
                .map_err(ConsumeError::DeadLetter)?;
            copies.push(copy);
        }
        Ok(())
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
fn decode(
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
