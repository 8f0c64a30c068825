//! `hookline-consumers reproject` against the real broker and ClickHouse engine: damaged
//! tables come back identical to what the consumers made of every hook, `--dry-run` names the
//! damage and changes nothing, and hooks that arrive during a rebuild are in the tables
//! swapped in.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use hookline_consumers::projection::TABLE_NAMES;
use hookline_dev::client::{deliver, deliver_all, eventually, select, Delivery};
use hookline_dev::ports::spawn_excluding_probes;
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;
use hookline_schemas::testing::gitlab::{
    job_lifecycle, merge_request_lifecycle, pipeline_lifecycle, Hook,
};
use serde_json::Value;
use time::OffsetDateTime;

/// How long delivered hooks may take to be in `raw_hooks`.
const SETTLE_DEADLINE: Duration = Duration::from_secs(60);

/// Columns that say which copy of a repeated hook a row came from: they may differ between two
/// runs with the same answers (the same as `reproject --dry-run` leaves out).
const COPY_COLUMNS: &str = "EXCEPT (event_id, received_at)";

/// Every typed table: every table the consumers write but `raw_hooks`.
fn typed_tables() -> impl Iterator<Item = &'static str> {
    TABLE_NAMES
        .into_iter()
        .filter(|table| *table != "raw_hooks")
}

/// Hooks of every kind: the realistic mix, every GitLab example, and lifecycles of pipelines,
/// jobs and merge requests, some repeated.
fn corpus() -> Vec<Hook> {
    let mut hooks = fixtures::mix(0..600);
    let start = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("a time");
    for case in 0..10u64 {
        let project = 500 + case;
        let outcome = ["success", "failed", "running"][case as usize % 3];
        hooks.extend(pipeline_lifecycle((project, 1), start, outcome, Some("success")).0);
        hooks.extend(job_lifecycle((project, 1, 10), start, outcome, case % 2 == 0).0);
        hooks.extend(
            merge_request_lifecycle((project, 90, 3), start, case % 4, case % 2 == 0, true).0,
        );
    }
    for (file, event) in [
        ("gitlab-webhooks/subgroup.json", "System Hook"),
        ("gitlab-webhooks/merge_request.json", "System Hook"),
    ] {
        hooks.push(Hook {
            event,
            body: fixtures::read(file),
        });
    }
    let again: Vec<Hook> = hooks.iter().step_by(7).cloned().collect();
    hooks.extend(again);
    hooks
}

/// Every typed table's rows as `FINAL` returns them, copy columns aside, in a fixed order.
async fn tables(stack: &Stack) -> Vec<(&'static str, Vec<Value>)> {
    let mut tables = Vec::new();
    for table in typed_tables() {
        let rows = select(
            stack,
            &format!("SELECT * {COPY_COLUMNS} FROM {table} FINAL ORDER BY ALL"),
        )
        .await;
        tables.push((table, rows));
    }
    tables
}

/// Fails naming each table that differs, with its first differing row.
fn assert_same_tables(want: &[(&str, Vec<Value>)], got: &[(&str, Vec<Value>)], when: &str) {
    let differing: Vec<String> = want
        .iter()
        .zip(got)
        .filter(|((_, want), (_, got))| want != got)
        .map(|((table, want), (_, got))| {
            let first = want.iter().zip(got).find(|(w, g)| w != g);
            format!(
                "{table}: {} rows wanted, {} got; first difference: {first:?}",
                want.len(),
                got.len()
            )
        })
        .collect();
    assert!(differing.is_empty(), "{when}:\n{}", differing.join("\n"));
}

/// Waits until `raw_hooks` holds `count` distinct hooks and the consumers committed every
/// record they read, so that the typed rows of every hook are written too.
async fn consumed(stack: &Stack, count: u64) {
    eventually(SETTLE_DEADLINE, "every hook in raw_hooks", || async {
        let rows = select(stack, "SELECT count() AS n FROM raw_hooks FINAL").await;
        (rows[0]["n"].as_u64() >= Some(count)).then_some(())
    })
    .await;
    eventually(SETTLE_DEADLINE, "every record committed", || async {
        tokio::task::block_in_place(|| stack.consumers_caught_up())
            .expect("Kafka answers")
            .then_some(())
    })
    .await;
}

/// Runs `hookline-consumers reproject ARGS` against the stack; it must succeed.
async fn reproject(stack: &Stack, args: &[&str]) -> String {
    let mut command = stack.consumers_subcommand("reproject");
    command.args(args);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = spawn_excluding_probes(|| {
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    })
    .expect("hookline-consumers starts");
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("reproject finishes within 5 minutes")
        .expect("reproject's output");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "reproject {args:?} failed ({status}):\n{stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

/// The row of `table` in a report: rows now, rows rebuilt, only in now, only in rebuilt.
fn report_row<'a>(report: &'a str, table: &str) -> Vec<&'a str> {
    report
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&table))
        .unwrap_or_else(|| panic!("no row for {table} in:\n{report}"))[1..]
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_tables_are_rebuilt_identical_also_while_hooks_arrive() {
    let mut stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let hooks = corpus();
    deliver_all(&stack, &hooks).await;
    let distinct: BTreeSet<&[u8]> = hooks.iter().map(|h| h.body.as_slice()).collect();
    consumed(&stack, distinct.len() as u64).await;
    // Stopped consumers have written and committed everything they read: the tables now are
    // what a run of every hook through the consumers gives.
    stack.consumers.stop();
    let fresh = tables(&stack).await;
    let empty: Vec<&str> = fresh
        .iter()
        .filter(|(_, rows)| rows.is_empty())
        .map(|(table, _)| *table)
        .collect();
    assert!(empty.is_empty(), "the corpus leaves {empty:?} empty");

    // Damage: a table emptied, rows deleted, a row changed.
    for damage in [
        "TRUNCATE TABLE pipelines",
        "DELETE FROM jobs WHERE job_id % 2 = 0",
        "ALTER TABLE merge_requests UPDATE title = 'damaged' WHERE 1 SETTINGS mutations_sync = 1",
    ] {
        stack
            .clickhouse_client()
            .query(damage)
            .execute()
            .await
            .unwrap_or_else(|error| panic!("{damage}: {error}"));
    }
    let damaged = tables(&stack).await;

    // A dry run tells which tables differ, and how much, and changes nothing.
    let report = reproject(&stack, &["--dry-run"]).await;
    for (table, rows) in &fresh {
        let cells = report_row(&report, table);
        let now = damaged
            .iter()
            .find(|(t, _)| t == table)
            .expect("same tables")
            .1
            .len();
        assert_eq!(cells[0], now.to_string(), "{table} now:\n{report}");
        assert_eq!(
            cells[1],
            rows.len().to_string(),
            "{table} rebuilt:\n{report}"
        );
        let identical = ["0", "0"] == cells[2..4];
        let damaged_table = ["pipelines", "jobs", "merge_requests"].contains(table);
        assert_eq!(identical, !damaged_table, "{table}:\n{report}");
    }
    assert_same_tables(&damaged, &tables(&stack).await, "after a dry run");

    // The rebuild, while the consumers run and new pipelines keep arriving.
    stack
        .restart_consumers(&[])
        .await
        .expect("the consumers start again");
    let stream_start = OffsetDateTime::from_unix_timestamp(1_768_000_000).expect("a time");
    let stop = hookline_runtime::shutdown::CancellationToken::new();
    let stream = {
        let (stack, stop) = (&stack, stop.clone());
        async move {
            let mut sent = Vec::new();
            for pipeline in 1u64.. {
                if stop.is_cancelled() {
                    break;
                }
                let (hooks, _) =
                    pipeline_lifecycle((9_999, pipeline), stream_start, "success", None);
                let last = hooks.last().expect("a lifecycle has hooks").clone();
                let (status, answer) = deliver(
                    stack,
                    Delivery {
                        event: Some(last.event),
                        token: Some(&stack.token),
                        body: last.body,
                    },
                )
                .await;
                assert_eq!(status, 200, "{answer}");
                sent.push(pipeline);
            }
            sent
        }
    };
    let rebuild = async {
        let report = reproject(&stack, &[]).await;
        stop.cancel();
        report
    };
    let (sent, report) = tokio::join!(stream, rebuild);
    assert!(
        sent.len() >= 2,
        "hooks arrived during the rebuild: {sent:?}\n{report}"
    );
    consumed(&stack, (distinct.len() + sent.len()) as u64).await;
    let expected: Vec<u64> = sent.clone();
    eventually(
        SETTLE_DEADLINE,
        "every streamed pipeline in pipelines",
        || async {
            let rows = select(
            &stack,
            "SELECT pipeline_id FROM pipelines FINAL WHERE project_id = 9999 ORDER BY pipeline_id",
        )
        .await;
            let ids: Vec<u64> = rows
                .iter()
                .filter_map(|r| r["pipeline_id"].as_u64())
                .collect();
            (ids == expected).then_some(())
        },
    )
    .await;
    stack.consumers.stop();

    // Every table is as the consumers first made it, plus the rows of the streamed pipelines.
    let mut rebuilt = tables(&stack).await;
    for (_, rows) in &mut rebuilt {
        rows.retain(|row| row["project_id"].as_u64() != Some(9_999));
    }
    assert_same_tables(&fresh, &rebuilt, "after the rebuild");
    let leftovers = select(
        &stack,
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_reproject'",
    )
    .await;
    assert!(leftovers.is_empty(), "shadow tables left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_gone_from_raw_hooks_are_rebuilt_from_the_topics() {
    let mut stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let hooks = fixtures::mix(0..120);
    deliver_all(&stack, &hooks).await;
    consumed(&stack, hooks.len() as u64).await;
    stack.consumers.stop();
    let fresh = tables(&stack).await;

    // As if HOOKLINE_RAW_HOOKS_TTL_DAYS had expired every raw hook, and a table was lost.
    for statement in ["TRUNCATE TABLE raw_hooks", "TRUNCATE TABLE jobs"] {
        stack
            .clickhouse_client()
            .query(statement)
            .execute()
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    let report = reproject(&stack, &["--dry-run"]).await;
    assert_eq!(report_row(&report, "pipelines")[1], "0", "{report}");

    let report = reproject(&stack, &["--from-kafka"]).await;
    assert!(
        report.contains(&format!(
            "0 hooks from raw_hooks, {} from Kafka",
            hooks.len()
        )),
        "{report}"
    );
    assert_same_tables(&fresh, &tables(&stack).await, "after a rebuild from Kafka");
}
