//! `push_commits`: which commits were pushed to which branch or tag.
//!
//! `commits` keeps one row per commit, wherever it was seen; this table keeps the link from a
//! ref to the commits pushed to it, which is what ties a merge request to the commits of its
//! source branch (coding time, lead time from the first commit). A push lists at most 20
//! commits (`pushes.commits_truncated` says when it listed fewer than it pushed), so the link
//! is as complete as GitLab's hooks are.

use clickhouse::Row;
use hookline_schemas::payload::PushHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::{project_id, project_path};

/// A row of `push_commits` (DDL: `schemas/migrations/0017_push_commits.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PushCommitRow {
    /// The project pushed to; 0 when the payload has no project id.
    pub project_id: u64,
    /// `project.path_with_namespace` at the push; empty when not sent.
    pub project_path: String,
    /// The full ref pushed (`refs/heads/<branch>`, `refs/tags/<tag>`), to match a merge
    /// request's `source_branch`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit pushed.
    pub sha: String,
    /// Its committer date; `None` when not sent. The same in every push of the commit.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub committed_at: Option<OffsetDateTime>,
    /// The push hook (join with `raw_hooks`).
    pub event_id: String,
    /// When ingest received the push.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl PushCommitRow {
    /// The commits a push lists (none for a deletion, which lists none), each with its ref.
    pub fn from_push(hook: &PushHook, headers: &RecordHeaders) -> Vec<Self> {
        let project = hook.project.as_ref();
        let project_id = project_id(hook.project_id, project);
        let project_path = project_path(project);
        hook.commits
            .iter()
            .filter(|commit| !commit.id.is_empty())
            .map(|commit| Self {
                project_id,
                project_path: project_path.clone(),
                git_ref: hook.git_ref.clone(),
                sha: commit.id.clone(),
                committed_at: commit.timestamp,
                event_id: headers.event_id.clone(),
                received_at: millis_to_time(headers.received_at_ms),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::testing::fixtures;

    fn headers() -> RecordHeaders {
        super::super::test_headers("Push Hook", "e1", 1_700_000_000_000)
    }

    #[test]
    fn every_listed_commit_is_linked_to_the_pushed_ref() {
        let hook: PushHook =
            serde_json::from_slice(&fixtures::read("gitlab-webhooks/push.json")).unwrap();
        let rows = PushCommitRow::from_push(&hook, &headers());
        assert_eq!(rows.len(), hook.commits.len());
        assert!(rows.len() >= 2);
        for (row, commit) in rows.iter().zip(&hook.commits) {
            assert_eq!(row.git_ref, "refs/heads/master");
            assert_eq!(row.sha, commit.id);
            assert_eq!(row.project_id, 15);
            assert!(row.committed_at.is_some());
        }
    }

    #[test]
    fn a_push_without_commits_links_nothing() {
        let mut hook: PushHook =
            serde_json::from_slice(&fixtures::read("gitlab-webhooks/push.json")).unwrap();
        hook.commits.clear();
        assert!(PushCommitRow::from_push(&hook, &headers()).is_empty());
    }
}
