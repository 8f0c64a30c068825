//! Fuzz target: ingest's HTTP request path, in process (`hookline_ingest::router` over an
//! `AppState` with an in-memory sink).
//!
//! Any client can reach this path, so every request must get one of the documented answers
//! (README, Design decisions) with a JSON body saying what happened, and every request
//! answered 2xx must have handed the sink the exact bytes it sent. Each input is sent twice to
//! the same state, which checks deduplication too: a copy of an accepted hook is a duplicate
//! and not written again, a dead letter is written again, and a hook whose write failed is
//! accepted when resent.
//!
//! Input layout (text, so libFuzzer's mutations of the seed corpus stay meaningful):
//!
//! ```text
//! /hooks/prod            first line: the path; a trailing " !" makes the sink fail the first write
//! X-Gitlab-Token: $PROD  headers, one per line, until an empty line
//!
//! {"object_kind":…}      the body, to the end
//! ```
//!
//! In header values `$TOKEN` and `$PROD` stand for the global and `prod` tokens, `$NOW` for
//! the current Unix time and `$SIGN` for a valid `v1,` signature of the request by the signing
//! secret of source `signed`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::http::{HeaderName, HeaderValue, Request};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookline_ingest::auth::{Authenticator, Credentials, SignatureVerifier, TokenVerifier};
use hookline_ingest::dedup::{Dedup, DedupConfig, DedupMetrics};
use hookline_ingest::hooks::AppState;
use hookline_ingest::prometheus::IngestMetrics;
use hookline_ingest::router::router;
use hookline_ingest::sinks::spool::SpoolError;
use hookline_ingest::sinks::{HookRecord, HookSink, SinkError};
use hookline_schemas::record::Topics;
use prometheus::Registry;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

pub const TOKEN: &str = "fuzz-global-token";
pub const PROD_TOKEN: &str = "fuzz-prod-token";
/// The signing key of source `signed`, before base64.
pub const SIGNING_KEY: &[u8] = b"fuzz-signing-key-of-source-signed";
/// Small, so the fuzzer reaches the size limit.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Records the hooks it is given; fails the next write when asked to.
#[derive(Default)]
pub struct MemorySink {
    /// Every record written, in order.
    pub records: Mutex<Vec<HookRecord>>,
    /// Set to make the next write fail as an unreachable Kafka and a closed spool would.
    pub fail_next: AtomicBool,
}

impl HookSink for MemorySink {
    async fn write(&self, record: HookRecord) -> Result<(), SinkError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(SinkError::Spool(SpoolError::Closed));
        }
        self.records.lock().expect("sink lock").push(record);
        Ok(())
    }
}

/// Ingest's request state as `main` builds it, with the in-memory sink: a global token, a
/// source `prod` with its own token and a source `signed` that requires signatures.
pub fn state() -> Arc<AppState<MemorySink>> {
    let registry = Registry::new();
    let token = |t: &str| TokenVerifier::new("HOOKLINE_GITLAB_TOKEN", [t]).expect("a token");
    let signing = SignatureVerifier::new(
        "HOOKLINE_SOURCE_SIGNING_SECRETS",
        [format!("whsec_{}", BASE64.encode(SIGNING_KEY))],
        Duration::from_secs(300),
    )
    .expect("a signing secret");
    let authenticator = Authenticator::new(
        Credentials::new(Some(token(TOKEN)), None).expect("credentials"),
        [
            (
                "prod".to_owned(),
                Credentials::new(Some(token(PROD_TOKEN)), None),
            ),
            ("signed".to_owned(), Credentials::new(None, Some(signing))),
        ]
        .into_iter()
        .map(|(source, credentials)| (source, credentials.expect("credentials")))
        .collect(),
    );
    let dedup = DedupConfig {
        dedup_window_secs: 3600,
        dedup_max_ids: 1000,
        dedup_rebuild_timeout_secs: 1,
        dedup_fetch_wait_ms: 500,
    };
    Arc::new(AppState {
        sink: MemorySink::default(),
        authenticator,
        topics: Topics::default(),
        sources: vec!["prod".to_owned(), "signed".to_owned(), "other".to_owned()],
        max_body_bytes: MAX_BODY_BYTES,
        body_read_timeout: Duration::from_secs(5),
        admission: Semaphore::new(4),
        metrics: IngestMetrics::register(&registry).expect("metrics"),
        dedup: Arc::new(Dedup::new(
            &dedup,
            DedupMetrics::register(&registry).expect("metrics"),
        )),
    })
}

thread_local! {
    /// One runtime per thread, reused: building one per input would dominate the run.
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    RUNTIME.with(|cell| {
        let mut runtime = cell.borrow_mut();
        let runtime = runtime.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a tokio runtime")
        });
        runtime.block_on(future)
    })
}

/// A request decoded from an input.
pub struct Case {
    /// Path and query as sent.
    pub path: String,
    /// Whether the sink fails the first write.
    pub sink_fails: bool,
    /// Header lines, placeholders substituted.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Decodes the text layout above.
pub fn parse(data: &[u8]) -> Case {
    let (head, body) = match find(data, b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &b""[..]),
    };
    let mut lines = head.split(|b| *b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (path, sink_fails) = match first.strip_suffix(" !") {
        Some(path) => (path.to_owned(), true),
        None => (first, false),
    };
    let raw: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            Some((&line[..colon], trim(&line[colon + 1..])))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let substitute = |value: &[u8]| -> Vec<u8> {
        let text = String::from_utf8_lossy(value);
        if text.contains('$') && std::str::from_utf8(value).is_ok() {
            text.replace("$TOKEN", TOKEN)
                .replace("$PROD", PROD_TOKEN)
                .replace("$NOW", &now)
                .into_bytes()
        } else {
            value.to_vec()
        }
    };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = raw
        .iter()
        .map(|(n, v)| (n.to_vec(), substitute(v)))
        .collect();
    // `$SIGN` last: it signs the id and timestamp as they will be sent.
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let signature = {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SIGNING_KEY).expect("any key");
        for part in [&id[..], b".", &timestamp[..], b".", body] {
            mac.update(part);
        }
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    };
    for (_, value) in &mut headers {
        if let Some(at) = find(value, b"$SIGN") {
            value.splice(at..at + 5, signature.bytes());
        }
    }
    Case {
        path,
        sink_fails,
        headers,
        body: body.to_vec(),
    }
}

/// Writes a case back in the input layout (for the seed corpus and the property tests).
pub fn render(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{path}\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

/// What one exchange gave: status, JSON answer (if the body was JSON) and records written.
pub struct Answer {
    pub status: u16,
    pub json: Option<Value>,
    pub raw_body: Vec<u8>,
    pub written: Vec<HookRecord>,
}

/// Sends one request through the router; `None` when the input is no valid HTTP request
/// (an unparsable URI or header), which a real server would refuse before ingest's code.
pub fn send(state: &Arc<AppState<MemorySink>>, case: &Case) -> Option<Answer> {
    let mut request = Request::builder().method("POST").uri(&case.path);
    for (name, value) in &case.headers {
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        request = request.header(name, value);
    }
    let request = request.body(Body::from(case.body.clone())).ok()?;
    let before = state.sink.records.lock().expect("sink lock").len();
    let response = block_on(router(state.clone()).oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    let raw_body = block_on(to_bytes(response.into_body(), 1 << 20))
        .expect("a response body")
        .to_vec();
    let written = state.sink.records.lock().expect("sink lock")[before..].to_vec();
    Some(Answer {
        status,
        json: serde_json::from_slice(&raw_body).ok(),
        raw_body,
        written,
    })
}

/// Whether the request target's path is one the webhook handlers serve.
fn is_hook_route(target: &str) -> bool {
    // The target may be in absolute form (`http://host/hooks`): route on its path alone.
    let Ok(uri) = target.parse::<axum::http::Uri>() else {
        return false;
    };
    let path = uri.path();
    path == "/hooks"
        || path
            .strip_prefix("/hooks/")
            .is_some_and(|source| !source.is_empty() && !source.contains('/'))
}

pub fn run(data: &[u8]) {
    let case = parse(data);
    let state = state();
    state
        .sink
        .fail_next
        .store(case.sink_fails, Ordering::SeqCst);
    let Some(first) = send(&state, &case) else {
        return;
    };
    check(&case, &first);
    let second = send(&state, &case).expect("the same request again");
    check(&case, &second);
    let status = |answer: &Answer| {
        answer
            .json
            .as_ref()
            .and_then(|j| j["status"].as_str().map(str::to_owned))
    };
    match (first.status, status(&first).as_deref()) {
        (200, Some("accepted")) => assert_eq!(
            status(&second).as_deref(),
            Some("duplicate"),
            "a copy of an accepted hook was not a duplicate"
        ),
        (200, Some("dead_lettered")) => assert_eq!(
            status(&second).as_deref(),
            Some("dead_lettered"),
            "a dead letter sent again was not kept again"
        ),
        // Only the failing sink answers 503 here: the resend must be written, not taken
        // for a duplicate of the hook that was never stored.
        (503, _) => assert!(
            matches!(
                status(&second).as_deref(),
                Some("accepted" | "dead_lettered")
            ),
            "a hook whose write failed was not written when resent: {:?}",
            second.json
        ),
        _ => {}
    }
}

/// The invariants of one answer; panics when one is broken.
pub fn check(case: &Case, answer: &Answer) {
    let what = || {
        format!(
            "POST {:?} with {} body bytes -> {} {}",
            case.path,
            case.body.len(),
            answer.status,
            String::from_utf8_lossy(&answer.raw_body)
        )
    };
    if !is_hook_route(&case.path) {
        assert!(matches!(answer.status, 404 | 405), "{}", what());
        assert!(answer.written.is_empty(), "{}", what());
        return;
    }
    assert!(
        matches!(answer.status, 200 | 400 | 401 | 404 | 408 | 413 | 503),
        "undocumented status: {}",
        what()
    );
    let json = answer
        .json
        .as_ref()
        .unwrap_or_else(|| panic!("answer is not JSON: {}", what()));
    if answer.status == 200 {
        let status = json["status"].as_str().unwrap_or_default();
        let event_id = json["event_id"].as_str().unwrap_or_default();
        let topic = json["topic"].as_str().unwrap_or_default();
        assert_eq!(event_id.len(), 64, "{}", what());
        assert!(topic.starts_with("gitlab."), "{}", what());
        assert!(case.body.len() <= MAX_BODY_BYTES, "{}", what());
        match status {
            "accepted" | "dead_lettered" => {
                assert_eq!(answer.written.len(), 1, "{}", what());
                let record = &answer.written[0];
                assert_eq!(record.body, case.body, "the body kept is not the body sent");
                assert_eq!(record.topic, topic, "{}", what());
                assert_eq!(record.headers.event_id, event_id, "{}", what());
                assert_eq!(
                    record.dead_letter_reason.is_some(),
                    status == "dead_lettered",
                    "{}",
                    what()
                );
            }
            "duplicate" => assert!(answer.written.is_empty(), "{}", what()),
            other => panic!("unknown status {other:?}: {}", what()),
        }
    } else {
        assert!(json["error"].as_str().is_some(), "{}", what());
        assert!(json["message"].as_str().is_some(), "{}", what());
        assert!(answer.written.is_empty(), "refused but written: {}", what());
    }
}
