//! Ingest's configuration: one flag and one `HOOKLINE_*` environment variable per field.
//!
//! Every field is validated at start (by clap, then by [`Config::authenticator`] and the Kafka
//! settings' `resolve`), so a typo
//! stops the service with a message that names the setting, instead of surfacing later as a
//! failed delivery. Secrets are held as [`Secret`], whose `Debug` never shows them, from the
//! flag or file they come from until the verifiers keep only what they need of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use hookline_runtime::admin::{AdminListener, AdminSettings};
use hookline_runtime::kafka::KafkaConnection;
use hookline_runtime::secret::Secret;
use hookline_runtime::telemetry::LogSettings;
use hookline_runtime::topics::TopicSettings;

use crate::auth::{
    read_secret_lines, Authenticator, Credentials, CredentialsError, SignatureVerifier,
    TokenVerifier,
};

/// Ingest's admin listener: `HOOKLINE_INGEST_ADMIN_LISTEN`, port 9464.
#[derive(Debug, Clone)]
pub struct IngestAdmin;

impl AdminListener for IngestAdmin {
    const ENV: &'static str = "HOOKLINE_INGEST_ADMIN_LISTEN";
    const DEFAULT: &'static str = "127.0.0.1:9464";
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hookline-ingest",
    version,
    about = "Receives GitLab webhooks and writes them durably to Kafka.",
    long_about = "Receives GitLab project, group and system webhooks on POST /hooks \
        (or /hooks/{source}), checks X-Gitlab-Token and/or the Standard Webhooks signature \
        (webhook-signature), and writes each hook's exact body to the \
        Kafka topic of its event family, keyed by project. GitLab gets 200 only once Kafka has \
        acknowledged the record or, when Kafka is slow or down, it is fsynced in the local \
        spool (forwarded to Kafka in the background). Metrics and health probes are served \
        on the admin listener."
)]
pub struct Config {
    /// Address for GitLab's webhook deliveries (POST /hooks, POST /hooks/{source}).
    #[arg(long, env = "HOOKLINE_INGEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address for /metrics, /healthz and /readyz (HOOKLINE_INGEST_ADMIN_LISTEN).
    #[command(flatten)]
    pub admin: AdminSettings<IngestAdmin>,

    /// Secret token(s) GitLab sends in X-Gitlab-Token; comma-separated to accept several during a
    /// rotation. Required on /hooks (and sources without their own credentials) when set.
    /// At least one of this and --signing-secret (or their files) must be set.
    #[arg(
        long,
        env = "HOOKLINE_GITLAB_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub gitlab_token: Vec<Secret>,

    /// File holding the secret token(s), one per line (for secrets mounted as files); adds to
    /// --gitlab-token.
    #[arg(long, env = "HOOKLINE_GITLAB_TOKEN_FILE")]
    pub gitlab_token_file: Option<PathBuf>,

    /// Signing secret(s) of GitLab's signing token, `whsec_<base64>`, comma-separated during a
    /// rotation. When set, deliveries must carry a valid Standard Webhooks signature
    /// (webhook-id, webhook-timestamp, webhook-signature headers); when a token is set too,
    /// both are required.
    #[arg(
        long,
        env = "HOOKLINE_SIGNING_SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub signing_secret: Vec<Secret>,

    /// File holding signing secret(s), one per line; adds to --signing-secret.
    #[arg(long, env = "HOOKLINE_SIGNING_SECRET_FILE")]
    pub signing_secret_file: Option<PathBuf>,

    /// Per-source secret tokens, `SOURCE:TOKEN`, comma-separated (repeat a source to accept
    /// several tokens). A source with its own tokens or signing secrets accepts only its own
    /// credentials; other sources and /hooks use the global ones. Sources must be in --sources.
    #[arg(
        long,
        env = "HOOKLINE_SOURCE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub source_tokens: Vec<Secret>,

    /// File of per-source secret tokens, one `SOURCE:TOKEN` per line; adds to --source-tokens.
    #[arg(long, env = "HOOKLINE_SOURCE_TOKENS_FILE")]
    pub source_tokens_file: Option<PathBuf>,

    /// Per-source signing secrets, `SOURCE:whsec_<base64>`, comma-separated (repeat a source
    /// during a rotation).
    #[arg(
        long,
        env = "HOOKLINE_SOURCE_SIGNING_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub source_signing_secrets: Vec<Secret>,

    /// File of per-source signing secrets, one `SOURCE:whsec_<base64>` per line.
    #[arg(long, env = "HOOKLINE_SOURCE_SIGNING_SECRETS_FILE")]
    pub source_signing_secrets_file: Option<PathBuf>,

    /// How far webhook-timestamp may be from ingest's clock, either way, in seconds; older
    /// (or later) signed deliveries get 401 (replay protection).
    #[arg(long, env = "HOOKLINE_SIGNATURE_TOLERANCE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub signature_tolerance_secs: u64,

    /// Source labels accepted in POST /hooks/{source}, comma-separated (e.g. `gitlab-prod,gitlab-staging`);
    /// they name where hooks came from in record headers and metrics. Other labels get 404.
    #[arg(long, env = "HOOKLINE_SOURCES", value_delimiter = ',')]
    pub sources: Vec<String>,

    /// The brokers, TLS and SASL (HOOKLINE_KAFKA_BROKERS, HOOKLINE_KAFKA_SECURITY_PROTOCOL, …).
    #[command(flatten)]
    pub kafka: KafkaConnection,

    /// Topic names and the layout of topics created at start (HOOKLINE_TOPIC_*, …).
    #[command(flatten)]
    pub topics: TopicSettings,

    /// How long librdkafka keeps trying to deliver a record, in milliseconds
    /// (`message.timeout.ms`): the spool drainer's and shutdown flush's limit per record.
    /// Keep it above --kafka-ack-deadline-ms.
    #[arg(long, env = "HOOKLINE_KAFKA_ACK_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub kafka_ack_timeout_ms: u64,

    /// How long the producer waits to batch records, in milliseconds (librdkafka `linger.ms`).
    /// GitLab waits for every hook's acknowledgement, so a linger adds to every delivery; under
    /// load librdkafka still batches the records that queue while its requests are in flight.
    // Why 0: BENCHMARKS.md, "Findings behind the design".
    #[arg(long, env = "HOOKLINE_KAFKA_LINGER_MS", default_value_t = 0)]
    pub kafka_linger_ms: u64,

    /// Compression of produced batches (librdkafka `compression.type`): none, gzip, snappy, lz4, zstd.
    #[arg(long, env = "HOOKLINE_KAFKA_COMPRESSION", default_value = "lz4")]
    pub kafka_compression: String,

    /// Largest accepted body in bytes; larger hooks get 413. GitLab's own limit is 25 MB.
    #[arg(long, env = "HOOKLINE_MAX_BODY_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// A client must send its complete request headers within this many milliseconds of
    /// connecting (or of its previous request), or the connection is closed (slowloris).
    #[arg(long, env = "HOOKLINE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// A client must send the whole body within this many milliseconds of its headers, or gets
    /// 408 and the connection is closed.
    #[arg(long, env = "HOOKLINE_BODY_READ_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// Deliveries handled at once; more get 503 at once instead of queueing. With
    /// --max-body-bytes it bounds the memory held by bodies.
    #[arg(long, env = "HOOKLINE_MAX_CONCURRENT_REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// How often librdkafka reports its statistics (queue depth), in milliseconds
    /// (`statistics.interval.ms`); 0 turns them off.
    #[arg(
        long,
        env = "HOOKLINE_KAFKA_STATISTICS_INTERVAL_MS",
        default_value_t = 5000
    )]
    pub kafka_statistics_interval_ms: u64,

    /// How long a hook waits for Kafka's acknowledgement before it is written to the local
    /// spool instead, in milliseconds. Keep it well under GitLab's 10 s timeout.
    #[arg(long, env = "HOOKLINE_KAFKA_ACK_DEADLINE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub kafka_ack_deadline_ms: u64,

    /// Directory of the local spool (hooks Kafka has not acknowledged yet, fsynced). Must be
    /// on a persistent disk and used by one ingest process only.
    #[arg(long, env = "HOOKLINE_SPOOL_DIR", default_value = "hookline-spool")]
    pub spool_dir: PathBuf,

    /// Most bytes of hooks the spool holds; past it hooks Kafka does not acknowledge get 503.
    #[arg(long, env = "HOOKLINE_SPOOL_MAX_BYTES", default_value_t = 1 << 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub spool_max_bytes: u64,

    /// How logs are written (HOOKLINE_LOG_FORMAT).
    #[command(flatten)]
    pub log: LogSettings,

    /// Deduplication window (HOOKLINE_DEDUP_*).
    #[command(flatten)]
    pub dedup: crate::dedup::DedupConfig,
}

impl Config {
    pub fn kafka_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.kafka_ack_timeout_ms)
    }

    pub fn kafka_ack_deadline(&self) -> Duration {
        Duration::from_millis(self.kafka_ack_deadline_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// Reads the secret files and builds the credentials of every endpoint, or says which
    /// setting is wrong.
    pub fn authenticator(&self) -> Result<Authenticator, CredentialsError> {
        let tolerance = Duration::from_secs(self.signature_tolerance_secs);
        let tokens_of = |(setting, values): (&'static str, Vec<Secret>)| {
            TokenVerifier::new(setting, values.iter().map(Secret::expose))
        };
        let signatures_of = |(setting, values): (&'static str, Vec<Secret>)| {
            SignatureVerifier::new(setting, values.iter().map(Secret::expose), tolerance)
        };
        let tokens = gather(
            "HOOKLINE_GITLAB_TOKEN",
            &self.gitlab_token,
            "HOOKLINE_GITLAB_TOKEN_FILE",
            self.gitlab_token_file.as_deref(),
        )?;
        let signing = gather(
            "HOOKLINE_SIGNING_SECRET",
            &self.signing_secret,
            "HOOKLINE_SIGNING_SECRET_FILE",
            self.signing_secret_file.as_deref(),
        )?;
        let global = Credentials::new(
            tokens.map(tokens_of).transpose()?,
            signing.map(signatures_of).transpose()?,
        )?;

        let mut source_tokens = self.per_source(
            "HOOKLINE_SOURCE_TOKENS",
            &self.source_tokens,
            "HOOKLINE_SOURCE_TOKENS_FILE",
            self.source_tokens_file.as_deref(),
        )?;
        let mut source_signing = self.per_source(
            "HOOKLINE_SOURCE_SIGNING_SECRETS",
            &self.source_signing_secrets,
            "HOOKLINE_SOURCE_SIGNING_SECRETS_FILE",
            self.source_signing_secrets_file.as_deref(),
        )?;
        let labels: BTreeSet<String> = source_tokens
            .keys()
            .chain(source_signing.keys())
            .cloned()
            .collect();
        let mut per_source = BTreeMap::new();
        for label in labels {
            let token = source_tokens.remove(&label).map(tokens_of).transpose()?;
            let signature = source_signing
                .remove(&label)
                .map(signatures_of)
                .transpose()?;
            per_source.insert(label, Credentials::new(token, signature)?);
        }
        Ok(Authenticator::new(global, per_source))
    }

    /// `SOURCE:SECRET` entries from a flag and a file, grouped by source, each source checked
    /// against --sources. Values are the setting that named the secrets and the secrets.
    fn per_source(
        &self,
        setting: &'static str,
        direct: &[Secret],
        file_setting: &'static str,
        file: Option<&Path>,
    ) -> Result<BTreeMap<String, (&'static str, Vec<Secret>)>, CredentialsError> {
        let mut grouped: BTreeMap<String, (&'static str, Vec<Secret>)> = BTreeMap::new();
        let Some((named_by, entries)) = gather(setting, direct, file_setting, file)? else {
            return Ok(grouped);
        };
        for (index, entry) in entries.iter().enumerate() {
            let (label, secret) = entry
                .expose()
                .split_once(':')
                .map(|(label, secret)| (label.trim(), secret.trim()))
                .filter(|(label, secret)| !label.is_empty() && !secret.is_empty())
                .ok_or(CredentialsError::SourceEntry {
                    setting: named_by,
                    position: index + 1,
                })?;
            if !self.sources.iter().any(|source| source == label) {
                return Err(CredentialsError::UnknownSource {
                    setting: named_by,
                    label: label.to_owned(),
                });
            }
            grouped
                .entry(label.to_owned())
                .or_insert((named_by, Vec::new()))
                .1
                .push(Secret::new(secret));
        }
        Ok(grouped)
    }
}

/// The secrets given directly plus those in `file`, with the setting to name in errors;
/// `None` when neither is set.
fn gather(
    setting: &'static str,
    direct: &[Secret],
    file_setting: &'static str,
    file: Option<&Path>,
) -> Result<Option<(&'static str, Vec<Secret>)>, CredentialsError> {
    let mut values = direct.to_vec();
    let mut named_by = setting;
    if let Some(path) = file {
        let from_file = read_secret_lines(file_setting, path)?;
        if from_file.is_empty() {
            return Err(CredentialsError::EmptyFile {
                setting: file_setting,
                path: path.display().to_string(),
            });
        }
        values.extend(from_file);
        if direct.is_empty() {
            named_by = file_setting;
        }
    }
    Ok((!values.is_empty()).then_some((named_by, values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses as the binary would, without the settings of the shell running the tests.
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        static CLEAN_ENV: std::sync::Once = std::sync::Once::new();
        // Every test reads the environment only through here, after this has run.
        CLEAN_ENV.call_once(|| {
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("HOOKLINE_") {
                    std::env::remove_var(name);
                }
            }
        });
        Config::try_parse_from(std::iter::once("hookline-ingest").chain(args.iter().copied()))
    }

    fn credentials_error(args: &[&str]) -> String {
        parse(args)
            .unwrap()
            .authenticator()
            .unwrap_err()
            .to_string()
    }

    const SIGNING: &str = "whsec_aG9va2xpbmUtdGVzdC1zaWduaW5nLWtleS0zMmJ5dGU=";

    #[test]
    fn defaults_are_documented_values() {
        let config = parse(&["--gitlab-token", "t"]).unwrap();
        assert_eq!(config.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(config.body_read_timeout(), Duration::from_secs(30));
        assert_eq!(config.max_concurrent_requests, 256);
        assert_eq!(config.signature_tolerance_secs, 300);
        assert_eq!(config.kafka_statistics_interval_ms, 5000);
        assert_eq!(config.kafka_ack_deadline(), Duration::from_secs(1));
        assert_eq!(config.spool_max_bytes, 1 << 30);
        assert_eq!(config.dedup.dedup_window_secs, 86_400);
        assert_eq!(config.dedup.dedup_max_ids, 4_000_000);
        assert!(config.authenticator().is_ok());
    }

    #[test]
    fn some_credential_is_required() {
        let message = credentials_error(&[]);
        assert!(message.contains("HOOKLINE_GITLAB_TOKEN"), "{message}");
        assert!(message.contains("HOOKLINE_SIGNING_SECRET"), "{message}");
        // A signing secret alone is enough.
        assert!(parse(&["--signing-secret", SIGNING])
            .unwrap()
            .authenticator()
            .is_ok());
    }

    #[test]
    fn invalid_secrets_name_the_setting_and_never_the_value() {
        let message = credentials_error(&["--gitlab-token", "a,,b"]);
        assert!(message.contains("HOOKLINE_GITLAB_TOKEN"), "{message}");
        let message = credentials_error(&["--signing-secret", "not-a-secret"]);
        assert!(message.contains("HOOKLINE_SIGNING_SECRET"), "{message}");
        assert!(!message.contains("not-a-secret"), "{message}");
    }

    #[test]
    fn per_source_secrets_must_be_source_colon_secret_for_a_listed_source() {
        let message = credentials_error(&[
            "--gitlab-token=t",
            "--sources=prod",
            "--source-tokens=prod-token-without-label",
        ]);
        assert!(
            message.contains("entry 1 of HOOKLINE_SOURCE_TOKENS is not `SOURCE:SECRET`"),
            "{message}"
        );
        assert!(!message.contains("prod-token-without-label"), "{message}");
        let message = credentials_error(&[
            "--gitlab-token=t",
            "--sources=prod",
            "--source-signing-secrets=prd:whsec_AAAA",
        ]);
        assert!(
            message.contains("HOOKLINE_SOURCE_SIGNING_SECRETS"),
            "{message}"
        );
        assert!(message.contains("\"prd\""), "{message}");
        let message = credentials_error(&[
            "--gitlab-token=t",
            "--sources=prod",
            "--source-signing-secrets=prod:nope",
        ]);
        assert!(message.contains("whsec_"), "{message}");
    }

    #[test]
    fn secret_files_are_read_and_empty_or_missing_files_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let tokens = dir.join("source-tokens");
        std::fs::write(&tokens, "prod:a\nprod:b\n\nstaging:c\n").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let path = |p: &Path| p.display().to_string();
        let config = parse(&[
            "--gitlab-token=t",
            "--sources=prod,staging",
            "--source-tokens-file",
            &path(&tokens),
        ])
        .unwrap();
        assert!(config.authenticator().is_ok());
        let message = credentials_error(&["--gitlab-token-file", &path(&empty)]);
        assert!(message.contains("holds no secret"), "{message}");
        let message = credentials_error(&["--signing-secret-file", &path(&dir.join("missing"))]);
        assert!(
            message.contains("cannot read HOOKLINE_SIGNING_SECRET_FILE"),
            "{message}"
        );
    }

    #[test]
    fn limits_and_timeouts_must_be_positive() {
        for flag in [
            "--header-read-timeout-ms=0",
            "--body-read-timeout-ms=0",
            "--max-concurrent-requests=0",
            "--signature-tolerance-secs=0",
        ] {
            let error = parse(&["--gitlab-token=t", flag]).unwrap_err().to_string();
            let name = flag.split('=').next().unwrap();
            assert!(error.contains(name), "{flag}: {error}");
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let config = parse(&[
            "--gitlab-token=hunter2",
            "--sources=prod",
            "--source-tokens=prod:swordfish",
            "--signing-secret",
            SIGNING,
        ])
        .unwrap();
        let shown = format!("{config:?} {:?}", config.authenticator().unwrap());
        for secret in ["hunter2", "swordfish", "aG9va2xp"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
