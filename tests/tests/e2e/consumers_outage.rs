//! ClickHouse down for a while: ingest keeps accepting hooks (Kafka is up), the consumers count
//! their failed inserts, report not ready and fall behind, and once ClickHouse is back they
//! catch up by themselves, every hook once.

use std::time::{Duration, Instant};

use crate::consumers_support::{
    assert_landed_exactly_once, deliver_all, metric_reaches, metric_sum, not_ready, pipelines,
    test_args, LANDING,
};
use hookline_dev::client::eventually;
use hookline_dev::stack::{Stack, StackOptions};

const LAG: &str = "hookline_consumers_lag_records";
const ERRORS: &str = "hookline_consumers_clickhouse_errors_total";
const PIPELINE_TOPIC: &str = r#"topic="gitlab.pipeline""#;

/// How long ClickHouse stays down: 15 s unless `HOOKLINE_TEST_OUTAGE_SECS` says otherwise
/// (the issue's scenario is 30 s). 15 s is enough for the consumers' retry backoff, doubling
/// from 100 ms, to reach its 10 s cap, so the test covers retries at the cap too, in half the
/// time.
fn outage() -> Duration {
    let seconds = std::env::var("HOOKLINE_TEST_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_catch_up_by_themselves_after_a_clickhouse_outage() {
    if std::env::var("CLICKHOUSE_URL").is_ok_and(|url| !url.is_empty()) {
        eprintln!("skipped: an external ClickHouse server (CLICKHOUSE_URL) cannot be stopped");
        return;
    }
    let mut options = StackOptions::for_test();
    options.consumers_args = test_args().map(str::to_owned).to_vec();
    let mut stack = Stack::start(options).await.expect("the stack starts");
    let admin = stack.consumers_admin_url.clone();
    deliver_all(&stack, &pipelines(1, 2)).await;
    assert_landed_exactly_once(&stack, 8, 2).await;
    let errors_before = metric_sum(&admin, ERRORS, &[]).await.unwrap_or_default();

    stack.stop_clickhouse().expect("ClickHouse stops");
    let down_since = Instant::now();
    // Kafka is up, so GitLab still gets its 200s.
    deliver_all(&stack, &pipelines(3, 4)).await;
    metric_reaches(&admin, ERRORS, &[], |n| n > errors_before).await;
    let reason = eventually(LANDING, "/readyz saying ClickHouse is down", || async {
        not_ready(&admin)
            .await
            .filter(|body| body.contains("clickhouse"))
    })
    .await;
    // Failing inserts (`clickhouse_inserts`) or an unanswered `SELECT 1` (`clickhouse`).
    assert!(
        reason.contains("clickhouse_inserts:") || reason.contains("clickhouse:"),
        "{reason}"
    );
    // None of the 16 hooks delivered during the outage is committed.
    metric_reaches(&admin, LAG, &[PIPELINE_TOPIC], |n| n == 16.0).await;

    // The outage lasts its full length: this wait causes it, it synchronises nothing.
    tokio::time::sleep_until((down_since + outage()).into()).await;
    stack
        .start_clickhouse()
        .await
        .expect("ClickHouse starts again");

    assert_landed_exactly_once(&stack, 24, 6).await;
    eventually(LANDING, "/readyz ready again", || async {
        not_ready(&admin).await.is_none().then_some(())
    })
    .await;
    metric_reaches(&admin, LAG, &[PIPELINE_TOPIC], |n| n == 0.0).await;
    stack.ensure_running().expect("nothing crashed");
}
