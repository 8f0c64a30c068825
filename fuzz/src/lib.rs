//! Hookline's fuzz targets, written once and run two ways.
//!
//! Each module has a `run(&[u8])` that must never panic and checks its invariants. The
//! libFuzzer binaries in `fuzz_targets/` (`make fuzz`, nightly Rust) call them for as long as
//! they are given; the property tests `*/tests/fuzz_*.rs` include the same files with
//! `#[path]` and call them with a fixed number of generated inputs in `make test`, on the
//! stable toolchain. Because of that inclusion a module refers to its siblings only as
//! `crate::input` and to the product crates by name.

pub mod fixtures;
pub mod http;
pub mod input;
pub mod mutate;
pub mod payload;
pub mod projection;
pub mod record;
pub mod signature;
pub mod spool_codec;
pub mod timestamp;
