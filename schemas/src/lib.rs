//! The contract between Hookline's two services.
//!
//! Ingest writes what GitLab sent; consumers read it back and project it into ClickHouse.
//! Everything both sides must agree on lives here and nowhere else:
//!
//! - [`event`]: the GitLab event types (`X-Gitlab-Event`) and the topic family each belongs to;
//! - [`record`]: the Kafka record format — topic names, record key, record headers;
//! - [`payload`] and [`timestamp`]: tolerant typed models of the GitLab payloads analytics needs;
//! - [`migrations`]: the versioned ClickHouse DDL; [`views`]: the views every query reads;
//! - [`queries`]: the query library, one documented SQL file per question;
//! - `testing` (feature `testing`, for tests and development tools only): the GitLab fixtures
//!   and generated hook lifecycles.
//!
//! `schemas/README.md` documents the same contract for people writing SQL.

pub mod event;
pub mod migrations;
pub mod payload;
pub mod queries;
pub mod record;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamp;
pub mod views;
