//! Late version-1 changes made again on the version-2 documents, as their sender: what the
//! server's sync driver does with the changes an old client sends to a migrated version-1
//! item (`docs/schema-v2.md`, "A version-1 change arriving after the migration"). Pure: the
//! driver reads the documents and writes what this returns.
//!
//! For each change, in causal order: [`carry_over`] reads it as routed [`ItemEdit`]s; each is
//! made on its document as the sender ([`apply_unit_work`] / [`apply_item`]: the workflow's
//! rules, so a school cannot write after 销号 with an old change) and then judged by the
//! same check a change the sender synced would meet ([`check_unit_work_change`] /
//! [`check_item_v2_change`], authorship included). What cannot be carried over, or what the
//! policy refuses, is kept back ([`KeptEdit`]) for the quarantine, with why. Each new
//! change's actor is derived from the document and the version-1 change, and its time is
//! the version-1 change's, so two servers carrying the same change over onto the same
//! documents make the same bytes.

use super::check::{check_item_v2_change, check_unit_work_change};
use super::migrate::{Carried, CarryRefusal, carry_over};
use super::{ItemDocV2, Target, UnitWorkDoc, apply_item, apply_unit_work, derived_id};
use crate::ids::DocumentId;
use crate::model::{EditContext, ItemEdit, ModelError};
use crate::policy::Actor;
use crate::workflow::UnitStatus;
use automerge::{ActorId, AutoCommit, Change, ChangeHash};
use std::collections::{BTreeMap, BTreeSet};

/// The version-2 documents of one migrated item, as stored: the item and every unit's
/// work document (by unit).
#[derive(Debug, Clone)]
pub struct ItemDocs {
    pub item_id: DocumentId,
    pub item: AutoCommit,
    pub works: BTreeMap<String, (DocumentId, AutoCommit)>,
}

/// Why an edit of a late change was kept back rather than made.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptReason {
    /// It cannot land anywhere as it was meant ([`carry_over`]'s reading).
    Carry(CarryRefusal),
    /// The policy refuses it from this sender now (e.g. the entry was signed off since), or
    /// the driver found it forbidden (evidence the sender may not name).
    Refused(String),
}

impl std::fmt::Display for KeptReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeptReason::Carry(refusal) => write!(f, "{refusal}"),
            KeptReason::Refused(text) => f.write_str(text),
        }
    }
}

/// One edit of a late change that was not made, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptEdit {
    /// The version-1 change it came from.
    pub change: ChangeHash,
    /// `None`: the change could not be read as edits at all.
    pub edit: Option<ItemEdit>,
    pub reason: KeptReason,
}

impl KeptEdit {
    /// What the quarantine keeps as the reason, for the office to read.
    pub fn describe(&self) -> String {
        let edit = match &self.edit {
            Some(edit) => format!("{edit:?}"),
            None => "the whole change".to_owned(),
        };
        format!(
            "a late schema-1 change was carried over to schema 2, but this edit was kept back: \
             {} (edit: {edit}; change {})",
            self.reason, self.change
        )
    }
}

/// The new changes of one version-2 document.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: DocumentId,
    /// The new changes, loadable with `load_incremental` on top of the document as it was.
    pub chunk: Vec<u8>,
    pub hashes: Vec<ChangeHash>,
    /// The document with them.
    pub doc: AutoCommit,
}

/// What carrying the changes over made.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    /// The documents changed, in id order.
    pub written: Vec<Written>,
    /// The edits made, each with its document.
    pub made: Vec<(DocumentId, ItemEdit)>,
    /// The edits kept back.
    pub kept: Vec<KeptEdit>,
}

impl Carry {
    /// The evidence files the made edits newly name (the driver checks the sender may name
    /// them, as for a change synced to the document).
    pub fn references(&self) -> BTreeSet<String> {
        (self.made.iter())
            .filter_map(|(_, edit)| match edit {
                ItemEdit::AddEvidence { evidence, .. } => Some(evidence.sha256.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The actor of a carried change to `doc` from the version-1 change `change`.
fn carry_actor(doc: &DocumentId, change: &ChangeHash) -> ActorId {
    ActorId::from(derived_id(&[b"rectify carry over", &doc.0, &change.0]).as_slice())
}

/// Carries the version-1 `changes` (in causal order; their parents in `v1`, the version-1
/// document without them) over to `docs`, each edit made as `actor`/`user`. `forbidden`
/// says of an edit the driver knows to be refused why (facts only it can look up). A
/// change that cannot be read as an item is an error: nothing is carried.
pub fn carry_changes(
    v1: &AutoCommit,
    changes: &[Change],
    actor: &Actor,
    user: &str,
    docs: &ItemDocs,
    forbidden: &dyn Fn(&ItemEdit) -> Option<String>,
) -> Result<Carry, ModelError> {
    let mut v1 = v1.clone();
    let mut item_doc = docs.item.clone();
    let mut works = docs.works.clone();
    let mut carry = Carry::default();
    for change in changes {
        let typed: BTreeMap<String, UnitWorkDoc> = (works.iter())
            .map(|(unit, (_, doc))| Ok((unit.clone(), UnitWorkDoc::load(doc)?)))
            .collect::<Result<_, ModelError>>()?;
        let ctx = EditContext {
            actor: actor.clone(),
            user: user.to_owned(),
            now_ms: change.timestamp(),
        };
        let hash = change.hash();
        let carried = carry_over(&v1, change, &ItemDocV2::load(&item_doc)?, &typed)?;
        for carried in carried {
            let (target, edit) = match carried {
                Carried::Kept { edit, reason } => {
                    let reason = KeptReason::Carry(reason);
                    carry.kept.push(KeptEdit {
                        change: hash,
                        edit: Some(edit),
                        reason,
                    });
                    continue;
                }
                Carried::Edit { target, edit } => (target, edit),
            };
            let made = match forbidden(&edit) {
                Some(why) => Err(why),
                None => {
                    let item = ItemDocV2::load(&item_doc)?;
                    match &target {
                        Target::UnitWork { unit } => match works.get_mut(unit) {
                            Some((id, doc)) => {
                                let apply = |doc: &mut AutoCommit, edit| {
                                    apply_unit_work(doc, &item, &ctx, edit)
                                };
                                let check = |before: &AutoCommit, after: &AutoCommit| {
                                    check_unit_work_change(actor, user, before, after, Some(&item))
                                        .map(|_| ())
                                        .map_err(|r| r.to_string())
                                };
                                make((&*id, doc), hash, &edit, apply, check)
                            }
                            // `carry_over` keeps such an edit back itself.
                            None => Err(format!("unit '{unit}' has no work document")),
                        },
                        Target::Item => {
                            let id = docs.item_id;
                            let statuses: BTreeMap<String, UnitStatus> = (typed.iter())
                                .map(|(unit, work)| (unit.clone(), work.status))
                                .collect();
                            let apply = |doc: &mut AutoCommit, edit| {
                                apply_item(doc, &id, &statuses, &ctx, edit)
                            };
                            let check = |before: &AutoCommit, after: &AutoCommit| {
                                check_item_v2_change(
                                    actor,
                                    user,
                                    &id,
                                    before,
                                    after,
                                    Some(&statuses),
                                )
                                .map_err(|r| r.to_string())
                            };
                            make((&id, &mut item_doc), hash, &edit, apply, check)
                        }
                    }
                }
            };
            match made {
                Ok(id) => carry.made.push((id, edit)),
                Err(why) => carry.kept.push(KeptEdit {
                    change: hash,
                    edit: Some(edit),
                    reason: KeptReason::Refused(why),
                }),
            }
        }
        v1.apply_changes([change.clone()])
            .map_err(|e| ModelError::Invalid(format!("the change does not apply: {e}")))?;
    }
    let mut all: Vec<(DocumentId, AutoCommit, AutoCommit)> =
        vec![(docs.item_id, docs.item.clone(), item_doc)];
    for (unit, (id, doc)) in works {
        all.push((id, docs.works[&unit].1.clone(), doc));
    }
    all.sort_by_key(|(id, _, _)| *id);
    for (id, mut was, mut doc) in all {
        let before = was.get_heads();
        if doc.get_heads() == before {
            continue;
        }
        let new = doc.get_changes(&before);
        let hashes = new.iter().map(Change::hash).collect();
        let chunk = new.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        carry.written.push(Written {
            id,
            chunk,
            hashes,
            doc,
        });
    }
    Ok(carry)
}

/// Makes `edit` on `doc` with `apply`, as the version-1 change `change`'s carried change
/// (its derived actor), then judges the new change with `check`. Refused either way, `doc`
/// is left as it was and the reason returned; made, the document's id.
fn make(
    (id, doc): (&DocumentId, &mut AutoCommit),
    change: ChangeHash,
    edit: &ItemEdit,
    apply: impl FnOnce(&mut AutoCommit, ItemEdit) -> Result<(), ModelError>,
    check: impl FnOnce(&AutoCommit, &AutoCommit) -> Result<(), String>,
) -> Result<DocumentId, String> {
    let mut after = doc.clone();
    after.set_actor(carry_actor(id, &change));
    apply(&mut after, edit.clone()).map_err(|e| e.to_string())?;
    check(doc, &after)?;
    *doc = after;
    Ok(*id)
}
