//! Where a rebuild reads hooks from: `raw_hooks` in pages, and optionally the hook topics.
//!
//! `raw_hooks` is read in its sorting-key order, one page of [`PAGE_RECORDS`] rows at a time,
//! each page starting after the last key of the one before (keyset pagination): every page is
//! a range read of the primary index, however large the table, and a page is never skipped or
//! read twice while rows are added elsewhere in the table. Copies of a hook that ClickHouse
//! has not merged yet are read as often as they are stored; the typed tables collapse them,
//! so the rows are the same as if they had been merged.

use std::time::Duration;

use clickhouse::{Client, Row};
use hookline_schemas::record::RecordHeaders;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::clickhouse::bounded;
use crate::projection::HookMessage;

/// Rows of `raw_hooks` per page, and records per batch written to the tables.
pub const PAGE_RECORDS: u64 = 5_000;

/// A `raw_hooks` row with what [`crate::projection::Batch::add`] needs to project it again
/// exactly as the consumers did first.
#[derive(Debug, Row, Deserialize)]
struct StoredHook {
    family: String,
    project_key: String,
    event_id: String,
    event_type: String,
    delivery_key: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    received_at: OffsetDateTime,
    gitlab_instance: String,
    source: String,
    gitlab_version: String,
    topic: String,
    partition: u32,
    offset: u64,
    body: String,
}

impl StoredHook {
    /// The record the consumers read, rebuilt: `raw_hooks` keeps every header of the record
    /// format (an absent optional header as the empty string, which every projection reads as
    /// absent too).
    fn into_message(self) -> HookMessage {
        let optional = |value: String| Some(value).filter(|v| !v.is_empty());
        let received_at_ms =
            i64::try_from(self.received_at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
        HookMessage {
            topic: self.topic,
            partition: i32::try_from(self.partition).unwrap_or_default(),
            offset: i64::try_from(self.offset).unwrap_or_default(),
            key: self.project_key,
            headers: RecordHeaders {
                event_type: self.event_type,
                event_id: self.event_id,
                delivery_key: optional(self.delivery_key),
                received_at_ms,
                gitlab_instance: optional(self.gitlab_instance),
                source: optional(self.source),
                gitlab_version: optional(self.gitlab_version),
            },
            body: self.body.into_bytes(),
        }
    }
}

/// Reads `raw_hooks` page by page, optionally only the rows inserted since a time.
pub struct RawHooks {
    /// The database holding `raw_hooks`.
    client: Client,
    /// How long one page's query may take.
    timeout: Duration,
    /// Only rows whose `inserted_at` is at least this (ms since the epoch), for the catch-up
    /// after a swap; `None` reads everything.
    inserted_since_ms: Option<i64>,
    /// The sorting key of the last row read: the next page starts after it.
    after: Option<(String, String, String)>,
}

impl RawHooks {
    pub fn new(client: Client, timeout: Duration, inserted_since_ms: Option<i64>) -> Self {
        Self {
            client,
            timeout,
            inserted_since_ms,
            after: None,
        }
    }

    /// How many rows the read will meet, for progress (unmerged copies included).
    pub async fn count(&self) -> clickhouse::error::Result<u64> {
        let (filter, since) = self.since_filter();
        let query = format!("SELECT count() FROM raw_hooks WHERE {filter}");
        bounded(
            self.timeout,
            self.client.query(&query).bind(since).fetch_one::<u64>(),
        )
        .await
    }

    /// The next page, empty once every row was read.
    pub async fn next_page(&mut self) -> clickhouse::error::Result<Vec<HookMessage>> {
        let (filter, since) = self.since_filter();
        // The expanded comparison, not a tuple one, so that ClickHouse's index analysis turns
        // it into a range of the primary key.
        let after = match self.after {
            Some(_) => {
                "(family > ? OR (family = ? AND (project_key > ? OR (project_key = ? AND event_id > ?))))"
            }
            None => "1",
        };
        let sql = format!(
            "SELECT ?fields FROM raw_hooks WHERE {filter} AND {after} \
             ORDER BY family, project_key, event_id LIMIT {PAGE_RECORDS}"
        );
        let mut query = self.client.query(&sql).bind(since);
        if let Some((family, project_key, event_id)) = &self.after {
            query = query
                .bind(family)
                .bind(family)
                .bind(project_key)
                .bind(project_key)
                .bind(event_id);
        }
        let rows: Vec<StoredHook> = bounded(self.timeout, query.fetch_all()).await?;
        if let Some(last) = rows.last() {
            self.after = Some((
                last.family.clone(),
                last.project_key.clone(),
                last.event_id.clone(),
            ));
        }
        Ok(rows.into_iter().map(StoredHook::into_message).collect())
    }

    /// The `inserted_at` condition and its bound value (the epoch when every row is read).
    fn since_filter(&self) -> (&'static str, i64) {
        (
            "inserted_at >= fromUnixTimestamp64Milli(?, 'UTC')",
            self.inserted_since_ms.unwrap_or(0),
        )
    }
}

/// Why the hook topics could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("cannot read the hook topics from Kafka: {0}; check HOOKLINE_KAFKA_BROKERS and the topic prefix")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Every record the hook topics hold now, from each partition's earliest offset to the end it
/// had when the reader was opened (records written later are the consumers' to project).
pub struct TopicRecords {
    /// A consumer outside any group, assigned every partition.
    consumer: StreamConsumer,
    /// Per partition still to finish: the offset at which it ends.
    remaining: std::collections::BTreeMap<(String, i32), i64>,
    /// How many records the partitions held when opened, for progress.
    pub total: u64,
}

impl TopicRecords {
    /// Opens the topics; those that do not exist are skipped.
    pub fn open(
        kafka: &hookline_runtime::kafka::KafkaClient,
        topics: &[String],
        timeout: Duration,
    ) -> Result<Self, TopicsError> {
        let consumer: StreamConsumer = kafka
            .config()
            .set("group.id", "hookline-reproject")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("client.id", "hookline-reproject")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        let mut remaining = std::collections::BTreeMap::new();
        let mut total = 0u64;
        for topic in topics {
            let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
                if high > low {
                    assignment.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
                    remaining.insert((topic.clone(), partition.id()), high);
                    total += u64::try_from(high - low).unwrap_or_default();
                }
            }
        }
        consumer.assign(&assignment)?;
        Ok(Self {
            consumer,
            remaining,
            total,
        })
    }

    /// Up to `max` records, empty once every partition reached its end. Records that are not in
    /// Hookline's format are skipped (the consumers dead-lettered them).
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<HookMessage>, TopicsError> {
        let mut batch = Vec::new();
        while !self.remaining.is_empty() && batch.len() < max {
            let message = self.consumer.recv().await?;
            let key = (message.topic().to_owned(), message.partition());
            let Some(&end) = self.remaining.get(&key) else {
                continue;
            };
            if message.offset() < end {
                if let Ok(hook) = crate::consumer::decode(&message) {
                    batch.push(hook);
                }
            }
            if message.offset() + 1 >= end {
                self.remaining.remove(&key);
            }
        }
        Ok(batch)
    }
}
