//! `issues`: the latest state of every issue and work item.

use clickhouse::Row;
use hookline_schemas::payload::IssueHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{state_action_rank, versioned, Precedence};
use super::{project_id, project_path};

/// A row of `issues` (DDL: `schemas/migrations/0006_issues.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct IssueRow {
    pub project_id: u64,
    pub project_path: String,
    pub issue_id: u64,
    pub issue_iid: u64,
    pub issue_type: String,
    pub title: String,
    pub state: String,
    pub last_action: String,
    pub confidential: bool,
    pub author_id: Option<u64>,
    pub assignee_ids: Vec<u64>,
    pub labels: Vec<String>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub closed_at: Option<OffsetDateTime>,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl IssueRow {
    pub fn from_hook(hook: &IssueHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let project = hook.project.as_ref();
        let action = attributes.action.clone().unwrap_or_default();
        // Labels are in object_attributes on older versions, at the top level on newer ones.
        let labels = if hook.labels.is_empty() {
            &attributes.labels
        } else {
            &hook.labels
        };
        Self {
            project_id: project_id(attributes.project_id, project),
            project_path: project_path(project),
            issue_id: attributes.id,
            issue_iid: attributes.iid.unwrap_or_default(),
            issue_type: attributes
                .issue_type
                .clone()
                .unwrap_or_else(|| "Issue".to_owned()),
            title: attributes.title.clone(),
            state: attributes.state.clone(),
            confidential: attributes.confidential,
            author_id: attributes.author_id,
            assignee_ids: attributes.assignee_ids.clone(),
            labels: labels.iter().map(|l| l.title.clone()).collect(),
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            updated_at: attributes
                .updated_at
                .or(attributes.created_at)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            closed_at: attributes.closed_at,
            version: version(&attributes.state, &action, attributes.updated_at).version(headers),
            last_action: action,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// Orders the states of one issue: `updated_at` (seconds), then the state (closed outranks opened),
/// then the action (a `close` outranks an `update` at the same time).
pub fn version(state: &str, action: &str, updated_at: Option<OffsetDateTime>) -> Precedence {
    let state_rank = match state {
        "opened" => 1,
        "closed" => 2,
        _ => 0,
    };
    let action_rank = match action {
        "update" => 1,
        "open" => 2,
        "reopen" => 3,
        "close" => 4,
        _ => 0,
    };
    versioned(updated_at, state_action_rank(state_rank, action_rank))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_close_outranks_an_update_at_the_same_time_and_a_later_reopen_wins() {
        let t = Some(datetime!(2026-01-01 10:00 UTC));
        let close = version("closed", "close", t);
        assert!(version("opened", "update", t) < close);
        assert!(close < version("opened", "reopen", Some(datetime!(2026-01-01 10:01 UTC))));
    }
}
