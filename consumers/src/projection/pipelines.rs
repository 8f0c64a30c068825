//! `pipelines`: the latest state of every pipeline.
//!
//! GitLab sends a Pipeline Hook on every status change, in no guaranteed order, and a pipeline
//! can run again after finishing (a manual or retried job). The row's `version` orders states
//! by what the payload says happened, so the table converges on the right state whatever the
//! arrival order:
//!
//! 1. `finished_at` first: a later finish is a later state, so a pipeline that finished, ran
//!    again and finished again ends in its second final status;
//! 2. then the status's place in the lifecycle (created < pending < running < finished), so a
//!    late `running` hook never replaces `success`.

use clickhouse::Row;
use hookline_schemas::payload::PipelineHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `pipelines` (DDL: `schemas/migrations/0002_pipelines.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PipelineRow {
    pub project_id: u64,
    pub project_path: String,
    pub pipeline_id: u64,
    pub pipeline_iid: Option<u64>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub tag: bool,
    pub sha: String,
    pub source: String,
    pub status: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_seconds: Option<f64>,
    pub queued_duration_seconds: Option<f64>,
    pub user_username: String,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl PipelineRow {
    pub fn from_hook(hook: &PipelineHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let project = hook.project.as_ref();
        Self {
            // GitLab's documentation example has no project id; 0 marks "not sent".
            project_id: project_id(None, project),
            project_path: project_path(project),
            pipeline_id: attributes.id,
            pipeline_iid: attributes.iid,
            git_ref: attributes.git_ref.clone(),
            tag: attributes.tag,
            sha: attributes.sha.clone(),
            source: attributes.source.clone().unwrap_or_default(),
            status: attributes.status.clone(),
            // Every pipeline hook carries created_at; the epoch marks a payload that did not.
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            finished_at: attributes.finished_at,
            duration_seconds: attributes.duration,
            queued_duration_seconds: attributes.queued_duration,
            user_username: username(hook.user.as_ref()),
            version: version(&attributes.status, attributes.finished_at).version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// Orders the states of one pipeline: `finished_at` (seconds), then the lifecycle rank (see [`super::version`]).
pub fn version(status: &str, finished_at: Option<OffsetDateTime>) -> Precedence {
    versioned(finished_at, lifecycle_rank(status))
}

/// A pipeline status's place in GitLab's pipeline lifecycle; unknown statuses rank lowest.
fn lifecycle_rank(status: &str) -> u8 {
    match status {
        "created" => 1,
        "waiting_for_resource" => 2,
        "preparing" => 3,
        "waiting_for_callback" => 4,
        "scheduled" => 4,
        "pending" => 5,
        "running" => 6,
        "manual" => 7,
        "canceling" => 8,
        "success" | "failed" | "canceled" | "skipped" => 9,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_late_running_hook_does_not_regress_a_finished_pipeline() {
        let success = version("success", Some(datetime!(2026-01-01 10:00 UTC)));
        assert!(version("running", None) < success);
        assert!(version("pending", None) < version("running", None));
        assert!(version("created", None) < version("pending", None));
    }

    #[test]
    fn a_pipeline_that_runs_again_ends_in_its_last_final_state() {
        let first = version("success", Some(datetime!(2026-01-01 10:00 UTC)));
        let rerun = version("running", None);
        let last = version("failed", Some(datetime!(2026-01-01 11:00 UTC)));
        assert!(rerun < first);
        assert!(first < last);
    }
}
