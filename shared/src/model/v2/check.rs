//! The server's check of a change a client sent to a unit-work document ([`UnitWorkDoc`]):
//! the version-2 counterpart of [`crate::model::check`] for the one document a unit
//! writes; and [`check_item_v2_change`], the office-only version-2 item. Not yet run by the
//! server (issue #21, wiring next).
//!
//! As in version 1, two levels: the **raw** keys and the ids of the operations that wrote
//! them (a modified client can write anything), and the **typed** documents checked with the
//! workflow's own rules. Refusals are data: [`ChangeRefusal`] and [`Refusal`].
//!
//! - The office changes anything but the document's identity (`kind`, `item`, `campaign`,
//!   `unit`), and never rewrites a decision or a feedback message (append only); what it
//!   appends is about this document's unit (anything else here would reach this unit).
//! - The unit itself, while assigned, changes its `narrative`, `measures_done`, `evidence`,
//!   `status` (up to `submitted`), `updated_by`/`updated_at_ms`, and appends feedback about
//!   itself; nothing of it once the office signed it off (销号) — the feedback thread stays
//!   open — until the office reopens it (退回, with a reason). A request for sign-off needs a
//!   narrative or evidence. A tick names a measure the item has (or had).
//! - Everyone else (another unit, the item's department, a viewer) changes nothing.
//! - Every name a change writes names its sender; new evidence names its file by SHA-256.

use super::{ItemDocV2, UNIT_WORK_KIND, UnitWorkDoc};
use crate::ids::UnitId;
use crate::model::check::{
    ChangeRefusal, Fields, Slot, appended_slots, changed_keys, malformed, same_object,
};
use crate::model::kind_of;
use crate::policy::{Actor, Role};
use crate::workflow::{
    Refusal, TextField, UnitStatus, check_entry_edit, check_length, check_submission,
    check_unit_move,
};
use automerge::AutoCommit;

/// The top-level keys of a unit-work document (see `docs/schema-v2.md`).
pub const UNIT_WORK_KEYS: &[&str] = &[
    "schema_version",
    "kind",
    "item",
    "campaign",
    "unit",
    "assigned",
    "department",
    "status",
    "narrative",
    "measures_done",
    "evidence",
    "updated_by",
    "updated_at_ms",
    "feedback",
    "reviews",
];

/// The keys the unit itself writes (besides appending to `feedback`).
pub const UNIT_WRITES: &[&str] = &[
    "status",
    "narrative",
    "measures_done",
    "evidence",
    "updated_by",
    "updated_at_ms",
];

/// The keys fixed when the document is made, for everyone.
const IDENTITY: &[&str] = &["schema_version", "kind", "item", "campaign", "unit"];

/// Is the change from `before` to `after` (two states of a unit-work document) allowed for
/// `actor`, the account `sender`? `item` is the item the document belongs to, when the
/// caller has it: a tick must then name a measure the item has or had (without it, any
/// well-formed measure id passes). An allowed change comes with the evidence files it newly
/// references (sorted, once each), for [`crate::model::check_reference`].
///
/// `before` is empty ([`crate::model::new_automerge`]) for a document being made.
pub fn check_unit_work_change(
    actor: &Actor,
    sender: &str,
    before: &AutoCommit,
    after: &AutoCommit,
    item: Option<&ItemDocV2>,
) -> Result<Vec<String>, ChangeRefusal> {
    let raw_before = Fields::of(before)?;
    let raw_after = Fields::of(after)?;
    if raw_before == raw_after {
        return Ok(Vec::new());
    }
    if actor.role == Role::Viewer {
        return Err(Refusal::ReadOnly.into());
    }
    let office = actor.role == Role::Office;
    let creating = raw_before.0.is_empty();
    let kind = kind_of(after);
    if creating && !office {
        return Err(ChangeRefusal::OnlyOfficeCreates {
            kind: kind.unwrap_or_else(|| "untyped".to_owned()),
        });
    }
    if !creating && kind_of(before) != kind {
        let name = |kind: Option<String>| kind.unwrap_or_else(|| "untyped".to_owned());
        return Err(ChangeRefusal::KindChanged {
            before: name(kind_of(before)),
            after: name(kind),
        });
    }
    let after_work = UnitWorkDoc::load(after).map_err(|e| malformed(UNIT_WORK_KIND, &e))?;
    if creating {
        return Ok(Vec::new());
    }
    let before_work = UnitWorkDoc::load(before).map_err(|e| ChangeRefusal::StoredMalformed {
        kind: UNIT_WORK_KIND.to_owned(),
        reason: e.to_string(),
    })?;
    let changes = Changes {
        actor,
        before: &raw_before,
        after: &raw_after,
        before_work: &before_work,
        after_work: &after_work,
    };
    changes.identity()?;
    if office {
        changes.check_office()?;
    } else {
        changes.check_unit(item)?;
    }
    check_lengths(&before_work, &after_work)?;
    authorship(sender, &before_work, &after_work)
}

struct Changes<'a> {
    actor: &'a Actor,
    before: &'a Fields,
    after: &'a Fields,
    before_work: &'a UnitWorkDoc,
    after_work: &'a UnitWorkDoc,
}

impl Changes<'_> {
    fn changed(&self) -> impl Iterator<Item = (&str, Option<&Slot>, Option<&Slot>)> {
        changed_keys(self.before, self.after)
    }

    /// The identity of a document never changes, not even by the office: it decides who
    /// reads it and where it belongs.
    fn identity(&self) -> Result<(), ChangeRefusal> {
        match self.changed().find(|(key, _, _)| IDENTITY.contains(key)) {
            Some((key, _, _)) => Err(ChangeRefusal::Malformed {
                kind: UNIT_WORK_KIND.to_owned(),
                reason: format!("`{key}` is fixed when a unit-work document is made"),
            }),
            None => Ok(()),
        }
    }

    /// The office changes the work, appends decisions and messages — each about this
    /// document's unit: one about another unit here would hand it to this unit.
    fn check_office(&self) -> Result<(), ChangeRefusal> {
        for (key, before, after) in self.changed() {
            match key {
                "reviews" => {
                    let added =
                        appended_slots(before, after).ok_or(ChangeRefusal::ReviewsRewritten)?;
                    let about = |i: &usize| self.after_work.reviews.get(*i).map(|r| &r.unit);
                    if let Some(unit) = added
                        .iter()
                        .filter_map(about)
                        .find(|u| **u != self.after_work.unit)
                    {
                        return Err(self.not_about_this_unit("decision", Some(unit)));
                    }
                }
                "feedback" => {
                    let added =
                        appended_slots(before, after).ok_or(ChangeRefusal::FeedbackRewritten)?;
                    let about = |i: &usize| self.after_work.feedback.get(*i).map(|f| &f.unit);
                    if let Some(unit) = added
                        .iter()
                        .filter_map(about)
                        .find(|u| u.as_deref() != Some(self.after_work.unit.as_str()))
                    {
                        return Err(self.not_about_this_unit("message", unit.as_ref()));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn not_about_this_unit(&self, what: &str, unit: Option<&String>) -> ChangeRefusal {
        let own = &self.after_work.unit;
        let reason = match unit {
            Some(unit) => format!(
                "a {what} about unit '{unit}' in the work document of unit '{own}': it belongs in its own unit's document"
            ),
            None => format!(
                "a {what} about no unit in the work document of unit '{own}': the office's notices to every unit belong in the item"
            ),
        };
        ChangeRefusal::Malformed {
            kind: UNIT_WORK_KIND.to_owned(),
            reason,
        }
    }

    /// The unit itself, while assigned: its own work (not once signed off) and feedback.
    fn check_unit(&self, item: Option<&ItemDocV2>) -> Result<(), ChangeRefusal> {
        let (before, after) = (self.before_work, self.after_work);
        let own = self.actor.unit.as_ref().map(UnitId::as_str);
        if own != Some(before.unit.as_str()) {
            return Err(ChangeRefusal::OtherUnitsProgress {
                unit: before.unit.clone(),
            });
        }
        if !before.assigned {
            return Err(Refusal::NotYourUnit.into());
        }
        let mut work_changed = false;
        let mut new_feedback = Vec::new();
        for (key, slot_before, slot_after) in self.changed() {
            match key {
                "feedback" => {
                    new_feedback = appended_slots(slot_before, slot_after)
                        .ok_or(ChangeRefusal::FeedbackRewritten)?;
                }
                "reviews" => return Err(Refusal::OnlyOfficeDecides.into()),
                key if UNIT_WRITES.contains(&key) => {
                    work_changed = true;
                    // An object is edited in place, never replaced: a copy would hide what
                    // another device wrote into the original meanwhile.
                    let object = matches!(key, "narrative" | "measures_done" | "evidence");
                    if object && same_object(slot_before, slot_after).is_none() {
                        return Err(ChangeRefusal::Replaced {
                            path: key.to_owned(),
                        });
                    }
                }
                key if UNIT_WORK_KEYS.contains(&key) => {
                    return Err(ChangeRefusal::OfficeOnlyKey {
                        key: key.to_owned(),
                    });
                }
                key => {
                    return Err(ChangeRefusal::UnknownKey {
                        path: key.to_owned(),
                    });
                }
            }
        }
        if work_changed {
            // What the office signed off stays as it was signed off, until it reopens it.
            check_entry_edit(self.actor, before.status)?;
            if before.status != after.status {
                check_unit_move(self.actor, &before.unit, before.status, after.status, None)?;
                if after.status == UnitStatus::Submitted {
                    check_submission(after.narrative.as_str(), after.evidence.len())?;
                }
            }
            for (measure, done) in &after.measures_done {
                if before.measures_done.get(measure) == Some(done) {
                    continue;
                }
                let known = match item {
                    Some(item) => item.ever_had_measure(measure),
                    None => super::super::item::valid_measure_id(measure),
                };
                if !known {
                    return Err(ChangeRefusal::NoSuchMeasure {
                        measure: measure.clone(),
                    });
                }
            }
        }
        for index in new_feedback {
            let Some(message) = after.feedback.get(index) else {
                continue;
            };
            if message.unit.as_deref() != Some(before.unit.as_str()) {
                let about = match &message.unit {
                    Some(unit) => format!("unit '{unit}'"),
                    None => "no unit".to_owned(),
                };
                return Err(ChangeRefusal::FeedbackNotYours { about });
            }
        }
        Ok(())
    }
}

/// Every text the change wrote fits its field; texts it did not touch are not judged.
fn check_lengths(before: &UnitWorkDoc, after: &UnitWorkDoc) -> Result<(), Refusal> {
    if before.narrative.as_str() != after.narrative.as_str() {
        check_length(TextField::Narrative, after.narrative.as_str())?;
    }
    for evidence in &after.evidence {
        let was = (before.evidence.iter()).find(|e| e.sha256 == evidence.sha256);
        if was.is_none_or(|was| was.caption != evidence.caption) {
            check_length(TextField::Caption, &evidence.caption)?;
        }
    }
    for message in &after.feedback {
        let was = (before.feedback.iter()).find(|f| f.id == message.id);
        if was.is_none_or(|was| was.text != message.text) {
            check_length(TextField::Feedback, &message.text)?;
        }
    }
    for review in &after.reviews {
        let was = (before.reviews.iter()).find(|r| r.id == review.id);
        if was.is_none_or(|was| was.reason != review.reason) {
            check_length(TextField::Reason, &review.reason)?;
        }
    }
    Ok(())
}

/// Every name the change writes names `sender`; new evidence is named by its SHA-256 and
/// keeps who added it. Returns the files newly referenced.
fn authorship(
    sender: &str,
    before: &UnitWorkDoc,
    after: &UnitWorkDoc,
) -> Result<Vec<String>, ChangeRefusal> {
    let claim = |field: &str, claimed: &str| {
        if claimed == sender {
            Ok(())
        } else {
            Err(ChangeRefusal::NotTheSender {
                field: field.to_owned(),
                claimed: claimed.to_owned(),
                sender: sender.to_owned(),
            })
        }
    };
    if before.updated_by != after.updated_by {
        claim("updated_by", &after.updated_by)?;
    }
    let mut referenced = Vec::new();
    for evidence in &after.evidence {
        let earlier: Vec<_> = (before.evidence.iter())
            .filter(|e| e.sha256 == evidence.sha256)
            .collect();
        if earlier.is_empty() {
            claim("evidence.added_by", &evidence.added_by)?;
            if !crate::evidence::is_sha256_hex(&evidence.sha256) {
                return Err(ChangeRefusal::EvidenceId {
                    sha256: evidence.sha256.clone(),
                });
            }
            referenced.push(evidence.sha256.clone());
        } else if !earlier.iter().any(|e| e.added_by == evidence.added_by) {
            return Err(ChangeRefusal::EvidenceAuthorRewritten {
                sha256: evidence.sha256.clone(),
                before: earlier[0].added_by.clone(),
                after: evidence.added_by.clone(),
            });
        }
    }
    for message in &after.feedback {
        if !before.feedback.iter().any(|f| f.id == message.id) {
            claim("feedback.author", &message.author)?;
        }
    }
    for review in &after.reviews {
        if !before.reviews.iter().any(|r| r.id == review.id) {
            claim("reviews.by", &review.by)?;
        }
    }
    referenced.sort_unstable();
    referenced.dedup();
    Ok(referenced)
}

/// The top-level keys of a version-2 item document (see `docs/schema-v2.md`).
pub const ITEM_V2_KEYS: &[&str] = &[
    "schema_version",
    "kind",
    "campaign",
    "key",
    "area_no",
    "area_title",
    "problem_no",
    "problem_title",
    "sub_no",
    "title",
    "measures",
    "removed_measures",
    "responsible_leader",
    "responsible_department",
    "units",
    "deadline",
    "timing",
    "narrative",
    "status",
    "document_numbers",
    "unit_work",
    "notices",
    "migrated_from",
];

/// Is the change from `before` to `after` (two states of the version-2 item `item_id`)
/// allowed for `actor`, the account `sender`? Only the office writes an item: it never
/// rewrites a notice, never drops a measure without its tombstone, never removes or
/// re-points a unit's work document (`unit_work` holds [`super::unit_work_id`]s, added only),
/// and closes the item only when every assigned unit is signed off — `statuses`, read from
/// the units' documents, when the caller has them (without them a close is refused).
pub fn check_item_v2_change(
    actor: &Actor,
    sender: &str,
    item_id: &crate::ids::DocumentId,
    before: &AutoCommit,
    after: &AutoCommit,
    statuses: Option<&std::collections::BTreeMap<String, UnitStatus>>,
) -> Result<(), ChangeRefusal> {
    let raw_before = Fields::of(before)?;
    let raw_after = Fields::of(after)?;
    if raw_before == raw_after {
        return Ok(());
    }
    let creating = raw_before.0.is_empty();
    match actor.role {
        Role::Viewer => return Err(Refusal::ReadOnly.into()),
        Role::Unit | Role::Department if creating => {
            return Err(ChangeRefusal::OnlyOfficeCreates {
                kind: kind_of(after).unwrap_or_else(|| "untyped".to_owned()),
            });
        }
        Role::Unit | Role::Department => {
            let (key, _, _) = changed_keys(&raw_before, &raw_after)
                .next()
                .unwrap_or(("", None, None));
            return Err(match key {
                "status" => Refusal::OnlyOfficePlans.into(),
                key if ITEM_V2_KEYS.contains(&key) => ChangeRefusal::OfficeOnlyKey {
                    key: key.to_owned(),
                },
                key => ChangeRefusal::UnknownKey {
                    path: key.to_owned(),
                },
            });
        }
        Role::Office => {}
    }
    if !creating && kind_of(before) != kind_of(after) {
        let name = |kind: Option<String>| kind.unwrap_or_else(|| "untyped".to_owned());
        return Err(ChangeRefusal::KindChanged {
            before: name(kind_of(before)),
            after: name(kind_of(after)),
        });
    }
    let item = ItemDocV2::load(after).map_err(|e| malformed("item", &e))?;
    let old = if creating {
        None
    } else {
        Some(
            ItemDocV2::load(before).map_err(|e| ChangeRefusal::StoredMalformed {
                kind: "item".to_owned(),
                reason: e.to_string(),
            })?,
        )
    };
    let wrong = |reason: String| ChangeRefusal::Malformed {
        kind: "item".to_owned(),
        reason,
    };
    for (unit, id) in &item.unit_work {
        let derived = super::unit_work_id(item_id, unit).to_string();
        if *id != derived {
            return Err(wrong(format!(
                "`unit_work.{unit}` must be {derived}, the id derived from the item and the unit"
            )));
        }
    }
    for message in &item.notices {
        if message.unit.is_some() {
            return Err(wrong(format!(
                "the notice {} is about one unit: it belongs in that unit's work document",
                message.id
            )));
        }
    }
    let Some(old) = old else {
        return Ok(());
    };
    if let Some(unit) = old
        .unit_work
        .keys()
        .find(|u| !item.unit_work.contains_key(*u))
    {
        return Err(wrong(format!(
            "`unit_work.{unit}` is removed: a unit's work document stays listed, for the office"
        )));
    }
    if let Some((_, before, after)) =
        changed_keys(&raw_before, &raw_after).find(|(k, _, _)| *k == "notices")
    {
        appended_slots(before, after).ok_or(ChangeRefusal::FeedbackRewritten)?;
    }
    let dropped = (old.measures.iter().map(|m| (&m.id, m.text.as_str())))
        .chain(
            old.removed_measures
                .iter()
                .map(|r| (&r.id, r.text.as_str())),
        )
        .find(|(id, _)| !item.ever_had_measure(id));
    if let Some((id, text)) = dropped {
        return Err(ChangeRefusal::MeasureDropped {
            id: id.clone(),
            text: text.to_owned(),
        });
    }
    if old.status != item.status {
        let assigned: Vec<UnitStatus> = (item.units.iter())
            .map(|u| {
                statuses
                    .and_then(|s| s.get(u).copied())
                    .unwrap_or(UnitStatus::NotStarted)
            })
            .collect();
        crate::workflow::check_item_status(actor, item.status, &assigned)?;
    }
    for message in &item.notices {
        if !old.notices.iter().any(|n| n.id == message.id) {
            check_length(TextField::Feedback, &message.text)?;
            if message.author != sender {
                return Err(ChangeRefusal::NotTheSender {
                    field: "notices.author".to_owned(),
                    claimed: message.author.clone(),
                    sender: sender.to_owned(),
                });
            }
        }
    }
    let changed = |a: &str, b: &str| a != b;
    if changed(old.title.as_str(), item.title.as_str()) {
        check_length(TextField::Definition, item.title.as_str())?;
    }
    if changed(old.narrative.as_str(), item.narrative.as_str()) {
        check_length(TextField::Narrative, item.narrative.as_str())?;
    }
    for measure in &item.measures {
        let was = (old.measures.iter()).find(|m| m.id == measure.id);
        if was.is_none_or(|was| changed(was.text.as_str(), measure.text.as_str())) {
            check_length(TextField::Definition, measure.text.as_str())?;
        }
    }
    Ok(())
}
