//! What the property-test runs of the fuzz targets share (included by the test files of
//! schemas, ingest and consumers with `#[path]`; not part of the cargo-fuzz crate, which has
//! no proptest): one fixed configuration and the fixtures, read once.

use std::sync::OnceLock;

use proptest::test_runner::{Config, RngSeed};

use super::fixtures::{self as fixture_files, Fixture};

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
