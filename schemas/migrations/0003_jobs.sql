-- Latest known state of each job, one row per (project_id, pipeline_id, job_id) after merges.
-- A retried job is a new job with its own id, so every try keeps its own row. `version`
-- orders the states of a job by payload content, never by arrival: query with FINAL (or
-- argMax(col, version)) for exact results. Partitioned by created_at, which every hook of a job
-- carries unchanged, so all states of a job meet in one partition and collapse.
CREATE TABLE IF NOT EXISTS jobs
(
    project_id              UInt64,
    project_path            LowCardinality(String),
    pipeline_id             UInt64,
    job_id                  UInt64,
    name                    LowCardinality(String),
    stage                   LowCardinality(String),
    status                  LowCardinality(String),
    failure_reason          LowCardinality(String),
    allow_failure           Bool,
    retries_count           Nullable(UInt32),
    ref                     String,
    tag                     Bool,
    sha                     String CODEC(ZSTD(1)),
    created_at              DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    started_at              Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    finished_at             Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    duration_seconds        Nullable(Float64),
    queued_duration_seconds Nullable(Float64),
    runner_id               Nullable(UInt64),
    runner_type             LowCardinality(String),
    environment             LowCardinality(String),
    user_username           LowCardinality(String),
    version                 UInt64,
    event_id                String,
    received_at             DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, pipeline_id, job_id);
