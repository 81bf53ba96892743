//! Between the documents and the plain report tree: import (report → documents), the public
//! report and the ledger (documents → report, rows).

use super::{
    AreaInfo, CampaignDoc, ItemDoc, Measure, MeasureText, PartDoc, SCHEMA_VERSION, Timing,
};
use crate::api::{LeftAlone, ReportText};
use crate::date::Date;
use crate::import::numerals::cjk_numeral;
use crate::ledger::{LedgerRow, UnitLedgerRow};
use crate::policy::{Actor, Role};
use crate::report::{Area, CampaignHeader, Item, Part, Parts, Problem, Report};
use crate::status::PublicStatus;
use crate::workflow::{Refusal, UnitStatus, check_item_status};
use automerge::AutoCommit;
use autosurgeon::Text;
use std::collections::BTreeMap;

/// The campaign document for an imported report.
pub fn campaign_from_report(report: &Report) -> CampaignDoc {
    let header = &report.campaign;
    let inspector = header.inspector.clone().unwrap_or_default();
    let inspected = header.inspected.clone().unwrap_or_default();
    let name = match (inspector.is_empty(), inspected.is_empty()) {
        (false, false) => format!("{inspector}巡察{inspected}反馈问题整改"),
        _ => "巡察反馈问题整改".to_owned(),
    };
    CampaignDoc {
        schema_version: SCHEMA_VERSION,
        kind: "campaign".to_owned(),
        name,
        inspector,
        inspected,
        inspection_start: header.inspection_start.map(|d| d.to_string()),
        inspection_end: header.inspection_end.map(|d| d.to_string()),
        feedback_date: header.feedback_date.map(|d| d.to_string()),
        publisher: header.publisher.clone().unwrap_or_default(),
        preamble: Text::with_value(&header.preamble),
        areas: report
            .areas
            .iter()
            .map(|a| AreaInfo {
                number: a.number,
                title: a.title.clone(),
            })
            .collect(),
        title: header.title.clone().unwrap_or_default(),
        published: header.published.map(|d| d.to_string()),
        organisation: part_doc(&report.parts.organisation),
        items_heading: report.parts.items_heading.clone(),
        results: part_doc(&report.parts.results),
        next_steps: part_doc(&report.parts.next_steps),
    }
}

fn part_doc(part: &Part) -> PartDoc {
    PartDoc {
        heading: part.heading.clone(),
        body: Text::with_value(&part.body),
    }
}

fn part(doc: &PartDoc) -> Part {
    Part {
        heading: doc.heading.clone(),
        body: doc.body.as_str().to_owned(),
    }
}

/// Sets `existing` to `part`, splicing the text so that only what changed is written.
fn update_part(existing: &mut PartDoc, part: &Part) {
    if existing.heading != part.heading {
        existing.heading.clone_from(&part.heading);
    }
    existing.body.update(part.body.as_str());
}

/// Brings a stored campaign up to date with a re-imported report of the same inspection
/// round: its header, opening paragraph and areas become the report's; its title, date,
/// headings and text parts too, except those the report lacks, which keep what is stored
/// (the office may have written them).
pub fn refresh_campaign_from_report(existing: &mut CampaignDoc, imported: &CampaignDoc) {
    existing.name.clone_from(&imported.name);
    existing
        .inspection_start
        .clone_from(&imported.inspection_start);
    existing.inspection_end.clone_from(&imported.inspection_end);
    existing.publisher.clone_from(&imported.publisher);
    existing.preamble.update(imported.preamble.as_str());
    existing.areas.clone_from(&imported.areas);
    if !imported.title.trim().is_empty() {
        existing.title.clone_from(&imported.title);
    }
    if imported.published.is_some() {
        existing.published.clone_from(&imported.published);
    }
    if !imported.items_heading.is_empty() {
        existing.items_heading.clone_from(&imported.items_heading);
    }
    for (mine, theirs) in [
        (&mut existing.organisation, &imported.organisation),
        (&mut existing.results, &imported.results),
        (&mut existing.next_steps, &imported.next_steps),
    ] {
        if !part(theirs).is_empty() {
            update_part(mine, &part(theirs));
        }
    }
}

/// The report's own text of a campaign, as the office edits it.
pub fn report_text(campaign: &CampaignDoc) -> ReportText {
    ReportText {
        title: campaign.title.clone(),
        preamble: campaign.preamble.as_str().to_owned(),
        organisation: part(&campaign.organisation),
        items_heading: campaign.items_heading.clone(),
        results: part(&campaign.results),
        next_steps: part(&campaign.next_steps),
        publisher: campaign.publisher.clone(),
        published: campaign.published.clone(),
    }
}

/// Why the office's [`ReportText`] cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportTextError {
    #[error(
        "the date of publication '{0}' is not a date: write it as YYYY-MM-DD, or leave it empty"
    )]
    BadDate(String),
    #[error("{field} is {chars} characters long: at most {max} fit in a report")]
    TooLong {
        field: &'static str,
        chars: usize,
        max: usize,
    },
}

/// Sets the report's own text of `campaign`, splicing text so that only what changed is
/// written. Line ends become `\n`; lines keep their text.
pub fn set_report_text(
    campaign: &mut CampaignDoc,
    text: &ReportText,
) -> Result<(), ReportTextError> {
    const MAX_LINE: usize = 500;
    const MAX_TEXT: usize = 100_000;
    let published = match text.published.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(date) => Some(
            date.parse::<Date>()
                .map_err(|_| ReportTextError::BadDate(date.to_owned()))?
                .to_string(),
        ),
    };
    let clean = |field: &'static str, value: &str, max: usize| {
        let value = value.replace("\r\n", "\n").replace('\r', "\n");
        let chars = value.chars().count();
        if chars > max {
            return Err(ReportTextError::TooLong { field, chars, max });
        }
        Ok(value)
    };
    let clean_part = |field: &'static str, part: &Part| -> Result<Part, ReportTextError> {
        Ok(Part {
            heading: clean(field, part.heading.trim(), MAX_LINE)?,
            body: clean(field, &part.body, MAX_TEXT)?,
        })
    };
    let title = clean("the title", text.title.trim(), MAX_LINE)?;
    let preamble = clean("the opening paragraph", &text.preamble, MAX_TEXT)?;
    let organisation = clean_part("part 一", &text.organisation)?;
    let items_heading = clean("part 二's heading", text.items_heading.trim(), MAX_LINE)?;
    let results = clean_part("part 三", &text.results)?;
    let next_steps = clean_part("part 四", &text.next_steps)?;
    let publisher = clean("the publisher", text.publisher.trim(), MAX_LINE)?;
    campaign.title = title;
    campaign.preamble.update(preamble.as_str());
    update_part(&mut campaign.organisation, &organisation);
    campaign.items_heading = items_heading;
    update_part(&mut campaign.results, &results);
    update_part(&mut campaign.next_steps, &next_steps);
    campaign.publisher = publisher;
    campaign.published = published;
    Ok(())
}

/// The stable key of an item: `area.problem` or `area.problem.sub`.
pub fn item_key(area: u32, problem: u32, sub: Option<u32>) -> String {
    match sub {
        Some(sub) => format!("{area}.{problem}.{sub}"),
        None => format!("{area}.{problem}"),
    }
}

/// The item document for one imported leaf item. A 长期坚持 status implies the timing.
pub fn item_from_report(campaign: &str, area: &Area, problem: &Problem, item: &Item) -> ItemDoc {
    let key = item_key(area.number, problem.number, item.sub);
    let mut doc = ItemDoc::new(campaign, &key, &item.title);
    doc.area_no = area.number;
    doc.area_title = area.title.clone();
    doc.problem_no = problem.number;
    doc.problem_title = problem.title.clone();
    doc.sub_no = item.sub;
    doc.narrative = Text::with_value(&item.narrative);
    doc.status = item.status;
    doc.document_numbers = item.document_numbers.clone();
    doc.timing = (item.status == PublicStatus::DoneLongTerm).then_some(Timing::LongTerm);
    // A new document: its measures are `m1`, `m2` … (nothing before them to collide with).
    doc.measures = item
        .measures
        .iter()
        .enumerate()
        .map(|(i, text)| Measure {
            id: format!("m{}", i + 1),
            text: Text::with_value(text),
        })
        .collect();
    doc
}

/// Brings an existing item up to date with a re-imported one: the definition changes; the
/// plan, the units' progress, feedback and reviews stay. Measures are matched by their text
/// ([`measures_by_text`]): ticks stay on the measures whose text the report still has. The public status and the office's
/// narrative change only where the app's workflow allows (returned as [`LeftAlone`] where
/// not): a status set in the app since the last import stays, an item is never closed with
/// units not signed off ([`check_item_status`]) nor reopened by a report, and a narrative
/// edited in the app since the last import stays. `last_import` is the item as the last
/// import (or the creating one) left it ([`as_last_imported`]); without it, the app's values
/// count as imported.
pub fn refresh_from_report(
    existing: &mut ItemDoc,
    imported: &ItemDoc,
    last_import: Option<&ItemDoc>,
) -> Vec<LeftAlone> {
    let mut left_alone = Vec::new();
    let mut leave = |field: &str, report_says: &str, why: String| {
        left_alone.push(LeftAlone {
            key: existing.key.clone(),
            field: field.to_owned(),
            report_says: report_says.to_owned(),
            why,
        });
    };
    if imported.narrative.as_str() != existing.narrative.as_str() {
        let edited_in_app =
            last_import.is_some_and(|last| last.narrative.as_str() != existing.narrative.as_str());
        if edited_in_app {
            leave(
                "narrative",
                imported.narrative.as_str(),
                "整改情况在系统中修改过（上次导入之后），保留系统中的文字".to_owned(),
            );
        } else {
            existing.narrative.update(imported.narrative.as_str());
        }
    }
    if imported.status != existing.status {
        let office = Actor {
            role: Role::Office,
            unit: None,
        };
        let set_in_app = last_import.is_some_and(|last| last.status != existing.status);
        let why = if set_in_app {
            Some(format!(
                "整改进度在系统中改为“{}”（上次导入之后），保留系统中的状态",
                existing.status.wording()
            ))
        } else if existing.status.is_done() && !imported.status.is_done() {
            Some(format!(
                "事项在系统中已{}，报告不能重新打开它；如需重新整改，请在系统中操作",
                existing.status.wording()
            ))
        } else {
            check_item_status(&office, imported.status, &existing.unit_statuses())
                .err()
                .map(|refusal| match refusal {
                    Refusal::UnitsNotSignedOff { pending } => format!(
                        "没整改到位绝不销号：还有 {pending} 个单位未销号，保留“{}”",
                        existing.status.wording()
                    ),
                    other => other.to_string(),
                })
        };
        match why {
            Some(why) => leave("status", imported.status.wording(), why),
            None => existing.status = imported.status,
        }
    }
    existing.area_title.clone_from(&imported.area_title);
    existing.problem_title.clone_from(&imported.problem_title);
    existing.title.update(imported.title.as_str());
    existing
        .document_numbers
        .clone_from(&imported.document_numbers);
    if existing.timing.is_none() {
        existing.timing = imported.timing;
    }
    let measures = measures_by_text(existing, imported);
    // Ids come only from `existing`'s current measures, each once, or are fresh: `set_measures`
    // has nothing to refuse.
    if let Err(error) = super::item::set_measures(existing, &measures) {
        unreachable!("a re-import's measures are refused: {error}");
    }
    left_alone
}

/// The imported measure list, each text matched to an existing measure with the same text
/// (in order, each existing measure once): an unchanged text keeps its measure and so its
/// ticks; a changed or new text is a new measure; an existing measure whose text the report
/// no longer has is removed.
fn measures_by_text(existing: &ItemDoc, imported: &ItemDoc) -> Vec<MeasureText> {
    let mut unmatched: Vec<&Measure> = existing.current_measures().collect();
    imported
        .measures
        .iter()
        .map(|measure| {
            let text = measure.text.as_str();
            let same = unmatched.iter().position(|m| m.text.as_str() == text);
            MeasureText {
                id: same.map(|at| unmatched.remove(at).id.clone()),
                text: text.to_owned(),
            }
        })
        .collect()
}

/// The item as the last import left it: the document at its latest change made by an import
/// (or by the import that created it). `None` when no import made it, or it does not read.
pub fn as_last_imported(doc: &mut AutoCommit) -> Option<ItemDoc> {
    let hash = doc
        .get_changes(&[])
        .into_iter()
        .rev()
        .find(|change| {
            change
                .message()
                .and_then(super::read_commit_message)
                .and_then(|m| {
                    m.get("op")?
                        .as_str()
                        .map(|op| op == "import" || op == "create")
                })
                .unwrap_or(false)
        })?
        .hash();
    ItemDoc::load(&doc.fork_at(&[hash]).ok()?).ok()
}

/// The whole report of a campaign: header, text parts, and the items in report order.
pub fn report_from_docs(campaign: &CampaignDoc, items: &[ItemDoc]) -> Report {
    let parse_date = |d: &Option<String>| d.as_deref().and_then(|d| d.parse().ok());
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut sorted: Vec<&ItemDoc> = items.iter().collect();
    sorted.sort_by_key(|i| (i.area_no, i.problem_no, i.sub_no));
    let mut areas: Vec<Area> = Vec::new();
    for item in sorted {
        if areas.last().is_none_or(|a| a.number != item.area_no) {
            let title = campaign
                .areas
                .iter()
                .find(|a| a.number == item.area_no)
                .map_or_else(|| item.area_title.clone(), |a| a.title.clone());
            areas.push(Area {
                number: item.area_no,
                title,
                problems: Vec::new(),
            });
        }
        let area = areas.last_mut().expect("pushed above");
        if area
            .problems
            .last()
            .is_none_or(|p| p.number != item.problem_no)
        {
            area.problems.push(Problem {
                number: item.problem_no,
                title: item.problem_title.clone(),
                items: Vec::new(),
            });
        }
        let problem = area.problems.last_mut().expect("pushed above");
        problem.items.push(Item {
            sub: item.sub_no,
            title: item.title.as_str().to_owned(),
            narrative: item.narrative.as_str().to_owned(),
            status: item.status,
            status_wording: None,
            measures: item
                .current_measures()
                .map(|m| m.text.as_str().to_owned())
                .collect(),
            document_numbers: item.document_numbers.clone(),
            dates: Vec::new(),
        });
    }
    Report {
        campaign: CampaignHeader {
            inspector: non_empty(&campaign.inspector),
            inspected: non_empty(&campaign.inspected),
            inspection_start: parse_date(&campaign.inspection_start),
            inspection_end: parse_date(&campaign.inspection_end),
            feedback_date: parse_date(&campaign.feedback_date),
            publisher: non_empty(&campaign.publisher),
            preamble: campaign.preamble.as_str().to_owned(),
            title: non_empty(&campaign.title),
            published: parse_date(&campaign.published),
        },
        parts: Parts {
            organisation: part(&campaign.organisation),
            items_heading: campaign.items_heading.clone(),
            results: part(&campaign.results),
            next_steps: part(&campaign.next_steps),
        },
        areas,
    }
}

/// What the ledger needs besides the items: unit names, and when each item last changed.
#[derive(Debug, Clone, Default)]
pub struct LedgerContext {
    /// Unit id → name.
    pub unit_names: BTreeMap<String, String>,
    /// Item key → time of its last change, Unix milliseconds.
    pub last_change_ms: BTreeMap<String, i64>,
}

impl LedgerContext {
    /// A unit's (or department's) name; its id when it has none.
    fn unit_name(&self, id: &str) -> String {
        self.unit_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }
}

/// The items in report order: by area, problem, sub-item.
fn in_report_order<'a>(items: impl IntoIterator<Item = &'a ItemDoc>) -> Vec<&'a ItemDoc> {
    let mut sorted: Vec<&ItemDoc> = items.into_iter().collect();
    sorted.sort_by_key(|i| (i.area_no, i.problem_no, i.sub_no));
    sorted
}

/// One ledger row per item, in report order. The items are borrowed, so a caller holding
/// them beside other things (the server's loaded campaign) need not copy them.
pub fn ledger_rows<'a>(
    items: impl IntoIterator<Item = &'a ItemDoc>,
    context: &LedgerContext,
) -> Vec<LedgerRow> {
    in_report_order(items)
        .into_iter()
        .map(|item| LedgerRow {
            area: cjk_numeral(item.area_no),
            area_title: item.area_title.clone(),
            problem_no: item.problem_no,
            item_no: item.number(),
            title: item.title.as_str().to_owned(),
            public_status: item.status.wording().to_owned(),
            responsible_leader: item.responsible_leader.clone(),
            responsible_department: item
                .responsible_department
                .as_deref()
                .map(|id| context.unit_name(id))
                .unwrap_or_default(),
            units: item
                .units
                .iter()
                .map(|u| context.unit_name(u))
                .collect::<Vec<_>>()
                .join("、"),
            deadline: item.deadline.clone().unwrap_or_default(),
            timing: item
                .timing
                .map(|t| t.label_zh().to_owned())
                .unwrap_or_default(),
            measures_count: item.current_measures().count(),
            evidence_count: item.evidence_count(),
            last_change: context
                .last_change_ms
                .get(&item.key)
                .map(|ms| beijing_time(*ms))
                .unwrap_or_default(),
        })
        .collect()
}

/// The per-unit ledger: one row per assigned unit of each item, by unit (in the order of
/// their names), then in report order.
pub fn unit_ledger_rows<'a>(
    items: impl IntoIterator<Item = &'a ItemDoc>,
    context: &LedgerContext,
) -> Vec<UnitLedgerRow> {
    let mut rows: Vec<UnitLedgerRow> = Vec::new();
    for item in in_report_order(items) {
        let current: Vec<&str> = item.current_measures().map(|m| m.id.as_str()).collect();
        for unit in &item.units {
            let progress = item.progress.get(unit);
            let status = progress.map_or(UnitStatus::NotStarted, |p| p.status);
            // The decision that put the unit where it is: the office's last sign-off.
            let sign_off = (status == UnitStatus::SignedOff)
                .then(|| {
                    item.reviews
                        .iter()
                        .filter(|r| r.unit == *unit && r.decision == UnitStatus::SignedOff)
                        .max_by_key(|r| r.at_ms)
                })
                .flatten();
            let ticked = progress.map_or(0, |p| {
                current
                    .iter()
                    .filter(|id| p.measures_done.get(**id).copied().unwrap_or(false))
                    .count()
            });
            rows.push(UnitLedgerRow {
                unit: context.unit_name(unit),
                area: cjk_numeral(item.area_no),
                item_no: item.number(),
                title: item.title.as_str().to_owned(),
                state: status.label_zh().to_owned(),
                signed_off_by: sign_off.map(|r| r.by.clone()).unwrap_or_default(),
                signed_off_at: sign_off.map(|r| beijing_time(r.at_ms)).unwrap_or_default(),
                narrative: progress
                    .map(|p| p.narrative.as_str().to_owned())
                    .unwrap_or_default(),
                measures_done: format!("{ticked}/{}", current.len()),
                evidence_count: progress.map_or(0, |p| p.evidence.len()),
                updated: progress
                    .filter(|p| p.updated_at_ms > 0)
                    .map(|p| beijing_time(p.updated_at_ms))
                    .unwrap_or_default(),
            });
        }
    }
    // Stable: each unit's rows stay in report order.
    rows.sort_by(|a, b| a.unit.cmp(&b.unit));
    rows
}

/// `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no daylight saving).
pub fn beijing_time(unix_ms: i64) -> String {
    let local = unix_ms + crate::date::CHINA_OFFSET_MS;
    let date = Date::from_unix_millis(local);
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!("{date} {:02}:{:02}", minutes / 60, minutes % 60)
}
