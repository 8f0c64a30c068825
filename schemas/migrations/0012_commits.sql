-- One row per commit of a project, seen in push and tag push hooks (`commits[]`), pipeline
-- hooks (`commit`) and merge request hooks (`object_attributes.last_commit`). A commit seen
-- in several hooks collapses to one row per (project_id, sha); `version` ranks the
-- observations by how many of the row's fields they know, then by the kind of hook, so the
-- richest one wins whatever the arrival order. A commit's content never changes, so no time
-- takes part. Copies of one commit may carry no time at all, so there is no time to
-- partition by: the table has a single partition.
CREATE TABLE IF NOT EXISTS commits
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    sha                 String CODEC(ZSTD(1)),
    committed_at        Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    author_name         LowCardinality(String),
    author_email        LowCardinality(String),
    title               String CODEC(ZSTD(3)),
    seen_in             LowCardinality(String),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, sha);

-- Whether the push listed fewer commits than it counted (GitLab lists at most 20): the
-- commits it left out have no row in `commits`. NULL for pushes stored before this column
-- and for payloads without `total_commits_count`.
ALTER TABLE pushes ADD COLUMN IF NOT EXISTS commits_truncated Nullable(Bool) AFTER commit_count;
