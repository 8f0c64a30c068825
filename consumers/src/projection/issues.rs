//! `issues` (the latest state of every issue and work item) and `issue_events` (what happened to
//! it, by whom, when, and which labels each event added or removed).
//!
//! Incidents: GitLab's `type` says `Incident` on newer versions; older ones send no type, and
//! teams that track incidents as labelled issues mark them with an `incident` label. Both
//! count ([`is_incident`]); without either, an issue from an older version is of unknown kind.

use clickhouse::Row;
use hookline_schemas::payload::{IssueHook, LabelChange};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{state_action_rank, versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `issues` (DDL: `schemas/migrations/0006_issues.sql`, `0014_issues_v2.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct IssueRow {
    pub project_id: u64,
    pub project_path: String,
    pub issue_id: u64,
    pub issue_iid: u64,
    /// The type the payload gives (`type`: `Issue`, `Incident`, `Task`, …); empty when it gives
    /// none, never a guessed `Issue`.
    pub issue_type: String,
    /// Whether the issue is an incident, for incident counts and times to resolve; `None` when
    /// the payload cannot tell ([`is_incident`]).
    pub is_incident: Option<bool>,
    /// `object_attributes.severity` as sent (`unknown` is GitLab's own value for "none set");
    /// empty when not sent.
    pub severity: String,
    pub title: String,
    pub state: String,
    pub last_action: String,
    pub confidential: bool,
    pub author_id: Option<u64>,
    pub assignee_ids: Vec<u64>,
    pub labels: Vec<String>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub closed_at: Option<OffsetDateTime>,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// A row of `issue_events` (DDL: `schemas/migrations/0014_issues_v2.sql`): one per Issue Hook.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct IssueEventRow {
    /// As in `issues`: the issue's project.
    pub project_id: u64,
    /// As in `issues`, to read the log without a join.
    pub project_path: String,
    /// The issue's global id; tells issues apart when a payload has no `iid`.
    pub issue_id: u64,
    /// The issue's number in its project (`#23`), the key analysts use; 0 when not sent.
    pub issue_iid: u64,
    /// What happened: `open`, `close`, `reopen`, `update`; empty for the oldest payloads.
    pub action: String,
    /// The state after the event, to follow an issue through closes and reopens.
    pub state: String,
    /// When it happened: the issue's `updated_at`, which GitLab sets on the change the event
    /// reports (`created_at` if absent, else the epoch).
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub event_at: OffsetDateTime,
    /// Who did it (`user.id`); 0 when not sent. In the sorting key, so that two users' events
    /// of one second stay two rows.
    pub actor_id: u64,
    /// Who did it (`user.username`); empty when not sent.
    pub actor_username: String,
    /// As in `issues`: the type the payload gives, empty when it gives none.
    pub issue_type: String,
    /// As in `issues`, as of this event: a type or label change can make an issue an incident.
    pub is_incident: Option<bool>,
    /// As in `issues`, as of this event, so that severity changes can be followed.
    pub severity: String,
    /// Label titles after the event: also where the hook reports no label change, consecutive
    /// events show what changed.
    pub labels: Vec<String>,
    /// Labels the event added (`changes.labels`: in `current`, not in `previous`).
    pub labels_added: Vec<String>,
    /// Labels the event removed (`changes.labels`: in `previous`, not in `current`).
    pub labels_removed: Vec<String>,
    /// The hook (join with `raw_hooks`).
    pub event_id: String,
    /// When ingest received the hook.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl IssueRow {
    pub fn from_hook(hook: &IssueHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let project = hook.project.as_ref();
        let action = attributes.action.clone().unwrap_or_default();
        let labels = label_titles(hook);
        Self {
            project_id: project_id(attributes.project_id, project),
            project_path: project_path(project),
            issue_id: attributes.id,
            issue_iid: attributes.iid.unwrap_or_default(),
            issue_type: attributes.issue_type.clone().unwrap_or_default(),
            is_incident: is_incident(attributes.issue_type.as_deref(), &labels),
            severity: attributes.severity.clone().unwrap_or_default(),
            title: attributes.title.clone(),
            state: attributes.state.clone(),
            confidential: attributes.confidential,
            author_id: attributes.author_id,
            assignee_ids: attributes.assignee_ids.clone(),
            labels,
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            updated_at: event_at(hook),
            closed_at: attributes.closed_at,
            version: version(&attributes.state, &action, attributes.updated_at).version(headers),
            last_action: action,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

impl IssueEventRow {
    pub fn from_hook(hook: &IssueHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let project = hook.project.as_ref();
        let user = hook.user.as_ref();
        let labels = label_titles(hook);
        let (labels_added, labels_removed) = hook
            .label_change()
            .map(|change| label_diff(&change))
            .unwrap_or_default();
        Self {
            project_id: project_id(attributes.project_id, project),
            project_path: project_path(project),
            issue_id: attributes.id,
            issue_iid: attributes.iid.unwrap_or_default(),
            action: attributes.action.clone().unwrap_or_default(),
            state: attributes.state.clone(),
            event_at: event_at(hook),
            actor_id: user.and_then(|u| u.id).unwrap_or_default(),
            actor_username: username(user),
            issue_type: attributes.issue_type.clone().unwrap_or_default(),
            is_incident: is_incident(attributes.issue_type.as_deref(), &labels),
            severity: attributes.severity.clone().unwrap_or_default(),
            labels,
            labels_added,
            labels_removed,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// When the issue's state in the hook was reached: `updated_at`, else `created_at`, else the
/// epoch (no payload omits both).
fn event_at(hook: &IssueHook) -> OffsetDateTime {
    let attributes = &hook.object_attributes;
    attributes
        .updated_at
        .or(attributes.created_at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The issue's label titles. Labels are in object_attributes on older versions, at the top
/// level on newer ones.
fn label_titles(hook: &IssueHook) -> Vec<String> {
    let labels = if hook.labels.is_empty() {
        &hook.object_attributes.labels
    } else {
        &hook.labels
    };
    labels.iter().map(|l| l.title.clone()).collect()
}

/// Whether the issue is an incident: `Some(true)` if its type is `Incident` or it has a label
/// titled `incident` (both ASCII case-insensitive); `Some(false)` if the payload gives another
/// type and no such label; `None` (unknown) if it gives no type and no such label, as older
/// GitLab versions do for incidents and issues alike.
pub fn is_incident(issue_type: Option<&str>, labels: &[String]) -> Option<bool> {
    if labels
        .iter()
        .any(|label| label.eq_ignore_ascii_case("incident"))
    {
        return Some(true);
    }
    issue_type
        .filter(|kind| !kind.is_empty())
        .map(|kind| kind.eq_ignore_ascii_case("incident"))
}

/// The titles a label change added and removed, each once, in the order GitLab lists them.
fn label_diff(change: &LabelChange) -> (Vec<String>, Vec<String>) {
    let only_in = |side: &[String], other: &[String]| {
        let mut titles: Vec<String> = Vec::new();
        for title in side {
            if !other.contains(title) && !titles.contains(title) {
                titles.push(title.clone());
            }
        }
        titles
    };
    (
        only_in(&change.current, &change.previous),
        only_in(&change.previous, &change.current),
    )
}

/// Orders the states of one issue: `updated_at` (seconds), then the state (closed outranks opened),
/// then the action (a `close` outranks an `update` at the same time).
pub fn version(state: &str, action: &str, updated_at: Option<OffsetDateTime>) -> Precedence {
    let state_rank = match state {
        "opened" => 1,
        "closed" => 2,
        _ => 0,
    };
    let action_rank = match action {
        "update" => 1,
        "open" => 2,
        "reopen" => 3,
        "close" => 4,
        _ => 0,
    };
    versioned(updated_at, state_action_rank(state_rank, action_rank))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;
    use serde_json::{json, Value};
    use time::macros::datetime;

    fn headers() -> RecordHeaders {
        super::super::test_headers("Issue Hook", "e", 1_700_000_000_000)
    }

    fn hook(body: &[u8]) -> IssueHook {
        match payload::parse(body).expect("an issue payload") {
            Payload::Issue(hook) => hook,
            other => panic!("not an issue: {other:?}"),
        }
    }

    /// The issue fixture with `edit` applied to its JSON.
    fn edited(edit: impl FnOnce(&mut Value)) -> IssueHook {
        let mut body: Value =
            serde_json::from_slice(&fixtures::read("gitlab-webhooks/issue.json")).unwrap();
        edit(&mut body);
        hook(&serde_json::to_vec(&body).unwrap())
    }

    fn rows(hook: &IssueHook) -> (IssueRow, IssueEventRow) {
        (
            IssueRow::from_hook(hook, &headers()),
            IssueEventRow::from_hook(hook, &headers()),
        )
    }

    #[test]
    fn the_fixture_gives_its_severity_labels_and_label_change() {
        let (issue, event) = rows(&hook(&fixtures::read("gitlab-webhooks/issue.json")));
        assert_eq!(issue.severity, "high");
        assert_eq!(issue.labels, ["API"]);
        // The fixture gives no `type` and no `incident` label: unknown, and no guessed type.
        assert_eq!((issue.issue_type.as_str(), issue.is_incident), ("", None));
        assert_eq!(
            (event.action.as_str(), event.state.as_str()),
            ("open", "opened")
        );
        assert_eq!((event.actor_id, event.actor_username.as_str()), (1, "root"));
        assert_eq!(
            (event.project_id, event.issue_iid, event.issue_id),
            (14, 23, 301)
        );
        assert_eq!(event.event_at, datetime!(2013-12-03 17:15:43 UTC));
        assert_eq!(event.severity, "high");
        assert_eq!(event.labels, ["API"]);
        // `changes.labels`: API before, Platform after.
        assert_eq!(event.labels_added, ["Platform"]);
        assert_eq!(event.labels_removed, ["API"]);
    }

    #[test]
    fn payloads_of_older_versions_leave_the_new_columns_unknown() {
        for seed in ["seeds/issue_000.json", "seeds/issue_004.json"] {
            let (issue, event) = rows(&hook(&fixtures::read(seed)));
            assert_eq!(issue.severity, "", "{seed}");
            assert_eq!(issue.issue_type, "", "{seed}");
            assert_eq!(issue.is_incident, None, "{seed}");
            assert_eq!((event.severity.as_str(), event.is_incident), ("", None));
            assert!(event.labels.is_empty() && event.labels_added.is_empty());
            assert!(event.labels_removed.is_empty(), "{seed}");
            assert_eq!(event.event_at, datetime!(2013-12-03 17:15:43 UTC));
        }
        // The oldest payload has no action and no user.
        let (_, event) = rows(&hook(&fixtures::read("seeds/issue_000.json")));
        assert_eq!(
            (
                event.action.as_str(),
                event.actor_id,
                event.actor_username.as_str()
            ),
            ("", 0, "")
        );
        // Newer GitLab without a label change in the event reports none.
        let (_, event) = rows(&edited(|body| {
            body["changes"].as_object_mut().unwrap().remove("labels");
        }));
        assert!(event.labels_added.is_empty() && event.labels_removed.is_empty());
        assert_eq!(event.labels, ["API"]);
    }

    #[test]
    fn an_incident_is_known_by_its_type_or_an_incident_label() {
        let set_type = |kind: &'static str| {
            move |body: &mut Value| body["object_attributes"]["type"] = json!(kind)
        };
        assert_eq!(
            rows(&edited(set_type("Incident"))).0.is_incident,
            Some(true)
        );
        assert_eq!(rows(&edited(set_type("Incident"))).0.issue_type, "Incident");
        assert_eq!(rows(&edited(set_type("Issue"))).0.is_incident, Some(false));
        assert_eq!(rows(&edited(set_type("Task"))).1.is_incident, Some(false));
        // A label says so whatever the type, and also where no type is sent.
        let label = |body: &mut Value| body["labels"][0]["title"] = json!("Incident");
        assert_eq!(rows(&edited(label)).0.is_incident, Some(true));
        let labelled_issue = |body: &mut Value| {
            body["labels"][0]["title"] = json!("incident");
            body["object_attributes"]["type"] = json!("Issue");
        };
        let (issue, event) = rows(&edited(labelled_issue));
        assert_eq!(
            (issue.is_incident, event.is_incident),
            (Some(true), Some(true))
        );
        // A label that only contains the word does not.
        let scoped = |body: &mut Value| body["labels"][0]["title"] = json!("incident::review");
        assert_eq!(rows(&edited(scoped)).0.is_incident, None);
    }

    #[test]
    fn a_label_change_lists_each_added_and_removed_title_once() {
        let (_, event) = rows(&edited(|body| {
            body["changes"]["labels"] = json!({
                "previous": [{"title": "a"}, {"title": "b"}],
                "current": [{"title": "b"}, {"title": "c"}, {"title": "d"}, {"title": "c"}],
            });
        }));
        assert_eq!(event.labels_added, ["c", "d"]);
        assert_eq!(event.labels_removed, ["a"]);
        // The first labels of an issue: GitLab may send `previous` as null.
        let (_, event) = rows(&edited(|body| {
            body["changes"]["labels"] = json!({"previous": null, "current": [{"title": "x"}]});
        }));
        assert_eq!(
            (event.labels_added, event.labels_removed),
            (vec!["x".to_owned()], vec![])
        );
        // An entry in a shape GitLab does not send costs the label change, not the event.
        let (issue, event) = rows(&edited(|body| {
            body["changes"]["labels"] = json!({"previous": "API", "current": [{"title": "x"}]});
        }));
        assert!(event.labels_added.is_empty() && event.labels_removed.is_empty());
        assert_eq!(issue.labels, ["API"]);
    }

    #[test]
    fn a_close_outranks_an_update_at_the_same_time_and_a_later_reopen_wins() {
        let t = Some(datetime!(2026-01-01 10:00 UTC));
        let close = version("closed", "close", t);
        assert!(version("opened", "update", t) < close);
        assert!(close < version("opened", "reopen", Some(datetime!(2026-01-01 10:01 UTC))));
    }
}
