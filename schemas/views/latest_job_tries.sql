-- The latest try of each job name in each pipeline, in its latest state. A retry is a new job
-- with a higher id, and GitLab sends no further hook for the try it replaced, so superseded
-- tries stay in `jobs` with their last status.
CREATE OR REPLACE VIEW latest_job_tries AS
SELECT *
FROM jobs_latest
WHERE (project_id, pipeline_id, job_id) IN latest_job_try_ids
