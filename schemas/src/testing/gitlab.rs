//! The GitLab hooks of generated lifecycles (pipelines, jobs, merge requests), built from the
//! fixtures with varied ids, times and outcomes, each with the final state it must end in
//! whatever order its hooks arrive in. The property tests of the projections and the
//! end-to-end tests send the same lifecycles.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::fixtures;

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

/// A time as ClickHouse prints a `DateTime64(3)` in JSON rows (`2021-04-28 19:50:00.000`).
pub fn clickhouse_time(time: OffsetDateTime) -> String {
    format!("{}.{:03}", utc_seconds(time), time.millisecond())
}
