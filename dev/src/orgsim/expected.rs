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
        let path = scope.project(mr.project)?;
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
        let Some(path) = scope.project(mr.project) else {
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

#[cfg(test)]
mod tests {
    use super::*;

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
