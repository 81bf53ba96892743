//! The ledger (台账): one row per leaf item, for CSV, XLSX and JSON export.

use serde::{Deserialize, Serialize};

/// One row of the ledger. Field names are the CSV/JSON column names: a public interface,
/// add columns at the end, never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// The area number in the report's style, `一`, `二` …
    pub area: String,
    pub area_title: String,
    /// The problem number within the area, `1`, `2` …
    pub problem_no: u32,
    /// The item number, `7(2)`, or `4` for a problem without sub-problems.
    pub item_no: String,
    /// The problem statement of the leaf item.
    pub title: String,
    /// The report's wording: 整改完成 / 整改完成，长期坚持 / 正在整改中.
    pub public_status: String,
    pub responsible_leader: String,
    pub responsible_department: String,
    /// Names of the assigned units, joined with `、`.
    pub units: String,
    /// `YYYY-MM-DD`, or empty.
    pub deadline: String,
    /// 立行立改 / 限期整改 / 长期坚持, or empty.
    pub timing: String,
    pub measures_count: usize,
    pub evidence_count: usize,
    /// When the item last changed, `YYYY-MM-DD HH:MM` (UTC+8), or empty.
    pub last_change: String,
}

/// Column headers, in order, as (key, Chinese label).
pub const COLUMNS: &[(&str, &str)] = &[
    ("area", "方面"),
    ("area_title", "方面名称"),
    ("problem_no", "问题序号"),
    ("item_no", "事项序号"),
    ("title", "存在问题"),
    ("public_status", "整改进度"),
    ("responsible_leader", "责任领导"),
    ("responsible_department", "责任部门"),
    ("units", "责任单位"),
    ("deadline", "整改时限"),
    ("timing", "整改类型"),
    ("measures_count", "整改措施数"),
    ("evidence_count", "佐证材料数"),
    ("last_change", "最后更新"),
];

impl LedgerRow {
    /// The row's cells as text, in [`COLUMNS`] order.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.area.clone(),
            self.area_title.clone(),
            self.problem_no.to_string(),
            self.item_no.clone(),
            self.title.clone(),
            self.public_status.clone(),
            self.responsible_leader.clone(),
            self.responsible_department.clone(),
            self.units.clone(),
            self.deadline.clone(),
            self.timing.clone(),
            self.measures_count.to_string(),
            self.evidence_count.to_string(),
            self.last_change.clone(),
        ]
    }
}

/// One row of the per-unit ledger (各单位整改情况): one assigned unit's work on one item,
/// so that the clerk can print who is signed off. Field names are its column keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitLedgerRow {
    /// The unit's name.
    pub unit: String,
    /// `一`, `二` …
    pub area: String,
    /// `7(2)`, or `4`.
    pub item_no: String,
    pub title: String,
    /// The unit's state: 未开始 / 整改中 / 申请销号 / 已退回 / 已销号.
    pub state: String,
    /// Who signed the unit's work off (an account name), when it is signed off.
    pub signed_off_by: String,
    /// `YYYY-MM-DD HH:MM` (UTC+8), when it is signed off.
    pub signed_off_at: String,
    /// The unit's 整改情况.
    pub narrative: String,
    /// Measures ticked of the item's current measures, `2/3`.
    pub measures_done: String,
    pub evidence_count: usize,
    /// When the unit last changed its work, `YYYY-MM-DD HH:MM` (UTC+8), or empty.
    pub updated: String,
}

/// The per-unit ledger's columns, in order, as (key, Chinese label).
pub const UNIT_COLUMNS: &[(&str, &str)] = &[
    ("unit", "责任单位"),
    ("area", "方面"),
    ("item_no", "事项序号"),
    ("title", "存在问题"),
    ("state", "单位状态"),
    ("signed_off_by", "销号人"),
    ("signed_off_at", "销号时间"),
    ("narrative", "整改情况"),
    ("measures_done", "已完成措施"),
    ("evidence_count", "佐证材料数"),
    ("updated", "最后更新"),
];

impl UnitLedgerRow {
    /// The row's cells as text, in [`UNIT_COLUMNS`] order.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.unit.clone(),
            self.area.clone(),
            self.item_no.clone(),
            self.title.clone(),
            self.state.clone(),
            self.signed_off_by.clone(),
            self.signed_off_at.clone(),
            self.narrative.clone(),
            self.measures_done.clone(),
            self.evidence_count.to_string(),
            self.updated.clone(),
        ]
    }
}

/// Which header a CSV gets: the Chinese labels (for people, the default over HTTP) or the
/// column keys (for programs, and the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    Chinese,
    Keys,
}

/// The ledger as CSV with the chosen header; see [`to_csv`].
pub fn to_csv_with(rows: &[LedgerRow], headers: Headers) -> String {
    let mut out = String::from("\u{feff}");
    let header: Vec<String> = COLUMNS
        .iter()
        .map(|(key, label)| match headers {
            Headers::Chinese => (*label).to_owned(),
            Headers::Keys => (*key).to_owned(),
        })
        .collect();
    push_csv_line(&mut out, &header);
    for row in rows {
        push_csv_line(&mut out, &row.cells());
    }
    out
}

/// The ledger as CSV: UTF-8 with a byte-order mark (so Excel reads the Chinese correctly),
/// CRLF line ends, a header row with the column keys, fields quoted when needed.
pub fn to_csv(rows: &[LedgerRow]) -> String {
    to_csv_with(rows, Headers::Keys)
}

/// Appends one CSV line (CRLF) of `cells`, quoting what needs it (also the audit log's CSV).
pub fn push_csv_line(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Quote fields with separators, quotes or line breaks; also those starting with
        // characters a spreadsheet would read as a formula.
        let risky = cell.starts_with(['=', '+', '-', '@']);
        if risky || cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            if risky {
                out.push('\'');
            }
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(title: &str) -> LedgerRow {
        LedgerRow {
            area: "二".into(),
            area_title: "聚焦…方面".into(),
            problem_no: 7,
            item_no: "7(2)".into(),
            title: title.into(),
            public_status: "整改完成，长期坚持".into(),
            responsible_leader: String::new(),
            responsible_department: "计财股".into(),
            units: "彭山一中、彭山三中".into(),
            deadline: "2024-06-30".into(),
            timing: "长期坚持".into(),
            measures_count: 2,
            evidence_count: 0,
            last_change: String::new(),
        }
    }

    #[test]
    fn csv_has_bom_header_and_quotes_what_needs_it() {
        let csv = to_csv(&[
            row("采购项目管理制度不完善。"),
            row("a \"quoted\", title"),
            row("=cmd()"),
        ]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(
            lines[0].starts_with("\u{feff}area,area_title,problem_no,item_no,title,public_status")
        );
        assert_eq!(
            lines[1],
            "二,聚焦…方面,7,7(2),采购项目管理制度不完善。,整改完成，长期坚持,,计财股,彭山一中、彭山三中,2024-06-30,长期坚持,2,0,"
        );
        assert!(lines[2].contains("\"a \"\"quoted\"\", title\""));
        assert!(
            lines[3].contains("\"'=cmd()\""),
            "formula injection is defused: {}",
            lines[3]
        );
        assert_eq!(
            lines.len(),
            5,
            "three rows, a header and the final line break"
        );
    }
}
