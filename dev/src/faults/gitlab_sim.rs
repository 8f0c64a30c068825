//! A simulated GitLab: a steady stream of webhook deliveries over many projects, recording
//! what every delivery was told.
//!
//! The stream is what an organisation's GitLab sends: pipelines, their jobs and merge requests
//! going through their lifecycles (the generators of [`crate::gitlab`], whose [`Final`] values
//! say what the tables must end in), interleaved with the other hook kinds of
//! [`crate::fixtures::mix`]. It also has GitLab's two kinds of copies: the same delivery sent
//! again with the same `Idempotency-Key` (a resend), and overlapping project and group hooks
//! (the same body under another key and another hook's UUID). Order is shuffled within a
//! small window, as Sidekiq's concurrent workers deliver.
//!
//! GitLab does not retry a failed delivery by itself (it counts the failure and, after
//! several, disables the hook), so neither does [`send`]: a delivery that got no 2xx stays
//! failed unless a scenario explicitly resends it ([`resend_failed`]), as a person does from
//! the hook's *Recent events* page after an outage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use hookline_schemas::testing::fixtures;
use hookline_schemas::testing::gitlab::{
    job_lifecycle, merge_request_lifecycle, pipeline_lifecycle, Final, Hook,
};

/// Project ids of the lifecycles start here, above those of [`fixtures::mix`] (1 to 50), so
/// the typed tables' rows of the lifecycles can be told apart from the mix's.
pub const LIFECYCLE_PROJECTS: u64 = 100_000;

/// GitLab's own timeout for a webhook delivery.
pub const GITLAB_TIMEOUT: Duration = Duration::from_secs(10);

/// What to send.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seeds every random choice, so a failing stream can be replayed.
    pub seed: u64,
    /// Deliveries per second.
    pub rate: f64,
    /// How long the stream lasts; the number of deliveries is `rate × duration`.
    pub duration: Duration,
    /// Share of original deliveries sent a second time with the same `Idempotency-Key`.
    pub repeat_share: f64,
    /// Share of original deliveries also sent by an overlapping group hook (same body, other
    /// key).
    pub overlap_share: f64,
    /// Deliveries are shuffled within consecutive windows of this many.
    pub shuffle_window: usize,
    /// Lifecycles under way at once: each lifecycle's hooks are spread over the stream.
    pub concurrent_lifecycles: usize,
    /// Deliveries in flight at most (GitLab's Sidekiq concurrency); past it the stream waits.
    /// Below ingest's default limit of 256 deliveries at once, which answers more with 503.
    pub max_in_flight: usize,
}

impl SimOptions {
    /// A stream of `rate` deliveries per second for `duration`, with the default shares.
    pub fn new(seed: u64, rate: f64, duration: Duration) -> Self {
        Self {
            seed,
            rate,
            duration,
            repeat_share: 0.05,
            overlap_share: 0.05,
            shuffle_window: 8,
            concurrent_lifecycles: 40,
            max_in_flight: 200,
        }
    }
}

/// Why a delivery is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// The first delivery of an event to a hook.
    Original,
    /// The same delivery again, same `Idempotency-Key`.
    Repeat,
    /// The same event delivered by an overlapping group hook: same body, other key.
    Overlap,
}

/// One webhook delivery as GitLab makes it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-Gitlab-Event`.
    pub event: &'static str,
    /// The exact body.
    pub body: Arc<Vec<u8>>,
    /// `Idempotency-Key`: the same on every resend of this delivery.
    pub key: String,
    /// `X-Gitlab-Webhook-UUID`: which hook (project or group) sends it.
    pub webhook: String,
    /// The event id ingest and the tables give it ([`hookline_schemas::record::event_id`]).
    pub event_id: String,
    /// Why it is in the stream.
    pub copy: Copy,
}

/// A lifecycle's expected final row in a typed table.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A `pipelines` row.
    Pipeline {
        project: u64,
        pipeline: u64,
        end: Final,
    },
    /// A `jobs` row.
    Job {
        project: u64,
        pipeline: u64,
        job: u64,
        end: Final,
    },
    /// A `merge_requests` row.
    MergeRequest { project: u64, iid: u64, end: Final },
}

/// A whole stream, generated before it is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    /// In sending order.
    pub deliveries: Vec<Delivery>,
    /// What the typed tables must hold once every delivery of the lifecycles is in.
    pub expected: Vec<Expected>,
}

/// Deterministic pseudo-random numbers (xorshift64).
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, share: f64) -> bool {
        (self.next_u64() % 1_000_000) as f64 / 1_000_000.0 < share
    }

    /// A random version-4 UUID, as GitLab's keys are.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

const OUTCOMES: [&str; 5] = ["success", "failed", "canceled", "running", "success"];

impl Plan {
    /// Generates the stream `options` describe.
    pub fn generate(options: &SimOptions) -> Self {
        let mut random = Random::new(options.seed);
        let total = (options.rate * options.duration.as_secs_f64())
            .round()
            .max(1.0) as usize;
        let originals =
            ((total as f64) / (1.0 + options.repeat_share + options.overlap_share)).ceil() as usize;
        let start = OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("a time");

        // Original hooks: lifecycles interleaved, a mix hook after every third.
        let mut expected = Vec::new();
        let mut pending: Vec<std::collections::VecDeque<Hook>> = Vec::new();
        let mut next_project = LIFECYCLE_PROJECTS + options.seed * 1_000_000;
        let mix_first = options.seed as usize * 10_000_000;
        let mut mix = fixtures::mix(mix_first..mix_first + originals / 3 + 1).into_iter();
        let mut hooks = Vec::with_capacity(originals);
        while hooks.len() < originals {
            while pending.len() < options.concurrent_lifecycles {
                let project = next_project;
                next_project += 1;
                let at = start + time::Duration::minutes((project % 100_000) as i64);
                for lifecycle in project_lifecycles(project, at, &mut random, &mut expected) {
                    pending.push(lifecycle.into());
                }
            }
            let i = random.below(pending.len());
            let hook = pending[i]
                .pop_front()
                .expect("a pending lifecycle has hooks");
            if pending[i].is_empty() {
                pending.swap_remove(i);
            }
            hooks.push(hook);
            if hooks.len() % 3 == 0 {
                hooks.extend(mix.next());
            }
        }
        // Lifecycles cut short by the end of the stream are finished, so that every
        // expectation is complete: the stream is a little longer than asked.
        for lifecycle in pending {
            hooks.extend(lifecycle);
        }

        // Copies, placed shortly after their original; then a shuffle within windows.
        let mut placed: Vec<(f64, Delivery)> = Vec::with_capacity(total + total / 8);
        for (i, hook) in hooks.into_iter().enumerate() {
            let body = Arc::new(hook.body);
            let original = Delivery {
                event: hook.event,
                event_id: hookline_schemas::record::event_id(hook.event, &body),
                body,
                key: random.uuid(),
                webhook: "project-hook".to_owned(),
                copy: Copy::Original,
            };
            if random.chance(options.repeat_share) {
                let mut repeat = original.clone();
                repeat.copy = Copy::Repeat;
                placed.push((i as f64 + 1.0 + random.below(40) as f64, repeat));
            }
            if random.chance(options.overlap_share) {
                let mut overlap = original.clone();
                overlap.copy = Copy::Overlap;
                overlap.key = random.uuid();
                overlap.webhook = "group-hook".to_owned();
                placed.push((i as f64 + 0.5 + random.below(3) as f64, overlap));
            }
            placed.push((i as f64, original));
        }
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut deliveries: Vec<Delivery> = placed.into_iter().map(|(_, d)| d).collect();
        for window in deliveries.chunks_mut(options.shuffle_window.max(1)) {
            for i in (1..window.len()).rev() {
                window.swap(i, random.below(i + 1));
            }
        }
        Self {
            deliveries,
            expected,
        }
    }

    /// Distinct events among the deliveries.
    pub fn distinct_events(&self) -> usize {
        let ids: std::collections::HashSet<&str> = self
            .deliveries
            .iter()
            .map(|d| d.event_id.as_str())
            .collect();
        ids.len()
    }
}

/// The lifecycles of one project: a pipeline (perhaps rerun) with two jobs, and a merge
/// request; their expectations are added to `expected`.
fn project_lifecycles(
    project: u64,
    start: OffsetDateTime,
    random: &mut Random,
    expected: &mut Vec<Expected>,
) -> Vec<Vec<Hook>> {
    let pipeline = 7;
    let outcome = OUTCOMES[random.below(OUTCOMES.len())];
    let rerun = (random.below(3) == 0).then(|| OUTCOMES[random.below(3)]);
    let (pipeline_hooks, end) = pipeline_lifecycle((project, pipeline), start, outcome, rerun);
    expected.push(Expected::Pipeline {
        project,
        pipeline,
        end,
    });
    let mut lifecycles = vec![pipeline_hooks];
    for job in [70, 71] {
        let outcome = OUTCOMES[random.below(OUTCOMES.len())];
        let (hooks, end) = job_lifecycle(
            (project, pipeline, job),
            start,
            outcome,
            random.below(4) == 0,
        );
        expected.push(Expected::Job {
            project,
            pipeline,
            job,
            end,
        });
        lifecycles.push(hooks);
    }
    let iid = 3;
    let (hooks, end) = merge_request_lifecycle(
        (project, project * 10, iid),
        start,
        random.below(3) as u64,
        random.below(2) == 0,
        random.below(2) == 0,
    );
    expected.push(Expected::MergeRequest { project, iid, end });
    lifecycles.push(hooks);
    lifecycles
}

/// One attempt at a delivery and what GitLab was told.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Index of the delivery in [`Plan::deliveries`].
    pub delivery: usize,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Why there was no answer (connection refused, reset, GitLab's timeout).
    pub error: Option<String>,
    /// When the answer (or the failure) came.
    pub answered_at: Instant,
    /// Whether this was a resend of a failed delivery.
    pub resend: bool,
}

impl Attempt {
    /// Whether GitLab was told the delivery was accepted.
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Every attempt so far, shared between the sending tasks and the scenario.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// In the order the answers came.
    attempts: Mutex<Vec<Attempt>>,
}

impl Outcomes {
    fn record(&self, attempt: Attempt) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(attempt);
    }

    /// A copy of every attempt so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Attempts answered so far.
    pub fn answered(&self) -> usize {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Attempts answered with a 2xx so far.
    pub fn accepted(&self) -> usize {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|a| a.accepted())
            .count()
    }

    /// Deliveries that have had no 2xx answer yet, in plan order.
    pub fn failed_deliveries(&self, plan: &Plan) -> Vec<usize> {
        let mut accepted = vec![false; plan.deliveries.len()];
        for attempt in self.attempts() {
            accepted[attempt.delivery] |= attempt.accepted();
        }
        (0..plan.deliveries.len())
            .filter(|&i| !accepted[i])
            .collect()
    }

    /// Non-2xx answers by status (first sends and resends together).
    pub fn non_2xx(&self) -> BTreeMap<u16, usize> {
        let mut by_status = BTreeMap::new();
        for attempt in self.attempts() {
            if let Some(status) = attempt.status.filter(|s| !(200..300).contains(s)) {
                *by_status.entry(status).or_default() += 1;
            }
        }
        by_status
    }
}

/// Where and how to deliver.
#[derive(Clone)]
pub struct Target {
    /// Ingest's webhook URL.
    pub url: String,
    /// The secret token of the hooks.
    pub token: String,
    client: reqwest::Client,
}

impl Target {
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            url: url.to_owned(),
            token: token.to_owned(),
            client: reqwest::Client::builder()
                .timeout(GITLAB_TIMEOUT)
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn deliver(&self, delivery: &Delivery, event_uuid: String) -> Result<u16, String> {
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "GitLab/17.5.1")
            .header("X-Gitlab-Event", delivery.event)
            .header("X-Gitlab-Token", &self.token)
            .header("X-Gitlab-Instance", "https://gitlab.example.com")
            .header("X-Gitlab-Webhook-UUID", &delivery.webhook)
            .header("X-Gitlab-Event-UUID", event_uuid)
            .header("Idempotency-Key", &delivery.key)
            .body(delivery.body.as_ref().clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        response.bytes().await.map_err(|e| describe(&e))?;
        Ok(status)
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "GitLab's 10 s timeout".to_owned()
    } else if error.is_connect() {
        "connection refused".to_owned()
    } else {
        "connection failed".to_owned()
    }
}

/// Sends every delivery of `plan` at `rate` per second, at most `max_in_flight` at once, and
/// records each answer in `outcomes`; returns once every delivery has been answered.
pub async fn send(
    target: Target,
    plan: Arc<Plan>,
    rate: f64,
    max_in_flight: usize,
    outcomes: Arc<Outcomes>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let started = tokio::time::Instant::now();
    let mut random = Random::new(plan.deliveries.len() as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.deliveries.len() {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let (target, plan, outcomes, uuid) = (
            target.clone(),
            plan.clone(),
            outcomes.clone(),
            random.uuid(),
        );
        tasks.spawn(async move {
            let answer = target.deliver(&plan.deliveries[i], uuid).await;
            outcomes.record(attempt(i, answer, false));
            drop(slot);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Resends, once each, every delivery of `plan` that has had no 2xx answer, with its own
/// `Idempotency-Key`, as a person does from GitLab's *Recent events* page; returns how many
/// were resent.
pub async fn resend_failed(target: &Target, plan: &Plan, outcomes: &Outcomes) -> usize {
    let failed = outcomes.failed_deliveries(plan);
    let mut random = Random::new(failed.len() as u64 + 1);
    for &i in &failed {
        let answer = target.deliver(&plan.deliveries[i], random.uuid()).await;
        outcomes.record(attempt(i, answer, true));
    }
    failed.len()
}

fn attempt(delivery: usize, answer: Result<u16, String>, resend: bool) -> Attempt {
    let (status, error) = match answer {
        Ok(status) => (Some(status), None),
        Err(error) => (None, Some(error)),
    };
    Attempt {
        delivery,
        status,
        error,
        answered_at: Instant::now(),
        resend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_has_its_rate_copies_and_complete_lifecycles() {
        let options = SimOptions::new(3, 100.0, Duration::from_secs(20));
        let plan = Plan::generate(&options);
        let n = plan.deliveries.len();
        assert!((2_000..2_400).contains(&n), "{n} deliveries");
        let count = |copy| plan.deliveries.iter().filter(|d| d.copy == copy).count();
        assert!(count(Copy::Repeat) > 40, "repeats: {}", count(Copy::Repeat));
        assert!(
            count(Copy::Overlap) > 40,
            "overlaps: {}",
            count(Copy::Overlap)
        );
        // A rerun pipeline sends its `running` status twice, with the same body: one event.
        let originals = count(Copy::Original);
        assert!(plan.distinct_events() <= originals);
        assert!(plan.distinct_events() * 100 >= originals * 97);
        // A repeat keeps its key; an overlap has another key for the same event.
        // (Copies share their original's body.)
        let keys: std::collections::HashMap<*const Vec<u8>, &str> = plan
            .deliveries
            .iter()
            .filter(|d| d.copy == Copy::Original)
            .map(|d| (Arc::as_ptr(&d.body), d.key.as_str()))
            .collect();
        for d in &plan.deliveries {
            match d.copy {
                Copy::Repeat => assert_eq!(keys[&Arc::as_ptr(&d.body)], d.key),
                Copy::Overlap => assert_ne!(keys[&Arc::as_ptr(&d.body)], d.key),
                Copy::Original => {}
            }
        }
        // Every lifecycle of every project is complete: 4 expectations a project, and the
        // pipeline hooks of the plan cover every expected pipeline.
        assert_eq!(plan.expected.len() % 4, 0);
        let projects = plan.expected.len() / 4;
        assert!(projects >= 40, "{projects} projects");
        // Generating again gives the same stream.
        let again = Plan::generate(&options);
        assert!(plan
            .deliveries
            .iter()
            .zip(&again.deliveries)
            .all(|(a, b)| a.key == b.key && a.body == b.body));
    }
}
