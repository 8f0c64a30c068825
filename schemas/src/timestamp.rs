//! Parsing of the timestamp forms GitLab puts in webhook payloads.
//!
//! GitLab is not consistent about how it writes a point in time. Depending on the hook, the field
//! and the GitLab version, the same instant can arrive as:
//!
//! | form                            | where it is seen                                         |
//! |---------------------------------|----------------------------------------------------------|
//! | `2016-08-12 15:23:28 UTC`       | most fields of real deliveries (pipeline, job, note, …)  |
//! | `2021-04-28T21:50:00Z`          | issue / merge request `created_at`, the `*_iso` fields   |
//! | `2016-08-12T17:23:21+02:00`     | commit `timestamp` (the author's local offset)           |
//! | `2021-02-23T02:41:37.886Z`      | "Test" deliveries sent from the webhook settings page    |
//! | `2021-04-28 21:50:00 +0200`     | deployment `status_changed_at`                           |
//! | `2021-04-28 21:50:00 +02:00`    | the same with a colon in the offset                      |
//!
//! [`parse_gitlab_time`] accepts all of them (fractional seconds are allowed in every form) and
//! returns the instant normalised to UTC. A timestamp without any zone designator is rejected:
//! its instant would be a guess.
//!
//! **Range.** Only instants from [`EARLIEST`] to [`LATEST`] are accepted: the range ClickHouse's
//! `DateTime64` stores. A well-formed timestamp outside it (`9999-12-31T23:30:00-01:00` is
//! year 10000 in UTC; `0001-01-01T00:00:00Z`) is [`TimestampError::OutOfRange`]. Some of these
//! fields are set by whoever pushes a commit, so such a value is data, not a sign that GitLab
//! changed its format: the [`option`] helper reads it as "unknown" (`None`) rather than failing
//! the whole hook, while a timestamp in no known form stays an error.
//!
//! For payload models, [`option`] is a serde helper for `Option<OffsetDateTime>` fields:
//!
//! ```
//! # use serde::Deserialize;
//! #[derive(Deserialize)]
//! struct Example {
//!     #[serde(default, with = "hookline_schemas::timestamp::option")]
//!     finished_at: Option<time::OffsetDateTime>,
//! }
//! let e: Example = serde_json::from_str(r#"{"finished_at": "2016-08-12 15:26:29 UTC"}"#).unwrap();
//! assert_eq!(e.finished_at.unwrap().unix_timestamp(), 1_471_015_589);
//! ```

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The accepted forms, as quoted in [`TimestampError`]'s message.
pub const ACCEPTED_FORMS: &str = "\"2016-08-12 15:23:28 UTC\", \"2021-04-28T21:50:00Z\", \
     \"2016-08-12T17:23:21+02:00\", \"2021-02-23T02:41:37.886Z\", \"2021-04-28 21:50:00 +0200\" \
     or \"2021-04-28 21:50:00 +02:00\" (fractional seconds allowed in each)";

/// How much of a rejected input the error message quotes.
const QUOTED_INPUT_MAX_CHARS: usize = 64;

/// The earliest instant accepted: the start of ClickHouse's `DateTime64` range.
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(1900-01-01 00:00:00 UTC);

/// The latest instant accepted: the end of ClickHouse's `DateTime64` range.
pub const LATEST: OffsetDateTime = time::macros::datetime!(2299-12-31 23:59:59.999 UTC);

/// A string that is not a timestamp Hookline can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// None of the forms GitLab sends.
    #[error("invalid GitLab timestamp {input:?}: expected {}", ACCEPTED_FORMS)]
    Invalid {
        /// The rejected input, cut to its first 64 characters (followed by `…`) if longer.
        input: String,
    },
    /// A well-formed timestamp whose instant lies outside [`EARLIEST`]..=[`LATEST`].
    #[error("GitLab timestamp {input:?} is outside the years 1900 to 2299 that ClickHouse stores")]
    OutOfRange {
        /// The rejected input, cut like [`TimestampError::Invalid`]'s.
        input: String,
    },
}

impl TimestampError {
    fn invalid(input: &str) -> Self {
        Self::Invalid {
            input: quoted(input),
        }
    }

    fn out_of_range(input: &str) -> Self {
        Self::OutOfRange {
            input: quoted(input),
        }
    }

    /// The rejected input (cut to its first 64 characters if longer).
    pub fn input(&self) -> &str {
        match self {
            Self::Invalid { input } | Self::OutOfRange { input } => input,
        }
    }
}

/// `input` cut to its first [`QUOTED_INPUT_MAX_CHARS`] characters, so that an error message
/// quoting a hostile value stays small.
fn quoted(input: &str) -> String {
    match input.char_indices().nth(QUOTED_INPUT_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

/// `2016-08-12 15:23:28 UTC`
const SPACE_UTC: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]] UTC"
);

/// `2021-04-28 21:50:00 +0200` and `2021-04-28 21:50:00 +02:00`
const SPACE_OFFSET: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]] \
     [offset_hour sign:mandatory][optional [:]][offset_minute]"
);

/// ISO 8601 with an offset without colon, `2021-04-28T21:50:00+0200` (RFC 3339 requires the colon).
const ISO_COMPACT_OFFSET: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]\
     [offset_hour sign:mandatory][offset_minute]"
);

/// Parses any timestamp form GitLab sends (see the [module docs](self)) into a UTC instant
/// between [`EARLIEST`] and [`LATEST`].
///
/// Leading and trailing whitespace is ignored; an empty string is an error (the [`option`]
/// helper is the place where an empty string means "no timestamp"). Never panics: an offset
/// that would carry the instant past what `time` represents is [`TimestampError::OutOfRange`].
pub fn parse_gitlab_time(s: &str) -> Result<OffsetDateTime, TimestampError> {
    let trimmed = s.trim();
    let parsed = if trimmed.ends_with(" UTC") {
        PrimitiveDateTime::parse(trimmed, SPACE_UTC)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    } else {
        OffsetDateTime::parse(trimmed, &Rfc3339)
            .or_else(|_| OffsetDateTime::parse(trimmed, SPACE_OFFSET))
            .or_else(|_| OffsetDateTime::parse(trimmed, ISO_COMPACT_OFFSET))
            .ok()
    };
    let parsed = parsed.ok_or_else(|| TimestampError::invalid(s))?;
    parsed
        .checked_to_offset(UtcOffset::UTC)
        .filter(|utc| (EARLIEST..=LATEST).contains(utc))
        .ok_or_else(|| TimestampError::out_of_range(s))
}

/// `time` moved into [`EARLIEST`]..=[`LATEST`]: for instants that do not come from a payload
/// (a record header's receive time) but must still fit a ClickHouse column.
pub fn clamp_to_range(time: OffsetDateTime) -> OffsetDateTime {
    time.clamp(EARLIEST, LATEST)
}

/// Serde helper for `Option<OffsetDateTime>` fields holding a GitLab timestamp:
/// `#[serde(default, with = "crate::timestamp::option")]`.
///
/// - `null`, a missing field (with `#[serde(default)]`) and `""` deserialize to `None`;
/// - any form [`parse_gitlab_time`] accepts deserializes to `Some` instant in UTC;
/// - a well-formed timestamp outside the range ([`TimestampError::OutOfRange`]) is `None`:
///   unknown, since pushers set some of these fields and one absurd value must not cost the
///   hook its rows (see the [module docs](self));
/// - anything else is an error naming the input and the accepted forms.
///
/// Serialization writes RFC 3339 (`2016-08-12T15:23:28Z`) or `null`.
pub mod option {
    use super::*;
    use serde::{de, Deserializer, Serializer};

    pub fn deserialize<'de, D>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error>
    where
        D: Deserializer<'de>,
    {
        deserializer.deserialize_option(OptionVisitor)
    }

    pub fn serialize<S>(value: &Option<OffsetDateTime>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        match value {
            Some(t) => {
                let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
                serializer.serialize_some(&text)
            }
            None => serializer.serialize_none(),
        }
    }

    struct OptionVisitor;

    impl<'de> de::Visitor<'de> for OptionVisitor {
        type Value = Option<OffsetDateTime>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a GitLab timestamp string or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(StrVisitor)
        }
    }

    struct StrVisitor;

    impl de::Visitor<'_> for StrVisitor {
        type Value = Option<OffsetDateTime>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a GitLab timestamp string ({ACCEPTED_FORMS})")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            match parse_gitlab_time(s) {
                Ok(time) => Ok(Some(time)),
                Err(TimestampError::OutOfRange { .. }) => Ok(None),
                Err(error) => Err(E::custom(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn space_separated_utc_suffix() {
        assert_eq!(
            parse_gitlab_time("2016-08-12 15:23:28 UTC").unwrap(),
            datetime!(2016-08-12 15:23:28 UTC)
        );
    }

    #[test]
    fn space_separated_utc_suffix_with_fraction() {
        assert_eq!(
            parse_gitlab_time("2016-08-12 15:23:28.5 UTC").unwrap(),
            datetime!(2016-08-12 15:23:28.5 UTC)
        );
    }

    #[test]
    fn iso_with_z() {
        assert_eq!(
            parse_gitlab_time("2021-04-28T21:50:00Z").unwrap(),
            datetime!(2021-04-28 21:50:00 UTC)
        );
    }

    #[test]
    fn iso_with_offset_is_normalised_to_utc() {
        let t = parse_gitlab_time("2016-08-12T17:23:21+02:00").unwrap();
        assert_eq!(t, datetime!(2016-08-12 15:23:21 UTC));
        assert_eq!(t.offset(), UtcOffset::UTC);

        let t = parse_gitlab_time("2015-04-08T21:00:25-07:00").unwrap();
        assert_eq!(t, datetime!(2015-04-09 04:00:25 UTC));
        assert_eq!(t.offset(), UtcOffset::UTC);
    }

    #[test]
    fn iso_with_milliseconds() {
        assert_eq!(
            parse_gitlab_time("2021-02-23T02:41:37.886Z").unwrap(),
            datetime!(2021-02-23 02:41:37.886 UTC)
        );
    }

    #[test]
    fn iso_with_fraction_and_offset() {
        assert_eq!(
            parse_gitlab_time("2015-12-24T16:51:14.000+01:00").unwrap(),
            datetime!(2015-12-24 15:51:14 UTC)
        );
    }

    #[test]
    fn iso_with_compact_offset() {
        assert_eq!(
            parse_gitlab_time("2021-04-28T21:50:00+0200").unwrap(),
            datetime!(2021-04-28 19:50:00 UTC)
        );
    }

    #[test]
    fn space_separated_compact_offset() {
        let t = parse_gitlab_time("2021-04-28 21:50:00 +0200").unwrap();
        assert_eq!(t, datetime!(2021-04-28 19:50:00 UTC));
        assert_eq!(t.offset(), UtcOffset::UTC);
    }

    #[test]
    fn space_separated_offset_with_colon() {
        assert_eq!(
            parse_gitlab_time("2021-04-28 21:50:00 +02:00").unwrap(),
            datetime!(2021-04-28 19:50:00 UTC)
        );
        assert_eq!(
            parse_gitlab_time("2021-04-28 21:50:00 -05:30").unwrap(),
            datetime!(2021-04-29 03:20:00 UTC)
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(
            parse_gitlab_time(" 2016-08-12 15:23:28 UTC\n").unwrap(),
            datetime!(2016-08-12 15:23:28 UTC)
        );
    }

    #[test]
    fn rejects_garbage_and_ambiguous_forms() {
        for bad in [
            "",
            "yesterday",
            "2016-08-12",
            // No zone: the instant would be a guess.
            "2016-08-12 15:23:28",
            "2016-08-12T15:23:28",
            // Malformed time, as in an old documentation example.
            "2015-04-08T21: 00:25-07:00",
            // Out of range.
            "2016-02-30 15:23:28 UTC",
            "2016-08-12 25:23:28 UTC",
            "2016-08-12 15:23:28 CEST",
            "1471015408",
        ] {
            let err = parse_gitlab_time(bad).unwrap_err();
            assert_eq!(err.input(), bad);
        }
    }

    #[test]
    fn instants_beyond_clickhouse_range_are_out_of_range_not_a_panic() {
        // Year 10000 once normalised to UTC: converting it used to panic.
        for edge in [
            "9999-12-31T23:30:00-01:00",
            "9999-12-31 23:59:59 -14:00",
            "9999-12-31T23:59:59.999999999-23:59",
            "2300-01-01T00:00:00Z",
            "1899-12-31 23:59:59 UTC",
            "0000-01-01T00:00:00+14:00",
        ] {
            let error = parse_gitlab_time(edge).unwrap_err();
            assert!(
                matches!(error, TimestampError::OutOfRange { .. }),
                "{edge}: {error}"
            );
            assert!(error.to_string().contains("outside the years"), "{error}");
        }
        assert_eq!(
            parse_gitlab_time("2299-12-31T23:59:59Z").unwrap(),
            datetime!(2299-12-31 23:59:59 UTC)
        );
        assert_eq!(
            parse_gitlab_time("1900-01-01 00:00:00 UTC").unwrap(),
            EARLIEST
        );
    }

    #[test]
    fn option_helper_reads_out_of_range_instants_as_unknown() {
        assert_eq!(
            holder(r#"{"at": "9999-12-31T23:30:00-01:00"}"#).unwrap().at,
            None
        );
        assert_eq!(
            holder(r#"{"at": "1000-01-01 00:00:00 UTC"}"#).unwrap().at,
            None
        );
    }

    #[test]
    fn clamping_keeps_header_times_storable() {
        assert_eq!(
            clamp_to_range(OffsetDateTime::UNIX_EPOCH),
            OffsetDateTime::UNIX_EPOCH
        );
        assert_eq!(clamp_to_range(datetime!(9999-01-01 00:00 UTC)), LATEST);
        assert_eq!(clamp_to_range(datetime!(1000-01-01 00:00 UTC)), EARLIEST);
    }

    #[test]
    fn error_message_quotes_the_input_and_lists_the_accepted_forms() {
        let err = parse_gitlab_time("last tuesday").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid GitLab timestamp \"last tuesday\": expected \
             \"2016-08-12 15:23:28 UTC\", \"2021-04-28T21:50:00Z\", \
             \"2016-08-12T17:23:21+02:00\", \"2021-02-23T02:41:37.886Z\", \
             \"2021-04-28 21:50:00 +0200\" or \"2021-04-28 21:50:00 +02:00\" \
             (fractional seconds allowed in each)"
        );
    }

    #[test]
    fn error_message_cuts_long_input() {
        let long = "x".repeat(1000);
        let err = parse_gitlab_time(&long).unwrap_err();
        assert_eq!(err.input(), format!("{}…", "x".repeat(64)));
        assert!(err.to_string().len() < 400);
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    struct Holder {
        #[serde(default, with = "crate::timestamp::option")]
        at: Option<OffsetDateTime>,
    }

    fn holder(json: &str) -> Result<Holder, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn option_helper_maps_null_missing_and_empty_to_none() {
        assert_eq!(holder(r#"{"at": null}"#).unwrap().at, None);
        assert_eq!(holder(r#"{}"#).unwrap().at, None);
        assert_eq!(holder(r#"{"at": ""}"#).unwrap().at, None);
        assert_eq!(holder(r#"{"at": "  "}"#).unwrap().at, None);
    }

    #[test]
    fn option_helper_parses_every_form() {
        for (json, expected) in [
            (
                "2016-08-12 15:23:28 UTC",
                datetime!(2016-08-12 15:23:28 UTC),
            ),
            ("2021-04-28T21:50:00Z", datetime!(2021-04-28 21:50:00 UTC)),
            (
                "2016-08-12T17:23:21+02:00",
                datetime!(2016-08-12 15:23:21 UTC),
            ),
            (
                "2021-02-23T02:41:37.886Z",
                datetime!(2021-02-23 02:41:37.886 UTC),
            ),
            (
                "2021-04-28 21:50:00 +0200",
                datetime!(2021-04-28 19:50:00 UTC),
            ),
            (
                "2021-04-28 21:50:00 +02:00",
                datetime!(2021-04-28 19:50:00 UTC),
            ),
        ] {
            let parsed = holder(&format!(r#"{{"at": "{json}"}}"#)).unwrap().at;
            assert_eq!(parsed, Some(expected), "{json}");
        }
    }

    #[test]
    fn option_helper_rejects_garbage_with_a_clear_error() {
        let err = holder(r#"{"at": "soon"}"#).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid GitLab timestamp \"soon\": expected \"2016-08-12 15:23:28 UTC\""
            ),
            "{err}"
        );
        assert!(err.ends_with("at line 1 column 13"), "{err}");

        let err = holder(r#"{"at": 1471015408}"#).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid type: integer `1471015408`, expected a GitLab timestamp string"
            ),
            "{err}"
        );
    }

    #[test]
    fn option_helper_serializes_rfc3339() {
        let h = Holder {
            at: Some(datetime!(2016-08-12 15:23:28 UTC)),
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"at":"2016-08-12T15:23:28Z"}"#
        );
        assert_eq!(
            serde_json::to_string(&Holder { at: None }).unwrap(),
            r#"{"at":null}"#
        );
        let back: Holder = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
