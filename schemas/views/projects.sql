-- One row per project: each field from the latest observation (highest version) that knows
-- it, so a partial observation never erases a known value. `destroyed` is whether the latest
-- project event of the instance is project_destroy, NULL without any (no system hook seen).
-- Exact without FINAL: copies of an observation tie on version and agree. See the `projects`
-- section of schemas/README.md.
CREATE OR REPLACE VIEW projects AS
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
)
