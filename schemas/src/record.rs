//! The Kafka record format: what ingest writes and consumers read.
//!
//! - **Topic**: `{prefix}{family}` for each [`Family`] (e.g. `gitlab.pipeline`), plus
//!   `{prefix}dead_letter` for bodies that cannot be understood.
//! - **Key**: the project the hook is about (see [`record_key`]), so all hooks of one project
//!   land in one partition and a consumer sees them in the order ingest accepted them.
//! - **Value**: the exact bytes GitLab sent, never re-encoded: consumers and later projection
//!   rebuilds parse the original, and nothing is lost to a model that did not know a field.
//! - **Headers**: [`RecordHeaders`], everything known about the delivery that is not in the body.
//!
//! Beside the hooks, ingest keeps a small log of what it accepted in `{prefix}dedup`: one
//! [`DedupEntry`] per hook, which ingest replicas read to share their deduplication window
//! without reading every hook's body back.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::event::Family;

/// Record header names. Prefixed so they never collide with headers other tools add.
pub mod header {
    /// The `X-Gitlab-Event` value exactly as GitLab sent it.
    pub const EVENT_TYPE: &str = "hookline-event-type";
    /// [`super::event_id`] of the hook: the content identity duplicates collapse on.
    pub const EVENT_ID: &str = "hookline-event-id";
    /// GitLab's `Idempotency-Key` (or Standard Webhooks `webhook-id`), when it sent one.
    pub const DELIVERY_KEY: &str = "hookline-delivery-key";
    /// When ingest received the hook, milliseconds since the Unix epoch, decimal.
    pub const RECEIVED_AT_MS: &str = "hookline-received-at-ms";
    /// The `X-Gitlab-Instance` base URL (GitLab 15.5+), when sent.
    pub const GITLAB_INSTANCE: &str = "hookline-gitlab-instance";
    /// The `/hooks/{source}` path label, when the hook was posted to one.
    pub const SOURCE: &str = "hookline-source";
    /// The GitLab version from `User-Agent: GitLab/<version>`, when sent.
    pub const GITLAB_VERSION: &str = "hookline-gitlab-version";
    /// On dead-letter records only: why the record could not be processed.
    pub const DEAD_LETTER_REASON: &str = "hookline-dead-letter-reason";
}

/// Names of the topics under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Put before every topic name (HOOKLINE_TOPIC_PREFIX).
    prefix: String,
}

impl Topics {
    /// The default prefix: topics are named `gitlab.pipeline`, `gitlab.job`, ….
    pub const DEFAULT_PREFIX: &'static str = "gitlab.";

    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The topic a family's hooks are written to.
    pub fn for_family(&self, family: Family) -> String {
        format!("{}{}", self.prefix, family.as_str())
    }

    /// The topic for hooks whose body could not be read, with the reason in a header.
    pub fn dead_letter(&self) -> String {
        format!("{}dead_letter", self.prefix)
    }

    /// The log of accepted hooks' ids that ingest replicas share (see [`DedupEntry`]).
    pub fn dedup(&self) -> String {
        format!("{}dedup", self.prefix)
    }

    /// Every topic the project uses: families, dead letters, the deduplication log.
    pub fn all(&self) -> Vec<String> {
        Family::ALL
            .iter()
            .map(|family| self.for_family(*family))
            .chain([self.dead_letter(), self.dedup()])
            .collect()
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}

/// The content identity of a hook: lowercase hex SHA-256 of the event type, a NUL, and the body.
///
/// GitLab's own ids do not serve: `X-Gitlab-Event-UUID` is new on every attempt and overlapping
/// project and group hooks send the same event under different `Idempotency-Key`s, but always
/// with the same bytes. The event type is included because two kinds of hook with equal bodies
/// are still different events.
pub fn event_id(event_type: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(event_type.as_bytes());
    hasher.update([0u8]);
    hasher.update(body);
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// One entry of the `{prefix}dedup` topic: the ids of a hook ingest made durable in its
/// family topic, logged after Kafka acknowledged the hook. A record's value is one entry per
/// line, each as JSON ([`DedupEntry::encode_lines`]), for the hooks a replica made durable
/// within a few milliseconds. Ingest replicas tail this topic (and rebuild their window from
/// it at start) instead of reading every hook's body back; nothing else needs to read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DedupEntry {
    /// [`event_id`] of the hook.
    pub event_id: String,
    /// Its delivery key, when GitLab sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_key: Option<String>,
    /// When ingest received it (milliseconds since the Unix epoch): the window expires ids by it.
    pub received_at_ms: i64,
}

impl DedupEntry {
    /// The entry of the hook with these record headers.
    pub fn of(headers: &RecordHeaders) -> Self {
        Self {
            event_id: headers.event_id.clone(),
            delivery_key: headers.delivery_key.clone(),
            received_at_ms: headers.received_at_ms,
        }
    }

    /// A record value: one JSON object per line.
    pub fn encode_lines(entries: &[DedupEntry]) -> Vec<u8> {
        let mut value = Vec::with_capacity(entries.len() * 160);
        for entry in entries {
            serde_json::to_writer(&mut value, entry).expect("a DedupEntry always serialises");
            value.push(b'\n');
        }
        value
    }

    /// The entries of a record value; lines that are not entries are skipped.
    pub fn decode_lines(value: &[u8]) -> impl Iterator<Item = DedupEntry> + '_ {
        value
            .split(|byte| *byte == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
    }
}

/// The record key of a hook: the id of the project it is about, as decimal text.
///
/// Payloads name their project in different places; the first present of `project_id`,
/// `project.id`, `object_attributes.target_project_id` and `object_attributes.project_id` wins.
/// Hooks without a project id (old GitLab versions, instance-level system hooks) are keyed by
/// `project.path_with_namespace` when present and otherwise by [`INSTANCE_KEY`], so they still
/// keep their relative order in one partition.
///
/// This is also the body check on ingest's request path: it fails exactly when the body is not
/// a JSON object, and it reads only the three members it needs into memory.
pub fn record_key(body: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct KeyFields {
        #[serde(default)]
        project_id: serde_json::Value,
        #[serde(default)]
        project: serde_json::Value,
        #[serde(default)]
        object_attributes: serde_json::Value,
    }
    // serde would also fill the struct from a JSON array, which is no hook.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(serde::de::Error::custom("expected a JSON object"));
    }
    let fields: KeyFields = serde_json::from_slice(body)?;
    let id = [
        &fields.project_id,
        &fields.project["id"],
        &fields.object_attributes["target_project_id"],
        &fields.object_attributes["project_id"],
    ]
    .into_iter()
    .find_map(serde_json::Value::as_u64);
    if let Some(id) = id {
        return Ok(id.to_string());
    }
    Ok(fields.project["path_with_namespace"]
        .as_str()
        .map_or_else(|| INSTANCE_KEY.to_owned(), str::to_owned))
}

/// The record key of hooks that belong to no project.
pub const INSTANCE_KEY: &str = "instance";

/// Everything known about a delivery apart from its body, carried as record headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeaders {
    /// `X-Gitlab-Event` as sent; absent header is recorded as the empty string.
    pub event_type: String,
    /// See [`event_id`].
    pub event_id: String,
    /// GitLab's per-delivery idempotency key; absent before GitLab 17.4.
    pub delivery_key: Option<String>,
    /// Milliseconds since the Unix epoch at which ingest received the hook.
    pub received_at_ms: i64,
    /// `X-Gitlab-Instance`, to tell several GitLab instances apart in one pipeline.
    pub gitlab_instance: Option<String>,
    /// The `/hooks/{source}` label, for per-source metrics and analytics.
    pub source: Option<String>,
    /// GitLab's version from the `User-Agent`, to interpret version-specific payloads.
    pub gitlab_version: Option<String>,
}

/// A record whose headers are not in the Hookline format.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record header `{0}` is missing: the record was not written by Hookline ingest")]
    MissingHeader(&'static str),
    #[error("record header `{name}` is not valid: {reason}")]
    InvalidHeader { name: &'static str, reason: String },
}

impl RecordHeaders {
    /// The headers as (name, value) pairs, in a fixed order, absent optional ones left out.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (header::EVENT_TYPE, self.event_type.clone()),
            (header::EVENT_ID, self.event_id.clone()),
            (header::RECEIVED_AT_MS, self.received_at_ms.to_string()),
        ];
        let optional = [
            (header::DELIVERY_KEY, &self.delivery_key),
            (header::GITLAB_INSTANCE, &self.gitlab_instance),
            (header::SOURCE, &self.source),
            (header::GITLAB_VERSION, &self.gitlab_version),
        ];
        pairs.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.as_ref().map(|v| (name, v.clone()))),
        );
        pairs
    }

    /// Reads the headers back from (name, value) pairs as a Kafka client exposes them.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Self, RecordError> {
        let mut event_type = None;
        let mut event_id = None;
        let mut received_at = None;
        let mut headers = RecordHeaders {
            event_type: String::new(),
            event_id: String::new(),
            delivery_key: None,
            received_at_ms: 0,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        };
        for (name, value) in pairs {
            let Some(value) = value else { continue };
            let text = |name: &'static str| {
                std::str::from_utf8(value).map(str::to_owned).map_err(|e| {
                    RecordError::InvalidHeader {
                        name,
                        reason: e.to_string(),
                    }
                })
            };
            match name {
                header::EVENT_TYPE => event_type = Some(text(header::EVENT_TYPE)?),
                header::EVENT_ID => event_id = Some(text(header::EVENT_ID)?),
                header::RECEIVED_AT_MS => {
                    let raw = text(header::RECEIVED_AT_MS)?;
                    received_at =
                        Some(raw.parse::<i64>().map_err(|e| RecordError::InvalidHeader {
                            name: header::RECEIVED_AT_MS,
                            reason: format!("{raw:?} is not a whole number: {e}"),
                        })?);
                }
                header::DELIVERY_KEY => headers.delivery_key = Some(text(header::DELIVERY_KEY)?),
                header::GITLAB_INSTANCE => {
                    headers.gitlab_instance = Some(text(header::GITLAB_INSTANCE)?)
                }
                header::SOURCE => headers.source = Some(text(header::SOURCE)?),
                header::GITLAB_VERSION => {
                    headers.gitlab_version = Some(text(header::GITLAB_VERSION)?)
                }
                _ => {}
            }
        }
        headers.event_type = event_type.ok_or(RecordError::MissingHeader(header::EVENT_TYPE))?;
        headers.event_id = event_id.ok_or(RecordError::MissingHeader(header::EVENT_ID))?;
        headers.received_at_ms =
            received_at.ok_or(RecordError::MissingHeader(header::RECEIVED_AT_MS))?;
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn topics_are_prefixed_family_names() {
        let topics = Topics::default();
        assert_eq!(topics.for_family(Family::Pipeline), "gitlab.pipeline");
        assert_eq!(topics.dead_letter(), "gitlab.dead_letter");
        assert_eq!(topics.dedup(), "gitlab.dedup");
        assert_eq!(topics.all().len(), Family::ALL.len() + 2);
        assert_eq!(Topics::new("acme-").for_family(Family::Job), "acme-job");
    }

    #[test]
    fn dedup_entries_round_trip_by_lines_and_skip_anything_else() {
        let entry = DedupEntry {
            event_id: event_id("Push Hook", b"{}"),
            delivery_key: Some("5f2c".to_owned()),
            received_at_ms: 1_700_000_000_123,
        };
        let without_key = DedupEntry {
            delivery_key: None,
            ..entry.clone()
        };
        let value = DedupEntry::encode_lines(&[entry.clone(), without_key.clone()]);
        let text = String::from_utf8(value.clone()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(text.matches("delivery_key").count(), 1);
        let decoded: Vec<_> = DedupEntry::decode_lines(&value).collect();
        assert_eq!(decoded, [entry.clone(), without_key]);
        // Anything else in a value is skipped, not an error.
        let mut mixed = b"{\"object_kind\":\"push\"}\nnot json\n".to_vec();
        mixed.extend(DedupEntry::encode_lines(std::slice::from_ref(&entry)));
        assert_eq!(
            DedupEntry::decode_lines(&mixed).collect::<Vec<_>>(),
            [entry]
        );
        assert_eq!(DedupEntry::decode_lines(b"").count(), 0);
    }

    #[test]
    fn event_id_depends_on_type_and_body() {
        let a = event_id("Pipeline Hook", b"{}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, event_id("Pipeline Hook", b"{}"));
        assert_ne!(a, event_id("Job Hook", b"{}"));
        assert_ne!(a, event_id("Pipeline Hook", b"{ }"));
        // The separator keeps type and body from sliding into each other.
        assert_ne!(event_id("ab", b"c"), event_id("a", b"bc"));
    }

    #[test]
    fn record_key_finds_the_project_wherever_the_payload_has_it() {
        let key = |value: serde_json::Value| record_key(value.to_string().as_bytes()).unwrap();
        assert_eq!(key(json!({"project_id": 7, "project": {"id": 1}})), "7");
        assert_eq!(key(json!({"project": {"id": 8}})), "8");
        assert_eq!(
            key(json!({"object_attributes": {"target_project_id": 9}})),
            "9"
        );
        assert_eq!(
            key(json!({"project": {"path_with_namespace": "g/p"}})),
            "g/p"
        );
        assert_eq!(key(json!({"event_name": "user_create"})), INSTANCE_KEY);
        assert_eq!(
            key(json!({"project": null, "object_attributes": "x"})),
            INSTANCE_KEY
        );
    }

    #[test]
    fn record_key_rejects_what_is_not_a_json_object() {
        assert!(record_key(b"").is_err());
        assert!(record_key(b"[1, 2]").is_err());
        assert!(record_key(b"{\"project_id\": 1").is_err());
        assert!(record_key(b"\"text\"").is_err());
    }

    #[test]
    fn headers_round_trip() {
        let headers = RecordHeaders {
            event_type: "Pipeline Hook".into(),
            event_id: event_id("Pipeline Hook", b"{}"),
            delivery_key: Some("5f2c".into()),
            received_at_ms: 1_700_000_000_123,
            gitlab_instance: Some("https://gitlab.example.com".into()),
            source: None,
            gitlab_version: Some("17.5.1".into()),
        };
        let pairs = headers.to_pairs();
        let back =
            RecordHeaders::from_pairs(pairs.iter().map(|(n, v)| (*n, Some(v.as_bytes())))).unwrap();
        assert_eq!(back, headers);
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let err =
            RecordHeaders::from_pairs([(header::EVENT_TYPE, Some(&b"Push Hook"[..]))]).unwrap_err();
        assert_eq!(err, RecordError::MissingHeader(header::EVENT_ID));
        let err = RecordHeaders::from_pairs([
            (header::EVENT_TYPE, Some(&b"Push Hook"[..])),
            (header::EVENT_ID, Some(&b"x"[..])),
            (header::RECEIVED_AT_MS, Some(&b"soon"[..])),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("\"soon\" is not a whole number"),
            "{err}"
        );
    }
}
