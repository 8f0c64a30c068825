//! `merge_requests` (latest state) and `merge_request_events` (what happened, by whom, when).
//!
//! Merge request payloads carry no `merged_at`. The merge time is the `merge` event's time in
//! `merge_request_events`; `merge_requests` has no such column, because a column filled only by
//! the merge hook would be lost whenever a later hook (a label change after the merge) wins.
//!
//! The log also keeps what each event changed that review analytics time (the draft flag,
//! reviewers, labels, pushed commits), so that when a merge request became ready, when each
//! reviewer was asked and each review round happened are queries over it
//! (`schemas/README.md`, "Derived times").

use clickhouse::Row;
use hookline_schemas::payload::{MergeRequestAction, MergeRequestHook};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{state_action_rank, versioned, Precedence};
use super::{project_path, username};

/// A row of `merge_requests` (DDL: `schemas/migrations/0004_merge_requests.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MergeRequestRow {
    pub project_id: u64,
    pub project_path: String,
    pub merge_request_id: u64,
    pub merge_request_iid: u64,
    pub title: String,
    pub state: String,
    pub last_action: String,
    pub merge_status: String,
    pub draft: bool,
    pub source_project_id: u64,
    pub source_branch: String,
    pub target_branch: String,
    pub author_id: Option<u64>,
    pub assignee_ids: Vec<u64>,
    pub reviewer_ids: Vec<u64>,
    pub labels: Vec<String>,
    pub merge_commit_sha: Option<String>,
    pub head_pipeline_id: Option<u64>,
    /// The head commit of the source branch (`object_attributes.last_commit.id`), to link the
    /// merge request to its commits and pipelines; null when not sent.
    pub last_commit_sha: Option<String>,
    /// That commit's author time (`last_commit.timestamp`); null when not sent.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub last_commit_at: Option<OffsetDateTime>,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// A row of `merge_request_events` (DDL: `0004_merge_requests.sql`, columns from `draft` on:
/// `0015_merge_requests_v2.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MergeRequestEventRow {
    pub project_id: u64,
    pub project_path: String,
    pub merge_request_id: u64,
    pub merge_request_iid: u64,
    pub action: String,
    pub state: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub event_at: OffsetDateTime,
    pub actor_id: u64,
    pub actor_username: String,
    /// Whether the merge request is a draft after the event (`draft`, else
    /// `work_in_progress`): with `draft_before`, when it became ready. Null when the payload
    /// sends neither.
    pub draft: Option<bool>,
    /// The draft flag before the event, when the event changed it (`changes.draft.previous`,
    /// else `changes.work_in_progress.previous`): `true` with `draft` false marks the event
    /// that made the merge request ready. Null when the event did not change it or the
    /// payload does not say.
    pub draft_before: Option<bool>,
    /// Reviewers the event asked for: `changes.reviewers` current minus previous (user ids);
    /// on `open` without that change, the reviewers it was opened with. Empty when none, or
    /// when the payload does not say.
    pub reviewers_added: Vec<u64>,
    /// Reviewers the event removed: `changes.reviewers` previous minus current.
    pub reviewers_removed: Vec<u64>,
    /// Labels the event added: `changes.labels` current minus previous (titles); on `open`
    /// without that change, the labels it was opened with.
    pub labels_added: Vec<String>,
    /// Labels the event removed: `changes.labels` previous minus current.
    pub labels_removed: Vec<String>,
    /// The source branch's head before the event, sent only by `update` events that pushed
    /// new commits: each such event is a review round. Null otherwise.
    pub oldrev: Option<String>,
    /// The source branch's head after the event (`last_commit.id`); null when not sent.
    pub last_commit_sha: Option<String>,
    /// That commit's author time (`last_commit.timestamp`); null when not sent.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub last_commit_at: Option<OffsetDateTime>,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// The merge request's project: the target project (forks merge into it).
pub(crate) fn project_id(hook: &MergeRequestHook) -> u64 {
    super::project_id(
        hook.object_attributes.target_project_id,
        hook.project.as_ref(),
    )
}

/// When the event happened: the merge request's `updated_at`, which GitLab sets on the change
/// the event reports; `created_at` for payloads without it.
pub(crate) fn event_at(hook: &MergeRequestHook) -> OffsetDateTime {
    let attributes = &hook.object_attributes;
    attributes
        .updated_at
        .or(attributes.created_at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl MergeRequestRow {
    pub fn from_hook(hook: &MergeRequestHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        Self {
            project_id: project_id(hook),
            project_path: project_path(hook.project.as_ref()),
            merge_request_id: attributes.id,
            merge_request_iid: attributes.iid.unwrap_or_default(),
            title: attributes.title.clone(),
            state: attributes.state.clone(),
            last_action: action_str(attributes.action.as_ref()).to_owned(),
            merge_status: attributes
                .detailed_merge_status
                .clone()
                .or(attributes.merge_status.clone())
                .unwrap_or_default(),
            draft: attributes.is_draft(),
            source_project_id: attributes
                .source_project_id
                .unwrap_or_else(|| project_id(hook)),
            source_branch: attributes.source_branch.clone(),
            target_branch: attributes.target_branch.clone(),
            author_id: attributes.author_id,
            assignee_ids: attributes.assignee_ids.clone(),
            reviewer_ids: attributes.reviewer_ids.clone(),
            labels: hook.labels.iter().map(|l| l.title.clone()).collect(),
            merge_commit_sha: attributes.merge_commit_sha.clone(),
            head_pipeline_id: attributes.head_pipeline_id,
            last_commit_sha: last_commit_sha(hook),
            last_commit_at: last_commit_at(hook),
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            updated_at: event_at(hook),
            version: version(
                &attributes.state,
                attributes.action.as_ref(),
                attributes.updated_at,
            )
            .version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

impl MergeRequestEventRow {
    pub fn from_hook(hook: &MergeRequestHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let user = hook.user.as_ref();
        let (reviewers_added, reviewers_removed) = Self::reviewers(hook);
        let (labels_added, labels_removed) = Self::labels(hook);
        Self {
            project_id: project_id(hook),
            project_path: project_path(hook.project.as_ref()),
            merge_request_id: attributes.id,
            merge_request_iid: attributes.iid.unwrap_or_default(),
            action: action_str(attributes.action.as_ref()).to_owned(),
            state: attributes.state.clone(),
            event_at: event_at(hook),
            actor_id: user.and_then(|u| u.id).unwrap_or_default(),
            actor_username: username(user),
            draft: attributes.draft_state(),
            draft_before: hook.draft_change().and_then(|change| change.previous),
            reviewers_added,
            reviewers_removed,
            labels_added,
            labels_removed,
            oldrev: attributes.oldrev.clone(),
            last_commit_sha: last_commit_sha(hook),
            last_commit_at: last_commit_at(hook),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }

    /// Reviewers (user ids) the event added and removed. What a merge request is opened with
    /// counts as added by its `open` event when `changes` does not list it.
    fn reviewers(hook: &MergeRequestHook) -> (Vec<u64>, Vec<u64>) {
        if let Some(change) = hook.reviewers_change() {
            return difference(&change.previous, &change.current);
        }
        if !is_open(hook) {
            return (Vec::new(), Vec::new());
        }
        let attributes = &hook.object_attributes;
        let at_open = if attributes.reviewer_ids.is_empty() {
            hook.reviewers.iter().filter_map(|user| user.id).collect()
        } else {
            attributes.reviewer_ids.clone()
        };
        difference(&[], &at_open)
    }

    /// Labels (titles) the event added and removed; as for reviewers, the labels of an `open`
    /// event count as added when `changes` does not list them.
    fn labels(hook: &MergeRequestHook) -> (Vec<String>, Vec<String>) {
        if let Some(change) = hook.labels_change() {
            return difference(&change.previous, &change.current);
        }
        if !is_open(hook) {
            return (Vec::new(), Vec::new());
        }
        let at_open: Vec<String> = hook.labels.iter().map(|l| l.title.clone()).collect();
        difference(&[], &at_open)
    }
}

fn is_open(hook: &MergeRequestHook) -> bool {
    hook.object_attributes.action == Some(MergeRequestAction::Open)
}

/// What `current` has that `previous` lacks, and the reverse; each once, in list order.
fn difference<T: Clone + PartialEq>(previous: &[T], current: &[T]) -> (Vec<T>, Vec<T>) {
    let only = |these: &[T], those: &[T]| {
        let mut out: Vec<T> = Vec::new();
        for item in these {
            if !those.contains(item) && !out.contains(item) {
                out.push(item.clone());
            }
        }
        out
    };
    (only(current, previous), only(previous, current))
}

fn last_commit_sha(hook: &MergeRequestHook) -> Option<String> {
    let commit = hook.object_attributes.last_commit.as_ref()?;
    Some(commit.id.clone()).filter(|id| !id.is_empty())
}

fn last_commit_at(hook: &MergeRequestHook) -> Option<OffsetDateTime> {
    hook.object_attributes.last_commit.as_ref()?.timestamp
}

fn action_str(action: Option<&MergeRequestAction>) -> &str {
    action.map(MergeRequestAction::as_str).unwrap_or_default()
}

/// Orders the states of one merge request: `updated_at` (seconds), then the state (merged and
/// closed outrank open), then the action (a `merge` outranks an `update` at the same time).
pub fn version(
    state: &str,
    action: Option<&MergeRequestAction>,
    updated_at: Option<OffsetDateTime>,
) -> Precedence {
    let state_rank = match state {
        "opened" => 1,
        "locked" => 2,
        "closed" => 3,
        "merged" => 4,
        _ => 0,
    };
    // Approvals do not change updated_at, so they tie with the update before them: each
    // action has its own rank so that ties resolve the same way on every replica.
    let action_rank = match action {
        Some(MergeRequestAction::Update) => 1,
        Some(MergeRequestAction::Unapproval) => 2,
        Some(MergeRequestAction::Approval) => 3,
        Some(MergeRequestAction::Unapproved) => 4,
        Some(MergeRequestAction::Approved) => 5,
        Some(MergeRequestAction::Open) => 6,
        Some(MergeRequestAction::Reopen) => 7,
        Some(MergeRequestAction::Close) => 8,
        Some(MergeRequestAction::Merge) => 9,
        Some(MergeRequestAction::Other(_)) | None => 0,
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

    const T: OffsetDateTime = datetime!(2026-01-01 10:00 UTC);

    fn headers() -> RecordHeaders {
        super::super::test_headers("Merge Request Hook", "e", 1_800_000_000_000)
    }

    fn parse(body: &[u8]) -> MergeRequestHook {
        match payload::parse(body).unwrap() {
            Payload::MergeRequest(hook) => hook,
            other => panic!("not a merge request: {other:?}"),
        }
    }

    /// The event row of a fixture.
    fn event(file: &str) -> MergeRequestEventRow {
        MergeRequestEventRow::from_hook(&parse(&fixtures::read(file)), &headers())
    }

    /// The event row of a fixture with `changes` (JSON pointer, value) applied; a `null`
    /// value removes the member.
    fn edited(file: &str, changes: &[(&str, Value)]) -> MergeRequestEventRow {
        let mut body: Value = serde_json::from_slice(&fixtures::read(file)).unwrap();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let object = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            if value.is_null() {
                object.remove(key);
            } else {
                object.insert(key.to_owned(), value.clone());
            }
        }
        MergeRequestEventRow::from_hook(&parse(&serde_json::to_vec(&body).unwrap()), &headers())
    }

    #[test]
    fn draft_is_the_flag_after_the_event_and_unknown_when_not_sent() {
        // GitLab's example sends only the older `work_in_progress`.
        assert_eq!(
            event("gitlab-webhooks/merge_request.json").draft,
            Some(false)
        );
        let drafted = edited(
            "gitlab-webhooks/merge_request.json",
            &[("/object_attributes/draft", json!(true))],
        );
        assert_eq!(drafted.draft, Some(true));
        // GitLab's oldest example sends neither flag.
        assert_eq!(event("seeds/merge_request_000.json").draft, None);
    }

    #[test]
    fn draft_before_marks_the_event_that_made_the_merge_request_ready() {
        let ready = edited(
            "gitlab-webhooks/service_merge_request.json",
            &[
                ("/object_attributes/draft", json!(false)),
                (
                    "/changes/draft",
                    json!({"previous": true, "current": false}),
                ),
            ],
        );
        assert_eq!((ready.draft_before, ready.draft), (Some(true), Some(false)));
        assert_eq!(ready.event_at, datetime!(2021-09-27 05:01:21 UTC));
        // Older GitLab versions name the change `work_in_progress`.
        let drafted = edited(
            "gitlab-webhooks/service_merge_request.json",
            &[
                ("/object_attributes/work_in_progress", json!(true)),
                (
                    "/changes/work_in_progress",
                    json!({"previous": false, "current": true}),
                ),
            ],
        );
        assert_eq!(
            (drafted.draft_before, drafted.draft),
            (Some(false), Some(true))
        );
        // An update that did not touch the flag, and a payload without `changes`.
        assert_eq!(
            event("gitlab-webhooks/service_merge_request.json").draft_before,
            None
        );
        assert_eq!(event("seeds/merge_request_004.json").draft_before, None);
    }

    #[test]
    fn reviewers_added_and_removed_come_from_changes_or_the_open_event() {
        // Opened with reviewer 1 (`reviewer_ids`), no reviewers change listed.
        let opened = event("gitlab-webhooks/merge_request.json");
        assert_eq!(
            (opened.reviewers_added, opened.reviewers_removed),
            (vec![1], vec![])
        );
        // Without `reviewer_ids`, the `reviewers` objects.
        let opened = edited(
            "gitlab-webhooks/merge_request.json",
            &[("/object_attributes/reviewer_ids", Value::Null)],
        );
        assert_eq!(opened.reviewers_added, vec![1]);
        let update = edited(
            "gitlab-webhooks/service_merge_request.json",
            &[(
                "/changes/reviewers",
                json!({"previous": [{"id": 4, "username": "a"}, {"id": 5, "username": "b"}],
                       "current": [{"id": 5, "username": "b"}, {"id": 6, "username": "c"}]}),
            )],
        );
        assert_eq!(
            (update.reviewers_added, update.reviewers_removed),
            (vec![6], vec![4])
        );
        // An update that changed no reviewer; GitLab 8's example sends no reviewers at all.
        let update = event("gitlab-webhooks/service_merge_request.json");
        assert!(update.reviewers_added.is_empty() && update.reviewers_removed.is_empty());
        assert!(event("seeds/merge_request_004.json")
            .reviewers_added
            .is_empty());
    }

    #[test]
    fn labels_added_and_removed_come_from_changes_or_the_open_event() {
        for file in [
            "gitlab-webhooks/merge_request.json",
            "seeds/merge_request_003.json",
        ] {
            let row = event(file);
            assert_eq!(
                (row.labels_added, row.labels_removed),
                (vec!["Platform".to_owned()], vec!["API".to_owned()]),
                "{file}"
            );
        }
        // Opened with a label, and no label change listed: the label was added on opening.
        let opened = edited(
            "gitlab-webhooks/merge_request.json",
            &[("/changes", Value::Null)],
        );
        assert_eq!(opened.labels_added, vec!["API".to_owned()]);
        assert!(opened.labels_removed.is_empty());
        // An update without label change; an example without labels.
        assert!(event("gitlab-webhooks/service_merge_request.json")
            .labels_added
            .is_empty());
        let old = event("seeds/merge_request_004.json");
        assert!(old.labels_added.is_empty() && old.labels_removed.is_empty());
    }

    #[test]
    fn oldrev_marks_the_updates_that_pushed_commits() {
        let pushed = event("gitlab-webhooks/service_merge_request.json");
        assert_eq!(
            pushed.oldrev.as_deref(),
            Some("6ef047571374c96a2bf13c361efd1fb008b0063e")
        );
        assert_eq!(event("gitlab-webhooks/merge_request.json").oldrev, None);
    }

    #[test]
    fn the_last_commit_is_kept_in_the_log_and_the_state() {
        let hook = parse(&fixtures::read("gitlab-webhooks/merge_request.json"));
        let sha = Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".to_owned());
        let at = Some(datetime!(2012-01-03 21:36:29 UTC));
        let row = MergeRequestEventRow::from_hook(&hook, &headers());
        assert_eq!((row.last_commit_sha, row.last_commit_at), (sha.clone(), at));
        let state = MergeRequestRow::from_hook(&hook, &headers());
        assert_eq!((state.last_commit_sha, state.last_commit_at), (sha, at));
        // GitLab's oldest example has no `last_commit`.
        let old = parse(&fixtures::read("seeds/merge_request_000.json"));
        let row = MergeRequestEventRow::from_hook(&old, &headers());
        assert_eq!((row.last_commit_sha, row.last_commit_at), (None, None));
        let state = MergeRequestRow::from_hook(&old, &headers());
        assert_eq!((state.last_commit_sha, state.last_commit_at), (None, None));
    }

    #[test]
    fn a_merge_outranks_an_update_with_the_same_updated_at() {
        let merge = version("merged", Some(&MergeRequestAction::Merge), Some(T));
        let update = version("opened", Some(&MergeRequestAction::Update), Some(T));
        let approved = version("opened", Some(&MergeRequestAction::Approved), Some(T));
        assert!(update < merge);
        assert!(approved < merge);
        // Even a hook that says `update` but already sees the merged state loses to the merge.
        assert!(version("merged", Some(&MergeRequestAction::Update), Some(T)) < merge);
    }

    #[test]
    fn a_close_outranks_an_update_and_a_later_reopen_wins() {
        let close = version("closed", Some(&MergeRequestAction::Close), Some(T));
        assert!(version("opened", Some(&MergeRequestAction::Update), Some(T)) < close);
        let reopen = version(
            "opened",
            Some(&MergeRequestAction::Reopen),
            Some(datetime!(2026-01-01 10:00:01 UTC)),
        );
        assert!(close < reopen);
    }

    #[test]
    fn a_later_update_after_the_merge_wins_and_keeps_the_merged_state() {
        let merge = version("merged", Some(&MergeRequestAction::Merge), Some(T));
        let relabel = version(
            "merged",
            Some(&MergeRequestAction::Update),
            Some(datetime!(2026-01-01 11:00 UTC)),
        );
        assert!(merge < relabel);
    }
}
