//! Creating the project's Kafka topics with the configured partitions and replication.
//!
//! Hookline never relies on broker-side auto-creation: it is off on most production clusters
//! (and absent from some Kafka-compatible brokers), and auto-created topics get the broker's
//! default partition count, which caps how far consumers can scale. Creating an existing topic
//! is not an error, so every replica may run this at start.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::KafkaClient;

/// How every topic of the project is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLayout {
    /// Upper bound on consumer parallelism per topic; hooks of one project stay in one.
    pub partitions: i32,
    /// Copies of each partition; 3 on a production cluster, 1 on a single local broker.
    pub replication: i32,
}

/// Topics could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot reach Kafka at {brokers} to create topics: {source}; check the broker list and that the brokers are up")]
    Client {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot create topic {topic}: {code:?}; create it by hand with {partitions} partitions or fix the broker's permissions")]
    Create {
        topic: String,
        code: RDKafkaErrorCode,
        partitions: i32,
    },
}

/// Creates each missing topic in `topics`; existing topics are left as they are.
pub async fn ensure(
    kafka: &KafkaClient,
    topics: &[String],
    layout: TopicLayout,
    timeout: Duration,
) -> Result<(), TopicError> {
    let client: AdminClient<DefaultClientContext> =
        kafka
            .config()
            .create()
            .map_err(|source| TopicError::Client {
                brokers: kafka.brokers().to_owned(),
                source,
            })?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                layout.partitions,
                TopicReplication::Fixed(layout.replication),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results = client
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| TopicError::Client {
            brokers: kafka.brokers().to_owned(),
            source,
        })?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions = layout.partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Create {
                    topic,
                    code,
                    partitions: layout.partitions,
                })
            }
        }
    }
    Ok(())
}

/// Keeps trying [`ensure`] with backoff (1 s doubling to 30 s) until it succeeds or `shutdown`
/// is cancelled.
///
/// For a service that must start while Kafka is unreachable (ingest spools hooks meanwhile):
/// the topics appear as soon as the brokers answer, without a restart.
pub async fn ensure_until_created(
    kafka: KafkaClient,
    topics: Vec<String>,
    layout: TopicLayout,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let attempt = ensure(&kafka, &topics, layout, Duration::from_secs(10));
        let result = tokio::select! {
            result = attempt => result,
            () = shutdown.cancelled() => return,
        };
        match result {
            Ok(()) => {
                tracing::info!("topics created after the brokers became reachable");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_s = backoff.as_secs(), "topics not created yet")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
