//! Push Hook (`object_kind` `push`) and Tag Push Hook (`object_kind` `tag_push`), which share
//! one body shape.

use serde::Deserialize;

use super::{empty_to_none, null_to_default, Commit, Project};

/// A commit of a push (`commits[]`).
pub type PushCommit = Commit;

/// The SHA GitLab sends as `before` for a created ref and as `after` for a deleted one.
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A Push Hook or Tag Push Hook body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PushHook {
    /// `push` or `tag_push`; absent from GitLab's pre-8.x pushes.
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    /// Same as `object_kind` on newer GitLab versions.
    #[serde(default)]
    pub event_name: Option<String>,
    /// The ref's SHA before the push: all zeros when the push created the branch or tag.
    pub before: String,
    /// The ref's SHA after the push: all zeros when the push deleted the branch or tag.
    pub after: String,
    /// The full ref: `refs/heads/<branch>` or `refs/tags/<tag>`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// `null` when the push deleted the ref; absent from older GitLab versions.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub checkout_sha: Option<String>,
    /// The pusher.
    #[serde(default)]
    pub user_id: Option<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub user_name: String,
    /// Absent from older GitLab versions.
    #[serde(default, deserialize_with = "null_to_default")]
    pub user_username: String,
    #[serde(default, deserialize_with = "empty_to_none")]
    pub user_email: Option<String>,
    #[serde(default)]
    pub project_id: Option<u64>,
    /// Absent from pre-8.x pushes, which only carry the deprecated `repository`.
    #[serde(default)]
    pub project: Option<Project>,
    /// At most the first 20 commits of the push (the limit is configurable); see
    /// `total_commits_count`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub commits: Vec<PushCommit>,
    /// The number of commits pushed, also when `commits` was cut; `None` when not sent, so
    /// that an unknown count is never read as a push of no commits.
    #[serde(default)]
    pub total_commits_count: Option<u64>,
}

impl PushHook {
    /// Whether the pushed ref is a tag.
    pub fn is_tag(&self) -> bool {
        self.object_kind == "tag_push" || self.git_ref.starts_with("refs/tags/")
    }

    /// Whether the push created the branch or tag (`before` is all zeros).
    pub fn is_creation(&self) -> bool {
        self.before == ZERO_SHA
    }

    /// Whether the push deleted the branch or tag (`after` is all zeros).
    pub fn is_deletion(&self) -> bool {
        self.after == ZERO_SHA
    }

    /// Whether `commits` lists fewer commits than the push counted (GitLab lists at most 20);
    /// `None` when the payload sends no count.
    pub fn commits_truncated(&self) -> Option<bool> {
        self.total_commits_count
            .map(|count| count > u64::try_from(self.commits.len()).unwrap_or(u64::MAX))
    }

    /// The branch or tag name: `git_ref` without `refs/heads/` or `refs/tags/`.
    pub fn ref_name(&self) -> &str {
        self.git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| self.git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(&self.git_ref)
    }
}
