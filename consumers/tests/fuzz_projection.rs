//! The short run of the projection fuzz target (`fuzz/src/projection.rs`), as property tests:
//! the function libFuzzer runs in `make fuzz`, called with real fixtures mutated field by
//! field under every `X-Gitlab-Event`, and with random bytes, a fixed number of times from a
//! fixed seed on the stable toolchain. Inputs a fuzzer found to break the projection are kept
//! below as regression cases.

#[path = "../../fuzz/src/fixtures.rs"]
mod fixtures;
#[path = "../../fuzz/src/input.rs"]
mod input;
#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[path = "../../fuzz/src/projection.rs"]
mod projection;
#[path = "../../fuzz/src/property.rs"]
mod property;

use property::{config, fixtures, mutated_fixture};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn projection_of_mutated_fixtures((event, body) in mutated_fixture()) {
        projection::check(event, &body);
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn projection_of_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        projection::run(&input);
    }
}

#[test]
fn every_fixture_projects_under_every_event() {
    for fixture in fixtures() {
        for event in fixtures::EVENTS {
            projection::check(event, &fixture.body);
        }
    }
}

/// The timestamp parser's year-9999 defect reaches the consumers through every model with a
/// timestamp: one such pipeline must be a dead letter (or a row), never a panic.
#[test]
fn regression_pipeline_finished_in_year_9999_with_negative_offset() {
    let pipeline = fixtures()
        .iter()
        .find(|f| f.name == "pipeline.json")
        .expect("the pipeline fixture");
    let mut body: serde_json::Value = serde_json::from_slice(&pipeline.body).unwrap();
    body["object_attributes"]["finished_at"] = "9999-12-31T23:30:00-01:00".into();
    projection::check("Pipeline Hook", &serde_json::to_vec(&body).unwrap());
}

/// Ingest accepts a push with 100,000 nested arrays in a member no model reads (the record key
/// skips it without recursion); projecting it must not overflow the stack either.
#[test]
fn a_deeply_nested_member_no_model_reads_projects() {
    let depth = 100_000;
    let body = format!(
        r#"{{"object_kind":"push","project_id":7,"x":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    projection::check("Push Hook", body.as_bytes());
}
