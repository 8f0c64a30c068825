//! Order independence against the real broker and ClickHouse engine: generated lifecycles of
//! a pipeline, its jobs and a merge request, delivered through ingest with some hooks twice
//! and all in a shuffled order, end in their final state in `SELECT … FINAL`.
//!
//! The many-cases version of this property, without the stack, is
//! `consumers/tests/order_independence.rs`; this test shows that the tables' engines and
//! sorting keys reduce the rows the way that test assumes.

use std::time::Duration;

use hookline_dev::client::{deliver_all, eventually, metric, select};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::gitlab::{
    clickhouse_time, job_lifecycle, merge_request_lifecycle, pipeline_lifecycle, Final, Hook,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// How long the rows of every delivered hook may take to be queryable.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

/// Deterministic pseudo-random numbers (xorshift64), so a failing order can be replayed.
struct Shuffler(u64);

impl Shuffler {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }

    /// The hooks, a third of them (at least one) delivered again, in a shuffled order.
    fn arrivals(&mut self, hooks: Vec<Hook>) -> Vec<Hook> {
        let mut all = hooks.clone();
        for _ in 0..=hooks.len() / 3 {
            all.push(hooks[self.next(hooks.len())].clone());
        }
        for i in (1..all.len()).rev() {
            all.swap(i, self.next(i + 1));
        }
        all
    }
}

/// One case: a pipeline with two jobs and a merge request in project `project`.
struct Case {
    project: u64,
    hooks: Vec<Hook>,
    pipeline: Final,
    jobs: Vec<(u64, Final)>,
    merge_request: Final,
}

const OUTCOMES: [&str; 5] = ["success", "failed", "canceled", "running", "pending"];

fn case(seed: u64) -> Case {
    let mut random = Shuffler(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let project = 1_000 + seed;
    let start =
        OffsetDateTime::from_unix_timestamp(1_767_225_600 + 86_400 * seed as i64).expect("a time");
    let outcome = OUTCOMES[random.next(OUTCOMES.len())];
    let rerun = (random.next(2) == 0).then_some(OUTCOMES[random.next(3)]);
    let (mut hooks, pipeline) = pipeline_lifecycle((project, 7), start, outcome, rerun);
    let mut jobs = Vec::new();
    for job in [70, 71] {
        let outcome = OUTCOMES[random.next(OUTCOMES.len())];
        let manual = random.next(2) == 0;
        let (job_hooks, expected) = job_lifecycle((project, 7, job), start, outcome, manual);
        hooks.extend(job_hooks);
        jobs.push((job, expected));
    }
    let (mr_hooks, merge_request) = merge_request_lifecycle(
        (project, 900 + seed, 3),
        start,
        random.next(4) as u64,
        random.next(2) == 0,
        random.next(2) == 0,
    );
    hooks.extend(mr_hooks);
    Case {
        project,
        hooks: random.arrivals(hooks),
        pipeline,
        jobs,
        merge_request,
    }
}

fn time_or_null(time: Option<OffsetDateTime>) -> Value {
    time.map_or(Value::Null, |t| json!(clickhouse_time(t)))
}

/// What `SELECT … FINAL` must return for the case, query by query.
fn expectations(case: &Case) -> Vec<(String, Vec<Value>)> {
    let p = case.project;
    let mr = &case.merge_request;
    let mut sorted = mr.events.clone();
    sorted.sort_by_key(|(action, at, actor)| (*at, action.clone(), *actor));
    let events = sorted
        .iter()
        .map(|(action, at, actor)| json!({"action": action, "event_at": clickhouse_time(*at), "actor_id": actor}))
        .collect::<Vec<_>>();
    let approvals = events
        .iter()
        .filter(|e| e["action"] == "approval" || e["action"] == "approved")
        .map(|e| json!({"kind": e["action"], "reviewed_at": e["event_at"], "actor_id": e["actor_id"]}))
        .collect::<Vec<_>>();
    vec![
        (
            format!("SELECT status, finished_at FROM pipelines FINAL WHERE project_id = {p}"),
            vec![json!({"status": case.pipeline.state, "finished_at": time_or_null(case.pipeline.at)})],
        ),
        (
            format!("SELECT job_id, status, finished_at, failure_reason FROM jobs FINAL WHERE project_id = {p} ORDER BY job_id"),
            case.jobs
                .iter()
                .map(|(id, f)| json!({"job_id": id, "status": f.state, "finished_at": time_or_null(f.at), "failure_reason": f.detail}))
                .collect(),
        ),
        (
            format!("SELECT state, last_action, updated_at FROM merge_requests FINAL WHERE project_id = {p}"),
            vec![json!({"state": mr.state, "last_action": mr.detail, "updated_at": time_or_null(mr.at)})],
        ),
        (
            format!("SELECT action, event_at, actor_id FROM merge_request_events FINAL WHERE project_id = {p} ORDER BY event_at, action, actor_id"),
            events.clone(),
        ),
        (
            format!("SELECT kind, reviewed_at, actor_id FROM merge_request_reviews FINAL WHERE project_id = {p} ORDER BY reviewed_at, kind, actor_id"),
            approvals,
        ),
        (
            // The merge time comes from the log, as schemas/README.md shows.
            format!("SELECT minIf(event_at, action = 'merge') AS merged_at FROM merge_request_events FINAL WHERE project_id = {p}"),
            vec![json!({"merged_at": events.iter().find(|e| e["action"] == "merge").map(|e| e["event_at"].clone())})],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_and_repeated_hooks_end_in_the_final_state() {
    // The repeats must reach the consumers, so ingest's deduplication is off: this shows
    // the tables collapse repeats that get past it (e.g. within its propagation delay).
    let mut options = StackOptions::for_test();
    options.ingest_args = vec!["--dedup-window-secs=0".to_owned()];
    let stack = Stack::start(options).await.expect("the stack starts");
    let cases: Vec<Case> = (1..=6).map(case).collect();

    // The cases are delivered one after another, each in its shuffled order.
    for case in &cases {
        deliver_all(&stack, &case.hooks).await;
    }

    // Wait until every delivery is in every table it feeds (one row each), so that the
    // comparison below sees all of them, not an early state that happens to match.
    for (table, event) in [
        ("pipelines", "Pipeline Hook"),
        ("jobs", "Job Hook"),
        ("merge_request_events", "Merge Request Hook"),
    ] {
        let delivered = cases
            .iter()
            .flat_map(|case| &case.hooks)
            .filter(|hook| hook.event == event)
            .count() as f64;
        let sample = format!(r#"hookline_consumers_rows_written_total{{table="{table}"}}"#);
        eventually(SETTLE_DEADLINE, &sample, || async {
            let written = metric(&stack.consumers_admin_url, &sample).await?;
            (written >= delivered).then_some(())
        })
        .await;
    }

    for case in &cases {
        for (query, expected) in expectations(case) {
            let deadline = std::time::Instant::now() + SETTLE_DEADLINE;
            loop {
                let actual = select(&stack, &query).await;
                if actual == expected {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "project {}: {query}\n got {actual:#?}\nwant {expected:#?}\n{}",
                    case.project,
                    stack.logs()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
