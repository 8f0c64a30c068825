//! Ingest at its edges, against the real broker: every credential rule (global token,
//! per-source tokens, Standard Webhooks signatures), every kind of unreadable or oversized
//! body, clients too slow to send their headers or body, and a `/metrics` exposition that
//! `promtool check metrics` accepts on both services.
//!
//! One stack serves every case (starting one takes seconds); the cases are sections of one
//! test, each with its own bodies, so the counts they check do not interfere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookline_dev::client::{eventually, metric, record_header, records_in};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::record::header;
use rdkafka::message::Message;
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROD_TOKEN: &str = "prod-token";
const STAGING_TOKEN: &str = "staging-token";
const STRICT_TOKEN: &str = "strict-token";
/// Signing keys (before base64) of source `signed` (two: a rotation) and source `strict`.
const SIGNED_OLD_KEY: &[u8] = b"old-signing-key-of-source-signed";
const SIGNED_NEW_KEY: &[u8] = b"new-signing-key-of-source-signed";
const STRICT_KEY: &[u8] = b"signing-key-of-source-strict";
const MAX_BODY: usize = 64 * 1024;
/// Short deadlines so the slow-client cases finish quickly.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
const BODY_TIMEOUT: Duration = Duration::from_millis(5000);

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", BASE64.encode(key))
}

async fn start() -> Stack {
    let mut options = StackOptions::for_test();
    options.ingest_args = [
        "--sources=prod,staging,signed,strict",
        &format!("--max-body-bytes={MAX_BODY}"),
        &format!("--header-read-timeout-ms={}", HEADER_TIMEOUT.as_millis()),
        &format!("--body-read-timeout-ms={}", BODY_TIMEOUT.as_millis()),
        "--kafka-statistics-interval-ms=100",
        // The cases run one after another; one slot lets a slow delivery fill it.
        "--max-concurrent-requests=1",
        // The cases send the same body several times and count every copy in Kafka;
        // deduplication has its own test (ingest_dedup.rs).
        "--dedup-window-secs=0",
    ]
    .map(str::to_owned)
    .to_vec();
    options.ingest_env = vec![
        (
            "HOOKLINE_SOURCE_TOKENS".to_owned(),
            format!("prod:{PROD_TOKEN},staging:{STAGING_TOKEN},strict:{STRICT_TOKEN}"),
        ),
        (
            "HOOKLINE_SOURCE_SIGNING_SECRETS".to_owned(),
            format!(
                "signed:{},signed:{},strict:{}",
                whsec(SIGNED_OLD_KEY),
                whsec(SIGNED_NEW_KEY),
                whsec(STRICT_KEY)
            ),
        ),
    ];
    Stack::start(options).await.expect("the stack starts")
}

/// One POST: path under the webhook listener (`""` or `/{source}`), headers and body.
struct Post<'a> {
    path: &'a str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl<'a> Post<'a> {
    fn new(path: &'a str, event: &str, body: &[u8]) -> Self {
        Self {
            path,
            headers: vec![("X-Gitlab-Event", event.to_owned())],
            body: body.to_vec(),
        }
    }

    fn token(mut self, token: &str) -> Self {
        self.headers.push(("X-Gitlab-Token", token.to_owned()));
        self
    }

    /// Signs as GitLab does: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    fn signed(mut self, key: &[u8], id: &str, timestamp: u64, signed_body: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(signed_body);
        let signature = BASE64.encode(mac.finalize().into_bytes());
        self.headers.push(("webhook-id", id.to_owned()));
        self.headers
            .push(("webhook-timestamp", timestamp.to_string()));
        self.headers
            .push(("webhook-signature", format!("v1a,other v1,{signature}")));
        self
    }

    async fn send(self, stack: &Stack) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{}", stack.webhook_url, self.path))
            .header("Content-Type", "application/json")
            .body(self.body);
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("ingest answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a response body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn push(n: u32) -> Vec<u8> {
    format!(r#"{{"object_kind":"push","project_id":7,"n":{n}}}"#).into_bytes()
}

async fn auth_failures(stack: &Stack, source: &str, reason: &str) -> Option<f64> {
    metric(
        &stack.ingest_admin_url,
        &format!(r#"hookline_ingest_auth_failures_total{{reason="{reason}",source="{source}"}}"#),
    )
    .await
}

/// Asserts an error answer: its status, and its JSON body's `error` and a `message`.
fn assert_error((status, answer): (u16, Value), expected: (u16, &str), what: &str) -> Value {
    assert_eq!(status, expected.0, "{what}: {answer}");
    assert_eq!(answer["error"], expected.1, "{what}: {answer}");
    assert!(answer["message"].as_str().is_some(), "{what}: {answer}");
    answer
}

/// Asserts a 401.
fn assert_refused(answer: (u16, Value), what: &str) -> Value {
    assert_error(answer, (401, "unauthorized"), what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_refuses_keeps_and_cuts_off_what_it_should() {
    let stack = start().await;
    tokens(&stack).await;
    signatures(&stack).await;
    unreadable_bodies_are_dead_lettered(&stack).await;
    oversized_bodies(&stack).await;
    slow_clients(&stack).await;
    metrics_pass_promtool(&stack).await;
}

/// The global token on `/hooks`, per-source tokens on `/hooks/{source}`, unknown sources.
async fn tokens(stack: &Stack) {
    let body = push(1);
    let answer = assert_refused(
        Post::new("", "Push Hook", &body).send(stack).await,
        "no token",
    );
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("X-Gitlab-Token"));
    assert_refused(
        Post::new("", "Push Hook", &body)
            .token("nope")
            .send(stack)
            .await,
        "wrong token",
    );
    // A source with its own token accepts only that one: not another source's, not the global.
    for token in [STAGING_TOKEN, &stack.token] {
        assert_refused(
            Post::new("/prod", "Push Hook", &body)
                .token(token)
                .send(stack)
                .await,
            "prod with a token not its own",
        );
    }
    let unknown = Post::new("/unknown", "Push Hook", &body).token(&stack.token);
    assert_error(
        unknown.send(stack).await,
        (404, "unknown_source"),
        "unknown source",
    );
    // Nothing refused reached Kafka (ingest answers after the acknowledgement).
    assert_eq!(records_in(stack, "gitlab.push"), 0);

    for (source, token) in [
        ("/prod", PROD_TOKEN),
        ("/staging", STAGING_TOKEN),
        ("", &stack.token),
    ] {
        let (status, answer) = Post::new(source, "Push Hook", &push(2))
            .token(token)
            .send(stack)
            .await;
        assert_eq!(status, 200, "{source}: {answer}");
        assert_eq!(answer["topic"], "gitlab.push");
    }
    assert_eq!(records_in(stack, "gitlab.push"), 3);
    assert_eq!(auth_failures(stack, "", "missing_token").await, Some(1.0));
    assert_eq!(auth_failures(stack, "", "wrong_token").await, Some(1.0));
    assert_eq!(auth_failures(stack, "prod", "wrong_token").await, Some(2.0));
}

/// Source `signed` requires a signature (no token); `strict` requires both.
async fn signatures(stack: &Stack) {
    let body = br#"{"object_kind":"tag_push","project_id":8}"#;
    let event = "Tag Push Hook";
    let post = || Post::new("/signed", event, body);

    assert_refused(post().send(stack).await, "unsigned");
    assert_refused(
        post().token(&stack.token).send(stack).await,
        "a token instead of a signature",
    );
    assert_refused(
        post()
            .signed(SIGNED_NEW_KEY, "msg_1", now(), b"{}")
            .send(stack)
            .await,
        "a signature of another body",
    );
    assert_refused(
        post()
            .signed(b"not-the-key", "msg_1", now(), body)
            .send(stack)
            .await,
        "a signature by another key",
    );
    assert_refused(
        post()
            .signed(SIGNED_NEW_KEY, "msg_1", now() - 600, body)
            .send(stack)
            .await,
        "a stale timestamp",
    );
    assert_eq!(records_in(stack, "gitlab.tag_push"), 0);

    // Either key of the rotation passes, and the webhook-id becomes the delivery key.
    for (key, id) in [(SIGNED_NEW_KEY, "msg_new"), (SIGNED_OLD_KEY, "msg_old")] {
        let (status, answer) = post().signed(key, id, now(), body).send(stack).await;
        assert_eq!(status, 200, "{id}: {answer}");
    }
    assert_eq!(records_in(stack, "gitlab.tag_push"), 2);

    // Both configured: both required.
    let strict = || Post::new("/strict", event, body);
    assert_refused(
        strict()
            .signed(STRICT_KEY, "msg_s", now(), body)
            .send(stack)
            .await,
        "strict without its token",
    );
    assert_refused(
        strict().token(STRICT_TOKEN).send(stack).await,
        "strict without a signature",
    );
    let (status, answer) = strict()
        .token(STRICT_TOKEN)
        .signed(STRICT_KEY, "msg_s", now(), body)
        .send(stack)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(records_in(stack, "gitlab.tag_push"), 3);

    for (source, reason, count) in [
        ("signed", "missing_signature", 2.0),
        ("signed", "bad_signature", 2.0),
        ("signed", "stale_timestamp", 1.0),
        ("strict", "missing_token", 1.0),
        ("strict", "missing_signature", 1.0),
    ] {
        assert_eq!(
            auth_failures(stack, source, reason).await,
            Some(count),
            "{source} {reason}"
        );
    }
}

/// Records of `topic` read from the beginning, as (body, dead-letter reason header), until one
/// with each of `bodies` is among them (the consumers dead-letter records there too).
fn read_topic(stack: &Stack, topic: &str, bodies: &[&[u8]]) -> Vec<(Vec<u8>, Option<String>)> {
    let consumer = stack
        .topic_reader(topic, "hookline-tests-ingest-edge")
        .expect("a reader of the topic");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut records = Vec::new();
    let all_found = |records: &[(Vec<u8>, Option<String>)]| {
        bodies
            .iter()
            .all(|body| records.iter().any(|(kept, _)| kept == body))
    };
    while !all_found(&records) && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("a record");
        let reason = record_header(&message, header::DEAD_LETTER_REASON);
        records.push((message.payload().unwrap_or_default().to_vec(), reason));
    }
    records
}

/// Empty, not JSON, not UTF-8, no `X-Gitlab-Event`: 200, and the exact bytes kept with the
/// reason. An unknown event type is routed to `gitlab.other`, not dead-lettered.
async fn unreadable_bodies_are_dead_lettered(stack: &Stack) {
    let cases: [(Option<&str>, &[u8], &str); 4] = [
        (Some("Push Hook"), b"", "empty body"),
        (
            Some("Push Hook"),
            b"{\"object_kind\": \"push\", ",
            "not a JSON object",
        ),
        (
            Some("Push Hook"),
            b"{\"a\":\"\xff\xfe\"}",
            "not valid UTF-8",
        ),
        (
            None,
            br#"{"object_kind":"push","n":"no event header"}"#,
            "missing X-Gitlab-Event",
        ),
    ];
    for (event, body, _) in &cases {
        let mut post = Post::new("", "", body).token(&stack.token);
        post.headers.retain(|(name, _)| *name != "X-Gitlab-Event");
        if let Some(event) = event {
            post.headers.push(("X-Gitlab-Event", (*event).to_owned()));
        }
        let (status, answer) = post.send(stack).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "dead_lettered", "{answer}");
        assert_eq!(answer["topic"], "gitlab.dead_letter");
    }
    let bodies: Vec<&[u8]> = cases.iter().map(|(_, body, _)| *body).collect();
    let records = read_topic(stack, "gitlab.dead_letter", &bodies);
    for (_, body, reason) in &cases {
        let (_, kept_reason) = records
            .iter()
            .find(|(kept, _)| kept == body)
            .unwrap_or_else(|| panic!("{body:?} not in the dead-letter topic: {records:?}"));
        let kept_reason = kept_reason.as_deref().unwrap_or_default();
        assert!(kept_reason.contains(reason), "{kept_reason:?} for {body:?}");
    }

    let (status, answer) = Post::new(
        "",
        "Emoji Hook",
        br#"{"object_kind":"emoji","project_id":9}"#,
    )
    .token(&stack.token)
    .send(stack)
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["topic"], "gitlab.other");
    assert_eq!(records_in(stack, "gitlab.other"), 1);
}

/// What a raw TCP client got back, and how long the server took to end the exchange.
#[derive(Debug)]
struct Exchange {
    response: String,
    /// Whether the server ended the exchange: the connection closed before the client had
    /// sent every part.
    closed_by_server: bool,
}

/// Sends `head` then each of `parts`, pausing `pause` between parts (load generation, not
/// synchronisation), while reading the answer until the server closes the connection.
async fn raw_exchange(
    addr: SocketAddr,
    head: String,
    parts: Vec<Vec<u8>>,
    pause: Duration,
) -> Exchange {
    let stream = TcpStream::connect(addr).await.expect("connect to ingest");
    let (mut reader, mut writer) = stream.into_split();
    let all_sent = Arc::new(AtomicBool::new(false));
    let sent = all_sent.clone();
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for part in parts {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            // The server may hang up mid-way: that is what some cases expect.
            if writer.write_all(&part).await.is_err() {
                return;
            }
        }
        sent.store(true, Ordering::SeqCst);
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let closed_by_server = !all_sent.load(Ordering::SeqCst);
    writing.abort();
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within 15 s"
    );
    Exchange {
        response: String::from_utf8_lossy(&response).into_owned(),
        closed_by_server,
    }
}

fn request_head(stack: &Stack, framing: &str) -> String {
    format!(
        "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Gitlab-Token: {}\r\n\
         X-Gitlab-Event: Push Hook\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
        stack.token
    )
}

/// Over the limit: 413 whether the size is announced or the body is chunked, and nothing
/// written. An unauthenticated oversized body gets 401: credentials come first.
async fn oversized_bodies(stack: &Stack) {
    let before = records_in(stack, "gitlab.push");
    let big = vec![b' '; MAX_BODY + 4096];

    let authenticated = Post::new("", "Push Hook", &big).token(&stack.token);
    assert_error(
        authenticated.send(stack).await,
        (413, "too_large"),
        "too large",
    );
    let unauthenticated = Post::new("", "Push Hook", &big).send(stack).await;
    assert_refused(unauthenticated, "too large and no token");

    // Announced with Content-Length, refused before the body is read.
    let head = request_head(stack, &format!("Content-Length: {}", big.len()));
    let exchange = raw_exchange(stack.webhook_addr, head, vec![big.clone()], Duration::ZERO).await;
    assert!(
        exchange.response.starts_with("HTTP/1.1 413"),
        "{}",
        exchange.response
    );

    // Chunked, no Content-Length: refused once the limit is crossed.
    let chunks = crate::raw_http::chunked(&big, 8192);
    let head = request_head(stack, "Transfer-Encoding: chunked");
    let exchange = raw_exchange(stack.webhook_addr, head, chunks, Duration::ZERO).await;
    assert!(
        exchange.response.starts_with("HTTP/1.1 413"),
        "{}",
        exchange.response
    );
    assert!(
        exchange.response.contains("too_large"),
        "{}",
        exchange.response
    );

    assert_eq!(records_in(stack, "gitlab.push"), before);
}

/// Headers or a body trickled a byte at a time are cut off at their deadline, and a delivery
/// beyond the concurrency limit is refused at once.
async fn slow_clients(stack: &Stack) {
    // Headers: one byte every 50 ms would take several seconds; the connection is closed
    // after the header deadline without an answer.
    let head = request_head(stack, "Content-Length: 2");
    let trickle: Vec<Vec<u8>> = head.bytes().map(|b| vec![b]).collect();
    let trickle_time = Duration::from_millis(50) * trickle.len() as u32;
    assert!(trickle_time > HEADER_TIMEOUT * 3);
    let exchange = raw_exchange(
        stack.webhook_addr,
        String::new(),
        trickle,
        Duration::from_millis(50),
    )
    .await;
    // Behaviour, not a timing boundary: the server hung up before the client had sent its
    // headers (the trickle would take several times the deadline), without answering.
    assert!(
        exchange.closed_by_server,
        "the connection stayed open until the client had sent its headers ({trickle_time:?}): {exchange:?}"
    );
    assert!(exchange.response.is_empty(), "{}", exchange.response);

    // Body: complete headers, then one byte every 100 ms of a 100-byte body: 408. While it
    // holds the only slot, another delivery gets 503 at once instead of waiting.
    let head = request_head(stack, "Content-Length: 100");
    let trickle: Vec<Vec<u8>> = (0..100).map(|_| vec![b' ']).collect();
    let slow = tokio::spawn(raw_exchange(
        stack.webhook_addr,
        head,
        trickle,
        Duration::from_millis(100),
    ));
    ingest_metric_reaches(stack, "hookline_ingest_requests_in_flight", |n| n == 1.0).await;
    let over_limit = Post::new("", "Push Hook", &push(3)).token(&stack.token);
    assert_error(
        over_limit.send(stack).await,
        (503, "overloaded"),
        "over the limit",
    );
    // Refused at once, not queued: the slow delivery still holds the only slot.
    assert!(
        !slow.is_finished(),
        "the slow delivery ended before the 503"
    );
    assert_eq!(
        metric(
            &stack.ingest_admin_url,
            "hookline_ingest_requests_in_flight"
        )
        .await,
        Some(1.0)
    );
    let exchange = slow.await.expect("the slow client");
    assert!(
        exchange.response.starts_with("HTTP/1.1 408"),
        "{}",
        exchange.response
    );
    // Cut off at the body deadline, long before the 100 bytes would have arrived.
    assert!(exchange.closed_by_server, "{exchange:?}");
    let timeouts = metric(
        &stack.ingest_admin_url,
        r#"hookline_ingest_requests_total{family="push",outcome="timeout"}"#,
    )
    .await;
    assert_eq!(timeouts, Some(1.0));
}

/// Polls an ingest metric until `holds` is true of it.
async fn ingest_metric_reaches(stack: &Stack, sample: &str, holds: impl Fn(f64) -> bool) {
    eventually(Duration::from_secs(10), sample, || async {
        let value = metric(&stack.ingest_admin_url, sample).await?;
        holds(value).then_some(())
    })
    .await;
}

/// `promtool check metrics` on one service's `/metrics`; panics with its findings.
async fn promtool_check(admin_url: &str) -> String {
    let exposition = reqwest::get(format!("{admin_url}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("/metrics answers")
        .text()
        .await
        .expect("a metrics body");
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is not on PATH: run dev/local/install.sh (Debian package prometheus)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(exposition.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.expect("promtool runs");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "promtool check metrics on {admin_url}/metrics:\n{findings}"
    );
    exposition
}

/// After all that traffic both expositions are clean, the queue gauge is fed by librdkafka's
/// statistics, and nothing is left in flight.
async fn metrics_pass_promtool(stack: &Stack) {
    // Statistics arrive every 100 ms here; the capacity is 0 until the first one.
    ingest_metric_reaches(
        stack,
        "hookline_ingest_kafka_queue_capacity_messages",
        |n| n > 0.0,
    )
    .await;
    // Every hook was acknowledged, so nothing stays queued.
    ingest_metric_reaches(stack, "hookline_ingest_kafka_queue_messages ", |n| n == 0.0).await;
    assert_eq!(
        metric(
            &stack.ingest_admin_url,
            "hookline_ingest_requests_in_flight"
        )
        .await,
        Some(0.0)
    );
    let ingest = promtool_check(&stack.ingest_admin_url).await;
    assert!(ingest.contains("hookline_ingest_auth_failures_total"));
    promtool_check(&stack.consumers_admin_url).await;
}
