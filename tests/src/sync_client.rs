//! [`SyncTestClient`]: our sans-IO [`SyncClient`] on a real WebSocket, for the `/sync` tests
//! and the load tool. It takes a `ws://` base address, so it works the same against the
//! in-process [`crate::TestServer`] and a real `rectify` process.

use anyhow::{Context, Result, bail, ensure};
use automerge::{ChangeHash, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::ItemDoc;
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::wire::PeerId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long the server must be silent before [`SyncTestClient::settle`] calls it quiet.
pub const QUIET: Duration = Duration::from_millis(400);

/// What one wait for a frame brought.
#[derive(Debug)]
pub enum Received {
    /// A frame, already answered; what it did.
    Frame(Vec<ClientEvent>),
    /// Nothing within the wait.
    Quiet,
    /// The server closed the connection (or it broke).
    Closed,
}

/// The server refused a change we sent (see `docs/sync-protocol.md`, "Writing"): a real
/// client recovers with [`SyncClient::reset_document`].
#[derive(Debug, Clone)]
pub struct Refused {
    pub doc: DocumentId,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server refused our change to {}: {}",
            self.doc, self.message
        )
    }
}

impl std::error::Error for Refused {}

/// Our sync core on one WebSocket at a time; the core (and its documents) survives
/// [`Self::disconnect`] so that a reconnect sends only what is new, as a real client does.
pub struct SyncTestClient {
    ws: Option<Ws>,
    pub core: SyncClient,
    /// Every event since the client was made, in order.
    pub events: Vec<ClientEvent>,
    /// The code and reason of the server's last close frame, if it sent one.
    pub closed_with: Option<(u16, String)>,
}

impl std::fmt::Debug for SyncTestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncTestClient")
            .field("peer", self.core.peer_id())
            .field("open", &self.ws.is_some())
            .finish_non_exhaustive()
    }
}

/// Unique peer ids: two clients of one account must not look like one peer to the server.
fn next_peer_id() -> PeerId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PeerId::new(format!("test-{}-{n}", std::process::id()))
}

impl SyncTestClient {
    /// Connects to `base` (`ws://host:port`) with a bearer token, joins and settles.
    pub async fn connect(base: &str, token: &str) -> Result<SyncTestClient> {
        Self::connect_with(base, token, SyncClient::new(next_peer_id(), None)).await
    }

    /// Like [`Self::connect`], speaking only the stock automerge-repo protocol (no batched
    /// sync), as a JS client or an old cached build does.
    pub async fn connect_stock(base: &str, token: &str) -> Result<SyncTestClient> {
        Self::connect_with(base, token, SyncClient::new(next_peer_id(), None).stock()).await
    }

    async fn connect_with(base: &str, token: &str, core: SyncClient) -> Result<SyncTestClient> {
        let mut client = SyncTestClient {
            ws: None,
            core,
            events: Vec::new(),
            closed_with: None,
        };
        client.reconnect(base, token).await?;
        Ok(client)
    }

    /// A new WebSocket for the same core: joins, then settles (which syncs every open
    /// document, sending what was made offline).
    pub async fn reconnect(&mut self, base: &str, token: &str) -> Result<()> {
        self.disconnect();
        let url = format!("{base}/sync?token={token}");
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            // Without Nagle's algorithm, as browsers do: otherwise a frame written right after
            // another waits for the first one's delayed ACK (up to 40 ms on Linux).
            tokio_tungstenite::connect_async_with_config(&url, None, true),
        )
        .await
        .with_context(|| format!("connecting to {base}/sync timed out"))?
        .with_context(|| format!("connecting to {base}/sync"))?;
        self.ws = Some(ws);
        let join = self.core.connect();
        self.send(vec![join]).await?;
        self.settle().await?;
        ensure!(
            self.core.is_connected(),
            "no peer message after join: {:?}",
            self.events
        );
        Ok(())
    }

    /// Drops the WebSocket without a close frame, as a lost network does.
    pub fn disconnect(&mut self) {
        self.ws = None;
        self.core.disconnect();
    }

    /// Closes the WebSocket politely.
    pub async fn close(&mut self) -> Result<()> {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
        self.core.disconnect();
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        self.ws.is_some()
    }

    /// Sends `frames` in order. A socket error (the server closed or reset the connection)
    /// leaves the client disconnected, as a lost network does, so a driver that checks
    /// [`Self::is_open`] reconnects instead of counting the client as failed.
    pub async fn send(&mut self, frames: Vec<Vec<u8>>) -> Result<()> {
        let ws = self.ws.as_mut().context("not connected")?;
        for frame in frames {
            if let Err(err) = ws.send(Message::Binary(frame.into())).await {
                self.disconnect();
                return Err(err).context("the connection broke while sending");
            }
        }
        Ok(())
    }

    /// Waits at most `wait` for one binary frame from the server, without feeding it to the
    /// core (for drivers that speak the protocol themselves). `None` when nothing came.
    pub async fn receive_raw(&mut self, wait: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + wait;
        loop {
            let ws = self.ws.as_mut().context("not connected")?;
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match tokio::time::timeout(left, ws.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    self.ws = None;
                    self.closed_with = Some((frame.code.into(), frame.reason.to_string()));
                    bail!(
                        "the server closed the connection: {} {}",
                        frame.code,
                        frame.reason
                    )
                }
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(None)))) => {
                    self.ws = None;
                    bail!("the server closed the connection")
                }
                Ok(Some(Ok(message))) => message,
            };
            if let Message::Binary(bytes) = message {
                return Ok(Some(bytes.into()));
            } // pings are answered by tungstenite
        }
    }

    /// The server's peer id, once it answered `join`.
    pub fn server_peer(&self) -> Option<PeerId> {
        self.events.iter().rev().find_map(|e| match e {
            ClientEvent::Connected { server } => Some(server.clone()),
            _ => None,
        })
    }

    /// Waits at most `wait` for one frame, feeds it to the core and sends the core's answer.
    pub async fn receive(&mut self, wait: Duration) -> Result<Received> {
        let bytes = match self.receive_raw(wait).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Received::Quiet),
            Err(_) => {
                self.ws = None;
                return Ok(Received::Closed);
            }
        };
        let (frames, events) = self.core.receive(&bytes);
        self.events.extend(events.iter().cloned());
        self.send(frames).await?;
        Ok(Received::Frame(events))
    }

    /// Sends what the core has to say, then answers the server until it is quiet for
    /// [`QUIET`] or closes (bounded: at most 1000 frames).
    pub async fn settle(&mut self) -> Result<()> {
        let frames = self.core.poll();
        self.send(frames).await?;
        for _ in 0..1000 {
            match self.receive(QUIET).await? {
                Received::Frame(_) => {}
                Received::Quiet | Received::Closed => return Ok(()),
            }
        }
        bail!("the server never went quiet")
    }

    /// Opens `id` (if it is not open) and answers the server until the document has arrived;
    /// [`Self::settle`] may return before that when the server is busy.
    pub async fn fetch(&mut self, id: DocumentId, limit: Duration) -> Result<()> {
        self.core.open_document(id);
        let frames = self.core.poll();
        self.send(frames).await?;
        let deadline = Instant::now() + limit;
        let arrived = |core: &SyncClient| {
            core.document(&id)
                .is_some_and(|d| d.keys(automerge::ROOT).next().is_some())
        };
        while !arrived(&self.core) {
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(!left.is_zero(), "{id} did not arrive within {limit:?}");
            match self.receive(left).await? {
                Received::Frame(events) => {
                    if events.contains(&ClientEvent::Unavailable(id)) {
                        bail!("the server says {id} is unavailable to us");
                    }
                }
                Received::Quiet => {}
                Received::Closed => bail!("the server closed the connection before sending {id}"),
            }
        }
        Ok(())
    }

    /// Sends our changes to `id` and answers the server until it says it has them (its sync
    /// message's heads cover ours). Faster than [`Self::settle`]: no quiet period.
    pub async fn sync_until_acknowledged(
        &mut self,
        id: &DocumentId,
        limit: Duration,
    ) -> Result<()> {
        let ours = self.document_mut(id)?.get_heads();
        let frames = self.core.poll();
        self.send(frames).await?;
        let deadline = Instant::now() + limit;
        loop {
            if self.server_has(id, &ours)? {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(
                !left.is_zero(),
                "the server did not acknowledge our change to {id} within {limit:?}"
            );
            match self.receive(left).await? {
                Received::Frame(events) => {
                    if let Some(ClientEvent::Error { message, .. }) = events.iter().find(
                        |e| matches!(e, ClientEvent::Error { doc: Some(doc), .. } if doc == id),
                    ) {
                        return Err(Refused {
                            doc: *id,
                            message: message.clone(),
                        }
                        .into());
                    }
                }
                Received::Quiet => {}
                Received::Closed => bail!("the server closed the connection before acknowledging"),
            }
        }
    }

    /// Whether the heads the server last sent for `id` include (or descend from) `heads`.
    fn server_has(&mut self, id: &DocumentId, heads: &[ChangeHash]) -> Result<bool> {
        let Some(theirs) = self.core.server_heads(id).map(<[ChangeHash]>::to_vec) else {
            return Ok(false);
        };
        if heads.iter().all(|h| theirs.contains(h)) {
            return Ok(true);
        }
        let doc = self.document_mut(id)?;
        if theirs.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return Ok(false); // they have something we don't have yet: wait for it
        }
        let newer = doc.get_changes_meta(&theirs);
        Ok(!newer.iter().any(|c| heads.contains(&c.hash)))
    }

    pub fn document_mut(&mut self, id: &DocumentId) -> Result<&mut automerge::AutoCommit> {
        self.core
            .document_mut(id)
            .with_context(|| format!("document {id} is not open"))
    }

    /// The open item `id`; panics when it is not open or not an item (tests want that).
    pub fn item(&self, id: &DocumentId) -> ItemDoc {
        ItemDoc::load(self.core.document(id).expect("open")).expect("an item")
    }
}
