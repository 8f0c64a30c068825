//! The fault suite, briefly: each fault of `hookline_dev::faults` once, on a stack of its
//! own, while a simulated GitLab streams hooks; afterwards every hook GitLab was told was
//! accepted must be in ClickHouse exactly once and the typed tables must hold the predicted
//! final states. `make faults` runs the same scenarios for longer and writes RELIABILITY.md.
//!
//! The scenarios run one at a time (each takes the lock below): together they would compete
//! for the machine's two cores and measure each other.

use hookline_dev::faults::{run_fault, Fault, FaultSettings};

/// One scenario at a time; a failed one releases it as it unwinds.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn holds_its_promise(fault: Fault, seed: u64) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let settings = FaultSettings::brief();
    let run = run_fault(fault, seed, &settings)
        .await
        .unwrap_or_else(|error| panic!("{}: the scenario could not run: {error:#}", fault.name()));
    let a = &run.accounting;
    eprintln!(
        "{}: sent {}, accepted {} ({} events), lost {}, duplicated {}, non-2xx {:?}, unanswered {:?} (resent {}), recovered in {:?}; {:?}",
        fault.name(),
        a.sent,
        a.accepted,
        a.accepted_events,
        a.lost_count,
        a.duplicated_count,
        a.non_2xx,
        a.unanswered,
        a.resent,
        run.recovery,
        run.notes
    );
    let violations = run.violations();
    assert!(
        violations.is_empty(),
        "{} ({}) broke the promise:\n- {}\n{}",
        fault.name(),
        run.description,
        violations.join("\n- "),
        run.log_lines
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_and_restarted() {
    holds_its_promise(Fault::BrokerKill, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_for_a_while() {
    holds_its_promise(Fault::BrokerStop, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_killed_under_load() {
    holds_its_promise(Fault::IngestKill, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_killed_mid_batch_and_restarted_at_once() {
    holds_its_promise(Fault::ConsumerKill, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_and_started() {
    holds_its_promise(Fault::ClickHouseStop, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_hung_and_resumed() {
    holds_its_promise(Fault::ClickHouseHang, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_disk_full_while_the_broker_is_down() {
    holds_its_promise(Fault::SpoolDiskFull, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_killed_at_once() {
    holds_its_promise(Fault::RestartAll, 8).await;
}
