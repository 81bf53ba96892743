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
use crate::model::{self, ItemDoc};
use crate::policy::{Actor, Need, Role, can_read_item};
use crate::sync::core::{Gate, GateRefusal};
use automerge::{AutoCommit, ChangeHash};
use std::collections::HashMap;
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
#[derive(Debug, Default)]
pub struct PolicyGate {
    items: Mutex<HashMap<DocumentId, (Vec<ChangeHash>, ItemDoc)>>,
    references: Mutex<HashMap<DocumentId, NewReferences>>,
}

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
    /// a unit the items assigned to it. Campaigns: everyone but units. Anything else (no kind,
    /// an unknown kind, or an item this version cannot read): only the office and viewers.
    fn may_read(&self, who: &Peer, _doc: &DocumentId, current: &AutoCommit) -> bool {
        // Those who read everything need no look inside (which would cost a full read of the
        // item on every change pushed to them).
        if matches!(who.actor.role, Role::Office | Role::Viewer) {
            return true;
        }
        match model::kind_of(current).as_deref() {
            Some("item") => match ItemDoc::readers(current) {
                Ok((units, department)) => can_read_item(&who.actor, &units, department.as_deref()),
                // A document this version cannot read: only those who read everything.
                Err(_) => false,
            },
            Some("campaign") => Need::Oversee.allows(who.actor.role),
            _ => false,
        }
    }

    /// An item's units and its department (what `may_read` asks of units and departments);
    /// nothing for anything else, whose readers never change.
    fn readers(&self, current: &AutoCommit) -> Vec<String> {
        match ItemDoc::readers(current) {
            Ok((mut units, department)) => {
                units.extend(department.map(|d| format!("department:{d}")));
                units
            }
            Err(_) => Vec::new(),
        }
    }

    /// Only the office creates documents (campaigns, items); everyone else's edits go into
    /// documents the office made, which is what lets the change check compare before and after.
    fn may_create(&self, who: &Peer, _doc: &DocumentId) -> bool {
        who.actor.role == Role::Office
    }

    fn check_change(
        &self,
        who: &Peer,
        _doc: &DocumentId,
        before: &AutoCommit,
        after: &AutoCommit,
    ) -> Result<(), GateRefusal> {
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
            Err(refusal) => Err(refusal.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UnitId;
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
}
