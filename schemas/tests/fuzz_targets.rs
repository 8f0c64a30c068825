//! The short run of this crate's fuzz targets (`fuzz/src/`), as property tests: the same
//! target functions libFuzzer runs in `make fuzz`, called with a fixed number of generated
//! inputs from a fixed seed, so `make test` exercises them on the stable toolchain in seconds.
//! Real fixtures mutated field by field reach much further than random bytes; random bytes
//! are run too. Inputs a fuzzer found to break a target are kept below as regression cases.

#[path = "../../fuzz/src/fixtures.rs"]
mod fixtures;
#[path = "../../fuzz/src/input.rs"]
mod input;
#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[path = "../../fuzz/src/payload.rs"]
mod payload;
#[path = "../../fuzz/src/property.rs"]
mod property;
#[path = "../../fuzz/src/record.rs"]
mod record;
#[path = "../../fuzz/src/timestamp.rs"]
mod timestamp;

use property::{config, fixtures, mutated_fixture};
use proptest::prelude::*;

/// A field anywhere in `range`, or, one time in three, at one of its `edges`.
fn edgy<T>(range: std::ops::RangeInclusive<T>, edges: &[T]) -> impl Strategy<Value = T>
where
    T: Copy + std::fmt::Debug + 'static,
    std::ops::RangeInclusive<T>: Strategy<Value = T>,
{
    prop_oneof![2 => range, 1 => prop::sample::select(edges.to_vec())]
}

/// A timestamp in one of GitLab's forms, with fields anywhere in (and a little past) range,
/// often at the edges of the calendar, where offsets carry an instant into another year.
fn gitlab_timestamp() -> impl Strategy<Value = String> {
    (
        (
            edgy(0i32..=9999, &[0, 1, 1970, 9999]),
            edgy(0u8..=13, &[1, 12]),
            edgy(0u8..=32, &[1, 31]),
            edgy(0u8..=24, &[0, 23]),
            edgy(0u8..=60, &[0, 59]),
            0u8..=60,
        ),
        proptest::option::of(0u32..1_000_000_000),
        0u8..6,
        -25i8..=25,
        0u8..=60,
    )
        .prop_map(|((y, mo, d, h, mi, s), fraction, form, off_h, off_m)| {
            let date = format!("{y:04}-{mo:02}-{d:02}");
            let time = format!("{h:02}:{mi:02}:{s:02}");
            let time = match fraction {
                Some(f) => format!("{time}.{f}"),
                None => time,
            };
            let sign = if off_h < 0 { '-' } else { '+' };
            let oh = off_h.unsigned_abs();
            match form {
                0 => format!("{date} {time} UTC"),
                1 => format!("{date}T{time}Z"),
                2 => format!("{date}T{time}{sign}{oh:02}:{off_m:02}"),
                3 => format!("{date} {time} {sign}{oh:02}{off_m:02}"),
                4 => format!("{date} {time} {sign}{oh:02}:{off_m:02}"),
                _ => format!("{date}T{time}{sign}{oh:02}{off_m:02}"),
            }
        })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn timestamp_forms_parse_or_fail_without_panicking(input in gitlab_timestamp()) {
        timestamp::check(&input);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn timestamp_any_text(input in proptest::collection::vec(any::<u8>(), 0..48)) {
        timestamp::run(&input);
    }

    #[test]
    fn timestamp_near_misses(input in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]{5,14}( ?UTC|Z|[+-][0-9:]{2,5}| [+-][0-9]{4})?") {
        timestamp::check(&input);
    }

    #[test]
    fn payload_mutated_fixtures((event, body) in mutated_fixture()) {
        payload::check(event, &body);
    }

    #[test]
    fn payload_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        payload::run(&input);
    }

    #[test]
    fn record_headers_and_dedup_lines(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        record::run(&input);
    }
}

#[test]
fn every_fixture_passes_the_payload_target_unchanged() {
    for fixture in fixtures() {
        payload::check(fixture.event, &fixture.body);
    }
}

/// Found by fuzzing: RFC 3339 near the end of year 9999 with a negative offset is in year
/// 10000 in UTC, past what `time` represents; `parse_gitlab_time` must refuse it, not panic.
#[test]
fn regression_year_9999_with_negative_offset() {
    timestamp::check("9999-12-31T23:30:00-01:00");
    timestamp::check("9999-12-31 23:59:59 -0001");
    timestamp::check("9999-12-31T23:00:00-0100");
}
