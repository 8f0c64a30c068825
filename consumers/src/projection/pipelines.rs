//! `pipelines`: the latest state of every pipeline.
//!
//! GitLab sends a Pipeline Hook on every status change, in no guaranteed order, and a pipeline
//! can run again after finishing (a manual or retried job). The row's `version` orders states
//! by what the payload says happened, so the table converges on the right state whatever the
//! arrival order:
//!
//! 1. `finished_at` first: a later finish is a later state, so a pipeline that finished, ran
//!    again and finished again ends in its second final status;
//! 2. then the status's place in the lifecycle (created < pending < running < finished), so a
//!    late `running` hook never replaces `success`.
//!
//! Beside its state, a row says what the pipeline ran for (a branch, a tag or a merge request,
//! and on the merge request's merged result or not: [`Kind`]), which pipeline triggered it,
//! whether it ran for the default branch, and when it started ([`started_at`]): links the
//! payload gives only indirectly, derived here once so that every query agrees on them.

use clickhouse::Row;
use hookline_schemas::payload::{PipelineAttributes, PipelineBuild, PipelineHook};
use hookline_schemas::record::RecordHeaders;
use hookline_schemas::timestamp::{EARLIEST, LATEST};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::{versioned, Precedence};
use super::{project_id, project_path, username};

/// A row of `pipelines` (DDL: `schemas/migrations/0002_pipelines.sql`, columns added by
/// `0011_pipelines_jobs_v2.sql`). The fields are in the table's column order.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PipelineRow {
    pub project_id: u64,
    pub project_path: String,
    pub pipeline_id: u64,
    pub pipeline_iid: Option<u64>,
    /// The pipeline's name (`workflow:name`), to group pipelines as their authors named them;
    /// `None` when not set or not sent.
    pub name: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub tag: bool,
    pub sha: String,
    /// When the pipeline's commit was committed, the start of a change's lead time; `None`
    /// when the payload has no commit time.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub commit_timestamp: Option<OffsetDateTime>,
    pub source: String,
    /// `branch`, `tag` or `merge_request` ([`Kind`]), to tell merge request pipelines from
    /// branch pipelines; empty when the payload cannot tell.
    pub pipeline_kind: String,
    /// For merge request pipelines, whether it ran on the merged result of source and target
    /// (merged results and merge train pipelines) rather than the source branch's head;
    /// `None` when the payload does not say, and for other pipelines.
    pub merged_results: Option<bool>,
    /// The merge request a merge request pipeline ran for, to join `merge_requests`.
    pub merge_request_iid: Option<u64>,
    /// That merge request's project (its target project): a fork's merge request pipeline runs
    /// in the fork, but the merge request and its number belong to the target.
    pub merge_request_project_id: Option<u64>,
    /// The upstream pipeline's project, for child and multi-project pipelines.
    pub upstream_project_id: Option<u64>,
    /// The upstream project's path; empty when not sent.
    pub upstream_project_path: String,
    /// The pipeline that triggered this one, to follow a chain of pipelines to its start.
    pub upstream_pipeline_id: Option<u64>,
    /// The trigger job in the upstream pipeline.
    pub upstream_job_id: Option<u64>,
    /// Whether the pipeline ran for the project's default branch, where success rates and
    /// deployments are usually measured; `None` when the payload does not name the default
    /// branch.
    pub on_default_branch: Option<bool>,
    pub status: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub created_at: OffsetDateTime,
    /// When the pipeline (last) started running, derived as [`started_at`] says: pipeline
    /// payloads carry no start time, and `created_at` includes the wait for runners.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub started_at: Option<OffsetDateTime>,
    /// What `started_at` was derived from ([`StartedAt::source`]); empty when it is unknown.
    pub started_at_source: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_seconds: Option<f64>,
    pub queued_duration_seconds: Option<f64>,
    pub user_username: String,
    pub version: u64,
    pub event_id: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

impl PipelineRow {
    pub fn from_hook(hook: &PipelineHook, headers: &RecordHeaders) -> Self {
        let attributes = &hook.object_attributes;
        let project = hook.project.as_ref();
        let project_id = project_id(None, project);
        let kind = Kind::of(hook);
        let upstream = hook.source_pipeline.as_ref();
        let upstream_project = upstream.and_then(|u| u.project.as_ref());
        let started = started_at(attributes, &hook.builds);
        Self {
            // GitLab's documentation example has no project id; 0 marks "not sent".
            project_id,
            project_path: project_path(project),
            pipeline_id: attributes.id,
            pipeline_iid: attributes.iid,
            name: attributes.name.clone().filter(|name| !name.is_empty()),
            git_ref: attributes.git_ref.clone(),
            tag: attributes.tag,
            sha: attributes.sha.clone(),
            commit_timestamp: hook.commit.as_ref().and_then(|c| c.timestamp),
            source: attributes.source.clone().unwrap_or_default(),
            pipeline_kind: kind.name().to_owned(),
            merged_results: kind.merged_results(),
            merge_request_iid: kind.merge_request_iid(),
            // A pipeline on a `refs/merge-requests/…` ref ran in the repository holding that
            // ref: the merge request's own (target) project.
            merge_request_project_id: hook
                .merge_request
                .as_ref()
                .and_then(|mr| mr.target_project_id)
                .or_else(|| match kind {
                    Kind::MergeRequest { from_ref: true, .. } => project.and_then(|p| p.id),
                    _ => None,
                }),
            upstream_project_id: upstream_project.and_then(|p| p.id),
            upstream_project_path: upstream_project
                .map(|p| p.path_with_namespace.clone())
                .unwrap_or_default(),
            upstream_pipeline_id: upstream.and_then(|u| u.pipeline_id),
            upstream_job_id: upstream.and_then(|u| u.job_id),
            on_default_branch: on_default_branch(hook, &kind),
            status: attributes.status.clone(),
            // Every pipeline hook carries created_at; the epoch marks a payload that did not.
            created_at: attributes.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            started_at: started.map(|s| s.at),
            started_at_source: started.map(|s| s.source).unwrap_or_default().to_owned(),
            finished_at: attributes.finished_at,
            duration_seconds: attributes.duration,
            queued_duration_seconds: attributes.queued_duration,
            user_username: username(hook.user.as_ref()),
            version: version(&attributes.status, attributes.finished_at).version(headers),
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        }
    }
}

/// What a pipeline ran for.
///
/// GitLab's payloads say it only indirectly: `source` is `merge_request_event` for merge
/// request pipelines, which also carry a `merge_request` object in newer versions, and so may
/// their child pipelines. The `ref` says more on GitLab 11.x from 11.10 only: there a merge
/// request pipeline's ref is `refs/merge-requests/<iid>/head` (the source branch's head,
/// a "detached" pipeline), `/merge` (merged results) or `/train` (a merge train, also on a
/// merged result). From GitLab 12.0 the ref is the source branch's name whatever ran, so
/// whether a merge request pipeline ran on the merged result is unknown there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A tag pipeline (`tag`).
    Tag,
    /// A pipeline for a merge request: `merged_results` when the ref says which, and the
    /// merge request's number when the payload gives it (`merge_request.iid`, else the ref's).
    MergeRequest {
        iid: Option<u64>,
        merged_results: Option<bool>,
        /// Whether the ref is a `refs/merge-requests/…` one.
        from_ref: bool,
    },
    /// Any other pipeline with a `source` (push, schedule, web, API, trigger, a child or
    /// downstream pipeline of a branch pipeline, an external pull request's branch): it ran on
    /// a branch.
    Branch,
    /// No `source`, no merge request and not a tag: an older GitLab's pipeline, possibly
    /// for a merge request on its source branch.
    Unknown,
}

impl Kind {
    /// The kind of the pipeline `hook` describes.
    pub fn of(hook: &PipelineHook) -> Kind {
        let attributes = &hook.object_attributes;
        let source = attributes.source.as_deref().unwrap_or_default();
        let by_ref = merge_request_ref(&attributes.git_ref);
        let iid = hook.merge_request.as_ref().and_then(|mr| mr.iid);
        if attributes.tag {
            Kind::Tag
        } else if let Some((ref_iid, merged_results)) = by_ref {
            Kind::MergeRequest {
                iid: iid.or(Some(ref_iid)),
                merged_results,
                from_ref: true,
            }
        } else if hook.merge_request.is_some() || source == "merge_request_event" {
            Kind::MergeRequest {
                iid,
                merged_results: None,
                from_ref: false,
            }
        } else if !source.is_empty() {
            Kind::Branch
        } else {
            Kind::Unknown
        }
    }

    /// The `pipeline_kind` column's value.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::MergeRequest { .. } => "merge_request",
            Kind::Branch => "branch",
            Kind::Unknown => "",
        }
    }

    fn merged_results(&self) -> Option<bool> {
        match self {
            Kind::MergeRequest { merged_results, .. } => *merged_results,
            _ => None,
        }
    }

    fn merge_request_iid(&self) -> Option<u64> {
        match self {
            Kind::MergeRequest { iid, .. } => *iid,
            _ => None,
        }
    }
}

/// A merge request ref, `refs/merge-requests/<iid>/<head|merge|train>`: the merge request's
/// number, and whether the pipeline ran on the merged result (`merge`, `train`) or the source
/// branch's head (`head`; `None` for a suffix GitLab may add later).
fn merge_request_ref(git_ref: &str) -> Option<(u64, Option<bool>)> {
    let (iid, suffix) = git_ref
        .strip_prefix("refs/merge-requests/")?
        .split_once('/')?;
    let merged_results = match suffix {
        "head" => Some(false),
        "merge" | "train" => Some(true),
        _ => None,
    };
    Some((iid.parse().ok()?, merged_results))
}

/// Whether the pipeline ran for its project's default branch: never for a tag or a merge
/// request pipeline (whose ref names the source branch, perhaps a fork's branch of the same
/// name); otherwise whether the ref is `project.default_branch`, unknown without it.
fn on_default_branch(hook: &PipelineHook, kind: &Kind) -> Option<bool> {
    match kind {
        Kind::Tag | Kind::MergeRequest { .. } => Some(false),
        Kind::Branch | Kind::Unknown => {
            let default = hook.project.as_ref()?.default_branch.as_deref()?;
            (!default.is_empty()).then(|| hook.object_attributes.git_ref == default)
        }
    }
}

/// A pipeline's start and what it was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedAt {
    pub at: OffsetDateTime,
    /// `queued_duration`, `builds` or `duration`.
    pub source: &'static str,
}

/// When the pipeline started running, from the first of:
///
/// 1. `created_at + queued_duration` (`queued_duration`): GitLab computes `queued_duration` as
///    its own `started_at - created_at` in whole seconds, so this is the pipeline's start to
///    the second. GitLab sends no `queued_duration` while the pipeline has not started, nor
///    when it started within its first second, nor on older GitLab versions;
/// 2. the earliest `builds[].started_at` (`builds`): the first job's start. `builds` lists only
///    the latest try of each job, so a retried first job makes this later than the start;
/// 3. `finished_at - duration` (`duration`): `duration` is the time jobs were running, not
///    the wall time, so this is the latest the pipeline can have started.
///
/// `None` when none applies (a pipeline that has not started, an old payload without jobs),
/// and when the result would lie outside the times ClickHouse stores.
pub fn started_at(attributes: &PipelineAttributes, builds: &[PipelineBuild]) -> Option<StartedAt> {
    let queued = attributes
        .created_at
        .zip(attributes.queued_duration)
        .and_then(|(created, queued)| shifted(created, queued, Direction::Later));
    let first_job = builds.iter().filter_map(|build| build.started_at).min();
    let running = attributes
        .finished_at
        .zip(attributes.duration)
        .and_then(|(finished, duration)| shifted(finished, duration, Direction::Earlier));
    [
        (queued, "queued_duration"),
        (first_job, "builds"),
        (running, "duration"),
    ]
    .into_iter()
    .find_map(|(at, source)| at.map(|at| StartedAt { at, source }))
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Earlier,
    Later,
}

/// `time` moved by `seconds`, if that is a duration (a negative one is no payload GitLab
/// sends) and the result a time ClickHouse stores.
fn shifted(time: OffsetDateTime, seconds: f64, direction: Direction) -> Option<OffsetDateTime> {
    if seconds.is_sign_negative() {
        return None;
    }
    let span = time::Duration::checked_seconds_f64(seconds)?;
    let moved = match direction {
        Direction::Earlier => time.checked_sub(span),
        Direction::Later => time.checked_add(span),
    }?;
    (EARLIEST..=LATEST).contains(&moved).then_some(moved)
}

/// Orders the states of one pipeline: `finished_at` (seconds), then the lifecycle rank (see [`super::version`]).
pub fn version(status: &str, finished_at: Option<OffsetDateTime>) -> Precedence {
    versioned(finished_at, lifecycle_rank(status))
}

/// A pipeline status's place in GitLab's pipeline lifecycle; unknown statuses rank lowest.
fn lifecycle_rank(status: &str) -> u8 {
    match status {
        "created" => 1,
        "waiting_for_resource" => 2,
        "preparing" => 3,
        "waiting_for_callback" => 4,
        "scheduled" => 4,
        "pending" => 5,
        "running" => 6,
        "manual" => 7,
        "canceling" => 8,
        "success" | "failed" | "canceled" | "skipped" => 9,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;
    use serde_json::{json, Value};
    use time::macros::datetime;

    /// The row of a fixture, changed by `change` first.
    fn row(file: &str, change: impl FnOnce(&mut Value)) -> PipelineRow {
        let mut body: Value = serde_json::from_slice(&fixtures::read(file)).unwrap();
        change(&mut body);
        let Payload::Pipeline(hook) = payload::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
        else {
            panic!("{file} is not a pipeline hook")
        };
        let headers = RecordHeaders {
            event_type: "Pipeline Hook".to_owned(),
            event_id: "e".to_owned(),
            delivery_key: None,
            received_at_ms: 1_900_000_000_000,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        };
        PipelineRow::from_hook(&hook, &headers)
    }

    const EXAMPLE: &str = "gitlab-webhooks/pipeline.json";
    /// GitLab 8.x's example: no `source`, `merge_request`, `source_pipeline` or durations
    /// but `duration`.
    const OLD: &str = "seeds/pipeline_hook.json";

    /// Sets (or adds) the field at `pointer`.
    fn set(body: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(key.to_owned(), value);
    }

    fn remove(body: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .remove(key)
            .unwrap();
    }

    #[test]
    fn the_name_is_workflow_name_and_unknown_when_not_sent() {
        let named = row(EXAMPLE, |b| {
            set(b, "/object_attributes/name", json!("Nightly"));
        });
        assert_eq!(named.name.as_deref(), Some("Nightly"));
        assert_eq!(row(EXAMPLE, |_| {}).name, None);
        assert_eq!(
            row(EXAMPLE, |b| set(b, "/object_attributes/name", Value::Null)).name,
            None
        );
    }

    #[test]
    fn a_merge_request_pipeline_names_its_merge_request() {
        let example = row(EXAMPLE, |_| {});
        assert_eq!(example.pipeline_kind, "merge_request");
        assert_eq!(example.merge_request_iid, Some(1));
        assert_eq!(example.merge_request_project_id, Some(1));
        // GitLab 12.0+ sends the source branch as ref: merged results or not is unknown.
        assert_eq!(example.merged_results, None);

        let old = row(OLD, |_| {});
        assert_eq!(old.pipeline_kind, "");
        assert_eq!(
            (
                old.merge_request_iid,
                old.merge_request_project_id,
                old.merged_results
            ),
            (None, None, None)
        );
    }

    #[test]
    fn a_merge_request_ref_says_whether_the_pipeline_ran_on_the_merged_result() {
        // GitLab 11.10's payloads: the merge request's ref, no `source`, no `merge_request`.
        for (suffix, merged) in [("head", false), ("merge", true), ("train", true)] {
            let r = row(EXAMPLE, |b| {
                set(
                    b,
                    "/object_attributes/ref",
                    json!(format!("refs/merge-requests/7/{suffix}")),
                );
                remove(b, "/object_attributes/source");
                remove(b, "/merge_request");
            });
            assert_eq!(r.pipeline_kind, "merge_request", "{suffix}");
            assert_eq!(r.merged_results, Some(merged), "{suffix}");
            assert_eq!(r.merge_request_iid, Some(7), "{suffix}");
            // The ref lives in the merge request's target project, where the pipeline ran.
            assert_eq!(r.merge_request_project_id, Some(1), "{suffix}");
        }
        let odd = row(EXAMPLE, |b| {
            set(
                b,
                "/object_attributes/ref",
                json!("refs/merge-requests/7/other"),
            );
        });
        assert_eq!(
            (odd.pipeline_kind.as_str(), odd.merged_results),
            ("merge_request", None)
        );
    }

    #[test]
    fn branch_and_tag_pipelines_have_no_merge_request() {
        let branch = row(EXAMPLE, |b| {
            set(b, "/object_attributes/source", json!("push"));
            set(b, "/merge_request", Value::Null);
        });
        assert_eq!(branch.pipeline_kind, "branch");
        assert_eq!(
            (
                branch.merge_request_iid,
                branch.merge_request_project_id,
                branch.merged_results
            ),
            (None, None, None)
        );
        let tag = row(EXAMPLE, |b| {
            set(b, "/object_attributes/tag", json!(true));
            set(b, "/object_attributes/ref", json!("v1.0.0"));
            set(b, "/merge_request", Value::Null);
        });
        assert_eq!(tag.pipeline_kind, "tag");
        assert_eq!(tag.on_default_branch, Some(false));
    }

    #[test]
    fn the_upstream_pipeline_comes_from_source_pipeline() {
        let child = row(EXAMPLE, |_| {});
        assert_eq!(child.upstream_project_id, Some(41));
        assert_eq!(child.upstream_project_path, "gitlab-org/upstream-project");
        assert_eq!(child.upstream_pipeline_id, Some(30));
        assert_eq!(child.upstream_job_id, Some(3401));
        let old = row(OLD, |_| {});
        assert_eq!(
            (
                old.upstream_project_id,
                old.upstream_pipeline_id,
                old.upstream_job_id
            ),
            (None, None, None)
        );
        assert_eq!(old.upstream_project_path, "");
    }

    #[test]
    fn the_default_branch_is_the_projects_and_unknown_without_it() {
        // GitLab 8.x's example: a pipeline of `master`, the default branch.
        assert_eq!(row(OLD, |_| {}).on_default_branch, Some(true));
        let other = row(OLD, |b| set(b, "/object_attributes/ref", json!("feature")));
        assert_eq!(other.on_default_branch, Some(false));
        let unknown = row(OLD, |b| set(b, "/project/default_branch", Value::Null));
        assert_eq!(unknown.on_default_branch, None);
        let no_project = row(OLD, |b| remove(b, "/project"));
        assert_eq!(no_project.on_default_branch, None);
        // A merge request pipeline's ref is its source branch, never the default branch.
        let example = row(EXAMPLE, |_| {});
        assert_eq!(example.git_ref, "master");
        assert_eq!(example.on_default_branch, Some(false));
    }

    #[test]
    fn the_commit_timestamp_is_the_commits_in_utc() {
        assert_eq!(
            row(EXAMPLE, |_| {}).commit_timestamp,
            Some(datetime!(2016-08-12 15:23:21 UTC))
        );
        assert_eq!(
            row(EXAMPLE, |b| remove(b, "/commit")).commit_timestamp,
            None
        );
        assert_eq!(
            row(EXAMPLE, |b| remove(b, "/commit/timestamp")).commit_timestamp,
            None
        );
    }

    #[test]
    fn the_start_is_derived_from_the_queue_the_jobs_or_the_duration() {
        // created_at 15:23:28 + queued_duration 12.
        let queued = row(EXAMPLE, |_| {});
        assert_eq!(queued.started_at, Some(datetime!(2016-08-12 15:23:40 UTC)));
        assert_eq!(queued.started_at_source, "queued_duration");
        // No queued_duration: the earliest job start (build-image).
        let old = row(OLD, |_| {});
        assert_eq!(old.started_at, Some(datetime!(2016-08-12 15:24:56 UTC)));
        assert_eq!(old.started_at_source, "builds");
        // No job started either: finished_at 15:26:29 - duration 63.
        let no_jobs = row(OLD, |b| set(b, "/builds", json!([])));
        assert_eq!(no_jobs.started_at, Some(datetime!(2016-08-12 15:25:26 UTC)));
        assert_eq!(no_jobs.started_at_source, "duration");
        // Nothing tells: unknown.
        let unknown = row(OLD, |b| {
            set(b, "/builds", json!([]));
            set(b, "/object_attributes/finished_at", Value::Null);
        });
        assert_eq!(
            (unknown.started_at, unknown.started_at_source.as_str()),
            (None, "")
        );
    }

    #[test]
    fn a_start_that_no_time_column_holds_is_unknown() {
        let absurd = row(OLD, |b| {
            set(b, "/builds", json!([]));
            set(b, "/object_attributes/duration", json!(1e15));
        });
        assert_eq!(
            (absurd.started_at, absurd.started_at_source.as_str()),
            (None, "")
        );
        let negative = row(EXAMPLE, |b| {
            set(b, "/object_attributes/queued_duration", json!(-5));
        });
        // A negative wait is skipped; the jobs tell instead.
        assert_eq!(negative.started_at_source, "builds");
        assert_eq!(
            negative.started_at,
            Some(datetime!(2016-08-12 15:24:56 UTC))
        );
    }

    #[test]
    fn a_late_running_hook_does_not_regress_a_finished_pipeline() {
        let success = version("success", Some(datetime!(2026-01-01 10:00 UTC)));
        assert!(version("running", None) < success);
        assert!(version("pending", None) < version("running", None));
        assert!(version("created", None) < version("pending", None));
    }

    #[test]
    fn a_pipeline_that_runs_again_ends_in_its_last_final_state() {
        let first = version("success", Some(datetime!(2026-01-01 10:00 UTC)));
        let rerun = version("running", None);
        let last = version("failed", Some(datetime!(2026-01-01 11:00 UTC)));
        assert!(rerun < first);
        assert!(first < last);
    }
}
