//! A generated organisation's history, the hooks GitLab would send for it, and what every query
//! of the library must return for it: the ground truth the query library is tested against.
//!
//! The design keeps the three apart so that a query can only pass by being right:
//!
//! - [`model`] is what happened, in plain Rust values: projects (some renamed once), developers,
//!   pushes of commits, pipelines with their jobs and every status each went through, merge
//!   requests with their events and notes, deployments, issues and incidents. Times are whole
//!   seconds since the epoch (GitLab's resolution), job durations fractional as GitLab sends them.
//! - [`generate`] builds a [`model::History`] from a [`model::Size`] and a seed with a seeded
//!   xorshift generator: the same seed gives the same history, byte for byte. It walks each
//!   project day by day (features become branches, merge requests, reviews, merges, pipelines
//!   and deployments), so its cost is linear in the history's size and a project's history never
//!   depends on another's: the large size `make bench` uses is generated the same way, one
//!   project at a time ([`generate::project_histories`]) so it never has to be held whole.
//! - [`hooks`] turns the model into the hooks GitLab sends (one per state change, shaped like the
//!   payloads in `schemas/fixtures/`), and [`hooks::deliveries`] into what Hookline receives:
//!   some twice, some again through a System Hook, all shuffled.
//! - [`expected`] computes each query's rows from the model alone (never from the tables), by the
//!   definitions of `docs/analytics.md`, with ClickHouse's exact percentiles.
//!
//! Hooks that carry no time of their own (pushes, tag pushes) are observed by `projects` at their
//! receipt, which in a replayed history is after every rename: the pushes of a renamed project
//! before its rename are therefore lost hooks in the model (`delivered: false`), as GitLab loses
//! some, and the expectations leave them out too.

pub mod expected;
pub mod generate;
pub mod hooks;
pub mod model;

pub use expected::expected;
pub use generate::{generate, project_histories};
pub use hooks::{deliveries, hooks};
pub use model::{History, Size};
