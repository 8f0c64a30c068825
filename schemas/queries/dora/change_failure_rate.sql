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
--   (not the incidents, which have neither).
-- chart: bar x=project_path y=rate
-- columns: project_path String, deployments UInt64, failures UInt64, rate Float64,
--   band Nullable(String)
WITH
    -- The failure kinds asked for, spaces around the commas allowed.
    arrayMap(kind -> trimBoth(kind), splitByChar(',', {failure:String})) AS failure_kinds,
    -- Every production deployment in scope, whenever it happened (rollbacks look back before
    -- the range), with its project's current path.
    production AS (
        SELECT
            d.project_id AS project_id,
            d.deployment_id AS deployment_id,
            d.environment AS environment,
            d.status AS status,
            assumeNotNull(d.status_changed_at) AS changed_at,
            -- The commit deployed: GitLab sends short_sha in every deployment hook, the full
            -- sha only with a commit_url; empty is unknown.
            lower(d.short_sha) AS commit,
            coalesce(nullIf(pr.path, ''), d.project_path) AS project_path
        FROM deployments_latest AS d
        LEFT JOIN projects AS pr ON pr.project_id = d.project_id
        WHERE d.status_changed_at IS NOT NULL
          -- Production: the tier says so; GitLab before 15.x sends no tier, so the name decides.
          AND (d.environment_tier = {production_tier:String}
               OR (d.environment_tier = '' AND match(d.environment, {production_pattern:String})))
          AND startsWith(coalesce(nullIf(pr.path, ''), d.project_path), {project:String})
          AND ({ref:String} = '' OR d.ref = {ref:String})
          AND ({environment:String} = '' OR d.environment = {environment:String})
    ),
    -- Each successful deployment with the commit the environment ran before it, and whether
    -- that commit had been deployed there before (ties in time ordered by deployment id).
    successes AS (
        SELECT
            project_id,
            project_path,
            changed_at,
            commit,
            lagInFrame(commit) OVER by_environment AS previous_commit,
            -- row_number() gives the first deployment of the commit within the environment.
            row_number() OVER (PARTITION BY project_id, environment, commit ORDER BY changed_at, deployment_id) AS commit_deployed_times
        FROM production
        WHERE status = 'success'
        WINDOW by_environment AS (
            PARTITION BY project_id, environment ORDER BY changed_at, deployment_id
            ROWS BETWEEN 1 PRECEDING AND CURRENT ROW
        )
    ),
    in_range AS (
        SELECT
            project_id,
            project_path,
            count() AS deployments,
            -- A rollback returns to a commit deployed before, away from a different one.
            countIf(commit != '' AND commit_deployed_times > 1 AND previous_commit != commit) AS rollbacks
        FROM successes
        WHERE changed_at >= {from:DateTime64(3, 'UTC')}
          AND changed_at < {to:DateTime64(3, 'UTC')}
        GROUP BY project_id, project_path
    ),
    failed_deployments AS (
        SELECT project_id, count() AS failed
        FROM production
        WHERE status = 'failed'
          AND changed_at >= {from:DateTime64(3, 'UTC')}
          AND changed_at < {to:DateTime64(3, 'UTC')}
        GROUP BY project_id
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
    r.project_path AS project_path,
    sum(r.deployments) AS deployments,
    sum(
        if(has(failure_kinds, 'incidents'), i.incidents, 0)
        + if(has(failure_kinds, 'failed_deployments'), f.failed, 0)
        + if(has(failure_kinds, 'rollbacks'), r.rollbacks, 0)
    ) AS failures,
    failures / deployments AS rate,
    CAST(multiIf(
        rate <= 0.05, 'elite',
        rate <= 0.10, 'high',
        rate <= 0.15, 'medium',
        'low'
    ) AS Nullable(String)) AS band
FROM in_range AS r
LEFT JOIN failed_deployments AS f ON f.project_id = r.project_id
LEFT JOIN incidents AS i ON i.project_id = r.project_id
-- Two project ids may share a current path (a path reused after a rename): one row per path.
GROUP BY project_path
ORDER BY project_path
