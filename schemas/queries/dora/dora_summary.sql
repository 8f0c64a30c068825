-- title: DORA summary
-- question: Where does the scope stand on the four DORA keys, with their performance bands?
-- definition: The four keys over every project in scope together, one row, with the rules of
--   dora/deployment_frequency, dora/lead_time_for_changes (merge → production, GitLab's),
--   dora/change_failure_rate and dora/time_to_restore: successful production deployments in
--   [from, to) and per day; the median lead time of the merge requests shipped in the range;
--   failures (by failure) / deployments; the median time to restore (by restore). Medians are
--   over every value of the scope, not medians of projects. A key without data (no deployment,
--   no change shipped, no restore) is NULL and so is its band; per_day is then 0.
-- chart: table
-- columns: deployments UInt64, per_day Float64, frequency_band Nullable(String),
--   lead_time_p50_seconds Nullable(Float64), lead_time_band Nullable(String),
--   change_failure_rate Nullable(Float64), change_failure_band Nullable(String),
--   time_to_restore_p50_seconds Nullable(Float64), restore_band Nullable(String)
WITH
    -- The range's length in days, fractional: a range of 36 hours is 1.5 days.
    dateDiff('millisecond', {from:DateTime64(3, 'UTC')}, {to:DateTime64(3, 'UTC')}) / 86400000 AS days,
    -- The failure kinds asked for, spaces around the commas allowed.
    arrayMap(kind -> trimBoth(kind), splitByChar(',', {failure:String})) AS failure_kinds,
    -- Every production deployment in scope, whenever it happened (a merge request shipped
    -- in the range may have been merged before it).
    production AS (
        SELECT project_id, ref, status, changed_at, is_rollback, next_success_at
        FROM production_deployments(production_tier = {production_tier:String}, production_pattern = {production_pattern:String})
        WHERE startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR ref = {ref:String})
          AND ({environment:String} = '' OR environment = {environment:String})
    ),
    in_range AS (
        SELECT *
        FROM production
        WHERE changed_at >= {from:DateTime64(3, 'UTC')}
          AND changed_at < {to:DateTime64(3, 'UTC')}
    ),
    -- The projects deployed in the range: only their failures count (as in
    -- dora/change_failure_rate).
    deployed AS (
        SELECT project_id FROM in_range WHERE status = 'success'
    ),
    frequency AS (
        SELECT count() AS deployments, deployments / days AS per_day
        FROM in_range
        WHERE status = 'success'
    ),
    merged AS (
        SELECT project_id, CAST(target_branch AS String) AS ref, ifNull(merged_at, toDateTime64('2299-12-31 00:00:00', 3, 'UTC')) AS merged_at
        FROM merge_request_milestones
        WHERE merged_at IS NOT NULL
    ),
    -- ASOF picks, per merge request, the earliest successful deployment of its target branch at
    -- or after the merge: the one that shipped it. The deployments are already in scope.
    lead_time AS (
        SELECT quantileExact(0.5)(toNullable(
            (toUnixTimestamp64Milli(s.changed_at) - toUnixTimestamp64Milli(m.merged_at)) / 1000
        )) AS p50_seconds
        FROM merged AS m
        ASOF INNER JOIN (SELECT project_id, ref, changed_at FROM production WHERE status = 'success') AS s
            ON s.project_id = m.project_id AND s.ref = m.ref AND s.changed_at >= m.merged_at
        WHERE s.changed_at >= {from:DateTime64(3, 'UTC')}
          AND s.changed_at < {to:DateTime64(3, 'UTC')}
    ),
    failures AS (
        SELECT
            if(has(failure_kinds, 'incidents'), (
                -- NULL is_incident is unknown, not an incident.
                SELECT count()
                FROM issues_latest
                WHERE is_incident
                  AND created_at >= {from:DateTime64(3, 'UTC')}
                  AND created_at < {to:DateTime64(3, 'UTC')}
                  AND project_id IN (SELECT project_id FROM deployed)
            ), 0)
            + if(has(failure_kinds, 'failed_deployments'), (
                SELECT count() FROM in_range WHERE status = 'failed' AND project_id IN (SELECT project_id FROM deployed)
            ), 0)
            + if(has(failure_kinds, 'rollbacks'), (
                SELECT countIf(is_rollback) FROM in_range
            ), 0) AS failures
    ),
    restore_times AS (
        SELECT (toUnixTimestamp64Milli(assumeNotNull(i.closed_at)) - toUnixTimestamp64Milli(i.created_at)) / 1000 AS seconds
        FROM issues_latest AS i
        LEFT JOIN projects AS pr ON pr.project_id = i.project_id
        WHERE {restore:String} = 'incident_closed'
          AND i.is_incident
          AND i.closed_at >= {from:DateTime64(3, 'UTC')}
          AND i.closed_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), i.project_path), {project:String})
        UNION ALL
        SELECT (toUnixTimestamp64Milli(assumeNotNull(next_success_at)) - toUnixTimestamp64Milli(changed_at)) / 1000 AS seconds
        FROM in_range
        WHERE {restore:String} = 'next_success'
          AND status = 'failed'
          AND next_success_at IS NOT NULL
    ),
    restore AS (
        SELECT quantileExact(0.5)(toNullable(seconds)) AS p50_seconds FROM restore_times
    )
SELECT
    frequency.deployments AS deployments,
    frequency.per_day AS per_day,
    multiIf(
        deployments = 0, NULL,
        per_day >= 1, 'elite',
        per_day >= 1 / 7, 'high',
        per_day >= 1 / 30, 'medium',
        'low'
    ) AS frequency_band,
    lead_time.p50_seconds AS lead_time_p50_seconds,
    multiIf(
        lead_time_p50_seconds IS NULL, NULL,
        lead_time_p50_seconds < 86400, 'elite',
        lead_time_p50_seconds < 7 * 86400, 'high',
        lead_time_p50_seconds < 30 * 86400, 'medium',
        'low'
    ) AS lead_time_band,
    if(deployments = 0, NULL, failures.failures / deployments) AS change_failure_rate,
    multiIf(
        change_failure_rate IS NULL, NULL,
        change_failure_rate <= 0.05, 'elite',
        change_failure_rate <= 0.10, 'high',
        change_failure_rate <= 0.15, 'medium',
        'low'
    ) AS change_failure_band,
    restore.p50_seconds AS time_to_restore_p50_seconds,
    multiIf(
        time_to_restore_p50_seconds IS NULL, NULL,
        time_to_restore_p50_seconds < 3600, 'elite',
        time_to_restore_p50_seconds < 86400, 'high',
        time_to_restore_p50_seconds < 7 * 86400, 'medium',
        'low'
    ) AS restore_band
FROM frequency
CROSS JOIN lead_time
CROSS JOIN failures
CROSS JOIN restore
