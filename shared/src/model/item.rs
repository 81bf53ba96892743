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
    /// The measures (整改措施), in order. A measure whose id is also in `removed_measures`
    /// is removed (see [`ItemDoc::current_measures`]).
    pub measures: Vec<Measure>,
    /// The measures the office removed, kept with their text: ticks a unit made on one stay
    /// where they are and read as ticks on a removed measure, and its id is never given again.
    /// Absent in documents written before it (none removed).
    #[autosurgeon(missing = "Default::default")]
    pub removed_measures: Vec<RemovedMeasure>,
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
    /// Stable id, never reused within the item and never renumbered: `m1`, `m2` … for the
    /// measures an item was created with, a random `m-…` ([`new_measure_id`]) for every
    /// measure added later.
    #[key]
    pub id: String,
    pub text: Text,
}

/// A measure the office removed (its tombstone). Stored and synced.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct RemovedMeasure {
    /// The id it had; never given to another measure.
    #[key]
    pub id: String,
    /// Its text when it was removed.
    pub text: String,
}

/// One measure of the office's edit of the measure list ([`ItemEdit::Define`]): which
/// existing measure the text belongs to, or `None` for a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureText {
    /// An existing measure's id: the measure stays (and its ticks with it), with this text.
    /// `None`: a new measure, given a fresh id. An id the item never had is taken as the id
    /// of a new measure (work re-applied from a device that made it); a removed measure's id
    /// is refused: removed measures do not come back.
    pub id: Option<String>,
    pub text: String,
}

impl MeasureText {
    /// A new measure with `text`.
    pub fn new(text: impl Into<String>) -> MeasureText {
        MeasureText {
            id: None,
            text: text.into(),
        }
    }

    /// The existing measure `id`, with `text`.
    pub fn existing(id: impl Into<String>, text: impl Into<String>) -> MeasureText {
        MeasureText {
            id: Some(id.into()),
            text: text.into(),
        }
    }
}

/// A fresh measure id: `m-` and 16 random hex digits (64 bits from the platform's random
/// source: the OS natively, `crypto.getRandomValues` in the browser). Random, so that two
/// office devices adding measures offline never make the same id and an id is never given
/// twice; the `m-` keeps it apart from the `m1`, `m2` … of created items.
pub fn new_measure_id() -> String {
    let mut bytes = [0u8; 8];
    // Without a random source there is no safe id: Automerge itself needs one to make an
    // actor id, so a platform without it cannot edit documents at all.
    getrandom::fill(&mut bytes).expect("the platform's random source failed");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("m-{hex}")
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
        let mut item: ItemDoc = autosurgeon::hydrate(doc)?;
        item.removed_measures = removed_measures(doc);
        Ok(item)
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
            removed_measures: Vec::new(),
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

    /// The measures as they stand, in order: those of `measures` not removed. An id in
    /// `removed_measures` is removed even when `measures` still lists it (two office devices
    /// edited the list at once, one removing it): a removal is never undone by a merge.
    pub fn current_measures(&self) -> impl Iterator<Item = &Measure> {
        self.measures
            .iter()
            .filter(|m| !self.removed_measures.iter().any(|r| r.id == m.id))
    }

    /// Whether `id` is a measure of the item now.
    pub fn is_current_measure(&self, id: &str) -> bool {
        self.current_measures().any(|m| m.id == id)
    }

    /// The removed measure `id`, if the office removed it.
    pub fn removed_measure(&self, id: &str) -> Option<&RemovedMeasure> {
        self.removed_measures.iter().find(|r| r.id == id)
    }

    /// Whether the item ever had the measure `id` (now or removed): a unit may tick it.
    pub fn ever_had_measure(&self, id: &str) -> bool {
        self.measures.iter().any(|m| m.id == id) || self.removed_measure(id).is_some()
    }

    /// `unit`'s ticked measures among the current ones, and how many there are: removed
    /// measures count for nothing.
    pub fn measures_done(&self, unit: &str) -> (usize, usize) {
        let progress = self.progress.get(unit);
        let ticked = |id: &str| progress.is_some_and(|p| p.measures_done.get(id) == Some(&true));
        let (mut done, mut total) = (0, 0);
        for measure in self.current_measures() {
            total += 1;
            done += usize::from(ticked(&measure.id));
        }
        (done, total)
    }

    /// The removed measures `unit` has ticked (a unit offline when the office removed one),
    /// in the order they were removed: shown to the office as such, never as another measure.
    pub fn ticked_removed_measures(&self, unit: &str) -> Vec<&RemovedMeasure> {
        let Some(progress) = self.progress.get(unit) else {
            return Vec::new();
        };
        self.removed_measures
            .iter()
            .filter(|r| progress.measures_done.get(&r.id) == Some(&true))
            .collect()
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

/// Every removed measure, from every list `removed_measures` holds: two office devices that
/// each made the list at once (in a document written before it existed) leave two
/// conflicting lists, and a removal in the losing one still counts. The winning list first.
pub(crate) fn removed_measures(doc: &AutoCommit) -> Vec<RemovedMeasure> {
    use automerge::{ObjType, ROOT, ReadDoc, Value};
    let mut all: Vec<RemovedMeasure> = Vec::new();
    // Automerge lists the winning value last.
    let lists = doc.get_all(ROOT, "removed_measures").unwrap_or_default();
    for (value, list) in lists.into_iter().rev() {
        if !matches!(value, Value::Object(ObjType::List)) {
            continue;
        }
        for i in 0..doc.length(&list) {
            // The winning list hydrated whole already; a losing list's odd element (only the
            // office writes these) is passed over rather than making the item unreadable.
            let Ok(measure) = autosurgeon::hydrate_prop::<_, RemovedMeasure, _, _>(doc, &list, i)
            else {
                continue;
            };
            if !all.iter().any(|m| m.id == measure.id) {
                all.push(measure);
            }
        }
    }
    all
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
    /// The item's definition: title, measures and the office's narrative. `measures` is the
    /// whole new list, in order, each text saying which existing measure it is: a measure
    /// left out is removed (kept as a tombstone with its ticks), never renumbered.
    Define {
        title: String,
        measures: Vec<MeasureText>,
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

/// Applies `edit` as if it had been made on `doc` as it was at `base` (its heads when the
/// edit began: a typing burst, [`crate::burst`]), merged into `doc` as it is now. When `doc`
/// changed meanwhile (another device's edit merged in, the user's own tick), the edit is
/// made on a fork at `base` and merged, so it is concurrent with those changes and Automerge
/// keeps both; writing the burst's whole text into the current document would erase what
/// arrived meanwhile. The fork has an actor of its own (two changes of one actor must not
/// share a sequence number). When `base` is not in `doc` (a reset after a refusal) the edit
/// is made on `doc` as it is.
pub fn apply_at(
    doc: &mut AutoCommit,
    base: &[automerge::ChangeHash],
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<(), ModelError> {
    if doc.get_heads() == base {
        return apply(doc, ctx, edit);
    }
    let Ok(mut fork) = doc.fork_at(base) else {
        return apply(doc, ctx, edit);
    };
    apply(&mut fork, ctx, edit)?;
    doc.merge(&mut fork)
        .map_err(|e| ModelError::Invalid(format!("merging the edit: {e}")))?;
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
        return reconcile_whole(doc, before, after);
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

/// Writes the item `after` over `doc` (only what differs) as one change by `user`: what an
/// import does with the item it brought up to date. [`super::update_document`] for an item,
/// which may reorder its measures.
pub fn update_item(
    doc: &mut AutoCommit,
    after: &ItemDoc,
    user: &str,
    op: &str,
    now_ms: i64,
) -> Result<(), ModelError> {
    let before = ItemDoc::load(doc)?;
    reconcile_whole(doc, &before, after)?;
    let message = super::commit_message(user, op);
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(now_ms),
    );
    Ok(())
}

/// Writes all of `after` into `doc`, which holds `before`. autosurgeon writes a measure that
/// moved (a reordered list) as a new element, and cannot write a text read from the document
/// into a new element; so it is done in two steps: first the measures that keep their order
/// (in place: their text as character splices) and everything else, then the moved and new
/// measures inserted as new elements around them.
fn reconcile_whole(
    doc: &mut AutoCommit,
    before: &ItemDoc,
    after: &ItemDoc,
) -> Result<(), ModelError> {
    let stay = staying_in_order(&before.measures, &after.measures);
    if after.measures.iter().all(|m| stay.contains(&m.id)) {
        autosurgeon::reconcile(doc, after)?;
        return Ok(());
    }
    let mut first = after.clone();
    first.measures.retain(|m| stay.contains(&m.id));
    autosurgeon::reconcile(doc, &first)?;
    let placed: Vec<Measure> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "measures")?;
    let measures: Vec<Measure> = after
        .measures
        .iter()
        .map(|measure| {
            placed
                .iter()
                .find(|p| p.id == measure.id && stay.contains(&p.id))
                .cloned()
                .unwrap_or_else(|| Measure {
                    id: measure.id.clone(),
                    text: Text::with_value(measure.text.as_str()),
                })
        })
        .collect();
    autosurgeon::reconcile_prop(doc, automerge::ROOT, "measures", &measures)?;
    Ok(())
}

/// The ids of a longest run of measures that are in both lists in the same order: those stay
/// where they are; the others of `after` are moved or new.
pub(crate) fn staying_in_order(
    before: &[Measure],
    after: &[Measure],
) -> std::collections::BTreeSet<String> {
    let (n, m) = (before.len(), after.len());
    // longest[i][j]: the longest common run of before[i..] and after[j..].
    let mut longest = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            longest[i][j] = if before[i].id == after[j].id {
                longest[i + 1][j + 1] + 1
            } else {
                longest[i + 1][j].max(longest[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut stay) = (0, 0, std::collections::BTreeSet::new());
    while i < n && j < m {
        if before[i].id == after[j].id {
            stay.insert(after[j].id.clone());
            (i, j) = (i + 1, j + 1);
        } else if longest[i + 1][j] >= longest[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    stay
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
            if let Some(removed) = item.removed_measure(&measure) {
                return Err(ModelError::Invalid(format!(
                    "the office removed the measure '{}' from this item, so it cannot be ticked",
                    removed.text
                )));
            }
            if !item.is_current_measure(&measure) {
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
            for text in std::iter::once(&title).chain(measures.iter().map(|m| &m.text)) {
                check_length(TextField::Definition, text)?;
            }
            set_measures(item, &measures)?;
            item.title.update(title);
            item.narrative.update(narrative);
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

/// Sets the measure list to `measures`, in order: a text with an existing measure's id keeps
/// that measure (its id, so its ticks) with the new text; a text without one is a new measure
/// with a fresh id ([`new_measure_id`]); a current measure not listed is removed, kept in
/// `removed_measures` with its text. Nothing is renumbered, and no id is ever given twice.
/// Nothing changes when the list is refused.
pub(crate) fn set_measures(item: &mut ItemDoc, measures: &[MeasureText]) -> Result<(), ModelError> {
    let mut listed = std::collections::BTreeSet::new();
    for measure in measures {
        let Some(id) = &measure.id else { continue };
        if let Some(removed) = item.removed_measure(id) {
            return Err(ModelError::Invalid(format!(
                "the measure '{}' was removed from this item and does not come back: add its text as a new measure",
                removed.text
            )));
        }
        if !item.is_current_measure(id) && !valid_measure_id(id) {
            return Err(ModelError::Invalid(format!(
                "'{id}' is not a measure id: 1 to 64 letters, digits, '-' or '_'"
            )));
        }
        if !listed.insert(id.as_str()) {
            return Err(ModelError::Invalid(format!(
                "the measure '{id}' is listed twice"
            )));
        }
    }
    let mut current: BTreeMap<String, Measure> = item
        .current_measures()
        .map(|m| (m.id.clone(), m.clone()))
        .collect();
    let mut list = Vec::with_capacity(measures.len());
    for measure in measures {
        let kept = measure.id.as_ref().and_then(|id| current.remove(id));
        list.push(match kept {
            Some(mut kept) => {
                kept.text.update(measure.text.as_str());
                kept
            }
            None => Measure {
                id: match &measure.id {
                    Some(id) => id.clone(),
                    None => fresh_measure_id(item, measures),
                },
                text: Text::with_value(measure.text.as_str()),
            },
        });
    }
    // What is left was removed: in the order the item listed it.
    for old in &item.measures {
        if current.remove(&old.id).is_some() {
            item.removed_measures.push(RemovedMeasure {
                id: old.id.clone(),
                text: old.text.as_str().to_owned(),
            });
        }
    }
    // A measure both listed and removed (two office devices at once) stays removed: it is
    // not listed again, so that the list holds only what is current.
    item.measures = list;
    Ok(())
}

/// A fresh id neither `item` nor the new list uses (a collision of 64 random bits is not
/// expected, but an id is never given twice, whatever the odds).
fn fresh_measure_id(item: &ItemDoc, listed: &[MeasureText]) -> String {
    loop {
        let id = new_measure_id();
        if !item.ever_had_measure(&id) && !listed.iter().any(|m| m.id.as_ref() == Some(&id)) {
            return id;
        }
    }
}

/// What a measure id may be: short, and plain enough to be a map key anywhere.
pub(crate) fn valid_measure_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
