-- The latest try of each job name in each pipeline (a retry is a new job with a higher id;
-- GitLab sends no further hook for the try it superseded), in its latest state.
CREATE OR REPLACE VIEW latest_job_tries AS
SELECT *
FROM jobs_latest
WHERE (project_id, pipeline_id, job_id) IN (
    SELECT project_id, pipeline_id, max(job_id)
    FROM jobs
    GROUP BY project_id, pipeline_id, name
)
