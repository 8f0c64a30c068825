-- The deployed commit's full SHA, and a log of every status change of every deployment.
--
-- `sha` is the last path segment of the hook's `commit_url` when that is a full SHA (40 hex
-- digits beginning with `short_sha`); NULL when the hook has no such URL, and on rows written
-- before this migration.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS sha Nullable(String) AFTER short_sha;

-- One row per status a deployment reached (running, success, failed, canceled, …): an
-- append-only log, so that durations (running → success) and failed-then-fixed sequences can
-- be measured, which `deployments` (latest state only) cannot. Copies of one status change
-- share the sorting key and collapse. `status_changed_at` is in the key, so it cannot be
-- Nullable: the epoch stands for "not sent" (GitLab's oldest deployment hooks).
CREATE TABLE IF NOT EXISTS deployment_events
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    deployment_id       UInt64,
    job_id              Nullable(UInt64),
    environment         LowCardinality(String),
    environment_tier    LowCardinality(String),
    status              LowCardinality(String),
    status_changed_at   DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    sha                 Nullable(String),
    short_sha           String,
    ref                 String,
    user_username       LowCardinality(String),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(status_changed_at)
ORDER BY (project_id, deployment_id, status, status_changed_at);
