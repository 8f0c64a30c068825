-- Production deployments that succeeded or failed, one row each in its latest state, with what
-- the DORA keys read from the environment's history. Parameterized by the production
-- definition, as the DORA queries call it:
--   production_deployments(production_tier = 'production', production_pattern = '^prod$')
-- Production: the tier says so; GitLab before 15.x sends no tier, so the name decides. The
-- history columns look at every production deployment of the same project and environment in
-- the order of status_changed_at, then id, so a query filtering by ref or environment counts
-- fewer deployments without changing what each one was: a rollback stays a rollback.
CREATE OR REPLACE VIEW production_deployments AS
SELECT
    *,
    -- A rollback returns to a commit deployed before, directly away from a different one (a
    -- redeploy of the same commit is not one; an unknown commit never is).
    status = 'success'
        AND commit != ''
        AND commit_deployed_before
        AND previous_success_commit != commit AS is_rollback
FROM (
    SELECT
        d.project_id AS project_id,
        coalesce(nullIf(pr.path, ''), d.project_path) AS project_path,
        d.deployment_id AS deployment_id,
        CAST(d.environment AS String) AS environment,
        CAST(d.ref AS String) AS ref,
        CAST(d.status AS String) AS status,
        assumeNotNull(d.status_changed_at) AS changed_at,
        -- The commit deployed: GitLab sends short_sha in every deployment hook, the full sha
        -- only with a commit_url; empty is unknown.
        lower(d.short_sha) AS commit,
        -- The commit of the last success before this deployment ('' if none).
        argMaxIf(commit, (changed_at, deployment_id), status = 'success') OVER earlier AS previous_success_commit,
        countIf(status = 'success') OVER (
            PARTITION BY project_id, environment, commit
            ORDER BY changed_at, deployment_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) > 0 AS commit_deployed_before,
        -- The first success after this deployment: when a failure was restored (NULL: not yet).
        minIf(toNullable(changed_at), status = 'success') OVER later AS next_success_at
    FROM deployments_latest AS d
    LEFT JOIN projects AS pr ON pr.project_id = d.project_id
    WHERE d.status IN ('success', 'failed')
      AND d.status_changed_at IS NOT NULL
      AND (d.environment_tier = {production_tier:String}
           OR (d.environment_tier = '' AND match(d.environment, {production_pattern:String})))
    WINDOW
        earlier AS (
            PARTITION BY project_id, environment ORDER BY changed_at, deployment_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ),
        later AS (
            PARTITION BY project_id, environment ORDER BY changed_at, deployment_id
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        )
)
