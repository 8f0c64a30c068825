//! `pushes`: one row per push of a branch or tag.
//!
//! Push hooks carry no time of their own, so `received_at` stands for the push time.

use clickhouse::Row;
use hookline_schemas::payload::PushHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::{project_id, project_path};

/// A row of `pushes` (DDL: `schemas/migrations/0005_pushes.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PushRow {
    pub project_id: u64,
    pub project_path: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub ref_name: String,
    pub ref_type: String,
    pub before: String,
    pub after: String,
    pub created: bool,
    pub deleted: bool,
    pub commit_count: u64,
    pub user_id: Option<u64>,
    pub user_username: String,
    pub user_name: String,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl PushRow {
    pub fn from_hook(hook: &PushHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        Self {
            project_id: project_id(hook.project_id, project),
            project_path: project_path(project),
            git_ref: hook.git_ref.clone(),
            ref_name: hook.ref_name().to_owned(),
            ref_type: if hook.is_tag() { "tag" } else { "branch" }.to_owned(),
            before: hook.before.clone(),
            after: hook.after.clone(),
            created: hook.is_creation(),
            deleted: hook.is_deletion(),
            commit_count: hook.total_commits_count,
            user_id: hook.user_id,
            user_username: hook.user_username.clone(),
            user_name: hook.user_name.clone(),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}
