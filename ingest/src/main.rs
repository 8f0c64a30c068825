//! `hookline-ingest`: wires configuration, Kafka, the webhook listener and the admin listener,
//! and shuts them down in order: stop accepting, finish in-flight hooks, flush the producer.
//! A signal during start-up (while topics are being created) ends the process at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hookline_ingest::config::Config;
use hookline_ingest::hooks::AppState;
use hookline_ingest::prometheus::IngestMetrics;
use hookline_ingest::router::router;
use hookline_ingest::sinks::kafka::{KafkaSettings, KafkaSink};
use hookline_runtime::admin::{self, Readiness};
use hookline_runtime::topics::{self, TopicLayout};
use hookline_runtime::{http, listen, shutdown, telemetry};
use hookline_schemas::record::Topics;
use prometheus::Registry;
use tokio::sync::Semaphore;

/// How often `/readyz` re-checks that Kafka answers.
const READINESS_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let authenticator = config
        .authenticator()
        .context("invalid credentials configuration")?;

    let registry = Registry::new();
    let metrics = IngestMetrics::register(&registry).context("cannot register metrics")?;
    let readiness = Readiness::default();
    readiness.register("kafka");

    let webhooks = listen::bind(config.listen, "webhooks", "HOOKLINE_INGEST_LISTEN").await?;
    let admin_listener = listen::bind(
        config.admin_listen,
        "metrics and health probes",
        "HOOKLINE_INGEST_ADMIN_LISTEN",
    )
    .await?;
    let shutdown = shutdown::on_signal();
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        registry.clone(),
        readiness.clone(),
        shutdown.clone(),
    ));

    let topics = Topics::new(config.topic_prefix.clone());
    let created = shutdown::unless_cancelled(
        &shutdown,
        topics::ensure(
            &config.kafka_brokers,
            &topics.all(),
            TopicLayout {
                partitions: config.topic_partitions,
                replication: config.topic_replication,
            },
            Duration::from_secs(30),
        ),
    )
    .await;
    match created {
        Some(result) => result?,
        None => {
            tracing::info!("stopped while creating topics");
            admin_task.await.context("admin listener panicked")??;
            return Ok(());
        }
    }

    let sink = KafkaSink::new(
        &KafkaSettings {
            brokers: config.kafka_brokers.clone(),
            ack_timeout: config.kafka_ack_timeout(),
            linger_ms: config.kafka_linger_ms,
            compression: config.kafka_compression.clone(),
            statistics_interval: Duration::from_millis(config.kafka_statistics_interval_ms),
        },
        metrics.clone(),
    )
    .context("cannot create the Kafka producer; check HOOKLINE_KAFKA_* settings")?;
    let state = Arc::new(AppState {
        sink,
        authenticator,
        topics,
        sources: config.sources.clone(),
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: config.body_read_timeout(),
        admission: Semaphore::new(config.max_concurrent_requests as usize),
        metrics,
    });
    let probe = state.clone();
    readiness.watch("kafka", READINESS_INTERVAL, move || {
        probe
            .sink
            .check_reachable(READINESS_INTERVAL)
            .map_err(|error| format!("brokers unreachable: {error}"))
    });

    tracing::info!(listen = %config.listen, admin = %config.admin_listen, "ingest ready: POST GitLab webhooks to /hooks");
    http::serve(
        webhooks,
        router(state.clone()),
        config.header_read_timeout(),
        shutdown.clone(),
    )
    .await;

    tracing::info!("webhook listener closed; flushing the Kafka producer");
    if let Err(error) = state.sink.flush(config.kafka_ack_timeout()) {
        tracing::error!(%error, "records still unacknowledged at shutdown");
    }
    shutdown.cancel();
    admin_task.await.context("admin listener panicked")??;
    tracing::info!("ingest stopped");
    Ok(())
}
