//! The report as text: per query its title, its definition and its rows as a table with
//! units, the widest tables cut to their first rows.

use std::fmt::Write as _;

use crate::run::Section;
use crate::units::Unit;

/// Rows shown per query; the HTML page has them all.
pub const MAX_ROWS: usize = 15;

/// The whole report: `scope` says what it covers (range and filters).
pub fn render(scope: &str, sections: &[Section]) -> String {
    let mut out = format!("Hookline report: {scope}\n");
    let mut area = "";
    for section in sections {
        if section.query.area != area {
            area = section.query.area;
            let _ = write!(out, "\n=== {} ===\n", area_title(area));
        }
        let _ = write!(out, "\n{}\n", section.header.title);
        let _ = writeln!(out, "  {}", section.header.definition);
        if section.rows.is_empty() {
            out.push_str("  (no data in this range)\n");
            continue;
        }
        out.push_str(&table(section));
    }
    out
}

/// An area's heading.
pub fn area_title(area: &str) -> &'static str {
    match area {
        "ci" => "CI pipelines",
        "jobs" => "Jobs",
        "merge_requests" => "Merge requests and review",
        "dora" => "DORA",
        "activity" => "Pushes, issues and incidents",
        _ => "Other",
    }
}

/// The rows as an aligned text table: numbers right-aligned, text left.
fn table(section: &Section) -> String {
    let columns = &section.header.columns;
    let units: Vec<Unit> = columns.iter().map(|(n, t)| Unit::of(n, t)).collect();
    let headings: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let cells: Vec<Vec<String>> = section
        .rows
        .iter()
        .take(MAX_ROWS)
        .map(|row| {
            row.iter()
                .zip(&units)
                .map(|(value, unit)| unit.format(value))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headings[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        let mut out = String::from(" ");
        for ((value, width), unit) in values.iter().zip(&widths).zip(&units) {
            let pad = width - value.chars().count();
            if *unit == Unit::Text {
                let _ = write!(out, " {value}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{value}", " ".repeat(pad));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(&headings);
    for row in &cells {
        out.push_str(&line(row));
    }
    if section.rows.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "  … and {} more rows (--html writes them all)",
            section.rows.len() - MAX_ROWS
        );
    }
    out
}
