//! What the property-test runs of the fuzz targets share (included by the test files of
//! schemas, ingest and consumers with `#[path]`; not part of the cargo-fuzz crate, which has
//! no proptest): one fixed configuration and the fixtures, read once.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::fixtures::{self as fixture_files, Fixture};
use super::mutate;

/// A fixed seed and no regression files: the same inputs on every run and every machine.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x686f_6f6b_6c69_6e65),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every fixture, read once per test binary.
pub fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(fixture_files::all)
}

/// A fixture's body mutated field by field, under its own `X-Gitlab-Event` or, half the
/// time, under another fixture's: the structure-aware input of the JSON targets.
#[allow(dead_code)] // Each test file uses its own part.
pub fn mutated_fixture() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(fixture, event, own_event, choices)| {
            let fixture = fixture.get(fixtures());
            let event = if own_event {
                fixture.event
            } else {
                *event.get(&fixture_files::EVENTS)
            };
            (event, mutate::mutate(&fixture.body, &choices))
        })
}
