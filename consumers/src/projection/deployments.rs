//! `deployments` (the latest state of every deployment) and `deployment_events` (every status
//! a deployment reached, and when): lead time and deployment duration need the full SHA and
//! the time of each status, which the latest state alone loses.
//!
//! Deployment hooks carry no pipeline id in any GitLab version: `job_id` (`deployable_id`) is
//! the job that ran the deployment, and the pipeline is that job's (`jobs.pipeline_id`).

use clickhouse::Row;
use hookline_schemas::payload::DeploymentHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `deployments` (DDL: `schemas/migrations/0007_deployments.sql`,
/// `0013_deployments_v2.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub project_id: u64,
    pub project_path: String,
    pub deployment_id: u64,
    pub job_id: Option<u64>,
    pub environment: String,
    pub environment_tier: String,
    pub status: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub status_changed_at: Option<OffsetDateTime>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub short_sha: String,
    /// The deployed commit's full SHA, to join commits and merge requests for lead time; `None`
    /// when the hook does not give it ([`DeploymentHook::commit_sha`]).
    pub sha: Option<String>,
    pub user_username: String,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl DeploymentRow {
    pub fn from_hook(hook: &DeploymentHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        Self {
            project_id: project_id(None, project),
            project_path: project_path(project),
            deployment_id: hook.deployment_id,
            job_id: hook.deployable_id,
            environment: hook.environment.clone(),
            environment_tier: hook.environment_tier.clone().unwrap_or_default(),
            status: hook.status.clone(),
            status_changed_at: hook.status_changed_at,
            git_ref: hook.git_ref.clone().unwrap_or_default(),
            short_sha: hook.short_sha.clone(),
            sha: hook.commit_sha(),
            user_username: username(hook.user.as_ref()),
            version: version(&hook.status, hook.status_changed_at).version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// A row of `deployment_events` (DDL: `schemas/migrations/0013_deployments_v2.sql`): one per
/// status a deployment reached.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct DeploymentEventRow {
    /// As in `deployments`: the deployment's project.
    pub project_id: u64,
    /// As in `deployments`, to read the log without a join.
    pub project_path: String,
    /// The deployment; with `project_id` it groups a deployment's statuses.
    pub deployment_id: u64,
    /// The job that ran the deployment (`deployable_id`): the way to its pipeline.
    pub job_id: Option<u64>,
    /// The environment, to follow an environment's deployments in order (failed, then fixed).
    pub environment: String,
    /// `environment_tier`; empty when not sent. Filters production deployments.
    pub environment_tier: String,
    /// The status reached: `running`, `success`, `failed`, `canceled`, ….
    pub status: String,
    /// When it was reached; the epoch when not sent (it is in the sorting key, so it cannot be
    /// null). Durations are differences of these times.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub status_changed_at: OffsetDateTime,
    /// The deployed commit's full SHA, as in `deployments`.
    pub sha: Option<String>,
    /// The abbreviated SHA GitLab sends, when the full one is unknown.
    pub short_sha: String,
    /// The deployed branch or tag; empty when not sent.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Who deployed (`user.username`); empty when not sent.
    pub user_username: String,
    /// The hook (join with `raw_hooks`).
    pub event_id: String,
    /// When ingest received the hook.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl DeploymentEventRow {
    pub fn from_hook(hook: &DeploymentHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        Self {
            project_id: project_id(None, project),
            project_path: project_path(project),
            deployment_id: hook.deployment_id,
            job_id: hook.deployable_id,
            environment: hook.environment.clone(),
            environment_tier: hook.environment_tier.clone().unwrap_or_default(),
            status: hook.status.clone(),
            status_changed_at: hook.status_changed_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            sha: hook.commit_sha(),
            short_sha: hook.short_sha.clone(),
            git_ref: hook.git_ref.clone().unwrap_or_default(),
            user_username: username(hook.user.as_ref()),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// Orders the states of one deployment: `status_changed_at` (seconds), then the status's place in
/// the lifecycle (created < running < final).
pub fn version(status: &str, status_changed_at: Option<OffsetDateTime>) -> Precedence {
    let rank = match status {
        "created" => 1,
        "blocked" => 2,
        "running" => 3,
        "success" | "failed" | "canceled" | "skipped" => 4,
        _ => 0,
    };
    versioned(status_changed_at, rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;
    use time::macros::datetime;

    fn headers() -> RecordHeaders {
        super::super::test_headers("Deployment Hook", "e", 1_700_000_000_000)
    }

    fn hook(body: &[u8]) -> DeploymentHook {
        match payload::parse(body).expect("a deployment payload") {
            Payload::Deployment(hook) => hook,
            other => panic!("not a deployment: {other:?}"),
        }
    }

    #[test]
    fn the_fixture_gives_the_full_sha_and_a_status_change() {
        let hook = hook(&fixtures::read("gitlab-webhooks/deployment.json"));
        let sha = Some("279484c09fbe69ededfced8c1bb6e6d24616b468".to_owned());
        let row = DeploymentRow::from_hook(&hook, &headers());
        assert_eq!(row.sha, sha);
        let event = DeploymentEventRow::from_hook(&hook, &headers());
        assert_eq!(
            (event.project_id, event.deployment_id, event.job_id),
            (30, 15, Some(796))
        );
        assert_eq!(
            (event.status.as_str(), event.status_changed_at),
            ("success", datetime!(2021-04-28 19:50:00 UTC))
        );
        assert_eq!(event.sha, sha);
        assert_eq!(
            (event.short_sha.as_str(), event.git_ref.as_str()),
            ("279484c0", "1.0.0")
        );
        assert_eq!(
            (event.environment.as_str(), event.environment_tier.as_str()),
            ("staging", "")
        );
        assert_eq!(event.user_username, "user1");
    }

    #[test]
    fn a_hook_without_commit_url_or_time_leaves_them_unknown() {
        // The shape of GitLab's oldest deployment hooks: no status time, and no commit URL
        // for a deployment whose commit GitLab cannot find.
        let hook = hook(
            br#"{"object_kind": "deployment", "status": "running", "deployment_id": 7,
                "deployable_id": 70, "environment": "production", "short_sha": "279484c0"}"#,
        );
        assert_eq!(DeploymentRow::from_hook(&hook, &headers()).sha, None);
        let event = DeploymentEventRow::from_hook(&hook, &headers());
        assert_eq!(event.sha, None);
        assert_eq!(event.status_changed_at, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            (event.git_ref.as_str(), event.user_username.as_str()),
            ("", "")
        );
    }

    #[test]
    fn a_finished_deployment_outranks_running_at_the_same_or_an_earlier_time() {
        let t = Some(datetime!(2026-01-01 10:00 UTC));
        assert!(version("running", t) < version("success", t));
        assert!(version("running", t) < version("failed", Some(datetime!(2026-01-01 10:05 UTC))));
    }
}
