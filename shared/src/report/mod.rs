//! The public report as a plain tree, and the builders that write it out.
//!
//! [`Report`] is the shape of a published rectification report: a title, the opening
//! paragraph, four parts — 一、整改工作开展情况, 二、整改工作具体落实情况 (areas → problems
//! → leaf items), 三、整改工作取得的主要成效, 四、下一步工作打算 — and the signature
//! (publisher and date). Parts 一, 三 and 四 are text ([`Parts`]); part 二 is the tree.
//! The importer produces it from text; the builders (`text`, `html`, and the server's docx)
//! turn it back into a document, the parts in the order [`Report::parts_in_order`] gives.
//! The Automerge model converts to and from it, so the report always comes out of the data.

use crate::date::Date;
use crate::status::PublicStatus;
use serde::{Deserialize, Serialize};

pub mod html;
pub mod text;

/// Who inspected whom, and when: the report's opening sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignHeader {
    /// The inspection team, e.g. `区委第三巡察组`.
    pub inspector: Option<String>,
    /// The inspected body, e.g. `区教体局党委`.
    pub inspected: Option<String>,
    pub inspection_start: Option<Date>,
    pub inspection_end: Option<Date>,
    /// When the feedback (反馈意见) was given.
    pub feedback_date: Option<Date>,
    /// The publishing body, the signature at the end (`中共眉山市彭山区教育和体育局委员会`).
    pub publisher: Option<String>,
    /// The opening paragraph, verbatim (lines joined with `\n` when it has several).
    pub preamble: String,
    /// The report's own title (`中共…关于巡察整改情况的通报`), when it has one.
    pub title: Option<String>,
    /// The date under the signature, when the report was published.
    pub published: Option<Date>,
}

/// A part of the report that is text (一, 三, 四): its heading without the `一、`, and its
/// lines joined with `\n`. Empty heading and body: the report has no such part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub heading: String,
    pub body: String,
}

impl Part {
    pub fn is_empty(&self) -> bool {
        self.heading.trim().is_empty() && self.body.trim().is_empty()
    }
}

/// The standard headings of the four parts, used when a part has text but no heading.
pub const ORGANISATION_HEADING: &str = "整改工作开展情况";
pub const ITEMS_HEADING: &str = "整改工作具体落实情况";
pub const RESULTS_HEADING: &str = "整改工作取得的主要成效";
pub const NEXT_STEPS_HEADING: &str = "下一步工作打算";

/// The parts around the items, as the bureau publishes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// 一、整改工作开展情况: how the work was organised.
    pub organisation: Part,
    /// The heading of part 二, which holds the items; empty means [`ITEMS_HEADING`].
    pub items_heading: String,
    /// 三、整改工作取得的主要成效: what the work achieved.
    pub results: Part,
    /// 四、下一步工作打算: what comes next (with any closing words before the signature).
    pub next_steps: Part,
}

/// One part of the report in print order: its number (一 = 1), heading and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberedPart<'a> {
    pub number: u32,
    pub heading: &'a str,
    pub content: PartContent<'a>,
}

/// What a part holds: text lines, or the items (areas → problems → items, then the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartContent<'a> {
    Text(&'a str),
    Items,
}

/// A whole report: the header, the text parts, and the areas of part 二 in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub campaign: CampaignHeader,
    pub parts: Parts,
    pub areas: Vec<Area>,
}

/// An area (聚焦…方面), numbered 一、二、三… from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub number: u32,
    /// Without the `(一)` prefix, e.g. `聚焦党中央各项决策部署在基层的落实情况方面`.
    pub title: String,
    pub problems: Vec<Problem>,
}

/// A problem (`1.…`) within an area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub number: u32,
    /// Without the `1.` prefix, with its final punctuation as written.
    pub title: String,
    /// The leaf items. A problem without sub-problems has exactly one item with `sub: None`
    /// whose title equals the problem's.
    pub items: Vec<Item>,
}

/// A leaf item: the unit of tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The sub-problem number `(1)`, or `None` for a problem without sub-problems.
    pub sub: Option<u32>,
    /// The problem statement, without the `(1)` prefix.
    pub title: String,
    /// What was done (整改情况), verbatim, without the `整改情况:` label.
    pub narrative: String,
    pub status: PublicStatus,
    /// The status as worded in the source (`整改完成`, `基本完成`…), when it came from a report.
    pub status_wording: Option<String>,
    /// The measures found in the narrative (一是…二是…), in order, without the ordinal.
    pub measures: Vec<String>,
    /// Document numbers mentioned in the narrative, e.g. `眉彭教体发〔2023〕49号`.
    pub document_numbers: Vec<String>,
    /// Dates mentioned in the narrative, as written (`2023年8月22日`).
    pub dates: Vec<String>,
}

/// Totals for the closing summary and the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub areas: usize,
    pub problems: usize,
    pub items: usize,
    pub done: usize,
    pub done_long_term: usize,
    pub in_progress: usize,
}

impl Totals {
    /// Completion rate in percent (done and done-long-term over all items), 0 when empty.
    pub fn completion_percent(&self) -> f64 {
        if self.items == 0 {
            0.0
        } else {
            (self.done + self.done_long_term) as f64 * 100.0 / self.items as f64
        }
    }
}

impl Report {
    /// The parts to print, in order, numbered from 一 without gaps: the items always, a text
    /// part when it has a heading or text (a missing heading becomes the standard one).
    pub fn parts_in_order(&self) -> Vec<NumberedPart<'_>> {
        fn text<'a>(part: &'a Part, standard: &'static str) -> Option<(&'a str, PartContent<'a>)> {
            (!part.is_empty()).then(|| {
                let heading = part.heading.trim();
                let heading = if heading.is_empty() {
                    standard
                } else {
                    heading
                };
                (heading, PartContent::Text(part.body.as_str()))
            })
        }
        let items_heading = match self.parts.items_heading.trim() {
            "" => ITEMS_HEADING,
            heading => heading,
        };
        [
            text(&self.parts.organisation, ORGANISATION_HEADING),
            Some((items_heading, PartContent::Items)),
            text(&self.parts.results, RESULTS_HEADING),
            text(&self.parts.next_steps, NEXT_STEPS_HEADING),
        ]
        .into_iter()
        .flatten()
        .zip(1..)
        .map(|((heading, content), number)| NumberedPart {
            number,
            heading,
            content,
        })
        .collect()
    }

    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            areas: self.areas.len(),
            ..Totals::default()
        };
        for area in &self.areas {
            totals.problems += area.problems.len();
            for item in area.problems.iter().flat_map(|p| &p.items) {
                totals.items += 1;
                match item.status {
                    PublicStatus::Done => totals.done += 1,
                    PublicStatus::DoneLongTerm => totals.done_long_term += 1,
                    PublicStatus::InProgress => totals.in_progress += 1,
                }
            }
        }
        totals
    }
}
