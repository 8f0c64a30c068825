//! Horizontal scale: two consumers in one group share the partitions, and together, through a
//! rebalance in the middle of the traffic (one of them leaves), land every hook exactly once
//! in query results.

use crate::consumers_support::{
    assert_landed_exactly_once, deliver_all, metric_reaches, metric_sum, owned_partitions,
    pipelines, test_args, LANDING,
};
use hookline_dev::client::eventually;
use hookline_dev::stack::{Stack, StackOptions};

const CONSUMED: &str = "hookline_consumers_records_consumed_total";
const LAG: &str = "hookline_consumers_lag_records";
const TOPIC: &str = "gitlab.pipeline";
const PIPELINE_TOPIC: &str = r#"topic="gitlab.pipeline""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_share_the_partitions_and_land_every_hook_once() {
    // Batches stay open for 2 s, so the rebalance below finds records in an open batch.
    let args: Vec<&str> = test_args()
        .into_iter()
        .chain(["--batch-max-wait-ms", "2000"])
        .collect();
    let mut options = StackOptions::for_test();
    options.consumers_args = args.iter().map(|a| a.to_string()).collect();
    let mut stack = Stack::start(options).await.expect("the stack starts");
    let first = stack.consumers_admin_url.clone();
    let mut second = stack
        .start_consumers_replica("second", &args)
        .await
        .expect("a second consumer starts");

    // After the rebalance each owns part of every topic (3 partitions each), none twice.
    eventually(LANDING, "both consumers owning partitions", || async {
        let mine = owned_partitions(&first, TOPIC).await?;
        let theirs = owned_partitions(&second.admin_url, TOPIC).await?;
        (mine > 0 && theirs > 0 && mine + theirs == 3).then_some(())
    })
    .await;
    let before = pipelines(1, 16);
    deliver_all(&stack, &before).await;
    assert_landed_exactly_once(&stack, 64, 16).await;
    let consumed = |admin: String| async move {
        metric_sum(&admin, CONSUMED, &[PIPELINE_TOPIC])
            .await
            .unwrap_or_default()
    };
    let (by_first, by_second) = (
        consumed(first.clone()).await,
        consumed(second.admin_url.clone()).await,
    );
    assert!(by_first > 0.0 && by_second > 0.0, "{by_first} {by_second}");
    assert_eq!(by_first + by_second, 64.0, "each record read once");

    // The second consumer leaves while hooks arrive: its partitions move to the first one,
    // whose open batch holds records of partitions revoked in that rebalance.
    let during = pipelines(17, 16);
    let (half, rest) = during.split_at(during.len() / 2);
    deliver_all(&stack, half).await;
    second.process.stop();
    deliver_all(&stack, rest).await;

    assert_landed_exactly_once(&stack, 128, 32).await;
    eventually(
        LANDING,
        "the first consumer owning every partition",
        || async { (owned_partitions(&first, TOPIC).await? == 3).then_some(()) },
    )
    .await;
    metric_reaches(&first, LAG, &[PIPELINE_TOPIC], |n| n == 0.0).await;
    let log = stack.consumers.log_tail(200);
    assert!(log.contains("partitions revoked"), "{log}");
    stack.ensure_running().expect("nothing crashed");
}
