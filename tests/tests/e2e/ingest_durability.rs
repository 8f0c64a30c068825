//! Ingest's durability with its local spool, against the real broker: while Kafka is down,
//! hooks are still answered 200 from the spool, and once Kafka is back every spooled hook is
//! in Kafka, none lost, each key's hooks in arrival order (duplicates allowed: a hook's first
//! copy is what counts), also after ingest itself was killed with -9 while hooks sat in the
//! spool.
//!
//! One stack serves both phases, one after the other, each with bodies of its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hookline_dev::client::{deliver, eventually, metric, Delivery};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;
use rdkafka::message::Message;
use serde_json::Value;

const TOPIC: &str = "gitlab.pipeline";
/// A short deadline, so the first hook after the broker dies spools quickly.
const ACK_DEADLINE_MS: u64 = 300;
/// librdkafka's `message.timeout.ms`, longer than the broker is ever down here: a record
/// that times out makes the idempotent producer bump its epoch, which Tansu 0.6 cannot take
/// (its storage panics on the next produce). A real Kafka cluster handles it.
const ACK_TIMEOUT_MS: u64 = 30_000;
/// Hooks per phase, spread over these projects (record keys).
const HOOKS: u64 = 24;
const PROJECTS: u64 = 3;
const DRAIN_DEADLINE: Duration = Duration::from_secs(40);

/// A distinct Pipeline Hook of `project` (so a distinct body and event id).
fn pipeline(phase: u64, project: u64, n: u64) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&fixtures::read("seeds/pipeline_hook.json")).unwrap();
    value["project"]["id"] = (1000 * phase + project).into();
    value["object_attributes"]["id"] = (100_000 * phase + n).into();
    serde_json::to_vec(&value).unwrap()
}

/// Sends one phase's hooks one after another, each answered 200; returns them per key.
async fn send_hooks(stack: &Stack, phase: u64) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut sent: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for n in 0..HOOKS {
        let project = n % PROJECTS;
        let body = pipeline(phase, project, n);
        let (status, answer) = deliver(
            stack,
            Delivery {
                event: Some("Pipeline Hook"),
                token: Some(&stack.token),
                body: body.clone(),
            },
        )
        .await;
        assert_eq!(
            status,
            200,
            "hook {n} of phase {phase}: {answer}\n{}",
            stack.logs()
        );
        sent.entry((1000 * phase + project).to_string())
            .or_default()
            .push(body);
    }
    sent
}

async fn ingest_metric(stack: &Stack, sample: &str) -> Option<f64> {
    metric(&stack.ingest_admin_url, sample).await
}

async fn spooled(stack: &Stack) -> f64 {
    ingest_metric(stack, "hookline_ingest_spool_records")
        .await
        .unwrap_or(-1.0)
}

/// Waits until ingest's spool is empty again.
async fn drained(stack: &Stack) {
    eventually(DRAIN_DEADLINE, "the spool drained", || async {
        (spooled(stack).await == 0.0).then_some(())
    })
    .await;
}

/// Reads the topic from the beginning until every body of `sent` is there; checks that each
/// key's bodies first appear in the order they were sent.
fn assert_in_kafka_in_order(stack: &Stack, sent: &BTreeMap<String, Vec<Vec<u8>>>) {
    let consumer = stack
        .topic_reader(TOPIC, "hookline-tests-durability")
        .expect("a Kafka consumer");

    // Per key, the bodies in offset order (one key lives in one partition).
    let mut seen: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let complete = |seen: &BTreeMap<String, Vec<Vec<u8>>>| {
        sent.iter().all(|(key, bodies)| {
            bodies
                .iter()
                .all(|body| seen.get(key).is_some_and(|got| got.contains(body)))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !complete(&seen) {
        assert!(
            Instant::now() < deadline,
            "hooks missing from {TOPIC} after 30 s\n{}",
            stack.logs()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("a record");
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        seen.entry(key)
            .or_default()
            .push(message.payload().unwrap_or_default().to_vec());
    }
    for (key, bodies) in sent {
        let mut first_copies: Vec<&Vec<u8>> = Vec::new();
        for body in &seen[key] {
            if bodies.contains(body) && !first_copies.contains(&body) {
                first_copies.push(body);
            }
        }
        assert!(
            first_copies.iter().copied().eq(bodies.iter()),
            "key {key}: hooks reached Kafka out of arrival order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_hooks_survive_a_dead_broker_and_a_killed_ingest() {
    let mut options = StackOptions::for_test();
    options.ingest_args = vec![
        format!("--kafka-ack-deadline-ms={ACK_DEADLINE_MS}"),
        format!("--kafka-ack-timeout-ms={ACK_TIMEOUT_MS}"),
    ];
    let mut stack = Stack::start(options).await.expect("the stack starts");

    // Phase 1: the broker dies; hooks are answered from the spool and drained once it is back.
    stack.broker.kill();
    let sent = send_hooks(&stack, 1).await;
    let depth = spooled(&stack).await;
    assert!(depth > 0.0, "spool depth {depth} while the broker is down");
    let spooled_total = ingest_metric(&stack, "hookline_ingest_spooled_total{reason=\"backlog\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        spooled_total > 0.0,
        "later hooks follow the backlog into the spool"
    );
    // The oldest-age gauge shows the outage.
    eventually(DRAIN_DEADLINE, "the oldest spooled hook aging", || async {
        let age = ingest_metric(&stack, "hookline_ingest_spool_oldest_age_seconds").await?;
        (age >= 2.0).then_some(())
    })
    .await;
    stack.restart_broker().await.expect("the broker restarts");
    drained(&stack).await;
    let drained_total = ingest_metric(&stack, "hookline_ingest_spool_drained_total")
        .await
        .unwrap_or(0.0);
    assert!(drained_total >= depth, "drained {drained_total} of {depth}");
    assert_in_kafka_in_order(&stack, &sent);

    // Phase 2: hooks sit in the spool (broker down) when ingest is killed with -9; a new
    // ingest on the same spool forwards them once the broker is back.
    stack.broker.kill();
    let sent = send_hooks(&stack, 2).await;
    assert_eq!(
        spooled(&stack).await,
        HOOKS as f64,
        "every hook of phase 2 spooled"
    );
    // Kafka shows as unreachable, but ingest stays ready: it can still store hooks.
    eventually(DRAIN_DEADLINE, "Kafka reported unreachable", || async {
        let reachable = ingest_metric(&stack, "hookline_ingest_kafka_reachable").await?;
        (reachable == 0.0).then_some(())
    })
    .await;
    let ready = reqwest::get(format!("{}/readyz", stack.ingest_admin_url))
        .await
        .expect("ingest answers /readyz");
    assert_eq!(ready.status().as_u16(), 200, "ready while Kafka is down");
    stack.ingest.kill();
    stack.restart_broker().await.expect("the broker restarts");
    stack.restart_ingest().await.expect("ingest restarts");
    drained(&stack).await;
    assert_in_kafka_in_order(&stack, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_starts_and_spools_while_kafka_is_down() {
    let mut options = StackOptions::for_test();
    options.ingest_args = vec![
        format!("--kafka-ack-deadline-ms={ACK_DEADLINE_MS}"),
        format!("--kafka-ack-timeout-ms={ACK_TIMEOUT_MS}"),
        // Without Kafka the window cannot be rebuilt: stop waiting for it quickly.
        "--dedup-rebuild-timeout-secs=1".to_owned(),
    ];
    let mut stack = Stack::start(options).await.expect("the stack starts");

    // A restart during a Kafka outage: ingest must come up and take hooks, not exit
    // because it cannot reach Kafka at start.
    stack.broker.kill();
    stack
        .restart_ingest()
        .await
        .expect("ingest starts and is ready although Kafka is down");
    let sent = send_hooks(&stack, 3).await;
    assert_eq!(
        spooled(&stack).await,
        HOOKS as f64,
        "every hook spooled while Kafka is down"
    );
    stack.restart_broker().await.expect("the broker restarts");
    drained(&stack).await;
    assert_in_kafka_in_order(&stack, &sent);
}
