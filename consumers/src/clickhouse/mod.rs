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
//! Every request is bounded in time (`hookline_runtime::clickhouse`: the connection settings
//! and the client), so a ClickHouse that hangs is treated as one that is down.

pub mod migrate;
pub mod retention;
pub mod sink;

pub use hookline_runtime::clickhouse::bounded;

use crate::config::ClickHouseConfig;

/// A client for the configured server, with the configured database selected.
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    config.connection.client()
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
