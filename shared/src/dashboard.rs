//! The office's picture of a campaign: totals, the area × status matrix, progress per unit
//! and per department, what is overdue, at risk or waiting for review, and recent activity.
//!
//! Pure functions of [`ItemFacts`], a small summary of each item that the client keeps next
//! to the document (recomputed only when that document changes), so that a dashboard over
//! thousands of items is a few passes over plain structs, not thousands of hydrations.

use crate::date::Date;
use crate::model::ItemDoc;
use crate::status::PublicStatus;
use crate::workflow::UnitStatus;
use std::collections::BTreeMap;

/// An open item whose deadline is this close, with a unit not yet asking for sign-off, is
/// at risk (临期).
pub const AT_RISK_DAYS: i64 = 7;

/// How many recent changes the dashboard lists.
pub const RECENT: usize = 12;

/// What the dashboard needs of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFacts {
    /// The document id, to link to the item.
    pub id: String,
    /// The campaign's document id: one device may hold several inspection rounds.
    pub campaign: String,
    pub key: String,
    pub area_no: u32,
    pub area_title: String,
    /// `7(2)`
    pub number: String,
    pub title: String,
    pub status: PublicStatus,
    pub department: Option<String>,
    pub deadline: Option<Date>,
    /// Every assigned unit with its progress, in the item's order.
    pub units: Vec<UnitFacts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnitFacts {
    pub unit: String,
    pub status: UnitStatus,
    pub updated_by: String,
    /// Device time of the unit's last change (0 when it never changed anything).
    pub updated_at_ms: i64,
    /// When the office signed the entry off (its latest 销号 decision), for a signed-off
    /// entry; `None` otherwise, or when no decision records it (signed off by an import).
    pub signed_off_at_ms: Option<i64>,
}

impl ItemFacts {
    pub fn of(id: &str, item: &ItemDoc) -> ItemFacts {
        ItemFacts {
            id: id.to_owned(),
            campaign: item.campaign.clone(),
            key: item.key.clone(),
            area_no: item.area_no,
            area_title: item.area_title.clone(),
            number: item.number(),
            title: item.title.as_str().to_owned(),
            status: item.status,
            department: item.responsible_department.clone(),
            deadline: item.deadline.as_deref().and_then(|d| d.parse().ok()),
            units: item
                .units
                .iter()
                .map(|unit| match item.progress.get(unit) {
                    Some(p) => UnitFacts {
                        unit: unit.clone(),
                        status: p.status,
                        updated_by: p.updated_by.clone(),
                        updated_at_ms: p.updated_at_ms,
                        signed_off_at_ms: (p.status == UnitStatus::SignedOff)
                            .then(|| {
                                item.reviews
                                    .iter()
                                    .filter(|r| {
                                        r.unit == *unit && r.decision == UnitStatus::SignedOff
                                    })
                                    .map(|r| r.at_ms)
                                    .max()
                            })
                            .flatten(),
                    },
                    None => UnitFacts {
                        unit: unit.clone(),
                        status: UnitStatus::NotStarted,
                        updated_by: String::new(),
                        updated_at_ms: 0,
                        signed_off_at_ms: None,
                    },
                })
                .collect(),
        }
    }

    pub fn is_open(&self) -> bool {
        !self.status.is_done()
    }

    pub fn is_overdue(&self, today: Date) -> bool {
        self.is_open() && self.deadline.is_some_and(|d| d < today)
    }

    /// Open, due within [`AT_RISK_DAYS`], and some unit has not yet asked for sign-off.
    pub fn is_at_risk(&self, today: Date) -> bool {
        self.is_open()
            && self
                .deadline
                .is_some_and(|d| d >= today && d <= today.add_days(AT_RISK_DAYS))
            && self.units.iter().any(|u| {
                matches!(
                    u.status,
                    UnitStatus::NotStarted | UnitStatus::InProgress | UnitStatus::Returned
                )
            })
    }

    /// Units asking for sign-off (申请销号), waiting for the office.
    pub fn awaiting_review(&self) -> impl Iterator<Item = &UnitFacts> {
        self.units
            .iter()
            .filter(|u| u.status == UnitStatus::Submitted)
    }
}

/// Which items the dashboard counts. Empty fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub campaign: Option<String>,
    pub unit: Option<String>,
    pub department: Option<String>,
    pub area: Option<u32>,
    pub status: Option<StatusFilter>,
    /// Deadline on or before this date.
    pub due_by: Option<Date>,
    /// Words in the title or the number (`7(2)`, `2.7.2`).
    pub search: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Public(PublicStatus),
    Overdue,
    AtRisk,
    AwaitingReview,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::Public(PublicStatus::InProgress),
        StatusFilter::Public(PublicStatus::Done),
        StatusFilter::Public(PublicStatus::DoneLongTerm),
        StatusFilter::Overdue,
        StatusFilter::AtRisk,
        StatusFilter::AwaitingReview,
    ];

    pub fn key(self) -> &'static str {
        match self {
            StatusFilter::Public(status) => status.key(),
            StatusFilter::Overdue => "overdue",
            StatusFilter::AtRisk => "at_risk",
            StatusFilter::AwaitingReview => "awaiting_review",
        }
    }

    pub fn from_key(key: &str) -> Option<StatusFilter> {
        StatusFilter::ALL.into_iter().find(|s| s.key() == key)
    }
}

impl Filter {
    pub fn matches(&self, item: &ItemFacts, today: Date) -> bool {
        let campaign_ok = self
            .campaign
            .as_deref()
            .is_none_or(|want| item.campaign == want);
        let unit_ok = self
            .unit
            .as_deref()
            .is_none_or(|want| item.units.iter().any(|u| u.unit == want));
        let department_ok = self
            .department
            .as_deref()
            .is_none_or(|want| item.department.as_deref() == Some(want));
        let area_ok = self.area.is_none_or(|want| item.area_no == want);
        let status_ok = match self.status {
            None => true,
            Some(StatusFilter::Public(status)) => item.status == status,
            Some(StatusFilter::Overdue) => item.is_overdue(today),
            Some(StatusFilter::AtRisk) => item.is_at_risk(today),
            Some(StatusFilter::AwaitingReview) => item.awaiting_review().next().is_some(),
        };
        let due_ok = self
            .due_by
            .is_none_or(|by| item.deadline.is_some_and(|d| d <= by));
        let search = self.search.trim();
        let search_ok = search.is_empty()
            || item.title.contains(search)
            || item.number == search
            || item.key == search;
        campaign_ok && unit_ok && department_ok && area_ok && status_ok && due_ok && search_ok
    }
}

/// Counts by public status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub done: usize,
    pub done_long_term: usize,
    pub in_progress: usize,
}

impl Counts {
    fn add(&mut self, status: PublicStatus) {
        match status {
            PublicStatus::Done => self.done += 1,
            PublicStatus::DoneLongTerm => self.done_long_term += 1,
            PublicStatus::InProgress => self.in_progress += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.done + self.done_long_term + self.in_progress
    }

    /// 完成率: done (either wording) over all, in percent; 0 with no items.
    pub fn completion_percent(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            total => (self.done + self.done_long_term) as f64 * 100.0 / total as f64,
        }
    }
}

/// One row of the area × status matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaRow {
    /// Areas are numbered per campaign: rows of different campaigns stay apart.
    pub campaign: String,
    pub area_no: u32,
    pub title: String,
    pub counts: Counts,
}

/// A unit's (or a department's) progress: its assignments by unit status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRow {
    pub id: String,
    /// Assignments (item × unit) by [`UnitStatus`], in `UnitStatus::ALL` order.
    pub by_status: [usize; 5],
    /// Assignments on overdue items not yet signed off.
    pub overdue: usize,
}

impl GroupRow {
    pub fn assigned(&self) -> usize {
        self.by_status.iter().sum()
    }

    pub fn count(&self, status: UnitStatus) -> usize {
        self.by_status[status_index(status)]
    }

    /// Signed off over assigned, in percent.
    pub fn signed_off_percent(&self) -> f64 {
        match self.assigned() {
            0 => 0.0,
            n => self.count(UnitStatus::SignedOff) as f64 * 100.0 / n as f64,
        }
    }
}

fn status_index(status: UnitStatus) -> usize {
    UnitStatus::ALL
        .iter()
        .position(|&s| s == status)
        .unwrap_or(0)
}

/// A unit's latest change, for the activity list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Index into the items given to [`overview`].
    pub item: usize,
    pub unit: String,
    pub status: UnitStatus,
    pub by: String,
    pub at_ms: i64,
}

/// Everything the dashboard shows, for the items the filter lets through.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overview {
    /// Indexes of the matching items, in the order given.
    pub matching: Vec<usize>,
    pub counts: Counts,
    pub areas: Vec<AreaRow>,
    /// By unit id, sorted by signed-off share, lowest first (who needs chasing).
    pub units: Vec<GroupRow>,
    /// By department id (the item's 责任部门), same order.
    pub departments: Vec<GroupRow>,
    /// Item indexes, soonest deadline first.
    pub overdue: Vec<usize>,
    pub at_risk: Vec<usize>,
    /// (item index, unit) pairs asking for sign-off, oldest request first.
    pub awaiting_review: Vec<(usize, String)>,
    /// Newest first, at most [`RECENT`].
    pub recent: Vec<Activity>,
}

/// The dashboard's numbers for `items` as of `today`.
pub fn overview(items: &[ItemFacts], filter: &Filter, today: Date) -> Overview {
    let mut out = Overview::default();
    let mut areas: BTreeMap<(&str, u32), AreaRow> = BTreeMap::new();
    let mut units: BTreeMap<&str, GroupRow> = BTreeMap::new();
    let mut departments: BTreeMap<&str, GroupRow> = BTreeMap::new();
    let mut review: Vec<(i64, usize, String)> = Vec::new();
    let mut recent: Vec<Activity> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if !filter.matches(item, today) {
            continue;
        }
        out.matching.push(index);
        out.counts.add(item.status);
        areas
            .entry((item.campaign.as_str(), item.area_no))
            .or_insert_with(|| AreaRow {
                campaign: item.campaign.clone(),
                area_no: item.area_no,
                title: item.area_title.clone(),
                counts: Counts::default(),
            })
            .counts
            .add(item.status);
        let overdue = item.is_overdue(today);
        if overdue {
            out.overdue.push(index);
        } else if item.is_at_risk(today) {
            out.at_risk.push(index);
        }
        for unit in &item.units {
            // With a unit filter, only that unit's own assignments count in its row.
            if filter.unit.as_deref().is_some_and(|u| u != unit.unit) {
                continue;
            }
            let late = overdue && unit.status != UnitStatus::SignedOff;
            for row in [
                Some(units.entry(&unit.unit).or_default()),
                item.department
                    .as_deref()
                    .map(|d| departments.entry(d).or_default()),
            ]
            .into_iter()
            .flatten()
            {
                row.by_status[status_index(unit.status)] += 1;
                row.overdue += usize::from(late);
            }
            if unit.status == UnitStatus::Submitted {
                review.push((unit.updated_at_ms, index, unit.unit.clone()));
            }
            if unit.updated_at_ms > 0 {
                recent.push(Activity {
                    item: index,
                    unit: unit.unit.clone(),
                    status: unit.status,
                    by: unit.updated_by.clone(),
                    at_ms: unit.updated_at_ms,
                });
            }
        }
    }
    let by_deadline = |&i: &usize| (items[i].deadline, i);
    out.overdue.sort_by_key(by_deadline);
    out.at_risk.sort_by_key(by_deadline);
    review.sort();
    out.awaiting_review = review.into_iter().map(|(_, i, u)| (i, u)).collect();
    recent.sort_by_key(|a| std::cmp::Reverse(a.at_ms));
    recent.truncate(RECENT);
    out.recent = recent;
    out.areas = areas.into_values().collect();
    let finish = |rows: BTreeMap<&str, GroupRow>| {
        let mut rows: Vec<GroupRow> = rows
            .into_iter()
            .map(|(id, row)| GroupRow {
                id: id.to_owned(),
                ..row
            })
            .collect();
        rows.sort_by(|a, b| {
            a.signed_off_percent()
                .total_cmp(&b.signed_off_percent())
                .then(b.overdue.cmp(&a.overdue))
                .then_with(|| a.id.cmp(&b.id))
        });
        rows
    };
    out.units = finish(units);
    out.departments = finish(departments);
    out
}

/// The chase list (督办): per unit, its open assignments that are overdue or at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chase {
    pub unit: String,
    /// (item index, the unit's status), overdue first, then by deadline.
    pub overdue: Vec<(usize, UnitStatus)>,
    pub at_risk: Vec<(usize, UnitStatus)>,
}

/// Who must be chased about what, units with the most overdue first.
pub fn chase_list(items: &[ItemFacts], filter: &Filter, today: Date) -> Vec<Chase> {
    let mut by_unit: BTreeMap<&str, Chase> = BTreeMap::new();
    for (index, item) in items.iter().enumerate() {
        if !filter.matches(item, today) {
            continue;
        }
        let (overdue, at_risk) = (item.is_overdue(today), item.is_at_risk(today));
        if !overdue && !at_risk {
            continue;
        }
        for unit in &item.units {
            let pending = !matches!(unit.status, UnitStatus::SignedOff | UnitStatus::Submitted);
            if !pending || filter.unit.as_deref().is_some_and(|u| u != unit.unit) {
                continue;
            }
            let chase = by_unit.entry(&unit.unit).or_insert_with(|| Chase {
                unit: unit.unit.clone(),
                overdue: Vec::new(),
                at_risk: Vec::new(),
            });
            let list = if overdue {
                &mut chase.overdue
            } else {
                &mut chase.at_risk
            };
            list.push((index, unit.status));
        }
    }
    let mut chases: Vec<Chase> = by_unit.into_values().collect();
    for chase in &mut chases {
        chase.overdue.sort_by_key(|&(i, _)| (items[i].deadline, i));
        chase.at_risk.sort_by_key(|&(i, _)| (items[i].deadline, i));
    }
    chases.sort_by(|a, b| {
        (b.overdue.len(), b.at_risk.len())
            .cmp(&(a.overdue.len(), a.at_risk.len()))
            .then_with(|| a.unit.cmp(&b.unit))
    });
    chases
}

/// A generated campaign of `n` items over `units` schools, for measuring the dashboard:
/// deterministic, with every status and deadline situation represented.
pub fn generated_facts(n: usize, units: usize, today: Date) -> Vec<ItemFacts> {
    let statuses = UnitStatus::ALL;
    (0..n)
        .map(|i| {
            let area_no = (i % 4) as u32 + 1;
            let status = PublicStatus::ALL[i % 3];
            let assigned = 1 + i % 3;
            ItemFacts {
                id: format!("generated-{i}"),
                campaign: "generated".to_owned(),
                key: format!("{area_no}.{}", i / 4 + 1),
                area_no,
                area_title: format!("方面{area_no}"),
                number: (i / 4 + 1).to_string(),
                title: format!("第{i}项问题：校园安全管理制度落实不到位"),
                status,
                department: Some(format!("dept{}", i % 6)),
                deadline: Some(today.add_days((i % 60) as i64 - 30)),
                units: (0..assigned)
                    .map(|k| UnitFacts {
                        unit: format!("school{:03}", (i * 7 + k * 13) % units.max(1)),
                        status: statuses[(i + k) % statuses.len()],
                        updated_by: format!("user{}", (i + k) % 97),
                        updated_at_ms: 1_700_000_000_000 + (i as i64) * 60_000,
                        signed_off_at_ms: (statuses[(i + k) % statuses.len()]
                            == UnitStatus::SignedOff)
                            .then(|| today.add_days(-((i % 120) as i64)).days_since_epoch())
                            .map(|days| days * DAY_MS),
                    })
                    .collect(),
            }
        })
        .collect()
}

const DAY_MS: i64 = 86_400_000;

/// Weeks the sign-off chart shows up to today, at most.
pub const CHART_WEEKS: usize = 26;
/// Weeks it shows beyond today, for the deadlines coming up.
pub const CHART_WEEKS_AHEAD: usize = 4;

/// The office's progress over time, for the dashboard's chart: at the end of each week, how
/// many of the assigned entries (item × unit) were signed off (销号), and which weeks hold
/// items' deadlines. Read from the office's decisions the documents already hold (each
/// signed-off entry's [`UnitFacts::signed_off_at_ms`]), for the items the filter lets
/// through, so it follows the dashboard's filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignOffProgress {
    /// Assigned entries now (item × unit): the 100 % line.
    pub assigned: usize,
    /// Oldest first; up to this week's, whose end is the first date ≥ today that is a
    /// Sunday (weeks run Monday to Sunday).
    pub weeks: Vec<SignOffWeek>,
    /// The weeks after this one shown for their deadlines ([`CHART_WEEKS_AHEAD`]).
    pub weeks_ahead: usize,
    /// (week index, counting `weeks_ahead` after `weeks`; items due that week), for weeks
    /// holding a deadline of an item not done.
    pub deadlines: Vec<(usize, usize)>,
    /// Signed-off entries with no recorded time (signed off by an import): counted from the
    /// first week, as they were done before anything the chart knows.
    pub undated: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOffWeek {
    /// The week's Sunday.
    pub ends: Date,
    /// Entries signed off by the end of that day (China time).
    pub signed_off: usize,
}

/// The Sunday ending the week (Monday to Sunday) that holds `day`.
fn week_end(day: Date) -> Date {
    let days = day.days_since_epoch();
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    day.add_days(6 - weekday)
}

/// The sign-off chart's figures for `items` as of `today`. The weeks start at the first
/// sign-off (or eight weeks back, whichever is earlier, so a young campaign still reads as
/// a line), at most [`CHART_WEEKS`] back.
pub fn sign_off_progress(items: &[ItemFacts], filter: &Filter, today: Date) -> SignOffProgress {
    let mut out = SignOffProgress {
        weeks_ahead: CHART_WEEKS_AHEAD,
        ..SignOffProgress::default()
    };
    let mut dated: Vec<Date> = Vec::new();
    let mut due: Vec<Date> = Vec::new();
    for item in items.iter().filter(|item| filter.matches(item, today)) {
        out.assigned += item.units.len();
        for unit in item
            .units
            .iter()
            .filter(|u| u.status == UnitStatus::SignedOff)
        {
            match unit.signed_off_at_ms {
                Some(at) => dated.push(Date::in_china(at)),
                None => out.undated += 1,
            }
        }
        if let Some(deadline) = item.deadline
            && item.is_open()
        {
            due.push(deadline);
        }
    }
    let this_week = week_end(today);
    let earliest_shown = this_week.add_days(-7 * (CHART_WEEKS as i64 - 1));
    let first = dated
        .iter()
        .min()
        .map_or(this_week, |day| week_end(*day))
        .min(this_week.add_days(-7 * 7))
        .max(earliest_shown);
    dated.sort_unstable();
    let mut end = first;
    while end <= this_week {
        out.weeks.push(SignOffWeek {
            ends: end,
            signed_off: out.undated + dated.partition_point(|day| *day <= end),
        });
        end = end.add_days(7);
    }
    let mut by_week: BTreeMap<usize, usize> = BTreeMap::new();
    for deadline in due {
        let weeks = (week_end(deadline).days_since_epoch() - first.days_since_epoch()) / 7;
        if weeks >= 0 && (weeks as usize) < out.weeks.len() + out.weeks_ahead {
            *by_week.entry(weeks as usize).or_default() += 1;
        }
    }
    out.deadlines = by_week.into_iter().collect();
    out
}

/// An open item whose deadline is this close comes before the rest of a unit's to-do list.
pub const DUE_SOON_DAYS: i64 = 14;

/// What an item asks of a unit now, most urgent first: the order of a school's (or a
/// department's) list of its own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Urgency {
    /// The deadline has passed and the unit is not signed off.
    Overdue,
    /// The office sent it back (已退回): it waits for the unit.
    Returned,
    /// Due within [`DUE_SOON_DAYS`].
    DueSoon,
    NotStarted,
    InProgress,
    /// Asked for sign-off: waiting for the office, nothing to do but wait.
    Submitted,
}

/// A unit's own items, as its list shows them: the open ones by urgency (then deadline,
/// then number) and the signed-off ones apart; indices into the items given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitTodo {
    pub open: Vec<(Urgency, usize)>,
    pub signed_off: Vec<usize>,
    /// Items the unit may read but is not assigned (a department's items it leads).
    pub others: Vec<usize>,
}

impl UnitTodo {
    /// How many open items are `urgency`.
    pub fn count(&self, urgency: Urgency) -> usize {
        self.open.iter().filter(|(u, _)| *u == urgency).count()
    }
}

/// `unit`'s to-do list over `items` on `today`.
pub fn unit_todo(items: &[ItemFacts], unit: &str, today: Date) -> UnitTodo {
    let mut todo = UnitTodo::default();
    for (index, item) in items.iter().enumerate() {
        let Some(mine) = item.units.iter().find(|u| u.unit == unit) else {
            todo.others.push(index);
            continue;
        };
        let urgency = match mine.status {
            UnitStatus::SignedOff => {
                todo.signed_off.push(index);
                continue;
            }
            _ if item.deadline.is_some_and(|d| d < today) => Urgency::Overdue,
            UnitStatus::Returned => Urgency::Returned,
            // Waiting for the office whatever the deadline: the unit has done its part.
            UnitStatus::Submitted => Urgency::Submitted,
            _ if item
                .deadline
                .is_some_and(|d| d <= today.add_days(DUE_SOON_DAYS)) =>
            {
                Urgency::DueSoon
            }
            UnitStatus::NotStarted => Urgency::NotStarted,
            UnitStatus::InProgress => Urgency::InProgress,
        };
        todo.open.push((urgency, index));
    }
    todo.open.sort_by(|(a, i), (b, j)| {
        let (x, y) = (&items[*i], &items[*j]);
        // No deadline sorts after every deadline.
        let deadline = |item: &ItemFacts| (item.deadline.is_none(), item.deadline);
        (a, deadline(x), (x.area_no, &x.key)).cmp(&(b, deadline(y), (y.area_no, &y.key)))
    });
    todo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn item(
        key: &str,
        status: PublicStatus,
        deadline: &str,
        units: &[(&str, UnitStatus)],
    ) -> ItemFacts {
        let area_no = key.split('.').next().unwrap().parse().unwrap();
        ItemFacts {
            id: key.to_owned(),
            campaign: if key == "2.4" { "other" } else { "c1" }.to_owned(),
            key: key.to_owned(),
            area_no,
            area_title: format!("area {area_no}"),
            number: key.split('.').nth(1).unwrap().to_owned(),
            title: format!("problem {key}"),
            status,
            department: Some(if area_no == 1 { "jcg" } else { "aqg" }.to_owned()),
            deadline: (!deadline.is_empty()).then(|| day(deadline)),
            units: units
                .iter()
                .enumerate()
                .map(|(i, (unit, status))| UnitFacts {
                    unit: (*unit).to_owned(),
                    status: *status,
                    updated_by: format!("{unit}-user"),
                    updated_at_ms: if *status == UnitStatus::NotStarted {
                        0
                    } else {
                        1000 + i as i64 + key.len() as i64 * 10
                    },
                    signed_off_at_ms: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_units_list_puts_what_it_owes_first() {
        use UnitStatus::*;
        let today = day("2026-12-06");
        let mine = |key: &str, deadline: &str, status| {
            item(
                key,
                PublicStatus::InProgress,
                deadline,
                &[("s1", status), ("s2", NotStarted)],
            )
        };
        let items = vec![
            mine("1.1", "2027-06-30", InProgress), // 0: in progress, far off
            mine("1.2", "2026-11-30", InProgress), // 1: overdue
            mine("1.3", "2027-06-30", SignedOff),  // 2: signed off
            mine("2.1", "2026-12-10", NotStarted), // 3: due soon
            mine("2.2", "2027-06-30", Returned),   // 4: sent back
            mine("2.3", "", NotStarted),           // 5: not started, no deadline
            mine("2.4", "2026-12-01", Submitted),  // 6: overdue though submitted
            mine("3.1", "2027-03-01", Submitted),  // 7: waiting for the office
            mine("3.2", "2026-10-01", Returned),   // 8: overdue and sent back
            item(
                "3.3",
                PublicStatus::InProgress,
                "2026-01-01",
                &[("s2", NotStarted)],
            ), // 9
            mine("3.4", "2027-01-01", NotStarted), // 10: not started, later deadline
        ];
        let todo = unit_todo(&items, "s1", today);
        assert_eq!(
            todo.open,
            [
                (Urgency::Overdue, 8),
                (Urgency::Overdue, 1),
                (Urgency::Overdue, 6),
                (Urgency::Returned, 4),
                (Urgency::DueSoon, 3),
                (Urgency::NotStarted, 10),
                (Urgency::NotStarted, 5),
                (Urgency::InProgress, 0),
                (Urgency::Submitted, 7),
            ]
        );
        assert_eq!(todo.signed_off, [2]);
        assert_eq!(todo.others, [9]);
        assert_eq!(todo.count(Urgency::Overdue), 3);
    }

    fn campaign() -> Vec<ItemFacts> {
        use PublicStatus::{Done, DoneLongTerm, InProgress as Open};
        use UnitStatus::{InProgress, NotStarted, Returned, SignedOff, Submitted};
        vec![
            // 0: overdue, one school not started
            item(
                "1.1",
                Open,
                "2026-11-01",
                &[("pszx1", NotStarted), ("pszx2", SignedOff)],
            ),
            // 1: due in 3 days, a school working: at risk
            item("1.2", Open, "2026-12-04", &[("pszx1", InProgress)]),
            // 2: due in 3 days but the school asked for sign-off: not at risk, awaiting review
            item("2.1", Open, "2026-12-04", &[("pszx2", Submitted)]),
            // 3: done, deadline passed: not overdue
            item("2.2", Done, "2026-10-01", &[("pszx1", SignedOff)]),
            // 4: long term, no deadline
            item("2.3", DoneLongTerm, "", &[("pszx3", SignedOff)]),
            // 5: due in 30 days: fine
            item("2.4", Open, "2026-12-31", &[("pszx3", Returned)]),
        ]
    }

    #[test]
    fn the_overview_counts_what_the_office_asks_about() {
        let items = campaign();
        let today = day("2026-12-01");
        let all = overview(&items, &Filter::default(), today);
        assert_eq!(all.matching.len(), 6);
        assert_eq!(
            all.counts,
            Counts {
                done: 1,
                done_long_term: 1,
                in_progress: 4
            }
        );
        assert!((all.counts.completion_percent() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(all.overdue, vec![0]);
        assert_eq!(all.at_risk, vec![1]);
        assert_eq!(all.awaiting_review, vec![(2, "pszx2".to_owned())]);
        let area_totals: Vec<(u32, usize)> = all
            .areas
            .iter()
            .map(|a| (a.area_no, a.counts.total()))
            .collect();
        // Item 2.4 is of another campaign: its area 2 is another area.
        assert_eq!(area_totals, vec![(1, 2), (2, 3), (2, 1)]);
        // Units: lowest signed-off share first.
        let units: Vec<(&str, usize, usize, usize)> = all
            .units
            .iter()
            .map(|u| {
                (
                    u.id.as_str(),
                    u.assigned(),
                    u.count(UnitStatus::SignedOff),
                    u.overdue,
                )
            })
            .collect();
        assert_eq!(
            units,
            vec![("pszx1", 3, 1, 1), ("pszx2", 2, 1, 0), ("pszx3", 2, 1, 0)]
        );
        let departments: Vec<(&str, usize)> = all
            .departments
            .iter()
            .map(|d| (d.id.as_str(), d.assigned()))
            .collect();
        assert_eq!(departments, vec![("jcg", 3), ("aqg", 4)]);
        // Recent: newest first, never-touched assignments left out.
        assert_eq!(all.recent.len(), 6);
        assert!(all.recent.windows(2).all(|w| w[0].at_ms >= w[1].at_ms));
    }

    #[test]
    fn filters_narrow_everything() {
        let items = campaign();
        let today = day("2026-12-01");
        let cases: Vec<(Filter, Vec<usize>)> = vec![
            (Filter::default(), vec![0, 1, 2, 3, 4, 5]),
            (
                Filter {
                    campaign: Some("other".into()),
                    ..Filter::default()
                },
                vec![5],
            ),
            (
                Filter {
                    unit: Some("pszx1".into()),
                    ..Filter::default()
                },
                vec![0, 1, 3],
            ),
            (
                Filter {
                    department: Some("jcg".into()),
                    ..Filter::default()
                },
                vec![0, 1],
            ),
            (
                Filter {
                    area: Some(2),
                    ..Filter::default()
                },
                vec![2, 3, 4, 5],
            ),
            (
                Filter {
                    status: Some(StatusFilter::Overdue),
                    ..Filter::default()
                },
                vec![0],
            ),
            (
                Filter {
                    status: Some(StatusFilter::AtRisk),
                    ..Filter::default()
                },
                vec![1],
            ),
            (
                Filter {
                    status: Some(StatusFilter::AwaitingReview),
                    ..Filter::default()
                },
                vec![2],
            ),
            (
                Filter {
                    status: Some(StatusFilter::Public(PublicStatus::Done)),
                    ..Filter::default()
                },
                vec![3],
            ),
            (
                Filter {
                    due_by: Some(day("2026-12-04")),
                    ..Filter::default()
                },
                vec![0, 1, 2, 3],
            ),
            (
                Filter {
                    search: "problem 2.3".into(),
                    ..Filter::default()
                },
                vec![4],
            ),
            (
                Filter {
                    search: "2.4".into(),
                    ..Filter::default()
                },
                vec![5],
            ),
            (
                Filter {
                    search: "nothing".into(),
                    ..Filter::default()
                },
                vec![],
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(
                overview(&items, &filter, today).matching,
                expected,
                "{filter:?}"
            );
        }
        // A unit filter counts only that unit's own assignments.
        let one = overview(
            &items,
            &Filter {
                unit: Some("pszx1".into()),
                ..Filter::default()
            },
            today,
        );
        assert_eq!(one.units.len(), 1);
        assert_eq!(one.units[0].assigned(), 3);
    }

    #[test]
    fn the_chase_list_names_each_unit_with_what_is_late() {
        let items = campaign();
        let chases = chase_list(&items, &Filter::default(), day("2026-12-01"));
        let summary: Vec<(&str, Vec<usize>, Vec<usize>)> = chases
            .iter()
            .map(|c| {
                (
                    c.unit.as_str(),
                    c.overdue.iter().map(|(i, _)| *i).collect(),
                    c.at_risk.iter().map(|(i, _)| *i).collect(),
                )
            })
            .collect();
        // pszx2 signed off item 0 and asked for sign-off on item 2: nothing to chase.
        assert_eq!(summary, vec![("pszx1", vec![0], vec![1])]);
    }

    #[test]
    fn status_filter_keys_round_trip() {
        for filter in StatusFilter::ALL {
            assert_eq!(StatusFilter::from_key(filter.key()), Some(filter));
        }
    }

    #[test]
    fn a_generated_campaign_has_every_situation() {
        let today = day("2026-12-01");
        let items = generated_facts(5000, 120, today);
        let all = overview(&items, &Filter::default(), today);
        assert_eq!(all.matching.len(), 5000);
        assert!(!all.overdue.is_empty() && !all.at_risk.is_empty());
        assert!(!all.awaiting_review.is_empty());
        assert_eq!(all.units.len(), 120);
        assert_eq!(all.recent.len(), RECENT);
    }

    /// An entry signed off on `date` (China time, noon).
    fn signed_off_on(mut facts: ItemFacts, unit: &str, date: &str) -> ItemFacts {
        let at = day(date).days_since_epoch() * DAY_MS + 4 * 3_600_000;
        for u in facts.units.iter_mut().filter(|u| u.unit == unit) {
            u.status = UnitStatus::SignedOff;
            u.signed_off_at_ms = Some(at);
        }
        facts
    }

    #[test]
    fn weeks_run_monday_to_sunday() {
        // 2026-12-07 is a Monday, 2026-12-13 a Sunday.
        for (today, sunday) in [
            ("2026-12-07", "2026-12-13"),
            ("2026-12-10", "2026-12-13"),
            ("2026-12-13", "2026-12-13"),
            ("2026-12-14", "2026-12-20"),
            ("1970-01-01", "1970-01-04"),
        ] {
            assert_eq!(week_end(day(today)), day(sunday), "{today}");
        }
    }

    #[test]
    fn sign_offs_are_counted_by_the_week_they_happened_in() {
        use PublicStatus::{Done, InProgress as Open};
        use UnitStatus::{InProgress, NotStarted, SignedOff, Submitted};
        let today = day("2026-12-09");
        let items = vec![
            signed_off_on(
                item(
                    "1.1",
                    Open,
                    "2026-12-20",
                    &[("a", NotStarted), ("b", Submitted)],
                ),
                "a",
                "2026-11-02",
            ),
            signed_off_on(
                item("1.2", Done, "", &[("a", NotStarted)]),
                "a",
                "2026-12-08",
            ),
            // Signed off by an import: no decision records when.
            item("2.1", Done, "2026-11-30", &[("c", SignedOff)]),
            item("2.2", Open, "2026-11-30", &[("c", InProgress)]),
        ];
        let progress = sign_off_progress(&items, &Filter::default(), today);
        assert_eq!(progress.assigned, 5);
        assert_eq!(progress.undated, 1);
        // Eight weeks back (the first sign-off's week, ending 11-08, is later) to this
        // week's (ending 12-13); the undated sign-off counts from the first.
        let weeks: Vec<(String, usize)> = progress
            .weeks
            .iter()
            .map(|w| (w.ends.to_string(), w.signed_off))
            .collect();
        assert_eq!(
            weeks,
            [
                ("2026-10-25", 1),
                ("2026-11-01", 1),
                ("2026-11-08", 2),
                ("2026-11-15", 2),
                ("2026-11-22", 2),
                ("2026-11-29", 2),
                ("2026-12-06", 2),
                ("2026-12-13", 3),
            ]
            .map(|(d, n)| (d.to_owned(), n))
        );
        // Deadlines of open items only: 2.2's (11-30) in the week ending 12-06 (index 6),
        // 1.1's in the week ending 12-20 (index 8, ahead of today). 2.1 is done.
        assert_eq!(progress.deadlines, vec![(6, 1), (8, 1)]);
        assert_eq!(progress.weeks_ahead, CHART_WEEKS_AHEAD);
    }

    #[test]
    fn the_chart_starts_eight_weeks_back_at_least_and_half_a_year_at_most() {
        use PublicStatus::InProgress as Open;
        use UnitStatus::NotStarted;
        let today = day("2026-12-09");
        let none = sign_off_progress(
            &[item("1.1", Open, "", &[("a", NotStarted)])],
            &Filter::default(),
            today,
        );
        assert_eq!(none.weeks.len(), 8);
        assert!(none.weeks.iter().all(|w| w.signed_off == 0));
        assert_eq!(none.weeks.last().unwrap().ends, day("2026-12-13"));
        let old = sign_off_progress(
            &[signed_off_on(
                item("1.1", Open, "2020-01-01", &[("a", NotStarted)]),
                "a",
                "2024-03-01",
            )],
            &Filter::default(),
            today,
        );
        assert_eq!(old.weeks.len(), CHART_WEEKS);
        // Signed off before the first week shown: counted in every week.
        assert!(old.weeks.iter().all(|w| w.signed_off == 1));
        // A deadline before the chart is not drawn.
        assert!(old.deadlines.is_empty());
    }

    #[test]
    fn the_chart_follows_the_filter() {
        use PublicStatus::InProgress as Open;
        use UnitStatus::NotStarted;
        let today = day("2026-12-09");
        let items = vec![
            signed_off_on(
                item("1.1", Open, "", &[("a", NotStarted)]),
                "a",
                "2026-12-01",
            ),
            signed_off_on(
                item("2.1", Open, "", &[("b", NotStarted)]),
                "b",
                "2026-12-01",
            ),
        ];
        let filter = Filter {
            unit: Some("b".to_owned()),
            ..Filter::default()
        };
        let progress = sign_off_progress(&items, &filter, today);
        assert_eq!(progress.assigned, 1);
        assert_eq!(progress.weeks.last().unwrap().signed_off, 1);
    }
}
