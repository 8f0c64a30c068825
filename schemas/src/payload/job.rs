//! Job Hook (`object_kind` `build`; the header was `Build Hook` before it became `Job Hook`),
//! sent on every status change of a job.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{empty_to_none, null_to_default, Environment, Project, Runner, User};

/// A Job Hook body.
///
/// The job's own fields are the `build_*` ones at the top level; `commit` describes the job's
/// pipeline, not a git commit.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct JobHook {
    /// Always `build`, also on GitLab versions that call these Job Hooks.
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    #[serde(default, rename = "ref", deserialize_with = "null_to_default")]
    pub git_ref: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub tag: bool,
    #[serde(default, deserialize_with = "null_to_default")]
    pub before_sha: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub sha: String,
    /// The job id.
    pub build_id: u64,
    #[serde(default, deserialize_with = "null_to_default")]
    pub build_name: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub build_stage: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub build_status: String,
    #[serde(default, with = "crate::timestamp::option")]
    pub build_created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub build_started_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub build_finished_at: Option<OffsetDateTime>,
    /// ISO 8601 copy of `build_created_at` sent by newer GitLab versions, with sub-second
    /// precision; prefer [`JobHook::created_at`].
    #[serde(default, with = "crate::timestamp::option")]
    pub build_created_at_iso: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub build_started_at_iso: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub build_finished_at_iso: Option<OffsetDateTime>,
    /// Seconds, a float with sub-second precision; `null` until the job finished.
    #[serde(default)]
    pub build_duration: Option<f64>,
    /// Seconds the job waited for a runner; absent from older GitLab versions.
    #[serde(default)]
    pub build_queued_duration: Option<f64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub build_allow_failure: bool,
    /// Only meaningful when `build_status` is `failed`: GitLab can send a reason such as
    /// `unknown_failure` for successful jobs too.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub build_failure_reason: Option<String>,
    /// Which try of the job this is: 0 for the first, 1 for the first retry, …; absent from
    /// older GitLab versions.
    #[serde(default)]
    pub retries_count: Option<u32>,
    /// Absent from older GitLab versions; see [`JobHook::pipeline_id`].
    #[serde(default)]
    pub pipeline_id: Option<u64>,
    #[serde(default)]
    pub project_id: Option<u64>,
    /// The project's display name with its namespace (`Group / Project`), not its path.
    #[serde(default, deserialize_with = "null_to_default")]
    pub project_name: String,
    /// Sent by newer GitLab versions only.
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub user: Option<User>,
    /// The job's pipeline (despite its name).
    #[serde(default, deserialize_with = "null_to_default")]
    pub commit: JobCommit,
    /// `null` until a runner picked the job up.
    #[serde(default)]
    pub runner: Option<Runner>,
    #[serde(default)]
    pub environment: Option<Environment>,
}

impl JobHook {
    /// The job's pipeline id: `pipeline_id`, or for GitLab versions that do not send it,
    /// `commit.id` (which in job hooks is the pipeline id).
    pub fn pipeline_id(&self) -> Option<u64> {
        self.pipeline_id.or(self.commit.id)
    }

    /// When the job was created, preferring the more precise `build_created_at_iso`.
    pub fn created_at(&self) -> Option<OffsetDateTime> {
        self.build_created_at_iso.or(self.build_created_at)
    }

    /// When the job started running, preferring the more precise `build_started_at_iso`.
    pub fn started_at(&self) -> Option<OffsetDateTime> {
        self.build_started_at_iso.or(self.build_started_at)
    }

    /// When the job finished, preferring the more precise `build_finished_at_iso`.
    pub fn finished_at(&self) -> Option<OffsetDateTime> {
        self.build_finished_at_iso.or(self.build_finished_at)
    }
}

/// `commit` of a Job Hook. It describes the job's **pipeline**: `id` is the pipeline id, and
/// `status`, `duration`, `started_at` and `finished_at` are the pipeline's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct JobCommit {
    /// In job hooks `commit.id` is the PIPELINE id, not a commit SHA (that is `sha`).
    pub id: Option<u64>,
    /// The pipeline's name (`workflow:name`), when set.
    pub name: Option<String>,
    #[serde(deserialize_with = "null_to_default")]
    pub sha: String,
    pub message: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// The pipeline's status.
    pub status: Option<String>,
    /// The pipeline's duration in seconds, as known when the job's event was sent.
    pub duration: Option<f64>,
    /// The pipeline's start, as known when the job's event was sent.
    #[serde(with = "crate::timestamp::option")]
    pub started_at: Option<OffsetDateTime>,
    /// The pipeline's end as known when the job's event was sent: stale for a running pipeline
    /// (it can even precede `started_at`), so do not compute durations from it.
    #[serde(with = "crate::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
}
