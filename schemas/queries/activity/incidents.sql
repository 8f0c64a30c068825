-- title: Incidents
-- question: How many incidents are opened and closed each week, and how fast are they closed?
-- definition: Incidents (is_incident) by project: opened counts them by the UTC week (Monday)
--   of created_at in [from, to); closed by the week of closed_at in [from, to), with the
--   median of closed_at − created_at of those closed, in seconds.
-- chart: bar x=week y=opened,closed series=project_path
-- columns: week Date, project_path String, opened UInt64, closed UInt64,
--   time_to_close_p50_seconds Nullable(Float64)
WITH
    -- NULL is_incident (a GitLab that sends no issue type, no incident label) is unknown, not
    -- an incident.
    incidents AS (
        SELECT
            i.created_at AS created_at,
            i.closed_at AS closed_at,
            coalesce(nullIf(pr.path, ''), i.project_path) AS project_path
        FROM issues_latest AS i
        LEFT JOIN projects AS pr ON pr.project_id = i.project_id
        WHERE i.is_incident
          AND startsWith(coalesce(nullIf(pr.path, ''), i.project_path), {project:String})
    ),
    -- One row per opening and per closing, each in the week it happened.
    events AS (
        SELECT toMonday(created_at) AS week, project_path, 1 AS is_open, CAST(NULL AS Nullable(Float64)) AS seconds
        FROM incidents
        WHERE created_at >= {from:DateTime64(3, 'UTC')}
          AND created_at < {to:DateTime64(3, 'UTC')}
        UNION ALL
        SELECT
            toMonday(assumeNotNull(closed_at)) AS week,
            project_path,
            0 AS is_open,
            toNullable((toUnixTimestamp64Milli(assumeNotNull(closed_at)) - toUnixTimestamp64Milli(created_at)) / 1000) AS seconds
        FROM incidents
        WHERE closed_at >= {from:DateTime64(3, 'UTC')}
          AND closed_at < {to:DateTime64(3, 'UTC')}
    )
SELECT
    week,
    project_path,
    countIf(is_open = 1) AS opened,
    countIf(is_open = 0) AS closed,
    quantileExact(0.5)(seconds) AS time_to_close_p50_seconds
FROM events
GROUP BY week, project_path
ORDER BY week, project_path
