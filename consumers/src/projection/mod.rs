//! From raw hook records to table rows.
//!
//! A [`Batch`] collects the rows every table gets from a run of records. Projections are pure
//! functions of the record: the same hook always gives the same rows, and each table's
//! engine collapses equal keys, so a record delivered twice changes no query result. When
//! several rows describe one entity (the states of a pipeline), each carries a `version`
//! computed from the payload alone, never from arrival time or Kafka offset, so the latest
//! *state* wins whatever order GitLab delivered them in.

pub mod commits;
pub mod deployments;
pub mod instance_events;
pub mod issues;
pub mod jobs;
pub mod merge_request_reviews;
pub mod merge_requests;
pub mod pipelines;
pub mod project_observations;
pub mod push_commits;
pub mod pushes;
pub mod raw_hooks;
pub mod releases;
pub mod version;

use hookline_schemas::event::Family;
use hookline_schemas::payload::{self, Payload, Project, User};
use hookline_schemas::record::RecordHeaders;

pub use commits::CommitRow;
pub use deployments::{DeploymentEventRow, DeploymentRow};
pub use instance_events::InstanceEventRow;
pub use issues::{IssueEventRow, IssueRow};
pub use jobs::JobRow;
pub use merge_request_reviews::MergeRequestReviewRow;
pub use merge_requests::{MergeRequestEventRow, MergeRequestRow};
pub use pipelines::PipelineRow;
pub use project_observations::ProjectObservationRow;
pub use push_commits::PushCommitRow;
pub use pushes::PushRow;
pub use raw_hooks::RawHookRow;
pub use releases::ReleaseRow;

/// One record read from Kafka, with its coordinates.
#[derive(Debug, Clone)]
pub struct HookMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub headers: RecordHeaders,
    pub body: Vec<u8>,
}

/// Why a record's typed rows (or all its rows) could not be made; it goes to the dead-letter
/// topic with this reason.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("body is not UTF-8 text (first invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
    /// A defect in a projection, caught so that one record cannot stop the consumers: the
    /// process would otherwise die before committing, and every restart would meet the same
    /// record again.
    #[error("the projection panicked on this record ({0}); please report it with the record")]
    Panicked(String),
}

/// What [`Batch::add`] kept of a record.
#[derive(Debug)]
#[must_use = "a record whose typed projection failed must be dead-lettered"]
pub enum Added {
    /// Its `raw_hooks` row and every typed row.
    Complete,
    /// Its `raw_hooks` row only: the typed projection failed for this reason. The raw row is
    /// the event store that projections are rebuilt from, so it is kept whatever the typed
    /// models think of the body; the record is also dead-lettered so that someone looks.
    RawOnly(ProjectionError),
}

/// Declares the tables a batch fills, once: the [`Batch`] with one row vector per table (the
/// field is the table's name), the [`Rows`] view of a run of its records, and the walk over
/// every table that inserts use. A table added here is inserted everywhere.
macro_rules! tables {
    ($($table:ident: $row:ty),* $(,)?) => {
        /// The rows of every table for a run of records, and which record each row came from.
        #[derive(Debug, Default)]
        pub struct Batch {
            $(pub $table: Vec<$row>,)*
            /// Per record added, in order: where its rows end in every table (lengths after
            /// it was added). Lets [`Batch::records`] cut the batch by record, to isolate one
            /// that ClickHouse refuses without copying rows.
            ends: Vec<[usize; TABLES]>,
        }

        /// The rows of a run of a batch's records, borrowed: what one insert writes.
        #[derive(Debug, Clone, Copy)]
        pub struct Rows<'a> {
            $(pub $table: &'a [$row],)*
        }

        /// How many tables there are.
        const TABLES: usize = [$(stringify!($table)),*].len();

        /// Every table's name, `raw_hooks` first.
        pub const TABLE_NAMES: [&str; TABLES] = [$(stringify!($table)),*];

        impl Batch {
            fn lengths(&self) -> [usize; TABLES] {
                [$(self.$table.len()),*]
            }

            fn append(&mut self, rows: Batch) {
                $(self.$table.extend(rows.$table);)*
                self.ends.push(self.lengths());
            }

            /// The rows of records `records` (by their position in the batch).
            pub fn records(&self, records: std::ops::Range<usize>) -> Rows<'_> {
                let at = |record: usize| match record {
                    0 => [0; TABLES],
                    n => self.ends[n - 1],
                };
                let (start, end) = (at(records.start), at(records.end));
                let mut table = 0..TABLES;
                $(
                    let i = table.next().expect("one index per table");
                    let $table = &self.$table[start[i]..end[i]];
                )*
                Rows { $($table),* }
            }
        }

        impl<'a> Rows<'a> {
            /// Rows in every table together.
            pub fn len(&self) -> usize {
                0 $(+ self.$table.len())*
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Only the `raw_hooks` rows.
            pub fn raw_only(self) -> Rows<'a> {
                Rows {
                    raw_hooks: self.raw_hooks,
                    ..Rows::default()
                }
            }

            /// Hands every table's rows, named, to `writer`; stops at the first error.
            pub async fn write_to<W: TableWriter>(self, writer: &W) -> Result<(), W::Error> {
                $(writer.write(stringify!($table), self.$table).await?;)*
                Ok(())
            }
        }

        impl Default for Rows<'_> {
            fn default() -> Self {
                Self { $($table: &[],)* }
            }
        }
    };
}

tables! {
    raw_hooks: RawHookRow,
    pipelines: PipelineRow,
    jobs: JobRow,
    merge_requests: MergeRequestRow,
    merge_request_events: MergeRequestEventRow,
    merge_request_reviews: MergeRequestReviewRow,
    pushes: PushRow,
    commits: CommitRow,
    push_commits: PushCommitRow,
    issues: IssueRow,
    deployments: DeploymentRow,
    releases: ReleaseRow,
    instance_events: InstanceEventRow,
    deployment_events: DeploymentEventRow,
    issue_events: IssueEventRow,
    project_observations: ProjectObservationRow,
}

/// Where rows go: one table at a time, by name ([`Rows::write_to`]).
pub trait TableWriter {
    type Error;
    fn write<T>(
        &self,
        table: &'static str,
        rows: &[T],
    ) -> impl std::future::Future<Output = Result<(), Self::Error>>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite;
}

impl Batch {
    /// Adds the rows of one record.
    ///
    /// Every record with a UTF-8 body gets its `raw_hooks` row; its typed rows are added only
    /// if all of them could be made ([`Added::RawOnly`] otherwise, with the reason). A body
    /// that is not UTF-8 adds nothing (`Err`). Never panics: a panic inside a typed projection
    /// is caught and reported as [`ProjectionError::Panicked`].
    ///
    /// The typed tables are chosen by the record's event family (its `X-Gitlab-Event`) and the
    /// payload's kind together; a body of another kind than its family announces gives a
    /// `raw_hooks` row only, and a family without a table its `raw_hooks` row and, if it
    /// names its project, a `project_observations` row.
    pub fn add(&mut self, message: &HookMessage) -> Result<Added, ProjectionError> {
        let body = std::str::from_utf8(&message.body)
            .map_err(|error| ProjectionError::NotUtf8(error.valid_up_to()))?;
        let family = Family::from_event_header(&message.headers.event_type);
        let typed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            project_typed(family, message, body)
        }))
        .unwrap_or_else(|panic| Err(ProjectionError::Panicked(panic_message(&panic))));
        let (mut rows, added) = match typed {
            Ok(rows) => (rows, Added::Complete),
            Err(error) => (Batch::default(), Added::RawOnly(error)),
        };
        rows.raw_hooks
            .push(RawHookRow::from_message(message, family, body.to_owned()));
        self.append(rows);
        Ok(added)
    }

    /// Records added so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every row of the batch.
    pub fn all(&self) -> Rows<'_> {
        self.records(0..self.len())
    }
}

/// The typed rows of one record, in a batch of their own so that a failure or a panic
/// half-way leaves the real batch untouched.
fn project_typed(
    family: Family,
    message: &HookMessage,
    body: &str,
) -> Result<Batch, ProjectionError> {
    let mut rows = Batch::default();
    let headers = &message.headers;
    if !has_tables(family) {
        // No model reads these kinds (wiki pages, feature flags, emoji, …), but most name
        // their project: the `projects` dimension takes what they say, and nothing else does.
        // Read tolerantly, so they still never fail.
        rows.project_observations.extend(
            payload::parse_project_mention(body.as_bytes())
                .and_then(|mention| ProjectObservationRow::from_mention(&mention, headers)),
        );
        return Ok(rows);
    }
    let typed = match payload::parse(message.body.as_slice())? {
        // GitLab's pre-8.x pushes carry no object_kind at all.
        Payload::Other { object_kind: None } if family == Family::Push => {
            serde_json::from_str(body).ok().map(Payload::Push)
        }
        typed => Some(typed),
    };
    // A system hook says `System Hook` whatever it describes: its body's kind picks the tables,
    // so a merge request or a push seen through Admin → System hooks lands where the same event
    // from a project or group hook does, and collapses with it. Instance events (projects,
    // groups, users, members) go to `instance_events`.
    let family = match (family, &typed) {
        (Family::System, Some(payload)) => payload.family().unwrap_or(Family::System),
        _ => family,
    };
    // Every hook that names its project (with its id) is also an observation of it, for the
    // `projects` dimension: at most one per hook.
    let observations = &mut rows.project_observations;
    match (family, typed) {
        // A repository update accompanies a push event, which `pushes` already has; it only
        // observes its project.
        (Family::System, Some(Payload::Other { object_kind }))
            if object_kind.as_deref() == Some("repository_update") =>
        {
            observations.extend(
                payload::parse_project_mention(message.body.as_slice())
                    .and_then(|mention| ProjectObservationRow::from_mention(&mention, headers)),
            );
        }
        (Family::System, Some(Payload::Other { .. })) => {
            let event = payload::parse_instance_event(message.body.as_slice())?;
            rows.instance_events
                .push(InstanceEventRow::from_event(&event, headers));
            observations.extend(ProjectObservationRow::from_instance_event(&event, headers));
        }
        (Family::Pipeline, Some(Payload::Pipeline(hook))) => {
            rows.pipelines.push(PipelineRow::from_hook(&hook, headers));
            rows.commits
                .extend(CommitRow::from_pipeline(&hook, headers));
            observations.extend(ProjectObservationRow::from_pipeline(&hook, headers));
        }
        (Family::Job, Some(Payload::Job(hook))) => {
            rows.jobs.push(JobRow::from_hook(&hook, headers));
            observations.extend(ProjectObservationRow::from_job(&hook, headers));
        }
        (Family::MergeRequest, Some(Payload::MergeRequest(hook))) => {
            rows.merge_requests
                .push(MergeRequestRow::from_hook(&hook, headers));
            rows.merge_request_events
                .push(MergeRequestEventRow::from_hook(&hook, headers));
            rows.merge_request_reviews
                .extend(MergeRequestReviewRow::from_merge_request(&hook, headers));
            rows.commits
                .extend(CommitRow::from_merge_request(&hook, headers));
            observations.extend(ProjectObservationRow::from_merge_request(&hook, headers));
        }
        (Family::Note, Some(Payload::Note(hook))) => {
            rows.merge_request_reviews
                .extend(MergeRequestReviewRow::from_note(&hook, headers));
            observations.extend(ProjectObservationRow::from_note(&hook, headers));
        }
        (Family::Push, Some(Payload::Push(hook)))
        | (Family::TagPush | Family::Push, Some(Payload::TagPush(hook))) => {
            rows.pushes.push(PushRow::from_hook(&hook, headers));
            rows.commits.extend(CommitRow::from_push(&hook, headers));
            rows.push_commits
                .extend(PushCommitRow::from_push(&hook, headers));
            observations.extend(ProjectObservationRow::from_push(&hook, headers));
        }
        (Family::Issue, Some(Payload::Issue(hook))) => {
            rows.issues.push(IssueRow::from_hook(&hook, headers));
            rows.issue_events
                .push(IssueEventRow::from_hook(&hook, headers));
            observations.extend(ProjectObservationRow::from_issue(&hook, headers));
        }
        (Family::Deployment, Some(Payload::Deployment(hook))) => {
            rows.deployments
                .push(DeploymentRow::from_hook(&hook, headers));
            rows.deployment_events
                .push(DeploymentEventRow::from_hook(&hook, headers));
            observations.extend(ProjectObservationRow::from_deployment(&hook, headers));
        }
        (Family::Release, Some(Payload::Release(hook))) => {
            rows.releases.push(ReleaseRow::from_hook(&hook, headers));
            observations.extend(ProjectObservationRow::from_release(&hook, headers));
        }
        _ => {}
    }
    Ok(rows)
}

/// Record headers as ingest writes them, with what a projection's unit tests vary: the event
/// type, the event id (the version's tie-break) and the receipt time.
#[cfg(test)]
pub(crate) fn test_headers(event_type: &str, event_id: &str, received_at_ms: i64) -> RecordHeaders {
    RecordHeaders {
        event_type: event_type.to_owned(),
        event_id: event_id.to_owned(),
        delivery_key: None,
        received_at_ms,
        gitlab_instance: None,
        source: None,
        gitlab_version: None,
    }
}

/// The message a panic carried, when it is text.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Whether records of the family feed a typed table (and so must fit their payload model).
fn has_tables(family: Family) -> bool {
    matches!(
        family,
        Family::System
            | Family::Pipeline
            | Family::Job
            | Family::MergeRequest
            | Family::Note
            | Family::Push
            | Family::TagPush
            | Family::Issue
            | Family::Deployment
            | Family::Release
    )
}

/// The project id: the payload's own `project_id` field if it has one, else `project.id`;
/// 0 when neither is sent (GitLab's older documentation examples).
pub(crate) fn project_id(own: Option<u64>, project: Option<&Project>) -> u64 {
    own.or(project.and_then(|p| p.id)).unwrap_or_default()
}

/// `project.path_with_namespace`, empty when the payload has no project.
pub(crate) fn project_path(project: Option<&Project>) -> String {
    project
        .map(|p| p.path_with_namespace.clone())
        .unwrap_or_default()
}

/// `user.username`, empty when the payload has no user.
pub(crate) fn username(user: Option<&User>) -> String {
    user.map(|u| u.username.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event_type: &str, body: &[u8]) -> HookMessage {
        HookMessage {
            topic: "gitlab.test".to_owned(),
            partition: 0,
            offset: 0,
            key: "1".to_owned(),
            headers: RecordHeaders {
                event_type: event_type.to_owned(),
                event_id: "e".to_owned(),
                delivery_key: None,
                received_at_ms: 0,
                gitlab_instance: None,
                source: None,
                gitlab_version: None,
            },
            body: body.to_vec(),
        }
    }

    #[test]
    fn system_hooks_feed_the_tables_of_what_their_body_describes() {
        // Admin → System hooks sends every event as `System Hook`; merge requests and pushes
        // come in the shapes project hooks use (a push with `event_name` and no
        // `object_kind`), and must land in the same tables, with the same rows.
        let merge_request =
            include_bytes!("../../../schemas/fixtures/gitlab-webhooks/merge_request.json");
        let push = br#"{"event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/master","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_id":4,"user_name":"John Smith","user_email":"john@example.com","project_id":15,"project":{"path_with_namespace":"mike/diaspora"},"commits":[],"total_commits_count":4}"#;
        let tag_push = br#"{"event_name":"tag_push","before":"0000000000000000000000000000000000000000","after":"82b3d5ae55f7080f1e6022629cdb57bfae7cccc7","ref":"refs/tags/v1.0.0","checkout_sha":"5937ac0a7beb003549fc5fd26fc247adbce4a52e","user_id":1,"user_name":"John Smith","project_id":1,"project":{"path_with_namespace":"jsmith/example"},"commits":[],"total_commits_count":0}"#;
        for (project_event, body) in [
            ("Merge Request Hook", &merge_request[..]),
            ("Push Hook", &push[..]),
            ("Tag Push Hook", &tag_push[..]),
        ] {
            let mut through_project = Batch::default();
            let mut through_system = Batch::default();
            assert!(matches!(
                through_project.add(&message(project_event, body)).unwrap(),
                Added::Complete
            ));
            let added = through_system.add(&message("System Hook", body)).unwrap();
            assert!(
                matches!(added, Added::Complete),
                "{project_event}: {added:?}"
            );
            assert_eq!(
                (
                    through_system.merge_requests.len(),
                    through_system.pushes.len()
                ),
                (
                    through_project.merge_requests.len(),
                    through_project.pushes.len()
                ),
                "{project_event}"
            );
            assert_eq!(
                format!(
                    "{:?}",
                    (
                        &through_system.merge_requests,
                        &through_system.merge_request_events,
                        &through_system.pushes,
                        &through_system.commits
                    )
                ),
                format!(
                    "{:?}",
                    (
                        &through_project.merge_requests,
                        &through_project.merge_request_events,
                        &through_project.pushes,
                        &through_project.commits
                    )
                ),
                "{project_event}"
            );
        }
        // Instance events go to `instance_events`, whichever names their fields carry.
        let mut admin = Batch::default();
        let renamed = br#"{"created_at":"2012-07-21T07:30:58Z","updated_at":"2012-07-21T07:38:22Z","event_name":"project_rename","name":"Underscore","path":"underscore","path_with_namespace":"jsmith/underscore","project_id":73,"owner_name":"John Smith","owner_email":"johnsmith@example.com","project_visibility":"internal","old_path_with_namespace":"jsmith/overscore"}"#;
        let member = br#"{"created_at":"2012-07-21T07:30:56Z","updated_at":"2012-07-21T07:38:22Z","event_name":"user_add_to_group","group_access":"Maintainer","group_id":78,"group_name":"StoreCloud","group_path":"storecloud","user_email":"johnsmith@example.com","user_name":"John Smith","user_username":"johnsmith","user_id":41}"#;
        let subgroup = include_bytes!("../../../schemas/fixtures/gitlab-webhooks/subgroup.json");
        let update = br#"{"event_name":"repository_update","user_id":1,"project_id":1,"changes":[{"before":"8205ea8d81ce0c6b90fbe8280d118cc9fdad6130","after":"4045ea7a3df38697b3730a20fb73c8bed8a3e69e","ref":"refs/heads/master"}],"refs":["refs/heads/master"]}"#;
        for body in [&renamed[..], member, subgroup, update] {
            assert!(matches!(
                admin.add(&message("System Hook", body)).unwrap(),
                Added::Complete
            ));
        }
        assert_eq!((admin.raw_hooks.len(), admin.len()), (4, 4));
        assert!(admin.merge_requests.is_empty() && admin.pushes.is_empty());
        let seen: Vec<_> = admin
            .instance_events
            .iter()
            .map(|row| {
                (
                    row.event_name.as_str(),
                    row.project_id,
                    row.project_path.as_str(),
                    row.old_project_path.as_str(),
                    row.group_id,
                    row.group_path.as_str(),
                    row.user_username.as_str(),
                    row.access_level.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "project_rename",
                    Some(73),
                    "jsmith/underscore",
                    "jsmith/overscore",
                    None,
                    "",
                    "",
                    ""
                ),
                (
                    "user_add_to_group",
                    None,
                    "",
                    "",
                    Some(78),
                    "storecloud",
                    "johnsmith",
                    "Maintainer"
                ),
                (
                    "subgroup_create",
                    None,
                    "",
                    "",
                    Some(2),
                    "group-1/subgroup-1",
                    "",
                    ""
                ),
            ]
        );
        assert!(admin.instance_events[0].updated_at.is_some());
        // The rename and the repository update observe their project; group events and group
        // memberships name none.
        let observed: Vec<_> = admin
            .project_observations
            .iter()
            .map(|row| (row.project_id, row.event_name.as_str(), row.path.as_str()))
            .collect();
        assert_eq!(
            observed,
            vec![
                (73, "project_rename", "jsmith/underscore"),
                (1, "repository_update", "")
            ]
        );
    }

    #[test]
    fn hooks_of_kinds_without_tables_observe_their_project_and_never_fail() {
        let mut batch = Batch::default();
        let wiki = include_bytes!("../../../schemas/fixtures/gitlab-webhooks/wiki_page.json");
        let flag = include_bytes!("../../../schemas/fixtures/gitlab-webhooks/feature_flag.json");
        for (event, body) in [
            ("Wiki Page Hook", &wiki[..]),
            ("Feature Flag Hook", flag),
            // A project of the wrong shape, a body that is no object: no observation.
            (
                "Emoji Hook",
                br#"{"object_kind": "emoji", "project": {"id": "x"}}"#,
            ),
            ("Emoji Hook", br#"[{"project": {"id": 3}}]"#),
        ] {
            assert!(
                matches!(batch.add(&message(event, body)).unwrap(), Added::Complete),
                "{event}"
            );
        }
        assert_eq!(batch.raw_hooks.len(), 4);
        let observed: Vec<_> = batch
            .project_observations
            .iter()
            .map(|row| {
                (
                    row.project_id,
                    row.event_name.as_str(),
                    row.path.as_str(),
                    row.default_branch.as_str(),
                )
            })
            .collect();
        assert_eq!(
            observed,
            vec![
                (1, "wiki_page", "root/awesome-project", "master"),
                (1, "feature_flag", "gitlabhq/gitlab-test", "master"),
            ]
        );
    }

    #[test]
    fn every_typed_hook_with_a_project_id_observes_its_project() {
        let mut batch = Batch::default();
        for (event, file) in [
            ("Pipeline Hook", "gitlab-webhooks/pipeline.json"),
            ("Job Hook", "gitlab-webhooks/job.json"),
            ("Merge Request Hook", "gitlab-webhooks/merge_request.json"),
            ("Note Hook", "gitlab-webhooks/note_commit.json"),
            ("Push Hook", "gitlab-webhooks/push.json"),
            ("Tag Push Hook", "gitlab-webhooks/tag_push.json"),
            ("Issue Hook", "gitlab-webhooks/issue.json"),
            ("Deployment Hook", "gitlab-webhooks/deployment.json"),
            ("Release Hook", "gitlab-webhooks/release.json"),
            // No project id anywhere: GitLab 8's pipeline example.
            ("Pipeline Hook", "seeds/pipeline_hook.json"),
        ] {
            let body = hookline_schemas::testing::fixtures::read(file);
            assert!(
                matches!(batch.add(&message(event, &body)).unwrap(), Added::Complete),
                "{file}"
            );
        }
        let observed: Vec<_> = batch
            .project_observations
            .iter()
            .map(|row| (row.project_id, row.event_name.as_str()))
            .collect();
        assert_eq!(
            observed,
            vec![
                (1, "pipeline"),
                (31537070, "build"),
                (14, "merge_request"),
                (5, "note"),
                (15, "push"),
                (1, "tag_push"),
                (14, "issue"),
                (30, "deployment"),
                (327622, "release"),
            ]
        );
    }

    #[test]
    fn a_record_that_does_not_fit_its_model_keeps_its_raw_row_only() {
        let mut batch = Batch::default();
        let added = batch
            .add(&message(
                "Job Hook",
                br#"{"object_kind": "build", "build_id": "x"}"#,
            ))
            .unwrap();
        assert!(
            matches!(added, Added::RawOnly(ProjectionError::Payload(_))),
            "{added:?}"
        );
        assert_eq!(batch.raw_hooks.len(), 1);
        assert!(batch.jobs.is_empty());
    }

    #[test]
    fn a_body_that_is_not_utf8_adds_nothing() {
        let mut batch = Batch::default();
        let error = batch
            .add(&message("Job Hook", b"{\"a\":\"\xff\"}"))
            .unwrap_err();
        assert!(matches!(error, ProjectionError::NotUtf8(6)), "{error}");
        assert!(batch.is_empty() && batch.raw_hooks.is_empty());
    }

    #[test]
    fn a_timestamp_beyond_year_9999_in_any_field_is_no_panic() {
        // In UTC this is year 10000: converting it used to panic inside the projection, and
        // the consumers died before committing, on every restart.
        let late = "9999-12-31T23:30:00-01:00";
        let bodies = [
            (
                "Push Hook",
                format!(
                    r#"{{"object_kind":"push","before":"a","after":"b","ref":"refs/heads/m","commits":[{{"id":"c","timestamp":"{late}"}}]}}"#
                ),
            ),
            (
                "Job Hook",
                format!(
                    r#"{{"object_kind":"build","build_id":1,"build_status":"failed","build_finished_at":"{late}","build_created_at":"{late}"}}"#
                ),
            ),
            (
                "Pipeline Hook",
                format!(
                    r#"{{"object_kind":"pipeline","object_attributes":{{"id":1,"status":"success","created_at":"{late}","finished_at":"{late}"}}}}"#
                ),
            ),
            (
                "Merge Request Hook",
                format!(
                    r#"{{"object_kind":"merge_request","object_attributes":{{"id":1,"iid":1,"state":"opened","updated_at":"{late}","created_at":"{late}"}}}}"#
                ),
            ),
        ];
        for (event, body) in bodies {
            let mut batch = Batch::default();
            let added = batch.add(&message(event, body.as_bytes())).unwrap();
            assert!(matches!(added, Added::Complete), "{event}: {added:?}");
            assert_eq!(batch.raw_hooks.len(), 1);
        }
    }

    #[test]
    fn records_cut_the_batch_by_record() {
        let mut batch = Batch::default();
        let job = br#"{"object_kind": "build", "build_id": 1, "build_status": "failed"}"#;
        let other = br#"{"object_kind": "wiki_page"}"#;
        for (event, body) in [
            ("Job Hook", &job[..]),
            ("Wiki Page Hook", other),
            ("Job Hook", job),
        ] {
            let _ = batch.add(&message(event, body)).unwrap();
        }
        assert_eq!(batch.len(), 3);
        let middle = batch.records(1..2);
        assert_eq!((middle.raw_hooks.len(), middle.jobs.len()), (1, 0));
        let last = batch.records(2..3);
        assert_eq!((last.raw_hooks.len(), last.jobs.len()), (1, 1));
        assert_eq!(last.raw_only().jobs.len(), 0);
        assert_eq!(batch.all().jobs.len(), 2);
        assert_eq!(batch.records(0..0).raw_hooks.len(), 0);
    }

    #[test]
    fn a_body_of_another_kind_than_its_header_says_is_kept_raw_only() {
        let mut batch = Batch::default();
        let body = br#"{"object_kind": "build", "build_id": 1, "build_status": "success"}"#;
        assert!(matches!(
            batch.add(&message("Pipeline Hook", body)).unwrap(),
            Added::Complete
        ));
        assert!(matches!(
            batch.add(&message("Wiki Page Hook", body)).unwrap(),
            Added::Complete
        ));
        assert_eq!(batch.raw_hooks.len(), 2);
        assert!(batch.jobs.is_empty() && batch.pipelines.is_empty());
    }

    #[test]
    fn a_job_hook_gives_a_job_row() {
        let mut batch = Batch::default();
        let body = br#"{"object_kind": "build", "build_id": 1, "build_status": "failed",
            "build_failure_reason": "script_failure", "commit": {"id": 7}}"#;
        assert!(matches!(
            batch.add(&message("Job Hook", body)).unwrap(),
            Added::Complete
        ));
        let job = &batch.jobs[0];
        assert_eq!((job.job_id, job.pipeline_id), (1, 7));
        assert_eq!(job.failure_reason, "script_failure");
    }
}
