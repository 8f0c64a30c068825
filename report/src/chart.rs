//! Charts as inline SVG: a line per series over time, bars per category, or one big number.
//!
//! Drawn here rather than by a script library, so the page is one file that shows its charts
//! offline, in any browser, and in a mail client that blocks scripts. Every drawn datum has
//! the class `mark`, which the page's render check counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hookline_schemas::queries::{ChartKind, Header};
use serde_json::Value;

use crate::units::Unit;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
/// Room for the axis labels.
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
/// Lines or bars drawn at most; the rest are in the table under the chart.
const MAX_SERIES: usize = 8;
const MAX_BARS: usize = 20;
/// Colours of successive series, distinguishable in print too.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// The chart of a query's rows, as an `<svg class="chart">` element; `None` for a table-only
/// query or when there is nothing to draw.
pub fn svg(header: &Header, rows: &[Vec<Value>]) -> Option<String> {
    let column = |name: &str| header.columns.iter().position(|(c, _)| c == name);
    let chart = &header.chart;
    match chart.kind {
        ChartKind::Table => None,
        ChartKind::Stat => {
            let index = column(chart.y.first()?)?;
            let (name, ty) = &header.columns[index];
            let value = rows.first()?.get(index)?;
            Some(stat(&Unit::of(name, ty).format(value)))
        }
        ChartKind::Line | ChartKind::Bar => {
            let x = column(&chart.x)?;
            let ys: Vec<usize> = chart.y.iter().filter_map(|y| column(y)).collect();
            let unit = ys
                .first()
                .map(|&y| Unit::of(&header.columns[y].0, &header.columns[y].1))?;
            let series = chart.series.as_deref().and_then(column);
            // (series name, [(x label, y value)])
            let mut lines: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
            for row in rows {
                let label = text(row.get(x)?);
                for &y in &ys {
                    let Some(value) = row.get(y).and_then(Value::as_f64) else {
                        continue;
                    };
                    let name = match series {
                        Some(s) if ys.len() == 1 => text(row.get(s)?),
                        Some(s) => format!("{} {}", text(row.get(s)?), header.columns[y].0),
                        None => header.columns[y].0.clone(),
                    };
                    lines.entry(name).or_default().push((label.clone(), value));
                }
            }
            if lines.is_empty() {
                return None;
            }
            Some(if chart.kind == ChartKind::Line {
                line(lines, unit)
            } else {
                bars(lines, unit)
            })
        }
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn open(out: &mut String, height: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">"#
    );
}

fn stat(value: &str) -> String {
    let mut out = String::new();
    open(&mut out, 80.0);
    let _ = write!(
        out,
        r#"<text class="mark" x="16" y="56" font-size="40" font-weight="600">{}</text></svg>"#,
        escape(value)
    );
    out
}

/// The y scale: 0 to a little above the largest value; 0 to 100 % for fractions.
fn scale(max: f64, unit: Unit) -> f64 {
    if unit == Unit::Ratio && max <= 1.0 {
        1.0
    } else if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

fn axes(out: &mut String, top_value: f64, unit: Unit, first: &str, last: &str) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#999"/><line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#999"/><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><text x="{}" y="{}" font-size="11" text-anchor="end">0</text><text x="{LEFT}" y="{}" font-size="11">{}</text><text x="{WIDTH}" y="{}" font-size="11" text-anchor="end">{}</text>"##,
        LEFT - 4.0,
        TOP + 10.0,
        escape(&unit.format(&Value::from(top_value))),
        LEFT - 4.0,
        base,
        HEIGHT - 8.0,
        escape(first),
        HEIGHT - 8.0,
        escape(last),
    );
}

/// The key of a chart's colours, under it.
fn legend(names: &[&String]) -> String {
    let mut items = String::new();
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            items,
            r#"<span class="key"><i style="background:{}"></i>{}</span>"#,
            PALETTE[i % PALETTE.len()],
            escape(name)
        );
    }
    format!(r#"<div class="legend">{items}</div>"#)
}

fn line(lines: BTreeMap<String, Vec<(String, f64)>>, unit: Unit) -> String {
    // The biggest series first: the others are in the table.
    let mut lines: Vec<(String, Vec<(String, f64)>)> = lines.into_iter().collect();
    lines.sort_by(|a, b| {
        let total = |l: &[(String, f64)]| l.iter().map(|(_, v)| v).sum::<f64>();
        total(&b.1).total_cmp(&total(&a.1))
    });
    lines.truncate(MAX_SERIES);
    let mut xs: Vec<&String> = lines
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(x, _)| x))
        .collect();
    xs.sort();
    xs.dedup();
    let max = lines
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top = scale(max, unit);
    let span = (xs.len().max(2) - 1) as f64;
    let px = |x: &String| {
        let i = xs.binary_search(&x).unwrap_or_default() as f64;
        LEFT + (WIDTH - LEFT - 8.0) * i / span
    };
    let py = |v: f64| TOP + (HEIGHT - BOTTOM - TOP) * (1.0 - v / top);
    let mut out = String::new();
    open(&mut out, HEIGHT);
    axes(
        &mut out,
        top,
        unit,
        xs.first().map_or("", |x| x.as_str()),
        xs.last().map_or("", |x| x.as_str()),
    );
    for (i, (_, points)) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, v)| format!("{:.1},{:.1}", px(x), py(*v)))
            .collect();
        // A single point is a dot: a one-point line has no extent to draw.
        if path.len() > 1 {
            let _ = write!(
                out,
                r#"<polyline class="mark" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
        }
        for (x, v) in points {
            let _ = write!(
                out,
                r#"<circle class="mark" cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{}: {}</title></circle>"#,
                px(x),
                py(*v),
                escape(x),
                escape(&unit.format(&Value::from(*v)))
            );
        }
    }
    let names: Vec<&String> = lines.iter().map(|(n, _)| n).collect();
    out.push_str("</svg>");
    out + &legend(&names)
}

fn bars(lines: BTreeMap<String, Vec<(String, f64)>>, unit: Unit) -> String {
    let mut lines: Vec<(String, Vec<(String, f64)>)> = lines.into_iter().collect();
    lines.truncate(MAX_SERIES);
    // Categories in the order the query returned them (it orders them meaningfully).
    let mut categories: Vec<String> = Vec::new();
    for (_, points) in &lines {
        for (x, _) in points {
            if !categories.contains(x) && categories.len() < MAX_BARS {
                categories.push(x.clone());
            }
        }
    }
    let max = lines
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top = scale(max, unit);
    let slot = (WIDTH - LEFT - 8.0) / categories.len().max(1) as f64;
    let bar = slot * 0.8 / lines.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, HEIGHT);
    axes(
        &mut out,
        top,
        unit,
        categories.first().map_or("", String::as_str),
        categories.last().map_or("", String::as_str),
    );
    for (s, (_, points)) in lines.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        for (x, v) in points {
            let Some(c) = categories.iter().position(|c| c == x) else {
                continue;
            };
            let height = (HEIGHT - BOTTOM - TOP) * v / top;
            let _ = write!(
                out,
                r#"<rect class="mark" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                LEFT + slot * c as f64 + slot * 0.1 + bar * s as f64,
                HEIGHT - BOTTOM - height,
                bar.max(1.0),
                height.max(0.5),
                escape(x),
                escape(&unit.format(&Value::from(*v)))
            );
        }
    }
    let names: Vec<&String> = lines.iter().map(|(n, _)| n).collect();
    out.push_str("</svg>");
    out + &legend(&names)
}

/// Text safe inside HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_schemas::queries::Query;
    use serde_json::json;

    fn header(chart: &str, columns: &str) -> Header {
        let text = format!(
            "-- title: T\n-- question: Q\n-- definition: D\n-- chart: {chart}\n-- columns: {columns}\nSELECT 1"
        );
        let query = Query {
            area: "ci",
            name: "t",
            text: Box::leak(text.into_boxed_str()),
        };
        query.header().expect("a valid header")
    }

    #[test]
    fn a_line_chart_has_a_line_and_a_point_per_value_of_each_series() {
        let header = header(
            "line x=day y=p50_seconds series=project_path",
            "day Date, project_path String, p50_seconds Nullable(Float64)",
        );
        let rows = vec![
            vec![json!("2026-01-01"), json!("a/x"), json!(10.0)],
            vec![json!("2026-01-02"), json!("a/x"), json!(20.0)],
            vec![json!("2026-01-01"), json!("a/<y>"), json!(null)],
        ];
        let svg = svg(&header, &rows).expect("a chart");
        assert_eq!(svg.matches("<polyline class=\"mark\"").count(), 1);
        assert_eq!(svg.matches("<circle class=\"mark\"").count(), 2);
        assert!(!svg.contains("<y>"), "text is escaped");
    }

    #[test]
    fn a_series_of_one_point_is_a_dot_not_a_line_without_extent() {
        let header = header("line x=week y=opened", "week Date, opened UInt64");
        let svg = svg(&header, &[vec![json!("2026-01-05"), json!(3)]]).expect("a chart");
        assert!(!svg.contains("<polyline"), "{svg}");
        assert_eq!(svg.matches("<circle class=\"mark\"").count(), 1);
    }

    #[test]
    fn bars_and_stats_draw_marks_and_empty_results_draw_nothing() {
        let bar = header(
            "bar x=stage y=p95_seconds",
            "stage String, p95_seconds Float64",
        );
        let rows = vec![
            vec![json!("test"), json!(3.0)],
            vec![json!("build"), json!(1.0)],
        ];
        assert_eq!(
            svg(&bar, &rows)
                .unwrap()
                .matches("<rect class=\"mark\"")
                .count(),
            2
        );
        assert!(svg(&bar, &[]).is_none());
        let stat = header("stat y=rate", "rate Float64");
        assert!(svg(&stat, &[vec![json!(0.5)]]).unwrap().contains("50.0 %"));
        assert!(svg(&header("table", "a String"), &[vec![json!("x")]]).is_none());
    }
}
