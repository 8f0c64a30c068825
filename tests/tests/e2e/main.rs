//! The end-to-end tests of the whole pipeline, in one test binary (linking dominates the
//! build, so one binary builds faster than one per file): each module below is one area, and
//! each test starts a local stack of its own (`hookline_dev::stack`) on free ports, so the
//! tests run in parallel like any others. The brief fault suite is its own binary
//! (`tests/tests/faults.rs`), so that no other test competes with its scenarios.
//!
//! [`consumers_support`] is what the `consumers_*` modules share, [`raw_http`] requests only a
//! bare TCP client can send.

mod consumers_clickhouse_faults;
mod consumers_crash;
mod consumers_dead_letter;
mod consumers_outage;
mod consumers_restart;
mod consumers_scale;
mod consumers_support;
mod every_fixture;
mod ground_truth;
mod ingest_bad_input;
mod ingest_dedup;
mod ingest_durability;
mod ingest_edge;
mod large_bodies;
mod order_independence;
mod query_library;
mod raw_http;
mod report;
mod reproject;
mod retention;
mod tracer;
mod upgrade;
