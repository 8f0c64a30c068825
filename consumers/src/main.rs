//! `hookline-consumers`: `migrate` applies the ClickHouse schema; `reproject` rebuilds typed
//! tables from the raw hooks (`hookline_consumers::reproject`); `run` applies the schema and
//! then consumes until SIGINT or SIGTERM, and then shuts down once, in this order:
//!
//! 1. the consumer stops fetching, writes the batch it holds to ClickHouse (and its dead
//!    letters to Kafka) and commits its offsets;
//! 2. the background tasks (consumer lag and membership watch, ClickHouse reachability
//!    watch, Kafka readiness probe) are joined;
//! 3. the admin listener, which stopped taking requests at the signal, is joined.
//!
//! Steps 2 and 3 are `hookline_runtime::service::Service::stop`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hookline_consumers::clickhouse::{self, migrate, sink::ClickHouseSink};
use hookline_consumers::config::{Cli, Command, RunConfig};
use hookline_consumers::consumer::{BatchLimits, Consumer};
use hookline_consumers::dead_letter::DeadLetters;
use hookline_consumers::group::{GroupConsumer, GroupContext};
use hookline_consumers::lag::{self, LagWatch};
use hookline_consumers::membership::{self, Watchdog};
use hookline_consumers::prometheus::ConsumerMetrics;
use hookline_consumers::reproject;
use hookline_runtime::admin::Readiness;
use hookline_runtime::service::Service;
use hookline_runtime::{shutdown, telemetry, topics};
use hookline_schemas::event::Family;
use hookline_schemas::record::Topics;
use prometheus::Registry;
use rdkafka::consumer::Consumer as _;
use rdkafka::util::Timeout;

/// How often `/readyz` re-checks that Kafka and ClickHouse answer.
const READINESS_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Migrate(config) => {
            telemetry::init(config.log.log_format);
            let applied = migrate::run(&config).await?;
            tracing::info!(?applied, database = %config.connection.clickhouse_database, "schema is up to date");
            Ok(())
        }
        Command::Run(config) => {
            telemetry::init(config.clickhouse.log.log_format);
            run(*config).await
        }
        Command::Reproject(config) => {
            telemetry::init(config.clickhouse.log.log_format);
            let report = reproject::run(&config, shutdown::on_signal()).await?;
            print!("{report}");
            Ok(())
        }
    }
}

async fn run(config: RunConfig) -> anyhow::Result<()> {
    let kafka_client = config
        .kafka
        .resolve()
        .context("invalid Kafka configuration")?;
    let unassigned_grace = membership::unassigned_grace(&config)?;
    let registry = Registry::new();
    let metrics = ConsumerMetrics::register(&registry).context("cannot register metrics")?;
    let readiness = Readiness::default();
    readiness.register("clickhouse");
    readiness.register("kafka");
    let service = Service::start(&config.admin, registry.clone(), readiness.clone()).await?;
    let (shutdown, tasks) = (service.shutdown.clone(), &service.tasks);

    migrate::run(&config.clickhouse).await?;
    readiness.set_ready("clickhouse");
    let topics = Topics::new(config.topics.topic_prefix.clone());
    let max_message_bytes = topics::max_message_bytes_for(config.max_body_bytes);
    topics::ensure(
        &kafka_client,
        &topics.all(),
        config
            .topics
            .layout(topics.dead_letter(), max_message_bytes),
        Duration::from_secs(30),
    )
    .await?;

    let consumer_fetch = FetchSizes::for_message(max_message_bytes);
    let kafka: GroupConsumer = kafka_client
        .config()
        .set("group.id", &config.consumer_group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            config.kafka_session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (config.kafka_session_timeout_ms / 3).min(3000).to_string(),
        )
        .set("fetch.wait.max.ms", config.kafka_fetch_wait_ms.to_string())
        // Records up to HOOKLINE_MAX_BODY_BYTES plus headers, within librdkafka's limits:
        // a partition's fetch takes the largest record, a fetch at least that (librdkafka's
        // 50 MB default otherwise), and a response the fetch plus framing.
        .set(
            "max.partition.fetch.bytes",
            consumer_fetch.partition.to_string(),
        )
        .set("fetch.max.bytes", consumer_fetch.fetch.to_string())
        .set(
            "receive.message.max.bytes",
            consumer_fetch.receive.to_string(),
        )
        .set("client.id", "hookline-consumers")
        .create_with_context(GroupContext::default())
        .context("cannot create the Kafka consumer; check the HOOKLINE_KAFKA_* settings")?;
    let family_topics: Vec<String> = Family::ALL.iter().map(|f| topics.for_family(*f)).collect();
    let subscription: Vec<&str> = family_topics.iter().map(String::as_str).collect();
    kafka
        .subscribe(&subscription)
        .context("cannot subscribe to the hook topics")?;
    let kafka = Arc::new(kafka);
    let probe = kafka.clone();
    readiness.watch("kafka", READINESS_INTERVAL, tasks, &shutdown, move || {
        probe
            .fetch_metadata(None, Timeout::After(READINESS_INTERVAL))
            .map(|_| ())
            .map_err(|error| format!("brokers unreachable: {error}"))
    });
    if let Some(interval) = config.kafka_lag_interval() {
        readiness.register(lag::ASSIGNMENT_CHECK);
        let watch = LagWatch {
            kafka: kafka.clone(),
            topics: family_topics.clone(),
            metrics: metrics.clone(),
            interval,
            watchdog: Watchdog::new(unassigned_grace),
            readiness: readiness.clone(),
        };
        tasks.spawn("lag watch", lag::watch(watch, shutdown.clone()));
    }

    let clickhouse_client = clickhouse::client(&config.clickhouse);
    tasks.spawn(
        "clickhouse watch",
        clickhouse::watch_reachable(
            clickhouse_client.clone(),
            config.clickhouse.timeouts().receive,
            readiness.clone(),
            READINESS_INTERVAL,
            shutdown.clone(),
        ),
    );
    let consumer = Consumer {
        kafka,
        sink: ClickHouseSink::new(
            clickhouse_client,
            config.clickhouse.timeouts(),
            metrics.clone(),
            readiness.clone(),
        ),
        dead_letters: DeadLetters::new(
            &kafka_client,
            topics.dead_letter(),
            usize::try_from(max_message_bytes).unwrap_or(usize::MAX),
        )
        .context("cannot create the dead-letter producer")?,
        metrics,
        limits: BatchLimits {
            max_records: config.batch_max_records,
            max_bytes: config.batch_max_bytes,
            max_wait: config.batch_max_wait(),
        },
    };
    tracing::info!(topics = ?family_topics, group = %config.consumer_group, "consuming");
    consumer.run(shutdown.clone()).await;
    // The shutdown order of the module documentation, from step 2.
    service.stop().await?;
    tracing::info!("consumers stopped");
    Ok(())
}

/// librdkafka's fetch sizes that let the consumer read records up to a size.
struct FetchSizes {
    /// `max.partition.fetch.bytes`.
    partition: u64,
    /// `fetch.max.bytes`.
    fetch: u64,
    /// `receive.message.max.bytes`.
    receive: u64,
}

impl FetchSizes {
    /// librdkafka's default `fetch.max.bytes`, kept when records are smaller.
    const DEFAULT_FETCH: u64 = 52_428_800;
    /// librdkafka's largest `fetch.max.bytes`; `receive.message.max.bytes` must exceed the
    /// fetch by 512 bytes of framing and stay within 2^31 - 1.
    const MAX_FETCH: u64 = 2_147_483_135;
    /// librdkafka's largest `max.partition.fetch.bytes`.
    const MAX_PARTITION_FETCH: u64 = 1_000_000_000;

    fn for_message(max_message_bytes: u64) -> Self {
        let fetch = max_message_bytes.clamp(Self::DEFAULT_FETCH, Self::MAX_FETCH);
        Self {
            partition: max_message_bytes.min(Self::MAX_PARTITION_FETCH),
            fetch,
            receive: fetch + 512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FetchSizes;

    #[test]
    fn fetch_sizes_take_the_largest_record_within_librdkafka_limits() {
        let sizes = FetchSizes::for_message(27_262_976);
        assert_eq!(sizes.partition, 27_262_976);
        assert_eq!(sizes.fetch, FetchSizes::DEFAULT_FETCH);
        assert_eq!(sizes.receive, sizes.fetch + 512);
        let sizes = FetchSizes::for_message(100 << 20);
        assert_eq!((sizes.partition, sizes.fetch), (100 << 20, 100 << 20));
        let sizes = FetchSizes::for_message(u64::MAX);
        assert_eq!(sizes.receive, 2_147_483_647);
        assert!(sizes.partition <= sizes.fetch);
        // librdkafka accepts them (it checks them when the client is created).
        for max in [1_000, 27_262_976, u64::MAX] {
            let sizes = FetchSizes::for_message(max);
            rdkafka::ClientConfig::new()
                .set("group.id", "test")
                .set("max.partition.fetch.bytes", sizes.partition.to_string())
                .set("fetch.max.bytes", sizes.fetch.to_string())
                .set("receive.message.max.bytes", sizes.receive.to_string())
                .create::<rdkafka::consumer::BaseConsumer>()
                .unwrap_or_else(|error| panic!("{max}: {error}"));
        }
    }
}
