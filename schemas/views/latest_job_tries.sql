-- The latest try of each job name in each pipeline, in its latest state. A retry is a new job
-- with a higher id, and GitLab sends no further hook for the try it replaced, so superseded
-- tries stay in `jobs` with their last status. The names are read without FINAL: a job's name
-- is the same in all its hooks.
CREATE OR REPLACE VIEW latest_job_tries AS
SELECT *
FROM jobs_latest
WHERE (project_id, pipeline_id, job_id) IN (
    SELECT project_id, pipeline_id, max(job_id)
    FROM jobs
    GROUP BY project_id, pipeline_id, name
)
