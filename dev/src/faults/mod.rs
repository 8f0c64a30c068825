//! The fault suite: Hookline's promise, checked while things break.
//!
//! Every hook GitLab was told was accepted (2xx) must end up exactly once in the analytics,
//! whatever fails in between. A scenario ([`run_fault`]) starts a stack of its own, streams
//! hooks from a simulated GitLab ([`gitlab_sim`]) and, while the stream runs, breaks one
//! thing ([`Fault`]) and repairs it. Once the system has recovered it compares what GitLab was
//! told with what ClickHouse holds ([`accounting`]) and measures how long recovery took: from
//! the end of the fault until every hook accepted before that end is in `raw_hooks`.
//!
//! `tests/tests/faults.rs` runs each fault briefly inside `make test`; `make faults`
//! (`hookline-faults`) runs them for longer, adds a load run ([`soak`]) and writes
//! RELIABILITY.md ([`report`]).

pub mod accounting;
pub mod gitlab_sim;
pub mod report;
pub mod soak;
pub mod spool_disk;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::client::{metric_sum, poll_until};
use crate::stack::{Stack, StackOptions};
use accounting::Accounting;
use gitlab_sim::{Outcomes, Plan, SimOptions, Target};

/// One thing that breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The broker is killed with -9 and started again at once.
    BrokerKill,
    /// The broker goes away (killed) for [`FaultSettings::broker_outage`], then is started
    /// again.
    BrokerStop,
    /// Ingest is killed with -9 under load and started again at once.
    IngestKill,
    /// The consumers are killed with -9 while they hold an unwritten batch and started again
    /// at once, as Kubernetes would.
    ConsumerKill,
    /// ClickHouse is stopped for [`FaultSettings::outage`], then started again.
    ClickHouseStop,
    /// ClickHouse hangs (SIGSTOP) for [`FaultSettings::outage`], then runs on (SIGCONT).
    ClickHouseHang,
    /// The broker goes away (killed) while ingest's spool sits on a small file system, until the
    /// spool's disk is full and ingest answers 503; then the broker is started again.
    SpoolDiskFull,
    /// Broker, ClickHouse, ingest and consumers are killed with -9 at once and started again.
    RestartAll,
}

impl Fault {
    /// Every fault, in the order the suite runs them.
    pub const ALL: [Fault; 8] = [
        Fault::BrokerKill,
        Fault::BrokerStop,
        Fault::IngestKill,
        Fault::ConsumerKill,
        Fault::ClickHouseStop,
        Fault::ClickHouseHang,
        Fault::SpoolDiskFull,
        Fault::RestartAll,
    ];

    /// A short name, for settings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Fault::BrokerKill => "broker-kill",
            Fault::BrokerStop => "broker-stop",
            Fault::IngestKill => "ingest-kill",
            Fault::ConsumerKill => "consumer-kill",
            Fault::ClickHouseStop => "clickhouse-stop",
            Fault::ClickHouseHang => "clickhouse-hang",
            Fault::SpoolDiskFull => "spool-disk-full",
            Fault::RestartAll => "restart-all",
        }
    }

    /// What happens, for the report, with the durations of `settings`.
    pub fn describe(self, settings: &FaultSettings) -> String {
        let outage = settings.outage.as_secs();
        match self {
            Fault::BrokerKill => "broker killed (-9), restarted at once".to_owned(),
            Fault::BrokerStop => format!(
                "broker down (killed) for {} s, then started",
                settings.broker_outage.as_secs()
            ),
            Fault::IngestKill => "ingest killed (-9) under load, restarted at once".to_owned(),
            Fault::ConsumerKill => {
                "consumers killed (-9) mid-batch, restarted at once".to_owned()
            }
            Fault::ClickHouseStop => format!("ClickHouse stopped for {outage} s, then started"),
            Fault::ClickHouseHang => {
                format!("ClickHouse hung (SIGSTOP) for {outage} s, then SIGCONT")
            }
            Fault::SpoolDiskFull => format!(
                "broker down (killed) and ingest's spool on a {} KiB file system until it is full (503s), then broker started",
                settings.spool_disk_bytes >> 10
            ),
            Fault::RestartAll => "everything killed (-9) at once, restarted".to_owned(),
        }
    }

    /// Whether ingest cannot answer during the fault, so that GitLab sees failed deliveries
    /// that a person resends afterwards.
    fn ingest_down(self) -> bool {
        matches!(self, Fault::IngestKill | Fault::RestartAll)
    }

    /// Whether the scenario resends the deliveries that failed, once the system is back.
    pub fn resends(self) -> bool {
        self.ingest_down() || self == Fault::SpoolDiskFull
    }

    /// The non-2xx statuses the scenario may see: 503 where the spool is full.
    pub fn allowed_non_2xx(self) -> &'static [u16] {
        match self {
            Fault::SpoolDiskFull => &[503],
            _ => &[],
        }
    }

    /// Parses [`Fault::name`].
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name.trim())
    }
}

/// How long and how hard.
#[derive(Debug, Clone)]
pub struct FaultSettings {
    /// Deliveries per second of the simulated GitLab.
    pub rate: f64,
    /// The stream runs this long before the fault.
    pub before: Duration,
    /// And this long after it.
    pub after: Duration,
    /// How long the broker stays stopped ([`Fault::BrokerStop`]).
    pub broker_outage: Duration,
    /// How long ClickHouse stays stopped or hung.
    pub outage: Duration,
    /// Size of the file system under ingest's spool ([`Fault::SpoolDiskFull`]).
    pub spool_disk_bytes: u64,
    /// How long the accepted hooks may take to be in ClickHouse after the stream ended
    /// (and after the resends) before the missing ones count as lost.
    pub settle: Duration,
}

impl FaultSettings {
    /// The brief runs of `make test`.
    pub fn brief() -> Self {
        Self {
            rate: 40.0,
            before: Duration::from_secs(4),
            after: Duration::from_secs(4),
            broker_outage: Duration::from_secs(10),
            outage: Duration::from_secs(8),
            spool_disk_bytes: 1 << 20,
            settle: Duration::from_secs(60),
        }
    }

    /// How long the stream must last for `fault`: before, the fault's planned length, after.
    fn stream(&self, fault: Fault) -> Duration {
        let during = match fault {
            Fault::BrokerStop => self.broker_outage,
            Fault::ClickHouseStop | Fault::ClickHouseHang => self.outage,
            // Long enough for the spool's disk to fill, with a wide margin: a hook takes
            // about 3 KB there.
            Fault::SpoolDiskFull => {
                Duration::from_secs_f64(2.0 * self.spool_disk_bytes as f64 / 3_000.0 / self.rate)
                    .max(self.outage)
            }
            _ => Duration::from_secs(2),
        };
        self.before + during + self.after
    }
}

/// What one scenario found.
#[derive(Debug, Clone)]
pub struct FaultRun {
    pub fault: Fault,
    /// What happened, with its durations.
    pub description: String,
    /// The balance once settled.
    pub accounting: Accounting,
    /// From the end of the fault until every hook accepted before it was in `raw_hooks`;
    /// `None` if that did not happen within the settle deadline.
    pub recovery: Option<Duration>,
    /// How the spool's disk was made small, for [`Fault::SpoolDiskFull`].
    pub notes: Vec<String>,
    /// The key lines of the components' logs (warnings and errors), for a failed run.
    pub log_lines: String,
}

impl FaultRun {
    /// Every way the run broke the promise or the scenario's rules; empty when it held.
    pub fn violations(&self) -> Vec<String> {
        let a = &self.accounting;
        let mut found = Vec::new();
        if a.lost_count > 0 {
            found.push(format!(
                "{} accepted events lost (not in raw_hooks FINAL), e.g. {:?}",
                a.lost_count, a.lost
            ));
        }
        if a.duplicated_count > 0 {
            found.push(format!(
                "{} events more than once in raw_hooks FINAL, e.g. {:?}",
                a.duplicated_count, a.duplicated
            ));
        }
        if a.typed_mismatch_count > 0 {
            found.push(format!(
                "{} of {} typed rows not as predicted, e.g. {:#?}",
                a.typed_mismatch_count, a.typed_expected, a.typed_mismatches
            ));
        }
        let allowed = self.fault.allowed_non_2xx();
        let unexpected: Vec<_> = a
            .non_2xx
            .iter()
            .filter(|(status, _)| !allowed.contains(status))
            .collect();
        if !unexpected.is_empty() {
            found.push(format!("non-2xx answers (status, count): {unexpected:?}"));
        }
        if a.unanswered_total() > 0 && !self.fault.ingest_down() {
            found.push(format!(
                "deliveries without an answer while ingest was up: {:?}",
                a.unanswered
            ));
        }
        if self.fault == Fault::SpoolDiskFull && !a.non_2xx.contains_key(&503) {
            found.push("the spool's disk never filled: no 503 was answered".to_owned());
        }
        if a.accepted == 0 {
            found.push("no delivery was accepted".to_owned());
        }
        if self.recovery.is_none() {
            found.push("the hooks accepted before the fault's end never all landed".to_owned());
        }
        found
    }
}

/// Ingest's `message.timeout.ms` for a scenario: longer than any outage, since a record
/// that times out makes the idempotent producer bump its epoch, which the local broker
/// (Tansu 0.6) cannot take (see `tests/tests/e2e/ingest_durability.rs`). A Kafka cluster can.
fn ack_timeout(settings: &FaultSettings) -> Duration {
    Duration::from_secs(30) + settings.broker_outage.max(settings.outage) * 2
}

/// Consumers arguments: lag measured every second, for the load samples.
const CONSUMERS_ARGS: [&str; 2] = ["--kafka-lag-interval-ms", "1000"];

/// Runs one scenario on a stack of its own and returns what it found. Fails only when the
/// stack cannot be started or restarted; broken promises are in [`FaultRun::violations`].
pub async fn run_fault(
    fault: Fault,
    seed: u64,
    settings: &FaultSettings,
) -> anyhow::Result<FaultRun> {
    let mut options = StackOptions::for_test();
    options.ingest_args = vec![format!(
        "--kafka-ack-timeout-ms={}",
        ack_timeout(settings).as_millis()
    )];
    options.consumers_args = CONSUMERS_ARGS.iter().map(|s| s.to_string()).collect();
    let mut notes = Vec::new();
    // Dropped after the stack (declared before it), so ingest has left the file system.
    let _spool_disk = if fault == Fault::SpoolDiskFull {
        let disk = spool_disk::SpoolDisk::create(settings.spool_disk_bytes)?;
        notes.push(disk.describe());
        options.ingest_args.extend(disk.ingest_args());
        options.ingest_env.extend(disk.ingest_env());
        Some(disk)
    } else {
        None
    };
    let mut stack = Stack::start(options).await?;
    let target = Target::new(&stack.webhook_url, &stack.token);
    let sim = SimOptions::new(seed, settings.rate, settings.stream(fault));
    let plan = Arc::new(Plan::generate(&sim));
    let outcomes = Arc::new(Outcomes::default());
    let sender = tokio::spawn(gitlab_sim::send(
        target.clone(),
        plan.clone(),
        sim.rate,
        sim.max_in_flight,
        outcomes.clone(),
    ));

    // The stream runs a while before the fault: until `before`'s worth of it is answered.
    let warm = (settings.rate * settings.before.as_secs_f64()) as usize;
    poll_until(settings.before * 4 + Duration::from_secs(30), || async {
        (outcomes.answered() >= warm).then_some(())
    })
    .await
    .context("the simulated GitLab's first deliveries were not answered")?;

    let fault_end = inject(fault, &mut stack, settings).await?;
    let before_end: HashSet<String> = outcomes
        .attempts()
        .iter()
        .filter(|a| a.accepted() && a.answered_at <= fault_end)
        .map(|a| plan.deliveries[a.delivery].event_id.clone())
        .collect();
    let recovery = watch_recovery(
        &stack,
        before_end,
        fault_end,
        settings.settle + settings.after,
    );
    sender.await.context("the simulated GitLab failed")?;
    if fault.resends() {
        gitlab_sim::resend_failed(&target, &plan, &outcomes).await;
    }
    // Settled first: the watcher started earlier, so it has finished by then, and a run
    // that never recovers waits for one deadline, not two.
    let accounting = accounting::settle(&stack, &plan, &outcomes, settings.settle).await?;
    let recovery = recovery.await;
    let mut run = FaultRun {
        fault,
        description: fault.describe(settings),
        accounting,
        recovery,
        notes,
        log_lines: key_log_lines(&stack),
    };
    if !run.violations().is_empty() {
        if let Some(kept) = keep_logs(&stack, fault) {
            run.notes.push(kept);
        }
    }
    Ok(run)
}

/// Copies the stack's logs to `HOOKLINE_FAULTS_KEEP_LOGS/<fault>-<pid>/` when that is set,
/// since the stack's own directory goes with it; says where, or why not.
fn keep_logs(stack: &Stack, fault: Fault) -> Option<String> {
    let root = std::env::var_os("HOOKLINE_FAULTS_KEEP_LOGS").filter(|v| !v.is_empty())?;
    let to =
        std::path::PathBuf::from(root).join(format!("{}-{}", fault.name(), std::process::id()));
    let copied = std::fs::create_dir_all(&to).and_then(|()| {
        for entry in std::fs::read_dir(stack.data_dir.join("logs"))? {
            let entry = entry?;
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
        Ok(())
    });
    Some(match copied {
        Ok(()) => format!("logs kept in {}", to.display()),
        Err(error) => format!("cannot keep the logs in {}: {error}", to.display()),
    })
}

/// Breaks and repairs; returns when the fault ended (the repair began).
async fn inject(
    fault: Fault,
    stack: &mut Stack,
    settings: &FaultSettings,
) -> anyhow::Result<Instant> {
    let end = match fault {
        Fault::BrokerKill => {
            stack.broker.kill();
            let end = Instant::now();
            stack.restart_broker().await?;
            end
        }
        Fault::BrokerStop => {
            // Killed, not stopped with SIGTERM: Tansu 0.6 shuts its storage down before its
            // listener and answers the produce requests still arriving with an error, after
            // which librdkafka's idempotent producer bumps its epoch, which Tansu's storage
            // cannot take (it panics in `idempotent_message_check` on every later produce,
            // also after a restart). A Kafka broker's orderly shutdown does not do that; the
            // outage is what this scenario is about.
            stack.broker.kill();
            tokio::time::sleep(settings.broker_outage).await;
            let end = Instant::now();
            stack.restart_broker().await?;
            end
        }
        Fault::IngestKill => {
            stack.ingest.kill();
            let end = Instant::now();
            stack.restart_ingest().await?;
            end
        }
        Fault::ConsumerKill => {
            mid_batch(stack).await?;
            stack.consumers.kill();
            let end = Instant::now();
            stack.restart_consumers(&CONSUMERS_ARGS).await?;
            end
        }
        Fault::ClickHouseStop => {
            stack.stop_clickhouse()?;
            tokio::time::sleep(settings.outage).await;
            let end = Instant::now();
            stack.start_clickhouse().await?;
            end
        }
        Fault::ClickHouseHang => {
            stack.pause_clickhouse()?;
            tokio::time::sleep(settings.outage).await;
            let end = Instant::now();
            stack.resume_clickhouse()?;
            end
        }
        Fault::SpoolDiskFull => {
            // Killed, not stopped: see `Fault::BrokerStop`.
            stack.broker.kill();
            let admin = stack.ingest_admin_url.clone();
            poll_until(settings.stream(Fault::SpoolDiskFull), || async {
                let rejected =
                    metric_sum(&admin, "hookline_ingest_spool_rejections_total", &[]).await?;
                (rejected > 0.0).then_some(())
            })
            .await
            .context("the spool's disk did not fill while the stream ran")?;
            // Full for a moment longer: GitLab keeps sending while it is.
            tokio::time::sleep(settings.outage / 4).await;
            let end = Instant::now();
            stack.restart_broker().await?;
            end
        }
        Fault::RestartAll => {
            stack.broker.kill();
            stack.kill_clickhouse()?;
            stack.ingest.kill();
            stack.consumers.kill();
            let end = Instant::now();
            stack.restart_broker().await?;
            stack.start_clickhouse().await?;
            stack.restart_ingest().await?;
            stack.restart_consumers(&CONSUMERS_ARGS).await?;
            end
        }
    };
    Ok(end)
}

/// Waits until the consumers have read records they have not written yet: a batch is open.
async fn mid_batch(stack: &Stack) -> anyhow::Result<()> {
    let admin = stack.consumers_admin_url.clone();
    poll_until(Duration::from_secs(30), || async {
        let consumed = metric_sum(&admin, "hookline_consumers_records_consumed_total", &[]).await?;
        let written = metric_sum(
            &admin,
            "hookline_consumers_rows_written_total",
            &[r#"table="raw_hooks""#],
        )
        .await?;
        (consumed > written).then_some(())
    })
    .await
    .context("the consumers never held an unwritten batch")
}

/// Measures, in the background, how long after `since` every event of `wanted` is in
/// `raw_hooks`; `None` when that takes longer than `deadline`.
fn watch_recovery(
    stack: &Stack,
    wanted: HashSet<String>,
    since: Instant,
    deadline: Duration,
) -> impl std::future::Future<Output = Option<Duration>> {
    let url = stack.clickhouse_url.clone();
    let database = stack.clickhouse_database.clone();
    let task = tokio::spawn(async move {
        let probe = Probe { url, database };
        let until = Instant::now() + deadline;
        // Every half second: the local engine serves one query at a time, and the
        // consumers' inserts must not queue behind this probe.
        while Instant::now() < until {
            if let Some(present) = probe.event_ids().await {
                if wanted.iter().all(|id| present.contains(id)) {
                    return Some(since.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    });
    async move { task.await.ok().flatten() }
}

/// Reads `raw_hooks` without the [`Stack`], from a background task.
struct Probe {
    url: String,
    database: String,
}

impl Probe {
    async fn event_ids(&self) -> Option<HashSet<String>> {
        let response = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?
            .post(format!(
                "{}/?database={}",
                self.url.trim_end_matches('/'),
                self.database
            ))
            .body("SELECT DISTINCT event_id FROM raw_hooks FORMAT TSV")
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.text().await.ok()?;
        Some(text.lines().map(str::to_owned).collect())
    }
}

/// The warnings and errors of every component's log, the last few of each.
pub fn key_log_lines(stack: &Stack) -> String {
    let mut parts = vec![&stack.ingest, &stack.consumers, &stack.broker];
    parts.extend(stack.clickhouse.as_ref());
    parts
        .iter()
        .map(|process| {
            let text =
                strip_colours(&std::fs::read_to_string(process.log_path()).unwrap_or_default());
            let key: Vec<&str> = text
                .lines()
                .filter(|l| {
                    ["WARN", "ERROR", "panic", "Traceback", "Error"]
                        .iter()
                        .any(|k| l.contains(k))
                })
                .collect();
            format!(
                "--- {} ({}): {} warning/error lines, the last:\n{}",
                process.name(),
                process.log_path().display(),
                key.len(),
                key[key.len().saturating_sub(12)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` without the terminal colour codes (`ESC [ … m`) the services' text logs carry.
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_codes_are_stripped() {
        assert_eq!(
            super::strip_colours("\u{1b}[2m2026\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m x"),
            "2026 ERROR x"
        );
    }
}
