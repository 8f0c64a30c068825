//! The raw hooks' optional retention: `HOOKLINE_RAW_HOOKS_TTL_DAYS` sets, changes and removes
//! `raw_hooks`' TTL at start, and leaves the typed tables without one.

use hookline_dev::stack::{Stack, StackOptions};

/// `raw_hooks`' `CREATE TABLE` statement as the server prints it, or another table's.
async fn create_table_query(stack: &Stack, table: &str) -> String {
    stack
        .clickhouse_client()
        .query("SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?")
        .bind(&stack.clickhouse_database)
        .bind(table)
        .fetch_one()
        .await
        .unwrap_or_else(|error| panic!("cannot read {table}'s definition: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_hooks_ttl_follows_the_setting_at_every_start() {
    let mut options = StackOptions::for_test();
    options.consumers_args = vec!["--raw-hooks-ttl-days".to_owned(), "30".to_owned()];
    let mut stack = Stack::start(options).await.expect("the stack starts");

    let raw = create_table_query(&stack, "raw_hooks").await;
    assert!(
        raw.contains("TTL toDateTime(received_at) + toIntervalDay(30)"),
        "{raw}"
    );
    let pipelines = create_table_query(&stack, "pipelines").await;
    assert!(!pipelines.contains(" TTL "), "{pipelines}");

    stack
        .restart_consumers(&["--raw-hooks-ttl-days", "7"])
        .await
        .expect("the consumers restart with 7 days");
    let raw = create_table_query(&stack, "raw_hooks").await;
    assert!(raw.contains("toIntervalDay(7)"), "{raw}");
    assert!(!raw.contains("toIntervalDay(30)"), "{raw}");

    // 0 removes it, and a second start with 0 finds nothing to remove.
    for _ in 0..2 {
        stack
            .restart_consumers(&["--raw-hooks-ttl-days", "0"])
            .await
            .expect("the consumers restart without a TTL");
        let raw = create_table_query(&stack, "raw_hooks").await;
        assert!(!raw.contains(" TTL "), "{raw}");
    }
}
