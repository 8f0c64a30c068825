//! Merge Request Hook (`object_kind` `merge_request`), sent when a merge request is opened,
//! updated, approved, merged, closed or reopened, or gets a new commit.

use std::fmt;

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use super::{empty_to_none, null_to_default, Commit, Label, Project, User};

/// A Merge Request Hook body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct MergeRequestHook {
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    #[serde(default)]
    pub event_type: Option<String>,
    /// Who did what `object_attributes.action` says.
    #[serde(default)]
    pub user: Option<User>,
    /// The target project. Absent from GitLab's 8.x documented examples.
    #[serde(default)]
    pub project: Option<Project>,
    pub object_attributes: MergeRequestAttributes,
    #[serde(default, deserialize_with = "null_to_default")]
    pub labels: Vec<Label>,
    /// What the action changed, as GitLab's `{"field": {"previous": …, "current": …}}` map,
    /// kept raw: its keys and value types differ per field and per GitLab version.
    #[serde(default)]
    pub changes: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub assignees: Vec<User>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub reviewers: Vec<User>,
}

/// `object_attributes` of a Merge Request Hook.
///
/// There is no `merged_at`: the time of a merge is the time of the event whose `action` is
/// [`MergeRequestAction::Merge`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct MergeRequestAttributes {
    pub id: u64,
    /// The project-scoped number (`!42`).
    #[serde(default)]
    pub iid: Option<u64>,
    #[serde(default)]
    pub target_project_id: Option<u64>,
    /// Differs from `target_project_id` for merge requests from forks.
    #[serde(default)]
    pub source_project_id: Option<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub source_branch: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub target_branch: String,
    #[serde(default, deserialize_with = "null_to_default")]
    pub title: String,
    /// `opened`, `closed`, `locked` or `merged`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub state: String,
    /// Deprecated by GitLab in favour of `detailed_merge_status`.
    #[serde(default)]
    pub merge_status: Option<String>,
    #[serde(default)]
    pub detailed_merge_status: Option<String>,
    /// What happened; absent from GitLab's oldest documented examples.
    #[serde(default)]
    pub action: Option<MergeRequestAction>,
    #[serde(default)]
    pub author_id: Option<u64>,
    /// Deprecated by GitLab: only the first assignee; use `assignee_ids`.
    #[serde(default)]
    pub assignee_id: Option<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub assignee_ids: Vec<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub reviewer_ids: Vec<u64>,
    /// Who merged it (or set it to merge when the pipeline succeeds).
    #[serde(default)]
    pub merge_user_id: Option<u64>,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// When the title or description was last edited.
    #[serde(default, with = "crate::timestamp::option")]
    pub last_edited_at: Option<OffsetDateTime>,
    /// Newer GitLab versions; older ones only send `work_in_progress`, the oldest neither
    /// (`None`). See [`MergeRequestAttributes::draft_state`].
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub work_in_progress: Option<bool>,
    /// Set once merged, unless the merge was a fast-forward.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub merge_commit_sha: Option<String>,
    /// Only in `update` events that pushed new commits: the previous head SHA.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub oldrev: Option<String>,
    #[serde(default)]
    pub head_pipeline_id: Option<u64>,
    /// The head commit of the source branch.
    #[serde(default)]
    pub last_commit: Option<Commit>,
    #[serde(default)]
    pub url: Option<String>,
}

impl MergeRequestAttributes {
    /// Whether the merge request is a draft, from `draft` or the older `work_in_progress`;
    /// `false` when the payload sends neither.
    pub fn is_draft(&self) -> bool {
        self.draft_state().unwrap_or(false)
    }

    /// Whether the merge request is a draft, from `draft` or the older `work_in_progress`;
    /// `None` when the payload sends neither (GitLab's oldest examples).
    pub fn draft_state(&self) -> Option<bool> {
        match (self.draft, self.work_in_progress) {
            (None, None) => None,
            (draft, wip) => Some(draft.unwrap_or(false) || wip.unwrap_or(false)),
        }
    }
}

/// A field's values before and after the event, from `changes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    pub previous: T,
    pub current: T,
}

impl MergeRequestHook {
    /// `changes.{field}` as `(previous, current)`, when the hook reports a change of `field`;
    /// a missing side is `null`. `None` also when the entry is not an object: `changes` is
    /// kept raw because its shapes vary, and a shape this model does not know is no change.
    pub fn change(&self, field: &str) -> Option<Change<&serde_json::Value>> {
        let change = self.changes.as_ref()?.get(field)?;
        if !change.is_object() {
            return None;
        }
        let side = |name| change.get(name).unwrap_or(&serde_json::Value::Null);
        Some(Change {
            previous: side("previous"),
            current: side("current"),
        })
    }

    /// The change of the draft flag: `changes.draft`, else the older
    /// `changes.work_in_progress`. A side that is not a boolean is `None`.
    pub fn draft_change(&self) -> Option<Change<Option<bool>>> {
        let change = self
            .change("draft")
            .or_else(|| self.change("work_in_progress"))?;
        Some(Change {
            previous: change.previous.as_bool(),
            current: change.current.as_bool(),
        })
    }

    /// The change of the reviewers (`changes.reviewers`, lists of users), as user ids; users
    /// without an id are left out, and a side that is not a list is empty.
    pub fn reviewers_change(&self) -> Option<Change<Vec<u64>>> {
        let change = self.change("reviewers")?;
        let ids = |side: &serde_json::Value| -> Vec<u64> {
            side.as_array()
                .into_iter()
                .flatten()
                .filter_map(|user| user.get("id")?.as_u64())
                .collect()
        };
        Some(Change {
            previous: ids(change.previous),
            current: ids(change.current),
        })
    }

    /// The change of the labels (`changes.labels`, lists of labels), as label titles; labels
    /// without a title are left out, and a side that is not a list is empty.
    pub fn labels_change(&self) -> Option<Change<Vec<String>>> {
        let change = self.change("labels")?;
        let titles = |side: &serde_json::Value| -> Vec<String> {
            side.as_array()
                .into_iter()
                .flatten()
                .filter_map(|label| Some(label.get("title")?.as_str()?.to_owned()))
                .collect()
        };
        Some(Change {
            previous: titles(change.previous),
            current: titles(change.current),
        })
    }
}

/// `object_attributes.action` of a Merge Request Hook.
///
/// Deserializes from GitLab's string; a value this version does not know is kept in
/// [`MergeRequestAction::Other`] rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MergeRequestAction {
    Open,
    Close,
    Reopen,
    /// New commits, or changed title, description, labels, assignees, …
    Update,
    /// An approval that gave the merge request all the approvals it requires.
    Approved,
    /// A withdrawn approval that left the merge request without the approvals it requires
    /// (some GitLab editions send this for every withdrawn approval).
    Unapproved,
    /// An approval while the merge request still lacks required approvals.
    Approval,
    /// A withdrawn approval that did not change whether the merge request is approved.
    Unapproval,
    Merge,
    /// An action added by a GitLab version newer than this model.
    Other(String),
}

impl MergeRequestAction {
    /// GitLab's string for the action.
    pub fn as_str(&self) -> &str {
        match self {
            MergeRequestAction::Open => "open",
            MergeRequestAction::Close => "close",
            MergeRequestAction::Reopen => "reopen",
            MergeRequestAction::Update => "update",
            MergeRequestAction::Approved => "approved",
            MergeRequestAction::Unapproved => "unapproved",
            MergeRequestAction::Approval => "approval",
            MergeRequestAction::Unapproval => "unapproval",
            MergeRequestAction::Merge => "merge",
            MergeRequestAction::Other(other) => other,
        }
    }
}

impl From<&str> for MergeRequestAction {
    fn from(s: &str) -> Self {
        match s {
            "open" => MergeRequestAction::Open,
            "close" => MergeRequestAction::Close,
            "reopen" => MergeRequestAction::Reopen,
            "update" => MergeRequestAction::Update,
            "approved" => MergeRequestAction::Approved,
            "unapproved" => MergeRequestAction::Unapproved,
            "approval" => MergeRequestAction::Approval,
            "unapproval" => MergeRequestAction::Unapproval,
            "merge" => MergeRequestAction::Merge,
            other => MergeRequestAction::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for MergeRequestAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MergeRequestAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(MergeRequestAction::from(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_action_round_trips_through_its_string() {
        for s in [
            "open",
            "close",
            "reopen",
            "update",
            "approved",
            "unapproved",
            "approval",
            "unapproval",
            "merge",
        ] {
            let action: MergeRequestAction = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert!(!matches!(action, MergeRequestAction::Other(_)), "{s}");
            assert_eq!(action.as_str(), s);
            assert_eq!(action.to_string(), s);
        }
    }

    #[test]
    fn unknown_action_is_kept() {
        let action: MergeRequestAction = serde_json::from_str(r#""unlock""#).unwrap();
        assert_eq!(action, MergeRequestAction::Other("unlock".into()));
        assert_eq!(action.as_str(), "unlock");
    }

    fn hook(body: serde_json::Value) -> MergeRequestHook {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn draft_state_is_unknown_only_when_neither_flag_is_sent() {
        let state = |attributes: serde_json::Value| {
            hook(serde_json::json!({"object_attributes": attributes}))
                .object_attributes
                .draft_state()
        };
        assert_eq!(state(serde_json::json!({"id": 1})), None);
        assert_eq!(
            state(serde_json::json!({"id": 1, "draft": null, "work_in_progress": null})),
            None
        );
        assert_eq!(
            state(serde_json::json!({"id": 1, "work_in_progress": false})),
            Some(false)
        );
        assert_eq!(
            state(serde_json::json!({"id": 1, "draft": true, "work_in_progress": false})),
            Some(true)
        );
    }

    #[test]
    fn changes_are_read_by_field_and_odd_shapes_are_no_change() {
        let hook = hook(serde_json::json!({
            "object_attributes": {"id": 1},
            "changes": {
                "work_in_progress": {"previous": true, "current": false},
                "reviewers": {
                    "previous": [{"id": 7, "username": "a"}],
                    "current": [{"id": 7}, {"username": "no id"}, {"id": 9}]
                },
                "labels": {"previous": null, "current": [{"title": "bug"}, {"id": 3}]},
                "title": "not an object"
            }
        }));
        assert_eq!(
            hook.draft_change(),
            Some(Change {
                previous: Some(true),
                current: Some(false)
            })
        );
        assert_eq!(
            hook.reviewers_change(),
            Some(Change {
                previous: vec![7],
                current: vec![7, 9]
            })
        );
        assert_eq!(
            hook.labels_change(),
            Some(Change {
                previous: vec![],
                current: vec!["bug".to_owned()]
            })
        );
        assert_eq!(hook.change("title"), None);
        assert_eq!(hook.change("assignees"), None);
        // `draft` wins over the older name when both are sent.
        let both = super::tests::hook(serde_json::json!({
            "object_attributes": {"id": 1},
            "changes": {
                "draft": {"previous": false, "current": true},
                "work_in_progress": {"previous": true, "current": false}
            }
        }));
        assert_eq!(both.draft_change().unwrap().current, Some(true));
        let none = super::tests::hook(serde_json::json!({"object_attributes": {"id": 1}}));
        assert_eq!(
            (
                none.draft_change(),
                none.reviewers_change(),
                none.labels_change()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn non_string_action_is_an_error() {
        assert!(serde_json::from_str::<MergeRequestAction>("5").is_err());
    }
}
