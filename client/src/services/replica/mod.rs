//! The replica: this device's copy of the user's items, kept in IndexedDB and synced with the
//! server by itself. The protocol is the shared sans-IO [`SyncClient`]; this module is its IO:
//! the device store, the WebSocket, reconnecting, and recovering from refusals.
//!
//! Rules it keeps:
//! - an edit is written to IndexedDB before it counts as made (the pending count and the
//!   item's mark come from what is on disk and what the server acknowledged);
//! - it connects whenever it can: at once on the browser's `online` event, when the tab
//!   becomes visible and when an upload request was answered; otherwise within 2 s (jittered)
//!   while the server answered in the last 10 minutes, probing `HEAD /healthz` once a try
//!   failed, else with exponential backoff and jitter up to 60 s, so a server that refuses
//!   or asked us to wait is not hammered; a token the server no longer accepts stops it;
//! - a change the server refuses is never silently dropped: the document is reset to the
//!   server's copy, the user's own work that is still allowed is re-applied, and the rest
//!   is listed as refused with the text, to copy;
//! - an evidence file's bytes are on the device before its reference is added, and files
//!   upload only while the documents are in sync ([`Uploads`]).
//!
//! One file per job, all of them `impl Replica` (the handle, with the state in [`Inner`]):
//! - this file: the handle, its state and what the UI asks of it, edits, and re-rendering;
//! - [`store`]: the device store: opening stored documents, writing chunks and sync states
//!   before an edit counts, compacting;
//! - [`connection`]: the WebSocket and its loop: connecting, reconnecting with backoff,
//!   waking up on `online` and a visible tab, frames in and out, the item list;
//! - [`recovery`]: refusals: the user's work kept ([`Refused`], the rescues), the reset to the
//!   server's copy, re-applying what is still allowed;
//! - [`facts`]: each item's dashboard facts, cached until an item changes;
//! - [`units`]: the units' names, from the server and kept on the device;
//! - [`evidence`]: adding and removing a unit's evidence files;
//! - [`typing`]: the narrative's typing bursts and their `localStorage` journal;
//! - [`leader`]: several tabs of one user: one leads (syncs and uploads), the others follow.

mod connection;
mod evidence;
mod facts;
mod leader;
mod recovery;
mod store;
mod typing;
mod units;

pub use evidence::Added;
pub use leader::TabRole;
pub use recovery::{RefusalReason, Refused};

/// Why an edit was not made, said in the user's language by [`EditRefused::say`].
#[derive(Debug, Clone, PartialEq)]
pub enum EditRefused {
    /// The item is not on this device.
    NotHere,
    /// The workflow refused it: a signed-off entry, a missing reason, a text too long …
    Refused(rectify_shared::workflow::Refusal),
    /// Anything else (a document this version cannot read), in the model's words.
    Other(String),
}

impl EditRefused {
    pub fn say(&self, lang: crate::i18n::Lang) -> String {
        match self {
            EditRefused::NotHere => crate::i18n::tr(lang, crate::i18n::Msg::ItemNotHere).to_owned(),
            EditRefused::Refused(refusal) => crate::refusals::workflow(lang, refusal),
            EditRefused::Other(text) => text.clone(),
        }
    }
}

/// In English, for logs and for callers with no language at hand.
impl std::fmt::Display for EditRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditRefused::NotHere => f.write_str("this item is not on this device"),
            EditRefused::Refused(refusal) => write!(f, "{refusal}"),
            EditRefused::Other(text) => f.write_str(text),
        }
    }
}

impl From<model::ModelError> for EditRefused {
    fn from(error: model::ModelError) -> Self {
        match error {
            model::ModelError::Refused(refusal) => EditRefused::Refused(refusal),
            other => EditRefused::Other(other.to_string()),
        }
    }
}

use super::local::{self, LocalStore};
use super::uploads::Uploads;
use crate::session::Session;
use automerge::ChangeHash;
use futures::channel::{mpsc, oneshot};
use recovery::Rescue;
use rectify_shared::api::UnitInfo;
use rectify_shared::dashboard::ItemFacts;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::Actor;
use rectify_shared::sync::client::SyncClient;
use rectify_shared::sync::wire::PeerId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use yew::Callback;

/// How the connection to the server stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Link {
    /// No network (the browser says so) or not connected.
    Offline,
    Connecting,
    Connected,
    /// Online but not connected: waiting to try again, or asking whether the server answers.
    Retrying,
    /// The server refused us or failed; we retry later.
    Failed(String),
    /// An edit could not be written to this device's storage (quota, a broken IndexedDB):
    /// it stays in memory, not counted as saved, and is written again at the next flush.
    DeviceWriteFailed(String),
    /// The server no longer accepts the session: log in again (nothing local is lost).
    SessionExpired,
}

/// What the status bar shows: `data-state` of `[data-testid=sync-status]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SyncState {
    Offline,
    Syncing,
    Synced,
    Pending,
    /// The link comes and goes: the server answered lately, we are retrying.
    Unstable,
    Error,
}

impl SyncState {
    pub fn key(self) -> &'static str {
        match self {
            SyncState::Offline => "offline",
            SyncState::Syncing => "syncing",
            SyncState::Synced => "synced",
            SyncState::Pending => "pending",
            SyncState::Unstable => "unstable",
            SyncState::Error => "error",
        }
    }
}

/// One user's replica. Shared by the UI as a [`Replica`] handle.
pub struct Inner {
    session: Session,
    store: Rc<LocalStore>,
    client: SyncClient,
    items: BTreeMap<DocumentId, ItemDoc>,
    /// What the dashboard needs of every item, in the report's order; rebuilt on demand
    /// after any item changed.
    facts: Option<Rc<Vec<ItemFacts>>>,
    /// Every unit's name (from the server, kept on the device for offline use).
    units: Rc<BTreeMap<String, UnitInfo>>,
    /// The heads of what IndexedDB holds, per document.
    saved: BTreeMap<DocumentId, Vec<ChangeHash>>,
    /// Chunk keys in IndexedDB, per document (to compact).
    chunks: BTreeMap<DocumentId, Vec<String>>,
    /// Documents with something not yet written to IndexedDB.
    dirty: BTreeSet<DocumentId>,
    flushing: bool,
    /// Narratives being typed, not yet made a change ([`typing`]).
    typing: typing::Typing,
    /// Ends the next burst; replaced at each keystroke.
    typing_timer: Option<gloo::timers::callback::Timeout>,
    /// Bursts made a change whose journal entry goes once the change is on disk.
    journaled: BTreeSet<typing::Field>,
    /// Changes the server has not acknowledged, per document (on disk already).
    pending: BTreeMap<DocumentId, usize>,
    link: Link,
    /// The server answered `join` and the item list arrived on this connection.
    listed: bool,
    /// Connected, and every document is the same here and on the server.
    synced: bool,
    last_synced_ms: Option<f64>,
    /// When the server last answered anything (a frame, a probe, an upload request).
    last_contact_ms: Option<f64>,
    /// When a connection that had reached the server last dropped, and whether everything
    /// was in sync then (the bar keeps that state for a moment while reconnecting).
    lost_at_ms: Option<f64>,
    synced_when_lost: bool,
    refused: Vec<Refused>,
    rescues: BTreeMap<String, Rescue>,
    /// Documents with rescued work made again since their refusal: refused again, the work
    /// is only listed (see `recovery`).
    reapplied: BTreeSet<DocumentId>,
    outbox: Option<mpsc::UnboundedSender<Vec<u8>>>,
    close: Option<oneshot::Sender<()>>,
    wake: Option<oneshot::Sender<()>>,
    attempt: u32,
    /// The server said "try again later" on this connection (it could not read or store an
    /// item): the next reconnect backs off instead of starting over at once.
    told_to_retry: bool,
    /// The last connection ended with the server asking us to wait: retries keep growing.
    asked_to_wait: bool,
    stopped: bool,
    /// The user logged out in another tab: this one writes its edits and stops.
    leaving: bool,
    /// Tells the app the user logged out in another tab (it shows the login page).
    on_logged_out: Callback<()>,
    /// This user left unsynced work at a logout ([`local::LeftWork`]): the note is cleared
    /// once everything is on the server.
    left_noted: bool,
    stamp: u64,
    uploads: Uploads,
    on_change: Callback<()>,
    /// When the UI was last told to re-render, and whether a call is waiting (see `notify`).
    last_render_ms: f64,
    render_scheduled: bool,
    /// The sync status the UI was last told about.
    last_status: Option<(SyncState, usize)>,
    /// What this tab is among the user's tabs ([`leader`]).
    role: TabRole,
    /// This tab's id: its typing journal's entries carry it.
    tab: String,
    /// To the user's other tabs.
    channel: Option<Rc<crate::services::tabs::Channel<leader::TabMessage>>>,
    /// The locks this tab holds or waits for (its own, the leader's), released at log out.
    locks: Vec<crate::services::tabs::HeldLock>,
    /// A follower's copy of the leader's status bar.
    mirror: Option<leader::Mirror>,
    /// The status the leader last sent its followers.
    last_mirrored: Option<leader::Mirror>,
    /// Journal entries a closed tab left, made again here: removed once on disk, with this
    /// tab's own entry of the field.
    orphans: BTreeMap<typing::Field, Vec<String>>,
    /// A follower's evidence files changed: said with the next flush's announcement.
    files_to_announce: bool,
    /// A follower's next try to write what failed to reach the device (a leader tries
    /// again at its next connection).
    write_retry: Option<gloo::timers::callback::Timeout>,
}

/// A user's work not yet on the server ([`Replica::unsynced`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unsynced {
    pub changes: usize,
    pub files: usize,
    pub refused: usize,
}

impl Unsynced {
    pub fn is_nothing(self) -> bool {
        self == Unsynced::default()
    }
}

/// The shortest time between two re-renders the replica asks for.
const UI_FRAME_MS: f64 = 100.0;

/// The handle the UI holds. Never keep a borrow across an `.await`.
#[derive(Clone)]
pub struct Replica(Rc<RefCell<Inner>>);

impl PartialEq for Replica {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Replica {
    /// Opens the user's copy from IndexedDB and starts syncing. `on_change` is called (never
    /// while the replica is borrowed) whenever anything the UI shows changed;
    /// `on_logged_out` when the user logged out in another tab.
    pub async fn start(
        session: Session,
        on_change: Callback<()>,
        on_logged_out: Callback<()>,
    ) -> Result<Replica, local::StoreError> {
        mark("rectify-local-loading");
        // Before reading the device: what the user's other tabs write meanwhile is announced.
        let inbox = leader::Inbox::open(&session.username);
        let store = Rc::new(LocalStore::open(&session.username).await?);
        local::ask_for_persistent_storage();
        let stored = store.load_documents().await?;
        let refused: Vec<Refused> = store.get("refused").await?.unwrap_or_default();
        let rescues: BTreeMap<String, Rescue> = store.get("rescues").await?.unwrap_or_default();
        let last_synced_ms = store.get("last_synced_ms").await?;
        let units: Vec<UnitInfo> = store.get("units").await?.unwrap_or_default();
        let left_noted = local::left_work().await.contains_key(&session.username);
        let uploads =
            Uploads::start(Rc::clone(&store), session.token.clone(), on_change.clone()).await?;
        let peer = PeerId::new(format!("browser-{}", random_hex(8)));
        let mut inner = Inner {
            session,
            store: Rc::clone(&store),
            client: SyncClient::new(peer, None),
            items: BTreeMap::new(),
            facts: None,
            units: Rc::new(units.into_iter().map(|u| (u.id.0.clone(), u)).collect()),
            saved: BTreeMap::new(),
            chunks: BTreeMap::new(),
            dirty: BTreeSet::new(),
            flushing: false,
            typing: Default::default(),
            typing_timer: None,
            journaled: BTreeSet::new(),
            pending: BTreeMap::new(),
            link: Link::Offline,
            listed: false,
            synced: false,
            last_synced_ms,
            last_contact_ms: None,
            lost_at_ms: None,
            synced_when_lost: false,
            refused,
            rescues,
            reapplied: BTreeSet::new(),
            outbox: None,
            close: None,
            wake: None,
            attempt: 0,
            told_to_retry: false,
            asked_to_wait: false,
            stopped: false,
            leaving: false,
            on_logged_out,
            left_noted,
            stamp: 0,
            uploads,
            on_change,
            last_render_ms: 0.0,
            render_scheduled: false,
            last_status: None,
            role: TabRole::Follower,
            tab: String::new(),
            channel: None,
            locks: Vec::new(),
            mirror: None,
            last_mirrored: None,
            orphans: BTreeMap::new(),
            files_to_announce: false,
            write_retry: None,
        };
        for doc in stored {
            inner.open_stored(doc);
        }
        mark("rectify-local-loaded");
        let replica = Replica(Rc::new(RefCell::new(inner)));
        replica.listen_to_the_browser();
        // Leading (or alone), it compacts, makes the journal's bursts, uploads and connects.
        replica.join_tabs(inbox);
        Ok(replica)
    }

    /// Stops syncing (log out). The data stays on the device.
    pub fn stop(&self) {
        {
            let mut inner = self.0.borrow_mut();
            inner.stopped = true;
            inner.uploads.stop();
            if let Some(close) = inner.close.take() {
                let _ = close.send(());
            }
            if let Some(wake) = inner.wake.take() {
                let _ = wake.send(());
            }
        }
        self.leave_tabs();
    }

    /// Asks the server for the item list again (after the office added an item) and syncs
    /// any new ones.
    pub fn refresh(&self) {
        if self.tab_role() == TabRole::Follower {
            self.tell_tabs(&leader::TabMessage::Refresh);
            return;
        }
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move { replica.refresh_list().await });
    }

    pub fn item(&self, id: &DocumentId) -> Option<ItemDoc> {
        self.0.borrow().items.get(id).cloned()
    }

    /// Concurrent values of a unit's status on an item (empty when there is one).
    pub fn status_conflicts(&self, id: &DocumentId, unit: &str) -> Vec<model::StatusClaim> {
        let mut inner = self.0.borrow_mut();
        inner
            .client
            .document_mut(id)
            .map(|doc| model::status_conflicts(doc, unit))
            .unwrap_or_default()
    }

    /// Changes to item `id` the server has not acknowledged (the leader's count, in a tab
    /// that follows).
    pub fn pending_for(&self, id: &DocumentId) -> usize {
        let inner = self.0.borrow();
        match inner.mirrored() {
            Some(mirror) => mirror.pending.get(&id.to_string()).copied().unwrap_or(0),
            None => inner.pending.get(id).copied().unwrap_or(0),
        }
    }

    pub fn pending_total(&self) -> usize {
        self.0.borrow().pending_total()
    }

    pub fn link(&self) -> Link {
        let inner = self.0.borrow();
        if let Some(failed) = inner.failed_write() {
            return failed.clone();
        }
        match inner.mirrored() {
            Some(mirror) => mirror.link.clone(),
            None => inner.link.clone(),
        }
    }

    pub fn last_synced_ms(&self) -> Option<f64> {
        let inner = self.0.borrow();
        match inner.mirrored() {
            Some(mirror) => mirror.last_synced_ms,
            None => inner.last_synced_ms,
        }
    }

    /// Items we asked the server for and have not received yet (first sync).
    pub fn waiting_for_items(&self) -> usize {
        let inner = self.0.borrow();
        inner
            .client
            .document_ids()
            .filter(|id| !inner.items.contains_key(id))
            .count()
    }

    /// When the server last answered anything.
    pub fn last_contact_ms(&self) -> Option<f64> {
        let inner = self.0.borrow();
        match inner.mirrored() {
            Some(mirror) => mirror.last_contact_ms,
            None => inner.last_contact_ms,
        }
    }

    /// What the bar says: after a cut it keeps its state for a moment while reconnecting,
    /// then says "unstable" while the server answered within the last minute, and offline
    /// only when the browser says so or the server has been silent longer. A tab that
    /// follows shows the leader's state, "syncing" while it has an edit of its own to write.
    pub fn sync_state(&self) -> SyncState {
        let inner = self.0.borrow();
        let own_work = !inner.dirty.is_empty() || !inner.typing.is_empty() || inner.flushing;
        match (inner.role, inner.mirrored()) {
            // This tab's own edit could not be written: said here, whoever leads.
            _ if inner.failed_write().is_some() => SyncState::Error,
            (_, Some(mirror)) if mirror.state == SyncState::Synced && own_work => {
                SyncState::Syncing
            }
            (_, Some(mirror)) => mirror.state,
            // No word from the leader yet (this tab may be waiting for the lock, as a
            // reloaded page does for a moment): with the browser offline, nothing syncs.
            (TabRole::Follower, None) if !connection::browser_online() => {
                if inner.pending.values().sum::<usize>() > 0 {
                    SyncState::Pending
                } else {
                    SyncState::Offline
                }
            }
            (TabRole::Follower, None) => SyncState::Syncing,
            _ => inner.shown_state(js_sys::Date::now()),
        }
    }

    /// Makes an edit as the logged-in user: applied now, on disk next, then sent.
    pub fn edit(&self, id: &DocumentId, edit: ItemEdit) -> Result<(), EditRefused> {
        // A narrative being typed in the item goes first, as its own change.
        self.end_typing(id);
        {
            let mut inner = self.0.borrow_mut();
            let ctx = inner.edit_context();
            let doc = inner.client.document_mut(id).ok_or(EditRefused::NotHere)?;
            model::apply(doc, &ctx, edit)?;
            inner.refresh_item(id);
            inner.dirty.insert(*id);
            inner.synced = false;
        }
        self.notify();
        self.flush_soon();
        Ok(())
    }

    /// The evidence files on this device and their uploads.
    pub fn uploads(&self) -> Uploads {
        self.0.borrow().uploads.clone()
    }

    /// What of this user's work has not reached the server: changes (made, or on disk and
    /// not acknowledged), evidence files still to upload, and refusals not dealt with yet.
    pub fn unsynced(&self) -> Unsynced {
        let inner = self.0.borrow();
        Unsynced {
            changes: inner.pending_total() + inner.dirty.len() + inner.typing.len(),
            files: inner.uploads.waiting(),
            refused: inner.refused.len(),
        }
    }

    /// Logging out: stops syncing and, when work has not reached the server, notes it
    /// device-wide so that the login page and the next user are told (it stays in this
    /// user's part of the store and syncs at their next login here). The user's other tabs
    /// are told, and leave too.
    pub async fn log_out(&self) {
        // Kept past `stop`, which leaves the channel: the tabs are told once the note is
        // written, so a note of theirs is never overwritten by this one.
        let channel = self.0.borrow().channel.clone();
        self.put_away(true).await;
        if let Some(channel) = channel {
            channel.send(&leader::TabMessage::LoggedOut);
        }
    }

    /// What logging out does in this tab (see [`Replica::log_out`]); also when the user
    /// logged out in another tab, which has written the device's note already: then this
    /// tab only adds to it (`sole`: this is the tab the user logged out in).
    async fn put_away(&self, sole: bool) {
        // An edit typed a moment ago goes to disk first: it stays on the device.
        self.end_all_typing();
        self.flush().await;
        let unsynced = self.unsynced();
        let user = self.0.borrow().session.username.clone();
        self.stop();
        let left = (unsynced.changes + unsynced.files > 0).then(|| local::LeftWork {
            changes: unsynced.changes,
            files: unsynced.files,
            at_ms: js_sys::Date::now(),
        });
        if sole || left.is_some() {
            let _ = local::note_left_work(&user, left).await;
        }
    }

    /// Logging out and deleting this user's data from the device; refused (nothing is
    /// deleted) while anything has not reached the server or a refusal is not dealt with.
    pub async fn log_out_and_clear(&self) -> Result<(), Unsynced> {
        let unsynced = self.unsynced();
        if !unsynced.is_nothing() {
            return Err(unsynced);
        }
        let user = self.0.borrow().session.username.clone();
        self.tell_tabs(&leader::TabMessage::LoggedOut);
        self.stop();
        let _ = local::clear_user(&user).await;
        let _ = local::note_left_work(&user, None).await;
        Ok(())
    }

    /// Once everything left at a previous logout has reached the server, the device-wide
    /// note goes.
    fn clear_left_work_once_sent(&self, uploads: &Uploads) {
        let user = {
            let mut inner = self.0.borrow_mut();
            if !inner.left_noted || !inner.synced || uploads.waiting() > 0 {
                return;
            }
            inner.left_noted = false;
            inner.session.username.clone()
        };
        wasm_bindgen_futures::spawn_local(async move {
            let _ = local::note_left_work(&user, None).await;
        });
    }

    fn notify(&self) {
        let (callback, uploads, in_sync) = {
            let inner = self.0.borrow();
            // Everything on disk and acknowledged: the server knows every file reference.
            let in_sync = inner.dirty.is_empty()
                && inner.typing.is_empty()
                && !inner.flushing
                && inner.pending.values().all(|&n| n == 0)
                && inner.link != Link::SessionExpired;
            (inner.on_change.clone(), inner.uploads.clone(), in_sync)
        };
        uploads.set_documents_in_sync(in_sync);
        self.clear_left_work_once_sent(&uploads);
        self.mirror_status();
        // At most one re-render per UI_FRAME_MS for documents changing: a first sync brings
        // thousands of messages, and re-rendering the dashboard after each made that
        // quadratic. The first change after a quiet spell shows at once, a burst shows at its
        // end too (trailing call), and a change of the sync status (an edit waiting, all
        // synced) always shows at once: people and tests read it to know where things are.
        let status = (self.sync_state(), self.pending_total());
        let now = js_sys::Date::now();
        let wait = {
            let mut inner = self.0.borrow_mut();
            let status_changed = inner.last_status != Some(status);
            inner.last_status = Some(status);
            if inner.render_scheduled && !status_changed {
                return;
            }
            let since = now - inner.last_render_ms;
            if since >= UI_FRAME_MS || status_changed {
                inner.last_render_ms = now;
                None
            } else {
                inner.render_scheduled = true;
                Some(UI_FRAME_MS - since)
            }
        };
        match wait {
            None => callback.emit(()),
            Some(wait) => {
                let replica = self.clone();
                gloo::timers::callback::Timeout::new(wait.ceil() as u32, move || {
                    {
                        let mut inner = replica.0.borrow_mut();
                        inner.render_scheduled = false;
                        inner.last_render_ms = js_sys::Date::now();
                    }
                    callback.emit(());
                })
                .forget();
            }
        }
    }
}

impl Inner {
    /// Changes the server has not acknowledged (the leader's count, in a tab that follows).
    fn pending_total(&self) -> usize {
        match self.mirrored() {
            Some(mirror) => mirror.pending.values().sum(),
            None => self.pending.values().sum(),
        }
    }

    fn edit_context(&self) -> EditContext {
        EditContext {
            actor: Actor {
                role: self.session.role,
                unit: self.session.unit.as_deref().map(UnitId::new),
            },
            user: self.session.username.clone(),
            now_ms: js_sys::Date::now() as i64,
        }
    }

    fn refresh_item(&mut self, id: &DocumentId) {
        self.facts = None;
        let loaded = self
            .client
            .document(id)
            .and_then(|doc| ItemDoc::load(doc).ok());
        match loaded {
            Some(item) => {
                self.items.insert(*id, item);
            }
            None => {
                self.items.remove(id);
            }
        }
    }
}

/// A `performance.mark` for whoever times the app from outside; nothing in the app reads it.
/// `rectify-local-loading` (before the device store opens) and `rectify-local-loaded` (every
/// stored document opened) give the bench its open-from-IndexedDB figure (bench/src/browser.rs).
fn mark(name: &str) {
    if let Some(performance) = gloo::utils::window().performance() {
        let _ = performance.mark(name);
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", (js_sys::Math::random() * 256.0) as u8))
        .collect()
}
