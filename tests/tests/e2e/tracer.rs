//! The acceptance test of the foundation: a GitLab Pipeline Hook travels from an HTTP POST
//! through ingest, Kafka and the consumers into ClickHouse, against the real broker and the
//! real ClickHouse engine, and both services count it.

use std::time::Duration;

use clickhouse::Row;
use hookline_dev::client::{deliver, eventually, metric, records_in, Delivery};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::fixtures;
use serde::Deserialize;

/// The acceptance criterion: the pipeline is queryable within this long of its 200.
const LANDING_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Row, Deserialize)]
struct Pipeline {
    project_id: u64,
    project_path: String,
    pipeline_id: u64,
    status: String,
    duration_seconds: Option<f64>,
}

async fn landed_pipeline(stack: &Stack, project_id: u64, pipeline_id: u64) -> Pipeline {
    let client = stack.clickhouse_client();
    eventually(LANDING_DEADLINE, "the pipeline row in ClickHouse", || {
        let query = client
            .query("SELECT ?fields FROM pipelines FINAL WHERE project_id = ? AND pipeline_id = ?")
            .bind(project_id)
            .bind(pipeline_id);
        async move { query.fetch_optional::<Pipeline>().await.ok().flatten() }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_pipeline_hook_lands_in_clickhouse_and_is_counted() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");

    // GitLab's documented example: its project object has no id, only the path.
    let (status, answer) = deliver(
        &stack,
        Delivery {
            event: Some("Pipeline Hook"),
            token: Some(&stack.token),
            body: fixtures::read("seeds/pipeline_hook.json"),
        },
    )
    .await;
    assert_eq!(status, 200, "{answer}\n{}", stack.logs());
    assert_eq!(answer["status"], "accepted");
    // The seed payload carries no project id: the row says 0, and the path identifies it.
    let pipeline = landed_pipeline(&stack, 0, 31).await;
    assert_eq!(pipeline.pipeline_id, 31);
    assert_eq!(pipeline.project_path, "gitlab-org/gitlab-test");
    assert_eq!(pipeline.status, "success");
    assert_eq!(pipeline.duration_seconds, Some(63.0));

    // A current payload with a project id (and, by chance, the same pipeline id).
    let (status, answer) = deliver(
        &stack,
        Delivery {
            event: Some("Pipeline Hook"),
            token: Some(&stack.token),
            body: fixtures::read("gitlab-webhooks/pipeline.json"),
        },
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let current: serde_json::Value =
        serde_json::from_slice(&fixtures::read("gitlab-webhooks/pipeline.json")).unwrap();
    let project_id = current["project"]["id"].as_u64().unwrap();
    let pipeline_id = current["object_attributes"]["id"].as_u64().unwrap();
    let pipeline = landed_pipeline(&stack, project_id, pipeline_id).await;
    assert_eq!(pipeline.project_id, project_id);
    assert_eq!(pipeline.pipeline_id, pipeline_id);
    assert_eq!(
        pipeline.project_path,
        current["project"]["path_with_namespace"].as_str().unwrap()
    );
    assert_eq!(
        pipeline.status,
        current["object_attributes"]["status"].as_str().unwrap()
    );
    assert_eq!(
        pipeline.duration_seconds,
        current["object_attributes"]["duration"].as_f64()
    );

    let accepted = metric(
        &stack.ingest_admin_url,
        r#"hookline_ingest_requests_total{family="pipeline",outcome="accepted"}"#,
    )
    .await;
    assert_eq!(accepted, Some(2.0));
    let written = metric(
        &stack.consumers_admin_url,
        r#"hookline_consumers_rows_written_total{table="pipelines"}"#,
    )
    .await;
    assert_eq!(written, Some(2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_gets_401_and_nothing_reaches_kafka() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let body = fixtures::read("seeds/pipeline_hook.json");

    for token in [Some("not-the-token"), None] {
        let (status, answer) = deliver(
            &stack,
            Delivery {
                event: Some("Pipeline Hook"),
                token,
                body: body.clone(),
            },
        )
        .await;
        assert_eq!(status, 401, "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("X-Gitlab-Token"),
            "{answer}"
        );
    }
    // Ingest answers only after Kafka acknowledged a write, so a written hook would be there now.
    assert_eq!(records_in(&stack, "gitlab.pipeline"), 0);
    assert_eq!(records_in(&stack, "gitlab.dead_letter"), 0);
    assert_eq!(
        metric(
            &stack.ingest_admin_url,
            r#"hookline_ingest_auth_failures_total{reason="wrong_token",source=""}"#
        )
        .await,
        Some(1.0)
    );

    // The same check sees a hook that was written.
    let (status, _) = deliver(
        &stack,
        Delivery {
            event: Some("Pipeline Hook"),
            token: Some(&stack.token),
            body,
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(records_in(&stack, "gitlab.pipeline"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_body_is_kept_as_a_dead_letter_and_gitlab_gets_200() {
    let stack = Stack::start(StackOptions::for_test())
        .await
        .expect("the stack starts");
    let (status, answer) = deliver(
        &stack,
        Delivery {
            event: Some("Pipeline Hook"),
            token: Some(&stack.token),
            body: b"{\"object_kind\": \"pipeline\", ".to_vec(),
        },
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "dead_lettered");
    assert_eq!(records_in(&stack, "gitlab.dead_letter"), 1);
    assert_eq!(records_in(&stack, "gitlab.pipeline"), 0);
}
