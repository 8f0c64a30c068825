-- latest_job_try_ids, only in the pipelines that may hold a job finished in [from, to)
-- (pipelines_with_jobs_finished). Parameterized, as the job queries call it:
--   (project_id, pipeline_id, job_id) IN (SELECT * FROM latest_job_try_ids_between(
--       from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
-- Exact for every job whose latest state finished in the range: its pipeline is one of those,
-- and every try of its name there is read. A dashboard's range is a small part of the
-- history, and so is this set: testing membership in it costs a fraction of the whole.
CREATE OR REPLACE VIEW latest_job_try_ids_between AS
SELECT project_id, pipeline_id, max(job_id) AS job_id
FROM jobs
WHERE (project_id, pipeline_id) IN (
    SELECT project_id, pipeline_id
    FROM pipelines_with_jobs_finished(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}))
GROUP BY project_id, pipeline_id, name
