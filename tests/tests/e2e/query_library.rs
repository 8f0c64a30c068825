//! The query library against the real ClickHouse engine: every query runs on tables filled
//! through the whole pipeline, with every parameter, and returns the columns its header
//! declares, with those types; and every dashboard panel, its Grafana macros and variables
//! expanded, returns what its query returns. (The values are checked against a generated
//! history's ground truth elsewhere.)

use std::time::Duration;

use hookline_dev::client::{deliver_all, eventually, run_expanded_sql, run_library_query};
use hookline_dev::dashboards::{expand, panels_of};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::queries::{Parameters, QUERIES};
use hookline_schemas::testing::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_runs_and_returns_its_declared_columns() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let hooks = fixtures::mix(0..240);
    deliver_all(&stack, &hooks).await;
    eventually(Duration::from_secs(60), "every hook consumed", || async {
        tokio::task::block_in_place(|| stack.consumers_caught_up())
            .expect("Kafka answers")
            .then_some(())
    })
    .await;
    // Every fixture's time, and none of the generated ones, is in these 60 years.
    let parameters = Parameters::new(0, 1_900_000_000_000);
    let mut returned_rows = 0;
    for query in QUERIES {
        let header = query.header().expect("a valid header");
        let result = run_library_query(&stack, query, &parameters)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        assert_eq!(
            result.columns, header.columns,
            "query {} returns other columns than its header declares",
            query.name
        );
        returned_rows += result.rows.len();
        for (dashboard, sql) in panels_of(query) {
            let shown = run_expanded_sql(&stack, dashboard, &expand(&sql, &parameters))
                .await
                .unwrap_or_else(|error| panic!("{error:#}"));
            assert!(
                shown == result,
                "{dashboard}'s panel for {} shows other rows than the query returns",
                query.name
            );
        }
    }
    assert!(returned_rows > 0, "no query found anything in the fixtures");
}
