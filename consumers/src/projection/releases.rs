//! `releases`: the latest state of every release.
//!
//! Release hooks carry no `updated_at`: two updates of one release cannot be ordered from their
//! payloads. The version is `created_at` then the action (create < update < delete), so a
//! deletion always wins; between two updates the tie-break of [`super::version`] keeps the
//! same one whatever the arrival order (not necessarily the later one: nothing tells which).

use clickhouse::Row;
use hookline_schemas::payload::ReleaseHook;
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path};

/// A row of `releases` (DDL: `schemas/migrations/0008_releases.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ReleaseRow {
    pub project_id: u64,
    pub project_path: String,
    pub release_id: u64,
    pub tag: String,
    pub name: String,
    pub description: String,
    pub action: String,
    pub sha: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub released_at: Option<OffsetDateTime>,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl ReleaseRow {
    pub fn from_hook(hook: &ReleaseHook, headers: &RecordHeaders) -> Self {
        let project = hook.project.as_ref();
        let action = hook.action.clone().unwrap_or_default();
        Self {
            project_id: project_id(None, project),
            project_path: project_path(project),
            release_id: hook.id,
            tag: hook.tag.clone(),
            name: hook.name.clone(),
            description: hook.description.clone().unwrap_or_default(),
            sha: hook
                .commit
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            created_at: hook.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            released_at: hook.released_at,
            version: version(&action, hook.created_at).version(headers),
            action,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// Orders the states of one release: `created_at` (seconds), then the action.
pub fn version(action: &str, created_at: Option<OffsetDateTime>) -> Precedence {
    let rank = match action {
        "create" => 1,
        "update" => 2,
        "delete" => 3,
        _ => 0,
    };
    versioned(created_at, rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_deletion_outranks_updates_and_the_creation() {
        let t = Some(datetime!(2026-01-01 10:00 UTC));
        assert!(version("create", t) < version("update", t));
        assert!(version("update", t) < version("delete", t));
    }
}
