//! What the `consumers_*` modules share: sending pipeline lifecycles, counting rows
//! and reading the consumers' metrics.

use std::time::{Duration, Instant};

use hookline_dev::client::metrics_text;
use hookline_dev::client::select;
pub use hookline_dev::client::{deliver_all, metric_sum};
use hookline_dev::stack::Stack;
use hookline_schemas::testing::gitlab::{pipeline_lifecycle, Hook};
use time::OffsetDateTime;

/// How long the rows of delivered hooks may take to be queryable once the consumers can work.
pub const LANDING: Duration = Duration::from_secs(30);

/// The hooks of `count` pipelines, ids `first..first + count`, spread over eight projects,
/// each created, pending, running and successful: four hooks a pipeline.
pub fn pipelines(first: u64, count: u64) -> Vec<Hook> {
    let start = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("a time");
    (first..first + count)
        .flat_map(|pipeline| {
            let project = 500 + pipeline % 8;
            pipeline_lifecycle((project, pipeline), start, "success", None).0
        })
        .collect()
}

/// The single number `sql` selects, as `n`.
pub async fn count(stack: &Stack, sql: &str) -> u64 {
    let rows = select(stack, sql).await;
    rows[0]["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("{sql}: {rows:?}"))
}

/// Waits until `raw_hooks FINAL` holds `hooks` hooks and `pipelines FINAL` `pipelines`
/// successful pipelines, then checks that no pipeline is there twice or in another state.
pub async fn assert_landed_exactly_once(stack: &Stack, hooks: u64, pipelines: u64) {
    assert_landed_within(stack, hooks, pipelines, LANDING).await;
    let exact = [
        ("SELECT count() AS n FROM raw_hooks FINAL", hooks),
        (
            "SELECT uniqExact(family, project_key, event_id) AS n FROM raw_hooks",
            hooks,
        ),
        ("SELECT count() AS n FROM pipelines FINAL", pipelines),
        (
            "SELECT uniqExact(project_id, pipeline_id) AS n FROM pipelines",
            pipelines,
        ),
        (
            "SELECT countIf(status != 'success') AS n FROM pipelines FINAL",
            0,
        ),
    ];
    for (sql, expected) in exact {
        assert_eq!(count(stack, sql).await, expected, "{sql}\n{}", stack.logs());
    }
}

/// Waits until `metric_sum(admin_url, name, labels)` satisfies `holds`; returns the value.
/// Fails with the last value seen.
pub async fn metric_reaches(
    admin_url: &str,
    name: &str,
    labels: &[&str],
    holds: impl Fn(f64) -> bool,
) -> f64 {
    let until = Instant::now() + LANDING;
    loop {
        let value = metric_sum(admin_url, name, labels).await;
        if let Some(value) = value.filter(|v| holds(*v)) {
            return value;
        }
        assert!(
            Instant::now() < until,
            "{name}{labels:?} did not reach the expected value within {LANDING:?}; last: {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partitions of `topic` the consumers at `admin_url` report lag for: those they own.
pub async fn owned_partitions(admin_url: &str, topic: &str) -> Option<usize> {
    let series = format!(r#"topic="{topic}""#);
    Some(
        metrics_text(admin_url)
            .await?
            .lines()
            .filter(|line| line.starts_with("hookline_consumers_lag_records{"))
            .filter(|line| line.contains(&series))
            .count(),
    )
}

/// The body of `/readyz` when the service is not ready; `None` while it is.
pub async fn not_ready(admin_url: &str) -> Option<String> {
    let response = reqwest::get(format!("{admin_url}/readyz")).await.ok()?;
    if response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// Consumers arguments for a test: lag measured every 200 ms, and a consumer that stops
/// heartbeating (killed) leaves the group after 6 s instead of librdkafka's 45 s.
pub fn test_args() -> [&'static str; 4] {
    [
        "--kafka-lag-interval-ms",
        "200",
        "--kafka-session-timeout-ms",
        "6000",
    ]
}

/// Waits up to `deadline` until `raw_hooks FINAL` holds at least `hooks` hooks and
/// `pipelines FINAL` at least `pipelines` successful pipelines; fails with the stack's logs.
pub async fn assert_landed_within(stack: &Stack, hooks: u64, pipelines: u64, deadline: Duration) {
    let landed = hookline_dev::client::poll_until(deadline, || async {
        let raw = count(stack, "SELECT count() AS n FROM raw_hooks FINAL").await;
        let done = count(
            stack,
            "SELECT count() AS n FROM pipelines FINAL WHERE status = 'success'",
        )
        .await;
        (raw >= hooks && done >= pipelines).then_some(())
    })
    .await;
    assert!(
        landed.is_some(),
        "{hooks} hooks and {pipelines} pipelines did not land within {deadline:?}\n{}",
        stack.logs()
    );
}
