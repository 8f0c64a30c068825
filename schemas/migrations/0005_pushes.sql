-- One row per push (branch or tag): a ref moving from `before` to `after`.
-- Push hooks carry no time of their own, so the push time is when ingest received it.
-- Copies of one push share the sorting key and collapse.
CREATE TABLE IF NOT EXISTS pushes
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    ref                 String,
    ref_name            String,
    ref_type            LowCardinality(String),
    before              String CODEC(ZSTD(1)),
    after               String CODEC(ZSTD(1)),
    created             Bool,
    deleted             Bool,
    commit_count        UInt64,
    user_id             Nullable(UInt64),
    user_username       LowCardinality(String),
    user_name           LowCardinality(String),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (project_id, ref, before, after);
