//! Schema version 2 (issue #21): an item's documents split so that a unit receives only
//! its own work. **Not yet used by the client**, which writes schema 1 until its store is
//! wired; the server's gate, migration runner, item list, file access, history, ledger and
//! report read it (`docs/schema-v2.md` is the design and the order of that work).
//!
//! Two kinds of document replace the version-1 item:
//! - the **item** ([`ItemDocV2`], `kind = "item"`, `schema_version = 2`): what the office
//!   owns (problem, measures, plan, units, deadline, public status, the office's narrative),
//!   the office's notices to every unit of the item, and which unit-work document belongs to
//!   which unit (`unit_work`). Read by everyone who may read the item; written by the office.
//! - a **unit's work** ([`UnitWorkDoc`], `kind = "unit_work"`): one per (item, unit): the
//!   unit's narrative, ticks by measure id, evidence references, status, the office's
//!   decisions on it and the feedback thread between that unit and the office. Read by that
//!   unit, the item's department, the office and viewers; see [`UnitWorkDoc::may_read`].
//!
//! Ids are derived, not random ([`item_id_for`], [`unit_work_id`]), and the migration
//! ([`migrate`]) writes with a fixed actor and time, so two servers migrating the same
//! version-1 state make byte-identical documents.
//!
//! The edits are version 1's [`ItemEdit`]s, each routed ([`route`]) to the one document it
//! changes and checked by version 1's own rules ([`super::apply_to`]) on a version-1 view of
//! the part it touches, so the two versions cannot disagree about the workflow. The check of
//! a change a client sent to a unit-work document is [`check`].
//!
//! - `mod.rs`: the two document types, ids, reading, creating, routing and applying edits.
//! - [`check`]: the server's check of a change to a unit-work document.
//! - [`migrate`]: version 1 → version 2 (pure, deterministic), and reading a late
//!   version-1 change as edits of the new documents.
//! - [`carry`]: those edits made on the new documents as the change's sender, or kept back
//!   (what the server's sync driver does with an old client's changes).

pub mod carry;
pub mod check;
pub mod migrate;

use super::{
    EditContext, EvidenceRef, Feedback, ItemDoc, ItemEdit, Measure, ModelError, RemovedMeasure,
    Review, Timing, UnitProgress, apply_to,
};
use crate::ids::DocumentId;
use crate::status::PublicStatus;
use crate::workflow::UnitStatus;
use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ReadDoc};
use autosurgeon::{Hydrate, Reconcile, Text};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The schema version of the documents this module writes.
pub const SCHEMA_VERSION_V2: u64 = 2;

/// The `kind` of a unit-work document.
pub const UNIT_WORK_KIND: &str = "unit_work";

/// An item, version 2: what the office owns. Stored and synced (once wired): change only
/// with a migration. The keys it shares with version 1 mean the same.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct ItemDocV2 {
    /// Always 2.
    pub schema_version: u64,
    /// Always `item`.
    pub kind: String,
    pub campaign: String,
    pub key: String,
    pub area_no: u32,
    pub area_title: String,
    pub problem_no: u32,
    pub problem_title: String,
    pub sub_no: Option<u32>,
    pub title: Text,
    pub measures: Vec<Measure>,
    #[autosurgeon(missing = "Default::default")]
    pub removed_measures: Vec<RemovedMeasure>,
    pub responsible_leader: String,
    pub responsible_department: Option<String>,
    /// The units assigned now.
    pub units: Vec<String>,
    pub deadline: Option<String>,
    pub timing: Option<Timing>,
    /// The office's 整改情况 for the public report.
    pub narrative: Text,
    pub status: PublicStatus,
    pub document_numbers: Vec<String>,
    /// Unit id → its unit-work document's id (bs58check), for every unit ever assigned (a
    /// unit removed keeps its entry: its document stays, for the office). Always
    /// [`unit_work_id`] of this item and the unit.
    pub unit_work: BTreeMap<String, String>,
    /// The office's messages to every unit of the item (version 1's feedback without a
    /// unit).
    pub notices: Vec<Feedback>,
    /// The version-1 document this item was migrated from, if any.
    pub migrated_from: Option<String>,
}

/// One unit's work on one item. Stored and synced (once wired): change only with a
/// migration.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct UnitWorkDoc {
    /// Always 2.
    pub schema_version: u64,
    /// Always `unit_work`.
    pub kind: String,
    /// The item's (version 2) document id. Fixed when made.
    pub item: String,
    /// The campaign's document id. Fixed when made.
    pub campaign: String,
    /// The unit whose work this is. Fixed when made.
    pub unit: String,
    /// Whether the unit is assigned to the item now (the office writes it when it re-plans);
    /// a unit no longer assigned may not read or change its document.
    pub assigned: bool,
    /// The item's responsible department, copied by the office when it plans (it decides
    /// who reads the document without reading the item).
    pub department: Option<String>,
    pub status: UnitStatus,
    pub narrative: Text,
    /// Measure id → ticked.
    pub measures_done: BTreeMap<String, bool>,
    pub evidence: Vec<EvidenceRef>,
    pub updated_by: String,
    pub updated_at_ms: i64,
    /// The thread between this unit and the office; every message's `unit` is this unit.
    pub feedback: Vec<Feedback>,
    /// The office's decisions on this unit's work (销号 / 退回), newest last.
    pub reviews: Vec<Review>,
}

/// What decides who reads a unit-work document: its fixed `item` and `unit`, and the
/// office's `assigned` and `department`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkReaders {
    /// The version-2 item's document id.
    pub item: String,
    pub unit: String,
    pub assigned: bool,
    pub department: Option<String>,
}

impl WorkReaders {
    /// The office and viewers; the unit while it is assigned; the item's responsible
    /// department. (Version 1's [`crate::policy::can_read_item`], narrowed to one unit.)
    pub fn may_read(&self, actor: &crate::policy::Actor) -> bool {
        use crate::policy::Role;
        let own = actor.unit.as_ref().map(|u| u.as_str());
        match actor.role {
            Role::Office | Role::Viewer => true,
            Role::Unit | Role::Department
                if own.is_some_and(|own| own == self.unit) && self.assigned =>
            {
                true
            }
            Role::Department => own.is_some() && own == self.department.as_deref(),
            Role::Unit => false,
        }
    }
}

/// The document an edit goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The item document (the office's definition, plan, public status and notices).
    Item,
    /// The unit-work document of `unit`.
    UnitWork { unit: String },
}

/// Which document `edit` changes: a unit's work and the feedback about a unit go to that
/// unit's document; everything else (and feedback about no unit) to the item.
pub fn route(edit: &ItemEdit) -> Target {
    let unit = |unit: &String| Target::UnitWork { unit: unit.clone() };
    match edit {
        ItemEdit::UnitNarrative { unit: u, .. }
        | ItemEdit::TickMeasure { unit: u, .. }
        | ItemEdit::UnitStatus { unit: u, .. }
        | ItemEdit::AddEvidence { unit: u, .. }
        | ItemEdit::RemoveEvidence { unit: u, .. } => unit(u),
        ItemEdit::AddFeedback { unit: Some(u), .. } => unit(u),
        ItemEdit::AddFeedback { unit: None, .. }
        | ItemEdit::ItemStatus(_)
        | ItemEdit::Plan(_)
        | ItemEdit::Define { .. } => Target::Item,
    }
}

/// The first 16 bytes of the SHA-256 of `parts`, each preceded by its length (so no two
/// lists of parts hash alike).
fn derived_id(parts: &[&[u8]]) -> [u8; 16] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut id = [0; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The id of the version-2 item migrated from the version-1 document `v1`: the same on every
/// server, so two servers migrating at once make the same document.
pub fn item_id_for(v1: &DocumentId) -> DocumentId {
    DocumentId(derived_id(&[b"rectify item v2", &v1.0]))
}

/// The id of `unit`'s work document on the (version 2) item `item`: one per pair, the same
/// on every server and device, also for a unit assigned later or assigned again.
pub fn unit_work_id(item: &DocumentId, unit: &str) -> DocumentId {
    DocumentId(derived_id(&[
        b"rectify unit work",
        &item.0,
        unit.as_bytes(),
    ]))
}

/// Reads `kind` and `schema_version` first: a version-2 document of the kind expected.
fn check_header_v2(doc: &AutoCommit, expected_kind: &'static str) -> Result<(), ModelError> {
    let kind = super::kind_of(doc);
    let version: Option<u64> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "schema_version")
        .ok()
        .flatten();
    if let Some(found) = version.filter(|v| *v > SCHEMA_VERSION_V2) {
        return Err(ModelError::NewerSchema {
            found,
            known: SCHEMA_VERSION_V2,
        });
    }
    if kind.as_deref() != Some(expected_kind) || version != Some(SCHEMA_VERSION_V2) {
        return Err(ModelError::WrongKind {
            expected: expected_kind,
            found: kind.map(|k| format!("{k} (schema {})", version.unwrap_or(0))),
        });
    }
    Ok(())
}

impl ItemDocV2 {
    /// Reads a version-2 item document.
    pub fn load(doc: &AutoCommit) -> Result<ItemDocV2, ModelError> {
        check_header_v2(doc, "item")?;
        let mut item: ItemDocV2 = autosurgeon::hydrate(doc)?;
        item.removed_measures = super::item::removed_measures(doc);
        Ok(item)
    }

    /// Only what decides who may read the item (its units and responsible department), as
    /// [`ItemDoc::readers`] for version 1.
    pub fn readers(doc: &AutoCommit) -> Result<(Vec<String>, Option<String>), ModelError> {
        check_header_v2(doc, "item")?;
        let units: Vec<String> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "units")?;
        let department: Option<String> =
            autosurgeon::hydrate_prop(doc, automerge::ROOT, "responsible_department")?;
        Ok((units, department))
    }

    /// The office-owned part of a version-1 item, with the unit-work ids of `id`.
    pub fn from_v1(id: &DocumentId, v1: &ItemDoc, migrated_from: Option<&DocumentId>) -> Self {
        let mut item = ItemDocV2 {
            schema_version: SCHEMA_VERSION_V2,
            kind: "item".to_owned(),
            campaign: v1.campaign.clone(),
            key: v1.key.clone(),
            area_no: v1.area_no,
            area_title: v1.area_title.clone(),
            problem_no: v1.problem_no,
            problem_title: v1.problem_title.clone(),
            sub_no: v1.sub_no,
            title: Text::with_value(v1.title.as_str()),
            measures: (v1.measures.iter())
                .map(|m| Measure {
                    id: m.id.clone(),
                    text: Text::with_value(m.text.as_str()),
                })
                .collect(),
            removed_measures: v1.removed_measures.clone(),
            responsible_leader: v1.responsible_leader.clone(),
            responsible_department: v1.responsible_department.clone(),
            units: v1.units.clone(),
            deadline: v1.deadline.clone(),
            timing: v1.timing,
            narrative: Text::with_value(v1.narrative.as_str()),
            status: v1.status,
            document_numbers: v1.document_numbers.clone(),
            unit_work: BTreeMap::new(),
            notices: (v1.feedback.iter())
                .filter(|f| f.unit.is_none())
                .cloned()
                .collect(),
            migrated_from: migrated_from.map(ToString::to_string),
        };
        for unit in &v1.units {
            item.unit_work
                .insert(unit.clone(), unit_work_id(id, unit).to_string());
        }
        item
    }

    /// The measures as they stand (those not removed), in order.
    pub fn current_measures(&self) -> impl Iterator<Item = &Measure> {
        self.measures
            .iter()
            .filter(|m| !self.removed_measures.iter().any(|r| r.id == m.id))
    }

    /// The removed measure `id`, if the office removed it.
    pub fn removed_measure(&self, id: &str) -> Option<&RemovedMeasure> {
        self.removed_measures.iter().find(|r| r.id == id)
    }

    /// Whether the item ever had the measure `id` (now or removed): a unit may tick it.
    pub fn ever_had_measure(&self, id: &str) -> bool {
        self.measures.iter().any(|m| m.id == id) || self.removed_measure(id).is_some()
    }

    /// The item as a version-1 [`ItemDoc`] with `works` as its units' progress, feedback and
    /// reviews: what version 1's rules and readers ([`super::apply_to`],
    /// [`super::rescue::is_already`], the dashboard's facts) are given until they read
    /// version 2 themselves. Units without a document read as not started.
    pub fn combined_v1(&self, works: &BTreeMap<String, UnitWorkDoc>) -> ItemDoc {
        let mut v1 = ItemDoc::new(&self.campaign, &self.key, self.title.as_str());
        v1.area_no = self.area_no;
        v1.area_title = self.area_title.clone();
        v1.problem_no = self.problem_no;
        v1.problem_title = self.problem_title.clone();
        v1.sub_no = self.sub_no;
        v1.measures = (self.measures.iter())
            .map(|m| Measure {
                id: m.id.clone(),
                text: Text::with_value(m.text.as_str()),
            })
            .collect();
        v1.removed_measures = self.removed_measures.clone();
        v1.responsible_leader = self.responsible_leader.clone();
        v1.responsible_department = self.responsible_department.clone();
        v1.units = self.units.clone();
        v1.deadline = self.deadline.clone();
        v1.timing = self.timing;
        v1.narrative = Text::with_value(self.narrative.as_str());
        v1.status = self.status;
        v1.document_numbers = self.document_numbers.clone();
        v1.feedback = self.notices.clone();
        for (unit, work) in works {
            // Version 1 has an entry for each unit assigned (or once assigned); a unit with
            // only messages about it has none.
            if work.assigned || work.has_progress() {
                v1.progress.insert(unit.clone(), work.progress());
            }
            v1.feedback.extend(work.feedback.iter().cloned());
            v1.reviews.extend(work.reviews.iter().cloned());
        }
        v1
    }

    /// The whole item as the office reads it, for the ledger and the report: the item with
    /// **every** unit's work ([`combined_v1`](Self::combined_v1)). `works` must hold, by
    /// unit, the document of each entry of `unit_work`, belonging to this item (`item_id`)
    /// and that unit: a report missing a unit's work would be silently thinner, so a missing
    /// or misplaced one is an error that names the unit and the document.
    pub fn office_view(
        &self,
        item_id: &DocumentId,
        works: &BTreeMap<String, UnitWorkDoc>,
    ) -> Result<ItemDoc, ModelError> {
        for (unit, id) in &self.unit_work {
            let Some(work) = works.get(unit) else {
                return Err(ModelError::Invalid(format!(
                    "unit {unit}'s work document {id} is missing"
                )));
            };
            if work.item != item_id.to_string() || work.unit != *unit {
                return Err(ModelError::Invalid(format!(
                    "unit {unit}'s work document {id} belongs to unit {} of item {}",
                    work.unit, work.item
                )));
            }
        }
        if let Some(unit) = works.keys().find(|u| !self.unit_work.contains_key(*u)) {
            return Err(ModelError::Invalid(format!(
                "unit {unit} has a work document the item does not list"
            )));
        }
        Ok(self.combined_v1(works))
    }

    /// Copies the office-owned part of a version-1 view back (after an edit on it).
    fn take_office_part(&mut self, v1: &ItemDoc) {
        let same_text = |text: &mut Text, new: &Text| {
            if text.as_str() != new.as_str() {
                text.update(new.as_str());
            }
        };
        same_text(&mut self.title, &v1.title);
        same_text(&mut self.narrative, &v1.narrative);
        let mut measures = Vec::with_capacity(v1.measures.len());
        for new in &v1.measures {
            let mut measure = (self.measures.iter().find(|m| m.id == new.id).cloned())
                .unwrap_or_else(|| Measure {
                    id: new.id.clone(),
                    text: Text::default(),
                });
            same_text(&mut measure.text, &new.text);
            measures.push(measure);
        }
        self.measures = measures;
        self.removed_measures = v1.removed_measures.clone();
        self.responsible_leader = v1.responsible_leader.clone();
        self.responsible_department = v1.responsible_department.clone();
        self.units = v1.units.clone();
        self.deadline = v1.deadline.clone();
        self.timing = v1.timing;
        self.status = v1.status;
        self.notices = (v1.feedback.iter())
            .filter(|f| f.unit.is_none())
            .cloned()
            .collect();
    }
}

impl UnitWorkDoc {
    /// Reads a unit-work document.
    pub fn load(doc: &AutoCommit) -> Result<UnitWorkDoc, ModelError> {
        check_header_v2(doc, UNIT_WORK_KIND)?;
        Ok(autosurgeon::hydrate(doc)?)
    }

    /// A new, empty unit-work document of `unit` on `item` (the office makes it when it
    /// assigns the unit).
    pub fn new(item_id: &DocumentId, item: &ItemDocV2, unit: &str) -> UnitWorkDoc {
        UnitWorkDoc {
            schema_version: SCHEMA_VERSION_V2,
            kind: UNIT_WORK_KIND.to_owned(),
            item: item_id.to_string(),
            campaign: item.campaign.clone(),
            unit: unit.to_owned(),
            assigned: item.units.iter().any(|u| u == unit),
            department: item.responsible_department.clone(),
            status: UnitStatus::NotStarted,
            narrative: Text::default(),
            measures_done: BTreeMap::new(),
            evidence: Vec::new(),
            updated_by: String::new(),
            updated_at_ms: 0,
            feedback: Vec::new(),
            reviews: Vec::new(),
        }
    }

    /// Who may read the document: see [`WorkReaders::may_read`].
    pub fn may_read(&self, actor: &crate::policy::Actor) -> bool {
        WorkReaders {
            item: self.item.clone(),
            unit: self.unit.clone(),
            assigned: self.assigned,
            department: self.department.clone(),
        }
        .may_read(actor)
    }

    /// Only the keys that decide who may read the document (and the item it belongs to),
    /// without reading the work: the server asks this for every frame a unit sends.
    pub fn readers(doc: &AutoCommit) -> Result<WorkReaders, ModelError> {
        check_header_v2(doc, UNIT_WORK_KIND)?;
        let prop =
            |key: &str| autosurgeon::hydrate_prop::<_, String, _, _>(doc, automerge::ROOT, key);
        Ok(WorkReaders {
            item: prop("item")?,
            unit: prop("unit")?,
            assigned: autosurgeon::hydrate_prop(doc, automerge::ROOT, "assigned")?,
            department: autosurgeon::hydrate_prop(doc, automerge::ROOT, "department")?,
        })
    }

    /// The unit's entry as version 1's progress.
    pub fn progress(&self) -> UnitProgress {
        UnitProgress {
            status: self.status,
            narrative: Text::with_value(self.narrative.as_str()),
            measures_done: self.measures_done.clone(),
            evidence: self.evidence.clone(),
            updated_by: self.updated_by.clone(),
            updated_at_ms: self.updated_at_ms,
        }
    }

    /// Whether anything was ever written to the unit's entry (by the unit or by the office
    /// assigning it): a version-1 progress entry, as opposed to only messages about the unit.
    pub fn has_progress(&self) -> bool {
        self.progress()
            != UnitProgress {
                status: UnitStatus::NotStarted,
                narrative: Text::default(),
                measures_done: BTreeMap::new(),
                evidence: Vec::new(),
                updated_by: String::new(),
                updated_at_ms: 0,
            }
    }

    /// Copies this unit's part of a version-1 view back (after an edit on it): its
    /// messages and decisions, and its progress entry when the view has one.
    fn take_progress(&mut self, v1: &ItemDoc) {
        self.feedback = (v1.feedback.iter())
            .filter(|f| f.unit.as_deref() == Some(self.unit.as_str()))
            .cloned()
            .collect();
        self.reviews = (v1.reviews.iter())
            .filter(|r| r.unit == self.unit)
            .cloned()
            .collect();
        let Some(progress) = v1.progress.get(&self.unit) else {
            return;
        };
        if self.narrative.as_str() != progress.narrative.as_str() {
            self.narrative.update(progress.narrative.as_str());
        }
        self.status = progress.status;
        self.measures_done = progress.measures_done.clone();
        self.evidence = progress.evidence.clone();
        self.updated_by = progress.updated_by.clone();
        self.updated_at_ms = progress.updated_at_ms;
    }
}

/// Applies `edit` (one [`route`]s to [`Target::Item`]) to the item `item_id` as `ctx`.
/// `statuses` are the assigned units' statuses, read from their documents: closing the item
/// needs every one signed off. A plan that assigns a unit records its work document in
/// `unit_work` (the caller makes that document, [`create_unit_work`], and records the
/// assignment on every unit's document, [`set_assignment`]). Nothing changes when it is
/// refused.
pub fn apply_to_item(
    item_id: &DocumentId,
    item: &mut ItemDocV2,
    statuses: &BTreeMap<String, UnitStatus>,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<(), ModelError> {
    if route(&edit) != Target::Item {
        return Err(ModelError::Invalid(format!(
            "a {} edit goes to a unit's work document, not the item",
            edit.op()
        )));
    }
    let mut v1 = item.combined_v1(&BTreeMap::new());
    for (unit, status) in statuses {
        let progress = UnitProgress {
            status: *status,
            narrative: Text::default(),
            measures_done: BTreeMap::new(),
            evidence: Vec::new(),
            updated_by: String::new(),
            updated_at_ms: 0,
        };
        v1.progress.insert(unit.clone(), progress);
    }
    apply_to(&mut v1, ctx, edit)?;
    item.take_office_part(&v1);
    for unit in &item.units {
        if !item.unit_work.contains_key(unit) {
            let id = unit_work_id(item_id, unit).to_string();
            item.unit_work.insert(unit.clone(), id);
        }
    }
    Ok(())
}

/// Applies `edit` (one [`route`]s to this unit's document) to the unit's work as `ctx`,
/// with version 1's rules: the unit works only on its own entry and not once it is signed
/// off, only the office decides, a request for sign-off needs words or evidence. `item`
/// gives the measures a tick may name. Nothing changes when it is refused.
pub fn apply_to_unit_work(
    work: &mut UnitWorkDoc,
    item: &ItemDocV2,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<(), ModelError> {
    match route(&edit) {
        Target::UnitWork { unit } if unit == work.unit => {}
        Target::UnitWork { unit } => {
            return Err(ModelError::Invalid(format!(
                "this is the work document of unit '{}', not of '{unit}'",
                work.unit
            )));
        }
        Target::Item => {
            return Err(ModelError::Invalid(format!(
                "a {} edit goes to the item document, not a unit's work",
                edit.op()
            )));
        }
    }
    let mut v1 = item.combined_v1(&BTreeMap::from([(work.unit.clone(), work.clone())]));
    // Only this unit's document is here: assignment is its own `assigned`.
    v1.units = if work.assigned {
        vec![work.unit.clone()]
    } else {
        Vec::new()
    };
    v1.feedback.retain(|f| f.unit.is_some());
    apply_to(&mut v1, ctx, edit)?;
    work.take_progress(&v1);
    Ok(())
}

/// The office's record of an assignment on a unit's document: whether the unit is assigned
/// and the item's department, after a [`ItemEdit::Plan`] of the item.
pub fn set_assignment(work: &mut UnitWorkDoc, item: &ItemDocV2) {
    work.assigned = item.units.contains(&work.unit);
    work.department = item.responsible_department.clone();
}

/// The unit-work document of `unit` on the item `item_id`, as the office makes it when it
/// assigns the unit: its fixed keys and empty work (`assigned` false, no department), as one
/// change with an actor derived from the id, at time 0, by `rectify`. Two office devices
/// assigning the unit offline make the very same change, so the document is made once
/// whoever is first. The assignment itself ([`set_assignment`]) follows as an ordinary
/// change of the office.
pub fn create_unit_work(
    item_id: &DocumentId,
    campaign: &str,
    unit: &str,
) -> Result<(DocumentId, AutoCommit), ModelError> {
    let id = unit_work_id(item_id, unit);
    let work = UnitWorkDoc {
        schema_version: SCHEMA_VERSION_V2,
        kind: UNIT_WORK_KIND.to_owned(),
        item: item_id.to_string(),
        campaign: campaign.to_owned(),
        unit: unit.to_owned(),
        assigned: false,
        department: None,
        status: UnitStatus::NotStarted,
        narrative: Text::default(),
        measures_done: BTreeMap::new(),
        evidence: Vec::new(),
        updated_by: String::new(),
        updated_at_ms: 0,
        feedback: Vec::new(),
        reviews: Vec::new(),
    };
    let actor =
        automerge::ActorId::from(derived_id(&[b"rectify unit work made", &id.0]).as_slice());
    let doc = create_v2(&work, Some(actor), "rectify", "create", 0)?;
    Ok((id, doc))
}

/// Creates a document holding `value` as one change by `user` at `now_ms`, with the
/// Automerge actor `actor` when given (the migration's fixed actor), else a random one.
pub fn create_v2<T: Reconcile>(
    value: &T,
    actor: Option<automerge::ActorId>,
    user: &str,
    op: &str,
    now_ms: i64,
) -> Result<AutoCommit, ModelError> {
    let mut doc = super::new_automerge();
    if let Some(actor) = actor {
        doc.set_actor(actor);
    }
    autosurgeon::reconcile(&mut doc, value)?;
    doc.commit_with(
        CommitOptions::default()
            .with_message(super::commit_message(user, op))
            .with_time(now_ms),
    );
    Ok(doc)
}

/// Applies `edit` to the item document `doc` as one change. See [`apply_to_item`].
pub fn apply_item(
    doc: &mut AutoCommit,
    item_id: &DocumentId,
    statuses: &BTreeMap<String, UnitStatus>,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<(), ModelError> {
    let before = ItemDocV2::load(doc)?;
    let mut item = before.clone();
    let op = edit.op();
    apply_to_item(item_id, &mut item, statuses, ctx, edit)?;
    reconcile_item(doc, &before, &item)?;
    commit(doc, &ctx.user, op, ctx.now_ms);
    Ok(())
}

/// Applies `edit` to the unit-work document `doc` as one change. See [`apply_to_unit_work`].
pub fn apply_unit_work(
    doc: &mut AutoCommit,
    item: &ItemDocV2,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<(), ModelError> {
    let mut work = UnitWorkDoc::load(doc)?;
    let op = edit.op();
    apply_to_unit_work(&mut work, item, ctx, edit)?;
    autosurgeon::reconcile(doc, &work)?;
    commit(doc, &ctx.user, op, ctx.now_ms);
    Ok(())
}

fn commit(doc: &mut AutoCommit, user: &str, op: &str, now_ms: i64) {
    doc.commit_with(
        CommitOptions::default()
            .with_message(super::commit_message(user, op))
            .with_time(now_ms),
    );
}

/// Writes `after` over `doc` (holding `before`); moved measures are inserted anew, as for a
/// version-1 item (autosurgeon cannot move a text read from the document).
fn reconcile_item(
    doc: &mut AutoCommit,
    before: &ItemDocV2,
    after: &ItemDocV2,
) -> Result<(), ModelError> {
    let stay = super::item::staying_in_order(&before.measures, &after.measures);
    if after.measures.iter().all(|m| stay.contains(&m.id)) {
        autosurgeon::reconcile(doc, after)?;
        return Ok(());
    }
    let mut first = after.clone();
    first.measures.retain(|m| stay.contains(&m.id));
    autosurgeon::reconcile(doc, &first)?;
    let placed: Vec<Measure> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "measures")?;
    let measures: Vec<Measure> = (after.measures.iter())
        .map(|measure| {
            (placed.iter())
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

/// Whether `doc` is a version-2 document (of any kind).
pub fn is_v2(doc: &AutoCommit) -> bool {
    matches!(
        doc.get(automerge::ROOT, "schema_version"),
        Ok(Some((automerge::Value::Scalar(s), _))) if s.as_u64() == Some(SCHEMA_VERSION_V2)
    )
}
