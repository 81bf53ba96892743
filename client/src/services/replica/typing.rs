//! A typing burst is one change ([`rectify_shared::burst`]). The narrative's keystrokes are
//! held here, not in the document: the field shows them at once, and when the field has
//! been quiet for 1.5 s (or on blur, leaving the page, the tab hidden, logging out) the
//! burst becomes one edit, made at the heads it started from (`model::apply_at`, so what
//! another device wrote meanwhile is merged, not overwritten) and then flushed to IndexedDB
//! like every edit: it counts as waiting, and is sent, only once it is on disk.
//!
//! A tab closed mid-burst cannot be trusted to finish an IndexedDB transaction, so every
//! keystroke also writes the burst to `localStorage` (synchronous, kept on close): the
//! journal. It is removed once the burst's change is on disk; one left over is made again
//! when this user's replica next opens (`replay_journal`).
//!
//! Each tab keeps its own entries (the key names the tab), so two tabs typing in one field
//! never remove each other's. The tab that leads the user's tabs makes again the entries of
//! tabs that are closed (no tab holds their lock, [`tabs::live_tabs`]); without Web Locks,
//! every entry but the tab's own, as no tab can tell a closed tab from an open one.
//!
//! A burst the policy refuses when it becomes a change (the office signed the entry off
//! meanwhile) is listed with the refused work, its text to copy ([`Refused`]); its journal
//! entry goes once that list is on disk.

use super::leader::TabMessage;
use super::recovery::{RefusalReason, Refused};
use super::{EditRefused, Inner, Replica, random_hex};
use crate::services::tabs;
use automerge::ChangeHash;
use gloo::storage::{LocalStorage, Storage};
use rectify_shared::burst::Bursts;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{self, ChangeRefusal, ItemDoc, ItemEdit};
use serde::{Deserialize, Serialize};

/// A narrative being typed: the field's key (the document and the unit).
pub(super) type Field = (DocumentId, String);

/// What a burst holds: the document's heads when it began, and the text typed so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Typed {
    base: Vec<String>,
    text: String,
}

pub(super) type Typing = Bursts<Field, Typed>;

const JOURNAL_PREFIX: &str = "rectify.typing.";

/// `rectify.typing.USER.TAB~DOCUMENT.UNIT`.
fn journal_key(user: &str, tab: &str, (id, unit): &Field) -> String {
    format!("{JOURNAL_PREFIX}{user}.{tab}~{id}.{unit}")
}

/// A journal key's tab and field, from what follows `rectify.typing.USER.`; the tab is
/// `None` in keys of versions before tabs had entries of their own (`DOCUMENT.UNIT`).
fn parse_key(rest: &str) -> Option<(Option<String>, Field)> {
    let (tab, rest) = match rest.split_once('~') {
        Some((tab, rest)) => (Some(tab.to_owned()), rest),
        None => (None, rest),
    };
    let (id, unit) = rest.split_once('.')?;
    Some((tab, (id.parse().ok()?, unit.to_owned())))
}

impl Replica {
    /// A keystroke in `unit`'s narrative of item `id`: held as the burst's text (checked
    /// against the policy now, so a refusal shows at once), written to the journal, and
    /// made one change when the burst ends.
    pub fn type_narrative(&self, id: &DocumentId, unit: &str, text: String) -> Result<(), String> {
        let now = js_sys::Date::now();
        {
            let mut inner = self.0.borrow_mut();
            let ctx = inner.edit_context();
            let mut item = inner
                .items
                .get(id)
                .cloned()
                .ok_or_else(|| "this item is not on this device".to_owned())?;
            let edit = ItemEdit::UnitNarrative {
                unit: unit.to_owned(),
                text: text.clone(),
            };
            model::apply_to(&mut item, &ctx, edit).map_err(|e| e.to_string())?;
            let heads = inner
                .client
                .document_mut(id)
                .map(|doc| doc.get_heads())
                .unwrap_or_default();
            let field = (*id, unit.to_owned());
            inner.typing.typed(field.clone(), now, |held| Typed {
                base: held.map_or_else(
                    || heads.iter().map(ToString::to_string).collect(),
                    |h| h.base,
                ),
                text,
            });
            if let Some(typed) = inner.typing.get(&field) {
                let key = journal_key(&inner.session.username, &inner.tab, &field);
                let _ = LocalStorage::set(key, typed);
            }
            inner.synced = false;
        }
        self.schedule_burst_end();
        self.notify();
        Ok(())
    }

    /// The text of a burst being typed in this field, if one is open.
    pub fn typing(&self, id: &DocumentId, unit: &str) -> Option<String> {
        let inner = self.0.borrow();
        inner
            .typing
            .get(&(*id, unit.to_owned()))
            .map(|t| t.text.clone())
    }

    /// Ends the bursts in item `id` (blur, leaving the page, a remote edit shown, another
    /// edit of the item) and writes them to disk.
    pub fn end_typing(&self, id: &DocumentId) {
        let ended = self.0.borrow_mut().typing.take_where(|(doc, _)| doc == id);
        self.make_bursts(ended);
    }

    /// Ends every burst (the tab hidden or closing, logging out) and writes them to disk.
    pub fn end_all_typing(&self) {
        let ended = self.0.borrow_mut().typing.take_where(|_| true);
        self.make_bursts(ended);
    }

    fn schedule_burst_end(&self) {
        let Some(due) = self.0.borrow().typing.next_due_ms() else {
            return;
        };
        let wait = (due - js_sys::Date::now()).max(0.0).ceil() as u32;
        let weak = std::rc::Rc::downgrade(&self.0);
        let timer = gloo::timers::callback::Timeout::new(wait, move || {
            if let Some(inner) = weak.upgrade() {
                let replica = Replica(inner);
                let ended = replica.0.borrow_mut().typing.take_due(js_sys::Date::now());
                replica.make_bursts(ended);
                replica.schedule_burst_end();
            }
        });
        // Replacing the handle cancels the timer set at the last keystroke.
        self.0.borrow_mut().typing_timer = Some(timer);
    }

    /// Makes each ended burst one change, then flushes (the journal entry goes once the
    /// change is on disk, see `store::flush`). A burst refused is listed with the refused
    /// work instead.
    fn make_bursts(&self, ended: Vec<(Field, Typed)>) {
        if ended.is_empty() {
            return;
        }
        let mut refused = Vec::new();
        {
            let mut inner = self.0.borrow_mut();
            for (field, typed) in ended {
                match inner.make_burst(&field, &typed) {
                    Ok(()) => {
                        inner.journaled.insert(field);
                    }
                    Err(Some(why)) => {
                        inner.refused_burst(&field, &typed, &why);
                        refused.push(field);
                    }
                    // The item left the device: the journal keeps the text.
                    Err(None) => {}
                }
            }
        }
        if !refused.is_empty() {
            let replica = self.clone();
            wasm_bindgen_futures::spawn_local(async move {
                replica.keep_refused_bursts(refused).await;
            });
        }
        self.notify();
        self.flush_soon();
    }

    /// The refused list goes to disk, then the refused bursts' journal entries go.
    async fn keep_refused_bursts(&self, fields: Vec<Field>) {
        let (store, refused) = {
            let inner = self.0.borrow();
            (std::rc::Rc::clone(&inner.store), inner.refused.clone())
        };
        if store.put("refused", &refused).await.is_err() {
            return; // the journal keeps the text; the list shows it meanwhile
        }
        {
            let mut inner = self.0.borrow_mut();
            for field in fields {
                inner.forget_journal(&field);
            }
        }
        self.tell_tabs(&TabMessage::Refused);
        self.notify();
    }

    /// Makes again the bursts that closed tabs left in the journal (when this tab starts to
    /// lead, or at start without Web Locks).
    pub(super) async fn replay_journal(&self) {
        let (user, own) = {
            let inner = self.0.borrow();
            (inner.session.username.clone(), inner.tab.clone())
        };
        let live = tabs::live_tabs().await;
        let prefix = format!("{JOURNAL_PREFIX}{user}.");
        let Ok(storage) = gloo::utils::window().local_storage() else {
            return;
        };
        let Some(storage) = storage else { return };
        let keys: Vec<String> = (0..storage.length().unwrap_or(0))
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        let mut ended = Vec::new();
        for key in keys {
            let Some((tab, field)) = parse_key(&key[prefix.len()..]) else {
                LocalStorage::delete(&key);
                continue;
            };
            let open_tab = tab.as_ref().is_some_and(|tab| {
                *tab == own || live.as_ref().is_some_and(|live| live.contains(tab))
            });
            if open_tab {
                continue; // that tab makes its own bursts
            }
            match LocalStorage::get::<Typed>(&key) {
                Ok(typed) => {
                    let mut inner = self.0.borrow_mut();
                    inner.orphans.entry(field.clone()).or_default().push(key);
                    ended.push((field, typed));
                }
                Err(_) => LocalStorage::delete(&key),
            }
        }
        self.make_bursts(ended);
    }
}

impl Inner {
    /// One burst as one change of its document, at the heads it began from. The text
    /// already there (a journal entry whose change was on disk before its removal) is not
    /// made again. `Err(None)` when the item is not on the device, `Err(Some(why))` when
    /// the policy refused it (signed off meanwhile).
    fn make_burst(&mut self, (id, unit): &Field, typed: &Typed) -> Result<(), Option<EditRefused>> {
        let ctx = self.edit_context();
        let base: Vec<ChangeHash> = typed.base.iter().filter_map(|h| h.parse().ok()).collect();
        let Some(doc) = self.client.document_mut(id) else {
            return Err(None);
        };
        let now = ItemDoc::load(doc).ok().and_then(|item| {
            item.progress
                .get(unit)
                .map(|p| p.narrative.as_str().to_owned())
        });
        if now.as_deref() != Some(typed.text.as_str()) {
            let edit = ItemEdit::UnitNarrative {
                unit: unit.clone(),
                text: typed.text.clone(),
            };
            if let Err(err) = model::apply_at(doc, &base, &ctx, edit) {
                // Refused since it was typed (signed off meanwhile).
                return Err(Some(err.into()));
            }
            self.refresh_item(id);
        }
        // Dirty even when nothing changed: the flush that follows removes the journal entry.
        self.dirty.insert(*id);
        self.synced = false;
        Ok(())
    }

    /// Lists a burst the policy refused with the refused work: why, and its text to copy.
    fn refused_burst(&mut self, (id, _unit): &Field, typed: &Typed, why: &EditRefused) {
        let (item_key, item_title) = self
            .items
            .get(id)
            .map(|item| (item.key.clone(), item.title.as_str().to_owned()))
            .unwrap_or_default();
        self.refused.push(Refused {
            id: format!("{id}-{}", random_hex(4)),
            item_key,
            item_title,
            text: typed.text.clone(),
            reason: RefusalReason::NotKept(why.to_string()),
            at_ms: js_sys::Date::now(),
            not_reapplied: Vec::new(),
            reapplied: 0,
            changes: Vec::new(),
            refusal: match why {
                EditRefused::Refused(refusal) => Some(ChangeRefusal::Workflow(refusal.clone())),
                _ => None,
            },
        });
    }

    /// This tab's journal entry of `field` goes (unless a new burst is being typed there),
    /// with the entries of closed tabs made again here.
    fn forget_journal(&mut self, field: &Field) {
        if self.typing.get(field).is_none() {
            LocalStorage::delete(journal_key(&self.session.username, &self.tab, field));
        }
        for key in self.orphans.remove(field).unwrap_or_default() {
            LocalStorage::delete(&key);
        }
    }

    /// The journal entries of bursts now on disk in document `id` go.
    pub(super) fn written(&mut self, id: &DocumentId) {
        let done: Vec<Field> = self
            .journaled
            .iter()
            .filter(|(doc, _)| doc == id)
            .cloned()
            .collect();
        for field in done {
            // A burst typed again in this field since keeps its entry.
            self.forget_journal(&field);
            self.journaled.remove(&field);
        }
    }
}
