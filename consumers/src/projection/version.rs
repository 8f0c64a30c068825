//! Row versions from payload content: a time in milliseconds in the high bits, a rank low.
//!
//! Every table with one row per entity is a `ReplacingMergeTree(version)`; the row with the
//! highest version wins. Versions come from the payload alone (never from arrival time or Kafka
//! offset), so the same set of hooks converges on the same rows whatever order they came in.
//! The time is the payload's own "when did this state happen" (a pipeline's `finished_at`, a
//! merge request's `updated_at`, …); the rank orders states that share that time (a late
//! `running` hook against `success`, an `update` against a `merge` sent with the same
//! `updated_at`).

use time::OffsetDateTime;

/// How many low bits hold the rank.
const RANK_BITS: u32 = 8;

/// `time` in ms since the epoch shifted left by 8 bits, plus `rank`; no time counts as 0.
pub fn versioned(time: Option<OffsetDateTime>, rank: u8) -> u64 {
    let millis = time
        .map(|t| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or_default())
        .unwrap_or_default();
    (millis << RANK_BITS) | u64::from(rank)
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

    #[test]
    fn time_outranks_rank() {
        let early = versioned(Some(datetime!(2026-01-01 10:00 UTC)), 255);
        let late = versioned(Some(datetime!(2026-01-01 10:00:00.001 UTC)), 0);
        assert!(early < late);
        assert!(versioned(None, 255) < early);
    }

    #[test]
    fn state_outranks_action() {
        assert!(state_action_rank(1, 15) < state_action_rank(2, 0));
        assert!(state_action_rank(2, 1) < state_action_rank(2, 2));
    }
}
