-- title: Review rounds
-- question: How many rounds of review do merged merge requests go through, by project?
-- definition: Merge requests whose merge time (the first merge_request_events row with state
--   merged) is in [from, to): rounds = 1 + the number of update events with oldrev (new commits
--   pushed) after the first review; average and maximum by project. A review: an approval
--   (approved, approval) or a non-system note in merge_request_reviews by someone other than the
--   author (author_id); without one, a merge request had 1 round. ref filters on the target branch.
-- chart: bar x=project_path y=average_rounds,max_rounds
-- columns: project_path String, merged UInt64, average_rounds Nullable(Float64), max_rounds UInt64
WITH
    merged_merge_requests AS (
        SELECT project_id, merge_request_iid, author_id, project_path
        FROM merge_requests_merged(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}, project = {project:String}, ref = {ref:String})
    ),
    first_reviews AS (
        SELECT project_id, merge_request_iid, min(reviewed_at) AS first_review_at
        FROM merge_request_reviews_by_others
        GROUP BY project_id, merge_request_iid
    ),
    -- Each push of new commits (an update event carrying oldrev) after the first review asks
    -- for another look: one more round.
    rounds AS (
        SELECT
            m.project_path AS project_path,
            1 + countIf(
                e.action = 'update' AND e.oldrev IS NOT NULL
                AND f.first_review_at IS NOT NULL AND e.event_at > f.first_review_at
            ) AS rounds
        FROM merged_merge_requests AS m
        LEFT JOIN
        (
            SELECT project_id, merge_request_iid, CAST(first_review_at AS Nullable(DateTime64(3, 'UTC'))) AS first_review_at
            FROM first_reviews
        ) AS f ON f.project_id = m.project_id AND f.merge_request_iid = m.merge_request_iid
        INNER JOIN merge_request_events_unique AS e
            ON e.project_id = m.project_id AND e.merge_request_iid = m.merge_request_iid
        GROUP BY m.project_id, m.merge_request_iid, project_path
    )
SELECT
    project_path,
    count() AS merged,
    toNullable(avg(rounds)) AS average_rounds,
    max(rounds) AS max_rounds
FROM rounds
GROUP BY project_path
ORDER BY project_path
