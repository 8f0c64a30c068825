//! `raw_hooks`: every hook as GitLab sent it, with where it sits in Kafka.

use clickhouse::Row;
use hookline_schemas::event::Family;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::HookMessage;

/// A row of `raw_hooks` (DDL: `schemas/migrations/0001_raw_hooks.sql`).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct RawHookRow {
    pub event_id: String,
    pub event_type: String,
    pub family: String,
    pub project_key: String,
    pub delivery_key: String,
    #[serde(with = "clickhouse::serde::time::datetime64::millis")]
    pub received_at: OffsetDateTime,
    pub gitlab_instance: String,
    pub source: String,
    pub gitlab_version: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub body: String,
}

impl RawHookRow {
    pub fn from_message(message: &HookMessage, family: Family, body: String) -> Self {
        let headers = &message.headers;
        Self {
            event_id: headers.event_id.clone(),
            event_type: headers.event_type.clone(),
            family: family.as_str().to_owned(),
            project_key: message.key.clone(),
            delivery_key: headers.delivery_key.clone().unwrap_or_default(),
            received_at: millis_to_time(headers.received_at_ms),
            gitlab_instance: headers.gitlab_instance.clone().unwrap_or_default(),
            source: headers.source.clone().unwrap_or_default(),
            gitlab_version: headers.gitlab_version.clone().unwrap_or_default(),
            topic: message.topic.clone(),
            partition: u32::try_from(message.partition).unwrap_or_default(),
            offset: u64::try_from(message.offset).unwrap_or_default(),
            body,
        }
    }
}

/// Milliseconds since the epoch (a record header's receive time) as a UTC time that a
/// `DateTime64` column can hold: a value written by a foreign producer outside ClickHouse's
/// range is clamped into it, so that it cannot make ClickHouse refuse the batch.
pub(crate) fn millis_to_time(ms: i64) -> OffsetDateTime {
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(
        if ms < 0 {
            hookline_schemas::timestamp::EARLIEST
        } else {
            hookline_schemas::timestamp::LATEST
        },
    );
    hookline_schemas::timestamp::clamp_to_range(time)
}
