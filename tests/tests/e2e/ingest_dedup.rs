//! Deduplication against the real broker: retries and resends (same `Idempotency-Key`) and
//! overlapping hooks (same body, other keys) are answered 200 `duplicate` and written once;
//! a second ingest replica learns what the first accepted by tailing Kafka; a replica
//! started afresh rebuilds the window from Kafka before it reports ready.
//!
//! Records are counted with the topic's watermarks; nothing waits by sleeping: the replicas'
//! windows are observed through their `hookline_ingest_dedup_window_ids` gauge.

use std::time::{Duration, Instant};

use hookline_dev::client::{metric, records_in};
use hookline_dev::stack::{Stack, StackOptions};
use serde_json::{json, Value};

const TOPIC: &str = "gitlab.push";
/// How long another replica may take to learn of a hook (the propagation delay is far less).
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(10);

/// A Push Hook body of project `project`.
fn push(project: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object_kind": "push",
        "project_id": project,
        "after": format!("{project:040x}"),
    }))
    .expect("JSON")
}

/// POSTs a Push Hook as GitLab does, with `Idempotency-Key` when given.
async fn post(stack: &Stack, url: &str, key: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", &stack.token)
        .body(body.to_vec());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("ingest answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts a 200 with `status` (and, for a duplicate, `reason`); returns the event id.
fn expect(answer: (u16, Value), status: &str, reason: Option<&str>, what: &str) -> Value {
    let (code, body) = answer;
    assert_eq!(code, 200, "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    assert_eq!(body["topic"], TOPIC, "{what}: {body}");
    assert_eq!(
        body.get("reason").and_then(Value::as_str),
        reason,
        "{what}: {body}"
    );
    body["event_id"].clone()
}

async fn window_ids(admin_url: &str) -> f64 {
    metric(admin_url, "hookline_ingest_dedup_window_ids")
        .await
        .expect("the window gauge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_written_once_across_replicas_and_restarts() {
    let mut stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let a = stack.webhook_url.clone();

    // A retry or manual resend: same event, same key.
    let first = expect(
        post(&stack, &a, Some("key-1"), &push(1)).await,
        "accepted",
        None,
        "first",
    );
    let retry = post(&stack, &a, Some("key-1"), &push(1)).await;
    assert_eq!(
        expect(retry, "duplicate", Some("delivery_key"), "retry"),
        first
    );
    // One event through a project hook and a group hook: same body, different keys; and
    // again from a GitLab too old to send a key.
    expect(
        post(&stack, &a, Some("project-hook"), &push(2)).await,
        "accepted",
        None,
        "project hook",
    );
    for key in [Some("group-hook"), None] {
        let answer = post(&stack, &a, key, &push(2)).await;
        expect(answer, "duplicate", Some("event_id"), "overlapping hook");
    }
    // The same key with another body is still the same delivery.
    expect(
        post(&stack, &a, Some("key-3"), &push(3)).await,
        "accepted",
        None,
        "key-3",
    );
    let answer = post(&stack, &a, Some("key-3"), &push(4)).await;
    expect(
        answer,
        "duplicate",
        Some("delivery_key"),
        "same key, other body",
    );
    assert_eq!(records_in(&stack, TOPIC), 3);
    for (reason, count) in [("delivery_key", 2.0), ("event_id", 2.0)] {
        let sample = format!(r#"hookline_ingest_duplicates_total{{reason="{reason}"}}"#);
        assert_eq!(
            metric(&stack.ingest_admin_url, &sample).await,
            Some(count),
            "{sample}"
        );
    }
    // Three hooks with a key each: six ids.
    assert_eq!(window_ids(&stack.ingest_admin_url).await, 6.0);
    let bytes = metric(
        &stack.ingest_admin_url,
        "hookline_ingest_dedup_window_bytes",
    )
    .await;
    assert!(bytes.is_some_and(|b| b > 0.0), "{bytes:?}");

    // A second replica: ready only once it has read the hooks above from Kafka.
    let b = stack
        .start_ingest_replica("b", &[])
        .await
        .expect("replica b starts");
    assert_eq!(window_ids(&b.admin_url).await, 6.0);
    let answer = post(&stack, &b.webhook_url, Some("key-1"), &push(1)).await;
    expect(
        answer,
        "duplicate",
        Some("delivery_key"),
        "retry at replica b",
    );

    // A hook accepted by A reaches B's window by tailing: poll B's gauge, not its answer
    // (an answer before the window has it would write the hook again).
    expect(
        post(&stack, &a, Some("key-5"), &push(5)).await,
        "accepted",
        None,
        "key-5",
    );
    let acknowledged = Instant::now();
    while window_ids(&b.admin_url).await < 8.0 {
        assert!(
            acknowledged.elapsed() < PROPAGATION_DEADLINE,
            "replica b did not learn of key-5 within {PROPAGATION_DEADLINE:?}\n{}",
            b.process.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "propagation delay from replica a's 200 to replica b's window: {:?}",
        acknowledged.elapsed()
    );
    for key in ["key-5", "another-hook"] {
        let answer = post(&stack, &b.webhook_url, Some(key), &push(5)).await;
        let reason = if key == "key-5" {
            "delivery_key"
        } else {
            "event_id"
        };
        expect(answer, "duplicate", Some(reason), "replica b, after a");
    }

    // A restart: ingest keeps no state, so a replica started afresh after A stops rebuilds
    // the window from Kafka and knows every hook at once.
    stack.ingest.stop();
    let started = Instant::now();
    let restarted = stack
        .start_ingest_replica("restarted", &[])
        .await
        .expect("the restarted replica starts");
    eprintln!("restart with the window rebuilt: {:?}", started.elapsed());
    assert_eq!(window_ids(&restarted.admin_url).await, 8.0);
    for (key, body) in [
        (Some("key-1"), push(1)),
        (None, push(2)),
        (Some("key-5"), push(5)),
    ] {
        let answer = post(&stack, &restarted.webhook_url, key, &body).await;
        let reason = if key.is_some() {
            "delivery_key"
        } else {
            "event_id"
        };
        expect(answer, "duplicate", Some(reason), "after the restart");
    }
    // A new hook is still accepted, and every accepted hook was written exactly once.
    let answer = post(&stack, &restarted.webhook_url, Some("key-6"), &push(6)).await;
    expect(answer, "accepted", None, "a new hook after the restart");
    assert_eq!(records_in(&stack, TOPIC), 5);

    // A zero window turns deduplication off.
    let off = stack
        .start_ingest_replica("off", &["--dedup-window-secs=0"])
        .await
        .expect("a replica without deduplication starts");
    for _ in 0..2 {
        let answer = post(&stack, &off.webhook_url, Some("key-1"), &push(1)).await;
        expect(answer, "accepted", None, "without deduplication");
    }
    assert_eq!(records_in(&stack, TOPIC), 7);
}
