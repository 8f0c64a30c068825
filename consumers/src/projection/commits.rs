//! `commits`: one row per commit of a project, from every hook that shows one.
//!
//! Lead time for changes starts at a commit, and GitLab sends commits in several hooks: a
//! push lists the commits it pushed (`commits[]`, at most 20: see `pushes.commits_truncated`),
//! a pipeline names the commit it ran for (`commit`), a merge request hook its source
//! branch's last commit (`object_attributes.last_commit`). Each is one row here, keyed by
//! `(project_id, sha)`, so the copies of one commit collapse whichever hooks they came from.
//!
//! A commit's content never changes, but the hooks do not all carry all of it: older GitLab
//! versions send no `title`, an author's email may be withheld (`[REDACTED]`), a payload may
//! lack its project. The row's `version` therefore ranks an observation by how many of the
//! row's fields it knows ([`richness`]), then by the kind of hook ([`SeenIn`]), then by the
//! usual tie-break on the hook: the richest observation wins, the same one whatever the
//! arrival order.

use clickhouse::Row;
use hookline_schemas::payload::{Commit, MergeRequestHook, PipelineHook, PushHook};
use hookline_schemas::record::RecordHeaders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::raw_hooks::millis_to_time;
use super::version::versioned;
use super::{merge_requests, project_id, project_path};

/// What GitLab sends in place of an email address it withholds.
const REDACTED: &str = "[REDACTED]";

/// A row of `commits` (DDL: `schemas/migrations/0012_commits.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CommitRow {
    /// The project the commit was seen in (a merge request's: its target project), so that a
    /// commit joins the pipelines, merge requests and deployments of that project; 0 when the
    /// payload has no project id. A commit seen in a fork and in its target has a row in each.
    pub project_id: u64,
    /// `project.path_with_namespace`; empty when the payload has no project.
    pub project_path: String,
    /// The commit's SHA, to join `pipelines.sha`, `pushes.after` and deployments.
    pub sha: String,
    /// When the commit was committed (GitLab's `timestamp` is the committer date), the start
    /// of a change's lead time; `None` when not sent.
    #[serde(with = "clickhouse::serde::time::datetime64::millis::option")]
    pub committed_at: Option<OffsetDateTime>,
    /// The commit's author as git records them (not necessarily a GitLab user), to count
    /// changes per author; empty when not sent.
    pub author_name: String,
    /// The author's email; empty when not sent or withheld (`[REDACTED]`).
    pub author_email: String,
    /// The first line of the commit message (else GitLab's `title`), to read what changed;
    /// empty when neither is sent.
    pub title: String,
    /// The kind of hook the kept observation came from: `push`, `tag_push`, `merge_request`
    /// or `pipeline` ([`SeenIn`]).
    pub seen_in: String,
    /// Row version: [`richness`] and [`SeenIn`], then the hook's tie-break.
    pub version: u64,
    /// The hook the kept observation came from (join with `raw_hooks`).
    pub event_id: String,
    /// When ingest received that hook.
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
}

/// The kinds of hook a commit is seen in, in the order their observations are preferred
/// when they know as many fields: a push lists the commits it brought, the other hooks name
/// one commit in passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeenIn {
    Pipeline = 1,
    MergeRequest = 2,
    TagPush = 3,
    Push = 4,
}

impl SeenIn {
    /// The `seen_in` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SeenIn::Pipeline => "pipeline",
            SeenIn::MergeRequest => "merge_request",
            SeenIn::TagPush => "tag_push",
            SeenIn::Push => "push",
        }
    }
}

impl CommitRow {
    /// The commits a push or tag push lists (not all it pushed when it counted more).
    pub fn from_push(hook: &PushHook, headers: &RecordHeaders) -> Vec<Self> {
        let project = hook.project.as_ref();
        let seen_in = if hook.is_tag() {
            SeenIn::TagPush
        } else {
            SeenIn::Push
        };
        let project_id = project_id(hook.project_id, project);
        let project_path = project_path(project);
        hook.commits
            .iter()
            .filter_map(|commit| Self::new(commit, project_id, &project_path, seen_in, headers))
            .collect()
    }

    /// The commit a pipeline ran for, when the payload describes it.
    pub fn from_pipeline(hook: &PipelineHook, headers: &RecordHeaders) -> Option<Self> {
        let project = hook.project.as_ref();
        Self::new(
            hook.commit.as_ref()?,
            project_id(None, project),
            &project_path(project),
            SeenIn::Pipeline,
            headers,
        )
    }

    /// A merge request's last commit, when the payload describes it, in the merge request's
    /// (target) project as in `merge_requests`.
    pub fn from_merge_request(hook: &MergeRequestHook, headers: &RecordHeaders) -> Option<Self> {
        Self::new(
            hook.object_attributes.last_commit.as_ref()?,
            merge_requests::project_id(hook),
            &project_path(hook.project.as_ref()),
            SeenIn::MergeRequest,
            headers,
        )
    }

    /// The row of one observation; `None` for a commit without a SHA, which no other hook
    /// could ever be matched with.
    fn new(
        commit: &Commit,
        project_id: u64,
        project_path: &str,
        seen_in: SeenIn,
        headers: &RecordHeaders,
    ) -> Option<Self> {
        if commit.id.is_empty() {
            return None;
        }
        let author = commit.author.as_ref();
        let mut row = Self {
            project_id,
            project_path: project_path.to_owned(),
            sha: commit.id.clone(),
            committed_at: commit.timestamp,
            author_name: author.map(|a| a.name.clone()).unwrap_or_default(),
            author_email: author
                .and_then(|a| a.email.clone())
                .filter(|email| email != REDACTED)
                .unwrap_or_default(),
            title: title(commit),
            seen_in: seen_in.as_str().to_owned(),
            version: 0,
            event_id: headers.event_id.clone(),
            received_at: millis_to_time(headers.received_at_ms),
        };
        row.version = versioned(None, rank(richness(&row), seen_in)).version(headers);
        Some(row)
    }
}

/// The commit's title: the first line of its message, as GitLab's own full title is (the
/// `title` field is cut at 100 characters), else the `title` field for a payload without
/// a message.
fn title(commit: &Commit) -> String {
    commit
        .message
        .as_deref()
        .and_then(|message| message.split(['\r', '\n']).next())
        .filter(|line| !line.is_empty())
        .or(commit.title.as_deref())
        .unwrap_or_default()
        .to_owned()
}

/// How many of the row's descriptive fields the observation knows (0 to 5): its project's
/// path, commit time, author name, author email and title.
pub fn richness(row: &CommitRow) -> u8 {
    [
        !row.project_path.is_empty(),
        row.committed_at.is_some(),
        !row.author_name.is_empty(),
        !row.author_email.is_empty(),
        !row.title.is_empty(),
    ]
    .into_iter()
    .map(u8::from)
    .sum()
}

/// The version's rank: the richness first, the kind of hook among equally rich ones.
fn rank(richness: u8, seen_in: SeenIn) -> u8 {
    (richness << 4) | seen_in as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::payload::{self, Payload};
    use hookline_schemas::testing::fixtures;
    use serde_json::{json, Value};
    use time::macros::datetime;

    fn headers(event_id: &str) -> RecordHeaders {
        super::super::test_headers("Push Hook", event_id, 1_900_000_000_000)
    }

    /// The commit rows of a body, whichever kind of hook it is.
    fn rows(body: &[u8], event_id: &str) -> Vec<CommitRow> {
        let headers = headers(event_id);
        match payload::parse(body).unwrap() {
            Payload::Push(hook) | Payload::TagPush(hook) => CommitRow::from_push(&hook, &headers),
            Payload::Pipeline(hook) => CommitRow::from_pipeline(&hook, &headers)
                .into_iter()
                .collect(),
            Payload::MergeRequest(hook) => CommitRow::from_merge_request(&hook, &headers)
                .into_iter()
                .collect(),
            // GitLab's pre-8.x pushes carry no object_kind.
            Payload::Other { object_kind: None } => {
                CommitRow::from_push(&serde_json::from_slice(body).unwrap(), &headers)
            }
            other => panic!("no commits in {other:?}"),
        }
    }

    fn fixture(file: &str) -> Vec<CommitRow> {
        rows(&fixtures::read(file), file)
    }

    fn changed(file: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut body: Value = serde_json::from_slice(&fixtures::read(file)).unwrap();
        change(&mut body);
        serde_json::to_vec(&body).unwrap()
    }

    #[test]
    fn a_push_gives_a_row_per_listed_commit() {
        let push = fixture("gitlab-webhooks/push.json");
        assert_eq!(push.len(), 2);
        let first = &push[0];
        assert_eq!(
            (
                first.project_id,
                first.project_path.as_str(),
                first.sha.as_str()
            ),
            (
                15,
                "mike/diaspora",
                "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
            )
        );
        assert_eq!(first.committed_at, Some(datetime!(2011-12-12 12:27:31 UTC)));
        assert_eq!(
            (first.author_name.as_str(), first.author_email.as_str()),
            ("Jordi Mallach", "jordi@softcatala.org")
        );
        assert_eq!(first.title, "Merge branch 'some-feature' into 'master'");
        assert_eq!(first.seen_in, "push");
        // A tag push's commits are seen in a tag push.
        let tag = fixture("gitlab-webhooks/tag_push.json");
        assert_eq!(tag.len(), 1);
        assert_eq!(tag[0].seen_in, "tag_push");
        assert!(fixture("seeds/tag_push_004.json").is_empty());
    }

    #[test]
    fn a_pipeline_and_a_merge_request_give_their_commit() {
        let pipeline = fixture("gitlab-webhooks/pipeline.json");
        assert_eq!(pipeline.len(), 1);
        assert_eq!(
            (pipeline[0].project_id, pipeline[0].sha.as_str()),
            (1, "bcbb5ec396a2c0f828686f14fac9b80b780504f2")
        );
        assert_eq!(
            pipeline[0].committed_at,
            Some(datetime!(2016-08-12 15:23:21 UTC))
        );
        assert_eq!(pipeline[0].title, "test");
        assert_eq!(pipeline[0].seen_in, "pipeline");

        let merge_request = fixture("gitlab-webhooks/merge_request.json");
        assert_eq!(merge_request.len(), 1);
        assert_eq!(
            merge_request[0].sha,
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
        );
        assert_eq!(merge_request[0].project_id, 14);
        // The message's first line, not the `title` field (GitLab cuts it at 100 characters).
        assert_eq!(merge_request[0].title, "fixed readme");
        assert_eq!(merge_request[0].seen_in, "merge_request");
        // GitLab 6.x's merge request example has no last commit.
        assert!(fixture("seeds/merge_request_000.json").is_empty());
    }

    #[test]
    fn fields_the_payload_lacks_are_unknown() {
        let bare = rows(
            br#"{"object_kind": "push", "before": "a", "after": "b", "ref": "refs/heads/main",
                "commits": [{"id": "c0ffee"}, {"id": ""}]}"#,
            "bare",
        );
        assert_eq!(bare.len(), 1, "a commit without a SHA has no row");
        let row = &bare[0];
        assert_eq!((row.project_id, row.project_path.as_str()), (0, ""));
        assert_eq!(row.committed_at, None);
        assert_eq!(
            (
                row.author_name.as_str(),
                row.author_email.as_str(),
                row.title.as_str()
            ),
            ("", "", "")
        );
        assert_eq!(richness(row), 0);
        // A pipeline without a commit object gives no row.
        let body = changed("gitlab-webhooks/pipeline.json", |b| {
            b.as_object_mut().unwrap().remove("commit");
        });
        assert!(rows(&body, "p").is_empty());
    }

    #[test]
    fn the_title_falls_back_to_the_title_field_and_a_withheld_email_is_unknown() {
        let body = changed("gitlab-webhooks/pipeline.json", |b| {
            b["commit"]["message"] = Value::Null;
            b["commit"]["title"] = json!("From the title field");
            b["commit"]["author"]["email"] = json!("[REDACTED]");
        });
        let row = &rows(&body, "p")[0];
        assert_eq!(row.title, "From the title field");
        assert_eq!(row.author_email, "");
        let body = changed("gitlab-webhooks/pipeline.json", |b| {
            b["commit"]["message"] = json!("First line\r\n\r\nBody");
        });
        assert_eq!(rows(&body, "p")[0].title, "First line");
    }

    /// What `ReplacingMergeTree(version)` keeps of `rows` for one key.
    fn kept(rows: &[CommitRow]) -> &CommitRow {
        rows.iter().max_by_key(|row| row.version).unwrap()
    }

    #[test]
    fn the_richest_observation_of_a_commit_wins_whatever_the_order() {
        let sha = "bcbb5ec396a2c0f828686f14fac9b80b780504f2";
        // The same commit in a pipeline hook (richest: its fixture has everything), a push
        // hook whose copy lacks the author's email, and a merge request hook without time.
        let pipeline = rows(&fixtures::read("gitlab-webhooks/pipeline.json"), "p");
        let push = rows(
            &changed("gitlab-webhooks/push.json", |b| {
                b["project_id"] = json!(1);
                b["project"]["path_with_namespace"] = json!("gitlab-org/gitlab-test");
                b["commits"][0]["id"] = json!(sha);
                b["commits"][0]["author"]["email"] = json!("[REDACTED]");
            }),
            "push",
        );
        let merge_request = rows(
            &changed("gitlab-webhooks/merge_request.json", |b| {
                b["object_attributes"]["target_project_id"] = json!(1);
                b["project"]["path_with_namespace"] = json!("gitlab-org/gitlab-test");
                b["object_attributes"]["last_commit"]["id"] = json!(sha);
                b["object_attributes"]["last_commit"]["timestamp"] = Value::Null;
            }),
            "mr",
        );
        let observations = [&pipeline[0], &push[0], &merge_request[0]];
        assert!(observations
            .iter()
            .all(|row| (row.project_id, row.sha.as_str()) == (1, sha)));
        assert_eq!(observations.map(richness), [5, 4, 4]);
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let arrived: Vec<CommitRow> = order.iter().map(|&i| observations[i].clone()).collect();
            assert_eq!(kept(&arrived).seen_in, "pipeline", "{order:?}");
        }
        // Equally rich, a push outranks a merge request, which outranks a pipeline.
        assert_eq!(
            kept(&[push[0].clone(), merge_request[0].clone()]).seen_in,
            "push"
        );
        assert!(rank(4, SeenIn::Pipeline) < rank(4, SeenIn::MergeRequest));
        assert!(rank(4, SeenIn::Push) < rank(5, SeenIn::Pipeline));
    }
}
