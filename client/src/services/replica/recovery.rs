//! Recovering from refusals: a change the server refuses is never silently dropped. The
//! device's document is kept as a [`Rescue`] (its bytes and the heads the server had
//! confirmed), the item is reset to the server's copy, and the user's work — read back as
//! edits by [`model::rescue`] — is made again as far as the policy still allows: text, ticks,
//! evidence references (the files stay queued), status requests, feedback, and the office's
//! own edits. The refusal is listed ([`Refused`]) with what could not be made again, why, and
//! the text to copy, until the user dismisses it. An item no longer readable (reassigned)
//! leaves the device the same way, with all of its unsynced work listed.
//!
//! Only a policy refusal gets here: "try again later" (the server could not read or store
//! the item) never touches the local copy (see `connection`).

use super::leader::TabMessage;
use super::{EditRefused, Inner, Replica, random_hex};
use automerge::{AutoCommit, ChangeHash};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{self, ChangeRefusal, ItemDoc, ItemEdit};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Work the server would not take, kept (on disk) until the user dismisses it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refused {
    pub id: String,
    pub item_key: String,
    pub item_title: String,
    /// The user's own progress text at the time, to copy.
    pub text: String,
    pub reason: RefusalReason,
    pub at_ms: f64,
    /// What could not be made again on the server's copy, and why.
    #[serde(default)]
    pub not_reapplied: Vec<NotReapplied>,
    /// How many of the user's edits were made again on the server's copy.
    #[serde(default)]
    pub reapplied: usize,
    /// The refused Automerge changes themselves, so that nothing is lost even if the
    /// description falls short (`AutoCommit::save_after` the confirmed heads).
    #[serde(default)]
    pub changes: Vec<u8>,
    /// Why the server refused it, as data, when it said so: shown in the user's language
    /// rather than the server's message.
    #[serde(default)]
    pub refusal: Option<ChangeRefusal>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RefusalReason {
    /// The item is no longer assigned to the user's unit (or was deleted).
    NoLongerYours,
    /// The server refused the change, with its message.
    Server(String),
    /// What was typed could not be made a change: the policy refused it by then (the office
    /// signed the entry off meanwhile); the reason in English, `refusal` has it as data.
    NotKept(String),
}

/// One edit of the user's that could not be made again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotReapplied {
    /// What kind of edit ([`ItemEdit::op`]): the UI names it.
    pub op: String,
    /// Its content, to copy: the text, the file's name, the new status …
    pub text: String,
    /// Why not (empty when the whole item left the device).
    pub reason: String,
    /// The same, as data, to say in the user's language (absent in entries kept by older
    /// versions, and for reasons that are not refusals).
    #[serde(default)]
    pub refusal: Option<ChangeRefusal>,
}

/// The user's work on a refused item, kept while the item is reset to the server's copy and
/// synced again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Rescue {
    item_key: String,
    item_title: String,
    server_message: String,
    /// The server's refusal as data, when it sent one.
    #[serde(default)]
    server_refusal: Option<ChangeRefusal>,
    /// The device's document when the server refused it ([`AutoCommit::save`]).
    #[serde(default)]
    saved: Vec<u8>,
    /// The heads the server had confirmed (hex): the user's work is what lies beyond.
    #[serde(default)]
    confirmed: Vec<String>,
    /// Whether this work was made again once already and refused again: then it is only
    /// listed, so a server and a client that disagree on the policy cannot loop.
    #[serde(default)]
    refused_again: bool,
    /// The user's unit, if any (their own entry's text is the one to copy).
    #[serde(default)]
    unit: Option<String>,
    // Rescues written before the whole document was kept: the unit's text and ticks.
    #[serde(default)]
    narrative: String,
    #[serde(default)]
    ticks: BTreeMap<String, bool>,
}

impl Replica {
    pub fn refused(&self) -> Vec<Refused> {
        self.0.borrow().refused.clone()
    }

    /// Dismisses a refused edit (after the user copied what they needed).
    pub fn dismiss_refused(&self, id: &str) {
        let store = {
            let mut inner = self.0.borrow_mut();
            inner.refused.retain(|r| r.id != id);
            Rc::clone(&inner.store)
        };
        let refused = self.refused();
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = store.put("refused", &refused).await;
            replica.tell_tabs(&TabMessage::Refused);
        });
        self.notify();
    }

    /// The server has no such document for us: the item was reassigned or deleted. Every
    /// unsynced edit on it is listed, nothing is made again.
    pub(super) async fn lost(&self, id: DocumentId) {
        let store = {
            let mut inner = self.0.borrow_mut();
            let unsynced = inner.client.unsynced_changes(&id);
            if unsynced > 0
                && let Some(rescue) = inner.rescue_of(&id, String::new(), None)
            {
                let not_reapplied = rescue.listed_only(&rescue.edits(), "", None);
                inner.add_refused(&id, &rescue, RefusalReason::NoLongerYours, not_reapplied, 0);
            }
            // A rescue waiting for this document cannot be made again either.
            if let Some(rescue) = inner.rescues.remove(&id.to_string()) {
                let not_reapplied = rescue.listed_only(&rescue.edits(), "", None);
                inner.add_refused(&id, &rescue, RefusalReason::NoLongerYours, not_reapplied, 0);
            }
            inner.client.remove_document(&id);
            inner.items.remove(&id);
            inner.pending.remove(&id);
            inner.saved.remove(&id);
            inner.chunks.remove(&id);
            inner.dirty.remove(&id);
            inner.reapplied.remove(&id);
            Rc::clone(&inner.store)
        };
        let _ = store.forget(&id).await;
        self.save_recovery().await;
        self.tell_tabs(&TabMessage::Reset(id.to_string()));
        self.notify();
    }

    /// The server refused a change of ours: keep our work, reset to the server's copy.
    pub(super) async fn refused_change(
        &self,
        id: DocumentId,
        message: String,
        refusal: Option<ChangeRefusal>,
    ) {
        // The server names the document for clients that show no item; the panel does.
        let message = message
            .strip_prefix(&format!("change to {id} refused: "))
            .map_or(message.clone(), str::to_owned);
        let store = {
            let mut inner = self.0.borrow_mut();
            if let Some(rescue) = inner.rescue_of(&id, message, refusal) {
                inner.rescues.insert(id.to_string(), rescue);
            }
            inner.client.reset_document(id);
            inner.saved.remove(&id);
            inner.chunks.remove(&id);
            inner.dirty.remove(&id);
            inner.pending.remove(&id);
            Rc::clone(&inner.store)
        };
        // The rescue is on disk before the local copy goes.
        self.save_recovery().await;
        let _ = store.forget(&id).await;
        self.tell_tabs(&TabMessage::Reset(id.to_string()));
        self.send_polled();
        self.notify();
    }

    /// Makes the user's work on an item that was reset again, as far as still allowed, once
    /// the server's copy has arrived; lists the rest.
    pub(super) async fn reapply(&self, id: DocumentId, rescue: Rescue) {
        let edits = rescue.edits();
        let mut not_reapplied = Vec::new();
        let mut reapplied = 0;
        if rescue.refused_again {
            // This work was made again once and the server refused it again.
            not_reapplied = rescue.listed_only(
                &edits,
                &rescue.server_message,
                rescue.server_refusal.as_ref(),
            );
        } else {
            for edit in edits {
                let Some(now) = self.item(&id) else { break };
                if model::rescue::is_already(&now, &edit) {
                    continue;
                }
                let text = describe(&edit, &now);
                let op = edit.op().to_owned();
                match self.edit(&id, edit) {
                    Ok(()) => reapplied += 1,
                    Err(refused) => not_reapplied.push(NotReapplied {
                        op,
                        text,
                        reason: refused.to_string(),
                        refusal: match refused {
                            EditRefused::Refused(r) => Some(ChangeRefusal::Workflow(r)),
                            _ => None,
                        },
                    }),
                }
            }
            if reapplied > 0 {
                self.0.borrow_mut().reapplied.insert(id);
            }
        }
        {
            let mut inner = self.0.borrow_mut();
            // What the server refused is always shown, with its reason, and what was made
            // again on the server's copy is said too.
            let reason = RefusalReason::Server(rescue.server_message.clone());
            inner.add_refused(&id, &rescue, reason, not_reapplied, reapplied);
        }
        self.save_recovery().await;
        self.notify();
    }

    async fn save_recovery(&self) {
        let (store, refused, rescues) = {
            let inner = self.0.borrow();
            (
                Rc::clone(&inner.store),
                inner.refused.clone(),
                inner.rescues.clone(),
            )
        };
        let _ = store.put("refused", &refused).await;
        let _ = store.put("rescues", &rescues).await;
        self.tell_tabs(&TabMessage::Refused);
    }
}

impl Rescue {
    /// The user's edits, in the order they are made again (see [`model::rescue`]).
    fn edits(&self) -> Vec<ItemEdit> {
        if self.saved.is_empty() {
            return self.legacy_edits();
        }
        let confirmed = self.confirmed_heads();
        let read = self
            .document()
            .and_then(|mut doc| model::rescue::base_and_mine(&mut doc, &confirmed).ok());
        match read {
            Some((base, mine)) => model::rescue::edits_between(base.as_ref(), &mine),
            None => self.legacy_edits(),
        }
    }

    /// A rescue kept by an older version: the unit's text and ticks.
    fn legacy_edits(&self) -> Vec<ItemEdit> {
        let Some(unit) = self.unit.clone() else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        if !self.narrative.is_empty() {
            edits.push(ItemEdit::UnitNarrative {
                unit: unit.clone(),
                text: self.narrative.clone(),
            });
        }
        for (measure, done) in &self.ticks {
            edits.push(ItemEdit::TickMeasure {
                unit: unit.clone(),
                measure: measure.clone(),
                done: *done,
            });
        }
        edits
    }

    /// Every edit listed, none made again, each with `reason` (and the same as data).
    fn listed_only(
        &self,
        edits: &[ItemEdit],
        reason: &str,
        refusal: Option<&ChangeRefusal>,
    ) -> Vec<NotReapplied> {
        let mine = self.mine();
        edits
            .iter()
            .map(|edit| NotReapplied {
                op: edit.op().to_owned(),
                text: mine.as_ref().map(|m| describe(edit, m)).unwrap_or_default(),
                reason: reason.to_owned(),
                refusal: refusal.cloned(),
            })
            .collect()
    }

    /// The device's document as it was refused (`None` for a rescue of an older version).
    fn document(&self) -> Option<AutoCommit> {
        AutoCommit::load(&self.saved).ok()
    }

    fn confirmed_heads(&self) -> Vec<ChangeHash> {
        self.confirmed
            .iter()
            .filter_map(|h| h.parse().ok())
            .collect()
    }

    /// The refused changes themselves: everything beyond what the server had confirmed.
    fn refused_changes(&self) -> Vec<u8> {
        self.document()
            .map(|mut doc| doc.save_after(&self.confirmed_heads()))
            .unwrap_or_default()
    }

    fn mine(&self) -> Option<ItemDoc> {
        ItemDoc::load(&self.document()?).ok()
    }

    /// The unit's own text as it was on the device, to copy.
    fn narrative(&self) -> String {
        match (self.mine(), &self.unit) {
            (Some(mine), Some(unit)) => mine
                .progress
                .get(unit)
                .map(|p| p.narrative.as_str().to_owned())
                .unwrap_or_default(),
            _ => self.narrative.clone(),
        }
    }
}

/// An edit's content in words, to copy: the text itself, the measure, the file's name …
fn describe(edit: &ItemEdit, item: &ItemDoc) -> String {
    match edit {
        ItemEdit::UnitNarrative { text, .. } => text.clone(),
        ItemEdit::TickMeasure { measure, done, .. } => {
            let text = (item.measures.iter())
                .find(|m| &m.id == measure)
                .map(|m| m.text.as_str())
                .or_else(|| item.removed_measure(measure).map(|r| r.text.as_str()))
                .unwrap_or(measure.as_str());
            format!("{} {text}", if *done { "☑" } else { "☐" })
        }
        ItemEdit::UnitStatus { to, reason, .. } => match reason {
            Some(reason) => format!("{}（{reason}）", to.label_zh()),
            None => to.label_zh().to_owned(),
        },
        ItemEdit::AddEvidence { evidence, .. } => evidence.name.clone(),
        ItemEdit::RemoveEvidence { sha256, .. } => sha256.clone(),
        ItemEdit::AddFeedback { text, .. } => text.clone(),
        ItemEdit::ItemStatus(status) => status.wording().to_owned(),
        ItemEdit::Plan(plan) => {
            let mut parts = vec![plan.responsible_leader.clone()];
            parts.extend(plan.units.iter().cloned());
            parts.extend(plan.deadline.iter().cloned());
            parts.join("，")
        }
        ItemEdit::Define {
            title, narrative, ..
        } => format!("{title}\n{narrative}"),
    }
}

impl Inner {
    /// The user's work on an item, to keep across a reset: the device's whole document and
    /// the heads the server had confirmed.
    fn rescue_of(
        &mut self,
        id: &DocumentId,
        server_message: String,
        server_refusal: Option<ChangeRefusal>,
    ) -> Option<Rescue> {
        let item = self.items.get(id)?;
        let (item_key, item_title) = (item.key.clone(), item.title.as_str().to_owned());
        let confirmed = self.client.confirmed_heads(id);
        let saved = self.client.document_mut(id)?.save();
        Some(Rescue {
            item_key,
            item_title,
            server_message,
            server_refusal,
            saved,
            confirmed: confirmed.iter().map(ToString::to_string).collect(),
            refused_again: self.reapplied.remove(id),
            unit: self.session.unit.clone(),
            narrative: String::new(),
            ticks: BTreeMap::new(),
        })
    }

    fn add_refused(
        &mut self,
        id: &DocumentId,
        rescue: &Rescue,
        reason: RefusalReason,
        not_reapplied: Vec<NotReapplied>,
        reapplied: usize,
    ) {
        let changes = rescue.refused_changes();
        self.refused.push(Refused {
            id: format!("{id}-{}", random_hex(4)),
            item_key: rescue.item_key.clone(),
            item_title: rescue.item_title.clone(),
            text: rescue.narrative(),
            reason,
            at_ms: js_sys::Date::now(),
            not_reapplied,
            reapplied,
            changes,
            refusal: rescue.server_refusal.clone(),
        });
    }
}
