//! Structure-aware mutation of real payloads, for the property tests of the JSON targets.
//!
//! Random bytes almost never get past a JSON parser; a real GitLab payload with one field
//! replaced by something GitLab never sends (another type, an edge-of-range timestamp, a
//! number too large for any integer, deep nesting, a deleted member) reaches the models and
//! projections where the defects are. The mutations are a pure function of the input bytes,
//! so a failing case reproduces from its bytes alone.

use serde_json::Value;

use crate::input::Input;

/// Timestamps at the edges of what GitLab's forms can express, and near misses.
const TIMESTAMPS: [&str; 14] = [
    "2016-08-12 15:23:28 UTC",
    "2021-04-28T21:50:00Z",
    "2016-08-12T17:23:21+02:00",
    "2021-02-23T02:41:37.886Z",
    "2021-04-28 21:50:00 +0200",
    "2021-04-28 21:50:00 +02:00",
    "9999-12-31T23:59:59.999999999Z",
    "0000-01-01T00:00:00Z",
    "0000-01-01 00:30:00 +0100",
    "2021-02-29T00:00:00Z",
    "2021-04-28T24:00:00Z",
    "2021-04-28 21:50:00",
    "1970-01-01T00:00:00-23:59",
    "",
];

/// Raw JSON spliced in where a value was: text `serde_json::Value` cannot hold.
const RAW: [&str; 8] = [
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "0.000000000000000000000000000001",
    "-0",
    "1E+2",
];

/// A placeholder value later replaced by raw JSON text.
const SPLICE: &str = "\u{1}hookline-splice\u{1}";

/// `body` (JSON) with one to four mutations chosen by `choices`; then, for some choices, one
/// byte-level change (truncation, a flipped byte, invalid UTF-8).
pub fn mutate(body: &[u8], choices: &[u8]) -> Vec<u8> {
    let mut input = Input::new(choices);
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let mut splices = Vec::new();
    for _ in 0..1 + input.byte() % 4 {
        let paths = paths(&value);
        let path = &paths[input.u16() as usize % paths.len()];
        apply(&mut value, path, &mut input, &mut splices);
    }
    let mut text = serde_json::to_string(&value).expect("a Value serialises");
    for raw in splices {
        let quoted = serde_json::to_string(SPLICE).expect("a string serialises");
        text = text.replacen(&quoted, &raw, 1);
    }
    let mut bytes = text.into_bytes();
    let at = input.u16() as usize % (bytes.len() + 1);
    match input.byte() % 8 {
        0 => bytes.truncate(at),
        1 if at < bytes.len() => bytes[at] ^= input.byte().max(1),
        2 => bytes.splice(at..at, [0xff, 0xfe]).for_each(drop),
        3 => bytes.splice(at..at, [0xc3]).for_each(drop),
        _ => {}
    }
    bytes
}

/// Every JSON pointer of the document, root first.
fn paths(value: &Value) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut stack = vec![(String::new(), value)];
    while let Some((path, value)) = stack.pop() {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (
                        format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")),
                        v,
                    )
                })
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{path}/{i}"), v))
                .collect(),
            _ => Vec::new(),
        };
        for (child, value) in children {
            out.push(child.clone());
            stack.push((child, value));
        }
    }
    out
}

fn apply(root: &mut Value, path: &str, input: &mut Input<'_>, splices: &mut Vec<String>) {
    let op = input.byte() % 12;
    if op == 11 {
        // Delete the member (or array item).
        if let Some((parent, last)) = path.rsplit_once('/') {
            let last = last.replace("~1", "/").replace("~0", "~");
            match root.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        return;
    }
    let Some(target) = root.pointer_mut(path) else {
        return;
    };
    let old = target.take();
    *target = match op {
        0 => Value::Null,
        1 => Value::Bool(input.byte() % 2 == 0),
        2 => TIMESTAMPS[input.byte() as usize % TIMESTAMPS.len()].into(),
        3 => input.text(40).into(),
        4 => Value::from(input.i64()),
        5 => Value::from(f64::from(input.u16()) / 7.0 - 4000.0),
        6 => Value::from(u64::MAX - u64::from(input.byte())),
        7 => {
            splices.push(RAW[input.byte() as usize % RAW.len()].to_owned());
            SPLICE.into()
        }
        8 => {
            // Deep nesting, up to well past serde_json's recursion limit of 128.
            let depth = 1 + input.byte() as usize;
            splices.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            SPLICE.into()
        }
        9 => Value::Array(vec![old]),
        10 => match old {
            // The same value as the other scalar type GitLab has been seen to change to.
            Value::Number(n) => n.to_string().into(),
            Value::String(s) => s.parse::<i64>().map_or(Value::String(s), Value::from),
            other => Value::Object([("value".to_owned(), other)].into_iter().collect()),
        },
        _ => unreachable!("op is below 11"),
    };
}
