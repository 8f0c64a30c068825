-- title: Deployment frequency
-- question: How often does each project deploy to production successfully?
-- definition: Production deployments (environment_tier = production_tier, or the tier unknown
--   and the name matching production_pattern) whose latest status is success, by the time of
--   that status (status_changed_at) in [from, to); per_day = deployments / the range's length
--   in days. Band (DORA 2023): elite at least 1 a day, high at least 1 a week, medium at least
--   1 a month (30 days), low below. ref and environment filter the deployments.
-- chart: bar x=project_path y=per_day
-- columns: project_path String, deployments UInt64, per_day Float64, band Nullable(String)
WITH
    -- The range's length in days, fractional: a range of 36 hours is 1.5 days.
    dateDiff('millisecond', {from:DateTime64(3, 'UTC')}, {to:DateTime64(3, 'UTC')}) / 86400000 AS days
SELECT
    project_path,
    count() AS deployments,
    deployments / days AS per_day,
    CAST(multiIf(
        per_day >= 1, 'elite',
        per_day >= 1 / 7, 'high',
        per_day >= 1 / 30, 'medium',
        'low'
    ) AS Nullable(String)) AS band
FROM production_deployments(production_tier = {production_tier:String}, production_pattern = {production_pattern:String})
WHERE status = 'success'
  AND changed_at >= {from:DateTime64(3, 'UTC')}
  AND changed_at < {to:DateTime64(3, 'UTC')}
  AND startsWith(project_path, {project:String})
  AND ({ref:String} = '' OR ref = {ref:String})
  AND ({environment:String} = '' OR environment = {environment:String})
GROUP BY project_path
ORDER BY project_path
