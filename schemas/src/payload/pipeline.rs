//! Pipeline Hook (`object_kind` `pipeline`), sent on every status change of a pipeline.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{null_to_default, Commit, Environment, MergeRequestSummary, Project, Runner, User};

/// A Pipeline Hook body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PipelineHook {
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    pub object_attributes: PipelineAttributes,
    /// Set for merge request pipelines (`source` `merge_request_event`).
    #[serde(default)]
    pub merge_request: Option<MergeRequestSummary>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub project: Option<Project>,
    /// The pipeline's head commit; here `commit.id` is the SHA (unlike job hooks).
    #[serde(default)]
    pub commit: Option<Commit>,
    /// Set for pipelines triggered from another project's pipeline (multi-project pipelines).
    #[serde(default)]
    pub source_pipeline: Option<SourcePipeline>,
    /// The pipeline's jobs: only the latest try of each job (a retried job's earlier tries are
    /// not listed), so `builds` cannot be used to count retries.
    #[serde(default, deserialize_with = "null_to_default")]
    pub builds: Vec<PipelineBuild>,
}

/// `object_attributes` of a Pipeline Hook.
///
/// There is no `started_at`: GitLab does not send when a pipeline started, only `created_at`,
/// `finished_at`, `duration` (running time) and `queued_duration`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PipelineAttributes {
    pub id: u64,
    /// Project-scoped pipeline number; absent from older GitLab versions.
    #[serde(default)]
    pub iid: Option<u64>,
    /// The pipeline's name from `workflow:name`; absent or `null` when not set.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "ref", deserialize_with = "null_to_default")]
    pub git_ref: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub tag: bool,
    #[serde(default, deserialize_with = "null_to_default")]
    pub sha: String,
    /// All zeros for the first pipeline of a new branch.
    #[serde(default, deserialize_with = "null_to_default")]
    pub before_sha: String,
    /// What triggered the pipeline (`push`, `merge_request_event`, `schedule`, `web`, …);
    /// absent from older GitLab versions.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub status: String,
    /// The status as shown in the UI (`passed`, `failed`, `running`, …).
    #[serde(default)]
    pub detailed_status: Option<String>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub stages: Vec<String>,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Seconds the pipeline's jobs were running (the union of their running periods), which is
    /// not `finished_at - created_at`; an integer in most payloads, `null` while it runs.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Seconds the pipeline waited for a runner; absent from older GitLab versions.
    #[serde(default)]
    pub queued_duration: Option<f64>,
    #[serde(default)]
    pub url: Option<String>,
}

/// One job of a pipeline, from a Pipeline Hook's `builds[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PipelineBuild {
    /// The job id, the same as a job hook's `build_id`.
    pub id: u64,
    #[serde(default, deserialize_with = "null_to_default")]
    pub stage: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub status: String,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Seconds, possibly fractional; absent from older GitLab versions.
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub queued_duration: Option<f64>,
    /// `on_success`, `manual`, `always`, `delayed`, …
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub manual: bool,
    #[serde(default, deserialize_with = "null_to_default")]
    pub allow_failure: bool,
    /// Only meaningful when `status` is `failed`.
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
    /// `null` until a runner picked the job up.
    #[serde(default)]
    pub runner: Option<Runner>,
    #[serde(default)]
    pub environment: Option<Environment>,
}

/// `source_pipeline` of a Pipeline Hook: the upstream pipeline that triggered this one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SourcePipeline {
    /// Only `id`, `web_url` and `path_with_namespace` are sent.
    pub project: Option<Project>,
    pub pipeline_id: Option<u64>,
    /// The trigger job in the upstream pipeline.
    pub job_id: Option<u64>,
}
