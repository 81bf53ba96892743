//! The sync gate: the permission policy applied to synced documents.
//!
//! The sans-IO sync core ([`crate::sync::core::SyncServer`]) asks a [`Gate`] before it lets a
//! peer read a document, create one, or change one. [`PolicyGate`] answers from the same rules
//! the rest of the product uses: [`crate::policy::can_read_item`] for reading an item,
//! [`crate::model::check_sent_change`] (the change check and authorship) for changing one.
//! The server's WebSocket driver and the deterministic simulation both run this gate, so the
//! rules are tested once, here and in `shared/tests/check.rs`, and enforced in one place.

use crate::ids::{DocumentId, Username};
use crate::model::ModelError;
use crate::model::v2::check::{check_item_v2_change, check_unit_work_change};
use crate::model::v2::migrate::migrated_to;
use crate::model::v2::{self, ItemDocV2, UNIT_WORK_KIND, UnitWorkDoc};
use crate::model::{self, ItemDoc};
use crate::policy::{Actor, Need, Role, can_read_item};
use crate::sync::core::{Gate, GateRefusal};
use crate::workflow::UnitStatus;
use automerge::{AutoCommit, ChangeHash};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Who is on the other end of a sync connection, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub username: Username,
    pub actor: Actor,
}

/// The permission policy, as the sync core asks for it.
///
/// It keeps the last item it read of each recent document, keyed by the heads it was read at:
/// a change's check reads the item before and after it, the server indexes the after state
/// ([`PolicyGate::item_at`]), and the next change's before is that same state. Reading an
/// item is the largest part of what a change costs the server; this reads each state once.
///
/// It also keeps, per document, the evidence files the last accepted change newly
/// references ([`PolicyGate::take_new_references`]): whether the sender may name them
/// depends on who uploaded them, a fact only the server can look up
/// ([`model::check_reference`]) before it writes the change.
///
/// Schema version 2 (issue #21, `docs/schema-v2.md`): a unit-work document's check needs its
/// item's measures, and a version-2 item's check needs its units' statuses, which live in
/// other documents. The gate keeps what it last saw of each version-2 item
/// ([`PolicyGate::note_v2`]: every change it accepts, and whatever the driver shows it).
#[derive(Debug, Default)]
pub struct PolicyGate {
    items: Mutex<HashMap<DocumentId, (Vec<ChangeHash>, ItemDoc)>>,
    references: Mutex<HashMap<DocumentId, NewReferences>>,
    v2_items: Mutex<HashMap<DocumentId, SeenV2>>,
}

/// What the gate has seen of one version-2 item: the item itself (once it read it) and the
/// status of each unit whose work document it read.
#[derive(Debug, Default)]
struct SeenV2 {
    item: Option<ItemDocV2>,
    statuses: BTreeMap<String, UnitStatus>,
}

/// Which rules judge a change, from the documents' `kind` and `schema_version`.
enum Rules {
    /// A unit-work document (version 2).
    UnitWork,
    /// A version-2 item.
    ItemV2,
    /// A version-1 item migrated to version 2: kept for the office only.
    Migrated,
    /// Everything else: version 1's rules, as before version 2 existed.
    V1,
}

impl Rules {
    fn of(before: &AutoCommit, after: &AutoCommit) -> Rules {
        let kind = model::kind_of(after).or_else(|| model::kind_of(before));
        match kind.as_deref() {
            Some(UNIT_WORK_KIND) => Rules::UnitWork,
            Some("item") if v2::is_v2(before) || v2::is_v2(after) => Rules::ItemV2,
            _ if migrated_to(before).is_some() => Rules::Migrated,
            _ => Rules::V1,
        }
    }
}

/// Version-2 items whose units' statuses are kept (a few hundred bytes each).
const V2_ITEMS_KEPT: usize = 4096;

/// The heads an accepted change led to, and the evidence files it newly references.
type NewReferences = (Vec<ChangeHash>, Vec<String>);

/// Documents whose last read item is kept (an item is some kilobytes read).
const ITEMS_KEPT: usize = 256;

impl PolicyGate {
    /// The item `current` holds, whose heads are `heads`: kept from a check when it read
    /// that state, else read now (and kept).
    pub fn item_at(
        &self,
        doc: &DocumentId,
        current: &AutoCommit,
        heads: &[ChangeHash],
    ) -> Result<ItemDoc, ModelError> {
        if let Some((kept, item)) = self.kept().get(doc)
            && kept == heads
        {
            return Ok(item.clone());
        }
        let item = ItemDoc::load(current)?;
        self.keep(*doc, heads.to_vec(), item.clone());
        Ok(item)
    }

    /// The evidence files (SHA-256) that the accepted change leading to `heads` newly
    /// references, taken out (asked once, by the driver, before it writes the change); empty
    /// when it references none.
    pub fn take_new_references(&self, doc: &DocumentId, heads: &[ChangeHash]) -> Vec<String> {
        let mut references = self.references.lock().unwrap_or_else(|e| e.into_inner());
        match references.get(doc) {
            Some((at, _)) if at == heads => {
                references.remove(doc).map(|(_, r)| r).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Remembers what `current` (the document `doc`, as stored) says that other documents'
    /// checks need: a version-2 item itself, or a unit's status from its work document.
    /// The gate calls it for every change it accepts; the driver may call it for a document
    /// it loads. Anything else is ignored.
    pub fn note_v2(&self, doc: &DocumentId, current: &AutoCommit) {
        if let Ok(item) = ItemDocV2::load(current) {
            self.seen_v2(*doc, |seen| seen.item = Some(item));
        } else if let Ok(work) = UnitWorkDoc::readers(current)
            && let Ok(item) = work.item.parse::<DocumentId>()
            && let Ok(status) =
                autosurgeon::hydrate_prop::<_, UnitStatus, _, _>(current, automerge::ROOT, "status")
        {
            self.seen_v2(item, |seen| {
                seen.statuses.insert(work.unit, status);
            });
        }
    }

    fn seen_v2(&self, item: DocumentId, update: impl FnOnce(&mut SeenV2)) {
        let mut seen = self.v2_items.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= V2_ITEMS_KEPT
            && !seen.contains_key(&item)
            && let Some(other) = seen.keys().next().copied()
        {
            seen.remove(&other);
        }
        update(seen.entry(item).or_default());
    }

    /// The version-2 rules: `None` for a document version 1's rules judge. An allowed change
    /// comes with the evidence files it newly references, as version 1's.
    fn check_v2(
        &self,
        who: &Peer,
        doc: &DocumentId,
        before: &AutoCommit,
        after: &AutoCommit,
    ) -> Option<Result<Vec<String>, GateRefusal>> {
        let (actor, sender) = (&who.actor, who.username.as_str());
        let verdict = match Rules::of(before, after) {
            Rules::V1 => return None,
            Rules::UnitWork => {
                let readers = UnitWorkDoc::readers(before).or_else(|_| UnitWorkDoc::readers(after));
                let item_id =
                    (readers.as_ref().ok()).and_then(|w| w.item.parse::<DocumentId>().ok());
                // One document per (item, unit), whoever makes it: its id is derived from
                // both (the storage's index holds one row per pair).
                if let (Ok(work), Some(item_id)) = (&readers, item_id)
                    && v2::unit_work_id(&item_id, &work.unit) != *doc
                {
                    return Some(Err(GateRefusal::from(format!(
                        "the work document of unit '{}' on item {item_id} must have the id derived from both",
                        work.unit
                    ))));
                }
                let seen = self.v2_items.lock().unwrap_or_else(|e| e.into_inner());
                // `None` (the gate has not read the item since it started): a tick is judged
                // by the form of its measure id only, not by the measures the item has.
                let item = item_id.and_then(|id| seen.get(&id)?.item.as_ref());
                let verdict = check_unit_work_change(actor, sender, before, after, item);
                drop(seen);
                verdict.map_err(GateRefusal::from)
            }
            Rules::ItemV2 => {
                let seen = self.v2_items.lock().unwrap_or_else(|e| e.into_inner());
                // `None` (no unit's status seen yet): closing the item is refused, as the
                // gate cannot tell that every unit is signed off; a unit not seen reads as
                // not started.
                let statuses = seen.get(doc).map(|s| &s.statuses);
                let verdict = check_item_v2_change(actor, sender, doc, before, after, statuses);
                drop(seen);
                verdict.map(|()| Vec::new()).map_err(GateRefusal::from)
            }
            // A late change from one of its writers is carried over to the version-2
            // documents instead of judged here (`carries_over`); anyone else's is refused.
            Rules::Migrated if actor.role != Role::Office => Err(GateRefusal::from(format!(
                "this item moved to schema version 2 ({}): update the app; nothing was changed",
                migrated_to(before)
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            ))),
            Rules::Migrated => return None,
        };
        if verdict.is_ok() {
            self.note_v2(doc, after);
        }
        Some(verdict)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, (Vec<ChangeHash>, ItemDoc)>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept item of `doc` if it was read at `heads` (taken out: the caller reads it once).
    fn take_kept(&self, doc: &DocumentId, heads: &[ChangeHash]) -> Option<ItemDoc> {
        let mut items = self.kept();
        match items.get(doc) {
            Some((kept, _)) if kept == heads => items.remove(doc).map(|(_, item)| item),
            _ => None,
        }
    }

    fn keep(&self, doc: DocumentId, heads: Vec<ChangeHash>, item: ItemDoc) {
        let mut items = self.kept();
        if items.len() >= ITEMS_KEPT && !items.contains_key(&doc) {
            // Any one goes: what matters is the documents being edited right now.
            if let Some(other) = items.keys().next().copied() {
                items.remove(&other);
            }
        }
        items.insert(doc, (heads, item));
    }
}

impl Gate for PolicyGate {
    type Peer = Peer;

    /// Items: the office and viewers read all; a department the items it leads or is assigned;
    /// a unit the items assigned to it (version 1 and 2 alike). A unit's work: see
    /// [`v2::WorkReaders::may_read`]. A version-1 item migrated to version 2: the office only.
    /// Campaigns: everyone but units. Anything else (no kind, an unknown kind, or an item this
    /// version cannot read): only the office and viewers.
    fn may_read(&self, who: &Peer, _doc: &DocumentId, current: &AutoCommit) -> bool {
        // The office reads everything, and needs no look inside (which would cost a full read
        // of the item on every change pushed to it).
        if who.actor.role == Role::Office {
            return true;
        }
        // The kept version-1 document holds every unit's work in its history.
        if migrated_to(current).is_some() {
            return false;
        }
        if who.actor.role == Role::Viewer {
            return true;
        }
        match model::kind_of(current).as_deref() {
            Some("item") => {
                let readers = if v2::is_v2(current) {
                    ItemDocV2::readers(current)
                } else {
                    ItemDoc::readers(current)
                };
                match readers {
                    Ok((units, department)) => {
                        can_read_item(&who.actor, &units, department.as_deref())
                    }
                    // A document this version cannot read: only those who read everything.
                    Err(_) => false,
                }
            }
            Some(UNIT_WORK_KIND) => {
                UnitWorkDoc::readers(current).is_ok_and(|work| work.may_read(&who.actor))
            }
            Some("campaign") => Need::Oversee.allows(who.actor.role),
            _ => false,
        }
    }

    /// An item's units and its department, a unit's work its unit (while assigned) and its
    /// department (what `may_read` asks of units and departments); nothing for a migrated
    /// version-1 item (the office's only) or anything else, whose readers never change.
    fn readers(&self, current: &AutoCommit) -> Vec<String> {
        let department = |d: String| format!("department:{d}");
        if migrated_to(current).is_some() {
            return Vec::new();
        }
        if let Ok(work) = UnitWorkDoc::readers(current) {
            let unit = work.assigned.then_some(work.unit);
            return unit
                .into_iter()
                .chain(work.department.map(department))
                .collect();
        }
        let readers = if v2::is_v2(current) {
            ItemDocV2::readers(current)
        } else {
            ItemDoc::readers(current)
        };
        match readers {
            Ok((mut units, d)) => {
                units.extend(d.map(department));
                units
            }
            Err(_) => Vec::new(),
        }
    }

    /// A version-1 item migrated to version 2, from one who could read it as it was then
    /// (its units and department, not the office, who still reads and writes it, nor
    /// viewers, who never wrote): what such an old client sends is carried over to the
    /// version-2 documents by the driver (`docs/schema-v2.md`), each edit judged there as
    /// the sender's.
    fn carries_over(&self, who: &Peer, _doc: &DocumentId, current: &AutoCommit) -> bool {
        if matches!(who.actor.role, Role::Office | Role::Viewer) || migrated_to(current).is_none() {
            return false;
        }
        ItemDoc::readers(current).is_ok_and(|(units, department)| {
            can_read_item(&who.actor, &units, department.as_deref())
        })
    }

    /// Only the office creates documents (campaigns, items); everyone else's edits go into
    /// documents the office made, which is what lets the change check compare before and after.
    fn may_create(&self, who: &Peer, _doc: &DocumentId) -> bool {
        who.actor.role == Role::Office
    }

    fn check_change(
        &self,
        who: &Peer,
        doc: &DocumentId,
        before: &AutoCommit,
        after: &AutoCommit,
    ) -> Result<(), GateRefusal> {
        if let Some(verdict) = self.check_v2(who, doc, before, after) {
            return verdict.map(|_| ());
        }
        model::check_sent_change(&who.actor, who.username.as_str(), before, after)
            .map_err(GateRefusal::from)
    }

    fn check_change_at(
        &self,
        who: &Peer,
        doc: &DocumentId,
        (before, before_heads): (&AutoCommit, &[ChangeHash]),
        (after, after_heads): (&AutoCommit, &[ChangeHash]),
    ) -> Result<(), GateRefusal> {
        let verdict = match self.check_v2(who, doc, before, after) {
            Some(verdict) => verdict,
            None => {
                let known = self.take_kept(doc, before_heads);
                let (verdict, after_item) = model::check_sent_change_knowing(
                    &who.actor,
                    who.username.as_str(),
                    before,
                    after,
                    known,
                );
                if let Some(item) = after_item {
                    self.keep(*doc, after_heads.to_vec(), item);
                }
                verdict.map_err(GateRefusal::from)
            }
        };
        let mut references = self.references.lock().unwrap_or_else(|e| e.into_inner());
        match verdict {
            Ok(referenced) if !referenced.is_empty() => {
                references.insert(*doc, (after_heads.to_vec(), referenced));
                Ok(())
            }
            Ok(_) => {
                references.remove(doc);
                Ok(())
            }
            Err(refusal) => Err(refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UnitId;
    use crate::model::v2;
    use crate::model::{CampaignDoc, EditContext, ItemEdit, ItemPlan};

    fn peer(role: Role, unit: Option<&str>, user: &str) -> Peer {
        Peer {
            username: Username::new(user),
            actor: Actor {
                role,
                unit: unit.map(UnitId::new),
            },
        }
    }

    fn office() -> Peer {
        peer(Role::Office, None, "office")
    }
    fn viewer() -> Peer {
        peer(Role::Viewer, None, "viewer")
    }
    fn school(unit: &str) -> Peer {
        peer(Role::Unit, Some(unit), &format!("school-{unit}"))
    }
    fn department(unit: &str) -> Peer {
        peer(Role::Department, Some(unit), &format!("dept-{unit}"))
    }

    fn context(who: &Peer) -> EditContext {
        EditContext {
            actor: who.actor.clone(),
            user: who.username.as_str().to_owned(),
            now_ms: 1_700_000_000_000,
        }
    }

    /// An item assigned to school s1 and department jcg, led by jcg.
    fn item() -> AutoCommit {
        let mut doc =
            model::create_document(&ItemDoc::new("campaign", "1.1", "问题"), "office", 0).unwrap();
        let plan = ItemPlan {
            responsible_leader: "张副局长".into(),
            responsible_department: Some("jcg".into()),
            units: vec!["s1".into(), "jcg".into()],
            deadline: None,
            timing: None,
        };
        model::apply(&mut doc, &context(&office()), ItemEdit::Plan(plan)).unwrap();
        doc
    }

    fn campaign() -> AutoCommit {
        model::create_document(&CampaignDoc::new_empty("第一轮巡察"), "office", 0).unwrap()
    }

    fn doc_id() -> DocumentId {
        DocumentId([7; 16])
    }

    #[test]
    fn who_may_read_what() {
        let item = item();
        let campaign = campaign();
        let unknown = model::new_automerge();
        let no_reader = [false; 3];
        // (peer, may read the item, may read the campaign, may read a document of no kind)
        let table: [(Peer, [bool; 3]); 7] = [
            (office(), [true, true, true]),
            (viewer(), [true, true, true]),
            (school("s1"), [true, false, false]),
            (school("s2"), no_reader),
            (department("jcg"), [true, true, false]),
            (department("rsg"), [false, true, false]),
            // A unit account without a unit reads nothing.
            (peer(Role::Unit, None, "orphan"), no_reader),
        ];
        for (who, expected) in table {
            let got = [&item, &campaign, &unknown]
                .map(|doc| PolicyGate::default().may_read(&who, &doc_id(), doc));
            assert_eq!(got, expected, "{who:?}");
        }
    }

    #[test]
    fn only_the_office_creates_documents() {
        for (who, expected) in [
            (office(), true),
            (viewer(), false),
            (school("s1"), false),
            (department("jcg"), false),
        ] {
            assert_eq!(
                PolicyGate::default().may_create(&who, &doc_id()),
                expected,
                "{who:?}"
            );
        }
    }

    #[test]
    fn changes_are_checked_for_the_sending_account() {
        let mut before = item();
        let mut own = before.fork();
        model::apply(
            &mut own,
            &context(&school("s1")),
            ItemEdit::UnitNarrative {
                unit: "s1".into(),
                text: "已整改".into(),
            },
        )
        .unwrap();
        assert_eq!(
            PolicyGate::default().check_change(&school("s1"), &doc_id(), &before, &own),
            Ok(())
        );
        // The same bytes sent by another school, or by a viewer, are refused with a reason.
        for who in [school("s2"), viewer()] {
            let refusal = PolicyGate::default()
                .check_change(&who, &doc_id(), &before, &own)
                .unwrap_err();
            assert!(!refusal.text.is_empty(), "{who:?}");
            // As data too, for our client to say in the user's language.
            assert!(
                matches!(
                    refusal.refusal,
                    Some(model::ChangeRefusal::OtherUnitsProgress { .. })
                        | Some(model::ChangeRefusal::Workflow(_))
                ),
                "{who:?}: {refusal:?}"
            );
        }
    }

    /// The item kept from a check is the item at those heads, and only at those: a state the
    /// gate has not read is read afresh, and a kept `before` serves the next check.
    #[test]
    fn a_kept_item_is_used_only_at_its_heads() {
        let gate = PolicyGate::default();
        let mut before = item();
        let mut first = before.fork();
        let edit = |doc: &mut AutoCommit, text: &str| {
            model::apply(
                doc,
                &context(&school("s1")),
                ItemEdit::UnitNarrative {
                    unit: "s1".into(),
                    text: text.into(),
                },
            )
            .unwrap();
        };
        edit(&mut first, "第一次");
        let (before_heads, first_heads) = (before.get_heads(), first.get_heads());
        let who = school("s1");
        let checked = gate.check_change_at(
            &who,
            &doc_id(),
            (&before, &before_heads),
            (&first, &first_heads),
        );
        assert_eq!(checked, Ok(()));
        let kept = gate.item_at(&doc_id(), &first, &first_heads).unwrap();
        assert_eq!(kept, ItemDoc::load(&first).unwrap());
        assert_eq!(kept.progress["s1"].narrative.as_str(), "第一次");

        // Another state (heads the gate has not seen) is read, not taken from what was kept.
        let mut second = first.fork();
        edit(&mut second, "第二次");
        let second_heads = second.get_heads();
        let read = gate.item_at(&doc_id(), &second, &second_heads).unwrap();
        assert_eq!(read.progress["s1"].narrative.as_str(), "第二次");
        // The next check starts from the kept state and still judges: s1's change sent by
        // another school is refused.
        let mut third = second.fork();
        edit(&mut third, "第三次");
        let third_heads = third.get_heads();
        let refused = gate.check_change_at(
            &school("s2"),
            &doc_id(),
            (&second, &second_heads),
            (&third, &third_heads),
        );
        assert!(refused.is_err(), "{refused:?}");
    }

    /// Schema version 2: an item shared by s1, the department jcg (also its responsible
    /// department) and s3, which wrote something and was then taken off; migrated, so there
    /// are the version-2 item, a work document for each of them, and the kept version-1
    /// document.
    struct Split {
        item: AutoCommit,
        item_id: DocumentId,
        works: BTreeMap<String, AutoCommit>,
        v1: AutoCommit,
        v1_unmigrated: AutoCommit,
    }

    fn split() -> Split {
        use crate::model::v2::migrate::{mark_migrated, migrate};
        let mut v1 =
            model::create_document(&ItemDoc::new("campaign", "1.1", "问题"), "office", 0).unwrap();
        let plan = |units: &[&str]| {
            ItemEdit::Plan(ItemPlan {
                responsible_leader: "张副局长".into(),
                responsible_department: Some("jcg".into()),
                units: units.iter().map(|u| (*u).to_owned()).collect(),
                deadline: None,
                timing: None,
            })
        };
        let office = context(&office());
        model::apply(&mut v1, &office, plan(&["s1", "jcg", "s3"])).unwrap();
        let s3_work = ItemEdit::UnitNarrative {
            unit: "s3".into(),
            text: "s3 的整改情况".into(),
        };
        model::apply(&mut v1, &context(&school("s3")), s3_work).unwrap();
        model::apply(&mut v1, &office, plan(&["s1", "jcg"])).unwrap();
        let define = ItemEdit::Define {
            title: "问题".into(),
            measures: vec![model::MeasureText::new("措施一")],
            narrative: String::new(),
        };
        model::apply(&mut v1, &office, define).unwrap();
        let migrated = migrate(&doc_id(), &mut v1).unwrap();
        let v1_unmigrated = v1.fork();
        mark_migrated(&mut v1, &doc_id(), &migrated.v1_heads).unwrap();
        Split {
            item: migrated.item,
            item_id: migrated.item_id,
            works: (migrated.units.into_iter())
                .map(|(unit, (_, doc))| (unit, doc))
                .collect(),
            v1,
            v1_unmigrated,
        }
    }

    /// A copy of `doc` with an actor of its own, to make a change on.
    fn fork(doc: &AutoCommit) -> AutoCommit {
        doc.clone().fork()
    }

    /// `who`'s change to the text at `path` (a map path from the root): a character more, and
    /// `updated_by` (where the map has one) naming `who`. Written raw, as a modified client
    /// could: the gate judges it, not the model's edit functions.
    fn raw_edit(doc: &AutoCommit, path: &[&str], text: &str, who: &Peer) -> AutoCommit {
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let mut doc = fork(doc);
        let mut obj = automerge::ROOT;
        for key in path {
            obj = doc.get(&obj, *key).unwrap().unwrap().1;
        }
        let text_obj = doc.get(&obj, text).unwrap().unwrap().1;
        doc.splice_text(&text_obj, 0, 0, "改").unwrap();
        if doc.get(&obj, "updated_by").unwrap().is_some() {
            doc.put(&obj, "updated_by", who.username.as_str()).unwrap();
        }
        doc.commit();
        doc
    }

    /// Who reads and who writes which document of a split item (docs/schema-v2.md's table).
    #[test]
    fn who_may_read_and_write_the_documents_of_a_split_item() {
        let split = split();
        let work = |unit: &str| &split.works[unit];
        // The documents, in the table's order.
        let work_id = |unit: &str| v2::unit_work_id(&split.item_id, unit);
        let docs: [(&str, DocumentId, &AutoCommit, &[&str], &str); 5] = [
            ("item v2", split.item_id, &split.item, &[], "title"),
            ("s1's work", work_id("s1"), work("s1"), &[], "narrative"),
            ("jcg's work", work_id("jcg"), work("jcg"), &[], "narrative"),
            (
                "s3's work (taken off)",
                work_id("s3"),
                work("s3"),
                &[],
                "narrative",
            ),
            (
                "migrated v1",
                doc_id(),
                &split.v1,
                &["progress", "s1"],
                "narrative",
            ),
        ];
        const T: bool = true;
        const F: bool = false;
        // (peer, may read [docs], may change [docs])
        let table: [(Peer, [bool; 5], [bool; 5]); 8] = [
            (office(), [T, T, T, T, T], [T, T, T, T, T]),
            (viewer(), [T, T, T, T, F], [F, F, F, F, F]),
            // The item's department reads every unit's work on it and writes its own.
            (department("jcg"), [T, T, T, T, F], [F, F, T, F, F]),
            (department("rsg"), [F, F, F, F, F], [F, F, F, F, F]),
            // An assigned unit: the item and its own work; not another unit's.
            (school("s1"), [T, T, F, F, F], [F, T, F, F, F]),
            // Taken off the item: not even its own work any more (kept for the office).
            (school("s3"), [F, F, F, F, F], [F, F, F, F, F]),
            // A unit not on the item.
            (school("s2"), [F, F, F, F, F], [F, F, F, F, F]),
            (
                peer(Role::Unit, None, "orphan"),
                [F, F, F, F, F],
                [F, F, F, F, F],
            ),
        ];
        for (who, reads, writes) in table {
            for ((name, id, doc, path, text), (read, write)) in
                docs.iter().zip(reads.iter().zip(writes))
            {
                let gate = PolicyGate::default();
                assert_eq!(gate.may_read(&who, id, doc), *read, "{who:?} reads {name}");
                let changed = raw_edit(doc, path, text, &who);
                let checked = gate.check_change(&who, id, doc, &changed);
                assert_eq!(
                    checked.is_ok(),
                    write,
                    "{who:?} changes {name}: {checked:?}"
                );
            }
        }
        // What the migration moved away is refused because it moved: before the mark, s1's
        // very change to the version-1 document was its own to make.
        let who = school("s1");
        let unmigrated = &split.v1_unmigrated;
        let changed = raw_edit(unmigrated, &["progress", "s1"], "narrative", &who);
        let gate = PolicyGate::default();
        assert!(gate.may_read(&who, &doc_id(), unmigrated));
        assert_eq!(
            gate.check_change(&who, &doc_id(), unmigrated, &changed),
            Ok(())
        );
    }

    /// Whose sync of the kept version-1 document is carried over to the version-2 documents:
    /// those who could read the item as it was (its units and its department), not the
    /// office (who reads and writes it as it is), viewers (who never wrote) or anyone else;
    /// and only once it is migrated.
    #[test]
    fn the_old_writers_of_a_migrated_item_are_carried_over() {
        let split = split();
        let gate = PolicyGate::default();
        for (who, carried) in [
            (school("s1"), true),
            (department("jcg"), true),
            (office(), false),
            (viewer(), false),
            (school("s2"), false),
            // Taken off before the migration.
            (school("s3"), false),
            (department("rsg"), false),
        ] {
            assert_eq!(
                gate.carries_over(&who, &doc_id(), &split.v1),
                carried,
                "{who:?}"
            );
            assert!(!gate.carries_over(&who, &doc_id(), &split.v1_unmigrated));
            assert!(!gate.carries_over(&who, &split.item_id, &split.item));
        }
    }

    /// A unit's work document has the id derived from its item and unit, even when the
    /// office makes it: the index holds one per pair.
    #[test]
    fn a_units_work_document_has_its_derived_id() {
        let item = DocumentId([9; 16]);
        let (id, made) = v2::create_unit_work(&item, "campaign", "s1").unwrap();
        let empty = model::new_automerge();
        let gate = PolicyGate::default();
        assert_eq!(gate.check_change(&office(), &id, &empty, &made), Ok(()));
        let elsewhere = gate.check_change(&office(), &DocumentId([8; 16]), &empty, &made);
        assert!(elsewhere.is_err(), "{elsewhere:?}");
    }

    /// Those who may read a document, as keys the core compares between two states.
    #[test]
    fn readers_of_the_documents_of_a_split_item() {
        let split = split();
        let gate = PolicyGate::default();
        let readers = |doc: &AutoCommit| gate.readers(doc);
        assert_eq!(readers(&split.item), ["s1", "jcg", "department:jcg"]);
        assert_eq!(readers(&split.works["s1"]), ["s1", "department:jcg"]);
        assert_eq!(readers(&split.works["s3"]), ["department:jcg"]);
        assert_eq!(readers(&split.v1), Vec::<String>::new());
        assert_eq!(
            readers(&split.v1_unmigrated),
            ["s1", "jcg", "department:jcg"]
        );
    }

    /// A unit's tick names a measure its item has once the gate has read the item; until
    /// then (`None`), only the form of the id is judged.
    #[test]
    fn a_tick_is_checked_against_the_item_the_gate_has_read() {
        use automerge::transaction::Transactable;
        let split = split();
        let who = school("s1");
        let work = &split.works["s1"];
        let tick = |measure: &str| {
            let mut doc = fork(work);
            let done = automerge::ReadDoc::get(&doc, automerge::ROOT, "measures_done")
                .unwrap()
                .unwrap()
                .1;
            doc.put(&done, measure, true).unwrap();
            doc.put(automerge::ROOT, "updated_by", who.username.as_str())
                .unwrap();
            doc.commit();
            doc
        };
        let item = ItemDocV2::load(&split.item).unwrap();
        let real = item.measures[0].id.clone();
        let gate = PolicyGate::default();
        let id = v2::unit_work_id(&split.item_id, "s1");
        let check = |gate: &PolicyGate, measure: &str| {
            gate.check_change(&who, &id, work, &tick(measure))
                .map_err(|r| r.refusal)
        };
        assert_eq!(check(&gate, "m-made-up"), Ok(()));
        gate.note_v2(&split.item_id, &split.item);
        assert_eq!(check(&gate, &real), Ok(()));
        assert_eq!(
            check(&gate, "m-made-up"),
            Err(Some(model::ChangeRefusal::NoSuchMeasure {
                measure: "m-made-up".into()
            }))
        );
    }

    /// The office closes a version-2 item only when the gate has seen every assigned unit's
    /// work signed off; a unit it has not seen counts as not started.
    #[test]
    fn closing_a_version_2_item_needs_every_units_status_seen() {
        use crate::status::PublicStatus;
        let split = split();
        let office = office();
        let mut closed = fork(&split.item);
        let mut item = ItemDocV2::load(&closed).unwrap();
        item.status = PublicStatus::Done;
        autosurgeon::reconcile(&mut closed, &item).unwrap();
        closed.commit();
        let close = |gate: &PolicyGate| {
            gate.check_change(&office, &split.item_id, &split.item, &closed)
                .map_err(|r| r.refusal)
        };
        let gate = PolicyGate::default();
        assert!(close(&gate).is_err(), "no unit seen");
        let mut signed_off = BTreeMap::new();
        for unit in ["s1", "jcg"] {
            let mut work = fork(&split.works[unit]);
            let own = context(&if unit == "jcg" {
                department(unit)
            } else {
                school(unit)
            });
            let status = |to| ItemEdit::UnitStatus {
                unit: unit.into(),
                to,
                reason: None,
            };
            let narrative = ItemEdit::UnitNarrative {
                unit: unit.into(),
                text: "已整改".into(),
            };
            v2::apply_unit_work(&mut work, &item, &own, narrative).unwrap();
            v2::apply_unit_work(&mut work, &item, &own, status(UnitStatus::Submitted)).unwrap();
            let before = work.clone();
            let ctx = context(&office);
            v2::apply_unit_work(&mut work, &item, &ctx, status(UnitStatus::SignedOff)).unwrap();
            signed_off.insert(unit, (before, work));
        }
        // Seen through the office's own change to s1's work: jcg is still unknown.
        let id = v2::unit_work_id(&split.item_id, "s1");
        let (submitted, signed) = &signed_off["s1"];
        let signed = gate.check_change(&office, &id, submitted, signed);
        assert_eq!(signed, Ok(()));
        assert!(close(&gate).is_err(), "jcg not seen");
        gate.note_v2(
            &v2::unit_work_id(&split.item_id, "jcg"),
            &signed_off["jcg"].1,
        );
        assert_eq!(close(&gate), Ok(()));
    }
}
