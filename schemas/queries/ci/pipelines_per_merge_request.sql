-- title: Pipelines per merge request
-- question: How many pipelines does a merge request take before it is merged?
-- definition: Merge requests merged in [from, to) (merge time: the first
--   merge_request_events row with state merged), with their target branch as `ref`; per
--   merge request, the pipelines of every status with pipeline_kind merge_request and its
--   merge_request_iid in its project (merge_request_project_id, else the pipeline's
--   project). pipelines_per_merge_request = pipelines / merge_requests.
-- chart: bar x=project_path y=pipelines_per_merge_request
-- columns: project_path String, merge_requests UInt64, pipelines UInt64,
--   pipelines_per_merge_request Nullable(Float64)
WITH
    merged_in_range AS (
        SELECT project_id, merge_request_iid, project_path
        FROM merge_requests_merged(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}, project = {project:String}, ref = {ref:String})
    ),
    pipelines_by_merge_request AS (
        -- A fork's merge request pipelines run in the fork: the merge request's project is
        -- the one the pipeline names, when it names one.
        SELECT
            coalesce(merge_request_project_id, project_id) AS project_id,
            assumeNotNull(merge_request_iid) AS merge_request_iid,
            count() AS pipelines
        FROM pipelines_latest
        WHERE pipeline_kind = 'merge_request' AND merge_request_iid IS NOT NULL
        GROUP BY project_id, merge_request_iid
    )
SELECT
    m.project_path AS project_path,
    count() AS merge_requests,
    toUInt64(sum(p.pipelines)) AS pipelines,
    CAST(pipelines / merge_requests AS Nullable(Float64)) AS pipelines_per_merge_request
FROM merged_in_range AS m
LEFT JOIN pipelines_by_merge_request AS p
    ON p.project_id = m.project_id AND p.merge_request_iid = m.merge_request_iid
GROUP BY project_path
ORDER BY project_path
