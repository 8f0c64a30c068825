//! Sending hooks as GitLab does, and reading what the services report.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::fixtures;
use crate::stack::Stack;

/// A hook as GitLab would deliver it.
pub struct Delivery<'a> {
    pub event: Option<&'a str>,
    pub token: Option<&'a str>,
    pub body: Vec<u8>,
}

/// POSTs a delivery to the stack's webhook URL; returns the status and the body.
pub async fn deliver(stack: &Stack, delivery: Delivery<'_>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(&stack.webhook_url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitLab/17.5.1")
        .body(delivery.body);
    if let Some(event) = delivery.event {
        request = request.header("X-Gitlab-Event", event);
    }
    if let Some(token) = delivery.token {
        request = request.header("X-Gitlab-Token", token);
    }
    let response = request.send().await.expect("ingest answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a response body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// Delivers every hook through ingest, in order; each must be accepted.
pub async fn deliver_all(stack: &Stack, hooks: &[Hook]) {
    for hook in hooks {
        let (status, answer) = deliver(
            stack,
            Delivery {
                event: Some(hook.event),
                token: Some(&stack.token),
                body: hook.body.clone(),
            },
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// The sum of every sample of metric `name` whose labels contain each of `labels`
/// (e.g. `topic="gitlab.pipeline"`); `None` when the service does not answer.
pub async fn metric_sum(admin_url: &str, name: &str, labels: &[&str]) -> Option<f64> {
    Some(
        metrics_text(admin_url)
            .await?
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(name)?;
                let (series, value) = rest.rsplit_once(' ')?;
                let matches = (series.is_empty() || series.starts_with('{'))
                    && labels.iter().all(|label| series.contains(label));
                matches.then(|| value.parse::<f64>().ok()).flatten()
            })
            .sum(),
    )
}

/// The Prometheus text exposition of the service at `admin_url`.
pub async fn metrics_text(admin_url: &str) -> Option<String> {
    let response = reqwest::get(format!("{admin_url}/metrics")).await.ok()?;
    response.text().await.ok()
}

/// The value of one sample in a Prometheus text exposition, e.g.
/// `hookline_ingest_requests_total{family="pipeline",outcome="accepted"}`.
pub async fn metric(admin_url: &str, sample: &str) -> Option<f64> {
    let text = reqwest::get(format!("{admin_url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
}

/// Records currently stored in a topic, over all its partitions (high minus low watermarks).
pub fn records_in(stack: &Stack, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .set("group.id", "hookline-tests-watermarks")
        .create()
        .expect("a Kafka client");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("topic metadata");
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("partition watermarks");
            high - low
        })
        .sum()
}

/// Polls `check` until it returns `Some`, failing with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(deadline, check)
        .await
        .unwrap_or_else(|| panic!("{what} did not happen within {deadline:?}"))
}

/// Polls `check` every 50 ms until it returns `Some`, or `None` once `deadline` has passed.
pub async fn poll_until<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A hook of a generated lifecycle: its `X-Gitlab-Event` and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub event: &'static str,
    pub body: Vec<u8>,
}

/// What a lifecycle must end in, whatever order its hooks arrive in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Final {
    /// The last status (pipeline, job) or state (merge request).
    pub state: String,
    /// The time of that state: `finished_at` (pipeline, job) or `updated_at` (merge request).
    pub at: Option<OffsetDateTime>,
    /// A job's failure reason (empty unless it failed); a merge request's last action.
    pub detail: String,
    /// A merge request's events: (action, time, actor id), in the order they happened.
    pub events: Vec<(String, OffsetDateTime, u64)>,
}

/// A hook of the given kind: fixture `file` with `changes` (JSON pointer, value) applied.
fn hook(event: &'static str, file: &str, changes: &[(&str, Value)]) -> Hook {
    let mut value: Value = serde_json::from_slice(&fixtures::read(file)).expect("fixture JSON");
    for (pointer, new) in changes {
        *value
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{file} has no {pointer}")) = new.clone();
    }
    Hook {
        event,
        body: serde_json::to_vec(&value).expect("JSON"),
    }
}

/// GitLab's `2016-08-12 15:23:28 UTC` form (whole seconds).
fn gitlab_time(time: Option<OffsetDateTime>) -> Value {
    time.map_or(Value::Null, |t| json!(format!("{} UTC", utc_seconds(t))))
}

/// `2016-08-12 15:23:28`, in UTC.
fn utc_seconds(time: OffsetDateTime) -> String {
    let t = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn after(start: OffsetDateTime, seconds: i64) -> OffsetDateTime {
    start + time::Duration::seconds(seconds)
}

/// Statuses before the end, in lifecycle order.
const LIVE: [&str; 3] = ["created", "pending", "running"];

/// The Pipeline Hooks of a pipeline that is created, pending, running and ends in `outcome`;
/// with `rerun`, it then runs again (a retried job) and ends in that status. An `outcome` of
/// [`LIVE`] stops the lifecycle there, unfinished.
pub fn pipeline_lifecycle(
    (project_id, pipeline_id): (u64, u64),
    start: OffsetDateTime,
    outcome: &str,
    rerun: Option<&str>,
) -> (Vec<Hook>, Final) {
    let mut states: Vec<_> = LIVE
        .iter()
        .take_while(|status| **status != outcome)
        .map(|status| (*status, None))
        .collect();
    if LIVE.contains(&outcome) {
        states.push((outcome, None));
    } else {
        states.push((outcome, Some(after(start, 60))));
        if let Some(rerun) = rerun {
            states.push(("running", None));
            states.push((rerun, Some(after(start, 300))));
        }
    }
    let (last, finished_at) = *states.last().expect("states");
    let hooks = states
        .iter()
        .map(|(status, finished_at)| {
            hook(
                "Pipeline Hook",
                "gitlab-webhooks/pipeline.json",
                &[
                    ("/project/id", json!(project_id)),
                    ("/object_attributes/id", json!(pipeline_id)),
                    ("/object_attributes/status", json!(status)),
                    ("/object_attributes/created_at", gitlab_time(Some(start))),
                    ("/object_attributes/finished_at", gitlab_time(*finished_at)),
                ],
            )
        })
        .collect();
    let expected = Final {
        state: last.to_owned(),
        at: finished_at,
        ..Final::default()
    };
    (hooks, expected)
}

/// The Job Hooks of a job that is created (then `manual`, if so), pending, running and ends
/// in `outcome` (or stops at it, if it is one of those). Every hook carries a failure reason,
/// as GitLab's do.
pub fn job_lifecycle(
    (project_id, pipeline_id, job_id): (u64, u64, u64),
    start: OffsetDateTime,
    outcome: &str,
    manual: bool,
) -> (Vec<Hook>, Final) {
    let mut states = vec![("created", None, None)];
    if manual {
        states.push(("manual", None, None));
    }
    states.push(("pending", None, None));
    states.push(("running", Some(after(start, 5)), None));
    if let Some(stop) = states.iter().position(|state| state.0 == outcome) {
        states.truncate(stop + 1);
    } else {
        states.push((outcome, Some(after(start, 5)), Some(after(start, 50))));
    }
    let finished_at = states.last().and_then(|state| state.2);
    let hooks = states
        .iter()
        .map(|(status, started_at, finished_at)| {
            hook(
                "Job Hook",
                "gitlab-webhooks/job.json",
                &[
                    ("/project_id", json!(project_id)),
                    ("/pipeline_id", json!(pipeline_id)),
                    ("/build_id", json!(job_id)),
                    ("/build_status", json!(status)),
                    ("/build_created_at", gitlab_time(Some(start))),
                    ("/build_started_at", gitlab_time(*started_at)),
                    ("/build_finished_at", gitlab_time(*finished_at)),
                    ("/build_failure_reason", json!("script_failure")),
                ],
            )
        })
        .collect();
    let expected = Final {
        state: outcome.to_owned(),
        at: finished_at,
        detail: if outcome == "failed" {
            "script_failure"
        } else {
            ""
        }
        .to_owned(),
        events: Vec::new(),
    };
    (hooks, expected)
}

/// The Merge Request Hooks of a merge request that is opened, updated, approved by
/// `approvers` users (ids 2..), optionally closed and reopened, merged, and optionally
/// relabelled after the merge. Approvals do not change `updated_at`, so they share the time of
/// the update before them; an update sent in the same second as the merge still shows the
/// merge request open. Times are whole seconds, as GitLab sends them.
pub fn merge_request_lifecycle(
    (project_id, merge_request_id, iid): (u64, u64, u64),
    start: OffsetDateTime,
    approvers: u64,
    close_and_reopen: bool,
    update_after_merge: bool,
) -> (Vec<Hook>, Final) {
    // (action, state, actor, seconds after start)
    let mut events = vec![("open", "opened", 1, 0), ("update", "opened", 1, 1)];
    for approver in 1..=approvers {
        let action = if approver == approvers {
            "approved"
        } else {
            "approval"
        };
        events.push((action, "opened", approver + 1, 1));
    }
    if close_and_reopen {
        events.push(("close", "closed", 1, 2));
        events.push(("reopen", "opened", 1, 3));
    }
    events.push(("update", "opened", 1, 4));
    events.push(("merge", "merged", 1, 4));
    if update_after_merge {
        events.push(("update", "merged", 1, 5));
    }
    let mut expected = Final::default();
    let hooks = events
        .iter()
        .map(|&(action, state, actor, second)| {
            let at = after(start, second);
            expected = Final {
                state: state.to_owned(),
                at: Some(at),
                detail: action.to_owned(),
                events: std::mem::take(&mut expected.events),
            };
            expected.events.push((action.to_owned(), at, actor));
            hook(
                "Merge Request Hook",
                "gitlab-webhooks/merge_request.json",
                &[
                    ("/project/id", json!(project_id)),
                    ("/object_attributes/target_project_id", json!(project_id)),
                    ("/object_attributes/id", json!(merge_request_id)),
                    ("/object_attributes/iid", json!(iid)),
                    ("/object_attributes/action", json!(action)),
                    ("/object_attributes/state", json!(state)),
                    ("/object_attributes/created_at", gitlab_time(Some(start))),
                    ("/object_attributes/updated_at", gitlab_time(Some(at))),
                    ("/user/id", json!(actor)),
                    ("/user/username", json!(format!("user{actor}"))),
                ],
            )
        })
        .collect();
    (hooks, expected)
}

/// Runs `sql` against the stack's database and returns its rows as JSON objects (64-bit
/// integers as numbers, times as ClickHouse prints them: `2021-04-28 19:50:00.000`).
pub async fn select(stack: &Stack, sql: &str) -> Vec<Value> {
    let url = format!(
        "{}/?database={}&output_format_json_quote_64bit_integers=0",
        stack.clickhouse_url.trim_end_matches('/'),
        stack.clickhouse_database
    );
    let response = reqwest::Client::new()
        .post(url)
        .body(format!("{sql} FORMAT JSONEachRow"))
        .send()
        .await
        .expect("ClickHouse answers");
    let status = response.status();
    let text = response.text().await.expect("a response body");
    assert!(status.is_success(), "{sql}: {text}");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON row"))
        .collect()
}

/// A time as [`select`] returns it.
pub fn clickhouse_time(time: OffsetDateTime) -> String {
    format!("{}.{:03}", utc_seconds(time), time.millisecond())
}

/// The value of header `name` of a Kafka record, as text.
pub fn record_header(message: &impl rdkafka::message::Message, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == name)?;
    Some(String::from_utf8_lossy(header.value?).into_owned())
}
