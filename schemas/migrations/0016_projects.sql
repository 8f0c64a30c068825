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

-- One row per project: each field from the latest observation (highest version) that knows
-- it, so a partial observation never erases a known value. `destroyed` is whether the latest
-- project event of the instance is project_destroy, NULL without any (no system hook seen).
-- Exact without FINAL: copies of an observation tie on version and agree.
CREATE VIEW IF NOT EXISTS projects AS
SELECT
    project_id,
    current_path AS path,
    arrayStringConcat(arrayPopBack(splitByChar('/', current_path)), '/') AS namespace,
    current_default_branch AS default_branch,
    current_archived AS archived,
    destroyed,
    last_observed_at
FROM
(
    SELECT
        project_id,
        argMaxIf(path, version, path != '') AS current_path,
        argMaxIf(default_branch, version, default_branch != '') AS current_default_branch,
        argMaxIf(archived, version, archived IS NOT NULL) AS current_archived,
        if(
            countIf(event_name IN ('project_create', 'project_rename', 'project_transfer', 'project_update', 'project_destroy')) = 0,
            CAST(NULL, 'Nullable(Bool)'),
            argMaxIf(event_name, version, event_name IN ('project_create', 'project_rename', 'project_transfer', 'project_update', 'project_destroy')) = 'project_destroy'
        ) AS destroyed,
        max(observed_at) AS last_observed_at
    FROM project_observations
    GROUP BY project_id
);
