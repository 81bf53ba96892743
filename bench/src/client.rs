//! [`BenchClient`]: our sans-IO [`SyncClient`] (the core the browser runs) on a WebSocket,
//! counting every frame it sends and receives: by message type, with the parts of each
//! Automerge sync message, and the round trips it waited for.
//!
//! The setup of a run uses `rectify_tests::SyncTestClient`; for the measured part its core
//! (with the documents and the sync states that survive a disconnect) moves into a
//! `BenchClient`, which connects without waiting for anything so that nothing is hidden from
//! the counters.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use rectify_shared::ids::DocumentId;
use rectify_shared::sync::batch;
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::wire::{self, Message};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The parts of the Automerge sync messages (`sync` and `request`) that went one way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncParts {
    pub messages: u64,
    /// Messages that carried changes.
    pub with_changes: u64,
    /// The encoded Automerge sync messages (`data`), all parts together.
    pub automerge: u64,
    /// Change bytes inside them.
    pub changes: u64,
    /// `heads` and `need` (32 bytes a hash).
    pub hashes: u64,
    /// `have`: each one's `lastSync` hashes and Bloom filter.
    pub have: u64,
}

impl SyncParts {
    pub fn add(&mut self, other: &SyncParts) {
        self.messages += other.messages;
        self.with_changes += other.with_changes;
        self.automerge += other.automerge;
        self.changes += other.changes;
        self.hashes += other.hashes;
        self.have += other.have;
    }
}

/// Frames that went one way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flow {
    pub frames: u64,
    /// WebSocket payloads: the CBOR messages.
    pub payload: u64,
    /// WebSocket frame headers (2 to 14 bytes a frame, with the client's mask).
    pub framing: u64,
    /// Message type → (frames, payload bytes).
    pub by_type: BTreeMap<String, (u64, u64)>,
    pub sync: SyncParts,
}

impl Flow {
    pub fn add(&mut self, other: &Flow) {
        self.frames += other.frames;
        self.payload += other.payload;
        self.framing += other.framing;
        for (name, (n, bytes)) in &other.by_type {
            let entry = self.by_type.entry(name.clone()).or_default();
            entry.0 += n;
            entry.1 += bytes;
        }
        self.sync.add(&other.sync);
    }

    /// Counts one frame; returns its message and the document it is about, if any.
    pub fn record(&mut self, frame: &[u8], masked: bool) -> (Option<Message>, Option<DocumentId>) {
        self.frames += 1;
        self.payload += frame.len() as u64;
        self.framing += ws_header_len(frame.len(), masked);
        let message = wire::decode(frame).ok();
        let name = message.as_ref().map_or("undecodable", Message::type_name);
        let entry = self.by_type.entry(name.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += frame.len() as u64;
        let doc = match &message {
            Some(Message::Sync(data) | Message::Request(data)) => {
                self.sync.messages += 1;
                self.sync.automerge += data.data.len() as u64;
                if let Ok(sync) = automerge::sync::Message::decode(&data.data) {
                    let changes: u64 = sync.changes.iter().map(|c| c.len() as u64).sum();
                    if changes > 0 {
                        self.sync.with_changes += 1;
                    }
                    self.sync.changes += changes;
                    self.sync.hashes += 32 * (sync.heads.len() + sync.need.len()) as u64;
                    self.sync.have += sync
                        .have
                        .iter()
                        .map(|h| 32 * h.last_sync.len() as u64 + h.bloom.to_bytes().len() as u64)
                        .sum::<u64>();
                }
                Some(data.document_id)
            }
            Some(Message::DocUnavailable { document_id, .. }) => Some(*document_id),
            // The batched sync: summaries and acknowledgements are ids and hashes; a change
            // batch is ids, heads and one bundle of changes per document.
            Some(
                Message::RectifyDigest { docs }
                | Message::RectifyDigestReply { docs }
                | Message::RectifyHeads { docs }
                | Message::RectifyHeadsReply { docs }
                | Message::RectifyApplied { docs },
            ) => {
                self.sync.messages += 1;
                self.sync.automerge += docs.len() as u64;
                self.sync.hashes += docs.len() as u64;
                None
            }
            Some(Message::RectifyChanges { docs }) => {
                self.sync.messages += 1;
                self.sync.automerge += docs.len() as u64;
                let bundles: u64 = batch::ChangeBatch::decode(docs)
                    .map(|b| {
                        self.sync.with_changes += b.0.len() as u64;
                        b.0.iter().map(|e| e.bundle.len() as u64).sum()
                    })
                    .unwrap_or(0);
                self.sync.changes += bundles;
                self.sync.hashes += docs.len() as u64 - bundles;
                None
            }
            _ => None,
        };
        (message, doc)
    }
}

/// The size of a WebSocket frame header for a payload of `len` bytes (RFC 6455 §5.2):
/// 2 bytes, 2 or 8 more for lengths over 125 or 65,535, 4 for the mask clients must add.
pub fn ws_header_len(len: usize, masked: bool) -> u64 {
    let extended = match len {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    2 + extended + if masked { 4 } else { 0 }
}

/// Both ways.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Traffic {
    pub sent: Flow,
    pub received: Flow,
}

impl Traffic {
    pub fn add(&mut self, other: &Traffic) {
        self.sent.add(&other.sent);
        self.received.add(&other.received);
    }
}

/// Round trips a client waited for.
///
/// Definition: a round trip is a send followed by the server's reply that the client waits
/// for. The `join` → `peer` exchange is one. After it, each document is its own sequence of
/// exchanges: a round for a document is counted when the client sent at least one message
/// about it and then received the server's next message about it (a server message the
/// client did not ask for, and a last client message nothing answers, are not rounds). The
/// client sends every document's message at once, so documents go in parallel: the round
/// trips of a reconnect are `join` + the most rounds any one document needed (the critical
/// path a network's latency multiplies); the sum over documents is reported beside it.
/// With the batched sync, a `rectify-heads` or `rectify-changes` frame is a message about
/// each of its documents, and the batched answer that follows is the reply for all of them.
/// A `rectify-digest` names no document: it and its reply are one round trip of their own,
/// before any document's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundTrips {
    waiting_for_peer: bool,
    joins: u32,
    waiting: HashMap<DocumentId, bool>,
    rounds: HashMap<DocumentId, u32>,
    /// The documents of the last batched frame sent.
    batch: Vec<DocumentId>,
    waiting_for_digest: bool,
    digests: u32,
}

impl RoundTrips {
    pub fn sent(&mut self, message: Option<&Message>, doc: Option<DocumentId>) {
        if matches!(message, Some(Message::Join { .. })) {
            self.waiting_for_peer = true;
        }
        if matches!(message, Some(Message::RectifyDigest { .. })) {
            self.waiting_for_digest = true;
        }
        if let Some(doc) = doc {
            self.waiting.insert(doc, true);
        }
        let batched: Vec<DocumentId> = match message {
            Some(Message::RectifyHeads { docs }) => batch::Summary::decode(docs)
                .map(|s| s.0.into_iter().map(|(id, _)| id).collect())
                .unwrap_or_default(),
            Some(Message::RectifyChanges { docs }) => batch::ChangeBatch::decode(docs)
                .map(|b| b.0.into_iter().map(|e| e.doc).collect())
                .unwrap_or_default(),
            _ => return,
        };
        for doc in &batched {
            self.waiting.insert(*doc, true);
        }
        self.batch = batched;
    }

    pub fn received(&mut self, message: Option<&Message>, doc: Option<DocumentId>) {
        if matches!(message, Some(Message::Peer { .. })) && self.waiting_for_peer {
            self.waiting_for_peer = false;
            self.joins += 1;
        }
        if matches!(message, Some(Message::RectifyDigestReply { .. })) && self.waiting_for_digest {
            self.waiting_for_digest = false;
            self.digests += 1;
        }
        if let Some(doc) = doc
            && self.waiting.insert(doc, false) == Some(true)
        {
            *self.rounds.entry(doc).or_default() += 1;
        }
        if matches!(
            message,
            Some(Message::RectifyHeadsReply { .. } | Message::RectifyApplied { .. })
        ) {
            for doc in std::mem::take(&mut self.batch) {
                if self.waiting.insert(doc, false) == Some(true) {
                    *self.rounds.entry(doc).or_default() += 1;
                }
            }
        }
    }

    /// `join` plus the longest chain of rounds of one document.
    pub fn critical_path(&self) -> u32 {
        self.joins + self.digests + self.rounds.values().copied().max().unwrap_or(0)
    }

    /// Rounds over every document (plus `join`).
    pub fn total(&self) -> u32 {
        self.joins + self.digests + self.rounds.values().sum::<u32>()
    }
}

/// What one wait brought.
#[derive(Debug)]
pub enum Step {
    Frame(Vec<ClientEvent>),
    Quiet,
    Closed,
}

/// See the module documentation.
pub struct BenchClient {
    ws: Option<Ws>,
    pub core: SyncClient,
    pub traffic: Traffic,
    pub rounds: RoundTrips,
    pub last_frame: Instant,
}

impl BenchClient {
    /// Opens `base/sync?token=…` (through a proxy, say) and sends `join`; waits for nothing.
    /// The core should come from a disconnected client (its sync states trimmed to what
    /// survives a connection).
    pub async fn connect(base: &str, token: &str, core: SyncClient) -> Result<BenchClient> {
        let url = format!("{base}/sync?token={token}");
        // TCP_NODELAY, as browsers and Node's `ws` set it.
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(20),
            tokio_tungstenite::connect_async_with_config(&url, None, true),
        )
        .await
        .with_context(|| format!("connecting to {base}/sync timed out"))?
        .with_context(|| format!("connecting to {base}/sync"))?;
        let mut client = BenchClient {
            ws: Some(ws),
            core,
            traffic: Traffic::default(),
            rounds: RoundTrips::default(),
            last_frame: Instant::now(),
        };
        let join = client.core.connect();
        client.send(vec![join]).await?;
        Ok(client)
    }

    pub async fn send(&mut self, frames: Vec<Vec<u8>>) -> Result<()> {
        let ws = self.ws.as_mut().context("not connected")?;
        for frame in frames {
            let (message, doc) = self.traffic.sent.record(&frame, true);
            self.rounds.sent(message.as_ref(), doc);
            ws.send(WsMessage::Binary(frame.into())).await?;
        }
        Ok(())
    }

    /// Waits at most `wait` for a frame, feeds it to the core and sends the core's answer.
    pub async fn step(&mut self, wait: Duration) -> Result<Step> {
        let deadline = Instant::now() + wait;
        let bytes = loop {
            let Some(ws) = self.ws.as_mut() else {
                return Ok(Step::Closed);
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ws.next()).await {
                Err(_) => return Ok(Step::Quiet),
                Ok(None | Some(Err(_)) | Some(Ok(WsMessage::Close(_)))) => {
                    self.ws = None;
                    return Ok(Step::Closed);
                }
                Ok(Some(Ok(WsMessage::Binary(bytes)))) => break bytes,
                Ok(Some(Ok(_))) => {} // pings are answered by tungstenite
            }
        };
        self.last_frame = Instant::now();
        let (message, doc) = self.traffic.received.record(&bytes, false);
        self.rounds.received(message.as_ref(), doc);
        let (frames, events) = self.core.receive(&bytes);
        self.send(frames).await?;
        Ok(Step::Frame(events))
    }

    /// Whether the server said, on this connection, that it has exactly our heads of every
    /// open document.
    pub fn all_in_sync(&mut self) -> bool {
        let ids: Vec<DocumentId> = self.core.document_ids().copied().collect();
        self.core.is_connected() && ids.iter().all(|id| self.core.in_sync(id))
    }

    /// In sync, or (for a server that does not answer a client that is up to date) joined and
    /// nothing came for `silence`. The second element says which.
    pub fn in_sync_or_silent(&mut self, silence: Duration) -> Option<bool> {
        if self.all_in_sync() {
            Some(true)
        } else if self.core.is_connected() && self.last_frame.elapsed() >= silence {
            Some(false)
        } else {
            None
        }
    }

    /// Answers the server until `done` holds and then nothing came for `quiet`; fails at
    /// `deadline`, on a refusal, an unavailable document or a closed connection. Returns when
    /// `done` first held.
    pub async fn drive(
        &mut self,
        mut done: impl FnMut(&mut BenchClient) -> bool,
        quiet: Duration,
        deadline: Instant,
    ) -> Result<Instant> {
        let mut done_at = None;
        loop {
            if done_at.is_none() && done(self) {
                done_at = Some(Instant::now());
            }
            if let Some(at) = done_at
                && self.last_frame.elapsed() >= quiet
            {
                return Ok(at);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("not done by the deadline");
            }
            let wait = Duration::from_millis(50).min(deadline - now);
            match self.step(wait).await? {
                Step::Frame(events) => check_events(&events)?,
                Step::Quiet => {}
                Step::Closed => bail!("the server closed the connection"),
            }
        }
    }
}

/// Fails on the events a benchmark run must not see.
pub fn check_events(events: &[ClientEvent]) -> Result<()> {
    for event in events {
        match event {
            ClientEvent::Unavailable(id) => bail!("the server says {id} is unavailable"),
            ClientEvent::Error { doc, message, .. } => {
                bail!("the server sent an error (document {doc:?}): {message}")
            }
            ClientEvent::Retry { doc, message } => {
                bail!("the server could not store or read document {doc:?}: {message}")
            }
            ClientEvent::Update { doc, message } => {
                bail!("the server says this client is too old for {doc:?}: {message}")
            }
            ClientEvent::BadFrame(e) => bail!("a frame we could not read: {e}"),
            ClientEvent::Connected { .. } | ClientEvent::Changed(_) | ClientEvent::ListChanged => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rectify_shared::sync::wire::{PeerId, PeerMetadata, SyncData};

    fn sync_frame(doc: DocumentId) -> Vec<u8> {
        let mut am = rectify_shared::model::new_automerge();
        let mut state = automerge::sync::State::new();
        use automerge::sync::SyncDoc;
        let data = am
            .sync()
            .generate_sync_message(&mut state)
            .expect("a first message")
            .encode();
        wire::encode(&Message::Sync(SyncData {
            sender_id: PeerId::new("a"),
            target_id: PeerId::new("b"),
            document_id: doc,
            data,
        }))
    }

    #[test]
    fn websocket_headers() {
        assert_eq!(ws_header_len(0, false), 2);
        assert_eq!(ws_header_len(125, true), 6);
        assert_eq!(ws_header_len(126, false), 4);
        assert_eq!(ws_header_len(65_535, true), 8);
        assert_eq!(ws_header_len(65_536, false), 10);
    }

    #[test]
    fn frames_are_counted_by_type() {
        let doc = DocumentId([7; 16]);
        let mut flow = Flow::default();
        let frame = sync_frame(doc);
        let (message, about) = flow.record(&frame, true);
        assert!(matches!(message, Some(Message::Sync(_))));
        assert_eq!(about, Some(doc));
        assert_eq!(flow.frames, 1);
        assert_eq!(flow.payload, frame.len() as u64);
        assert_eq!(flow.by_type["sync"], (1, frame.len() as u64));
        assert_eq!(flow.sync.messages, 1);
        assert_eq!(flow.sync.changes, 0);
        flow.record(b"not cbor", false);
        assert_eq!(flow.by_type["undecodable"], (1, 8));
        let mut sum = Flow::default();
        sum.add(&flow);
        sum.add(&flow);
        assert_eq!(sum.frames, 4);
        assert_eq!(sum.by_type["sync"].0, 2);
    }

    #[test]
    fn round_trips_follow_the_definition() {
        let join = Message::Join {
            sender_id: PeerId::new("c"),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: vec!["1".to_owned()],
        };
        let peer = Message::Peer {
            sender_id: PeerId::new("s"),
            peer_metadata: PeerMetadata::default(),
            selected_protocol_version: "1".to_owned(),
            target_id: PeerId::new("c"),
        };
        let (a, b) = (DocumentId([1; 16]), DocumentId([2; 16]));
        let mut rt = RoundTrips::default();
        rt.sent(Some(&join), None);
        rt.received(Some(&peer), None);
        // Both documents sent at once, both answered: one round each, in parallel.
        rt.sent(None, Some(a));
        rt.sent(None, Some(b));
        rt.received(None, Some(a));
        rt.received(None, Some(b));
        // `a` needs a second round; the server's unasked message about `b` is no round.
        rt.sent(None, Some(a));
        rt.received(None, Some(a));
        rt.received(None, Some(b));
        // A last message nothing answers is no round either.
        rt.sent(None, Some(b));
        assert_eq!(rt.critical_path(), 3);
        assert_eq!(rt.total(), 4);
    }
}
