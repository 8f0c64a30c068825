//! `project_observations`: what hooks say about a project (its path, its default branch) and
//! when, the source of the `projects` view, one row per project with its current values.
//!
//! Every hook that names a project with its id observes it: the instance's own project events
//! (created, renamed, transferred, updated, destroyed) and the `project` object that nearly
//! every project hook embeds. Each observation is partial (a rename says nothing of the default
//! branch, a job hook of older GitLab versions only gives the id), so an observation is kept as
//! it was seen and the view takes each field from the latest observation that knows it: a
//! partial observation never erases a known value.
//!
//! The table is a `ReplacingMergeTree(version)` keyed by the project and the values observed,
//! so it keeps the latest observation of each distinct state: as small as the projects' history,
//! not as large as their hooks.

use clickhouse::Row;
use hookline_schemas::payload::{
    DeploymentHook, InstanceEvent, IssueHook, JobHook, MergeRequestHook, NoteHook, PipelineHook,
    Project, ProjectMention, PushHook, ReleaseHook,
};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, FUTURE_TOLERANCE_SECS};
use super::{merge_requests, project_id};

/// Instance events that describe the project itself, as opposed to a membership in it. The
/// latest of them says whether the project still exists.
pub const PROJECT_EVENTS: [&str; 5] = [
    "project_create",
    "project_rename",
    "project_transfer",
    "project_update",
    "project_destroy",
];

/// A row of `project_observations` (DDL: `schemas/migrations/0016_projects.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ProjectObservationRow {
    /// The project observed; a hook that gives no project id observes nothing, since the
    /// dimension is keyed by id.
    pub project_id: u64,
    /// What observed it: the instance event's name (`project_rename`, `user_add_to_team`, …)
    /// or the hook's kind (`pipeline`, `build`, `merge_request`, `push`, `wiki_page`, …). The
    /// latest project event tells whether the project was destroyed.
    pub event_name: String,
    /// The project's `path_with_namespace` as observed (after the event, for renames and
    /// transfers); empty when the hook does not give it.
    pub path: String,
    /// The project's default branch as observed (`project.default_branch`); empty when the
    /// hook does not give it (instance events never do; GitLab sends `null` for a project
    /// with an empty repository).
    pub default_branch: String,
    /// Whether the project is archived. No hook GitLab sends says so (none of the fixtures or
    /// documented payloads has the field): always null, kept so that the dimension names
    /// what it cannot know.
    pub archived: Option<bool>,
    /// When the observation held: the time the payload gives for its event (see
    /// [`observed_at`]), else when ingest received the hook.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub observed_at: OffsetDateTime,
    /// Row version: `observed_at` in whole seconds, then a tie-break from the hook, so that
    /// of two observations of one state the same one is kept whatever the arrival order.
    pub version: u64,
    /// The hook of the kept observation (join with `raw_hooks`).
    pub event_id: String,
    /// When ingest received that hook.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl ProjectObservationRow {
    /// An observation of the project a hook names: its id (`own_id`, the hook's own project
    /// id field, else `project.id`), its path and default branch from `project`. `None` when
    /// no id is given.
    fn new(
        event_name: &str,
        own_id: Option<u64>,
        project: Option<&Project>,
        payload_time: Option<OffsetDateTime>,
        headers: &RecordHeaders,
    ) -> Option<Self> {
        let project_id = project_id(own_id, project);
        if project_id == 0 {
            return None;
        }
        let observed_at = observed_at(payload_time, headers);
        Some(Self {
            project_id,
            event_name: event_name.to_owned(),
            path: project
                .map(|p| p.path_with_namespace.clone())
                .unwrap_or_default(),
            default_branch: project
                .and_then(|p| p.default_branch.clone())
                .unwrap_or_default(),
            archived: None,
            observed_at,
            version: versioned(Some(observed_at), 0).version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        })
    }

    /// A pipeline hook: the project's state as of the pipeline's last time.
    pub fn from_pipeline(hook: &PipelineHook, headers: &RecordHeaders) -> Option<Self> {
        let attributes = &hook.object_attributes;
        let time = attributes.finished_at.or(attributes.created_at);
        Self::new("pipeline", None, hook.project.as_ref(), time, headers)
    }

    /// A job hook; GitLab versions that send no `project` object give the id only.
    pub fn from_job(hook: &JobHook, headers: &RecordHeaders) -> Option<Self> {
        let time = hook
            .finished_at()
            .or(hook.started_at())
            .or(hook.created_at());
        Self::new(
            "build",
            hook.project_id,
            hook.project.as_ref(),
            time,
            headers,
        )
    }

    /// A merge request hook: its target project (the `project` object), as `merge_requests`
    /// counts it.
    pub fn from_merge_request(hook: &MergeRequestHook, headers: &RecordHeaders) -> Option<Self> {
        let attributes = &hook.object_attributes;
        let time = attributes.updated_at.or(attributes.created_at);
        Self::new(
            "merge_request",
            Some(merge_requests::project_id(hook)).filter(|id| *id != 0),
            hook.project.as_ref(),
            time,
            headers,
        )
    }

    /// A note hook.
    pub fn from_note(hook: &NoteHook, headers: &RecordHeaders) -> Option<Self> {
        let attributes = &hook.object_attributes;
        Self::new(
            "note",
            hook.project_id.or(attributes.project_id),
            hook.project.as_ref(),
            attributes.updated_at.or(attributes.created_at),
            headers,
        )
    }

    /// A push or tag push hook: they carry no time, so the receipt stands for it.
    pub fn from_push(hook: &PushHook, headers: &RecordHeaders) -> Option<Self> {
        let kind = if hook.is_tag() { "tag_push" } else { "push" };
        Self::new(kind, hook.project_id, hook.project.as_ref(), None, headers)
    }

    /// An issue or work item hook.
    pub fn from_issue(hook: &IssueHook, headers: &RecordHeaders) -> Option<Self> {
        let attributes = &hook.object_attributes;
        Self::new(
            "issue",
            attributes.project_id,
            hook.project.as_ref(),
            attributes.updated_at.or(attributes.created_at),
            headers,
        )
    }

    /// A deployment hook: as of its last status change.
    pub fn from_deployment(hook: &DeploymentHook, headers: &RecordHeaders) -> Option<Self> {
        Self::new(
            "deployment",
            None,
            hook.project.as_ref(),
            hook.status_changed_at,
            headers,
        )
    }

    /// A release hook. Its only time, `created_at`, is the release's creation, which an
    /// update or a deletion repeats: the receipt stands for the hook's time.
    pub fn from_release(hook: &ReleaseHook, headers: &RecordHeaders) -> Option<Self> {
        Self::new("release", None, hook.project.as_ref(), None, headers)
    }

    /// An instance event of a system hook that names a project (`project_id`): the project
    /// events, and memberships in a project (`user_add_to_team`, …), with the project's path.
    /// A rename, transfer or update happened at the event's `updated_at` (a creation's equals
    /// its `created_at`); other events give no time of their own (a destroyed project's
    /// `updated_at` is its last change before), so the receipt stands for it.
    pub fn from_instance_event(event: &InstanceEvent, headers: &RecordHeaders) -> Option<Self> {
        let name = event.name();
        let time = match name {
            "project_create" | "project_rename" | "project_transfer" | "project_update" => {
                event.updated_at.or(event.created_at)
            }
            _ => None,
        };
        let project = Project {
            id: event.project_id,
            path_with_namespace: event
                .path_with_namespace
                .clone()
                .or(event.project_path_with_namespace.clone())
                .unwrap_or_default(),
            ..Project::default()
        };
        Self::new(name, None, Some(&project), time, headers)
    }

    /// Any other hook that names its project (a wiki page, a feature flag, a repository
    /// update, …), read without a model of its kind; such hooks carry no time this reads.
    pub fn from_mention(mention: &ProjectMention, headers: &RecordHeaders) -> Option<Self> {
        Self::new(
            mention.kind.as_deref().unwrap_or_default(),
            mention.project_id,
            mention.project.as_ref(),
            None,
            headers,
        )
    }
}

/// When an observation held: the payload's time for its event, clamped to the receipt plus
/// [`FUTURE_TOLERANCE_SECS`] as row versions are (no hook describes a state after it was sent,
/// and an absurd date must not pin a project's path forever); the receipt when the payload
/// gives none.
pub fn observed_at(
    payload_time: Option<OffsetDateTime>,
    headers: &RecordHeaders,
) -> OffsetDateTime {
    let received = millis_to_time(headers.received_at_ms);
    let latest = received
        .checked_add(time::Duration::seconds(FUTURE_TOLERANCE_SECS as i64))
        .unwrap_or(received);
    payload_time.map_or(received, |time| time.min(latest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use time::macros::datetime;

    const RECEIVED: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn headers(event_id: &str) -> RecordHeaders {
        super::super::test_headers(
            "test",
            event_id,
            (RECEIVED.unix_timestamp_nanos() / 1_000_000) as i64,
        )
    }

    fn fixture(name: &str) -> Payload {
        payload::parse(&hookline_schemas::testing::fixtures::read(name)).unwrap()
    }

    fn seen(row: &ProjectObservationRow) -> (u64, &str, &str, &str, OffsetDateTime) {
        (
            row.project_id,
            row.event_name.as_str(),
            row.path.as_str(),
            row.default_branch.as_str(),
            row.observed_at,
        )
    }

    #[test]
    fn a_pipeline_observes_path_and_default_branch_as_of_its_end() {
        let Payload::Pipeline(hook) = fixture("gitlab-webhooks/pipeline.json") else {
            panic!("not a pipeline")
        };
        let row = ProjectObservationRow::from_pipeline(&hook, &headers("p")).unwrap();
        assert_eq!(
            seen(&row),
            (
                1,
                "pipeline",
                "gitlab-org/gitlab-test",
                "master",
                datetime!(2016-08-12 15:26:29 UTC)
            )
        );
        assert_eq!(row.archived, None);
    }

    #[test]
    fn a_hook_without_project_id_observes_nothing() {
        // GitLab 8's documented pipeline example: a project without `id`.
        let Payload::Pipeline(hook) = fixture("seeds/pipeline_hook.json") else {
            panic!("not a pipeline")
        };
        assert_eq!(
            ProjectObservationRow::from_pipeline(&hook, &headers("p")),
            None
        );
    }

    #[test]
    fn an_old_job_hook_observes_the_id_only() {
        // Older job hooks carry `project_id` and a display name, not the path.
        let Payload::Job(hook) = fixture("gitlab-webhooks/job.json") else {
            panic!("not a job")
        };
        let row = ProjectObservationRow::from_job(&hook, &headers("j")).unwrap();
        assert_eq!(
            seen(&row),
            (
                31537070,
                "build",
                "",
                "",
                datetime!(2023-01-10 13:50:54 UTC)
            )
        );
    }

    #[test]
    fn a_push_observes_at_its_receipt() {
        let Payload::Push(hook) = fixture("gitlab-webhooks/push.json") else {
            panic!("not a push")
        };
        let row = ProjectObservationRow::from_push(&hook, &headers("p")).unwrap();
        assert_eq!(
            seen(&row),
            (15, "push", "mike/diaspora", "master", RECEIVED)
        );
    }

    #[test]
    fn the_other_kinds_observe_their_project() {
        let h = headers("x");
        let rows = [
            match fixture("gitlab-webhooks/merge_request.json") {
                // The target project's id, with the `project` object's path.
                Payload::MergeRequest(hook) => ProjectObservationRow::from_merge_request(&hook, &h),
                _ => None,
            },
            match fixture("gitlab-webhooks/note_issue.json") {
                Payload::Note(hook) => ProjectObservationRow::from_note(&hook, &h),
                _ => None,
            },
            match fixture("gitlab-webhooks/issue.json") {
                Payload::Issue(hook) => ProjectObservationRow::from_issue(&hook, &h),
                _ => None,
            },
            match fixture("gitlab-webhooks/deployment.json") {
                Payload::Deployment(hook) => ProjectObservationRow::from_deployment(&hook, &h),
                _ => None,
            },
            match fixture("gitlab-webhooks/release.json") {
                Payload::Release(hook) => ProjectObservationRow::from_release(&hook, &h),
                _ => None,
            },
        ];
        let seen: Vec<_> = rows.iter().map(|row| seen(row.as_ref().unwrap())).collect();
        assert_eq!(
            seen,
            [
                (
                    14,
                    "merge_request",
                    "gitlabhq/gitlab-test",
                    "master",
                    datetime!(2013-12-03 17:23:34 UTC)
                ),
                (
                    5,
                    "note",
                    "gitlab-org/gitlab-test",
                    "master",
                    datetime!(2015-05-17 17:06:40 UTC)
                ),
                (
                    14,
                    "issue",
                    "gitlabhq/gitlab-test",
                    "master",
                    datetime!(2013-12-03 17:15:43 UTC)
                ),
                (
                    30,
                    "deployment",
                    "root/test-deployment-webhooks",
                    "master",
                    datetime!(2021-04-28 19:50:00 UTC)
                ),
                (
                    327622,
                    "release",
                    "exm-namespace/example-project",
                    "master",
                    RECEIVED
                ),
            ]
        );
    }

    fn instance_event(body: &str) -> InstanceEvent {
        payload::parse_instance_event(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_rename_observes_the_new_path_at_its_time_and_no_default_branch() {
        let renamed = instance_event(
            r#"{"created_at":"2012-07-21T07:30:58Z","updated_at":"2012-07-21T07:38:22Z","event_name":"project_rename","name":"Underscore","path":"underscore","path_with_namespace":"jsmith/underscore","project_id":73,"owner_name":"John Smith","owner_email":"johnsmith@example.com","project_visibility":"internal","old_path_with_namespace":"jsmith/overscore"}"#,
        );
        let row = ProjectObservationRow::from_instance_event(&renamed, &headers("r")).unwrap();
        assert_eq!(
            seen(&row),
            (
                73,
                "project_rename",
                "jsmith/underscore",
                "",
                datetime!(2012-07-21 07:38:22 UTC)
            )
        );
    }

    #[test]
    fn a_destroy_and_a_membership_observe_at_their_receipt() {
        let destroyed = instance_event(
            r#"{"created_at":"2012-07-21T07:30:58Z","updated_at":"2012-07-21T07:38:22Z","event_name":"project_destroy","name":"Underscore","path":"underscore","path_with_namespace":"jsmith/underscore","project_id":73,"project_visibility":"internal"}"#,
        );
        let row = ProjectObservationRow::from_instance_event(&destroyed, &headers("d")).unwrap();
        assert_eq!(
            seen(&row),
            (73, "project_destroy", "jsmith/underscore", "", RECEIVED)
        );
        let member = instance_event(
            r#"{"created_at":"2012-07-21T07:30:56Z","updated_at":"2012-07-21T07:38:22Z","event_name":"user_add_to_team","access_level":"Maintainer","project_id":74,"project_name":"StoreCloud","project_path":"storecloud","project_path_with_namespace":"jsmith/storecloud","user_email":"johnsmith@example.com","user_name":"John Smith","user_username":"johnsmith","user_id":41,"project_visibility":"visibilitylevel|private"}"#,
        );
        let row = ProjectObservationRow::from_instance_event(&member, &headers("m")).unwrap();
        assert_eq!(
            seen(&row),
            (74, "user_add_to_team", "jsmith/storecloud", "", RECEIVED)
        );
        // Group events name no project.
        let subgroup = payload::parse_instance_event(&hookline_schemas::testing::fixtures::read(
            "gitlab-webhooks/subgroup.json",
        ))
        .unwrap();
        assert_eq!(
            ProjectObservationRow::from_instance_event(&subgroup, &headers("s")),
            None
        );
    }

    #[test]
    fn a_hook_of_a_kind_without_model_observes_its_project() {
        let body = hookline_schemas::testing::fixtures::read("gitlab-webhooks/wiki_page.json");
        let mention = payload::parse_project_mention(&body).unwrap();
        let row = ProjectObservationRow::from_mention(&mention, &headers("w")).unwrap();
        assert_eq!(
            seen(&row),
            (1, "wiki_page", "root/awesome-project", "master", RECEIVED)
        );
        let member = hookline_schemas::testing::fixtures::read("gitlab-webhooks/member.json");
        let mention = payload::parse_project_mention(&member).unwrap();
        assert_eq!(
            ProjectObservationRow::from_mention(&mention, &headers("m")),
            None
        );
    }

    #[test]
    fn a_time_from_the_future_is_clamped_and_versions_follow_time() {
        let far = datetime!(2299-01-01 00:00 UTC);
        let h = headers("f");
        assert_eq!(
            observed_at(Some(far), &h),
            RECEIVED + time::Duration::seconds(FUTURE_TOLERANCE_SECS as i64)
        );
        assert_eq!(observed_at(None, &h), RECEIVED);
        let project = Project {
            id: Some(9),
            ..Project::default()
        };
        let early = ProjectObservationRow::new(
            "pipeline",
            None,
            Some(&project),
            Some(datetime!(2025-01-01 00:00 UTC)),
            &headers("zzz"),
        )
        .unwrap();
        let late =
            ProjectObservationRow::new("push", None, Some(&project), None, &headers("a")).unwrap();
        assert!(early.version < late.version);
    }
}
