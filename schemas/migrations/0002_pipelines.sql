-- Latest known state of each pipeline, one row per (project_id, pipeline_id) after merges.
-- `version` orders the states of a pipeline by payload content, never by arrival:
-- query with FINAL (or argMax(col, version)) for exact results.
CREATE TABLE IF NOT EXISTS pipelines
(
    project_id              UInt64,
    project_path            LowCardinality(String),
    pipeline_id             UInt64,
    pipeline_iid            Nullable(UInt64),
    ref                     String,
    tag                     Bool,
    sha                     String CODEC(ZSTD(1)),
    source                  LowCardinality(String),
    status                  LowCardinality(String),
    created_at              DateTime64(3, 'UTC'),
    finished_at             Nullable(DateTime64(3, 'UTC')),
    duration_seconds        Nullable(Float64),
    queued_duration_seconds Nullable(Float64),
    user_username           LowCardinality(String),
    version                 UInt64,
    event_id                String,
    received_at             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, pipeline_id);
