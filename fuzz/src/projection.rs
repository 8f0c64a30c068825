//! Fuzz target: the consumers' projection of a raw hook into table rows
//! (`hookline_consumers::projection::Batch::add`), for every event family.
//!
//! Records in the family topics hold whatever a client posted with a valid token; the
//! projection must never panic on one (a panic would stop the consumer on that record for
//! good), and it must keep its promise: a record is projected entirely or not at all, with
//! its exact body in `raw_hooks`, and the same record always gives the same rows.

use hookline_consumers::projection::{Batch, HookMessage};
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
            assert_eq!(rows(&batch), 0, "a refused record left rows: {error}");
        }
        Ok(()) => {
            assert_eq!(batch.raw_hooks.len(), 1);
            let raw = &batch.raw_hooks[0];
            assert_eq!(raw.body.as_bytes(), body, "raw_hooks changed the body");
            assert_eq!(raw.event_type, event);
            assert_eq!(raw.family, Family::from_event_header(event).as_str());
            // One hook is one entity at most in each typed table (reviews aside).
            for (table, count) in [
                ("pipelines", batch.pipelines.len()),
                ("jobs", batch.jobs.len()),
                ("merge_requests", batch.merge_requests.len()),
                ("merge_request_events", batch.merge_request_events.len()),
                ("pushes", batch.pushes.len()),
                ("issues", batch.issues.len()),
                ("deployments", batch.deployments.len()),
                ("releases", batch.releases.len()),
            ] {
                assert!(count <= 1, "{count} rows in {table} from one hook");
            }
            // Pure: the same record gives the same rows.
            let mut again = Batch::default();
            again.add(&message).expect("the same record projects again");
            assert_eq!(again.raw_hooks, batch.raw_hooks);
            assert_eq!(again.pipelines, batch.pipelines);
            assert_eq!(again.jobs, batch.jobs);
            assert_eq!(again.merge_requests, batch.merge_requests);
            assert_eq!(again.merge_request_events, batch.merge_request_events);
            assert_eq!(again.merge_request_reviews, batch.merge_request_reviews);
            assert_eq!(again.pushes, batch.pushes);
            assert_eq!(again.issues, batch.issues);
            assert_eq!(again.deployments, batch.deployments);
            assert_eq!(again.releases, batch.releases);
        }
    }
}

/// Rows in every table of the batch.
fn rows(batch: &Batch) -> usize {
    batch.raw_hooks.len()
        + batch.pipelines.len()
        + batch.jobs.len()
        + batch.merge_requests.len()
        + batch.merge_request_events.len()
        + batch.merge_request_reviews.len()
        + batch.pushes.len()
        + batch.issues.len()
        + batch.deployments.len()
        + batch.releases.len()
}
