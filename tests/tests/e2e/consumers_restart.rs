//! A consumer killed with -9 and started again at once, as a supervisor or Kubernetes would,
//! gets its partitions back and lands every hook: the new member joins while the killed one is
//! still in the group (its session has not expired), which must not leave the group with
//! partitions nobody reads. The consumers run with their default session settings.

use crate::consumers_support::{
    assert_landed_exactly_once, assert_landed_within, deliver_all, metric_reaches,
    owned_partitions, pipelines, LANDING,
};
use hookline_dev::client::eventually;
use hookline_dev::stack::{Stack, StackOptions};

const LAG: &str = "hookline_consumers_lag_records";
const ASSIGNED: &str = "hookline_consumers_assigned_partitions";
const TOPIC: &str = "gitlab.pipeline";
const PIPELINE_TOPIC: &str = r#"topic="gitlab.pipeline""#;
/// Lag measured often, so the test sees ownership soon; no session setting is changed.
const ARGS: [&str; 2] = ["--kafka-lag-interval-ms", "200"];
/// How long the restarted consumer may take to land what was delivered: the killed member's
/// session (the stack's default) plus the time to notice and rejoin, with room for a busy
/// machine.
const RECOVERY: std::time::Duration = std::time::Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_restarted_at_once_gets_its_partitions_back() {
    let mut options = StackOptions::for_test();
    options.consumers_args = ARGS.iter().map(|a| a.to_string()).collect();
    let mut stack = Stack::start(options).await.expect("the stack starts");
    let admin = stack.consumers_admin_url.clone();

    let before = pipelines(1, 4);
    deliver_all(&stack, &before).await;
    assert_landed_exactly_once(&stack, 16, 4).await;
    eventually(LANDING, "the consumer owning every partition", || async {
        (owned_partitions(&admin, TOPIC).await? == 3).then_some(())
    })
    .await;

    stack.consumers.kill();
    stack
        .restart_consumers(&ARGS)
        .await
        .expect("the consumers start again");
    let after = pipelines(5, 8);
    deliver_all(&stack, &after).await;

    assert_landed_within(&stack, 48, 12, RECOVERY).await;
    assert_landed_exactly_once(&stack, 48, 12).await;
    // The replica owns every partition again, says so, and has read everything.
    eventually(LANDING, "the consumer owning every partition", || async {
        (owned_partitions(&admin, TOPIC).await? == 3).then_some(())
    })
    .await;
    metric_reaches(&admin, ASSIGNED, &[PIPELINE_TOPIC], |n| n == 3.0).await;
    metric_reaches(&admin, LAG, &[PIPELINE_TOPIC], |n| n == 0.0).await;
    stack.ensure_running().expect("nothing crashed");
}
