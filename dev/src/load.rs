//! A small HTTP load generator for the benchmarks: closed-loop (as fast as the server answers,
//! with a fixed number of connections) and paced (a fixed request rate), recording the latency
//! of every request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use hookline_schemas::testing::gitlab::Hook;

/// What one worker saw: latencies, (hook index, answer time) of successes, failures.
type WorkerResult = (Vec<Duration>, Vec<(usize, Instant)>, usize);

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub requests: usize,
    pub failures: usize,
    pub elapsed: Duration,
    /// Latency of every successful request, sorted.
    pub latencies: Vec<Duration>,
    /// For every successful request: the index of its hook and when its answer arrived.
    pub acks: Vec<(usize, Instant)>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        (self.requests - self.failures) as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }
}

/// The `q` quantile (0..=1) of `sorted`, which must be in ascending order; zero for none.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// Sends `total` requests over `connections` connections, each as soon as the previous
/// answer on that connection arrived.
pub async fn closed_loop(
    url: &str,
    token: &str,
    hooks: Arc<Vec<Hook>>,
    connections: usize,
    total: usize,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = client();
        let (url, token, hooks, next) = (
            url.to_owned(),
            token.to_owned(),
            hooks.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut acks = Vec::new();
            let mut failures = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                match send(&client, &url, &token, &hooks[i % hooks.len()]).await {
                    Some(latency) => {
                        latencies.push(latency);
                        acks.push((i % hooks.len(), Instant::now()));
                    }
                    None => failures += 1,
                }
            }
            (latencies, acks, failures)
        }));
    }
    collect(tasks, total, started).await
}

/// Sends `total` requests at `rate` per second, spread over `connections` connections.
pub async fn paced(
    url: &str,
    token: &str,
    hooks: Arc<Vec<Hook>>,
    connections: usize,
    rate: f64,
    total: usize,
) -> LoadResult {
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let client = client();
        let (url, token, hooks) = (url.to_owned(), token.to_owned(), hooks.clone());
        // Stagger the workers so that requests are spread evenly over each interval.
        let offset = interval.mul_f64(worker as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut latencies = Vec::new();
            let mut acks = Vec::new();
            let mut failures = 0;
            let mut i = worker;
            while i < total {
                ticker.tick().await;
                match send(&client, &url, &token, &hooks[i % hooks.len()]).await {
                    Some(latency) => {
                        latencies.push(latency);
                        acks.push((i % hooks.len(), Instant::now()));
                    }
                    None => failures += 1,
                }
                i += connections;
            }
            (latencies, acks, failures)
        }));
    }
    collect(tasks, total, started).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

async fn send(client: &reqwest::Client, url: &str, token: &str, hook: &Hook) -> Option<Duration> {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("X-Gitlab-Event", hook.event)
        .header("X-Gitlab-Token", token)
        .header("Content-Type", "application/json")
        .body(hook.body.clone())
        .send()
        .await
        .ok()?;
    let ok = response.status().is_success();
    response.bytes().await.ok()?;
    ok.then(|| started.elapsed())
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<WorkerResult>>,
    total: usize,
    started: Instant,
) -> LoadResult {
    let mut latencies = Vec::with_capacity(total);
    let mut acks = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        let (mut l, mut a, f) = task.await.expect("a load worker");
        latencies.append(&mut l);
        acks.append(&mut a);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    LoadResult {
        requests: total,
        failures,
        elapsed,
        latencies,
        acks,
    }
}
