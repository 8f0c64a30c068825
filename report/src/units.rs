//! How a column's values read, from its name and type: the library names every measure by what
//! it measures (`p50_seconds`, `failure_rate`, `per_day`, `max_days`, `minutes`), so a
//! column's unit never needs to be declared twice.

use serde_json::Value;

/// What a column's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A duration in seconds, shown in the largest unit that keeps it readable.
    Seconds,
    /// A duration in days.
    Days,
    /// CI minutes.
    Minutes,
    /// A fraction, shown as a percentage.
    Ratio,
    /// Events per day.
    PerDay,
    /// A count.
    Count,
    /// Any other number.
    Number,
    /// Text: names, paths, days, bands.
    Text,
}

impl Unit {
    /// The unit of column `name` of ClickHouse type `ty`.
    pub fn of(name: &str, ty: &str) -> Self {
        let numeric = ["Int", "UInt", "Float"]
            .iter()
            .any(|prefix| ty.trim_start_matches("Nullable(").starts_with(prefix));
        if !numeric {
            Unit::Text
        } else if name.ends_with("seconds")
            || name.starts_with("duration_")
            || name.starts_with("queued_")
        {
            Unit::Seconds
        } else if name.ends_with("days") {
            Unit::Days
        } else if name == "minutes" {
            Unit::Minutes
        } else if name.ends_with("rate") || name.ends_with("share") {
            Unit::Ratio
        } else if name == "per_day" {
            Unit::PerDay
        } else if ty.contains("Int") {
            Unit::Count
        } else {
            Unit::Number
        }
    }

    /// The unit's name for an axis or a column heading; empty when it has none.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Seconds => "time",
            Unit::Days => "days",
            Unit::Minutes => "min",
            Unit::Ratio => "%",
            Unit::PerDay => "per day",
            Unit::Count | Unit::Number | Unit::Text => "",
        }
    }

    /// A value as text with its unit; `–` for NULL.
    pub fn format(self, value: &Value) -> String {
        if value.is_null() {
            return "–".to_owned();
        }
        let Some(number) = value.as_f64() else {
            return value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
        };
        match self {
            Unit::Seconds => duration(number),
            Unit::Days => format!("{number:.1} d"),
            Unit::Minutes => format!("{number:.1} min"),
            Unit::Ratio => format!("{:.1} %", number * 100.0),
            Unit::PerDay => format!("{number:.2}/day"),
            Unit::Count => thousands(number.round() as i64),
            Unit::Number => format!("{number:.2}"),
            Unit::Text => value.to_string(),
        }
    }
}

/// Seconds in the largest unit that keeps a readable number.
pub fn duration(seconds: f64) -> String {
    let abs = seconds.abs();
    if abs < 60.0 {
        format!("{seconds:.0} s")
    } else if abs < 3_600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if abs < 86_400.0 {
        format!("{:.1} h", seconds / 3_600.0)
    } else {
        format!("{:.1} d", seconds / 86_400.0)
    }
}

/// An integer with thin separators between thousands.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units_follow_the_column_names_of_the_library() {
        assert_eq!(Unit::of("p50_seconds", "Nullable(Float64)"), Unit::Seconds);
        assert_eq!(Unit::of("queued_p95", "Nullable(Float64)"), Unit::Seconds);
        assert_eq!(Unit::of("max_days", "Nullable(Float64)"), Unit::Days);
        assert_eq!(Unit::of("failure_rate", "Float64"), Unit::Ratio);
        assert_eq!(Unit::of("share", "Float64"), Unit::Ratio);
        assert_eq!(Unit::of("per_day", "Float64"), Unit::PerDay);
        assert_eq!(Unit::of("pipelines", "UInt64"), Unit::Count);
        assert_eq!(Unit::of("project_path", "String"), Unit::Text);
        assert_eq!(Unit::of("band", "Nullable(String)"), Unit::Text);
    }

    #[test]
    fn values_read_with_their_units() {
        assert_eq!(Unit::Seconds.format(&json!(42)), "42 s");
        assert_eq!(Unit::Seconds.format(&json!(5400)), "1.5 h");
        assert_eq!(Unit::Seconds.format(&json!(172_800)), "2.0 d");
        assert_eq!(Unit::Ratio.format(&json!(0.125)), "12.5 %");
        assert_eq!(Unit::Count.format(&json!(1_234_567)), "1,234,567");
        assert_eq!(Unit::Seconds.format(&Value::Null), "–");
        assert_eq!(Unit::Text.format(&json!("elite")), "elite");
    }
}
