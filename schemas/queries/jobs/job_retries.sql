-- title: Retries per job
-- question: How often are jobs retried, by project and name?
-- definition: For each job name in a pipeline whose latest try finished (success, failed,
--   canceled, skipped) with finished_at in [from, to): tries = the jobs of that name in the
--   pipeline, retries = tries - 1. Per project and normalised name: the pipelines, their
--   retries (a parallel job's retries added up in each pipeline) and
--   retries_per_pipeline = retries / pipelines.
-- chart: bar x=name y=retries_per_pipeline series=project_path
-- columns: project_path String, name String, pipelines UInt64, retries UInt64,
--   retries_per_pipeline Nullable(Float64)
WITH
    tries AS (
        -- Every try is its own job: count them per exact name, so that `rspec 1/3` and
        -- `rspec 2/3` are not taken for retries of each other.
        SELECT project_id, pipeline_id, name, count() AS tries
        FROM jobs_latest
        GROUP BY project_id, pipeline_id, name
    ),
    retried_names AS (
        SELECT
            coalesce(nullIf(pr.path, ''), l.project_path) AS project_path,
            l.project_id AS project_id,
            l.pipeline_id AS pipeline_id,
            CAST(l.normalised_name AS String) AS name,
            t.tries - 1 AS retries
        FROM latest_job_tries AS l
        INNER JOIN tries AS t
            ON t.project_id = l.project_id AND t.pipeline_id = l.pipeline_id AND t.name = l.name
        LEFT JOIN projects AS pr ON pr.project_id = l.project_id
        WHERE l.status IN ('success', 'failed', 'canceled', 'skipped')
          AND l.finished_at >= {from:DateTime64(3, 'UTC')}
          AND l.finished_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(coalesce(nullIf(pr.path, ''), l.project_path), {project:String})
          AND ({ref:String} = '' OR l.ref = {ref:String})
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
