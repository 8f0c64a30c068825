-- Every hook exactly as GitLab sent it, with its Kafka coordinates.
-- The source of truth for projection rebuilds: the typed tables below can always be
-- recomputed from here. Redelivered copies collapse on event_id (ReplacingMergeTree keeps one
-- row per sorting key; family and project_key are functions of the event, so equal event_ids
-- always share them).
CREATE TABLE IF NOT EXISTS raw_hooks
(
    event_id        String,
    event_type      LowCardinality(String),
    family          LowCardinality(String),
    project_key     String,
    delivery_key    String,
    received_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    gitlab_instance LowCardinality(String),
    source          LowCardinality(String),
    gitlab_version  LowCardinality(String),
    topic           LowCardinality(String),
    partition       UInt32,
    offset          UInt64,
    body            String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (family, project_key, event_id);
