//! Creating the project's Kafka topics with the configured partitions and replication.
//!
//! Hookline never relies on broker-side auto-creation: it is off on most production clusters
//! (and absent from some Kafka-compatible brokers), and auto-created topics get the broker's
//! default partition count, which caps how far consumers can scale. Creating an existing topic
//! is not an error, so every replica may run this at start.
//!
//! **Record size.** Kafka refuses records over a topic's `max.message.bytes` (default about
//! 1 MB), while GitLab sends bodies up to 25 MB. Topics are created with
//! `max.message.bytes` from [`TopicLayout::max_message_bytes`] (the body limit plus room for
//! headers), and [`small_topics`] tells a service at start which existing topics, created
//! earlier or by hand, still take less (their `max.message.bytes` as the broker reports it,
//! its broker-wide default included), so the operator can raise it.
//!
//! The local broker (Tansu 0.6) stores topic configs given on creation and answers
//! `DescribeConfigs` with them (nothing for a topic created without), but does not apply
//! `max.message.bytes`: it stored a 6 MB record whatever the topic said. It caps every
//! fetch at 5 MiB of keys and values, though, and never serves a larger record (the
//! consumer stops at it for good), so on the local stack bodies stay under 5 MiB in
//! practice; Kafka always serves the first record of a fetch, whatever its size.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::KafkaClient;

/// The topics' names and how those created at start are laid out, as flags and
/// `HOOKLINE_TOPIC_*` variables; both services take the same, so that they agree.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicSettings {
    /// Prefix of every topic name: hooks go to `{prefix}pipeline`, `{prefix}job`, …; the same
    /// on ingest and the consumers.
    #[arg(long, env = "HOOKLINE_TOPIC_PREFIX", default_value = "gitlab.")]
    pub topic_prefix: String,

    /// Partitions of each topic created at start (existing topics are left as they are).
    #[arg(long, env = "HOOKLINE_TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,

    /// Replication factor of each topic created at start; use 3 on a production cluster.
    #[arg(long, env = "HOOKLINE_TOPIC_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication: i32,

    /// Days the dead-letter topic keeps records no table could take in full, when a service
    /// creates it; 0 keeps them forever. Existing topics keep their `retention.ms`.
    #[arg(
        long,
        env = "HOOKLINE_DEAD_LETTER_RETENTION_DAYS",
        default_value_t = 365
    )]
    pub dead_letter_retention_days: u32,
}

impl TopicSettings {
    /// The layout of topics created at start, for records up to `max_message_bytes`, with the
    /// dead-letter topic named `dead_letter` kept as configured.
    pub fn layout(&self, dead_letter: String, max_message_bytes: u64) -> TopicLayout {
        TopicLayout {
            partitions: self.topic_partitions,
            replication: self.topic_replication,
            max_message_bytes,
            retention_ms: vec![(
                dead_letter,
                retention_ms_for_days(self.dead_letter_retention_days),
            )],
        }
    }
}

/// How every topic of the project is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    /// Upper bound on consumer parallelism per topic; hooks of one project stay in one.
    pub partitions: i32,
    /// Copies of each partition; 3 on a production cluster, 1 on a single local broker.
    pub replication: i32,
    /// Topic config `max.message.bytes` of topics created here: the largest record (batch)
    /// the topic takes. Kafka's default (about 1 MB) is below GitLab's 25 MB bodies.
    pub max_message_bytes: u64,
    /// Topics created with a `retention.ms` of their own (`-1`: kept forever); the others get
    /// the broker's default. The dead-letter topic holds hooks no table could take in full,
    /// which the broker's 7 days would lose before anyone fixed the cause.
    pub retention_ms: Vec<(String, i64)>,
}

/// The topic config that bounds how long records are kept.
pub const RETENTION_MS: &str = "retention.ms";

/// `retention.ms` for a retention of `days` days, 0 meaning forever (`-1`).
pub fn retention_ms_for_days(days: u32) -> i64 {
    match days {
        0 => -1,
        days => i64::from(days) * 24 * 60 * 60 * 1000,
    }
}

/// The topic config that bounds a record's size.
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";

/// Bytes a record may need beyond its body: key, headers (ids, source, GitLab's instance and
/// version, a dead-letter reason) and the record batch framing. Headers come from request
/// headers, which the HTTP server bounds well below this.
pub const RECORD_HEADROOM_BYTES: u64 = 1024 * 1024;

/// The `max.message.bytes` (and client message size) that fits a body of `max_body_bytes`.
pub fn max_message_bytes_for(max_body_bytes: u64) -> u64 {
    max_body_bytes.saturating_add(RECORD_HEADROOM_BYTES)
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
    #[error("cannot read the config of topic {topic}: {code:?}")]
    Describe {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// An existing topic that takes smaller records than wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallTopic {
    /// The topic's name.
    pub topic: String,
    /// Its `max.message.bytes` as the broker reports it.
    pub max_message_bytes: u64,
}

fn admin_client(kafka: &KafkaClient) -> Result<AdminClient<DefaultClientContext>, TopicError> {
    kafka
        .config()
        .create()
        .map_err(|source| TopicError::Client {
            brokers: kafka.brokers().to_owned(),
            source,
        })
}

/// Creates each missing topic in `topics`; existing topics are left as they are (their
/// configs too: raise an existing dead-letter topic's `retention.ms` by hand).
pub async fn ensure(
    kafka: &KafkaClient,
    topics: &[String],
    layout: TopicLayout,
    timeout: Duration,
) -> Result<(), TopicError> {
    let client = admin_client(kafka)?;
    let max_message_bytes = layout.max_message_bytes.to_string();
    let retention: Vec<(&str, String)> = layout
        .retention_ms
        .iter()
        .map(|(topic, ms)| (topic.as_str(), ms.to_string()))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| {
            let topic = NewTopic::new(
                name,
                layout.partitions,
                TopicReplication::Fixed(layout.replication),
            )
            .set(MAX_MESSAGE_BYTES, &max_message_bytes);
            match retention.iter().find(|(topic, _)| topic == name) {
                Some((_, ms)) => topic.set(RETENTION_MS, ms),
                None => topic,
            }
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

/// The topics of `topics` whose `max.message.bytes` is below `wanted`, as the broker reports
/// it (a topic without its own value reports the broker's default). Topics the broker does
/// not describe (missing, or a broker without the setting) are not reported.
pub async fn small_topics(
    kafka: &KafkaClient,
    topics: &[String],
    wanted: u64,
    timeout: Duration,
) -> Result<Vec<SmallTopic>, TopicError> {
    let client = admin_client(kafka)?;
    let specifiers: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|topic| ResourceSpecifier::Topic(topic))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = client
        .describe_configs(&specifiers, &options)
        .await
        .map_err(|source| TopicError::Client {
            brokers: kafka.brokers().to_owned(),
            source,
        })?;
    let mut small = Vec::new();
    for (topic, result) in topics.iter().zip(results) {
        let resource = match result {
            Ok(resource) => resource,
            Err(RDKafkaErrorCode::UnknownTopicOrPartition) => continue,
            Err(code) => {
                return Err(TopicError::Describe {
                    topic: topic.clone(),
                    code,
                })
            }
        };
        let value = resource
            .get(MAX_MESSAGE_BYTES)
            .and_then(|entry| entry.value.as_deref())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if let Some(max_message_bytes) = value.filter(|value| *value < wanted) {
            small.push(SmallTopic {
                topic: topic.clone(),
                max_message_bytes,
            });
        }
    }
    Ok(small)
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
        let attempt = ensure(&kafka, &topics, layout.clone(), Duration::from_secs(10));
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
