//! Helpers shared by the integration tests: the real report and a readable dump of an import.

#![allow(dead_code)] // each test crate uses a part of this module

use rectify_shared::import::{ImportError, Imported};
use rectify_shared::report::Report;
use rectify_shared::status::PublicStatus;
use std::fmt::Write;

/// The real report (a copy of `../shared/data/pengshan-edu-inspection-rectification-2024.txt`).
pub const PENGSHAN: &str = include_str!("../data/pengshan-2024.txt");

/// A readable dump of an import or its error, for snapshots.
pub fn dump(result: &Result<Imported, ImportError>, with_campaign: bool) -> String {
    match result {
        Ok(imported) => {
            let mut out = String::new();
            if with_campaign {
                out.push_str(&dump_campaign(&imported.report));
            }
            out.push_str(&dump_areas(&imported.report));
            out.push_str(&dump_warnings(imported));
            out
        }
        Err(error) => {
            let zh = error.in_chinese();
            assert_chinese(&zh, &error.to_string());
            format!("error: {error}\n  zh: {zh}\n")
        }
    }
}

pub fn dump_campaign(report: &Report) -> String {
    let c = &report.campaign;
    let show = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let mut out = String::new();
    let _ = writeln!(out, "campaign");
    let _ = writeln!(out, "  inspector: {}", show(c.inspector.clone()));
    let _ = writeln!(out, "  inspected: {}", show(c.inspected.clone()));
    let _ = writeln!(
        out,
        "  inspection: {} to {}",
        show(c.inspection_start.map(|d| d.to_string())),
        show(c.inspection_end.map(|d| d.to_string()))
    );
    let _ = writeln!(
        out,
        "  feedback: {}",
        show(c.feedback_date.map(|d| d.to_string()))
    );
    let _ = writeln!(out, "  publisher: {}", show(c.publisher.clone()));
    let _ = writeln!(out, "  preamble: {}", c.preamble.replace('\n', "⏎"));
    if let Some(title) = &c.title {
        let _ = writeln!(out, "  title: {title}");
    }
    if let Some(published) = c.published {
        let _ = writeln!(out, "  published: {published}");
    }
    let p = &report.parts;
    if !p.items_heading.is_empty() {
        let _ = writeln!(out, "  part 二: {}", p.items_heading);
    }
    for (name, part) in [
        ("一", &p.organisation),
        ("三", &p.results),
        ("四", &p.next_steps),
    ] {
        if !part.is_empty() {
            let lines = part.body.lines().count();
            let first: String = part.body.chars().take(20).collect();
            let _ = writeln!(
                out,
                "  part {name}: {} ({lines} lines: {first}…)",
                part.heading
            );
        }
    }
    out
}

pub fn dump_areas(report: &Report) -> String {
    let mut out = String::new();
    let t = report.totals();
    let _ = writeln!(
        out,
        "totals: {} areas, {} problems, {} items: {} done, {} done long-term, {} in progress ({:.1}%)",
        t.areas,
        t.problems,
        t.items,
        t.done,
        t.done_long_term,
        t.in_progress,
        t.completion_percent()
    );
    for area in &report.areas {
        let _ = writeln!(out, "area {}: {}", area.number, area.title);
        for problem in &area.problems {
            let _ = writeln!(out, "  {}. {}", problem.number, problem.title);
            for item in &problem.items {
                let indent = match item.sub {
                    Some(sub) => {
                        let _ = writeln!(out, "    ({sub}) {}", item.title);
                        "      "
                    }
                    None => "    ",
                };
                let wording = item.status_wording.as_deref().unwrap_or("-");
                let _ = writeln!(
                    out,
                    "{indent}status: {} ({wording})",
                    status_name(item.status)
                );
                if item.measures.is_empty() {
                    let _ = writeln!(
                        out,
                        "{indent}narrative: {}",
                        item.narrative.replace('\n', "⏎")
                    );
                }
                for measure in &item.measures {
                    let _ = writeln!(out, "{indent}- {}", measure.replace('\n', "⏎"));
                }
                if !item.document_numbers.is_empty() {
                    let _ = writeln!(
                        out,
                        "{indent}documents: {}",
                        item.document_numbers.join(" | ")
                    );
                }
                if !item.dates.is_empty() {
                    let _ = writeln!(out, "{indent}dates: {}", item.dates.join(" | "));
                }
            }
        }
    }
    out
}

/// A short English name of a status, for dumps.
pub fn status_name(status: PublicStatus) -> &'static str {
    match status {
        PublicStatus::Done => "done",
        PublicStatus::DoneLongTerm => "done_long_term",
        PublicStatus::InProgress => "in_progress",
    }
}

pub fn dump_warnings(imported: &Imported) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "warnings: {}", imported.warnings.len());
    for warning in &imported.warnings {
        let _ = writeln!(out, "  {warning}");
        assert_chinese(&warning.message_zh, &warning.message);
        let _ = writeln!(out, "    zh: {}", warning.message_zh);
    }
    out
}

/// A message for the office in Chinese: not empty, and no Latin words outside what it quotes
/// from the file (“…”), the Unicode code points it names (U+001A) and file types (.docx).
pub fn assert_chinese(zh: &str, en: &str) {
    assert!(!zh.is_empty(), "no Chinese for: {en}");
    let mut outside = String::new();
    let mut depth = 0usize;
    for c in zh.chars() {
        match c {
            '“' => depth += 1,
            '”' => depth = depth.saturating_sub(1),
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = outside
        .split(|c: char| !c.is_ascii_alphanumeric() && !matches!(c, '+' | '.'))
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|w| !w.starts_with("U+") && !w.starts_with('.'))
        .collect();
    assert!(words.is_empty(), "Latin words {words:?} in: {zh}");
}
