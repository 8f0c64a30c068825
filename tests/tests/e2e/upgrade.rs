//! Upgrading a database in place: a database as the previous release left it (migrations 1 to
//! 9, filled with rows of those tables' columns) is migrated by today's `hookline-consumers
//! migrate`; every row survives, every new column reads unknown, the schema version is
//! recorded, and a `reproject` then gives the tables a fresh run of every hook gives.

use std::process::Command;

use hookline_consumers::clickhouse::migrate::MIGRATIONS_TABLE;
use hookline_dev::client::{deliver_all, eventually, select};
use hookline_dev::ports::spawn_excluding_probes;
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::migrations::MIGRATIONS;
use hookline_schemas::testing::fixtures;
use serde_json::Value;

/// The last migration of the previous release: released migration files are never edited, so
/// applying these gives exactly the schema that release created.
const PREVIOUS_RELEASE: u32 = 9;

/// Runs `hookline-consumers ARGS` against the stack's ClickHouse and `database`.
fn consumers(stack: &Stack, database: &str, args: &[&str]) -> String {
    let program = stack
        .consumers_subcommand("migrate")
        .get_program()
        .to_owned();
    let mut command = Command::new(program);
    command
        .args(args)
        .args(["--clickhouse-url", &stack.clickhouse_url])
        .args(["--clickhouse-database", database])
        .args(["--clickhouse-compression", "none"]);
    let output = spawn_excluding_probes(|| command.output()).expect("hookline-consumers runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "hookline-consumers {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The columns of `table` in `database`, in order.
async fn columns(stack: &Stack, database: &str, table: &str) -> Vec<String> {
    select(
        stack,
        &format!(
            "SELECT name FROM system.columns WHERE database = '{database}' AND table = '{table}' ORDER BY position"
        ),
    )
    .await
    .iter()
    .filter_map(|row| row["name"].as_str().map(str::to_owned))
    .collect()
}

/// `SELECT columns FROM database.table FINAL` in a fixed order.
async fn rows(stack: &Stack, database: &str, table: &str, columns: &[String]) -> Vec<Value> {
    let list = columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    select(
        stack,
        &format!("SELECT {list} FROM {database}.{table} FINAL ORDER BY ALL"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_is_upgraded_in_place() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    // Today's consumers project every hook into the stack's database: the fresh run.
    let hooks = fixtures::mix(0..240);
    deliver_all(&stack, &hooks).await;
    eventually(
        std::time::Duration::from_secs(60),
        "every hook consumed",
        || async {
            tokio::task::block_in_place(|| stack.consumers_caught_up())
                .expect("Kafka answers")
                .then_some(())
        },
    )
    .await;
    let current = stack.clickhouse_database.clone();

    // The previous release's database, filled with what it stored: the columns its tables had.
    let previous = format!("{current}_previous");
    let client = stack.clickhouse_client();
    let execute = |sql: String| {
        let client = client.clone();
        async move {
            client
                .query(&sql)
                .execute()
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
        }
    };
    execute(format!("CREATE DATABASE {previous}")).await;
    let old_client = client.clone().with_database(&previous);
    old_client
        .query(MIGRATIONS_TABLE)
        .execute()
        .await
        .expect("the migrations table");
    let released: Vec<_> = MIGRATIONS
        .iter()
        .filter(|m| m.version <= PREVIOUS_RELEASE)
        .collect();
    for migration in &released {
        for statement in migration.statements() {
            old_client
                .query(&statement)
                .execute()
                .await
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        execute(format!(
            "INSERT INTO {previous}.hookline_migrations (version, name, applied_at) VALUES ({}, '{}', now64(3))",
            migration.version, migration.name
        ))
        .await;
    }
    let old_tables: Vec<String> = select(
        &stack,
        &format!("SELECT name FROM system.tables WHERE database = '{previous}' AND name != 'hookline_migrations' ORDER BY name"),
    )
    .await
    .iter()
    .filter_map(|row| row["name"].as_str().map(str::to_owned))
    .collect();
    let mut before = Vec::new();
    for table in &old_tables {
        let old_columns = columns(&stack, &previous, table).await;
        let list = old_columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        execute(format!(
            "INSERT INTO {previous}.{table} ({list}) SELECT {list} FROM {current}.{table}"
        ))
        .await;
        let stored = rows(&stack, &previous, table, &old_columns).await;
        assert!(
            !stored.is_empty() || table == "instance_events",
            "{table} is empty"
        );
        before.push((table.clone(), old_columns, stored));
    }

    // The upgrade, twice: the second finds nothing to do.
    consumers(&stack, &previous, &["migrate"]);
    consumers(&stack, &previous, &["migrate"]);
    let recorded: Vec<u64> = select(
        &stack,
        &format!("SELECT version FROM {previous}.hookline_migrations FINAL ORDER BY version"),
    )
    .await
    .iter()
    .filter_map(|row| row["version"].as_u64())
    .collect();
    let every: Vec<u64> = MIGRATIONS.iter().map(|m| u64::from(m.version)).collect();
    assert_eq!(recorded, every, "the schema version is recorded");
    for (table, old_columns, stored) in &before {
        let now = columns(&stack, &previous, table).await;
        let lost: Vec<&String> = old_columns.iter().filter(|c| !now.contains(c)).collect();
        assert!(lost.is_empty(), "{table} lost columns {lost:?}");
        assert!(
            rows(&stack, &previous, table, old_columns).await == *stored,
            "{table}'s rows changed in the upgrade"
        );
    }
    // A column added to an existing table reads unknown in the rows from before.
    let unknown = select(
        &stack,
        &format!(
            "SELECT countIf(sha IS NOT NULL) AS known, count() AS rows FROM {previous}.deployments"
        ),
    )
    .await;
    assert_eq!(unknown[0]["known"], 0, "{unknown:?}");
    assert!(unknown[0]["rows"].as_u64() > Some(0), "{unknown:?}");

    // A reproject fills what the previous release did not store: every table is as today's
    // consumers make it.
    consumers(&stack, &previous, &["reproject"]);
    let typed = hookline_consumers::projection::TABLE_NAMES
        .into_iter()
        .filter(|table| *table != "raw_hooks");
    for table in typed {
        let all: Vec<String> = columns(&stack, &current, table)
            .await
            .into_iter()
            .filter(|c| c != "event_id" && c != "received_at")
            .collect();
        assert!(
            rows(&stack, &previous, table, &all).await == rows(&stack, &current, table, &all).await,
            "{table} after the upgrade and a reproject differs from a fresh run"
        );
    }
}
