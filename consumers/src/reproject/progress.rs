//! How far a rebuild is: a progress bar with rate and ETA when stderr is a terminal, a log
//! line every [`LOG_EVERY`] otherwise (logs, CI, `kubectl logs`), so a long rebuild is never
//! silent.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often progress is logged when there is no terminal to draw on.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The progress of one phase of a rebuild (reading `raw_hooks`, the topics, the catch-up).
pub struct Progress {
    /// What is being done, for the bar's prefix and the log lines.
    phase: &'static str,
    /// The bar, drawn only on a terminal.
    bar: Option<ProgressBar>,
    /// Records expected: an estimate (unmerged copies count), so `done` may pass it.
    total: u64,
    /// Records projected so far.
    done: u64,
    /// When the phase began, for the rate.
    started: Instant,
    /// When progress was last logged.
    logged: Instant,
}

impl Progress {
    pub fn start(phase: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:40}] {human_pos}/{human_len} hooks, {per_sec}, ETA {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_prefix(phase);
            bar
        });
        tracing::info!(phase, hooks = total, "reprojecting");
        let now = Instant::now();
        Self {
            phase,
            bar,
            total,
            done: 0,
            started: now,
            logged: now,
        }
    }

    /// `records` more are done.
    pub fn advance(&mut self, records: u64) {
        self.done += records;
        if let Some(bar) = &self.bar {
            if self.done > bar.length().unwrap_or_default() {
                bar.set_length(self.done);
            }
            bar.set_position(self.done);
        } else if self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            let rate = self.rate();
            let eta_seconds = (rate > 0.0)
                .then(|| (self.total.saturating_sub(self.done) as f64 / rate).round() as u64);
            tracing::info!(
                phase = self.phase,
                done = self.done,
                total = self.total,
                hooks_per_second = rate.round() as u64,
                eta_seconds,
                "reprojecting"
            );
        }
    }

    /// Records per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    /// Ends the phase: clears the bar, logs the totals, and returns the records done.
    pub fn finish(self) -> u64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        tracing::info!(
            phase = self.phase,
            hooks = self.done,
            seconds = self.started.elapsed().as_secs_f64(),
            hooks_per_second = self.rate().round() as u64,
            "reprojected"
        );
        self.done
    }
}
