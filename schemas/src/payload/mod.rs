//! Tolerant typed models of the GitLab webhook payloads analytics needs.
//!
//! [`parse`] reads a webhook body, looks at its `object_kind` (for system hooks without one, at
//! its `event_name`) and deserializes it into the matching model:
//!
//! | `object_kind`          | variant                  | model                  |
//! |------------------------|--------------------------|------------------------|
//! | `pipeline`             | [`Payload::Pipeline`]    | [`PipelineHook`]       |
//! | `build` (and `job`)    | [`Payload::Job`]         | [`JobHook`]            |
//! | `merge_request`        | [`Payload::MergeRequest`]| [`MergeRequestHook`]   |
//! | `note`                 | [`Payload::Note`]        | [`NoteHook`]           |
//! | `push`                 | [`Payload::Push`]        | [`PushHook`]           |
//! | `tag_push`             | [`Payload::TagPush`]     | [`PushHook`]           |
//! | `issue`, `work_item`   | [`Payload::Issue`]       | [`IssueHook`]          |
//! | `deployment`           | [`Payload::Deployment`]  | [`DeploymentHook`]     |
//! | `release`              | [`Payload::Release`]     | [`ReleaseHook`]        |
//! | anything else          | [`Payload::Other`]       | —                      |
//!
//! # Tolerance policy
//!
//! The body of a webhook is whatever the sending GitLab version produces: fields are added in
//! every release, some are renamed or dropped, self-managed instances lag years behind
//! GitLab.com, and even GitLab's own documented examples omit fields that real deliveries carry.
//! Hookline stores every delivery as received and these models only *read* it, so they are
//! written to accept every variant seen rather than to validate GitLab:
//!
//! - **Unknown fields are ignored.** No model uses `deny_unknown_fields`; a field GitLab adds
//!   tomorrow must not turn today's consumer into a dead-letter queue. Only the fields analytics
//!   needs are modelled at all.
//! - **Every GitLab timestamp form is accepted** (`2016-08-12 15:23:28 UTC`, RFC 3339 with `Z`,
//!   an offset or fractional seconds, `2021-04-28 21:50:00 +0200`, …) and normalised to UTC, see
//!   [`crate::timestamp`]. Timestamps are always `Option`: `null`, missing and `""` are `None`.
//! - **Nullable stays nullable.** Numbers, timestamps, ids and free-form texts that GitLab sends
//!   as `null`, or that some versions do not send, are `Option`s, so "unknown" never becomes a
//!   `0`, an epoch or a `""` that analytics would count as a real value.
//! - **Missing or `null` plain fields take their default.** Names, refs, statuses, flags and
//!   lists become `""`, `false` or empty: for them the default reads as "nothing" (no username,
//!   not a tag, no labels), and one odd field must not cost the whole event.
//! - **Only the object's own id is mandatory** (the pipeline id, the job's `build_id`, the merge
//!   request, note, issue, deployment and release id, a pipeline's `builds[].id`; for pushes the
//!   `before`/`after`/`ref` triple). A body without it cannot become a row, so it is a
//!   [`PayloadError::Model`], as is a field of the wrong JSON type.
//! - **An unknown kind is never an error**: it is [`Payload::Other`], so new hook kinds flow
//!   through untouched.
//!
//! Numbers follow what GitLab sends: ids are `u64` (job ids on GitLab.com already exceed
//! `i32::MAX`), durations are `f64` seconds because GitLab sends them as integers in some places
//! and floats in others.

mod deployment;
mod issue;
mod job;
mod merge_request;
mod note;
mod pipeline;
mod project;
mod push;
mod release;
mod system;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use crate::event::Family;

pub use deployment::DeploymentHook;
pub use issue::{IssueAttributes, IssueHook, LabelChange};
pub use job::{JobCommit, JobHook};
pub use merge_request::{Change, MergeRequestAction, MergeRequestAttributes, MergeRequestHook};
pub use note::{NoteAttributes, NoteHook, NoteIssue};
pub use pipeline::{PipelineAttributes, PipelineBuild, PipelineHook, SourcePipeline};
pub use project::{parse_project_mention, ProjectMention};
pub use push::{PushCommit, PushHook};
pub use release::ReleaseHook;
pub use system::InstanceEvent;

/// A GitLab user as embedded in payloads (`user`, `assignees[]`, `reviewers[]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    /// Absent in GitLab's older documented examples (pipeline hook `user`, `assignees[]`).
    pub id: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub name: String,
    /// Absent in old job hooks' `user`.
    #[serde(deserialize_with = "null_to_default")]
    pub username: String,
    /// Only present when the user made their email public, or for system hooks.
    #[serde(deserialize_with = "empty_to_none")]
    pub email: Option<String>,
}

/// A project as embedded in payloads (`project`, `source_pipeline.project`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Project {
    /// Absent in GitLab's 8.x documented examples (e.g. the pipeline hook seed).
    pub id: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub name: String,
    #[serde(deserialize_with = "null_to_default")]
    pub path_with_namespace: String,
    #[serde(deserialize_with = "null_to_default")]
    pub web_url: String,
    /// The namespace's display name (e.g. `Gitlab Org`), not its path.
    #[serde(deserialize_with = "null_to_default")]
    pub namespace: String,
    /// `null` for a project with an empty repository.
    pub default_branch: Option<String>,
}

/// The runner that picked up a job (job hook `runner`, pipeline hook `builds[].runner`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Runner {
    pub id: Option<u64>,
    pub description: Option<String>,
    /// `instance_type`, `group_type` or `project_type`; absent from older GitLab versions.
    pub runner_type: Option<String>,
    #[serde(deserialize_with = "null_to_default")]
    pub active: bool,
    #[serde(deserialize_with = "null_to_default")]
    pub is_shared: bool,
    /// Absent in older payloads; empty then.
    #[serde(deserialize_with = "null_to_default")]
    pub tags: Vec<String>,
}

/// The environment a job deploys to (job hook `environment`, pipeline hook
/// `builds[].environment`). Deployment hooks carry the environment as a plain name string instead.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Environment {
    #[serde(deserialize_with = "null_to_default")]
    pub name: String,
    /// `start`, `prepare`, `stop`, `verify` or `access`.
    pub action: Option<String>,
    pub deployment_tier: Option<String>,
}

/// A git commit as embedded in pipeline, push, note and release payloads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Commit {
    /// The commit SHA.
    #[serde(deserialize_with = "null_to_default")]
    pub id: String,
    pub message: Option<String>,
    pub title: Option<String>,
    /// The commit's committer date (GitLab sends `committed_date`), with the committer's
    /// local offset; normalised to UTC.
    #[serde(with = "crate::timestamp::option")]
    pub timestamp: Option<OffsetDateTime>,
    pub url: Option<String>,
    pub author: Option<CommitAuthor>,
}

/// A commit's author: a git identity, not necessarily a GitLab user.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CommitAuthor {
    #[serde(deserialize_with = "null_to_default")]
    pub name: String,
    pub email: Option<String>,
}

/// A label (`labels[]` of merge request and issue payloads).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Label {
    pub id: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub title: String,
    /// `ProjectLabel` or `GroupLabel`.
    #[serde(rename = "type")]
    pub label_type: Option<String>,
}

/// The short merge request object embedded in pipeline hooks (`merge_request`) and note hooks
/// on merge requests (`merge_request`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MergeRequestSummary {
    pub id: Option<u64>,
    pub iid: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub title: String,
    #[serde(deserialize_with = "null_to_default")]
    pub source_branch: String,
    pub source_project_id: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub target_branch: String,
    pub target_project_id: Option<u64>,
    #[serde(deserialize_with = "null_to_default")]
    pub state: String,
    pub merge_status: Option<String>,
    pub detailed_merge_status: Option<String>,
    pub author_id: Option<u64>,
    #[serde(with = "crate::timestamp::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "crate::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub url: Option<String>,
}

/// A GitLab webhook body, typed by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Pipeline(PipelineHook),
    /// `object_kind` `build`: the Job Hook (called Build Hook before GitLab 9.x).
    Job(JobHook),
    MergeRequest(MergeRequestHook),
    Note(NoteHook),
    Push(PushHook),
    TagPush(PushHook),
    /// `object_kind` `issue`, or `work_item` on newer GitLab versions; the model's `object_kind`
    /// tells which.
    Issue(IssueHook),
    Deployment(DeploymentHook),
    Release(ReleaseHook),
    /// A kind analytics does not model (wiki page, feature flag, access token, system hook
    /// events, …) or a body without any kind.
    Other {
        /// The body's `object_kind`, or for system hooks that have none, its `event_name`;
        /// `None` if it has neither (as in pushes from GitLab before 8.x) or is not an object.
        object_kind: Option<String>,
    },
}

impl Payload {
    /// Parses a webhook body; see [`parse`].
    pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
        parse(body)
    }

    /// The event family whose tables a payload of this kind feeds, `None` for kinds no table
    /// models. A system hook's body says what it describes only here: its header says
    /// `System Hook` whatever it is.
    pub fn family(&self) -> Option<Family> {
        Some(match self {
            Payload::Pipeline(_) => Family::Pipeline,
            Payload::Job(_) => Family::Job,
            Payload::MergeRequest(_) => Family::MergeRequest,
            Payload::Note(_) => Family::Note,
            Payload::Push(_) => Family::Push,
            Payload::TagPush(_) => Family::TagPush,
            Payload::Issue(_) => Family::Issue,
            Payload::Deployment(_) => Family::Deployment,
            Payload::Release(_) => Family::Release,
            Payload::Other { .. } => return None,
        })
    }

    /// The kind this payload was dispatched on (`pipeline`, `build`, `tag_push`, …).
    pub fn object_kind(&self) -> Option<&str> {
        match self {
            Payload::Pipeline(_) => Some("pipeline"),
            Payload::Job(_) => Some("build"),
            Payload::MergeRequest(_) => Some("merge_request"),
            Payload::Note(_) => Some("note"),
            Payload::Push(_) => Some("push"),
            Payload::TagPush(_) => Some("tag_push"),
            Payload::Issue(hook) if hook.object_kind == "work_item" => Some("work_item"),
            Payload::Issue(_) => Some("issue"),
            Payload::Deployment(_) => Some("deployment"),
            Payload::Release(_) => Some("release"),
            Payload::Other { object_kind } => object_kind.as_deref(),
        }
    }
}

/// Why a webhook body could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON at all (or is truncated).
    #[error("webhook body is not valid JSON: {source}")]
    InvalidJson {
        /// 1-based line of the error in the body.
        line: usize,
        /// 1-based column of the error in the body.
        column: usize,
        source: serde_json::Error,
    },
    /// The body is JSON of a kind analytics models, but does not fit the model: its mandatory id
    /// is missing or a field has an unexpected JSON type.
    #[error("{kind} payload does not fit the model at `{path}`: {reason}")]
    Model {
        /// The `object_kind` the body was dispatched on.
        kind: String,
        /// Where in the body the problem is, e.g. `object_attributes.builds[0].duration`
        /// (`.` for the top level).
        path: String,
        /// serde's message, with the line and column in the body.
        reason: String,
    },
}

/// Parses a GitLab webhook body into the model of its kind.
///
/// Dispatches on `object_kind` (falling back to `event_name` for system hooks) as listed in the
/// [module docs](self). A kind analytics does not model, or a body without a kind, is
/// [`Payload::Other`], never an error.
///
/// The whole body's JSON syntax is checked, whatever its kind. Bytes that are not UTF-8 are
/// only detected inside strings the model reads (GitLab always sends UTF-8).
pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    let kind = match serde_json::from_slice::<KindPeek>(body) {
        Ok(peek) => peek.kind(),
        // Not an object, so no kind can be read from it; but it must still be valid JSON
        // (the peek stops at the first token of a non-object).
        Err(err) if err.is_data() => {
            serde_json::from_slice::<IgnoredAny>(body).map_err(invalid_json)?;
            None
        }
        Err(err) => return Err(invalid_json(err)),
    };
    let Some(kind) = kind else {
        return Ok(Payload::Other { object_kind: None });
    };
    let payload = match kind.as_str() {
        "pipeline" => Payload::Pipeline(model(&kind, body)?),
        "build" | "job" => Payload::Job(model(&kind, body)?),
        "merge_request" => Payload::MergeRequest(model(&kind, body)?),
        "note" => Payload::Note(model(&kind, body)?),
        "push" => Payload::Push(model(&kind, body)?),
        "tag_push" => Payload::TagPush(model(&kind, body)?),
        "issue" | "work_item" => Payload::Issue(model(&kind, body)?),
        "deployment" => Payload::Deployment(model(&kind, body)?),
        "release" => Payload::Release(model(&kind, body)?),
        _ => Payload::Other {
            object_kind: Some(kind),
        },
    };
    Ok(payload)
}

fn invalid_json(source: serde_json::Error) -> PayloadError {
    PayloadError::InvalidJson {
        line: source.line(),
        column: source.column(),
        source,
    }
}

/// Parses a system hook's instance event (a body [`parse`] reads as [`Payload::Other`]).
pub fn parse_instance_event(body: &[u8]) -> Result<InstanceEvent, PayloadError> {
    model("system", body)
}

fn model<T: de::DeserializeOwned>(kind: &str, body: &[u8]) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            PayloadError::Model {
                kind: kind.to_owned(),
                path,
                reason: inner.to_string(),
            }
        } else {
            invalid_json(inner)
        }
    })?;
    deserializer.end().map_err(invalid_json)?;
    Ok(value)
}

/// The dispatch fields of a body; everything else is skipped (but still syntax-checked).
struct KindPeek {
    object_kind: Option<String>,
    event_name: Option<String>,
}

impl KindPeek {
    fn kind(self) -> Option<String> {
        self.object_kind.or(self.event_name)
    }
}

impl<'de> Deserialize<'de> for KindPeek {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeekVisitor;

        impl<'de> de::Visitor<'de> for PeekVisitor {
            type Value = KindPeek;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<KindPeek, A::Error> {
                let mut peek = KindPeek {
                    object_kind: None,
                    event_name: None,
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "object_kind" => &mut peek.object_kind,
                        "event_name" => &mut peek.event_name,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    // A kind that is not a string (or is empty) is no kind.
                    let value = map.next_value::<serde_json::Value>()?;
                    if let serde_json::Value::String(s) = value {
                        if !s.is_empty() && slot.is_none() {
                            *slot = Some(s);
                        }
                    }
                }
                Ok(peek)
            }
        }

        deserializer.deserialize_map(PeekVisitor)
    }
}

/// `#[serde(deserialize_with)]` helper: a `null` takes the type's default, like a missing field
/// does with `#[serde(default)]`.
pub(crate) fn null_to_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `#[serde(deserialize_with)]` helper for `Option<String>`: `null` and `""` are `None`.
pub(crate) fn empty_to_none<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_falls_back_to_event_name() {
        let payload = parse(br#"{"event_name": "user_add_to_group", "user_id": 1}"#).unwrap();
        assert_eq!(
            payload,
            Payload::Other {
                object_kind: Some("user_add_to_group".into())
            }
        );
    }

    #[test]
    fn object_kind_wins_over_event_name() {
        let payload =
            parse(br#"{"event_name": "push", "object_kind": "wiki_page", "x": [1, {"y": null}]}"#)
                .unwrap();
        assert_eq!(payload.object_kind(), Some("wiki_page"));
    }

    #[test]
    fn non_string_or_empty_kind_is_no_kind() {
        for body in [
            &br#"{"object_kind": 5}"#[..],
            br#"{"object_kind": ""}"#,
            br#"{"object_kind": null}"#,
            br#"{}"#,
            br#"[{"object_kind": "pipeline"}]"#,
            br#""pipeline""#,
        ] {
            assert_eq!(
                parse(body).unwrap(),
                Payload::Other { object_kind: None },
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn syntax_errors_anywhere_are_invalid_json() {
        for body in [
            &b""[..],
            b"{",
            br#"{"object_kind": "pipeline",}"#,
            br#"{"object_kind": "wiki_page"} trailing"#,
            br#"[{"object_kind": "pipeline"}"#,
            br#""unterminated"#,
        ] {
            assert!(
                matches!(parse(body), Err(PayloadError::InvalidJson { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn null_plain_fields_take_their_default() {
        let body = br#"{"object_kind": "push", "before": "a", "after": "b", "ref": "refs/heads/x",
            "user_name": null, "commits": null, "total_commits_count": null}"#;
        let Payload::Push(push) = parse(body).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(push.user_name, "");
        assert!(push.commits.is_empty());
        // A count is not a plain field: unknown stays unknown.
        assert_eq!(push.total_commits_count, None);
    }
}
