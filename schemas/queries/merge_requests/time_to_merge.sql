-- title: Time to merge
-- question: How long do merge requests take from creation to merge, by project?
-- definition: Merge requests whose merge time is in [from, to): merge time − created_at in
--   seconds, p50 and p90 by project. Merge time: the first merge_request_events row with state
--   merged (the merge event, or the first merged state seen when that hook was lost).
--   ref filters on the target branch.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, merged UInt64, p50_seconds Nullable(Float64), p90_seconds Nullable(Float64)
WITH
    -- Every merge request once, with its project's current path; ref is the branch it targets.
    merge_requests_in_scope AS (
        SELECT
            m.project_id AS project_id,
            m.merge_request_iid AS merge_request_iid,
            m.created_at AS created_at,
            coalesce(nullIf(pr.path, ''), m.project_path) AS project_path
        FROM merge_requests_latest AS m
        LEFT JOIN projects AS pr ON pr.project_id = m.project_id
        WHERE startsWith(coalesce(nullIf(pr.path, ''), m.project_path), {project:String})
          AND ({ref:String} = '' OR m.target_branch = {ref:String})
    ),
    -- The merge_requests table keeps no merge time: it is the first event that saw the merge.
    merge_times AS (
        SELECT project_id, merge_request_iid, minIf(event_at, state = 'merged') AS merged_at
        FROM merge_request_events_unique
        GROUP BY project_id, merge_request_iid
        HAVING countIf(state = 'merged') > 0
    ),
    merged_in_range AS (
        SELECT
            m.project_path AS project_path,
            (toUnixTimestamp64Milli(t.merged_at) - toUnixTimestamp64Milli(m.created_at)) / 1000 AS seconds
        FROM merge_requests_in_scope AS m
        INNER JOIN merge_times AS t USING (project_id, merge_request_iid)
        WHERE t.merged_at >= {from:DateTime64(3, 'UTC')}
          AND t.merged_at < {to:DateTime64(3, 'UTC')}
    )
SELECT
    project_path,
    count() AS merged,
    quantileExact(0.5)(toNullable(seconds)) AS p50_seconds,
    quantileExact(0.9)(toNullable(seconds)) AS p90_seconds
FROM merged_in_range
GROUP BY project_path
ORDER BY project_path
