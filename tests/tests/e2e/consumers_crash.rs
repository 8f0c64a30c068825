//! A consumer killed with -9 while it holds a batch loses nothing and duplicates nothing in
//! query results: what it had committed stays done, what it had read but not committed is read
//! again by the restarted consumer, and hooks delivered while it was down are consumed too.

use crate::consumers_support::{
    assert_landed_exactly_once, deliver_all, metric_reaches, pipelines, test_args,
};
use hookline_dev::stack::{Stack, StackOptions};

const CONSUMED: &str = "hookline_consumers_records_consumed_total";
const WRITTEN: &str = "hookline_consumers_rows_written_total";
const LAG: &str = "hookline_consumers_lag_records";
const PIPELINE_TOPIC: &str = r#"topic="gitlab.pipeline""#;
const RAW_HOOKS: &str = r#"table="raw_hooks""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_batch_loses_and_repeats_nothing() {
    let mut options = StackOptions::for_test();
    // A batch closes at 10 records and never by time: what follows the last full batch stays
    // in an open, uncommitted batch until the kill.
    options.consumers_args = [
        "--batch-max-records",
        "10",
        "--batch-max-wait-ms",
        "3600000",
    ]
    .into_iter()
    .chain(test_args())
    .map(str::to_owned)
    .collect();
    let mut stack = Stack::start(options).await.expect("the stack starts");
    let admin = stack.consumers_admin_url.clone();

    // 6 pipelines, 24 hooks: two batches of 10 written and committed, 4 records in the open one.
    let before = pipelines(1, 6);
    deliver_all(&stack, &before).await;
    metric_reaches(&admin, CONSUMED, &[PIPELINE_TOPIC], |n| n == 24.0).await;
    metric_reaches(&admin, WRITTEN, &[RAW_HOOKS], |n| n == 20.0).await;
    // The lag counts from the committed offsets: once it is 4, both batches are committed.
    metric_reaches(&admin, LAG, &[PIPELINE_TOPIC], |n| n == 4.0).await;

    stack.consumers.kill();
    // Ingest still accepts while no consumer runs: Kafka keeps the hooks.
    let during = pipelines(7, 2);
    deliver_all(&stack, &during).await;

    stack
        .restart_consumers(&test_args())
        .await
        .expect("the consumers start again");
    assert_landed_exactly_once(&stack, 32, 8).await;
    // The restarted consumer read exactly what was not committed: the open batch and the
    // hooks delivered while it was down, nothing that was already committed.
    metric_reaches(&admin, CONSUMED, &[PIPELINE_TOPIC], |n| n == 12.0).await;
    metric_reaches(&admin, LAG, &[PIPELINE_TOPIC], |n| n == 0.0).await;
    assert_eq!(
        crate::consumers_support::metric_sum(&admin, CONSUMED, &[PIPELINE_TOPIC]).await,
        Some(12.0),
        "{}",
        stack.logs()
    );
}
