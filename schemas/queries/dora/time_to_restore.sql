-- title: Time to restore service
-- question: How long does it take to restore service after a failure in production, by project?
-- definition: By the restore parameter. incident_closed (GitLab's definition): incidents
--   (is_incident) whose closed_at is in [from, to); closed_at − created_at. next_success:
--   production deployments (as in deployment frequency) whose latest status is failed, by
--   status_changed_at in [from, to); the time to the next successful deployment of the same
--   environment (a failure not yet followed by one is left out). restores: the failures
--   measured; p50_seconds their median. Band (DORA 2023): elite under 1 hour, high under 1
--   day, medium under 1 week, low above. ref and environment filter the failed deployments
--   (not the incidents, which have neither); the success that restores one may be of any ref
--   (view production_deployments).
-- chart: bar x=project_path y=p50_seconds
-- columns: project_path String, restores UInt64, p50_seconds Nullable(Float64),
--   band Nullable(String)
WITH
    -- NULL is_incident (a GitLab that sends no issue type, no incident label) is unknown, not
    -- an incident.
    closed_incidents AS (
        SELECT
            i.project_id AS project_id,
            coalesce(nullIf(pr.path, ''), i.project_path) AS project_path,
            (toUnixTimestamp64Milli(assumeNotNull(i.closed_at)) - toUnixTimestamp64Milli(i.created_at)) / 1000 AS seconds
        FROM issues_latest AS i
        LEFT JOIN projects AS pr ON pr.project_id = i.project_id
        WHERE {restore:String} = 'incident_closed'
          AND i.is_incident
          AND i.closed_at >= {from:DateTime64(3, 'UTC')}
          AND i.closed_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), i.project_path), {project:String})
    ),
    restored_deployments AS (
        SELECT
            project_path,
            (toUnixTimestamp64Milli(assumeNotNull(next_success_at)) - toUnixTimestamp64Milli(changed_at)) / 1000 AS seconds
        FROM production_deployments(production_tier = {production_tier:String}, production_pattern = {production_pattern:String})
        WHERE {restore:String} = 'next_success'
          AND status = 'failed'
          AND next_success_at IS NOT NULL
          AND changed_at >= {from:DateTime64(3, 'UTC')}
          AND changed_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR ref = {ref:String})
          AND ({environment:String} = '' OR environment = {environment:String})
    ),
    restores AS (
        SELECT project_path, seconds FROM closed_incidents
        UNION ALL
        SELECT project_path, seconds FROM restored_deployments
    )
SELECT
    project_path,
    count() AS restores,
    quantileExact(0.5)(toNullable(seconds)) AS p50_seconds,
    multiIf(
        p50_seconds IS NULL, NULL,
        p50_seconds < 3600, 'elite',
        p50_seconds < 86400, 'high',
        p50_seconds < 7 * 86400, 'medium',
        'low'
    ) AS band
FROM restores
GROUP BY project_path
ORDER BY project_path
