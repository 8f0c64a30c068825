//! Fuzz target: the consumers' projection of a raw hook into table rows
//! (`hookline_consumers::projection::Batch::add`), for every event family.
//!
//! Records in the family topics hold whatever a client posted with a valid token; the
//! projection must never panic on one (a panic would stop the consumer on that record for
//! good; a panic the projection catches is reported here as the defect it is), and it must
//! keep its promise: a record with a UTF-8 body always gets its `raw_hooks` row with its exact
//! body, its typed rows come all or none, and the same record always gives the same rows.

use hookline_consumers::projection::{Added, Batch, HookMessage, ProjectionError};
use hookline_schemas::event::Family;
use hookline_schemas::record::{event_id, RecordHeaders};

use crate::input::split;

pub fn run(data: &[u8]) {
    let (event, body) = split(data);
    check(&event, body);
}

/// A record as the consumers read it from Kafka.
pub fn message(event: &str, body: &[u8]) -> HookMessage {
    HookMessage {
        topic: "gitlab.fuzz".to_owned(),
        partition: 3,
        offset: 42,
        key: "7".to_owned(),
        headers: RecordHeaders {
            event_type: event.to_owned(),
            event_id: event_id(event, body),
            delivery_key: None,
            received_at_ms: 1_700_000_000_000,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        },
        body: body.to_vec(),
    }
}

/// The invariants for one record; panics when one is broken.
pub fn check(event: &str, body: &[u8]) {
    let message = message(event, body);
    let mut batch = Batch::default();
    match batch.add(&message) {
        Err(error) => {
            assert!(!error.to_string().is_empty());
            assert_eq!(batch.all().len(), 0, "a refused record left rows: {error}");
        }
        Ok(added) => {
            assert_eq!(batch.raw_hooks.len(), 1);
            let raw = &batch.raw_hooks[0];
            assert_eq!(raw.body.as_bytes(), body, "raw_hooks changed the body");
            assert_eq!(raw.event_type, event);
            assert_eq!(raw.family, Family::from_event_header(event).as_str());
            match added {
                // A panic caught in a projection is a defect the fuzzer must report.
                Added::RawOnly(error @ ProjectionError::Panicked(_)) => {
                    panic!("a projection panicked: {error}")
                }
                Added::RawOnly(error) => {
                    assert!(!error.to_string().is_empty());
                    assert_eq!(
                        batch.all().len(),
                        1,
                        "typed rows of a refused record: {error}"
                    );
                }
                Added::Complete => {}
            }
            // One hook is one entity at most in each typed table (reviews aside, and commits:
            // a push lists many).
            for (table, count) in [
                ("pipelines", batch.pipelines.len()),
                ("jobs", batch.jobs.len()),
                ("merge_requests", batch.merge_requests.len()),
                ("merge_request_events", batch.merge_request_events.len()),
                ("pushes", batch.pushes.len()),
                ("issues", batch.issues.len()),
                ("deployments", batch.deployments.len()),
                ("releases", batch.releases.len()),
                ("instance_events", batch.instance_events.len()),
                ("deployment_events", batch.deployment_events.len()),
                ("issue_events", batch.issue_events.len()),
                ("project_observations", batch.project_observations.len()),
            ] {
                assert!(count <= 1, "{count} rows in {table} from one hook");
            }
            // Pure: the same record gives the same rows.
            let mut again = Batch::default();
            let _ = again.add(&message).expect("the same record projects again");
            assert_eq!(format!("{again:?}"), format!("{batch:?}"));
        }
    }
}
