//! What a client of the local stack does: delivers hooks as GitLab does, and reads what the
//! services report (metrics, topic watermarks, table rows, record headers), polling until it
//! shows. The hooks themselves come from `hookline_schemas::testing`.

use std::time::{Duration, Instant};

use hookline_schemas::testing::gitlab::Hook;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::Value;

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

/// Delivers every hook through ingest, in order; each must be accepted.
pub async fn deliver_all(stack: &Stack, hooks: &[Hook]) {
    for hook in hooks {
        let (status, answer) = deliver(
            stack,
            Delivery {
                event: Some(hook.event),
                token: Some(&stack.token),
                body: hook.body.clone(),
            },
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// The sum of every sample of metric `name` whose labels contain each of `labels`
/// (e.g. `topic="gitlab.pipeline"`); `None` when the service does not answer.
pub async fn metric_sum(admin_url: &str, name: &str, labels: &[&str]) -> Option<f64> {
    Some(
        metrics_text(admin_url)
            .await?
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(name)?;
                let (series, value) = rest.rsplit_once(' ')?;
                let matches = (series.is_empty() || series.starts_with('{'))
                    && labels.iter().all(|label| series.contains(label));
                matches.then(|| value.parse::<f64>().ok()).flatten()
            })
            .sum(),
    )
}

/// The Prometheus text exposition of the service at `admin_url`.
pub async fn metrics_text(admin_url: &str) -> Option<String> {
    let response = reqwest::get(format!("{admin_url}/metrics")).await.ok()?;
    response.text().await.ok()
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
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(deadline, check)
        .await
        .unwrap_or_else(|| panic!("{what} did not happen within {deadline:?}"))
}

/// Polls `check` every 50 ms until it returns `Some`, or `None` once `deadline` has passed.
pub async fn poll_until<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long a query may take before it counts as failed: a hung ClickHouse must not hang a
/// test or the fault suite's accounting.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `sql` against the stack's database; its rows as JSON objects (64-bit integers as
/// numbers, times as ClickHouse prints them: `2021-04-28 19:50:00.000`).
pub async fn query(stack: &Stack, sql: &str) -> anyhow::Result<Vec<Value>> {
    use anyhow::Context;
    let url = format!(
        "{}/?database={}&output_format_json_quote_64bit_integers=0",
        stack.clickhouse_url.trim_end_matches('/'),
        stack.clickhouse_database
    );
    let response = reqwest::Client::builder()
        .timeout(QUERY_TIMEOUT)
        .build()?
        .post(url)
        .body(format!("{sql} FORMAT JSONEachRow"))
        .send()
        .await
        .with_context(|| format!("ClickHouse did not answer {sql}"))?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{sql}: {status} {text}");
    text.lines()
        .map(|line| serde_json::from_str(line).context("a JSON row"))
        .collect()
}

/// The result of a query of the library: its columns (name, type) as ClickHouse reports
/// them, and its rows as JSON arrays in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryResult {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Value>>,
}

/// Runs a query of the library against the stack's database with every parameter.
pub async fn run_library_query(
    stack: &Stack,
    query: &hookline_schemas::queries::Query,
    parameters: &hookline_schemas::queries::Parameters,
) -> anyhow::Result<LibraryResult> {
    let parameters = parameters
        .pairs()
        .into_iter()
        .map(|(name, value)| (format!("param_{name}"), value))
        .collect();
    run_compact(stack, query.name, query.sql(), parameters).await
}

/// Runs SQL without query parameters (a dashboard panel's, expanded) like a library query.
pub async fn run_expanded_sql(
    stack: &Stack,
    what: &str,
    sql: &str,
) -> anyhow::Result<LibraryResult> {
    run_compact(stack, what, sql, Vec::new()).await
}

/// Runs `sql` with URL parameters `extra`; its columns and rows.
async fn run_compact(
    stack: &Stack,
    what: &str,
    sql: &str,
    extra: Vec<(String, String)>,
) -> anyhow::Result<LibraryResult> {
    use anyhow::Context;
    let mut pairs = vec![
        ("database".to_owned(), stack.clickhouse_database.clone()),
        (
            "output_format_json_quote_64bit_integers".to_owned(),
            "0".to_owned(),
        ),
    ];
    pairs.extend(extra);
    let url = reqwest::Url::parse_with_params(
        &format!("{}/", stack.clickhouse_url.trim_end_matches('/')),
        &pairs,
    )?;
    let response = reqwest::Client::builder()
        .timeout(QUERY_TIMEOUT)
        .build()?
        .post(url)
        .body(format!("{sql} FORMAT JSONCompactEachRowWithNamesAndTypes"))
        .send()
        .await
        .with_context(|| format!("ClickHouse did not answer {what}"))?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{what}: {status} {text}");
    let mut lines = text
        .lines()
        .map(|line| serde_json::from_str::<Vec<Value>>(line).context("a JSON row"));
    let names = lines.next().context("no column names")??;
    let types = lines.next().context("no column types")??;
    let columns = names
        .iter()
        .zip(&types)
        .map(|(name, ty)| {
            (
                name.as_str().unwrap_or_default().to_owned(),
                ty.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(LibraryResult {
        columns,
        rows: lines.collect::<anyhow::Result<_>>()?,
    })
}

/// [`query`] for tests: the rows, or a panic that says why not.
pub async fn select(stack: &Stack, sql: &str) -> Vec<Value> {
    query(stack, sql)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// The value of header `name` of a Kafka record, as text.
pub fn record_header(message: &impl rdkafka::message::Message, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    let header = headers.iter().find(|h| h.key == name)?;
    Some(String::from_utf8_lossy(header.value?).into_owned())
}
