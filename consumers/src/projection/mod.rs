//! From raw hook records to table rows.
//!
//! A [`Batch`] collects the rows every table gets from a run of records. Projections are pure
//! functions of the record: the same hook always gives the same rows, and each table's
//! engine collapses equal keys, so a record delivered twice changes no query result. When
//! several rows describe one entity (the states of a pipeline), each carries a `version`
//! computed from the payload alone, never from arrival time or Kafka offset, so the latest
//! *state* wins whatever order GitLab delivered them in.

pub mod deployments;
pub mod issues;
pub mod jobs;
pub mod merge_request_reviews;
pub mod merge_requests;
pub mod pipelines;
pub mod pushes;
pub mod raw_hooks;
pub mod releases;
pub mod version;

use hookline_schemas::event::Family;
use hookline_schemas::payload::{self, Payload, Project, User};
use hookline_schemas::record::RecordHeaders;

pub use deployments::DeploymentRow;
pub use issues::IssueRow;
pub use jobs::JobRow;
pub use merge_request_reviews::MergeRequestReviewRow;
pub use merge_requests::{MergeRequestEventRow, MergeRequestRow};
pub use pipelines::PipelineRow;
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

/// A record no table can take; it goes to the dead-letter topic with this reason.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("body is not UTF-8 text (first invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
}

/// The rows of every table for a run of records.
#[derive(Debug, Default)]
pub struct Batch {
    pub raw_hooks: Vec<RawHookRow>,
    pub pipelines: Vec<PipelineRow>,
    pub jobs: Vec<JobRow>,
    pub merge_requests: Vec<MergeRequestRow>,
    pub merge_request_events: Vec<MergeRequestEventRow>,
    pub merge_request_reviews: Vec<MergeRequestReviewRow>,
    pub pushes: Vec<PushRow>,
    pub issues: Vec<IssueRow>,
    pub deployments: Vec<DeploymentRow>,
    pub releases: Vec<ReleaseRow>,
}

impl Batch {
    /// Adds the rows of one record, or nothing if it cannot be projected.
    ///
    /// On error the batch is left unchanged: a record is projected entirely or not at all.
    /// The typed tables are chosen by the record's event family (its `X-Gitlab-Event`) and the
    /// payload's kind together; a family without a table, or a body of another kind than its
    /// family announces, gives a `raw_hooks` row only.
    pub fn add(&mut self, message: &HookMessage) -> Result<(), ProjectionError> {
        let body = std::str::from_utf8(&message.body)
            .map_err(|error| ProjectionError::NotUtf8(error.valid_up_to()))?;
        let family = Family::from_event_header(&message.headers.event_type);
        let typed = match has_tables(family) {
            true => match payload::parse(message.body.as_slice())? {
                // GitLab's pre-8.x pushes carry no object_kind at all.
                Payload::Other { object_kind: None } if family == Family::Push => {
                    serde_json::from_str(body).ok().map(Payload::Push)
                }
                typed => Some(typed),
            },
            false => None,
        };
        // Nothing below can fail: the record is now projected entirely.
        self.raw_hooks
            .push(RawHookRow::from_message(message, family, body.to_owned()));
        let headers = &message.headers;
        match (family, typed) {
            (Family::Pipeline, Some(Payload::Pipeline(hook))) => {
                self.pipelines.push(PipelineRow::from_hook(&hook, headers));
            }
            (Family::Job, Some(Payload::Job(hook))) => {
                self.jobs.push(JobRow::from_hook(&hook, headers));
            }
            (Family::MergeRequest, Some(Payload::MergeRequest(hook))) => {
                self.merge_requests
                    .push(MergeRequestRow::from_hook(&hook, headers));
                self.merge_request_events
                    .push(MergeRequestEventRow::from_hook(&hook, headers));
                self.merge_request_reviews
                    .extend(MergeRequestReviewRow::from_merge_request(&hook, headers));
            }
            (Family::Note, Some(Payload::Note(hook))) => {
                self.merge_request_reviews
                    .extend(MergeRequestReviewRow::from_note(&hook, headers));
            }
            (Family::Push, Some(Payload::Push(hook)))
            | (Family::TagPush | Family::Push, Some(Payload::TagPush(hook))) => {
                self.pushes.push(PushRow::from_hook(&hook, headers));
            }
            (Family::Issue, Some(Payload::Issue(hook))) => {
                self.issues.push(IssueRow::from_hook(&hook, headers));
            }
            (Family::Deployment, Some(Payload::Deployment(hook))) => {
                self.deployments
                    .push(DeploymentRow::from_hook(&hook, headers));
            }
            (Family::Release, Some(Payload::Release(hook))) => {
                self.releases.push(ReleaseRow::from_hook(&hook, headers));
            }
            _ => {}
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.raw_hooks.is_empty()
    }
}

/// Whether records of the family feed a typed table (and so must fit their payload model).
fn has_tables(family: Family) -> bool {
    matches!(
        family,
        Family::Pipeline
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
    fn a_record_that_does_not_fit_its_model_adds_nothing() {
        let mut batch = Batch::default();
        let error = batch
            .add(&message(
                "Job Hook",
                br#"{"object_kind": "build", "build_id": "x"}"#,
            ))
            .unwrap_err();
        assert!(matches!(error, ProjectionError::Payload(_)), "{error}");
        assert!(batch.is_empty());
        assert!(batch.jobs.is_empty());
    }

    #[test]
    fn a_body_of_another_kind_than_its_header_says_is_kept_raw_only() {
        let mut batch = Batch::default();
        let body = br#"{"object_kind": "build", "build_id": 1, "build_status": "success"}"#;
        batch.add(&message("Pipeline Hook", body)).unwrap();
        batch.add(&message("Wiki Page Hook", body)).unwrap();
        assert_eq!(batch.raw_hooks.len(), 2);
        assert!(batch.jobs.is_empty() && batch.pipelines.is_empty());
    }

    #[test]
    fn a_job_hook_gives_a_job_row() {
        let mut batch = Batch::default();
        let body = br#"{"object_kind": "build", "build_id": 1, "build_status": "failed",
            "build_failure_reason": "script_failure", "commit": {"id": 7}}"#;
        batch.add(&message("Job Hook", body)).unwrap();
        let job = &batch.jobs[0];
        assert_eq!((job.job_id, job.pipeline_id), (1, 7));
        assert_eq!(job.failure_reason, "script_failure");
    }
}
