//! `hookline-report` against the real stack: it runs the whole query library on tables filled
//! through the pipeline, prints every question, and writes a page whose every chart a headless
//! Chromium lays out with all its marks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hookline_dev::client::{deliver_all, eventually};
use hookline_dev::ports::spawn_excluding_probes;
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::queries::QUERIES;
use hookline_schemas::testing::fixtures;
use hookline_schemas::testing::gitlab::{
    job_lifecycle, merge_request_lifecycle, pipeline_lifecycle,
};
use time::OffsetDateTime;

/// Debian's Chromium, which `make install` installs.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs a program to its end within `limit`; its status and standard output.
async fn output(mut command: tokio::process::Command, limit: Duration) -> (bool, String, String) {
    command
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn_excluding_probes(|| command.spawn()).expect("the program starts");
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("the program ends in time")
        .expect("its output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The page as Chromium has it once loaded and its scripts ran.
async fn rendered(page: &Path, profile: &Path) -> String {
    let mut chromium = tokio::process::Command::new(CHROMIUM);
    chromium
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()));
    let (ok, dom, errors) = output(chromium, Duration::from_secs(120)).await;
    assert!(ok, "{CHROMIUM} failed (make install installs it): {errors}");
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_prints_every_question_and_its_page_renders_every_chart() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let mut hooks = fixtures::mix(0..240);
    let start = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("a time");
    for case in 0..6u64 {
        let outcome = ["success", "failed", "canceled"][case as usize % 3];
        hooks.extend(pipeline_lifecycle((700 + case, 1), start, outcome, None).0);
        hooks.extend(job_lifecycle((700 + case, 1, 5), start, outcome, false).0);
        hooks.extend(merge_request_lifecycle((700 + case, 70, 3), start, case % 3, true, true).0);
    }
    deliver_all(&stack, &hooks).await;
    eventually(Duration::from_secs(60), "every hook consumed", || async {
        tokio::task::block_in_place(|| stack.consumers_caught_up())
            .expect("Kafka answers")
            .then_some(())
    })
    .await;

    let binaries: PathBuf = Path::new(stack.consumers_subcommand("run").get_program())
        .parent()
        .expect("the binaries' directory")
        .to_owned();
    let page = stack.data_dir.join("report.html");
    let mut report = tokio::process::Command::new(binaries.join("hookline-report"));
    report
        .args(["--clickhouse-url", &stack.clickhouse_url])
        .args(["--clickhouse-database", &stack.clickhouse_database])
        .args(["--clickhouse-compression", "none"])
        // Every fixture's time is in this range.
        .args(["--from", "2000-01-01", "--to", "2030-01-01"])
        .arg("--html")
        .arg(&page);
    let (ok, printed, errors) = output(report, Duration::from_secs(120)).await;
    assert!(ok, "hookline-report failed: {errors}\n{printed}");
    for query in QUERIES {
        let title = query.header().expect("a valid header").title;
        assert!(printed.contains(&title), "no `{title}` in:\n{printed}");
    }

    let html = std::fs::read_to_string(&page).expect("the page is written");
    let charts = html.matches("<svg class=\"chart\"").count();
    assert!(charts >= 10, "only {charts} charts in the page");
    let dom = rendered(&page, &stack.data_dir.join("chromium")).await;
    assert!(
        dom.contains(&format!("data-charts=\"{charts}/{charts}\"")),
        "not every chart rendered: {}",
        dom.split("data-charts=")
            .nth(1)
            .map_or("no render check ran", |s| &s[..s.len().min(20)])
    );
    assert!(!dom.contains("data-rendered=\"no\""));
}
