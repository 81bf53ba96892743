//! `GET /sync`: the automerge-repo WebSocket protocol, carried out for the sans-IO
//! [`SyncServer`].
//!
//! Each connection is authenticated before the upgrade, by the `/sync` handler in
//! [`crate::http`] (a bearer token in the `Authorization` header or `?token=`; none or a bad
//! one is refused with 401), which then hands the socket to [`connection`].
//!
//! # Who owns what
//!
//! - The one [`SyncServer`] (behind `core`, a lock held only for CPU work, never across IO)
//!   owns every loaded document, every connection's sync state and the order of frames.
//! - Each connection's task feeds its frames to the core one at a time and carries out the
//!   effects ([`SyncHub::run`]): sends in order, under the lock; storage reads and writes
//!   without it. While a document is being read or written the core queues the frames for
//!   it, so no document waits for another's IO and one document's frames stay in order.
//! - Writes go to the [`Committer`]: one writer, which commits everything queued meanwhile
//!   together (group commit). Order for a change: **persist → memory → send**: the core puts
//!   it into the document, acknowledges it and relays it only when the write has succeeded
//!   ([`SyncServer::persisted`]); a failed write affects only that document's sender.
//! - Outgoing frames go through a bounded queue per connection: a peer that does not read is
//!   disconnected instead of growing the server's memory.
//!
//! Limits ([`SyncSettings`]) are checked before the upgrade, with a clear error: too many
//! connections in all (503) or for one account (429). On shutdown every connection gets a
//! close frame (1001, going away) after what it was already sent; nothing accepted is lost,
//! because nothing is acknowledged before it is durable.

use crate::accounts;
use crate::arrivals;
use crate::audit;
use crate::campaigns::item_record;
use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::feed::{ChangeFeed, FeedEvent, NoFeed};
use crate::metrics::{Metrics, count};
use crate::schema_v2;
use crate::storage::{
    CampaignRecord, Committer, QuarantineRecord, Storage, StorageError, StorageResult, UserRecord,
    Write,
};
use automerge::{AutoCommit, Change, ChangeHash};
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, close_code};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand_core::{OsRng, RngCore};
use rectify_shared::gate::{Peer, PolicyGate};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model::v2::migrate::migrated_to;
use rectify_shared::model::v2::{UNIT_WORK_KIND, carry};
use rectify_shared::model::{self, CampaignDoc, ItemDoc};
use rectify_shared::policy::{Actor, Need, Role, can_read_item};
use rectify_shared::sync::core::{ConnId, Effect, GateRefusal, SyncServer};
use rectify_shared::sync::replicas;
use rectify_shared::sync::wire::{CLOSE_LOG_IN_AGAIN, MAX_FRAME_BYTES, PeerId, StorageId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard, Notify, RwLock, mpsc, watch};

/// The socket read buffer of one connection (set by the `/sync` upgrade in [`crate::http`]).
pub const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Storage reads one frame may have in flight at once (a heads summary names many documents).
const LOADS_PER_FRAME: usize = 8;

/// An item's units and its department, as the index stores them: who may read it.
type ItemReaders = (Vec<String>, Option<String>);

/// Frames (or batch entries) of one connection that may wait in the core for documents
/// being loaded or written before the server stops reading that connection.
const MAX_WAITING_PER_CONNECTION: usize = 64;

/// How often an idle connection is pinged.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// The sync server's limits and housekeeping.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Sync connections open at once, over all accounts.
    pub max_connections: usize,
    /// Sync connections open at once for one account (a phone, a laptop, a few tabs).
    pub max_connections_per_user: usize,
    /// A document no frame has touched for about this long is dropped from memory.
    pub idle_document_after: Duration,
    /// A document stored in this many chunks or more is compacted into one in the background.
    pub compact_at_chunks: usize,
    /// Frames waiting for a slow reader before it is disconnected.
    pub outgoing_queue: usize,
    /// Frames worked on at once, over all connections (each may hold a copy of a document
    /// with its changes applied while they are written, and reads in flight): what bounds the
    /// server's memory when a hundred schools reconnect at once.
    pub frames_at_once: usize,
    /// How the servers sharing the database hear of each other's writes and logouts
    /// ([`crate::storage::change_feed`]); nothing by default (one server alone).
    pub feed: Arc<dyn ChangeFeed>,
    /// With a shared database, how often the loaded documents' versions are compared with
    /// storage, for notifications that were lost.
    pub catch_up_every: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            max_connections: 2000,
            max_connections_per_user: 16,
            idle_document_after: Duration::from_secs(60),
            compact_at_chunks: 32,
            outgoing_queue: 1024,
            frames_at_once: 16,
            feed: Arc::new(NoFeed),
            catch_up_every: Duration::from_secs(2),
        }
    }
}

/// The sync server and the connections' outgoing queues.
pub struct SyncHub {
    core: Mutex<SyncServer<PolicyGate>>,
    storage: Arc<dyn Storage>,
    /// The one writer of sync changes (group commit).
    committer: Committer,
    /// Held (shared) by every frame from start to finish, IO included, and taken alone by
    /// [`SyncHub::write_beside`]: a write beside the core never meets a sync write in flight.
    beside: RwLock<()>,
    /// One permit per frame being worked on ([`SyncSettings::frames_at_once`]).
    frames: tokio::sync::Semaphore,
    outgoing: Mutex<HashMap<ConnId, Outgoing>>,
    /// Each connection's account and session (its token's hash).
    usernames: Mutex<HashMap<ConnId, (Username, String)>>,
    next_conn: AtomicU64,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
    /// Open connections per account, counted before the upgrade (see [`ConnectionSlot`]).
    open: std::sync::Mutex<HashMap<Username, usize>>,
    /// Set once on shutdown; every connection watches it.
    closing: watch::Sender<bool>,
    /// The clock mark of the previous eviction sweep.
    eviction_mark: Mutex<u64>,
    /// The stored version ([`Storage::document_versions`]) each loaded document's bytes are
    /// at: set when it is loaded, written or caught up, always under the core's lock. A write
    /// appends only on top of it, so a copy behind another server's writes never writes (see
    /// [`SyncHub::catch_up`]).
    versions: std::sync::Mutex<HashMap<DocumentId, i64>>,
    /// Each document's heads at a stored version, for the idle-reconnect digest
    /// ([`SyncHub::readable_heads`]): a document is read and parsed once per version, not at
    /// every reconnect of everyone who reads it. An entry is used only while storage is still
    /// at its version, so a write anywhere (this server, another, an import) makes it miss.
    stored_heads: std::sync::Mutex<HashMap<DocumentId, (i64, Vec<ChangeHash>)>>,
}

/// A connection's outgoing queue, and how to tell it to stop at once.
struct Outgoing {
    queue: mpsc::Sender<WsMessage>,
    /// Notified when the server drops the connection (a peer that does not read, a failed
    /// write): its task stops without waiting for the peer or for its queue to drain.
    kick: Arc<Notify>,
    /// Notified when the account's sessions end ([`SyncHub::close_account`]): its task stops
    /// reading at once and lets the close frame queued before go out.
    end: Arc<Notify>,
}

impl Outgoing {
    fn kick(self) {
        self.kick.notify_one();
    }
}

/// A connection counted against the limits; gives its place back when dropped.
pub struct ConnectionSlot {
    hub: Arc<SyncHub>,
    username: Username,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.username) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.username);
            }
        }
        self.hub.metrics.connections.dec();
    }
}

impl std::fmt::Debug for SyncHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHub").finish_non_exhaustive()
    }
}

impl SyncHub {
    /// The hub, with the server's peer and storage ids from storage (made on first start).
    pub async fn open(
        storage: Arc<dyn Storage>,
        settings: SyncSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<SyncHub> {
        let random = || {
            let mut bytes = [0u8; 16];
            OsRng.fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let peer_id = storage
            .init_meta("peer_id", &format!("rectify-server-{}", random()))
            .await?;
        let storage_id = storage.init_meta("storage_id", &random()).await?;
        Ok(SyncHub {
            core: Mutex::new(SyncServer::new(
                PeerId::new(peer_id),
                StorageId::new(storage_id),
                PolicyGate::default(),
            )),
            committer: Committer::start(Arc::clone(&storage), 256, 4096),
            storage,
            beside: RwLock::new(()),
            frames: tokio::sync::Semaphore::new(settings.frames_at_once.max(1)),
            outgoing: Mutex::new(HashMap::new()),
            usernames: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            settings,
            metrics,
            open: std::sync::Mutex::new(HashMap::new()),
            closing: watch::Sender::new(false),
            eviction_mark: Mutex::new(0),
            versions: std::sync::Mutex::new(HashMap::new()),
            stored_heads: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Starts hearing the other servers on the database (their writes, ended sessions) and,
    /// when the database is shared, comparing versions every
    /// [`SyncSettings::catch_up_every`]; both stop when the hub is dropped.
    pub fn start_feed(self: &Arc<Self>) {
        let mut events = self.settings.feed.subscribe();
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Some(hub) = hub.upgrade() else {
                    return;
                };
                hub.heard(event);
            }
        });
        if !self.settings.feed.shared() {
            return;
        }
        let hub = Arc::downgrade(self);
        let every = self.settings.catch_up_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(hub) = hub.upgrade() else {
                    return;
                };
                hub.catch_up_all().await;
            }
        });
    }

    /// One event from the feed, acted on in a task of its own (the feed keeps being read).
    fn heard(self: &Arc<Self>, event: FeedEvent) {
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            match event {
                FeedEvent::Document { doc, version } => hub.catch_up(doc, Some(version)).await,
                FeedEvent::AccountEnded(username) => {
                    hub.close_here(|(name, _)| *name == username).await;
                }
                FeedEvent::SessionEnded(token_hash) => {
                    hub.close_here(|(_, session)| *session == token_hash).await;
                }
                FeedEvent::Resumed => hub.catch_up_all().await,
            }
        });
    }

    /// Keeps the versions of the documents the core still keeps state for: those in memory,
    /// and those out of memory that peers have open, so that the sweep ([`Self::catch_up_all`])
    /// also finds those another server wrote when the notification was lost.
    fn forget_versions(&self, core: &SyncServer<PolicyGate>) {
        self.versions().retain(|doc, _| core.is_open(doc));
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, i64>> {
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the loaded copy of `doc` up to what storage holds, when another server wrote it
    /// (`heard`: the version a notification named, if any): reads the chunks above the
    /// version held, hands the raw changes to the core ([`SyncServer::apply_stored`]), which
    /// sends its open peers what they lack. A document out of memory that peers still have
    /// open is loaded afresh and pushed to them ([`SyncServer::refresh`]). Nothing when it is
    /// up to date, or open nowhere here. Safe to run twice at once: the second finds the
    /// version moved and stops.
    pub async fn catch_up(self: &Arc<Self>, doc: DocumentId, heard: Option<i64>) {
        let _frame = self.beside.read().await;
        let held = {
            let mut core = self.core.lock().await;
            if core.document(&doc).is_none() {
                // Not loaded here: loaded afresh for the peers that have it open, if any (one
                // still loading is looked at again by the sweep once it is loaded).
                let effects = core.refresh(doc);
                if !effects.is_empty() {
                    self.run(core, effects).await;
                } else if heard == Some(1) {
                    // A document another replica has just created (its first append): its
                    // readers here learn of it now. (Readers changed on a document nobody has
                    // loaded here are learnt at their next reconnect.)
                    drop(core);
                    let readers = self.readers_of(&[doc]).await;
                    if !readers.is_empty() {
                        let core = self.core.lock().await;
                        self.announce_to(core, readers).await;
                    }
                }
                return;
            }
            // None: loaded as absent from storage, which is version 0.
            self.versions().get(&doc).copied().unwrap_or(0)
        };
        if heard.is_some_and(|version| version <= held) {
            return;
        }
        let (version, bytes) = match self.read_above(doc, held).await {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(err) => {
                // The next notification or sweep tries again.
                tracing::warn!(%doc, error = %err, "cannot catch up with a document");
                self.metrics.storage_errors.inc();
                return;
            }
        };
        let mut core = self.core.lock().await;
        if self.versions().get(&doc).copied().unwrap_or(0) != held {
            return; // written or caught up meanwhile
        }
        // `None`: a write of its own is in flight (storage refuses it as outdated, and the
        // refusal catches up), or it left memory meanwhile.
        if let Some(effects) = core.apply_stored(doc, &bytes) {
            if let Some(current) = core.document(&doc) {
                core.gate().note_v2(&doc, current);
            }
            self.versions().insert(doc, version);
            self.metrics.documents_caught_up.inc();
            self.run(core, effects).await;
        }
    }

    /// The stored version of `doc` and its chunks above `held` (concatenated), or `None` when
    /// it is not above `held`. The version is read first, then the chunks: they hold at least
    /// that version.
    async fn read_above(
        &self,
        doc: DocumentId,
        held: i64,
    ) -> StorageResult<Option<(i64, Vec<u8>)>> {
        let stored = self.storage.document_versions(&[doc]).await?;
        let Some(&version) = stored.get(&doc) else {
            return Ok(None);
        };
        if version <= held {
            return Ok(None);
        }
        let chunks = self.storage.chunks_after(&doc, held).await?;
        Ok(Some((version, chunks.concat())))
    }

    /// With a shared database: the loaded copies of the documents `frame` carries changes for
    /// are brought up to storage before the core judges it. A client may pass on changes it
    /// got from another replica; a copy behind them would take them for the sender's own and
    /// refuse an honest client ([`replicas`]). One version read per frame with changes.
    async fn fresh_before_judging(self: &Arc<Self>, frame: &[u8]) {
        let held: Vec<(DocumentId, i64)> = {
            let versions = self.versions();
            replicas::changed_documents(frame)
                .into_iter()
                .filter_map(|doc| versions.get(&doc).map(|version| (doc, *version)))
                .collect()
        };
        // Not loaded here: the core loads them from storage, current. On a read error the
        // frame is judged on the copy as it is; a write from it would be refused as outdated.
        if !held.is_empty() {
            self.catch_up_behind(&held).await;
        }
    }

    /// Catches up those of `held` (document, version in memory) that storage has newer;
    /// false when the versions could not be read (logged and counted).
    async fn catch_up_behind(self: &Arc<Self>, held: &[(DocumentId, i64)]) -> bool {
        let ids: Vec<DocumentId> = held.iter().map(|(doc, _)| *doc).collect();
        let stored = match self.storage.document_versions(&ids).await {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(error = %err, "cannot compare document versions");
                self.metrics.storage_errors.inc();
                return false;
            }
        };
        for (doc, version) in held {
            if stored.get(doc).is_some_and(|stored| stored > version) {
                self.catch_up(*doc, None).await;
            }
        }
        true
    }

    /// Compares every loaded document's version with storage and catches up those behind:
    /// what a lost notification costs is a delay of up to [`SyncSettings::catch_up_every`].
    pub async fn catch_up_all(self: &Arc<Self>) {
        let held: Vec<(DocumentId, i64)> = self
            .versions()
            .iter()
            .map(|(doc, version)| (*doc, *version))
            .collect();
        for part in held.chunks(1000) {
            if !self.catch_up_behind(part).await {
                return;
            }
        }
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Counts a new connection for `username`, or says which limit it would break.
    pub fn reserve(self: &Arc<Self>, username: &Username) -> Result<ConnectionSlot, ApiError> {
        if *self.closing.borrow() {
            return Err(ApiError::Unavailable(Said::new(
                "服务器正在关闭，请稍后重新连接",
                "the server is shutting down; reconnect in a moment",
            )));
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(username).copied().unwrap_or(0);
        if total >= self.settings.max_connections {
            self.metrics.connections_refused.inc();
            return Err(ApiError::Unavailable(Said::new(
                "服务器的同步连接已满，请稍后再试",
                format!(
                    "the server has its maximum of {} sync connections open; try again later",
                    self.settings.max_connections
                ),
            )));
        }
        if mine >= self.settings.max_connections_per_user {
            self.metrics.connections_refused.inc();
            return Err(ApiError::TooManyRequests(Said::new(
                format!(
                    "账号“{username}”已打开 {mine} 个同步连接（上限）：请关掉其他设备或标签页上的应用"
                ),
                format!(
                    "account '{username}' already has {mine} sync connections open (the limit); \
                     close the app on another device or tab"
                ),
            )));
        }
        *open.entry(username.clone()).or_insert(0) += 1;
        self.metrics.connections.inc();
        Ok(ConnectionSlot {
            hub: Arc::clone(self),
            username: username.clone(),
        })
    }

    /// Ends every sync connection of `username` at once (its sessions ended: disabled,
    /// logged out, a new password): each gets a close frame with
    /// [`CLOSE_LOG_IN_AGAIN`] after what it was already sent, and no frame it sends after
    /// this is read. Returns how many were open.
    ///
    /// The other servers on the database are told to close theirs too (through the feed).
    pub async fn close_account(&self, username: &Username) -> usize {
        self.tell_others(FeedEvent::AccountEnded(username.clone()))
            .await;
        self.close_here(|(name, _)| name == username).await
    }

    /// [`Self::close_account`] for the connections of one session (logged out on a device).
    pub async fn close_session(&self, token_hash: &str) -> usize {
        self.tell_others(FeedEvent::SessionEnded(token_hash.to_owned()))
            .await;
        self.close_here(|(_, session)| session == token_hash).await
    }

    /// Publishes an ended session on the feed. Should that fail, the other servers' open
    /// connections of it stay open until they reconnect (every new connection and request
    /// checks the session in storage): said in the log.
    async fn tell_others(&self, event: FeedEvent) {
        if let Err(err) = self.settings.feed.publish(&event).await {
            tracing::error!(
                error = format!("{err:#}"),
                ?event,
                "cannot tell the other servers that sessions ended"
            );
        }
    }

    /// Closes this server's connections whose (account, session) `whose` picks.
    async fn close_here(&self, whose: impl Fn(&(Username, String)) -> bool) -> usize {
        let conns: Vec<(ConnId, Username)> = self
            .usernames
            .lock()
            .await
            .iter()
            .filter(|(_, owner)| whose(owner))
            .map(|(conn, (name, _))| (*conn, name.clone()))
            .collect();
        let mut closed = 0;
        for (conn, username) in conns {
            let frame = close_frame(
                CLOSE_LOG_IN_AGAIN,
                "the session has ended (logged out, disabled or a new password): log in again",
            );
            self.send(conn, frame).await;
            if let Some(outgoing) = self.outgoing.lock().await.remove(&conn) {
                outgoing.end.notify_one();
                closed += 1;
                tracing::info!(conn = conn.0, user = %username, "sync connection closed: session ended");
            }
        }
        closed
    }

    /// Tells every connection to close (after what it was already sent) and refuses new ones.
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Waits (at most `limit`) until every connection has closed. True when all did.
    pub async fn wait_closed(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Drops from memory the documents no frame touched since the previous sweep, and updates
    /// the gauge. Called every [`SyncSettings::idle_document_after`].
    pub async fn evict_idle(&self) -> usize {
        let mut core = self.core.lock().await;
        let mut mark = self.eviction_mark.lock().await;
        let evicted = core.evict_idle(*mark);
        *mark = core.clock() + 1;
        self.forget_versions(&core);
        self.metrics.documents_evicted.inc_by(count(evicted));
        self.metrics
            .documents_loaded
            .set(i64::try_from(core.loaded_documents().count()).unwrap_or(i64::MAX));
        evicted
    }

    /// Runs `write`, which writes stored documents beside the sync server (an import that
    /// updates a campaign's items), with syncing paused, then drops every document from
    /// memory so each is read again from storage when next used. Otherwise the in-memory
    /// copies would hide the write from their peers until they went idle, and each change
    /// synced meanwhile would rewrite the item's index row from the stale copy. Everything in
    /// memory is already persisted, so dropping it loses nothing.
    pub async fn write_beside<T>(&self, write: impl Future<Output = T>) -> T {
        // Waits for every frame in progress (and its writes) to finish, and holds new ones.
        let _alone = self.beside.write().await;
        // Work that frames set off may still be reading or writing (see `run`): it goes on
        // without new frames, so it ends.
        let mut core = loop {
            let core = self.core.lock().await;
            if core.busy_documents() == 0 {
                break core;
            }
            drop(core);
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let out = write.await;
        core.forget_absent();
        let everything = core.clock() + 1;
        let evicted = core.evict_idle(everything);
        self.forget_versions(&core);
        self.metrics.documents_evicted.inc_by(count(evicted));
        self.metrics
            .documents_loaded
            .set(i64::try_from(core.loaded_documents().count()).unwrap_or(i64::MAX));
        out
    }

    /// Sends the peers that have `docs` open what a write beside the core changed in them
    /// ([`SyncServer::refresh`]), so an office's open page shows an import at once. Call after
    /// [`Self::write_beside`].
    pub async fn refresh(self: &Arc<Self>, docs: &[DocumentId]) {
        let _frame = self.beside.read().await;
        let mut core = self.core.lock().await;
        let effects: Vec<Effect> = docs.iter().flat_map(|doc| core.refresh(*doc)).collect();
        self.run(core, effects).await;
    }

    /// Tells the peers that may now read `docs` (made or re-planned beside the core: an import,
    /// an item added over HTTP, a new document another replica stored) and do not have them
    /// open to ask for their list again: one `rectify-list-changed` per connection however
    /// many documents ([`SyncServer::announce`]). Who may read is the stored index's answer
    /// (the document need not be loaded): an item's units and department, and for a document
    /// the index has no item row for (a campaign), those who oversee. A read error announces
    /// nothing: the next reconnect lists the items anyway.
    pub async fn announce(self: &Arc<Self>, docs: &[DocumentId]) {
        let _frame = self.beside.read().await;
        let readers = self.readers_of(docs).await;
        if !readers.is_empty() {
            let core = self.core.lock().await;
            self.announce_to(core, readers).await;
        }
    }

    /// Who may read each of `docs` by the stored index: an item's units and department; a
    /// unit-work document's unit while assigned and the item's department (schema version 2,
    /// `UnitWorkDoc::may_read`); `None` when the index has neither of that id (a campaign).
    /// Documents it cannot read are left out.
    async fn readers_of(&self, docs: &[DocumentId]) -> Vec<(DocumentId, Option<ItemReaders>)> {
        let mut readers = Vec::with_capacity(docs.len());
        for doc in docs {
            match self.readers_of_one(doc).await {
                Ok(found) => readers.push((*doc, found)),
                Err(err) => {
                    tracing::warn!(%doc, error = %err, "cannot tell who may read a new document");
                    self.metrics.storage_errors.inc();
                }
            }
        }
        readers
    }

    async fn readers_of_one(&self, doc: &DocumentId) -> StorageResult<Option<ItemReaders>> {
        if let Some(item) = self.storage.item(doc).await? {
            return Ok(Some((item.units, item.department)));
        }
        Ok(self.storage.unit_work(doc).await?.map(|work| {
            let units = if work.assigned {
                vec![work.unit]
            } else {
                Vec::new()
            };
            (units, work.department)
        }))
    }

    async fn announce_to(
        self: &Arc<Self>,
        mut core: MutexGuard<'_, SyncServer<PolicyGate>>,
        readers: Vec<(DocumentId, Option<ItemReaders>)>,
    ) {
        let mut told = HashSet::new();
        let mut effects = Vec::new();
        for (doc, item) in readers {
            let may_read = |peer: &Peer| match &item {
                Some((units, department)) => {
                    can_read_item(&peer.actor, units, department.as_deref())
                }
                None => Need::Oversee.allows(peer.actor.role),
            };
            for effect in core.announce(doc, may_read) {
                // Every notice is the same frame: one per connection is enough.
                if let Effect::Send { conn, .. } = &effect
                    && !told.insert(*conn)
                {
                    continue;
                }
                effects.push(effect);
            }
        }
        self.run(core, effects).await;
    }

    /// Documents in memory now (waits for the core).
    pub async fn loaded_documents(&self) -> usize {
        self.core.lock().await.loaded_documents().count()
    }

    /// Documents in memory now, or `None` when the core is busy: a scrape of `/metrics`
    /// never waits for syncing (the sweep keeps the gauge current anyway).
    pub fn loaded_documents_if_free(&self) -> Option<usize> {
        Some(self.core.try_lock().ok()?.loaded_documents().count())
    }

    /// Feeds one frame to the core and carries out what it says.
    async fn receive(self: &Arc<Self>, conn: ConnId, bytes: &[u8]) {
        let started = Instant::now();
        self.metrics.bytes_in.inc_by(count(bytes.len()));
        if self.settings.feed.shared() {
            // Before `beside` is taken: catching up takes it too.
            self.fresh_before_judging(bytes).await;
        }
        let _frame = self.beside.read().await;
        // Never closed, so this always gets a permit.
        let _permit = self.frames.acquire().await;
        let mut core = self.core.lock().await;
        let effects = core.receive(conn, bytes);
        self.run(core, effects).await;
        // The documents_loaded gauge is set at each scrape and sweep, not here: counting the
        // loaded documents would cost O(documents) on every frame, under the lock.
        self.metrics
            .sync_latency
            .observe(started.elapsed().as_secs_f64());
    }

    /// Carries out a frame's effects: sends in order, under the lock they were made under;
    /// storage IO without it (so no document waits for another's IO). Returns when the
    /// frame's own IO is done.
    ///
    /// What finishing an IO sets off is carried out by a task of its own ([`Then::CarryOut`]):
    /// a persisted write releases the frames other connections queued for that document,
    /// which may start the next write, and so on while the document is busy. Carried out
    /// here, that chain would keep this connection from reading its own next frame.
    ///
    /// Sending while a `Persist` is in flight is safe: the core puts changes into a document
    /// only in [`SyncServer::persisted`], so nothing sent before can reveal them. Writes go
    /// through the [`Committer`] (one writer, group commit); at most [`LOADS_PER_FRAME`]
    /// reads are in flight per frame.
    async fn run(
        self: &Arc<Self>,
        core: MutexGuard<'_, SyncServer<PolicyGate>>,
        effects: Vec<Effect>,
    ) {
        let own = self.dispatch(core, effects).await;
        let follow_ups = self.carry_out(own, Then::Return).await;
        if !follow_ups.is_empty() {
            let hub = Arc::clone(self);
            tokio::spawn(async move { hub.carry_out(follow_ups, Then::CarryOut).await });
        }
    }

    /// Sends what `effects` say to send, under `core` (the guard they were made under), and
    /// returns their storage IO, to be done without the lock.
    async fn dispatch(
        &self,
        core: MutexGuard<'_, SyncServer<PolicyGate>>,
        effects: Vec<Effect>,
    ) -> Vec<Io> {
        let mut ios = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send { conn, bytes } => {
                    self.metrics.bytes_out.inc_by(count(bytes.len()));
                    self.send(conn, WsMessage::Binary(bytes.into())).await;
                }
                Effect::Close {
                    conn,
                    reason,
                    retry_later,
                } => self.close(conn, &reason, retry_later).await,
                Effect::LoadDocument { doc } => ios.push(Io::Load(doc)),
                Effect::ReadableHeads { conn } => {
                    // A connection gone meanwhile needs no answer.
                    if let Some(peer) = core.peer_info(conn) {
                        ios.push(Io::ReadableHeads(conn, peer.clone()));
                    }
                }
                Effect::Persist { doc, chunk, hashes } => {
                    // Evidence the change newly references: who may name a file depends on
                    // who uploaded it, which is looked up (without the lock) before writing.
                    let references = core
                        .heads_being_written(&doc)
                        .map(|heads| core.gate().take_new_references(&doc, heads))
                        .unwrap_or_default();
                    // A sender gone meanwhile cannot be checked: its change is not written
                    // (it sends it again when it reconnects, and is checked then).
                    let check = (!references.is_empty())
                        .then(|| (core.peer_writing(&doc).cloned(), references));
                    // Appended only on top of the version this copy holds (0: new).
                    let version = self.versions().get(&doc).copied().unwrap_or(0);
                    let batch = persist_batch(&core, doc, chunk, &hashes, version, now_ms());
                    ios.push(Io::Persist {
                        doc,
                        changes: hashes.len(),
                        version,
                        batch,
                        check,
                    });
                }
                Effect::CarryOver {
                    conn: _,
                    doc,
                    chunk,
                    hashes,
                } => {
                    // The document as stored, and the changes (in order) on top of it.
                    let carry = match (core.document(&doc), core.document_being_written(&doc)) {
                        (Some(before), Some(after)) => {
                            let mut v1 = before.clone();
                            let changes = after.clone().get_changes(&v1.get_heads());
                            (core.peer_writing(&doc).cloned()).map(|peer| CarryIo {
                                v1,
                                changes,
                                peer,
                            })
                        }
                        _ => None,
                    };
                    ios.push(Io::CarryOver {
                        doc,
                        version: self.versions().get(&doc).copied().unwrap_or(0),
                        chunk,
                        hashes,
                        // `None`: the sender has gone (it sends them again on reconnect).
                        carry: carry.map(Box::new),
                    });
                }
                Effect::Quarantine {
                    conn,
                    doc,
                    reason,
                    change_bytes,
                    then_send,
                } => {
                    let record = self
                        .quarantine_record(conn, doc, reason, change_bytes)
                        .await;
                    ios.push(Io::Quarantine {
                        record,
                        conn,
                        then_send,
                    });
                }
            }
        }
        drop(core);
        ios
    }

    /// Does `ios` (at most [`LOADS_PER_FRAME`] reads at a time), tells the core how each
    /// went and sends what it answers. The IO that sets off is carried out here too, or
    /// returned ([`Then`]).
    async fn carry_out(self: &Arc<Self>, ios: Vec<Io>, then: Then) -> Vec<Io> {
        let mut in_flight = FuturesUnordered::new();
        let mut loads: VecDeque<DocumentId> = VecDeque::new();
        let mut returned = Vec::new();
        let mut fresh = ios;
        loop {
            for io in fresh.drain(..) {
                match io {
                    Io::Load(doc) => loads.push_back(doc),
                    other => in_flight.push(self.io(other)),
                }
            }
            while in_flight.len() < LOADS_PER_FRAME
                && let Some(doc) = loads.pop_front()
            {
                in_flight.push(self.io(Io::Load(doc)));
            }
            let Some(done) = in_flight.next().await else {
                return returned;
            };
            let mut core = self.core.lock().await;
            let effects = self.finish(&mut core, done);
            let more = self.dispatch(core, effects).await;
            match then {
                Then::CarryOut => fresh = more,
                Then::Return => returned.extend(more),
            }
        }
    }

    /// Carries out one storage operation (without the core's lock).
    async fn io(&self, io: Io) -> Done {
        match io {
            Io::Load(doc) => {
                // The version first, then the chunks: they hold at least that version (a
                // chunk appended in between is read again by the next catch-up, harmlessly).
                let read = async {
                    let version = self.storage.document_versions(&[doc]).await?;
                    let chunks = self.storage.document_chunks(&doc).await?;
                    let version = version.get(&doc).copied().unwrap_or(0);
                    StorageResult::Ok(chunks.map(|chunks| (version, chunks.concat())))
                };
                Done::Loaded(doc, read.await)
            }
            Io::Persist {
                doc,
                changes,
                version,
                batch,
                check,
            } => {
                if let Some((peer, references)) = check {
                    let verdict = match &peer {
                        Some(peer) => self.reference_refusal(peer, &references).await,
                        None => Ok(Some("the sender has gone; send the change again".into())),
                    };
                    match verdict {
                        Ok(None) => {}
                        Ok(Some(reason)) => {
                            let chunk = batch
                                .into_iter()
                                .find_map(|write| match write {
                                    Write::AppendChunk { data, .. } => Some(data),
                                    _ => None,
                                })
                                .unwrap_or_default();
                            return Done::Refused { doc, reason, chunk };
                        }
                        // Not the peer's fault: like a failed write, "try again later".
                        Err(err) => {
                            return Done::Persisted {
                                doc,
                                changes,
                                version,
                                written: Err(err),
                                newer: None,
                            };
                        }
                    }
                }
                let written = self.committer.write(batch).await;
                // Refused as outdated: read what this copy lacks now, to catch up at once.
                let newer = match &written {
                    Err(StorageError::Outdated(_)) => {
                        self.read_above(doc, version).await.ok().flatten()
                    }
                    _ => None,
                };
                Done::Persisted {
                    doc,
                    changes,
                    version,
                    written,
                    newer,
                }
            }
            Io::CarryOver {
                doc,
                version,
                chunk,
                hashes,
                carry,
            } => {
                let written = match carry {
                    Some(carry) => self.carry_over(doc, version, chunk, &hashes, *carry).await,
                    None => Err("the sender has gone; it sends its changes again".to_owned()),
                };
                Done::Carried {
                    doc,
                    version,
                    changes: hashes.len(),
                    written,
                }
            }
            Io::ReadableHeads(conn, peer) => {
                let listed = match self.readable_heads(&peer).await {
                    Ok(readable) => Some(readable),
                    Err(err) => {
                        // The peer falls back to the per-document summary.
                        tracing::warn!(error = %err, "cannot list the heads a peer may read");
                        self.metrics.storage_errors.inc();
                        None
                    }
                };
                Done::ReadableHeads(conn, listed)
            }
            Io::Quarantine {
                record,
                conn,
                then_send,
            } => {
                let doc = record.document;
                let written = self.committer.write(vec![Write::Quarantine(record)]).await;
                if let Err(err) = written {
                    tracing::error!(%doc, error = %err, "cannot keep a refused change");
                }
                // Told after the keeping, so "refused" is never said of a change not yet kept.
                self.metrics.bytes_out.inc_by(count(then_send.len()));
                self.send(conn, WsMessage::Binary(then_send.into())).await;
                Done::Nothing
            }
        }
    }

    /// Tells the core how a storage operation went; returns what it says to do next.
    fn finish(self: &Arc<Self>, core: &mut SyncServer<PolicyGate>, done: Done) -> Vec<Effect> {
        match done {
            Done::Loaded(doc, Ok(stored)) => {
                let (version, bytes) = match stored {
                    Some((version, bytes)) => (version, Some(bytes)),
                    None => (0, None),
                };
                self.versions().insert(doc, version);
                let effects = core.document_loaded(doc, bytes.as_deref());
                // Schema version 2: a unit's work is checked against its item, an item's
                // closing against its units' statuses, as far as the gate has seen them.
                if let Some(current) = core.document(&doc) {
                    core.gate().note_v2(&doc, current);
                }
                effects
            }
            Done::Loaded(doc, Err(err)) => {
                // A read error is not "no such document": the core answers the waiting frames
                // with "try again later" and keeps nothing empty in memory.
                tracing::error!(%doc, error = %err, "cannot load a document");
                self.metrics.storage_errors.inc();
                core.document_load_failed(doc)
            }
            Done::Persisted {
                doc,
                changes,
                version,
                written,
                newer,
            } => {
                // Disk before memory: the core applies the changes (and acknowledges and
                // relays them) only once told they are durable. A failed write leaves the
                // document as storage holds it; the sender is told to try again later.
                let durable = match written {
                    Ok(()) => {
                        self.metrics.changes_applied.inc_by(count(changes));
                        // Versions are gap-free: this write made the next one.
                        self.versions().insert(doc, version + 1);
                        true
                    }
                    Err(StorageError::Outdated(why)) => {
                        // Another server wrote the document since this copy was read: nothing
                        // is written from a stale copy (nor the index row rewritten from it).
                        // The copy catches up with what was read after the refusal and the
                        // frame is judged again on it; should that read have failed, the
                        // sender sends again once it reconnects, by when a catch-up of its own
                        // has brought the copy up to date.
                        tracing::info!(%doc, why, "a change met a newer stored document; catching up");
                        self.metrics.writes_outdated.inc();
                        if let Some((stored, bytes)) = &newer
                            && let Some(effects) = core.persisted_outdated(doc, bytes)
                        {
                            self.versions().insert(doc, *stored);
                            self.metrics.documents_caught_up.inc();
                            return effects;
                        }
                        let hub = Arc::clone(self);
                        tokio::spawn(async move { hub.catch_up(doc, None).await });
                        false
                    }
                    Err(err) => {
                        tracing::error!(%doc, error = %err, "cannot persist a change");
                        self.metrics.storage_errors.inc();
                        false
                    }
                };
                core.persisted(doc, durable)
            }
            Done::Refused { doc, reason, chunk } => core.write_refused(doc, reason, chunk),
            Done::Carried {
                doc,
                version,
                changes,
                written,
            } => {
                let done = match written {
                    Ok(v2_docs) => {
                        self.metrics.changes_applied.inc_by(count(changes));
                        self.versions().insert(doc, version + 1);
                        // The version-2 documents were written beside the core: copies of
                        // them loaded here catch up, and their readers get the carried edits.
                        for v2 in v2_docs {
                            let hub = Arc::clone(self);
                            tokio::spawn(async move { hub.catch_up(v2, None).await });
                        }
                        true
                    }
                    Err(why) => {
                        tracing::error!(%doc, why, "cannot carry late changes over");
                        self.metrics.storage_errors.inc();
                        false
                    }
                };
                core.carried(doc, done)
            }
            Done::ReadableHeads(conn, Some((readable, versions))) => {
                let effects = core.readable_heads(conn, Some(readable));
                if self.settings.feed.shared() {
                    // A document the digest subscribed the peer to without loading it is swept
                    // from the version its heads were read at, like one in memory. And another
                    // server may have written one of them after its heads were read and before
                    // the connection was subscribed: its notification then found nobody to
                    // tell here. Compare again, and catch up with what moved.
                    let mut held = self.versions();
                    for (doc, version) in &versions {
                        if core.is_open(doc) {
                            held.entry(*doc).or_insert(*version);
                        }
                    }
                    drop(held);
                    let hub = Arc::clone(self);
                    tokio::spawn(async move { hub.catch_up_listed(versions).await });
                }
                effects
            }
            Done::ReadableHeads(conn, None) => core.readable_heads(conn, None),
            Done::Nothing => Vec::new(),
        }
    }

    /// Every stored document `peer` may read, by the index (as `GET /api/items` and
    /// [`SyncHub::announce`] decide), with its stored heads: the server's side of the
    /// idle-reconnect digest ([`Effect::ReadableHeads`]). Heads come from `stored_heads` while
    /// storage is at the version they were read at; otherwise the document is read once and
    /// parsed (not loaded into the core). A document that does not parse is left out: its
    /// bucket then differs, and the per-document summary reports it as usual.
    ///
    /// Also returns the versions the heads are at, for [`SyncHub::catch_up_listed`].
    async fn readable_heads(&self, peer: &Peer) -> StorageResult<ReadableHeads> {
        let oversees = Need::Oversee.allows(peer.actor.role);
        let mut ids = Vec::new();
        for campaign in self.storage.campaigns().await? {
            if oversees {
                ids.push(campaign.id);
            }
            for item in self.storage.items(&campaign.id).await? {
                if can_read_item(&peer.actor, &item.units, item.department.as_deref()) {
                    ids.push(item.id);
                }
            }
        }
        let versions = self.storage.document_versions(&ids).await?;
        // The core counts a document in memory with the heads it has there: nothing to read.
        // (Should it leave memory before the answer, its heads are missing and its bucket
        // differs: the peer then asks about it in `rectify-heads`.)
        let in_memory: HashSet<DocumentId> = {
            let core = self.core.lock().await;
            ids.iter()
                .filter(|id| core.document(id).is_some())
                .copied()
                .collect()
        };
        let mut readable = Vec::with_capacity(ids.len());
        for id in ids {
            if in_memory.contains(&id) {
                readable.push((id, Vec::new()));
                continue;
            }
            let Some(&version) = versions.get(&id) else {
                continue; // in the index, but no document: nothing to confirm
            };
            let cached = self
                .stored_heads()
                .get(&id)
                .filter(|(at, _)| *at == version)
                .map(|(_, heads)| heads.clone());
            let heads = match cached {
                Some(heads) => heads,
                None => {
                    // Read after the version: these chunks hold at least that version.
                    let Some(chunks) = self.storage.document_chunks(&id).await? else {
                        continue;
                    };
                    let Ok(mut doc) = model::load_automerge(&chunks.concat()) else {
                        tracing::warn!(%id, "a stored document does not load");
                        continue;
                    };
                    let heads = doc.get_heads();
                    self.stored_heads().insert(id, (version, heads.clone()));
                    heads
                }
            };
            readable.push((id, heads));
        }
        Ok((readable, versions))
    }

    /// With a shared database: the documents of a digest whose stored version moved since
    /// `versions` were read are caught up (a document out of memory is loaded for the
    /// connections subscribed to it and they are sent what they lack).
    async fn catch_up_listed(self: &Arc<Self>, versions: HashMap<DocumentId, i64>) {
        let ids: Vec<DocumentId> = versions.keys().copied().collect();
        for part in ids.chunks(1000) {
            let stored = match self.storage.document_versions(part).await {
                Ok(stored) => stored,
                Err(err) => {
                    // The next notification or sweep catches up instead.
                    tracing::warn!(error = %err, "cannot compare document versions");
                    self.metrics.storage_errors.inc();
                    return;
                }
            };
            for (doc, version) in stored {
                if versions.get(&doc) != Some(&version) {
                    self.catch_up(doc, None).await;
                }
            }
        }
    }

    fn stored_heads(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<DocumentId, (i64, Vec<ChangeHash>)>> {
        self.stored_heads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why `peer` may not reference one of `references` (evidence files a change newly
    /// names), or `None` when it may reference them all ([`model::check_reference`]).
    async fn reference_refusal(
        &self,
        peer: &Peer,
        references: &[String],
    ) -> StorageResult<Option<GateRefusal>> {
        for sha256 in references {
            let stored = crate::file_access::stored_file(
                self.storage.as_ref(),
                &peer.actor,
                &peer.username,
                sha256,
            )
            .await?;
            if let Err(refusal) =
                model::check_reference(&peer.actor, peer.username.as_str(), sha256, stored.as_ref())
            {
                return Ok(Some(refusal.into()));
            }
        }
        Ok(None)
    }

    /// Carries an old client's changes to the migrated version-1 document `doc` (stored at
    /// `version`; the changes `chunk`, `hashes`) over to its version-2 documents, as the
    /// sender ([`carry::carry_changes`]): one batch with the carried edits, the changes
    /// appended to `doc` and each edit kept back in the quarantine
    /// ([`schema_v2::carry_batch`]). Evidence a carried edit newly names is checked as for a
    /// synced change; an edit naming a file its sender may not name is kept back. Read
    /// again and retried when a version-2 document was written meanwhile (outdated). Returns
    /// the version-2 documents written, or why nothing was (storage failed: the sender
    /// sends again later).
    async fn carry_over(
        &self,
        doc: DocumentId,
        version: i64,
        chunk: Vec<u8>,
        hashes: &[ChangeHash],
        carry: CarryIo,
    ) -> Result<Vec<DocumentId>, String> {
        let CarryIo { v1, changes, peer } = carry;
        let item_id = migrated_to(&v1).ok_or("the document is not migrated")?;
        let storage_failed = |e: StorageError| format!("storage: {e}");
        for attempt in 1..=CARRY_TRIES {
            let (docs, versions) = schema_v2::read_item_docs(self.storage.as_ref(), item_id)
                .await
                .map_err(storage_failed)?;
            let (actor, user) = (&peer.actor, peer.username.as_str());
            let carried = match carry::carry_changes(&v1, &changes, actor, user, &docs, &|_| None) {
                Ok(carried) => carried,
                // Not readable as an item edit at all: kept whole, for the office.
                Err(e) => unreadable_carry(&changes, &e.to_string()),
            };
            let mut forbidden = HashMap::new();
            for sha256 in carried.references() {
                let refusal = self.reference_refusal(&peer, std::slice::from_ref(&sha256));
                if let Some(refusal) = refusal.await.map_err(storage_failed)? {
                    forbidden.insert(sha256, refusal.text);
                }
            }
            let carried = if forbidden.is_empty() {
                carried
            } else {
                let forbidden = |edit: &model::ItemEdit| match edit {
                    model::ItemEdit::AddEvidence { evidence, .. } => {
                        forbidden.get(&evidence.sha256).cloned()
                    }
                    _ => None,
                };
                carry::carry_changes(&v1, &changes, actor, user, &docs, &forbidden)
                    .map_err(|e| e.to_string())?
            };
            for kept in &carried.kept {
                tracing::warn!(%doc, user, reason = %kept.reason, "kept back a late change's edit");
            }
            let batch = schema_v2::carry_batch(
                &carried,
                &versions,
                (doc, version),
                (chunk.clone(), hashes),
                &changes,
                &peer.username,
                now_ms(),
            );
            match self.committer.write(batch).await {
                Ok(()) => return Ok(carried.written.iter().map(|w| w.id).collect()),
                // A version-2 document was written meanwhile: read them again.
                Err(StorageError::Outdated(_)) if attempt < CARRY_TRIES => {}
                Err(e) => return Err(storage_failed(e)),
            }
        }
        Err("the version-2 documents kept changing".to_owned())
    }

    /// A refused change as it is kept, with the sender's account.
    async fn quarantine_record(
        &self,
        conn: ConnId,
        doc: DocumentId,
        reason: String,
        change_bytes: Vec<u8>,
    ) -> QuarantineRecord {
        let username = self
            .usernames
            .lock()
            .await
            .get(&conn)
            .map(|(username, _)| username.clone())
            .unwrap_or_default();
        tracing::warn!(%doc, user = %username, reason, "refused a change");
        self.metrics.changes_rejected.inc();
        QuarantineRecord {
            document: doc,
            username,
            reason,
            change_bytes,
            received_at_ms: now_ms(),
        }
    }

    /// Closes a connection after what it was sent: 1013 "try again later" when the server is
    /// at fault, else 1002.
    async fn close(&self, conn: ConnId, reason: &str, retry_later: bool) {
        tracing::info!(conn = conn.0, reason, "closing a sync connection");
        let code = if retry_later {
            close_code::AGAIN
        } else {
            close_code::PROTOCOL
        };
        self.send(conn, close_frame(code, reason)).await;
        self.outgoing.lock().await.remove(&conn);
    }

    async fn send(&self, conn: ConnId, message: WsMessage) {
        let mut outgoing = self.outgoing.lock().await;
        let Some(sender) = outgoing.get(&conn) else {
            return;
        };
        match sender.queue.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The peer does not read: disconnect it at once (its queue and socket go
                // with it), so it costs no more memory; it resyncs on reconnect.
                tracing::warn!(
                    conn = conn.0,
                    "sync connection not reading: disconnecting it"
                );
                self.metrics.slow_peers_disconnected.inc();
                if let Some(outgoing) = outgoing.remove(&conn) {
                    outgoing.kick();
                }
            }
            // Closing already (its writer has finished): nothing to say.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                outgoing.remove(&conn);
            }
        }
    }
}

/// What [`SyncHub::carry_out`] does with the IO that finishing IO sets off.
#[derive(Clone, Copy)]
enum Then {
    /// Carries it out too, to the end (a task of its own).
    CarryOut,
    /// Returns it (a connection's task, which must get back to reading its socket).
    Return,
}

/// Storage work a frame started, carried out without the core's lock.
enum Io {
    Load(DocumentId),
    Persist {
        doc: DocumentId,
        changes: usize,
        /// The stored version the changes go on top of.
        version: i64,
        batch: Vec<Write>,
        /// The sender and the evidence files the changes newly reference, when they do: looked
        /// up before the write, which does not happen if the sender may not name them.
        check: Option<(Option<Peer>, Vec<String>)>,
    },
    /// Keep a refused change, then tell its sender (`then_send` on `conn`).
    Quarantine {
        record: QuarantineRecord,
        conn: ConnId,
        then_send: Vec<u8>,
    },
    /// What a connection's account may read, with stored heads ([`Effect::ReadableHeads`]).
    ReadableHeads(ConnId, Peer),
    /// Carry an old client's changes over ([`Effect::CarryOver`]); `carry` is `None` when
    /// its sender has gone.
    CarryOver {
        doc: DocumentId,
        /// The stored version the changes go on top of.
        version: i64,
        chunk: Vec<u8>,
        hashes: Vec<ChangeHash>,
        carry: Option<Box<CarryIo>>,
    },
}

/// What carrying changes over needs from the core: the migrated document as stored, the
/// changes in causal order, and their sender.
struct CarryIo {
    v1: AutoCommit,
    changes: Vec<Change>,
    peer: Peer,
}

/// Tries of one carry over: a try fails only when a version-2 document was written
/// meanwhile.
const CARRY_TRIES: usize = 3;

/// Changes that cannot be read as item edits at all: nothing is carried, each is kept
/// whole in the quarantine with `why`.
fn unreadable_carry(changes: &[Change], why: &str) -> carry::Carry {
    let kept = (changes.iter())
        .map(|change| carry::KeptEdit {
            change: change.hash(),
            edit: None,
            reason: carry::KeptReason::Refused(format!("the change cannot be read: {why}")),
        })
        .collect();
    carry::Carry {
        kept,
        ..carry::Carry::default()
    }
}

/// What an account may read with stored heads, and the stored versions those heads are at.
type ReadableHeads = (Vec<(DocumentId, Vec<ChangeHash>)>, HashMap<DocumentId, i64>);

/// How an [`Io`] went.
enum Done {
    /// The document's bytes and the version they hold at least, or `None` when absent.
    Loaded(DocumentId, StorageResult<Option<(i64, Vec<u8>)>>),
    Persisted {
        doc: DocumentId,
        changes: usize,
        version: i64,
        written: StorageResult<()>,
        /// When the write was outdated: the stored version and the chunks above `version`.
        newer: Option<(i64, Vec<u8>)>,
    },
    /// A carry over: the version-2 documents written, or why nothing was.
    Carried {
        doc: DocumentId,
        version: i64,
        changes: usize,
        written: Result<Vec<DocumentId>, String>,
    },
    /// Not written: the changes name evidence their sender may not reference.
    Refused {
        doc: DocumentId,
        reason: GateRefusal,
        chunk: Vec<u8>,
    },
    /// What [`SyncHub::readable_heads`] found, or `None` when storage could not say.
    ReadableHeads(ConnId, Option<ReadableHeads>),
    Nothing,
}

/// The writes that append the changes, with the item's index row, the campaign's index row
/// if it is new, and the record of the changes' arrival: one batch, written all or nothing.
///
/// The chunk is exactly the changes this message added (`save_after` the heads the document
/// had, all of which were persisted before); the core hands over their hashes with it.
fn persist_batch(
    core: &SyncServer<PolicyGate>,
    doc: DocumentId,
    chunk: Vec<u8>,
    hashes: &[ChangeHash],
    version: i64,
    now: i64,
) -> Vec<Write> {
    // The document as it will be once these changes are in (the core holds it aside).
    let current = core.document_being_written(&doc);
    let kind = current
        .and_then(model::kind_of)
        .unwrap_or_else(|| "unknown".to_owned());
    let mut batch = vec![
        Write::EnsureDocument {
            id: doc,
            kind: kind.clone(),
            created_at_ms: now,
        },
        Write::AppendChunk {
            document: doc,
            data: chunk,
            created_at_ms: now,
            expect_version: Some(version),
        },
        // The sender is the account whose connection sent the changes: the commit
        // message's `user` is only what the client claims.
        arrivals::arrived(
            doc,
            hashes,
            now,
            core.peer_writing(&doc).map(|peer| &peer.username),
        ),
    ];
    match (current, kind.as_str()) {
        (Some(current), "item") => {
            // Usually read already, by the change's check: kept by the gate at these heads.
            let item = match core.heads_being_written(&doc) {
                Some(heads) => core.gate().item_at(&doc, current, heads),
                None => ItemDoc::load(current),
            };
            if let Ok(item) = item
                && let Ok(campaign) = item.campaign.parse::<DocumentId>()
            {
                // Sign-offs, send-backs and re-planning go into the audit log with the
                // change. Only the office makes them, so only its changes pay for reading the
                // item as it was.
                if let Some(peer) = core.peer_writing(&doc)
                    && peer.actor.role == Role::Office
                    && let Some(before) = core.document(&doc)
                    && let Ok(before) = ItemDoc::load(before)
                {
                    batch.extend(audit::sync_entries(
                        &peer.username,
                        doc,
                        &before,
                        &item,
                        now,
                    ));
                }
                batch.push(Write::Item(item_record(doc, campaign, &item, now)));
            }
        }
        // Schema version 2: a unit's work document keeps its index row (who may read it)
        // with every change. (A version-2 item's own row is written by the migration; sync
        // writes none until the client makes version-2 items, docs/schema-v2.md step 4.)
        (Some(current), UNIT_WORK_KIND) => {
            batch.extend(schema_v2::unit_work_record(doc, current).map(Write::UnitWork));
        }
        (Some(current), "campaign") => {
            if let Ok(campaign) = CampaignDoc::load(current) {
                batch.push(Write::EnsureCampaign(CampaignRecord {
                    id: doc,
                    natural_key: campaign.natural_key(),
                    name: campaign.name,
                    created_at_ms: now,
                }));
            }
        }
        _ => {}
    }
    batch
}

/// A close frame; the reason is cut to the 123 bytes a close frame can carry.
fn close_frame(code: u16, reason: &str) -> WsMessage {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// Writes the session's "last seen" (and extends its expiry) when `last_seen` is at least
/// [`accounts::LAST_SEEN_EVERY_MS`] ago; the time now stored, as far as this connection knows.
async fn seen(hub: &SyncHub, session: &str, last_seen: i64) -> i64 {
    let now = now_ms();
    if now - last_seen < accounts::LAST_SEEN_EVERY_MS {
        return last_seen;
    }
    match hub
        .storage
        .touch_session(session, now, now + accounts::TOKEN_LIFETIME_MS)
        .await
    {
        Ok(()) => now,
        Err(err) => {
            // Only the devices list shows it: the connection goes on, and tries again later.
            tracing::warn!(error = %err, "cannot note that a sync connection's session was seen");
            now
        }
    }
}

/// Serves one upgraded sync connection until it closes: frames in to the hub, the hub's
/// frames out, keepalive pings, and a close frame on shutdown.
pub async fn connection(
    hub: Arc<SyncHub>,
    user: UserRecord,
    session: String,
    socket: WebSocket,
    slot: ConnectionSlot,
) {
    use futures_util::SinkExt;
    let conn = ConnId(hub.next_conn.fetch_add(1, Ordering::Relaxed));
    let peer = Peer {
        username: user.username.clone(),
        actor: Actor {
            role: user.role,
            unit: user.unit.clone(),
        },
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<WsMessage>(hub.settings.outgoing_queue.max(1));
    let kick = Arc::new(Notify::new());
    let end = Arc::new(Notify::new());
    hub.outgoing.lock().await.insert(
        conn,
        Outgoing {
            queue: tx,
            kick: Arc::clone(&kick),
            end: Arc::clone(&end),
        },
    );
    hub.usernames
        .lock()
        .await
        .insert(conn, (user.username.clone(), session.clone()));
    hub.core.lock().await.connect(conn, peer);
    tracing::info!(conn = conn.0, user = %user.username, "sync connection opened");

    // Browsers cannot send pings, so the server keeps idle connections alive through proxies.
    let writer = tokio::spawn(async move {
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            let message = tokio::select! {
                message = rx.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                _ = keepalive.tick() => WsMessage::Ping(Vec::new().into()),
            };
            let last = matches!(message, WsMessage::Close(_));
            if sink.send(message).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });
    // A session ended between the upgrade's check and this connection's registration would be
    // missed by `close_account`/`close_session`: look again, now that they would find it.
    let stored = hub.storage.session(&session).await;
    let live = matches!(&stored, Ok(Some(s)) if !s.revoked);
    if !live {
        hub.close_session(&session).await;
    }
    // A device that only syncs is as present as one that makes requests: while frames arrive
    // (its own or the pongs to our keepalive pings) the session's "last seen" is written, at
    // most once a minute as `accounts::authenticate` does for HTTP.
    let mut last_seen = match &stored {
        Ok(Some(s)) => s.last_seen_ms,
        _ => now_ms(),
    };
    let mut closing = hub.closing.subscribe();
    let mut kicked = false;
    let mut ended = false;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = kick.notified() => {
                kicked = true;
                break;
            }
            () = end.notified() => {
                ended = true;
                break;
            }
            () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                let frame = close_frame(close_code::AWAY, "the server is shutting down; reconnect in a moment");
                hub.send(conn, frame).await;
                break;
            }
        };
        if matches!(next, Some(Ok(_))) {
            last_seen = seen(&hub, &session, last_seen).await;
        }
        match next {
            Some(Ok(WsMessage::Binary(bytes))) => {
                hub.receive(conn, &bytes).await;
                // A peer that sends faster than storage keeps up waits here, with its frames
                // in its socket rather than in the server's memory.
                while hub.core.lock().await.waiting_work(conn) > MAX_WAITING_PER_CONNECTION
                    && hub.outgoing.lock().await.contains_key(&conn)
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Some(Ok(WsMessage::Close(_))) | None => break,
            // Text frames are not part of the protocol; pings are answered by axum.
            Some(Ok(WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Err(err)) => {
                // Mostly a frame over the size limit; say so before closing.
                let text = err.to_string();
                tracing::warn!(conn = conn.0, user = %user.username, error = %text, "bad sync frame");
                let code = if text.contains("too long") || text.contains("limit") {
                    close_code::SIZE
                } else {
                    close_code::PROTOCOL
                };
                let reason = if code == close_code::SIZE {
                    format!("frame larger than the limit of {MAX_FRAME_BYTES} bytes")
                } else {
                    text
                };
                hub.send(conn, close_frame(code, &reason)).await;
                break;
            }
        }
        if !hub.outgoing.lock().await.contains_key(&conn) {
            break; // closed by the server
        }
    }
    hub.core.lock().await.disconnect(conn);
    hub.outgoing.lock().await.remove(&conn);
    hub.usernames.lock().await.remove(&conn);
    if kicked {
        // Its writer may be stuck on a peer that does not read: drop it with the socket.
        writer.abort();
    }
    let mut writer = writer;
    if ended && tokio::time::timeout(KEEPALIVE, &mut writer).await.is_err() {
        // The close frame could not go out to a peer that does not read: drop it.
        writer.abort();
    }
    let _ = writer.await;
    drop(slot);
    tracing::info!(conn = conn.0, user = %user.username, "sync connection closed");
}
