//! The consumers' half of `make bench`: records/s from Kafka into ClickHouse against two floors
//! measured in the same run, and freshness (hook acknowledged → row queryable) at a steady rate.
//!
//! - **Consumers**: `HOOKLINE_BENCH_RECORDS` (20,000) new records are produced while the
//!   consumers are stopped; they are restarted and timed from their first consumed record until
//!   every record's `raw_hooks` row is written (so the group join is not counted).
//! - **Floor (i), raw consume**: a plain librdkafka consumer reads every record of the hook
//!   topics from the beginning, touching each payload.
//! - **Floor (ii), direct insert**: the same records projected by the consumers' own code and
//!   inserted straight into a database of their own, timing only the inserts.
//! - **Reproject**: `hookline-consumers reproject` (its library function, as the command runs
//!   it) rebuilds every typed table from the `raw_hooks` the runs above filled; the figure is
//!   its step 2, reading `raw_hooks` and writing the shadow tables, in hooks per second, against
//!   the consumers' own records per second (goal ≥ 0.5).
//! - **Freshness**: with the consumers caught up, hooks are sent through ingest at a steady
//!   rate and each hook's `raw_hooks` row is looked for every `POLL`; the figure is the time
//!   from ingest's 200 to the poll that first saw the row (so it includes up to one poll
//!   interval of measurement granularity).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hookline_consumers::clickhouse::migrate;
use hookline_consumers::clickhouse::sink::ClickHouseSink;
use hookline_consumers::config::{Cli, Command};
use hookline_consumers::projection::{Added, Batch, HookMessage};
use hookline_consumers::prometheus::ConsumerMetrics;
use hookline_dev::client::{metric_sum, poll_until, records_in};
use hookline_dev::load::{self, quantile};
use hookline_dev::stack::Stack;
use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::event::Family;
use hookline_schemas::record::{self, RecordHeaders, Topics};
use hookline_schemas::testing::gitlab::Hook;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{
    median, ms, peak_rss_mb, row, runs, table_header, verdict, HookBatches, RawProducer,
    CONNECTIONS, RUNS,
};

/// Records per measured consumers run, unless `HOOKLINE_BENCH_RECORDS` says otherwise.
const DEFAULT_RECORDS: usize = 20_000;
/// Hooks per second of the freshness measurement, and for how long.
const STEADY_RATE: f64 = 1_000.0;
const STEADY_SECONDS: f64 = 5.0;
/// How long the last hooks of the freshness load may take to land.
const SETTLE: Duration = Duration::from_secs(60);
/// How often the freshness poller looks for new rows.
const POLL: Duration = Duration::from_millis(50);

pub struct ConsumersFigures {
    pub records: usize,
    pub consumers: f64,
    pub consume_floor: f64,
    pub insert_floor: f64,
    pub consumers_runs: Vec<f64>,
    pub consume_runs: Vec<f64>,
    pub insert_runs: Vec<f64>,
    pub reproject: f64,
    pub reproject_runs: Vec<f64>,
    /// Hooks in `raw_hooks` that each reproject run rebuilt from.
    pub reproject_hooks: u64,
    pub topic_records: i64,
    pub fresh_p50_ms: f64,
    pub fresh_p99_ms: f64,
    pub fresh_seen: usize,
    pub fresh_sent: usize,
    pub rss_mb: f64,
}

pub async fn measure(
    stack: &mut Stack,
    batches: &mut HookBatches,
    producer: &RawProducer,
) -> anyhow::Result<ConsumersFigures> {
    let records = match std::env::var("HOOKLINE_BENCH_RECORDS") {
        Ok(n) => n
            .parse()
            .context("HOOKLINE_BENCH_RECORDS is not a number")?,
        Err(_) => DEFAULT_RECORDS,
    };
    let mut consumers_runs = Vec::new();
    let mut consume_runs = Vec::new();
    let mut insert_runs = Vec::new();
    let mut topic_records = 0;
    for run in 1..=RUNS {
        let hooks = batches.next(records);
        eprintln!("run {run}/{RUNS}: consumers");
        consumers_runs.push(drain(stack, producer, &hooks).await?);
        eprintln!("run {run}/{RUNS}: raw consume floor");
        let (rate, count) = consume_floor(stack, run)?;
        consume_runs.push(rate);
        topic_records = count;
        eprintln!("run {run}/{RUNS}: direct insert floor");
        insert_runs.push(insert_floor(stack, &hooks, run).await?);
    }
    let mut reproject_runs = Vec::new();
    let mut reproject_hooks = 0;
    for run in 1..=RUNS {
        eprintln!("run {run}/{RUNS}: reproject");
        let (rate, hooks) = reproject(stack).await?;
        reproject_runs.push(rate);
        reproject_hooks = hooks;
    }
    eprintln!("freshness at {STEADY_RATE} hooks/s");
    let (mut fresh, sent) = freshness(stack, batches).await?;
    fresh.sort_unstable();
    let rss_mb = peak_rss_mb(stack.consumers.pid().context("consumers are not running")?)?;
    Ok(ConsumersFigures {
        records,
        consumers: median(consumers_runs.iter().copied()),
        consume_floor: median(consume_runs.iter().copied()),
        insert_floor: median(insert_runs.iter().copied()),
        consumers_runs,
        consume_runs,
        insert_runs,
        reproject: median(reproject_runs.iter().copied()),
        reproject_runs,
        reproject_hooks,
        topic_records,
        fresh_p50_ms: ms(quantile(&fresh, 0.5)),
        fresh_p99_ms: ms(quantile(&fresh, 0.99)),
        fresh_seen: fresh.len(),
        fresh_sent: sent,
        rss_mb,
    })
}

/// Produces `hooks` with the consumers stopped, restarts them, and times the catch-up from
/// their first record to the last `raw_hooks` row. Returns records per second.
async fn drain(stack: &mut Stack, producer: &RawProducer, hooks: &[Hook]) -> anyhow::Result<f64> {
    stack.consumers.stop();
    producer.send(hooks).await?;
    let admin = stack.consumers_admin_url.clone();
    stack.restart_consumers(&[]).await?;
    // Counters start at zero in the new process.
    let first = poll_until(Duration::from_secs(120), || async {
        let consumed = metric_sum(&admin, "hookline_consumers_records_consumed_total", &[])
            .await
            .unwrap_or(0.0);
        (consumed > 0.0).then(Instant::now)
    })
    .await
    .context("the consumers read nothing")?;
    let target = hooks.len() as f64;
    let last = poll_until(Duration::from_secs(180), || async {
        let written = metric_sum(
            &admin,
            "hookline_consumers_rows_written_total",
            &["table=\"raw_hooks\""],
        )
        .await
        .unwrap_or(0.0);
        (written >= target).then(Instant::now)
    })
    .await
    .context("the consumers did not write every record")?;
    Ok(target / (last - first).as_secs_f64())
}

/// Floor (i): every record of the hook topics read once by a plain consumer.
fn consume_floor(stack: &Stack, run: usize) -> anyhow::Result<(f64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .set("group.id", format!("hookline-bench-consume-{run}"))
        .set("enable.auto.commit", "false")
        .create()?;
    let topics = Topics::default();
    let mut assignment = TopicPartitionList::new();
    let mut total = 0;
    for family in Family::ALL {
        let topic = topics.for_family(family);
        total += records_in(stack, &topic);
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            assignment.add_partition_offset(&topic, partition.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let mut read = 0i64;
    let mut bytes = 0usize;
    let deadline = started + Duration::from_secs(600);
    while read < total {
        anyhow::ensure!(Instant::now() < deadline, "read {read} of {total} records");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            bytes += std::hint::black_box(message?.payload().map_or(0, <[u8]>::len));
            read += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok((read as f64 / started.elapsed().as_secs_f64(), total))
}

/// Floor (ii): the same records projected by the consumers' code and inserted directly.
async fn insert_floor(stack: &Stack, hooks: &[Hook], run: usize) -> anyhow::Result<f64> {
    let config = crate::direct_clickhouse_config(
        stack,
        &format!("{}_floor_{run}", stack.clickhouse_database),
        30_000,
        60_000,
    );
    migrate::run(&config).await?;
    let mut batch = Batch::default();
    for (offset, hook) in hooks.iter().enumerate() {
        let added = batch.add(&message(hook, offset as i64))?;
        anyhow::ensure!(
            matches!(added, Added::Complete),
            "a benchmark hook does not project: {added:?}"
        );
    }
    let sink = ClickHouseSink::new(
        hookline_consumers::clickhouse::client(&config),
        config.timeouts(),
        ConsumerMetrics::register(&prometheus::Registry::new())?,
        Readiness::default(),
    );
    let started = Instant::now();
    sink.write(&batch, &CancellationToken::new()).await?;
    Ok(hooks.len() as f64 / started.elapsed().as_secs_f64())
}

/// `hookline-consumers reproject` of every typed table in the stack's database, as the
/// command runs it; returns its step-2 hooks per second and the hooks it read.
async fn reproject(stack: &Stack) -> anyhow::Result<(f64, u64)> {
    let cli = Cli::try_parse_from([
        "hookline-consumers",
        "reproject",
        "--clickhouse-url",
        &stack.clickhouse_url,
        "--clickhouse-database",
        &stack.clickhouse_database,
        "--clickhouse-compression",
        if stack.clickhouse_uncompressed {
            "none"
        } else {
            "lz4"
        },
    ])?;
    let Command::Reproject(config) = cli.command else {
        anyhow::bail!("`reproject` parsed as another command");
    };
    let report = hookline_consumers::reproject::run(&config, CancellationToken::new()).await?;
    Ok((report.hooks_per_second(), report.from_raw_hooks))
}

/// A hook as the consumers would read it from Kafka.
pub(crate) fn message(hook: &Hook, offset: i64) -> HookMessage {
    let family = Family::from_event_header(hook.event);
    HookMessage {
        topic: Topics::default().for_family(family),
        partition: 0,
        offset,
        key: record::record_key(&hook.body).unwrap_or_default(),
        headers: RecordHeaders {
            event_type: hook.event.to_owned(),
            event_id: record::event_id(hook.event, &hook.body),
            delivery_key: None,
            received_at_ms: crate::now_ms(),
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        },
        body: hook.body.clone(),
    }
}

/// Hooks through ingest at `STEADY_RATE`; per hook, the time from its 200 to its row.
async fn freshness(
    stack: &Stack,
    batches: &mut HookBatches,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let total = (STEADY_RATE * STEADY_SECONDS) as usize;
    let hooks = batches.next(total);
    let ids: Vec<String> = hooks
        .iter()
        .map(|h| record::event_id(h.event, &h.body))
        .collect();
    let client = stack.clickhouse_client();
    let since = crate::now_ms();
    // The poller ends once it has seen every hook, so nothing waits a fixed time.
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let mut poller = tokio::spawn(async move {
        let mut seen: HashMap<String, Instant> = HashMap::new();
        let mut ticker = tokio::time::interval(POLL);
        while seen.len() < total && !stopped.is_cancelled() {
            ticker.tick().await;
            let rows: Vec<String> = client
                .query("SELECT event_id FROM raw_hooks WHERE received_at >= fromUnixTimestamp64Milli(?)")
                .bind(since)
                .fetch_all()
                .await
                .unwrap_or_default();
            let now = Instant::now();
            for id in rows {
                seen.entry(id).or_insert(now);
            }
        }
        seen
    });
    let result = load::paced(
        &stack.webhook_url,
        &stack.token,
        hooks,
        CONNECTIONS,
        STEADY_RATE,
        total,
    )
    .await;
    // Hooks that failed or never land are reported as missing rather than waited for forever.
    let seen = tokio::select! {
        seen = &mut poller => seen?,
        () = tokio::time::sleep(SETTLE) => {
            stop.cancel();
            poller.await?
        }
    };
    let fresh: Vec<Duration> = result
        .acks
        .iter()
        .filter_map(|(index, acked)| {
            seen.get(&ids[*index])
                .map(|s| s.saturating_duration_since(*acked))
        })
        .collect();
    Ok((fresh, total))
}

/// The consumers' section of BENCHMARKS.md.
pub fn render(out: &mut String, f: &ConsumersFigures) {
    use std::fmt::Write as _;
    let floor = f.consume_floor.min(f.insert_floor);
    let ratio = f.consumers / floor;
    let _ = writeln!(
        out,
        "\n## Consumers: records/s from Kafka into ClickHouse\n"
    );
    let _ = writeln!(out, "Each run produces {} new records of the same mix while the consumers are stopped, restarts them, and times them from their first record to the last `raw_hooks` row (every table of the batch is inserted before its offsets are committed). ClickHouse: the local engine behind its HTTP front, uncompressed.\n", f.records);
    table_header(out);
    row(
        out,
        "consumers, records/s",
        format!("{:.0}", f.consumers),
        runs(&f.consumers_runs),
    );
    row(
        out,
        format!(
            "floor (i): raw consume of all {} records in the hook topics, records/s",
            f.topic_records
        ),
        format!("{:.0}", f.consume_floor),
        runs(&f.consume_runs),
    );
    row(
        out,
        "floor (ii): the same rows inserted directly (consumers' projection and insert code), records/s",
        format!("{:.0}", f.insert_floor),
        runs(&f.insert_runs),
    );
    row(
        out,
        "**consumers / min(i, ii)**",
        format!("**{ratio:.2}**"),
        format!("goal ≥ 0.8: {}", verdict(ratio >= 0.8)),
    );
    row(
        out,
        format!(
            "reproject: every typed table rebuilt from the {} hooks in `raw_hooks` (read, projected, written to shadow tables), hooks/s",
            f.reproject_hooks
        ),
        format!("{:.0}", f.reproject),
        runs(&f.reproject_runs),
    );
    let reproject_ratio = f.reproject / f.consumers;
    row(
        out,
        "**reproject / consumers**",
        format!("**{reproject_ratio:.2}**"),
        format!("goal ≥ 0.5: {}", verdict(reproject_ratio >= 0.5)),
    );
    row(
        out,
        format!("freshness p50 at {STEADY_RATE:.0} hooks/s (ingest 200 → row queryable), ms"),
        format!("{:.0}", f.fresh_p50_ms),
        format!("{} of {} hooks seen", f.fresh_seen, f.fresh_sent),
    );
    row(
        out,
        format!("freshness p99 at {STEADY_RATE:.0} hooks/s, ms"),
        format!("{:.0}", f.fresh_p99_ms),
        format!("goal ≤ 2000: {}", verdict(f.fresh_p99_ms <= 2000.0)),
    );
    row(
        out,
        "consumers peak RSS, MiB",
        format!("{:.1}", f.rss_mb),
        format!("goal ≤ 256: {}", verdict(f.rss_mb <= 256.0)),
    );
}
