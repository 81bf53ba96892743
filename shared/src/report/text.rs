//! Writes a [`Report`] as plain text in the report's own format, which the importer reads
//! back: `import::parse(&text::build(&report))` gives the same campaign header, parts, areas,
//! problems and items.
//!
//! The text is the published document: the title (only when the report has its own), the
//! opening paragraph, the parts in order (一、… as text, 二、… with every item and the closing
//! summary of the totals, 三、…, 四、…), the publisher and the date.
//!
//! What does not come back the same (and so where the text of a real report differs from
//! the generated one; `shared/tests/report.rs` lists every such line of the real report):
//! - `status_wording` becomes the canonical wording of the status, with its full-width comma
//!   (`整改完成，长期坚持`), whatever the source wrote (`整改完成,长期坚持`, `已完成`);
//! - a sub-problem the importer read through a typo in its number (`7.…(1)…` then `2.…`) is
//!   written with its corrected number (`(2)`);
//! - the closing summary of the totals (`截至目前,共反馈问题…`) is added at the end of part 二,
//!   or takes the place of the report's own;
//! - an item whose narrative is empty but has measures gets a narrative made of them
//!   (`一是…；二是…`);
//! - the title of the single item of a problem without sub-problems is the problem's;
//! - blank lines are dropped, and lines are trimmed;
//! - parts are numbered 一、二、… in order without gaps (a report without part 一 has its
//!   items under 一、); a text part without a heading gets the standard one;
//! - a line of text that looks like a header (`2.…`, `(一)…`, `整改进度:…`, `五、…`) is read
//!   as one.

use super::{CampaignHeader, Item, NumberedPart, PartContent, Report, Totals};
use crate::date::Date;
use crate::import::numerals::cjk_numeral;
use crate::status::PublicStatus;
use std::fmt::Write;

/// The standard heading of section 二, which holds the items.
pub const ITEMS_SECTION: &str = "二、整改工作具体落实情况";

/// `二、整改工作具体落实情况`: a part's heading line.
pub fn part_heading(part: &NumberedPart<'_>) -> String {
    format!("{}、{}", cjk_numeral(part.number), part.heading)
}

/// The non-blank lines of a text part or a paragraph, trimmed.
pub fn text_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|line| !line.is_empty())
}

/// Builds the text: title, opening paragraph, the parts in order (part 二 with every item and
/// a closing summary of the totals), the publisher's signature and the date. Punctuation is
/// half-width, as in the source.
pub fn build(report: &Report) -> String {
    // Writing to a String cannot fail: the `fmt::Result`s below are ignored.
    let mut out = String::new();
    let lines = |text: &str, out: &mut String| {
        for line in text_lines(text) {
            out.push_str(line);
            out.push('\n');
        }
    };
    if let Some(title) = &report.campaign.title {
        lines(title, &mut out);
    }
    lines(&opening(&report.campaign), &mut out);
    for part in report.parts_in_order() {
        let _ = writeln!(out, "{}", part_heading(&part));
        match part.content {
            PartContent::Text(body) => lines(body, &mut out),
            PartContent::Items => {
                write_items(report, &mut out);
                out.push_str(&summary(&report.totals()));
                out.push('\n');
            }
        }
    }
    if let Some(publisher) = &report.campaign.publisher {
        lines(publisher, &mut out);
    }
    if let Some(published) = report.campaign.published {
        let _ = writeln!(out, "{}", date(published));
    }
    out
}

fn write_items(report: &Report, out: &mut String) {
    for area in &report.areas {
        let _ = writeln!(out, "({}){}", cjk_numeral(area.number), area.title);
        for problem in &area.problems {
            let _ = writeln!(out, "{}.{}", problem.number, problem.title);
            for item in &problem.items {
                if let Some(sub) = item.sub {
                    let _ = writeln!(out, "({sub}){}", item.title);
                }
                let _ = writeln!(out, "整改情况:{}", narrative(item));
                let _ = writeln!(out, "整改进度:{}。", item.status.wording());
            }
        }
    }
}

fn narrative(item: &Item) -> String {
    if !item.narrative.is_empty() || item.measures.is_empty() {
        return item.narrative.clone();
    }
    item.measures
        .iter()
        .enumerate()
        .map(|(i, measure)| format!("{}是{measure}", cjk_numeral(i as u32 + 1)))
        .collect::<Vec<_>>()
        .join("；")
}

/// The opening paragraph: the stored one, or else one made from the header's data like
/// the original's (`2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。…`).
pub fn opening(campaign: &CampaignHeader) -> String {
    if !campaign.preamble.trim().is_empty() {
        return campaign.preamble.clone();
    }
    let mut out = String::new();
    let period = match (campaign.inspection_start, campaign.inspection_end) {
        (Some(start), Some(end)) => Some(period(start, end)),
        (Some(start), None) => Some(date(start)),
        _ => None,
    };
    if campaign.inspector.is_some() || campaign.inspected.is_some() || period.is_some() {
        if let Some(period) = period {
            let _ = write!(out, "{period},");
        }
        out.push_str(campaign.inspector.as_deref().unwrap_or("巡察组"));
        if let Some(inspected) = &campaign.inspected {
            let _ = write!(out, "对{inspected}");
        }
        out.push_str("进行了巡察。");
    }
    if let Some(feedback) = campaign.feedback_date {
        let _ = write!(out, "{},巡察组", date(feedback));
        if let Some(inspected) = &campaign.inspected {
            let _ = write!(out, "向{inspected}");
        }
        out.push_str("反馈了巡察意见。");
    }
    if !out.is_empty() {
        out.push_str("现将巡察整改情况予以公布。");
    }
    out
}

/// `2023年9月14日`
pub fn date(date: Date) -> String {
    format!("{}年{}月{}日", date.year, date.month, date.day)
}

/// `2023年4月13日至6月2日`: the end's year only when it differs.
fn period(start: Date, end: Date) -> String {
    if start.year == end.year {
        format!("{}至{}月{}日", date(start), end.month, end.day)
    } else {
        format!("{}至{}", date(start), date(end))
    }
}

/// The closing summary, e.g. `截至目前,共反馈问题24个,细化为整改事项53项,已整改完成44项
/// (其中整改完成24项,整改完成，长期坚持20项),正在整改中9项,完成率83.0%。`
pub fn summary(totals: &Totals) -> String {
    format!(
        "截至目前,共反馈问题{}个,细化为整改事项{}项,已整改完成{}项(其中{}{}项,{}{}项),{}{}项,完成率{:.1}%。",
        totals.problems,
        totals.items,
        totals.done + totals.done_long_term,
        PublicStatus::Done.wording(),
        totals.done,
        PublicStatus::DoneLongTerm.wording(),
        totals.done_long_term,
        PublicStatus::InProgress.wording(),
        totals.in_progress,
        totals.completion_percent(),
    )
}
