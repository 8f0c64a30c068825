-- title: Retries per job
-- question: How often are jobs retried, by project and name?
-- definition: For each job name in a pipeline whose latest try (highest job id) finished
--   (success, failed, canceled, skipped) with finished_at in [from, to): tries = the jobs of
--   that name in the pipeline, retries = tries - 1. Per project and normalised name: the
--   pipelines, their retries (a parallel job's retries added up in each pipeline) and
--   retries_per_pipeline = retries / pipelines.
-- chart: bar x=name y=retries_per_pipeline series=project_path
-- columns: project_path String, name String, pipelines UInt64, retries UInt64,
--   retries_per_pipeline Nullable(Float64)
WITH
    tries AS (
        -- Every try is its own job: count them per exact name, so that `rspec 1/3` and
        -- `rspec 2/3` are not taken for retries of each other. The latest try is the one with
        -- the highest id, as in latest_job_tries, read here in the same pass.
        SELECT
            project_id,
            any(project_path) AS row_project_path,
            pipeline_id,
            name,
            any(normalised_name) AS normalised_name,
            count() AS tries,
            argMax(status, job_id) AS latest_status,
            argMax(finished_at, job_id) AS latest_finished_at,
            argMax(ref, job_id) AS latest_ref
        FROM jobs_latest
        -- Only pipelines with a job finishing in the range can have a latest try there: this
        -- spares counting the whole history.
        WHERE (project_id, pipeline_id) IN (
            SELECT project_id, pipeline_id
            FROM pipelines_with_jobs_finished(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
        GROUP BY project_id, pipeline_id, name
    ),
    retried_names AS (
        SELECT
            coalesce(nullIf(pr.path, ''), t.row_project_path) AS project_path,
            t.project_id AS project_id,
            t.pipeline_id AS pipeline_id,
            CAST(t.normalised_name AS String) AS name,
            t.tries - 1 AS retries
        FROM tries AS t
        LEFT JOIN projects AS pr ON pr.project_id = t.project_id
        WHERE t.latest_status IN ('success', 'failed', 'canceled', 'skipped')
          AND t.latest_finished_at >= {from:DateTime64(3, 'UTC')}
          AND t.latest_finished_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), t.row_project_path), {project:String})
          AND ({ref:String} = '' OR t.latest_ref = {ref:String})
    )
SELECT
    project_path,
    name,
    uniqExact(project_id, pipeline_id) AS pipelines,
    toUInt64(sum(retries)) AS retries,
    CAST(retries / pipelines AS Nullable(Float64)) AS retries_per_pipeline
FROM retried_names
GROUP BY project_path, name
ORDER BY project_path, name
