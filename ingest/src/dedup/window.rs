//! The deduplication window: which ids were accepted recently, in bounded memory.
//!
//! A pure data structure with the clock passed in (`now_ms`), so its semantics are tested
//! without waiting. Ids are [`Id`]s, fixed-size digests, remembered with the received-at time
//! of the hook that carried them, in a hash map (for lookups) and a queue in insertion order
//! (for expiry and eviction).
//!
//! - An id is *in* the window when it was received less than `span` before `now_ms`.
//! - Expiry and eviction go in insertion order, which is received-at order for the hooks this
//!   replica accepts and nearly so for those read from Kafka. An entry queued behind a later
//!   one lingers until that one expires, but lookups compare the time, so a lingering entry
//!   never makes a duplicate; it only costs memory, and the cap bounds that.
//! - When the queue holds `max_ids` entries, the oldest is evicted first.
//! - An id seen again with a later time moves to the later time (its old queue entry becomes
//!   stale and is skipped when it reaches the front).

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;

/// A remembered id: 16 bytes of a SHA-256 digest (see `super::HookIds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(pub [u8; 16]);

/// Why a hook is a duplicate: which of its ids the window already had. Serialised as the
/// answer's `reason`, with the names of [`Reason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its `Idempotency-Key` / `webhook-id` was accepted before (a retry or a resend).
    DeliveryKey,
    /// A hook with the same event type and body was accepted before (overlapping hooks).
    EventId,
}

impl Reason {
    /// The `reason` in the answer and in `hookline_ingest_duplicates_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DeliveryKey => "delivery_key",
            Reason::EventId => "event_id",
        }
    }
}

/// Recently accepted ids; see the module documentation.
#[derive(Debug)]
pub struct Window {
    /// How long an id is remembered.
    span_ms: i64,
    /// Queue entries kept at most; the oldest are evicted first.
    max_ids: usize,
    /// Each id's latest received-at time, milliseconds since the Unix epoch.
    seen: HashMap<Id, i64>,
    /// (id, time) in insertion order; an entry whose time is no longer the id's is stale.
    order: VecDeque<(Id, i64)>,
}

impl Window {
    /// A window remembering ids for `span_ms` milliseconds, at most `max_ids` queue entries.
    pub fn new(span_ms: i64, max_ids: usize) -> Self {
        Self {
            span_ms,
            max_ids: max_ids.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Ids remembered now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Memory held by the map and the queue, from their capacities: hashbrown keeps one
    /// control byte per bucket and 8 buckets per 7 usable slots, in a power of two.
    pub fn estimated_bytes(&self) -> usize {
        let capacity = self.seen.capacity();
        let buckets = if capacity == 0 {
            0
        } else {
            (capacity * 8 / 7).next_power_of_two()
        };
        buckets * (size_of::<(Id, i64)>() + 1) + self.order.capacity() * size_of::<(Id, i64)>()
    }

    /// Whether `id` was received less than the span before `now_ms`.
    pub fn contains(&self, id: &Id, now_ms: i64) -> bool {
        self.seen
            .get(id)
            .is_some_and(|at| now_ms.saturating_sub(*at) < self.span_ms)
    }

    /// The accept-time check: a duplicate when `delivery_key` (checked first) or `event_id`
    /// is in the window; otherwise both are remembered at `now_ms` in the same step.
    pub fn check_and_insert(
        &mut self,
        event_id: Id,
        delivery_key: Option<Id>,
        now_ms: i64,
    ) -> Result<(), Reason> {
        self.expire(now_ms);
        if delivery_key.is_some_and(|key| self.contains(&key, now_ms)) {
            return Err(Reason::DeliveryKey);
        }
        if self.contains(&event_id, now_ms) {
            return Err(Reason::EventId);
        }
        for id in std::iter::once(event_id).chain(delivery_key) {
            self.remember(id, now_ms, now_ms);
        }
        Ok(())
    }

    /// Remembers `id` as received at `at_ms` (e.g. read from Kafka), unless that is already
    /// outside the window at `now_ms` or the window has it at a later time.
    pub fn remember(&mut self, id: Id, at_ms: i64, now_ms: i64) {
        if now_ms.saturating_sub(at_ms) >= self.span_ms {
            return;
        }
        match self.seen.get_mut(&id) {
            Some(known) if *known >= at_ms => return,
            Some(known) => *known = at_ms,
            None => {
                self.seen.insert(id, at_ms);
            }
        }
        while self.order.len() >= self.max_ids {
            self.pop_front();
        }
        self.order.push_back((id, at_ms));
    }

    /// Forgets `id` if the window still has it at `at_ms`: the hook that put it there was not
    /// stored after all, so a resend must not be called a duplicate.
    pub fn forget(&mut self, id: &Id, at_ms: i64) {
        if self.seen.get(id) == Some(&at_ms) {
            self.seen.remove(id);
        }
    }

    /// Drops entries from the front of the queue that are expired or stale.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some((id, at)) = self.order.front() {
            let expired = now_ms.saturating_sub(*at) >= self.span_ms;
            let stale = self.seen.get(id) != Some(at);
            if !expired && !stale {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((id, at)) = self.order.pop_front() {
            if self.seen.get(&id) == Some(&at) {
                self.seen.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: i64 = 1_000;

    fn id(n: u8) -> Id {
        Id([n; 16])
    }

    #[test]
    fn a_repeat_is_a_duplicate_by_either_id_and_the_key_is_named_first() {
        let mut window = Window::new(SPAN, 100);
        assert_eq!(window.check_and_insert(id(1), Some(id(2)), 0), Ok(()));
        // A retry: same key, same body.
        assert_eq!(
            window.check_and_insert(id(1), Some(id(2)), 10),
            Err(Reason::DeliveryKey)
        );
        // Same key, another body.
        assert_eq!(
            window.check_and_insert(id(3), Some(id(2)), 10),
            Err(Reason::DeliveryKey)
        );
        // Same body through another hook (another key), and without a key.
        assert_eq!(
            window.check_and_insert(id(1), Some(id(4)), 10),
            Err(Reason::EventId)
        );
        assert_eq!(
            window.check_and_insert(id(1), None, 10),
            Err(Reason::EventId)
        );
        // A duplicate remembers nothing new.
        assert!(!window.contains(&id(3), 10) && !window.contains(&id(4), 10));
        assert_eq!(window.len(), 2);
    }

    #[test]
    fn ids_expire_after_the_span() {
        let mut window = Window::new(SPAN, 100);
        window.check_and_insert(id(1), None, 0).unwrap();
        assert!(window.contains(&id(1), SPAN - 1));
        assert!(!window.contains(&id(1), SPAN));
        assert_eq!(window.check_and_insert(id(1), None, SPAN), Ok(()));
        // The first entry was dropped on the way; the second remains.
        assert_eq!(window.len(), 1);
        window.expire(2 * SPAN);
        assert!(window.is_empty());
    }

    #[test]
    fn ids_read_from_kafka_keep_their_time() {
        let mut window = Window::new(SPAN, 100);
        // Too old to matter: not remembered at all.
        window.remember(id(1), 0, SPAN);
        assert!(window.is_empty());
        window.remember(id(2), 500, 600);
        assert!(window.contains(&id(2), 1_499));
        assert!(!window.contains(&id(2), 1_500));
        // Out of order: an earlier time does not shorten the window, a later one extends it.
        window.remember(id(2), 400, 600);
        assert!(window.contains(&id(2), 1_499));
        window.remember(id(2), 900, 950);
        assert!(window.contains(&id(2), 1_899));
        // The stale entry (500) goes first without taking the id along.
        window.expire(1_500);
        assert!(window.contains(&id(2), 1_500));
        assert_eq!(window.order.len(), 1);
    }

    #[test]
    fn a_full_window_evicts_the_oldest() {
        let mut window = Window::new(SPAN, 3);
        for n in 1..=3 {
            window.check_and_insert(id(n), None, i64::from(n)).unwrap();
        }
        window.check_and_insert(id(4), None, 4).unwrap();
        assert_eq!(window.len(), 3);
        assert!(!window.contains(&id(1), 4));
        assert!((2..=4).all(|n| window.contains(&id(n), 4)));
    }

    #[test]
    fn a_failed_write_forgets_its_ids_unless_they_were_seen_again() {
        let mut window = Window::new(SPAN, 100);
        window.check_and_insert(id(1), Some(id(2)), 10).unwrap();
        window.forget(&id(1), 10);
        window.forget(&id(2), 10);
        assert_eq!(window.check_and_insert(id(1), Some(id(2)), 20), Ok(()));
        // Another replica's copy arrived through Kafka meanwhile: that one stays.
        window.remember(id(1), 30, 30);
        window.forget(&id(1), 20);
        assert!(window.contains(&id(1), 40));
        // Stale queue entries do not count as ids.
        window.expire(40);
        assert_eq!(window.len(), 2);
    }

    #[test]
    fn the_byte_estimate_follows_the_capacity() {
        let mut window = Window::new(SPAN, 1_000_000);
        assert_eq!(window.estimated_bytes(), 0);
        let count: u32 = 100_000;
        for n in 0..count {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            window.remember(Id(bytes), 1, 1);
        }
        let per_id = window.estimated_bytes() as f64 / f64::from(count);
        // 24-byte entries, a control byte, 8/7 load and power-of-two growth: 52 to 106.
        assert!((52.0..=106.0).contains(&per_id), "{per_id} bytes per id");
        assert_eq!(size_of::<(Id, i64)>(), 24);
    }
}
