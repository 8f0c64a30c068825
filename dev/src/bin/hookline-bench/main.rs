//! `make bench`: measures ingest, the consumers and the dashboard queries against their floors
//! in one run and writes BENCHMARKS.md. The consumers' part is in [`consumers`], the queries'
//! in [`queries`].
//!
//! Ingest's throughput (hooks/s with durable acks, 64 connections, a realistic mix of hook
//! bodies) is compared with two floors measured in the same run on the same machine:
//! (a) the same HTTP load against an endpoint that only reads the body and answers 200, and
//! (b) a raw librdkafka producer writing the same records to the same broker with as many in
//! flight, configured as ingest configures its own. The floors are measured after ingest is
//! stopped, so that the load its deduplication log puts on the broker counts against ingest,
//! not against the floor. Every figure is the median of several runs, because the machines are
//! shared and noisy. Latency is measured at half the maximum rate, where a service should be
//! comfortable, and set against the raw producer's own ack latency at that rate.
//!
//! The broker keeps its storage on tmpfs (`/dev/shm`) when there is room, and the report says
//! where it was. Tansu runs every storage operation of the broker through one loop, and its
//! sqlite storage checkpoints the write-ahead log inside a produce once the log reaches 1,000
//! pages (every ~200 ms under this load), with two fsyncs: on disk every such checkpoint stalls
//! every producer for several milliseconds, which lengthens the ack-latency tail of ingest and
//! of the raw producer alike. A Kafka broker never fsyncs on the produce path either: it
//! acknowledges once the record is in the page cache of every in-sync replica. Storage on tmpfs
//! gives the same guarantee (a broker crash loses nothing acknowledged, a machine crash does)
//! without the artefact. Ingest's spool stays on disk: its fsync is ingest's own cost.

mod consumers;
mod queries;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use hookline_consumers::config::ClickHouseConfig;
use hookline_dev::load::{self, quantile, Hook, LoadResult};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_runtime::clickhouse::{ClickHouseConnection, Compression};
use hookline_runtime::telemetry::{LogFormat, LogSettings};
use hookline_schemas::event::Family;
use hookline_schemas::record::{self, RecordHeaders, Topics};
use hookline_schemas::testing::fixtures;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

/// Concurrent connections (and records in flight for the producer floor).
pub(crate) const CONNECTIONS: usize = 64;
/// Hooks per measured run, unless `HOOKLINE_BENCH_HOOKS` says otherwise.
const DEFAULT_HOOKS_PER_RUN: usize = 10_000;
/// Measured runs per figure; the median is reported.
pub(crate) const RUNS: usize = 3;

/// Batches of hooks never sent before: ingest answers a repeated hook as a duplicate without
/// writing it, so every load needs fresh ones. Batch k holds ids [k * 1e6, k * 1e6 + count).
pub(crate) struct HookBatches {
    issued: usize,
}

impl HookBatches {
    pub(crate) fn next(&mut self, count: usize) -> Arc<Vec<Hook>> {
        self.issued += 1;
        let first = self.issued * 1_000_000;
        Arc::new(fixtures::mix(first..first + count))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let hooks_per_run = match std::env::var("HOOKLINE_BENCH_HOOKS") {
        Ok(n) => n.parse().context("HOOKLINE_BENCH_HOOKS is not a number")?,
        Err(_) => DEFAULT_HOOKS_PER_RUN,
    };
    let broker_storage = BrokerStorage::choose()?;
    let mut options = StackOptions::for_test();
    options.broker_dir = broker_storage.dir();
    let mut stack = Stack::start(options).await?;
    // The queries' section alone: it replaces its section of BENCHMARKS.md, the others stay.
    if std::env::var_os("HOOKLINE_BENCH_QUERIES_ONLY").is_some() {
        let figures = queries::measure(&stack).await?;
        let mut section = String::new();
        queries::render(&mut section, &figures);
        let previous = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
        let report = with_section(&previous, &section);
        std::fs::write("BENCHMARKS.md", &report).context("cannot write BENCHMARKS.md")?;
        println!("{section}");
        return Ok(());
    }
    let mut batches = HookBatches { issued: 0 };
    let producer = RawProducer::new(&stack.kafka_brokers)?;
    // The consumers first, since their section needs them running; the ingest section then
    // stops them. A section that cannot finish is reported as such, and the other still runs.
    let consumers = consumers::measure(&mut stack, &mut batches, &producer)
        .await
        .map_err(|error| format!("{error:#}"));
    // Ingest next, with the consumers stopped: they would compete for the CPU.
    stack.consumers.stop();
    // The queries after the services' sections: their history is written straight into a
    // database of its own, which the services never touch.
    eprintln!("queries over a generated year");
    let queries = queries::measure(&stack)
        .await
        .map_err(|error| format!("{error:#}"));
    let warmup = batches.next(2_000);
    let mean_body = warmup.iter().map(|h| h.body.len()).sum::<usize>() / warmup.len();
    eprintln!("warming up ingest…");
    let count = warmup.len();
    load::closed_loop(&stack.webhook_url, &stack.token, warmup, CONNECTIONS, count).await;

    let mut ingest_runs = Vec::new();
    let mut spooled_shares = Vec::new();
    for run in 1..=RUNS {
        eprintln!("run {run}/{RUNS}: ingest");
        // The drainer must not compete with the measurement.
        spool_drained(&stack).await?;
        let spooled_before = spooled_total(&stack).await;
        ingest_runs.push(
            load::closed_loop(
                &stack.webhook_url,
                &stack.token,
                batches.next(hooks_per_run),
                CONNECTIONS,
                hooks_per_run,
            )
            .await,
        );
        spooled_shares.push((spooled_total(&stack).await - spooled_before) / hooks_per_run as f64);
    }
    let ingest = median(ingest_runs.iter().map(LoadResult::per_second));
    let half_rate = ingest / 2.0;
    let paced_total = (half_rate * 8.0) as usize;
    let mut paced_runs = Vec::new();
    for run in 1..=RUNS {
        eprintln!("run {run}/{RUNS}: ingest at {half_rate:.0} hooks/s");
        spool_drained(&stack).await?;
        paced_runs.push(
            load::paced(
                &stack.webhook_url,
                &stack.token,
                batches.next(paced_total),
                CONNECTIONS,
                half_rate,
                paced_total,
            )
            .await,
        );
    }
    let p50_runs: Vec<f64> = paced_runs.iter().map(|r| ms(r.quantile(0.5))).collect();
    let p99_runs: Vec<f64> = paced_runs.iter().map(|r| ms(r.quantile(0.99))).collect();
    let failures: usize = ingest_runs
        .iter()
        .chain(&paced_runs)
        .map(|r| r.failures)
        .sum();
    let duplicates = hookline_dev::client::metric(
        &stack.ingest_admin_url,
        r#"hookline_ingest_requests_total{family="job",outcome="duplicate"}"#,
    )
    .await
    .unwrap_or(0.0);
    anyhow::ensure!(
        duplicates == 0.0,
        "ingest answered {duplicates} job hooks as duplicates: the load must send distinct hooks"
    );
    let rss_mb = peak_rss_mb(stack.ingest.pid().context("ingest is not running")?)?;
    spool_drained(&stack).await?;

    // The same latency with deduplication off (no deduplication log written or read): how much
    // of ingest's latency is the log's load on the broker.
    stack.ingest.stop();
    let undeduplicated = stack
        .start_ingest_replica("no-dedup", &["--dedup-window-secs=0"])
        .await?;
    let mut undeduplicated_p99_runs = Vec::new();
    for run in 1..=RUNS {
        eprintln!("run {run}/{RUNS}: ingest without deduplication at {half_rate:.0} hooks/s");
        let result = load::paced(
            &undeduplicated.webhook_url,
            &stack.token,
            batches.next(paced_total),
            CONNECTIONS,
            half_rate,
            paced_total,
        )
        .await;
        undeduplicated_p99_runs.push(ms(result.quantile(0.99)));
    }
    drop(undeduplicated);

    // The floors, with ingest stopped: its deduplication log is written to and read from the
    // broker, a cost that is ingest's and must not lower the floor. The producer is warmed up
    // as ingest was.
    producer.send(&batches.next(count)).await?;
    let bare = bare_endpoint().await?;
    let mut http_floor_runs = Vec::new();
    let mut kafka_floor_runs = Vec::new();
    let mut floor_p99_runs = Vec::new();
    for run in 1..=RUNS {
        eprintln!("run {run}/{RUNS}: HTTP floor");
        http_floor_runs.push(
            load::closed_loop(
                &bare,
                &stack.token,
                batches.next(hooks_per_run),
                CONNECTIONS,
                hooks_per_run,
            )
            .await,
        );
        eprintln!("run {run}/{RUNS}: Kafka producer floor");
        kafka_floor_runs.push(producer.send(&batches.next(hooks_per_run)).await?);
        eprintln!("run {run}/{RUNS}: Kafka producer at {half_rate:.0} records/s");
        let latencies = producer
            .paced(&batches.next(paced_total), half_rate)
            .await?;
        floor_p99_runs.push(ms(quantile(&latencies, 0.99)));
    }
    let http_floor = median(http_floor_runs.iter().map(LoadResult::per_second));
    let kafka_floor = median(kafka_floor_runs.iter().copied());
    let floor = http_floor.min(kafka_floor);

    let spooled_share = median(spooled_shares.iter().copied());
    let sections_ok = consumers.is_ok() && queries.is_ok();
    let report = render(Report {
        queries,
        broker_storage: broker_storage.describe(),
        spooled_share,
        consumers,
        command,
        hooks_per_run,
        mean_body,
        ingest,
        http_floor,
        kafka_floor,
        ratio: ingest / floor,
        p50_runs,
        p99_runs,
        floor_p99_runs,
        undeduplicated_p99_runs,
        half_rate,
        failures,
        rss_mb,
        ingest_runs: ingest_runs.iter().map(LoadResult::per_second).collect(),
        http_runs: http_floor_runs.iter().map(LoadResult::per_second).collect(),
        kafka_runs: kafka_floor_runs,
    });
    // The findings behind the design are written by hand; every run carries them over.
    let previous = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
    let report = with_findings(&report, &previous);
    std::fs::write("BENCHMARKS.md", &report).context("cannot write BENCHMARKS.md")?;
    println!("{report}");
    anyhow::ensure!(
        sections_ok,
        "a section of the benchmark did not finish (see BENCHMARKS.md)"
    );
    Ok(())
}

/// Hooks ingest made durable in its spool rather than in Kafka, so far.
async fn spooled_total(stack: &Stack) -> f64 {
    hookline_dev::client::metric_sum(
        &stack.ingest_admin_url,
        "hookline_ingest_spooled_total",
        &[],
    )
    .await
    .unwrap_or(0.0)
}

/// Waits until ingest's spool is empty, so that its drainer competes with no measurement.
async fn spool_drained(stack: &Stack) -> anyhow::Result<()> {
    let admin = &stack.ingest_admin_url;
    hookline_dev::client::poll_until(Duration::from_secs(300), || async {
        let depth =
            hookline_dev::client::metric_sum(admin, "hookline_ingest_spool_records", &[]).await?;
        (depth == 0.0).then_some(())
    })
    .await
    .context("ingest's spool did not drain within 300 s")
}

/// Where the broker keeps its storage during the benchmark (see the module documentation).
enum BrokerStorage {
    /// A directory on tmpfs, removed when the benchmark ends.
    Memory(tempfile::TempDir),
    /// The stack's temporary directory, because no tmpfs had room; the reason is kept.
    Disk(String),
}

impl BrokerStorage {
    /// Where tmpfs is mounted on Linux.
    const TMPFS: &str = "/dev/shm";
    /// Room the benchmark's records need on tmpfs, with a wide margin: Tansu's storage took
    /// about 2.2 KB per record of the mix, some 600 MB for the benchmark's 250,000 records.
    const ROOM: u64 = 4 << 30;

    /// Tmpfs when it has room, unless `HOOKLINE_BENCH_BROKER_STORAGE=disk` asks for disk.
    fn choose() -> anyhow::Result<Self> {
        match std::env::var("HOOKLINE_BENCH_BROKER_STORAGE").as_deref() {
            Err(_) | Ok("" | "tmpfs") => Ok(Self::tmpfs_or_disk()),
            Ok("disk") => Ok(Self::Disk("as HOOKLINE_BENCH_BROKER_STORAGE=disk asks".to_owned())),
            Ok(other) => anyhow::bail!(
                "HOOKLINE_BENCH_BROKER_STORAGE={other:?} is neither `tmpfs` (the default) nor `disk`"
            ),
        }
    }

    fn tmpfs_or_disk() -> Self {
        match Self::tmpfs_room(Self::TMPFS) {
            Ok(room) if room >= Self::ROOM => match tempfile::Builder::new()
                .prefix("hookline-bench-broker-")
                .tempdir_in(Self::TMPFS)
            {
                Ok(dir) => Self::Memory(dir),
                Err(error) => Self::Disk(format!(
                    "cannot create a directory in {}: {error}",
                    Self::TMPFS
                )),
            },
            Ok(room) => Self::Disk(format!(
                "{} has {} MiB free, less than the {} MiB the records need",
                Self::TMPFS,
                room >> 20,
                Self::ROOM >> 20
            )),
            Err(reason) => Self::Disk(reason),
        }
    }

    /// Free bytes of the tmpfs mounted at `path`, or why it is not one.
    fn tmpfs_room(path: &str) -> Result<u64, String> {
        let c_path = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
        let mut stats = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: `c_path` is a valid C string and `stats` is written by statfs before it is read.
        let stats = unsafe {
            if libc::statfs(c_path.as_ptr(), stats.as_mut_ptr()) != 0 {
                return Err(format!("{path}: {}", std::io::Error::last_os_error()));
            }
            stats.assume_init()
        };
        if stats.f_type != libc::TMPFS_MAGIC {
            return Err(format!("{path} is not a tmpfs"));
        }
        Ok(stats.f_bavail as u64 * stats.f_bsize as u64)
    }

    fn dir(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Memory(dir) => Some(dir.path().to_owned()),
            Self::Disk(_) => None,
        }
    }

    /// How the report names it.
    fn describe(&self) -> String {
        match self {
            Self::Memory(_) => format!(
                "on tmpfs (`{}`: acknowledged records survive a broker crash, not a machine crash, as with a Kafka broker, which acknowledges before it flushes to disk; see the README)",
                Self::TMPFS
            ),
            Self::Disk(reason) => format!("on disk ({reason}; expect a longer latency tail, see the README)"),
        }
    }
}

/// Floor (a): an endpoint that reads the body and answers 200, nothing else.
async fn bare_endpoint() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(|body: bytes::Bytes| async move {
            std::hint::black_box(body.len());
            "{}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Floor (b): the same records produced straight to the broker, `CONNECTIONS` in flight,
/// with ingest's producer settings. Returns records per second.
/// Floor (b)'s producer: librdkafka configured as ingest configures it by default, created
/// once and warmed up before any timed run (connection, producer id, topic metadata), as ingest
/// is by its own warm-up, so that the floor does not count start-up costs ingest does not pay.
pub(crate) struct RawProducer {
    producer: FutureProducer,
    topics: Topics,
}

impl RawProducer {
    pub(crate) fn new(brokers: &str) -> anyhow::Result<Self> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            // As ingest's --kafka-linger-ms, which reads the same variable.
            .set(
                "linger.ms",
                std::env::var("HOOKLINE_KAFKA_LINGER_MS").unwrap_or_else(|_| "0".to_owned()),
            )
            .create()?;
        Ok(Self {
            producer,
            topics: Topics::default(),
        })
    }

    /// Writes `hooks` as ingest would, `CONNECTIONS` in flight, and returns records/s.
    pub(crate) async fn send(&self, hooks: &[Hook]) -> anyhow::Result<f64> {
        let started = Instant::now();
        let results: Vec<bool> = futures::stream::iter(hooks.iter())
            .map(|hook| self.send_one(hook))
            .buffer_unordered(CONNECTIONS)
            .collect()
            .await;
        let elapsed = started.elapsed();
        let ok = results.iter().filter(|ok| **ok).count();
        anyhow::ensure!(
            ok == hooks.len(),
            "{} records were not acknowledged",
            hooks.len() - ok
        );
        Ok(ok as f64 / elapsed.as_secs_f64())
    }

    /// Writes `hooks` at `rate` records/s and returns every record's ack latency, sorted.
    pub(crate) async fn paced(&self, hooks: &[Hook], rate: f64) -> anyhow::Result<Vec<Duration>> {
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut pending = futures::stream::FuturesUnordered::new();
        let mut latencies = Vec::with_capacity(hooks.len());
        let mut next = 0;
        while next < hooks.len() || !pending.is_empty() {
            tokio::select! {
                _ = ticker.tick(), if next < hooks.len() => {
                    let hook = &hooks[next];
                    next += 1;
                    pending.push(async move {
                        let started = Instant::now();
                        (self.send_one(hook).await, started.elapsed())
                    });
                }
                Some((acknowledged, latency)) = pending.next(), if !pending.is_empty() => {
                    anyhow::ensure!(acknowledged, "a record was not acknowledged");
                    latencies.push(latency);
                }
            }
        }
        latencies.sort_unstable();
        Ok(latencies)
    }

    async fn send_one(&self, hook: &Hook) -> bool {
        let topic = self
            .topics
            .for_family(Family::from_event_header(hook.event));
        let headers = RecordHeaders {
            event_type: hook.event.to_owned(),
            event_id: record::event_id(hook.event, &hook.body),
            delivery_key: None,
            received_at_ms: now_ms(),
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        };
        let mut owned = OwnedHeaders::new();
        for (key, value) in headers.to_pairs() {
            owned = owned.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let key = record::record_key(&hook.body).unwrap_or_default();
        self.producer
            .send(
                FutureRecord::to(&topic)
                    .key(key.as_bytes())
                    .payload(hook.body.as_slice())
                    .headers(owned),
                Timeout::Never,
            )
            .await
            .is_ok()
    }
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident memory of a process, in MiB (VmHWM).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn peak_rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")?;
    Ok(kb / 1024.0)
}

struct Report {
    /// Where the broker kept its storage.
    broker_storage: String,
    /// Share of the ingest runs' hooks made durable in the spool because Kafka was too slow.
    spooled_share: f64,
    consumers: Result<consumers::ConsumersFigures, String>,
    queries: Result<queries::QueriesFigures, String>,
    command: String,
    hooks_per_run: usize,
    mean_body: usize,
    ingest: f64,
    http_floor: f64,
    kafka_floor: f64,
    ratio: f64,
    /// Ingest's ack latency p50 and p99 of each paced run, ms.
    p50_runs: Vec<f64>,
    p99_runs: Vec<f64>,
    /// The raw producer's ack latency p99 at the same rate, each run.
    floor_p99_runs: Vec<f64>,
    /// Ingest's p99 at the same rate with deduplication off, each run.
    undeduplicated_p99_runs: Vec<f64>,
    half_rate: f64,
    failures: usize,
    rss_mb: f64,
    ingest_runs: Vec<f64>,
    http_runs: Vec<f64>,
    kafka_runs: Vec<f64>,
}

/// The figures of every run, for the "Runs" column.
pub(crate) fn runs(values: &[f64]) -> String {
    runs_with(values, 0)
}

/// The figures of every run with `decimals` decimals (latencies in ms).
pub(crate) fn runs_with(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The header of a report table: a measure, its median, and the runs or the goal.
pub(crate) fn table_header(out: &mut String) {
    out.push_str("| Measure | Median | Runs |\n| --- | ---: | --- |\n");
}

/// One row of a report table.
pub(crate) fn row(
    out: &mut String,
    measure: impl std::fmt::Display,
    median: impl std::fmt::Display,
    note: impl std::fmt::Display,
) {
    let note = note.to_string();
    let _ = if note.is_empty() {
        writeln!(out, "| {measure} | {median} | |")
    } else {
        writeln!(out, "| {measure} | {median} | {note} |")
    };
}

/// Whether a goal is met, as the report says it.
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The consumers' ClickHouse settings for writing straight into `database` on the stack's
/// ClickHouse (the benchmark's floors and generated histories), with these timeouts.
fn direct_clickhouse_config(
    stack: &Stack,
    database: &str,
    send_timeout_ms: u64,
    receive_timeout_ms: u64,
) -> ClickHouseConfig {
    ClickHouseConfig {
        connection: ClickHouseConnection {
            clickhouse_url: stack.clickhouse_url.clone(),
            clickhouse_database: database.to_owned(),
            clickhouse_user: "default".to_owned(),
            clickhouse_password: Default::default(),
            clickhouse_connect_timeout_ms: 5_000,
            clickhouse_send_timeout_ms: send_timeout_ms,
            clickhouse_receive_timeout_ms: receive_timeout_ms,
            clickhouse_compression: if stack.clickhouse_uncompressed {
                Compression::None
            } else {
                Compression::Lz4
            },
        },
        raw_hooks_ttl_days: 0,
        log: LogSettings {
            log_format: LogFormat::Text,
        },
    }
}

/// The heading of BENCHMARKS.md's hand-written part, kept from one run to the next.
const FINDINGS: &str = "## Findings behind the design";

/// The heading that starts the queries' section.
const QUERIES_HEADING: &str = "\n## Queries";

/// `previous` (the file as it was) with its queries' section replaced by `section` (which
/// starts with its heading), or `section` put before the findings when it had none.
fn with_section(previous: &str, section: &str) -> String {
    let section = section.trim_matches('\n');
    let (start, end) = match previous.find(QUERIES_HEADING) {
        Some(start) => {
            let after = start + QUERIES_HEADING.len();
            let end = previous[after..]
                .find("\n## ")
                .map_or(previous.len(), |offset| after + offset);
            (start, end)
        }
        None => {
            let at = previous
                .find(&format!("\n{FINDINGS}"))
                .unwrap_or(previous.len());
            (at, at)
        }
    };
    format!(
        "{}\n\n{section}\n{}",
        previous[..start].trim_end(),
        &previous[end..]
    )
}

/// `report` followed by the findings section of `previous` (the file as it was), if any.
fn with_findings(report: &str, previous: &str) -> String {
    match previous.find(FINDINGS) {
        Some(start) => format!("{}\n\n{}", report.trim_end(), &previous[start..]),
        None => report.to_owned(),
    }
}

fn render(r: Report) -> String {
    let machine = hookline_dev::faults::report::machine();
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(out, "Written by `make bench` (`{}`). Machine: {machine}. Every figure of the ingest and consumers sections is the median of {RUNS} runs of {} hooks (the queries' section says how it measures); each floor is measured in the same run on the same machine.\n", r.command, r.hooks_per_run);
    let _ = writeln!(out, "## Ingest: hooks/s with durable acks\n");
    let _ = writeln!(out, "Load: {CONNECTIONS} concurrent keep-alive connections, a mix of 12 GitLab hook kinds from the fixtures with varied ids (mean body {} bytes), each answered only once durable: acknowledged by Kafka (`acks=all`) or, when Kafka takes longer than `HOOKLINE_KAFKA_ACK_DEADLINE_MS`, fsynced in ingest's spool (on disk). Broker: the local Tansu broker with sqlite storage {}; consumers stopped during the measurement, ingest stopped during the floors.\n", r.mean_body, r.broker_storage);
    table_header(&mut out);
    row(
        &mut out,
        "ingest, hooks/s",
        format!("{:.0}", r.ingest),
        runs(&r.ingest_runs),
    );
    row(
        &mut out,
        "floor (a): same HTTP load, endpoint only reads the body, req/s",
        format!("{:.0}", r.http_floor),
        runs(&r.http_runs),
    );
    row(
        &mut out,
        format!(
            "floor (b): raw librdkafka producer, same records, {CONNECTIONS} in flight, records/s"
        ),
        format!("{:.0}", r.kafka_floor),
        runs(&r.kafka_runs),
    );
    row(
        &mut out,
        "**ingest / min(a, b)**",
        format!("**{:.2}**", r.ratio),
        format!(
            "goal ≥ 0.8: {}",
            // Hooks answered from the spool do not wait for the broker, so against a broker
            // too slow for the deadline the ratio says nothing about ingest's overhead.
            if r.spooled_share > 0.1 {
                "not comparable: most hooks were answered from the spool (see below)"
            } else {
                verdict(r.ratio >= 0.8)
            }
        ),
    );
    row(
        &mut out,
        format!(
            "ack latency p50 at {:.0} hooks/s (half the maximum), ms",
            r.half_rate
        ),
        format!("{:.1}", median(r.p50_runs.iter().copied())),
        runs_with(&r.p50_runs, 1),
    );
    let p99 = median(r.p99_runs.iter().copied());
    let floor_p99 = median(r.floor_p99_runs.iter().copied());
    let floor_note = if floor_p99 > 15.0 {
        format!(" (the raw producer alone: {floor_p99:.1}, see the next line)")
    } else {
        String::new()
    };
    row(
        &mut out,
        format!("ack latency p99 at {:.0} hooks/s, ms", r.half_rate),
        format!("{p99:.1}"),
        format!(
            "{}; goal ≤ 15: {}{floor_note}",
            runs_with(&r.p99_runs, 1),
            verdict(p99 <= 15.0)
        ),
    );
    row(
        &mut out,
        format!(
            "floor: raw librdkafka producer's ack latency p99 at {:.0} records/s, ms",
            r.half_rate
        ),
        format!("{floor_p99:.1}"),
        runs_with(&r.floor_p99_runs, 1),
    );
    row(
        &mut out,
        format!("ingest's ack latency p99 at {:.0} hooks/s with deduplication off (`HOOKLINE_DEDUP_WINDOW_SECS=0`: no deduplication log written or read), ms", r.half_rate),
        format!("{:.1}", median(r.undeduplicated_p99_runs.iter().copied())),
        runs_with(&r.undeduplicated_p99_runs, 1),
    );
    row(
        &mut out,
        "ingest peak RSS, MiB",
        format!("{:.1}", r.rss_mb),
        format!("goal ≤ 64: {}", verdict(r.rss_mb <= 64.0)),
    );
    row(&mut out, "failed requests", r.failures, "");
    row(
        &mut out,
        "share of the ingest runs' hooks acknowledged from the fsynced spool (Kafka slower than `HOOKLINE_KAFKA_ACK_DEADLINE_MS`)",
        format!("{:.0} %", r.spooled_share * 100.0),
        "",
    );
    render_section(&mut out, "Consumers", &r.consumers, consumers::render);
    render_section(&mut out, "Queries", &r.queries, queries::render);
    out
}

/// A section measured apart (`figures`), or why it was not measured.
fn render_section<T>(
    out: &mut String,
    name: &str,
    figures: &Result<T, String>,
    render: fn(&mut String, &T),
) {
    match figures {
        Ok(figures) => render(out, figures),
        Err(error) => {
            let _ = writeln!(
                out,
                "\n## {name}: not measured\n\nThis section did not finish: {error}."
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_report_keeps_the_findings_of_the_previous_file() {
        let previous = "# Benchmarks\n\nold figures\n\n## Findings behind the design\n\n- kept\n";
        let report = with_findings("# Benchmarks\n\nnew figures\n", previous);
        assert_eq!(
            report,
            "# Benchmarks\n\nnew figures\n\n## Findings behind the design\n\n- kept\n"
        );
        assert!(!report.contains("old figures"));
        assert_eq!(with_findings("# Benchmarks\n", ""), "# Benchmarks\n");
    }

    #[test]
    fn the_queries_section_alone_replaces_its_own_and_keeps_the_rest() {
        let section = "\n## Queries: new\n\nnew rows\n";
        let previous = "# Benchmarks\n\n## Consumers\n\nc\n\n## Queries: old\n\nold rows\n\n## Findings behind the design\n\n- kept\n";
        assert_eq!(
            with_section(previous, section),
            "# Benchmarks\n\n## Consumers\n\nc\n\n## Queries: new\n\nnew rows\n\n## Findings behind the design\n\n- kept\n"
        );
        let without =
            "# Benchmarks\n\n## Consumers\n\nc\n\n## Findings behind the design\n\n- kept\n";
        assert_eq!(
            with_section(without, section),
            "# Benchmarks\n\n## Consumers\n\nc\n\n## Queries: new\n\nnew rows\n\n## Findings behind the design\n\n- kept\n"
        );
        let at_the_end = "# Benchmarks\n\n## Queries: old\n\nold rows\n";
        assert_eq!(
            with_section(at_the_end, section),
            "# Benchmarks\n\n## Queries: new\n\nnew rows\n"
        );
    }
}
