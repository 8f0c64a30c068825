-- title: Slowest stages
-- question: Which pipeline stages take the longest, by project?
-- definition: Per pipeline and stage, over the stage's latest tries that finished (success,
--   failed, canceled, skipped) with a known start and finish: wall time = last finished_at -
--   first started_at. A stage counts when that last finish is in [from, to); p50 and p95 of
--   its wall times per project and stage, slowest p95 first.
-- chart: bar x=stage y=p50_seconds,p95_seconds series=project_path
-- columns: project_path String, stage String, pipelines UInt64, p50_seconds Nullable(Float64),
--   p95_seconds Nullable(Float64)
WITH
    stage_runs AS (
        SELECT
            j.project_id AS project_id,
            any(j.project_path) AS row_project_path,
            j.pipeline_id AS pipeline_id,
            CAST(j.stage AS String) AS stage,
            min(assumeNotNull(j.started_at)) AS first_start,
            max(assumeNotNull(j.finished_at)) AS last_finish
        FROM jobs_latest AS j
        WHERE j.status IN ('success', 'failed', 'canceled', 'skipped')
          -- A job that never ran (skipped before a runner took it) has no start: it adds
          -- no time to the stage.
          AND j.started_at IS NOT NULL
          AND j.finished_at IS NOT NULL
          AND ({ref:String} = '' OR j.ref = {ref:String})
          -- The latest tries, only in the pipelines with a job finishing in the range: only
          -- those can have a stage ending there, and this spares grouping the whole history.
          AND (j.project_id, j.pipeline_id, j.job_id) IN (SELECT * FROM latest_job_try_ids_between(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
        GROUP BY project_id, pipeline_id, stage
    )
SELECT
    coalesce(nullIf(pr.path, ''), s.row_project_path) AS project_path,
    s.stage AS stage,
    count() AS pipelines,
    quantileExact(0.5)(toNullable(dateDiff('millisecond', s.first_start, s.last_finish) / 1000)) AS p50_seconds,
    quantileExact(0.95)(toNullable(dateDiff('millisecond', s.first_start, s.last_finish) / 1000)) AS p95_seconds
FROM stage_runs AS s
LEFT JOIN projects AS pr ON pr.project_id = s.project_id
WHERE s.last_finish >= {from:DateTime64(3, 'UTC')}
  AND s.last_finish < {to:DateTime64(3, 'UTC')}
  AND startsWith(coalesce(nullIf(pr.path, ''), s.row_project_path), {project:String})
GROUP BY project_path, stage
ORDER BY p95_seconds DESC NULLS LAST, project_path, stage
