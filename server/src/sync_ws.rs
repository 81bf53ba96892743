//! `GET /sync`: the automerge-repo WebSocket protocol, carried out for the sans-IO
//! [`SyncServer`].
//!
//! Each connection is authenticated before the upgrade (a bearer token in the
//! `Authorization` header or `?token=`; none or a bad one is refused with 401). Frames go to
//! the one `SyncServer` behind a lock; its effects are carried out in order while the lock is
//! held: a `Persist` is written durably (with the item's index row, in one transaction)
//! before any later `Send` leaves, so a change is acknowledged only once it is on disk.
//! Outgoing frames go through a bounded queue per connection: a peer that does not read is
//! disconnected instead of growing the server's memory.

use crate::accounts::now_ms;
use crate::campaigns::item_record;
use crate::http::{AppState, CurrentUser};
use crate::storage::{QuarantineRecord, Storage, UserRecord, Write};
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use rand_core::{OsRng, RngCore};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model::{self, CampaignDoc, ItemDoc};
use rectify_shared::policy::{Actor, Role, can_read_item};
use rectify_shared::sync::core::{ConnId, Effect, Gate, SyncServer};
use rectify_shared::sync::wire::{MAX_FRAME_BYTES, PeerId, StorageId};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, mpsc};

/// Frames waiting for a slow reader before it is disconnected.
const OUTGOING_QUEUE: usize = 1024;
/// How often an idle connection is pinged.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);

/// Who is on the other end of a connection, as the policy sees them.
#[derive(Debug, Clone)]
pub struct Peer {
    pub username: Username,
    pub actor: Actor,
}

/// The server's policy, the same code the client runs (`rectify_shared`).
#[derive(Debug, Default)]
pub struct ServerGate;

impl Gate for ServerGate {
    type Peer = Peer;

    fn may_read(&self, who: &Peer, _doc: &DocumentId, current: &automerge::AutoCommit) -> bool {
        let everything = matches!(who.actor.role, Role::Office | Role::Viewer);
        match model::kind_of(current).as_deref() {
            Some("item") => match ItemDoc::load(current) {
                Ok(item) => can_read_item(
                    &who.actor,
                    &item.units,
                    item.responsible_department.as_deref(),
                ),
                // A document this version cannot read: only those who read everything.
                Err(_) => everything,
            },
            Some("campaign") => who.actor.role != Role::Unit,
            _ => everything,
        }
    }

    fn may_create(&self, who: &Peer, _doc: &DocumentId) -> bool {
        who.actor.role == Role::Office
    }

    fn check_change(
        &self,
        who: &Peer,
        _doc: &DocumentId,
        before: &automerge::AutoCommit,
        after: &automerge::AutoCommit,
    ) -> Result<(), String> {
        model::check_change(&who.actor, before, after).map_err(|refusal| refusal.to_string())
    }
}

/// The sync server and the connections' outgoing queues.
pub struct SyncHub {
    core: Mutex<SyncServer<ServerGate>>,
    outgoing: Mutex<HashMap<ConnId, mpsc::Sender<WsMessage>>>,
    usernames: Mutex<HashMap<ConnId, Username>>,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for SyncHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHub").finish_non_exhaustive()
    }
}

impl SyncHub {
    /// The hub, with the server's peer and storage ids from storage (made on first start).
    pub async fn open(storage: &dyn Storage) -> anyhow::Result<SyncHub> {
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
                ServerGate,
            )),
            outgoing: Mutex::new(HashMap::new()),
            usernames: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        })
    }

    /// Feeds one frame to the core and carries out what it says.
    async fn receive(&self, storage: &dyn Storage, conn: ConnId, bytes: &[u8]) {
        let mut core = self.core.lock().await;
        let effects = core.receive(conn, bytes);
        self.run(storage, &mut core, effects).await;
    }

    /// Carries out effects in order; a load's follow-up effects run before the rest.
    async fn run(
        &self,
        storage: &dyn Storage,
        core: &mut SyncServer<ServerGate>,
        effects: Vec<Effect>,
    ) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Send { conn, bytes } => {
                    self.send(conn, WsMessage::Binary(bytes.into())).await;
                }
                Effect::Close { conn, reason } => {
                    tracing::info!(conn = conn.0, reason, "closing a sync connection");
                    self.outgoing.lock().await.remove(&conn);
                }
                Effect::LoadDocument { doc } => {
                    let stored = match storage.document_chunks(&doc).await {
                        Ok(chunks) => chunks.map(|chunks| chunks.concat()),
                        Err(err) => {
                            tracing::error!(%doc, error = %err, "cannot load a document");
                            None
                        }
                    };
                    let more = core.document_loaded(doc, stored.as_deref());
                    for effect in more.into_iter().rev() {
                        queue.push_front(effect);
                    }
                }
                Effect::Persist { doc, chunk } => {
                    if let Err(err) = persist(storage, core, doc, chunk).await {
                        // Not durable, so not acknowledged: drop everyone's connection rather
                        // than send heads the disk does not have. Clients resend on reconnect.
                        tracing::error!(%doc, error = format!("{err:#}"), "cannot persist a change");
                        self.outgoing.lock().await.clear();
                        return;
                    }
                }
                Effect::Quarantine {
                    conn,
                    doc,
                    reason,
                    change_bytes,
                } => {
                    let username = self
                        .usernames
                        .lock()
                        .await
                        .get(&conn)
                        .cloned()
                        .unwrap_or_default();
                    tracing::warn!(%doc, user = %username, reason, "refused a change");
                    let record = QuarantineRecord {
                        document: doc,
                        username,
                        reason,
                        change_bytes,
                        received_at_ms: now_ms(),
                    };
                    if let Err(err) = storage.write(vec![Write::Quarantine(record)]).await {
                        tracing::error!(%doc, error = %err, "cannot keep a refused change");
                    }
                }
            }
        }
    }

    async fn send(&self, conn: ConnId, message: WsMessage) {
        let mut outgoing = self.outgoing.lock().await;
        let Some(sender) = outgoing.get(&conn) else {
            return;
        };
        if sender.try_send(message).is_err() {
            // Full (the peer does not read) or gone: disconnect it; it resyncs on reconnect.
            tracing::warn!(
                conn = conn.0,
                "sync connection not reading: disconnecting it"
            );
            outgoing.remove(&conn);
        }
    }
}

/// Appends the changes durably, with the item's (or campaign's) index row in the same
/// transaction.
async fn persist(
    storage: &dyn Storage,
    core: &SyncServer<ServerGate>,
    doc: DocumentId,
    chunk: Vec<u8>,
) -> anyhow::Result<()> {
    let now = now_ms();
    let current = core.document(&doc);
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
        },
    ];
    if let (Some(current), "item") = (current, kind.as_str())
        && let Ok(item) = ItemDoc::load(current)
        && let Ok(campaign) = item.campaign.parse::<DocumentId>()
    {
        batch.push(Write::Item(item_record(doc, campaign, &item, now)));
    }
    if let (Some(current), "campaign") = (current, kind.as_str())
        && let Ok(campaign) = CampaignDoc::load(current)
        && !storage.campaigns().await?.iter().any(|c| c.id == doc)
    {
        batch.push(Write::Campaign(crate::storage::CampaignRecord {
            id: doc,
            natural_key: campaign.natural_key(),
            name: campaign.name,
            created_at_ms: now,
        }));
    }
    storage.write(batch).await?;
    Ok(())
}

/// `GET /sync`: upgrades an authenticated request to the sync WebSocket.
pub async fn sync_handler(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection(state, user, socket))
}

async fn connection(state: AppState, user: UserRecord, socket: WebSocket) {
    use futures_util::{SinkExt, StreamExt};
    let hub = Arc::clone(&state.sync);
    let storage = Arc::clone(&state.storage);
    let conn = ConnId(hub.next_conn.fetch_add(1, Ordering::Relaxed));
    let peer = Peer {
        username: user.username.clone(),
        actor: Actor {
            role: user.role,
            unit: user.unit.clone(),
        },
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<WsMessage>(OUTGOING_QUEUE);
    hub.outgoing.lock().await.insert(conn, tx);
    hub.usernames
        .lock()
        .await
        .insert(conn, user.username.clone());
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
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            WsMessage::Binary(bytes) => hub.receive(storage.as_ref(), conn, &bytes).await,
            WsMessage::Close(_) => break,
            // Text frames are not part of the protocol; pings are answered by axum.
            WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_) => {}
        }
        if !hub.outgoing.lock().await.contains_key(&conn) {
            break; // closed by the server
        }
    }
    hub.core.lock().await.disconnect(conn);
    hub.outgoing.lock().await.remove(&conn);
    hub.usernames.lock().await.remove(&conn);
    let _ = writer.await;
    tracing::info!(conn = conn.0, user = %user.username, "sync connection closed");
}
