//! Deployment Hook (`object_kind` `deployment`), sent when a deployment starts, succeeds,
//! fails or is canceled.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{null_to_default, Project, User};

/// A Deployment Hook body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DeploymentHook {
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    /// `running`, `success`, `failed` or `canceled`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub status: String,
    /// When `status` was reached; GitLab writes it as `2021-04-28 21:50:00 +0200`.
    #[serde(default, with = "crate::timestamp::option")]
    pub status_changed_at: Option<OffsetDateTime>,
    pub deployment_id: u64,
    /// The job that ran the deployment.
    #[serde(default)]
    pub deployable_id: Option<u64>,
    #[serde(default)]
    pub deployable_url: Option<String>,
    /// The environment's name: a plain string here, unlike the `environment` object of job and
    /// pipeline hooks.
    #[serde(default, deserialize_with = "null_to_default")]
    pub environment: String,
    /// `production`, `staging`, `testing`, `development` or `other`; absent from older versions.
    #[serde(default)]
    pub environment_tier: Option<String>,
    #[serde(default)]
    pub environment_slug: Option<String>,
    #[serde(default)]
    pub environment_external_url: Option<String>,
    #[serde(default)]
    pub project: Option<Project>,
    /// The deployed commit's SHA, abbreviated.
    #[serde(default, deserialize_with = "null_to_default")]
    pub short_sha: String,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub user_url: Option<String>,
    #[serde(default)]
    pub commit_url: Option<String>,
    #[serde(default)]
    pub commit_title: Option<String>,
    /// The deployed branch or tag name (no `refs/` prefix); absent from older versions.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
}
