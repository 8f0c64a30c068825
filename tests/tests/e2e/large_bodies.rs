//! Bodies between Kafka's default record size (1 MB) and ingest's limit
//! (`HOOKLINE_MAX_BODY_BYTES`, 25 MiB by default, GitLab's own) go all the way: answered 2xx,
//! in Kafka, in `raw_hooks` byte for byte and in their typed table. Both ways a hook reaches
//! Kafka: straight from the request (empty spool), and through the spool's drainer (the spool
//! held records when it arrived), where a record Kafka refused used to be dropped after the
//! hook had been answered 200.

use std::time::Duration;

use hookline_dev::client::{deliver, eventually, metric, poll_until, select, Delivery};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use serde_json::Value;

/// Well over Kafka's default 1 MB, under the 25 MiB limit, and under what the local broker
/// can serve: Tansu 0.6 caps every fetch at 5 MiB of keys and values
/// (`tansu-storage` `service/fetch.rs`, `record_fetch.sql`) and never returns a record
/// larger than that, so a consumer stops at it for good (a 6 MB body was stored but never
/// read). Kafka returns the first record of a fetch whatever its size.
const BIG_BODY_BYTES: usize = 4 * 1024 * 1024 + 512 * 1024;
/// Long enough for the local broker to acknowledge a 5 MB record on a busy machine (it
/// took 0.3 to 1 s here), so the first hook takes the straight path; the hook sent while the
/// broker is down waits this long before it is spooled.
const ACK_DEADLINE_MS: u64 = 10_000;
/// Longer than the broker is ever down here: Tansu 0.6 cannot take the idempotent producer's
/// epoch bump after a record times out (see tests/tests/e2e/ingest_durability.rs).
const ACK_TIMEOUT_MS: u64 = 30_000;
const LANDING_DEADLINE: Duration = Duration::from_secs(60);

/// GitLab's Pipeline Hook example as pipeline `pipeline_id` of project `project_id`, padded
/// to at least `size` bytes with a long (valid) commit message.
fn pipeline(project_id: u64, pipeline_id: u64, size: usize) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&fixtures::read("seeds/pipeline_hook.json")).unwrap();
    value["project"]["id"] = project_id.into();
    value["object_attributes"]["id"] = pipeline_id.into();
    value["commit"]["message"] = "Long commit message. ".repeat(size / 21 + 1).into();
    serde_json::to_vec(&value).unwrap()
}

async fn deliver_ok(stack: &Stack, body: Vec<u8>) -> String {
    let (status, answer) = deliver(
        stack,
        Delivery {
            event: Some("Pipeline Hook"),
            token: Some(&stack.token),
            body,
        },
    )
    .await;
    assert_eq!(status, 200, "{answer}\n{}", stack.logs());
    answer["event_id"]
        .as_str()
        .expect("an event id in the answer")
        .to_owned()
}

/// Waits until `raw_hooks` holds the hook's exact body and `pipelines` its row.
async fn assert_landed(stack: &Stack, event_id: &str, body_len: usize, pipeline_id: u64) {
    let raw =
        format!("SELECT length(body) AS len FROM raw_hooks FINAL WHERE event_id = '{event_id}'");
    let len = poll_until(LANDING_DEADLINE, || async {
        select(stack, &raw).await.first()?["len"].as_u64()
    })
    .await
    .unwrap_or_else(|| {
        let rows = futures::executor::block_on(select(
            stack,
            "SELECT event_id, length(body) AS len FROM raw_hooks FINAL",
        ));
        panic!(
            "hook {event_id} not in raw_hooks, which holds {rows:?}\n{}",
            stack.logs()
        )
    });
    assert_eq!(len, body_len as u64, "raw_hooks keeps the whole body");
    let typed = format!("SELECT status FROM pipelines FINAL WHERE pipeline_id = {pipeline_id}");
    let status = eventually(LANDING_DEADLINE, "the pipeline row", || async {
        select(stack, &typed).await.first()?["status"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(status, "success");
}

async fn ingest_metric(stack: &Stack, sample: &str) -> f64 {
    metric(&stack.ingest_admin_url, sample)
        .await
        .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_of_several_megabytes_reaches_clickhouse_straight_and_through_the_spool() {
    let mut options = StackOptions::for_test();
    options.ingest_args = vec![
        format!("--kafka-ack-deadline-ms={ACK_DEADLINE_MS}"),
        format!("--kafka-ack-timeout-ms={ACK_TIMEOUT_MS}"),
    ];
    let mut stack = Stack::start(options).await.expect("the stack starts");

    // Empty spool: straight to Kafka.
    let body = pipeline(7001, 900_001, BIG_BODY_BYTES);
    let event_id = deliver_ok(&stack, body.clone()).await;
    assert_eq!(
        ingest_metric(&stack, "hookline_ingest_spool_records").await,
        0.0,
        "answered from Kafka, not from the spool\n{}",
        stack.logs()
    );
    let produce = ingest_metric(&stack, "hookline_ingest_kafka_produce_seconds_sum").await;
    eprintln!("Kafka acknowledged the 4.5 MiB record in {produce:.3} s");
    assert_landed(&stack, &event_id, body.len(), 900_001).await;

    // The spool holds a hook (the broker is down), so the large one follows it there and
    // reaches Kafka through the drainer once the broker is back.
    stack.broker.stop();
    let small = pipeline(7002, 900_002, 0);
    let small_id = deliver_ok(&stack, small.clone()).await;
    let big = pipeline(7002, 900_003, BIG_BODY_BYTES);
    let big_id = deliver_ok(&stack, big.clone()).await;
    assert_eq!(
        ingest_metric(&stack, "hookline_ingest_spool_records").await,
        2.0,
        "both hooks spooled"
    );
    stack.restart_broker().await.expect("the broker restarts");
    eventually(LANDING_DEADLINE, "the spool drained", || async {
        (ingest_metric(&stack, "hookline_ingest_spool_records").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        ingest_metric(&stack, "hookline_ingest_spool_parked_records").await,
        0.0,
        "nothing parked\n{}",
        stack.logs()
    );
    assert_landed(&stack, &small_id, small.len(), 900_002).await;
    assert_landed(&stack, &big_id, big.len(), 900_003).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_names_existing_topics_that_take_smaller_records_at_start() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    // A cluster where the pipeline topic was created earlier with Kafka's default size.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .create()
        .expect("an admin client");
    let small = NewTopic::new("small.pipeline", 1, TopicReplication::Fixed(1))
        .set("max.message.bytes", "1048588");
    let created = admin
        .create_topics([&small], &AdminOptions::new())
        .await
        .expect("the broker answers");
    assert!(created[0].is_ok(), "{created:?}");

    let replica = stack
        .start_ingest_replica("small", &["--topic-prefix=small."])
        .await
        .expect("ingest starts against the existing topic");
    let wanted = 25 * 1024 * 1024 + 1024 * 1024;
    eventually(
        LANDING_DEADLINE,
        "the error naming the small topic",
        || async {
            let log = replica.process.log_tail(200);
            log.lines()
                .find(|line| {
                    line.contains("ERROR")
                        && line.contains("small.pipeline")
                        && line.contains("max.message.bytes")
                        && line.contains(&format!("max.message.bytes={wanted}"))
                })
                .map(str::to_owned)
        },
    )
    .await;
    // Topics it created itself take the whole limit, so none of them is named.
    let log = replica.process.log_tail(200);
    assert!(
        !log.lines()
            .any(|line| line.contains("ERROR") && line.contains("small.job")),
        "{log}"
    );
}
