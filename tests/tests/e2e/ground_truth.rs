//! The query library against ground truth: a small generated organisation's history
//! (`hookline_dev::orgsim`) is delivered through the whole pipeline as GitLab would send it
//! (some hooks twice, some again through a System Hook, shuffled), and every query of the
//! library, and every dashboard panel's SQL with Grafana's macros and variables expanded, must
//! return exactly the rows the generator's own model says, for the whole history, for a
//! narrower range of one group, and with every setting (ref, environment, production, failure,
//! restore, job tries) away from its default.

use std::time::Duration;

use futures::StreamExt;
use hookline_dev::client::{deliver, eventually, run_expanded_sql, run_library_query, Delivery};
use hookline_dev::dashboards::{expand, panels_of};
use hookline_dev::orgsim::{deliveries, expected, generate, History, Size};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::queries::{Parameters, QUERIES};
use serde_json::Value;

/// The history's seed: change it to replay another organisation.
const SEED: u64 = 11;

/// How long the consumers may take to project every delivered hook.
const SETTLE_DEADLINE: Duration = Duration::from_secs(60);

/// Deliveries in flight at once (ingest is concurrent; the order is shuffled anyway).
const CONCURRENCY: usize = 8;

/// The parameter sets each query runs with: the whole history; a narrower range (starting
/// and ending mid-day) of the `acme/` group; the whole history for one ref and environment
/// with every other setting away from its default; and another production (the staging tier,
/// or a name pattern where the hooks carry no tier).
fn parameter_sets(history: &History) -> Vec<(&'static str, Parameters)> {
    let whole = Parameters::new(
        (history.start - 7 * 86_400) * 1_000,
        (history.end + 14 * 86_400) * 1_000,
    );
    let mut narrow = Parameters::new(
        (history.start + 3 * 86_400 + 12 * 3_600) * 1_000,
        (history.start + 8 * 86_400 + 6 * 3_600) * 1_000,
    );
    narrow.project = "acme/".to_owned();
    let mut settings = whole.clone();
    settings.git_ref = "main".to_owned();
    settings.environment = "production".to_owned();
    settings.failure = "incidents, failed_deployments,rollbacks".to_owned();
    settings.restore = "next_success".to_owned();
    settings.include_allowed = true;
    settings.include_superseded = true;
    let mut staging = whole.clone();
    staging.production_tier = "staging".to_owned();
    staging.production_pattern = "^(staging|prod)$".to_owned();
    staging.failure = "failed_deployments".to_owned();
    vec![
        ("whole history", whole),
        ("acme/, days 3.5 to 8.25", narrow),
        ("ref main, environment production, every failure kind, restore by next success, every job try", settings),
        ("staging as production, failed deployments as failures", staging),
    ]
}

/// Whether two JSON values are equal, numbers within a relative 1e-9.
fn same(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (
                w.as_f64().unwrap_or(f64::NAN),
                g.as_f64().unwrap_or(f64::NAN),
            );
            w == g || (w - g).abs() <= 1e-9 * w.abs().max(g.abs())
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(w, g)| same(w, g))
        }
        _ => want == got,
    }
}

/// A description of how `got` differs from `want`, if it does.
fn difference(want: &[Vec<Value>], got: &[Vec<Value>]) -> Option<String> {
    let first = want
        .iter()
        .zip(got)
        .position(|(w, g)| !same(&Value::from(w.clone()), &Value::from(g.clone())));
    if want.len() == got.len() && first.is_none() {
        return None;
    }
    let at = first.unwrap_or(want.len().min(got.len()));
    Some(format!(
        "{} rows wanted, {} got; first difference at row {at}: wanted {:?}, got {:?}",
        want.len(),
        got.len(),
        want.get(at).map(|row| Value::from(row.clone()).to_string()),
        got.get(at).map(|row| Value::from(row.clone()).to_string()),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_and_every_panel_returns_the_ground_truth() {
    let history = generate(Size::small(), SEED);
    let hooks = deliveries(&history, SEED);
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    futures::stream::iter(&hooks)
        .for_each_concurrent(CONCURRENCY, |hook| {
            let stack = &stack;
            async move {
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
        })
        .await;
    eventually(SETTLE_DEADLINE, "every hook consumed", || async {
        tokio::task::block_in_place(|| stack.consumers_caught_up())
            .expect("Kafka answers")
            .then_some(())
    })
    .await;
    let mut failures = Vec::new();
    let mut missing = Vec::new();
    let sets = parameter_sets(&history);
    let mut checked_rows = vec![0; sets.len()];
    for query in QUERIES {
        for (set, (label, parameters)) in sets.iter().enumerate() {
            let Some(want) = expected(&history, query.name, parameters) else {
                if !missing.contains(&query.name) {
                    missing.push(query.name);
                }
                continue;
            };
            let got = run_library_query(&stack, query, parameters)
                .await
                .unwrap_or_else(|error| panic!("{error:#}"));
            checked_rows[set] += want.len();
            if let Some(difference) = difference(&want, &got.rows) {
                failures.push(format!(
                    "{}/{} ({label}): {difference}",
                    query.area, query.name
                ));
            }
            for (dashboard, sql) in panels_of(query) {
                let shown = run_expanded_sql(&stack, dashboard, &expand(&sql, parameters))
                    .await
                    .unwrap_or_else(|error| panic!("{error:#}"));
                if let Some(difference) = difference(&want, &shown.rows) {
                    failures.push(format!(
                        "{dashboard}'s panel {} ({label}): {difference}",
                        query.name
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "queries that differ from the ground truth:\n{}\n(queries without an expectation: {missing:?})",
        failures.join("\n")
    );
    assert!(
        checked_rows.iter().all(|rows| *rows > 0),
        "a parameter set expects no rows at all ({checked_rows:?}): the history does not cover it"
    );
    assert!(
        missing.is_empty(),
        "queries without an expectation in hookline_dev::orgsim::expected: {missing:?}"
    );
}
