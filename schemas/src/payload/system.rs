//! The instance's own events, sent only to system hooks (*Admin → System hooks*): projects,
//! groups, users and memberships created, renamed, transferred or removed. They name an
//! `event_name` (newer schema-based ones an `object_kind`) and share no other shape, so the
//! model reads the fields any of them may carry and leaves the others unknown.
//!
//! System hooks' merge request, push and tag push events have the shapes of the project
//! hooks' and are parsed as those.

use serde::Deserialize;
use time::OffsetDateTime;

/// An instance event of a system hook. Every field is optional: each event carries a few.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct InstanceEvent {
    /// `project_create`, `group_rename`, `user_add_to_team`, …
    pub event_name: Option<String>,
    /// Schema-based events name their kind here instead of `event_name`.
    pub object_kind: Option<String>,
    /// The object's creation time.
    #[serde(with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    /// The object's last change: for renames, transfers and updates, the event's time.
    #[serde(with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Project events and project memberships.
    pub project_id: Option<u64>,
    /// Project events: the project's path after the event.
    pub path_with_namespace: Option<String>,
    /// Project membership events name the project's path this way.
    pub project_path_with_namespace: Option<String>,
    /// `project_rename` and `project_transfer`: the path before the event.
    pub old_path_with_namespace: Option<String>,
    /// Group events and group memberships.
    pub group_id: Option<u64>,
    /// Group events: the group's full path after the event.
    pub full_path: Option<String>,
    /// Group membership events name the group's path this way.
    pub group_path: Option<String>,
    /// `group_rename`: the full path before the event.
    pub old_full_path: Option<String>,
    /// Membership and user events.
    pub user_id: Option<u64>,
    /// Membership events name the user this way…
    pub user_username: Option<String>,
    /// …and user events this way.
    pub username: Option<String>,
    /// Project membership events: the role (`Maintainer`, …).
    pub project_access: Option<String>,
    /// Group membership events: the role.
    pub group_access: Option<String>,
}

impl InstanceEvent {
    /// What happened: `event_name`, or the `object_kind` of schema-based events.
    pub fn name(&self) -> &str {
        self.event_name
            .as_deref()
            .or(self.object_kind.as_deref())
            .unwrap_or_default()
    }
}
