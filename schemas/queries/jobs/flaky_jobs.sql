-- title: Flaky jobs
-- question: Which jobs fail and then pass on the same commit, by project and name?
-- definition: A job name is flaky on a commit when a try of it failed and a later try of the
--   same name (a higher job id) in a pipeline of the same project and commit (sha) succeeded;
--   the commit counts when that successful try's finished_at is in [from, to). Per project
--   and normalised name: flaky = such commits, commits = the distinct commits of the name's
--   finished jobs (every try) with finished_at in [from, to), flaky_rate = flaky / commits.
--   Jobs without a sha are left out.
-- chart: bar x=name y=flaky_rate series=project_path
-- columns: project_path String, name String, flaky UInt64, commits UInt64, flaky_rate Float64
WITH
    finished_in_range AS (
        SELECT
            coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
            j.project_id AS project_id,
            j.sha AS sha,
            j.name AS exact_name,
            CAST(j.normalised_name AS String) AS name,
            j.job_id AS job_id,
            CAST(j.status AS String) AS status
        FROM jobs_finished AS j
        LEFT JOIN projects AS pr ON pr.project_id = j.project_id
        WHERE j.sha != ''
          AND j.finished_at >= {from:DateTime64(3, 'UTC')}
          AND j.finished_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String})
          AND ({ref:String} = '' OR j.ref = {ref:String})
    ),
    first_failures AS (
        -- The earliest failed try of a name on a commit, whenever it finished: a pass after
        -- it, in any pipeline of that commit, makes the name flaky there.
        SELECT project_id, sha, name AS exact_name, min(job_id) AS first_failed_job_id
        FROM jobs_finished
        WHERE status = 'failed'
          -- Only commits with a pass in the range matter: this spares the whole history.
          AND (project_id, sha) IN (
              SELECT project_id, sha FROM finished_in_range WHERE status = 'success')
        GROUP BY project_id, sha, name
    ),
    flaky_commits AS (
        SELECT DISTINCT f.project_path AS project_path, f.name AS name, f.project_id AS project_id, f.sha AS sha
        FROM finished_in_range AS f
        INNER JOIN first_failures AS ff
            ON ff.project_id = f.project_id AND ff.sha = f.sha AND ff.exact_name = f.exact_name
        WHERE f.status = 'success' AND f.job_id > ff.first_failed_job_id
    ),
    commits_per_name AS (
        SELECT project_path, name, uniqExact(project_id, sha) AS commits
        FROM finished_in_range
        GROUP BY project_path, name
    ),
    flaky_per_name AS (
        SELECT project_path, name, count() AS flaky
        FROM flaky_commits
        GROUP BY project_path, name
    )
SELECT
    c.project_path AS project_path,
    c.name AS name,
    ifNull(fl.flaky, 0) AS flaky,
    c.commits AS commits,
    flaky / commits AS flaky_rate
FROM commits_per_name AS c
LEFT JOIN flaky_per_name AS fl ON fl.project_path = c.project_path AND fl.name = c.name
ORDER BY project_path, name
