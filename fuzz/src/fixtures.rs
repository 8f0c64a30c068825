//! The real GitLab payloads in `schemas/fixtures/`, the starting points of the JSON targets.

// Not every test uses every helper.
#![allow(dead_code)]

use std::path::PathBuf;

/// `X-Gitlab-Event` values: every name GitLab sends, in other cases and spacing, and names
/// ingest does not know.
pub const EVENTS: [&str; 22] = [
    "Pipeline Hook",
    "Job Hook",
    "Build Hook",
    "Merge Request Hook",
    "Push Hook",
    "Tag Push Hook",
    "Issue Hook",
    "Confidential Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Deployment Hook",
    "Release Hook",
    "Wiki Page Hook",
    "System Hook",
    "Member Hook",
    "Emoji Hook",
    "Resource Access Token Hook",
    " pipeline hook ",
    "JOB HOOK",
    "",
    "Push Hook\u{0}",
    "Pipeline\u{a0}Hook",
];

/// A fixture: its file name, the `X-Gitlab-Event` GitLab sends it with, and its bytes.
pub struct Fixture {
    pub name: String,
    pub event: &'static str,
    pub body: Vec<u8>,
}

/// The `X-Gitlab-Event` of a fixture, from its file name.
pub fn event_of(name: &str) -> &'static str {
    const BY_NAME: [(&str, &str); 15] = [
        ("note", "Note Hook"),
        ("tag_push", "Tag Push Hook"),
        ("push", "Push Hook"),
        ("merge_request", "Merge Request Hook"),
        ("pipeline", "Pipeline Hook"),
        ("build", "Job Hook"),
        ("job", "Job Hook"),
        ("issue", "Issue Hook"),
        ("deployment", "Deployment Hook"),
        ("release", "Release Hook"),
        ("wiki_page", "Wiki Page Hook"),
        ("feature_flag", "Feature Flag Hook"),
        ("member", "Member Hook"),
        ("subgroup", "Subgroup Hook"),
        ("resource_access_token", "Resource Access Token Hook"),
    ];
    BY_NAME
        .iter()
        .find(|(part, _)| name.contains(part))
        .map_or("System Hook", |(_, event)| event)
}

/// Every fixture, in a fixed order.
pub fn all() -> Vec<Fixture> {
    // Every crate that includes this file sits one level below the repository root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures");
    let mut fixtures = Vec::new();
    for dir in ["gitlab-webhooks", "seeds"] {
        let dir = root.join(dir);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path
                    .file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned();
                let body = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                fixtures.push(Fixture {
                    event: event_of(&name),
                    name,
                    body,
                });
            }
        }
    }
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        fixtures.len() >= 30,
        "fixtures missing under {}",
        root.display()
    );
    fixtures
}
