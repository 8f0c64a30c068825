//! `jobs`: the latest state of every job.
//!
//! GitLab sends a Job Hook on every status change of a job, in no guaranteed order. A retried
//! job is a new job with its own id, so one job id never runs twice and its states form a
//! lifecycle: created, then manual, scheduled or waiting for resource, preparing, pending,
//! running, and a final status. The row's `version` is `finished_at` (seconds) then that lifecycle
//! rank, so a late `running` hook never replaces `failed`.

use clickhouse::Row;
use hookline_schemas::payload::JobHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `jobs` (DDL: `schemas/migrations/0003_jobs.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct JobRow {
    pub project_id: u64,
    pub project_path: String,
    pub pipeline_id: u64,
    pub job_id: u64,
    pub name: String,
    pub stage: String,
    pub status: String,
    pub failure_reason: String,
    pub allow_failure: bool,
    pub retries_count: Option<u32>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub tag: bool,
    pub sha: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_seconds: Option<f64>,
    pub queued_duration_seconds: Option<f64>,
    pub runner_id: Option<u64>,
    pub runner_type: String,
    pub environment: String,
    pub user_username: String,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl JobRow {
    pub fn from_hook(hook: &JobHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        let runner = hook.runner.as_ref();
        let finished_at = hook.finished_at();
        Self {
            project_id: project_id(hook.project_id, project),
            project_path: project_path(project),
            pipeline_id: hook.pipeline_id().unwrap_or_default(),
            job_id: hook.build_id,
            name: hook.build_name.clone(),
            stage: hook.build_stage.clone(),
            status: hook.build_status.clone(),
            // GitLab sends reasons such as `unknown_failure` for successful jobs too.
            failure_reason: match hook.build_status.as_str() {
                "failed" => hook.build_failure_reason.clone().unwrap_or_default(),
                _ => String::new(),
            },
            allow_failure: hook.build_allow_failure,
            retries_count: hook.retries_count,
            git_ref: hook.git_ref.clone(),
            tag: hook.tag,
            sha: hook.sha.clone(),
            // Older GitLab versions send no creation time; the epoch keeps every hook of such a
            // job in one partition.
            created_at: hook.created_at().unwrap_or(OffsetDateTime::UNIX_EPOCH),
            started_at: hook.started_at(),
            finished_at,
            duration_seconds: hook.build_duration,
            queued_duration_seconds: hook.build_queued_duration,
            runner_id: runner.and_then(|r| r.id),
            runner_type: runner
                .and_then(|r| r.runner_type.clone())
                .unwrap_or_default(),
            environment: hook
                .environment
                .as_ref()
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            user_username: username(hook.user.as_ref()),
            version: version(&hook.build_status, finished_at).version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// Orders the states of one job: `finished_at` (seconds), then the lifecycle rank (see [`super::version`]).
pub fn version(status: &str, finished_at: Option<OffsetDateTime>) -> Precedence {
    versioned(finished_at, lifecycle_rank(status))
}

/// A job status's place in GitLab's job lifecycle; unknown statuses rank lowest.
///
/// Unlike a pipeline, a job is `manual` or `scheduled` *before* it runs: playing a manual job
/// makes it `pending`, then `running`.
fn lifecycle_rank(status: &str) -> u8 {
    match status {
        "created" => 1,
        "manual" | "scheduled" => 2,
        "waiting_for_resource" => 3,
        "preparing" => 4,
        "waiting_for_callback" | "pending" => 5,
        "running" => 6,
        "canceling" => 7,
        "success" | "failed" | "canceled" | "skipped" => 8,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_late_running_hook_does_not_regress_a_finished_job() {
        let failed = version("failed", Some(datetime!(2026-01-01 10:00 UTC)));
        assert!(version("running", None) < failed);
        assert!(version("pending", None) < version("running", None));
        assert!(version("created", None) < version("pending", None));
    }

    #[test]
    fn a_played_manual_job_moves_on_from_manual() {
        assert!(version("manual", None) < version("pending", None));
        assert!(version("manual", None) < version("running", None));
        assert!(version("created", None) < version("manual", None));
    }

    #[test]
    fn every_final_status_outranks_every_running_state() {
        for done in ["success", "failed", "canceled", "skipped"] {
            for live in ["created", "manual", "pending", "running", "canceling"] {
                assert!(version(live, None) < version(done, None), "{live} < {done}");
            }
        }
    }
}
