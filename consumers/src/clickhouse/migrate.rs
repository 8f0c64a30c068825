//! Applies the schema migrations defined in `hookline_schemas::migrations`.
//!
//! Applied versions are recorded in `hookline_migrations`. Every migration statement is
//! idempotent and the record table collapses repeated versions, so several replicas starting
//! at once may all apply the same migration without harm; the last one to finish records it.

use clickhouse::Row;
use hookline_schemas::migrations::{Migration, MIGRATIONS};
use hookline_schemas::views::VIEWS;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::bounded;
use crate::config::ClickHouseConfig;

/// The migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database name {0:?} is not a plain identifier: use letters, digits and underscores")]
    DatabaseName(String),
    #[error("cannot reach ClickHouse at {url} to apply migrations: {source}; check HOOKLINE_CLICKHOUSE_URL and credentials")]
    Unreachable {
        url: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error(
        "cannot set raw_hooks' retention to {days} days (HOOKLINE_RAW_HOOKS_TTL_DAYS): {source}"
    )]
    Retention {
        days: u32,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("cannot create view {name}: {source}")]
    View {
        name: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Statement {
        version: u32,
        name: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
}

#[derive(Debug, Row, Serialize, Deserialize)]
struct AppliedMigration {
    /// The migration's number, its file name's prefix.
    version: u32,
    /// The rest of its file name, for messages.
    name: String,
    /// When it was applied, for operators reading the table.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    applied_at: OffsetDateTime,
}

/// The table that records applied migrations (the schema version is its highest `version`).
pub const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS hookline_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version";

/// Creates the database if needed, applies every migration not yet recorded, replaces the views
/// (`hookline_schemas::views`), and sets the raw hooks' retention. Returns the versions applied by this call.
pub async fn run(config: &ClickHouseConfig) -> Result<Vec<u32>, MigrateError> {
    let database = &config.connection.clickhouse_database;
    if database.is_empty()
        || !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(MigrateError::DatabaseName(database.clone()));
    }
    let unreachable = |source| MigrateError::Unreachable {
        url: config.connection.clickhouse_url.clone(),
        source,
    };
    let timeout = config.timeouts().receive;
    let server = config.connection.server_client();
    let create = format!("CREATE DATABASE IF NOT EXISTS {database}");
    bounded(timeout, server.query(&create).execute())
        .await
        .map_err(unreachable)?;
    let client = super::client(config);
    bounded(timeout, client.query(MIGRATIONS_TABLE).execute())
        .await
        .map_err(unreachable)?;
    let applied: Vec<u32> = bounded(
        timeout,
        client
            .query("SELECT version FROM hookline_migrations FINAL")
            .fetch_all(),
    )
    .await
    .map_err(unreachable)?;

    let mut newly_applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        apply(&client, migration, timeout).await?;
        newly_applied.push(migration.version);
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    // The views after every migration, every time: a view's columns are fixed when it is
    // created, so they are replaced to show this release's columns.
    for view in VIEWS {
        bounded(timeout, client.query(view.sql).execute())
            .await
            .map_err(|source| MigrateError::View {
                name: view.name,
                source,
            })?;
    }
    let days = config.raw_hooks_ttl_days;
    bounded(timeout, super::retention::apply(&client, database, days))
        .await
        .map_err(|source| MigrateError::Retention { days, source })?;
    Ok(newly_applied)
}

async fn apply(
    client: &clickhouse::Client,
    migration: &Migration,
    timeout: std::time::Duration,
) -> Result<(), MigrateError> {
    let failed = |source| MigrateError::Statement {
        version: migration.version,
        name: migration.name,
        source,
    };
    for statement in migration.statements() {
        bounded(timeout, client.query(&statement).execute())
            .await
            .map_err(failed)?;
    }
    let mut insert = bounded(
        timeout,
        client.insert::<AppliedMigration>("hookline_migrations"),
    )
    .await
    .map_err(failed)?
    .with_timeouts(Some(timeout), Some(timeout));
    insert
        .write(&AppliedMigration {
            version: migration.version,
            name: migration.name.to_owned(),
            applied_at: OffsetDateTime::now_utc(),
        })
        .await
        .map_err(failed)?;
    insert.end().await.map_err(failed)
}
