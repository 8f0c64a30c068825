//! Every GitLab example payload in `schemas/fixtures/`, posted through ingest with its
//! `X-Gitlab-Event` header, lands in the tables of its kind with the payload's values; kinds
//! without a table land in `raw_hooks` only. System hooks land where their body's kind does.
//! The commits that push, pipeline and merge request hooks show land in `commits`, one row per
//! commit of a project whichever hooks showed it.

use std::time::Duration;

use hookline_dev::client::{deliver, eventually, metric, select, Delivery};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;
use serde_json::{json, Value};

/// How long every fixture's rows may take to be queryable.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

/// Every fixture, the header GitLab sends it with, and the typed tables it feeds, each named
/// once per row it gets (a push lists several commits).
const FIXTURES: &[(&str, &str, &[&str])] = &[
    ("gitlab-webhooks/build.json", "Job Hook", JOB),
    (
        "gitlab-webhooks/deployment.json",
        "Deployment Hook",
        &["deployments", "deployment_events", "project_observations"],
    ),
    (
        "gitlab-webhooks/feature_flag.json",
        "Feature Flag Hook",
        &["project_observations"],
    ),
    // No project id anywhere: no project observation.
    (
        "gitlab-webhooks/group_merge_request.json",
        "Merge Request Hook",
        &["merge_requests", "merge_request_events", "commits"],
    ),
    ("gitlab-webhooks/issue.json", "Issue Hook", ISSUE),
    ("gitlab-webhooks/job.json", "Job Hook", JOB),
    ("gitlab-webhooks/member.json", "Member Hook", &[]),
    (
        "gitlab-webhooks/merge_request.json",
        "Merge Request Hook",
        MR,
    ),
    ("gitlab-webhooks/note_commit.json", "Note Hook", OBSERVED),
    ("gitlab-webhooks/note_issue.json", "Note Hook", OBSERVED),
    (
        "gitlab-webhooks/note_merge_request.json",
        "Note Hook",
        &["merge_request_reviews", "project_observations"],
    ),
    ("gitlab-webhooks/note_snippet.json", "Note Hook", OBSERVED),
    (
        "gitlab-webhooks/pipeline.json",
        "Pipeline Hook",
        &["pipelines", "commits", "project_observations"],
    ),
    ("gitlab-webhooks/push.json", "Push Hook", PUSH_OF_TWO),
    (
        "gitlab-webhooks/release.json",
        "Release Hook",
        &["releases", "project_observations"],
    ),
    (
        "gitlab-webhooks/resource_access_token_group.json",
        "Resource Access Token Hook",
        &[],
    ),
    (
        "gitlab-webhooks/resource_access_token_project.json",
        "Resource Access Token Hook",
        OBSERVED,
    ),
    (
        "gitlab-webhooks/service_merge_request.json",
        "Merge Request Hook",
        MR,
    ),
    (
        "gitlab-webhooks/subgroup.json",
        "System Hook",
        &["instance_events"],
    ),
    // The same events through Admin → System hooks: the same tables, collapsing with the
    // project hooks' copies (the expected rows below do not change).
    ("gitlab-webhooks/merge_request.json", "System Hook", MR),
    ("gitlab-webhooks/push.json", "System Hook", PUSH_OF_TWO),
    (
        "gitlab-webhooks/tag_push.json",
        "Tag Push Hook",
        &["pushes", "commits", "push_commits", "project_observations"],
    ),
    ("gitlab-webhooks/wiki_page.json", "Wiki Page Hook", OBSERVED),
    ("seeds/build_hook.json", "Build Hook", JOB),
    ("seeds/issue_000.json", "Issue Hook", ISSUE),
    ("seeds/issue_004.json", "Issue Hook", ISSUE),
    ("seeds/job_003.json", "Job Hook", JOB),
    // GitLab 6.x's merge request: no last commit.
    (
        "seeds/merge_request_000.json",
        "Merge Request Hook",
        &[
            "merge_requests",
            "merge_request_events",
            "project_observations",
        ],
    ),
    ("seeds/merge_request_003.json", "Merge Request Hook", MR),
    ("seeds/merge_request_004.json", "Merge Request Hook", MR),
    ("seeds/note_commit_004.json", "Note Hook", OBSERVED),
    ("seeds/note_issue_004.json", "Note Hook", OBSERVED),
    (
        "seeds/note_merge_request_004.json",
        "Note Hook",
        &["merge_request_reviews", "project_observations"],
    ),
    ("seeds/note_snippet_004.json", "Note Hook", OBSERVED),
    // GitLab 8's example: a project without id observes nothing.
    (
        "seeds/pipeline_hook.json",
        "Pipeline Hook",
        &["pipelines", "commits"],
    ),
    ("seeds/push_000.json", "Push Hook", PUSH_OF_TWO),
    ("seeds/push_004.json", "Push Hook", PUSH_OF_TWO),
    (
        "seeds/tag_push_004.json",
        "Tag Push Hook",
        &["pushes", "project_observations"],
    ),
];

/// A merge request hook with its last commit (every example but one names its project's id).
const MR: &[&str] = &[
    "merge_requests",
    "merge_request_events",
    "commits",
    "project_observations",
];
/// A push listing two commits.
const PUSH_OF_TWO: &[&str] = &[
    "pushes",
    "commits",
    "commits",
    "push_commits",
    "push_commits",
    "project_observations",
];
const ISSUE: &[&str] = &["issues", "issue_events", "project_observations"];
const JOB: &[&str] = &["jobs", "project_observations"];
/// A hook of a kind without a table of its own that names its project.
const OBSERVED: &[&str] = &["project_observations"];

const TABLES: &[&str] = &[
    "pipelines",
    "jobs",
    "merge_requests",
    "merge_request_events",
    "merge_request_reviews",
    "pushes",
    "commits",
    "push_commits",
    "issues",
    "deployments",
    "releases",
    "instance_events",
    "deployment_events",
    "issue_events",
    "project_observations",
];

/// Hooks beside the fixtures, with the tables they feed: a project seen by a pipeline and
/// renamed later, the rename delivered first. Its path is the rename's, its default branch the
/// pipeline's (a rename gives none).
fn renamed_project() -> Vec<(&'static str, &'static str, Vec<u8>, &'static [&'static str])> {
    let rename = json!({
        "event_name": "project_rename", "project_id": 4242, "name": "Renamed", "path": "renamed",
        "path_with_namespace": "acme/platform/renamed", "old_path_with_namespace": "acme/legacy",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-05-02T10:00:00Z",
        "project_visibility": "private", "owner_name": "A", "owner_email": "a@example.com"
    });
    let mut pipeline: Value =
        serde_json::from_slice(&fixtures::read("gitlab-webhooks/pipeline.json")).unwrap();
    pipeline["project"]["id"] = json!(4242);
    pipeline["project"]["path_with_namespace"] = json!("acme/legacy");
    pipeline["project"]["default_branch"] = json!("main");
    pipeline["object_attributes"]["id"] = json!(4243);
    pipeline["object_attributes"]["created_at"] = json!("2024-05-01 08:55:00 UTC");
    pipeline["object_attributes"]["finished_at"] = json!("2024-05-01 09:00:00 UTC");
    vec![
        (
            "project_rename of 4242",
            "System Hook",
            serde_json::to_vec(&rename).unwrap(),
            &["instance_events", "project_observations"],
        ),
        (
            "an older pipeline of 4242",
            "Pipeline Hook",
            serde_json::to_vec(&pipeline).unwrap(),
            &["pipelines", "commits", "project_observations"],
        ),
    ]
}

/// What `SELECT … FINAL` returns for concrete rows of the fixtures above. Several fixtures
/// describe the same object (GitLab's examples reuse ids across versions); their rows collapse.
fn expected_rows() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        (
            "SELECT project_id, pipeline_id, job_id, status, failure_reason, created_at, finished_at, duration_seconds,
                    runner_description, runner_tags, environment, environment_action, environment_tier
             FROM jobs FINAL ORDER BY job_id",
            vec![
                // build.json, job_003.json and build_hook.json: one job (ids 380/2366/1977),
                // `created` in all three, so they tie on time and rank; the event-id tie-break
                // keeps job_003.json, which carries no creation time (the epoch) and a runner
                // without tags. Its `script_failure` reason is dropped because it has not failed.
                json!({"project_id": 380, "pipeline_id": 2366, "job_id": 1977, "status": "created",
                       "failure_reason": "", "created_at": "1970-01-01 00:00:00.000",
                       "finished_at": null, "duration_seconds": null,
                       "runner_description": "shared-runners-manager-6.gitlab.com", "runner_tags": [],
                       "environment": "", "environment_action": "", "environment_tier": ""}),
                // job.json: a success that GitLab sent with `unknown_failure`.
                json!({"project_id": 31537070, "pipeline_id": 743121198, "job_id": 3580121225u64,
                       "status": "success", "failure_reason": "", "created_at": "2023-01-10 13:50:02.000",
                       "finished_at": "2023-01-10 13:50:54.000", "duration_seconds": 49.503592,
                       "runner_description": "4-blue.shared.runners-manager.gitlab.com/default",
                       "runner_tags": ["linux", "docker"], "environment": "production",
                       "environment_action": "start", "environment_tier": "production"}),
            ],
        ),
        (
            "SELECT project_id, pipeline_id, status, created_at, finished_at, name, pipeline_kind, merged_results,
                    merge_request_iid, merge_request_project_id, upstream_project_id, upstream_project_path,
                    upstream_pipeline_id, upstream_job_id, on_default_branch, commit_timestamp,
                    started_at, started_at_source
             FROM pipelines FINAL ORDER BY project_id",
            vec![
                // pipeline_hook.json (GitLab 8.x): no source, merge request or upstream; the
                // default branch's; started when its first job did.
                json!({"project_id": 0, "pipeline_id": 31, "status": "success",
                       "created_at": "2016-08-12 15:23:28.000", "finished_at": "2016-08-12 15:26:29.000",
                       "name": null, "pipeline_kind": "", "merged_results": null,
                       "merge_request_iid": null, "merge_request_project_id": null,
                       "upstream_project_id": null, "upstream_project_path": "",
                       "upstream_pipeline_id": null, "upstream_job_id": null, "on_default_branch": true,
                       "commit_timestamp": "2016-08-12 15:23:21.000",
                       "started_at": "2016-08-12 15:24:56.000", "started_at_source": "builds"}),
                // pipeline.json: a merge request pipeline (on the merged result or not: GitLab
                // no longer says) triggered from another project's pipeline; started after
                // its 12 s in the queue.
                json!({"project_id": 1, "pipeline_id": 31, "status": "success",
                       "created_at": "2016-08-12 15:23:28.000", "finished_at": "2016-08-12 15:26:29.000",
                       "name": null, "pipeline_kind": "merge_request", "merged_results": null,
                       "merge_request_iid": 1, "merge_request_project_id": 1,
                       "upstream_project_id": 41, "upstream_project_path": "gitlab-org/upstream-project",
                       "upstream_pipeline_id": 30, "upstream_job_id": 3401, "on_default_branch": false,
                       "commit_timestamp": "2016-08-12 15:23:21.000",
                       "started_at": "2016-08-12 15:23:40.000", "started_at_source": "queued_duration"}),
                json!({"project_id": 4242, "pipeline_id": 4243, "status": "success",
                       "created_at": "2024-05-01 08:55:00.000", "finished_at": "2024-05-01 09:00:00.000",
                       "name": null, "pipeline_kind": "merge_request", "merged_results": null,
                       "merge_request_iid": 1, "merge_request_project_id": 1,
                       "upstream_project_id": 41, "upstream_project_path": "gitlab-org/upstream-project",
                       "upstream_pipeline_id": 30, "upstream_job_id": 3401, "on_default_branch": false,
                       "commit_timestamp": "2016-08-12 15:23:21.000",
                       "started_at": "2024-05-01 08:55:12.000", "started_at_source": "queued_duration"}),
            ],
        ),
        (
            "SELECT project_id, merge_request_iid, merge_request_id, state, last_action, updated_at
             FROM merge_requests FINAL ORDER BY project_id, merge_request_id",
            vec![
                // group_merge_request.json: GitLab's example with mangled keys, a merge.
                json!({"project_id": 0, "merge_request_iid": 0, "merge_request_id": 15917,
                       "state": "", "last_action": "merge", "updated_at": "1970-01-01 00:00:00.000"}),
                json!({"project_id": 2, "merge_request_iid": 2, "merge_request_id": 2, "state": "opened",
                       "last_action": "update", "updated_at": "2021-09-27 05:01:21.000"}),
                // merge_request.json and the three seeds: merge request !1 of project 14.
                json!({"project_id": 14, "merge_request_iid": 1, "merge_request_id": 99, "state": "opened",
                       "last_action": "open", "updated_at": "2013-12-03 17:23:34.000"}),
            ],
        ),
        (
            "SELECT action, actor_id, actor_username, event_at FROM merge_request_events FINAL
             WHERE project_id = 14 ORDER BY action, actor_id",
            vec![
                // merge_request_000.json: no action, no user.
                json!({"action": "", "actor_id": 0, "actor_username": "", "event_at": "2013-12-03 17:23:34.000"}),
                // merge_request_003.json and _004.json: the same open by `root` (no user id).
                json!({"action": "open", "actor_id": 0, "actor_username": "root", "event_at": "2013-12-03 17:23:34.000"}),
                json!({"action": "open", "actor_id": 1, "actor_username": "user1", "event_at": "2013-12-03 17:23:34.000"}),
            ],
        ),
        (
            // Both note fixtures are note 1244 by user 1 (the seed without the user's id).
            "SELECT project_id, merge_request_iid, kind, note_id, actor_id, reviewed_at FROM merge_request_reviews FINAL",
            vec![json!({"project_id": 5, "merge_request_iid": 1, "kind": "note", "note_id": 1244,
                        "actor_id": 1, "reviewed_at": "2015-05-17 18:21:36.000"})],
        ),
        (
            // tag_push.json and tag_push_004.json: the same tag creation (their commit counts
            // differ, so which one is kept depends on arrival); push.json, push_000.json (no
            // object_kind) and push_004.json: the same push.
            // The pushes list 2 of their 4 commits; the tag pushes all theirs.
            "SELECT project_id, ref_name, ref_type, created, deleted, if(created, NULL, commit_count) AS commits,
                    commits_truncated
             FROM pushes FINAL ORDER BY project_id",
            vec![
                json!({"project_id": 1, "ref_name": "v1.0.0", "ref_type": "tag", "created": true,
                       "deleted": false, "commits": null, "commits_truncated": false}),
                json!({"project_id": 15, "ref_name": "master", "ref_type": "branch", "created": false,
                       "deleted": false, "commits": 4, "commits_truncated": true}),
            ],
        ),
        (
            // One row per commit of a project, whichever hooks showed it: the richest copy.
            "SELECT project_id, left(sha, 8) AS sha, committed_at, author_name, author_email, title, seen_in
             FROM commits FINAL ORDER BY project_id, sha",
            vec![
                // group_merge_request.json (no project id).
                json!({"project_id": 0, "sha": "61b6a0d3", "committed_at": "2016-12-01 13:07:53.000",
                       "author_name": "Test User", "author_email": "test.user@mail.com",
                       "title": "commit message", "seen_in": "merge_request"}),
                // pipeline_hook.json (no project id).
                json!({"project_id": 0, "sha": "bcbb5ec3", "committed_at": "2016-08-12 15:23:21.000",
                       "author_name": "User", "author_email": "user@gitlab.com",
                       "title": "test", "seen_in": "pipeline"}),
                // tag_push.json (tag_push_004.json lists none).
                json!({"project_id": 1, "sha": "82b3d5ae", "committed_at": "2012-01-03 21:36:29.000",
                       "author_name": "John Smith", "author_email": "johnsmith@example.com",
                       "title": "Merge branch 'some-feature' into 'master'", "seen_in": "tag_push"}),
                // pipeline.json.
                json!({"project_id": 1, "sha": "bcbb5ec3", "committed_at": "2016-08-12 15:23:21.000",
                       "author_name": "User", "author_email": "user@gitlab.com",
                       "title": "test", "seen_in": "pipeline"}),
                // service_merge_request.json.
                json!({"project_id": 2, "sha": "0ab96a10", "committed_at": "2021-09-27 05:01:20.000",
                       "author_name": "the test", "author_email": "test@test.test",
                       "title": "Update state.go", "seen_in": "merge_request"}),
                // merge_request.json and the two seeds with a last commit: the message's first
                // line, not merge_request.json's `title` field.
                json!({"project_id": 14, "sha": "da156088", "committed_at": "2012-01-03 21:36:29.000",
                       "author_name": "GitLab dev user", "author_email": "gitlabdev@dv6700.(none)",
                       "title": "fixed readme", "seen_in": "merge_request"}),
                // push.json, push_000.json and push_004.json list the same two commits, but
                // GitLab's examples give the first one different messages: push_000.json
                // lacks the project's path, so one of push.json and push_004.json is kept,
                // chosen by the tie-break (push_004.json's).
                json!({"project_id": 15, "sha": "b6568db1", "committed_at": "2011-12-12 12:27:31.000",
                       "author_name": "Jordi Mallach", "author_email": "jordi@softcatala.org",
                       "title": "Update Catalan translation to e38cb41.", "seen_in": "push"}),
                json!({"project_id": 15, "sha": "da156088", "committed_at": "2012-01-03 21:36:29.000",
                       "author_name": "GitLab dev user", "author_email": "gitlabdev@dv6700.(none)",
                       "title": "fixed readme", "seen_in": "push"}),
                // The renamed project's older pipeline.
                json!({"project_id": 4242, "sha": "bcbb5ec3", "committed_at": "2016-08-12 15:23:21.000",
                       "author_name": "User", "author_email": "user@gitlab.com", "title": "test",
                       "seen_in": "pipeline"}),
            ],
        ),
        (
            // issue.json and the two seeds: issue #23 of project 14, opened. None sends a type
            // or an `incident` label: whether it is an incident is unknown.
            "SELECT project_id, issue_iid, issue_id, state, last_action, created_at, issue_type, is_incident
             FROM issues FINAL",
            vec![json!({"project_id": 14, "issue_iid": 23, "issue_id": 301, "state": "opened",
                        "last_action": "open", "created_at": "2013-12-03 17:15:43.000",
                        "issue_type": "", "is_incident": null})],
        ),
        (
            // The same three: one event each (no action and no user in issue_000.json, no user
            // id in issue_004.json); only issue.json sends a severity and a label change.
            "SELECT action, actor_id, actor_username, event_at, severity, is_incident, labels,
                    labels_added, labels_removed
             FROM issue_events FINAL WHERE project_id = 14 AND issue_iid = 23 ORDER BY action, actor_id",
            vec![
                json!({"action": "", "actor_id": 0, "actor_username": "", "event_at": "2013-12-03 17:15:43.000",
                       "severity": "", "is_incident": null, "labels": [], "labels_added": [],
                       "labels_removed": []}),
                json!({"action": "open", "actor_id": 0, "actor_username": "root",
                       "event_at": "2013-12-03 17:15:43.000", "severity": "", "is_incident": null,
                       "labels": [], "labels_added": [], "labels_removed": []}),
                json!({"action": "open", "actor_id": 1, "actor_username": "root",
                       "event_at": "2013-12-03 17:15:43.000", "severity": "high", "is_incident": null,
                       "labels": ["API"], "labels_added": ["Platform"], "labels_removed": ["API"]}),
            ],
        ),
        (
            "SELECT project_id, deployment_id, job_id, environment, status, status_changed_at, sha FROM deployments FINAL",
            vec![json!({"project_id": 30, "deployment_id": 15, "job_id": 796, "environment": "staging",
                        "status": "success", "status_changed_at": "2021-04-28 19:50:00.000",
                        "sha": "279484c09fbe69ededfced8c1bb6e6d24616b468"})],
        ),
        (
            "SELECT project_id, deployment_id, job_id, environment, status, status_changed_at, sha, short_sha, ref,
                    user_username
             FROM deployment_events FINAL",
            vec![json!({"project_id": 30, "deployment_id": 15, "job_id": 796, "environment": "staging",
                        "status": "success", "status_changed_at": "2021-04-28 19:50:00.000",
                        "sha": "279484c09fbe69ededfced8c1bb6e6d24616b468", "short_sha": "279484c0",
                        "ref": "1.0.0", "user_username": "user1"})],
        ),
        (
            "SELECT event_name, group_id, group_path, created_at FROM instance_events FINAL ORDER BY event_name",
            vec![
                json!({"event_name": "project_rename", "group_id": null,
                       "group_path": "", "created_at": "2024-01-01 00:00:00.000"}),
                json!({"event_name": "subgroup_create", "group_id": 2,
                       "group_path": "group-1/subgroup-1", "created_at": "2022-01-24 14:23:59.000"}),
            ],
        ),
        (
            // The rename's path wins over the older pipeline's; the pipeline's default branch
            // stays (a rename gives none). Job hooks of older GitLab versions give the id only;
            // no system hook about 30 or 380 was seen, so whether they still exist is unknown.
            "SELECT project_id, path, namespace, default_branch, archived, destroyed
             FROM projects WHERE project_id IN (30, 380, 4242) ORDER BY project_id",
            vec![
                json!({"project_id": 30, "path": "root/test-deployment-webhooks", "namespace": "root",
                       "default_branch": "master", "archived": null, "destroyed": null}),
                json!({"project_id": 380, "path": "", "namespace": "", "default_branch": "",
                       "archived": null, "destroyed": null}),
                json!({"project_id": 4242, "path": "acme/platform/renamed", "namespace": "acme/platform",
                       "default_branch": "main", "archived": null, "destroyed": false}),
            ],
        ),
        (
            // merge_request.json, through a project hook and a system hook: opened as a
            // non-draft with reviewer 1, a label change listed.
            "SELECT action, draft, draft_before, reviewers_added, labels_added, labels_removed, oldrev,
                    last_commit_sha, last_commit_at
             FROM merge_request_events FINAL WHERE project_id = 14 AND actor_id = 1",
            vec![json!({"action": "open", "draft": false, "draft_before": null, "reviewers_added": [1],
                        "labels_added": ["Platform"], "labels_removed": ["API"], "oldrev": null,
                        "last_commit_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                        "last_commit_at": "2012-01-03 21:36:29.000"})],
        ),
        (
            // The derived times of schemas/README.md: service_merge_request.json is an update
            // that pushed a commit (a review round) of a merge request never seen opened.
            "SELECT merge_request_iid,
                    minIf(event_at, (action = 'open' AND draft = false) OR (draft_before = true AND draft = false)) AS ready_at,
                    countIf(isNotNull(oldrev)) AS review_rounds, minIf(event_at, state = 'merged') AS merged_at
             FROM merge_request_events FINAL WHERE project_id IN (2, 14)
             GROUP BY project_id, merge_request_iid ORDER BY project_id",
            vec![
                json!({"merge_request_iid": 2, "ready_at": "1970-01-01 00:00:00.000", "review_rounds": 1,
                       "merged_at": "1970-01-01 00:00:00.000"}),
                json!({"merge_request_iid": 1, "ready_at": "2013-12-03 17:23:34.000", "review_rounds": 0,
                       "merged_at": "1970-01-01 00:00:00.000"}),
            ],
        ),
        (
            "SELECT last_commit_sha FROM merge_requests FINAL WHERE project_id = 2",
            vec![json!({"last_commit_sha": "0ab96a10266b95b4b533dcfd98738015fbe70889"})],
        ),
        (
            "SELECT project_id, release_id, tag, action, sha, created_at FROM releases FINAL",
            vec![json!({"project_id": 327622, "release_id": 8273642, "tag": "1.0.0", "action": "create",
                        "sha": "2626dbdb936782b5c54816b1c6d45b1279303c6d",
                        "created_at": "2021-02-25 21:23:34.000"})],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_lands_in_the_tables_of_its_kind() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let deliveries: Vec<(&str, &str, Vec<u8>, &[&str])> = FIXTURES
        .iter()
        .map(|(file, event, tables)| (*file, *event, fixtures::read(file), *tables))
        .chain(renamed_project())
        .collect();
    for (file, event, body, _) in &deliveries {
        let (status, answer) = deliver(
            &stack,
            Delivery {
                event: Some(event),
                token: Some(&stack.token),
                body: body.clone(),
            },
        )
        .await;
        assert_eq!(status, 200, "{file}: {answer}");
        assert_eq!(answer["status"], "accepted", "{file}: {answer}");
    }

    // Each delivery is one raw row, plus its rows in each table of its kind and no other:
    // the consumers count the rows they write per table.
    let written = |table: &'static str| {
        let sample = format!(r#"hookline_consumers_rows_written_total{{table="{table}"}}"#);
        let admin = stack.consumers_admin_url.clone();
        async move { metric(&admin, &sample).await.unwrap_or(0.0) }
    };
    let raw = deliveries.len() as f64;
    eventually(SETTLE_DEADLINE, "a raw_hooks row per fixture", || async {
        (written("raw_hooks").await >= raw).then_some(())
    })
    .await;
    for table in TABLES {
        let wanted = deliveries
            .iter()
            .flat_map(|d| d.3.iter())
            .filter(|t| *t == table)
            .count() as f64;
        let got = eventually(SETTLE_DEADLINE, table, || async {
            let got = written(table).await;
            (got >= wanted).then_some(got)
        })
        .await;
        assert_eq!(got, wanted, "rows written to {table}");
    }
    assert_eq!(written("raw_hooks").await, raw);
    assert_eq!(
        select(&stack, "SELECT count() AS n FROM raw_hooks FINAL").await,
        vec![json!({"n": deliveries.len()})]
    );

    for (query, expected) in expected_rows() {
        assert_eq!(select(&stack, query).await, expected, "{query}");
    }

    // A retry of job.json's job is a new job, with a higher id, in the same pipeline; GitLab
    // sends nothing more about the try it replaced. `jobs` keeps both tries,
    // `latest_job_tries` the retry only (and every job that was not retried).
    let mut retry: Value = serde_json::from_slice(&fixtures::read("gitlab-webhooks/job.json"))
        .expect("job.json is JSON");
    retry["build_id"] = json!(3580121226u64);
    retry["retries_count"] = json!(2);
    retry["build_status"] = json!("running");
    let (status, answer) = deliver(
        &stack,
        Delivery {
            event: Some("Job Hook"),
            token: Some(&stack.token),
            body: serde_json::to_vec(&retry).expect("a JSON body"),
        },
    )
    .await;
    assert_eq!(status, 200, "the retry: {answer}");
    let tries = "SELECT job_id FROM jobs FINAL WHERE pipeline_id = 743121198 ORDER BY job_id";
    eventually(SETTLE_DEADLINE, "the retry's row", || async {
        (select(&stack, tries).await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        select(
            &stack,
            "SELECT pipeline_id, job_id, name, status, retries_count FROM latest_job_tries ORDER BY job_id"
        )
        .await,
        vec![
            json!({"pipeline_id": 2366, "job_id": 1977, "name": "test", "status": "created",
                   "retries_count": null}),
            json!({"pipeline_id": 743121198, "job_id": 3580121226u64, "name": "auto_deploy:start",
                   "status": "running", "retries_count": 2}),
        ]
    );
}
