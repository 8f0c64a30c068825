//! What each query of the library must return for a [`History`], computed from the model
//! alone by the definitions of `docs/analytics.md`: rows as JSON arrays in column order, as
//! ClickHouse prints them (`Date` as `2025-01-06`, counts as numbers, NULL as `null`).
//!
//! Percentiles are ClickHouse's `quantileExact(q)`: over the n known values sorted ascending,
//! the value at index ⌊q·n⌋ (computed in `Float64`), the last one for q = 1; NULL when n = 0.
//! Checked against the engine (chDB) on 0..n for n in 1..=21: the median of 2 values is the
//! greater, of 4 values (0,1,2,3) it is 2, p90 of 10 values is the 10th, p95 of 19 the 19th.

use std::collections::{BTreeMap, BTreeSet};

use hookline_schemas::queries::Parameters;
use serde_json::{json, Value};

use super::hooks::utc;
use super::model::*;

/// Groups of values by a key, for percentiles.
type Groups<K, V> = BTreeMap<K, V>;
/// A pipeline_duration group: (day, project, ref, source).
type DurationKey = (String, String, String, String);
/// A try: job id, latest status, finish.
type Try<'a> = (u64, &'a str, Option<i64>);

/// The rows query `name` must return for `parameters`, or `None` when there is no
/// expectation for it yet.
pub fn expected(history: &History, name: &str, parameters: &Parameters) -> Option<Vec<Vec<Value>>> {
    let scope = Scope {
        history,
        parameters,
    };
    Some(match name {
        "pipeline_duration" => pipeline_duration(&scope),
        "pipeline_success_rate" => pipeline_success_rate(&scope),
        "default_branch_red_time" => default_branch_red_time(&scope),
        "pipelines_per_merge_request" => pipelines_per_merge_request(&scope),
        "time_to_first_green_pipeline" => time_to_first_green_pipeline(&scope),
        "ci_minutes" => ci_minutes(&scope),
        "slowest_stages" => slowest_stages(&scope),
        "job_duration" => job_duration(&scope),
        "job_failure_rate" => job_failure_rate(&scope),
        "job_failure_reasons" => job_failure_reasons(&scope),
        "job_retries" => job_retries(&scope),
        "flaky_jobs" => flaky_jobs(&scope),
        "merge_request_throughput" => merge_request_throughput(&scope),
        "time_to_merge" => time_to_merge(&scope),
        "pickup_time" => pickup_time(&scope, false),
        "time_to_first_approval" => pickup_time(&scope, true),
        "review_rounds" => review_rounds(&scope),
        "comments_per_merge_request" => comments_per_merge_request(&scope),
        "open_merge_request_age" => open_merge_request_age(&scope),
        "review_load" => review_load(&scope),
        "coding_time" => coding_time(&scope),
        "deployment_frequency" => dora(&scope)?.deployment_frequency(),
        "lead_time_for_changes" => dora(&scope)?.lead_time_for_changes(),
        "change_failure_rate" => dora(&scope)?.change_failure_rate(),
        "time_to_restore" => dora(&scope)?.time_to_restore(),
        "dora_summary" => dora(&scope)?.summary(),
        "push_frequency" => push_frequency(&scope)?,
        "issue_lead_time" => issue_lead_time(&scope),
        "incidents" => incidents(&scope),
        _ => return None,
    })
}

/// The parameters as the model reads them.
struct Scope<'a> {
    history: &'a History,
    parameters: &'a Parameters,
}

impl Scope<'_> {
    /// Whether `seconds` is in `[from, to)`.
    fn in_range(&self, seconds: i64) -> bool {
        let ms = seconds * 1_000;
        ms >= self.parameters.from_ms && ms < self.parameters.to_ms
    }

    fn in_range_opt(&self, seconds: Option<i64>) -> bool {
        seconds.is_some_and(|s| self.in_range(s))
    }

    /// The project's current path, if the project is in scope.
    fn project(&self, project: usize) -> Option<&str> {
        let path = self.history.projects[project].current_path();
        path.starts_with(&self.parameters.project).then_some(path)
    }

    fn ref_matches(&self, git_ref: &str) -> bool {
        self.parameters.git_ref.is_empty() || self.parameters.git_ref == git_ref
    }

    /// The merge request's project's current path, if the project is in scope and the ref
    /// parameter (its target branch) matches.
    fn merge_request(&self, mr: &MergeRequest) -> Option<&str> {
        self.project(mr.project)
            .filter(|_| self.ref_matches(&mr.target_branch))
    }
}

/// ClickHouse's `quantileExact(q)` over `values` (see the module header).
pub fn quantile_exact(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let index = if q < 1.0 {
        ((q * n as f64) as usize).min(n - 1)
    } else {
        n - 1
    };
    Some(sorted[index])
}

fn number(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| json!(v))
}

/// A `Date` as ClickHouse prints it.
pub fn day(seconds: i64) -> String {
    utc(seconds)[..10].to_owned()
}

/// `toMonday` as a `Date`.
pub fn week(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    // 1970-01-01 was a Thursday: Monday is 3 days before.
    let monday = days - (days + 3).rem_euclid(7);
    day(monday * 86_400)
}

const FINISHED: [&str; 4] = ["success", "failed", "canceled", "skipped"];

fn pipeline_duration(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: Groups<DurationKey, (Vec<f64>, Vec<f64>, u64)> = BTreeMap::new();
    for pipeline in &scope.history.pipelines {
        let last = pipeline.last();
        if !FINISHED.contains(&last.status) || !scope.in_range_opt(last.finished_at) {
            continue;
        }
        let Some(path) = scope.project(pipeline.project) else {
            continue;
        };
        if !scope.ref_matches(&pipeline.git_ref) {
            continue;
        }
        let key = (
            day(last.finished_at.unwrap_or_default()),
            path.to_owned(),
            pipeline.git_ref.clone(),
            pipeline.source.to_owned(),
        );
        let group = groups.entry(key).or_default();
        group.2 += 1;
        group.0.extend(last.duration.map(|d| d as f64));
        group.1.extend(last.queued.map(|q| q as f64));
    }
    groups
        .into_iter()
        .map(
            |((day, path, git_ref, source), (durations, queued, count))| {
                let mut row = vec![
                    json!(day),
                    json!(path),
                    json!(git_ref),
                    json!(source),
                    json!(count),
                ];
                for q in [0.5, 0.9, 0.95] {
                    row.push(number(quantile_exact(&durations, q)));
                }
                for q in [0.5, 0.9, 0.95] {
                    row.push(number(quantile_exact(&queued, q)));
                }
                row
            },
        )
        .collect()
}

fn ratio(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

/// The finished pipelines in scope whose `finished_at` is in the range, with their path.
fn finished_pipelines<'a>(scope: &'a Scope) -> impl Iterator<Item = (&'a Pipeline, &'a str)> + 'a {
    scope.history.pipelines.iter().filter_map(move |pipeline| {
        let last = pipeline.last();
        let path = scope.project(pipeline.project)?;
        (FINISHED.contains(&last.status)
            && scope.in_range_opt(last.finished_at)
            && scope.ref_matches(&pipeline.git_ref))
        .then_some((pipeline, path))
    })
}

fn pipeline_success_rate(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for (pipeline, path) in finished_pipelines(scope) {
        let last = pipeline.last();
        if last.status != "success" && last.status != "failed" {
            continue;
        }
        let key = (
            day(last.finished_at.unwrap_or_default()),
            path.to_owned(),
            pipeline.git_ref.clone(),
        );
        let group = groups.entry(key).or_default();
        if last.status == "success" {
            group.0 += 1;
        } else {
            group.1 += 1;
        }
    }
    groups
        .into_iter()
        .map(|((day, path, git_ref), (succeeded, failed))| {
            vec![
                json!(day),
                json!(path),
                json!(git_ref),
                json!(succeeded),
                json!(failed),
                ratio(succeeded, succeeded + failed),
            ]
        })
        .collect()
}

/// Whether the pipeline ran for its project's default branch (not a tag, not a merge request).
fn on_default_branch(history: &History, pipeline: &Pipeline) -> bool {
    pipeline.kind == PipelineKind::Branch
        && pipeline.git_ref == history.projects[pipeline.project].default_branch
}

fn default_branch_red_time(scope: &Scope) -> Vec<Vec<Value>> {
    let to = scope.parameters.to_ms as f64 / 1_000.0;
    let length = (scope.parameters.to_ms - scope.parameters.from_ms) as f64 / 1_000.0;
    let mut by_project: BTreeMap<String, Vec<(i64, u64, &str)>> = BTreeMap::new();
    for pipeline in &scope.history.pipelines {
        let last = pipeline.last();
        let Some(path) = scope.project(pipeline.project) else {
            continue;
        };
        if FINISHED.contains(&last.status)
            && scope.in_range_opt(last.finished_at)
            && on_default_branch(scope.history, pipeline)
            && scope.ref_matches(&pipeline.git_ref)
        {
            by_project.entry(path.to_owned()).or_default().push((
                last.finished_at.unwrap_or_default(),
                pipeline.id,
                last.status,
            ));
        }
    }
    by_project
        .into_iter()
        .map(|(path, mut pipelines)| {
            pipelines.sort_unstable();
            let mut red = 0.0;
            let mut red_since: Option<i64> = None;
            for (finished, _, status) in pipelines {
                match status {
                    "failed" if red_since.is_none() => red_since = Some(finished),
                    "success" => {
                        if let Some(since) = red_since.take() {
                            red += (finished - since) as f64;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(since) = red_since {
                red += to - since as f64;
            }
            vec![json!(path), json!(red), json!(red / length)]
        })
        .collect()
}

/// The merge requests in scope merged in the range, with their path.
fn merged<'a>(scope: &'a Scope) -> impl Iterator<Item = (&'a MergeRequest, &'a str)> + 'a {
    scope.history.merge_requests.iter().filter_map(move |mr| {
        let path = scope.merge_request(mr)?;
        scope.in_range_opt(mr.merged_at()).then_some((mr, path))
    })
}

/// The index of each merge request's pipelines.
fn merge_request_pipelines(history: &History) -> BTreeMap<usize, Vec<&Pipeline>> {
    let mut pipelines: BTreeMap<usize, Vec<&Pipeline>> = BTreeMap::new();
    for pipeline in &history.pipelines {
        if let PipelineKind::MergeRequest(index) = pipeline.kind {
            pipelines.entry(index).or_default().push(pipeline);
        }
    }
    pipelines
}

fn pipelines_per_merge_request(scope: &Scope) -> Vec<Vec<Value>> {
    let index: BTreeMap<(u64, u64), usize> = merge_request_pipelines(scope.history)
        .into_iter()
        .map(|(mr, pipelines)| {
            let mr = &scope.history.merge_requests[mr];
            (
                (scope.history.projects[mr.project].id, mr.iid),
                pipelines.len(),
            )
        })
        .collect();
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (mr, path) in merged(scope) {
        let group = groups.entry(path.to_owned()).or_default();
        group.0 += 1;
        group.1 += index
            .get(&(scope.history.projects[mr.project].id, mr.iid))
            .copied()
            .unwrap_or_default() as u64;
    }
    groups
        .into_iter()
        .map(|(path, (mrs, pipelines))| {
            vec![
                json!(path),
                json!(mrs),
                json!(pipelines),
                ratio(pipelines, mrs),
            ]
        })
        .collect()
}

fn time_to_first_green_pipeline(scope: &Scope) -> Vec<Vec<Value>> {
    let pipelines = merge_request_pipelines(scope.history);
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (index, mr) in scope.history.merge_requests.iter().enumerate() {
        let Some(path) = scope.merge_request(mr) else {
            continue;
        };
        if !scope.in_range(mr.created_at) {
            continue;
        }
        let first_green = pipelines
            .get(&index)
            .into_iter()
            .flatten()
            .filter(|p| p.last().status == "success")
            .filter_map(|p| p.last().finished_at)
            .min();
        if let Some(green) = first_green {
            groups
                .entry(path.to_owned())
                .or_default()
                .push((green - mr.created_at) as f64);
        }
    }
    groups
        .into_iter()
        .map(|(path, values)| {
            vec![
                json!(path),
                json!(values.len()),
                number(quantile_exact(&values, 0.5)),
                number(quantile_exact(&values, 0.9)),
            ]
        })
        .collect()
}

/// Every job (every try) in scope, with its pipeline and path.
fn jobs<'a>(scope: &'a Scope) -> impl Iterator<Item = (&'a Pipeline, &'a Job, &'a str)> + 'a {
    scope.history.pipelines.iter().flat_map(move |pipeline| {
        let path = scope
            .project(pipeline.project)
            .filter(|_| scope.ref_matches(&pipeline.git_ref));
        pipeline
            .jobs
            .iter()
            .filter_map(move |job| Some((pipeline, job, path?)))
    })
}

/// Whether the job is the latest try of its name in its pipeline.
fn latest_try(pipeline: &Pipeline, job: &Job) -> bool {
    !pipeline
        .jobs
        .iter()
        .any(|other| other.name == job.name && other.id > job.id)
}

/// Whether the job finished (a final status) in the range.
fn finished_in_range(scope: &Scope, job: &Job) -> bool {
    FINISHED.contains(&job.last().status) && scope.in_range_opt(job.last().finished_at)
}

fn runner(job: &Job) -> &'static str {
    job.last().runner.map_or("", |r| RUNNERS[r].1)
}

/// The name without a parallel job's ` N/M`.
pub fn normalised(name: &str) -> &str {
    let Some((head, tail)) = name.rsplit_once(char::is_whitespace) else {
        return name;
    };
    let parallel = tail.split_once('/').is_some_and(|(n, m)| {
        !n.is_empty()
            && !m.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && m.bytes().all(|b| b.is_ascii_digit())
    });
    if parallel {
        head.trim_end()
    } else {
        name
    }
}

fn ci_minutes(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    for (_, job, path) in jobs(scope) {
        if !finished_in_range(scope, job) {
            continue;
        }
        let group = groups
            .entry((path.to_owned(), runner(job).to_owned()))
            .or_default();
        group.0 += 1;
        group.1 += job.last().duration.unwrap_or_default();
    }
    groups
        .into_iter()
        .map(|((path, runner), (jobs, seconds))| {
            vec![
                json!(path),
                json!(runner),
                json!(jobs),
                json!(seconds / 60.0),
            ]
        })
        .collect()
}

fn slowest_stages(scope: &Scope) -> Vec<Vec<Value>> {
    // (path, pipeline id, stage) -> (first start, last finish)
    let mut stages: BTreeMap<(String, u64, &str), (i64, i64)> = BTreeMap::new();
    for (pipeline, job, path) in jobs(scope) {
        let last = job.last();
        if !latest_try(pipeline, job) || !FINISHED.contains(&last.status) {
            continue;
        }
        let (Some(started), Some(finished)) = (last.started_at, last.finished_at) else {
            continue;
        };
        let span = stages
            .entry((path.to_owned(), pipeline.id, job.stage))
            .or_insert((started, finished));
        span.0 = span.0.min(started);
        span.1 = span.1.max(finished);
    }
    let mut groups: BTreeMap<(String, &str), Vec<f64>> = BTreeMap::new();
    for ((path, _, stage), (first, last)) in stages {
        if scope.in_range(last) {
            groups
                .entry((path, stage))
                .or_default()
                .push((last - first) as f64);
        }
    }
    let mut rows: Vec<(f64, Vec<Value>)> = groups
        .into_iter()
        .map(|((path, stage), walls)| {
            let p95 = quantile_exact(&walls, 0.95).unwrap_or_default();
            (
                p95,
                vec![
                    json!(path),
                    json!(stage),
                    json!(walls.len()),
                    number(quantile_exact(&walls, 0.5)),
                    json!(p95),
                ],
            )
        })
        .collect();
    // By p95 descending, then project and stage (already in that order: the sort is stable).
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.into_iter().map(|(_, row)| row).collect()
}

fn job_duration(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for (pipeline, job, path) in jobs(scope) {
        if latest_try(pipeline, job) && finished_in_range(scope, job) {
            groups
                .entry((path.to_owned(), normalised(&job.name).to_owned()))
                .or_default()
                .extend(job.last().duration);
        }
    }
    let mut rows: Vec<(f64, Vec<Value>)> = groups
        .into_iter()
        .map(|((path, name), durations)| {
            let p95 = quantile_exact(&durations, 0.95);
            (
                p95.unwrap_or(f64::NEG_INFINITY),
                vec![
                    json!(path),
                    json!(name),
                    json!(durations.len()),
                    number(quantile_exact(&durations, 0.5)),
                    number(quantile_exact(&durations, 0.9)),
                    number(p95),
                ],
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The tries a failure rate counts: finished `success` or `failed` in the range, latest tries
/// and not allowed to fail unless the parameters ask for them.
fn rated_jobs<'a>(scope: &'a Scope) -> impl Iterator<Item = (&'a Job, &'a str)> + 'a {
    jobs(scope).filter_map(move |(pipeline, job, path)| {
        let status = job.last().status;
        ((status == "success" || status == "failed")
            && scope.in_range_opt(job.last().finished_at)
            && (scope.parameters.include_superseded || latest_try(pipeline, job))
            && (scope.parameters.include_allowed || !job.allow_failure))
            .then_some((job, path))
    })
}

fn job_failure_rate(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String, String, String), (u64, u64)> = BTreeMap::new();
    for (job, path) in rated_jobs(scope) {
        let key = (
            path.to_owned(),
            normalised(&job.name).to_owned(),
            job.stage.to_owned(),
            runner(job).to_owned(),
        );
        let group = groups.entry(key).or_default();
        if job.last().status == "success" {
            group.0 += 1;
        } else {
            group.1 += 1;
        }
    }
    groups
        .into_iter()
        .map(|((path, name, stage, runner), (succeeded, failed))| {
            vec![
                json!(path),
                json!(name),
                json!(stage),
                json!(runner),
                json!(succeeded),
                json!(failed),
                ratio(failed, succeeded + failed),
            ]
        })
        .collect()
}

fn job_failure_reasons(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (job, path) in rated_jobs(scope) {
        if job.last().status == "failed" {
            *groups
                .entry((path.to_owned(), job.last().failure_reason.to_owned()))
                .or_default() += 1;
            *totals.entry(path.to_owned()).or_default() += 1;
        }
    }
    groups
        .into_iter()
        .map(|((path, reason), failed)| {
            let total = totals.get(&path).copied().unwrap_or_default();
            vec![
                json!(path),
                json!(reason),
                json!(failed),
                ratio(failed, total),
            ]
        })
        .collect()
}

fn job_retries(scope: &Scope) -> Vec<Vec<Value>> {
    // (path, normalised name) -> (pipelines, superseded tries)
    let mut groups: BTreeMap<(String, String), (BTreeSet<u64>, u64)> = BTreeMap::new();
    for (pipeline, job, path) in jobs(scope) {
        if !latest_try(pipeline, job) || !finished_in_range(scope, job) {
            continue;
        }
        let tries = pipeline.jobs.iter().filter(|j| j.name == job.name).count() as u64;
        let group = groups
            .entry((path.to_owned(), normalised(&job.name).to_owned()))
            .or_default();
        group.0.insert(pipeline.id);
        group.1 += tries - 1;
    }
    groups
        .into_iter()
        .map(|((path, name), (pipelines, retries))| {
            let pipelines = pipelines.len() as u64;
            vec![
                json!(path),
                json!(name),
                json!(pipelines),
                json!(retries),
                ratio(retries, pipelines),
            ]
        })
        .collect()
}

fn flaky_jobs(scope: &Scope) -> Vec<Vec<Value>> {
    // Every try of every job of the project, by (project, sha, full name): (id, status, finish).
    let mut tries: BTreeMap<(usize, &str, &str), Vec<Try>> = BTreeMap::new();
    for pipeline in &scope.history.pipelines {
        if !scope.ref_matches(&pipeline.git_ref) {
            continue;
        }
        for job in &pipeline.jobs {
            tries
                .entry((pipeline.project, pipeline.sha.as_str(), job.name.as_str()))
                .or_default()
                .push((job.id, job.last().status, job.last().finished_at));
        }
    }
    // (path, normalised name) -> (flaky commits, commits run)
    let mut groups: Groups<(String, String), [BTreeSet<&str>; 2]> = BTreeMap::new();
    for ((project, sha, name), runs) in &tries {
        let Some(path) = scope.project(*project) else {
            continue;
        };
        let key = (path.to_owned(), normalised(name).to_owned());
        let ran = runs.iter().any(|(_, status, finished)| {
            FINISHED.contains(status) && scope.in_range_opt(*finished)
        });
        let flaky = runs.iter().any(|(id, status, finished)| {
            *status == "success"
                && scope.in_range_opt(*finished)
                && runs
                    .iter()
                    .any(|(other, s, _)| *s == "failed" && other < id)
        });
        if ran || flaky {
            let group = groups.entry(key).or_default();
            if ran {
                group[1].insert(sha);
            }
            if flaky {
                group[0].insert(sha);
            }
        }
    }
    groups
        .into_iter()
        .map(|((path, name), [flaky, commits])| {
            let (flaky, commits) = (flaky.len() as u64, commits.len() as u64);
            vec![
                json!(path),
                json!(name),
                json!(flaky),
                json!(commits),
                ratio(flaky, commits),
            ]
        })
        .collect()
}

/// Rows of one value list per key, for the percentile queries: `[key, count, p50, p90]`.
fn p50_p90(groups: BTreeMap<String, Vec<f64>>) -> Vec<Vec<Value>> {
    groups
        .into_iter()
        .map(|(key, values)| {
            vec![
                json!(key),
                json!(values.len()),
                number(quantile_exact(&values, 0.5)),
                number(quantile_exact(&values, 0.9)),
            ]
        })
        .collect()
}

fn merge_request_throughput(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    for mr in &scope.history.merge_requests {
        let Some(path) = scope.merge_request(mr) else {
            continue;
        };
        let closed = mr.closed_at().filter(|_| mr.merged_at().is_none());
        for (slot, time) in [(0, Some(mr.created_at)), (1, mr.merged_at()), (2, closed)] {
            if let Some(time) = time.filter(|t| scope.in_range(*t)) {
                groups.entry((week(time), path.to_owned())).or_default()[slot] += 1;
            }
        }
    }
    groups
        .into_iter()
        .map(|((week, path), [opened, merged, closed])| {
            vec![
                json!(week),
                json!(path),
                json!(opened),
                json!(merged),
                json!(closed),
            ]
        })
        .collect()
}

fn time_to_merge(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (mr, path) in merged(scope) {
        let merged_at = mr.merged_at().unwrap_or_default();
        groups
            .entry(path.to_owned())
            .or_default()
            .push((merged_at - mr.created_at) as f64);
    }
    p50_p90(groups)
}

/// When the merge request was ready for review: created as a non-draft, or made ready.
fn ready_at(mr: &MergeRequest) -> Option<i64> {
    mr.events.iter().find_map(|event| {
        (!event.draft && (event.action == "open" || event.draft_before == Some(true)))
            .then_some(event.at)
    })
}

/// Reviews by others than the author: (time, reviewer, is an approval).
fn reviews(mr: &MergeRequest) -> impl Iterator<Item = (i64, usize, bool)> + '_ {
    let approvals = mr
        .events
        .iter()
        .filter(|e| (e.action == "approval" || e.action == "approved") && e.actor != mr.author)
        .map(|e| (e.at, e.actor, true));
    let notes = mr
        .notes
        .iter()
        .filter(|n| !n.system && n.author != mr.author)
        .map(|n| (n.at, n.author, false));
    approvals.chain(notes)
}

fn pickup_time(scope: &Scope, approvals_only: bool) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for mr in &scope.history.merge_requests {
        let Some(path) = scope.merge_request(mr) else {
            continue;
        };
        let first = reviews(mr)
            .filter(|(_, _, approval)| *approval || !approvals_only)
            .map(|(at, _, _)| at)
            .min();
        let (Some(ready), Some(first)) = (ready_at(mr), first) else {
            continue;
        };
        if scope.in_range(first) {
            groups
                .entry(path.to_owned())
                .or_default()
                .push((first - ready) as f64);
        }
    }
    p50_p90(groups)
}

fn review_rounds(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (mr, path) in merged(scope) {
        let first_review = reviews(mr).map(|(at, _, _)| at).min();
        let rounds = 1 + mr
            .events
            .iter()
            .filter(|e| e.action == "update" && e.oldrev.is_some())
            .filter(|e| first_review.is_some_and(|review| e.at > review))
            .count() as u64;
        groups.entry(path.to_owned()).or_default().push(rounds);
    }
    groups
        .into_iter()
        .map(|(path, rounds)| {
            let total: u64 = rounds.iter().sum();
            vec![
                json!(path),
                json!(rounds.len()),
                ratio(total, rounds.len() as u64),
                json!(rounds.iter().max().copied().unwrap_or_default()),
            ]
        })
        .collect()
}

fn comments_per_merge_request(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (mr, path) in merged(scope) {
        let group = groups.entry(path.to_owned()).or_default();
        group.0 += 1;
        group.1 += mr.notes.iter().filter(|n| !n.system).count() as u64;
    }
    groups
        .into_iter()
        .map(|(path, (merged, comments))| {
            vec![
                json!(path),
                json!(merged),
                json!(comments),
                ratio(comments, merged),
            ]
        })
        .collect()
}

fn open_merge_request_age(scope: &Scope) -> Vec<Vec<Value>> {
    let to = scope.parameters.to_ms as f64 / 1_000.0;
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for mr in &scope.history.merge_requests {
        let Some(path) = scope.merge_request(mr) else {
            continue;
        };
        if mr.state() == "opened" && (mr.created_at * 1_000) < scope.parameters.to_ms {
            groups
                .entry(path.to_owned())
                .or_default()
                .push((to - mr.created_at as f64) / 86_400.0);
        }
    }
    groups
        .into_iter()
        .map(|(path, ages)| {
            let max = ages.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            vec![
                json!(path),
                json!(ages.len()),
                number(quantile_exact(&ages, 0.5)),
                json!(max),
            ]
        })
        .collect()
}

fn review_load(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, (u64, BTreeSet<(usize, u64)>)> = BTreeMap::new();
    for mr in &scope.history.merge_requests {
        if scope.merge_request(mr).is_none() {
            continue;
        }
        for (at, reviewer, _) in reviews(mr) {
            if scope.in_range(at) {
                let group = groups
                    .entry(scope.history.developers[reviewer].username.clone())
                    .or_default();
                group.0 += 1;
                group.1.insert((mr.project, mr.iid));
            }
        }
    }
    groups
        .into_iter()
        .map(|(reviewer, (reviews, mrs))| vec![json!(reviewer), json!(reviews), json!(mrs.len())])
        .collect()
}

/// The earliest commit time of the commits pushed to the merge request's source branch (the
/// pushes Hookline received) before it was created.
fn first_commit_at(pushes: &PushIndex, mr: &MergeRequest) -> Option<i64> {
    pushes
        .get(&(mr.project, mr.source_branch.as_str()))?
        .iter()
        .flat_map(|push| &push.commits)
        .map(|commit| commit.committed_at)
        .filter(|at| *at <= mr.created_at)
        .min()
}

/// Delivered branch pushes by (project, branch).
type PushIndex<'a> = BTreeMap<(usize, &'a str), Vec<&'a Push>>;

fn push_index(history: &History) -> PushIndex<'_> {
    let mut index: PushIndex = BTreeMap::new();
    for push in history.pushes.iter().filter(|p| p.delivered && !p.tag) {
        index
            .entry((push.project, push.ref_name.as_str()))
            .or_default()
            .push(push);
    }
    index
}

fn coding_time(scope: &Scope) -> Vec<Vec<Value>> {
    let pushes = push_index(scope.history);
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for mr in &scope.history.merge_requests {
        let Some(path) = scope.merge_request(mr) else {
            continue;
        };
        if !scope.in_range(mr.created_at) {
            continue;
        }
        if let Some(first) = first_commit_at(&pushes, mr) {
            groups
                .entry(path.to_owned())
                .or_default()
                .push((mr.created_at - first) as f64);
        }
    }
    p50_p90(groups)
}

/// The DORA keys' inputs: successful production deployments in the range, by project.
struct Dora {
    /// Per project path, what each key is computed from.
    projects: BTreeMap<String, DoraProject>,
    days: f64,
}

#[derive(Default)]
struct DoraProject {
    /// Successful production deployments in the range.
    deployments: u64,
    from_merge: Vec<f64>,
    from_first_commit: Vec<f64>,
    /// Incidents opened in the range.
    incidents: u64,
    /// Production deployments that failed in the range.
    failed: u64,
    /// Rollbacks among `deployments`.
    rollbacks: u64,
    /// The failures by the `failure` parameter (0 without a deployment in the range).
    failures: u64,
    /// Incidents closed in the range: open to close, seconds.
    closed_incidents: Vec<f64>,
    /// Deployments failed in the range and later restored: failure to next success, seconds.
    restored_deployments: Vec<f64>,
    /// The restore times by the `restore` parameter.
    restores: Vec<f64>,
}

/// What the parameters call production: an environment of `production_tier`, or, for an
/// environment whose hooks carry no tier, a name matching `production_pattern`.
struct Production<'a> {
    tier: &'a str,
    /// `production_pattern` compiled once; `None` when it is not a regular expression.
    pattern: Option<regex::Regex>,
}

impl<'a> Production<'a> {
    fn of(parameters: &'a Parameters) -> Self {
        Self {
            tier: &parameters.production_tier,
            pattern: regex::Regex::new(&parameters.production_pattern).ok(),
        }
    }

    /// Whether the environment is production; `None` when that depends on a pattern that is
    /// not a regular expression.
    fn includes(&self, name: &str, tier: Option<&str>) -> Option<bool> {
        match tier {
            Some(tier) => Some(tier == self.tier),
            None => self.pattern.as_ref().map(|pattern| pattern.is_match(name)),
        }
    }
}

fn dora(scope: &Scope) -> Option<Dora> {
    let parameters = scope.parameters;
    // The failure kinds asked for; a name that is none of them counts nothing.
    let failure: BTreeSet<&str> = parameters.failure.split(',').map(str::trim).collect();
    let history = scope.history;
    let production = Production::of(parameters);
    // Production deployments that succeeded or failed, by (project, environment): (time, id,
    // status, commit, ref), in time order. The whole history of each environment: a rollback
    // or a restore is one whatever the ref and environment parameters select.
    type Finished<'a> = (i64, u64, &'static str, &'a str, &'a str);
    let mut environments: BTreeMap<(usize, &str), Vec<Finished>> = BTreeMap::new();
    for deployment in &history.deployments {
        let (status, at) = deployment.last();
        if ["success", "failed"].contains(&status)
            && scope.project(deployment.project).is_some()
            && production.includes(&deployment.environment, deployment.tier)?
        {
            environments
                .entry((deployment.project, deployment.environment.as_str()))
                .or_default()
                .push((
                    at,
                    deployment.id,
                    status,
                    &deployment.sha,
                    &deployment.git_ref,
                ));
        }
    }
    let selected = |environment: &str, git_ref: &str| {
        scope.ref_matches(git_ref)
            && (parameters.environment.is_empty() || parameters.environment == environment)
    };
    let mut projects: BTreeMap<String, DoraProject> = BTreeMap::new();
    // Selected successful deployments by project, (time, ref): what shipped a merge.
    let mut shipped: BTreeMap<usize, Vec<(i64, &str)>> = BTreeMap::new();
    for ((project, environment), deployments) in &mut environments {
        deployments.sort_unstable();
        let path = scope.project(*project).expect("filtered above");
        let entry = projects.entry(path.to_owned()).or_default();
        // The commits this environment ran, and the last of them.
        let (mut commits_run, mut last_commit) = (BTreeSet::new(), None);
        for (i, &(at, _, status, commit, git_ref)) in deployments.iter().enumerate() {
            let counted = selected(environment, git_ref);
            if status == "failed" {
                if counted && scope.in_range(at) {
                    entry.failed += 1;
                    let next_success = deployments[i + 1..]
                        .iter()
                        .find(|(_, _, status, _, _)| *status == "success");
                    if let Some((restored, ..)) = next_success {
                        entry.restored_deployments.push((restored - at) as f64);
                    }
                }
                continue;
            }
            // A rollback: the commit ran here before, and another one ran just before it.
            let rollback = commits_run.contains(commit) && last_commit != Some(commit);
            commits_run.insert(commit);
            last_commit = Some(commit);
            if !counted {
                continue;
            }
            shipped.entry(*project).or_default().push((at, git_ref));
            if scope.in_range(at) {
                entry.deployments += 1;
                entry.rollbacks += u64::from(rollback);
            }
        }
    }
    for times in shipped.values_mut() {
        times.sort_unstable();
    }
    let pushes = push_index(history);
    for mr in &history.merge_requests {
        let (Some(path), Some(merged_at)) = (scope.project(mr.project), mr.merged_at()) else {
            continue;
        };
        let Some(deployments) = shipped.get(&mr.project) else {
            continue;
        };
        let Some(&(at, _)) = deployments
            .iter()
            .find(|(at, git_ref)| *at >= merged_at && *git_ref == mr.target_branch)
        else {
            continue;
        };
        if !scope.in_range(at) {
            continue;
        }
        let entry = projects.entry(path.to_owned()).or_default();
        entry.from_merge.push((at - merged_at) as f64);
        if let Some(first) = first_commit_at(&pushes, mr) {
            entry.from_first_commit.push((at - first) as f64);
        }
    }
    for issue in history.issues.iter().filter(|i| i.is_incident()) {
        let Some(path) = scope.project(issue.project) else {
            continue;
        };
        let entry = projects.entry(path.to_owned()).or_default();
        if scope.in_range(issue.created_at) {
            entry.incidents += 1;
        }
        if let Some(closed) = issue.closed_at().filter(|t| scope.in_range(*t)) {
            entry
                .closed_incidents
                .push((closed - issue.created_at) as f64);
        }
    }
    for project in projects.values_mut() {
        // Failures count only where something was deployed in the range.
        if project.deployments > 0 {
            project.failures = [
                ("incidents", project.incidents),
                ("failed_deployments", project.failed),
                ("rollbacks", project.rollbacks),
            ]
            .into_iter()
            .filter(|(kind, _)| failure.contains(kind))
            .map(|(_, count)| count)
            .sum();
        }
        // An unknown restore definition measures nothing.
        project.restores = match parameters.restore.as_str() {
            "incident_closed" => std::mem::take(&mut project.closed_incidents),
            "next_success" => std::mem::take(&mut project.restored_deployments),
            _ => Vec::new(),
        };
    }
    Some(Dora {
        projects,
        days: (parameters.to_ms - parameters.from_ms) as f64 / 86_400_000.0,
    })
}

/// DORA 2023 bands: deployment frequency by deployments per day.
fn frequency_band(per_day: f64, deployments: u64) -> Value {
    if deployments == 0 {
        return Value::Null;
    }
    json!(if per_day >= 1.0 {
        "elite"
    } else if per_day >= 1.0 / 7.0 {
        "high"
    } else if per_day >= 1.0 / 30.0 {
        "medium"
    } else {
        "low"
    })
}

/// Lead time bands by seconds.
fn lead_time_band(seconds: Option<f64>) -> Value {
    seconds.map_or(Value::Null, |s| {
        json!(if s < 86_400.0 {
            "elite"
        } else if s < 7.0 * 86_400.0 {
            "high"
        } else if s < 30.0 * 86_400.0 {
            "medium"
        } else {
            "low"
        })
    })
}

fn failure_band(rate: Option<f64>) -> Value {
    rate.map_or(Value::Null, |r| {
        json!(if r <= 0.05 {
            "elite"
        } else if r <= 0.10 {
            "high"
        } else if r <= 0.15 {
            "medium"
        } else {
            "low"
        })
    })
}

fn restore_band(seconds: Option<f64>) -> Value {
    seconds.map_or(Value::Null, |s| {
        json!(if s < 3_600.0 {
            "elite"
        } else if s < 86_400.0 {
            "high"
        } else if s < 7.0 * 86_400.0 {
            "medium"
        } else {
            "low"
        })
    })
}

impl Dora {
    fn deployed(&self) -> impl Iterator<Item = (&String, &DoraProject)> {
        self.projects.iter().filter(|(_, p)| p.deployments > 0)
    }

    fn deployment_frequency(&self) -> Vec<Vec<Value>> {
        self.deployed()
            .map(|(path, p)| {
                let per_day = p.deployments as f64 / self.days;
                vec![
                    json!(path),
                    json!(p.deployments),
                    json!(per_day),
                    frequency_band(per_day, p.deployments),
                ]
            })
            .collect()
    }

    fn lead_time_for_changes(&self) -> Vec<Vec<Value>> {
        self.projects
            .iter()
            .filter(|(_, p)| !p.from_merge.is_empty())
            .map(|(path, p)| {
                let merge = quantile_exact(&p.from_merge, 0.5);
                vec![
                    json!(path),
                    json!(p.from_merge.len()),
                    number(merge),
                    number(quantile_exact(&p.from_first_commit, 0.5)),
                    lead_time_band(merge),
                ]
            })
            .collect()
    }

    fn change_failure_rate(&self) -> Vec<Vec<Value>> {
        self.deployed()
            .map(|(path, p)| {
                let rate = p.failures as f64 / p.deployments as f64;
                vec![
                    json!(path),
                    json!(p.deployments),
                    json!(p.failures),
                    json!(rate),
                    failure_band(Some(rate)),
                ]
            })
            .collect()
    }

    fn time_to_restore(&self) -> Vec<Vec<Value>> {
        self.projects
            .iter()
            .filter(|(_, p)| !p.restores.is_empty())
            .map(|(path, p)| {
                let p50 = quantile_exact(&p.restores, 0.5);
                vec![
                    json!(path),
                    json!(p.restores.len()),
                    number(p50),
                    restore_band(p50),
                ]
            })
            .collect()
    }

    fn summary(&self) -> Vec<Vec<Value>> {
        let deployments: u64 = self.projects.values().map(|p| p.deployments).sum();
        let failures: u64 = self.projects.values().map(|p| p.failures).sum();
        let all = |f: fn(&DoraProject) -> &Vec<f64>| -> Vec<f64> {
            self.projects
                .values()
                .flat_map(|p| f(p).iter().copied())
                .collect()
        };
        let per_day = deployments as f64 / self.days;
        let lead = quantile_exact(&all(|p| &p.from_merge), 0.5);
        let rate = (deployments > 0).then(|| failures as f64 / deployments as f64);
        let restore = quantile_exact(&all(|p| &p.restores), 0.5);
        vec![vec![
            json!(deployments),
            json!(per_day),
            frequency_band(per_day, deployments),
            number(lead),
            lead_time_band(lead),
            number(rate),
            failure_band(rate),
            number(restore),
            restore_band(restore),
        ]]
    }
}

/// Push frequency counts pushes by the day Hookline *received* them (push hooks carry no
/// time): a replayed history is received at the test's time, outside both ranges the test
/// uses, so no row is expected.
fn push_frequency(scope: &Scope) -> Option<Vec<Vec<Value>>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // A range around the test's own time would count receipt times the model does not know.
    (!scope.in_range(now) && !scope.in_range(now - 86_400)).then(Vec::new)
}

fn issue_lead_time(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for issue in scope.history.issues.iter().filter(|i| !i.is_incident()) {
        let Some(path) = scope.project(issue.project) else {
            continue;
        };
        if let Some(closed) = issue.closed_at().filter(|t| scope.in_range(*t)) {
            groups
                .entry(path.to_owned())
                .or_default()
                .push((closed - issue.created_at) as f64);
        }
    }
    p50_p90(groups)
}

fn incidents(scope: &Scope) -> Vec<Vec<Value>> {
    let mut groups: BTreeMap<(String, String), (u64, Vec<f64>)> = BTreeMap::new();
    for issue in scope.history.issues.iter().filter(|i| i.is_incident()) {
        let Some(path) = scope.project(issue.project) else {
            continue;
        };
        if scope.in_range(issue.created_at) {
            groups
                .entry((week(issue.created_at), path.to_owned()))
                .or_default()
                .0 += 1;
        }
        if let Some(closed) = issue.closed_at().filter(|t| scope.in_range(*t)) {
            groups
                .entry((week(closed), path.to_owned()))
                .or_default()
                .1
                .push((closed - issue.created_at) as f64);
        }
    }
    groups
        .into_iter()
        .map(|((week, path), (opened, closes))| {
            vec![
                json!(week),
                json!(path),
                json!(opened),
                json!(closes.len()),
                number(quantile_exact(&closes, 0.5)),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// With the seed of the end-to-end test, so that its settings check every failure kind and
    /// both restore definitions on rows that exist.
    fn the_small_history_has_every_kind_of_dora_failure_and_restore() {
        let history = super::super::generate::generate(super::super::Size::small(), 11);
        let mut parameters = Parameters::new(0, i64::MAX / 2);
        let mut totals = |failure: &str, restore: &str| {
            parameters.failure = failure.to_owned();
            parameters.restore = restore.to_owned();
            let scope = Scope {
                history: &history,
                parameters: &parameters,
            };
            let dora = dora(&scope).expect("the default pattern is a regular expression");
            let failures: u64 = dora.projects.values().map(|p| p.failures).sum();
            let restores: usize = dora.projects.values().map(|p| p.restores.len()).sum();
            (failures, restores)
        };
        for failure in ["incidents", "failed_deployments", "rollbacks"] {
            assert!(totals(failure, "incident_closed").0 > 0, "{failure}");
        }
        for restore in ["incident_closed", "next_success"] {
            assert!(totals("incidents", restore).1 > 0, "{restore}");
        }
        assert_eq!(totals("none", "none"), (0, 0));
    }

    #[test]
    fn production_is_the_tier_or_else_the_pattern() {
        let parameters = Parameters::new(0, 1);
        assert_eq!(
            Production::of(&parameters).includes("prod", Some("production")),
            Some(true)
        );
        assert_eq!(
            Production::of(&parameters).includes("production", Some("staging")),
            Some(false)
        );
        for (name, want) in [
            ("production", true),
            ("prod", true),
            ("production/eu", true),
            ("prod/eu", true),
            ("staging", false),
            ("products", false),
            ("production-eu", false),
        ] {
            assert_eq!(
                Production::of(&parameters).includes(name, None),
                Some(want),
                "{name}"
            );
        }
        let mut other = parameters.clone();
        other.production_pattern = "^live$".to_owned();
        assert_eq!(Production::of(&other).includes("live", None), Some(true));
        assert_eq!(
            Production::of(&other).includes("production", None),
            Some(false)
        );
        other.production_pattern = "(".to_owned();
        assert_eq!(Production::of(&other).includes("live", None), None);
    }

    #[test]
    fn quantiles_are_clickhouses_exact_ones() {
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(quantile_exact(&values, 0.5), Some(5.0));
        assert_eq!(quantile_exact(&values, 0.9), Some(9.0));
        assert_eq!(quantile_exact(&values[..4], 0.5), Some(2.0));
        let nineteen: Vec<f64> = (0..19).map(f64::from).collect();
        assert_eq!(quantile_exact(&nineteen, 0.95), Some(18.0));
        assert_eq!(quantile_exact(&nineteen, 0.9), Some(17.0));
        assert_eq!(quantile_exact(&[], 0.5), None);
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week(super::super::generate::START), "2025-01-06");
        assert_eq!(
            week(super::super::generate::START + 6 * 86_400 + 3_600),
            "2025-01-06"
        );
        assert_eq!(
            week(super::super::generate::START + 7 * 86_400),
            "2025-01-13"
        );
    }
}
