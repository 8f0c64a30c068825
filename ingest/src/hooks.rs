//! The webhook handler: from an HTTP delivery to a durable Kafka record.
//!
//! In order: a slot under the concurrency limit is taken (503 at once when there is none),
//! the source label is checked, the token and the signature headers are checked *before* the
//! body is read (so unauthenticated clients cannot make ingest buffer 25 MB), the body is read
//! under the size limit and the body deadline, the signature (if required) is verified over
//! it, the body is classified by `X-Gitlab-Event`, checked to be a JSON object, and written to
//! its family's topic, or to the dead-letter topic with the reason when it cannot be read.
//! A hook accepted before (within the deduplication window, see [`crate::dedup`]) is answered
//! 200 `duplicate` instead of written. GitLab gets its answer only after the sink reports the
//! record durable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, USER_AGENT};
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use hookline_schemas::event::Family;
use hookline_schemas::record::{self, RecordHeaders, Topics, INSTANCE_KEY};
use prometheus::IntGauge;
use tokio::sync::Semaphore;

use crate::api::{Accepted, IngestError, Status};
use crate::auth::{signature_header, AuthFailure, Authenticator};
use crate::clock::since_epoch;
use crate::dedup::Dedup;
use crate::prometheus::IngestMetrics;
use crate::sinks::{HookRecord, HookSink};

/// GitLab's request headers that ingest reads.
mod gitlab_header {
    pub const EVENT: &str = "x-gitlab-event";
    pub const INSTANCE: &str = "x-gitlab-instance";
    /// GitLab 17.4+: the same for every retry and manual resend of one event to one hook.
    pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
}

/// Everything a request handler needs, shared by all requests.
pub struct AppState<S> {
    /// Where accepted hooks are written.
    pub sink: S,
    /// The credentials each endpoint requires.
    pub authenticator: Authenticator,
    /// The topic names hooks are routed to.
    pub topics: Topics,
    /// Labels accepted in `/hooks/{source}`; bounded so metrics labels stay bounded.
    pub sources: Vec<String>,
    /// Largest body accepted (HOOKLINE_MAX_BODY_BYTES).
    pub max_body_bytes: usize,
    /// How long the body may take to arrive once the headers are in.
    pub body_read_timeout: Duration,
    /// One permit per delivery handled at once; none left means 503 at once.
    pub admission: Semaphore,
    /// Requests, failures and latencies.
    pub metrics: IngestMetrics,
    /// Hooks accepted recently; duplicates are answered without a write.
    pub dedup: Arc<Dedup>,
}

impl<S> AppState<S> {
    /// Counts an authentication failure and turns it into the answer.
    fn refuse(&self, source: Option<&str>, failure: AuthFailure) -> IngestError {
        self.metrics
            .auth_failures_total
            .with_label_values(&[source.unwrap_or(""), failure.reason()])
            .inc();
        failure.into()
    }
}

/// Counts a delivery in the in-flight gauge for as long as it lives.
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `POST /hooks`.
pub async fn receive_default<S: HookSink>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, IngestError> {
    receive(&state, None, &headers, body).await
}

/// `POST /hooks/{source}`.
pub async fn receive_from_source<S: HookSink>(
    State(state): State<Arc<AppState<S>>>,
    source: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, IngestError> {
    // A label that is not UTF-8 names no source: ingest's own 404, not the extractor's text.
    let source = source
        .map(|Path(source)| source)
        .map_err(|_| IngestError::UnknownSource {
            label: "(not UTF-8)".to_owned(),
        });
    receive(&state, Some(source), &headers, body).await
}

async fn receive<S: HookSink>(
    state: &AppState<S>,
    source: Option<Result<String, IngestError>>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, IngestError> {
    let family = headers
        .get(gitlab_header::EVENT)
        .map_or(Family::Other, |v| {
            Family::from_event_header(&String::from_utf8_lossy(v.as_bytes()))
        });
    let result = match state.admission.try_acquire() {
        Ok(_permit) => {
            let _in_flight = InFlight::enter(&state.metrics.requests_in_flight);
            accept(state, source, headers, body).await
        }
        Err(_) => Err(IngestError::Overloaded),
    };
    let outcome = match &result {
        Ok(accepted) => accepted.status.as_str(),
        Err(error) => error.refusal().as_str(),
    };
    state
        .metrics
        .requests_total
        .with_label_values(&[family.as_str(), outcome])
        .inc();
    result.map(Json)
}

async fn accept<S: HookSink>(
    state: &AppState<S>,
    source: Option<Result<String, IngestError>>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    let source = source.transpose()?;
    if let Some(source) = &source {
        if !state.sources.contains(source) {
            return Err(IngestError::UnknownSource {
                label: source.clone(),
            });
        }
    }
    let received_at = since_epoch();
    let signature = state
        .authenticator
        .for_source(source.as_deref())
        .check_headers(headers, received_at.as_secs() as i64)
        .map_err(|failure| state.refuse(source.as_deref(), failure))?;
    let body = tokio::time::timeout(
        state.body_read_timeout,
        read_body(headers, body, state.max_body_bytes),
    )
    .await
    .map_err(|_| IngestError::BodyTimeout {
        seconds: state.body_read_timeout.as_secs_f64(),
    })??;
    if let Some(signature) = signature {
        signature
            .verify(&body)
            .map_err(|failure| state.refuse(source.as_deref(), failure))?;
    }
    let started = Instant::now();
    state.metrics.payload_bytes.observe(body.len() as f64);

    let event_type = header_text(headers, gitlab_header::EVENT);
    let routed = route(&state.topics, event_type.as_deref(), &body);
    let headers = RecordHeaders {
        event_id: record::event_id(event_type.as_deref().unwrap_or(""), &body),
        event_type: event_type.unwrap_or_default(),
        delivery_key: header_text(headers, gitlab_header::IDEMPOTENCY_KEY)
            .or_else(|| header_text(headers, signature_header::ID)),
        received_at_ms: received_at.as_millis() as i64,
        gitlab_instance: header_text(headers, gitlab_header::INSTANCE),
        source,
        gitlab_version: header_text(headers, USER_AGENT.as_str())
            .and_then(|agent| gitlab_version(&agent)),
    };
    let accepted = Accepted {
        status: if routed.dead_letter_reason.is_some() {
            Status::DeadLettered
        } else {
            Status::Accepted
        },
        event_id: headers.event_id.clone(),
        topic: routed.topic.clone(),
        reason: None,
    };
    if let Some(reason) = &routed.dead_letter_reason {
        tracing::warn!(event_id = %accepted.event_id, %reason, "hook kept in the dead-letter topic");
    }
    // Dead letters are never deduplicated; see `dedup`.
    let claim = if routed.dead_letter_reason.is_some() {
        None
    } else {
        match state.dedup.claim(&headers) {
            Ok(claim) => claim,
            Err(reason) => {
                tracing::debug!(event_id = %accepted.event_id, reason = reason.as_str(), "duplicate hook not written again");
                return Ok(Accepted {
                    status: Status::Duplicate,
                    reason: Some(reason),
                    ..accepted
                });
            }
        }
    };
    // Dropping the claim forgets the ids: on a failed write, and also when this request is
    // dropped while the write is pending (the client hung up), so a resend is accepted.
    state
        .sink
        .write(HookRecord {
            topic: routed.topic,
            key: routed.key,
            headers,
            dead_letter_reason: routed.dead_letter_reason,
            body,
        })
        .await
        .map_err(|error| {
            tracing::error!(event_id = %accepted.event_id, %error, "hook not stored");
            IngestError::Unavailable(error)
        })?;
    if let Some(claim) = claim {
        claim.keep();
    }
    state
        .metrics
        .ack_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(accepted)
}

/// Reads the whole body, refusing early when `Content-Length` already announces too much.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = announced.filter(|size| *size > limit as u64) {
        return Err(IngestError::PayloadTooLarge { size, limit });
    }
    to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if too_large {
            IngestError::PayloadTooLarge {
                size: announced.unwrap_or(limit as u64 + 1),
                limit,
            }
        } else {
            IngestError::BodyRead(error)
        }
    })
}

/// Where a body goes, under which key, and why it is a dead letter if it is one.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    /// The family's topic, or the dead-letter topic.
    topic: String,
    /// The record key (see `hookline_schemas::record::record_key`).
    key: String,
    /// Why the body is a dead letter, when it is one.
    dead_letter_reason: Option<String>,
}

/// Routes a body by its event type, or to the dead-letter topic when it cannot be read.
fn route(topics: &Topics, event_type: Option<&str>, body: &[u8]) -> Route {
    let dead_letter = |reason: String| Route {
        topic: topics.dead_letter(),
        key: INSTANCE_KEY.to_owned(),
        dead_letter_reason: Some(reason),
    };
    let Some(event_type) = event_type else {
        return dead_letter("missing X-Gitlab-Event header".to_owned());
    };
    if body.is_empty() {
        return dead_letter("empty body".to_owned());
    }
    if let Err(error) = std::str::from_utf8(body) {
        return dead_letter(format!(
            "body is not valid UTF-8 (first invalid byte at offset {})",
            error.valid_up_to()
        ));
    }
    match record::record_key(body) {
        Ok(key) => Route {
            topic: topics.for_family(Family::from_event_header(event_type)),
            key,
            dead_letter_reason: None,
        },
        Err(error) => dead_letter(format!(
            "body is not a JSON object that can be read: {error}"
        )),
    }
}

/// A header's value as text; GitLab sends ASCII, anything else is decoded lossily.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The version in GitLab's `User-Agent: GitLab/17.5.1`.
fn gitlab_version(user_agent: &str) -> Option<String> {
    user_agent
        .strip_prefix("GitLab/")
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics::default()
    }

    #[test]
    fn routes_by_family_and_keys_by_project() {
        let route = route(
            &topics(),
            Some("Pipeline Hook"),
            br#"{"project":{"id":42}}"#,
        );
        assert_eq!(route.topic, "gitlab.pipeline");
        assert_eq!(route.key, "42");
        assert_eq!(route.dead_letter_reason, None);
    }

    #[test]
    fn unknown_event_types_are_routed_not_dropped() {
        let route = route(&topics(), Some("Emoji Hook"), br#"{"project_id":1}"#);
        assert_eq!(route.topic, "gitlab.other");
        assert_eq!(route.dead_letter_reason, None);
    }

    #[test]
    fn unreadable_bodies_become_dead_letters_with_a_reason() {
        let reason = |event: Option<&str>, body: &[u8]| {
            let route = route(&topics(), event, body);
            assert_eq!(route.topic, "gitlab.dead_letter");
            route.dead_letter_reason.unwrap()
        };
        assert_eq!(reason(Some("Push Hook"), b""), "empty body");
        assert_eq!(reason(None, b"{}"), "missing X-Gitlab-Event header");
        assert!(reason(Some("Push Hook"), b"{\"a\":\"\xff\"}").contains("offset 6"));
        assert!(reason(Some("Push Hook"), b"{\"a\":").contains("not a JSON object"));
        assert!(reason(Some("Push Hook"), b"[]").contains("not a JSON object"));
    }

    #[test]
    fn gitlab_version_comes_from_the_user_agent() {
        assert_eq!(gitlab_version("GitLab/17.5.1-ee"), Some("17.5.1-ee".into()));
        assert_eq!(gitlab_version("curl/8.0"), None);
    }
}

/// Deduplication at the handler: one write for concurrent copies, none for a duplicate, and
/// a failed write leaves no trace in the window.
#[cfg(test)]
mod dedup_tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::http::HeaderValue;
    use prometheus::Registry;

    use super::*;
    use crate::auth::{Credentials, TokenVerifier};
    use crate::dedup::Reason;
    use crate::dedup::{DedupConfig, DedupMetrics};
    use crate::sinks::SinkError;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    /// Counts writes; fails the first one, or never finishes it, when asked to.
    #[derive(Default)]
    struct Sink {
        writes: AtomicUsize,
        fail_next: AtomicBool,
        stall_next: AtomicBool,
    }

    impl HookSink for Sink {
        async fn write(&self, _record: HookRecord) -> Result<(), SinkError> {
            if self.stall_next.swap(false, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail_next.swap(false, Ordering::SeqCst) {
                return Err(SinkError::NotAcknowledged(KafkaError::MessageProduction(
                    RDKafkaErrorCode::BrokerNotAvailable,
                )));
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn state() -> AppState<Sink> {
        state_with(&Registry::new())
    }

    fn state_with(registry: &Registry) -> AppState<Sink> {
        let token = TokenVerifier::new("HOOKLINE_GITLAB_TOKEN", ["t"]).unwrap();
        let config = DedupConfig {
            dedup_window_secs: 60,
            dedup_max_ids: 100,
            dedup_rebuild_timeout_secs: 1,
            dedup_fetch_wait_ms: 500,
        };
        AppState {
            sink: Sink::default(),
            authenticator: Authenticator::new(
                Credentials::new(Some(token), None).unwrap(),
                Default::default(),
            ),
            topics: Topics::default(),
            sources: Vec::new(),
            max_body_bytes: 1024,
            body_read_timeout: Duration::from_secs(1),
            admission: Semaphore::new(8),
            metrics: IngestMetrics::register(registry).unwrap(),
            dedup: Arc::new(Dedup::new(
                &config,
                DedupMetrics::register(registry).unwrap(),
            )),
        }
    }

    async fn post(state: &AppState<Sink>, key: &str) -> Result<Accepted, IngestError> {
        let mut headers = HeaderMap::new();
        headers.insert("x-gitlab-token", HeaderValue::from_static("t"));
        headers.insert("x-gitlab-event", HeaderValue::from_static("Push Hook"));
        headers.insert("idempotency-key", HeaderValue::from_str(key).unwrap());
        let body = Body::from(r#"{"project_id":1}"#);
        accept(state, None, &headers, body).await
    }

    #[tokio::test]
    async fn concurrent_copies_are_written_once() {
        let state = state();
        let (a, b) = tokio::join!(post(&state, "k"), post(&state, "other-hook"));
        let mut statuses = [a.unwrap().status.as_str(), b.unwrap().status.as_str()];
        statuses.sort_unstable();
        assert_eq!(statuses, ["accepted", "duplicate"]);
        assert_eq!(state.sink.writes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_write_is_not_remembered() {
        let state = state();
        state.sink.fail_next.store(true, Ordering::SeqCst);
        assert!(matches!(
            post(&state, "k").await,
            Err(IngestError::Unavailable(_))
        ));
        assert_eq!(post(&state, "k").await.unwrap().status, Status::Accepted);
        let again = post(&state, "k").await.unwrap();
        assert_eq!(
            (again.status, again.reason),
            (Status::Duplicate, Some(Reason::DeliveryKey))
        );
        assert_eq!(state.sink.writes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_request_dropped_while_its_write_is_pending_leaves_no_claim() {
        let registry = Registry::new();
        let state = state_with(&registry);
        let window_ids = || {
            registry
                .gather()
                .iter()
                .find(|family| family.name() == "hookline_ingest_dedup_window_ids")
                .map(|family| family.get_metric()[0].get_gauge().get_value())
        };
        state.sink.stall_next.store(true, Ordering::SeqCst);
        {
            let mut request = std::pin::pin!(post(&state, "k"));
            // One poll takes the request to its pending write, holding the claim…
            assert!(futures::poll!(&mut request).is_pending());
            assert_eq!(window_ids(), Some(2.0));
            // …then the client hangs up (GitLab gives up after 10 s): the request is dropped.
        }
        assert_eq!(window_ids(), Some(0.0));
        // GitLab's "Resend" is accepted and written, not answered `duplicate`.
        assert_eq!(post(&state, "k").await.unwrap().status, Status::Accepted);
        assert_eq!(state.sink.writes.load(Ordering::SeqCst), 1);
    }
}
