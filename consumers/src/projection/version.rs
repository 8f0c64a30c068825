//! Row versions from payload content: when the state happened, its rank, and a tie-break.
//!
//! Every table with one row per entity is a `ReplacingMergeTree(version)`; the row with the
//! highest version wins. Versions come from the payload alone (never from arrival time or Kafka
//! offset), so the same set of hooks converges on the same rows whatever order they came in:
//!
//! ```text
//!  63              31        23                      0
//!  | seconds (33)   | rank (8)| tie-break (23)       |
//! ```
//!
//! - **seconds**: the payload's own "when did this state happen" (a pipeline's `finished_at`,
//!   a merge request's `updated_at`, …) in whole seconds since 1970, GitLab's resolution.
//!   A time later than the hook's receipt by more than [`FUTURE_TOLERANCE_SECS`] is clamped to
//!   it: no payload describes a state after it was sent, and an absurd date (year 9999) would
//!   otherwise pin a row forever against every later state. No time counts as 0.
//! - **rank**: orders states that share that time (a late `running` hook against `success`, an
//!   `update` against a `merge` sent in the same second); see [`Precedence`].
//! - **tie-break**: 23 bits of a hash of the hook's event id (its type and exact body). Two
//!   *different* states of one object in the same second with the same rank (two edits of a
//!   merge request within a second) would otherwise tie, and a tie keeps whichever row
//!   ClickHouse merged last: arrival order. The hash makes the winner a function of the
//!   contents alone. Copies of one hook share the event id, hence the version, and their rows
//!   are equal but for `received_at`.

use hookline_schemas::record::RecordHeaders;
use time::OffsetDateTime;

/// How far a payload's time may lie after the hook's receipt (clock skew between GitLab and
/// ingest) before it is clamped.
pub const FUTURE_TOLERANCE_SECS: u64 = 300;

/// Bits of each part of a version.
const RANK_BITS: u32 = 8;
const TIE_BREAK_BITS: u32 = 23;
const SECONDS_BITS: u32 = 64 - RANK_BITS - TIE_BREAK_BITS;

/// Where a state stands among its object's states, before the tie-break: its time in whole
/// seconds, then its rank. Ordered like the versions it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    seconds: u64,
    rank: u8,
}

/// The precedence of a state that happened at `time` (none: 0) with `rank`.
pub fn versioned(time: Option<OffsetDateTime>, rank: u8) -> Precedence {
    let seconds = time.map_or(0, |t| u64::try_from(t.unix_timestamp()).unwrap_or(0));
    Precedence { seconds, rank }
}

impl Precedence {
    /// The row version of this state as reported by the hook with `headers`.
    pub fn version(self, headers: &RecordHeaders) -> u64 {
        let received = u64::try_from(headers.received_at_ms / 1000).unwrap_or(0);
        let seconds = self
            .seconds
            .min(received.saturating_add(FUTURE_TOLERANCE_SECS))
            .min((1 << SECONDS_BITS) - 1);
        (seconds << (RANK_BITS + TIE_BREAK_BITS))
            | (u64::from(self.rank) << TIE_BREAK_BITS)
            | tie_break(&headers.event_id)
    }
}

/// 23 bits of FNV-1a over the event id: stable across releases and platforms.
fn tie_break(event_id: &str) -> u64 {
    let hash = event_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    hash >> (64 - TIE_BREAK_BITS)
}

/// Rank of a merge request's or issue's state then action: the state decides (a merged or
/// closed entity outranks an open one), the action breaks ties within a state.
pub fn state_action_rank(state_rank: u8, action_rank: u8) -> u8 {
    (state_rank << 4) | (action_rank & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn headers(event_id: &str, received: OffsetDateTime) -> RecordHeaders {
        RecordHeaders {
            event_type: "Pipeline Hook".into(),
            event_id: event_id.into(),
            delivery_key: None,
            received_at_ms: (received.unix_timestamp_nanos() / 1_000_000) as i64,
            gitlab_instance: None,
            source: None,
            gitlab_version: None,
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn time_outranks_rank_and_rank_outranks_the_tie_break() {
        let early = versioned(Some(datetime!(2026-01-01 10:00 UTC)), 255);
        let late = versioned(Some(datetime!(2026-01-01 10:00:01 UTC)), 0);
        assert!(early < late);
        assert!(versioned(None, 255) < early);
        for id in ["a", "b", "c"] {
            let h = headers(id, NOW);
            assert!(early.version(&h) < late.version(&headers("z", NOW)));
            assert!(
                versioned(Some(NOW), 1).version(&h)
                    < versioned(Some(NOW), 2).version(&headers("z", NOW))
            );
        }
    }

    #[test]
    fn different_hooks_in_the_same_second_do_not_tie() {
        let same = versioned(Some(NOW), 5);
        let a = same.version(&headers("event-a", NOW));
        let b = same.version(&headers("event-b", NOW));
        assert_ne!(a, b);
        // A copy of one hook, received later, has the same version.
        assert_eq!(
            a,
            same.version(&headers("event-a", NOW + time::Duration::hours(1)))
        );
    }

    #[test]
    fn a_time_from_the_future_is_clamped_to_the_receipt() {
        let absurd = versioned(Some(datetime!(2299-12-31 23:59:59 UTC)), 9);
        let h = headers("e", NOW);
        let clamped = versioned(
            Some(NOW + time::Duration::seconds(FUTURE_TOLERANCE_SECS as i64)),
            9,
        );
        assert_eq!(absurd.version(&h), clamped.version(&h));
        // A state really reported later beats the absurd one.
        let later = NOW + time::Duration::hours(1);
        let next = versioned(Some(later), 1).version(&headers("f", later));
        assert!(absurd.version(&h) < next);
        // Within the tolerance, the payload's time stands.
        let skewed = versioned(Some(NOW + time::Duration::seconds(60)), 1);
        assert!(versioned(Some(NOW), 9).version(&h) < skewed.version(&h));
    }

    #[test]
    fn state_outranks_action() {
        assert!(state_action_rank(1, 15) < state_action_rank(2, 0));
        assert!(state_action_rank(2, 1) < state_action_rank(2, 2));
    }
}
