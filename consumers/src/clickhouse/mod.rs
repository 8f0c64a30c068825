//! ClickHouse: the client, the schema migrations, the raw hooks' retention, and batch inserts.
//!
//! The consumers speak ClickHouse's HTTP interface through the official `clickhouse` crate:
//! each insert is one `POST /?query=INSERT INTO t (cols) FORMAT RowBinaryWithNamesAndTypes`
//! whose chunked body carries the rows, so the server checks every column's name and type
//! against the table before accepting a row. Queries and DDL are `POST`s with the SQL in the
//! `query` parameter and the database in `database`. With `HOOKLINE_CLICKHOUSE_COMPRESSION=lz4`
//! bodies use ClickHouse's LZ4 block framing (`decompress=1`/`compress=1`); the local
//! development engine does not implement that framing and runs with `none`.
//!
//! Every request is bounded in time: connections by `HOOKLINE_CLICKHOUSE_CONNECT_TIMEOUT_MS`
//! (set on the HTTP connector here), inserts and queries by the send and receive timeouts
//! ([`sink::Timeouts`]), so a ClickHouse that hangs is treated as one that is down.

pub mod migrate;
pub mod retention;
pub mod sink;

use crate::config::{ClickHouseConfig, Compression};

/// `request` unless it takes longer than `timeout`, which is reported as the crate's own
/// timeout error: for queries, which the crate does not bound (inserts are bounded by
/// [`sink::Timeouts`]).
pub async fn bounded<T>(
    timeout: std::time::Duration,
    request: impl std::future::Future<Output = clickhouse::error::Result<T>>,
) -> clickhouse::error::Result<T> {
    tokio::time::timeout(timeout, request)
        .await
        .unwrap_or(Err(clickhouse::error::Error::TimedOut))
}

/// A client for the configured server, with the configured database selected.
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    server_client(config).with_database(&config.clickhouse_database)
}

/// A client for the configured server, without selecting a database (to create it).
pub fn server_client(config: &ClickHouseConfig) -> clickhouse::Client {
    // The HTTP client of the crate's default, with a connect timeout the crate does not set;
    // its request body type is inferred from `with_http_client`.
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build(connector(config.connect_timeout()));
    clickhouse::Client::with_http_client(http)
        .with_url(&config.clickhouse_url)
        .with_user(&config.clickhouse_user)
        .with_password(config.clickhouse_password.expose())
        .with_compression(match config.clickhouse_compression {
            Compression::None => clickhouse::Compression::None,
            Compression::Lz4 => clickhouse::Compression::Lz4,
        })
}

/// The HTTP(S) connector of the crate's default client (rustls with the web PKI roots,
/// keep-alive) plus a connect timeout, which the crate does not set.
fn connector(
    connect_timeout: std::time::Duration,
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(std::time::Duration::from_secs(60)));
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("the ring provider supports the default TLS versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// The readiness check that fails while ClickHouse does not answer a trivial query.
pub const READINESS_CHECK: &str = "clickhouse";

/// Asks ClickHouse `SELECT 1` every `interval` (each bounded by `timeout`) and keeps the
/// [`READINESS_CHECK`] current, until `shutdown`: a ClickHouse that is down or hung shows in
/// `/readyz` also while no batch is being written (inserts have their own check,
/// [`sink::READINESS_CHECK`]).
pub async fn watch_reachable(
    client: clickhouse::Client,
    timeout: std::time::Duration,
    readiness: hookline_runtime::admin::Readiness,
    interval: std::time::Duration,
    shutdown: hookline_runtime::shutdown::CancellationToken,
) {
    loop {
        let answered = tokio::select! {
            answered = bounded(timeout, client.query("SELECT 1").fetch_one::<u8>()) => answered,
            () = shutdown.cancelled() => return,
        };
        match answered {
            Ok(_) => readiness.set_ready(READINESS_CHECK),
            Err(error) => readiness.set_not_ready(
                READINESS_CHECK,
                format!("ClickHouse does not answer `SELECT 1` within {timeout:?}: {error}"),
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
