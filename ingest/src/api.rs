//! What ingest answers GitLab: the success body and every error as an HTTP response.
//!
//! GitLab disables a hook after four failed deliveries in a row, whatever the status, so an
//! error status is reserved for what the sender must fix (credentials, size, a body too slow
//! to arrive) or what ingest cannot help (Kafka unavailable, too many deliveries at once). Bodies ingest cannot read are answered 200 and kept in
//! the dead-letter topic instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::auth::AuthFailure;
use crate::dedup::Reason;
use crate::sinks::SinkError;

/// What became of a delivery answered 200: the answer's `status`, and the `outcome` label of
/// `hookline_ingest_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written to its family's topic.
    Accepted,
    /// Kept in the dead-letter topic: the body could not be routed.
    DeadLettered,
    /// Accepted before (within the deduplication window) and not written again.
    Duplicate,
}

impl Status {
    /// The name in the answer and in the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::DeadLettered => "dead_lettered",
            Status::Duplicate => "duplicate",
        }
    }
}

/// The body of every 2xx answer.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// What became of the hook.
    pub status: Status,
    /// The hook's content identity (see the record format in `schemas/`).
    pub event_id: String,
    /// The topic the hook was written to (for a duplicate: the topic it belongs in).
    pub topic: String,
    /// For a duplicate only: which identity was seen before, `delivery_key` or `event_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// A delivery that was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Unauthorized(#[from] AuthFailure),
    #[error("payload of {size} bytes is over the limit of {limit} bytes; raise HOOKLINE_MAX_BODY_BYTES if GitLab legitimately sends hooks this large")]
    PayloadTooLarge { size: u64, limit: usize },
    #[error("unknown source {label:?} in the URL: post to /hooks, or to /hooks/{{source}} with a source listed in HOOKLINE_SOURCES")]
    UnknownSource { label: String },
    #[error("cannot read the request body: {0}")]
    BodyRead(#[source] axum::Error),
    #[error("the request body did not arrive within {seconds} s; raise HOOKLINE_BODY_READ_TIMEOUT_MS if GitLab's link to ingest is this slow")]
    BodyTimeout { seconds: f64 },
    #[error("ingest is already handling as many deliveries as HOOKLINE_MAX_CONCURRENT_REQUESTS allows; GitLab should resend")]
    Overloaded,
    #[error("the hook could not be stored, GitLab should resend it: {0}")]
    Unavailable(#[source] SinkError),
}

/// Why a delivery was refused: the `error` of the answer, and the `outcome` label of
/// `hookline_ingest_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A credential is missing or wrong.
    Unauthorized,
    /// The body is over `HOOKLINE_MAX_BODY_BYTES`.
    TooLarge,
    /// The URL names a source not in `HOOKLINE_SOURCES`.
    UnknownSource,
    /// The body could not be read.
    BadRequest,
    /// The body did not arrive in time.
    Timeout,
    /// Too many deliveries at once.
    Overloaded,
    /// Neither Kafka nor the spool took the hook.
    Unavailable,
}

impl Refusal {
    /// The name in the answer and in the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::TooLarge => "too_large",
            Refusal::UnknownSource => "unknown_source",
            Refusal::BadRequest => "bad_request",
            Refusal::Timeout => "timeout",
            Refusal::Overloaded => "overloaded",
            Refusal::Unavailable => "unavailable",
        }
    }
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnknownSource { .. } => StatusCode::NOT_FOUND,
            IngestError::BodyRead(_) => StatusCode::BAD_REQUEST,
            IngestError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            IngestError::Overloaded | IngestError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// Why the delivery was refused, as the answer and the request counter say it.
    pub fn refusal(&self) -> Refusal {
        match self {
            IngestError::Unauthorized(_) => Refusal::Unauthorized,
            IngestError::PayloadTooLarge { .. } => Refusal::TooLarge,
            IngestError::UnknownSource { .. } => Refusal::UnknownSource,
            IngestError::BodyRead(_) => Refusal::BadRequest,
            IngestError::BodyTimeout { .. } => Refusal::Timeout,
            IngestError::Overloaded => Refusal::Overloaded,
            IngestError::Unavailable(_) => Refusal::Unavailable,
        }
    }
}

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody {
    /// What kind of refusal, for programs.
    error: Refusal,
    /// What went wrong and what to change, for people.
    message: String,
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.refusal(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_their_wire_names() {
        let answer = |status, reason| {
            serde_json::to_string(&Accepted {
                status,
                event_id: "e".to_owned(),
                topic: "t".to_owned(),
                reason,
            })
            .unwrap()
        };
        assert_eq!(
            answer(Status::Accepted, None),
            r#"{"status":"accepted","event_id":"e","topic":"t"}"#
        );
        assert_eq!(
            answer(Status::DeadLettered, None),
            r#"{"status":"dead_lettered","event_id":"e","topic":"t"}"#
        );
        assert_eq!(
            answer(Status::Duplicate, Some(Reason::DeliveryKey)),
            r#"{"status":"duplicate","event_id":"e","topic":"t","reason":"delivery_key"}"#
        );
        assert_eq!(
            answer(Status::Duplicate, Some(Reason::EventId)),
            r#"{"status":"duplicate","event_id":"e","topic":"t","reason":"event_id"}"#
        );
        for status in [Status::Accepted, Status::DeadLettered, Status::Duplicate] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                status.as_str(),
                "the metric label is the answer's status"
            );
        }
        for reason in [Reason::DeliveryKey, Reason::EventId] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        for error in [
            IngestError::Overloaded,
            IngestError::UnknownSource {
                label: "x".to_owned(),
            },
            IngestError::BodyTimeout { seconds: 1.0 },
            IngestError::PayloadTooLarge { size: 2, limit: 1 },
            IngestError::Unauthorized(AuthFailure::WrongToken),
        ] {
            let refusal = error.refusal();
            assert_eq!(serde_json::to_value(refusal).unwrap(), refusal.as_str());
        }
        assert_eq!(Refusal::TooLarge.as_str(), "too_large");
    }
}
