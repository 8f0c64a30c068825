-- One row per event of the instance itself, from system hooks: projects, groups, users and
-- memberships created, renamed, transferred or removed. Unknown values are NULL or empty.
-- Copies of one hook share the sorting key and collapse.
CREATE TABLE IF NOT EXISTS instance_events
(
    event_name          LowCardinality(String),
    project_id          Nullable(UInt64),
    project_path        String,
    old_project_path    String,
    group_id            Nullable(UInt64),
    group_path          String,
    old_group_path      String,
    user_id             Nullable(UInt64),
    user_username       String,
    access_level        LowCardinality(String),
    created_at          Nullable(DateTime64(3, 'UTC')),
    updated_at          Nullable(DateTime64(3, 'UTC')),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (event_name, event_id);
