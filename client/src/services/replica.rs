//! The replica: this device's copy of the user's items, kept in IndexedDB and synced with the
//! server by itself. The protocol is the shared sans-IO [`SyncClient`]; this file is its IO:
//! the device store, the WebSocket, reconnecting, and recovering from refusals.
//!
//! Rules it keeps:
//! - an edit is written to IndexedDB before it counts as made (the pending count and the
//!   item's mark come from what is on disk and what the server acknowledged);
//! - it connects whenever it can: at once on the browser's `online` event and when the tab
//!   becomes visible, otherwise with exponential backoff and jitter (1 s to 60 s), so a
//!   server that refuses is not hammered; a token the server no longer accepts stops it;
//! - a change the server refuses is never silently dropped: the document is reset to the
//!   server's copy, the user's own work that is still allowed is re-applied, and the rest
//!   is listed as refused with the text, to copy;
//! - an evidence file's bytes are on the device before its reference is added, and files
//!   upload only while the documents are in sync ([`Uploads`]).

use super::local::{self, LocalStore, StoredDoc};
use super::prepare::Prepared;
use super::uploads::{DeviceFile, UploadState, Uploads};
use crate::session::Session;
use automerge::ChangeHash;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo::net::websocket::{Message, futures::WebSocket};
use rectify_shared::api::UnitInfo;
use rectify_shared::dashboard::ItemFacts;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, EvidenceRef, ItemDoc, ItemEdit};
use rectify_shared::policy::Actor;
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::wire::PeerId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use yew::Callback;

/// How the connection to the server stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// No network (the browser says so) or not connected.
    Offline,
    Connecting,
    Connected,
    /// The server refused us or failed; we retry later.
    Failed(String),
    /// The server no longer accepts the session: log in again (nothing local is lost).
    SessionExpired,
}

/// What the status bar shows: `data-state` of `[data-testid=sync-status]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Offline,
    Syncing,
    Synced,
    Pending,
    Error,
}

impl SyncState {
    pub fn key(self) -> &'static str {
        match self {
            SyncState::Offline => "offline",
            SyncState::Syncing => "syncing",
            SyncState::Synced => "synced",
            SyncState::Pending => "pending",
            SyncState::Error => "error",
        }
    }
}

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
struct Rescue {
    item_key: String,
    item_title: String,
    narrative: String,
    ticks: BTreeMap<String, bool>,
    server_message: String,
}

/// What adding a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added,
    /// The unit's evidence already has this file (the same bytes).
    AlreadyThere,
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
    /// Changes the server has not acknowledged, per document (on disk already).
    pending: BTreeMap<DocumentId, usize>,
    link: Link,
    /// The server answered `join` and the item list arrived on this connection.
    listed: bool,
    /// Connected, and every document is the same here and on the server.
    synced: bool,
    last_synced_ms: Option<f64>,
    refused: Vec<Refused>,
    rescues: BTreeMap<String, Rescue>,
    outbox: Option<mpsc::UnboundedSender<Vec<u8>>>,
    close: Option<oneshot::Sender<()>>,
    wake: Option<oneshot::Sender<()>>,
    attempt: u32,
    stopped: bool,
    stamp: u64,
    uploads: Uploads,
    on_change: Callback<()>,
    /// When the UI was last told to re-render, and whether a call is waiting (see `notify`).
    last_render_ms: f64,
    render_scheduled: bool,
    /// The sync status the UI was last told about.
    last_status: Option<(SyncState, usize)>,
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
    /// while the replica is borrowed) whenever anything the UI shows changed.
    pub async fn start(
        session: Session,
        on_change: Callback<()>,
    ) -> Result<Replica, local::StoreError> {
        mark("rectify-local-loading");
        let store = Rc::new(LocalStore::open(&session.username).await?);
        local::ask_for_persistent_storage();
        let stored = store.load_documents().await?;
        let refused: Vec<Refused> = store.get("refused").await?.unwrap_or_default();
        let rescues: BTreeMap<String, Rescue> = store.get("rescues").await?.unwrap_or_default();
        let last_synced_ms = store.get("last_synced_ms").await?;
        let units: Vec<UnitInfo> = store.get("units").await?.unwrap_or_default();
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
            pending: BTreeMap::new(),
            link: Link::Offline,
            listed: false,
            synced: false,
            last_synced_ms,
            refused,
            rescues,
            outbox: None,
            close: None,
            wake: None,
            attempt: 0,
            stopped: false,
            stamp: 0,
            uploads,
            on_change,
            last_render_ms: 0.0,
            render_scheduled: false,
            last_status: None,
        };
        for doc in stored {
            inner.open_stored(doc);
        }
        mark("rectify-local-loaded");
        let replica = Replica(Rc::new(RefCell::new(inner)));
        replica.compact_all().await;
        replica.listen_to_the_browser();
        let connection = replica.clone();
        wasm_bindgen_futures::spawn_local(async move { connection.run().await });
        Ok(replica)
    }

    /// Stops syncing (log out). The data stays on the device.
    pub fn stop(&self) {
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

    /// Every item's facts for the dashboard, computed once per change of any item.
    pub fn facts(&self) -> Rc<Vec<ItemFacts>> {
        let mut inner = self.0.borrow_mut();
        if let Some(facts) = &inner.facts {
            return Rc::clone(facts);
        }
        let mut facts: Vec<(&ItemDoc, ItemFacts)> = inner
            .items
            .iter()
            .map(|(id, item)| (item, ItemFacts::of(&id.to_string(), item)))
            .collect();
        facts.sort_by_key(|(item, _)| (item.area_no, item.problem_no, item.sub_no));
        let facts = Rc::new(facts.into_iter().map(|(_, f)| f).collect::<Vec<_>>());
        inner.facts = Some(Rc::clone(&facts));
        facts
    }

    /// The units the server knows, by id.
    pub fn units(&self) -> Rc<BTreeMap<String, UnitInfo>> {
        Rc::clone(&self.0.borrow().units)
    }

    /// A unit's name, or its id when the name is not known (yet).
    pub fn unit_name(&self, id: &str) -> String {
        self.0
            .borrow()
            .units
            .get(id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    }

    /// Asks the server for the item list again (after the office added an item) and syncs
    /// any new ones.
    pub fn refresh(&self) {
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

    pub fn pending_for(&self, id: &DocumentId) -> usize {
        self.0.borrow().pending.get(id).copied().unwrap_or(0)
    }

    pub fn pending_total(&self) -> usize {
        self.0.borrow().pending.values().sum()
    }

    pub fn link(&self) -> Link {
        self.0.borrow().link.clone()
    }

    pub fn last_synced_ms(&self) -> Option<f64> {
        self.0.borrow().last_synced_ms
    }

    pub fn refused(&self) -> Vec<Refused> {
        self.0.borrow().refused.clone()
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

    pub fn sync_state(&self) -> SyncState {
        let inner = self.0.borrow();
        let pending: usize = inner.pending.values().sum();
        match &inner.link {
            Link::Connected if inner.synced => SyncState::Synced,
            Link::Connected | Link::Connecting if pending == 0 => SyncState::Syncing,
            Link::Connected => SyncState::Syncing,
            Link::Failed(_) | Link::SessionExpired => SyncState::Error,
            _ if pending > 0 => SyncState::Pending,
            _ => SyncState::Offline,
        }
    }

    /// Makes an edit as the logged-in user: applied now, on disk next, then sent.
    pub fn edit(&self, id: &DocumentId, edit: ItemEdit) -> Result<(), String> {
        {
            let mut inner = self.0.borrow_mut();
            let ctx = inner.edit_context();
            let doc = inner
                .client
                .document_mut(id)
                .ok_or_else(|| "this item is not on this device".to_owned())?;
            model::apply(doc, &ctx, edit).map_err(|e| e.to_string())?;
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

    /// Adds a prepared file to a unit's evidence: its bytes go to the device store first,
    /// then the reference is an ordinary edit. A file the unit already has is left alone.
    pub async fn add_evidence(
        &self,
        id: &DocumentId,
        unit: &str,
        file: Prepared,
        caption: String,
    ) -> Result<Added, String> {
        let already = self
            .item(id)
            .and_then(|item| item.progress.get(unit).cloned())
            .is_some_and(|p| p.evidence.iter().any(|e| e.sha256 == file.sha256));
        if already {
            return Ok(Added::AlreadyThere);
        }
        let now = js_sys::Date::now();
        let device_file = DeviceFile {
            sha256: file.sha256.clone(),
            name: file.name.clone(),
            mime: file.mime.clone(),
            size: file.size,
            document: id.to_string(),
            unit: unit.to_owned(),
            upload: UploadState::Queued,
            received: 0,
            added_at_ms: now,
        };
        let uploads = self.uploads();
        let stored_now = uploads
            .store(device_file, &file.blob)
            .await
            .map_err(|e| e.0)?;
        let evidence = EvidenceRef {
            sha256: file.sha256.clone(),
            name: file.name,
            mime: file.mime,
            size: file.size,
            caption,
            added_by: self.0.borrow().session.username.clone(),
            added_at_ms: now as i64,
        };
        let edit = ItemEdit::AddEvidence {
            unit: unit.to_owned(),
            evidence,
        };
        if let Err(err) = self.edit(id, edit) {
            if stored_now {
                uploads.discard_unfinished(&file.sha256).await;
            }
            return Err(err);
        }
        Ok(Added::Added)
    }

    /// Removes a file from a unit's evidence. A file not uploaded yet that nothing on this
    /// device references any more leaves the upload queue and the device.
    pub async fn remove_evidence(
        &self,
        id: &DocumentId,
        unit: &str,
        sha256: &str,
    ) -> Result<(), String> {
        let edit = ItemEdit::RemoveEvidence {
            unit: unit.to_owned(),
            sha256: sha256.to_owned(),
        };
        self.edit(id, edit)?;
        let still_referenced = self.0.borrow().items.values().any(|item| {
            item.progress
                .values()
                .any(|p| p.evidence.iter().any(|e| e.sha256 == sha256))
        });
        if !still_referenced {
            self.uploads().discard_unfinished(sha256).await;
        }
        Ok(())
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

    fn notify(&self) {
        let (callback, uploads, in_sync) = {
            let inner = self.0.borrow();
            // Everything on disk and acknowledged: the server knows every file reference.
            let in_sync = inner.dirty.is_empty()
                && !inner.flushing
                && inner.pending.values().all(|&n| n == 0)
                && inner.link != Link::SessionExpired;
            (inner.on_change.clone(), inner.uploads.clone(), in_sync)
        };
        uploads.set_documents_in_sync(in_sync);
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

    /// Writes every dirty document to IndexedDB, then sends what the server should get.
    fn flush_soon(&self) {
        let replica = self.clone();
        wasm_bindgen_futures::spawn_local(async move { replica.flush().await });
    }

    async fn flush(&self) {
        if std::mem::replace(&mut self.0.borrow_mut().flushing, true) {
            return; // the running flush picks up what is dirty now
        }
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
                let state = inner.client.sync_state(&id).unwrap_or_default();
                (id, chunk, state, heads, stamp, Rc::clone(&inner.store))
            };
            let (id, chunk, state, heads, stamp, store) = work;
            match store.append(&id, chunk.as_deref(), &state, &stamp).await {
                Ok(written) => {
                    let mut inner = self.0.borrow_mut();
                    inner.saved.insert(id, heads);
                    if let Some(key) = written {
                        inner.chunks.entry(id).or_default().push(key);
                    }
                    let unsynced = inner.client.unsynced_changes(&id);
                    inner.pending.insert(id, unsynced);
                }
                Err(err) => {
                    // Quota or a broken store: keep it in memory and dirty, say so, retry later.
                    let mut inner = self.0.borrow_mut();
                    inner.dirty.insert(id);
                    inner.flushing = false;
                    inner.link = Link::Failed(format!("local storage: {}", err.0));
                    drop(inner);
                    self.notify();
                    return;
                }
            }
        }
        self.send_polled();
        self.compact_all().await;
        self.mark_synced_if_quiet().await;
        self.notify();
    }

    /// Rewrites documents stored in too many chunks as one.
    async fn compact_all(&self) {
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

    fn send_polled(&self) {
        let mut inner = self.0.borrow_mut();
        let frames = inner.client.poll();
        inner.send(frames);
    }

    /// The connection loop: runs until log out or an expired session.
    async fn run(&self) {
        loop {
            if self.0.borrow().stopped {
                return;
            }
            if !browser_online() {
                self.set_link(Link::Offline);
                self.wait(None).await;
                continue;
            }
            self.set_link(Link::Connecting);
            let reached = self.connect_once().await;
            {
                let mut inner = self.0.borrow_mut();
                inner.outbox = None;
                inner.close = None;
                inner.listed = false;
                inner.synced = false;
                inner.client.disconnect();
                if matches!(inner.link, Link::Connected | Link::Connecting) {
                    inner.link = Link::Offline;
                }
            }
            self.notify();
            if self.0.borrow().stopped {
                return;
            }
            if !reached && browser_online() {
                // The upgrade failed: a dead server, or one that refuses our token.
                let token = self.0.borrow().session.token.clone();
                if let Err(super::api::ApiFailure::Refused { status: 401, .. }) =
                    super::api::me(&token).await
                {
                    self.set_link(Link::SessionExpired);
                    return;
                }
            }
            let attempt = {
                let mut inner = self.0.borrow_mut();
                if reached {
                    inner.attempt = 0;
                }
                inner.attempt += 1;
                inner.attempt
            };
            self.wait(Some(super::backoff_ms(attempt))).await;
        }
    }

    /// One connection, until it drops. Returns whether the server answered `join`.
    async fn connect_once(&self) -> bool {
        let url = {
            let inner = self.0.borrow();
            sync_url(&inner.session.token)
        };
        let Ok(socket) = WebSocket::open(&url) else {
            return false;
        };
        let (mut sink, mut stream) = socket.split();
        let (outbox, mut outgoing) = mpsc::unbounded::<Vec<u8>>();
        let (close, mut closed) = oneshot::channel::<()>();
        {
            let mut inner = self.0.borrow_mut();
            let join = inner.client.connect();
            let _ = outbox.unbounded_send(join);
            inner.outbox = Some(outbox);
            inner.close = Some(close);
        }
        let writer = async move {
            while let Some(frame) = outgoing.next().await {
                if sink.send(Message::Bytes(frame)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        };
        wasm_bindgen_futures::spawn_local(writer);
        let mut reached = false;
        loop {
            let next = futures::select! {
                message = stream.next().fuse() => message,
                _ = (&mut closed).fuse() => None,
            };
            match next {
                Some(Ok(Message::Bytes(frame))) => {
                    if self.receive(&frame).await {
                        reached = true;
                    }
                }
                Some(Ok(Message::Text(_))) => {}
                Some(Err(_)) | None => break,
            }
        }
        reached
    }

    /// One frame from the server. Returns whether it was the answer to `join`.
    async fn receive(&self, frame: &[u8]) -> bool {
        let (events, joined) = {
            let mut inner = self.0.borrow_mut();
            let (replies, events) = inner.client.receive(frame);
            let joined = events
                .iter()
                .any(|e| matches!(e, ClientEvent::Connected { .. }));
            if joined {
                inner.link = Link::Connected;
                inner.attempt = 0;
            }
            if let Ok(message) = rectify_shared::sync::wire::decode(frame) {
                if let Some(id) = message_document(&message) {
                    inner.dirty.insert(id); // the sync state moved on: keep it
                }
                if is_batch_answer(&message) {
                    // The batched sync may have settled any document still counted as
                    // pending: count them again (and keep their sync states).
                    let waiting: Vec<DocumentId> = inner
                        .pending
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(id, _)| *id)
                        .collect();
                    inner.dirty.extend(waiting);
                }
            }
            inner.send(replies);
            (events, joined)
        };
        if joined {
            self.refresh_list().await;
        }
        for event in events {
            match event {
                ClientEvent::Changed(id) => {
                    let rescue = {
                        let mut inner = self.0.borrow_mut();
                        inner.refresh_item(&id);
                        inner.rescues.remove(&id.to_string())
                    };
                    if let Some(rescue) = rescue {
                        self.reapply(id, rescue).await;
                    }
                }
                ClientEvent::Unavailable(id) => self.lost(id).await,
                ClientEvent::Error {
                    doc: Some(id),
                    message,
                } => self.refused_change(id, message).await,
                ClientEvent::Error { doc: None, message } | ClientEvent::BadFrame(message) => {
                    self.set_link(Link::Failed(message));
                }
                ClientEvent::Connected { .. } => {}
            }
        }
        self.flush().await;
        joined
    }

    /// Asks the server which items are ours, opens new ones and syncs them.
    async fn refresh_list(&self) {
        let token = self.0.borrow().session.token.clone();
        if let Ok(units) = super::api::units(&token).await {
            let store = Rc::clone(&self.0.borrow().store);
            let _ = store.put("units", &units).await;
            self.0.borrow_mut().units =
                Rc::new(units.into_iter().map(|u| (u.id.0.clone(), u)).collect());
        }
        match super::api::items(&token).await {
            Ok(list) => {
                let mut inner = self.0.borrow_mut();
                for summary in list {
                    if let Ok(id) = summary.id.parse::<DocumentId>()
                        && inner.client.document(&id).is_none()
                    {
                        inner.client.open_document(id);
                    }
                }
                inner.listed = true;
                let frames = inner.client.poll();
                inner.send(frames);
            }
            Err(super::api::ApiFailure::Refused { status: 401, .. }) => {
                self.set_link(Link::SessionExpired);
                self.stop();
            }
            Err(_) => self.0.borrow_mut().listed = true,
        }
        self.notify();
    }

    /// Everything is on the server and we have everything: note the time.
    async fn mark_synced_if_quiet(&self) {
        let (store, now) = {
            let mut inner = self.0.borrow_mut();
            let pending: usize = inner.pending.values().sum();
            let ids: Vec<DocumentId> = inner.client.document_ids().copied().collect();
            let all_in_sync = ids.iter().all(|id| inner.client.in_sync(id));
            let synced =
                inner.link == Link::Connected && inner.listed && pending == 0 && all_in_sync;
            let was = std::mem::replace(&mut inner.synced, synced);
            if !synced || was {
                return;
            }
            let now = js_sys::Date::now();
            inner.last_synced_ms = Some(now);
            (Rc::clone(&inner.store), now)
        };
        let _ = store.put("last_synced_ms", &now).await;
        self.notify();
    }

    /// The server has no such document for us: the item was reassigned or deleted.
    async fn lost(&self, id: DocumentId) {
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
    async fn refused_change(&self, id: DocumentId, message: String) {
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
    async fn reapply(&self, id: DocumentId, rescue: Rescue) {
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

    fn set_link(&self, link: Link) {
        self.0.borrow_mut().link = link;
        self.notify();
    }

    /// Waits for `ms` milliseconds, or forever, unless woken (online, tab visible, log out).
    async fn wait(&self, ms: Option<u32>) {
        let (wake, woken) = oneshot::channel::<()>();
        self.0.borrow_mut().wake = Some(wake);
        super::sleep_unless_woken(woken, ms).await;
    }

    fn wake_up(&self) {
        let mut inner = self.0.borrow_mut();
        inner.attempt = 0;
        if let Some(wake) = inner.wake.take() {
            let _ = wake.send(());
        }
    }

    /// `online` and a visible tab reconnect at once; `offline` drops the connection (the
    /// browser knows before the socket times out).
    fn listen_to_the_browser(&self) {
        let window = gloo::utils::window();
        let weak = Rc::downgrade(&self.0);
        let online = gloo::events::EventListener::new(&window, "online", move |_| {
            if let Some(inner) = weak.upgrade() {
                let replica = Replica(inner);
                replica.wake_up();
                replica.uploads().came_online();
            }
        });
        let weak = Rc::downgrade(&self.0);
        let offline = gloo::events::EventListener::new(&window, "offline", move |_| {
            if let Some(inner) = weak.upgrade()
                && let Some(close) = inner.borrow_mut().close.take()
            {
                let _ = close.send(());
            }
        });
        let weak = Rc::downgrade(&self.0);
        let document = gloo::utils::document();
        let visible = gloo::events::EventListener::new(&document, "visibilitychange", move |_| {
            let shown =
                gloo::utils::document().visibility_state() == web_sys::VisibilityState::Visible;
            if shown && let Some(inner) = weak.upgrade() {
                Replica(inner).wake_up();
            }
        });
        // They live as long as the page: a log out stops the loop they wake.
        online.forget();
        offline.forget();
        visible.forget();
    }
}

impl Inner {
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

    /// Opens a stored document.
    fn open_stored(&mut self, stored: StoredDoc) {
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

    fn send(&mut self, frames: Vec<Vec<u8>>) {
        let Some(outbox) = &self.outbox else { return };
        for frame in frames {
            let _ = outbox.unbounded_send(frame);
        }
    }

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

fn message_document(message: &rectify_shared::sync::wire::Message) -> Option<DocumentId> {
    use rectify_shared::sync::wire::Message;
    match message {
        Message::Sync(data) | Message::Request(data) => Some(data.document_id),
        Message::DocUnavailable { document_id, .. } => Some(*document_id),
        Message::Error { document_id, .. } => *document_id,
        _ => None,
    }
}

/// An answer of the batched sync, which settles many documents at once.
fn is_batch_answer(message: &rectify_shared::sync::wire::Message) -> bool {
    use rectify_shared::sync::wire::Message;
    matches!(
        message,
        Message::RectifyHeadsReply { .. } | Message::RectifyApplied { .. }
    )
}

/// A `performance.mark` for whoever times the app from outside; nothing in the app reads it.
/// `rectify-local-loading` (before the device store opens) and `rectify-local-loaded` (every
/// stored document opened) give the bench its open-from-IndexedDB figure (bench/src/browser.rs).
fn mark(name: &str) {
    if let Some(performance) = gloo::utils::window().performance() {
        let _ = performance.mark(name);
    }
}

fn browser_online() -> bool {
    gloo::utils::window().navigator().on_line()
}

/// `ws://host/sync?token=…` (or `wss:` on HTTPS).
fn sync_url(token: &str) -> String {
    let location = gloo::utils::window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let host = location.host().unwrap_or_default();
    let token: String = js_sys::encode_uri_component(token).into();
    format!("{scheme}://{host}/sync?token={token}")
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", (js_sys::Math::random() * 256.0) as u8))
        .collect()
}
