//! The load run of `make faults`: a long steady load at 80 % of the measured maximum rate,
//! watching whether memory, the spool and the consumers' lag stay flat, then a burst.
//!
//! The maximum is measured first with a short closed-loop run ([`crate::load::closed_loop`],
//! 64 connections), with the consumers running, since they share the machine in production
//! too. The steady load is [`crate::load::paced`] in chunks of fresh hooks (every hook
//! distinct, so none is answered as a duplicate), while a sampler reads ingest's and the
//! consumers' resident memory (`VmRSS` in `/proc/PID/status`), the spool's bytes and the
//! consumers' lag (their `/metrics`) every few seconds. A series is flat when the mean of
//! its last third is within a margin of the mean of its first third. The burst then sends
//! ten times the steady rate over 200 connections (below ingest's default limit of 256
//! deliveries at once, as GitLab's Sidekiq concurrency is bounded too); it is absorbed when
//! every hook is answered 2xx. Finally every accepted hook must be in `raw_hooks FINAL`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::client::metric_sum;
use crate::load::{self, Hook, LoadResult};
use crate::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;

/// Connections of the closed-loop and steady runs, as `make bench` uses.
const CONNECTIONS: usize = 64;
/// Connections of the burst.
const BURST_CONNECTIONS: usize = 200;

/// How long and how hard.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Length of the steady load.
    pub duration: Duration,
    /// Length of the burst, at ten times the steady rate.
    pub burst: Duration,
    /// Time between samples.
    pub sample_every: Duration,
    /// Hooks of the closed-loop run that measures the maximum.
    pub max_hooks: usize,
}

/// One sample of the steady load.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Since the steady load began.
    pub at: Duration,
    pub ingest_rss_mib: f64,
    pub consumers_rss_mib: f64,
    pub spool_bytes: f64,
    pub lag_records: f64,
}

/// Whether one series stayed flat.
#[derive(Debug, Clone)]
pub struct Trend {
    /// What was measured, with its unit.
    pub name: &'static str,
    /// Mean of the first and of the last third of the samples.
    pub first: f64,
    pub last: f64,
    /// Highest sample.
    pub peak: f64,
    /// Within the margin: last ≤ first × 1.25 + the series' own slack.
    pub flat: bool,
}

/// What the burst did.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Asked rate, hooks/s.
    pub rate: f64,
    pub sent: usize,
    /// Answers that were not 2xx, or no answer.
    pub failed: usize,
    /// Hooks/s actually answered.
    pub achieved: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything the load run measured.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Closed-loop maximum, hooks/s.
    pub max_rate: f64,
    /// 80 % of it.
    pub steady_rate: f64,
    pub duration: Duration,
    /// Hooks sent during the steady load, and how many got no 2xx.
    pub steady_sent: usize,
    pub steady_failed: usize,
    /// Hooks/s answered during the steady load.
    pub steady_achieved: f64,
    /// Ack latency p99 over the steady load, ms.
    pub steady_p99_ms: f64,
    pub samples: Vec<Sample>,
    pub trends: Vec<Trend>,
    pub burst: Burst,
    /// Accepted hooks of the whole run, and how many `raw_hooks FINAL` held at the end.
    pub accepted: u64,
    pub landed: u64,
    /// From the burst's end until `raw_hooks FINAL` held every accepted hook.
    pub drained_after: Option<Duration>,
}

/// Ingest's deduplication window during the load run, seconds.
pub const DEDUP_WINDOW_SECS: u64 = 60;

/// Fresh hooks of the mix, never sent before in this run.
struct Batches(usize);

impl Batches {
    fn next(&mut self, count: usize) -> Arc<Vec<Hook>> {
        self.0 += 1;
        let first = self.0 * 5_000_000;
        Arc::new(fixtures::mix(first..first + count))
    }
}

/// Runs the load on a stack of its own.
pub async fn run_load(settings: &LoadSettings) -> anyhow::Result<LoadRun> {
    let mut options = StackOptions::for_test();
    options.consumers_args = vec!["--kafka-lag-interval-ms".to_owned(), "1000".to_owned()];
    // The deduplication window grows with traffic by design, up to HOOKLINE_DEDUP_MAX_IDS: with
    // the default day, ingest's memory would grow through the whole run and hide a leak. A
    // minute's window is at its steady size within the first third of the run.
    options.ingest_args = vec![
        "--dedup-window-secs".to_owned(),
        DEDUP_WINDOW_SECS.to_string(),
    ];
    let stack = Stack::start(options).await?;
    let (url, token) = (stack.webhook_url.clone(), stack.token.clone());
    let mut batches = Batches(0);
    let mut accepted = 0u64;
    let mut count = |result: &LoadResult| accepted += (result.requests - result.failures) as u64;

    eprintln!("load: warming up, then measuring the maximum rate (closed loop)");
    count(&load::closed_loop(&url, &token, batches.next(1_000), CONNECTIONS, 1_000).await);
    let max = load::closed_loop(
        &url,
        &token,
        batches.next(settings.max_hooks),
        CONNECTIONS,
        settings.max_hooks,
    )
    .await;
    count(&max);
    let max_rate = max.per_second();
    let steady_rate = 0.8 * max_rate;

    eprintln!(
        "load: {steady_rate:.0} hooks/s for {} s",
        settings.duration.as_secs()
    );
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_until(
        Watched::of(&stack)?,
        settings.sample_every,
        samples.clone(),
        stop.clone(),
    ));
    let started = Instant::now();
    let chunk = Duration::from_secs(20);
    let (mut sent, mut failed, mut latencies) = (0, 0, Vec::new());
    while started.elapsed() < settings.duration {
        let left = settings
            .duration
            .saturating_sub(started.elapsed())
            .min(chunk);
        let total = ((steady_rate * left.as_secs_f64()) as usize).max(1);
        let result = load::paced(
            &url,
            &token,
            batches.next(total),
            CONNECTIONS,
            steady_rate,
            total,
        )
        .await;
        count(&result);
        sent += result.requests;
        failed += result.failures;
        latencies.extend(result.latencies);
    }
    let steady_elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    sampler.await.context("the sampler failed")?;
    latencies.sort_unstable();
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();

    let burst_rate = 10.0 * steady_rate;
    let burst_total = (burst_rate * settings.burst.as_secs_f64()) as usize;
    eprintln!("load: burst of {burst_total} hooks at {burst_rate:.0} hooks/s");
    let burst = load::paced(
        &url,
        &token,
        batches.next(burst_total),
        BURST_CONNECTIONS,
        burst_rate,
        burst_total,
    )
    .await;
    count(&burst);
    let burst_end = Instant::now();

    eprintln!("load: waiting until every accepted hook is in raw_hooks");
    let mut landed = 0;
    let deadline = burst_end + Duration::from_secs(900);
    let drained_after = loop {
        if let Ok(rows) =
            crate::client::query(&stack, "SELECT count() AS n FROM raw_hooks FINAL").await
        {
            landed = rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0);
        }
        if landed >= accepted {
            break Some(burst_end.elapsed());
        }
        if Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };

    Ok(LoadRun {
        max_rate,
        steady_rate,
        duration: steady_elapsed,
        steady_sent: sent,
        steady_failed: failed,
        steady_achieved: (sent - failed) as f64 / steady_elapsed.as_secs_f64(),
        steady_p99_ms: ms(load::quantile(&latencies, 0.99)),
        trends: trends(&samples, steady_rate),
        samples,
        burst: Burst {
            rate: burst_rate,
            sent: burst.requests,
            failed: burst.failures,
            achieved: burst.per_second(),
            p99_ms: ms(burst.quantile(0.99)),
            max_ms: ms(burst.quantile(1.0)),
        },
        accepted,
        landed,
        drained_after,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Where the sampler reads from.
struct Watched {
    ingest_pid: u32,
    consumers_pid: u32,
    ingest_admin: String,
    consumers_admin: String,
}

impl Watched {
    fn of(stack: &Stack) -> anyhow::Result<Self> {
        Ok(Self {
            ingest_pid: stack.ingest.pid().context("ingest is not running")?,
            consumers_pid: stack
                .consumers
                .pid()
                .context("the consumers are not running")?,
            ingest_admin: stack.ingest_admin_url.clone(),
            consumers_admin: stack.consumers_admin_url.clone(),
        })
    }
}

async fn sample_until(
    watched: Watched,
    every: Duration,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(every);
    while !stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        let sample = Sample {
            at: started.elapsed(),
            ingest_rss_mib: rss_mib(watched.ingest_pid).unwrap_or(f64::NAN),
            consumers_rss_mib: rss_mib(watched.consumers_pid).unwrap_or(f64::NAN),
            spool_bytes: metric_sum(&watched.ingest_admin, "hookline_ingest_spool_bytes", &[])
                .await
                .unwrap_or(f64::NAN),
            lag_records: metric_sum(
                &watched.consumers_admin,
                "hookline_consumers_lag_records",
                &[],
            )
            .await
            .unwrap_or(f64::NAN),
        };
        samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sample);
    }
}

/// Resident memory of a process now, MiB (`VmRSS`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// A series of the samples: its name, how to read it from a sample, and its slack.
type Series = (&'static str, fn(&Sample) -> f64, f64);

/// The flatness of every series: first third against last third.
pub fn trends(samples: &[Sample], steady_rate: f64) -> Vec<Trend> {
    let series: [Series; 4] = [
        ("ingest RSS, MiB", |s| s.ingest_rss_mib, 4.0),
        ("consumers RSS, MiB", |s| s.consumers_rss_mib, 4.0),
        ("spool, bytes", |s| s.spool_bytes, 1_048_576.0),
        // The consumers flush a batch at least every second and measure lag every second:
        // a few seconds of records is noise, not a trend.
        (
            "consumer lag, records",
            |s| s.lag_records,
            5.0 * steady_rate,
        ),
    ];
    series
        .iter()
        .map(|(name, value, slack)| {
            let values: Vec<f64> = samples
                .iter()
                .map(value)
                .filter(|v| v.is_finite())
                .collect();
            let third = (values.len() / 3).max(1);
            let mean = |xs: &[f64]| {
                if xs.is_empty() {
                    f64::NAN
                } else {
                    xs.iter().sum::<f64>() / xs.len() as f64
                }
            };
            let first = mean(&values[..third.min(values.len())]);
            let last = mean(&values[values.len().saturating_sub(third)..]);
            Trend {
                name,
                first,
                last,
                peak: values.iter().copied().fold(f64::NAN, f64::max),
                flat: values.len() >= 3 && last <= first * 1.25 + slack,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .map(|&v| Sample {
                ingest_rss_mib: v,
                consumers_rss_mib: 30.0,
                spool_bytes: 0.0,
                lag_records: 0.0,
                ..Sample::default()
            })
            .collect()
    }

    #[test]
    fn a_growing_series_is_not_flat_and_a_noisy_one_is() {
        let growing = trends(&samples(&[20.0, 21.0, 22.0, 40.0, 50.0, 60.0]), 100.0);
        assert!(!growing[0].flat, "{:?}", growing[0]);
        assert_eq!(growing[0].peak, 60.0);
        let noisy = trends(&samples(&[20.0, 23.0, 21.0, 22.0, 20.0, 23.0]), 100.0);
        assert!(noisy.iter().all(|t| t.flat), "{noisy:?}");
        assert!(
            !trends(&samples(&[20.0]), 100.0)[0].flat,
            "too few samples to say"
        );
    }
}
