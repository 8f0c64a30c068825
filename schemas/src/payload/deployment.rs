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
    /// The job that ran the deployment; absent for deployments created through the API. No
    /// version sends the pipeline: it is the job's (`pipeline_id` of its Job Hook).
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
    /// The deployed commit's page, `…/-/commit/<full SHA>` (`…/commit/<SHA>` on older versions);
    /// absent for a deployment whose commit GitLab cannot find.
    #[serde(default)]
    pub commit_url: Option<String>,
    #[serde(default)]
    pub commit_title: Option<String>,
    /// The deployed branch or tag name (no `refs/` prefix); absent from older versions.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
}

impl DeploymentHook {
    /// The deployed commit's full SHA, lowercase: the last path segment of `commit_url` when it
    /// is 40 hexadecimal digits and begins with `short_sha` (when that is sent). `None`
    /// otherwise: no URL, or one that does not end in a full SHA (GitLab's "test hook" sample
    /// links `…/-/tree/<short SHA>`), or one that names another commit than `short_sha`.
    pub fn commit_sha(&self) -> Option<String> {
        let url = self.commit_url.as_deref()?;
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let last = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if last.len() != 40 || !last.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        let sha = last.to_ascii_lowercase();
        sha.starts_with(&self.short_sha.to_ascii_lowercase())
            .then_some(sha)
    }
}
