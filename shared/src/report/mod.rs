//! The public report as a plain tree, and the builders that write it out.
//!
//! [`Report`] is the shape of section 二 of a published rectification report (整改工作具体落实情况):
//! areas → problems → leaf items. The importer produces it from text; the builders
//! (`text`, `html`) turn it back into text. The Automerge model converts to and from it,
//! so the report always comes out of the data.

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
    /// The opening paragraph, verbatim.
    pub preamble: String,
}

/// Section 二 of a report: the areas in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub campaign: CampaignHeader,
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
