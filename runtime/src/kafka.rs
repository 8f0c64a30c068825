//! How both services reach Kafka: the brokers and the security settings that every librdkafka
//! client of a service shares (producers, consumers, the admin client), set once.
//!
//! Plaintext by default, as on the local stack and many private clusters; TLS and SASL (PLAIN,
//! SCRAM-SHA-256/512) for managed ones; any other librdkafka client property through
//! `HOOKLINE_KAFKA_OPTIONS` (mutual TLS, OAUTHBEARER, timeouts). Everything is checked at start
//! ([`KafkaConnection::resolve`]): the combinations here, then every property by librdkafka
//! itself, so a misspelt property or value stops the service with librdkafka's message instead
//! of failing later at the first connection.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rdkafka::config::ClientConfig;

use crate::secret::Secret;

/// The Kafka connection settings, as flags and `HOOKLINE_KAFKA_*` variables.
#[derive(Clone, Args)]
pub struct KafkaConnection {
    /// Kafka bootstrap servers, comma-separated (librdkafka `bootstrap.servers`).
    #[arg(long, env = "HOOKLINE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    /// How to talk to the brokers (librdkafka `security.protocol`).
    #[arg(long, env = "HOOKLINE_KAFKA_SECURITY_PROTOCOL", value_enum, ignore_case = true, default_value_t = SecurityProtocol::Plaintext)]
    pub kafka_security_protocol: SecurityProtocol,

    /// SASL mechanism, for sasl_plaintext and sasl_ssl (librdkafka `sasl.mechanism`).
    #[arg(
        long,
        env = "HOOKLINE_KAFKA_SASL_MECHANISM",
        value_enum,
        ignore_case = true
    )]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,

    /// SASL user name (librdkafka `sasl.username`).
    #[arg(long, env = "HOOKLINE_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// SASL password (librdkafka `sasl.password`); prefer --kafka-sasl-password-file, which
    /// keeps it out of the process's environment.
    #[arg(long, env = "HOOKLINE_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<Secret>,

    /// File holding the SASL password (surrounding whitespace ignored).
    #[arg(long, env = "HOOKLINE_KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,

    /// CA certificates (PEM) that the brokers' certificates must chain to, for ssl and
    /// sasl_ssl (librdkafka `ssl.ca.location`); the system's CAs when unset.
    #[arg(long, env = "HOOKLINE_KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<PathBuf>,

    /// Any other librdkafka client properties, `name=value`, comma-separated (e.g.
    /// `ssl.certificate.location=/tls/client.pem,ssl.key.location=/tls/client.key` for mutual
    /// TLS). Applied last, to every client of the service; values are never logged.
    #[arg(long, env = "HOOKLINE_KAFKA_OPTIONS", value_delimiter = ',', value_parser = parse_property, hide_env_values = true)]
    pub kafka_options: Vec<(String, String)>,
}

/// librdkafka `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecurityProtocol {
    #[value(name = "plaintext")]
    Plaintext,
    #[value(name = "ssl")]
    Ssl,
    #[value(name = "sasl_plaintext")]
    SaslPlaintext,
    #[value(name = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// librdkafka `sasl.mechanism` (GSSAPI/Kerberos is not built in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

/// The librdkafka name of a setting's value: the name the flag takes.
fn librdkafka_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|value| value.get_name().to_owned())
        .unwrap_or_default()
}

/// The Kafka settings do not fit together, or librdkafka refused one.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSettingsError {
    #[error("HOOKLINE_KAFKA_SECURITY_PROTOCOL={protocol} needs {missing}")]
    Missing {
        protocol: String,
        missing: &'static str,
    },
    #[error("{setting} is set but HOOKLINE_KAFKA_SECURITY_PROTOCOL={protocol} does not use it: set the protocol to {wanted}, or unset {setting}")]
    Unused {
        setting: &'static str,
        protocol: String,
        wanted: &'static str,
    },
    #[error("set HOOKLINE_KAFKA_SASL_PASSWORD or HOOKLINE_KAFKA_SASL_PASSWORD_FILE, not both")]
    TwoPasswords,
    #[error("cannot read HOOKLINE_KAFKA_SASL_PASSWORD_FILE {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HOOKLINE_KAFKA_OPTIONS sets {0}, which has a setting of its own: use that instead")]
    Shadowed(String),
    #[error("librdkafka refuses the Kafka settings: {0}; check HOOKLINE_KAFKA_* (a TLS or SASL protocol needs the OpenSSL the services are built with)")]
    Rejected(#[source] rdkafka::error::KafkaError),
}

/// Properties with a setting of their own, which `HOOKLINE_KAFKA_OPTIONS` must not set.
const OWN_SETTINGS: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
];

fn parse_property(entry: &str) -> Result<(String, String), String> {
    match entry.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "{entry:?} is not a `name=value` librdkafka property"
        )),
    }
}

impl KafkaConnection {
    /// Plaintext to `brokers`, nothing else: for tests and tools.
    pub fn plaintext(brokers: &str) -> Self {
        Self {
            kafka_brokers: brokers.to_owned(),
            kafka_security_protocol: SecurityProtocol::Plaintext,
            kafka_sasl_mechanism: None,
            kafka_sasl_username: None,
            kafka_sasl_password: None,
            kafka_sasl_password_file: None,
            kafka_ssl_ca_location: None,
            kafka_options: Vec::new(),
        }
    }

    /// Checks the settings, reads the password file and lets librdkafka check every property.
    pub fn resolve(&self) -> Result<KafkaClient, KafkaSettingsError> {
        let protocol = self.kafka_security_protocol;
        let protocol_name = librdkafka_name(protocol);
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("security.protocol", &protocol_name);
        if protocol.uses_sasl() {
            let missing = |missing| KafkaSettingsError::Missing {
                protocol: protocol_name.clone(),
                missing,
            };
            let mechanism = self
                .kafka_sasl_mechanism
                .ok_or_else(|| missing("HOOKLINE_KAFKA_SASL_MECHANISM"))?;
            let username = self
                .kafka_sasl_username
                .as_deref()
                .ok_or_else(|| missing("HOOKLINE_KAFKA_SASL_USERNAME"))?;
            let password = self.password()?.ok_or_else(|| {
                missing("HOOKLINE_KAFKA_SASL_PASSWORD or HOOKLINE_KAFKA_SASL_PASSWORD_FILE")
            })?;
            config
                .set("sasl.mechanism", librdkafka_name(mechanism))
                .set("sasl.username", username)
                .set("sasl.password", password.expose());
        } else {
            let sasl_settings = [
                (
                    "HOOKLINE_KAFKA_SASL_MECHANISM",
                    self.kafka_sasl_mechanism.is_some(),
                ),
                (
                    "HOOKLINE_KAFKA_SASL_USERNAME",
                    self.kafka_sasl_username.is_some(),
                ),
                (
                    "HOOKLINE_KAFKA_SASL_PASSWORD",
                    self.kafka_sasl_password.is_some(),
                ),
                (
                    "HOOKLINE_KAFKA_SASL_PASSWORD_FILE",
                    self.kafka_sasl_password_file.is_some(),
                ),
            ];
            if let Some((setting, _)) = sasl_settings.iter().find(|(_, set)| *set) {
                return Err(KafkaSettingsError::Unused {
                    setting,
                    protocol: protocol_name.clone(),
                    wanted: "sasl_ssl or sasl_plaintext",
                });
            }
        }
        if let Some(ca) = &self.kafka_ssl_ca_location {
            if !protocol.uses_tls() {
                return Err(KafkaSettingsError::Unused {
                    setting: "HOOKLINE_KAFKA_SSL_CA_LOCATION",
                    protocol: protocol_name.clone(),
                    wanted: "ssl or sasl_ssl",
                });
            }
            config.set("ssl.ca.location", ca.display().to_string());
        }
        for (name, value) in &self.kafka_options {
            if OWN_SETTINGS.contains(&name.as_str()) {
                return Err(KafkaSettingsError::Shadowed(name.clone()));
            }
            config.set(name, value);
        }
        config
            .create_native_config()
            .map_err(KafkaSettingsError::Rejected)?;
        Ok(KafkaClient {
            brokers: self.kafka_brokers.clone(),
            protocol,
            config,
        })
    }

    fn password(&self) -> Result<Option<Secret>, KafkaSettingsError> {
        match (&self.kafka_sasl_password, &self.kafka_sasl_password_file) {
            (Some(_), Some(_)) => Err(KafkaSettingsError::TwoPasswords),
            (Some(password), None) => Ok(Some(password.clone())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|password| Some(Secret::new(password.trim())))
                .map_err(|source| KafkaSettingsError::PasswordFile {
                    path: path.clone(),
                    source,
                }),
            (None, None) => Ok(None),
        }
    }
}

/// Written out rather than derived: `kafka_options` values may be secrets too
/// (`ssl.key.password`, `sasl.oauthbearer.client.secret`), so only their names are shown.
impl std::fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("kafka_brokers", &self.kafka_brokers)
            .field("kafka_security_protocol", &self.kafka_security_protocol)
            .field("kafka_sasl_mechanism", &self.kafka_sasl_mechanism)
            .field("kafka_sasl_username", &self.kafka_sasl_username)
            .field("kafka_sasl_password", &self.kafka_sasl_password)
            .field("kafka_sasl_password_file", &self.kafka_sasl_password_file)
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .field(
                "kafka_options",
                &self
                    .kafka_options
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Whether Kafka refuses a produced record itself (too large, malformed), so that sending it
/// again cannot help; any other error (brokers away, timeouts) may pass.
pub fn refuses_record(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode;
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::PolicyViolation
        )
    )
}

/// Checked Kafka settings, ready to configure any number of clients.
#[derive(Clone)]
pub struct KafkaClient {
    /// For error messages: where the clients connect.
    brokers: String,
    /// For logs.
    protocol: SecurityProtocol,
    /// The shared properties; each client adds its own to a copy.
    config: ClientConfig,
}

impl KafkaClient {
    /// A client configuration with the connection's properties, for a client to add its own.
    pub fn config(&self) -> ClientConfig {
        self.config.clone()
    }

    /// The bootstrap servers, for messages.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClient")
            .field("brokers", &self.brokers)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaConnection,
    }

    fn parse(args: &[&str]) -> KafkaConnection {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .expect("the arguments parse")
            .kafka
    }

    #[test]
    fn plaintext_by_default() {
        let client = parse(&[]).resolve().unwrap();
        assert_eq!(client.config().get("security.protocol"), Some("plaintext"));
        assert_eq!(
            client.config().get("bootstrap.servers"),
            Some("127.0.0.1:9092")
        );
    }

    #[test]
    fn sasl_ssl_with_a_password_file_and_extra_properties() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let connection = parse(&[
            "--kafka-security-protocol=SASL_SSL",
            "--kafka-sasl-mechanism=SCRAM-SHA-512",
            "--kafka-sasl-username=hookline",
            &format!("--kafka-sasl-password-file={}", file.display()),
            "--kafka-options=socket.keepalive.enable=true,client.rack=eu-1a",
        ]);
        let client = connection.resolve().unwrap();
        let config = client.config();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("client.rack"), Some("eu-1a"));
        // Never in debug output.
        assert!(!format!("{connection:?} {client:?}").contains("s3cret"));
    }

    #[test]
    fn inconsistent_settings_are_refused_naming_the_setting() {
        let sasl = parse(&["--kafka-security-protocol=sasl_plaintext"]).resolve();
        assert!(sasl
            .unwrap_err()
            .to_string()
            .contains("HOOKLINE_KAFKA_SASL_MECHANISM"),);
        let unused = parse(&["--kafka-sasl-username=u"]).resolve().unwrap_err();
        assert!(
            unused
                .to_string()
                .contains("HOOKLINE_KAFKA_SASL_USERNAME is set"),
            "{unused}"
        );
        let ca = parse(&["--kafka-ssl-ca-location=/ca.pem"])
            .resolve()
            .unwrap_err();
        assert!(ca.to_string().contains("ssl or sasl_ssl"), "{ca}");
        let shadowed = parse(&["--kafka-options=bootstrap.servers=elsewhere:9092"])
            .resolve()
            .unwrap_err();
        assert!(
            shadowed.to_string().contains("bootstrap.servers"),
            "{shadowed}"
        );
        assert!(Cli::try_parse_from(["test", "--kafka-options=novalue"]).is_err());
    }

    #[test]
    fn librdkafka_checks_every_property() {
        let error = parse(&["--kafka-options=no.such.property=1"])
            .resolve()
            .unwrap_err();
        assert!(error.to_string().contains("no.such.property"), "{error}");
        // TLS works: the services are built with OpenSSL.
        parse(&["--kafka-security-protocol=ssl"]).resolve().unwrap();
    }
}
