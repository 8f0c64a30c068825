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
    -- Every finished try of every name on the commits that may have one finished in the range,
    -- read once, whenever it finished: a failure before the range makes a pass in it flaky.
    tries AS (
        SELECT
            j.project_id AS project_id,
            j.sha AS sha,
            j.name AS exact_name,
            CAST(j.normalised_name AS String) AS name,
            j.job_id AS job_id,
            CAST(j.status AS String) AS status,
            coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
            -- Whether the try is one the range counts (its finish, ref and project in scope).
            ifNull(j.finished_at >= {from:DateTime64(3, 'UTC')}
                AND j.finished_at < {to:DateTime64(3, 'UTC')}
                AND ({ref:String} = '' OR j.ref = {ref:String})
                AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String}), false) AS counted
        FROM jobs_finished AS j
        LEFT JOIN projects AS pr ON pr.project_id = j.project_id
        WHERE j.sha != ''
          AND (j.project_id, j.sha) IN (
              SELECT project_id, sha
              FROM commits_with_jobs_finished(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
    ),
    -- Per name (full, so that `rspec 1/3` is matched with `rspec 1/3`) on a commit: its first
    -- failed try anywhere, and its last pass and its tries the range counts.
    names_on_commits AS (
        SELECT
            project_id,
            sha,
            exact_name,
            project_path,
            any(name) AS name,
            min(minIf(toNullable(job_id), status = 'failed')) OVER (PARTITION BY project_id, sha, exact_name) AS first_failed_job_id,
            maxIf(toNullable(job_id), status = 'success' AND counted) AS last_counted_pass_job_id,
            countIf(counted) AS counted_tries
        FROM tries
        GROUP BY project_id, sha, exact_name, project_path
    )
SELECT
    project_path,
    name,
    uniqExactIf((project_id, sha), ifNull(last_counted_pass_job_id > first_failed_job_id, false)) AS flaky,
    uniqExactIf((project_id, sha), counted_tries > 0) AS commits,
    flaky / commits AS flaky_rate
FROM names_on_commits
GROUP BY project_path, name
HAVING commits > 0
ORDER BY project_path, name
