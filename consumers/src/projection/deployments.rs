//! `deployments`: the latest state of every deployment.

use clickhouse::Row;
use hookline_schemas::payload::DeploymentHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `deployments` (DDL: `schemas/migrations/0007_deployments.sql`).
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
            user_username: username(hook.user.as_ref()),
            version: version(&hook.status, hook.status_changed_at).version(headers),
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
    use time::macros::datetime;

    #[test]
    fn a_finished_deployment_outranks_running_at_the_same_or_an_earlier_time() {
        let t = Some(datetime!(2026-01-01 10:00 UTC));
        assert!(version("running", t) < version("success", t));
        assert!(version("running", t) < version("failed", Some(datetime!(2026-01-01 10:05 UTC))));
    }
}
