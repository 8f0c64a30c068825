//! How Hookline's programs reach ClickHouse: the server, database and credentials, the
//! timeouts that make a hung server count as down, and the client built from them.
//!
//! The consumers write through it and `hookline-report` reads through it; both take the same
//! `HOOKLINE_CLICKHOUSE_*` settings. The client speaks ClickHouse's HTTP interface through the
//! official `clickhouse` crate; every request is bounded in time: connections by
//! `HOOKLINE_CLICKHOUSE_CONNECT_TIMEOUT_MS` (set on the HTTP connector here, which the crate
//! does not do), inserts and queries by the send and receive timeouts ([`Timeouts`],
//! [`bounded`]).

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::secret::Secret;

/// The ClickHouse connection settings, as flags and `HOOKLINE_CLICKHOUSE_*` variables.
#[derive(Debug, Clone, Args)]
pub struct ClickHouseConnection {
    /// ClickHouse HTTP(S) endpoint.
    #[arg(
        long,
        env = "HOOKLINE_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,

    /// Database holding Hookline's tables; created if missing (by the consumers).
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_DATABASE", default_value = "gitlab")]
    pub clickhouse_database: String,

    /// ClickHouse user.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,

    /// ClickHouse password (never logged, nor shown by `Debug`).
    #[arg(
        long,
        env = "HOOKLINE_CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub clickhouse_password: Secret,

    /// How long to wait for a TCP (and TLS) connection to ClickHouse, in milliseconds.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_CONNECT_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub clickhouse_connect_timeout_ms: u64,

    /// How long ClickHouse may take to read each chunk of an insert's rows (and to describe a
    /// table before an insert), in milliseconds; a server that stops reading counts as down.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_SEND_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub clickhouse_send_timeout_ms: u64,

    /// How long to wait for ClickHouse's answer once an insert's rows (or a query) are sent,
    /// in milliseconds; a hung server counts as down and `/readyz` says so.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_RECEIVE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub clickhouse_receive_timeout_ms: u64,

    /// Compression of insert bodies and query results: lz4 for a real server; none for the
    /// local development engine, which does not speak ClickHouse's compressed block framing.
    #[arg(long, env = "HOOKLINE_CLICKHOUSE_COMPRESSION", value_enum, default_value_t = Compression::Lz4)]
    pub clickhouse_compression: Compression,
}

/// Compression of request bodies and query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Lz4,
}

/// How long one insert or query may wait on ClickHouse.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Most time to hand one chunk of rows to the connection (ClickHouse reading too slowly
    /// or not at all), and to fetch the table's column types before an insert.
    pub send: Duration,
    /// Most time from the end of the rows (or of a query) to ClickHouse's answer.
    pub receive: Duration,
}

impl ClickHouseConnection {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.clickhouse_connect_timeout_ms)
    }

    /// The insert and query timeouts.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            send: Duration::from_millis(self.clickhouse_send_timeout_ms),
            receive: Duration::from_millis(self.clickhouse_receive_timeout_ms),
        }
    }

    /// A client for the configured server, with the configured database selected.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client()
            .with_database(&self.clickhouse_database)
    }

    /// A client for the configured server, without selecting a database (to create it).
    pub fn server_client(&self) -> clickhouse::Client {
        // The HTTP client of the crate's default, with a connect timeout the crate does not
        // set; its request body type is inferred from `with_http_client`.
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(2))
                .build(connector(self.connect_timeout()));
        clickhouse::Client::with_http_client(http)
            .with_url(&self.clickhouse_url)
            .with_user(&self.clickhouse_user)
            .with_password(self.clickhouse_password.expose())
            .with_compression(match self.clickhouse_compression {
                Compression::None => clickhouse::Compression::None,
                Compression::Lz4 => clickhouse::Compression::Lz4,
            })
    }
}

/// The HTTP(S) connector of the crate's default client (rustls with the web PKI roots,
/// keep-alive) plus a connect timeout, which the crate does not set.
fn connector(
    connect_timeout: Duration,
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("the ring provider supports the default TLS versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// `request` unless it takes longer than `timeout`, which is reported as the crate's own
/// timeout error: for queries, which the crate does not bound (inserts are bounded by
/// [`Timeouts`]).
pub async fn bounded<T>(
    timeout: Duration,
    request: impl std::future::Future<Output = clickhouse::error::Result<T>>,
) -> clickhouse::error::Result<T> {
    tokio::time::timeout(timeout, request)
        .await
        .unwrap_or(Err(clickhouse::error::Error::TimedOut))
}
