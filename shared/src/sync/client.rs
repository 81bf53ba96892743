//! The client side of the sync protocol, without IO: our own client's counterpart of
//! [`super::core::SyncServer`], also used by the tests' in-process network.
//!
//! A [`SyncClient`] holds the documents it has open, each with its sync state for the one
//! server it talks to. The driver sends the frames it returns and passes in the frames it
//! receives; local edits are made on [`SyncClient::document_mut`] and announced with
//! [`SyncClient::poll`]. Local storage is the driver's business: it keeps each document and
//! its [`SyncClient::sync_state`], and [`SyncClient::unsynced_changes`] says what still waits.

use std::collections::BTreeMap;

use automerge::AutoCommit;
use automerge::sync::{self, SyncDoc};

use super::batch::{
    self, Applied, ChangeBatch, ChangeEntry, Differs, DigestReply, SetDigest, Summary, SummaryReply,
};
use super::wire::{self, Message, PeerId, PeerMetadata, StorageId, SyncData};
use crate::ids::DocumentId;
use crate::model;
use automerge::ChangeHash;

/// Something the application may want to react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server answered `join`.
    Connected { server: PeerId },
    /// A document changed because of the server's changes.
    Changed(DocumentId),
    /// The server has no such document for us (it doesn't exist or we may not read it).
    Unavailable(DocumentId),
    /// The server refused or could not read something we sent. With a document, our copy of it
    /// is diverged until [`SyncClient::reset_document`].
    Error {
        doc: Option<DocumentId>,
        message: String,
        /// Why the policy refused it, as data (`rectifyRefusal`), when the server said and
        /// this version knows the refusal; otherwise `message` says it.
        refusal: Option<model::ChangeRefusal>,
    },
    /// The server could not read or store the document just now (its trouble, not a verdict
    /// on our copy): keep the copy and every pending change, and sync again later. The server
    /// closes the connection after a failed write, so a reconnect resends what it lacks.
    Retry {
        doc: Option<DocumentId>,
        message: String,
    },
    /// The server says this app is too old for the document (`rectifyUpdate`: a version-1
    /// item migrated to schema version 2): what we sent of it was carried over to the new
    /// documents or kept for the office, and `doc-unavailable` follows. Reload to update.
    Update {
        doc: Option<DocumentId>,
        message: String,
    },
    /// A frame from the server that we could not decode.
    BadFrame(String),
    /// The server says the documents we may read changed (an item was created or assigned to
    /// us): ask for the list again and open what is new.
    ListChanged,
}

struct OpenDoc {
    doc: AutoCommit,
    state: sync::State,
}

/// A document in the middle of the batched sync ([`batch`]): no stock sync message is sent
/// for it until the server's batched answer (or a stock frame about it) arrives.
enum Held {
    /// In the `rectify-digest`, with the heads last confirmed with the server.
    Digested(Vec<ChangeHash>),
    /// In the `rectify-heads` summary, with the heads it had then.
    Summarized(Vec<ChangeHash>),
    /// Its changes went in `rectify-changes`, with these heads.
    Sent(Vec<ChangeHash>),
}

/// One peer's documents and its sync with the server.
pub struct SyncClient {
    peer_id: PeerId,
    storage_id: Option<StorageId>,
    /// The server's peer id, once it answered `join`.
    server: Option<PeerId>,
    docs: BTreeMap<DocumentId, OpenDoc>,
    /// Whether to offer the batched sync in `join` (a stock client does not).
    offer_batch: bool,
    /// Whether the server accepted it on this connection.
    batch: bool,
    /// Whether to offer the idle-reconnect digest in `join` (with the batched sync).
    offer_digest: bool,
    /// The buckets of the `rectify-digest` sent on this connection, while its reply is due.
    digest_buckets: Option<usize>,
    /// Whether the server accepted the digest on this connection.
    digest: bool,
    held: BTreeMap<DocumentId, Held>,
}

impl SyncClient {
    pub fn new(peer_id: PeerId, storage_id: Option<StorageId>) -> Self {
        Self {
            peer_id,
            storage_id,
            server: None,
            docs: BTreeMap::new(),
            offer_batch: true,
            batch: false,
            offer_digest: true,
            digest_buckets: None,
            digest: false,
            held: BTreeMap::new(),
        }
    }

    /// A client that speaks the batched sync but not the idle-reconnect digest, as a client
    /// built before it does (for tests of the negotiation).
    pub fn without_digest(mut self) -> Self {
        self.offer_digest = false;
        self
    }

    /// A client that speaks only the stock automerge-repo protocol, as a JS client does (for
    /// tests and benchmarks that compare the two).
    pub fn stock(mut self) -> Self {
        self.offer_batch = false;
        self
    }

    /// Whether the server agreed to the batched sync on the current connection.
    pub fn is_batched(&self) -> bool {
        self.batch
    }

    /// Whether the server agreed to the idle-reconnect digest on the current connection.
    pub fn is_digested(&self) -> bool {
        self.digest
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// Whether the server answered `join` on the current connection.
    pub fn is_connected(&self) -> bool {
        self.server.is_some()
    }

    /// The `join` frame that opens a connection.
    pub fn connect(&mut self) -> Vec<u8> {
        self.forget_connection();
        wire::encode(&Message::Join {
            sender_id: self.peer_id.clone(),
            peer_metadata: PeerMetadata {
                storage_id: self.storage_id.clone(),
                is_ephemeral: self.storage_id.is_none(),
                rectify_batch: self.offer_batch.then_some(batch::VERSION),
                rectify_digest: (self.offer_batch && self.offer_digest)
                    .then_some(batch::DIGEST_VERSION),
            },
            supported_protocol_versions: vec![wire::PROTOCOL_VERSION.to_owned()],
        })
    }

    /// The connection is gone. Each document keeps only what should survive a connection (the
    /// heads both sides had), so that a reconnect sends only what is new.
    pub fn disconnect(&mut self) {
        self.forget_connection();
        for open in self.docs.values_mut() {
            open.state = sync::State::decode(&open.state.encode()).unwrap_or_default();
        }
    }

    /// What holds for one connection only.
    fn forget_connection(&mut self) {
        self.server = None;
        self.batch = false;
        self.digest = false;
        self.digest_buckets = None;
        self.held.clear();
    }

    /// Opens a document this client has (or creates): it is synced from the next [`Self::poll`].
    pub fn add_document(&mut self, id: DocumentId, doc: AutoCommit) {
        self.docs.insert(
            id,
            OpenDoc {
                doc,
                state: sync::State::new(),
            },
        );
    }

    /// Opens a document kept in local storage with the sync state saved alongside it (see
    /// [`Self::sync_state`]), so that a reconnect after a restart sends only what is new. A
    /// state that does not decode is dropped: the first round then costs a little more.
    pub fn add_document_with_state(&mut self, id: DocumentId, doc: AutoCommit, state: &[u8]) {
        let state = sync::State::decode(state).unwrap_or_default();
        self.docs.insert(id, OpenDoc { doc, state });
    }

    /// The part of a document's sync state worth keeping on disk: what both sides had.
    pub fn sync_state(&self, id: &DocumentId) -> Option<Vec<u8>> {
        self.docs.get(id).map(|open| open.state.encode())
    }

    /// How many of this document's changes the server is not known to have: local edits
    /// waiting to be sent or acknowledged. The server stores a change before it tells its
    /// heads, so zero means the server has them on disk.
    pub fn unsynced_changes(&mut self, id: &DocumentId) -> usize {
        self.docs.get_mut(id).map_or(0, |open| {
            let shared = open.state.shared_heads.clone();
            open.doc.get_changes(&shared).len()
        })
    }

    /// The heads this client and the server both had for `id`, as the sync state last
    /// established (kept across connections): what the server confirmed. A refused
    /// document's own work is what lies beyond them (`model::rescue`).
    pub fn confirmed_heads(&self, id: &DocumentId) -> Vec<ChangeHash> {
        self.docs
            .get(id)
            .map(|open| open.state.shared_heads.clone())
            .unwrap_or_default()
    }

    /// Whether the server, on this connection, said it has exactly what we have for `id`.
    pub fn in_sync(&mut self, id: &DocumentId) -> bool {
        if self.server.is_none() {
            return false;
        }
        self.docs.get_mut(id).is_some_and(|open| {
            let mut ours = open.doc.get_heads();
            let Some(mut theirs) = open.state.their_heads.clone() else {
                return false;
            };
            ours.sort();
            theirs.sort();
            ours == theirs
        })
    }

    /// The heads the server last said it has for `id` on this connection (with the batched
    /// sync, also the heads it acknowledged in `rectify-applied` or a summary reply).
    pub fn server_heads(&self, id: &DocumentId) -> Option<&[ChangeHash]> {
        self.server.as_ref()?;
        self.docs.get(id)?.state.their_heads.as_deref()
    }

    /// Forgets a document (it is no longer ours to sync).
    pub fn remove_document(&mut self, id: &DocumentId) -> Option<AutoCommit> {
        self.docs.remove(id).map(|open| open.doc)
    }

    /// Asks for a document this client doesn't have yet.
    pub fn open_document(&mut self, id: DocumentId) {
        self.docs.entry(id).or_insert_with(|| OpenDoc {
            doc: model::new_automerge(),
            state: sync::State::new(),
        });
    }

    /// Recovers from a refusal: forgets the local copy (with whatever the server refused) and
    /// asks for the server's. The application re-applies what the policy still allows.
    pub fn reset_document(&mut self, id: DocumentId) {
        self.docs.remove(&id);
        self.open_document(id);
    }

    pub fn document(&self, id: &DocumentId) -> Option<&AutoCommit> {
        self.docs.get(id).map(|open| &open.doc)
    }

    /// For local edits; call [`Self::poll`] afterwards to send them.
    pub fn document_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.docs.get_mut(id).map(|open| &mut open.doc)
    }

    pub fn document_ids(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs.keys()
    }

    /// The frames to send now: a sync message for every document with something to say.
    pub fn poll(&mut self) -> Vec<Vec<u8>> {
        let Some(server) = self.server.clone() else {
            return Vec::new();
        };
        let mut frames = Vec::new();
        for (&id, open) in &mut self.docs {
            if self.held.contains_key(&id) {
                continue;
            }
            if let Some(frame) = Self::next_frame(&self.peer_id, &server, id, open, self.batch) {
                frames.push(frame);
            }
        }
        frames
    }

    /// One frame from the server: returns the frames to send back and what happened.
    pub fn receive(&mut self, bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<ClientEvent>) {
        let mut events = Vec::new();
        let message = match wire::decode(bytes) {
            Ok(message) => message,
            Err(e) => return (Vec::new(), vec![ClientEvent::BadFrame(e.to_string())]),
        };
        match message {
            // The server answers `join` once per connection. A second `peer` (only a network
            // that duplicates frames makes one) must not start a second summary: the reply to
            // the first would be matched against the second's heads, marking as acknowledged an
            // edit made in between that the server never saw.
            Message::Peer { .. } if self.server.is_some() => {}
            Message::Peer {
                sender_id,
                peer_metadata,
                ..
            } => {
                self.server = Some(sender_id.clone());
                self.batch =
                    self.offer_batch && peer_metadata.rectify_batch == Some(batch::VERSION);
                self.digest = self.batch
                    && self.offer_digest
                    && peer_metadata.rectify_digest == Some(batch::DIGEST_VERSION);
                events.push(ClientEvent::Connected { server: sender_id });
                let first = if self.digest {
                    self.set_digest()
                } else {
                    let all: Vec<DocumentId> = self.docs.keys().copied().collect();
                    self.summary(all)
                };
                let mut frames: Vec<Vec<u8>> = first.into_iter().collect();
                frames.extend(self.poll());
                return (frames, events);
            }
            Message::Sync(data) | Message::Request(data) => {
                self.held.remove(&data.document_id);
                return self.receive_sync(&data);
            }
            Message::RectifyHeadsReply { docs } => match SummaryReply::decode(&docs) {
                Ok(reply) => return self.receive_summary_reply(reply),
                Err(e) => {
                    // Fall back to the stock sync for everything.
                    self.held.clear();
                    return (self.poll(), vec![ClientEvent::BadFrame(e.to_string())]);
                }
            },
            Message::RectifyDigestReply { docs } => {
                let Some(buckets) = self.digest_buckets.take() else {
                    return (Vec::new(), events); // not asked for on this connection
                };
                return match DigestReply::decode(&docs, buckets) {
                    Ok(reply) => self.receive_digest_reply(&reply),
                    Err(e) => {
                        // Nothing is known to be in sync: the stock sync for everything.
                        self.held.clear();
                        (self.poll(), vec![ClientEvent::BadFrame(e.to_string())])
                    }
                };
            }
            Message::RectifyApplied { docs } => {
                let applied = Applied::decode(&docs).unwrap_or_else(|e| {
                    events.push(ClientEvent::BadFrame(e.to_string()));
                    Applied::default()
                });
                self.receive_applied(&applied);
                return (self.poll(), events);
            }
            Message::RectifyListChanged {} => events.push(ClientEvent::ListChanged),
            Message::DocUnavailable { document_id, .. } => {
                self.held.remove(&document_id);
                events.push(ClientEvent::Unavailable(document_id));
            }
            Message::Error {
                message,
                document_id,
                retry,
                refusal,
                update,
                ..
            } => {
                if let Some(id) = &document_id {
                    self.held.remove(id);
                }
                events.push(if update {
                    ClientEvent::Update {
                        doc: document_id,
                        message,
                    }
                } else if retry {
                    ClientEvent::Retry {
                        doc: document_id,
                        message,
                    }
                } else {
                    ClientEvent::Error {
                        doc: document_id,
                        message,
                        refusal: refusal.and_then(|json| serde_json::from_str(&json).ok()),
                    }
                });
            }
            _ => {}
        }
        (Vec::new(), events)
    }

    fn receive_sync(&mut self, data: &SyncData) -> (Vec<Vec<u8>>, Vec<ClientEvent>) {
        let id = data.document_id;
        let (Some(server), Some(open)) = (self.server.clone(), self.docs.get_mut(&id)) else {
            return (Vec::new(), Vec::new()); // not ours (or not joined): ignore
        };
        let message = match sync::Message::decode(&data.data) {
            Ok(message) => message,
            Err(e) => return (Vec::new(), vec![ClientEvent::BadFrame(e.to_string())]),
        };
        let before = open.doc.get_heads();
        if let Err(e) = open
            .doc
            .sync()
            .receive_sync_message(&mut open.state, message)
        {
            return (Vec::new(), vec![ClientEvent::BadFrame(e.to_string())]);
        }
        let mut events = Vec::new();
        if open.doc.get_heads() != before {
            events.push(ClientEvent::Changed(id));
        }
        let frames = Self::next_frame(&self.peer_id, &server, id, open, self.batch)
            .into_iter()
            .collect();
        (frames, events)
    }

    /// With the digest: the `rectify-digest` frame over every document whose heads the server
    /// confirmed (held until the reply), or `None` when there is none (a new device).
    fn set_digest(&mut self) -> Option<Vec<u8>> {
        let confirmed: Vec<(DocumentId, Vec<ChangeHash>)> = self
            .docs
            .iter()
            .filter(|(_, open)| !open.state.shared_heads.is_empty())
            .map(|(id, open)| (*id, open.state.shared_heads.clone()))
            .collect();
        if confirmed.is_empty() {
            return None;
        }
        let buckets = batch::buckets_for(confirmed.len());
        let digest = SetDigest::of(
            confirmed.iter().map(|(id, heads)| (*id, heads.as_slice())),
            buckets,
        );
        for (id, heads) in confirmed {
            self.held.insert(id, Held::Digested(heads));
        }
        self.digest_buckets = Some(buckets);
        Some(wire::encode(&Message::RectifyDigest {
            docs: digest.encode(),
        }))
    }

    /// The server's answer to our digest: the documents of the buckets that agree are in sync
    /// at the heads we digested, and our edits since then go at once as one `rectify-changes`;
    /// those of the buckets that differ go in a `rectify-heads` summary. When there is a
    /// summary, the edited documents go in it too, so that one `rectify-changes` carries all
    /// (a second one in flight would be released by the first one's `rectify-applied`).
    fn receive_digest_reply(&mut self, reply: &DigestReply) -> (Vec<Vec<u8>>, Vec<ClientEvent>) {
        let buckets = reply.0.len();
        let digested: Vec<(DocumentId, Vec<ChangeHash>)> = self
            .held
            .iter()
            .filter_map(|(id, held)| match held {
                Held::Digested(heads) => Some((*id, heads.clone())),
                _ => None,
            })
            .collect();
        let mut differing = Vec::new();
        let mut edited = Vec::new();
        for (id, confirmed) in digested {
            self.held.remove(&id);
            let Some(open) = self.docs.get_mut(&id) else {
                continue;
            };
            if reply.0[batch::bucket_of(&id, buckets)] {
                differing.push(id);
                continue;
            }
            open.state = batch::synced_state(&confirmed);
            if !same_heads(open.doc.get_heads(), confirmed.clone()) {
                edited.push((id, confirmed));
            }
        }
        let mut frames = Vec::new();
        if differing.is_empty() {
            let mut changes = ChangeBatch::default();
            for (id, confirmed) in edited {
                let Some(open) = self.docs.get_mut(&id) else {
                    continue;
                };
                if let Some(bundle) = batch::bundle_after(&mut open.doc, &confirmed) {
                    let heads = open.doc.get_heads();
                    self.held.insert(id, Held::Sent(heads.clone()));
                    changes.0.push(ChangeEntry {
                        doc: id,
                        heads,
                        bundle,
                    });
                }
            }
            if !changes.0.is_empty() {
                frames.push(wire::encode(&Message::RectifyChanges {
                    docs: changes.encode(),
                }));
            }
        } else {
            differing.extend(edited.into_iter().map(|(id, _)| id));
            frames.extend(self.summary(differing));
        }
        frames.extend(self.poll());
        (frames, Vec::new())
    }

    /// With the batched sync: the `rectify-heads` frame summarising `docs` (held until the
    /// reply), or `None`.
    fn summary(&mut self, docs: Vec<DocumentId>) -> Option<Vec<u8>> {
        if !self.batch {
            return None;
        }
        let mut summary = Summary::default();
        for id in docs {
            let Some(open) = self.docs.get_mut(&id) else {
                continue;
            };
            let heads = open.doc.get_heads();
            if heads.is_empty() {
                continue; // not received yet: a stock `request`
            }
            summary.0.push((id, batch::digest(&heads)));
            self.held.insert(id, Held::Summarized(heads));
        }
        if summary.0.is_empty() {
            return None;
        }
        Some(wire::encode(&Message::RectifyHeads {
            docs: summary.encode(),
        }))
    }

    /// The server's answer to our summary: the documents it does not name are in sync; where
    /// the server only lacks our changes they go in one `rectify-changes`; the rest sync the
    /// stock way.
    fn receive_summary_reply(&mut self, reply: SummaryReply) -> (Vec<Vec<u8>>, Vec<ClientEvent>) {
        let mut events = Vec::new();
        let mut changes = ChangeBatch::default();
        for (id, differs) in reply.0 {
            if !matches!(self.held.remove(&id), Some(Held::Summarized(_))) {
                continue; // not in our summary: ignore
            }
            let Some(open) = self.docs.get_mut(&id) else {
                continue;
            };
            match differs {
                Differs::Unavailable => events.push(ClientEvent::Unavailable(id)),
                Differs::Heads(theirs) => {
                    let only_ours = !theirs.is_empty() && knows_all(&mut open.doc, &theirs);
                    let bundle = only_ours
                        .then(|| batch::bundle_after(&mut open.doc, &theirs))
                        .flatten();
                    if let Some(bundle) = bundle {
                        let heads = open.doc.get_heads();
                        self.held.insert(id, Held::Sent(heads.clone()));
                        changes.0.push(ChangeEntry {
                            doc: id,
                            heads,
                            bundle,
                        });
                    }
                    // Otherwise the stock sync (from `poll`) works it out.
                }
            }
        }
        // Every document the server did not name has exactly the heads we summarised.
        let in_sync: Vec<(DocumentId, Vec<ChangeHash>)> = self
            .held
            .iter()
            .filter_map(|(id, held)| match held {
                Held::Summarized(heads) => Some((*id, heads.clone())),
                Held::Digested(_) | Held::Sent(_) => None,
            })
            .collect();
        for (id, heads) in in_sync {
            self.held.remove(&id);
            if let Some(open) = self.docs.get_mut(&id) {
                open.state = batch::synced_state(&heads);
            }
        }
        let mut frames = Vec::new();
        if !changes.0.is_empty() {
            frames.push(wire::encode(&Message::RectifyChanges {
                docs: changes.encode(),
            }));
        }
        frames.extend(self.poll());
        (frames, events)
    }

    /// `rectify-applied`: the server has these documents exactly as we sent them. The others
    /// of that batch were answered with stock frames, which came first.
    fn receive_applied(&mut self, applied: &Applied) {
        for id in &applied.0 {
            if let Some(Held::Sent(heads)) = self.held.remove(id)
                && let Some(open) = self.docs.get_mut(id)
            {
                open.state = batch::synced_state(&heads);
            }
        }
        self.held.retain(|_, held| !matches!(held, Held::Sent(_)));
    }

    /// The next sync frame for one document, if any: a `request` while we have nothing,
    /// a `sync` afterwards (as automerge-repo does).
    fn next_frame(
        me: &PeerId,
        server: &PeerId,
        id: DocumentId,
        open: &mut OpenDoc,
        bundles: bool,
    ) -> Option<Vec<u8>> {
        let message = batch::generate(&mut open.doc, &mut open.state, bundles)?;
        let data = SyncData {
            sender_id: me.clone(),
            target_id: server.clone(),
            document_id: id,
            data: message.encode(),
        };
        let message = if open.doc.get_heads().is_empty() {
            Message::Request(data)
        } else {
            Message::Sync(data)
        };
        Some(wire::encode(&message))
    }
}

/// Whether two lists of heads are the same set.
fn same_heads(mut a: Vec<ChangeHash>, mut b: Vec<ChangeHash>) -> bool {
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Whether `doc` has every change in `heads`.
fn knows_all(doc: &mut AutoCommit, heads: &[ChangeHash]) -> bool {
    heads
        .iter()
        .all(|hash| doc.get_change_by_hash(hash).is_some())
}
