//! Inserting a batch into every table, retrying until ClickHouse takes it.
//!
//! A batch is inserted table by table. When any insert fails the whole batch is retried with
//! exponential backoff; tables that had already taken it receive the same rows again, which
//! their engines collapse. Offsets are committed only after this returns `Ok`, so a batch is
//! never skipped, and a crash at any point means redelivery, never loss.

use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};
use hookline_runtime::admin::Readiness;
use hookline_runtime::shutdown::CancellationToken;

use crate::projection::Batch;
use crate::prometheus::ConsumerMetrics;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Writes batches to ClickHouse.
pub struct ClickHouseSink {
    client: Client,
    metrics: ConsumerMetrics,
    readiness: Readiness,
}

/// The batch was not written because the service is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("shutting down before ClickHouse took the batch; it will be consumed again")]
pub struct Interrupted;

impl ClickHouseSink {
    /// `readiness` gets the `clickhouse` check: not ready while inserts fail.
    pub fn new(client: Client, metrics: ConsumerMetrics, readiness: Readiness) -> Self {
        Self {
            client,
            metrics,
            readiness,
        }
    }

    /// Inserts the batch, retrying until it succeeds or `shutdown` is cancelled.
    pub async fn write(
        &self,
        batch: &Batch,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            match self.try_write(batch).await {
                Ok(()) => {
                    self.metrics
                        .insert_seconds
                        .observe(started.elapsed().as_secs_f64());
                    self.readiness.set_ready("clickhouse");
                    return Ok(());
                }
                Err(error) => {
                    self.metrics.clickhouse_errors_total.inc();
                    self.readiness
                        .set_not_ready("clickhouse", error.to_string());
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "ClickHouse insert failed; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return Err(Interrupted),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn try_write(&self, batch: &Batch) -> Result<(), clickhouse::error::Error> {
        self.insert("raw_hooks", &batch.raw_hooks).await?;
        self.insert("pipelines", &batch.pipelines).await?;
        self.insert("jobs", &batch.jobs).await?;
        self.insert("merge_requests", &batch.merge_requests).await?;
        self.insert("merge_request_events", &batch.merge_request_events)
            .await?;
        self.insert("merge_request_reviews", &batch.merge_request_reviews)
            .await?;
        self.insert("pushes", &batch.pushes).await?;
        self.insert("issues", &batch.issues).await?;
        self.insert("deployments", &batch.deployments).await?;
        self.insert("releases", &batch.releases).await?;
        Ok(())
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<(), clickhouse::error::Error>
    where
        T: RowOwned + RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await?;
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        self.metrics
            .rows_written_total
            .with_label_values(&[table])
            .inc_by(rows.len() as u64);
        Ok(())
    }
}
