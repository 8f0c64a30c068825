-- title: Coding time
-- question: How long is a change worked on before its merge request is opened, by project?
-- definition: Merge requests created in [from, to): created_at − the first commit time, in
--   seconds, p50 and p90 by project. First commit time: the earliest committed_at of the
--   commits pushed to the merge request's source branch in its source project (push_commits)
--   that were committed before created_at; merge requests without such a commit are left out.
--   ref filters on the target branch.
-- chart: bar x=project_path y=p50_seconds,p90_seconds
-- columns: project_path String, merge_requests UInt64, p50_seconds Nullable(Float64), p90_seconds Nullable(Float64)
WITH
    -- Merge requests created in the range, with their project's current path and where their
    -- commits were pushed (a fork's source project differs from the target project).
    created_in_range AS (
        SELECT
            project_id,
            merge_request_iid,
            created_at,
            source_project_id,
            concat('refs/heads/', source_branch) AS source_ref,
            project_path
        FROM merge_request_milestones
        WHERE created_at >= {from:DateTime64(3, 'UTC')}
          AND created_at < {to:DateTime64(3, 'UTC')}
          AND startsWith(project_path, {project:String})
          AND ({ref:String} = '' OR target_branch = {ref:String})
    ),
    -- Commits on the branch after the merge request was opened are review work, not coding
    -- before it; commits without a time tell nothing.
    first_commits AS (
        SELECT
            m.project_path AS project_path,
            m.created_at AS created_at,
            min(assumeNotNull(c.committed_at)) AS first_commit_at
        FROM created_in_range AS m
        INNER JOIN push_commits_unique AS c
            ON c.project_id = m.source_project_id AND c.ref = m.source_ref
        WHERE c.committed_at IS NOT NULL
          AND c.committed_at < m.created_at
        GROUP BY m.project_id, m.merge_request_iid, project_path, created_at
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
        (toUnixTimestamp64Milli(created_at) - toUnixTimestamp64Milli(first_commit_at)) / 1000 AS seconds
    FROM first_commits
)
GROUP BY project_path
ORDER BY project_path
