//! The server's sans-IO sync core: frames in, [`Effect`]s out.
//!
//! [`SyncServer`] knows nothing about sockets, storage or time. The driver (the axum server, or
//! a test harness) feeds it connections, frames and loaded documents, and executes the effects
//! it returns **in order**. Given the same inputs it returns the same effects.
//!
//! # Guarantees
//!
//! - **Durable before acknowledged.** Accepted changes go out as [`Effect::Persist`] and enter
//!   the document (its heads, anyone's answer, a later change's dependency check) only when
//!   the driver reports them durable with [`SyncServer::persisted`]. So the driver may carry
//!   out other effects while a `Persist` is in flight: nothing they send can reveal it.
//! - **Only what one may read.** A peer is answered with `doc-unavailable` for a document it may
//!   not read, the same answer as for a document that does not exist, and is sent changes only
//!   for documents it asked for and may read ([`Gate::may_read`] is asked every time, so a
//!   withdrawn permission takes effect at the next change).
//! - **Only allowed changes.** Incoming changes are applied to a copy first and judged by
//!   [`Gate::check_change`]. A refused change is not applied and not relayed; it is handed to the
//!   driver as [`Effect::Quarantine`] and the peer gets an `error` message naming the document
//!   once the driver has kept it (the message rides in the effect, so a sender is never told
//!   "kept for inspection" about a change not yet kept).
//! - **No livelock on refusal.** A dropped change would make the server ask for it forever
//!   (every later change from that peer depends on it). So the peer's sync state for that
//!   document turns read-only: the server keeps sending it the document's changes but applies
//!   and asks for nothing more, and the exchange goes quiet.
//! - **Hostile input is harmless.** Oversized frames, bad CBOR, wrong types and Automerge bytes
//!   that don't parse get an `error` message and change nothing; other peers are unaffected.
//!
//! # How a refused client recovers
//!
//! A refused client keeps the refused change locally and is diverged on that document until it
//! recovers: it replaces its copy with an empty document and a fresh sync state and syncs again
//! (see [`super::client::SyncClient::reset_document`]). As soon as a peer in read-only mode
//! announces heads the server fully knows (an empty document does), the server lifts the
//! read-only mode and sends it the whole document. The client then re-applies whatever of its
//! lost edits the policy still allows, as new changes. Stock JS clients never do this; they stay
//! diverged on that document (but keep receiving the server's changes).
//!
//! # Documents
//!
//! Documents are loaded on demand: the first `request` or `sync` for a document not in memory
//! produces [`Effect::LoadDocument`] and is queued, with any later frame for it, until the driver
//! answers with [`SyncServer::document_loaded`]. A `sync` for a document storage does not know is
//! a client announcing a new document, allowed only by [`Gate::may_create`]. Every document is
//! made or loaded through [`model::new_automerge`] / [`model::load_automerge`].
//!
//! Memory stays bounded with many documents: the driver calls [`SyncServer::evict_idle`] now
//! and then, which drops documents no frame has touched for a while. Peers that had one open stay
//! subscribed (and stay read-only if they were), and get its changes once it is loaded again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};

use super::batch::{
    self, Applied, ChangeBatch, Differs, DigestReply, HeadsDigest, SetDigest, Summary, SummaryReply,
};
use super::wire::{self, Message, PeerId, PeerMetadata, StorageId, SyncData};
use crate::ids::DocumentId;
use crate::model::{self, ChangeRefusal};

/// The driver's id for one connection (one WebSocket). Never reused while the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// The authorization policy, implemented by the driver. `Peer` is whatever the driver knows
/// about the authenticated user of a connection.
pub trait Gate {
    type Peer;

    /// May `who` read `doc`, whose current state is `current`?
    fn may_read(&self, who: &Self::Peer, doc: &DocumentId, current: &AutoCommit) -> bool;

    /// May `who` create a document `doc` that does not exist yet?
    fn may_create(&self, who: &Self::Peer, doc: &DocumentId) -> bool;

    /// May `who` change `doc` from `before` to `after`? The refusal's text is shown to the peer
    /// and kept with the quarantined change. `before` is empty for a document being created.
    fn check_change(
        &self,
        who: &Self::Peer,
        doc: &DocumentId,
        before: &AutoCommit,
        after: &AutoCommit,
    ) -> Result<(), GateRefusal>;

    /// Who may read `current` besides those who read everything, as keys two states can be
    /// compared by. When a change moves them (or creates the document), peers that may now
    /// read it but do not have it open are told their list changed (`rectify-list-changed`).
    /// Empty by default: nothing is announced but new documents.
    fn readers(&self, _current: &AutoCommit) -> Vec<String> {
        Vec::new()
    }

    /// Whether what `who` sends to `doc` (readable or not, `current` being its state) is
    /// carried over elsewhere by the driver rather than judged and applied here: the
    /// document's content moved to other documents (schema version 2: a migrated version-1
    /// item) and `who` was one of its writers. Such a peer is never sent the document's
    /// changes; its new changes go out as [`Effect::CarryOver`], and once it holds nothing
    /// the server lacks it is told to update its app and that the document is unavailable.
    /// False by default.
    fn carries_over(&self, _who: &Self::Peer, _doc: &DocumentId, _current: &AutoCommit) -> bool {
        false
    }

    /// [`Gate::check_change`], told the heads of both states (the core has them; a gate may
    /// key what it read of a state by them). By default the same as `check_change`.
    fn check_change_at(
        &self,
        who: &Self::Peer,
        doc: &DocumentId,
        (before, _before_heads): (&AutoCommit, &[ChangeHash]),
        (after, _after_heads): (&AutoCommit, &[ChangeHash]),
    ) -> Result<(), GateRefusal> {
        self.check_change(who, doc, before, after)
    }
}

/// Why a change was refused: the text, for people, the quarantine and stock clients; and,
/// when the policy refused it, the refusal as data, which our client is sent too
/// (`rectifyRefusal`) so that it says why in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRefusal {
    pub text: String,
    pub refusal: Option<ChangeRefusal>,
}

impl std::fmt::Display for GateRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<String> for GateRefusal {
    fn from(text: String) -> Self {
        GateRefusal {
            text,
            refusal: None,
        }
    }
}

impl From<&str> for GateRefusal {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

impl From<ChangeRefusal> for GateRefusal {
    fn from(refusal: ChangeRefusal) -> Self {
        GateRefusal {
            text: refusal.to_string(),
            refusal: Some(refusal),
        }
    }
}

/// Something the driver must do. Effects are executed in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a binary frame on a connection.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Close a connection (after sending what came before); the driver then calls
    /// [`SyncServer::disconnect`]. `retry_later`: not the peer's fault (the server could not
    /// store its change), so the close says "try again later" rather than "protocol error".
    Close {
        conn: ConnId,
        reason: String,
        retry_later: bool,
    },
    /// Load a document's stored bytes and call [`SyncServer::document_loaded`] (or
    /// [`SyncServer::document_load_failed`] when storage could not be read).
    LoadDocument { doc: DocumentId },
    /// Append these Automerge bytes (changes, loadable with `load_incremental`) to the stored
    /// document, durably, then call [`SyncServer::persisted`] with whether it worked. Until
    /// then the changes are in no document in memory: nobody sees them, no heads include them,
    /// and later frames for the document wait.
    Persist {
        doc: DocumentId,
        chunk: Vec<u8>,
        /// The hashes of the changes in `chunk`, in order.
        hashes: Vec<ChangeHash>,
    },
    /// A peer sent `rectify-digest`: list the documents its account may read, each with the
    /// heads storage has for it, and call [`SyncServer::readable_heads`] (with `None` when
    /// storage could not be read). Read from the index and stored heads: loading thousands of
    /// documents to learn that nothing changed is what the digest is there to avoid.
    ReadableHeads { conn: ConnId },
    /// Changes to a document whose content moved elsewhere, from a peer they are carried
    /// over for ([`Gate::carries_over`]; schema version 2: an old client's changes to a
    /// migrated version-1 item). The driver makes them again where the content is now (as
    /// the sender), keeps what cannot be made, and appends `chunk` (the changes, in causal
    /// order, loadable with `load_incremental` on top of the document) to this document,
    /// all durably or not at all; then calls [`SyncServer::carried`]. As with
    /// [`Effect::Persist`], the changes are in no document in memory until then and later
    /// frames for the document wait.
    CarryOver {
        conn: ConnId,
        doc: DocumentId,
        chunk: Vec<u8>,
        /// The hashes of the changes in `chunk`, in order.
        hashes: Vec<ChangeHash>,
    },
    /// A change the policy refused: keep it for inspection (who, when, which document, why),
    /// then send `then_send` (the `error` telling the sender) on `conn` — whether or not the
    /// keeping worked: the sender must learn of the refusal either way.
    Quarantine {
        conn: ConnId,
        doc: DocumentId,
        reason: String,
        /// The refused changes, loadable with `load_incremental` on top of the document.
        change_bytes: Vec<u8>,
        /// The `error` frame for the sender, sent after the change is kept.
        then_send: Vec<u8>,
    },
}

/// What kind of frame asked for a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// `request`: the peer doesn't have the document and wants it.
    Request,
    /// `sync`: the peer has (or is creating) the document.
    Sync,
}

struct Connection<P> {
    info: P,
    /// Set by `join`; no sync before it.
    peer: Option<PeerId>,
    /// The peer speaks our batched sync ([`batch`]): it may send `rectify-*` frames and gets
    /// changes as bundles.
    batch: bool,
    /// The peer also speaks the idle-reconnect digest (`rectify-digest`).
    digest: bool,
    /// Its `rectify-digest`, while the driver reads what it may read
    /// ([`Effect::ReadableHeads`]).
    pending_digest: Option<SetDigest>,
}

/// What waits for a document to be loaded, or is done once it is.
enum Work {
    /// A `request` or `sync` frame.
    Frame(Ask, SyncData),
    /// One document of a `rectify-heads` summary.
    Heads { batch: u64, digest: HeadsDigest },
    /// One document of a `rectify-changes` batch.
    Changes {
        batch: u64,
        heads: Vec<ChangeHash>,
        bundle: Vec<u8>,
    },
}

/// A `rectify-heads` or `rectify-changes` frame whose documents are not all answered yet: the
/// one reply frame goes out when the last one is.
struct PendingBatch {
    conn: ConnId,
    remaining: usize,
    reply: BatchReply,
    /// A summary's documents not looked at yet: at most [`SUMMARY_WINDOW`] are at a time.
    unrouted: VecDeque<(DocumentId, HeadsDigest)>,
    /// Documents of this summary being looked at (loading, or waiting for a write).
    routing: usize,
}

/// How many documents of one `rectify-heads` summary are looked at at once: a summary of a
/// hundred thousand ids costs memory for these, not for all of them.
const SUMMARY_WINDOW: usize = 64;

enum BatchReply {
    Heads(SummaryReply),
    Changes(Applied),
}

/// One peer's view of one document.
#[derive(Default)]
struct PeerDoc {
    state: sync::State,
}

struct Document {
    doc: AutoCommit,
    peers: BTreeMap<ConnId, PeerDoc>,
    /// [`SyncServer::clock`] when a frame last touched it.
    last_used: u64,
    /// Changes applied since it was loaded or last compacted (see [`COMPACT_AFTER_CHANGES`]).
    applied: usize,
    /// Changes accepted and sent to storage ([`Effect::Persist`]), not yet known to be on disk.
    writing: Option<PendingWrite>,
    /// Work for this document that arrived while a write was pending, in order.
    queued: Vec<(ConnId, Work)>,
    /// Writes storage refused in a row as outdated ([`SyncServer::persisted_outdated`]).
    outdated: u8,
}

/// Changes the gate accepted, waiting for [`SyncServer::persisted`]: disk before memory.
struct PendingWrite {
    conn: ConnId,
    /// The document with the changes applied; it becomes the document once they are durable.
    candidate: Box<AutoCommit>,
    /// The candidate's heads.
    heads: Vec<ChangeHash>,
    /// The sender's sync state after receiving them; its state stays as it was until then.
    state: sync::State,
    changes: usize,
    /// What finishes the frame that carried them.
    then: AfterWrite,
    /// That frame's work, judged again should storage find this copy outdated.
    work: Work,
}

/// Writes of one document that storage may refuse in a row as outdated before the sender is
/// told to send again later. Each refusal means another server stored a change of that
/// document, so the rounds always make progress overall; three replicas writing the same few
/// documents lose four races in a row often (the bench's scale-out phase: 65 reconnects with
/// a bound of 3), sixteen practically never. The bound only keeps a storage that refuses
/// every write from keeping a frame in a loop.
pub const OUTDATED_RETRIES: u8 = 16;

enum AfterWrite {
    /// A stock `sync` message: answer the sender, push to the others.
    Sync,
    /// One document of a `rectify-changes` batch: also answer its entry.
    Changes { batch: u64, heads: Vec<ChangeHash> },
    /// Changes carried over ([`Effect::CarryOver`]): tell the sender to update; answer its
    /// batch entry, if they came in one.
    Carry { batch: Option<u64> },
}

impl AfterWrite {
    /// The `rectify-changes` batch whose entry the write answers, if it came in one.
    fn batch(&self) -> Option<u64> {
        match self {
            AfterWrite::Sync => None,
            AfterWrite::Changes { batch, .. } => Some(*batch),
            AfterWrite::Carry { batch } => *batch,
        }
    }
}

/// Automerge's in-memory columns grow by a few KB with every change applied to a loaded
/// document (an item that received 20 changes held 105 KB, against 24 KB loaded afresh from
/// the same bytes), so after this many the document is read again from its own save. That
/// costs a fraction of a millisecond, once per this many changes.
const COMPACT_AFTER_CHANGES: usize = 16;

impl Document {
    /// Counts `n` changes just applied, and compacts the document when they add up.
    fn applied(&mut self, n: usize) {
        self.applied += n;
        if self.applied < COMPACT_AFTER_CHANGES {
            return;
        }
        self.applied = 0;
        // Should the save not load (it always does), the grown document simply stays.
        if let Ok(mut compact) = model::load_automerge(&self.doc.save_nocompress())
            && compact.get_heads() == self.doc.get_heads()
        {
            self.doc = compact;
        }
    }
}

/// The peers that have a document open while it is out of memory: they had it open when it
/// was evicted, or a digest found them in sync with storage. They are subscribed again when it
/// is next loaded, so they keep receiving its changes.
type Subscribers = BTreeMap<ConnId, Subscriber>;

#[derive(Debug, Clone, Default)]
struct Subscriber {
    /// Its sync state was read-only (a peer the document refused).
    read_only: bool,
    /// The heads it is known to hold (empty: not known). With several servers on one
    /// database, storage may have moved past them while the document was out of memory here
    /// (another server wrote it, or a digest was answered from heads read just before such a
    /// write): once loaded, a subscriber behind is sent what it lacks, whoever asked for the
    /// load.
    heads: Vec<ChangeHash>,
}

enum Slot {
    /// Waiting for [`SyncServer::document_loaded`]; frames for it wait here, in order.
    Loading {
        waiting: Vec<(ConnId, Work)>,
        subscribers: Subscribers,
        /// Changed in storage beside the core ([`SyncServer::refresh`]): once loaded, every
        /// subscriber is sent what it lacks.
        push: bool,
    },
    /// Boxed: an `AutoCommit` is some kilobytes even when empty.
    Ready(Box<Document>),
    /// Evicted from memory while peers still had it open.
    Dormant { subscribers: Subscribers },
}

/// The server side of the automerge-repo sync protocol, without IO.
pub struct SyncServer<G: Gate> {
    peer_id: PeerId,
    storage_id: StorageId,
    gate: G,
    conns: BTreeMap<ConnId, Connection<G::Peer>>,
    docs: HashMap<DocumentId, Slot>,
    /// Counts frames and loads; documents remember it when used (see [`Self::evict_idle`]).
    clock: u64,
    /// Batched frames still waiting for some of their documents, by number.
    batches: HashMap<u64, PendingBatch>,
    next_batch: u64,
    /// Documents storage said it does not have: asked for again, they cost no load.
    absent: AbsentCache,
    /// Per connection, its frames (or batch entries) waiting for a document being loaded or
    /// written: what the driver bounds ([`SyncServer::waiting_work`]).
    waiting_by_conn: HashMap<ConnId, usize>,
    /// Summaries with room to look at more of their documents ([`Self::pump`]).
    pump_later: Vec<u64>,
}

/// Ids storage answered "no such document" for, most recent [`ABSENT_CACHE`] of them. A peer
/// asking again and again for ids nobody has (a stale device, a modified client) then costs
/// no storage read. An id leaves when its document is created over sync
/// ([`SyncServer::persisted`]), and all leave when the driver writes beside the core
/// ([`SyncServer::forget_absent`]).
#[derive(Default)]
struct AbsentCache {
    ids: HashSet<DocumentId>,
    /// Insertion order, to drop the oldest; may hold ids removed since (skipped).
    order: VecDeque<DocumentId>,
}

/// How many absent ids are remembered (about 40 bytes each).
const ABSENT_CACHE: usize = 50_000;

impl AbsentCache {
    fn contains(&self, doc: &DocumentId) -> bool {
        self.ids.contains(doc)
    }

    fn insert(&mut self, doc: DocumentId) {
        if !self.ids.insert(doc) {
            return;
        }
        self.order.push_back(doc);
        while self.ids.len() > ABSENT_CACHE {
            match self.order.pop_front() {
                Some(oldest) => self.ids.remove(&oldest),
                None => break,
            };
        }
        if self.order.len() > 2 * ABSENT_CACHE {
            let ids = &self.ids;
            self.order.retain(|id| ids.contains(id));
        }
    }

    fn remove(&mut self, doc: &DocumentId) {
        self.ids.remove(doc);
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.order.clear();
    }
}

impl<G: Gate> SyncServer<G> {
    /// A server with its own peer and storage ids. Keep both across restarts: clients key their
    /// saved sync state by the server's storage id.
    pub fn new(peer_id: PeerId, storage_id: StorageId, gate: G) -> Self {
        Self {
            peer_id,
            storage_id,
            gate,
            conns: BTreeMap::new(),
            docs: HashMap::new(),
            clock: 0,
            batches: HashMap::new(),
            next_batch: 0,
            absent: AbsentCache::default(),
            waiting_by_conn: HashMap::new(),
            pump_later: Vec::new(),
        }
    }

    /// How many of `conn`'s frames (or batch entries) wait for a document being loaded or
    /// written. The driver stops reading that connection while there are many, so a peer
    /// that sends faster than storage keeps up waits instead of filling memory.
    pub fn waiting_work(&self, conn: ConnId) -> usize {
        self.waiting_by_conn.get(&conn).copied().unwrap_or(0)
    }

    /// Documents with storage work outstanding: being loaded, or with a write in flight.
    /// Zero means nothing the driver reads or writes for the core is under way.
    pub fn busy_documents(&self) -> usize {
        self.docs
            .values()
            .filter(|slot| match slot {
                Slot::Loading { .. } => true,
                Slot::Ready(document) => document.writing.is_some(),
                Slot::Dormant { .. } => false,
            })
            .count()
    }

    fn work_left_waiting(&mut self, conn: ConnId) {
        if let Some(n) = self.waiting_by_conn.get_mut(&conn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting_by_conn.remove(&conn);
            }
        }
    }

    /// Forgets which documents storage did not have: the driver wrote documents beside the
    /// core (an import), so any of them may exist now.
    pub fn forget_absent(&mut self) {
        self.absent.clear();
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    pub fn storage_id(&self) -> &StorageId {
        &self.storage_id
    }

    pub fn gate(&self) -> &G {
        &self.gate
    }

    /// A new connection, authenticated as `info`. Nothing is sent until the peer's `join`.
    pub fn connect(&mut self, conn: ConnId, info: G::Peer) {
        self.conns.insert(
            conn,
            Connection {
                info,
                peer: None,
                batch: false,
                digest: false,
                pending_digest: None,
            },
        );
    }

    /// The connection is gone: forget its sync states and its queued frames.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.waiting_by_conn.remove(&conn);
        for slot in self.docs.values_mut() {
            match slot {
                Slot::Loading {
                    waiting,
                    subscribers,
                    ..
                } => {
                    waiting.retain(|(c, _)| *c != conn);
                    subscribers.remove(&conn);
                }
                Slot::Ready(document) => {
                    document.peers.remove(&conn);
                    document.queued.retain(|(c, _)| *c != conn);
                }
                Slot::Dormant { subscribers } => {
                    subscribers.remove(&conn);
                }
            }
        }
        self.docs.retain(
            |_, slot| !matches!(slot, Slot::Dormant { subscribers } if subscribers.is_empty()),
        );
        self.batches.retain(|_, pending| pending.conn != conn);
    }

    /// The number of connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The documents in memory (loaded or being loaded).
    pub fn loaded_documents(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs
            .iter()
            .filter(|(_, slot)| !matches!(slot, Slot::Dormant { .. }))
            .map(|(id, _)| id)
    }

    /// Every document the core keeps state for: in memory, being loaded, or out of memory
    /// with peers still subscribed to it (who must still be sent what others write).
    pub fn open_documents(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs.keys()
    }

    /// Is `doc` one of [`Self::open_documents`]?
    pub fn is_open(&self, doc: &DocumentId) -> bool {
        self.docs.contains_key(doc)
    }

    /// A loaded document, for inspection.
    pub fn document(&self, doc: &DocumentId) -> Option<&AutoCommit> {
        match self.docs.get(doc)? {
            Slot::Ready(document) => Some(&document.doc),
            Slot::Loading { .. } | Slot::Dormant { .. } => None,
        }
    }

    /// A document with the changes of its pending [`Effect::Persist`] applied (what it will be
    /// once they are durable), or the loaded document when no write is pending: what the driver
    /// indexes alongside the write.
    pub fn document_being_written(&self, doc: &DocumentId) -> Option<&AutoCommit> {
        match self.docs.get(doc)? {
            Slot::Ready(document) => Some(
                document
                    .writing
                    .as_ref()
                    .map_or(&document.doc, |write| &*write.candidate),
            ),
            Slot::Loading { .. } | Slot::Dormant { .. } => None,
        }
    }

    /// The heads of the changes of a document's pending [`Effect::Persist`] applied, or
    /// `None` when no write is pending.
    pub fn heads_being_written(&self, doc: &DocumentId) -> Option<&[ChangeHash]> {
        match self.docs.get(doc)? {
            Slot::Ready(document) => document.writing.as_ref().map(|w| w.heads.as_slice()),
            Slot::Loading { .. } | Slot::Dormant { .. } => None,
        }
    }

    /// Who sent the changes of a document's pending [`Effect::Persist`], or `None` when no
    /// write is pending (or the sender has gone).
    pub fn peer_writing(&self, doc: &DocumentId) -> Option<&G::Peer> {
        match self.docs.get(doc)? {
            Slot::Ready(document) => {
                let conn = document.writing.as_ref()?.conn;
                self.conns.get(&conn).map(|connection| &connection.info)
            }
            Slot::Loading { .. } | Slot::Dormant { .. } => None,
        }
    }

    /// A logical clock that advances with every frame and load. The driver reads it at one
    /// sweep and passes it to [`Self::evict_idle`] at the next, so the core needs no time.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Drops from memory every loaded document no frame has touched since `clock` (an earlier
    /// [`Self::clock`]). Everything accepted is already persisted, so nothing is lost: a document
    /// is loaded again when next asked for, and peers that had it open are subscribed again
    /// then (with fresh sync states, which costs a round trip). Returns how many were evicted.
    pub fn evict_idle(&mut self, clock: u64) -> usize {
        let idle: Vec<DocumentId> = self
            .docs
            .iter()
            .filter(|(_, slot)| {
                matches!(slot, Slot::Ready(d)
                    if d.last_used < clock && d.writing.is_none() && d.queued.is_empty())
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &idle {
            let Some(Slot::Ready(document)) = self.docs.remove(id) else {
                continue;
            };
            let subscribers: Subscribers = document
                .peers
                .iter()
                .map(|(conn, peer)| {
                    let subscriber = Subscriber {
                        read_only: peer.state.read_only,
                        heads: peer.state.shared_heads.clone(),
                    };
                    (*conn, subscriber)
                })
                .collect();
            if !subscribers.is_empty() {
                self.docs.insert(*id, Slot::Dormant { subscribers });
            }
        }
        idle.len()
    }

    /// One frame from a connection. Frames from unknown connections are ignored.
    pub fn receive(&mut self, conn: ConnId, bytes: &[u8]) -> Vec<Effect> {
        let mut out = self.receive_frame(conn, bytes);
        self.pump_waiting(&mut out);
        out
    }

    /// [`Self::receive`] before the summaries waiting for room go on.
    fn receive_frame(&mut self, conn: ConnId, bytes: &[u8]) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        let Some(connection) = self.conns.get_mut(&conn) else {
            return out;
        };
        let message = match wire::decode(bytes) {
            Ok(message) => message,
            Err(e) => {
                out.push(error_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    None,
                    &e.to_string(),
                ));
                return out;
            }
        };
        match message {
            Message::Join {
                sender_id,
                supported_protocol_versions,
                peer_metadata,
            } => {
                if !supported_protocol_versions
                    .iter()
                    .any(|v| v == wire::PROTOCOL_VERSION)
                {
                    let text = format!(
                        "unsupported protocol versions ({}); this server speaks version {}",
                        supported_protocol_versions.join(", "),
                        wire::PROTOCOL_VERSION
                    );
                    out.push(error_frame(&self.peer_id, connection, conn, None, &text));
                    out.push(Effect::Close {
                        conn,
                        reason: text,
                        retry_later: false,
                    });
                    return out;
                }
                connection.peer = Some(sender_id.clone());
                connection.batch = peer_metadata.rectify_batch == Some(batch::VERSION);
                connection.digest =
                    connection.batch && peer_metadata.rectify_digest == Some(batch::DIGEST_VERSION);
                let reply = Message::Peer {
                    sender_id: self.peer_id.clone(),
                    peer_metadata: PeerMetadata {
                        storage_id: Some(self.storage_id.clone()),
                        is_ephemeral: false,
                        rectify_batch: connection.batch.then_some(batch::VERSION),
                        rectify_digest: connection.digest.then_some(batch::DIGEST_VERSION),
                    },
                    selected_protocol_version: wire::PROTOCOL_VERSION.to_owned(),
                    target_id: sender_id,
                };
                out.push(send(conn, &reply));
            }
            Message::Request(data) | Message::Sync(data) if connection.peer.is_none() => {
                let text = "send 'join' before syncing documents";
                out.push(error_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    Some(data.document_id),
                    text,
                ));
                out.push(Effect::Close {
                    conn,
                    reason: text.to_owned(),
                    retry_later: false,
                });
            }
            Message::Request(data) => {
                let doc = data.document_id;
                self.route(conn, doc, Work::Frame(Ask::Request, data), &mut out);
            }
            Message::Sync(data) => {
                let doc = data.document_id;
                self.route(conn, doc, Work::Frame(Ask::Sync, data), &mut out);
            }
            Message::RectifyHeads { .. } | Message::RectifyChanges { .. }
                if !connection.batch || connection.peer.is_none() =>
            {
                let text = "batched sync was not negotiated in 'join'";
                out.push(error_frame(&self.peer_id, connection, conn, None, text));
            }
            Message::RectifyDigest { .. } if !connection.digest || connection.peer.is_none() => {
                let text = "the idle-reconnect digest was not negotiated in 'join'";
                out.push(error_frame(&self.peer_id, connection, conn, None, text));
            }
            Message::RectifyDigest { .. } if connection.pending_digest.is_some() => {
                let text = "one 'rectify-digest' at a time";
                out.push(error_frame(&self.peer_id, connection, conn, None, text));
            }
            Message::RectifyDigest { docs } => match SetDigest::decode(&docs) {
                Ok(digest) => {
                    connection.pending_digest = Some(digest);
                    out.push(Effect::ReadableHeads { conn });
                }
                Err(e) => out.push(error_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    None,
                    &e.to_string(),
                )),
            },
            Message::RectifyHeads { docs } => match Summary::decode(&docs) {
                Ok(summary) => self.start_heads(conn, summary, &mut out),
                Err(e) => out.push(error_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    None,
                    &e.to_string(),
                )),
            },
            Message::RectifyChanges { docs } => match ChangeBatch::decode(&docs) {
                Ok(changes) => self.start_changes(conn, changes, &mut out),
                Err(e) => out.push(error_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    None,
                    &e.to_string(),
                )),
            },
            Message::Ephemeral {
                sender_id,
                document_id,
                count,
                session_id,
                data,
                ..
            } => {
                let relayed = |target: PeerId| Message::Ephemeral {
                    sender_id: sender_id.clone(),
                    target_id: Some(target),
                    document_id,
                    count,
                    session_id: session_id.clone(),
                    data: data.clone(),
                };
                self.relay_ephemeral(conn, &document_id, relayed, &mut out);
            }
            // Not needed by this server: heads gossip, and what a server never receives.
            Message::Peer { .. }
            | Message::DocUnavailable { .. }
            | Message::Error { .. }
            | Message::RemoteSubscriptionChange { .. }
            | Message::RemoteHeadsChanged { .. }
            | Message::RectifyHeadsReply { .. }
            | Message::RectifyDigestReply { .. }
            | Message::RectifyApplied { .. }
            | Message::RectifyListChanged {}
            | Message::Unknown { .. } => {}
        }
        out
    }

    /// Who is on a connection (for the driver's answer to [`Effect::ReadableHeads`]).
    pub fn peer_info(&self, conn: ConnId) -> Option<&G::Peer> {
        self.conns.get(&conn).map(|connection| &connection.info)
    }

    /// The driver's answer to [`Effect::ReadableHeads`]: every document `conn`'s account may
    /// read with the heads storage has for it, or `None` when storage could not say. Answers
    /// the peer's `rectify-digest` with the buckets that differ; every document of an equal
    /// bucket is in sync, and the connection is subscribed to it as after a sync round.
    ///
    /// A document in memory counts with its heads here, whatever `readable` says (the driver
    /// need not read them): they are what this server has acknowledged (storage may be ahead
    /// by a write in flight or another server's). A document listed without heads and not in
    /// memory is left out, so its bucket differs. A failed read differs everywhere, so the peer falls back to `rectify-heads`, which loads
    /// each document and answers for it.
    pub fn readable_heads(
        &mut self,
        conn: ConnId,
        readable: Option<Vec<(DocumentId, Vec<ChangeHash>)>>,
    ) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        let Some(theirs) = self
            .conns
            .get_mut(&conn)
            .and_then(|connection| connection.pending_digest.take())
        else {
            return out; // gone, or never asked: a stale answer
        };
        let buckets = theirs.0.len();
        let reply = match readable {
            None => DigestReply(vec![true; buckets]),
            Some(mut readable) => {
                for (doc, heads) in &mut readable {
                    if let Some(Slot::Ready(document)) = self.docs.get_mut(doc) {
                        *heads = document.doc.get_heads();
                    }
                }
                let entries = readable.iter().map(|(doc, heads)| (*doc, heads.as_slice()));
                let reply = SetDigest::of(entries, buckets).differing(&theirs);
                for (doc, heads) in readable {
                    let bucket = batch::bucket_of(&doc, buckets);
                    if !heads.is_empty() && reply.0.get(bucket) == Some(&false) {
                        self.subscribe_in_sync(conn, doc, &heads);
                    }
                }
                reply
            }
        };
        out.push(send(
            conn,
            &Message::RectifyDigestReply {
                docs: reply.encode(),
            },
        ));
        out
    }

    /// `conn` has exactly `heads` of `doc` (an equal bucket of its digest): it gets the
    /// document's next changes as if it had just synced. A document not in memory is not
    /// loaded for it: the connection is subscribed, as to an evicted one.
    /// A peer this document refused stays read-only (see the module documentation).
    fn subscribe_in_sync(&mut self, conn: ConnId, doc: DocumentId, heads: &[ChangeHash]) {
        match self.docs.get_mut(&doc) {
            Some(Slot::Ready(document)) => {
                let peer = document.peers.entry(conn).or_default();
                if !peer.state.read_only {
                    peer.state = batch::synced_state(heads);
                }
            }
            Some(Slot::Loading { subscribers, .. } | Slot::Dormant { subscribers }) => {
                let subscriber = subscribers.entry(conn).or_default();
                if !subscriber.read_only {
                    subscriber.heads = heads.to_vec();
                }
            }
            None => {
                let subscriber = Subscriber {
                    read_only: false,
                    heads: heads.to_vec(),
                };
                let subscribers = Subscribers::from([(conn, subscriber)]);
                self.docs.insert(doc, Slot::Dormant { subscribers });
            }
        }
    }

    /// The driver's answer to [`Effect::LoadDocument`]: the stored bytes, or `None` when storage
    /// has no such document. Runs the frames that waited for it.
    pub fn document_loaded(&mut self, doc: DocumentId, stored: Option<&[u8]>) -> Vec<Effect> {
        let mut out = self.apply_loaded(doc, stored);
        self.pump_waiting(&mut out);
        out
    }

    /// [`Self::document_loaded`] before the summaries waiting for room go on.
    fn apply_loaded(&mut self, doc: DocumentId, stored: Option<&[u8]>) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        if !matches!(self.docs.get(&doc), Some(Slot::Loading { .. })) {
            // Not asked for (or already answered): a stale answer must not replace live state.
            return out;
        }
        let Some(Slot::Loading {
            waiting,
            subscribers,
            push,
        }) = self.docs.remove(&doc)
        else {
            return out;
        };
        let loaded = match stored {
            Some(bytes) => model::load_automerge(bytes),
            // Unknown: an empty document, which only a `sync` from a creator can fill.
            None => {
                self.absent.insert(doc);
                Ok(model::new_automerge())
            }
        };
        match loaded {
            Ok(mut automerge) => {
                let loaded_heads = sorted(automerge.get_heads());
                let mut behind = BTreeSet::new();
                let peers = subscribers
                    .into_iter()
                    .filter(|(conn, _)| self.conns.contains_key(conn))
                    .map(|(conn, subscriber)| {
                        let mut peer = PeerDoc::default();
                        if subscriber.read_only || subscriber.heads.is_empty() {
                            peer.state.set_read_only(subscriber.read_only);
                        } else {
                            peer.state = batch::synced_state(&subscriber.heads);
                            if sorted(subscriber.heads) != loaded_heads {
                                behind.insert(conn);
                            }
                        }
                        (conn, peer)
                    })
                    .collect();
                let document = Document {
                    doc: automerge,
                    peers,
                    last_used: self.clock,
                    applied: 0,
                    writing: None,
                    queued: Vec::new(),
                    outdated: 0,
                };
                self.docs.insert(doc, Slot::Ready(Box::new(document)));
                if push || !behind.is_empty() {
                    let Self {
                        peer_id: server,
                        gate,
                        conns,
                        docs,
                        ..
                    } = self;
                    if let Some(Slot::Ready(document)) = docs.get_mut(&doc) {
                        let to = |conn: ConnId| push || behind.contains(&conn);
                        push_to(gate, conns, server, document, doc, to, &mut out);
                    }
                }
                for (conn, work) in waiting {
                    self.work_left_waiting(conn);
                    self.route(conn, doc, work, &mut out);
                }
            }
            Err(e) => {
                // Storage holds bytes Automerge can't read: tell the peers (not a verdict on
                // their copies), keep serving others; the next request tries again.
                let text = format!("document {doc} could not be loaded: {e}");
                self.load_failed(doc, waiting, subscribers, &text, &mut out);
            }
        }
        out
    }

    /// Answers the work that waited for a document that could not be loaded: a "try again
    /// later" error and a 1013 close for a stock frame; for batch entries an answer that sends
    /// the peer to the stock sync (which gets them). Peers that had it open stay subscribed.
    fn load_failed(
        &mut self,
        doc: DocumentId,
        waiting: Vec<(ConnId, Work)>,
        subscribers: Subscribers,
        text: &str,
        out: &mut Vec<Effect>,
    ) {
        if !subscribers.is_empty() {
            self.docs.insert(doc, Slot::Dormant { subscribers });
        }
        for (conn, work) in waiting {
            self.work_left_waiting(conn);
            match work {
                // The client falls back to a stock sync, which gets the error.
                Work::Heads { batch, .. } => {
                    let differs = Some(Differs::Heads(Vec::new()));
                    self.heads_entry(batch, doc, differs, out);
                    continue;
                }
                Work::Changes { batch, .. } => {
                    self.changes_entry(batch, doc, false, out);
                }
                Work::Frame(..) => {
                    // A stock frame: the peer waits for an answer about the document that will
                    // not come, so it is closed with "try again later" and asks again when it
                    // reconnects (a batch entry instead sends the peer to this stock sync).
                    if let Some(connection) = self.conns.get(&conn) {
                        out.push(retry_frame(
                            &self.peer_id,
                            connection,
                            conn,
                            Some(doc),
                            text,
                        ));
                        out.push(Effect::Close {
                            conn,
                            reason: "the server could not read a document: reconnect and try \
                                     again"
                                .to_owned(),
                            retry_later: true,
                        });
                    }
                    continue;
                }
            }
            if let Some(connection) = self.conns.get(&conn) {
                out.push(retry_frame(
                    &self.peer_id,
                    connection,
                    conn,
                    Some(doc),
                    text,
                ));
            }
        }
    }

    /// Work on a document from a joined peer: do it, queue it, or start loading.
    fn route(&mut self, conn: ConnId, doc: DocumentId, work: Work, out: &mut Vec<Effect>) {
        let subscribers = match self.docs.get_mut(&doc) {
            Some(Slot::Ready(document)) if document.writing.is_some() => {
                *self.waiting_by_conn.entry(conn).or_default() += 1;
                return document.queued.push((conn, work));
            }
            Some(Slot::Ready(_)) => return self.work_ready(conn, doc, work, out),
            Some(Slot::Loading { waiting, .. }) => {
                *self.waiting_by_conn.entry(conn).or_default() += 1;
                return waiting.push((conn, work));
            }
            Some(Slot::Dormant { subscribers }) => std::mem::take(subscribers),
            None => Subscribers::new(),
        };
        if self.absent.contains(&doc) {
            // Storage said it has no such document, and nothing created it since: the answer
            // of a load is known without one.
            self.docs.insert(
                doc,
                Slot::Loading {
                    waiting: Vec::new(),
                    subscribers,
                    push: false,
                },
            );
            out.extend(self.apply_loaded(doc, None));
            return self.route(conn, doc, work, out);
        }
        *self.waiting_by_conn.entry(conn).or_default() += 1;
        self.docs.insert(
            doc,
            Slot::Loading {
                waiting: vec![(conn, work)],
                subscribers,
                push: false,
            },
        );
        out.push(Effect::LoadDocument { doc });
    }

    /// `doc` was changed in storage beside the core (an import, an item added by hand) while
    /// it was out of memory: when peers have it open, it is loaded and each of them is sent
    /// what it lacks, rather than finding out at its next exchange. Nothing for a document
    /// nobody has open, or one in memory (a write beside the core empties memory first).
    pub fn refresh(&mut self, doc: DocumentId) -> Vec<Effect> {
        match self.docs.get_mut(&doc) {
            Some(Slot::Dormant { subscribers }) if !subscribers.is_empty() => {
                let subscribers = std::mem::take(subscribers);
                self.docs.insert(
                    doc,
                    Slot::Loading {
                        waiting: Vec::new(),
                        subscribers,
                        push: true,
                    },
                );
                vec![Effect::LoadDocument { doc }]
            }
            Some(Slot::Loading { push, .. }) => {
                *push = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Changes another server stored for `doc` (several servers on one database), read from
    /// storage as raw Automerge bytes: they are durable already, so they go straight into the
    /// loaded document and every peer that has it open is sent what it lacks. Never another
    /// server's sync messages: each server keeps its own sync state per peer.
    ///
    /// `None` when the document is not loaded and ready, or has a write of its own in flight
    /// (which storage will refuse as outdated): the driver catches up later. Changes it holds
    /// already are ignored; bytes that do not load change nothing (`Some` of no effects).
    pub fn apply_stored(&mut self, doc: DocumentId, bytes: &[u8]) -> Option<Vec<Effect>> {
        let Self {
            peer_id: server,
            gate,
            conns,
            docs,
            ..
        } = self;
        let Some(Slot::Ready(document)) = docs.get_mut(&doc) else {
            return None;
        };
        if document.writing.is_some() {
            return None;
        }
        let mut out = Vec::new();
        let before = document.doc.get_heads();
        let readers_before = gate.readers(&document.doc);
        let Ok(applied) = document.doc.load_incremental(bytes) else {
            return Some(out);
        };
        if document.doc.get_heads() != before {
            document.applied(applied);
            push_to(gate, conns, server, document, doc, |_| true, &mut out);
            if before.is_empty() || gate.readers(&document.doc) != readers_before {
                let subscribed = |conn: &ConnId| document.peers.contains_key(conn);
                let readable = |who: &G::Peer| gate.may_read(who, &doc, &document.doc);
                announce_list_changed(conns, subscribed, readable, &mut out);
            }
        }
        Some(out)
    }

    /// A document was created or its readers changed beside the core (an import, an item
    /// added or re-planned over HTTP): every peer speaking our extension that `may_read` it and
    /// does not have it open is told to ask for its list again (`rectify-list-changed`). The
    /// driver answers `may_read` from the stored index, as the document may not be loaded.
    pub fn announce(
        &mut self,
        doc: DocumentId,
        may_read: impl Fn(&G::Peer) -> bool,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        let subscribers: Vec<ConnId> = match self.docs.get(&doc) {
            Some(Slot::Ready(document)) => document.peers.keys().copied().collect(),
            Some(Slot::Loading { subscribers, .. } | Slot::Dormant { subscribers }) => {
                subscribers.keys().copied().collect()
            }
            None => Vec::new(),
        };
        let subscribed = |conn: &ConnId| subscribers.contains(conn);
        announce_list_changed(&self.conns, subscribed, may_read, &mut out);
        out
    }

    fn work_ready(&mut self, conn: ConnId, doc: DocumentId, work: Work, out: &mut Vec<Effect>) {
        match work {
            Work::Frame(ask, data) => self.sync_ready(conn, ask, &data, out),
            Work::Heads { batch, digest } => {
                let differs = self.heads_ready(conn, doc, digest);
                self.heads_entry(batch, doc, differs, out);
            }
            Work::Changes {
                batch,
                heads,
                bundle,
            } => {
                // `None`: the changes are being written; `persisted` answers the entry.
                if let Some(applied) = self.changes_ready(conn, doc, batch, heads, bundle, out) {
                    self.changes_entry(batch, doc, applied, out);
                }
            }
        }
    }

    /// A `rectify-heads` summary: every document is looked at (loaded if need be), and one
    /// reply goes out when the last one is.
    fn start_heads(&mut self, conn: ConnId, summary: Summary, out: &mut Vec<Effect>) {
        let id = self.open_batch(
            conn,
            summary.0.len(),
            BatchReply::Heads(SummaryReply::default()),
        );
        if let Some(pending) = self.batches.get_mut(&id) {
            pending.unrouted = summary.0.into();
        }
        self.pump(id, out);
        self.batch_done(id, out);
    }

    /// Looks at a summary's next documents while fewer than [`SUMMARY_WINDOW`] are being
    /// looked at. Answers that come at once free their place at once, so this loops rather
    /// than recursing; answers that come later ask for it again through `pump_later`.
    fn pump(&mut self, id: u64, out: &mut Vec<Effect>) {
        loop {
            let Some(pending) = self.batches.get_mut(&id) else {
                return;
            };
            if pending.routing >= SUMMARY_WINDOW {
                return;
            }
            let Some((doc, digest)) = pending.unrouted.pop_front() else {
                return;
            };
            pending.routing += 1;
            let conn = pending.conn;
            self.route(conn, doc, Work::Heads { batch: id, digest }, out);
        }
    }

    /// Pumps the summaries whose documents were answered since (see [`Self::pump`]).
    fn pump_waiting(&mut self, out: &mut Vec<Effect>) {
        while let Some(id) = self.pump_later.pop() {
            self.pump(id, out);
        }
    }

    /// A `rectify-changes` batch: each document's bundle is received like the changes of a
    /// sync message; one `rectify-applied` goes out when the last one is done.
    fn start_changes(&mut self, conn: ConnId, changes: ChangeBatch, out: &mut Vec<Effect>) {
        let id = self.open_batch(
            conn,
            changes.0.len(),
            BatchReply::Changes(Applied::default()),
        );
        for entry in changes.0 {
            let work = Work::Changes {
                batch: id,
                heads: entry.heads,
                bundle: entry.bundle,
            };
            self.route(conn, entry.doc, work, out);
        }
        self.batch_done(id, out);
    }

    fn open_batch(&mut self, conn: ConnId, entries: usize, reply: BatchReply) -> u64 {
        let id = self.next_batch;
        self.next_batch += 1;
        // One more than the entries: the batch cannot finish while its entries are still
        // being routed; the caller's `batch_done` after routing takes that one back.
        let pending = PendingBatch {
            conn,
            remaining: entries + 1,
            reply,
            unrouted: VecDeque::new(),
            routing: 0,
        };
        self.batches.insert(id, pending);
        id
    }

    /// One document of a `rectify-heads` is answered: `None` when it is in sync (the reply
    /// names only the others).
    fn heads_entry(
        &mut self,
        id: u64,
        doc: DocumentId,
        differs: Option<Differs>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(pending) = self.batches.get_mut(&id) {
            if let (Some(differs), BatchReply::Heads(reply)) = (differs, &mut pending.reply) {
                reply.0.push((doc, differs));
            }
            pending.routing = pending.routing.saturating_sub(1);
            if !pending.unrouted.is_empty() {
                self.pump_later.push(id);
            }
        }
        self.batch_done(id, out);
    }

    /// One document of a `rectify-changes` is done: `applied` when the server now has exactly
    /// the peer's heads (the reply names only those).
    fn changes_entry(&mut self, id: u64, doc: DocumentId, applied: bool, out: &mut Vec<Effect>) {
        if let (true, Some(pending)) = (applied, self.batches.get_mut(&id))
            && let BatchReply::Changes(reply) = &mut pending.reply
        {
            reply.0.push(doc);
        }
        self.batch_done(id, out);
    }

    /// Counts one answer of a batch, and sends its reply after the last one.
    fn batch_done(&mut self, id: u64, out: &mut Vec<Effect>) {
        let Some(pending) = self.batches.get_mut(&id) else {
            return; // its connection is gone
        };
        pending.remaining -= 1;
        if pending.remaining > 0 {
            return;
        }
        let Some(pending) = self.batches.remove(&id) else {
            return;
        };
        let message = match pending.reply {
            BatchReply::Heads(reply) => Message::RectifyHeadsReply {
                docs: reply.encode(),
            },
            BatchReply::Changes(applied) => Message::RectifyApplied {
                docs: applied.encode(),
            },
        };
        if self.conns.contains_key(&pending.conn) {
            out.push(send(pending.conn, &message));
        }
    }

    /// One document of a `rectify-heads`: `None` when the peer has exactly the server's heads
    /// (it is now subscribed, in sync), else what differs.
    fn heads_ready(
        &mut self,
        conn: ConnId,
        doc_id: DocumentId,
        digest: HeadsDigest,
    ) -> Option<Differs> {
        let Self {
            gate,
            conns,
            docs,
            clock,
            ..
        } = self;
        let connection = conns.get(&conn)?;
        let Some(Slot::Ready(document)) = docs.get_mut(&doc_id) else {
            return Some(Differs::Heads(Vec::new()));
        };
        document.last_used = *clock;
        let heads = document.doc.get_heads();
        if heads.is_empty() {
            // Not on the server: perhaps the peer is creating it, which the stock sync decides.
            if document.peers.is_empty() {
                docs.remove(&doc_id);
            }
            return Some(Differs::Heads(Vec::new()));
        }
        if gate.carries_over(&connection.info, &doc_id, &document.doc) {
            // Never in sync: the peer goes on with a stock exchange, which carries over what
            // it holds and tells it to update.
            return Some(Differs::Heads(heads));
        }
        if !gate.may_read(&connection.info, &doc_id, &document.doc) {
            document.peers.remove(&conn);
            return Some(Differs::Unavailable);
        }
        let read_only = document
            .peers
            .get(&conn)
            .is_some_and(|peer| peer.state.read_only);
        if !read_only && batch::digest(&heads) == digest {
            let state = batch::synced_state(&heads);
            document.peers.insert(conn, PeerDoc { state });
            None
        } else {
            document.peers.entry(conn).or_default();
            Some(Differs::Heads(heads))
        }
    }

    /// One document of a `rectify-changes`: true when the server now has exactly the heads the
    /// peer sent. Otherwise the peer was sent a stock frame for it (`sync`, `error` or
    /// `doc-unavailable`) and the stock sync carries on.
    fn changes_ready(
        &mut self,
        conn: ConnId,
        doc_id: DocumentId,
        batch_id: u64,
        heads: Vec<ChangeHash>,
        bundle: Vec<u8>,
        out: &mut Vec<Effect>,
    ) -> Option<bool> {
        let Self {
            peer_id: server,
            gate,
            conns,
            docs,
            clock,
            ..
        } = self;
        let Some(connection) = conns.get(&conn) else {
            return Some(false);
        };
        let Some(Slot::Ready(document)) = docs.get_mut(&doc_id) else {
            return Some(false);
        };
        document.last_used = *clock;
        let who = &connection.info;
        let empty = document.doc.get_heads().is_empty();
        let carry = !empty && gate.carries_over(who, &doc_id, &document.doc);
        if empty || (!carry && !gate.may_read(who, &doc_id, &document.doc)) {
            // Changes to a document one may not read, or that is not there (the peer only
            // batches documents the server said it has): as for a stock `sync`.
            document.peers.remove(&conn);
            out.push(unavailable(server, connection, conn, doc_id));
            if empty && document.peers.is_empty() {
                docs.remove(&doc_id);
            }
            return Some(false);
        }
        // The stock message these changes stand for: the peer's heads and the changes; no
        // `have`, so a fallback answer below sends nothing the peer has not asked for.
        let work = Work::Changes {
            batch: batch_id,
            heads: heads.clone(),
            bundle: bundle.clone(),
        };
        let message = sync::Message {
            heads: heads.clone(),
            need: Vec::new(),
            have: Vec::new(),
            changes: bundle.into(),
            flags: None,
            version: sync::MessageVersion::V2,
        };
        if carry {
            let peer = document.peers.remove(&conn).unwrap_or_default();
            let at = (conn, doc_id, Some(batch_id));
            let started = carry_receive(server, connection, document, at, peer, message, work, out);
            return (!started).then_some(false);
        }
        let before = document.doc.get_heads();
        let mut peer = document.peers.remove(&conn).unwrap_or_default();
        let outcome = receive(gate, who, &doc_id, &mut document.doc, &mut peer, message);
        if let Ok(Received::Accepted { .. }) = &outcome {
            let then = AfterWrite::Changes {
                batch: batch_id,
                heads,
            };
            start_write(outcome, conn, document, doc_id, peer, then, work, out);
            return None;
        }
        let understood = outcome_effects(outcome, server, connection, conn, doc_id, out);
        Some(finish_changes(
            gate, conns, server, document, doc_id, conn, peer, &before, heads, understood, out,
        ))
    }

    /// A sync message for a document in memory.
    fn sync_ready(&mut self, conn: ConnId, ask: Ask, data: &SyncData, out: &mut Vec<Effect>) {
        let Self {
            peer_id: server,
            gate,
            conns,
            docs,
            clock,
            ..
        } = self;
        let doc_id = data.document_id;
        let Some(connection) = conns.get(&conn) else {
            return; // disconnected while the document was loading
        };
        let Some(Slot::Ready(document)) = docs.get_mut(&doc_id) else {
            return;
        };
        document.last_used = *clock;
        let who = &connection.info;

        // An empty document is one nobody has written: it exists only for its creator.
        let empty = document.doc.get_heads().is_empty();
        let subscribed = document.peers.contains_key(&conn);
        let carry = !empty && gate.carries_over(who, &doc_id, &document.doc);
        let allowed = if empty {
            subscribed || (ask == Ask::Sync && gate.may_create(who, &doc_id))
        } else {
            carry || gate.may_read(who, &doc_id, &document.doc)
        };
        if !allowed {
            document.peers.remove(&conn);
            // An empty document nobody opened is not kept: asking for random ids must not
            // fill the server's memory with empty documents.
            let forget = empty && document.peers.is_empty();
            out.push(unavailable(server, connection, conn, doc_id));
            if forget {
                docs.remove(&doc_id);
            }
            return;
        }

        let message = match sync::Message::decode(&data.data) {
            Ok(message) => message,
            Err(e) => {
                let text = format!("not an Automerge sync message for {doc_id}: {e}");
                out.push(error_frame(server, connection, conn, Some(doc_id), &text));
                return;
            }
        };

        if carry {
            let peer = document.peers.remove(&conn).unwrap_or_default();
            let work = Work::Frame(ask, data.clone());
            carry_receive(
                server,
                connection,
                document,
                (conn, doc_id, None),
                peer,
                message,
                work,
                out,
            );
            return;
        }
        let before = document.doc.get_heads();
        let mut peer = document.peers.remove(&conn).unwrap_or_default();
        // What we last told this peer, when this message can only be an answer to it (no
        // changes): if our reply would say the same again with nothing to send or ask, it is
        // not sent (see `finish_sync`).
        let told = (message.changes.is_empty() && peer.state.have_responded)
            .then(|| sorted(peer.state.last_sent_heads.clone()));
        if peer.state.read_only && knows_all(&mut document.doc, &message.heads) {
            // The peer no longer holds anything we refused (it reset its copy): sync normally.
            peer.state.set_read_only(false);
        }
        let outcome = receive(gate, who, &doc_id, &mut document.doc, &mut peer, message);
        if let Ok(Received::Accepted { .. }) = &outcome {
            let work = Work::Frame(ask, data.clone());
            start_write(
                outcome,
                conn,
                document,
                doc_id,
                peer,
                AfterWrite::Sync,
                work,
                out,
            );
            return;
        }
        if !outcome_effects(outcome, server, connection, conn, doc_id, out) {
            // A new document whose first message failed stays unknown to this peer.
            if !empty || subscribed {
                document.peers.insert(conn, peer);
            }
            return;
        }
        finish_sync(
            gate, conns, server, document, doc_id, conn, peer, &before, told, out,
        );
    }

    /// The driver's answer to [`Effect::Persist`]: `durable` when the changes are on disk.
    ///
    /// Durable: the changes become the document, the sender is answered (its sync state now
    /// knows the server has them: the acknowledgement) and the other readers get them.
    /// Not durable: the document stays as storage holds it, nobody hears of the changes, and the
    /// sender gets a "try again later" error and is disconnected, so that it keeps them pending
    /// and sends them again when it reconnects; other documents and peers are not affected.
    /// Then the work that waited for the write runs.
    pub fn persisted(&mut self, doc_id: DocumentId, durable: bool) -> Vec<Effect> {
        let mut out = self.apply_persisted(doc_id, durable);
        self.pump_waiting(&mut out);
        out
    }

    /// The driver's answer to [`Effect::Persist`] when storage refused the write as outdated:
    /// another server wrote the document since this copy was read (several servers on one
    /// database), and `newer` is what storage holds above this copy's version, read after the
    /// refusal. Nothing was written. The copy catches up (its peers are sent what they lack)
    /// and the frame that carried the changes is judged again on it, as if it had just
    /// arrived: a change is never judged on a stale copy, and the sender is not sent away to
    /// reconnect. After [`OUTDATED_RETRIES`] such refusals in a row, as a failed write.
    ///
    /// `None` when no write of `doc_id` is pending (a stale answer): nothing is caught up.
    pub fn persisted_outdated(&mut self, doc_id: DocumentId, newer: &[u8]) -> Option<Vec<Effect>> {
        self.clock += 1;
        let Some(Slot::Ready(document)) = self.docs.get_mut(&doc_id) else {
            return None;
        };
        let write = document.writing.take()?;
        document.outdated = document.outdated.saturating_add(1);
        let again = document.outdated <= OUTDATED_RETRIES;
        let queued = std::mem::take(&mut document.queued);
        let mut out = self.apply_stored(doc_id, newer).unwrap_or_default();
        let conn = write.conn;
        if again {
            self.route(conn, doc_id, write.work, &mut out);
        } else {
            tell_write_failed(&self.peer_id, &self.conns, conn, doc_id, &mut out);
            if let Some(batch) = write.then.batch() {
                self.changes_entry(batch, doc_id, false, &mut out);
            }
        }
        self.run_queued(doc_id, queued, &mut out);
        self.pump_waiting(&mut out);
        Some(out)
    }

    /// Routes again, in order, the work that waited for a write of `doc_id` to end.
    fn run_queued(
        &mut self,
        doc_id: DocumentId,
        queued: Vec<(ConnId, Work)>,
        out: &mut Vec<Effect>,
    ) {
        for (conn, work) in queued {
            self.work_left_waiting(conn);
            self.route(conn, doc_id, work, out);
        }
    }

    /// The driver's answer to [`Effect::CarryOver`]: `done` when the changes were carried
    /// over and stored with the document, all in one write. Done: they become part of the
    /// document (the office's open copies get them) and the sender, which is never sent this
    /// document, is told to update its app and that the document is unavailable — or, when
    /// it has announced heads the server still lacks, asked for the rest. Not done (storage
    /// could not read or write): nothing of them was written, the sender is told to try
    /// again later and closed, keeping them. Then the work that waited runs.
    pub fn carried(&mut self, doc_id: DocumentId, done: bool) -> Vec<Effect> {
        self.persisted(doc_id, done)
    }

    /// [`Self::persisted`] before the summaries waiting for room go on.
    fn apply_persisted(&mut self, doc_id: DocumentId, durable: bool) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        let Self {
            peer_id: server,
            gate,
            conns,
            docs,
            absent,
            ..
        } = self;
        let Some(Slot::Ready(document)) = docs.get_mut(&doc_id) else {
            return out;
        };
        let Some(write) = document.writing.take() else {
            return out;
        };
        let conn = write.conn;
        let mut answered_entry = None;
        if durable {
            // It exists now (a creator's first changes).
            absent.remove(&doc_id);
            document.outdated = 0;
            let before = document.doc.get_heads();
            let audience_moved =
                before.is_empty() || gate.readers(&document.doc) != gate.readers(&write.candidate);
            document.doc = *write.candidate;
            document.applied(write.changes);
            let peer = document.peers.remove(&conn).map(|mut peer| {
                peer.state = write.state;
                peer
            });
            match (peer, write.then) {
                (Some(peer), AfterWrite::Sync) => {
                    finish_sync(
                        gate, conns, server, document, doc_id, conn, peer, &before, None, &mut out,
                    );
                }
                (Some(peer), AfterWrite::Changes { batch, heads }) => {
                    let applied = finish_changes(
                        gate, conns, server, document, doc_id, conn, peer, &before, heads, true,
                        &mut out,
                    );
                    answered_entry = Some((batch, applied));
                }
                // Carried over: the sender is never sent this document; it is told to update
                // once it holds nothing more for it. The office's open copies get the changes.
                (peer, AfterWrite::Carry { batch }) => {
                    if let (Some(peer), Some(connection)) = (peer, conns.get(&conn)) {
                        carry_answer(server, connection, conn, document, doc_id, peer, &mut out);
                    }
                    push_to_others(gate, conns, server, document, doc_id, Some(conn), &mut out);
                    answered_entry = batch.map(|batch| (batch, false));
                }
                // The sender has gone meanwhile: the others still get the changes.
                (None, then) => {
                    push_to_others(gate, conns, server, document, doc_id, Some(conn), &mut out);
                    answered_entry = then.batch().map(|batch| (batch, false));
                }
            }
            if audience_moved {
                let subscribed = |conn: &ConnId| document.peers.contains_key(conn);
                let readable = |who: &G::Peer| gate.may_read(who, &doc_id, &document.doc);
                announce_list_changed(conns, subscribed, readable, &mut out);
            }
        } else {
            tell_write_failed(server, conns, conn, doc_id, &mut out);
            answered_entry = write.then.batch().map(|batch| (batch, false));
        }
        let queued = std::mem::take(&mut document.queued);
        if let Some((batch, applied)) = answered_entry {
            self.changes_entry(batch, doc_id, applied, &mut out);
        }
        self.run_queued(doc_id, queued, &mut out);
        out
    }

    /// The driver's answer to [`Effect::Persist`] when, before writing, it found the changes
    /// forbidden by facts only it could look up (the gate, being sans-IO, cannot: e.g. whose
    /// evidence file a new reference names). Nothing is written; the changes are refused as
    /// if the gate had refused them: kept for inspection ([`Effect::Quarantine`] with
    /// `change_bytes`, the chunk the driver was given), an `error` to the sender naming the
    /// document, and the sender's sync state read-only for the document until it no longer
    /// holds the refused changes. The connection stays open. Then the work that waited for
    /// the write runs.
    pub fn write_refused(
        &mut self,
        doc_id: DocumentId,
        reason: GateRefusal,
        change_bytes: Vec<u8>,
    ) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        let Self {
            peer_id: server,
            conns,
            docs,
            ..
        } = self;
        let Some(Slot::Ready(document)) = docs.get_mut(&doc_id) else {
            return out;
        };
        let Some(write) = document.writing.take() else {
            return out;
        };
        let conn = write.conn;
        // The sender's state is the one from before the refused message (the accepted state
        // went with the write): read-only, it learns the peer's heads from the next message
        // without applying anything, as after a refusal by the gate.
        if let Some(peer) = document.peers.get_mut(&conn) {
            peer.state.set_read_only(true);
        }
        if let Some(connection) = conns.get(&conn) {
            out.push(refusal_effects(
                server,
                connection,
                conn,
                doc_id,
                reason,
                change_bytes,
            ));
        }
        let queued = std::mem::take(&mut document.queued);
        if let Some(batch) = write.then.batch() {
            self.changes_entry(batch, doc_id, false, &mut out);
        }
        self.run_queued(doc_id, queued, &mut out);
        self.pump_waiting(&mut out);
        out
    }

    /// The driver's answer to [`Effect::LoadDocument`] when storage could not be read (not:
    /// "there is no such document", which is [`Self::document_loaded`] with `None`). The frames
    /// that waited get a "try again later" error, never `doc-unavailable`, and their peers are
    /// closed with "try again later" so they ask again on reconnect; nothing is kept in memory
    /// for the document, so the next frame that needs it loads it again.
    pub fn document_load_failed(&mut self, doc: DocumentId) -> Vec<Effect> {
        let mut out = self.apply_load_failure(doc);
        self.pump_waiting(&mut out);
        out
    }

    /// [`Self::document_load_failed`] before the summaries waiting for room go on.
    fn apply_load_failure(&mut self, doc: DocumentId) -> Vec<Effect> {
        self.clock += 1;
        let mut out = Vec::new();
        let Some(Slot::Loading {
            waiting,
            subscribers,
            ..
        }) = self.docs.remove(&doc)
        else {
            return out;
        };
        let text = format!(
            "the server could not read document {doc} just now; your copy is kept, try again later"
        );
        self.load_failed(doc, waiting, subscribers, &text, &mut out);
        out
    }

    /// Relays an `ephemeral` message to the document's other readers, if the sender has the
    /// document open (and so was allowed to read it).
    fn relay_ephemeral(
        &self,
        conn: ConnId,
        doc_id: &DocumentId,
        relayed: impl Fn(PeerId) -> Message,
        out: &mut Vec<Effect>,
    ) {
        let Some(Slot::Ready(document)) = self.docs.get(doc_id) else {
            return;
        };
        if !document.peers.contains_key(&conn) {
            return;
        }
        for &other in document.peers.keys().filter(|c| **c != conn) {
            let Some(connection) = self.conns.get(&other) else {
                continue;
            };
            let Some(target) = connection.peer.clone() else {
                continue;
            };
            if self.gate.may_read(&connection.info, doc_id, &document.doc) {
                out.push(send(other, &relayed(target)));
            }
        }
    }
}

/// Tells the sender of changes that could not be written to try again later: a `retry` error
/// and a 1013 close; its device keeps them and sends them again when it reconnects.
fn tell_write_failed<P>(
    server: &PeerId,
    conns: &BTreeMap<ConnId, Connection<P>>,
    conn: ConnId,
    doc_id: DocumentId,
    out: &mut Vec<Effect>,
) {
    let Some(connection) = conns.get(&conn) else {
        return;
    };
    let text = format!(
        "the server could not save changes to {doc_id} just now; they stay on your device and \
         are sent again when you reconnect"
    );
    out.push(retry_frame(server, connection, conn, Some(doc_id), &text));
    out.push(Effect::Close {
        conn,
        reason: "the server could not save a change: reconnect and send it again".to_owned(),
        retry_later: true,
    });
}

/// A sync message from a peer whose changes to `document` are carried over
/// ([`Gate::carries_over`]): new changes (their dependencies met) go to the driver as
/// [`Effect::CarryOver`] and the document waits as for a write (true); otherwise the peer
/// is answered ([`carry_answer`]). `at`: the connection, the document, and the
/// `rectify-changes` batch the changes came in, if any.
#[allow(clippy::too_many_arguments)]
fn carry_receive<P>(
    server: &PeerId,
    connection: &Connection<P>,
    document: &mut Document,
    (conn, doc_id, batch): (ConnId, DocumentId, Option<u64>),
    mut peer: PeerDoc,
    message: sync::Message,
    work: Work,
    out: &mut Vec<Effect>,
) -> bool {
    let before = document.doc.get_heads();
    let mut candidate = document.doc.clone();
    let mut state = peer.state.clone();
    if let Err(e) = candidate.sync().receive_sync_message(&mut state, message) {
        let text = format!("changes for {doc_id} do not parse: {e}");
        out.push(error_frame(server, connection, conn, Some(doc_id), &text));
        document.peers.insert(conn, peer);
        return false;
    }
    let after = candidate.get_heads();
    if after == before {
        // Nothing new, or changes waiting for their dependencies (kept, as for any peer).
        document.doc = candidate;
        peer.state = state;
        carry_answer(server, connection, conn, document, doc_id, peer, out);
        return false;
    }
    let new_changes = candidate.get_changes(&before);
    let chunk: Vec<u8> = (new_changes.iter())
        .flat_map(|change| change.raw_bytes().iter().copied())
        .collect();
    let hashes: Vec<ChangeHash> = new_changes.iter().map(automerge::Change::hash).collect();
    document.peers.insert(conn, peer);
    document.writing = Some(PendingWrite {
        conn,
        candidate: Box::new(candidate),
        heads: after,
        state,
        changes: hashes.len(),
        then: AfterWrite::Carry { batch },
        work,
    });
    out.push(Effect::CarryOver {
        conn,
        doc: doc_id,
        chunk,
        hashes,
    });
    true
}

/// Answers a peer whose changes to `document` are carried over: when it holds nothing the
/// server lacks, it is told so (a `sync` naming its own heads: its changes count as
/// acknowledged), then to update its app (`rectifyUpdate`) and that the document is
/// unavailable, and is no longer a peer of it; otherwise it is sent what makes it send the
/// rest — the server's heads and summary, never the document's changes.
fn carry_answer<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document: &mut Document,
    doc_id: DocumentId,
    mut peer: PeerDoc,
    out: &mut Vec<Effect>,
) {
    let theirs = peer.state.their_heads.clone().unwrap_or_default();
    if knows_all(&mut document.doc, &theirs) {
        if !theirs.is_empty() {
            // What it holds is on the server: said with its own heads (not the document's,
            // which it must not ask for), so that its sync state counts it as acknowledged.
            let acknowledged = sync::Message {
                heads: theirs,
                need: Vec::new(),
                have: Vec::new(),
                changes: Vec::<Vec<u8>>::new().into(),
                flags: None,
                version: sync::MessageVersion::V1,
            };
            out.push(sync_frame(server, connection, conn, doc_id, acknowledged));
        }
        out.push(send(
            conn,
            &Message::Error {
                sender_id: server.clone(),
                target_id: connection.peer.clone(),
                message: UPDATE_TEXT.to_owned(),
                document_id: Some(doc_id),
                retry: false,
                refusal: None,
                update: true,
            },
        ));
        out.push(unavailable(server, connection, conn, doc_id));
        return;
    }
    if let Some(mut reply) = batch::generate(&mut document.doc, &mut peer.state, false) {
        reply.changes = Vec::<Vec<u8>>::new().into();
        out.push(sync_frame(server, connection, conn, doc_id, reply));
    }
    document.peers.insert(conn, peer);
}

/// What a client too old for a document is told (`rectifyUpdate`).
pub const UPDATE_TEXT: &str = "this app is out of date: reload to update";

/// Starts writing changes the gate accepted ([`Effect::Persist`]); the document and the
/// sender's sync state stay as they were until [`SyncServer::persisted`].
#[allow(clippy::too_many_arguments)]
fn start_write(
    outcome: Result<Received, String>,
    conn: ConnId,
    document: &mut Document,
    doc_id: DocumentId,
    peer: PeerDoc,
    then: AfterWrite,
    work: Work,
    out: &mut Vec<Effect>,
) {
    let Ok(Received::Accepted {
        chunk,
        hashes,
        candidate,
        heads,
        state,
    }) = outcome
    else {
        return;
    };
    document.peers.insert(conn, peer);
    document.writing = Some(PendingWrite {
        conn,
        candidate,
        heads,
        state,
        changes: hashes.len(),
        then,
        work,
    });
    out.push(Effect::Persist {
        doc: doc_id,
        chunk,
        hashes,
    });
}

/// After a stock `sync` message was received (and any changes it carried are durable): answer
/// the sender, and push to the others when there is something new.
#[allow(clippy::too_many_arguments)]
fn finish_sync<G: Gate>(
    gate: &G,
    conns: &BTreeMap<ConnId, Connection<G::Peer>>,
    server: &PeerId,
    document: &mut Document,
    doc_id: DocumentId,
    conn: ConnId,
    mut peer: PeerDoc,
    before: &[ChangeHash],
    told: Option<Vec<ChangeHash>>,
    out: &mut Vec<Effect>,
) {
    if let Some(connection) = conns.get(&conn) {
        // Answer the sender (its sync state decides whether there is anything to say) unless
        // the answer is a heads-only repeat of what we last told it: Automerge answers every
        // message while the two sides' heads differ, which under concurrent writers is a
        // heads-only ping-pong that never ends while anyone types. The peer learns nothing
        // from it; whoever lacks changes gets them with the next message that carries any.
        if let Some(reply) = batch::generate(&mut document.doc, &mut peer.state, connection.batch) {
            let repeat = told.is_some_and(|told| {
                reply.changes.is_empty()
                    && reply.need.is_empty()
                    && sorted(reply.heads.clone()) == told
            });
            if !repeat {
                out.push(sync_frame(server, connection, conn, doc_id, reply));
            }
        }
        document.peers.insert(conn, peer);
    }
    // Push to the others only when there is something new, and only to readers.
    if document.doc.get_heads() != *before {
        push_to_others(gate, conns, server, document, doc_id, Some(conn), out);
    }
}

/// After one document of a `rectify-changes` was received (and its changes are durable): true
/// when the server now has exactly the heads the peer sent; otherwise the peer gets a stock
/// frame and the stock sync carries on. Pushes to the others when there is something new.
#[allow(clippy::too_many_arguments)]
fn finish_changes<G: Gate>(
    gate: &G,
    conns: &BTreeMap<ConnId, Connection<G::Peer>>,
    server: &PeerId,
    document: &mut Document,
    doc_id: DocumentId,
    conn: ConnId,
    mut peer: PeerDoc,
    before: &[ChangeHash],
    heads: Vec<ChangeHash>,
    understood: bool,
    out: &mut Vec<Effect>,
) -> bool {
    let mut applied = false;
    if let Some(connection) = conns.get(&conn) {
        let mut theirs = heads;
        theirs.sort_unstable();
        let ours = document.doc.get_heads();
        applied = understood && !peer.state.read_only && ours == theirs;
        if applied {
            peer.state = batch::synced_state(&ours);
        } else if let Some(reply) =
            batch::generate(&mut document.doc, &mut peer.state, connection.batch)
        {
            out.push(sync_frame(server, connection, conn, doc_id, reply));
        }
        document.peers.insert(conn, peer);
    }
    if document.doc.get_heads() != *before {
        push_to_others(gate, conns, server, document, doc_id, Some(conn), out);
    }
    applied
}

/// The effects of a [`receive`] outcome that wrote nothing: quarantine and report what was
/// refused. False when the message could not be read at all (reported too). (Accepted changes
/// go to [`start_write`] instead.)
fn outcome_effects<P>(
    outcome: Result<Received, String>,
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    doc_id: DocumentId,
    out: &mut Vec<Effect>,
) -> bool {
    match outcome {
        Ok(Received::Nothing | Received::Accepted { .. }) => {}
        Ok(Received::Refused {
            reason,
            change_bytes,
        }) => out.push(refusal_effects(
            server,
            connection,
            conn,
            doc_id,
            reason,
            change_bytes,
        )),
        Err(text) => {
            out.push(error_frame(server, connection, conn, Some(doc_id), &text));
            return false;
        }
    }
    true
}

/// Sends a document's new changes to its peers but `sender` (all of them for `None`) that may
/// still read it, and forgets those that may not.
/// `rectify-list-changed` to every joined peer speaking our extension that is not
/// `subscribed` to the document and is `readable` by it (stock peers would not understand it;
/// they list documents their own way).
fn announce_list_changed<P>(
    conns: &BTreeMap<ConnId, Connection<P>>,
    subscribed: impl Fn(&ConnId) -> bool,
    readable: impl Fn(&P) -> bool,
    out: &mut Vec<Effect>,
) {
    for (&conn, connection) in conns {
        if connection.batch
            && connection.peer.is_some()
            && !subscribed(&conn)
            && readable(&connection.info)
        {
            out.push(Effect::Send {
                conn,
                bytes: wire::encode(&Message::RectifyListChanged {}),
            });
        }
    }
}

/// Sends every peer of `document` but `sender` what it lacks ([`push_to`]).
fn push_to_others<G: Gate>(
    gate: &G,
    conns: &BTreeMap<ConnId, Connection<G::Peer>>,
    server: &PeerId,
    document: &mut Document,
    doc_id: DocumentId,
    sender: Option<ConnId>,
    out: &mut Vec<Effect>,
) {
    let others = |conn: ConnId| Some(conn) != sender;
    push_to(gate, conns, server, document, doc_id, others, out);
}

/// Sends each peer of `document` that `to` names and may still read what it lacks; a peer
/// that may no longer read it is dropped from it.
fn push_to<G: Gate>(
    gate: &G,
    conns: &BTreeMap<ConnId, Connection<G::Peer>>,
    server: &PeerId,
    document: &mut Document,
    doc_id: DocumentId,
    to: impl Fn(ConnId) -> bool,
    out: &mut Vec<Effect>,
) {
    let mut revoked = Vec::new();
    for (&other, peer) in document.peers.iter_mut().filter(|(c, _)| to(**c)) {
        let Some(other_connection) = conns.get(&other) else {
            continue;
        };
        if !gate.may_read(&other_connection.info, &doc_id, &document.doc) {
            revoked.push(other);
            continue;
        }
        if let Some(push) =
            batch::generate(&mut document.doc, &mut peer.state, other_connection.batch)
        {
            out.push(sync_frame(server, other_connection, other, doc_id, push));
        }
    }
    for other in revoked {
        document.peers.remove(&other);
    }
}

/// What receiving one sync message did to a document.
// Returned once per message and consumed at once: not worth a box.
#[allow(clippy::large_enum_variant)]
enum Received {
    /// No new changes (or only changes still waiting for their dependencies).
    Nothing,
    /// Changes accepted, applied to `candidate` only: `chunk` must be persisted before the
    /// candidate becomes the document and anyone sees them.
    Accepted {
        chunk: Vec<u8>,
        hashes: Vec<ChangeHash>,
        candidate: Box<AutoCommit>,
        /// The candidate's heads.
        heads: Vec<ChangeHash>,
        state: sync::State,
    },
    /// Changes refused; the document is unchanged and the peer's state is now read-only.
    Refused {
        reason: GateRefusal,
        change_bytes: Vec<u8>,
    },
}

/// Receives one sync message from a peer, checking any new changes with the gate first.
///
/// Changes are applied to a clone, which costs a copy of the document per message that carries
/// changes; the clone then simply becomes the document. (A message without changes, or from a
/// read-only peer, is received directly.)
fn receive<G: Gate>(
    gate: &G,
    who: &G::Peer,
    doc_id: &DocumentId,
    doc: &mut AutoCommit,
    peer: &mut PeerDoc,
    message: sync::Message,
) -> Result<Received, String> {
    let bad = |e: automerge::AutomergeError| format!("changes for {doc_id} do not parse: {e}");
    if message.changes.is_empty() || peer.state.read_only {
        doc.sync()
            .receive_sync_message(&mut peer.state, message)
            .map_err(bad)?;
        return Ok(Received::Nothing);
    }
    let before = doc.get_heads();
    let mut candidate = doc.clone();
    let mut candidate_state = peer.state.clone();
    candidate
        .sync()
        .receive_sync_message(&mut candidate_state, message.clone())
        .map_err(bad)?;
    let after = candidate.get_heads();
    if after == before {
        // Only changes waiting for dependencies: nothing visible yet, judged once they apply.
        *doc = candidate;
        peer.state = candidate_state;
        return Ok(Received::Nothing);
    }
    match gate.check_change_at(who, doc_id, (doc, &before), (&candidate, &after)) {
        Ok(()) => {
            // What `save_after(&before)` writes, without collecting the changes twice.
            let new_changes = candidate.get_changes(&before);
            let chunk: Vec<u8> = new_changes
                .iter()
                .flat_map(|change| change.raw_bytes().iter().copied())
                .collect();
            let hashes = new_changes.iter().map(automerge::Change::hash).collect();
            Ok(Received::Accepted {
                chunk,
                hashes,
                candidate: Box::new(candidate),
                heads: after,
                state: candidate_state,
            })
        }
        Err(reason) => {
            let change_bytes = candidate.save_after(&before);
            // Read-only: the state still learns the peer's heads (so we stop asking for the
            // refused change and the exchange goes quiet) but applies nothing.
            peer.state.set_read_only(true);
            doc.sync()
                .receive_sync_message(&mut peer.state, message)
                .map_err(bad)?;
            Ok(Received::Refused {
                reason,
                change_bytes,
            })
        }
    }
}

/// Whether `doc` has every change in `heads` (so the peer holds nothing we lack).
fn knows_all(doc: &mut AutoCommit, heads: &[ChangeHash]) -> bool {
    heads
        .iter()
        .all(|hash| doc.get_change_by_hash(hash).is_some())
}

fn send(conn: ConnId, message: &Message) -> Effect {
    Effect::Send {
        conn,
        bytes: wire::encode(message),
    }
}

fn sync_frame<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document_id: DocumentId,
    message: sync::Message,
) -> Effect {
    send(
        conn,
        &Message::Sync(SyncData {
            sender_id: server.clone(),
            target_id: connection.peer.clone().unwrap_or_default(),
            document_id,
            data: message.encode(),
        }),
    )
}

fn unavailable<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document_id: DocumentId,
) -> Effect {
    send(
        conn,
        &Message::DocUnavailable {
            sender_id: server.clone(),
            target_id: connection.peer.clone().unwrap_or_default(),
            document_id,
        },
    )
}

/// A refused change kept for inspection, and the sender told why (with the refusal as data
/// for our client).
fn refusal_effects<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    doc_id: DocumentId,
    reason: GateRefusal,
    change_bytes: Vec<u8>,
) -> Effect {
    let refusal = reason
        .refusal
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok());
    let told = wire::encode(&Message::Error {
        sender_id: server.clone(),
        target_id: connection.peer.clone(),
        message: format!("change to {doc_id} refused: {reason}"),
        document_id: Some(doc_id),
        retry: false,
        refusal,
        update: false,
    });
    Effect::Quarantine {
        conn,
        doc: doc_id,
        reason: reason.text,
        change_bytes,
        then_send: told,
    }
}

fn error_frame<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document_id: Option<DocumentId>,
    text: &str,
) -> Effect {
    error_message(server, connection, conn, document_id, text, false)
}

/// An `error` that is the server's trouble, not a verdict on what the peer sent: our client
/// keeps its copy and its pending changes and tries again later (`rectifyRetry`).
fn retry_frame<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document_id: Option<DocumentId>,
    text: &str,
) -> Effect {
    error_message(server, connection, conn, document_id, text, true)
}

fn error_message<P>(
    server: &PeerId,
    connection: &Connection<P>,
    conn: ConnId,
    document_id: Option<DocumentId>,
    text: &str,
    retry: bool,
) -> Effect {
    send(
        conn,
        &Message::Error {
            sender_id: server.clone(),
            target_id: connection.peer.clone(),
            message: text.to_owned(),
            document_id,
            retry,
            refusal: None,
            update: false,
        },
    )
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort_unstable();
    heads
}
