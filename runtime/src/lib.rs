//! What every Hookline program runs on, written once.
//!
//! Ingest and the consumers are different programs with the same operational surface: an admin
//! listener with `/metrics`, `/healthz` and `/readyz` ([`admin`]); an HTTP server that cuts off
//! clients too slow to send their headers ([`http`]); human or JSON logs
//! ([`telemetry`]); one shutdown path for SIGINT and SIGTERM ([`shutdown`]); listeners that say
//! which setting to change when their port is taken ([`listen`]); how they reach Kafka, TLS
//! and SASL included ([`kafka`]); how they reach ClickHouse ([`clickhouse`], which
//! `hookline-report` uses too); and the Kafka topics they depend on, created with the
//! configured partitions ([`topics`]); secrets that never print ([`secret`]); metrics
//! registered in one step ([`metrics`]); a service's lifecycle, from its first signal handler to
//! its last joined task ([`service`]); and the check that keeps the configuration reference
//! true to their command lines ([`reference`]).

pub mod admin;
pub mod clickhouse;
pub mod http;
pub mod kafka;
pub mod listen;
pub mod metrics;
pub mod reference;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod topics;
