//! The item document: one leaf item and everything done about it.

use super::{ModelError, SCHEMA_VERSION, check_header};
use crate::policy::{Actor, Role};
use crate::status::PublicStatus;
use crate::workflow::{
    Refusal, TextField, UnitStatus, check_entry_edit, check_item_status, check_length,
    check_submission, check_unit_move,
};
use automerge::AutoCommit;
use automerge::transaction::CommitOptions;
use autosurgeon::{Hydrate, Reconcile, Text};
use std::collections::BTreeMap;

/// How an item is to be fixed (立行立改 / 限期整改 / 长期坚持). Stored and synced.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Reconcile,
    Hydrate,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// 立行立改: fix at once.
    #[autosurgeon(rename = "immediate")]
    Immediate,
    /// 限期整改: fix by the deadline.
    #[autosurgeon(rename = "by_deadline")]
    ByDeadline,
    /// 长期坚持: keep up long-term.
    #[autosurgeon(rename = "long_term")]
    LongTerm,
}

impl Timing {
    pub const ALL: [Timing; 3] = [Timing::Immediate, Timing::ByDeadline, Timing::LongTerm];

    pub fn label_zh(self) -> &'static str {
        match self {
            Timing::Immediate => "立行立改",
            Timing::ByDeadline => "限期整改",
            Timing::LongTerm => "长期坚持",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Timing::Immediate => "immediate",
            Timing::ByDeadline => "by_deadline",
            Timing::LongTerm => "long_term",
        }
    }

    pub fn from_key(key: &str) -> Option<Timing> {
        Timing::ALL.into_iter().find(|&t| t.key() == key)
    }
}

/// A leaf item. Stored and synced: change only with a migration. The problem statement is
/// the top-level key `title` (third-party clients rely on it).
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct ItemDoc {
    pub schema_version: u64,
    /// Always `item`.
    pub kind: String,
    /// The campaign's document id (bs58check).
    pub campaign: String,
    /// `area.problem` or `area.problem.sub`, e.g. `2.7.2`: stable across re-imports.
    pub key: String,
    pub area_no: u32,
    pub area_title: String,
    pub problem_no: u32,
    pub problem_title: String,
    pub sub_no: Option<u32>,
    /// The problem statement (存在问题).
    pub title: Text,
    /// The measures (整改措施), in order.
    pub measures: Vec<Measure>,
    /// 责任领导
    pub responsible_leader: String,
    /// 责任部门: a department's unit id.
    pub responsible_department: Option<String>,
    /// The units (schools, kindergartens, departments) that must act, by unit id.
    pub units: Vec<String>,
    /// 整改时限, `YYYY-MM-DD`.
    pub deadline: Option<String>,
    pub timing: Option<Timing>,
    /// What was done (整改情况): the office's account for the public report.
    pub narrative: Text,
    /// The item's status as the public report states it; only the office changes it.
    pub status: PublicStatus,
    /// Document numbers mentioned (`眉彭教体发〔2023〕49号`).
    pub document_numbers: Vec<String>,
    /// Each assigned unit's own progress, by unit id.
    pub progress: BTreeMap<String, UnitProgress>,
    /// Feedback between units and the office (条条改到位、件件有着落、事事有回音).
    pub feedback: Vec<Feedback>,
    /// The office's decisions (销号 / 退回), newest last.
    pub reviews: Vec<Review>,
}

/// A measure (整改措施). Stored and synced.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Measure {
    /// Stable id (`m1`, `m2` … or random for added ones).
    #[key]
    pub id: String,
    pub text: Text,
}

/// One unit's progress on an item. Stored and synced.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct UnitProgress {
    pub status: UnitStatus,
    /// What the unit did (整改情况), merged character by character.
    pub narrative: Text,
    /// Measure id → ticked.
    pub measures_done: BTreeMap<String, bool>,
    pub evidence: Vec<EvidenceRef>,
    pub updated_by: String,
    /// Device time of the last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// A reference to an evidence file. The file itself is a content-addressed blob. Stored and synced.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct EvidenceRef {
    /// SHA-256 of the stored bytes, hex.
    #[key]
    pub sha256: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub caption: String,
    pub added_by: String,
    pub added_at_ms: i64,
}

/// A feedback message. Stored and synced.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Feedback {
    #[key]
    pub id: String,
    /// The unit the message is about, if any.
    pub unit: Option<String>,
    pub author: String,
    pub text: String,
    pub at_ms: i64,
}

/// A decision of the office on one unit's progress. Stored and synced.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Review {
    #[key]
    pub id: String,
    pub unit: String,
    /// `signed_off` or `returned`.
    pub decision: UnitStatus,
    pub reason: String,
    pub by: String,
    pub at_ms: i64,
}

/// Who is editing, and when (device time). Every change records both in its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditContext {
    pub actor: Actor,
    pub user: String,
    pub now_ms: i64,
}

/// The office's plan for an item (问题整改清单: 责任领导、责任部门、整改时限 …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemPlan {
    pub responsible_leader: String,
    pub responsible_department: Option<String>,
    pub units: Vec<String>,
    pub deadline: Option<String>,
    pub timing: Option<Timing>,
}

impl ItemDoc {
    /// Reads an item document, refusing one from a newer schema.
    pub fn load(doc: &AutoCommit) -> Result<ItemDoc, ModelError> {
        check_header(doc, "item")?;
        Ok(autosurgeon::hydrate(doc)?)
    }

    /// Only what decides who may read the item (its units and responsible department),
    /// without reading the rest: the server asks this for every frame a school sends.
    pub fn readers(doc: &AutoCommit) -> Result<(Vec<String>, Option<String>), ModelError> {
        check_header(doc, "item")?;
        let units: Vec<String> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "units")?;
        let department: Option<String> =
            autosurgeon::hydrate_prop(doc, automerge::ROOT, "responsible_department")?;
        Ok((units, department))
    }

    /// A new, empty item of a campaign.
    pub fn new(campaign: &str, key: &str, title: &str) -> ItemDoc {
        ItemDoc {
            schema_version: SCHEMA_VERSION,
            kind: "item".to_owned(),
            campaign: campaign.to_owned(),
            key: key.to_owned(),
            area_no: 0,
            area_title: String::new(),
            problem_no: 0,
            problem_title: String::new(),
            sub_no: None,
            title: Text::with_value(title),
            measures: Vec::new(),
            responsible_leader: String::new(),
            responsible_department: None,
            units: Vec::new(),
            deadline: None,
            timing: None,
            narrative: Text::default(),
            status: PublicStatus::InProgress,
            document_numbers: Vec::new(),
            progress: BTreeMap::new(),
            feedback: Vec::new(),
            reviews: Vec::new(),
        }
    }

    /// The item number as the report writes it: `7(2)`, or `4`.
    pub fn number(&self) -> String {
        match self.sub_no {
            Some(sub) => format!("{}({sub})", self.problem_no),
            None => self.problem_no.to_string(),
        }
    }

    /// Is the deadline before `today` while the item is still open?
    pub fn is_overdue(&self, today: crate::date::Date) -> bool {
        !self.status.is_done()
            && self
                .deadline
                .as_deref()
                .and_then(|d| d.parse::<crate::date::Date>().ok())
                .is_some_and(|deadline| deadline < today)
    }

    /// The statuses of the assigned units (not started when a unit has no progress yet).
    pub fn unit_statuses(&self) -> Vec<UnitStatus> {
        self.units.iter().map(|u| self.unit_status(u)).collect()
    }

    /// `unit`'s status (not started when it has no progress yet).
    pub fn unit_status(&self, unit: &str) -> UnitStatus {
        self.progress
            .get(unit)
            .map_or(UnitStatus::NotStarted, |p| p.status)
    }

    /// Number of evidence files across all units.
    pub fn evidence_count(&self) -> usize {
        self.progress.values().map(|p| p.evidence.len()).sum()
    }

    fn progress_mut(&mut self, unit: &str, ctx: &EditContext) -> &mut UnitProgress {
        let progress = self
            .progress
            .entry(unit.to_owned())
            .or_insert_with(|| UnitProgress {
                status: UnitStatus::NotStarted,
                narrative: Text::default(),
                measures_done: BTreeMap::new(),
                evidence: Vec::new(),
                updated_by: String::new(),
                updated_at_ms: 0,
            });
        progress.updated_by = ctx.user.clone();
        progress.updated_at_ms = ctx.now_ms;
        progress
    }
}

/// The edits a user can make to an item. Each is checked against the policy, then written
/// as one Automerge change whose message says who did what.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemEdit {
    /// A unit's narrative (整改情况), as the full new text; merged as character splices.
    UnitNarrative { unit: String, text: String },
    /// Tick or untick a measure for a unit.
    TickMeasure {
        unit: String,
        measure: String,
        done: bool,
    },
    /// Move a unit's progress (申请销号, 销号, 退回 …); `reason` for 退回.
    UnitStatus {
        unit: String,
        to: UnitStatus,
        reason: Option<String>,
    },
    /// Attach evidence to a unit's progress.
    AddEvidence { unit: String, evidence: EvidenceRef },
    /// Detach evidence (a wrong photo) from a unit's progress; the file is collected later.
    RemoveEvidence { unit: String, sha256: String },
    /// A feedback message.
    AddFeedback {
        id: String,
        unit: Option<String>,
        text: String,
    },
    /// The item's public status; closing needs every unit signed off.
    ItemStatus(PublicStatus),
    /// The office's plan: leader, department, units, deadline, timing.
    Plan(ItemPlan),
    /// The item's definition: title, measures and the office's narrative.
    Define {
        title: String,
        measures: Vec<String>,
        narrative: String,
    },
}

impl ItemEdit {
    /// A short, stable name for the commit message and the history view.
    pub fn op(&self) -> &'static str {
        match self {
            ItemEdit::UnitNarrative { .. } => "unit_narrative",
            ItemEdit::TickMeasure { .. } => "tick_measure",
            ItemEdit::UnitStatus { .. } => "unit_status",
            ItemEdit::AddEvidence { .. } => "add_evidence",
            ItemEdit::RemoveEvidence { .. } => "remove_evidence",
            ItemEdit::AddFeedback { .. } => "add_feedback",
            ItemEdit::ItemStatus(_) => "item_status",
            ItemEdit::Plan(_) => "plan",
            ItemEdit::Define { .. } => "define",
        }
    }
}

/// Applies `edit` to the item document `doc` as `ctx`, as one change. Nothing is written
/// when the edit is refused or the document is from a newer schema.
pub fn apply(doc: &mut AutoCommit, ctx: &EditContext, edit: ItemEdit) -> Result<(), ModelError> {
    let before = ItemDoc::load(doc)?;
    let mut item = before.clone();
    let op = edit.op();
    apply_to(&mut item, ctx, edit)?;
    reconcile_changed(doc, &before, &item)?;
    let message = super::commit_message(&ctx.user, op);
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(ctx.now_ms),
    );
    Ok(())
}

/// Writes `after` into `doc`, touching only the parts that differ from `before`: each unit's
/// progress entry, the feedback list and the reviews on their own, everything else only when
/// it changed. Reconciling the whole document would also settle concurrent conflicts in
/// parts the edit never meant to touch (say, two accounts of another school writing that
/// school's `updated_by` at once), which the server rightly refuses from a unit.
fn reconcile_changed(
    doc: &mut AutoCommit,
    before: &ItemDoc,
    after: &ItemDoc,
) -> Result<(), ModelError> {
    use automerge::{ObjType, ROOT, ReadDoc, Value};
    let without_lists = |item: &ItemDoc| ItemDoc {
        progress: BTreeMap::new(),
        feedback: Vec::new(),
        reviews: Vec::new(),
        ..item.clone()
    };
    let progress_obj = match doc.get(ROOT, "progress") {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    };
    let units_unchanged = before.progress.keys().eq(after.progress.keys());
    let (Some(progress_obj), true, true) = (
        progress_obj,
        units_unchanged,
        without_lists(before) == without_lists(after),
    ) else {
        // The definition or the set of units changed (an office edit): write it all.
        autosurgeon::reconcile(doc, after)?;
        return Ok(());
    };
    for (unit, entry) in &after.progress {
        if before.progress.get(unit) != Some(entry) {
            autosurgeon::reconcile_prop(doc, &progress_obj, unit.as_str(), entry)?;
        }
    }
    if before.feedback != after.feedback {
        autosurgeon::reconcile_prop(doc, ROOT, "feedback", &after.feedback)?;
    }
    if before.reviews != after.reviews {
        autosurgeon::reconcile_prop(doc, ROOT, "reviews", &after.reviews)?;
    }
    Ok(())
}

/// The same edit on the typed value (no document): the policy and the change itself.
pub fn apply_to(item: &mut ItemDoc, ctx: &EditContext, edit: ItemEdit) -> Result<(), ModelError> {
    let actor = &ctx.actor;
    let may_work_on = |unit: &str| -> Result<(), Refusal> {
        match actor.role {
            Role::Viewer => Err(Refusal::ReadOnly),
            Role::Office => Ok(()),
            Role::Unit | Role::Department => {
                if actor.unit.as_ref().is_some_and(|own| own.as_str() == unit) {
                    Ok(())
                } else {
                    Err(Refusal::NotYourUnit)
                }
            }
        }
    };
    // A signed-off entry is locked for its unit (`check_entry_edit`).
    let may_change_entry = |item: &ItemDoc, unit: &str| -> Result<(), Refusal> {
        may_work_on(unit)?;
        check_entry_edit(actor, item.unit_status(unit))
    };
    let must_be_assigned = |item: &ItemDoc, unit: &str| -> Result<(), ModelError> {
        if item.units.iter().any(|u| u == unit) {
            Ok(())
        } else {
            Err(ModelError::Invalid(format!(
                "unit '{unit}' is not assigned to this item"
            )))
        }
    };
    match edit {
        ItemEdit::UnitNarrative { unit, text } => {
            may_change_entry(item, &unit)?;
            check_length(TextField::Narrative, &text)?;
            must_be_assigned(item, &unit)?;
            item.progress_mut(&unit, ctx).narrative.update(text);
        }
        ItemEdit::TickMeasure {
            unit,
            measure,
            done,
        } => {
            may_change_entry(item, &unit)?;
            must_be_assigned(item, &unit)?;
            if !item.measures.iter().any(|m| m.id == measure) {
                return Err(ModelError::Invalid(format!(
                    "no measure '{measure}' in this item"
                )));
            }
            item.progress_mut(&unit, ctx)
                .measures_done
                .insert(measure, done);
        }
        ItemEdit::UnitStatus { unit, to, reason } => {
            must_be_assigned(item, &unit)?;
            let from = item
                .progress
                .get(&unit)
                .map_or(UnitStatus::NotStarted, |p| p.status);
            check_unit_move(actor, &unit, from, to, reason.as_deref())?;
            check_length(TextField::Reason, reason.as_deref().unwrap_or_default())?;
            // The office may record a request for a unit without an account as it sees fit.
            if to == UnitStatus::Submitted
                && from != UnitStatus::Submitted
                && actor.role != Role::Office
            {
                let progress = item.progress.get(&unit);
                check_submission(
                    progress.map_or("", |p| p.narrative.as_str()),
                    progress.map_or(0, |p| p.evidence.len()),
                )?;
            }
            item.progress_mut(&unit, ctx).status = to;
            if matches!(to, UnitStatus::SignedOff | UnitStatus::Returned) {
                let id = format!("r{}-{}", ctx.now_ms, item.reviews.len() + 1);
                item.reviews.push(Review {
                    id,
                    unit,
                    decision: to,
                    reason: reason.unwrap_or_default(),
                    by: ctx.user.clone(),
                    at_ms: ctx.now_ms,
                });
            }
        }
        ItemEdit::AddEvidence { unit, evidence } => {
            may_change_entry(item, &unit)?;
            must_be_assigned(item, &unit)?;
            check_length(TextField::Caption, &evidence.caption)?;
            if !crate::evidence::is_sha256_hex(&evidence.sha256) {
                return Err(ModelError::Invalid(format!(
                    "evidence is named by the SHA-256 of its bytes, not '{}'",
                    evidence.sha256
                )));
            }
            let progress = item.progress_mut(&unit, ctx);
            if !progress
                .evidence
                .iter()
                .any(|e| e.sha256 == evidence.sha256)
            {
                progress.evidence.push(evidence);
            }
        }
        ItemEdit::RemoveEvidence { unit, sha256 } => {
            may_change_entry(item, &unit)?;
            must_be_assigned(item, &unit)?;
            item.progress_mut(&unit, ctx)
                .evidence
                .retain(|e| e.sha256 != sha256);
        }
        ItemEdit::AddFeedback { id, unit, text } => {
            match &unit {
                Some(unit) => may_work_on(unit)?,
                None if actor.role == Role::Office => {}
                None => return Err(Refusal::OnlyOfficePlans.into()),
            }
            if text.trim().is_empty() {
                return Err(ModelError::Invalid(
                    "a feedback message cannot be empty".to_owned(),
                ));
            }
            check_length(TextField::Feedback, &text)?;
            item.feedback.push(Feedback {
                id,
                unit,
                author: ctx.user.clone(),
                text,
                at_ms: ctx.now_ms,
            });
        }
        ItemEdit::ItemStatus(to) => {
            check_item_status(actor, to, &item.unit_statuses())?;
            item.status = to;
        }
        ItemEdit::Plan(plan) => {
            office_only(actor)?;
            // A unit's progress entry is created on assignment, by the office: if two devices
            // of a school created it concurrently, one map would win and the other's text
            // would be hidden in a conflict.
            for unit in &plan.units {
                if !item.progress.contains_key(unit) {
                    item.progress_mut(unit, ctx);
                }
            }
            item.responsible_leader = plan.responsible_leader;
            item.responsible_department = plan.responsible_department;
            item.units = plan.units;
            item.deadline = plan.deadline;
            item.timing = plan.timing;
        }
        ItemEdit::Define {
            title,
            measures,
            narrative,
        } => {
            office_only(actor)?;
            check_length(TextField::Narrative, &narrative)?;
            for text in std::iter::once(&title).chain(&measures) {
                check_length(TextField::Definition, text)?;
            }
            item.title.update(title);
            item.narrative.update(narrative);
            set_measures(item, &measures);
        }
    }
    Ok(())
}

fn office_only(actor: &Actor) -> Result<(), Refusal> {
    match actor.role {
        Role::Office => Ok(()),
        Role::Viewer => Err(Refusal::ReadOnly),
        Role::Unit | Role::Department => Err(Refusal::OnlyOfficePlans),
    }
}

/// Sets the measures' texts in order, keeping ids (and so ticks) of measures that stay.
pub(crate) fn set_measures(item: &mut ItemDoc, texts: &[String]) {
    for (i, text) in texts.iter().enumerate() {
        match item.measures.get_mut(i) {
            Some(measure) => measure.text.update(text),
            None => item.measures.push(Measure {
                id: format!("m{}", i + 1),
                text: Text::with_value(text),
            }),
        }
    }
    item.measures.truncate(texts.len());
}
