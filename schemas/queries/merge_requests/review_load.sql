-- title: Review load per reviewer
-- question: Who reviews, how often, and how many merge requests?
-- definition: Reviews with reviewed_at in [from, to): approvals (approved, approval) and
--   non-system notes in merge_request_reviews on merge requests the reviewer (actor_username) did
--   not author (actor_id other than the merge request's author_id; an unknown author or merge
--   request counts); per reviewer, the reviews and the distinct merge requests reviewed. project
--   scopes the merge request's project; ref filters on its target branch.
-- chart: bar x=reviewer y=reviews,merge_requests
-- columns: reviewer String, reviews UInt64, merge_requests UInt64
WITH
    -- Who authored each merge request, and the branch it targets. Nullable, so that a review
    -- of a merge request whose own hooks are not (yet) stored reads NULL here, not 0 or ''.
    merge_request_authors AS (
        SELECT
            project_id,
            merge_request_iid,
            CAST(author_id AS Nullable(UInt64)) AS author_id,
            CAST(target_branch AS Nullable(String)) AS target_branch
        FROM merge_requests_latest
    ),
    reviews_by_others AS (
        SELECT
            CAST(r.actor_username AS String) AS reviewer,
            r.project_id AS project_id,
            r.merge_request_iid AS merge_request_iid
        FROM merge_request_reviews_unique AS r
        LEFT JOIN projects AS pr ON pr.project_id = r.project_id
        LEFT JOIN merge_request_authors AS m
            ON m.project_id = r.project_id AND m.merge_request_iid = r.merge_request_iid
        WHERE r.reviewed_at >= {from:DateTime64(3, 'UTC')}
          AND r.reviewed_at < {to:DateTime64(3, 'UTC')}
          -- System notes are GitLab's; withdrawn approvals are not reviews.
          AND (r.kind IN ('approved', 'approval') OR (r.kind = 'note' AND NOT r.system))
          -- An unknown author cannot be told apart from the reviewer: the review counts.
          AND NOT ifNull(r.actor_id = m.author_id, false)
          AND startsWith(coalesce(nullIf(pr.path, ''), r.project_path), {project:String})
          -- The target branch of an unknown merge request matches no ref.
          AND ({ref:String} = '' OR ifNull(m.target_branch = {ref:String}, false))
    )
SELECT
    reviewer,
    count() AS reviews,
    uniqExact(project_id, merge_request_iid) AS merge_requests
FROM reviews_by_others
GROUP BY reviewer
ORDER BY reviewer
