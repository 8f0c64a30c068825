-- title: Time to first approval
-- question: How long does a merge request ready for review wait for its first approval, by project?
-- definition: Merge requests whose first approval is in [from, to): first approval − ready time,
--   in seconds, p50 and p90 by project. Ready time: created_at if the merge request was opened as
--   a non-draft, else the first event with draft_before = true and draft = false (unknown: left
--   out). An approval: a merge_request_reviews row of kind approved or approval by someone other
--   than the author (author_id), at or after the ready time. ref filters on the target branch.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, merge_requests UInt64, p50_seconds Nullable(Float64), p90_seconds Nullable(Float64)
WITH
    -- Withdrawn approvals (unapproved, unapproval) are not approvals; an approval given before
    -- the merge request was ready does not measure the wait for review.
    first_approvals AS (
        SELECT project_path, assumeNotNull(ready_at) AS ready_at, min(reviewed_at) AS first_approval_at
        FROM merge_request_reviews_by_others
        WHERE kind IN ('approved', 'approval')
          AND ready_at IS NOT NULL
          AND reviewed_at >= ready_at
          AND startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR target_branch = {ref:String})
        GROUP BY project_id, merge_request_iid, project_path, ready_at
    )
SELECT
    project_path,
    count() AS merge_requests,
    quantileExact(0.5)(toNullable(seconds)) AS p50_seconds,
    quantileExact(0.9)(toNullable(seconds)) AS p90_seconds
FROM
(
    SELECT
        project_path,
        (toUnixTimestamp64Milli(first_approval_at) - toUnixTimestamp64Milli(ready_at)) / 1000 AS seconds
    FROM first_approvals
    WHERE first_approval_at >= {from:DateTime64(3, 'UTC')}
      AND first_approval_at < {to:DateTime64(3, 'UTC')}
)
GROUP BY project_path
ORDER BY project_path
