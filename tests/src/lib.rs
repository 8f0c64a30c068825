//! Drives the whole Hookline pipeline from outside, as GitLab and an analyst would.
//!
//! [`stack`] starts the real broker, the ClickHouse engine, ingest and consumers on free
//! ports and stops every process it started when dropped, on failure too; `make run` uses the
//! same code through the `hookline-stack` binary. [`process`] is the process supervision
//! underneath, [`ports`] where their free ports come from, [`client`] what GitLab and an
//! analyst do against the stack (the hooks they send come from `hookline_schemas::testing`),
//! [`raw_http`] requests only a bare TCP client can send, [`faults`] the fault suite behind
//! `make faults` and `tests/tests/faults.rs`.

pub mod client;
pub mod faults;
pub mod load;
pub mod ports;
pub mod process;
pub mod raw_http;
pub mod stack;
