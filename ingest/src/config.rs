//! Ingest's configuration: one flag and one `HOOKLINE_*` environment variable per field.
//!
//! Every field is validated by clap at start, so a typo stops the service with a message that
//! names the flag, instead of surfacing later as a failed delivery.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use hookline_runtime::telemetry::LogFormat;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hookline-ingest",
    version,
    about = "Receives GitLab webhooks and writes them durably to Kafka.",
    long_about = "Receives GitLab project, group and system webhooks on POST /hooks \
        (or /hooks/{source}), checks X-Gitlab-Token, and writes each hook's exact body to the \
        Kafka topic of its event family, keyed by project. GitLab gets 200 only once Kafka has \
        acknowledged the record. Metrics and health probes are served on the admin listener."
)]
pub struct Config {
    /// Address for GitLab's webhook deliveries (POST /hooks, POST /hooks/{source}).
    #[arg(long, env = "HOOKLINE_INGEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address for /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "HOOKLINE_INGEST_ADMIN_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub admin_listen: SocketAddr,

    /// Secret token(s) GitLab sends in X-Gitlab-Token; comma-separated to accept several during a rotation.
    #[arg(
        long,
        env = "HOOKLINE_GITLAB_TOKEN",
        value_delimiter = ',',
        hide_env_values = true,
        required_unless_present = "gitlab_token_file"
    )]
    pub gitlab_token: Vec<String>,

    /// File holding the secret token(s), one per line (for secrets mounted as files).
    #[arg(long, env = "HOOKLINE_GITLAB_TOKEN_FILE")]
    pub gitlab_token_file: Option<PathBuf>,

    /// Source labels accepted in POST /hooks/{source}, comma-separated (e.g. `gitlab-prod,gitlab-staging`);
    /// they name where hooks came from in record headers and metrics. Other labels get 404.
    #[arg(long, env = "HOOKLINE_SOURCES", value_delimiter = ',')]
    pub sources: Vec<String>,

    /// Kafka bootstrap servers, comma-separated (librdkafka `bootstrap.servers`).
    #[arg(long, env = "HOOKLINE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    /// Prefix of every topic name: hooks go to `{prefix}pipeline`, `{prefix}job`, ….
    #[arg(long, env = "HOOKLINE_TOPIC_PREFIX", default_value = "gitlab.")]
    pub topic_prefix: String,

    /// Partitions of each topic created at start (existing topics are left as they are).
    #[arg(long, env = "HOOKLINE_TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,

    /// Replication factor of each topic created at start; use 3 on a production cluster.
    #[arg(long, env = "HOOKLINE_TOPIC_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication: i32,

    /// How long a hook may wait for Kafka's acknowledgement before GitLab gets 503, in
    /// milliseconds (librdkafka `message.timeout.ms`). Keep it well under GitLab's 10 s timeout.
    #[arg(long, env = "HOOKLINE_KAFKA_ACK_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub kafka_ack_timeout_ms: u64,

    /// How long the producer waits to batch records, in milliseconds (librdkafka `linger.ms`).
    #[arg(long, env = "HOOKLINE_KAFKA_LINGER_MS", default_value_t = 2)]
    pub kafka_linger_ms: u64,

    /// Compression of produced batches (librdkafka `compression.type`): none, gzip, snappy, lz4, zstd.
    #[arg(long, env = "HOOKLINE_KAFKA_COMPRESSION", default_value = "lz4")]
    pub kafka_compression: String,

    /// Largest accepted body in bytes; larger hooks get 413. GitLab's own limit is 25 MB.
    #[arg(long, env = "HOOKLINE_MAX_BODY_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Log format on standard error.
    #[arg(long, env = "HOOKLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    pub fn kafka_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.kafka_ack_timeout_ms)
    }
}
