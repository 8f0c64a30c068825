//! The deterministic generator: a seeded xorshift walks each project's days, turning features
//! into branches, merge requests, reviews, merges, pipelines and deployments, plus nightly
//! pipelines, tags, issues and incidents. Each project has its own generator (seeded from the
//! seed and the project), its own id ranges, and is generated in one pass over its days plus
//! one sort of its merges and production deployments: linear in the history's size.

use super::model::*;

/// Deterministic pseudo-random numbers (xorshift64), so a history can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero too).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `low..high` (seconds, usually).
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low).max(1) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Milliseconds as a fraction of a second, for GitLab's fractional durations.
    fn fraction(&mut self) -> f64 {
        self.below(1000) as f64 / 1000.0
    }

    /// A uniformly chosen index of a non-empty slice.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Monday 2025-01-06 00:00:00 UTC: every history starts there.
pub const START: i64 = 1_736_121_600;

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

const GROUPS: [&str; 3] = ["acme", "acme/platform", "globex"];
const NAMES: [&str; 6] = ["billing", "web", "api", "mobile", "search", "infra"];
const FAILURES: [&str; 3] = [
    "script_failure",
    "runner_system_failure",
    "stuck_or_timeout_failure",
];

/// The history of `size` for `seed`: the same arguments give the same history.
pub fn generate(size: Size, seed: u64) -> History {
    let mut history = organisation(size, seed);
    for project in 0..history.projects.len() {
        ProjectGenerator::new(&mut history, project, seed, size.days).run();
    }
    history
}

/// The same history one project at a time, for histories too large to hold (`make bench`):
/// each item has every developer and project and the activity of one project only
/// ([`History::only`]); together they are [`generate`]'s history.
pub fn project_histories(size: Size, seed: u64) -> impl Iterator<Item = History> {
    let organisation = organisation(size, seed);
    (0..organisation.projects.len()).map(move |project| {
        let mut history = organisation.clone();
        history.only = Some(project);
        ProjectGenerator::new(&mut history, project, seed, size.days).run();
        history
    })
}

/// The developers and projects of the history of `size` for `seed`, without activity.
fn organisation(size: Size, seed: u64) -> History {
    let mut history = History {
        start: START,
        end: START + i64::from(size.days) * DAY,
        ..History::default()
    };
    let mut rng = Rng::new(seed);
    history.developers = (0..size.developers.max(2))
        .map(|i| Developer {
            id: 1_000 + i as u64,
            username: format!("dev{i}"),
            name: format!("Developer {i}"),
        })
        .collect();
    let developers = history.developers.len();
    for index in 0..size.projects.max(1) {
        let group = GROUPS[index % GROUPS.len()];
        let name = NAMES[index % NAMES.len()];
        let suffix = if index < NAMES.len() {
            String::new()
        } else {
            format!("-{}", index / NAMES.len())
        };
        let first_path = format!("{group}/{name}{suffix}");
        // One project in ten (the second of each ten) is renamed halfway.
        let rename = (index % 10 == 1).then(|| {
            (
                history.start + i64::from(size.days / 2) * DAY + 12 * HOUR + 34 * MINUTE + 56,
                format!("{group}/{name}-service{suffix}"),
            )
        });
        let team_size = 3.min(developers).max(2);
        let team = (0..team_size)
            .map(|k| (index * 2 + k + rng.below(2) as usize) % developers)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        history.projects.push(Project {
            id: 100 + index as u64,
            first_path,
            rename,
            default_branch: if index % 4 == 3 { "master" } else { "main" }.to_owned(),
            legacy_environments: index % 3 == 2,
            team,
        });
    }
    history
}

/// What a job of a pipeline's plan does.
#[derive(Debug, Clone)]
struct JobSpec {
    name: String,
    allow_failure: bool,
    /// Probability that a try fails.
    fail: f64,
    /// Running time range, seconds.
    seconds: (i64, i64),
    /// A manual job: waits to be played.
    manual: bool,
    environment: Option<(String, Option<&'static str>)>,
}

impl JobSpec {
    fn new(name: &str, fail: f64, seconds: (i64, i64)) -> Self {
        Self {
            name: name.to_owned(),
            allow_failure: false,
            fail,
            seconds,
            manual: false,
            environment: None,
        }
    }
}

/// A merge waiting for the main line to be built: (time, merge request, who merged).
type Merge = (i64, usize, usize);

struct ProjectGenerator<'h> {
    history: &'h mut History,
    project: usize,
    rng: Rng,
    days: u32,
    /// Id counters, within the project's own ranges.
    next_pipeline: u64,
    next_job: u64,
    next_note: u64,
    next_deployment: u64,
    next_sha: u64,
    next_mr: u64,
    next_issue: u64,
    next_tag: u64,
    /// The default branch's head and its commit time.
    main_head: (String, i64),
}

impl<'h> ProjectGenerator<'h> {
    fn new(history: &'h mut History, project: usize, seed: u64, days: u32) -> Self {
        let base = history.projects[project].id;
        Self {
            history,
            project,
            rng: Rng::new(seed ^ base.wrapping_mul(0x0100_0000_01B3)),
            days,
            next_pipeline: base * 1_000_000,
            next_job: base * 100_000_000,
            next_note: base * 10_000_000,
            next_deployment: base * 100_000,
            next_sha: 0,
            next_mr: 0,
            next_issue: 0,
            next_tag: 0,
            main_head: (String::new(), START - DAY),
        }
    }

    fn project_id(&self) -> u64 {
        self.history.projects[self.project].id
    }

    fn team(&self) -> Vec<usize> {
        self.history.projects[self.project].team.clone()
    }

    fn sha(&mut self) -> String {
        self.next_sha += 1;
        let a = self.project_id().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.next_sha;
        let mut mix = Rng::new(a);
        format!(
            "{:016x}{:016x}{:08x}",
            mix.next_u64(),
            mix.next_u64(),
            mix.next_u64() as u32
        )
    }

    fn commit(&mut self, at: i64, author: usize, title: String) -> Commit {
        Commit {
            sha: self.sha(),
            committed_at: at,
            title,
            author,
        }
    }

    fn push(
        &mut self,
        ref_name: &str,
        tag: bool,
        before: &str,
        commits: Vec<Commit>,
        user: usize,
        at: i64,
    ) {
        let after = commits
            .last()
            .map_or_else(|| before.to_owned(), |c| c.sha.clone());
        let delivered = self.history.projects[self.project]
            .rename
            .as_ref()
            .is_none_or(|(renamed_at, _)| at >= *renamed_at);
        self.history.pushes.push(Push {
            project: self.project,
            ref_name: ref_name.to_owned(),
            tag,
            before: before.to_owned(),
            after,
            commits,
            user,
            at,
            delivered,
        });
    }

    fn run(mut self) {
        let start = self.history.start;
        let team = self.team();
        let default_branch = self.history.projects[self.project].default_branch.clone();
        // The default branch exists before the history starts.
        let initial = self.commit(start - DAY, team[0], "Initial commit".to_owned());
        self.main_head = (initial.sha.clone(), initial.committed_at);
        let mut merges: Vec<Merge> = Vec::new();
        for day in 0..self.days {
            let morning = start + i64::from(day) * DAY;
            let weekday = day % 7 < 5;
            let mut starts: Vec<(i64, usize)> = Vec::new();
            for &developer in &team {
                if self.rng.chance(if weekday { 0.3 } else { 0.03 }) {
                    starts.push((
                        morning + 8 * HOUR + self.rng.between(0, 9 * HOUR),
                        developer,
                    ));
                }
            }
            starts.sort_unstable();
            for (at, developer) in starts {
                if let Some(merge) = self.feature(developer, at) {
                    merges.push(merge);
                }
            }
            if weekday && self.rng.chance(0.3) {
                let author = self.rng.pick(&team);
                let at = morning + 7 * HOUR + self.rng.between(0, 10 * HOUR);
                self.issue(author, at, false);
            }
        }
        // Nightly pipelines and the main line, in time order.
        let mut nightly: Vec<i64> = (0..self.days)
            .filter(|_| self.rng.chance(0.4))
            .map(|day| start + i64::from(day) * DAY + 2 * HOUR)
            .collect();
        merges.sort_unstable();
        let mut plays: Vec<(i64, usize, usize)> = Vec::new();
        let mut merges = merges.into_iter().peekable();
        nightly.push(i64::MAX);
        for night in nightly {
            while let Some(&(at, merge_request, merger)) = merges.peek() {
                if at > night {
                    break;
                }
                merges.next();
                if let Some(play) = self.main_line(at, merge_request, merger, &default_branch) {
                    plays.push(play);
                }
            }
            if night != i64::MAX {
                let (sha, commit_at) = self.main_head.clone();
                let user = self.rng.pick(&team);
                let plan = self.plan(false, false);
                let at = night + self.rng.between(0, 120);
                self.pipeline(
                    (&default_branch, &sha, commit_at),
                    ("schedule", PipelineKind::Branch, None),
                    user,
                    at,
                    plan,
                );
            }
        }
        plays.sort_unstable();
        self.production(plays);
    }

    /// A feature: branch, pushes, merge request, review; returns its merge, if merged.
    fn feature(&mut self, author: usize, at: i64) -> Option<Merge> {
        let team = self.team();
        self.next_mr += 1;
        let iid = self.next_mr;
        let username = self.history.developers[author].username.clone();
        let branch = format!("feature/{iid}-{username}");
        let target = self.history.projects[self.project].default_branch.clone();
        // Commits, then the push that creates the branch.
        let count = self.rng.between(1, 4);
        let mut time = at - self.rng.between(10 * MINUTE, 4 * HOUR);
        let mut commits = Vec::new();
        for k in 0..count {
            commits.push(self.commit(time, author, format!("Work on !{iid}, part {}", k + 1)));
            time += self
                .rng
                .between(MINUTE, (at - time).max(2 * MINUTE) / (count - k).max(1));
        }
        let first_commit_at = commits[0].committed_at;
        let mut branch_commits = commits.clone();
        let mut head = commits.last().cloned().expect("a commit");
        self.push(&branch, false, ZERO_SHA, commits, author, at);
        let plan = self.plan(false, false);
        let created = at + self.rng.between(2, 20);
        self.pipeline(
            (&branch, &head.sha, head.committed_at),
            ("push", PipelineKind::Branch, None),
            author,
            created,
            plan,
        );
        // The merge request.
        let opened = at + self.rng.between(5 * MINUTE, 3 * HOUR);
        let draft = self.rng.chance(0.3);
        let others: Vec<usize> = team.iter().copied().filter(|d| *d != author).collect();
        let mut reviewers = Vec::new();
        if !others.is_empty() {
            reviewers.push(self.rng.pick(&others));
            let second = self.rng.pick(&others);
            if self.rng.chance(0.4) && !reviewers.contains(&second) {
                reviewers.push(second);
            }
        }
        let index = self.history.merge_requests.len();
        let project_id = self.project_id();
        self.history.merge_requests.push(MergeRequest {
            project: self.project,
            id: project_id * 100_000 + iid,
            iid,
            author,
            title: format!("Feature {iid} by {username}"),
            source_branch: branch.clone(),
            target_branch: target,
            created_at: opened,
            events: Vec::new(),
            notes: Vec::new(),
            first_commit_at: Some(first_commit_at),
        });
        let mut cursor = opened;
        let event = |action, state, at, actor, draft, head: &Commit, reviewers: &[usize]| {
            MergeRequestEvent {
                action,
                state,
                at,
                actor,
                draft,
                draft_before: None,
                reviewers: reviewers.to_vec(),
                reviewers_before: None,
                oldrev: None,
                head: head.clone(),
            }
        };
        self.mr_event(
            index,
            event("open", "opened", opened, author, draft, &head, &reviewers),
        );
        let created = opened + self.rng.between(2, 20);
        self.mr_pipeline(index, &head, author, created);
        if draft {
            cursor += self.rng.between(30 * MINUTE, DAY);
            let mut ready = event("update", "opened", cursor, author, false, &head, &reviewers);
            ready.draft_before = Some(true);
            self.mr_event(index, ready);
        }
        // Comments, then review rounds (new commits) with more comments.
        let rounds = if self.rng.chance(0.45) {
            1 + u32::from(self.rng.chance(0.3))
        } else {
            0
        };
        for round in 0..=rounds {
            cursor += self
                .rng
                .between(10 * MINUTE, if round == 0 { DAY } else { 6 * HOUR });
            for &reviewer in &reviewers {
                if self.rng.chance(0.7) {
                    cursor += self.rng.between(1, 3 * HOUR);
                    let kind = self.rng.pick(&["DiffNote", "DiscussionNote", ""]);
                    self.note(index, reviewer, cursor, false, kind);
                }
            }
            if self.rng.chance(0.4) {
                cursor += self.rng.between(MINUTE, 2 * HOUR);
                self.note(index, author, cursor, false, "DiscussionNote");
            }
            if round == rounds {
                break;
            }
            // A new push to the source branch: a review round.
            cursor += self.rng.between(30 * MINUTE, 6 * HOUR);
            let count = self.rng.between(1, 3);
            let mut commits = Vec::new();
            for k in 0..count {
                let at = cursor - (count - k) * self.rng.between(MINUTE, 20 * MINUTE);
                commits.push(self.commit(at, author, format!("Address review of !{iid}")));
            }
            let before = head.sha.clone();
            head = commits.last().cloned().expect("a commit");
            branch_commits.extend(commits.iter().cloned());
            self.push(&branch, false, &before, commits, author, cursor);
            cursor += self.rng.between(5, 60);
            let mut update = event("update", "opened", cursor, author, false, &head, &reviewers);
            update.oldrev = Some(before);
            self.mr_event(index, update);
            self.note(index, author, cursor + 1, true, "");
            let created = cursor + self.rng.between(2, 20);
            self.mr_pipeline(index, &head, author, created);
        }
        // Approvals.
        let approvers: Vec<usize> = reviewers
            .iter()
            .copied()
            .filter(|_| self.rng.chance(0.85))
            .collect();
        for (k, &approver) in approvers.iter().enumerate() {
            cursor += self.rng.between(10 * MINUTE, 5 * HOUR);
            let action = if k + 1 == approvers.len() {
                "approved"
            } else {
                "approval"
            };
            self.mr_event(
                index,
                event(action, "opened", cursor, approver, false, &head, &reviewers),
            );
        }
        // The outcome: merged, closed, or left open.
        let outcome = self.rng.below(100);
        let end = self.history.end;
        if outcome < 72 && !approvers.is_empty() {
            cursor += self.rng.between(5 * MINUTE, 4 * HOUR);
            if cursor < end {
                let merger = if self.rng.chance(0.7) {
                    author
                } else {
                    approvers[0]
                };
                self.mr_event(
                    index,
                    event("merge", "merged", cursor, merger, false, &head, &reviewers),
                );
                let _ = branch_commits;
                return Some((cursor, index, merger));
            }
        } else if outcome < 87 {
            cursor += self.rng.between(HOUR, 3 * DAY);
            if cursor < end {
                self.mr_event(
                    index,
                    event("close", "closed", cursor, author, false, &head, &reviewers),
                );
            }
        }
        None
    }

    /// Adds an event, keeping event times strictly increasing.
    fn mr_event(&mut self, index: usize, mut event: MergeRequestEvent) {
        let merge_request = &mut self.history.merge_requests[index];
        if let Some(last) = merge_request.events.last() {
            event.at = event.at.max(last.at + 1);
        }
        merge_request.events.push(event);
    }

    fn note(
        &mut self,
        index: usize,
        author: usize,
        at: i64,
        system: bool,
        note_type: &'static str,
    ) {
        self.next_note += 1;
        let id = self.next_note;
        self.history.merge_requests[index].notes.push(Note {
            id,
            at,
            author,
            system,
            note_type,
        });
    }

    fn mr_pipeline(&mut self, index: usize, head: &Commit, user: usize, at: i64) {
        let branch = self.history.merge_requests[index].source_branch.clone();
        let plan = self.plan(false, false);
        self.pipeline(
            (&branch, &head.sha, head.committed_at),
            (
                "merge_request_event",
                PipelineKind::MergeRequest(index),
                None,
            ),
            user,
            at,
            plan,
        );
    }

    /// A merge reaching the default branch: its push, its pipeline (with deployments), maybe
    /// a tag. Returns the production deployment job waiting to be played, if any.
    fn main_line(
        &mut self,
        at: i64,
        index: usize,
        merger: usize,
        default_branch: &str,
    ) -> Option<(i64, usize, usize)> {
        let (iid, branch) = {
            let mr = &self.history.merge_requests[index];
            (mr.iid, mr.source_branch.clone())
        };
        let merge = self.commit(
            at,
            merger,
            format!("Merge branch '{branch}' into '{default_branch}'"),
        );
        let before = self.main_head.0.clone();
        self.main_head = (merge.sha.clone(), merge.committed_at);
        let _ = iid;
        self.push(
            default_branch,
            false,
            &before,
            vec![merge.clone()],
            merger,
            at + 1,
        );
        let plan = self.plan(true, self.project % 2 == 0);
        let created = at + self.rng.between(3, 30);
        let pipeline = self.pipeline(
            (default_branch, &merge.sha, merge.committed_at),
            ("push", PipelineKind::Branch, None),
            merger,
            created,
            plan,
        );
        let last = self.history.pipelines[pipeline].last().clone();
        if last.status == "success" && self.rng.chance(0.1) {
            self.next_tag += 1;
            let tag = format!("v1.{}", self.next_tag);
            let tag_at = last.finished_at.unwrap_or(at) + self.rng.between(HOUR, DAY);
            self.push(&tag, true, ZERO_SHA, Vec::new(), merger, tag_at);
            if let Some(push) = self.history.pushes.last_mut() {
                push.after = merge.sha.clone();
            }
            let plan = self.plan(false, false);
            let created = tag_at + self.rng.between(2, 20);
            self.pipeline(
                (&tag, &merge.sha, merge.committed_at),
                ("push", PipelineKind::Tag, None),
                merger,
                created,
                plan,
            );
        }
        let manual = self.history.pipelines[pipeline]
            .jobs
            .iter()
            .position(|job| job.last().status == "manual")?;
        if !self.rng.chance(0.7) {
            return None;
        }
        let play_at = last.finished_at.unwrap_or(at) + self.rng.between(10 * MINUTE, 8 * HOUR);
        Some((play_at, pipeline, manual))
    }

    /// The jobs of a pipeline by stage. `deploy`: the default branch's deployments;
    /// `child`: a trigger of a child pipeline.
    fn plan(&mut self, deploy: bool, child: bool) -> Vec<(&'static str, Vec<JobSpec>)> {
        let mut lint = JobSpec::new("lint", 0.25, (20, 60));
        lint.allow_failure = true;
        let mut test: Vec<JobSpec> = (1..=3)
            .map(|k| JobSpec::new(&format!("rspec {k}/3"), 0.1, (120, 600)))
            .collect();
        test.push(lint);
        let mut plan = vec![
            ("build", vec![JobSpec::new("compile", 0.04, (60, 240))]),
            ("test", test),
        ];
        if child {
            plan[1].1.push(JobSpec {
                name: "trigger-docs".to_owned(),
                ..JobSpec::new("", 0.0, (0, 0))
            });
        }
        if deploy {
            let legacy = self.history.projects[self.project].legacy_environments;
            let tier = |tier| (!legacy).then_some(tier);
            let production = if legacy && self.project % 2 == 1 {
                "prod"
            } else {
                "production"
            };
            let mut staging = JobSpec::new("deploy-staging", 0.05, (30, 120));
            staging.environment = Some(("staging".to_owned(), tier("staging")));
            let mut prod = JobSpec::new("deploy-production", 0.12, (30, 180));
            prod.manual = true;
            prod.environment = Some((production.to_owned(), tier("production")));
            plan.push(("deploy", vec![staging, prod]));
        }
        plan
    }

    /// Runs a pipeline through its plan; returns its index.
    fn pipeline(
        &mut self,
        (git_ref, sha, commit_at): (&str, &str, i64),
        (source, kind, upstream): (&'static str, PipelineKind, Option<(u64, u64, u64)>),
        user: usize,
        created_at: i64,
        plan: Vec<(&'static str, Vec<JobSpec>)>,
    ) -> usize {
        self.next_pipeline += 1;
        let id = self.next_pipeline;
        let canceled = self.rng.chance(0.03);
        let queued = self.rng.between(1, 40);
        let started = created_at + queued;
        let mut pipeline = Pipeline {
            project: self.project,
            id,
            iid: id % 1_000_000,
            git_ref: git_ref.to_owned(),
            sha: sha.to_owned(),
            commit_at,
            source,
            kind,
            upstream,
            user,
            created_at,
            states: vec![
                PipelineState {
                    status: "created",
                    at: created_at,
                    finished_at: None,
                    duration: None,
                    queued: None,
                },
                PipelineState {
                    status: "pending",
                    at: created_at + 1,
                    finished_at: None,
                    duration: None,
                    queued: None,
                },
                PipelineState {
                    status: "running",
                    at: started,
                    finished_at: None,
                    duration: None,
                    queued: Some(queued),
                },
            ],
            jobs: Vec::new(),
        };
        let mut time = started;
        let mut failed = false;
        let mut stopped = false;
        let mut children = Vec::new();
        for (stage, specs) in plan {
            // Jobs of a stage run together: only earlier stages' outcomes hold them back.
            let blocked = (failed, stopped);
            let mut stage_end = time;
            for spec in specs {
                if spec.name == "trigger-docs" {
                    // A bridge: no Job Hook; it starts a child pipeline.
                    self.next_job += 1;
                    if !blocked.0 && !blocked.1 {
                        children.push((self.next_job, time + self.rng.between(1, 10)));
                    }
                    continue;
                }
                self.next_job += 1;
                let mut job = Job {
                    id: self.next_job,
                    name: spec.name.clone(),
                    stage,
                    allow_failure: spec.allow_failure,
                    retries_count: 0,
                    environment: spec.environment.clone(),
                    created_at,
                    states: vec![job_state("created", created_at)],
                };
                if blocked.0 || blocked.1 {
                    let status = if blocked.1 { "canceled" } else { "skipped" };
                    job.states.push(job_state(status, time));
                    pipeline.jobs.push(job);
                    continue;
                }
                if spec.manual {
                    job.states.push(job_state("manual", created_at));
                    pipeline.jobs.push(job);
                    continue;
                }
                let finish = self.run_job(&mut job, &spec, time, canceled && stage == "test");
                stage_end = stage_end.max(finish);
                if let Some((environment, tier)) = &spec.environment {
                    // An automatic deployment (staging): its deployment follows the job.
                    let started = job.last().started_at.unwrap_or(time);
                    self.next_deployment += 1;
                    self.history.deployments.push(Deployment {
                        project: self.project,
                        id: self.next_deployment,
                        job_id: Some(job.id),
                        environment: environment.clone(),
                        tier: *tier,
                        git_ref: git_ref.to_owned(),
                        sha: sha.to_owned(),
                        commit_title: "Merge".to_owned(),
                        user,
                        states: vec![("running", started), (job.last().status, finish)],
                    });
                }
                let mut last_status = job.last().status;
                let reason = job.last().failure_reason;
                pipeline.jobs.push(job);
                if last_status == "failed"
                    && !spec.allow_failure
                    && (reason == "runner_system_failure" || self.rng.chance(0.6))
                {
                    // An automatic retry: a new job of the same name.
                    self.next_job += 1;
                    let retry_at = finish + self.rng.between(2, 30);
                    let mut retry = Job {
                        id: self.next_job,
                        name: spec.name.clone(),
                        stage,
                        allow_failure: spec.allow_failure,
                        retries_count: 1,
                        environment: spec.environment.clone(),
                        created_at: retry_at,
                        states: vec![job_state("created", retry_at)],
                    };
                    let mut flaky = spec.clone();
                    flaky.fail = 0.35;
                    let finish = self.run_job(&mut retry, &flaky, retry_at, false);
                    stage_end = stage_end.max(finish);
                    last_status = retry.last().status;
                    pipeline.jobs.push(retry);
                }
                if last_status == "failed" && !spec.allow_failure {
                    failed = true;
                }
                if last_status == "canceled" {
                    stopped = true;
                }
            }
            time = stage_end + self.rng.between(1, 5);
        }
        let finished = time;
        let status = if stopped {
            "canceled"
        } else if failed {
            "failed"
        } else {
            "success"
        };
        pipeline.states.push(PipelineState {
            status,
            at: finished,
            finished_at: Some(finished),
            duration: Some(finished - started),
            queued: Some(queued),
        });
        let project_id = self.project_id();
        let index = self.history.pipelines.len();
        let (git_ref, sha) = (pipeline.git_ref.clone(), pipeline.sha.clone());
        self.history.pipelines.push(pipeline);
        for (bridge, at) in children {
            let plan = vec![
                ("build", vec![JobSpec::new("docs-build", 0.05, (30, 90))]),
                ("test", {
                    let mut check = JobSpec::new("docs-links", 0.3, (10, 40));
                    check.allow_failure = true;
                    vec![check]
                }),
            ];
            self.pipeline(
                (&git_ref, &sha, commit_at),
                (
                    "parent_pipeline",
                    PipelineKind::Branch,
                    Some((project_id, id, bridge)),
                ),
                user,
                at,
                plan,
            );
        }
        index
    }

    /// A job's pending, running and final states from `at`; returns its finish.
    fn run_job(&mut self, job: &mut Job, spec: &JobSpec, at: i64, cancel: bool) -> i64 {
        let pending = at + self.rng.between(0, 3);
        job.states.push(job_state("pending", pending));
        let queued = self.rng.between(1, 30);
        let started = pending + queued;
        let runner = self.rng.below(RUNNERS.len() as u64) as usize;
        let queued = queued as f64 + self.rng.fraction();
        let mut running = job_state("running", started);
        running.started_at = Some(started);
        running.queued = Some(queued);
        running.runner = Some(runner);
        job.states.push(running);
        let seconds = self.rng.between(spec.seconds.0, spec.seconds.1);
        let seconds = if cancel { seconds / 2 } else { seconds };
        let finish = started + seconds;
        let (status, reason) = if cancel {
            ("canceled", "")
        } else if self.rng.chance(spec.fail) {
            ("failed", self.rng.pick(&FAILURES))
        } else {
            ("success", "")
        };
        let mut last = job_state(status, finish);
        last.started_at = Some(started);
        last.finished_at = Some(finish);
        last.duration = Some(seconds as f64 + self.rng.fraction());
        last.queued = Some(queued);
        last.runner = Some(runner);
        last.failure_reason = reason;
        job.states.push(last);
        finish
    }

    /// Production: plays the manual deploy jobs in time order (the pipeline runs again and
    /// ends in the job's outcome), then rollbacks and incidents after some deployments.
    fn production(&mut self, plays: Vec<(i64, usize, usize)>) {
        let team = self.team();
        let mut deployed: Vec<String> = Vec::new();
        for (at, pipeline, job) in plays {
            let user = self.rng.pick(&team);
            let spec = JobSpec::new("deploy-production", 0.12, (30, 180));
            let mut played = self.history.pipelines[pipeline].jobs[job].clone();
            let finish = self.run_job(&mut played, &spec, at, false);
            let status = played.last().status;
            let started = played.last().started_at.unwrap_or(at);
            let duration = played.last().duration.unwrap_or_default();
            let environment = played.environment.clone().expect("a deploy job");
            let job_id = played.id;
            let project_id = self.project_id();
            {
                let pipeline = &mut self.history.pipelines[pipeline];
                pipeline.jobs[job] = played;
                let before = pipeline.last().clone();
                pipeline.states.push(PipelineState {
                    status: "running",
                    at,
                    finished_at: None,
                    duration: None,
                    queued: before.queued,
                });
                let final_status = if status == "failed" {
                    "failed"
                } else {
                    before.status
                };
                pipeline.states.push(PipelineState {
                    status: final_status,
                    at: finish + 1,
                    finished_at: Some(finish + 1),
                    duration: Some(before.duration.unwrap_or_default() + duration as i64),
                    queued: before.queued,
                });
            }
            let (git_ref, sha) = {
                let p = &self.history.pipelines[pipeline];
                (p.git_ref.clone(), p.sha.clone())
            };
            self.next_deployment += 1;
            let _ = project_id;
            self.history.deployments.push(Deployment {
                project: self.project,
                id: self.next_deployment,
                job_id: Some(job_id),
                environment: environment.0.clone(),
                tier: environment.1,
                git_ref: git_ref.clone(),
                sha: sha.clone(),
                commit_title: "Merge".to_owned(),
                user,
                states: vec![("running", started), (status, finish)],
            });
            if status == "success" {
                let previous = deployed.last().cloned();
                deployed.push(sha.clone());
                // Every project rolls back its second successful deployment (so that even a
                // small history has rollbacks), and later ones now and then.
                let roll_back = deployed.len() == 2 || self.rng.chance(0.08);
                if let Some(previous) = previous.filter(|_| roll_back) {
                    // A rollback through the API: no job.
                    let at = finish + self.rng.between(20 * MINUTE, 3 * HOUR);
                    self.next_deployment += 1;
                    self.history.deployments.push(Deployment {
                        project: self.project,
                        id: self.next_deployment,
                        job_id: None,
                        environment: environment.0.clone(),
                        tier: environment.1,
                        git_ref: git_ref.clone(),
                        sha: previous.clone(),
                        commit_title: "Rollback".to_owned(),
                        user,
                        states: vec![("running", at), ("success", at + self.rng.between(20, 90))],
                    });
                    deployed.push(previous);
                }
                if self.rng.chance(0.15) {
                    let at = finish + self.rng.between(10 * MINUTE, 3 * HOUR);
                    self.issue(user, at, true);
                }
            }
        }
    }

    /// An issue (or an incident) opened at `at`, maybe relabelled, maybe closed.
    fn issue(&mut self, author: usize, at: i64, incident: bool) {
        let team = self.team();
        self.next_issue += 1;
        let iid = self.next_issue;
        let by_label = incident && self.rng.chance(0.4);
        let issue_type = if incident && !by_label {
            "Incident"
        } else {
            "Issue"
        };
        let label_at_open = by_label && self.rng.chance(0.5);
        let mut labels: Vec<&'static str> = vec![if incident { "production" } else { "bug" }];
        if label_at_open {
            labels.push("incident");
        }
        let mut events = vec![IssueEvent {
            action: "open",
            state: "opened",
            at,
            actor: author,
            labels: labels.clone(),
            labels_before: None,
        }];
        let mut cursor = at;
        if (by_label && !label_at_open) || (!incident && self.rng.chance(0.4)) {
            cursor += self.rng.between(MINUTE, 2 * HOUR);
            let before = labels.clone();
            labels.push(if incident { "incident" } else { "priority::2" });
            events.push(IssueEvent {
                action: "update",
                state: "opened",
                at: cursor,
                actor: self.rng.pick(&team),
                labels: labels.clone(),
                labels_before: Some(before),
            });
        }
        if self.rng.chance(if incident { 0.85 } else { 0.7 }) {
            cursor += if incident {
                self.rng.between(15 * MINUTE, 2 * DAY)
            } else {
                self.rng.between(HOUR, 6 * DAY)
            };
            events.push(IssueEvent {
                action: "close",
                state: "closed",
                at: cursor,
                actor: self.rng.pick(&team),
                labels: labels.clone(),
                labels_before: None,
            });
        }
        let project_id = self.project_id();
        self.history.issues.push(Issue {
            project: self.project,
            id: project_id * 100_000 + iid,
            iid,
            issue_type,
            title: format!("{} {iid}", if incident { "Outage" } else { "Bug" }),
            author,
            created_at: at,
            events,
        });
    }
}

fn job_state(status: &'static str, at: i64) -> JobState {
    JobState {
        status,
        at,
        started_at: None,
        finished_at: None,
        duration: None,
        queued: None,
        runner: None,
        failure_reason: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_history_and_another_seed_another() {
        let a = generate(Size::small(), 7);
        assert_eq!(a, generate(Size::small(), 7));
        assert_ne!(a, generate(Size::small(), 8));
    }

    #[test]
    fn the_history_one_project_at_a_time_is_the_whole_history() {
        let size = Size::small();
        let whole = generate(size, 5);
        let parts: Vec<History> = project_histories(size, 5).collect();
        assert_eq!(parts.len(), whole.projects.len());
        let pipelines: Vec<u64> = parts
            .iter()
            .flat_map(|part| part.pipelines.iter().map(|p| p.id))
            .collect();
        let want: Vec<u64> = whole.pipelines.iter().map(|p| p.id).collect();
        assert_eq!(pipelines, want);
        let hooks: usize = parts
            .iter()
            .map(|part| super::super::hooks(part).len())
            .sum();
        assert_eq!(hooks, super::super::hooks(&whole).len());
    }

    #[test]
    /// With the seed of the end-to-end test (`tests/tests/e2e/ground_truth.rs`).
    fn a_small_history_has_every_kind_of_thing() {
        let history = generate(Size::small(), 11);
        let jobs = || history.pipelines.iter().flat_map(|p| &p.jobs);
        assert!(jobs().any(|j| j.retries_count > 0), "retries");
        assert!(jobs().any(|j| j.last().status == "manual"), "manual jobs");
        assert!(jobs().any(|j| j.allow_failure && j.last().status == "failed"));
        assert!(
            history.pipelines.iter().any(|p| p.upstream.is_some()),
            "children"
        );
        assert!(history
            .pipelines
            .iter()
            .any(|p| p.last().status == "failed"));
        assert!(history
            .merge_requests
            .iter()
            .any(|m| m.merged_at().is_some()));
        assert!(history
            .merge_requests
            .iter()
            .any(|m| m.closed_at().is_some()));
        assert!(history.merge_requests.iter().any(|m| m.state() == "opened"));
        assert!(history.deployments.iter().any(|d| d.last().0 == "success"));
        assert!(history
            .deployments
            .iter()
            .any(|d| d.tier == Some("production")));
        assert!(history.deployments.iter().any(|d| d.tier.is_none()));
        assert!(
            history
                .deployments
                .iter()
                .any(|d| d.last().0 == "failed" && d.tier == Some("production")),
            "failed production deployments"
        );
        assert!(
            history.deployments.iter().any(|d| d.job_id.is_none()),
            "rollbacks"
        );
        assert!(history.issues.iter().any(Issue::is_incident));
        assert!(history.projects.iter().any(|p| p.rename.is_some()));
    }
}
