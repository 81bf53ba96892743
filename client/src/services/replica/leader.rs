//! One device, several tabs: the tabs of one user share one sync connection and one upload
//! queue ([`crate::services::tabs`]: the Web Lock says which tab leads).
//!
//! - The **leader** connects, syncs and uploads as a lone tab does. What it writes to
//!   IndexedDB (a change from the server, a reset after a refusal, an upload's state, the
//!   refused list) it announces on the channel, and it sends its status bar to the others.
//! - A **follower** opens no connection and uploads nothing. Its edits are made and written
//!   to IndexedDB as anywhere (chunks only: the sync states are the leader's), then announced;
//!   the leader reads those documents again from the device, merges them and syncs them. The
//!   follower reads again the documents the leader announces, so its page shows them, and its
//!   bar shows the leader's status.
//! - When the leader's tab closes, the browser grants the lock to a follower, which becomes
//!   the leader without a reload: its copies are the device's already (the channel is open
//!   before a tab reads the device, so no announcement is missed: [`Inbox`]); it reads the
//!   refused work and the files again, then connects and syncs what is pending.
//!
//! Without Web Locks every tab is **alone**: its own connection and queue, as before.

use super::{Inner, Link, Replica, SyncState, random_hex};
use crate::services::local;
use crate::services::tabs::{self, Channel};
use rectify_shared::ids::DocumentId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use yew::Callback;

/// What this tab is among the user's tabs on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabRole {
    /// The browser has no Web Locks: this tab syncs on its own.
    Alone,
    /// It holds the lock: it syncs and uploads for every tab.
    Leader,
    /// Another tab leads (or the lock is not granted yet).
    Follower,
}

/// What the tabs of one user tell each other. The data stays in IndexedDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum TabMessage {
    /// These documents' chunks on the device changed: read them again; and, from a
    /// follower, whether its evidence files changed too (announced with the edit that
    /// references them, so the leader never takes a file before its reference).
    Changed { docs: Vec<String>, files: bool },
    /// The leader reset or dropped this document (a refusal, an item no longer ours): read
    /// it again from scratch.
    Reset(String),
    /// Evidence files on the device changed (queued in a follower, uploaded by the leader).
    Files,
    /// The refused work on the device changed.
    Refused,
    /// The leader's status bar.
    Status(Mirror),
    /// The server has `received` bytes of the file the leader sends (shown as it goes: the
    /// device has them only once the file is done).
    Upload { sha256: String, received: u64 },
    /// A follower just started: the leader says its status.
    Hello,
    /// A follower asks the leader to ask the server for the item list again.
    Refresh,
    /// The user logged out in one tab (its logout went ahead: not a refused "clear this
    /// device"): every other tab writes its own edits to the device and leaves too.
    LoggedOut,
}

/// The leader's status bar, as its followers show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Mirror {
    pub state: SyncState,
    /// Changes the server has not acknowledged, per document (those with any).
    pub pending: BTreeMap<String, usize>,
    pub link: Link,
    pub last_synced_ms: Option<f64>,
    pub last_contact_ms: Option<f64>,
}

/// The channel to the user's other tabs, opened before the replica reads the device: what
/// the other tabs announce meanwhile waits here until the replica exists.
pub(super) struct Inbox {
    channel: Option<Channel<TabMessage>>,
    state: Rc<std::cell::RefCell<InboxState>>,
}

#[derive(Default)]
struct InboxState {
    waiting: Vec<TabMessage>,
    replica: Option<Weak<std::cell::RefCell<Inner>>>,
}

impl Inbox {
    pub(super) fn open(user: &str) -> Inbox {
        let state = Rc::new(std::cell::RefCell::new(InboxState::default()));
        let receiving = Rc::clone(&state);
        let channel = Channel::open(
            &format!("rectify-tabs-{user}"),
            Callback::from(move |message| {
                let replica = {
                    let mut state = receiving.borrow_mut();
                    match state.replica.as_ref().map(upgrade) {
                        Some(replica) => replica,
                        None => {
                            state.waiting.push(message);
                            return;
                        }
                    }
                };
                if let Some(replica) = replica {
                    replica.on_tab_message(message);
                }
            }),
        );
        Inbox { channel, state }
    }
}

/// The lock the leader of `user`'s tabs holds.
fn leader_lock(user: &str) -> String {
    format!("rectify-leader-{user}")
}

impl Replica {
    /// Joins the user's other tabs at start: leads at once if the browser grants the lock
    /// (no other tab holds it), else follows until it does. Without Web Locks, syncs alone.
    pub(super) fn join_tabs(&self, inbox: Inbox) {
        let user = self.0.borrow().session.username.clone();
        let tab = random_hex(6);
        {
            let mut inner = self.0.borrow_mut();
            inner.tab = tab.clone();
            inner.channel = inbox.channel.map(Rc::new);
        }
        let weak = Rc::downgrade(&self.0);
        self.uploads().on_files_changed(Callback::from(move |()| {
            let Some(replica) = upgrade(&weak) else {
                return;
            };
            if replica.tab_role() == TabRole::Follower {
                // With the flush of the edit that references the file (see `Changed`).
                replica.0.borrow_mut().files_to_announce = true;
                replica.flush_soon();
            } else {
                replica.tell_tabs(&TabMessage::Files);
            }
        }));
        let weak = Rc::downgrade(&self.0);
        self.uploads()
            .on_progress(Callback::from(move |(sha256, received)| {
                if let Some(replica) = upgrade(&weak) {
                    replica.tell_tabs(&TabMessage::Upload { sha256, received });
                }
            }));
        let has_locks = tabs::has_locks() && self.0.borrow().channel.is_some();
        if !has_locks {
            // Every tab on its own, as before tabs shared a connection.
            let mut inner = self.0.borrow_mut();
            inner.role = TabRole::Alone;
            inner.channel = None;
            drop(inner);
            self.start_syncing();
            return;
        }
        // What other tabs announced while this one read the device, then the rest as it comes.
        let waiting = {
            let mut state = inbox.state.borrow_mut();
            state.replica = Some(Rc::downgrade(&self.0));
            std::mem::take(&mut state.waiting)
        };
        for message in waiting {
            self.on_tab_message(message);
        }
        let tab_lock = tabs::request_lock(&tabs::tab_lock_name(&tab), || {});
        let weak = Rc::downgrade(&self.0);
        let leader_lock = tabs::request_lock(&leader_lock(&user), move || {
            if let Some(replica) = upgrade(&weak) {
                replica.become_leader();
            }
        });
        {
            let mut inner = self.0.borrow_mut();
            inner.role = TabRole::Follower;
            inner.locks = tab_lock.into_iter().chain(leader_lock).collect();
        }
        self.tell_tabs(&TabMessage::Hello);
    }

    /// What this tab is among the user's tabs.
    pub fn tab_role(&self) -> TabRole {
        self.0.borrow().role
    }

    /// The lock was granted: this tab syncs and uploads for all of them from now on.
    fn become_leader(&self) {
        if self.0.borrow().stopped || self.0.borrow().leaving {
            return;
        }
        self.0.borrow_mut().role = TabRole::Leader;
        // The bar is this tab's own from now on (offline, say), not a follower's wait.
        self.notify();
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The documents are the device's already (every change was announced); the
            // refused work and the files' states were the last leader's to write.
            replica.reload_refused().await;
            replica.uploads().reload().await;
            replica.start_syncing();
        });
    }

    /// Starts what only the leader (or a lone tab) runs: compaction, the journal left by
    /// closed tabs, the upload queue and the connection loop.
    fn start_syncing(&self) {
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            replica.compact_all().await;
            replica.replay_journal().await;
            replica.uploads().lead();
            replica.notify();
            replica.run().await;
        });
    }

    /// Tells the other tabs of this user (nothing when alone).
    pub(super) fn tell_tabs(&self, message: &TabMessage) {
        let channel = self.0.borrow().channel.clone();
        if let Some(channel) = channel {
            channel.send(message);
        }
    }

    /// Lets the locks go (log out): another tab of the user may lead.
    pub(super) fn leave_tabs(&self) {
        let (locks, channel) = {
            let mut inner = self.0.borrow_mut();
            (std::mem::take(&mut inner.locks), inner.channel.take())
        };
        for lock in locks {
            lock.release();
        }
        drop(channel);
    }

    fn on_tab_message(&self, message: TabMessage) {
        if self.0.borrow().stopped || self.0.borrow().leaving {
            return;
        }
        let role = self.tab_role();
        let replica = self.clone();
        match message {
            TabMessage::Changed { docs, files } => {
                let ids = docs.iter().filter_map(|id| id.parse().ok()).collect();
                wasm_bindgen_futures::spawn_local(async move {
                    // The documents first: a new file's reference makes them not in sync,
                    // which holds the upload until the server has the reference.
                    replica.reload_documents(ids).await;
                    if files {
                        replica.uploads().reload().await;
                    }
                });
            }
            TabMessage::Reset(id) if role == TabRole::Follower => {
                let Ok(id) = id.parse::<DocumentId>() else {
                    return;
                };
                {
                    let mut inner = self.0.borrow_mut();
                    inner.client.remove_document(&id);
                    inner.items.remove(&id);
                    inner.facts = None;
                    inner.saved.remove(&id);
                    inner.chunks.remove(&id);
                }
                wasm_bindgen_futures::spawn_local(async move {
                    replica.reload_documents(vec![id]).await;
                });
            }
            TabMessage::Reset(_) => {}
            TabMessage::Files => {
                wasm_bindgen_futures::spawn_local(async move { replica.uploads().reload().await });
            }
            TabMessage::Refused => {
                wasm_bindgen_futures::spawn_local(async move { replica.reload_refused().await });
            }
            TabMessage::Status(mirror) if role == TabRole::Follower => {
                self.0.borrow_mut().mirror = Some(mirror);
                self.notify();
            }
            TabMessage::Status(_) => {}
            TabMessage::Upload { sha256, received } if role == TabRole::Follower => {
                self.uploads().show_progress(&sha256, received);
            }
            TabMessage::Upload { .. } => {}
            TabMessage::Hello if role == TabRole::Leader => {
                self.0.borrow_mut().last_mirrored = None;
                self.mirror_status();
            }
            TabMessage::Hello => {}
            TabMessage::Refresh if role == TabRole::Leader => self.refresh(),
            TabMessage::Refresh => {}
            TabMessage::LoggedOut => {
                // Stopped (and the lock not taken) at once: the session is gone.
                self.0.borrow_mut().leaving = true;
                wasm_bindgen_futures::spawn_local(async move {
                    // What this tab has of its own stays on the device, as at any logout.
                    replica.put_away(false).await;
                    let on_logged_out = replica.0.borrow().on_logged_out.clone();
                    on_logged_out.emit(());
                });
            }
        }
    }

    /// Reads documents again from the device, where another tab wrote to them, and merges
    /// them into this tab's copies (Automerge skips the changes it has). The leader then
    /// syncs them.
    pub(super) async fn reload_documents(&self, ids: Vec<DocumentId>) {
        let store = Rc::clone(&self.0.borrow().store);
        let mut merged = false;
        for id in ids {
            let Ok(chunks) = store.load_chunks(&id).await else {
                continue;
            };
            if chunks.is_empty() {
                continue;
            }
            let mut inner = self.0.borrow_mut();
            inner.merge_stored(local::StoredDoc {
                id,
                chunks,
                sync_state: None,
            });
            merged = true;
        }
        if !merged {
            return;
        }
        if self.tab_role() != TabRole::Follower {
            // Sent, and the sync states kept, by the next flush.
            self.flush_soon();
        }
        self.notify();
    }

    /// The refused work and the rescues again from the device (another tab changed them).
    async fn reload_refused(&self) {
        let store = Rc::clone(&self.0.borrow().store);
        let refused = store.get("refused").await;
        let rescues = store.get("rescues").await;
        {
            let mut inner = self.0.borrow_mut();
            if let Ok(refused) = refused {
                inner.refused = refused.unwrap_or_default();
            }
            if let Ok(rescues) = rescues {
                inner.rescues = rescues.unwrap_or_default();
            }
        }
        self.notify();
    }

    /// The leader sends its status bar to the followers when it changed.
    pub(super) fn mirror_status(&self) {
        let mirror = {
            let inner = self.0.borrow();
            if inner.role != TabRole::Leader {
                return;
            }
            Mirror {
                state: inner.shown_state(js_sys::Date::now()),
                pending: (inner.pending.iter())
                    .filter(|(_, n)| **n > 0)
                    .map(|(id, n)| (id.to_string(), *n))
                    .collect(),
                link: inner.link.clone(),
                last_synced_ms: inner.last_synced_ms,
                // To the second, as the bar shows it: not a message per frame.
                last_contact_ms: inner
                    .last_contact_ms
                    .map(|ms| (ms / 1000.0).floor() * 1000.0),
            }
        };
        let changed = {
            let mut inner = self.0.borrow_mut();
            let changed = inner.last_mirrored.as_ref() != Some(&mirror);
            if changed {
                inner.last_mirrored = Some(mirror.clone());
            }
            changed
        };
        if changed {
            self.tell_tabs(&TabMessage::Status(mirror));
        }
    }
}

impl Inner {
    /// Merges a document as stored into this tab's copy (or opens it, when new here). When
    /// this tab had nothing of it left to write, what it now holds is all on the device.
    fn merge_stored(&mut self, stored: local::StoredDoc) {
        let id = stored.id;
        let keys: Vec<String> = stored.chunks.iter().map(|(key, _)| key.clone()).collect();
        let nothing_to_write = !self.dirty.contains(&id) && !self.flushing;
        let Some(doc) = self.client.document_mut(&id) else {
            self.open_stored(stored);
            return;
        };
        let before = doc.get_heads();
        for (_, chunk) in &stored.chunks {
            // A damaged chunk loses only itself; the server has the changes it held.
            let _ = doc.load_incremental(chunk);
        }
        let heads = doc.get_heads();
        if nothing_to_write {
            self.saved.insert(id, heads.clone());
        }
        self.chunks.insert(id, keys);
        if heads != before {
            self.refresh_item(&id);
            self.synced = false;
            if self.role != TabRole::Follower {
                self.dirty.insert(id);
            }
        }
    }

    /// A follower's failure to write its own edit to the device (quota, a broken
    /// IndexedDB): its bar says so, as a leader's does, instead of the leader's status.
    pub(super) fn failed_write(&self) -> Option<&Link> {
        match (&self.role, &self.link) {
            (TabRole::Follower, Link::DeviceWriteFailed(_)) => Some(&self.link),
            _ => None,
        }
    }

    /// The status bar, the leader's when this tab follows.
    pub(super) fn mirrored(&self) -> Option<&Mirror> {
        match self.role {
            TabRole::Follower => self.mirror.as_ref(),
            TabRole::Leader | TabRole::Alone => None,
        }
    }
}

fn upgrade(weak: &Weak<std::cell::RefCell<Inner>>) -> Option<Replica> {
    weak.upgrade().map(Replica)
}
