-- Merge requests: their latest state, the log of what happened to them, and review activity.

-- Latest known state of each merge request. `version` is updated_at (ms) then a rank of the
-- state and action, so a merge or close outranks an update sent with the same updated_at.
-- There is no merged_at here: GitLab's payloads carry none, and a column filled only by the
-- merge event would be lost whenever a later update (a label change after the merge) wins.
-- The merge time is the `merge` row of merge_request_events.
CREATE TABLE IF NOT EXISTS merge_requests
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    merge_request_id    UInt64,
    merge_request_iid   UInt64,
    title               String CODEC(ZSTD(3)),
    state               LowCardinality(String),
    last_action         LowCardinality(String),
    merge_status        LowCardinality(String),
    draft               Bool,
    source_project_id   UInt64,
    source_branch       String,
    target_branch       LowCardinality(String),
    author_id           Nullable(UInt64),
    assignee_ids        Array(UInt64),
    reviewer_ids        Array(UInt64),
    labels              Array(LowCardinality(String)),
    merge_commit_sha    Nullable(String) CODEC(ZSTD(1)),
    head_pipeline_id    Nullable(UInt64),
    created_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    updated_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, merge_request_iid, merge_request_id);

-- One row per merge request event (open, update, approved, merge, …): an append-only log.
-- Copies of one event share the sorting key and collapse.
CREATE TABLE IF NOT EXISTS merge_request_events
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    merge_request_id    UInt64,
    merge_request_iid   UInt64,
    action              LowCardinality(String),
    state               LowCardinality(String),
    event_at            DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    actor_id            UInt64,
    actor_username      LowCardinality(String),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_at)
ORDER BY (project_id, merge_request_iid, event_at, action, actor_id);

-- Review activity: approvals and withdrawn approvals (Merge Request Hooks) and comments on
-- merge requests (Note Hooks). Copies of one approval or note collapse.
CREATE TABLE IF NOT EXISTS merge_request_reviews
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    merge_request_iid   UInt64,
    kind                LowCardinality(String),
    reviewed_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    actor_id            UInt64,
    actor_username      LowCardinality(String),
    note_id             UInt64,
    note_type           LowCardinality(String),
    system              Bool,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(reviewed_at)
ORDER BY (project_id, merge_request_iid, reviewed_at, kind, actor_id, note_id);
