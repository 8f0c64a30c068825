-- Latest known state of each deployment. `version` is status_changed_at (ms) then the status's
-- place in the lifecycle. Deployment hooks carry no creation time (only status_changed_at,
-- which changes with every status), so there is no time that is stable for a deployment to
-- partition by: the table has a single partition, which suits its small size.
CREATE TABLE IF NOT EXISTS deployments
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    deployment_id       UInt64,
    job_id              Nullable(UInt64),
    environment         LowCardinality(String),
    environment_tier    LowCardinality(String),
    status              LowCardinality(String),
    status_changed_at   Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    ref                 String,
    short_sha           String,
    user_username       LowCardinality(String),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, deployment_id);
