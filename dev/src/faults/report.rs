//! RELIABILITY.md: what `make faults` found, one section per run, newest first.
//!
//! Each run's section names the command, the machine (cores, memory from `/proc`), the date
//! and the durations, then a table of the faults and the load figures. Earlier runs' sections
//! are kept below the new one, so the file shows how the figures moved.

use std::fmt::Write as _;
use std::time::Duration;

use super::soak::LoadRun;
use super::{FaultRun, FaultSettings};

/// The title and introduction, above the runs.
const HEADER: &str = "# Reliability\n\nHookline's promise: every hook GitLab was told was accepted (2xx) ends up exactly once in the analytics, whatever fails in between. `make faults` checks it against the local stack (the Tansu broker, the embedded ClickHouse engine, ingest and consumers): a simulated GitLab streams pipelines, jobs and merge requests of many projects (with resent deliveries under the same `Idempotency-Key` and overlapping group hooks, in a shuffled order) while one thing breaks; afterwards every accepted event must be in `raw_hooks FINAL` exactly once and `pipelines`, `jobs` and `merge_requests FINAL` must hold exactly the predicted final states. GitLab does not retry a failed delivery: where ingest itself was down, or answered 503 because its spool's disk was full, the failed deliveries are resent once the system is back, as a person does from the hook's *Recent events* page. *Time to recover* runs from the end of the fault (the moment the broken part is started or resumed) until every hook accepted before then is in `raw_hooks`, polled every half second. `make test` runs the same scenarios briefly (`tests/tests/faults.rs`).\n";

/// Where one run's section starts; what comes before the first is the header.
const RUN_MARK: &str = "\n## Run of ";

/// Everything one run of `make faults` found.
pub struct RunReport<'a> {
    pub command: &'a str,
    pub settings: &'a FaultSettings,
    pub runs: &'a [Result<FaultRun, (super::Fault, String)>],
    pub load: Option<&'a Result<LoadRun, String>>,
}

/// The section of one run.
pub fn render(report: &RunReport<'_>) -> String {
    let mut out = String::new();
    let s = report.settings;
    let _ = writeln!(out, "{}{} UTC\n", RUN_MARK.trim_start(), now_utc());
    if report.runs.is_empty() {
        let _ = writeln!(
            out,
            "`{}` on {}: the load run only (`HOOKLINE_FAULTS_ONLY=none`).",
            report.command,
            machine()
        );
    } else {
        let _ = writeln!(
            out,
            "`{}` on {}. Stream: {} deliveries/s, {} s before and {} s after each fault; deliveries that had not landed {} s after the stream ended count as lost.\n",
            report.command,
            machine(),
            s.rate,
            s.before.as_secs(),
            s.after.as_secs(),
            s.settle.as_secs()
        );
        out.push_str("| fault | hooks sent | accepted | lost | duplicated | non-2xx | unanswered (resent) | time to recover |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    }
    let mut details = String::new();
    for run in report.runs {
        match run {
            Ok(run) => {
                let a = &run.accounting;
                let non_2xx = if a.non_2xx.is_empty() {
                    "0".to_owned()
                } else {
                    a.non_2xx
                        .iter()
                        .map(|(status, n)| format!("{n} × {status}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} ({} events) | {} | {} | {} | {} ({}) | {} |",
                    run.description,
                    a.sent,
                    a.accepted,
                    a.accepted_events,
                    a.lost_count,
                    a.duplicated_count,
                    non_2xx,
                    a.unanswered_total(),
                    a.resent,
                    run.recovery.map_or("not recovered".to_owned(), secs)
                );
                let violations = run.violations();
                if !violations.is_empty() || !run.notes.is_empty() {
                    let _ = writeln!(details, "\n**{}**", run.fault.name());
                    for note in &run.notes {
                        let _ = writeln!(details, "- {note}");
                    }
                    // The full lists and the logs' key lines are on standard error.
                    for violation in &violations {
                        let line: String = violation.replace('\n', " ").chars().take(240).collect();
                        let _ = writeln!(details, "- FAILED: {line}");
                    }
                }
            }
            Err((fault, error)) => {
                let _ = writeln!(
                    out,
                    "| {} | – | – | – | – | – | – | did not run |",
                    fault.describe(s)
                );
                let _ = writeln!(details, "\n**{}** did not run: {error}", fault.name());
            }
        }
    }
    if !details.is_empty() {
        out.push_str("\nNotes and failures:\n");
        out.push_str(&details);
    }
    match report.load {
        Some(Ok(load)) => render_load(&mut out, load),
        Some(Err(error)) => {
            let _ = writeln!(out, "\n### Load\n\nThe load run did not finish: {error}");
        }
        None => {}
    }
    out
}

fn render_load(out: &mut String, l: &LoadRun) {
    let _ = writeln!(out, "\n### Load\n");
    let _ = writeln!(
        out,
        "Maximum (closed loop, 64 connections, consumers running): **{:.0} hooks/s**. Steady load at 80 %: {:.0} hooks/s asked, {:.0} answered, for {:.0} s ({} hooks, {} without a 2xx, ack p99 {:.1} ms). Sampled every few seconds; a series is flat when the mean of its last third is at most 1.25 × the first third's plus a small slack. Ingest runs with a {}-second deduplication window, which reaches its steady size early in the run (the window grows with traffic by design, up to `HOOKLINE_DEDUP_MAX_IDS`), so growing memory would be a leak.\n",
        l.max_rate,
        l.steady_rate,
        l.steady_achieved,
        l.duration.as_secs_f64(),
        l.steady_sent,
        l.steady_failed,
        l.steady_p99_ms,
        super::soak::DEDUP_WINDOW_SECS
    );
    out.push_str(
        "| series | first third | last third | peak | flat |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    for t in &l.trends {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {} |",
            t.name,
            t.first,
            t.last,
            t.peak,
            if t.flat { "yes" } else { "**no**" }
        );
    }
    let b = &l.burst;
    let _ = writeln!(
        out,
        "\nBurst: {} hooks at 10 × the steady rate ({:.0} hooks/s asked, 200 connections): {:.0} hooks/s answered, {} without a 2xx ({}), latency p99 {:.0} ms, max {:.0} ms (GitLab gives up after 10 s).\n",
        b.sent,
        b.rate,
        b.achieved,
        b.failed,
        if b.failed == 0 { "absorbed" } else { "**not absorbed**" },
        b.p99_ms,
        b.max_ms
    );
    let _ = writeln!(
        out,
        "Afterwards `raw_hooks FINAL` held {} of the {} accepted hooks{}.",
        l.landed,
        l.accepted,
        l.drained_after
            .map_or(" (**not all** within 15 minutes)".to_owned(), |d| format!(
                ", all of them {} after the burst",
                secs(d)
            ))
    );
}

/// The new file: the header, this run's section, then the earlier runs of `existing`.
pub fn with_earlier_runs(section: &str, existing: Option<&str>) -> String {
    let earlier = existing
        .and_then(|text| text.find(RUN_MARK).map(|at| &text[at..]))
        .unwrap_or("");
    format!(
        "{HEADER}\n{}{earlier}",
        section.trim_end().to_owned() + "\n"
    )
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Cores, memory and processor, from `/proc`.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let kb: f64 = l
                    .strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB memory", kb / 1024.0 / 1024.0))
            })
        })
        .unwrap_or_else(|| "unknown memory".to_owned());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {memory}, {cpu}")
}

fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_goes_first_and_earlier_runs_stay() {
        let first = with_earlier_runs(
            "## Run of 2026-01-01 00:00 UTC\n\nfirst-run-figures\n",
            None,
        );
        assert!(first.starts_with("# Reliability"));
        let second = with_earlier_runs(
            "## Run of 2026-02-01 00:00 UTC\n\nsecond-run-figures\n",
            Some(&first),
        );
        let new = second.find("second-run-figures").unwrap();
        let old = second.find("first-run-figures").unwrap();
        assert!(new < old, "{second}");
        assert_eq!(second.matches("# Reliability").count(), 1);
    }
}
