//! Fuzz target: the spool's value format (`hookline_ingest::sinks::spool::codec`).
//!
//! A spool written by one release is drained by the next, and a disk can hand back damaged
//! bytes; the decoder promises to reject every malformed value with an error, never a panic.
//! The format has exactly one encoding per record, so a value that decodes must encode back
//! to the same bytes, and every record must decode to itself.

use bytes::Bytes;
use hookline_ingest::sinks::spool::codec::{decode, encode, spooled_at_ms};
use hookline_ingest::sinks::HookRecord;
use hookline_schemas::record::RecordHeaders;

use crate::input::Input;

pub fn run(data: &[u8]) {
    // The bytes as a stored value.
    check_value(data);

    // The bytes as a record: it round-trips, and so does every damaged copy that decodes.
    let mut input = Input::new(data);
    let spooled_at = input.i64();
    let damage_at = input.u16() as usize;
    let damage = input.byte();
    let record = record(&mut input);
    let value = encode(&record, spooled_at);
    let (back, at) = decode(&value).expect("an encoded record decodes");
    assert_eq!(at, spooled_at);
    assert_same(&back, &record);
    assert_eq!(spooled_at_ms(&value), Ok(spooled_at));

    let mut damaged = value.clone();
    if !damaged.is_empty() {
        let at = damage_at % damaged.len();
        damaged[at] ^= damage.max(1);
        check_value(&damaged);
    }
    check_value(&value[..damage_at % (value.len() + 1)]);
}

/// A stored value: decodes or is refused; what decodes re-encodes to the same bytes.
fn check_value(value: &[u8]) {
    match decode(value) {
        Ok((record, at)) => {
            assert_eq!(encode(&record, at), value, "two encodings of one record");
            assert_eq!(spooled_at_ms(value), Ok(at));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

fn record(input: &mut Input<'_>) -> HookRecord {
    HookRecord {
        topic: input.text(24),
        key: input.text(24),
        dead_letter_reason: input.opt_text(48),
        headers: RecordHeaders {
            event_type: input.text(24),
            event_id: input.text(64),
            delivery_key: input.opt_text(36),
            received_at_ms: input.i64(),
            gitlab_instance: input.opt_text(32),
            source: input.opt_text(16),
            gitlab_version: input.opt_text(16),
        },
        body: Bytes::copy_from_slice(input.rest()),
    }
}

/// `HookRecord` has no `PartialEq`: compare field by field.
fn assert_same(a: &HookRecord, b: &HookRecord) {
    assert_eq!(a.topic, b.topic);
    assert_eq!(a.key, b.key);
    assert_eq!(a.dead_letter_reason, b.dead_letter_reason);
    assert_eq!(a.headers, b.headers);
    assert_eq!(a.body, b.body);
}
