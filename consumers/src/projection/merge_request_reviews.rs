//! `merge_request_reviews`: approvals and withdrawn approvals from Merge Request Hooks, and
//! comments on merge requests from Note Hooks.

use clickhouse::Row;
use hookline_schemas::payload::{MergeRequestAction, MergeRequestHook, NoteHook, User};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::merge_requests::{event_at, project_id};
use super::raw_hooks::millis_to_time;
use super::{project_path, username};

/// A row of `merge_request_reviews` (DDL: `schemas/migrations/0004_merge_requests.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MergeRequestReviewRow {
    pub project_id: u64,
    pub project_path: String,
    pub merge_request_iid: u64,
    /// `approved`, `approval`, `unapproved`, `unapproval` or `note`.
    pub kind: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub reviewed_at: OffsetDateTime,
    pub actor_id: u64,
    pub actor_username: String,
    /// The note's id; 0 for approvals.
    pub note_id: u64,
    pub note_type: String,
    pub system: bool,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl MergeRequestReviewRow {
    /// The approval or withdrawal a Merge Request Hook reports; `None` for other actions.
    pub fn from_merge_request(hook: &MergeRequestHook, headers: &RecordHeaders) -> Option<Self> {
        let action = hook.object_attributes.action.as_ref()?;
        if !matches!(
            action,
            MergeRequestAction::Approved
                | MergeRequestAction::Approval
                | MergeRequestAction::Unapproved
                | MergeRequestAction::Unapproval
        ) {
            return None;
        }
        Some(Self::new(
            (project_id(hook), project_path(hook.project.as_ref())),
            hook.object_attributes.iid.unwrap_or_default(),
            action.as_str(),
            event_at(hook),
            hook.user.as_ref(),
            headers,
        ))
    }

    /// The comment a Note Hook reports, if it is on a merge request.
    pub fn from_note(hook: &NoteHook, headers: &RecordHeaders) -> Option<Self> {
        let attributes = &hook.object_attributes;
        if attributes.noteable_type != "MergeRequest" {
            return None;
        }
        let merge_request = hook.merge_request.as_ref();
        let project_id = hook
            .project_id
            .or(attributes.project_id)
            .or(hook.project.as_ref().and_then(|p| p.id))
            .or(merge_request.and_then(|m| m.target_project_id))
            .unwrap_or_default();
        let mut row = Self::new(
            (project_id, project_path(hook.project.as_ref())),
            merge_request.and_then(|m| m.iid).unwrap_or_default(),
            "note",
            // An edited note keeps its creation time, so its edit hook collapses with it.
            attributes
                .created_at
                .or(attributes.updated_at)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            hook.user.as_ref(),
            headers,
        );
        row.note_id = attributes.id;
        row.note_type = attributes.note_type.clone().unwrap_or_default();
        row.system = attributes.system.unwrap_or_default();
        if row.actor_id == 0 {
            row.actor_id = attributes.author_id.unwrap_or_default();
        }
        Some(row)
    }

    fn new(
        (project_id, project_path): (u64, String),
        merge_request_iid: u64,
        kind: &str,
        reviewed_at: OffsetDateTime,
        actor: Option<&User>,
        headers: &RecordHeaders,
    ) -> Self {
        Self {
            project_id,
            project_path,
            merge_request_iid,
            kind: kind.to_owned(),
            reviewed_at,
            actor_id: actor.and_then(|u| u.id).unwrap_or_default(),
            actor_username: username(actor),
            note_id: 0,
            note_type: String::new(),
            system: false,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}
