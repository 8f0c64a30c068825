//! Ingest against a corpus of bad HTTP input, end to end on the real broker: oversized,
//! truncated and slow bodies, wrong content types, compressed bodies, deeply nested JSON,
//! huge numbers, invalid UTF-8, repeated and oversized headers.
//!
//! Every request gets the answer README's Design decisions promise (401 credentials, 408 a
//! body too slow, 413 too large, 200 `dead_lettered` for what cannot be read, and the HTTP
//! server's own 400/431 for what is not HTTP), the exact bytes of every request answered 200
//! are in the topic the answer names, nothing refused is written, and ingest's memory stays
//! bounded through it all, concurrent floods of oversized bodies and headers included.
//!
//! One stack serves every case; the cases are sections of one test, each with bodies of its
//! own, so that the counts they check do not interfere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::raw_http::{chunked, exchange, Exchange, RawRequest};
use hookline_dev::client::{record_header, records_in};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::record::header;
use rdkafka::message::Message;

const MAX_BODY: usize = 256 * 1024;
/// Short deadlines so the slow-client cases finish quickly.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
const BODY_TIMEOUT: Duration = Duration::from_millis(2000);
/// Ingest's peak resident memory must stay under this: four times what it measured (about
/// 40 MiB), and under what holding the flood's oversized bodies (16 of 8 MiB) would take.
const RSS_BOUND_KIB: u64 = 160 * 1024;
/// Size of each oversized body of the flood, streamed without `Content-Length`.
const FLOOD_BODY: usize = 8 * 1024 * 1024;

async fn start() -> Stack {
    let mut options = StackOptions::for_test();
    options.ingest_args = [
        &format!("--max-body-bytes={MAX_BODY}"),
        &format!("--header-read-timeout-ms={}", HEADER_TIMEOUT.as_millis()),
        &format!("--body-read-timeout-ms={}", BODY_TIMEOUT.as_millis()),
        // Some cases send the same body twice and expect both copies kept.
        "--dedup-window-secs=0",
    ]
    .map(String::from)
    .to_vec();
    Stack::start(options).await.expect("the stack starts")
}

/// A request answered 200: where its exact bytes must be found.
#[derive(Debug)]
struct Kept {
    case: String,
    topic: String,
    body: Vec<u8>,
    /// The `X-Gitlab-Event` the record must carry, where the case is about it.
    event_type: Option<String>,
}

/// The cases' record of what must be in Kafka at the end.
#[derive(Default)]
struct Ledger {
    kept: Vec<Kept>,
}

impl Ledger {
    /// Asserts a 200 with `status` and notes where the body must be.
    fn accepted(&mut self, case: &str, exchange: &Exchange, status: &str, body: &[u8]) {
        self.accepted_as(case, exchange, &[status], body);
    }

    /// Asserts a 200 with one of `statuses` and notes where the body must be.
    fn accepted_as(&mut self, case: &str, exchange: &Exchange, statuses: &[&str], body: &[u8]) {
        let answer = exchange.json().unwrap_or_else(|| {
            panic!("{case}: no JSON answer: {}", exchange.text());
        });
        assert_eq!(exchange.status(), Some(200), "{case}: {}", exchange.text());
        let status = answer["status"].as_str().unwrap_or_default();
        assert!(statuses.contains(&status), "{case}: {answer}");
        let topic = answer["topic"].as_str().expect("a topic").to_owned();
        if status == "dead_lettered" {
            assert_eq!(topic, "gitlab.dead_letter", "{case}");
        }
        self.kept.push(Kept {
            case: case.to_owned(),
            topic,
            body: body.to_vec(),
            event_type: None,
        });
    }
}

/// `Name: value` header lines.
fn headers(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|line| (*line).to_owned()).collect()
}

/// The token and event headers of an authenticated delivery, plus `extra`.
fn authenticated(stack: &Stack, event: &str, extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        format!("X-Gitlab-Token: {}", stack.token),
        format!("X-Gitlab-Event: {event}"),
    ];
    lines.extend(extra.iter().map(|line| (*line).to_owned()));
    lines
}

/// POSTs `body` to `/hooks` with `Content-Length` and `lines`, closing after the answer.
async fn post(stack: &Stack, lines: Vec<String>, body: Vec<u8>) -> Exchange {
    let mut lines = lines;
    lines.push(format!("Content-Length: {}", body.len()));
    lines.push("Connection: close".to_owned());
    exchange(stack.webhook_addr, RawRequest::post("/hooks", &lines, body)).await
}

/// A push body unique to `case`.
fn push(case: &str) -> Vec<u8> {
    format!(r#"{{"object_kind":"push","project_id":7,"case":"{case}"}}"#).into_bytes()
}

fn assert_error(case: &str, exchange: &Exchange, status: u16, error: &str) {
    assert_eq!(
        exchange.status(),
        Some(status),
        "{case}: {}",
        exchange.text()
    );
    let answer = exchange
        .json()
        .unwrap_or_else(|| panic!("{case}: no JSON answer: {}", exchange.text()));
    assert_eq!(answer["error"], error, "{case}: {answer}");
    assert!(answer["message"].is_string(), "{case}: {answer}");
}

/// Every record in every family topic and the dead-letter topic.
fn stored_records(stack: &Stack) -> i64 {
    hookline_schemas::record::Topics::default()
        .all()
        .iter()
        .filter(|topic| !topic.ends_with("dedup"))
        .map(|topic| records_in(stack, topic))
        .sum()
}

/// Ingest's resident and peak resident memory, in KiB, from `/proc`.
fn memory_kib(stack: &Stack) -> (u64, u64) {
    let pid = stack.ingest.pid().expect("ingest runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_bad_input_keeps_what_it_accepts_and_stays_bounded() {
    let stack = start().await;
    let mut ledger = Ledger::default();
    let (rss_at_start, _) = memory_kib(&stack);

    refused_input_is_never_written(&stack).await;
    slow_bodies(&stack, &mut ledger).await;
    content_types_and_encodings(&stack, &mut ledger).await;
    unreadable_json(&stack, &mut ledger).await;
    repeated_headers(&stack, &mut ledger).await;
    oversized_headers(&stack, &mut ledger).await;
    flood(&stack, &mut ledger).await;

    // Ingest still serves a plain delivery after all that.
    let body = push("after the corpus");
    let answer = post(
        &stack,
        authenticated(&stack, "Push Hook", &[]),
        body.clone(),
    )
    .await;
    ledger.accepted("after the corpus", &answer, "accepted", &body);

    every_accepted_body_is_in_kafka(&stack, &ledger);
    let (rss, peak) = memory_kib(&stack);
    eprintln!(
        "ingest memory: {rss_at_start} KiB at start, {rss} KiB after the corpus, peak {peak} KiB"
    );
    assert!(
        peak < RSS_BOUND_KIB,
        "ingest's peak RSS reached {peak} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
}

/// Oversized (announced or not, authenticated or not) and truncated bodies: 413, 401 or 400,
/// or the connection closed, and not one record written.
async fn refused_input_is_never_written(stack: &Stack) {
    let before = stored_records(stack);
    let big = vec![b' '; MAX_BODY + 1];

    let answer = post(stack, authenticated(stack, "Push Hook", &[]), big.clone()).await;
    assert_error("over the limit by one byte", &answer, 413, "too_large");

    // Announced far over the limit: refused before the body is read, without waiting for it.
    let mut lines = authenticated(stack, "Push Hook", &["Content-Length: 10737418240"]);
    lines.push("Connection: close".to_owned());
    let request = RawRequest::post("/hooks", &lines, b"{\"object_kind\":".to_vec());
    let answer = exchange(stack.webhook_addr, request).await;
    assert_error("10 GiB announced", &answer, 413, "too_large");

    // Not announced (chunked): refused once the limit is crossed.
    let mut lines = authenticated(stack, "Push Hook", &["Transfer-Encoding: chunked"]);
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    request.parts = chunked(&vec![b' '; 2 * MAX_BODY], 16 * 1024);
    let answer = exchange(stack.webhook_addr, request).await;
    assert_error("chunked over the limit", &answer, 413, "too_large");

    // Credentials come first: no token, no reading of 256 KiB.
    let answer = post(stack, headers(&["X-Gitlab-Event: Push Hook"]), big).await;
    assert_error("too large without a token", &answer, 401, "unauthorized");

    // Truncated: the client announces more than it sends, then gives up. The body cannot be
    // read, so it is not a delivery: 400 or the connection closed, never 200.
    let mut lines = authenticated(stack, "Push Hook", &["Content-Length: 1000"]);
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, push("truncated")[..20].to_vec());
    request.half_close = true;
    let answer = exchange(stack.webhook_addr, request).await;
    truncated_answer("truncated with Content-Length", &answer);

    let mut lines = authenticated(stack, "Push Hook", &["Transfer-Encoding: chunked"]);
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    let mut parts = chunked(&push("truncated chunked"), 8);
    parts.truncate(parts.len() / 2);
    request.parts = parts;
    request.half_close = true;
    let answer = exchange(stack.webhook_addr, request).await;
    truncated_answer("truncated chunked", &answer);

    // A chunk size that is no number, and two different lengths: not HTTP, 400 from hyper.
    let mut lines = authenticated(stack, "Push Hook", &["Transfer-Encoding: chunked"]);
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    request.parts = vec![b"zz\r\n{}\r\n0\r\n\r\n".to_vec()];
    let answer = exchange(stack.webhook_addr, request).await;
    truncated_answer("bad chunk size", &answer);
    let body = push("two lengths");
    let mut lines = authenticated(stack, "Push Hook", &["Content-Length: 5"]);
    lines.push(format!("Content-Length: {}", body.len()));
    lines.push("Connection: close".to_owned());
    let answer = exchange(stack.webhook_addr, RawRequest::post("/hooks", &lines, body)).await;
    assert_eq!(answer.status(), Some(400), "two lengths: {}", answer.text());

    assert_eq!(
        stored_records(stack),
        before,
        "a refused or unreadable request was written"
    );
}

/// A body that cannot be read to its end: 400 `bad_request` if ingest could still answer,
/// else the connection closed without an answer.
fn truncated_answer(case: &str, answer: &Exchange) {
    match answer.status() {
        None => assert!(answer.response.is_empty(), "{case}: {}", answer.text()),
        Some(400) => {
            if let Some(json) = answer.json() {
                assert_eq!(json["error"], "bad_request", "{case}: {json}");
            }
        }
        Some(other) => panic!("{case}: {other}: {}", answer.text()),
    }
}

/// A body trickled within the body deadline is accepted; one slower than it gets 408; headers
/// slower than the header deadline get the connection closed.
async fn slow_bodies(stack: &Stack, ledger: &mut Ledger) {
    let body = push("slow but in time");
    let mut lines = authenticated(stack, "Push Hook", &[]);
    lines.push(format!("Content-Length: {}", body.len()));
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    request.parts = body
        .chunks(body.len() / 5 + 1)
        .map(<[u8]>::to_vec)
        .collect();
    request.pause = BODY_TIMEOUT / 20;
    let answer = exchange(stack.webhook_addr, request).await;
    ledger.accepted("slow but in time", &answer, "accepted", &body);

    let body = push("too slow");
    let mut lines = authenticated(stack, "Push Hook", &[]);
    lines.push(format!("Content-Length: {}", body.len()));
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    request.parts = body.chunks(2).map(<[u8]>::to_vec).collect();
    request.pause = BODY_TIMEOUT / 10;
    let answer = exchange(stack.webhook_addr, request).await;
    assert_error("body too slow", &answer, 408, "timeout");

    let head = RawRequest::post(
        "/hooks",
        &authenticated(stack, "Push Hook", &[]),
        Vec::new(),
    );
    let request = RawRequest {
        parts: head.head.iter().map(|b| vec![*b]).collect(),
        pause: HEADER_TIMEOUT / 10,
        ..RawRequest::default()
    };
    let answer = exchange(stack.webhook_addr, request).await;
    assert!(
        answer.elapsed >= HEADER_TIMEOUT && answer.status().is_none_or(|s| s != 200),
        "headers too slow: after {:?}: {}",
        answer.elapsed,
        answer.text()
    );
}

/// GitLab always sends `application/json`, uncompressed; ingest keeps bodies as sent and
/// judges them by their bytes, not by what the headers claim.
async fn content_types_and_encodings(stack: &Stack, ledger: &mut Ledger) {
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin1",
    ] {
        let case = format!("Content-Type {content_type}");
        let body = push(&case);
        let extra = format!("Content-Type: {content_type}");
        let answer = post(
            stack,
            authenticated(stack, "Push Hook", &[&extra]),
            body.clone(),
        )
        .await;
        ledger.accepted(&case, &answer, "accepted", &body);
    }
    let body = push("no Content-Type");
    let answer = post(stack, authenticated(stack, "Push Hook", &[]), body.clone()).await;
    ledger.accepted("no Content-Type", &answer, "accepted", &body);

    // gzip of `{"object_kind":"push","project_id":11,"case":"gzip"}`: not decoded, so not UTF-8
    // text: kept as sent in the dead-letter topic.
    let gzip: Vec<u8> = vec![
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xca, 0x4f, 0xca,
        0x4a, 0x4d, 0x2e, 0x89, 0xcf, 0xce, 0xcc, 0x4b, 0x51, 0xb2, 0x52, 0x2a, 0x28, 0x2d, 0xce,
        0x50, 0xd2, 0x51, 0x2a, 0x28, 0xca, 0x07, 0x8b, 0x66, 0x02, 0xc5, 0x0c, 0x0d, 0x75, 0x94,
        0x92, 0x13, 0x8b, 0x53, 0x81, 0xb2, 0xe9, 0x55, 0x99, 0x05, 0x4a, 0xb5, 0x00, 0xdb, 0x3b,
        0x4e, 0x16, 0x34, 0x00, 0x00, 0x00,
    ];
    let extra = ["Content-Encoding: gzip", "Content-Type: application/json"];
    let answer = post(
        stack,
        authenticated(stack, "Push Hook", &extra),
        gzip.clone(),
    )
    .await;
    ledger.accepted("gzip body", &answer, "dead_lettered", &gzip);

    // The header lies: the body is plain JSON, and is accepted as such.
    let body = push("gzip header, plain body");
    let answer = post(
        stack,
        authenticated(stack, "Push Hook", &extra),
        body.clone(),
    )
    .await;
    ledger.accepted("gzip header, plain body", &answer, "accepted", &body);
}

/// Deep nesting, huge numbers and invalid UTF-8: answered 200 and kept, in the family topic
/// when the body is a JSON object ingest can key, else in the dead-letter topic.
async fn unreadable_json(stack: &Stack, ledger: &mut Ledger) {
    let depth = 100_000;
    let deep_array = "[".repeat(depth).into_bytes();
    let deep_in_object = format!(
        r#"{{"object_kind":"push","project_id":7,"case":"deep","x":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
    .into_bytes();
    let deep_objects = format!(
        r#"{{"object_kind":"push","case":"deep objects","project":{}1{}}}"#,
        r#"{"a":"#.repeat(depth / 10),
        "}".repeat(depth / 10)
    )
    .into_bytes();
    for (case, body, status) in [
        ("100k [", deep_array, "dead_lettered"),
        // The record key reads three members; the others are skipped without recursion.
        ("100k [ in an object", deep_in_object, "accepted"),
        ("10k objects deep", deep_objects, "dead_lettered"),
    ] {
        let answer = post(stack, authenticated(stack, "Push Hook", &[]), body.clone()).await;
        ledger.accepted(case, &answer, status, &body);
    }

    let digits = "9".repeat(100_000);
    for (case, body, status) in [
        (
            "project_id past u64",
            r#"{"object_kind":"push","project_id":123456789012345678901234567890}"#.to_owned(),
            "accepted",
        ),
        (
            "negative project_id",
            r#"{"object_kind":"push","project_id":-9223372036854775809}"#.to_owned(),
            "accepted",
        ),
        (
            "huge number elsewhere",
            r#"{"object_kind":"push","project_id":7,"n":1e999999}"#.to_owned(),
            "accepted",
        ),
        (
            "100k digits",
            format!(r#"{{"object_kind":"push","project_id":7,"n":{digits}}}"#),
            "accepted",
        ),
    ] {
        let body = body.into_bytes();
        let answer = post(stack, authenticated(stack, "Push Hook", &[]), body.clone()).await;
        ledger.accepted(case, &answer, status, &body);
    }

    for (case, body) in [
        (
            "invalid byte",
            &b"{\"object_kind\":\"push\",\"a\":\"\xff\"}"[..],
        ),
        (
            "overlong slash",
            &b"{\"object_kind\":\"push\",\"a\":\"\xc0\xaf\"}"[..],
        ),
        (
            "UTF-8 surrogate",
            &b"{\"object_kind\":\"push\",\"a\":\"\xed\xa0\x80\"}"[..],
        ),
        (
            "cut mid-character",
            &b"{\"object_kind\":\"push\",\"a\":\"\xe2\x82"[..],
        ),
    ] {
        let answer = post(stack, authenticated(stack, "Push Hook", &[]), body.to_vec()).await;
        ledger.accepted(case, &answer, "dead_lettered", body);
    }

    // Bytes that are not UTF-8 in the event header: read lossily, an unknown family.
    let body = push("event header not UTF-8");
    let mut lines = authenticated(stack, "Push Hook", &[]);
    lines.retain(|line| !line.starts_with("X-Gitlab-Event"));
    let mut request = RawRequest::post("/hooks", &lines, body.clone());
    let head = String::from_utf8(request.head).unwrap();
    let (start, end) = head.split_at(head.len() - 2);
    let mut raw_head = start.as_bytes().to_vec();
    raw_head.extend_from_slice(b"X-Gitlab-Event: Push\xffHook\r\n");
    raw_head.extend_from_slice(
        format!("Content-Length: {}\r\nConnection: close\r\n", body.len()).as_bytes(),
    );
    raw_head.extend_from_slice(end.as_bytes());
    request.head = raw_head;
    let answer = exchange(stack.webhook_addr, request).await;
    ledger.accepted("event header not UTF-8", &answer, "accepted", &body);
    assert_eq!(ledger.kept.last().unwrap().topic, "gitlab.other");
}

/// Repeated headers: ingest reads the first `X-Gitlab-Token` and the first `X-Gitlab-Event`,
/// as `HeaderMap::get` does; a wrong first token is refused whatever follows it.
async fn repeated_headers(stack: &Stack, ledger: &mut Ledger) {
    let token = format!("X-Gitlab-Token: {}", stack.token);
    let body = push("right token, then a wrong one");
    let lines = vec![
        token.clone(),
        "X-Gitlab-Token: wrong".to_owned(),
        "X-Gitlab-Event: Push Hook".to_owned(),
    ];
    let answer = post(stack, lines, body.clone()).await;
    ledger.accepted("right token first", &answer, "accepted", &body);

    let body = push("wrong token, then the right one");
    let lines = vec![
        "X-Gitlab-Token: wrong".to_owned(),
        token.clone(),
        "X-Gitlab-Event: Push Hook".to_owned(),
    ];
    let answer = post(stack, lines, body).await;
    assert_error("wrong token first", &answer, 401, "unauthorized");

    let body = push("two events");
    let lines = vec![
        token,
        "X-Gitlab-Event: Push Hook".to_owned(),
        "X-Gitlab-Event: Job Hook".to_owned(),
    ];
    let answer = post(stack, lines, body.clone()).await;
    ledger.accepted("two events", &answer, "accepted", &body);
    let kept = ledger.kept.last_mut().unwrap();
    assert_eq!(kept.topic, "gitlab.push");
    kept.event_type = Some("Push Hook".to_owned());

    // Both framings: chunked wins (RFC 9112, section 6.3), and the decoded body is kept.
    let body = push("Content-Length and chunked");
    let mut lines = authenticated(stack, "Push Hook", &["Content-Length: 5"]);
    lines.push("Transfer-Encoding: chunked".to_owned());
    lines.push("Connection: close".to_owned());
    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
    request.parts = chunked(&body, 16);
    let answer = exchange(stack.webhook_addr, request).await;
    ledger.accepted("Content-Length and chunked", &answer, "accepted", &body);
}

/// Headers past hyper's limits (about 400 KiB in all, 100 fields) are refused with 431 or
/// the connection closed; a large header within them is read and kept.
async fn oversized_headers(stack: &Stack, ledger: &mut Ledger) {
    let huge = format!("X-Padding: {}", "a".repeat(600 * 1024));
    let answer = post(
        stack,
        authenticated(stack, "Push Hook", &[&huge]),
        push("huge header"),
    )
    .await;
    assert!(
        matches!(answer.status(), None | Some(431)),
        "600 KiB header: {}",
        answer.text()
    );

    let many: Vec<String> = (0..150).map(|i| format!("X-Extra-{i}: {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let answer = post(
        stack,
        authenticated(stack, "Push Hook", &many),
        push("150 headers"),
    )
    .await;
    assert!(
        matches!(answer.status(), None | Some(431)),
        "150 headers: {}",
        answer.text()
    );

    let long_token = format!("X-Gitlab-Token: {}", "t".repeat(200 * 1024));
    let lines = vec![long_token, "X-Gitlab-Event: Push Hook".to_owned()];
    let answer = post(stack, lines, push("200 KiB token")).await;
    assert_error("200 KiB token", &answer, 401, "unauthorized");

    let event = "E".repeat(64 * 1024);
    let body = push("64 KiB event header");
    let answer = post(stack, authenticated(stack, &event, &[]), body.clone()).await;
    ledger.accepted("64 KiB event header", &answer, "accepted", &body);
    let kept = ledger.kept.last_mut().unwrap();
    assert_eq!(kept.topic, "gitlab.other");
    kept.event_type = Some(event);
}

/// Many clients at once: oversized chunked bodies (8 MiB each, 32 times the limit), nearly
/// oversized headers never finished, and bodies just under the limit. Memory is checked after it (see the main test).
async fn flood(stack: &Stack, ledger: &mut Ledger) {
    let (rss_before, _) = memory_kib(stack);
    let mut tasks = Vec::new();
    for i in 0..48 {
        let addr = stack.webhook_addr;
        let token = stack.token.clone();
        tasks.push(tokio::spawn(async move {
            let mut lines = vec![
                format!("X-Gitlab-Token: {token}"),
                "X-Gitlab-Event: Push Hook".to_owned(),
            ];
            let request = match i % 3 {
                0 => {
                    lines.push("Transfer-Encoding: chunked".to_owned());
                    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
                    request.parts = chunked(&vec![b' '; FLOOD_BODY], 64 * 1024);
                    request
                }
                1 => {
                    // 300 KiB of headers, never finished: cut at the header deadline.
                    let mut request = RawRequest::post("/hooks", &lines, Vec::new());
                    request.head.truncate(request.head.len() - 2);
                    request
                        .head
                        .extend(format!("X-Padding: {}", "p".repeat(300 * 1024)).bytes());
                    request.parts.clear();
                    request
                }
                _ => {
                    let mut body =
                        format!(r#"{{"object_kind":"push","project_id":{i},"pad":""#).into_bytes();
                    body.resize(MAX_BODY - 2, b'x');
                    body.extend_from_slice(b"\"}");
                    lines.push(format!("Content-Length: {}", body.len()));
                    lines.push("Connection: close".to_owned());
                    RawRequest::post("/hooks", &lines, body)
                }
            };
            let body = request.parts.first().cloned();
            (i, exchange(addr, request).await, body)
        }));
    }
    let started = Instant::now();
    for task in tasks {
        let (i, answer, body) = task.await.expect("a flood client");
        match i % 3 {
            0 => assert_error("flood: chunked over the limit", &answer, 413, "too_large"),
            1 => assert!(
                answer.status().is_none(),
                "flood: headers: {}",
                answer.text()
            ),
            _ => ledger.accepted(
                &format!("flood {i}"),
                &answer,
                "accepted",
                &body.expect("a body"),
            ),
        }
    }
    let (rss_after, peak) = memory_kib(stack);
    eprintln!(
        "flood of 48 clients in {:?}: ingest RSS {rss_before} -> {rss_after} KiB, peak {peak} KiB",
        started.elapsed()
    );
}

/// The exact bytes of every request answered 200 are in the topic its answer named, with the
/// `X-Gitlab-Event` it was read with.
fn every_accepted_body_is_in_kafka(stack: &Stack, ledger: &Ledger) {
    let mut by_topic: BTreeMap<&str, Vec<&Kept>> = BTreeMap::new();
    for kept in &ledger.kept {
        by_topic.entry(&kept.topic).or_default().push(kept);
    }
    for (topic, expected) in by_topic {
        let reader = stack
            .topic_reader(topic, "hookline-tests-bad-input")
            .expect("a reader of the topic");
        let mut found: Vec<(Vec<u8>, Option<String>)> = Vec::new();
        let missing = |found: &[(Vec<u8>, Option<String>)]| -> Vec<String> {
            expected
                .iter()
                .filter(|kept| {
                    !found.iter().any(|(body, event)| {
                        body == &kept.body
                            && kept
                                .event_type
                                .as_ref()
                                .is_none_or(|e| Some(e) == event.as_ref())
                    })
                })
                .map(|kept| kept.case.clone())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !missing(&found).is_empty() && Instant::now() < deadline {
            let Some(message) = reader.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.expect("a record");
            let event = record_header(&message, header::EVENT_TYPE);
            found.push((message.payload().unwrap_or_default().to_vec(), event));
        }
        let missing = missing(&found);
        assert!(
            missing.is_empty(),
            "accepted but not in {topic} as sent: {missing:?}"
        );
    }
}
