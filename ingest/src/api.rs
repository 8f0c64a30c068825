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

/// The body of every 2xx answer.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// `accepted`, `dead_lettered` when the body was kept but could not be routed, or
    /// `duplicate` when the hook was accepted before and not written again.
    pub status: &'static str,
    /// The hook's content identity (see the record format in `schemas/`).
    pub event_id: String,
    /// The topic the hook was written to (for a duplicate: the topic it belongs in).
    pub topic: String,
    /// For a duplicate only: which identity was seen before, `delivery_key` or `event_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
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
    BodyRead(String),
    #[error("the request body did not arrive within {seconds} s; raise HOOKLINE_BODY_READ_TIMEOUT_MS if GitLab's link to ingest is this slow")]
    BodyTimeout { seconds: f64 },
    #[error("ingest is already handling as many deliveries as HOOKLINE_MAX_CONCURRENT_REQUESTS allows; GitLab should resend")]
    Overloaded,
    #[error("the hook could not be stored, GitLab should resend it: {0}")]
    Unavailable(String),
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

    /// The `outcome` label of the request counter.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::PayloadTooLarge { .. } => "too_large",
            IngestError::UnknownSource { .. } => "unknown_source",
            IngestError::BodyRead(_) => "bad_request",
            IngestError::BodyTimeout { .. } => "timeout",
            IngestError::Overloaded => "overloaded",
            IngestError::Unavailable(_) => "unavailable",
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.outcome(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}
