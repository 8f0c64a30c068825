//! Deduplication: a hook accepted before, within a window, is answered but not written again.
//!
//! Each hook has two identities (see `hookline_schemas::record`): its *event id*, a hash of
//! the event type and the exact body, which catches overlapping project and group hooks (same
//! body, different `Idempotency-Key`s) and GitLab sending the same status twice; and its
//! *delivery key* (`Idempotency-Key`, GitLab 17.4+, or `webhook-id`), the same on every retry
//! and manual resend of one event to one hook. A hook whose delivery key or event id was
//! accepted less than `HOOKLINE_DEDUP_WINDOW_SECS` ago is answered 200 with
//! `"status": "duplicate"` and the reason, and not written.
//!
//! **State.** Ingest keeps nothing that must survive it. The window ([`window::Window`])
//! lives in memory and is fed from two sides:
//!
//! - at accept time, check and insert happen under one lock, so two copies arriving at one
//!   replica at once give one write; if the write then fails, the ids are forgotten again so
//!   that GitLab's resend is not called a duplicate;
//! - the [`tailer`] reads the deduplication log (`{prefix}dedup`: event id, delivery key and
//!   received-at of every hook any replica made durable), so a replica learns what the others
//!   accepted; at start it reads the log from the start of the window (a checked timestamp
//!   lookup) up to the end of each partition as it was at start, skipping entries older than
//!   the window, and only then reports ready (or after `HOOKLINE_DEDUP_REBUILD_TIMEOUT_SECS`).
//!
//! So a duplicate is recognised by every replica once the first copy's entry is in the log and
//! the tailer has read it (the propagation delay: the tail lag, a fraction of a second), and by a
//! replica started after that as soon as it is ready. A copy arriving at another replica
//! within that delay is written twice; the consumers collapse repeats anyway.
//!
//! Dead letters are not deduplicated: they are few, and each says something about a sender.
//!
//! **Memory.** An id is 16 bytes of SHA-256 (the event id's first 16 bytes; for the delivery
//! key, of a hash in its own domain), kept with an 8-byte time in a hash map and a queue:
//! about 53 to 106 bytes per id, reported as `hookline_ingest_dedup_window_bytes`. A hook has
//! one id, two with a delivery key; `HOOKLINE_DEDUP_MAX_IDS` caps them, evicting the oldest.

pub mod log;
pub mod tailer;
pub mod window;

use std::sync::{Arc, Mutex, MutexGuard};

use hookline_runtime::admin::Readiness;
use hookline_runtime::kafka::KafkaClient;
use hookline_runtime::metrics::register;
use hookline_runtime::shutdown::CancellationToken;
use hookline_schemas::record::{RecordHeaders, Topics};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use sha2::{Digest, Sha256};

pub use window::{Id, Reason, Window};

/// Deduplication settings, part of ingest's configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct DedupConfig {
    /// How long an accepted hook's ids are remembered, in seconds: a hook whose delivery key
    /// or event id was accepted within this time is answered as a duplicate and not written.
    /// 0 turns deduplication off.
    #[arg(long, env = "HOOKLINE_DEDUP_WINDOW_SECS", default_value_t = 86_400)]
    pub dedup_window_secs: u64,

    /// Most ids remembered (a hook has one, two with a delivery key); the oldest are evicted
    /// first when full. Each takes about 53 to 106 bytes.
    #[arg(long, env = "HOOKLINE_DEDUP_MAX_IDS", default_value_t = 4_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub dedup_max_ids: u64,

    /// How long `/readyz` waits for the window to be rebuilt from Kafka at start, in seconds;
    /// after that ingest reports ready while the rebuild goes on (e.g. Kafka down during a
    /// restart: hooks go to the spool, and missed duplicates are collapsed by the consumers).
    #[arg(
        long,
        env = "HOOKLINE_DEDUP_REBUILD_TIMEOUT_SECS",
        default_value_t = 120
    )]
    pub dedup_rebuild_timeout_secs: u64,

    /// How long the broker may hold the deduplication tailer's fetch while no new entry
    /// arrives, in milliseconds. Kafka answers as soon as an entry arrives, so this only paces
    /// idle partitions; a broker that holds every fetch this long (Tansu) adds it to the time
    /// before another replica sees a hook as a duplicate.
    // librdkafka `fetch.wait.max.ms`; its default, 500, suits Apache Kafka.
    #[arg(long, env = "HOOKLINE_DEDUP_FETCH_WAIT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub dedup_fetch_wait_ms: u64,
}

impl DedupConfig {
    pub fn enabled(&self) -> bool {
        self.dedup_window_secs > 0
    }

    fn span_ms(&self) -> i64 {
        i64::try_from(self.dedup_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// Deduplication could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot register the deduplication metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the deduplication tailer thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The window, and the thread keeping it current.
pub struct Started {
    /// The window the request handlers claim ids in.
    pub dedup: Arc<Dedup>,
    /// The [`tailer`] thread, when deduplication is on; it ends once `shutdown` is cancelled.
    tailer: Option<std::thread::JoinHandle<()>>,
}

impl Started {
    /// Waits for the tailer thread to end; call once `shutdown` is cancelled.
    pub async fn join_tailer(self) {
        let Some(tailer) = self.tailer else {
            return;
        };
        match tokio::task::spawn_blocking(move || tailer.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => tracing::error!("the deduplication tailer panicked"),
        }
    }
}

/// Builds the window and, when deduplication is on, starts the [`tailer`] that rebuilds it
/// and keeps it current; `/readyz` fails until the window is rebuilt.
pub fn start(
    config: &DedupConfig,
    kafka: &KafkaClient,
    topics: &Topics,
    registry: &Registry,
    readiness: &Readiness,
    shutdown: &CancellationToken,
) -> Result<Started, StartError> {
    let metrics = DedupMetrics::register(registry)?;
    let dedup = Arc::new(Dedup::new(config, metrics));
    let mut tailer = None;
    if dedup.enabled() {
        let settings = tailer::TailerSettings {
            kafka: kafka.clone(),
            topic: topics.dedup(),
            span_ms: config.span_ms(),
            rebuild_timeout: std::time::Duration::from_secs(config.dedup_rebuild_timeout_secs),
            fetch_wait: std::time::Duration::from_millis(config.dedup_fetch_wait_ms),
        };
        tailer = Some(tailer::spawn(
            settings,
            dedup.clone(),
            readiness.clone(),
            shutdown.clone(),
        )?);
    }
    Ok(Started { dedup, tailer })
}

/// The ids of one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookIds {
    /// Identifies the content: the same event type and body.
    pub event_id: Id,
    /// Identifies the delivery: the same for GitLab's retries and resends.
    pub delivery_key: Option<Id>,
}

impl HookIds {
    /// The ids of the hook with this event id and delivery key.
    pub fn of(event_id: &str, delivery_key: Option<&str>) -> Self {
        Self {
            event_id: event_id_digest(event_id),
            delivery_key: delivery_key.map(delivery_key_digest),
        }
    }
}

/// The first 16 bytes of the event id (itself a SHA-256 digest, in hex). Anything else (not
/// written by this ingest) is hashed instead, so it still has a stable id.
fn event_id_digest(event_id: &str) -> Id {
    let mut id = [0u8; 16];
    let hex = event_id.as_bytes();
    let parsed = hex.len() == 64
        && id.iter_mut().enumerate().all(|(i, byte)| {
            std::str::from_utf8(&hex[2 * i..2 * i + 2])
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .map(|value| *byte = value)
                .is_some()
        });
    if parsed {
        Id(id)
    } else {
        truncated(Sha256::new().chain_update(event_id.as_bytes()))
    }
}

/// 16 bytes of SHA-256 over 0xFF, a label and the key. Event ids hash the UTF-8 event type
/// first, which never contains 0xFF, so a key can never collide with an event id by design.
fn delivery_key_digest(key: &str) -> Id {
    truncated(
        Sha256::new()
            .chain_update(b"\xffdelivery-key\0")
            .chain_update(key.as_bytes()),
    )
}

fn truncated(hasher: Sha256) -> Id {
    let mut id = [0u8; 16];
    id.copy_from_slice(&hasher.finalize()[..16]);
    Id(id)
}

/// Deduplication metrics.
#[derive(Clone)]
pub struct DedupMetrics {
    /// Ids in the window.
    pub window_ids: IntGauge,
    /// Estimated memory of the window.
    pub window_bytes: IntGauge,
    /// Duplicates answered without a write, by reason.
    pub duplicates_total: IntCounterVec,
}

impl DedupMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            window_ids: register(
                registry,
                IntGauge::new(
                    "hookline_ingest_dedup_window_ids",
                    "Ids (event ids and delivery keys) in the deduplication window.",
                )?,
            )?,
            window_bytes: register(
                registry,
                IntGauge::new(
                    "hookline_ingest_dedup_window_bytes",
                    "Estimated memory of the deduplication window, in bytes.",
                )?,
            )?,
            duplicates_total: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "hookline_ingest_duplicates_total",
                        "Deliveries answered as duplicates and not written, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
        };
        for reason in [Reason::DeliveryKey, Reason::EventId] {
            metrics
                .duplicates_total
                .with_label_values(&[reason.as_str()]);
        }
        Ok(metrics)
    }
}

/// A hook's ids, inserted by [`Dedup::claim`] and forgotten again when the claim is dropped
/// without [`Claim::keep`]: when the hook could not be stored, and also when the request was
/// dropped half-way (GitLab hung up while the write was pending). So whatever ends a request,
/// GitLab's resend is never called a duplicate of a hook that was not stored.
#[must_use = "keep the claim once the hook is stored; dropping it forgets the ids"]
pub struct Claim<'a> {
    /// The window the ids were inserted in.
    dedup: &'a Dedup,
    /// The ids to forget unless kept.
    ids: HookIds,
    /// The time they were inserted with, so that only that insertion is forgotten.
    at_ms: i64,
    /// Set by [`Claim::keep`]: the hook is stored, its ids stay in the window.
    kept: bool,
}

impl std::fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("ids", &self.ids)
            .field("at_ms", &self.at_ms)
            .field("kept", &self.kept)
            .finish_non_exhaustive()
    }
}

impl Claim<'_> {
    /// The hook is stored: its ids stay in the window.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.dedup.release(&self.ids, self.at_ms);
        }
    }
}

/// The deduplication window shared by the request handlers and the tailer.
pub struct Dedup {
    /// `None` when deduplication is off.
    window: Option<Mutex<Window>>,
    /// Window size and duplicates answered.
    metrics: DedupMetrics,
}

impl Dedup {
    pub fn new(config: &DedupConfig, metrics: DedupMetrics) -> Self {
        let max_ids = usize::try_from(config.dedup_max_ids).unwrap_or(usize::MAX);
        Self {
            window: config
                .enabled()
                .then(|| Mutex::new(Window::new(config.span_ms(), max_ids))),
            metrics,
        }
    }

    pub fn enabled(&self) -> bool {
        self.window.is_some()
    }

    /// At accept time: the hook's reason to be a duplicate, or a claim on its ids, which
    /// are remembered from now on (at the hook's received-at time) for as long as the claim
    /// is not dropped unkept.
    pub fn claim(&self, headers: &RecordHeaders) -> Result<Option<Claim<'_>>, Reason> {
        let ids = HookIds::of(&headers.event_id, headers.delivery_key.as_deref());
        let at_ms = headers.received_at_ms;
        let Some(mut window) = self.lock() else {
            return Ok(None);
        };
        let checked = window.check_and_insert(ids.event_id, ids.delivery_key, at_ms);
        self.observe(&window);
        drop(window);
        match checked {
            Ok(()) => Ok(Some(Claim {
                dedup: self,
                ids,
                at_ms,
                kept: false,
            })),
            Err(reason) => {
                self.metrics
                    .duplicates_total
                    .with_label_values(&[reason.as_str()])
                    .inc();
                Err(reason)
            }
        }
    }

    /// A claimed hook was not stored: forget its ids.
    fn release(&self, ids: &HookIds, at_ms: i64) {
        if let Some(mut window) = self.lock() {
            window.forget(&ids.event_id, at_ms);
            if let Some(key) = &ids.delivery_key {
                window.forget(key, at_ms);
            }
            self.observe(&window);
        }
    }

    /// Remembers the ids of hooks read from Kafka, as of `now_ms`.
    pub fn remember(&self, hooks: &[(HookIds, i64)], now_ms: i64) {
        if let Some(mut window) = self.lock() {
            for (ids, at_ms) in hooks {
                for id in std::iter::once(ids.event_id).chain(ids.delivery_key) {
                    window.remember(id, *at_ms, now_ms);
                }
            }
            window.expire(now_ms);
            self.observe(&window);
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Window>> {
        let window = self.window.as_ref()?;
        Some(window.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn observe(&self, window: &Window) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.window_ids.set(gauge(window.len()));
        self.metrics
            .window_bytes
            .set(gauge(window.estimated_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::record::event_id;

    fn headers(body: &[u8], key: Option<&str>, at_ms: i64) -> RecordHeaders {
        RecordHeaders {
            event_type: "Push Hook".into(),
            event_id: event_id("Push Hook", body),
            delivery_key: key.map(str::to_owned),
            received_at_ms: at_ms,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        }
    }

    fn dedup(window_secs: u64) -> (Dedup, DedupMetrics) {
        let metrics = DedupMetrics::register(&Registry::new()).unwrap();
        let config = DedupConfig {
            dedup_window_secs: window_secs,
            dedup_max_ids: 100,
            dedup_rebuild_timeout_secs: 1,
            dedup_fetch_wait_ms: 500,
        };
        (Dedup::new(&config, metrics.clone()), metrics)
    }

    #[test]
    fn ids_are_the_event_id_and_a_key_digest_in_another_domain() {
        let hook = headers(b"{}", Some("k"), 0);
        let ids = HookIds::of(&hook.event_id, hook.delivery_key.as_deref());
        let hex = event_id("Push Hook", b"{}");
        assert_eq!(
            ids.event_id.0[0],
            u8::from_str_radix(&hex[..2], 16).unwrap()
        );
        assert_eq!(
            ids.event_id.0[15],
            u8::from_str_radix(&hex[30..32], 16).unwrap()
        );
        assert_ne!(ids.delivery_key, Some(ids.event_id));
        assert_eq!(
            ids.delivery_key,
            HookIds::of(&event_id("Push Hook", b"[]"), Some("k")).delivery_key
        );
        // Not hex: still an id, and a stable one.
        assert_eq!(event_id_digest("x"), event_id_digest("x"));
    }

    #[test]
    fn claims_count_duplicates_and_a_release_makes_room_for_the_resend() {
        let (dedup, metrics) = dedup(60);
        let first = dedup.claim(&headers(b"{}", Some("k"), 1_000)).unwrap();
        assert!(first.is_some());
        assert_eq!(metrics.window_ids.get(), 2);
        assert!(metrics.window_bytes.get() > 0);
        assert_eq!(
            dedup.claim(&headers(b"{}", Some("k"), 2_000)).unwrap_err(),
            Reason::DeliveryKey
        );
        assert_eq!(
            dedup
                .claim(&headers(b"{}", Some("other"), 2_000))
                .unwrap_err(),
            Reason::EventId
        );
        let counted = |reason: Reason| {
            metrics
                .duplicates_total
                .with_label_values(&[reason.as_str()])
                .get()
        };
        assert_eq!(
            (counted(Reason::DeliveryKey), counted(Reason::EventId)),
            (1, 1)
        );
        drop(first);
        assert_eq!(metrics.window_ids.get(), 0);
        assert!(dedup.claim(&headers(b"{}", Some("k"), 3_000)).is_ok());
    }

    #[test]
    fn a_zero_window_turns_deduplication_off() {
        let (dedup, _) = dedup(0);
        assert!(!dedup.enabled());
        for _ in 0..2 {
            assert!(dedup
                .claim(&headers(b"{}", Some("k"), 0))
                .unwrap()
                .is_none());
        }
        // A kept claim stays: the next copy is a duplicate.
        let (dedup, _) = self::dedup(60);
        dedup
            .claim(&headers(b"{}", None, 0))
            .unwrap()
            .unwrap()
            .keep();
        assert_eq!(
            dedup.claim(&headers(b"{}", None, 1)).unwrap_err(),
            Reason::EventId
        );
    }

    #[test]
    fn ids_from_kafka_make_later_copies_duplicates() {
        let (dedup, metrics) = dedup(60);
        let hook = headers(b"{}", None, 1_000);
        let ids = HookIds::of(&hook.event_id, hook.delivery_key.as_deref());
        dedup.remember(&[(ids, 1_000)], 1_500);
        assert_eq!(metrics.window_ids.get(), 1);
        assert_eq!(
            dedup.claim(&headers(b"{}", None, 2_000)).unwrap_err(),
            Reason::EventId
        );
    }
}
