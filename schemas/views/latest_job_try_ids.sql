-- The key of the latest try of each job name in each pipeline: a retry is a new job with a
-- higher id. Read without FINAL, which it does not need: a job's key and name are the same in
-- every copy and every state of it, so repeats cannot change a maximum. Test membership with
-- `(project_id, pipeline_id, job_id) IN latest_job_try_ids` instead of reading
-- latest_job_tries when only the key matters: it spares merging every job's states.
CREATE OR REPLACE VIEW latest_job_try_ids AS
SELECT project_id, pipeline_id, max(job_id) AS job_id
FROM jobs
GROUP BY project_id, pipeline_id, name
