//! The optional retention of raw hooks (`HOOKLINE_RAW_HOOKS_TTL_DAYS`), applied with the
//! migrations.
//!
//! Only `raw_hooks` gets a TTL: it holds every body and is by far the largest table, while the
//! typed tables are small and carry the history that trends and DORA metrics need. A rebuilt
//! projection can then reach back only as far as the raw hooks kept, which the README says.
//!
//! The TTL is a table setting rather than part of a migration because it is configuration:
//! every start compares the table's TTL with the configured one and changes it only when they
//! differ, since `MODIFY TTL` rewrites the table's parts in the background. Replicas starting
//! together may both change it to the same value, which is harmless.

use clickhouse::Client;

/// The TTL clause as ClickHouse prints a `raw_hooks` retention of `days` in
/// `system.tables.create_table_query`.
fn clause(days: u32) -> String {
    format!("TTL toDateTime(received_at) + toIntervalDay({days})")
}

/// What `raw_hooks` has now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Current {
    /// No TTL: hooks are kept forever.
    None,
    /// Hookline's own TTL of this many days.
    Days(u32),
    /// A TTL someone set by hand.
    Other,
}

/// Reads the TTL from `raw_hooks`' `CREATE TABLE` statement.
fn current(create_table_query: &str) -> Current {
    let Some(at) = create_table_query.find(" TTL ") else {
        return Current::None;
    };
    let ttl = &create_table_query[at + 1..];
    ttl.strip_prefix("TTL toDateTime(received_at) + toIntervalDay(")
        .and_then(|rest| rest.split_once(')'))
        .filter(|(_, after)| after.is_empty() || after.starts_with(" SETTINGS "))
        .and_then(|(days, _)| days.parse().ok())
        .map_or(Current::Other, Current::Days)
}

/// Makes `raw_hooks`' TTL `days` (0: none). A TTL set by hand is replaced when `days` is set
/// and left alone when it is 0.
pub async fn apply(client: &Client, database: &str, days: u32) -> clickhouse::error::Result<()> {
    let create_table_query: String = client
        .query("SELECT create_table_query FROM system.tables WHERE database = ? AND name = 'raw_hooks'")
        .bind(database)
        .fetch_one()
        .await?;
    let statement = match (current(&create_table_query), days) {
        (Current::Days(now), wanted) if now == wanted => return Ok(()),
        (Current::None, 0) => return Ok(()),
        (Current::Other, 0) => {
            tracing::info!(
                "raw_hooks has a TTL set by hand; HOOKLINE_RAW_HOOKS_TTL_DAYS=0 leaves it"
            );
            return Ok(());
        }
        (Current::Days(_), 0) => "ALTER TABLE raw_hooks REMOVE TTL".to_owned(),
        (_, days) => format!("ALTER TABLE raw_hooks MODIFY {}", clause(days)),
    };
    client.query(&statement).execute().await?;
    tracing::info!(days, "raw_hooks retention set (0: kept forever)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "CREATE TABLE gitlab.raw_hooks (`event_id` String) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(received_at) ORDER BY (family, project_key, event_id)";

    #[test]
    fn reads_the_ttl_as_clickhouse_prints_it() {
        assert_eq!(current(TABLE), Current::None);
        let with = |ttl: &str| format!("{TABLE} {ttl} SETTINGS index_granularity = 8192");
        assert_eq!(current(&with(&clause(30))), Current::Days(30));
        assert_eq!(
            current(&with("TTL toDateTime(received_at) + toIntervalMonth(1)")),
            Current::Other
        );
        assert_eq!(
            current(&with(
                "TTL toDateTime(received_at) + toIntervalDay(7) DELETE WHERE 1"
            )),
            Current::Other
        );
        assert_eq!(current(&format!("{TABLE} {}", clause(7))), Current::Days(7));
    }
}
