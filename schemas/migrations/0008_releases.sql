-- Latest known state of each release. `version` is created_at (ms) then the action's rank
-- (create < update < delete), so a deleted release stays deleted.
CREATE TABLE IF NOT EXISTS releases
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    release_id          UInt64,
    tag                 String,
    name                String,
    description         String CODEC(ZSTD(3)),
    action              LowCardinality(String),
    sha                 String CODEC(ZSTD(1)),
    created_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    released_at         Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, release_id);
