//! `merge_requests` (latest state) and `merge_request_events` (what happened, by whom, when).
//!
//! Merge request payloads carry no `merged_at`. The merge time is the `merge` event's time in
//! `merge_request_events`; `merge_requests` has no such column, because a column filled only by
//! the merge hook would be lost whenever a later hook (a label change after the merge) wins.

use clickhouse::Row;
use hookline_schemas::payload::{MergeRequestAction, MergeRequestHook};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{state_action_rank, versioned, Precedence};
use super::{project_path, username};

/// A row of `merge_requests` (DDL: `schemas/migrations/0004_merge_requests.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MergeRequestRow {
    pub project_id: u64,
    pub project_path: String,
    pub merge_request_id: u64,
    pub merge_request_iid: u64,
    pub title: String,
    pub state: String,
    pub last_action: String,
    pub merge_status: String,
    pub draft: bool,
    pub source_project_id: u64,
    pub source_branch: String,
    pub target_branch: String,
    pub author_id: Option<u64>,
    pub assignee_ids: Vec<u64>,
    pub reviewer_ids: Vec<u64>,
    pub labels: Vec<String>,
    pub merge_commit_sha: Option<String>,
    pub head_pipeline_id: Option<u64>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// A row of `merge_request_events`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MergeRequestEventRow {
    pub project_id: u64,
    pub project_path: String,
    pub merge_request_id: u64,
    pub merge_request_iid: u64,
    pub action: String,
    pub state: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub event_at: OffsetDateTime,
    pub actor_id: u64,
    pub actor_username: String,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// The merge request's project: the target project (forks merge into it).
pub(crate) fn project_id(hook: &MergeRequestHook) -> u64 {
    super::project_id(
        hook.object_attributes.target_project_id,
        hook.project.as_ref(),
    )
}

/// When the event happened: the merge request's `updated_at`, which GitLab sets on the change
/// the event reports; `created_at` for payloads without it.
pub(crate) fn event_at(hook: &MergeRequestHook) -> OffsetDateTime {
    let attributes = &hook.object_attributes;
    attributes
        .updated_at
        .or(attributes.created_at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl MergeRequestRow {
    pub fn from_hook(hook: &MergeRequestHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        Self {
            project_id: project_id(hook),
            project_path: project_path(hook.project.as_ref()),
            merge_request_id: attributes.id,
            merge_request_iid: attributes.iid.unwrap_or_default(),
            title: attributes.title.clone(),
            state: attributes.state.clone(),
            last_action: action_str(attributes.action.as_ref()).to_owned(),
            merge_status: attributes
                .detailed_merge_status
                .clone()
                .or(attributes.merge_status.clone())
                .unwrap_or_default(),
            draft: attributes.is_draft(),
            source_project_id: attributes
                .source_project_id
                .unwrap_or_else(|| project_id(hook)),
            source_branch: attributes.source_branch.clone(),
            target_branch: attributes.target_branch.clone(),
            author_id: attributes.author_id,
            assignee_ids: attributes.assignee_ids.clone(),
            reviewer_ids: attributes.reviewer_ids.clone(),
            labels: hook.labels.iter().map(|l| l.title.clone()).collect(),
            merge_commit_sha: attributes.merge_commit_sha.clone(),
            head_pipeline_id: attributes.head_pipeline_id,
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            updated_at: event_at(hook),
            version: version(
                &attributes.state,
                attributes.action.as_ref(),
                attributes.updated_at,
            )
            .version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

impl MergeRequestEventRow {
    pub fn from_hook(hook: &MergeRequestHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let user = hook.user.as_ref();
        Self {
            project_id: project_id(hook),
            project_path: project_path(hook.project.as_ref()),
            merge_request_id: attributes.id,
            merge_request_iid: attributes.iid.unwrap_or_default(),
            action: action_str(attributes.action.as_ref()).to_owned(),
            state: attributes.state.clone(),
            event_at: event_at(hook),
            actor_id: user.and_then(|u| u.id).unwrap_or_default(),
            actor_username: username(user),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

fn action_str(action: Option<&MergeRequestAction>) -> &str {
    action.map(MergeRequestAction::as_str).unwrap_or_default()
}

/// Orders the states of one merge request: `updated_at` (seconds), then the state (merged and
/// closed outrank open), then the action (a `merge` outranks an `update` at the same time).
pub fn version(
    state: &str,
    action: Option<&MergeRequestAction>,
    updated_at: Option<OffsetDateTime>,
) -> Precedence {
    let state_rank = match state {
        "opened" => 1,
        "locked" => 2,
        "closed" => 3,
        "merged" => 4,
        _ => 0,
    };
    // Approvals do not change updated_at, so they tie with the update before them: each
    // action has its own rank so that ties resolve the same way on every replica.
    let action_rank = match action {
        Some(MergeRequestAction::Update) => 1,
        Some(MergeRequestAction::Unapproval) => 2,
        Some(MergeRequestAction::Approval) => 3,
        Some(MergeRequestAction::Unapproved) => 4,
        Some(MergeRequestAction::Approved) => 5,
        Some(MergeRequestAction::Open) => 6,
        Some(MergeRequestAction::Reopen) => 7,
        Some(MergeRequestAction::Close) => 8,
        Some(MergeRequestAction::Merge) => 9,
        Some(MergeRequestAction::Other(_)) | None => 0,
    };
    versioned(updated_at, state_action_rank(state_rank, action_rank))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-01-01 10:00 UTC);

    #[test]
    fn a_merge_outranks_an_update_with_the_same_updated_at() {
        let merge = version("merged", Some(&MergeRequestAction::Merge), Some(T));
        let update = version("opened", Some(&MergeRequestAction::Update), Some(T));
        let approved = version("opened", Some(&MergeRequestAction::Approved), Some(T));
        assert!(update < merge);
        assert!(approved < merge);
        // Even a hook that says `update` but already sees the merged state loses to the merge.
        assert!(version("merged", Some(&MergeRequestAction::Update), Some(T)) < merge);
    }

    #[test]
    fn a_close_outranks_an_update_and_a_later_reopen_wins() {
        let close = version("closed", Some(&MergeRequestAction::Close), Some(T));
        assert!(version("opened", Some(&MergeRequestAction::Update), Some(T)) < close);
        let reopen = version(
            "opened",
            Some(&MergeRequestAction::Reopen),
            Some(datetime!(2026-01-01 10:00:01 UTC)),
        );
        assert!(close < reopen);
    }

    #[test]
    fn a_later_update_after_the_merge_wins_and_keeps_the_merged_state() {
        let merge = version("merged", Some(&MergeRequestAction::Merge), Some(T));
        let relabel = version(
            "merged",
            Some(&MergeRequestAction::Update),
            Some(datetime!(2026-01-01 11:00 UTC)),
        );
        assert!(merge < relabel);
    }
}
