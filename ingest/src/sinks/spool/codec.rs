//! The spool's value format: one [`HookRecord`] and the time it was spooled, in a small
//! versioned binary layout.
//!
//! Hand-written rather than serde plus a format crate: the record has a dozen fields, the
//! layout must stay readable by later releases (a spool written before an upgrade is drained
//! after it), and a decoder written here can promise to reject every malformed input with an
//! error instead of a panic. Version 1, all integers little-endian:
//!
//! ```text
//! u8   version (1)
//! i64  spooled_at_ms (Unix epoch)
//! str  topic          str  key           opt  dead_letter_reason
//! str  event_type     str  event_id      opt  delivery_key
//! i64  received_at_ms opt  gitlab_instance  opt  source  opt  gitlab_version
//! blob body
//! ```
//!
//! `blob` is a `u32` length and that many bytes, `str` a blob holding UTF-8, `opt` a `u8` tag
//! (0 absent, 1 present) followed by a `str` when present. Nothing may follow the body.

use bytes::Bytes;
use hookline_schemas::record::RecordHeaders;

use crate::sinks::HookRecord;

/// The version this build writes; the decoder reads exactly this one so far.
pub const VERSION: u8 = 1;

/// Bytes before the first variable-length field: version and `spooled_at_ms`.
const HEADER_LEN: usize = 1 + 8;

/// A spooled record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("spooled record has format version {0}; this build reads version {VERSION}")]
    UnknownVersion(u8),
    #[error("spooled record is truncated while reading {0}")]
    Truncated(&'static str),
    #[error("spooled record field {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("spooled record field {field} has an invalid presence tag {tag}")]
    BadTag { field: &'static str, tag: u8 },
    #[error("spooled record has {0} unexpected bytes after the body")]
    TrailingBytes(usize),
}

/// Encodes `record`, spooled at `spooled_at_ms`.
pub fn encode(record: &HookRecord, spooled_at_ms: i64) -> Vec<u8> {
    let h = &record.headers;
    let mut out = Vec::with_capacity(record.body.len() + 256);
    out.push(VERSION);
    out.extend_from_slice(&spooled_at_ms.to_le_bytes());
    put_blob(&mut out, record.topic.as_bytes());
    put_blob(&mut out, record.key.as_bytes());
    put_opt(&mut out, record.dead_letter_reason.as_deref());
    put_blob(&mut out, h.event_type.as_bytes());
    put_blob(&mut out, h.event_id.as_bytes());
    put_opt(&mut out, h.delivery_key.as_deref());
    out.extend_from_slice(&h.received_at_ms.to_le_bytes());
    put_opt(&mut out, h.gitlab_instance.as_deref());
    put_opt(&mut out, h.source.as_deref());
    put_opt(&mut out, h.gitlab_version.as_deref());
    put_blob(&mut out, &record.body);
    out
}

/// Decodes a value written by [`encode`]: the record and when it was spooled.
pub fn decode(bytes: &[u8]) -> Result<(HookRecord, i64), DecodeError> {
    let spooled_at_ms = spooled_at_ms(bytes)?;
    let mut reader = Reader {
        rest: &bytes[HEADER_LEN..],
    };
    let topic = reader.text("topic")?;
    let key = reader.text("key")?;
    let dead_letter_reason = reader.opt("dead_letter_reason")?;
    let event_type = reader.text("event_type")?;
    let event_id = reader.text("event_id")?;
    let delivery_key = reader.opt("delivery_key")?;
    let received_at_ms = reader.i64("received_at_ms")?;
    let gitlab_instance = reader.opt("gitlab_instance")?;
    let source = reader.opt("source")?;
    let gitlab_version = reader.opt("gitlab_version")?;
    let body = Bytes::copy_from_slice(reader.blob("body")?);
    if !reader.rest.is_empty() {
        return Err(DecodeError::TrailingBytes(reader.rest.len()));
    }
    let record = HookRecord {
        topic,
        key,
        headers: RecordHeaders {
            event_type,
            event_id,
            delivery_key,
            received_at_ms,
            gitlab_instance,
            source,
            gitlab_version,
        },
        dead_letter_reason,
        body,
    };
    Ok((record, spooled_at_ms))
}

/// When a value was spooled, read without decoding the rest (for the oldest-age gauge).
pub fn spooled_at_ms(bytes: &[u8]) -> Result<i64, DecodeError> {
    let version = *bytes.first().ok_or(DecodeError::Truncated("version"))?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    Reader { rest: &bytes[1..] }.i64("spooled_at_ms")
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    // Bodies are bounded by --max-body-bytes (a usize well under 4 GiB in practice); a
    // larger one would be refused long before it reaches the spool.
    let len = u32::try_from(bytes.len()).expect("spooled field under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_blob(out, text.as_bytes());
        }
    }
}

/// Reads fields off the front of a value; every read checks the length first.
struct Reader<'a> {
    /// What is left to read.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated(field));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let bytes = self.take(8, field)?;
        Ok(i64::from_le_bytes(bytes.try_into().expect("eight bytes")))
    }

    fn blob(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.take(4, field)?;
        let len = u32::from_le_bytes(len.try_into().expect("four bytes"));
        self.take(len as usize, field)
    }

    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.blob(field)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8(field))
    }

    fn opt(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.take(1, field)?[0] {
            0 => Ok(None),
            1 => self.text(field).map(Some),
            tag => Err(DecodeError::BadTag { field, tag }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every optional field set (`full`) or none (`!full`).
    pub(crate) fn record(key: &str, body: &[u8], full: bool) -> HookRecord {
        let some = |text: &str| full.then(|| text.to_owned());
        HookRecord {
            topic: "gitlab.pipeline".to_owned(),
            key: key.to_owned(),
            headers: RecordHeaders {
                event_type: "Pipeline Hook".to_owned(),
                event_id: format!("event-{key}-{}", body.len()),
                delivery_key: some("idem-1"),
                received_at_ms: 1_700_000_000_123,
                gitlab_instance: some("https://gitlab.example.com"),
                source: some("prod"),
                gitlab_version: some("17.5.1"),
            },
            dead_letter_reason: some("empty body"),
            body: Bytes::copy_from_slice(body),
        }
    }

    fn assert_same(a: &HookRecord, b: &HookRecord) {
        assert_eq!(
            (&a.topic, &a.key, &a.headers, &a.dead_letter_reason, &a.body),
            (&b.topic, &b.key, &b.headers, &b.dead_letter_reason, &b.body)
        );
    }

    #[test]
    fn round_trips_with_and_without_optional_fields() {
        for (full, body) in [
            (true, &b"{\"project\":{\"id\":7}}"[..]),
            (false, b""),
            (true, b"\xff\x00 not utf-8"),
        ] {
            let original = record("7", body, full);
            let (decoded, at) = decode(&encode(&original, -5)).unwrap();
            assert_same(&decoded, &original);
            assert_eq!(at, -5);
        }
        let value = encode(&record("1", b"{}", true), 1_234);
        assert_eq!(spooled_at_ms(&value), Ok(1_234));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let value = encode(&record("42", b"{\"a\":1}", true), 99);
        for len in 0..value.len() {
            assert!(decode(&value[..len]).is_err(), "prefix of {len} bytes");
        }
    }

    #[test]
    fn corrupt_values_are_refused_with_a_reason() {
        let value = encode(&record("42", b"{}", false), 1);
        let mut other_version = value.clone();
        other_version[0] = 9;
        assert_eq!(
            decode(&other_version).unwrap_err(),
            DecodeError::UnknownVersion(9)
        );
        let mut trailing = value.clone();
        trailing.push(0);
        assert_eq!(
            decode(&trailing).unwrap_err(),
            DecodeError::TrailingBytes(1)
        );
        // The topic's length claims more bytes than there are.
        let mut huge = value.clone();
        huge[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge).unwrap_err(), DecodeError::Truncated("topic"));
        // The first byte of the topic is not UTF-8.
        let mut not_utf8 = value.clone();
        not_utf8[HEADER_LEN + 4] = 0xff;
        assert_eq!(
            decode(&not_utf8).unwrap_err(),
            DecodeError::NotUtf8("topic")
        );
        // The presence tag of the dead-letter reason (after topic and key) is neither 0 nor 1.
        let mut bad_tag = value;
        let tag_at = HEADER_LEN + 4 + "gitlab.pipeline".len() + 4 + "42".len();
        bad_tag[tag_at] = 7;
        assert!(matches!(
            decode(&bad_tag).unwrap_err(),
            DecodeError::BadTag { tag: 7, .. }
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: xorshift bytes after a valid version byte.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..512 {
            let mut bytes = vec![VERSION];
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8 % 8);
            }
            let _ = decode(&bytes);
        }
    }
}
