//! Hookline's development tools: the local stack, and what runs against it.
//!
//! [`stack`] starts the real broker, the ClickHouse engine, ingest and consumers on free
//! ports and stops every process it started when dropped, on failure too; `make run` starts
//! one through the `hookline-stack` binary, and each end-to-end test of `tests/` one of its
//! own. [`process`] is the process supervision underneath, [`ports`] where their free ports
//! come from, [`client`] what GitLab and an analyst do against the stack (the hooks they send
//! come from `hookline_schemas::testing`), [`load`] the load generator of the benchmark
//! (`hookline-bench`, `make bench`), [`faults`] the fault suite behind `make faults`
//! (`hookline-faults`) and `tests/tests/faults.rs`, [`orgsim`] the generated organisation whose
//! hooks and expected query results test the query library.

pub mod client;
pub mod dashboards;
pub mod faults;
pub mod load;
pub mod orgsim;
pub mod ports;
pub mod process;
pub mod stack;
