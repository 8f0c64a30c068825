//! Issue Hook (`object_kind` `issue`; newer GitLab versions send `work_item` for work items
//! such as tasks), sent when an issue is opened, updated, closed or reopened.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{null_to_default, Label, Project, User};

/// An Issue Hook body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct IssueHook {
    /// `issue` or `work_item`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    #[serde(default)]
    pub event_type: Option<String>,
    /// Who did what `object_attributes.action` says.
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub project: Option<Project>,
    pub object_attributes: IssueAttributes,
    #[serde(default, deserialize_with = "null_to_default")]
    pub labels: Vec<Label>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub assignees: Vec<User>,
    /// What the action changed, as GitLab's `{"field": {"previous": …, "current": …}}` map,
    /// kept raw.
    #[serde(default)]
    pub changes: Option<serde_json::Value>,
}

/// `object_attributes` of an Issue Hook.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct IssueAttributes {
    pub id: u64,
    /// The project-scoped number (`#23`).
    #[serde(default)]
    pub iid: Option<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub title: String,
    /// `opened` or `closed`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub state: String,
    /// `open`, `close`, `reopen` or `update`; absent from GitLab's oldest documented examples.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub author_id: Option<u64>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub assignee_ids: Vec<u64>,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Absent from older GitLab versions even for closed issues.
    #[serde(default, with = "crate::timestamp::option")]
    pub closed_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub confidential: bool,
    #[serde(default, deserialize_with = "null_to_default")]
    pub labels: Vec<Label>,
    /// The work item type (`Issue`, `Incident`, `Task`, …); absent from older GitLab versions.
    #[serde(default, rename = "type")]
    pub issue_type: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}
