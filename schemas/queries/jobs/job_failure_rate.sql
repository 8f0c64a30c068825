-- title: Job failure rate
-- question: Which jobs fail most, by project, name, stage and runner?
-- definition: Latest tries (every try when include_superseded = 1) finished with success or
--   failed by finished_at in [from, to), allow_failure false (also true when
--   include_allowed = 1): failure_rate = failed / (success + failed), by project, normalised
--   name, stage and runner_description (runner, '' when unknown).
-- chart: table
-- columns: project_path String, name String, stage String, runner String, succeeded UInt64,
--   failed UInt64, failure_rate Float64
SELECT
    coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
    CAST(j.normalised_name AS String) AS name,
    CAST(j.stage AS String) AS stage,
    CAST(j.runner_description AS String) AS runner,
    countIf(j.status = 'success') AS succeeded,
    countIf(j.status = 'failed') AS failed,
    failed / (succeeded + failed) AS failure_rate
FROM jobs_finished AS j
LEFT JOIN projects AS pr ON pr.project_id = j.project_id
WHERE j.status IN ('success', 'failed')
  AND j.finished_at >= {from:DateTime64(3, 'UTC')}
  AND j.finished_at < {to:DateTime64(3, 'UTC')}
  -- A try that a retry superseded says nothing about what the pipeline finally got.
  AND ({include_superseded:UInt8} = 1
       OR (j.project_id, j.pipeline_id, j.job_id) IN (SELECT * FROM latest_job_try_ids_between(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')})))
  AND ({include_allowed:UInt8} = 1 OR NOT j.allow_failure)
  AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String})
  AND ({ref:String} = '' OR j.ref = {ref:String})
GROUP BY project_path, name, stage, runner
ORDER BY project_path, name, stage, runner
