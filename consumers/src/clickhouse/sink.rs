//! Inserting a batch into every table: retried while ClickHouse is away, split when it refuses.
//!
//! A batch is inserted table by table. Offsets are committed only after [`ClickHouseSink::write`]
//! returns, so a batch is never skipped, and a crash at any point means redelivery, never loss;
//! tables that had already taken rows receive them again, which their engines collapse.
//!
//! **Two kinds of failure.** ClickHouse may *not answer* (down, unreachable, hung: every
//! request has connect, send and receive timeouts, see [`Timeouts`]), or it may *refuse* the
//! insert with an error of its own (a row it cannot store, more partitions in one insert than
//! `max_partitions_per_insert_block` allows, but also memory pressure or a full disk). When it
//! does not answer, the whole batch is retried with exponential backoff for as long as it
//! takes, and `/readyz` says so (`clickhouse_inserts`).
//!
//! When it refuses, the batch is split in halves, recursively, and each half inserted: a batch
//! refused for its size or its partition count goes in piece by piece. A single record still
//! refused is tried [`REFUSALS_BEFORE_ISOLATING`] times; then, if ClickHouse takes the
//! record's `raw_hooks` row alone, its typed rows are what ClickHouse refuses: the raw row is
//! kept and the record is dead-lettered ([`Rejected`]). If even its raw row is refused, the
//! record is dead-lettered without rows only when ClickHouse took other rows of this attempt;
//! otherwise nothing shows that ClickHouse works at all (a full disk refuses everything), and
//! the batch is retried as for an outage. So a refusal that hits everything is an outage,
//! never a reason to dead-letter a batch.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};
use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;

use crate::projection::{Batch, TableWriter};
use crate::prometheus::ConsumerMetrics;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Tries of a single refused record before it is isolated (see the module documentation).
pub const REFUSALS_BEFORE_ISOLATING: u32 = 3;

/// The readiness check that fails while batches cannot be inserted.
pub const READINESS_CHECK: &str = "clickhouse_inserts";

pub use hookline_runtime::clickhouse::Timeouts;

/// Which of a batch's tables a sink writes, and under which names.
#[derive(Debug, Clone, Default)]
pub enum Targets {
    /// Every table, under its own name: what the consumers do.
    #[default]
    All,
    /// Only these tables, each under its name plus `suffix`: a rebuild writing shadow tables
    /// (`suffix` non-empty) or catching up in the rebuilt tables (empty).
    Only {
        tables: Vec<&'static str>,
        suffix: &'static str,
    },
}

impl Targets {
    /// The table `table`'s rows go to, `None` when they go nowhere.
    fn name(&self, table: &'static str) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::All => Some(table.into()),
            Self::Only { tables, suffix } => tables
                .contains(&table)
                .then(|| format!("{table}{suffix}").into()),
        }
    }
}

/// Writes batches to ClickHouse.
pub struct ClickHouseSink {
    /// The connection to the database holding the tables.
    client: Client,
    /// Which tables it writes: all of them, or a rebuild's.
    targets: Targets,
    /// How long an insert may take before ClickHouse counts as down.
    timeouts: Timeouts,
    /// Rows written, errors and insert times.
    metrics: ConsumerMetrics,
    /// Told whether the last insert reached ClickHouse.
    readiness: Readiness,
}

/// The batch was not written because the service is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("shutting down before ClickHouse took the batch; it will be consumed again")]
pub struct Interrupted;

/// A record ClickHouse refused, found by splitting its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The record's position in the batch (its `raw_hooks` row is `batch.raw_hooks[record]`).
    pub record: usize,
    /// Whether its `raw_hooks` row was inserted (only its typed rows were refused).
    pub raw_kept: bool,
    /// ClickHouse's answer.
    pub reason: String,
}

/// What became of a batch: inserted, but for the records listed.
#[derive(Debug, Default)]
pub struct Written {
    /// Records whose rows ClickHouse refused, to be dead-lettered.
    pub rejected: Vec<Rejected>,
}

/// Why an insert did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// ClickHouse answered with an error.
    #[error("ClickHouse refused the insert into {table}: {source}")]
    Refused {
        table: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
    /// No answer in time, or no connection.
    #[error("ClickHouse did not take the insert into {table}: {source}")]
    NoAnswer {
        table: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
}

impl InsertError {
    fn of(table: &'static str, source: clickhouse::error::Error) -> Self {
        match source {
            // An error ClickHouse itself reported. A schema mismatch found by the client's
            // validation is a deployment fault, not a record's: it counts as no answer.
            clickhouse::error::Error::BadResponse(_) => Self::Refused { table, source },
            source => Self::NoAnswer { table, source },
        }
    }
}

impl ClickHouseSink {
    /// `readiness` gets the [`READINESS_CHECK`] check: not ready while inserts fail.
    pub fn new(
        client: Client,
        timeouts: Timeouts,
        metrics: ConsumerMetrics,
        readiness: Readiness,
    ) -> Self {
        readiness.set_ready(READINESS_CHECK);
        Self {
            client,
            targets: Targets::All,
            timeouts,
            metrics,
            readiness,
        }
    }

    /// The same sink, writing only `targets`.
    pub fn with_targets(self, targets: Targets) -> Self {
        Self { targets, ..self }
    }

    /// Inserts the batch, retrying until ClickHouse has every row it will take, or until
    /// `shutdown` is cancelled. The records it refuses are returned, to be dead-lettered.
    pub async fn write(
        &self,
        batch: &Batch,
        shutdown: &CancellationToken,
    ) -> Result<Written, Interrupted> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            let mut attempt = Attempt::default();
            let result = tokio::select! {
                result = self.attempt(batch, &mut attempt) => result,
                () = shutdown.cancelled() => return Err(Interrupted),
            };
            match result {
                Ok(()) => {
                    self.metrics
                        .insert_seconds
                        .observe(started.elapsed().as_secs_f64());
                    self.metrics
                        .clickhouse_rejected_records_total
                        .inc_by(attempt.written.rejected.len() as u64);
                    self.readiness.set_ready(READINESS_CHECK);
                    return Ok(attempt.written);
                }
                Err(error) => {
                    self.metrics.clickhouse_errors_total.inc();
                    self.readiness
                        .set_not_ready(READINESS_CHECK, error.to_string());
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "ClickHouse insert failed; retrying the batch");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return Err(Interrupted),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One try of the whole batch: every record ClickHouse takes goes in, then the records it
    /// refused alone are isolated, once the others have shown whether ClickHouse works.
    async fn attempt(&self, batch: &Batch, attempt: &mut Attempt) -> Result<(), InsertError> {
        self.insert_records(batch, 0..batch.len(), attempt).await?;
        for (record, error) in std::mem::take(&mut attempt.refused) {
            self.isolate(batch, record, error, attempt).await?;
        }
        Ok(())
    }

    /// Inserts the rows of `records`, halving on refusal; a single record refused is noted
    /// in `attempt.refused` (see the module documentation).
    fn insert_records<'a>(
        &'a self,
        batch: &'a Batch,
        records: std::ops::Range<usize>,
        attempt: &'a mut Attempt,
    ) -> Pin<Box<dyn Future<Output = Result<(), InsertError>> + 'a>> {
        Box::pin(async move {
            let error = match batch.records(records.clone()).write_to(self).await {
                Ok(()) => {
                    attempt.inserted_any = true;
                    return Ok(());
                }
                Err(error @ InsertError::NoAnswer { .. }) => return Err(error),
                Err(refused) => refused,
            };
            if records.len() > 1 {
                let middle = records.start + records.len() / 2;
                tracing::info!(records = records.len(), %error, "ClickHouse refused a batch; inserting it in halves");
                self.insert_records(batch, records.start..middle, attempt)
                    .await?;
                return self
                    .insert_records(batch, middle..records.end, attempt)
                    .await;
            }
            attempt.refused.push((records.start, error));
            Ok(())
        })
    }

    /// One record ClickHouse refused: tries it again, then keeps what ClickHouse takes of it.
    async fn isolate(
        &self,
        batch: &Batch,
        record: usize,
        mut error: InsertError,
        attempt: &mut Attempt,
    ) -> Result<(), InsertError> {
        let rows = batch.records(record..record + 1);
        for retry in 1..REFUSALS_BEFORE_ISOLATING {
            tokio::time::sleep(FIRST_BACKOFF * retry).await;
            match rows.write_to(self).await {
                Ok(()) => {
                    attempt.inserted_any = true;
                    return Ok(());
                }
                Err(again @ InsertError::NoAnswer { .. }) => return Err(again),
                Err(refused) => error = refused,
            }
        }
        let reason = error.to_string();
        let raw_kept = match rows.raw_only().write_to(self).await {
            Ok(()) if rows.len() > rows.raw_hooks.len() => true,
            // The record has nothing but its raw row, and ClickHouse took it this time.
            Ok(()) => {
                attempt.inserted_any = true;
                return Ok(());
            }
            Err(again @ InsertError::NoAnswer { .. }) => return Err(again),
            // ClickHouse takes other rows but none of this record's.
            Err(_) if attempt.inserted_any => false,
            // Nothing shows that ClickHouse takes anything: an outage, not this record.
            Err(refused) => return Err(refused),
        };
        attempt.inserted_any |= raw_kept;
        attempt.written.rejected.push(Rejected {
            record,
            raw_kept,
            reason,
        });
        Ok(())
    }
}

/// What one try of a whole batch has done so far.
#[derive(Default)]
struct Attempt {
    /// What this try has to report so far (the records ClickHouse refused).
    written: Written,
    /// Whether ClickHouse took any insert in this try: proof that it works at all.
    inserted_any: bool,
    /// Single records ClickHouse refused, to isolate once the rest is in.
    refused: Vec<(usize, InsertError)>,
}

impl TableWriter for ClickHouseSink {
    type Error = InsertError;

    async fn write<T>(&self, table: &'static str, rows: &[T]) -> Result<(), InsertError>
    where
        T: RowOwned + RowWrite,
    {
        let Some(target) = self.targets.name(table).filter(|_| !rows.is_empty()) else {
            return Ok(());
        };
        let no_answer = |source| InsertError::of(table, source);
        // Starting an insert fetches the table's column types: bounded like the rows' send.
        let insert = tokio::time::timeout(self.timeouts.send, self.client.insert::<T>(&target))
            .await
            .map_err(|_| no_answer(clickhouse::error::Error::TimedOut))?
            .map_err(no_answer)?;
        let mut insert =
            insert.with_timeouts(Some(self.timeouts.send), Some(self.timeouts.receive));
        for row in rows {
            insert.write(row).await.map_err(no_answer)?;
        }
        insert.end().await.map_err(no_answer)?;
        self.metrics
            .rows_written_total
            .with_label_values(&[table])
            .inc_by(rows.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_writes_only_its_tables_under_their_shadow_names() {
        assert_eq!(Targets::All.name("jobs").as_deref(), Some("jobs"));
        let shadows = Targets::Only {
            tables: vec!["jobs"],
            suffix: "_reproject",
        };
        assert_eq!(shadows.name("jobs").as_deref(), Some("jobs_reproject"));
        assert_eq!(shadows.name("raw_hooks"), None);
        assert_eq!(shadows.name("pipelines"), None);
    }
}
