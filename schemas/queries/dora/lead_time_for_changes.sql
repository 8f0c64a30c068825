-- title: Lead time for changes
-- question: How long does a merged change take to reach production, by project?
-- definition: For each merge request merged into the branch a project deploys (target_branch =
--   the deployment's ref, same project), the first successful production deployment whose
--   status_changed_at is at or after its merge time ships it; merge requests shipped in
--   [from, to) count. merge_p50_seconds: median of deployment time − merge time (GitLab's
--   definition); first_commit_p50_seconds: median of deployment time − first commit time (Four
--   Keys'), over the merge requests whose first commit time is known (as in coding time: the
--   earliest committed_at before created_at of the commits pushed to the source branch). Merge
--   time: the first merge_request_events row with state merged. Production as in deployment
--   frequency. Band by merge_p50_seconds (DORA 2023): elite under 1 day, high under 1 week,
--   medium under 1 month (30 days), low above. ref and environment filter the deployments.
-- chart: bar x=project_path y=merge_p50_seconds,first_commit_p50_seconds
-- columns: project_path String, changes UInt64, merge_p50_seconds Nullable(Float64),
--   first_commit_p50_seconds Nullable(Float64), band Nullable(String)
WITH
    -- Every successful production deployment, whenever it happened: a merge request merged
    -- before the range may be shipped in it, and one shipped before the range must not be
    -- shipped again by a later deployment.
    production_successes AS (
        SELECT project_id, ref, changed_at AS deployed_at
        FROM production_deployments(production_tier = {production_tier:String}, production_pattern = {production_pattern:String})
        WHERE status = 'success'
          AND ({ref:String} = '' OR ref = {ref:String})
          AND ({environment:String} = '' OR environment = {environment:String})
    ),
    merged AS (
        SELECT
            project_id,
            merge_request_iid,
            CAST(target_branch AS String) AS ref,
            created_at,
            -- A fork's commits are pushed to the source project, not to the target.
            source_project_id,
            concat('refs/heads/', source_branch) AS source_ref,
            -- ASOF needs a non-Nullable time, and ClickHouse may evaluate this before the WHERE:
            -- a merge request never merged gets a time no deployment follows.
            ifNull(merged_at, toDateTime64('2299-12-31 00:00:00', 3, 'UTC')) AS merged_at,
            project_path
        FROM merge_request_milestones
        WHERE merged_at IS NOT NULL
          AND startsWith(project_path, {project:String})
    ),
    -- ASOF picks, per merge request, the earliest deployment of its target branch at or after
    -- the merge: the one that shipped it.
    shipped AS (
        SELECT
            m.project_id AS project_id,
            m.merge_request_iid AS merge_request_iid,
            m.project_path AS project_path,
            m.created_at AS created_at,
            m.source_project_id AS source_project_id,
            m.source_ref AS source_ref,
            m.merged_at AS merged_at,
            d.deployed_at AS deployed_at
        FROM merged AS m
        ASOF INNER JOIN production_successes AS d
            ON d.project_id = m.project_id AND d.ref = m.ref AND d.deployed_at >= m.merged_at
        WHERE d.deployed_at >= {from:DateTime64(3, 'UTC')}
          AND d.deployed_at < {to:DateTime64(3, 'UTC')}
    ),
    -- Commits on the branch after the merge request was opened are review work: the change
    -- started with the first commit before it (coding time's rule).
    first_commits AS (
        SELECT
            s.project_id AS project_id,
            s.merge_request_iid AS merge_request_iid,
            toNullable(min(assumeNotNull(c.committed_at))) AS first_commit_at
        FROM shipped AS s
        INNER JOIN push_commits_unique AS c
            ON c.project_id = s.source_project_id AND c.ref = s.source_ref
        WHERE c.committed_at IS NOT NULL
          AND c.committed_at < s.created_at
        GROUP BY s.project_id, s.merge_request_iid
    ),
    lead_times AS (
        SELECT
            s.project_path AS project_path,
            (toUnixTimestamp64Milli(s.deployed_at) - toUnixTimestamp64Milli(s.merged_at)) / 1000 AS merge_seconds,
            -- NULL (left out of the median) when no first commit is known.
            (toUnixTimestamp64Milli(s.deployed_at) - toUnixTimestamp64Milli(f.first_commit_at)) / 1000 AS first_commit_seconds
        FROM shipped AS s
        LEFT JOIN first_commits AS f
            ON f.project_id = s.project_id AND f.merge_request_iid = s.merge_request_iid
    )
SELECT
    project_path,
    count() AS changes,
    quantileExact(0.5)(toNullable(merge_seconds)) AS merge_p50_seconds,
    quantileExact(0.5)(first_commit_seconds) AS first_commit_p50_seconds,
    multiIf(
        merge_p50_seconds IS NULL, NULL,
        merge_p50_seconds < 86400, 'elite',
        merge_p50_seconds < 7 * 86400, 'high',
        merge_p50_seconds < 30 * 86400, 'medium',
        'low'
    ) AS band
FROM lead_times
GROUP BY project_path
ORDER BY project_path
