//! Issue Hook (`object_kind` `issue`; newer GitLab versions send `work_item` for work items
//! such as tasks), sent when an issue is opened, updated, closed or reopened.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{empty_to_none, null_to_default, Label, Project, User};

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
    /// The work item type (`Issue`, `Incident`, `Task`, …); absent from older GitLab versions
    /// (it came with GitLab 17), whose payloads cannot tell an incident from an issue.
    #[serde(default, rename = "type")]
    pub issue_type: Option<String>,
    /// `critical`, `high`, `medium`, `low`, or `unknown` (GitLab's value for an issue without a
    /// severity, which only incidents can have); absent from older GitLab versions.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The labels of an issue before and after the event, as an Issue Hook reports a label change
/// (`changes.labels.previous` and `changes.labels.current`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelChange {
    /// Label titles before the event.
    pub previous: Vec<String>,
    /// Label titles after the event.
    pub current: Vec<String>,
}

impl IssueHook {
    /// The label change this hook reports, if any. `None` when `changes` has no `labels` entry
    /// (the event changed no label, or GitLab sent no `changes` at all), or one in a shape GitLab
    /// does not send: `changes` is kept raw, so an odd entry costs the label change, not the
    /// event. A `null` side counts as no labels.
    pub fn label_change(&self) -> Option<LabelChange> {
        let labels = self.changes.as_ref()?.get("labels")?;
        let titles = |side: &str| match labels.get(side) {
            None | Some(serde_json::Value::Null) => Some(Vec::new()),
            Some(value) => Vec::<Label>::deserialize(value)
                .ok()
                .map(|labels| labels.into_iter().map(|label| label.title).collect()),
        };
        Some(LabelChange {
            previous: titles("previous")?,
            current: titles("current")?,
        })
    }
}
