//! `hookline-ingest`: wires configuration, Kafka, the spool, the webhook listener and the admin
//! listener, and shuts them down once, in this order, when SIGINT or SIGTERM arrives:
//!
//! 1. the webhook listener stops accepting and answers every delivery in flight;
//! 2. the spool drainer and its oldest-age refresh stop (nothing more goes from the spool to
//!    the producer; unacknowledged records stay spooled);
//! 3. the deduplication log writer hands its last entries to the producer and waits for
//!    their acknowledgements;
//! 4. the producer is flushed (within `HOOKLINE_KAFKA_ACK_TIMEOUT_MS`);
//! 5. the spool's writer commits what it holds and ends;
//! 6. the deduplication tailer thread, which only reads and stopped at the signal, is joined
//!    (late, as a metadata request it is blocked in while Kafka is away takes up to 10 s), and
//!    so are the background tasks (readiness probe, topic creation retry);
//! 7. the admin listener, which stopped taking requests at the signal, is joined.
//!
//! The background tasks of step 6 and step 7 are `hookline_runtime::service::Service::stop`.
//!
//! A signal during start-up (while topics are being created) ends the process at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hookline_ingest::config::Config;
use hookline_ingest::dedup;
use hookline_ingest::hooks::AppState;
use hookline_ingest::prometheus::IngestMetrics;
use hookline_ingest::router::router;
use hookline_ingest::sinks::durable::{Drainer, DurableSink};
use hookline_ingest::sinks::kafka::{KafkaSettings, KafkaSink};
use hookline_ingest::sinks::metrics::SpoolMetrics;
use hookline_ingest::sinks::spool::{Spool, SpoolSettings};
use hookline_runtime::admin::Readiness;
use hookline_runtime::service::Service;
use hookline_runtime::topics;
use hookline_runtime::{http, listen, shutdown, telemetry};
use hookline_schemas::record::Topics;
use prometheus::Registry;
use tokio::sync::Semaphore;

/// How long start-up waits for Kafka to create the topics before going on without them.
const TOPIC_CREATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `/readyz` re-checks that hooks can be stored (and whether Kafka answers).
const READINESS_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log.log_format);
    let authenticator = config
        .authenticator()
        .context("invalid credentials configuration")?;
    let kafka_client = config
        .kafka
        .resolve()
        .context("invalid Kafka configuration")?;

    let registry = Registry::new();
    let metrics = IngestMetrics::register(&registry).context("cannot register metrics")?;
    let spool_metrics = SpoolMetrics::register(&registry).context("cannot register metrics")?;
    let readiness = Readiness::default();
    readiness.register("sink");
    let spool = Arc::new(
        Spool::open(
            &SpoolSettings {
                dir: config.spool_dir.clone(),
                max_bytes: config.spool_max_bytes,
            },
            spool_metrics.clone(),
        )
        .context("cannot open the spool; check HOOKLINE_SPOOL_DIR")?,
    );

    let webhooks = listen::bind(config.listen, "webhooks", "HOOKLINE_INGEST_LISTEN").await?;
    let service = Service::start(&config.admin, registry.clone(), readiness.clone()).await?;
    let (shutdown, tasks) = (service.shutdown.clone(), &service.tasks);

    let topics = Topics::new(config.topics.topic_prefix.clone());
    let max_message_bytes = topics::max_message_bytes_for(config.max_body_bytes as u64);
    let layout = config
        .topics
        .layout(topics.dead_letter(), max_message_bytes);
    let created = shutdown::unless_cancelled(
        &shutdown,
        topics::ensure(
            &kafka_client,
            &topics.all(),
            layout.clone(),
            TOPIC_CREATION_TIMEOUT,
        ),
    )
    .await;
    match created {
        Some(Ok(())) => {
            check_message_size(&kafka_client, &topics.all(), max_message_bytes, &shutdown).await;
        }
        Some(Err(error)) => {
            // Kafka being down must not keep ingest from starting: hooks go to the spool,
            // and the topics are created as soon as the brokers answer.
            tracing::error!(%error, "cannot create topics now; starting anyway, hooks are spooled until Kafka answers");
            tasks.spawn(
                "topic creation",
                topics::ensure_until_created(
                    kafka_client.clone(),
                    topics.all(),
                    layout,
                    shutdown.clone(),
                ),
            );
        }
        None => {
            tracing::info!("stopped while creating topics");
            service.stop().await?;
            return Ok(());
        }
    }

    let kafka = KafkaSink::with_max_body_bytes(
        &KafkaSettings {
            kafka: kafka_client.clone(),
            ack_timeout: config.kafka_ack_timeout(),
            linger_ms: config.kafka_linger_ms,
            compression: config.kafka_compression.clone(),
            statistics_interval: Duration::from_millis(config.kafka_statistics_interval_ms),
            dedup_log: config.dedup.enabled().then(|| topics.dedup()),
        },
        metrics.clone(),
        config.max_body_bytes as u64,
    )
    .context("cannot create the Kafka producer; check HOOKLINE_KAFKA_* settings")?;
    let kafka = Arc::new(kafka);
    let drainer =
        Drainer::new(kafka.clone(), spool.clone(), spool_metrics.clone()).spawn(shutdown.clone());
    let sink = DurableSink::new(
        kafka.clone(),
        spool.clone(),
        config.kafka_ack_deadline(),
        spool_metrics,
    );
    let deduplication = dedup::start(
        &config.dedup,
        &kafka_client,
        &topics,
        &registry,
        &readiness,
        &shutdown,
    )
    .context("cannot start deduplication")?;
    let state = Arc::new(AppState {
        sink,
        authenticator,
        topics,
        sources: config.sources.clone(),
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: config.body_read_timeout(),
        admission: Semaphore::new(config.max_concurrent_requests as usize),
        metrics,
        dedup: deduplication.dedup.clone(),
    });
    let probe = state.clone();
    readiness.watch("sink", READINESS_INTERVAL, tasks, &shutdown, move || {
        probe.sink.check_ready(READINESS_INTERVAL)
    });

    tracing::info!(listen = %config.listen, admin = %config.admin.admin_listen, "ingest ready: POST GitLab webhooks to /hooks");
    http::serve(
        webhooks,
        router(state.clone()),
        config.header_read_timeout(),
        shutdown.clone(),
    )
    .await;

    // The shutdown order of the module documentation, from step 2.
    tracing::info!("webhook listener closed; flushing the Kafka producer");
    drainer.await.context("spool drainer panicked")?;
    kafka.close_dedup_log().await;
    if let Err(error) = kafka.flush(config.kafka_ack_timeout()) {
        tracing::error!(%error, "records still unacknowledged at shutdown");
    }
    spool.close();
    tracing::info!(spooled = spool.len(), "spool closed");
    shutdown.cancel();
    deduplication.join_tailer().await;
    service.stop().await?;
    tracing::info!("ingest stopped");
    Ok(())
}

/// Says at start, at error level, which existing topics take smaller records than
/// `HOOKLINE_MAX_BODY_BYTES` allows: hooks that large would be accepted into the spool and
/// then parked there, since Kafka refuses them.
async fn check_message_size(
    kafka: &hookline_runtime::kafka::KafkaClient,
    topics: &[String],
    wanted: u64,
    shutdown: &shutdown::CancellationToken,
) {
    let check = topics::small_topics(kafka, topics, wanted, TOPIC_CREATION_TIMEOUT);
    match shutdown::unless_cancelled(shutdown, check).await {
        Some(Ok(small)) => {
            for topic in small {
                tracing::error!(
                    topic = %topic.topic,
                    max_message_bytes = topic.max_message_bytes,
                    wanted,
                    "topic takes smaller records than HOOKLINE_MAX_BODY_BYTES allows: raise the topic config max.message.bytes to at least {wanted} (kafka-configs.sh --alter --entity-type topics --entity-name {} --add-config max.message.bytes={wanted}), or lower HOOKLINE_MAX_BODY_BYTES; larger hooks are parked in the spool meanwhile",
                    topic.topic
                );
            }
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "cannot check the topics' max.message.bytes")
        }
        None => {}
    }
}
