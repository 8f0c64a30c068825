//! Sending hooks as GitLab does, and reading what the services report.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::stack::Stack;

/// A hook as GitLab would deliver it.
pub struct Delivery<'a> {
    pub event: Option<&'a str>,
    pub token: Option<&'a str>,
    pub body: Vec<u8>,
}

/// POSTs a delivery to the stack's webhook URL; returns the status and the body.
pub async fn deliver(stack: &Stack, delivery: Delivery<'_>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(&stack.webhook_url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitLab/17.5.1")
        .body(delivery.body);
    if let Some(event) = delivery.event {
        request = request.header("X-Gitlab-Event", event);
    }
    if let Some(token) = delivery.token {
        request = request.header("X-Gitlab-Token", token);
    }
    let response = request.send().await.expect("ingest answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a response body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// The value of one sample in a Prometheus text exposition, e.g.
/// `hookline_ingest_requests_total{family="pipeline",outcome="accepted"}`.
pub async fn metric(admin_url: &str, sample: &str) -> Option<f64> {
    let text = reqwest::get(format!("{admin_url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
}

/// Records currently stored in a topic, over all its partitions (high minus low watermarks).
pub fn records_in(stack: &Stack, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_brokers)
        .set("group.id", "hookline-tests-watermarks")
        .create()
        .expect("a Kafka client");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("topic metadata");
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("partition watermarks");
            high - low
        })
        .sum()
}

/// Polls `check` until it returns `Some`, failing with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "{what} did not happen within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
