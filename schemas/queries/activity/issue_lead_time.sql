-- title: Issue lead time
-- question: How long do issues stay open before they are closed, by project?
-- definition: Issues and work items that are not incidents (is_incident = false; unknown
--   is_incident counts as neither issue nor incident) closed in [from, to) by closed_at;
--   p50 and p90 of closed_at − created_at in seconds.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, closed UInt64, p50_seconds Nullable(Float64),
--   p90_seconds Nullable(Float64)
SELECT
    project_path,
    count() AS closed,
    quantileExact(0.5)(toNullable(seconds)) AS p50_seconds,
    quantileExact(0.9)(toNullable(seconds)) AS p90_seconds
FROM
(
    SELECT
        coalesce(nullIf(pr.path, ''), i.project_path) AS project_path,
        (toUnixTimestamp64Milli(assumeNotNull(i.closed_at)) - toUnixTimestamp64Milli(i.created_at)) / 1000 AS seconds
    FROM issues_latest AS i
    LEFT JOIN projects AS pr ON pr.project_id = i.project_id
    -- NOT is_incident keeps false only: a GitLab that sends no type may hide an incident
    -- behind NULL.
    WHERE NOT i.is_incident
      AND i.closed_at >= {from:DateTime64(3, 'UTC')}
      AND i.closed_at < {to:DateTime64(3, 'UTC')}
      AND startsWith(coalesce(nullIf(pr.path, ''), i.project_path), {project:String})
)
GROUP BY project_path
ORDER BY project_path
