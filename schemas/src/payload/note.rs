//! Note Hook (`object_kind` `note`), sent when a comment is made (or, on newer GitLab versions,
//! edited) on a commit, merge request, issue or snippet.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{empty_to_none, null_to_default, Commit, Label, MergeRequestSummary, Project, User};

/// A Note Hook body.
///
/// Exactly one of `merge_request`, `issue`, `commit` (or the unmodelled `snippet`) describes
/// the commented object, matching `object_attributes.noteable_type`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct NoteHook {
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    #[serde(default)]
    pub event_type: Option<String>,
    /// The note's author.
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub project: Option<Project>,
    pub object_attributes: NoteAttributes,
    /// Set when `noteable_type` is `MergeRequest`.
    #[serde(default)]
    pub merge_request: Option<MergeRequestSummary>,
    /// Set when `noteable_type` is `Issue`.
    #[serde(default)]
    pub issue: Option<NoteIssue>,
    /// Set when `noteable_type` is `Commit`.
    #[serde(default)]
    pub commit: Option<Commit>,
}

/// `object_attributes` of a Note Hook: the note itself.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct NoteAttributes {
    pub id: u64,
    /// The note's text (Markdown).
    #[serde(default, deserialize_with = "null_to_default")]
    pub note: String,
    /// `Commit`, `MergeRequest`, `Issue` or `Snippet`.
    #[serde(default, deserialize_with = "null_to_default")]
    pub noteable_type: String,
    #[serde(default)]
    pub author_id: Option<u64>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// The commented object's global id (merge request id, not iid); `null` for notes on
    /// commits, which are identified by `commit_id` instead.
    #[serde(default)]
    pub noteable_id: Option<u64>,
    /// The commented commit's SHA for notes on commits; GitLab sends `""` or `null` for other
    /// notes, both read as `None`.
    #[serde(default, deserialize_with = "empty_to_none")]
    pub commit_id: Option<String>,
    /// Whether GitLab wrote the note itself (e.g. "added 1 commit"); absent from older versions.
    #[serde(default)]
    pub system: Option<bool>,
    /// `DiffNote` or `DiscussionNote`, `null` for a plain comment.
    #[serde(default, rename = "type")]
    pub note_type: Option<String>,
    /// Shared by all notes of a thread.
    #[serde(default)]
    pub discussion_id: Option<String>,
    /// `create` or `update`; absent from older GitLab versions, which only sent creations.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `issue` of a Note Hook on an issue.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NoteIssue {
    pub id: Option<u64>,
    pub iid: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub title: String,
    #[serde(deserialize_with = "null_to_default")]
    pub state: String,
    pub author_id: Option<u64>,
    pub project_id: Option<u64>,
    #[serde(with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "null_to_default")]
    pub labels: Vec<Label>,
}
