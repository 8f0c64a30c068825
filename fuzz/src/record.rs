//! Fuzz target: the Kafka record headers and the deduplication log format
//! (`hookline_schemas::record`).
//!
//! The consumers read record headers back from Kafka and ingest replicas read each other's
//! deduplication log entries; a record not written by Hookline (or written by a later
//! version) must be an error or skipped, never a panic, and what Hookline writes must read
//! back as written.

use hookline_schemas::record::{event_id, header, DedupEntry, RecordHeaders};

use crate::input::Input;

/// Header names a record can carry: Hookline's own and one it does not know.
const NAMES: [&str; 8] = [
    header::EVENT_TYPE,
    header::EVENT_ID,
    header::RECEIVED_AT_MS,
    header::DELIVERY_KEY,
    header::GITLAB_INSTANCE,
    header::SOURCE,
    header::GITLAB_VERSION,
    "x-unknown",
];

pub fn run(data: &[u8]) {
    // Arbitrary pairs, as a record from anywhere would carry them.
    let mut input = Input::new(data);
    let count = input.byte() % 12;
    let pairs: Vec<(&str, Option<&[u8]>)> = (0..count)
        .map(|_| {
            let name = NAMES[input.byte() as usize % NAMES.len()];
            let value = (input.byte() % 8 != 0).then(|| input.bytes(40));
            (name, value)
        })
        .collect();
    if let Ok(headers) = RecordHeaders::from_pairs(pairs.iter().copied()) {
        round_trip(&headers);
    }

    // Headers as ingest writes them read back unchanged.
    let event_type = input.text(32);
    let body = input.bytes(64);
    let headers = RecordHeaders {
        event_id: event_id(&event_type, body),
        event_type,
        delivery_key: input.opt_text(32),
        received_at_ms: input.i64(),
        gitlab_instance: input.opt_text(32),
        source: input.opt_text(16),
        gitlab_version: input.opt_text(16),
    };
    assert_eq!(headers.event_id.len(), 64);
    assert_eq!(headers.event_id, event_id(&headers.event_type, body));
    round_trip(&headers);

    // The deduplication log: anything decodes without panicking, and what it decodes to
    // encodes and decodes to the same entries.
    let rest = input.rest();
    let entries: Vec<DedupEntry> = DedupEntry::decode_lines(rest).collect();
    let encoded = DedupEntry::encode_lines(&entries);
    let again: Vec<DedupEntry> = DedupEntry::decode_lines(&encoded).collect();
    assert_eq!(again, entries);
    let own = DedupEntry::of(&headers);
    let encoded = DedupEntry::encode_lines(std::slice::from_ref(&own));
    assert_eq!(
        DedupEntry::decode_lines(&encoded).collect::<Vec<_>>(),
        [own]
    );
}

fn round_trip(headers: &RecordHeaders) {
    let pairs = headers.to_pairs();
    let back = RecordHeaders::from_pairs(pairs.iter().map(|(n, v)| (*n, Some(v.as_bytes()))))
        .expect("headers Hookline wrote read back");
    assert_eq!(&back, headers);
}
