-- title: Time the default branch is red
-- question: How long does each project's default branch stay broken?
-- definition: Per project, over its default-branch pipelines finished in [from, to) with
--   status success or failed, ordered by finished_at: the sum of the intervals from a failed
--   pipeline's finish to the next successful pipeline's finish (to `to` if none). A failure
--   while the branch is already red neither restarts nor adds to the interval. red_share =
--   red_seconds / (to - from). One row per project with a finished default-branch pipeline in
--   the range (0 when it was never red).
-- chart: bar x=project_path y=red_seconds
-- columns: project_path String, red_seconds Float64, red_share Float64
WITH
    default_branch_pipelines AS (
        SELECT
            p.project_id AS project_id,
            coalesce(nullIf(pr.path, ''), p.project_path) AS project_path,
            p.pipeline_id AS pipeline_id,
            CAST(p.status AS String) AS status,
            assumeNotNull(p.finished_at) AS finished_at
        FROM pipelines_finished AS p
        LEFT JOIN projects AS pr ON pr.project_id = p.project_id
        WHERE p.finished_at >= {from:DateTime64(3, 'UTC')}
          AND p.finished_at < {to:DateTime64(3, 'UTC')}
          -- What the pipeline's own hook said; when it did not say (no default branch in an
          -- old payload), the project's current default branch, which a tag never is.
          AND coalesce(p.on_default_branch, NOT p.tag AND pr.default_branch != '' AND p.ref = pr.default_branch)
          AND startsWith(coalesce(nullIf(pr.path, ''), p.project_path), {project:String})
          AND ({ref:String} = '' OR p.ref = {ref:String})
    ),
    -- Only successes and failures change the branch's colour; canceled and skipped
    -- pipelines keep it as it was.
    colour_changes AS (
        SELECT
            project_id,
            project_path,
            status,
            finished_at,
            lagInFrame(status, 1, '') OVER (
                PARTITION BY project_id ORDER BY finished_at, pipeline_id
                ROWS BETWEEN 1 PRECEDING AND CURRENT ROW
            ) AS previous_status,
            -- The first success after this pipeline: where a red interval starting here ends.
            minIf(toNullable(finished_at), status = 'success') OVER (
                PARTITION BY project_id ORDER BY finished_at, pipeline_id
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
            ) AS next_success_at
        FROM default_branch_pipelines
        WHERE status IN ('success', 'failed')
    ),
    red_intervals AS (
        -- A red interval starts at a failure that follows a success or nothing.
        SELECT
            project_path,
            dateDiff('millisecond', finished_at, coalesce(next_success_at, {to:DateTime64(3, 'UTC')})) / 1000 AS seconds
        FROM colour_changes
        WHERE status = 'failed' AND previous_status != 'failed'
    ),
    projects_in_scope AS (
        SELECT DISTINCT project_path FROM default_branch_pipelines
    )
SELECT
    s.project_path AS project_path,
    toFloat64(ifNull(sum(r.seconds), 0)) AS red_seconds,
    red_seconds / (dateDiff('millisecond', {from:DateTime64(3, 'UTC')}, {to:DateTime64(3, 'UTC')}) / 1000) AS red_share
FROM projects_in_scope AS s
LEFT JOIN red_intervals AS r ON r.project_path = s.project_path
GROUP BY project_path
ORDER BY project_path
