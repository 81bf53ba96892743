//! Writes a [`Report`] as a standalone, printable HTML5 document: no scripts, no external
//! resources, A4 pages when printed.

use super::text::{date, opening, part_heading, summary, text_lines};
use super::{Item, PartContent, Report};
use crate::import::numerals::cjk_numeral;
use crate::status::PublicStatus;
use std::fmt::Write;

/// The report's one `<style>`: the web client's Content-Security-Policy allows exactly this
/// text (by its hash), so the report opened from the app keeps its look.
pub const STYLE: &str = r#"
:root { --ink: #1a1a1a; --muted: #555; --rule: #bbb; --done: #1d6b35; --long: #1f4f8f; --open: #a0460f; }
* { box-sizing: border-box; }
body {
  margin: 0 auto; max-width: 52rem; padding: 2rem 1.5rem; color: var(--ink); line-height: 1.75;
  font-family: "Songti SC", "STSong", "SimSun", "宋体", "Noto Serif CJK SC", "Source Han Serif SC",
    "Noto Serif SC", serif;
}
h1 { font-size: 1.6rem; text-align: center; margin: 0 0 1.5rem; line-height: 1.4; }
h2 { font-size: 1.25rem; margin: 2rem 0 1rem; }
h3 { font-size: 1.1rem; margin: 1.75rem 0 0.75rem; }
h4 { font-size: 1rem; margin: 1.25rem 0 0.5rem; }
h5 { font-size: 1rem; font-weight: normal; margin: 0 0 0.25rem; }
p { margin: 0.25rem 0; text-indent: 2em; }
.preamble { margin-bottom: 1rem; }
table.totals { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
table.totals th, table.totals td { border: 1px solid var(--rule); padding: 0.35rem 0.5rem; text-align: center; }
table.totals th { font-weight: normal; color: var(--muted); }
.item { margin: 0.5rem 0 1rem 1em; break-inside: avoid; page-break-inside: avoid; }
.item p { text-indent: 0; }
.label { font-weight: bold; }
.badge {
  display: inline-block; padding: 0 0.5em; border: 1px solid currentColor; border-radius: 0.25em;
  font-size: 0.9em; white-space: nowrap;
}
.badge.done { color: var(--done); }
.badge.done-long-term { color: var(--long); }
.badge.in-progress { color: var(--open); }
.signature { text-align: right; margin-top: 2.5rem; text-indent: 0; }
.signature.date { margin-top: 0; }
h2, h3, h4, h5 { break-after: avoid; page-break-after: avoid; }
@page { size: A4; margin: 25mm 22mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 12pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Builds the document as the bureau publishes it: the title, the opening paragraph, the
/// parts in order (part 二 with every area, problem and item with its status badge, then the
/// closing summary and a table of the totals), the signature and the date.
pub fn build(report: &Report) -> String {
    // Writing to a String cannot fail: the `fmt::Result`s below are ignored.
    let campaign = &report.campaign;
    let title = title(report);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title),
    );
    for line in text_lines(&opening(campaign)) {
        let _ = writeln!(out, "<p class=\"preamble\">{}</p>", escape(line));
    }
    out.push_str("</header>\n");
    for part in report.parts_in_order() {
        let _ = writeln!(
            out,
            "<section class=\"part\">\n<h2>{}</h2>",
            escape(&part_heading(&part))
        );
        match part.content {
            PartContent::Text(body) => {
                for line in text_lines(body) {
                    let _ = writeln!(out, "<p>{}</p>", escape(line));
                }
            }
            PartContent::Items => write_items(&mut out, report),
        }
        out.push_str("</section>\n");
    }
    if let Some(publisher) = &campaign.publisher {
        let _ = writeln!(out, "<p class=\"signature\">{}</p>", escape(publisher));
    }
    if let Some(published) = campaign.published {
        let _ = writeln!(out, "<p class=\"signature date\">{}</p>", date(published));
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Part 二: the areas, problems and items, then the summary and the totals.
fn write_items(out: &mut String, report: &Report) {
    for area in &report.areas {
        let _ = writeln!(
            out,
            "<section class=\"area\">\n<h3>({}){}</h3>",
            cjk_numeral(area.number),
            escape(&area.title)
        );
        for problem in &area.problems {
            let _ = writeln!(
                out,
                "<article class=\"problem\">\n<h4>{}.{}</h4>",
                problem.number,
                escape(&problem.title)
            );
            for item in &problem.items {
                write_item(out, item);
            }
            out.push_str("</article>\n");
        }
        out.push_str("</section>\n");
    }
    let totals = report.totals();
    let _ = write!(
        out,
        "<p class=\"summary\">{}</p>\n<table class=\"totals\">\n\
         <thead><tr><th>反馈问题</th><th>整改事项</th><th>{}</th><th>{}</th><th>{}</th><th>完成率</th></tr></thead>\n\
         <tbody><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr></tbody>\n\
         </table>\n",
        escape(&summary(&totals)),
        PublicStatus::Done.wording(),
        PublicStatus::DoneLongTerm.wording(),
        PublicStatus::InProgress.wording(),
        totals.problems,
        totals.items,
        totals.done,
        totals.done_long_term,
        totals.in_progress,
        totals.completion_percent(),
    );
}

fn write_item(out: &mut String, item: &Item) {
    let badge = format!(
        "<span class=\"badge {}\">{}</span>",
        badge_class(item.status),
        escape(item.status.wording())
    );
    out.push_str("<div class=\"item\">\n");
    if let Some(sub) = item.sub {
        let _ = writeln!(out, "<h5>({sub}){} {badge}</h5>", escape(&item.title));
    }
    let narrative = escape(&item.narrative).replace('\n', "<br>\n");
    let _ = writeln!(
        out,
        "<p><span class=\"label\">整改情况:</span>{narrative}</p>"
    );
    let _ = writeln!(out, "<p><span class=\"label\">整改进度:</span>{badge}</p>");
    out.push_str("</div>\n");
}

/// The CSS class of a status badge.
fn badge_class(status: PublicStatus) -> &'static str {
    match status {
        PublicStatus::Done => "done",
        PublicStatus::DoneLongTerm => "done-long-term",
        PublicStatus::InProgress => "in-progress",
    }
}

/// The document's title: the report's own, else one made like
/// `{publisher}关于{inspector}巡察反馈意见整改情况的通报` from what the header has.
pub fn title(report: &Report) -> String {
    let campaign = &report.campaign;
    if let Some(title) = campaign.title.as_deref().filter(|t| !t.trim().is_empty()) {
        return title.trim().to_owned();
    }
    let about = match &campaign.inspector {
        Some(inspector) => format!("关于{inspector}巡察反馈意见整改情况的通报"),
        None => "关于巡察整改情况的通报".to_owned(),
    };
    format!("{}{about}", campaign.publisher.as_deref().unwrap_or(""))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
