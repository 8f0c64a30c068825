//! Poison records: a record whose body the pipeline model rejects and a record without
//! Hookline's headers, written straight to `gitlab.pipeline` ahead of valid hooks of the same
//! project. The bad ones end up in `gitlab.dead_letter`, unchanged, with the reason and where
//! they came from; the valid ones behind them on the same partition still land.

mod consumers_support;

use std::time::{Duration, SystemTime};

use consumers_support::{assert_landed_exactly_once, deliver_all, metric_reaches, LANDING};
use hookline_schemas::record::{event_id, header, RecordHeaders};
use hookline_tests::gitlab::{eventually, pipeline_lifecycle, select};
use hookline_tests::stack::{Stack, StackOptions};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
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

/// The value of header `name`, as text.
fn header_value(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == name)?;
    Some(String::from_utf8_lossy(header.value?).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_their_partition_keeps_flowing() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");

    // Hookline's headers, but `object_attributes` is no object: the pipeline model rejects it.
    let rejected = br#"{"object_kind":"pipeline","object_attributes":"nope"}"#.to_vec();
    let rejected_at = produce(&stack, &rejected, Some(pipeline_headers(&rejected))).await;
    // A perfectly good body, but no headers: not written by ingest.
    let start = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("a time");
    let (hooks, _) = pipeline_lifecycle((PROJECT, 1), start, "success", None);
    let headerless = hooks[0].body.clone();
    let headerless_at = produce(&stack, &headerless, None).await;
    assert_eq!(rejected_at.0, headerless_at.0, "one key, one partition");

    // Valid hooks of the same project, through ingest: same key, so the same partition.
    let mut valid = hooks;
    valid.extend(pipeline_lifecycle((PROJECT, 2), start, "success", None).0);
    deliver_all(&stack, &valid).await;
    assert_landed_exactly_once(&stack, 8, 2).await;
    let placement = select(
        &stack,
        "SELECT min(partition) AS low, max(partition) AS high, min(offset) AS first \
         FROM raw_hooks FINAL",
    )
    .await;
    let partition = u64::try_from(rejected_at.0).unwrap();
    assert_eq!(placement[0]["low"], partition);
    assert_eq!(placement[0]["high"], partition);
    assert!(placement[0]["first"].as_i64().unwrap() > headerless_at.1);

    let admin = &stack.consumers_admin_url;
    metric_reaches(admin, "hookline_consumers_dead_letters_total", &[], |n| {
        n == 2.0
    })
    .await;
    let letters = dead_letters(&stack, 2).await;
    assert_eq!(letters.len(), 2, "{}", stack.logs());
    for (body, (origin_partition, origin_offset), reason) in [
        (&rejected, rejected_at, "object_attributes"),
        (&headerless, headerless_at, header::EVENT_TYPE),
    ] {
        let letter = letters
            .iter()
            .find(|m| m.payload() == Some(body.as_slice()))
            .unwrap_or_else(|| panic!("{} is not dead-lettered", String::from_utf8_lossy(body)));
        assert_eq!(letter.key(), Some(PROJECT.to_string().as_bytes()));
        let why = header_value(letter, header::DEAD_LETTER_REASON).expect("a reason");
        assert!(why.contains(reason), "{why}");
        let origin = |name: &str| header_value(letter, name);
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
        header_value(kept, header::EVENT_TYPE).as_deref(),
        Some("Pipeline Hook")
    );
}
