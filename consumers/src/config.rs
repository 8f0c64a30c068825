//! The consumers' configuration: one flag and one `HOOKLINE_*` environment variable per field.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hookline_runtime::admin::{AdminListener, AdminSettings};
use hookline_runtime::clickhouse::{ClickHouseConnection, Timeouts};
use hookline_runtime::kafka::KafkaConnection;
use hookline_runtime::telemetry::LogSettings;
use hookline_runtime::topics::TopicSettings;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hookline-consumers",
    version,
    about = "Projects raw GitLab hooks from Kafka into ClickHouse tables.",
    long_about = "Reads the raw hooks that hookline-ingest wrote to Kafka and projects them into \
        ClickHouse tables (raw_hooks, pipelines, …). Offsets are committed only after a batch is \
        in ClickHouse; tables collapse redelivered hooks, so results are exact although delivery \
        is at-least-once."
)]
pub struct Cli {
    /// What to do: migrate, run, or reproject.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply the ClickHouse schema migrations, then exit.
    Migrate(ClickHouseConfig),
    /// Apply the migrations, then consume until SIGINT or SIGTERM.
    Run(Box<RunConfig>),
    /// Rebuild typed tables from raw_hooks (and optionally the Kafka topics) into shadow
    /// tables, then swap them in; safe while the consumers run.
    #[command(
        long_about = "Rebuilds typed tables from the event store: every hook in raw_hooks \
            (and, with --from-kafka, every record still in the hook topics) is projected again \
            into a shadow table per table, which then replaces the table atomically \
            (EXCHANGE TABLES). Hooks the consumers write meanwhile are projected into the new \
            tables after the swap, so it is safe while the consumers run. Run one at a time. \
            Shows a progress bar on a terminal and progress lines in logs otherwise."
    )]
    Reproject(Box<ReprojectConfig>),
}

/// What `reproject` rebuilds, and from where.
#[derive(Debug, Clone, Args)]
pub struct ReprojectConfig {
    /// Tables to rebuild (all typed tables when none is named).
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Build the new tables and report the rows each would get and how they differ from
    /// today's, then drop them: nothing changes.
    #[arg(long)]
    pub dry_run: bool,

    /// Also project every record still in the hook topics, read from their earliest offset:
    /// for hooks raw_hooks no longer holds (HOOKLINE_RAW_HOOKS_TTL_DAYS). Repeats collapse.
    #[arg(long)]
    pub from_kafka: bool,

    /// Where the tables live (HOOKLINE_CLICKHOUSE_*), as for `run`.
    #[command(flatten)]
    pub clickhouse: ClickHouseConfig,

    /// The brokers, for --from-kafka (HOOKLINE_KAFKA_*), as for `run`.
    #[command(flatten)]
    pub kafka: KafkaConnection,

    /// Topic names, for --from-kafka (HOOKLINE_TOPIC_PREFIX), as for `run`.
    #[command(flatten)]
    pub topics: TopicSettings,
}

/// Where the ClickHouse tables live, and how long they are kept.
#[derive(Debug, Clone, Args)]
pub struct ClickHouseConfig {
    /// The server, database and credentials (HOOKLINE_CLICKHOUSE_*).
    #[command(flatten)]
    pub connection: ClickHouseConnection,

    /// Days to keep raw hooks (`raw_hooks`, with every body) before ClickHouse deletes them by
    /// TTL; 0 keeps them forever. The typed tables are kept whatever this says; a projection
    /// rebuilt from raw hooks reaches back only this far.
    #[arg(long, env = "HOOKLINE_RAW_HOOKS_TTL_DAYS", default_value_t = 0)]
    pub raw_hooks_ttl_days: u32,

    /// How logs are written (HOOKLINE_LOG_FORMAT).
    #[command(flatten)]
    pub log: LogSettings,
}

impl ClickHouseConfig {
    /// The insert and query timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.connection.timeouts()
    }
}

/// The consumers' admin listener: `HOOKLINE_CONSUMERS_ADMIN_LISTEN`, port 9465 (ingest has
/// 9464, so both run on one host).
#[derive(Debug, Clone)]
pub struct ConsumersAdmin;

impl AdminListener for ConsumersAdmin {
    const ENV: &'static str = "HOOKLINE_CONSUMERS_ADMIN_LISTEN";
    const DEFAULT: &'static str = "127.0.0.1:9465";
}

#[derive(Debug, Clone, Args)]
pub struct RunConfig {
    /// Where the tables live (HOOKLINE_CLICKHOUSE_*).
    #[command(flatten)]
    pub clickhouse: ClickHouseConfig,

    /// Address for /metrics, /healthz and /readyz (HOOKLINE_CONSUMERS_ADMIN_LISTEN).
    #[command(flatten)]
    pub admin: AdminSettings<ConsumersAdmin>,

    /// The brokers, TLS and SASL (HOOKLINE_KAFKA_BROKERS, HOOKLINE_KAFKA_SECURITY_PROTOCOL, …).
    #[command(flatten)]
    pub kafka: KafkaConnection,

    /// Topic names and the layout of topics created at start, as on ingest.
    #[command(flatten)]
    pub topics: TopicSettings,

    /// Kafka consumer group (librdkafka `group.id`); replicas in one group share the partitions.
    #[arg(
        long,
        env = "HOOKLINE_CONSUMER_GROUP",
        default_value = "hookline-consumers"
    )]
    pub consumer_group: String,

    /// How long the group waits for a consumer that stopped heartbeating (crashed, cut off)
    /// before its partitions go to the others (librdkafka `session.timeout.ms`; at most
    /// `max.poll.interval.ms`, 5 minutes).
    #[arg(long, env = "HOOKLINE_KAFKA_SESSION_TIMEOUT_MS", default_value_t = 45_000, value_parser = clap::value_parser!(u64).range(1_000..=300_000))]
    pub kafka_session_timeout_ms: u64,

    /// How long a fetch may wait at the broker for new records (librdkafka
    /// `fetch.wait.max.ms`). Kafka answers as soon as records arrive, so this only paces
    /// idle partitions (librdkafka's own default, 500, suits it); some Kafka-compatible brokers
    /// (Tansu) hold every fetch this long, and there it adds directly to freshness.
    #[arg(long, env = "HOOKLINE_KAFKA_FETCH_WAIT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub kafka_fetch_wait_ms: u64,

    /// Flush a batch to ClickHouse once it holds this many records.
    #[arg(long, env = "HOOKLINE_BATCH_MAX_RECORDS", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_max_records: u64,

    /// Flush a batch once its raw hooks add up to this many bytes.
    #[arg(long, env = "HOOKLINE_BATCH_MAX_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_max_bytes: u64,

    /// Flush a batch at the latest this many milliseconds after its first record.
    #[arg(long, env = "HOOKLINE_BATCH_MAX_WAIT_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_max_wait_ms: u64,

    /// Largest hook body in bytes, as on ingest (`HOOKLINE_MAX_BODY_BYTES`, default 25 MiB,
    /// GitLab's own limit): sizes the consumer's fetches, and the topics created at start, so
    /// that every record ingest may write can be read.
    #[arg(long, env = "HOOKLINE_MAX_BODY_BYTES", default_value_t = 25 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: u64,

    /// Measure consumer lag (`hookline_consumers_lag_records`) this often, in milliseconds;
    /// 0 turns the measurement off.
    #[arg(long, env = "HOOKLINE_KAFKA_LAG_INTERVAL_MS", default_value_t = 5000)]
    pub kafka_lag_interval_ms: u64,

    /// How long a consumer that owns no partition waits, while partitions of the group's
    /// topics have lag whose committed offset does not move, before it reports itself not
    /// ready (`assignment`) and leaves and rejoins the group. Must exceed
    /// HOOKLINE_KAFKA_SESSION_TIMEOUT_MS: a restarted consumer legitimately waits that long for
    /// its old self to leave the group. Needs the lag measurement (HOOKLINE_KAFKA_LAG_INTERVAL_MS).
    #[arg(long, env = "HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub kafka_unassigned_grace_ms: u64,
}

impl RunConfig {
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }

    /// `None` when the lag measurement is off.
    pub fn kafka_lag_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.kafka_lag_interval_ms)).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `run`'s settings alone, parsed as the subcommand parses them.
    pub(crate) fn run_config(args: &[&str]) -> RunConfig {
        #[derive(Parser)]
        struct Run {
            /// What `run` takes.
            #[command(flatten)]
            config: RunConfig,
        }
        Run::try_parse_from(["run"].iter().chain(args))
            .expect("valid arguments")
            .config
    }

    #[test]
    fn debug_output_never_shows_the_clickhouse_password() {
        let cli = Cli::try_parse_from([
            "hookline-consumers",
            "run",
            "--clickhouse-password=swordfish",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("swordfish"), "{shown}");
        let config = run_config(&["--clickhouse-password=swordfish"]);
        assert_eq!(
            config.clickhouse.connection.clickhouse_password.expose(),
            "swordfish"
        );
        assert_eq!(
            config.clickhouse.timeouts().receive,
            Duration::from_secs(60)
        );
    }
}
