-- Latest known state of each issue (and work item). `version` is updated_at (ms) then a rank
-- of the state and action, so a close outranks an update sent with the same updated_at.
CREATE TABLE IF NOT EXISTS issues
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    issue_id            UInt64,
    issue_iid           UInt64,
    issue_type          LowCardinality(String),
    title               String CODEC(ZSTD(3)),
    state               LowCardinality(String),
    last_action         LowCardinality(String),
    confidential        Bool,
    author_id           Nullable(UInt64),
    assignee_ids        Array(UInt64),
    labels              Array(LowCardinality(String)),
    created_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    updated_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    closed_at           Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, issue_iid, issue_id);
