//! `pushes`: one row per push of a branch or tag.
//!
//! Push hooks carry no time of their own, so `received_at` stands for the push time. The
//! commits a push lists go to `commits` (see [`super::commits`]); the push says whether it
//! listed them all.

use clickhouse::Row;
use hookline_schemas::payload::PushHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::{project_id, project_path};

/// A row of `pushes` (DDL: `schemas/migrations/0005_pushes.sql`, `commits_truncated` added by
/// `0012_commits.sql`). The fields are in the table's column order.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PushRow {
    pub project_id: u64,
    pub project_path: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub ref_name: String,
    pub ref_type: String,
    pub before: String,
    pub after: String,
    pub created: bool,
    pub deleted: bool,
    pub commit_count: u64,
    /// Whether the push listed fewer commits than it counted (GitLab lists at most 20): the
    /// others have no row in `commits`, so commit-based measures of this push are partial.
    /// `None` when the payload sends no count.
    pub commits_truncated: Option<bool>,
    pub user_id: Option<u64>,
    pub user_username: String,
    pub user_name: String,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl PushRow {
    pub fn from_hook(hook: &PushHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        Self {
            project_id: project_id(hook.project_id, project),
            project_path: project_path(project),
            git_ref: hook.git_ref.clone(),
            ref_name: hook.ref_name().to_owned(),
            ref_type: if hook.is_tag() { "tag" } else { "branch" }.to_owned(),
            before: hook.before.clone(),
            after: hook.after.clone(),
            created: hook.is_creation(),
            deleted: hook.is_deletion(),
            commit_count: hook.total_commits_count.unwrap_or_default(),
            commits_truncated: hook.commits_truncated(),
            user_id: hook.user_id,
            user_username: hook.user_username.clone(),
            user_name: hook.user_name.clone(),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;

    fn row(body: &[u8]) -> PushRow {
        let hook = match payload::parse(body).unwrap() {
            Payload::Push(hook) | Payload::TagPush(hook) => hook,
            // GitLab's pre-8.x pushes carry no object_kind.
            Payload::Other { object_kind: None } => serde_json::from_slice(body).unwrap(),
            other => panic!("not a push: {other:?}"),
        };
        let headers = RecordHeaders {
            event_type: "Push Hook".to_owned(),
            event_id: "e".to_owned(),
            delivery_key: None,
            received_at_ms: 1_900_000_000_000,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        };
        PushRow::from_hook(&hook, &headers)
    }

    #[test]
    fn a_push_that_lists_fewer_commits_than_it_counts_is_truncated() {
        // GitLab's examples list 2 of 4 commits.
        for file in [
            "gitlab-webhooks/push.json",
            "seeds/push_000.json",
            "seeds/push_004.json",
        ] {
            let push = row(&fixtures::read(file));
            assert_eq!(
                (push.commit_count, push.commits_truncated),
                (4, Some(true)),
                "{file}"
            );
        }
        for file in ["gitlab-webhooks/tag_push.json", "seeds/tag_push_004.json"] {
            let push = row(&fixtures::read(file));
            assert_eq!(push.commits_truncated, Some(false), "{file}");
        }
    }

    #[test]
    fn a_push_without_a_count_is_not_known_to_be_truncated() {
        let push = row(br#"{"object_kind": "push", "before": "a", "after": "b",
            "ref": "refs/heads/main", "commits": [{"id": "c"}]}"#);
        assert_eq!((push.commit_count, push.commits_truncated), (0, None));
    }
}
