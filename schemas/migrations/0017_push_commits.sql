-- Which commits were pushed to which branch or tag: one row per (project, ref, commit), from
-- the commits a push lists (at most 20 per push: see pushes.commits_truncated). It links a
-- merge request to the commits of its source branch, for coding time and lead time from the
-- first commit. Copies of one push, and pushes of one commit to one ref again, collapse.
CREATE TABLE IF NOT EXISTS push_commits
(
    project_id          UInt64,
    project_path        LowCardinality(String),
    ref                 String,
    sha                 String CODEC(ZSTD(1)),
    committed_at        Nullable(DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, ref, sha);
