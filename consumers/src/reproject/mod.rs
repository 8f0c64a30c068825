//! `hookline-consumers reproject [TABLE…]`: rebuilds typed tables from the event store.
//!
//! A projection is a pure function of a raw hook (its record headers and body), and
//! `raw_hooks` keeps every hook with every header, so any typed table can be recomputed from
//! it: after a projection's logic changed, after a new column was added, or after a table was
//! damaged. A rebuild goes in four steps, each safe to interrupt before the third:
//!
//! 1. **Shadow tables.** For each table `t`, `t_reproject` is created with `t`'s structure
//!    (`CREATE TABLE … AS t`). A shadow left by another rebuild stops this one: two rebuilds at
//!    once would write into each other's tables.
//! 2. **Projection.** Every row of `raw_hooks` (and with `--from-kafka`, every record the hook
//!    topics still hold) goes through the consumers' own [`Batch::add`], and the rows are written
//!    to the shadow tables by the consumers' own [`ClickHouseSink`] (retried while ClickHouse is
//!    away, split when it refuses). Nothing reads the shadows yet.
//! 3. **Swap.** `EXCHANGE TABLES t AND t_reproject` per table: atomic, so a query sees either
//!    the old table or the new one, never a mix or nothing. With `--dry-run` the shadows are
//!    compared with the tables instead, then dropped, and nothing changes.
//! 4. **Catch-up.** The consumers kept writing meanwhile: to `raw_hooks`, and to the old typed
//!    tables, which the swap put aside. Every raw hook ClickHouse stored since shortly before
//!    the rebuild began ([`CATCH_UP_MARGIN`] before, by `raw_hooks.inserted_at`, the server's
//!    clock) is projected again into the new tables; the consumers write a batch's raw rows
//!    before its typed rows, so any typed row that went to the old table has its raw row in
//!    that window. Then the old tables are dropped.
//!
//! Rows projected twice (a hook in the snapshot and in the catch-up, or in `raw_hooks` and
//! in the topics) collapse in the tables' engines exactly as redelivered hooks do, which is
//! what makes the overlaps harmless and the result equal to a fresh run of every hook
//! through the consumers.

pub mod progress;
pub mod source;

use std::fmt;
use std::time::{Duration, Instant};

use clickhouse::Client;
use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::event::Family;
use hookline_schemas::record::Topics;
use prometheus::Registry;

use crate::clickhouse::migrate::{self, MigrateError};
use crate::clickhouse::sink::{ClickHouseSink, Targets};
use crate::clickhouse::{self as ch, bounded};
use crate::config::ReprojectConfig;
use crate::projection::{Added, Batch, HookMessage, TABLE_NAMES};
use crate::prometheus::ConsumerMetrics;
use progress::Progress;
use source::{RawHooks, TopicRecords, TopicsError, PAGE_RECORDS};

/// The suffix of a table's shadow while it is rebuilt (and of the old table after the swap,
/// until it is dropped).
pub const SHADOW_SUFFIX: &str = "_reproject";

/// How long before the rebuild began the catch-up starts: more than an insert of the consumers
/// can take between the server stamping its raw rows and the rows becoming visible, with room
/// for clocks that differ between the servers of a cluster.
pub const CATCH_UP_MARGIN: Duration = Duration::from_secs(300);

/// Columns left out when a rebuilt table is compared with the current one: which copy of a
/// repeated hook a row came from, and when ingest received that copy, may differ between two
/// runs that give the same answers.
const COPY_COLUMNS: [&str; 2] = ["event_id", "received_at"];

/// Why a rebuild stopped. Before the swap nothing has changed; the shadow tables are dropped.
#[derive(Debug, thiserror::Error)]
pub enum ReprojectError {
    #[error("unknown table {name:?}; reproject rebuilds: {known}")]
    UnknownTable { name: String, known: String },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("shadow tables of another rebuild exist ({tables}): one is running or was killed. If none is running, drop them (DROP TABLE …) and start again")]
    ShadowsExist { tables: String },
    #[error("ClickHouse failed while {doing}: {source}")]
    ClickHouse {
        doing: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("invalid Kafka settings for --from-kafka: {0}")]
    KafkaSettings(#[from] hookline_runtime::kafka::KafkaSettingsError),
    #[error(transparent)]
    Topics(#[from] TopicsError),
    #[error("cannot register the rebuild's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("interrupted before the swap: the shadow tables were dropped and no table changed")]
    Interrupted,
    /// After the swap: the rebuilt tables are live, the old ones still under the shadow names.
    #[error("the rebuilt tables are in place, but projecting the hooks written during the rebuild failed: {source}. Hooks may be missing from them: drop the old tables (now named …{SHADOW_SUFFIX}) and run reproject again")]
    CatchUp {
        #[source]
        source: Box<ReprojectError>,
    },
}

/// One table's rows before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows (one per key, as `FINAL` sees them) of the table before the rebuild.
    pub current: u64,
    /// Rows of the rebuilt table before the catch-up.
    pub rebuilt: u64,
    /// With `--dry-run`: rows of the current table that the rebuilt one lacks, and the other
    /// way round (copy columns aside), so a changed row counts in both.
    pub differences: Option<(u64, u64)>,
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct Report {
    pub dry_run: bool,
    pub tables: Vec<TableReport>,
    /// Hooks read from `raw_hooks` and from the topics.
    pub from_raw_hooks: u64,
    pub from_kafka: u64,
    /// Hooks projected again after the swap.
    pub caught_up: u64,
    /// Hooks no typed table takes as they are (the consumers dead-lettered them too).
    pub not_projectable: u64,
    /// Hooks whose typed rows ClickHouse refused.
    pub refused: u64,
    /// The whole command, from the migrations to the last old table dropped.
    pub elapsed: Duration,
    /// Step 2 alone: reading the sources and writing the shadows.
    pub projection_elapsed: Duration,
}

impl Report {
    /// Hooks read, projected and written per second in step 2: the figure the benchmark
    /// compares with the consumers' records per second.
    pub fn hooks_per_second(&self) -> f64 {
        (self.from_raw_hooks + self.from_kafka) as f64
            / self.projection_elapsed.as_secs_f64().max(1e-3)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.dry_run {
            "dry run, nothing changed"
        } else {
            "swapped in"
        };
        writeln!(
            f,
            "reproject ({what}): {} hooks from raw_hooks, {} from Kafka ({:.0} hooks/s), {} caught up after the swap, {:.1} s in all; {} not projectable, {} refused by ClickHouse",
            self.from_raw_hooks,
            self.from_kafka,
            self.hooks_per_second(),
            self.caught_up,
            self.elapsed.as_secs_f64(),
            self.not_projectable,
            self.refused,
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12} {:>16} {:>16}",
            "table", "rows now", "rows rebuilt", "only in now", "only in rebuilt"
        )?;
        for table in &self.tables {
            let (only_current, only_rebuilt) = match table.differences {
                Some((current, rebuilt)) => (current.to_string(), rebuilt.to_string()),
                None => ("-".to_owned(), "-".to_owned()),
            };
            writeln!(
                f,
                "{:<24} {:>12} {:>12} {:>16} {:>16}",
                table.table, table.current, table.rebuilt, only_current, only_rebuilt
            )?;
        }
        Ok(())
    }
}

/// The typed tables `named` (all of them when empty), in the order of [`TABLE_NAMES`].
pub fn tables(named: &[String]) -> Result<Vec<&'static str>, ReprojectError> {
    let typed: Vec<&'static str> = TABLE_NAMES
        .iter()
        .copied()
        .filter(|table| *table != "raw_hooks")
        .collect();
    if let Some(unknown) = named.iter().find(|n| !typed.contains(&n.as_str())) {
        return Err(ReprojectError::UnknownTable {
            name: unknown.clone(),
            known: typed.join(", "),
        });
    }
    Ok(typed
        .into_iter()
        .filter(|table| named.is_empty() || named.iter().any(|n| n == table))
        .collect())
}

/// Rebuilds the configured tables (module documentation); stops before the swap when
/// `shutdown` is cancelled.
pub async fn run(
    config: &ReprojectConfig,
    shutdown: CancellationToken,
) -> Result<Report, ReprojectError> {
    let tables = tables(&config.tables)?;
    migrate::run(&config.clickhouse).await?;
    let rebuild = Rebuild {
        client: ch::client(&config.clickhouse),
        timeout: config.clickhouse.timeouts().receive,
        tables,
    };
    let started = Instant::now();
    let catch_up_from_ms = rebuild.server_time_ms().await? - CATCH_UP_MARGIN.as_millis() as i64;
    rebuild.create_shadows().await?;
    let sink = |suffix| -> Result<ClickHouseSink, ReprojectError> {
        let metrics = ConsumerMetrics::register(&Registry::new())?;
        let sink = ClickHouseSink::new(
            rebuild.client.clone(),
            config.clickhouse.timeouts(),
            metrics,
            Readiness::default(),
        );
        Ok(sink.with_targets(Targets::Only {
            tables: rebuild.tables.clone(),
            suffix,
        }))
    };
    let mut counts = Counts::default();
    // Until the swap, any failure leaves the tables as they were: only the shadows go.
    let mut projection_elapsed = Duration::ZERO;
    let before_swap = async {
        let projecting = Instant::now();
        let from = rebuild
            .project_sources(config, &sink(SHADOW_SUFFIX)?, &mut counts, &shutdown)
            .await?;
        projection_elapsed = projecting.elapsed();
        let mut reports = Vec::new();
        for table in &rebuild.tables {
            reports.push(rebuild.compare(table, config.dry_run).await?);
        }
        Ok::<_, ReprojectError>((from, reports))
    };
    let (from, reports) = match before_swap.await {
        Ok(done) => done,
        Err(error) => {
            rebuild.drop_shadows().await;
            return Err(error);
        }
    };
    if config.dry_run {
        rebuild.drop_shadows().await;
    } else {
        rebuild.swap().await?;
        // From here on the new tables are live: the catch-up is not interrupted, or the
        // hooks written during the rebuild would be missing from them.
        let caught_up = async {
            let mut raw = RawHooks::new(
                rebuild.client.clone(),
                rebuild.timeout,
                Some(catch_up_from_ms),
            );
            let total = rebuild.count(raw.count().await, "counting new raw hooks")?;
            let mut progress = Progress::start("catch-up", total);
            let live = sink("")?;
            loop {
                let page = rebuild.page(raw.next_page().await)?;
                if page.is_empty() {
                    break;
                }
                progress.advance(page.len() as u64);
                project(&page, &live, &mut counts, &CancellationToken::new()).await?;
            }
            Ok::<_, ReprojectError>(progress.finish())
        };
        counts.caught_up = caught_up.await.map_err(|error| ReprojectError::CatchUp {
            source: Box::new(error),
        })?;
        rebuild.drop_shadows().await;
    }
    Ok(Report {
        dry_run: config.dry_run,
        tables: reports,
        from_raw_hooks: from.0,
        from_kafka: from.1,
        caught_up: counts.caught_up,
        not_projectable: counts.not_projectable,
        refused: counts.refused,
        elapsed: started.elapsed(),
        projection_elapsed,
    })
}

/// Hooks counted along the way.
#[derive(Debug, Default)]
struct Counts {
    not_projectable: u64,
    refused: u64,
    caught_up: u64,
}

/// One rebuild's tables and connection.
struct Rebuild {
    /// The database holding the tables.
    client: Client,
    /// How long one statement or page may take.
    timeout: Duration,
    /// The tables rebuilt.
    tables: Vec<&'static str>,
}

impl Rebuild {
    async fn execute(&self, sql: &str, doing: impl Into<String>) -> Result<(), ReprojectError> {
        bounded(self.timeout, self.client.query(sql).execute())
            .await
            .map_err(|source| ReprojectError::ClickHouse {
                doing: doing.into(),
                source,
            })
    }

    fn count(
        &self,
        counted: clickhouse::error::Result<u64>,
        doing: &str,
    ) -> Result<u64, ReprojectError> {
        counted.map_err(|source| ReprojectError::ClickHouse {
            doing: doing.to_owned(),
            source,
        })
    }

    fn page(
        &self,
        page: clickhouse::error::Result<Vec<HookMessage>>,
    ) -> Result<Vec<HookMessage>, ReprojectError> {
        page.map_err(|source| ReprojectError::ClickHouse {
            doing: "reading raw_hooks".to_owned(),
            source,
        })
    }

    async fn server_time_ms(&self) -> Result<i64, ReprojectError> {
        bounded(
            self.timeout,
            self.client
                .query("SELECT toUnixTimestamp64Milli(now64(3))")
                .fetch_one::<i64>(),
        )
        .await
        .map_err(|source| ReprojectError::ClickHouse {
            doing: "reading the server's clock".to_owned(),
            source,
        })
    }

    async fn create_shadows(&self) -> Result<(), ReprojectError> {
        let existing: Vec<String> = bounded(
            self.timeout,
            self.client
                .query("SELECT name FROM system.tables WHERE database = currentDatabase() AND endsWith(name, ?)")
                .bind(SHADOW_SUFFIX)
                .fetch_all(),
        )
        .await
        .map_err(|source| ReprojectError::ClickHouse {
            doing: "looking for shadow tables".to_owned(),
            source,
        })?;
        if !existing.is_empty() {
            return Err(ReprojectError::ShadowsExist {
                tables: existing.join(", "),
            });
        }
        for table in &self.tables {
            self.execute(
                &format!("CREATE TABLE {table}{SHADOW_SUFFIX} AS {table}"),
                format!("creating the shadow of {table}"),
            )
            .await?;
        }
        Ok(())
    }

    /// Drops the shadows (or, after the swap, the old tables); a failure is only logged, with
    /// the statement that finishes the job.
    async fn drop_shadows(&self) {
        for table in &self.tables {
            let statement = format!("DROP TABLE IF EXISTS {table}{SHADOW_SUFFIX}");
            if let Err(error) = self.execute(&statement, "dropping a shadow table").await {
                tracing::warn!(%error, statement, "cannot drop a shadow table; drop it by hand");
            }
        }
    }

    /// Projects `raw_hooks` and, when asked, the topics into the shadows; returns how many
    /// hooks came from each.
    async fn project_sources(
        &self,
        config: &ReprojectConfig,
        sink: &ClickHouseSink,
        counts: &mut Counts,
        shutdown: &CancellationToken,
    ) -> Result<(u64, u64), ReprojectError> {
        let mut raw = RawHooks::new(self.client.clone(), self.timeout, None);
        let total = self.count(raw.count().await, "counting raw hooks")?;
        let mut progress = Progress::start("raw_hooks", total);
        loop {
            let page = tokio::select! {
                page = raw.next_page() => self.page(page)?,
                () = shutdown.cancelled() => return Err(ReprojectError::Interrupted),
            };
            if page.is_empty() {
                break;
            }
            progress.advance(page.len() as u64);
            project(&page, sink, counts, shutdown).await?;
        }
        let from_raw_hooks = progress.finish();
        if !config.from_kafka {
            return Ok((from_raw_hooks, 0));
        }
        let kafka = config.kafka.resolve()?;
        let topics = Topics::new(config.topics.topic_prefix.clone());
        let names: Vec<String> = Family::ALL.iter().map(|f| topics.for_family(*f)).collect();
        let mut records = tokio::task::block_in_place(|| {
            TopicRecords::open(&kafka, &names, Duration::from_secs(30))
        })?;
        let mut progress = Progress::start("kafka", records.total);
        loop {
            let batch = tokio::select! {
                batch = records.next_batch(PAGE_RECORDS as usize) => batch?,
                () = shutdown.cancelled() => return Err(ReprojectError::Interrupted),
            };
            if batch.is_empty() {
                break;
            }
            progress.advance(batch.len() as u64);
            project(&batch, sink, counts, shutdown).await?;
        }
        Ok((from_raw_hooks, progress.finish()))
    }

    /// The table's rows now and rebuilt, and with `differences` how they differ.
    async fn compare(
        &self,
        table: &'static str,
        differences: bool,
    ) -> Result<TableReport, ReprojectError> {
        let shadow = format!("{table}{SHADOW_SUFFIX}");
        let rows = |name: String| {
            let client = self.client.clone();
            async move {
                bounded(
                    self.timeout,
                    client
                        .query(&format!("SELECT count() FROM {name} FINAL"))
                        .fetch_one::<u64>(),
                )
                .await
            }
        };
        let doing = format!("counting the rows of {table}");
        let current = self.count(rows(table.to_owned()).await, &doing)?;
        let rebuilt = self.count(rows(shadow.clone()).await, &doing)?;
        let differences = if differences {
            let columns: Vec<String> = bounded(
                self.timeout,
                self.client
                    .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ? ORDER BY position")
                    .bind(table)
                    .fetch_all(),
            )
            .await
            .map_err(|source| ReprojectError::ClickHouse {
                doing: format!("reading the columns of {table}"),
                source,
            })?;
            let columns = columns
                .into_iter()
                .filter(|c| !COPY_COLUMNS.contains(&c.as_str()))
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let only = |a: &str, b: &str| {
                format!(
                    "SELECT count() FROM (SELECT {columns} FROM {a} FINAL EXCEPT DISTINCT SELECT {columns} FROM {b} FINAL)"
                )
            };
            let count = |sql: String| {
                let client = self.client.clone();
                async move { bounded(self.timeout, client.query(&sql).fetch_one::<u64>()).await }
            };
            let doing = format!("comparing {table} with its rebuild");
            Some((
                self.count(count(only(table, &shadow)).await, &doing)?,
                self.count(count(only(&shadow, table)).await, &doing)?,
            ))
        } else {
            None
        };
        Ok(TableReport {
            table,
            current,
            rebuilt,
            differences,
        })
    }

    /// Puts every rebuilt table in its table's place, each atomically.
    async fn swap(&self) -> Result<(), ReprojectError> {
        for table in &self.tables {
            self.execute(
                &format!("EXCHANGE TABLES {table} AND {table}{SHADOW_SUFFIX}"),
                format!("swapping the rebuilt {table} in"),
            )
            .await?;
            tracing::info!(table, "rebuilt table swapped in");
        }
        Ok(())
    }
}

/// Projects `hooks` and writes their rows through `sink`.
async fn project(
    hooks: &[HookMessage],
    sink: &ClickHouseSink,
    counts: &mut Counts,
    shutdown: &CancellationToken,
) -> Result<(), ReprojectError> {
    let mut batch = Batch::default();
    for hook in hooks {
        match batch.add(hook) {
            Ok(Added::Complete) => {}
            Ok(Added::RawOnly(_)) | Err(_) => counts.not_projectable += 1,
        }
    }
    let written = sink
        .write(&batch, shutdown)
        .await
        .map_err(|_| ReprojectError::Interrupted)?;
    counts.refused += written.rejected.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_table_named_means_every_typed_table_and_never_raw_hooks() {
        let all = tables(&[]).expect("every table");
        assert_eq!(all.len(), TABLE_NAMES.len() - 1);
        assert!(!all.contains(&"raw_hooks"));
        assert_eq!(
            tables(&["jobs".to_owned(), "pipelines".to_owned()]).expect("two tables"),
            ["pipelines", "jobs"]
        );
    }

    #[test]
    fn an_unknown_table_is_refused_with_the_names_that_are_known() {
        for name in ["raw_hooks", "pipeline", "pipelines_reproject"] {
            let error = tables(&[name.to_owned()]).expect_err(name).to_string();
            assert!(error.contains(&format!("{name:?}")), "{error}");
            assert!(error.contains("pipelines, jobs"), "{error}");
        }
    }
}
