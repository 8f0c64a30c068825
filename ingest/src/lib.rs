//! Hookline ingest: the one door GitLab knocks on.
//!
//! An axum service that receives GitLab webhooks ([`router`], [`hooks`]), authenticates them
//! ([`auth`]), and writes each raw hook to the Kafka topic of its event family
//! ([`sinks::kafka`]), answering GitLab ([`api`]) only once the record is durable. Its
//! configuration is in [`config`], its metrics in [`prometheus`]; the record format it writes
//! is defined in `hookline_schemas::record`. Hooks accepted before are answered but not
//! written again ([`dedup`]). Times are read from one [`clock`].

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod dedup;
pub mod hooks;
pub mod prometheus;
pub mod router;
pub mod sinks;
