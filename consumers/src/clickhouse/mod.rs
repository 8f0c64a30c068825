//! ClickHouse: the client, the schema migrations, the raw hooks' retention, and batch inserts.
//!
//! The consumers speak ClickHouse's HTTP interface through the official `clickhouse` crate:
//! each insert is one `POST /?query=INSERT INTO t (cols) FORMAT RowBinaryWithNamesAndTypes`
//! whose chunked body carries the rows, so the server checks every column's name and type
//! against the table before accepting a row. Queries and DDL are `POST`s with the SQL in the
//! `query` parameter and the database in `database`. With `HOOKLINE_CLICKHOUSE_COMPRESSION=lz4`
//! bodies use ClickHouse's LZ4 block framing (`decompress=1`/`compress=1`); the local
//! development engine does not implement that framing and runs with `none`.

pub mod migrate;
pub mod retention;
pub mod sink;

use crate::config::{ClickHouseConfig, Compression};

/// A client for the configured server, with the configured database selected.
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    server_client(config).with_database(&config.clickhouse_database)
}

/// A client for the configured server, without selecting a database (to create it).
pub fn server_client(config: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&config.clickhouse_url)
        .with_user(&config.clickhouse_user)
        .with_password(&config.clickhouse_password)
        .with_compression(match config.clickhouse_compression {
            Compression::None => clickhouse::Compression::None,
            Compression::Lz4 => clickhouse::Compression::Lz4,
        })
}
