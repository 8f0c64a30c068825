-- Every finish time a hook reported for a job, copies and superseded states included: only
-- for narrowing a search to the pipelines that may hold a job finished in a range, never for
-- counting. A job whose latest state finished in [from, to) has a row here in that range, so
-- `(project_id, pipeline_id) IN (SELECT … FROM job_finish_times WHERE finished_at …)` keeps
-- every pipeline the exact filter on jobs_finished would, without merging every job's states.
CREATE OR REPLACE VIEW job_finish_times AS
SELECT project_id, pipeline_id, job_id, assumeNotNull(finished_at) AS finished_at
FROM jobs
WHERE finished_at IS NOT NULL
