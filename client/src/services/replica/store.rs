//! The replica's device store: documents opened from IndexedDB at start, every change
//! written (a chunk and the sync state, in one transaction) before it counts, and documents
//! stored in many chunks compacted into one. The store itself is [`crate::services::local`].

use super::leader::{TabMessage, TabRole};
use super::{Inner, Link, Replica, random_hex};
use crate::services::local::{self, StoredDoc};
use rectify_shared::model;
use std::rc::Rc;

/// How long a follower waits before writing again what failed to reach the device.
const WRITE_RETRY_MS: u32 = 3_000;

impl Replica {
    /// Writes every dirty document to IndexedDB, then sends what the server should get.
    pub(super) fn flush_soon(&self) {
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move { replica.flush().await });
    }

    pub(super) async fn flush(&self) {
        if std::mem::replace(&mut self.0.borrow_mut().flushing, true) {
            return; // the running flush picks up what is dirty now
        }
        // Documents given a new chunk: the other tabs read them again.
        let mut announce = Vec::new();
        loop {
            let work = {
                let mut inner = self.0.borrow_mut();
                let Some(id) = inner.dirty.pop_first() else {
                    inner.flushing = false;
                    break;
                };
                inner.stamp += 1;
                let stamp = format!(
                    "{:015}-{:06}-{}",
                    js_sys::Date::now() as u64,
                    inner.stamp,
                    random_hex(4)
                );
                let saved = inner.saved.get(&id).cloned().unwrap_or_default();
                let Some(doc) = inner.client.document_mut(&id) else {
                    continue;
                };
                let heads = doc.get_heads();
                let chunk = (heads != saved).then(|| doc.save_after(&saved));
                // The sync states are the syncing tab's: a follower leaves them alone.
                let state = (inner.role != TabRole::Follower)
                    .then(|| inner.client.sync_state(&id).unwrap_or_default());
                (id, chunk, state, heads, stamp, Rc::clone(&inner.store))
            };
            let (id, chunk, state, heads, stamp, store) = work;
            match store
                .append(&id, chunk.as_deref(), state.as_deref(), &stamp)
                .await
            {
                Ok(written) => {
                    let mut inner = self.0.borrow_mut();
                    if inner.failed_write().is_some() {
                        // The device takes writes again (a leader's link is its
                        // connection's, mended by the next one).
                        inner.link = Link::Offline;
                    }
                    inner.saved.insert(id, heads);
                    inner.written(&id);
                    if let Some(key) = written {
                        inner.chunks.entry(id).or_default().push(key);
                        announce.push(id.to_string());
                    }
                    let unsynced = inner.client.unsynced_changes(&id);
                    inner.pending.insert(id, unsynced);
                    if unsynced == 0 {
                        // Rescued work made again has reached the server: a later refusal
                        // is a new one, whose work is made again in turn.
                        inner.reapplied.remove(&id);
                    }
                }
                Err(err) => {
                    // Quota or a broken store: keep it in memory and dirty, say so, retry later.
                    let mut inner = self.0.borrow_mut();
                    inner.dirty.insert(id);
                    inner.flushing = false;
                    inner.link = Link::DeviceWriteFailed(err.0);
                    if inner.role == TabRole::Follower {
                        // No connection loop to try again: a timer does (replaced, so one;
                        // weak, so a replica logged out meanwhile is not kept).
                        let weak = Rc::downgrade(&self.0);
                        inner.write_retry = Some(gloo::timers::callback::Timeout::new(
                            WRITE_RETRY_MS,
                            move || {
                                if let Some(inner) = weak.upgrade() {
                                    Replica(inner).flush_soon();
                                }
                            },
                        ));
                    }
                    drop(inner);
                    self.announce(announce);
                    self.notify();
                    return;
                }
            }
        }
        self.announce(announce);
        self.send_polled();
        self.compact_all().await;
        self.mark_synced_if_quiet().await;
        self.notify();
    }

    fn announce(&self, docs: Vec<String>) {
        let files = std::mem::take(&mut self.0.borrow_mut().files_to_announce);
        if !docs.is_empty() || files {
            self.tell_tabs(&TabMessage::Changed { docs, files });
        }
    }

    /// Rewrites documents stored in too many chunks as one (the tab that syncs does, for
    /// every tab).
    pub(super) async fn compact_all(&self) {
        if self.tab_role() == TabRole::Follower {
            return;
        }
        loop {
            let work = {
                let mut inner = self.0.borrow_mut();
                let Some((&id, _)) = inner
                    .chunks
                    .iter()
                    .find(|(_, keys)| keys.len() > local::COMPACT_AFTER)
                else {
                    return;
                };
                let old = inner.chunks.get(&id).cloned().unwrap_or_default();
                let Some(doc) = inner.client.document_mut(&id) else {
                    inner.chunks.remove(&id);
                    continue;
                };
                let whole = doc.save();
                let heads = doc.get_heads();
                let stamp = format!("{:015}-c-{}", js_sys::Date::now() as u64, random_hex(4));
                (id, whole, old, heads, stamp, Rc::clone(&inner.store))
            };
            let (id, whole, old, heads, stamp, store) = work;
            match store.compact(&id, &whole, &old, &stamp).await {
                Ok(key) => {
                    let mut inner = self.0.borrow_mut();
                    let keys = inner.chunks.entry(id).or_default();
                    keys.retain(|k| !old.contains(k));
                    keys.insert(0, key);
                    let saved = inner.saved.entry(id).or_default();
                    if saved.is_empty() {
                        *saved = heads;
                    }
                }
                Err(_) => return, // try again after the next flush
            }
        }
    }
}

impl Inner {
    /// Opens a stored document.
    pub(super) fn open_stored(&mut self, stored: StoredDoc) {
        // Made like every document (text counted in UTF-8 bytes, as autosurgeon splices).
        let mut doc = model::new_automerge();
        for (_, chunk) in &stored.chunks {
            // A damaged chunk loses only itself; the server has the changes it held.
            let _ = doc.load_incremental(chunk);
        }
        let id = stored.id;
        let heads = doc.get_heads();
        match &stored.sync_state {
            Some(state) => self.client.add_document_with_state(id, doc, state),
            None => self.client.add_document(id, doc),
        }
        self.saved.insert(id, heads);
        self.chunks
            .insert(id, stored.chunks.into_iter().map(|(key, _)| key).collect());
        self.refresh_item(&id);
        let unsynced = self.client.unsynced_changes(&id);
        self.pending.insert(id, unsynced);
    }
}
