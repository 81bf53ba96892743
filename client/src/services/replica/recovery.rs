//! Recovering from refusals: a change the server refuses is never silently dropped. The
//! user's own work on the item (narrative and ticks) is kept on the device as a [`Rescue`],
//! the document is reset to the server's copy, what is still allowed is re-applied, and the
//! refusal is listed with the text ([`Refused`]) until the user dismisses it. An item no
//! longer readable (reassigned) leaves the device the same way.

use super::{Inner, Replica, random_hex};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::ItemEdit;
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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RefusalReason {
    /// The item is no longer assigned to the user's unit (or was deleted).
    NoLongerYours,
    /// The server refused the change, with its message.
    Server(String),
}

/// The user's own work on an item, kept while the item is reset to the server's copy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Rescue {
    item_key: String,
    item_title: String,
    narrative: String,
    ticks: BTreeMap<String, bool>,
    server_message: String,
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
        wasm_bindgen_futures::spawn_local(async move {
            let _ = store.put("refused", &refused).await;
        });
        self.notify();
    }

    /// The server has no such document for us: the item was reassigned or deleted.
    pub(super) async fn lost(&self, id: DocumentId) {
        let store = {
            let mut inner = self.0.borrow_mut();
            let unsynced = inner.client.unsynced_changes(&id);
            if unsynced > 0
                && let Some(rescue) = inner.rescue_of(&id, String::new())
            {
                inner.add_refused(&id, &rescue, RefusalReason::NoLongerYours);
            }
            // A rescue waiting for this document cannot be re-applied either.
            if let Some(rescue) = inner.rescues.remove(&id.to_string()) {
                inner.add_refused(&id, &rescue, RefusalReason::NoLongerYours);
            }
            inner.client.remove_document(&id);
            inner.items.remove(&id);
            inner.pending.remove(&id);
            inner.saved.remove(&id);
            inner.chunks.remove(&id);
            inner.dirty.remove(&id);
            Rc::clone(&inner.store)
        };
        let _ = store.forget(&id).await;
        self.save_recovery().await;
        self.notify();
    }

    /// The server refused a change of ours: keep our work, reset to the server's copy.
    pub(super) async fn refused_change(&self, id: DocumentId, message: String) {
        let store = {
            let mut inner = self.0.borrow_mut();
            if let Some(rescue) = inner.rescue_of(&id, message) {
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
        self.send_polled();
        self.notify();
    }

    /// Re-applies what the user had done to an item that was reset, as far as still allowed.
    pub(super) async fn reapply(&self, id: DocumentId, rescue: Rescue) {
        let unit = self.0.borrow().session.unit.clone();
        let Some(unit) = unit else { return };
        let mut failures = Vec::new();
        let current = self.item(&id);
        let mine = current.as_ref().and_then(|item| item.progress.get(&unit));
        let narrative_now = mine
            .map(|p| p.narrative.as_str().to_owned())
            .unwrap_or_default();
        if !rescue.narrative.is_empty() && rescue.narrative != narrative_now {
            let edit = ItemEdit::UnitNarrative {
                unit: unit.clone(),
                text: rescue.narrative.clone(),
            };
            if let Err(err) = self.edit(&id, edit) {
                failures.push(err);
            }
        }
        for (measure, done) in &rescue.ticks {
            let now = mine
                .and_then(|p| p.measures_done.get(measure))
                .copied()
                .unwrap_or(false);
            if now != *done {
                let edit = ItemEdit::TickMeasure {
                    unit: unit.clone(),
                    measure: measure.clone(),
                    done: *done,
                };
                if let Err(err) = self.edit(&id, edit) {
                    failures.push(err);
                }
            }
        }
        {
            let mut inner = self.0.borrow_mut();
            // What the server refused is always shown, with its reason; re-applying the
            // allowed part means the text is back in place as well.
            let mut reason = rescue.server_message.clone();
            if !failures.is_empty() {
                reason = format!("{reason} ({})", failures.join("; "));
            }
            inner.add_refused(&id, &rescue, RefusalReason::Server(reason));
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
    }
}

impl Inner {
    /// The user's own work on an item, to keep across a reset.
    fn rescue_of(&self, id: &DocumentId, server_message: String) -> Option<Rescue> {
        let item = self.items.get(id)?;
        let unit = self.session.unit.as_ref()?;
        let mine = item.progress.get(unit);
        Some(Rescue {
            item_key: item.key.clone(),
            item_title: item.title.as_str().to_owned(),
            narrative: mine
                .map(|p| p.narrative.as_str().to_owned())
                .unwrap_or_default(),
            ticks: mine.map(|p| p.measures_done.clone()).unwrap_or_default(),
            server_message,
        })
    }

    fn add_refused(&mut self, id: &DocumentId, rescue: &Rescue, reason: RefusalReason) {
        self.refused.push(Refused {
            id: format!("{id}-{}", random_hex(4)),
            item_key: rescue.item_key.clone(),
            item_title: rescue.item_title.clone(),
            text: rescue.narrative.clone(),
            reason,
            at_ms: js_sys::Date::now(),
        });
    }
}
