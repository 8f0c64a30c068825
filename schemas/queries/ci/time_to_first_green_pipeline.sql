-- title: Time to first green pipeline
-- question: How long after a merge request is opened does its first pipeline pass?
-- definition: Merge requests created in [from, to) (their target branch as `ref`) that have
--   a successful pipeline with pipeline_kind merge_request and their merge_request_iid in their
--   project: the earliest finished_at of those pipelines minus the merge request's
--   created_at; p50 and p90 per project.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, merge_requests UInt64, p50_seconds Nullable(Float64),
--   p90_seconds Nullable(Float64)
WITH
    first_green AS (
        -- A fork's merge request pipelines run in the fork: the merge request's project is
        -- the one the pipeline names, when it names one.
        SELECT
            coalesce(merge_request_project_id, project_id) AS project_id,
            assumeNotNull(merge_request_iid) AS merge_request_iid,
            min(assumeNotNull(finished_at)) AS green_at
        FROM pipelines_finished
        WHERE status = 'success'
          AND pipeline_kind = 'merge_request'
          AND merge_request_iid IS NOT NULL
          AND finished_at IS NOT NULL
        GROUP BY project_id, merge_request_iid
    )
SELECT
    m.project_path AS project_path,
    count() AS merge_requests,
    quantileExact(0.5)(toNullable(dateDiff('millisecond', m.created_at, g.green_at) / 1000)) AS p50_seconds,
    quantileExact(0.9)(toNullable(dateDiff('millisecond', m.created_at, g.green_at) / 1000)) AS p90_seconds
FROM merge_request_milestones AS m
INNER JOIN first_green AS g
    ON g.project_id = m.project_id AND g.merge_request_iid = m.merge_request_iid
WHERE m.created_at >= {from:DateTime64(3, 'UTC')}
  AND m.created_at < {to:DateTime64(3, 'UTC')}
  AND startsWith(m.project_path, {project:String})
  AND ({ref:String} = '' OR m.target_branch = {ref:String})
GROUP BY project_path
ORDER BY project_path
