-- title: Comments per merge request
-- question: How much discussion do merged merge requests get, by project?
-- definition: Merge requests whose merge time (the first merge_request_events row with state
--   merged) is in [from, to): their non-system notes in merge_request_reviews (the author's too,
--   whenever written), in total and on average per merge request, by project. ref filters on the
--   target branch.
-- chart: bar x=project_path y=average_comments
-- columns: project_path String, merged UInt64, comments UInt64, average_comments Nullable(Float64)
WITH
    merged_in_range AS (
        SELECT project_id, merge_request_iid, project_path
        FROM merge_requests_merged(from = {from:DateTime64(3, 'UTC')}, to = {to:DateTime64(3, 'UTC')}, project = {project:String}, ref = {ref:String})
    ),
    -- System notes ("added 1 commit") are GitLab's, not discussion.
    comment_counts AS (
        SELECT project_id, merge_request_iid, count() AS notes
        FROM merge_request_reviews_unique
        WHERE kind = 'note' AND NOT system
        GROUP BY project_id, merge_request_iid
    ),
    -- A merged merge request without any comment counts with 0.
    comments_per_merged AS (
        SELECT m.project_path AS project_path, c.notes AS notes
        FROM merged_in_range AS m
        LEFT JOIN comment_counts AS c
            ON c.project_id = m.project_id AND c.merge_request_iid = m.merge_request_iid
    )
SELECT
    project_path,
    count() AS merged,
    sum(notes) AS comments,
    toNullable(avg(notes)) AS average_comments
FROM comments_per_merged
GROUP BY project_path
ORDER BY project_path
