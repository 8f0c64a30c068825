//! The GitLab payloads the tests and the benchmark send, from `schemas/fixtures/` (see its
//! README for origins).

use std::path::PathBuf;

/// The fixtures folder of the schemas crate.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture's bytes, by path under `schemas/fixtures/` (e.g. `seeds/pipeline_hook.json`).
pub fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// The hook kinds of a realistic mix, with the share of each in GitLab traffic in mind:
/// job and pipeline hooks dominate, merge requests, pushes and notes follow.
const MIX: &[(&str, &str)] = &[
    ("gitlab-webhooks/job.json", "Job Hook"),
    ("gitlab-webhooks/build.json", "Job Hook"),
    ("gitlab-webhooks/job.json", "Job Hook"),
    ("gitlab-webhooks/pipeline.json", "Pipeline Hook"),
    ("seeds/pipeline_hook.json", "Pipeline Hook"),
    ("gitlab-webhooks/merge_request.json", "Merge Request Hook"),
    ("gitlab-webhooks/push.json", "Push Hook"),
    ("gitlab-webhooks/note_merge_request.json", "Note Hook"),
    ("gitlab-webhooks/issue.json", "Issue Hook"),
    ("gitlab-webhooks/deployment.json", "Deployment Hook"),
    ("gitlab-webhooks/tag_push.json", "Tag Push Hook"),
    ("gitlab-webhooks/release.json", "Release Hook"),
];

/// Hooks number `ids` of the realistic mix: each a fixture with its object id and project id
/// varied, so every body (and so every event id) is different, also across calls with
/// disjoint ranges, and the records spread over 50 projects.
pub fn mix(ids: std::ops::Range<usize>) -> Vec<super::gitlab::Hook> {
    let templates: Vec<(serde_json::Value, &'static str)> = MIX
        .iter()
        .map(|(file, event)| {
            let value = serde_json::from_slice(&read(file))
                .unwrap_or_else(|e| panic!("fixture {file} is not JSON: {e}"));
            (value, *event)
        })
        .collect();
    ids.map(|i| {
        let (template, event) = &templates[i % templates.len()];
        let mut body = template.clone();
        let project = (i % 50 + 1) as u64;
        let id = 10_000_000 + i as u64;
        for pointer in ["/project_id", "/project/id"] {
            if let Some(value) = body.pointer_mut(pointer) {
                *value = project.into();
            }
        }
        for pointer in [
            "/object_attributes/id",
            "/build_id",
            "/id",
            "/deployment_id",
            // The number within the project too: GitLab never gives two merge requests (or
            // issues, pipelines) of one project the same iid, and tables keyed by it would
            // rightly collapse them.
            "/object_attributes/iid",
            "/merge_request/iid",
        ] {
            if let Some(value) = body.pointer_mut(pointer) {
                *value = id.into();
            }
        }
        // Not every kind has an object id (pushes do not): an extra member, which GitLab
        // consumers ignore like any unknown field, keeps every body distinct.
        if let Some(object) = body.as_object_mut() {
            object.insert("hookline_load_sequence".to_owned(), (i as u64).into());
        }
        super::gitlab::Hook {
            event,
            body: serde_json::to_vec(&body).expect("JSON"),
        }
    })
    .collect()
}
