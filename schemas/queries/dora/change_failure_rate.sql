-- title: Change failure rate
-- question: What share of production deployments leads to a failure, by project?
-- definition: failures / deployments, where deployments are the successful production
--   deployments in [from, to) (as in deployment frequency) and failures, by the failure
--   parameter (a comma-separated combination, summed): incidents — incidents (is_incident)
--   created in [from, to) in the projects deployed; failed_deployments — production deployments
--   whose latest status is failed, by status_changed_at in [from, to); rollbacks — successful
--   production deployments in [from, to) of a commit that an earlier successful deployment of
--   the same environment had deployed, with another commit deployed in between. Only projects
--   with a deployment in the range have a row. Band (DORA 2023): elite at most 5 %, high at
--   most 10 %, medium at most 15 %, low above. ref and environment filter the deployments
--   (not the incidents, which have neither) and select the deployments counted; whether one
--   is a rollback is read from its environment's whole history (view production_deployments).
-- chart: bar x=project_path y=rate
-- columns: project_path String, deployments UInt64, failures UInt64, rate Float64,
--   band Nullable(String)
WITH
    -- The failure kinds asked for, spaces around the commas allowed.
    arrayMap(kind -> trimBoth(kind), splitByChar(',', {failure:String})) AS failure_kinds,
    -- The production deployments in scope that finished in the range.
    production AS (
        SELECT project_id, project_path, status, is_rollback
        FROM production_deployments(production_tier = {production_tier:String}, production_pattern = {production_pattern:String})
        WHERE changed_at >= {from:DateTime64(3, 'UTC')}
          AND changed_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR ref = {ref:String})
          AND ({environment:String} = '' OR environment = {environment:String})
    ),
    deployed AS (
        SELECT
            project_id,
            project_path,
            countIf(status = 'success') AS deployments,
            countIf(status = 'failed') AS failed,
            countIf(is_rollback) AS rollbacks
        FROM production
        GROUP BY project_id, project_path
        HAVING deployments > 0
    ),
    -- NULL is_incident (a GitLab that sends no issue type, no incident label) is unknown, not
    -- an incident.
    incidents AS (
        SELECT project_id, count() AS incidents
        FROM issues_latest
        WHERE is_incident
          AND created_at >= {from:DateTime64(3, 'UTC')}
          AND created_at < {to:DateTime64(3, 'UTC')}
        GROUP BY project_id
    )
SELECT
    d.project_path AS project_path,
    sum(d.deployments) AS deployments,
    sum(
        if(has(failure_kinds, 'incidents'), i.incidents, 0)
        + if(has(failure_kinds, 'failed_deployments'), d.failed, 0)
        + if(has(failure_kinds, 'rollbacks'), d.rollbacks, 0)
    ) AS failures,
    failures / deployments AS rate,
    CAST(multiIf(
        rate <= 0.05, 'elite',
        rate <= 0.10, 'high',
        rate <= 0.15, 'medium',
        'low'
    ) AS Nullable(String)) AS band
FROM deployed AS d
LEFT JOIN incidents AS i ON i.project_id = d.project_id
-- Two project ids may share a current path (a path reused after a rename): one row per path.
GROUP BY project_path
ORDER BY project_path
