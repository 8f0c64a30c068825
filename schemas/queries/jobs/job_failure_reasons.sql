-- title: Job failure reasons
-- question: Why do jobs fail, by project?
-- definition: The failed jobs the failure rate counts (latest tries, or every try when
--   include_superseded = 1; allow_failure false, or also true when include_allowed = 1) by
--   finished_at in [from, to), by failure_reason ('' when unknown): their number and their
--   share of the project's failed jobs.
-- chart: bar x=failure_reason y=failed series=project_path
-- columns: project_path String, failure_reason String, failed UInt64, share Float64
WITH
    failed_by_reason AS (
        SELECT
            coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
            CAST(j.failure_reason AS String) AS failure_reason,
            count() AS failed
        FROM jobs_finished AS j
        LEFT JOIN projects AS pr ON pr.project_id = j.project_id
        WHERE j.status = 'failed'
          AND j.finished_at >= {from:DateTime64(3, 'UTC')}
          AND j.finished_at < {to:DateTime64(3, 'UTC')}
          -- The same population as the failure rate: superseded tries and allowed failures
          -- only when asked.
          AND ({include_superseded:UInt8} = 1
               OR (j.project_id, j.pipeline_id, j.job_id) IN (SELECT * FROM latest_job_try_ids_between(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')})))
          AND ({include_allowed:UInt8} = 1 OR NOT j.allow_failure)
          AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String})
          AND ({ref:String} = '' OR j.ref = {ref:String})
        GROUP BY project_path, failure_reason
    )
SELECT
    project_path,
    failure_reason,
    failed,
    failed / sum(failed) OVER (PARTITION BY project_path) AS share
FROM failed_by_reason
ORDER BY project_path, failure_reason
