//! What happened in a generated organisation: plain values, every state each object went
//! through, in order. Times are whole seconds since the Unix epoch, in UTC.

/// How big a history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Projects, spread over a few groups.
    pub projects: usize,
    /// Developers, each a member of a few projects.
    pub developers: usize,
    /// Days of history.
    pub days: u32,
}

impl Size {
    /// A history of a few thousand hooks, for `make test`.
    pub fn small() -> Self {
        Self {
            projects: 3,
            developers: 6,
            days: 14,
        }
    }

    /// A year of a 1,000-developer organisation, for `make bench`.
    pub fn large() -> Self {
        Self {
            projects: 300,
            developers: 1_000,
            days: 365,
        }
    }
}

/// The 40 zeros GitLab sends for "no commit" (a created or deleted ref).
pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A developer: a GitLab user.
#[derive(Debug, Clone, PartialEq)]
pub struct Developer {
    /// User id.
    pub id: u64,
    /// Username (`actor_username`, `reviewer`).
    pub username: String,
    /// Display name.
    pub name: String,
}

/// A project, with its one rename if it had one.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Project id.
    pub id: u64,
    /// Path with namespace before any rename.
    pub first_path: String,
    /// Rename: when, and the path after it (the project's current path).
    pub rename: Option<(i64, String)>,
    /// Default branch (never changes).
    pub default_branch: String,
    /// Whether its deployment hooks are of an older GitLab (no `environment_tier`): production
    /// is then found by the environment's name.
    pub legacy_environments: bool,
    /// Developers working on it (indexes into [`History::developers`]).
    pub team: Vec<usize>,
}

impl Project {
    /// The path GitLab sends in a hook describing a state reached at `at`.
    pub fn path_at(&self, at: i64) -> &str {
        match &self.rename {
            Some((renamed_at, path)) if at >= *renamed_at => path,
            _ => &self.first_path,
        }
    }

    /// The current path: what `projects` says and every query reports.
    pub fn current_path(&self) -> &str {
        self.rename
            .as_ref()
            .map_or(self.first_path.as_str(), |(_, path)| path)
    }
}

/// A commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Full SHA.
    pub sha: String,
    /// Committer date.
    pub committed_at: i64,
    /// Title (first line of the message).
    pub title: String,
    /// Author (index into developers).
    pub author: usize,
}

/// A push of a branch or tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// Index into projects.
    pub project: usize,
    /// Branch or tag name.
    pub ref_name: String,
    /// A tag push.
    pub tag: bool,
    /// Head before (zeros when created).
    pub before: String,
    /// Head after.
    pub after: String,
    /// Commits pushed (at most 20 listed; we never push more).
    pub commits: Vec<Commit>,
    /// Pusher (index into developers).
    pub user: usize,
    /// When it happened (hooks carry no time: the push is observed at receipt).
    pub at: i64,
    /// Whether its hook reached Hookline (see the module header on renames).
    pub delivered: bool,
}

/// One state of a pipeline, as one Pipeline Hook reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    /// `created`, `pending`, `running`, `success`, `failed`, `canceled`.
    pub status: &'static str,
    /// When the state was reached.
    pub at: i64,
    /// `finished_at` in the hook.
    pub finished_at: Option<i64>,
    /// `duration` in the hook (whole seconds).
    pub duration: Option<i64>,
    /// `queued_duration` in the hook (whole seconds).
    pub queued: Option<i64>,
}

/// Why a pipeline ran, as its payload says it.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineKind {
    /// A branch pipeline (source `push`, `schedule`, `web`).
    Branch,
    /// A tag pipeline.
    Tag,
    /// A merge request pipeline of the merge request (index into merge_requests).
    MergeRequest(usize),
}

/// A pipeline with its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Index into projects.
    pub project: usize,
    /// Global id.
    pub id: u64,
    /// Project-scoped number.
    pub iid: u64,
    /// Branch or tag name.
    pub git_ref: String,
    /// Commit.
    pub sha: String,
    /// That commit's committer date.
    pub commit_at: i64,
    /// `push`, `merge_request_event`, `schedule`, `parent_pipeline`, `web`.
    pub source: &'static str,
    /// What it ran for.
    pub kind: PipelineKind,
    /// Child pipelines: the parent (project id, pipeline id, trigger job id).
    pub upstream: Option<(u64, u64, u64)>,
    /// Who triggered it (index into developers).
    pub user: usize,
    /// Creation time.
    pub created_at: i64,
    /// Every state, in order.
    pub states: Vec<PipelineState>,
    /// Its jobs, every try, in id order.
    pub jobs: Vec<Job>,
}

impl Pipeline {
    /// The latest state.
    pub fn last(&self) -> &PipelineState {
        self.states.last().expect("a pipeline has states")
    }
}

/// One state of a job, as one Job Hook reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// `created`, `manual`, `pending`, `running`, `success`, `failed`, `canceled`, `skipped`.
    pub status: &'static str,
    /// When the state was reached.
    pub at: i64,
    /// Start of running.
    pub started_at: Option<i64>,
    /// End of running.
    pub finished_at: Option<i64>,
    /// `build_duration` (fractional seconds).
    pub duration: Option<f64>,
    /// `build_queued_duration`.
    pub queued: Option<f64>,
    /// The runner (index into [`RUNNERS`]) once one picked the job up.
    pub runner: Option<usize>,
    /// Why it failed (failed states only).
    pub failure_reason: &'static str,
}

/// A job (one try).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Global id.
    pub id: u64,
    /// Name (`rspec 1/3` for parallel jobs).
    pub name: String,
    /// Stage.
    pub stage: &'static str,
    /// A failure does not fail the pipeline.
    pub allow_failure: bool,
    /// Which try (0 = first).
    pub retries_count: u32,
    /// Environment (name, tier) for deploy jobs.
    pub environment: Option<(String, Option<&'static str>)>,
    /// Creation time.
    pub created_at: i64,
    /// Every state, in order.
    pub states: Vec<JobState>,
}

impl Job {
    /// The latest state.
    pub fn last(&self) -> &JobState {
        self.states.last().expect("a job has states")
    }
}

/// The runners jobs run on: (id, description, type).
pub const RUNNERS: [(u64, &str, &str); 4] = [
    (11, "shared-runner-1", "instance_type"),
    (12, "shared-runner-2", "instance_type"),
    (21, "group-runner-large", "group_type"),
    (31, "project-runner-arm", "project_type"),
];

/// One event of a merge request: one Merge Request Hook.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRequestEvent {
    /// `open`, `update`, `approval`, `approved`, `merge`, `close`.
    pub action: &'static str,
    /// State after it.
    pub state: &'static str,
    /// Its time (`updated_at` in the hook).
    pub at: i64,
    /// Who (index into developers).
    pub actor: usize,
    /// Draft after it.
    pub draft: bool,
    /// Draft before it, when it changed the flag.
    pub draft_before: Option<bool>,
    /// Reviewers (user indexes) after it, and before it when it changed them.
    pub reviewers: Vec<usize>,
    /// Reviewers before, when the event changed them.
    pub reviewers_before: Option<Vec<usize>>,
    /// Head before, for updates that pushed commits (a review round).
    pub oldrev: Option<String>,
    /// Head commit after it.
    pub head: Commit,
}

/// A comment on a merge request.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Note id.
    pub id: u64,
    /// Creation time.
    pub at: i64,
    /// Author (index into developers).
    pub author: usize,
    /// Written by GitLab ("added 1 commit").
    pub system: bool,
    /// `DiffNote`, `DiscussionNote` or `''`.
    pub note_type: &'static str,
}

/// A merge request.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRequest {
    /// Index into projects.
    pub project: usize,
    /// Global id.
    pub id: u64,
    /// Project-scoped number.
    pub iid: u64,
    /// Author (index into developers).
    pub author: usize,
    /// Title.
    pub title: String,
    /// Source branch (unique in the project).
    pub source_branch: String,
    /// Target branch.
    pub target_branch: String,
    /// Creation time.
    pub created_at: i64,
    /// Every event, in order.
    pub events: Vec<MergeRequestEvent>,
    /// Comments.
    pub notes: Vec<Note>,
    /// The earliest commit time of its source branch's pushed commits.
    pub first_commit_at: Option<i64>,
}

impl MergeRequest {
    /// The merge time: the first event seeing the state `merged`.
    pub fn merged_at(&self) -> Option<i64> {
        self.events
            .iter()
            .find(|event| event.state == "merged")
            .map(|event| event.at)
    }

    /// The close time (closed without merge).
    pub fn closed_at(&self) -> Option<i64> {
        self.events
            .iter()
            .find(|event| event.action == "close")
            .map(|event| event.at)
    }

    /// The latest state.
    pub fn state(&self) -> &'static str {
        self.events.last().map_or("opened", |event| event.state)
    }
}

/// A deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Index into projects.
    pub project: usize,
    /// Deployment id.
    pub id: u64,
    /// The job that ran it; none for a rollback through the API.
    pub job_id: Option<u64>,
    /// Environment name.
    pub environment: String,
    /// Environment tier; none for older GitLab versions.
    pub tier: Option<&'static str>,
    /// Deployed ref.
    pub git_ref: String,
    /// Deployed commit.
    pub sha: String,
    /// Its title.
    pub commit_title: String,
    /// Who deployed (index into developers).
    pub user: usize,
    /// Statuses with their `status_changed_at`, in order.
    pub states: Vec<(&'static str, i64)>,
}

impl Deployment {
    /// The latest (status, time).
    pub fn last(&self) -> (&'static str, i64) {
        *self.states.last().expect("a deployment has states")
    }
}

/// One event of an issue: one Issue Hook.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueEvent {
    /// `open`, `update`, `close`.
    pub action: &'static str,
    /// State after it.
    pub state: &'static str,
    /// `updated_at`.
    pub at: i64,
    /// Who (index into developers).
    pub actor: usize,
    /// Labels after it.
    pub labels: Vec<&'static str>,
    /// Labels before it, when it changed them.
    pub labels_before: Option<Vec<&'static str>>,
}

/// An issue or incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Index into projects.
    pub project: usize,
    /// Global id.
    pub id: u64,
    /// Project-scoped number.
    pub iid: u64,
    /// `Issue` or `Incident`.
    pub issue_type: &'static str,
    /// Title.
    pub title: String,
    /// Author (index into developers).
    pub author: usize,
    /// Creation time.
    pub created_at: i64,
    /// Every event, in order.
    pub events: Vec<IssueEvent>,
}

impl Issue {
    /// An incident: type `Incident` or an `incident` label in its latest state.
    pub fn is_incident(&self) -> bool {
        self.issue_type == "Incident"
            || self
                .events
                .last()
                .is_some_and(|event| event.labels.contains(&"incident"))
    }

    /// The close time, if its latest state is closed.
    pub fn closed_at(&self) -> Option<i64> {
        self.events
            .last()
            .filter(|event| event.state == "closed")
            .map(|event| event.at)
    }
}

/// A generated organisation's history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Start (a Monday, 00:00 UTC).
    pub start: i64,
    /// End of the generated days (events of the last features may run a little later).
    pub end: i64,
    /// Developers.
    pub developers: Vec<Developer>,
    /// Projects.
    pub projects: Vec<Project>,
    /// Pushes.
    pub pushes: Vec<Push>,
    /// Pipelines with their jobs.
    pub pipelines: Vec<Pipeline>,
    /// Merge requests.
    pub merge_requests: Vec<MergeRequest>,
    /// Deployments.
    pub deployments: Vec<Deployment>,
    /// Issues and incidents.
    pub issues: Vec<Issue>,
    /// A part of a history streamed one project at a time: the project whose activity it
    /// holds (its hooks name only that project's rename); `None` for a whole history.
    pub only: Option<usize>,
}
