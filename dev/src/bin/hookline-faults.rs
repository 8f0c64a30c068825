//! `make faults`: every fault of the suite for longer than `make test` runs them, then the
//! load run, and RELIABILITY.md with what was found.
//!
//! Durations come from the environment (seconds unless the name says otherwise):
//! `HOOKLINE_FAULTS_RATE` (deliveries/s of the simulated GitLab, default 100),
//! `HOOKLINE_FAULTS_BEFORE_SECS` and `HOOKLINE_FAULTS_AFTER_SECS` (stream before and after
//! each fault, 30), `HOOKLINE_FAULTS_BROKER_OUTAGE_SECS` (broker stopped, 180),
//! `HOOKLINE_FAULTS_OUTAGE_SECS` (ClickHouse stopped or hung, 60),
//! `HOOKLINE_FAULTS_SPOOL_DISK_KIB` (the spool's file system, 4096),
//! `HOOKLINE_FAULTS_SETTLE_SECS` (how long landing may take before a hook counts as lost,
//! 300), `HOOKLINE_FAULTS_LOAD_MINUTES` (steady load, 10; 0 skips the load run),
//! `HOOKLINE_FAULTS_BURST_SECS` (5) and `HOOKLINE_FAULTS_ONLY` (comma-separated fault names,
//! e.g. `broker-stop,restart-all`; `none` runs only the load). With
//! `HOOKLINE_FAULTS_KEEP_LOGS=DIR` the logs of a scenario that breaks the promise are copied
//! to `DIR/<fault>-<pid>/`, since each stack's own directory goes with it.
//!
//! The report is written even when a fault breaks the promise; the exit status is then 1.

use std::time::Duration;

use anyhow::Context;
use hookline_dev::faults::report::{self, RunReport};
use hookline_dev::faults::soak::{self, LoadSettings};
use hookline_dev::faults::{run_fault, Fault, FaultSettings};

fn number(name: &str, default: f64) -> anyhow::Result<f64> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .with_context(|| format!("{name}={value:?} is not a non-negative number")),
        _ => Ok(default),
    }
}

fn seconds(name: &str, default: f64) -> anyhow::Result<Duration> {
    Ok(Duration::from_secs_f64(number(name, default)?))
}

fn faults() -> anyhow::Result<Vec<Fault>> {
    match std::env::var("HOOKLINE_FAULTS_ONLY") {
        Ok(list) if list.trim() == "none" => Ok(Vec::new()),
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|name| {
                Fault::from_name(name).with_context(|| {
                    let names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!("HOOKLINE_FAULTS_ONLY: no fault {name:?}; the faults are {names:?}")
                })
            })
            .collect(),
        _ => Ok(Fault::ALL.to_vec()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let rate = number("HOOKLINE_FAULTS_RATE", 100.0)?;
    anyhow::ensure!(rate > 0.0, "HOOKLINE_FAULTS_RATE must be above 0");
    let settings = FaultSettings {
        rate,
        before: seconds("HOOKLINE_FAULTS_BEFORE_SECS", 30.0)?,
        after: seconds("HOOKLINE_FAULTS_AFTER_SECS", 30.0)?,
        broker_outage: seconds("HOOKLINE_FAULTS_BROKER_OUTAGE_SECS", 180.0)?,
        outage: seconds("HOOKLINE_FAULTS_OUTAGE_SECS", 60.0)?,
        spool_disk_bytes: (number("HOOKLINE_FAULTS_SPOOL_DISK_KIB", 4096.0)? as u64) << 10,
        settle: seconds("HOOKLINE_FAULTS_SETTLE_SECS", 300.0)?,
    };
    let load_minutes = number("HOOKLINE_FAULTS_LOAD_MINUTES", 10.0)?;
    let load_settings = LoadSettings {
        duration: Duration::from_secs_f64(load_minutes * 60.0),
        burst: seconds("HOOKLINE_FAULTS_BURST_SECS", 5.0)?,
        sample_every: Duration::from_secs(5),
        max_hooks: 10_000,
    };

    let mut runs = Vec::new();
    let mut broken = 0;
    for (seed, fault) in faults()?.into_iter().enumerate() {
        eprintln!("fault {}: {}", fault.name(), fault.describe(&settings));
        let run = run_fault(fault, seed as u64 + 1, &settings)
            .await
            .map_err(|error| (fault, format!("{error:#}")));
        match &run {
            Ok(run) => {
                let violations = run.violations();
                eprintln!(
                    "  accepted {} events, lost {}, duplicated {}, recovered in {:?}",
                    run.accounting.accepted_events,
                    run.accounting.lost_count,
                    run.accounting.duplicated_count,
                    run.recovery
                );
                for violation in &violations {
                    eprintln!("  FAILED: {violation}");
                }
                if !violations.is_empty() {
                    eprintln!("{}", run.log_lines);
                    broken += 1;
                }
            }
            Err((_, error)) => {
                eprintln!("  did not run: {error}");
                broken += 1;
            }
        }
        runs.push(run);
    }
    let load = if load_minutes > 0.0 {
        Some(
            soak::run_load(&load_settings)
                .await
                .map_err(|error| format!("{error:#}")),
        )
    } else {
        None
    };

    let section = report::render(&RunReport {
        command: &command,
        settings: &settings,
        runs: &runs,
        load: load.as_ref(),
    });
    let existing = std::fs::read_to_string("RELIABILITY.md").ok();
    std::fs::write(
        "RELIABILITY.md",
        report::with_earlier_runs(&section, existing.as_deref()),
    )
    .context("cannot write RELIABILITY.md")?;
    println!("{section}");
    anyhow::ensure!(
        broken == 0,
        "{broken} fault scenario(s) broke the promise or did not run (see RELIABILITY.md)"
    );
    anyhow::ensure!(
        !matches!(load, Some(Err(_))),
        "the load run did not finish (see RELIABILITY.md)"
    );
    Ok(())
}
