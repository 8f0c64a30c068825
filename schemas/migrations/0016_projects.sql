-- The projects dimension: each project's id, current path, namespace and default branch,
-- from every hook that names a project. Hooks observe a project partially (a rename gives no
-- default branch, older job hooks only the id), so each observation is kept as seen and the
-- view takes every field from the latest observation that knows it.

-- What hooks said about a project, and when. One row per project and distinct state per
-- kind of hook: the latest observation of it (highest version: its time in whole seconds,
-- then a tie-break), so repeats collapse and the table stays as small as the projects'
-- history. Small: not partitioned, so that every observation of a state collapses.
CREATE TABLE IF NOT EXISTS project_observations
(
    project_id          UInt64,
    event_name          LowCardinality(String),
    path                String,
    default_branch      LowCardinality(String),
    archived            Nullable(Bool),
    observed_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    version             UInt64,
    event_id            String,
    received_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, event_name, path, default_branch);

-- One row per project is the view `projects` (schemas/views/), which the consumers replace at
-- every start.
