//! `instance_events`: one row per event of the instance itself (projects, groups, users and
//! memberships), from system hooks. A log: no version, copies of one hook collapse.

use clickhouse::Row;
use hookline_schemas::payload::InstanceEvent;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;

/// A row of `instance_events` (DDL: `schemas/migrations/0009_instance_events.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct InstanceEventRow {
    pub event_name: String,
    pub project_id: Option<u64>,
    pub project_path: String,
    pub old_project_path: String,
    pub group_id: Option<u64>,
    pub group_path: String,
    pub old_group_path: String,
    pub user_id: Option<u64>,
    pub user_username: String,
    pub access_level: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl InstanceEventRow {
    pub fn from_event(event: &InstanceEvent, headers: &RecordHeaders) -> Self {
        // Each field has one name per kind of event; at most one of each pair is sent.
        let either = |a: &Option<String>, b: &Option<String>| {
            a.as_ref().or(b.as_ref()).cloned().unwrap_or_default()
        };
        Self {
            event_name: event.name().to_owned(),
            project_id: event.project_id,
            project_path: either(
                &event.path_with_namespace,
                &event.project_path_with_namespace,
            ),
            old_project_path: event.old_path_with_namespace.clone().unwrap_or_default(),
            group_id: event.group_id,
            group_path: either(&event.full_path, &event.group_path),
            old_group_path: event.old_full_path.clone().unwrap_or_default(),
            user_id: event.user_id,
            user_username: either(&event.user_username, &event.username),
            access_level: either(&event.project_access, &event.group_access),
            created_at: event.created_at,
            updated_at: event.updated_at,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}
