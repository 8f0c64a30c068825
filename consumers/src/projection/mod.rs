//! From raw hook records to table rows.
//!
//! A [`Batch`] collects the rows every table gets from a run of records. Projections are pure
//! functions of the record: the same hook always gives the same rows, and each table's
//! engine collapses equal keys, so a record delivered twice changes no query result. When
//! several rows describe one entity (the states of a pipeline), each carries a `version`
//! computed from the payload alone, never from arrival time or Kafka offset, so the latest
//! *state* wins whatever order GitLab delivered them in.

pub mod pipelines;
pub mod raw_hooks;

use hookline_schemas::event::Family;
use hookline_schemas::payload::{self, Payload};
use hookline_schemas::record::RecordHeaders;

pub use pipelines::PipelineRow;
pub use raw_hooks::RawHookRow;

/// One record read from Kafka, with its coordinates.
#[derive(Debug, Clone)]
pub struct HookMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub headers: RecordHeaders,
    pub body: Vec<u8>,
}

/// A record no table can take; it goes to the dead-letter topic with this reason.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("body is not UTF-8 text (first invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
}

/// The rows of every table for a run of records.
#[derive(Debug, Default)]
pub struct Batch {
    pub raw_hooks: Vec<RawHookRow>,
    pub pipelines: Vec<PipelineRow>,
}

impl Batch {
    /// Adds the rows of one record, or nothing if it cannot be projected.
    ///
    /// On error the batch is left unchanged: a record is projected entirely or not at all.
    pub fn add(&mut self, message: &HookMessage) -> Result<(), ProjectionError> {
        let body = std::str::from_utf8(&message.body)
            .map_err(|error| ProjectionError::NotUtf8(error.valid_up_to()))?;
        let family = Family::from_event_header(&message.headers.event_type);
        let pipeline = match family {
            Family::Pipeline => match payload::parse(message.body.as_slice())? {
                Payload::Pipeline(hook) => Some(PipelineRow::from_hook(&hook, &message.headers)),
                _ => None,
            },
            _ => None,
        };
        self.raw_hooks
            .push(RawHookRow::from_message(message, family, body.to_owned()));
        self.pipelines.extend(pipeline);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.raw_hooks.is_empty()
    }
}
