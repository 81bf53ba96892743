//! Between the documents and the plain report tree: import (report → documents), the public
//! report and the ledger (documents → report, rows).

use super::{AreaInfo, CampaignDoc, ItemDoc, SCHEMA_VERSION, Timing};
use crate::import::numerals::cjk_numeral;
use crate::ledger::LedgerRow;
use crate::report::{Area, CampaignHeader, Item, Problem, Report};
use crate::status::PublicStatus;
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
    }
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
    super::item::set_measures(&mut doc, &item.measures);
    doc
}

/// Brings an existing item up to date with a re-imported one: the definition and the public
/// status change; the plan, the units' progress, feedback and reviews stay.
pub fn refresh_from_report(existing: &mut ItemDoc, imported: &ItemDoc) {
    existing.area_title.clone_from(&imported.area_title);
    existing.problem_title.clone_from(&imported.problem_title);
    existing.title.update(imported.title.as_str());
    existing.narrative.update(imported.narrative.as_str());
    existing.status = imported.status;
    existing
        .document_numbers
        .clone_from(&imported.document_numbers);
    if existing.timing.is_none() {
        existing.timing = imported.timing;
    }
    let texts: Vec<String> = imported
        .measures
        .iter()
        .map(|m| m.text.as_str().to_owned())
        .collect();
    super::item::set_measures(existing, &texts);
}

/// The report tree (section 二) of a campaign, items in report order.
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
                .measures
                .iter()
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

/// One ledger row per item, in report order.
pub fn ledger_rows(items: &[ItemDoc], context: &LedgerContext) -> Vec<LedgerRow> {
    let name = |id: &str| {
        context
            .unit_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    };
    let mut sorted: Vec<&ItemDoc> = items.iter().collect();
    sorted.sort_by_key(|i| (i.area_no, i.problem_no, i.sub_no));
    sorted
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
                .map(name)
                .unwrap_or_default(),
            units: item
                .units
                .iter()
                .map(|u| name(u))
                .collect::<Vec<_>>()
                .join("、"),
            deadline: item.deadline.clone().unwrap_or_default(),
            timing: item
                .timing
                .map(|t| t.label_zh().to_owned())
                .unwrap_or_default(),
            measures_count: item.measures.len(),
            evidence_count: item.evidence_count(),
            last_change: context
                .last_change_ms
                .get(&item.key)
                .map(|ms| beijing_time(*ms))
                .unwrap_or_default(),
        })
        .collect()
}

/// `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no daylight saving).
pub fn beijing_time(unix_ms: i64) -> String {
    let local = unix_ms + 8 * 3_600_000;
    let date = crate::date::Date::from_unix_millis(local);
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!("{date} {:02}:{:02}", minutes / 60, minutes % 60)
}
