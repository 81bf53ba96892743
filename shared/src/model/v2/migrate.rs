//! Version 1 → version 2, without IO. Not yet run by the server or the client (issue #21,
//! wiring next; `docs/schema-v2.md` says how).
//!
//! - [`migrate`]: a version-1 item document becomes a version-2 item and one unit-work
//!   document per unit that has anything on the item, as **new documents with fresh
//!   history** (the version-1 history holds every unit's work; copying it would hand it to
//!   every unit again). Deterministic: the ids derive from the version-1 id, and each
//!   document is one change by an actor derived from its id and the version-1 heads, at the
//!   time of the newest version-1 change; two servers migrating the same state make
//!   byte-identical documents, and two migrating different states never make two different
//!   changes with one actor and sequence number.
//! - [`mark_migrated`]: the office's change that marks the version-1 document with where it
//!   went (`migrated_to`, `migrated_at`), as deterministic.
//! - [`carry_over`]: a version-1 change that arrives after the migration (a device offline
//!   for weeks) read as [`ItemEdit`]s (as [`crate::model::rescue`] does), each routed to
//!   the new document it belongs to, or kept back with a reason ([`CarryRefusal`]).

use super::{ItemDocV2, Target, UnitWorkDoc, create_v2, item_id_for, route, unit_work_id};
use crate::ids::DocumentId;
use crate::model::rescue::{edits_between, is_already};
use crate::model::{ItemDoc, ItemEdit, ModelError};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ReadDoc};
use std::collections::{BTreeMap, BTreeSet};

/// The user a migration's changes name in their commit message.
pub const MIGRATION_USER: &str = "rectify-migration";

/// The documents one version-1 item becomes.
#[derive(Debug)]
pub struct Migrated {
    /// The version-1 heads the documents were made from.
    pub v1_heads: Vec<ChangeHash>,
    pub item_id: DocumentId,
    pub item: AutoCommit,
    /// Each unit's work document, by unit id.
    pub units: BTreeMap<String, (DocumentId, AutoCommit)>,
}

/// The actor of a migration's change to the document `doc`, from the version-1 state it
/// was made from: the same on every server for the same state, another for another.
pub fn migration_actor(doc: &DocumentId, v1_heads: &[ChangeHash]) -> ActorId {
    let mut heads: Vec<&[u8]> = v1_heads.iter().map(|h| h.0.as_slice()).collect();
    heads.sort_unstable();
    let mut parts: Vec<&[u8]> = vec![b"rectify migration actor", &doc.0];
    parts.extend(heads);
    ActorId::from(super::derived_id(&parts).as_slice())
}

/// The time a migration's changes carry: the newest version-1 change's (0 for none), so
/// that it depends only on the state migrated.
fn migration_time(v1: &mut AutoCommit) -> i64 {
    (v1.get_changes(&[]).iter())
        .map(|c| c.timestamp())
        .max()
        .unwrap_or(0)
}

/// Splits the version-1 item `v1` (the document `v1_id`, at its current heads) into a
/// version-2 item and a unit-work document for every unit that is assigned or has anything
/// on the item (progress, feedback about it, a decision on it; a unit no longer assigned
/// gets its document with `assigned = false`, readable by the office only). Feedback about
/// no unit becomes the item's notices. Conflicting values take Automerge's winner (the
/// losers stay in the version-1 document, which the office keeps).
pub fn migrate(v1_id: &DocumentId, v1: &mut AutoCommit) -> Result<Migrated, ModelError> {
    let old = ItemDoc::load(v1)?;
    let v1_heads = v1.get_heads();
    let time = migration_time(v1);
    let item_id = item_id_for(v1_id);
    let mut item = ItemDocV2::from_v1(&item_id, &old, Some(v1_id));
    let units: BTreeSet<String> = (old.units.iter())
        .chain(old.progress.keys())
        .chain(old.feedback.iter().filter_map(|f| f.unit.as_ref()))
        .chain(old.reviews.iter().map(|r| &r.unit))
        .cloned()
        .collect();
    for unit in &units {
        item.unit_work
            .insert(unit.clone(), unit_work_id(&item_id, unit).to_string());
    }
    let mut made = BTreeMap::new();
    for unit in &units {
        let id = unit_work_id(&item_id, unit);
        let mut work = UnitWorkDoc::new(&item_id, &item, unit);
        if let Some(progress) = old.progress.get(unit) {
            work.status = progress.status;
            work.narrative = autosurgeon::Text::with_value(progress.narrative.as_str());
            work.measures_done = progress.measures_done.clone();
            work.evidence = progress.evidence.clone();
            work.updated_by = progress.updated_by.clone();
            work.updated_at_ms = progress.updated_at_ms;
        }
        work.feedback = (old.feedback.iter())
            .filter(|f| f.unit.as_deref() == Some(unit.as_str()))
            .cloned()
            .collect();
        work.reviews = (old.reviews.iter())
            .filter(|r| &r.unit == unit)
            .cloned()
            .collect();
        let actor = migration_actor(&id, &v1_heads);
        let doc = create_v2(&work, Some(actor), MIGRATION_USER, "migrate", time)?;
        made.insert(unit.clone(), (id, doc));
    }
    let actor = migration_actor(&item_id, &v1_heads);
    let item = create_v2(&item, Some(actor), MIGRATION_USER, "migrate", time)?;
    Ok(Migrated {
        v1_heads,
        item_id,
        item,
        units: made,
    })
}

/// Marks the version-1 document as migrated to `item_id` at `v1_heads` (the state
/// [`migrate`] read): `migrated_to` (the version-2 item's id) and `migrated_at` (the heads,
/// hex). One change on top of `v1_heads`, deterministic like [`migrate`]'s, so two servers
/// marking the same state make the same change. The document's own actor is left as it was.
pub fn mark_migrated(
    v1: &mut AutoCommit,
    v1_id: &DocumentId,
    v1_heads: &[ChangeHash],
) -> Result<(), ModelError> {
    let item_id = item_id_for(v1_id);
    let mut fork = v1
        .fork_at(v1_heads)
        .map_err(|e| ModelError::Invalid(format!("the migrated state is not here: {e}")))?;
    let time = migration_time(&mut fork);
    fork.set_actor(migration_actor(v1_id, v1_heads));
    let invalid = |e: automerge::AutomergeError| ModelError::Invalid(e.to_string());
    fork.put(automerge::ROOT, "migrated_to", item_id.to_string())
        .map_err(invalid)?;
    let heads: Vec<String> = v1_heads.iter().map(ToString::to_string).collect();
    let list = fork
        .put_object(automerge::ROOT, "migrated_at", automerge::ObjType::List)
        .map_err(invalid)?;
    for (i, head) in heads.into_iter().enumerate() {
        fork.insert(&list, i, head).map_err(invalid)?;
    }
    fork.commit_with(
        CommitOptions::default()
            .with_message(crate::model::commit_message(
                MIGRATION_USER,
                "mark_migrated",
            ))
            .with_time(time),
    );
    v1.merge(&mut fork).map_err(invalid)?;
    Ok(())
}

/// Where a version-1 document went, if it was migrated: the version-2 item's id.
pub fn migrated_to(v1: &AutoCommit) -> Option<DocumentId> {
    match v1.get(automerge::ROOT, "migrated_to") {
        Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str()?.parse().ok(),
        _ => None,
    }
}

/// One edit of a late version-1 change, carried over or kept back.
#[derive(Debug, Clone, PartialEq)]
pub enum Carried {
    /// Make `edit` on the document `target`, as the change's sender (checked by the policy
    /// like any edit of theirs).
    Edit { target: Target, edit: ItemEdit },
    /// Not carried over: kept (with the change's bytes) for the office to see, with why.
    Kept {
        edit: ItemEdit,
        reason: CarryRefusal,
    },
}

/// Why an edit of a late version-1 change was not carried over. Data, like
/// [`crate::model::ChangeRefusal`]: add variants, never rename them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CarryRefusal {
    #[error("unit '{unit}' has no work document on this item")]
    NoUnitDocument { unit: String },
    #[error(
        "the tick is on the measure '{text}', which the office removed from the item: it stays \
         unticked rather than land on another measure"
    )]
    MeasureRemoved { measure: String, text: String },
    #[error("no measure '{measure}' in this item when the change was made")]
    NoSuchMeasure { measure: String },
}

/// The version-1 change `change`, made on `v1` as it was at the change's parents (which `v1`
/// must hold), read as [`ItemEdit`]s and routed to the version-2 documents: `item` and the
/// units' work documents `works` as they are now. An edit they hold already is left out. A
/// unit's narrative is merged: the change's own splice over what was written since. A tick
/// names its measure as it was at the change's parents: it lands on that measure (by id; by
/// its text when the item's ids were renumbered before they were stable), or is kept back
/// as on a removed measure — never re-pointed.
pub fn carry_over(
    v1: &AutoCommit,
    change: &Change,
    item: &ItemDocV2,
    works: &BTreeMap<String, UnitWorkDoc>,
) -> Result<Vec<Carried>, ModelError> {
    let mut parents = v1
        .clone()
        .fork_at(change.deps())
        .map_err(|e| ModelError::Invalid(format!("the change's parents are not here: {e}")))?;
    let base = ItemDoc::load(&parents)?;
    parents
        .apply_changes([change.clone()])
        .map_err(|e| ModelError::Invalid(format!("the change does not apply: {e}")))?;
    let mine = ItemDoc::load(&parents)?;
    let now = item.combined_v1(works);
    let mut carried = Vec::new();
    for edit in edits_between(Some(&base), &mine) {
        let target = route(&edit);
        if let Target::UnitWork { unit } = &target
            && !works.contains_key(unit)
        {
            let reason = CarryRefusal::NoUnitDocument { unit: unit.clone() };
            carried.push(Carried::Kept { edit, reason });
            continue;
        }
        let edit = match edit {
            ItemEdit::UnitNarrative { unit, text } => {
                let was = base
                    .progress
                    .get(&unit)
                    .map_or("", |p| p.narrative.as_str());
                let current = works[&unit].narrative.as_str();
                ItemEdit::UnitNarrative {
                    text: merge_text(was, current, &text),
                    unit,
                }
            }
            ItemEdit::TickMeasure {
                unit,
                measure,
                done,
            } => match measure_now(&base, item, &measure) {
                Ok(measure) => ItemEdit::TickMeasure {
                    unit,
                    measure,
                    done,
                },
                Err(reason) => {
                    let edit = ItemEdit::TickMeasure {
                        unit,
                        measure,
                        done,
                    };
                    carried.push(Carried::Kept { edit, reason });
                    continue;
                }
            },
            edit => edit,
        };
        if !is_already(&now, &edit) {
            carried.push(Carried::Edit { target, edit });
        }
    }
    Ok(carried)
}

/// The measure `id` (as the item was at a change's parents, `then`) in the item now.
fn measure_now(then: &ItemDoc, now: &ItemDocV2, id: &str) -> Result<String, CarryRefusal> {
    let text_of = |item: &ItemDoc, id: &str| -> Option<String> {
        (item.measures.iter())
            .find(|m| m.id == id)
            .map(|m| m.text.as_str().to_owned())
            .or_else(|| item.removed_measure(id).map(|r| r.text.clone()))
    };
    let Some(text) = text_of(then, id) else {
        return Err(CarryRefusal::NoSuchMeasure {
            measure: id.to_owned(),
        });
    };
    let removed = || CarryRefusal::MeasureRemoved {
        measure: id.to_owned(),
        text: text.clone(),
    };
    let current: Vec<_> = now.current_measures().collect();
    let same_id = current.iter().find(|m| m.id == id);
    if same_id.is_some_and(|m| m.text.as_str() == text) {
        return Ok(id.to_owned());
    }
    // A removal since stable ids is recorded: the tick stays off every other measure.
    if now.removed_measure(id).is_some() {
        return Err(removed());
    }
    // Ids were positions before they were stable: the measure's text under an id that was
    // another text's then is this measure, renumbered.
    let moved: Vec<_> = (current.iter())
        .filter(|m| m.id != id && m.text.as_str() == text)
        .filter(|m| text_of(then, &m.id).is_none_or(|t| t != text))
        .collect();
    if let [moved] = moved.as_slice() {
        return Ok(moved.id.clone());
    }
    match same_id {
        // Another measure's text (then) under this id now: renumbered, and this one is gone.
        Some(m)
            if (then.measures.iter()).any(|t| t.id != id && t.text.as_str() == m.text.as_str()) =>
        {
            Err(removed())
        }
        // The office reworded it: the same measure.
        Some(_) => Ok(id.to_owned()),
        None => Err(removed()),
    }
}

/// `mine` (written over `base`) merged with `current` (written over `base` meanwhile), as
/// Automerge merges two devices' concurrent text edits: both kept, character by character.
/// Fixed actors, so the result is the same on every server.
fn merge_text(base: &str, current: &str, mine: &str) -> String {
    if current == base {
        return mine.to_owned();
    }
    if mine == base || current == mine {
        return current.to_owned();
    }
    let write = |doc: &mut AutoCommit, text: &str| -> Option<()> {
        let mut value: autosurgeon::Text =
            autosurgeon::hydrate_prop(doc, automerge::ROOT, "t").ok()?;
        value.update(text);
        autosurgeon::reconcile_prop(doc, automerge::ROOT, "t", &value).ok()?;
        doc.commit();
        Some(())
    };
    let merged = (|| {
        let mut doc = crate::model::new_automerge();
        doc.set_actor(ActorId::from([1u8; 16].as_slice()));
        let value = autosurgeon::Text::with_value(base);
        autosurgeon::reconcile_prop(&mut doc, automerge::ROOT, "t", &value).ok()?;
        doc.commit();
        let mut theirs = doc.fork();
        theirs.set_actor(ActorId::from([2u8; 16].as_slice()));
        write(&mut theirs, current)?;
        doc.set_actor(ActorId::from([3u8; 16].as_slice()));
        write(&mut doc, mine)?;
        doc.merge(&mut theirs).ok()?;
        let value: autosurgeon::Text =
            autosurgeon::hydrate_prop(&doc, automerge::ROOT, "t").ok()?;
        Some(value.as_str().to_owned())
    })();
    // Merging plain texts does not fail; if it did, what was written since stays and the
    // change's text is appended, so nothing is lost.
    merged.unwrap_or_else(|| format!("{current}\n{mine}"))
}
