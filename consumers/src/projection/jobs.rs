//! `jobs`: the latest state of every job.
//!
//! GitLab sends a Job Hook on every status change of a job, in no guaranteed order. A retried
//! job is a new job with its own id, so one job id never runs twice and its states form a
//! lifecycle: created, then manual, scheduled or waiting for resource, preparing, pending,
//! running, and a final status. The row's `version` is `finished_at` (seconds) then that lifecycle
//! rank, so a late `running` hook never replaces `failed`.
//!
//! The tries a retry replaced keep their rows (GitLab sends no hook to say they were
//! superseded); the `latest_job_tries` view keeps the latest try of each job name.

use clickhouse::Row;
use hookline_schemas::payload::JobHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `jobs` (DDL: `schemas/migrations/0003_jobs.sql`, columns added by
/// `0011_pipelines_jobs_v2.sql`). The fields are in the table's column order.
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
    /// The runner's description (the name its admins gave it), to compare runners; empty
    /// until a runner picked the job up.
    pub runner_description: String,
    /// The runner's tags, to compare pools of runners; empty until a runner picked the job
    /// up and on GitLab versions that do not send them.
    pub runner_tags: Vec<String>,
    pub environment: String,
    /// What the job does to its environment: `start`, `prepare`, `stop`, `verify` or
    /// `access`, to tell deploying jobs from the others; empty without an environment.
    pub environment_action: String,
    /// The environment's tier (`production`, `staging`, …), to find production deployment
    /// jobs; empty without an environment and when not sent.
    pub environment_tier: String,
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
        let environment = hook.environment.as_ref();
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
            runner_description: runner
                .and_then(|r| r.description.clone())
                .unwrap_or_default(),
            runner_tags: runner.map(|r| r.tags.clone()).unwrap_or_default(),
            environment: environment.map(|e| e.name.clone()).unwrap_or_default(),
            environment_action: environment
                .and_then(|e| e.action.clone())
                .unwrap_or_default(),
            environment_tier: environment
                .and_then(|e| e.deployment_tier.clone())
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
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;
    use time::macros::datetime;

    fn row(file: &str) -> JobRow {
        let Payload::Job(hook) = payload::parse(&fixtures::read(file)).unwrap() else {
            panic!("{file} is not a job hook")
        };
        let headers = RecordHeaders {
            event_type: "Job Hook".to_owned(),
            event_id: "e".to_owned(),
            delivery_key: None,
            received_at_ms: 1_900_000_000_000,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        };
        JobRow::from_hook(&hook, &headers)
    }

    #[test]
    fn the_runner_is_described_and_tagged_when_sent() {
        let job = row("gitlab-webhooks/job.json");
        assert_eq!(
            job.runner_description,
            "4-blue.shared.runners-manager.gitlab.com/default"
        );
        assert_eq!(job.runner_tags, ["linux", "docker"]);
        // GitLab 11.x: a runner without tags.
        let untagged = row("seeds/job_003.json");
        assert_eq!(
            untagged.runner_description,
            "shared-runners-manager-6.gitlab.com"
        );
        assert!(untagged.runner_tags.is_empty());
        // GitLab 8.x: no runner at all.
        let old = row("seeds/build_hook.json");
        assert_eq!(old.runner_description, "");
        assert!(old.runner_tags.is_empty());
    }

    #[test]
    fn the_environment_has_a_name_an_action_and_a_tier_when_sent() {
        let job = row("gitlab-webhooks/job.json");
        assert_eq!(
            (
                job.environment.as_str(),
                job.environment_action.as_str(),
                job.environment_tier.as_str()
            ),
            ("production", "start", "production")
        );
        let plain = row("gitlab-webhooks/build.json");
        assert_eq!(
            (
                plain.environment.as_str(),
                plain.environment_action.as_str(),
                plain.environment_tier.as_str()
            ),
            ("", "", "")
        );
    }

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
