//! Poison records: a record whose body the pipeline model rejects, one whose integer field
//! holds a 600 KB string (its reason would quote it in full), one with a timestamp that is year
//! 10000 in UTC (it used to panic the projection), and a record without Hookline's headers,
//! written straight to `gitlab.pipeline` ahead of valid hooks of the same project. The bad
//! ones end up in `gitlab.dead_letter`, unchanged, with a bounded reason and where they came
//! from, and those with Hookline's headers in `raw_hooks` too; the valid ones behind them on
//! the same partition still land, and the consumers never restart. A letter Kafka refuses is
//! replaced by a pointer.

use std::time::{Duration, SystemTime};

use crate::consumers_support::{deliver_all, metric_reaches, LANDING};
use hookline_consumers::dead_letter::{DeadLetters, Letter, PendingLetters};
use hookline_dev::client::{eventually, record_header, select};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_runtime::kafka::KafkaConnection;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::record::{event_id, header, RecordHeaders};
use hookline_schemas::testing::gitlab::pipeline_lifecycle;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use time::OffsetDateTime;

/// The project of every record here: its id is the record key ingest uses.
const PROJECT: u64 = 777;
const TOPIC: &str = "gitlab.pipeline";
const DEAD_LETTER_TOPIC: &str = "gitlab.dead_letter";

/// Writes one record to `gitlab.pipeline` keyed by [`PROJECT`]; returns (partition, offset).
async fn produce(stack: &Stack, body: &[u8], headers: Option<RecordHeaders>) -> (i32, i64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .create()
        .expect("a Kafka producer");
    let key = PROJECT.to_string();
    let mut record = FutureRecord::to(TOPIC).key(&key).payload(body);
    if let Some(headers) = headers {
        let pairs = headers.to_pairs();
        let mut kafka_headers = OwnedHeaders::new();
        for (name, value) in &pairs {
            kafka_headers = kafka_headers.insert(Header {
                key: name,
                value: Some(value.as_str()),
            });
        }
        record = record.headers(kafka_headers);
    }
    let delivery = producer
        .send(record, Duration::from_secs(10))
        .await
        .expect("Kafka takes the record");
    (delivery.partition, delivery.offset)
}

/// Hookline headers as ingest writes them, for a Pipeline Hook with `body`.
fn pipeline_headers(body: &[u8]) -> RecordHeaders {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    RecordHeaders {
        event_type: "Pipeline Hook".to_owned(),
        event_id: event_id("Pipeline Hook", body),
        delivery_key: None,
        received_at_ms: now.expect("a clock after 1970").as_millis() as i64,
        gitlab_instance: None,
        source: None,
        gitlab_version: Some("17.5.1".to_owned()),
    }
}

/// Every record of the dead-letter topic, once there are `count`.
async fn dead_letters(stack: &Stack, count: usize) -> Vec<OwnedMessage> {
    let reader = stack
        .topic_reader(DEAD_LETTER_TOPIC, "hookline-tests-dead-letters")
        .expect("a reader of the dead-letter topic");
    let mut records = Vec::new();
    eventually(LANDING, "the dead-letter records", || {
        if let Some(message) = reader.poll(Duration::from_millis(100)) {
            records.push(message.expect("a record").detach());
        }
        let enough = records.len() >= count;
        async move { enough.then_some(()) }
    })
    .await;
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_their_partition_keeps_flowing() {
    let mut stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");

    // Hookline's headers, but `object_attributes` is no object: the pipeline model rejects it.
    let rejected = br#"{"object_kind":"pipeline","object_attributes":"nope"}"#.to_vec();
    let rejected_at = produce(&stack, &rejected, Some(pipeline_headers(&rejected))).await;
    // A 600 KB string where the duration (a number) belongs: serde quotes it in the reason.
    let huge = format!(
        r#"{{"object_kind":"pipeline","object_attributes":{{"id":3,"status":"success","duration":"{}"}}}}"#,
        "9".repeat(600 * 1024)
    )
    .into_bytes();
    let huge_at = produce(&stack, &huge, Some(pipeline_headers(&huge))).await;
    // Year 10000 in UTC: a valid RFC 3339 timestamp that used to panic the projection.
    let start = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("a time");
    let (late_hooks, _) = pipeline_lifecycle((PROJECT, 4), start, "success", None);
    let mut late: serde_json::Value = serde_json::from_slice(&late_hooks[3].body).unwrap();
    late["object_attributes"]["finished_at"] = "9999-12-31T23:30:00-01:00".into();
    let late = serde_json::to_vec(&late).unwrap();
    produce(&stack, &late, Some(pipeline_headers(&late))).await;
    // A perfectly good body, but no headers: not written by ingest.
    let (hooks, _) = pipeline_lifecycle((PROJECT, 1), start, "success", None);
    let headerless = hooks[0].body.clone();
    let headerless_at = produce(&stack, &headerless, None).await;
    assert_eq!(rejected_at.0, headerless_at.0, "one key, one partition");

    // Valid hooks of the same project, through ingest: same key, so the same partition.
    let mut valid = hooks;
    valid.extend(pipeline_lifecycle((PROJECT, 2), start, "success", None).0);
    deliver_all(&stack, &valid).await;
    // 8 valid hooks, plus the raw rows of the three poison records with Hookline's headers;
    // the year-10000 pipeline lands too, its finish time unknown.
    eventually(LANDING, "every hook with headers in raw_hooks", || async {
        let rows = select(&stack, "SELECT count() AS n FROM raw_hooks FINAL").await;
        (rows[0]["n"] == 11).then_some(())
    })
    .await;
    assert_landed_pipelines(&stack).await;
    let placement = select(
        &stack,
        "SELECT min(partition) AS low, max(partition) AS high, min(offset) AS first \
         FROM raw_hooks FINAL WHERE event_type = 'Pipeline Hook' AND body NOT LIKE '%nope%' \
         AND length(body) < 100000 AND body NOT LIKE '%9999-12-31%'",
    )
    .await;
    let partition = u64::try_from(rejected_at.0).unwrap();
    assert_eq!(placement[0]["low"], partition);
    assert_eq!(placement[0]["high"], partition);
    assert!(placement[0]["first"].as_i64().unwrap() > headerless_at.1);

    let admin = &stack.consumers_admin_url;
    metric_reaches(admin, "hookline_consumers_dead_letters_total", &[], |n| {
        n == 3.0
    })
    .await;
    let letters = dead_letters(&stack, 3).await;
    assert_eq!(letters.len(), 3, "{}", stack.logs());
    for (body, (origin_partition, origin_offset), reason) in [
        (&rejected, rejected_at, "object_attributes"),
        (&huge, huge_at, "duration"),
        (&headerless, headerless_at, header::EVENT_TYPE),
    ] {
        let letter = letters
            .iter()
            .find(|m| m.payload() == Some(body.as_slice()))
            .unwrap_or_else(|| {
                panic!(
                    "{} is not dead-lettered",
                    String::from_utf8_lossy(&body[..60])
                )
            });
        assert_eq!(letter.key(), Some(PROJECT.to_string().as_bytes()));
        let why = record_header(letter, header::DEAD_LETTER_REASON).expect("a reason");
        assert!(why.contains(reason), "{why}");
        assert!(why.len() <= 1024, "a reason of {} bytes", why.len());
        let origin = |name: &str| record_header(letter, name);
        assert_eq!(origin("hookline-origin-topic").as_deref(), Some(TOPIC));
        assert_eq!(
            origin("hookline-origin-partition"),
            Some(origin_partition.to_string())
        );
        assert_eq!(
            origin("hookline-origin-offset"),
            Some(origin_offset.to_string())
        );
    }
    // The record that had Hookline's headers keeps them.
    let kept = letters
        .iter()
        .find(|m| m.payload() == Some(rejected.as_slice()))
        .unwrap();
    assert_eq!(
        record_header(kept, header::EVENT_TYPE).as_deref(),
        Some("Pipeline Hook")
    );
    // Nothing made the consumers exit.
    stack.ensure_running().expect("every component still runs");

    // The dead-letter topic keeps its letters a year (HOOKLINE_DEAD_LETTER_RETENTION_DAYS),
    // not the broker's 7 days.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .create()
        .expect("an admin client");
    let described = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(DEAD_LETTER_TOPIC)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("the broker describes the topic");
    let config = described[0].as_ref().expect("the topic's config");
    assert_eq!(
        config
            .get("retention.ms")
            .and_then(|entry| entry.value.as_deref()),
        Some("31536000000")
    );
}

/// The two valid pipelines and the year-10000 one are there, successful, once each.
async fn assert_landed_pipelines(stack: &Stack) {
    eventually(LANDING, "the pipelines", || async {
        let rows = select(
            stack,
            "SELECT count() AS n, countIf(status = 'success') AS ok, \
             countIf(pipeline_id = 4 AND finished_at IS NULL) AS late FROM pipelines FINAL",
        )
        .await;
        (rows[0]["n"] == 3 && rows[0]["ok"] == 3 && rows[0]["late"] == 1).then_some(())
    })
    .await;
}

/// A letter larger than the dead-letter producer takes is replaced by a pointer: no body,
/// the reason, the origin and the event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_kafka_refuses_is_replaced_by_a_pointer() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let kafka = KafkaConnection::plaintext(&stack.kafka_brokers)
        .resolve()
        .expect("Kafka settings");
    // A producer that takes at most 64 KB: the 200 KB copy is refused, as a copy over the
    // topic's limit would be.
    let producer = DeadLetters::new(&kafka, DEAD_LETTER_TOPIC.to_owned(), 64 * 1024)
        .expect("a dead-letter producer");
    let body = vec![b'x'; 200 * 1024];
    let original = OwnedMessage::new(
        Some(body),
        Some(PROJECT.to_string().into_bytes()),
        TOPIC.to_owned(),
        rdkafka::Timestamp::NotAvailable,
        1,
        42,
        Some(OwnedHeaders::new().insert(Header {
            key: header::EVENT_ID,
            value: Some("big-one".as_bytes()),
        })),
    );
    let mut pending = PendingLetters::default();
    producer.queue(Letter::of_message(&original, "too odd"), &mut pending);
    let delivered = pending
        .delivered(&producer, &CancellationToken::new())
        .await
        .expect("delivered");
    assert_eq!((delivered.letters, delivered.pointers), (1, 1));

    let letters = dead_letters(&stack, 1).await;
    let pointer = &letters[0];
    assert_eq!(pointer.payload(), None);
    assert_eq!(
        record_header(pointer, header::EVENT_ID).as_deref(),
        Some("big-one")
    );
    assert_eq!(
        record_header(pointer, header::DEAD_LETTER_REASON).as_deref(),
        Some("too odd")
    );
    let why = record_header(pointer, "hookline-dead-letter-pointer").expect("why a pointer");
    assert!(why.contains("gitlab.pipeline/1@42"), "{why}");
}
