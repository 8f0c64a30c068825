//! The queries' half of `make bench`: how fast every dashboard panel answers over a generated
//! year of an organisation, against a `count()` of the largest table in the same run.
//!
//! The history is `hookline_dev::orgsim`'s (by default its large size: 1,000 developers, 300
//! projects, 365 days), generated one project at a time and written straight into a database of
//! its own with the consumers' projection and insert code (the typed tables only: the panels
//! never read `raw_hooks`, and a year of bodies would fill the disk). Each panel's SQL, its
//! Grafana macros expanded for the whole year, runs [`RUNS_PER_PANEL`] times; the figure is its
//! p95 (the slowest run, at this count). `hookline-report` for the last 30 days is timed the
//! same way, as a user runs it.

use std::time::{Duration, Instant};

use anyhow::Context;
use hookline_consumers::clickhouse::migrate;
use hookline_consumers::clickhouse::sink::{ClickHouseSink, Targets};
use hookline_consumers::projection::{Batch, TABLE_NAMES};
use hookline_consumers::prometheus::ConsumerMetrics;
use hookline_dev::dashboards::{expand, panels_of};
use hookline_dev::load::quantile;
use hookline_dev::orgsim::{hooks, project_histories, Size};
use hookline_dev::stack::Stack;
use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::queries::{Parameters, QUERIES};

use crate::{ms, row, verdict};

/// Runs of each panel's SQL; its p95 at this count is its slowest run.
const RUNS_PER_PANEL: usize = 5;
/// Hooks projected per insert.
const BATCH: usize = 20_000;
/// The generator's seed.
const SEED: u64 = 2026;

pub struct QueriesFigures {
    pub size: Size,
    pub hooks: usize,
    pub largest_table: &'static str,
    pub largest_rows: u64,
    /// Active parts of the database once the merges settled.
    pub parts: u64,
    /// p95 of `SELECT count() FROM <largest table>`, ms.
    pub floor_ms: f64,
    /// Per panel: dashboard, query, p95 ms.
    pub panels: Vec<(&'static str, &'static str, f64)>,
    /// `hookline-report` over the last 30 days of the history, p95 ms.
    pub report_ms: f64,
}

pub async fn measure(stack: &Stack) -> anyhow::Result<QueriesFigures> {
    let mut size = Size::large();
    if let Ok(projects) = std::env::var("HOOKLINE_BENCH_ORG_PROJECTS") {
        size.projects = projects
            .parse()
            .context("HOOKLINE_BENCH_ORG_PROJECTS is not a number")?;
    }
    let config = crate::direct_clickhouse_config(
        stack,
        &format!("{}_queries", stack.clickhouse_database),
        120_000,
        600_000,
    );
    migrate::run(&config).await?;
    let client = config.connection.client();
    let typed: Vec<&'static str> = TABLE_NAMES
        .into_iter()
        .filter(|table| *table != "raw_hooks")
        .collect();
    let sink = ClickHouseSink::new(
        client.clone(),
        config.timeouts(),
        ConsumerMetrics::register(&prometheus::Registry::new())?,
        Readiness::default(),
    )
    .with_targets(Targets::Only {
        tables: typed.clone(),
        suffix: "",
    });
    let never = CancellationToken::new();
    let (mut written, mut start, mut end) = (0, i64::MAX, i64::MIN);
    let mut batch = Batch::default();
    for (project, history) in project_histories(size, SEED).enumerate() {
        start = start.min(history.start);
        end = end.max(history.end);
        for hook in hooks(&history) {
            let _ = batch.add(&crate::consumers::message(&hook, written as i64))?;
            written += 1;
            if batch.len() >= BATCH {
                sink.write(&batch, &never).await?;
                batch = Batch::default();
            }
        }
        if project % 25 == 0 {
            eprintln!(
                "queries: {} of {} projects, {written} hooks",
                project + 1,
                size.projects
            );
        }
    }
    sink.write(&batch, &never).await?;
    let parts = settle(&client).await?;

    let count = |table: &str| format!("SELECT count() FROM {table}");
    let mut largest = ("", 0u64);
    for table in &typed {
        let n: u64 = client.query(&count(table)).fetch_one().await?;
        if n > largest.1 {
            largest = (table, n);
        }
    }
    let floor_ms = p95_ms(|| run_sql(&client, count(largest.0))).await?;
    let year = Parameters::new(start * 1_000, (end + 86_400) * 1_000);
    let mut panels = Vec::new();
    for query in QUERIES {
        for (dashboard, sql) in panels_of(query) {
            let sql = expand(&sql, &year);
            let p95 = p95_ms(|| run_sql(&client, sql.clone())).await?;
            eprintln!("queries: {dashboard} {}: {p95:.0} ms", query.name);
            panels.push((dashboard, query.name, p95));
        }
    }
    let month = Parameters::new((end - 30 * 86_400) * 1_000, end * 1_000);
    // Where the report's time goes: each query once over the month, as its first panel.
    for query in QUERIES {
        if let Some((_, sql)) = panels_of(query).into_iter().next() {
            let started = Instant::now();
            run_sql(&client, expand(&sql, &month)).await?;
            eprintln!(
                "queries: {} over the last 30 days: {:.0} ms",
                query.name,
                ms(started.elapsed())
            );
        }
    }
    let report_ms = p95_ms(|| async {
        hookline_report::run::run(&client, &month, Duration::from_secs(600))
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from)
    })
    .await?;
    Ok(QueriesFigures {
        size,
        hooks: written,
        largest_table: largest.0,
        largest_rows: largest.1,
        parts,
        floor_ms,
        panels,
        report_ms,
    })
}

/// How long [`settle`] waits for ClickHouse's background merges.
const SETTLE_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// Polls without a merge running that make the tables settled.
const QUIET_POLLS: u32 = 5;

/// Waits until ClickHouse has no background merge running in the database for
/// [`QUIET_POLLS`] polls in a row (or [`SETTLE_DEADLINE`] has passed), and returns the active
/// parts of the typed tables then. A year of hooks loaded in minutes leaves thousands of parts
/// that an installation receiving them over the year would have merged long ago: the panels
/// are measured in that steady state, not while the merges compete with them.
async fn settle(client: &clickhouse::Client) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut quiet = 0;
    while quiet < QUIET_POLLS && started.elapsed() < SETTLE_DEADLINE {
        let merges: u64 = client
            .query("SELECT count() FROM system.merges WHERE database = currentDatabase()")
            .fetch_one()
            .await?;
        quiet = if merges == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let parts: u64 = client
        .query("SELECT count() FROM system.parts WHERE database = currentDatabase() AND active")
        .fetch_one()
        .await?;
    eprintln!(
        "queries: merges settled after {:.0} s, {parts} active parts",
        started.elapsed().as_secs_f64()
    );
    Ok(parts)
}

/// Runs `sql` and reads its whole result, as a dashboard would.
async fn run_sql(client: &clickhouse::Client, sql: String) -> anyhow::Result<usize> {
    // The client reads `?` as a bind placeholder and `??` as a `?` (an expanded regular
    // expression has some).
    let mut cursor = client
        .query(&sql.replace('?', "??"))
        .fetch_bytes("JSONCompactEachRow")?;
    let mut bytes = 0;
    while let Some(chunk) = cursor.next().await? {
        bytes += chunk.len();
    }
    Ok(bytes)
}

/// The p95 of [`RUNS_PER_PANEL`] runs of `request`, in milliseconds.
async fn p95_ms<T, F, Fut>(mut request: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::with_capacity(RUNS_PER_PANEL);
    for _ in 0..RUNS_PER_PANEL {
        let started = Instant::now();
        request().await?;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok(ms(quantile(&times, 0.95)))
}

/// The queries' section of BENCHMARKS.md.
pub fn render(out: &mut String, f: &QueriesFigures) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "\n## Queries: dashboard panels over a generated year\n"
    );
    let _ = writeln!(
        out,
        "Written by `make bench`, or alone by `HOOKLINE_BENCH_QUERIES_ONLY=1 make bench`. Machine: {}.\n",
        hookline_dev::faults::report::machine()
    );
    let _ = writeln!(out, "{} hooks of a generated organisation ({} developers, {} projects, {} days; `hookline_dev::orgsim`, seed {SEED}) projected into the typed tables, then ClickHouse's background merges left to finish, as they would have over the year ({} active parts then); every dashboard panel's SQL, Grafana's macros expanded for the whole year, run {RUNS_PER_PANEL} times on the local engine; the figure is the p95 (the slowest run). Floor: `SELECT count()` of the largest table, `{}` ({} rows), in the same run.\n", f.hooks, f.size.developers, f.size.projects, f.size.days, f.parts, f.largest_table, f.largest_rows);
    let _ = writeln!(out, "| Measure | p95 | Against the floor or the goal |");
    let _ = writeln!(out, "| --- | ---: | --- |");
    row(
        out,
        format!("floor: `SELECT count() FROM {}`, ms", f.largest_table),
        format!("{:.0}", f.floor_ms),
        "",
    );
    let slowest = f.panels.iter().map(|p| p.2).fold(0.0, f64::max);
    for (dashboard, query, p95) in &f.panels {
        row(
            out,
            format!("{dashboard}: {query}, ms"),
            format!("{p95:.0}"),
            format!("{:.0}× the floor", p95 / f.floor_ms.max(1e-3)),
        );
    }
    row(
        out,
        "**slowest panel, ms**",
        format!("**{slowest:.0}**"),
        format!("goal ≤ 1000: {}", verdict(slowest <= 1000.0)),
    );
    row(
        out,
        "**`hookline-report` for the last 30 days, ms**",
        format!("**{:.0}**", f.report_ms),
        format!("goal ≤ 5000: {}", verdict(f.report_ms <= 5000.0)),
    );
}
