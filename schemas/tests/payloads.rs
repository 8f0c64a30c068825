//! The payload models against every GitLab example body in `fixtures/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hookline_schemas::payload::{
    self, DeploymentHook, LabelChange, MergeRequestAction, Payload, PayloadError, PushHook,
};
use time::macros::datetime;

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read_fixture(rel: &str) -> Vec<u8> {
    let path = fixtures_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_fixture(rel: &str) -> Payload {
    payload::parse(&read_fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Parses a fixture and unwraps the expected variant.
macro_rules! expect {
    ($rel:expr, $variant:path) => {
        match parse_fixture($rel) {
            $variant(hook) => hook,
            other => panic!(
                "{}: expected {}, got kind {:?}",
                $rel,
                stringify!($variant),
                other.object_kind()
            ),
        }
    };
}

fn variant_name(payload: &Payload) -> String {
    match payload {
        Payload::Pipeline(_) => "Pipeline".into(),
        Payload::Job(_) => "Job".into(),
        Payload::MergeRequest(_) => "MergeRequest".into(),
        Payload::Note(_) => "Note".into(),
        Payload::Push(_) => "Push".into(),
        Payload::TagPush(_) => "TagPush".into(),
        Payload::Issue(_) => "Issue".into(),
        Payload::Deployment(_) => "Deployment".into(),
        Payload::Release(_) => "Release".into(),
        Payload::Other { object_kind } => format!("Other({object_kind:?})"),
    }
}

/// Every fixture and the variant it must parse to. A fixture added to `fixtures/` without a line
/// here fails `every_fixture_parses_to_its_expected_variant`.
const EXPECTED_VARIANTS: &[(&str, &str)] = &[
    ("gitlab-webhooks/build.json", "Job"),
    ("gitlab-webhooks/deployment.json", "Deployment"),
    (
        "gitlab-webhooks/feature_flag.json",
        "Other(Some(\"feature_flag\"))",
    ),
    ("gitlab-webhooks/group_merge_request.json", "MergeRequest"),
    ("gitlab-webhooks/issue.json", "Issue"),
    ("gitlab-webhooks/job.json", "Job"),
    (
        "gitlab-webhooks/member.json",
        "Other(Some(\"user_add_to_group\"))",
    ),
    ("gitlab-webhooks/merge_request.json", "MergeRequest"),
    ("gitlab-webhooks/note_commit.json", "Note"),
    ("gitlab-webhooks/note_issue.json", "Note"),
    ("gitlab-webhooks/note_merge_request.json", "Note"),
    ("gitlab-webhooks/note_snippet.json", "Note"),
    ("gitlab-webhooks/pipeline.json", "Pipeline"),
    ("gitlab-webhooks/push.json", "Push"),
    ("gitlab-webhooks/release.json", "Release"),
    (
        "gitlab-webhooks/resource_access_token_group.json",
        "Other(Some(\"access_token\"))",
    ),
    (
        "gitlab-webhooks/resource_access_token_project.json",
        "Other(Some(\"access_token\"))",
    ),
    ("gitlab-webhooks/service_merge_request.json", "MergeRequest"),
    (
        "gitlab-webhooks/subgroup.json",
        "Other(Some(\"subgroup_create\"))",
    ),
    ("gitlab-webhooks/tag_push.json", "TagPush"),
    (
        "gitlab-webhooks/wiki_page.json",
        "Other(Some(\"wiki_page\"))",
    ),
    ("seeds/build_hook.json", "Job"),
    ("seeds/issue_000.json", "Issue"),
    ("seeds/issue_004.json", "Issue"),
    ("seeds/job_003.json", "Job"),
    ("seeds/merge_request_000.json", "MergeRequest"),
    ("seeds/merge_request_003.json", "MergeRequest"),
    ("seeds/merge_request_004.json", "MergeRequest"),
    ("seeds/note_commit_004.json", "Note"),
    ("seeds/note_issue_004.json", "Note"),
    ("seeds/note_merge_request_004.json", "Note"),
    ("seeds/note_snippet_004.json", "Note"),
    ("seeds/pipeline_hook.json", "Pipeline"),
    // Pushes before GitLab 8.x carry no `object_kind`; see `oldest_push_has_no_kind`.
    ("seeds/push_000.json", "Other(None)"),
    ("seeds/push_004.json", "Push"),
    ("seeds/tag_push_004.json", "TagPush"),
];

fn all_fixture_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["gitlab-webhooks", "seeds"] {
        let entries = std::fs::read_dir(fixtures_dir().join(dir)).expect("fixture directory");
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_fixture_parses_to_its_expected_variant() {
    let files = all_fixture_files();
    assert!(files.len() >= 23, "only {} fixtures found", files.len());

    let expected: BTreeMap<&str, &str> = EXPECTED_VARIANTS.iter().copied().collect();
    let unlisted: Vec<&String> = files
        .iter()
        .filter(|f| !expected.contains_key(f.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "fixtures without an expected variant: {unlisted:?}"
    );
    let missing: Vec<&&str> = expected
        .keys()
        .filter(|f| !files.iter().any(|g| g == *f))
        .collect();
    assert!(
        missing.is_empty(),
        "listed fixtures not on disk: {missing:?}"
    );

    for file in &files {
        let payload = parse_fixture(file);
        assert_eq!(variant_name(&payload), expected[file.as_str()], "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// Pipeline Hook

#[test]
fn pipeline() {
    let hook = expect!("gitlab-webhooks/pipeline.json", Payload::Pipeline);
    assert_eq!(hook.object_kind, "pipeline");

    let p = &hook.object_attributes;
    assert_eq!(p.id, 31);
    assert_eq!(p.iid, Some(123));
    assert_eq!(p.name, None);
    assert_eq!(p.git_ref, "master");
    assert!(!p.tag);
    assert_eq!(p.sha, "bcbb5ec396a2c0f828686f14fac9b80b780504f2");
    assert_eq!(p.before_sha, "bcbb5ec396a2c0f828686f14fac9b80b780504f2");
    assert_eq!(p.source.as_deref(), Some("merge_request_event"));
    assert_eq!(p.status, "success");
    assert_eq!(p.detailed_status.as_deref(), Some("passed"));
    assert_eq!(p.stages, ["build", "test", "deploy"]);
    assert_eq!(p.created_at, Some(datetime!(2016-08-12 15:23:28 UTC)));
    assert_eq!(p.finished_at, Some(datetime!(2016-08-12 15:26:29 UTC)));
    // Integers in this payload.
    assert_eq!(p.duration, Some(63.0));
    assert_eq!(p.queued_duration, Some(12.0));

    let mr = hook.merge_request.as_ref().unwrap();
    assert_eq!((mr.id, mr.iid), (Some(1), Some(1)));
    assert_eq!(mr.source_branch, "test");
    assert_eq!(mr.target_branch, "master");
    assert_eq!(
        (mr.source_project_id, mr.target_project_id),
        (Some(1), Some(1))
    );
    assert_eq!(mr.state, "opened");
    assert_eq!(mr.merge_status.as_deref(), Some("can_be_merged"));
    assert_eq!(mr.detailed_merge_status.as_deref(), Some("mergeable"));

    let user = hook.user.as_ref().unwrap();
    assert_eq!(user.id, Some(42));
    assert_eq!(user.username, "user1");
    assert_eq!(user.email.as_deref(), Some("user1@example.com"));

    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, Some(1));
    assert_eq!(project.path_with_namespace, "gitlab-org/gitlab-test");
    assert_eq!(project.namespace, "Gitlab Org");
    assert_eq!(project.default_branch.as_deref(), Some("master"));

    // In pipeline hooks commit.id is the SHA.
    let commit = hook.commit.as_ref().unwrap();
    assert_eq!(commit.id, "bcbb5ec396a2c0f828686f14fac9b80b780504f2");
    assert_eq!(commit.timestamp, Some(datetime!(2016-08-12 15:23:21 UTC)));
    assert_eq!(commit.author.as_ref().unwrap().name, "User");

    let upstream = hook.source_pipeline.as_ref().unwrap();
    assert_eq!(upstream.pipeline_id, Some(30));
    assert_eq!(upstream.job_id, Some(3401));
    let upstream_project = upstream.project.as_ref().unwrap();
    assert_eq!(upstream_project.id, Some(41));
    assert_eq!(
        upstream_project.path_with_namespace,
        "gitlab-org/upstream-project"
    );

    let ids: Vec<u64> = hook.builds.iter().map(|b| b.id).collect();
    assert_eq!(ids, [380, 377, 378, 376, 379]);

    let production = &hook.builds[0];
    assert_eq!(production.stage, "deploy");
    assert_eq!(production.name, "production");
    assert_eq!(production.status, "skipped");
    assert_eq!(
        production.created_at,
        Some(datetime!(2016-08-12 15:23:28 UTC))
    );
    assert_eq!(production.started_at, None);
    assert_eq!(production.finished_at, None);
    assert_eq!(production.duration, Some(17.1));
    assert_eq!(production.queued_duration, Some(3.5));
    assert_eq!(production.when.as_deref(), Some("manual"));
    assert!(production.manual);
    assert!(production.allow_failure);
    assert_eq!(production.failure_reason.as_deref(), Some("script_failure"));
    assert_eq!(production.user.as_ref().unwrap().id, Some(42));
    let runner = production.runner.as_ref().unwrap();
    assert_eq!(runner.id, Some(42));
    assert_eq!(
        runner.description.as_deref(),
        Some("shared-runners-manager-1.gitlab.com")
    );
    assert_eq!(runner.runner_type.as_deref(), Some("instance_type"));
    assert!(runner.active && runner.is_shared);
    assert_eq!(runner.tags, ["docker", "gce"]);
    let env = production.environment.as_ref().unwrap();
    assert_eq!(env.name, "production");
    assert_eq!(env.action.as_deref(), Some("start"));
    assert_eq!(env.deployment_tier.as_deref(), Some("production"));

    // A successful job without finished_at: use its duration, not finished_at - started_at.
    let test_image = &hook.builds[1];
    assert_eq!(test_image.status, "success");
    assert_eq!(
        test_image.started_at,
        Some(datetime!(2016-08-12 15:26:12 UTC))
    );
    assert_eq!(test_image.finished_at, None);
    assert_eq!(test_image.duration, Some(17.0));
    assert_eq!(test_image.queued_duration, Some(196.0));
    assert!(!test_image.allow_failure);
    assert_eq!(test_image.failure_reason, None);
    assert_eq!(test_image.environment, None);
    let runner = test_image.runner.as_ref().unwrap();
    assert_eq!(runner.id, Some(380987));
    assert_eq!(runner.runner_type, None);
    assert!(runner.tags.is_empty());

    let build_image = &hook.builds[3];
    assert_eq!(
        build_image.started_at,
        Some(datetime!(2016-08-12 15:24:56 UTC))
    );
    assert_eq!(
        build_image.finished_at,
        Some(datetime!(2016-08-12 15:25:26 UTC))
    );

    assert_eq!(hook.builds[4].runner, None);
}

#[test]
fn pipeline_seed_from_gitlab_8_docs() {
    let hook = expect!("seeds/pipeline_hook.json", Payload::Pipeline);
    let p = &hook.object_attributes;
    assert_eq!(p.id, 31);
    assert_eq!(p.iid, None);
    assert_eq!(p.source, None);
    assert_eq!(p.detailed_status, None);
    assert_eq!(p.status, "success");
    assert_eq!(p.created_at, Some(datetime!(2016-08-12 15:23:28 UTC)));
    assert_eq!(p.finished_at, Some(datetime!(2016-08-12 15:26:29 UTC)));
    assert_eq!(p.duration, Some(63.0));
    assert_eq!(p.queued_duration, None);

    // The documented project has no id; the path is the only handle on it.
    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, None);
    assert_eq!(project.path_with_namespace, "gitlab-org/gitlab-test");
    let user = hook.user.as_ref().unwrap();
    assert_eq!(user.id, None);
    assert_eq!(user.username, "root");
    assert_eq!(user.email, None);

    assert_eq!(hook.merge_request, None);
    assert_eq!(hook.source_pipeline, None);
    assert_eq!(hook.builds.len(), 5);
    for build in &hook.builds {
        assert_eq!(build.duration, None, "build {}", build.id);
        assert_eq!(build.queued_duration, None, "build {}", build.id);
        assert!(!build.allow_failure, "build {}", build.id);
        assert_eq!(build.runner, None, "build {}", build.id);
    }
    let build_image = hook.builds.iter().find(|b| b.id == 376).unwrap();
    assert_eq!(build_image.name, "build-image");
    assert_eq!(
        build_image.started_at,
        Some(datetime!(2016-08-12 15:24:56 UTC))
    );
    assert_eq!(
        build_image.finished_at,
        Some(datetime!(2016-08-12 15:25:26 UTC))
    );
}

// ---------------------------------------------------------------------------------------------
// Job Hook

#[test]
fn job_from_gitlab_com() {
    let hook = expect!("gitlab-webhooks/job.json", Payload::Job);
    assert_eq!(hook.object_kind, "build");
    assert_eq!(hook.git_ref, "main");
    assert_eq!(hook.before_sha, ZERO_SHA);
    assert_eq!(hook.sha, "95d49d1efbd941908580e79d65e4b5ecaf4a8305");
    // Larger than i32::MAX.
    assert_eq!(hook.build_id, 3_580_121_225);
    assert_eq!(hook.build_name, "auto_deploy:start");
    assert_eq!(hook.build_stage, "coordinated:tag");
    assert_eq!(hook.build_status, "success");
    assert_eq!(
        hook.build_created_at,
        Some(datetime!(2023-01-10 13:50:02 UTC))
    );
    assert_eq!(
        hook.build_started_at,
        Some(datetime!(2023-01-10 13:50:05 UTC))
    );
    assert_eq!(
        hook.build_finished_at,
        Some(datetime!(2023-01-10 13:50:54 UTC))
    );
    assert_eq!(hook.started_at(), hook.build_started_at);
    assert_eq!(hook.build_duration, Some(49.503592));
    assert_eq!(hook.build_queued_duration, Some(0.193009));
    assert!(!hook.build_allow_failure);
    // A failure reason on a successful job: only meaningful when the status is failed.
    assert_eq!(
        hook.build_failure_reason.as_deref(),
        Some("unknown_failure")
    );
    assert_eq!(hook.retries_count, Some(1));
    assert_eq!(hook.pipeline_id, Some(743_121_198));
    assert_eq!(hook.pipeline_id(), Some(743_121_198));
    assert_eq!(hook.project_id, Some(31_537_070));
    assert_eq!(hook.project_name, "John Smith / release-tools-fake");

    let user = hook.user.as_ref().unwrap();
    assert_eq!(user.id, Some(2_967_854));
    assert_eq!(user.username, "jsmithy2");

    // commit describes the pipeline.
    assert_eq!(hook.commit.id, Some(743_121_198));
    assert_eq!(hook.commit.name.as_deref(), Some("Build pipeline"));
    assert_eq!(hook.commit.sha, hook.sha);
    assert_eq!(hook.commit.status.as_deref(), Some("running"));
    assert_eq!(hook.commit.duration, Some(128.0));
    assert_eq!(
        hook.commit.started_at,
        Some(datetime!(2023-01-10 13:50:05 UTC))
    );
    // Stale: earlier than started_at.
    assert_eq!(
        hook.commit.finished_at,
        Some(datetime!(2022-10-12 08:09:29 UTC))
    );

    let runner = hook.runner.as_ref().unwrap();
    assert_eq!(runner.id, Some(12_270_837));
    assert_eq!(
        runner.description.as_deref(),
        Some("4-blue.shared.runners-manager.gitlab.com/default")
    );
    assert_eq!(runner.runner_type.as_deref(), Some("instance_type"));
    assert!(runner.active && runner.is_shared);
    assert_eq!(runner.tags, ["linux", "docker"]);

    let env = hook.environment.as_ref().unwrap();
    assert_eq!(env.name, "production");
    assert_eq!(env.action.as_deref(), Some("start"));
    assert_eq!(env.deployment_tier.as_deref(), Some("production"));
}

#[test]
fn job_test_delivery_with_millisecond_timestamp() {
    let hook = expect!("gitlab-webhooks/build.json", Payload::Job);
    assert_eq!(hook.build_id, 1977);
    assert_eq!(hook.build_name, "test");
    assert_eq!(hook.build_stage, "test");
    assert_eq!(hook.build_status, "created");
    assert_eq!(
        hook.build_created_at,
        Some(datetime!(2021-02-23 02:41:37.886 UTC))
    );
    assert_eq!(hook.created_at(), hook.build_created_at);
    assert_eq!(hook.build_started_at, None);
    assert_eq!(hook.build_finished_at, None);
    assert_eq!(hook.finished_at(), None);
    assert_eq!(hook.build_duration, None);
    assert_eq!(hook.build_queued_duration, None);
    assert_eq!(hook.build_failure_reason.as_deref(), Some("script_failure"));
    assert_eq!(hook.retries_count, None);
    assert_eq!(hook.pipeline_id(), Some(2366));
    assert_eq!(hook.commit.id, Some(2366));
    assert_eq!(hook.project_id, Some(380));
    assert_eq!(hook.project_name, "gitlab-org/gitlab-test");
    assert_eq!(hook.user.as_ref().unwrap().id, Some(42));

    let runner = hook.runner.as_ref().unwrap();
    assert_eq!(runner.id, Some(380_987));
    assert_eq!(runner.runner_type.as_deref(), Some("project_type"));
    assert!(runner.active && !runner.is_shared);
    assert_eq!(runner.tags, ["linux", "docker"]);
    assert_eq!(hook.environment, None);
}

#[test]
fn build_seed_without_pipeline_id_takes_it_from_commit_id() {
    let hook = expect!("seeds/build_hook.json", Payload::Job);
    assert_eq!(hook.object_kind, "build");
    assert_eq!(hook.git_ref, "gitlab-script-trigger");
    assert_eq!(hook.build_id, 1977);
    assert_eq!(hook.build_status, "created");
    assert_eq!(hook.build_created_at, None);
    assert_eq!(hook.build_duration, None);
    assert_eq!(hook.build_failure_reason, None);
    // Older GitLab: no pipeline_id, and commit.id is the pipeline id.
    assert_eq!(hook.pipeline_id, None);
    assert_eq!(hook.commit.id, Some(2366));
    assert_eq!(hook.pipeline_id(), Some(2366));
    assert_eq!(hook.commit.status.as_deref(), Some("created"));
    assert_eq!(hook.project_id, Some(380));
    let user = hook.user.as_ref().unwrap();
    assert_eq!(user.id, Some(3));
    assert_eq!(user.username, "");
    assert_eq!(user.email.as_deref(), Some("user@gitlab.com"));
    assert_eq!(hook.runner, None);
}

#[test]
fn job_hook_from_japanese_docs() {
    let hook = expect!("seeds/job_003.json", Payload::Job);
    assert_eq!(hook.build_id, 1977);
    assert_eq!(hook.build_name, "test");
    assert_eq!(hook.build_status, "created");
    assert_eq!(hook.build_created_at, None);
    assert_eq!(hook.build_started_at, None);
    assert_eq!(hook.build_failure_reason.as_deref(), Some("script_failure"));
    assert_eq!(hook.pipeline_id, Some(2366));
    assert_eq!(hook.pipeline_id(), Some(2366));
    assert_eq!(hook.project_id, Some(380));
    assert_eq!(hook.user.as_ref().unwrap().id, Some(3));
    let runner = hook.runner.as_ref().unwrap();
    assert_eq!(runner.id, Some(380_987));
    assert_eq!(
        runner.description.as_deref(),
        Some("shared-runners-manager-6.gitlab.com")
    );
    assert!(runner.active && !runner.is_shared);
    assert_eq!(runner.runner_type, None);
    assert!(runner.tags.is_empty());
}

#[test]
fn job_iso_timestamps_are_preferred() {
    let body = br#"{
        "object_kind": "build", "build_id": 7,
        "build_created_at": "2024-05-01 10:00:00 UTC",
        "build_created_at_iso": "2024-05-01T10:00:00.250Z",
        "build_started_at": "2024-05-01 10:00:03 UTC",
        "build_started_at_iso": "2024-05-01T12:00:03.5+02:00",
        "build_finished_at": "2024-05-01 10:01:00 UTC",
        "build_finished_at_iso": null,
        "commit": {"id": 99}
    }"#;
    let Payload::Job(hook) = payload::parse(body).unwrap() else {
        panic!("not a job")
    };
    assert_eq!(
        hook.created_at(),
        Some(datetime!(2024-05-01 10:00:00.250 UTC))
    );
    assert_eq!(
        hook.started_at(),
        Some(datetime!(2024-05-01 10:00:03.5 UTC))
    );
    assert_eq!(hook.finished_at(), Some(datetime!(2024-05-01 10:01:00 UTC)));
    assert_eq!(hook.pipeline_id(), Some(99));
}

// ---------------------------------------------------------------------------------------------
// Merge Request Hook

#[test]
fn merge_request() {
    let hook = expect!("gitlab-webhooks/merge_request.json", Payload::MergeRequest);
    assert_eq!(hook.object_kind, "merge_request");
    assert_eq!(hook.event_type.as_deref(), Some("merge_request"));
    let user = hook.user.as_ref().unwrap();
    assert_eq!((user.id, user.username.as_str()), (Some(1), "user1"));
    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, Some(1));
    assert_eq!(project.path_with_namespace, "gitlabhq/gitlab-test");

    let mr = &hook.object_attributes;
    assert_eq!(mr.id, 99);
    assert_eq!(mr.iid, Some(1));
    assert_eq!(mr.source_branch, "ms-viewport");
    assert_eq!(mr.target_branch, "master");
    assert_eq!(
        (mr.source_project_id, mr.target_project_id),
        (Some(14), Some(14))
    );
    assert_eq!(mr.author_id, Some(51));
    assert_eq!(mr.assignee_ids, [1]);
    assert_eq!(mr.reviewer_ids, [1]);
    assert_eq!(mr.title, "MS-Viewport");
    assert_eq!(mr.state, "opened");
    assert_eq!(mr.merge_status.as_deref(), Some("unchecked"));
    assert_eq!(mr.detailed_merge_status.as_deref(), Some("mergeable"));
    assert_eq!(mr.action, Some(MergeRequestAction::Open));
    assert_eq!(mr.created_at, Some(datetime!(2013-12-03 17:23:34 UTC)));
    assert_eq!(mr.updated_at, Some(datetime!(2013-12-03 17:23:34 UTC)));
    assert_eq!(mr.last_edited_at, Some(datetime!(2023-03-27 00:03:05 UTC)));
    assert!(!mr.is_draft());
    assert_eq!(mr.merge_commit_sha, None);
    assert_eq!(mr.oldrev, None);
    let last_commit = mr.last_commit.as_ref().unwrap();
    assert_eq!(last_commit.id, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(
        last_commit.timestamp,
        Some(datetime!(2012-01-03 21:36:29 UTC))
    );

    assert_eq!(hook.labels.len(), 1);
    assert_eq!(hook.labels[0].id, Some(206));
    assert_eq!(hook.labels[0].title, "API");
    assert_eq!(hook.labels[0].label_type.as_deref(), Some("ProjectLabel"));
    let changes = hook.changes.as_ref().unwrap();
    assert_eq!(changes["state_id"]["current"], 3);
    assert_eq!(changes["labels"]["current"][0]["title"], "Platform");
    assert_eq!(hook.assignees.len(), 1);
    assert_eq!(hook.assignees[0].username, "user1");
    assert_eq!(hook.reviewers.len(), 1);
    assert_eq!(hook.reviewers[0].id, Some(1));
}

#[test]
fn group_merge_request_with_mangled_keys() {
    let hook = expect!(
        "gitlab-webhooks/group_merge_request.json",
        Payload::MergeRequest
    );
    assert_eq!(hook.event_type, None);
    assert_eq!(hook.user.as_ref().unwrap().id, Some(42));
    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, None);
    assert_eq!(project.path_with_namespace, "exm-namespace/example-project");

    let mr = &hook.object_attributes;
    assert_eq!(mr.id, 15917);
    assert_eq!(mr.action, Some(MergeRequestAction::Merge));
    assert_eq!(
        mr.merge_commit_sha.as_deref(),
        Some("ac3ca1559bc39abf963586372eff7f8fdded646e")
    );
    assert_eq!(mr.merge_user_id, None);
    // This example's keys carry a trailing space (`"iid "`, `"state "`, …): they are unknown
    // fields, so the real ones read as missing.
    assert_eq!(mr.iid, None);
    assert_eq!(mr.state, "");
    assert_eq!(mr.target_branch, "");
    assert_eq!(mr.created_at, None);
    assert_eq!(
        mr.last_commit.as_ref().unwrap().timestamp,
        Some(datetime!(2016-12-01 13:07:53 UTC))
    );
    assert!(hook.labels.is_empty());
    assert_eq!(hook.changes, None);
}

#[test]
fn merge_request_update_with_new_commits() {
    let hook = expect!(
        "gitlab-webhooks/service_merge_request.json",
        Payload::MergeRequest
    );
    let mr = &hook.object_attributes;
    assert_eq!((mr.id, mr.iid), (2, Some(2)));
    assert_eq!(mr.title, "Update client.go 🎉");
    assert_eq!(mr.action, Some(MergeRequestAction::Update));
    assert_eq!(
        mr.oldrev.as_deref(),
        Some("6ef047571374c96a2bf13c361efd1fb008b0063e")
    );
    assert_eq!(mr.head_pipeline_id, Some(5));
    assert_eq!(mr.created_at, Some(datetime!(2021-09-27 05:00:01 UTC)));
    assert_eq!(mr.updated_at, Some(datetime!(2021-09-27 05:01:21 UTC)));
    assert_eq!(mr.last_edited_at, None);
    assert_eq!(mr.merge_commit_sha, None);
    assert_eq!(mr.assignee_id, None);
    assert!(mr.assignee_ids.is_empty());
    assert!(mr.reviewer_ids.is_empty());
    assert_eq!(mr.detailed_merge_status, None);
    assert_eq!(
        mr.last_commit.as_ref().unwrap().timestamp,
        Some(datetime!(2021-09-27 05:01:20 UTC))
    );
    assert_eq!(hook.user.as_ref().unwrap().username, "test");
    assert_eq!(hook.project.as_ref().unwrap().id, Some(2));
    assert!(hook.labels.is_empty());
    assert_eq!(
        hook.changes.as_ref().unwrap()["updated_at"]["current"],
        "2021-09-27 05:01:21 UTC"
    );
    assert!(hook.assignees.is_empty() && hook.reviewers.is_empty());
}

#[test]
fn merge_request_from_oldest_docs() {
    let hook = expect!("seeds/merge_request_000.json", Payload::MergeRequest);
    assert_eq!(hook.user, None);
    assert_eq!(hook.project, None);
    let mr = &hook.object_attributes;
    assert_eq!((mr.id, mr.iid), (99, Some(1)));
    assert_eq!(mr.action, None);
    assert_eq!(mr.assignee_id, Some(6));
    assert_eq!(mr.author_id, Some(51));
    assert_eq!(mr.state, "opened");
    assert_eq!(mr.created_at, Some(datetime!(2013-12-03 17:23:34 UTC)));
}

#[test]
fn merge_request_from_japanese_docs() {
    let hook = expect!("seeds/merge_request_003.json", Payload::MergeRequest);
    assert_eq!(hook.event_type, None);
    assert_eq!(hook.project.as_ref().unwrap().id, Some(1));
    assert_eq!(hook.user.as_ref().unwrap().id, None);
    let mr = &hook.object_attributes;
    assert_eq!((mr.id, mr.iid), (99, Some(1)));
    assert_eq!(mr.action, Some(MergeRequestAction::Open));
    assert_eq!(mr.assignee_id, Some(6));
    assert!(mr.assignee_ids.is_empty());
    assert_eq!(hook.labels.len(), 1);
    assert_eq!(
        hook.changes.as_ref().unwrap()["updated_at"]["previous"],
        "2017-09-15 16:50:55 UTC"
    );
}

#[test]
fn merge_request_from_gitlab_8_docs() {
    let hook = expect!("seeds/merge_request_004.json", Payload::MergeRequest);
    assert_eq!(hook.project, None);
    assert_eq!(hook.user.as_ref().unwrap().username, "root");
    let mr = &hook.object_attributes;
    assert_eq!((mr.id, mr.iid), (99, Some(1)));
    assert_eq!(mr.action, Some(MergeRequestAction::Open));
    assert_eq!(mr.target_project_id, Some(14));
    assert_eq!(
        mr.url.as_deref(),
        Some("http://example.com/diaspora/merge_requests/1")
    );
    assert!(hook.labels.is_empty());
    assert_eq!(hook.changes, None);
}

#[test]
fn merge_request_unknown_action_is_kept() {
    let body = br#"{"object_kind": "merge_request",
        "object_attributes": {"id": 1, "action": "unlock", "draft": true}}"#;
    let Payload::MergeRequest(hook) = payload::parse(body).unwrap() else {
        panic!("not a merge request")
    };
    assert_eq!(
        hook.object_attributes.action,
        Some(MergeRequestAction::Other("unlock".into()))
    );
    assert!(hook.object_attributes.is_draft());
}

// ---------------------------------------------------------------------------------------------
// Note Hook

#[test]
fn note_on_commit() {
    let hook = expect!("gitlab-webhooks/note_commit.json", Payload::Note);
    assert_eq!(hook.event_type.as_deref(), Some("note"));
    assert_eq!(hook.project_id, Some(5));
    assert_eq!(hook.user.as_ref().unwrap().id, Some(42));
    let note = &hook.object_attributes;
    assert_eq!(note.id, 1243);
    assert_eq!(note.noteable_type, "Commit");
    assert_eq!(note.author_id, Some(1));
    assert_eq!(note.created_at, Some(datetime!(2015-05-17 18:08:09 UTC)));
    assert_eq!(
        note.commit_id.as_deref(),
        Some("cfe32cf61b73a0d5e9f13e774abde7ff789b1660")
    );
    assert_eq!(note.noteable_id, None);
    assert_eq!(note.system, Some(false));
    assert_eq!(note.note_type, None);
    assert_eq!(note.action.as_deref(), Some("create"));
    let commit = hook.commit.as_ref().unwrap();
    assert_eq!(commit.id, "cfe32cf61b73a0d5e9f13e774abde7ff789b1660");
    assert_eq!(commit.title.as_deref(), Some("Add submodule"));
    assert_eq!(commit.timestamp, Some(datetime!(2014-02-27 08:06:20 UTC)));
    assert_eq!(hook.merge_request, None);
    assert_eq!(hook.issue, None);
}

#[test]
fn note_on_issue() {
    let hook = expect!("gitlab-webhooks/note_issue.json", Payload::Note);
    let note = &hook.object_attributes;
    assert_eq!(note.id, 1241);
    assert_eq!(note.noteable_type, "Issue");
    assert_eq!(note.noteable_id, Some(92));
    // `""` in the payload.
    assert_eq!(note.commit_id, None);
    assert_eq!(note.created_at, Some(datetime!(2015-05-17 17:06:40 UTC)));
    let issue = hook.issue.as_ref().unwrap();
    assert_eq!((issue.id, issue.iid), (Some(92), Some(17)));
    assert_eq!(issue.state, "closed");
    assert_eq!(
        issue.created_at,
        Some(datetime!(2016-01-04 15:31:46.176 UTC))
    );
    let label_types: Vec<_> = issue
        .labels
        .iter()
        .map(|l| l.label_type.as_deref().unwrap())
        .collect();
    assert_eq!(label_types, ["GroupLabel", "ProjectLabel"]);
    assert_eq!(hook.merge_request, None);
    assert_eq!(hook.commit, None);
}

#[test]
fn note_on_merge_request() {
    let hook = expect!("gitlab-webhooks/note_merge_request.json", Payload::Note);
    let note = &hook.object_attributes;
    assert_eq!(note.id, 1244);
    assert_eq!(note.note, "This MR needs work.");
    assert_eq!(note.noteable_type, "MergeRequest");
    assert_eq!(note.noteable_id, Some(7));
    assert_eq!(note.created_at, Some(datetime!(2015-05-17 18:21:36 UTC)));
    let mr = hook.merge_request.as_ref().unwrap();
    assert_eq!((mr.id, mr.iid), (Some(7), Some(1)));
    assert_eq!(mr.source_branch, "master");
    assert_eq!(mr.target_branch, "markdown");
    assert_eq!(mr.author_id, Some(8));
    assert_eq!(mr.state, "opened");
    assert_eq!(mr.merge_status.as_deref(), Some("cannot_be_merged"));
    assert_eq!(mr.detailed_merge_status.as_deref(), Some("checking"));
    assert_eq!(mr.created_at, Some(datetime!(2015-03-01 20:12:53 UTC)));
    assert_eq!(mr.updated_at, Some(datetime!(2015-03-21 18:27:27 UTC)));
    assert_eq!(hook.user.as_ref().unwrap().username, "root");
}

#[test]
fn note_on_snippet() {
    let hook = expect!("gitlab-webhooks/note_snippet.json", Payload::Note);
    let note = &hook.object_attributes;
    assert_eq!(note.id, 1245);
    assert_eq!(note.noteable_type, "Snippet");
    assert_eq!(note.noteable_id, Some(53));
    assert_eq!(note.commit_id, None);
    assert_eq!(
        note.discussion_id.as_deref(),
        Some("e1c5835f5f99414806f6fe45b28s48cfebb89ee1")
    );
    assert_eq!(note.note_type, None);
    assert_eq!(note.created_at, Some(datetime!(2015-05-17 18:35:50 UTC)));
    assert_eq!(hook.merge_request, None);
    assert_eq!(hook.issue, None);
    assert_eq!(hook.commit, None);
}

#[test]
fn notes_from_gitlab_8_docs() {
    let hook = expect!("seeds/note_commit_004.json", Payload::Note);
    assert_eq!(hook.object_attributes.id, 1243);
    assert_eq!(hook.event_type, None);
    assert_eq!(hook.project.as_ref().unwrap().id, None);
    assert_eq!(hook.user.as_ref().unwrap().id, None);
    assert_eq!(
        hook.object_attributes.commit_id.as_deref(),
        Some("cfe32cf61b73a0d5e9f13e774abde7ff789b1660")
    );
    assert_eq!(hook.object_attributes.action, None);
    assert_eq!(
        hook.commit.as_ref().unwrap().timestamp,
        Some(datetime!(2014-02-27 08:06:20 UTC))
    );

    // Its merge_request.last_commit.timestamp is malformed; it is not modelled, so it is ignored.
    let hook = expect!("seeds/note_merge_request_004.json", Payload::Note);
    assert_eq!(hook.object_attributes.id, 1244);
    assert_eq!(hook.object_attributes.noteable_id, Some(7));
    assert_eq!(hook.object_attributes.commit_id, None);
    let mr = hook.merge_request.as_ref().unwrap();
    assert_eq!((mr.id, mr.iid), (Some(7), Some(1)));
    assert_eq!(mr.detailed_merge_status, None);

    let hook = expect!("seeds/note_issue_004.json", Payload::Note);
    assert_eq!(hook.object_attributes.id, 1241);
    assert_eq!(hook.object_attributes.commit_id, None);
    let issue = hook.issue.as_ref().unwrap();
    assert_eq!((issue.id, issue.iid), (Some(92), Some(17)));
    assert_eq!(issue.created_at, Some(datetime!(2015-04-12 14:53:17 UTC)));
    assert!(issue.labels.is_empty());

    let hook = expect!("seeds/note_snippet_004.json", Payload::Note);
    assert_eq!(hook.object_attributes.id, 1245);
    assert_eq!(hook.object_attributes.noteable_id, Some(53));
    assert_eq!(hook.object_attributes.commit_id, None);
    assert_eq!(hook.object_attributes.system, Some(false));
}

// ---------------------------------------------------------------------------------------------
// Push Hook and Tag Push Hook

#[test]
fn push() {
    let hook = expect!("gitlab-webhooks/push.json", Payload::Push);
    assert_eq!(hook.object_kind, "push");
    assert_eq!(hook.event_name.as_deref(), Some("push"));
    assert_eq!(hook.before, "95790bf891e76fee5e1747ab589903a6a1f80f22");
    assert_eq!(hook.after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(hook.git_ref, "refs/heads/master");
    assert_eq!(hook.ref_name(), "master");
    assert_eq!(hook.checkout_sha.as_deref(), Some(hook.after.as_str()));
    assert!(!hook.is_tag() && !hook.is_creation() && !hook.is_deletion());
    assert_eq!(hook.user_id, Some(4));
    assert_eq!(hook.user_name, "John Smith");
    assert_eq!(hook.user_username, "jsmith");
    assert_eq!(hook.user_email.as_deref(), Some("john@example.com"));
    assert_eq!(hook.project_id, Some(15));
    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, Some(15));
    assert_eq!(project.path_with_namespace, "mike/diaspora");
    // Only the first commits are listed; the count is the real one.
    assert_eq!(hook.total_commits_count, Some(4));
    assert_eq!(hook.commits.len(), 2);
    assert_eq!(
        hook.commits[0].id,
        "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
    );
    assert_eq!(
        hook.commits[0].timestamp,
        Some(datetime!(2011-12-12 12:27:31 UTC))
    );
    assert_eq!(hook.commits[1].title.as_deref(), Some("fixed readme"));
    assert_eq!(
        hook.commits[1].timestamp,
        Some(datetime!(2012-01-03 21:36:29 UTC))
    );
    assert_eq!(
        hook.commits[1].author.as_ref().unwrap().name,
        "GitLab dev user"
    );
}

#[test]
fn tag_push() {
    let hook = expect!("gitlab-webhooks/tag_push.json", Payload::TagPush);
    assert_eq!(hook.object_kind, "tag_push");
    assert_eq!(hook.git_ref, "refs/tags/v1.0.0");
    assert_eq!(hook.ref_name(), "v1.0.0");
    assert!(hook.is_tag());
    assert_eq!(hook.before, ZERO_SHA);
    assert!(hook.is_creation() && !hook.is_deletion());
    assert_eq!(
        hook.checkout_sha.as_deref(),
        Some("82b3d5ae55f7080f1e6022629cdb57bfae7cccc7")
    );
    assert_eq!(hook.user_id, Some(1));
    assert_eq!(hook.user_username, "jsmith");
    assert_eq!(hook.project.as_ref().unwrap().id, Some(1));
    assert_eq!(hook.total_commits_count, Some(1));
    assert_eq!(
        hook.commits[0].timestamp,
        Some(datetime!(2012-01-03 21:36:29 UTC))
    );
}

#[test]
fn tag_delete_has_zero_after_and_no_checkout_sha() {
    let body = format!(
        r#"{{"object_kind": "tag_push", "before": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
            "after": "{ZERO_SHA}", "ref": "refs/tags/v1.0.0", "checkout_sha": null,
            "user_id": 1, "project_id": 1, "commits": [], "total_commits_count": 0}}"#
    );
    let Payload::TagPush(hook) = payload::parse(body.as_bytes()).unwrap() else {
        panic!("not a tag push")
    };
    assert!(hook.is_deletion() && !hook.is_creation());
    assert_eq!(hook.checkout_sha, None);
}

#[test]
fn oldest_push_has_no_kind() {
    // GitLab before 8.x sent pushes without object_kind: parse cannot tell what it is (the
    // X-Gitlab-Event header can), but the body still fits the push model.
    let body = read_fixture("seeds/push_000.json");
    assert_eq!(
        payload::parse(&body).unwrap(),
        Payload::Other { object_kind: None }
    );
    let hook: PushHook = serde_json::from_slice(&body).unwrap();
    assert_eq!(hook.object_kind, "");
    assert_eq!(hook.git_ref, "refs/heads/master");
    assert_eq!(hook.after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(hook.user_id, Some(4));
    assert_eq!(hook.user_username, "");
    assert_eq!(hook.project, None);
    assert_eq!(hook.checkout_sha, None);
    assert_eq!(hook.total_commits_count, Some(4));
    assert_eq!(
        hook.commits[0].timestamp,
        Some(datetime!(2011-12-12 12:27:31 UTC))
    );
}

#[test]
fn pushes_from_gitlab_8_docs() {
    let hook = expect!("seeds/push_004.json", Payload::Push);
    assert_eq!(hook.ref_name(), "master");
    assert_eq!(hook.checkout_sha, None);
    assert_eq!(hook.user_username, "");
    assert_eq!(hook.user_email.as_deref(), Some("john@example.com"));
    let project = hook.project.as_ref().unwrap();
    assert_eq!(project.id, None);
    assert_eq!(project.path_with_namespace, "mike/diaspora");
    assert_eq!(hook.project_id, Some(15));
    assert_eq!((hook.commits.len(), hook.total_commits_count), (2, Some(4)));

    let hook = expect!("seeds/tag_push_004.json", Payload::TagPush);
    assert_eq!(hook.ref_name(), "v1.0.0");
    assert!(hook.is_creation());
    assert_eq!(hook.checkout_sha, None);
    assert!(hook.commits.is_empty());
    assert_eq!(hook.total_commits_count, Some(0));
}

// ---------------------------------------------------------------------------------------------
// Issue Hook

#[test]
fn issue() {
    let hook = expect!("gitlab-webhooks/issue.json", Payload::Issue);
    assert_eq!(hook.object_kind, "issue");
    assert_eq!(hook.event_type.as_deref(), Some("issue"));
    assert_eq!(hook.user.as_ref().unwrap().id, Some(1));
    assert_eq!(hook.project.as_ref().unwrap().id, Some(1));
    let issue = &hook.object_attributes;
    assert_eq!(issue.id, 301);
    assert_eq!(issue.iid, Some(23));
    assert_eq!(issue.title, "New API: create/update/delete file");
    assert_eq!(issue.state, "opened");
    assert_eq!(issue.action.as_deref(), Some("open"));
    assert_eq!(issue.author_id, Some(51));
    assert_eq!(issue.project_id, Some(14));
    assert_eq!(issue.assignee_ids, [51]);
    assert_eq!(issue.created_at, Some(datetime!(2013-12-03 17:15:43 UTC)));
    assert_eq!(issue.updated_at, Some(datetime!(2013-12-03 17:15:43 UTC)));
    assert_eq!(issue.closed_at, None);
    assert!(!issue.confidential);
    assert_eq!(issue.issue_type, None);
    assert_eq!(issue.labels.len(), 1);
    assert_eq!(issue.labels[0].title, "API");
    assert_eq!(hook.labels, issue.labels);
    assert_eq!(hook.assignees.len(), 1);
    assert_eq!(hook.assignees[0].id, None);
    assert_eq!(hook.assignees[0].username, "user1");
    assert_eq!(
        hook.changes.as_ref().unwrap()["total_time_spent"]["current"],
        9900
    );
    assert_eq!(issue.severity.as_deref(), Some("high"));
    assert_eq!(
        hook.label_change(),
        Some(LabelChange {
            previous: vec!["API".to_owned()],
            current: vec!["Platform".to_owned()],
        })
    );
}

#[test]
fn issues_from_older_docs() {
    let hook = expect!("seeds/issue_000.json", Payload::Issue);
    assert_eq!(hook.user, None);
    assert_eq!(hook.project, None);
    assert_eq!(
        (hook.object_attributes.id, hook.object_attributes.iid),
        (301, Some(23))
    );
    assert_eq!(hook.object_attributes.action, None);
    assert_eq!(hook.object_attributes.state, "opened");
    assert_eq!(hook.object_attributes.severity, None);
    assert_eq!(hook.label_change(), None);

    let hook = expect!("seeds/issue_004.json", Payload::Issue);
    assert_eq!(hook.event_type, None);
    assert_eq!(hook.user.as_ref().unwrap().id, None);
    assert_eq!(hook.project.as_ref().unwrap().id, None);
    assert_eq!(hook.object_attributes.action.as_deref(), Some("open"));
    assert_eq!(
        hook.object_attributes.created_at,
        Some(datetime!(2013-12-03 17:15:43 UTC))
    );
    assert!(hook.labels.is_empty());
}

#[test]
fn work_item_is_an_issue() {
    let body = br#"{"object_kind": "work_item", "event_type": "work_item",
        "object_attributes": {"id": 5, "iid": 2, "type": "Task", "state": "closed",
            "action": "close", "closed_at": "2024-03-01 09:00:00 UTC"}}"#;
    let payload = payload::parse(body).unwrap();
    assert_eq!(payload.object_kind(), Some("work_item"));
    let Payload::Issue(hook) = payload else {
        panic!("not an issue")
    };
    assert_eq!(hook.object_attributes.issue_type.as_deref(), Some("Task"));
    assert_eq!(
        hook.object_attributes.closed_at,
        Some(datetime!(2024-03-01 09:00:00 UTC))
    );
}

// ---------------------------------------------------------------------------------------------
// Deployment Hook and Release Hook

#[test]
fn deployment() {
    let hook = expect!("gitlab-webhooks/deployment.json", Payload::Deployment);
    assert_eq!(hook.object_kind, "deployment");
    assert_eq!(hook.status, "success");
    // `2021-04-28 21:50:00 +0200`
    assert_eq!(
        hook.status_changed_at,
        Some(datetime!(2021-04-28 19:50:00 UTC))
    );
    assert_eq!(hook.deployment_id, 15);
    assert_eq!(hook.deployable_id, Some(796));
    assert_eq!(
        hook.deployable_url.as_deref(),
        Some("http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796")
    );
    assert_eq!(hook.environment, "staging");
    assert_eq!(hook.environment_slug.as_deref(), Some("staging"));
    assert_eq!(
        hook.environment_external_url.as_deref(),
        Some("https://staging.example.com")
    );
    assert_eq!(hook.environment_tier, None);
    assert_eq!(hook.project.as_ref().unwrap().id, Some(30));
    assert_eq!(hook.short_sha, "279484c0");
    assert_eq!(hook.user.as_ref().unwrap().id, Some(42));
    assert_eq!(hook.commit_title.as_deref(), Some("Add new file"));
    assert_eq!(hook.git_ref.as_deref(), Some("1.0.0"));
    // The commit URL ends in the full SHA that `short_sha` abbreviates.
    assert_eq!(
        hook.commit_sha().as_deref(),
        Some("279484c09fbe69ededfced8c1bb6e6d24616b468")
    );
}

#[test]
fn deployment_sha_is_unknown_unless_the_commit_url_ends_in_it() {
    let mut hook = expect!("gitlab-webhooks/deployment.json", Payload::Deployment);
    let full = "279484c09fbe69ededfced8c1bb6e6d24616b468";
    let with_url = |hook: &mut DeploymentHook, url: Option<&str>| {
        hook.commit_url = url.map(str::to_owned);
        hook.commit_sha()
    };
    // Older versions' URL form, upper case, a trailing slash and a query are read.
    let old = format!("http://gitlab.example.com/root/app/commit/{full}");
    assert_eq!(with_url(&mut hook, Some(&old)).as_deref(), Some(full));
    let upper = format!(
        "http://gitlab.example.com/root/app/-/commit/{}/?view=parallel",
        full.to_uppercase()
    );
    assert_eq!(with_url(&mut hook, Some(&upper)).as_deref(), Some(full));
    // No URL; GitLab's test-hook sample (a short SHA); not hex; another commit than short_sha.
    assert_eq!(with_url(&mut hook, None), None);
    let sample = "https://gitlab.example.com/user/project/-/tree/aaaaaa";
    assert_eq!(with_url(&mut hook, Some(sample)), None);
    let not_hex = format!(
        "http://gitlab.example.com/root/app/-/commit/{}g",
        &full[..39]
    );
    assert_eq!(with_url(&mut hook, Some(&not_hex)), None);
    let other_sha = "a".repeat(40);
    let other = format!("http://gitlab.example.com/root/app/-/commit/{other_sha}");
    assert_eq!(with_url(&mut hook, Some(&other)), None);
    // Without a short SHA to check against, a full SHA is taken as it is.
    hook.short_sha.clear();
    assert_eq!(with_url(&mut hook, Some(&other)), Some(other_sha));
}

#[test]
fn release() {
    let hook = expect!("gitlab-webhooks/release.json", Payload::Release);
    assert_eq!(hook.object_kind, "release");
    assert_eq!(hook.id, 8_273_642);
    assert_eq!(hook.created_at, Some(datetime!(2021-02-25 21:23:34 UTC)));
    assert_eq!(hook.released_at, Some(datetime!(2021-02-25 21:23:34 UTC)));
    assert_eq!(hook.name, "1.0.0");
    assert_eq!(hook.tag, "1.0.0");
    assert_eq!(hook.description.as_deref(), Some("Release!"));
    assert_eq!(hook.action.as_deref(), Some("create"));
    assert_eq!(hook.project.as_ref().unwrap().id, Some(327_622));
    assert_eq!(
        hook.url.as_deref(),
        Some("http://example.com/exm-namespace/example-project/-/releases/1.0.0")
    );
    let commit = hook.commit.as_ref().unwrap();
    assert_eq!(commit.id, "2626dbdb936782b5c54816b1c6d45b1279303c6d");
    assert_eq!(commit.timestamp, Some(datetime!(2021-02-25 21:21:58 UTC)));
}

// ---------------------------------------------------------------------------------------------
// Kinds analytics does not model

#[test]
fn unmodelled_kinds_are_other() {
    for (file, kind) in [
        ("gitlab-webhooks/wiki_page.json", "wiki_page"),
        ("gitlab-webhooks/feature_flag.json", "feature_flag"),
        (
            "gitlab-webhooks/resource_access_token_group.json",
            "access_token",
        ),
        (
            "gitlab-webhooks/resource_access_token_project.json",
            "access_token",
        ),
        // System hooks without object_kind: their event_name.
        ("gitlab-webhooks/member.json", "user_add_to_group"),
        ("gitlab-webhooks/subgroup.json", "subgroup_create"),
    ] {
        assert_eq!(
            parse_fixture(file),
            Payload::Other {
                object_kind: Some(kind.into())
            },
            "{file}"
        );
    }
}

#[test]
fn unknown_kind_is_other_not_an_error() {
    let payload =
        payload::parse(br#"{"object_kind": "vulnerability", "object_attributes": 1}"#).unwrap();
    assert_eq!(
        payload,
        Payload::Other {
            object_kind: Some("vulnerability".into())
        }
    );
    assert_eq!(payload.object_kind(), Some("vulnerability"));
}

// ---------------------------------------------------------------------------------------------
// Tolerance

/// Adds a field unknown to the models to every object of a JSON document, except inside
/// `changes`, which the models keep raw.
fn add_unknown_fields(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.iter_mut()
                .filter(|(key, _)| *key != "changes")
                .for_each(|(_, v)| add_unknown_fields(v));
            map.insert(
                "field_from_a_future_gitlab".into(),
                serde_json::json!({"nested": [1, "two", null]}),
            );
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(add_unknown_fields),
        _ => {}
    }
}

#[test]
fn unknown_fields_anywhere_are_ignored() {
    for (file, _) in EXPECTED_VARIANTS {
        let body = read_fixture(file);
        let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        add_unknown_fields(&mut value);
        let extended = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            payload::parse(&extended).unwrap(),
            payload::parse(&body).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn null_and_empty_values_are_tolerated() {
    let body = br#"{"object_kind": "pipeline",
        "object_attributes": {"id": 9, "ref": null, "tag": null, "stages": null,
            "created_at": "", "finished_at": null, "duration": null, "status": "running"},
        "user": null, "project": null, "commit": null, "builds": [
            {"id": 1, "runner": {"id": 3, "tags": null, "active": null}, "started_at": ""}
        ]}"#;
    let Payload::Pipeline(hook) = payload::parse(body).unwrap() else {
        panic!("not a pipeline")
    };
    let p = &hook.object_attributes;
    assert_eq!(p.id, 9);
    assert_eq!(p.git_ref, "");
    assert!(!p.tag);
    assert!(p.stages.is_empty());
    assert_eq!(
        (p.created_at, p.finished_at, p.duration),
        (None, None, None)
    );
    assert_eq!(hook.user, None);
    let runner = hook.builds[0].runner.as_ref().unwrap();
    assert!(runner.tags.is_empty() && !runner.active);
    assert_eq!(hook.builds[0].started_at, None);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn invalid_json_is_reported_with_its_position() {
    let err =
        payload::parse(b"{\"object_kind\": \"pipeline\",\n  \"object_attributes\": {\"id\": 1,}")
            .unwrap_err();
    match &err {
        PayloadError::InvalidJson { line, column, .. } => assert_eq!((*line, *column), (2, 33)),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with("webhook body is not valid JSON: ")
            && message.ends_with("at line 2 column 33"),
        "{message}"
    );
}

#[test]
fn trailing_comma_as_in_a_documented_example_is_invalid_json() {
    // The Japanese documentation's "comment on issue" example ends its `labels` with `],`.
    let body = b"{\"object_kind\": \"note\", \"issue\": {\"iid\": 17, \"labels\": [],\n  }\n}";
    assert!(matches!(
        payload::parse(body),
        Err(PayloadError::InvalidJson { line: 2, .. })
    ));
}

#[test]
fn truncated_body_is_invalid_json() {
    let body = read_fixture("gitlab-webhooks/pipeline.json");
    let err = payload::parse(&body[..body.len() / 2]).unwrap_err();
    assert!(matches!(err, PayloadError::InvalidJson { .. }), "{err}");
}

#[test]
fn known_kind_that_does_not_fit_the_model_names_the_kind_and_path() {
    let err =
        payload::parse(br#"{"object_kind":"pipeline","object_attributes":"nope"}"#).unwrap_err();
    match &err {
        PayloadError::Model { kind, path, reason } => {
            assert_eq!(kind, "pipeline");
            assert_eq!(path, "object_attributes");
            assert!(
                reason.starts_with(
                    "invalid type: string \"nope\", expected struct PipelineAttributes"
                ),
                "{reason}"
            );
        }
        other => panic!("expected Model, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "pipeline payload does not fit the model at `object_attributes`: invalid type: string \
         \"nope\", expected struct PipelineAttributes at line 1 column 52"
    );
}

#[test]
fn missing_own_id_is_a_model_error() {
    let err = payload::parse(br#"{"object_kind": "build", "build_name": "test"}"#).unwrap_err();
    match err {
        PayloadError::Model { kind, path, reason } => {
            assert_eq!(kind, "build");
            assert_eq!(path, ".");
            assert!(reason.starts_with("missing field `build_id`"), "{reason}");
        }
        other => panic!("expected Model, got {other:?}"),
    }
}

#[test]
fn bad_nested_values_are_located() {
    let err = payload::parse(
        br#"{"object_kind": "pipeline", "object_attributes": {"id": 1},
            "builds": [{"id": 2}, {"id": 3, "started_at": "half past ten"}]}"#,
    )
    .unwrap_err();
    match err {
        PayloadError::Model { kind, path, reason } => {
            assert_eq!(kind, "pipeline");
            assert_eq!(path, "builds[1].started_at");
            assert!(
                reason.starts_with("invalid GitLab timestamp \"half past ten\": expected "),
                "{reason}"
            );
        }
        other => panic!("expected Model, got {other:?}"),
    }

    let err = payload::parse(
        br#"{"object_kind": "merge_request", "object_attributes": {"id": 1, "iid": "one"}}"#,
    )
    .unwrap_err();
    match err {
        PayloadError::Model { kind, path, .. } => {
            assert_eq!(
                (kind.as_str(), path.as_str()),
                ("merge_request", "object_attributes.iid")
            );
        }
        other => panic!("expected Model, got {other:?}"),
    }
}
