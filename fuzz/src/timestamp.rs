//! Fuzz target: the GitLab timestamp parser (`hookline_schemas::timestamp`).
//!
//! Timestamps come straight from payloads, so any text must give a time or an error, never a
//! panic; a well-formed instant outside ClickHouse's range is an out-of-range error, which the
//! payload models read as unknown. What it accepts must mean one instant within that range:
//! normalised to UTC, unchanged by surrounding
//! whitespace, equal through the serde helper the payload models use, and the same instant when
//! written back in GitLab's own forms and parsed again.

use hookline_schemas::timestamp::{parse_gitlab_time, TimestampError, EARLIEST, LATEST};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Runs the parser on `data` as text (invalid UTF-8 is read lossily: payloads are text).
pub fn run(data: &[u8]) {
    check(&String::from_utf8_lossy(data));
}

/// The invariants for one input string; panics with the input when one is broken.
pub fn check(input: &str) {
    let parsed = parse_gitlab_time(input);
    let padded = parse_gitlab_time(&format!(" \t{input}\n "));
    assert_eq!(
        parsed.is_ok(),
        padded.is_ok(),
        "surrounding whitespace changed the verdict on {input:?}"
    );
    let via_serde = via_serde_helper(input);
    let instant = match parsed {
        Ok(instant) => instant,
        // Well formed but outside ClickHouse's range: unknown to the payload models.
        Err(TimestampError::OutOfRange { .. }) => {
            assert_eq!(
                via_serde.ok(),
                Some(None),
                "the serde helper must read out-of-range {input:?} as unknown"
            );
            return;
        }
        Err(TimestampError::Invalid { .. }) => {
            assert!(
                via_serde.is_err() || input.trim().is_empty(),
                "the serde helper accepted {input:?}, which the parser refuses"
            );
            return;
        }
    };
    assert!(
        (EARLIEST..=LATEST).contains(&instant),
        "{input:?} accepted outside ClickHouse's range"
    );
    assert_eq!(padded.ok(), Some(instant), "whitespace moved {input:?}");
    assert_eq!(instant.offset(), UtcOffset::UTC, "{input:?} not in UTC");
    assert_eq!(
        via_serde.ok().flatten(),
        Some(instant),
        "the serde helper reads {input:?} differently"
    );
    // GitLab's own forms of the instant read back as the same instant. Rfc3339 (and the
    // four-digit year in the forms) only covers years 0 to 9999.
    if (0..=9999).contains(&instant.year()) {
        let rfc3339 = instant
            .format(&Rfc3339)
            .expect("a UTC instant in years 0-9999");
        assert_eq!(
            parse_gitlab_time(&rfc3339).ok(),
            Some(instant),
            "{input:?} -> {rfc3339:?} does not round-trip"
        );
        let space_utc = instant
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond] UTC"
            ))
            .expect("formattable");
        assert_eq!(
            parse_gitlab_time(&space_utc).ok(),
            Some(instant),
            "{input:?} -> {space_utc:?} does not round-trip"
        );
    }
}

/// What a payload model's `Option<OffsetDateTime>` field makes of the string.
fn via_serde_helper(input: &str) -> Result<Option<OffsetDateTime>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Field {
        #[serde(default, with = "hookline_schemas::timestamp::option")]
        at: Option<OffsetDateTime>,
    }
    let json = serde_json::json!({ "at": input }).to_string();
    serde_json::from_str::<Field>(&json).map(|field| field.at)
}
