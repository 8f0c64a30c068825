-- Pipelines: what a pipeline ran for and where it came from; jobs: where they ran and what
-- they deployed; and the latest try of every job. Existing rows read the new columns as
-- unknown (NULL, '' or []), never as a value the payload did not give.

-- The pipeline's name (`workflow:name`); NULL when not set or not sent.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS name Nullable(String) AFTER pipeline_iid;

-- `branch`, `tag` or `merge_request`; '' when the payload cannot tell (no `source`).
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS pipeline_kind LowCardinality(String) DEFAULT '' AFTER source;

-- Merge request pipelines: ran on the merged result (true) or on the source branch's head
-- (false); NULL when the payload does not say and for other pipelines.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS merged_results Nullable(Bool) AFTER pipeline_kind;

-- The merge request a merge request pipeline ran for, and that merge request's project.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS merge_request_iid Nullable(UInt64) AFTER merged_results;
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS merge_request_project_id Nullable(UInt64) AFTER merge_request_iid;

-- The upstream pipeline of a child (`source` parent_pipeline) or multi-project (`source`
-- pipeline) pipeline, from the payload's `source_pipeline`.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS upstream_project_id Nullable(UInt64) AFTER merge_request_project_id;
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS upstream_project_path LowCardinality(String) DEFAULT '' AFTER upstream_project_id;
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS upstream_pipeline_id Nullable(UInt64) AFTER upstream_project_path;
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS upstream_job_id Nullable(UInt64) AFTER upstream_pipeline_id;

-- Whether the pipeline ran for the project's default branch; NULL when the payload does not
-- name the default branch.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS on_default_branch Nullable(Bool) AFTER upstream_job_id;

-- The time of the pipeline's commit (`commit.timestamp`).
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS commit_timestamp Nullable(DateTime64(3, 'UTC')) AFTER sha;

-- When the pipeline started running, derived (pipeline payloads carry no start time), and
-- from what: `queued_duration`, `builds` or `duration`; NULL and '' when nothing tells.
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS started_at Nullable(DateTime64(3, 'UTC')) AFTER created_at;
ALTER TABLE pipelines ADD COLUMN IF NOT EXISTS started_at_source LowCardinality(String) DEFAULT '' AFTER started_at;

-- The runner that ran the job: its description and tags; '' and [] until one picked it up.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS runner_description LowCardinality(String) DEFAULT '' AFTER runner_type;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS runner_tags Array(LowCardinality(String)) AFTER runner_description;

-- What the job does to its environment (`start`, `stop`, …) and the environment's tier;
-- '' for jobs without an environment and when not sent.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS environment_action LowCardinality(String) DEFAULT '' AFTER environment;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS environment_tier LowCardinality(String) DEFAULT '' AFTER environment_action;

-- The latest try of every job name in each pipeline is the view `latest_job_tries`
-- (schemas/views/), which the consumers replace at every start.
