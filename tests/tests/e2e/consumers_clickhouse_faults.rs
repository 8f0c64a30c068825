//! ClickHouse faults that are not a clean outage, against the real engine:
//!
//! - a batch ClickHouse refuses, because it spans more partitions than one insert may touch
//!   and because one of its records breaks a table constraint: the batch is split until only
//!   the refused record is left, which keeps its `raw_hooks` row and is dead-lettered; every
//!   other record lands;
//! - a hung ClickHouse (its process stopped with SIGSTOP: connections are accepted, nothing
//!   is answered): the consumers' timeouts turn it into an outage that `/readyz` shows, and
//!   once it resumes every hook lands once.

use std::time::Duration;

use crate::consumers_support::{
    assert_landed_exactly_once, count, deliver_all, metric_reaches, not_ready, pipelines,
    test_args, LANDING,
};
use hookline_dev::client::{eventually, record_header};
use hookline_dev::stack::{Stack, StackOptions};
use hookline_schemas::testing::gitlab::{pipeline_lifecycle, Hook};
use time::OffsetDateTime;

/// The pipeline whose row the table's constraint refuses.
const REFUSED: u64 = 666;
/// Pipelines of the batch, each created in a month of its own: more partitions than the 100
/// that ClickHouse lets one insert touch by default (`max_partitions_per_insert_block`).
const PIPELINES: u64 = 120;

/// The final hook of pipeline `id`, created `id` months after 2015-01.
fn pipeline_in_its_own_month(id: u64) -> Hook {
    let created = OffsetDateTime::from_unix_timestamp(1_420_070_400 + id as i64 * 31 * 86_400)
        .expect("a time");
    let (hooks, _) = pipeline_lifecycle((900, id), created, "success", None);
    hooks.into_iter().last().expect("a final hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_split_and_only_the_refused_record_is_dead_lettered() {
    let mut options = StackOptions::for_test();
    // One batch holds all the pipelines: it closes at their count, never by time.
    options.consumers_args = vec![
        "--batch-max-records".to_owned(),
        PIPELINES.to_string(),
        "--batch-max-wait-ms".to_owned(),
        "600000".to_owned(),
    ];
    let stack = Stack::start(options).await.expect("the stack starts");
    // A rule of the table's owner that one record breaks: ClickHouse refuses any insert
    // holding its row (VIOLATED_CONSTRAINT), a refusal no retry can cure.
    let constraint = format!(
        "ALTER TABLE pipelines ADD CONSTRAINT not_{REFUSED} CHECK pipeline_id != {REFUSED}"
    );
    stack
        .clickhouse_client()
        .query(&constraint)
        .execute()
        .await
        .expect("ClickHouse adds the constraint");

    let ids: Vec<u64> = (REFUSED - PIPELINES / 2..REFUSED + PIPELINES / 2).collect();
    let hooks: Vec<Hook> = ids
        .iter()
        .map(|id| pipeline_in_its_own_month(*id))
        .collect();
    deliver_all(&stack, &hooks).await;

    let admin = &stack.consumers_admin_url;
    metric_reaches(
        admin,
        "hookline_consumers_clickhouse_rejected_records_total",
        &[],
        |n| n == 1.0,
    )
    .await;
    metric_reaches(admin, "hookline_consumers_dead_letters_total", &[], |n| {
        n == 1.0
    })
    .await;
    assert_eq!(
        count(&stack, "SELECT count() AS n FROM raw_hooks FINAL").await,
        PIPELINES,
        "every record keeps its raw row"
    );
    assert_eq!(
        count(&stack, "SELECT count() AS n FROM pipelines FINAL").await,
        PIPELINES - 1,
        "{}",
        stack.logs()
    );
    assert_eq!(
        count(
            &stack,
            &format!("SELECT count() AS n FROM pipelines WHERE pipeline_id = {REFUSED}")
        )
        .await,
        0
    );
    let months = count(
        &stack,
        "SELECT uniqExact(toYYYYMM(created_at)) AS n FROM pipelines FINAL",
    )
    .await;
    assert!(months > 100, "the batch spanned {months} partitions");

    // The letter is the refused record, with ClickHouse's reason.
    let reader = stack
        .topic_reader("gitlab.dead_letter", "hookline-tests-refused")
        .expect("a reader");
    let letter = eventually(LANDING, "the dead letter", || {
        let message = reader.poll(Duration::from_millis(100));
        async move { message.map(|m| m.expect("a record").detach()) }
    })
    .await;
    use rdkafka::message::Message;
    let reason = record_header(&letter, "hookline-dead-letter-reason").expect("a reason");
    assert!(reason.contains(&format!("not_{REFUSED}")), "{reason}");
    assert_eq!(
        letter.payload(),
        Some(pipeline_in_its_own_month(REFUSED).body.as_slice())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_clickhouse_shows_in_readyz_and_loses_nothing() {
    let mut options = StackOptions::for_test();
    options.consumers_args = test_args()
        .into_iter()
        .chain([
            "--clickhouse-send-timeout-ms",
            "2000",
            "--clickhouse-receive-timeout-ms",
            "2000",
        ])
        .map(str::to_owned)
        .collect();
    let stack = Stack::start(options).await.expect("the stack starts");
    deliver_all(&stack, &pipelines(1, 2)).await;
    assert_landed_exactly_once(&stack, 8, 2).await;

    let front = stack
        .clickhouse
        .as_ref()
        .expect("the stack's own ClickHouse engine");
    front.signal(libc::SIGSTOP);
    // Connections are still accepted by the kernel; nothing answers them.
    deliver_all(&stack, &pipelines(3, 2)).await;
    let admin = &stack.consumers_admin_url;
    let reason = eventually(LANDING, "/readyz saying ClickHouse hangs", || async {
        not_ready(admin)
            .await
            .filter(|body| body.contains("clickhouse"))
    })
    .await;
    assert!(reason.contains("clickhouse"), "{reason}");
    metric_reaches(
        admin,
        "hookline_consumers_clickhouse_errors_total",
        &[],
        |n| n > 0.0,
    )
    .await;

    front.signal(libc::SIGCONT);
    assert_landed_exactly_once(&stack, 16, 4).await;
    eventually(LANDING, "/readyz ready again", || async {
        not_ready(admin).await.is_none().then_some(())
    })
    .await;
}
