-- Merge requests, v2: what review analytics derive from the event log (when a merge request
-- became ready, which reviewers were asked and when, review rounds, label changes) and the
-- head commit of each merge request. Rows written before this migration read the new columns
-- as unknown: NULL, or empty arrays.

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS draft Nullable(Bool) AFTER actor_username;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS draft_before Nullable(Bool) AFTER draft;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS reviewers_added Array(UInt64) AFTER draft_before;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS reviewers_removed Array(UInt64) AFTER reviewers_added;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS labels_added Array(LowCardinality(String)) AFTER reviewers_removed;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS labels_removed Array(LowCardinality(String)) AFTER labels_added;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS oldrev Nullable(String) CODEC(ZSTD(1)) AFTER labels_removed;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS last_commit_sha Nullable(String) CODEC(ZSTD(1)) AFTER oldrev;

ALTER TABLE merge_request_events ADD COLUMN IF NOT EXISTS last_commit_at Nullable(DateTime64(3, 'UTC')) AFTER last_commit_sha;

ALTER TABLE merge_requests ADD COLUMN IF NOT EXISTS last_commit_sha Nullable(String) CODEC(ZSTD(1)) AFTER head_pipeline_id;

ALTER TABLE merge_requests ADD COLUMN IF NOT EXISTS last_commit_at Nullable(DateTime64(3, 'UTC')) AFTER last_commit_sha;
