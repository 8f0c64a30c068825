-- title: Comments per merge request
-- question: How much discussion do merged merge requests get, by project?
-- definition: Merge requests whose merge time (the first merge_request_events row with state
--   merged) is in [from, to): their non-system notes in merge_request_reviews (the author's too,
--   whenever written), in total and on average per merge request, by project. ref filters on the
--   target branch.
-- chart: bar x=project_path y=average_comments
-- columns: project_path String, merged UInt64, comments UInt64, average_comments Nullable(Float64)
WITH
    -- Every merge request once, with its project's current path; ref is the branch it targets.
    merge_requests_in_scope AS (
        SELECT
            m.project_id AS project_id,
            m.merge_request_iid AS merge_request_iid,
            coalesce(nullIf(pr.path, ''), m.project_path) AS project_path
        FROM merge_requests_latest AS m
        LEFT JOIN projects AS pr ON pr.project_id = m.project_id
        WHERE startsWith(coalesce(nullIf(pr.path, ''), m.project_path), {project:String})
          AND ({ref:String} = '' OR m.target_branch = {ref:String})
    ),
    -- The merge_requests table keeps no merge time: it is the first event that saw the merge.
    merged_in_range AS (
        SELECT project_id, merge_request_iid
        FROM merge_request_events_unique
        GROUP BY project_id, merge_request_iid
        HAVING countIf(state = 'merged') > 0
           AND minIf(event_at, state = 'merged') >= {from:DateTime64(3, 'UTC')}
           AND minIf(event_at, state = 'merged') < {to:DateTime64(3, 'UTC')}
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
        FROM merge_requests_in_scope AS m
        INNER JOIN merged_in_range AS t USING (project_id, merge_request_iid)
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
