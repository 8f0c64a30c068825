//! Release Hook (`object_kind` `release`), sent when a release is created, updated or deleted.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{null_to_default, Commit, Project};

/// A Release Hook body. It carries no `user`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ReleaseHook {
    pub id: u64,
    #[serde(default, deserialize_with = "null_to_default")]
    pub object_kind: String,
    #[serde(default, with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    /// The release date as set by its author: may be in the past or (upcoming release) the
    /// future, so it is not when the event happened.
    #[serde(default, with = "crate::timestamp::option")]
    pub released_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "null_to_default")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The release's tag name (no `refs/tags/` prefix).
    #[serde(default, deserialize_with = "null_to_default")]
    pub tag: String,
    /// `create`, `update` or `delete`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub url: Option<String>,
    /// The tagged commit.
    #[serde(default)]
    pub commit: Option<Commit>,
}
