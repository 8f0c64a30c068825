//! What GitLab was told against what ClickHouse holds.
//!
//! Every event GitLab was told was accepted (any 2xx answer to any of its deliveries) must be
//! in `raw_hooks FINAL` exactly once, by event id, and the typed tables must hold exactly the
//! final states the lifecycle generators predict. Events that were never accepted may or may
//! not be there (ingest may have written a hook whose answer never reached GitLab): they are
//! counted, not judged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use super::gitlab_sim::{Expected, Outcomes, Plan, LIFECYCLE_PROJECTS};
use crate::client::query;
use crate::stack::Stack;
use hookline_schemas::testing::gitlab::{clickhouse_time, Final};

/// The balance of one stream.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    /// Deliveries in the stream (first sends).
    pub sent: usize,
    /// Deliveries resent after failing.
    pub resent: usize,
    /// Deliveries answered 2xx (on their first send or a resend).
    pub accepted: usize,
    /// Distinct events among the accepted deliveries: what must be in ClickHouse.
    pub accepted_events: usize,
    /// Accepted events missing from `raw_hooks FINAL` (event ids, at most a few kept).
    pub lost: Vec<String>,
    /// How many accepted events are missing.
    pub lost_count: usize,
    /// Events more than once in `raw_hooks FINAL`: (event id, rows), a few kept.
    pub duplicated: Vec<(String, u64)>,
    /// How many events are there more than once.
    pub duplicated_count: usize,
    /// Non-2xx answers by status (first sends and resends).
    pub non_2xx: BTreeMap<u16, usize>,
    /// Attempts without an answer, by reason (connection refused, timeout, …).
    pub unanswered: BTreeMap<String, usize>,
    /// Events in `raw_hooks` that GitLab was never told were accepted.
    pub written_unacknowledged: usize,
    /// Typed-table rows that differ from the generators' prediction (a few kept).
    pub typed_mismatches: Vec<String>,
    /// How many typed rows differ, are missing or are extra.
    pub typed_mismatch_count: usize,
    /// Typed rows checked.
    pub typed_expected: usize,
}

impl Accounting {
    /// Whether every accepted event is there exactly once and the typed tables are as
    /// predicted.
    pub fn complete(&self) -> bool {
        self.lost_count == 0 && self.duplicated_count == 0 && self.typed_mismatch_count == 0
    }

    /// Non-2xx answers in all.
    pub fn non_2xx_total(&self) -> usize {
        self.non_2xx.values().sum()
    }

    /// Attempts without an answer in all.
    pub fn unanswered_total(&self) -> usize {
        self.unanswered.values().sum()
    }
}

/// The distinct event ids in `raw_hooks` (without FINAL: presence is all that counts).
pub async fn raw_event_ids(stack: &Stack) -> anyhow::Result<HashSet<String>> {
    Ok(query(stack, "SELECT DISTINCT event_id FROM raw_hooks")
        .await?
        .into_iter()
        .filter_map(|row| row["event_id"].as_str().map(str::to_owned))
        .collect())
}

/// The balance now.
pub async fn account(
    stack: &Stack,
    plan: &Plan,
    outcomes: &Outcomes,
) -> anyhow::Result<Accounting> {
    let attempts = outcomes.attempts();
    let mut accepted_ids = HashSet::new();
    let mut accounting = Accounting {
        sent: plan.deliveries.len(),
        non_2xx: outcomes.non_2xx(),
        ..Accounting::default()
    };
    for attempt in &attempts {
        accounting.resent += usize::from(attempt.resend);
        if attempt.accepted() {
            accounting.accepted += 1;
            accepted_ids.insert(plan.deliveries[attempt.delivery].event_id.as_str());
        }
        if let Some(error) = &attempt.error {
            *accounting.unanswered.entry(error.clone()).or_default() += 1;
        }
    }
    accounting.accepted_events = accepted_ids.len();

    let rows = query(
        stack,
        "SELECT event_id, count() AS n FROM raw_hooks FINAL GROUP BY event_id",
    )
    .await?;
    let mut present: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    for row in rows {
        if let (Some(id), Some(n)) = (row["event_id"].as_str(), row["n"].as_u64()) {
            present.insert(id.to_owned(), n);
        }
    }
    for id in &accepted_ids {
        if !present.contains_key(*id) {
            accounting.lost_count += 1;
            if accounting.lost.len() < 10 {
                accounting.lost.push((*id).to_owned());
            }
        }
    }
    for (id, n) in &present {
        if *n > 1 {
            accounting.duplicated_count += 1;
            if accounting.duplicated.len() < 10 {
                accounting.duplicated.push((id.clone(), *n));
            }
        }
        if !accepted_ids.contains(id.as_str()) {
            accounting.written_unacknowledged += 1;
        }
    }

    let mismatches = typed_mismatches(stack, plan).await?;
    accounting.typed_expected = plan.expected.len();
    accounting.typed_mismatch_count = mismatches.len();
    accounting.typed_mismatches = mismatches.into_iter().take(10).collect();
    Ok(accounting)
}

/// Polls [`account`] until the balance is complete or `deadline` has passed; the last
/// balance either way (a ClickHouse that does not answer counts as incomplete).
pub async fn settle(
    stack: &Stack,
    plan: &Plan,
    outcomes: &Outcomes,
    deadline: Duration,
) -> anyhow::Result<Accounting> {
    let until = Instant::now() + deadline;
    loop {
        let balance = account(stack, plan, outcomes).await;
        match balance {
            Ok(balance) if balance.complete() || Instant::now() >= until => return Ok(balance),
            Err(error) if Instant::now() >= until => return Err(error),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Every typed row of the lifecycles that differs from its prediction, is missing or extra.
async fn typed_mismatches(stack: &Stack, plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut want: BTreeMap<(&str, u64, u64, u64), Value> = BTreeMap::new();
    for expected in &plan.expected {
        let (key, value) = match expected {
            Expected::Pipeline {
                project,
                pipeline,
                end,
            } => (
                ("pipelines", *project, *pipeline, 0),
                json!({"status": end.state, "finished_at": time_or_null(end)}),
            ),
            Expected::Job {
                project,
                pipeline,
                job,
                end,
            } => (
                ("jobs", *project, *pipeline, *job),
                json!({"status": end.state, "finished_at": time_or_null(end), "failure_reason": end.detail}),
            ),
            Expected::MergeRequest { project, iid, end } => (
                ("merge_requests", *project, *iid, 0),
                json!({"state": end.state, "last_action": end.detail, "updated_at": time_or_null(end)}),
            ),
        };
        want.insert(key, value);
    }
    let queries = [
        ("pipelines", format!("SELECT project_id AS a, pipeline_id AS b, 0 AS c, status, finished_at FROM pipelines FINAL WHERE project_id >= {LIFECYCLE_PROJECTS}")),
        ("jobs", format!("SELECT project_id AS a, pipeline_id AS b, job_id AS c, status, finished_at, failure_reason FROM jobs FINAL WHERE project_id >= {LIFECYCLE_PROJECTS}")),
        ("merge_requests", format!("SELECT project_id AS a, merge_request_iid AS b, 0 AS c, state, last_action, updated_at FROM merge_requests FINAL WHERE project_id >= {LIFECYCLE_PROJECTS}")),
    ];
    let mut got: BTreeMap<(&str, u64, u64, u64), Value> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (table, sql) in queries {
        for mut row in query(stack, &sql).await? {
            let object = row.as_object_mut().context("a JSON object")?;
            let mut id = |name: &str| object.remove(name).and_then(|v| v.as_u64()).unwrap_or(0);
            let key = (table, id("a"), id("b"), id("c"));
            if got.insert(key, row).is_some() {
                mismatches.push(format!("{table} {key:?}: twice in FINAL"));
            }
        }
    }
    for (key, expected) in &want {
        match got.get(key) {
            None => mismatches.push(format!("{} {:?}: missing", key.0, &key)),
            Some(actual) if actual != expected => {
                mismatches.push(format!("{} {key:?}: got {actual}, want {expected}", key.0))
            }
            Some(_) => {}
        }
    }
    for key in got.keys().filter(|key| !want.contains_key(*key)) {
        mismatches.push(format!("{} {key:?}: not sent", key.0));
    }
    Ok(mismatches)
}

fn time_or_null(end: &Final) -> Value {
    end.at.map_or(Value::Null, |t| json!(clickhouse_time(t)))
}
