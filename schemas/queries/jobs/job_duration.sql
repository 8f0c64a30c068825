-- title: Job duration
-- question: How long do jobs run, and which are the slowest, by project and name?
-- definition: Latest tries (the highest job id per pipeline and name) that finished (success,
--   failed, canceled, skipped) with finished_at in [from, to); p50, p90 and p95 of
--   duration_seconds by project and normalised name (a parallel job's " N/M" removed),
--   unknown durations left out; slowest p95 first.
-- chart: bar x=name y=p50_seconds,p95_seconds series=project_path
-- columns: project_path String, name String, jobs UInt64, p50_seconds Nullable(Float64),
--   p90_seconds Nullable(Float64), p95_seconds Nullable(Float64)
SELECT
    coalesce(nullIf(pr.path, ''), j.project_path) AS project_path,
    CAST(j.normalised_name AS String) AS name,
    count() AS jobs,
    quantileExact(0.5)(j.duration_seconds) AS p50_seconds,
    quantileExact(0.9)(j.duration_seconds) AS p90_seconds,
    quantileExact(0.95)(j.duration_seconds) AS p95_seconds
FROM jobs_finished AS j
LEFT JOIN projects AS pr ON pr.project_id = j.project_id
WHERE j.finished_at >= {from:DateTime64(3, 'UTC')}
  AND j.finished_at < {to:DateTime64(3, 'UTC')}
  -- Latest tries only (latest_job_tries, narrowed to the range's pipelines).
  AND (j.project_id, j.pipeline_id, j.job_id) IN (SELECT * FROM latest_job_try_ids_between(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
  AND startsWith(coalesce(nullIf(pr.path, ''), j.project_path), {project:String})
  AND ({ref:String} = '' OR j.ref = {ref:String})
GROUP BY project_path, name
ORDER BY p95_seconds DESC NULLS LAST, project_path, name
