//! The report as one self-contained HTML page: the DORA four keys with their performance
//! bands first, then per query a chart ([`crate::chart`]) and its rows.
//!
//! Nothing is loaded from elsewhere: styles and charts are inline, so the file can be mailed
//! or archived. A short script at the end checks that every chart was laid out with its marks
//! and records the result on `<body data-charts="rendered/total">`, which the tests read
//! from a headless browser.

use std::fmt::Write as _;

use serde_json::Value;

use crate::chart::{escape, svg};
use crate::run::Section;
use crate::terminal::area_title;
use crate::units::Unit;

/// Rows shown under a chart at most.
const MAX_ROWS: usize = 500;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}\
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}h3{margin-bottom:.2rem}\
p.definition{color:#555;margin-top:0;max-width:60rem}table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}\
td,th{padding:.15rem .6rem;border-bottom:1px solid #eee;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.keys{display:flex;gap:1rem;flex-wrap:wrap}.key4{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;min-width:14rem}\
.key4 .value{font-size:1.8rem;font-weight:600}.band{display:inline-block;padding:.1rem .5rem;border-radius:4px;color:#fff;font-size:.8rem}\
.elite{background:#1a7f37}.high{background:#2f81f7}.medium{background:#bf8700}.low{background:#cf222e}.none{background:#888}\
.legend{font-size:.8rem;margin-bottom:.5rem}.legend .key{margin-right:1rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}";

const CHECK: &str = "(function(){var c=document.querySelectorAll('svg.chart'),ok=0;\
c.forEach(function(s){var b=s.getBBox(),m=s.querySelectorAll('.mark'),drawn=0;\
m.forEach(function(e){var r=e.getBBox();if(r.width>0||r.height>0){drawn++}});\
var good=b.width>0&&b.height>0&&m.length>0&&drawn===m.length;if(good){ok++}\
s.setAttribute('data-rendered',good?'yes':'no')});\
document.body.setAttribute('data-charts',ok+'/'+c.length)})();";

/// The page for `sections`; `scope` says what it covers.
pub fn render(scope: &str, sections: &[Section]) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Hookline report: {0}</title><style>{STYLE}</style></head><body><h1>Hookline report</h1><p>{0}</p>",
        escape(scope)
    );
    if let Some(summary) = sections.iter().find(|s| s.query.name == "dora_summary") {
        four_keys(&mut out, summary);
    }
    let mut area = "";
    for section in sections {
        if section.query.area != area {
            area = section.query.area;
            let _ = write!(out, "<h2>{}</h2>", area_title(area));
        }
        let _ = write!(
            out,
            "<section id=\"{}\"><h3>{}</h3><p class=\"definition\">{}</p>",
            section.query.name,
            escape(&section.header.title),
            escape(&section.header.definition)
        );
        if section.rows.is_empty() {
            out.push_str("<p>No data in this range.</p></section>");
            continue;
        }
        if let Some(chart) = svg(&section.header, &section.rows) {
            out.push_str(&chart);
        }
        table(&mut out, section);
        out.push_str("</section>");
    }
    let _ = write!(out, "<script>{CHECK}</script></body></html>");
    out
}

/// The four keys with their bands, from `dora/dora_summary`.
fn four_keys(out: &mut String, summary: &Section) {
    let Some(row) = summary.rows.first() else {
        return;
    };
    let cell = |name: &str| {
        summary
            .header
            .columns
            .iter()
            .position(|(c, _)| c == name)
            .map(|i| (Unit::of(name, &summary.header.columns[i].1), &row[i]))
    };
    let keys = [
        ("Deployment frequency", "per_day", "frequency_band"),
        (
            "Lead time for changes",
            "lead_time_p50_seconds",
            "lead_time_band",
        ),
        (
            "Change failure rate",
            "change_failure_rate",
            "change_failure_band",
        ),
        (
            "Time to restore service",
            "time_to_restore_p50_seconds",
            "restore_band",
        ),
    ];
    out.push_str("<h2>DORA: the four keys</h2><div class=\"keys\">");
    for (title, value, band) in keys {
        let (Some((unit, value)), Some((_, band))) = (cell(value), cell(band)) else {
            continue;
        };
        let band = band.as_str().unwrap_or("none");
        let _ = write!(
            out,
            "<div class=\"key4\"><div>{title}</div><div class=\"value\">{}</div><span class=\"band {}\">{}</span></div>",
            escape(&unit.format(value)),
            if ["elite", "high", "medium", "low"].contains(&band) { band } else { "none" },
            if band == "none" { "no data" } else { band }
        );
    }
    out.push_str("</div>");
}

fn table(out: &mut String, section: &Section) {
    let units: Vec<Unit> = section
        .header
        .columns
        .iter()
        .map(|(n, t)| Unit::of(n, t))
        .collect();
    out.push_str("<table><tr>");
    for (name, _) in &section.header.columns {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr>");
    for row in section.rows.iter().take(MAX_ROWS) {
        out.push_str("<tr>");
        for (value, unit) in row.iter().zip(&units) {
            let class = if *unit == Unit::Text {
                ""
            } else {
                " class=\"n\""
            };
            let text = if matches!(value, Value::Null) {
                "–".to_owned()
            } else {
                unit.format(value)
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if section.rows.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p>… and {} more rows: narrow the range or the scope.</p>",
            section.rows.len() - MAX_ROWS
        );
    }
}
