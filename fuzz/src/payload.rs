//! Fuzz target: payload parsing and routing of a delivery (`hookline_schemas::payload`,
//! `record::record_key`, `event::Family`).
//!
//! Ingest routes every body by `X-Gitlab-Event` and keys it with `record_key`; the consumers
//! parse it with `payload::parse`. Both see what any client sends, so neither may panic, and
//! what they accept must be what their documentation promises: a parsed payload is valid JSON
//! (the whole body's syntax is checked whatever its kind), a record key exists exactly for
//! JSON objects, and the family of a header ignores ASCII case and surrounding whitespace.

use hookline_schemas::event::Family;
use hookline_schemas::payload::{self, Payload};
use hookline_schemas::record;
use serde::de::IgnoredAny;

use crate::input::split;

pub fn run(data: &[u8]) {
    let (event, body) = split(data);
    check(&event, body);
}

/// The invariants for one delivery; panics when one is broken.
pub fn check(event: &str, body: &[u8]) {
    let family = Family::from_event_header(event);
    assert_eq!(
        Family::from_event_header(&format!(" {} ", event.to_ascii_uppercase())),
        family,
        "case or padding changed the family of {event:?}"
    );
    assert!(Family::ALL.contains(&family));

    let is_json = serde_json::from_slice::<IgnoredAny>(body).is_ok();
    let starts_as_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if let Ok(key) = record::record_key(body) {
        assert!(
            is_json && starts_as_object,
            "a key for a non-object: {key:?}"
        );
    }

    match payload::parse(body) {
        Ok(parsed) => {
            assert!(is_json, "parse accepted a body that is not JSON");
            // The kind it reports is the one it dispatched on, stable on a second parse.
            let again = Payload::parse(body).expect("the same body parses again");
            assert_eq!(again, parsed);
            if let Some(kind) = parsed.object_kind() {
                assert!(!kind.is_empty() || matches!(parsed, Payload::Other { .. }));
            }
        }
        Err(error) => {
            // Every error renders a message (the consumers put it in the dead-letter header).
            assert!(!error.to_string().is_empty());
        }
    }
}
