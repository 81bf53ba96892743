//! Hostile input over a real WebSocket: malformed CBOR, truncated Automerge bytes and an
//! oversized frame each get a clear error, change nothing stored, and the server keeps
//! serving everyone else.

use automerge::sync::SyncDoc;
use futures_util::{SinkExt, StreamExt};
use rectify_shared::ids::DocumentId;
use rectify_shared::sync::wire::{self, MAX_FRAME_BYTES, Message, PeerId, PeerMetadata, SyncData};
use rectify_tests::TestServer;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn joined(server: &TestServer, username: &str) -> anyhow::Result<Socket> {
    let token = server.token(username).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
        format!("ws://{}/sync?token={token}", server.addr),
        Some(config),
        false,
    )
    .await?;
    let join = Message::Join {
        sender_id: PeerId::new(format!("hostile-{username}")),
        peer_metadata: PeerMetadata::default(),
        supported_protocol_versions: vec![wire::PROTOCOL_VERSION.to_owned()],
    };
    ws.send(Ws::Binary(wire::encode(&join).into())).await?;
    match next_message(&mut ws).await? {
        Message::Peer { .. } => Ok(ws),
        other => anyhow::bail!("expected peer, got {other:?}"),
    }
}

/// The next protocol message (bounded wait).
async fn next_message(ws: &mut Socket) -> anyhow::Result<Message> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("closed"))??;
        if let Ws::Binary(bytes) = frame {
            return Ok(wire::decode(&bytes)?);
        }
    }
}

fn sync_frame(kind: &str, doc: DocumentId, data: Vec<u8>) -> Vec<u8> {
    let data = SyncData {
        sender_id: PeerId::new("hostile"),
        target_id: PeerId::new("server"),
        document_id: doc,
        data,
    };
    wire::encode(&if kind == "request" {
        Message::Request(data)
    } else {
        Message::Sync(data)
    })
}

/// The first sync message of a peer that has nothing.
fn hello() -> Vec<u8> {
    let mut empty = rectify_shared::model::new_automerge();
    let mut state = automerge::sync::State::new();
    empty
        .sync()
        .generate_sync_message(&mut state)
        .expect("a first message")
        .encode()
}

async fn first_item(server: &TestServer) -> anyhow::Result<DocumentId> {
    let campaign = server.storage.campaigns().await?.remove(0);
    Ok(server.storage.items(&campaign.id).await?[0].id)
}

/// Another user on another connection still gets the document.
async fn still_served(server: &TestServer, doc: DocumentId) -> anyhow::Result<()> {
    let mut ws = joined(server, "viewer").await?;
    ws.send(Ws::Binary(sync_frame("request", doc, hello()).into()))
        .await?;
    match next_message(&mut ws).await? {
        Message::Sync(data) if data.document_id == doc => Ok(()),
        other => anyhow::bail!("expected the document, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_cbor_and_truncated_automerge_get_errors_and_change_nothing() -> anyhow::Result<()>
{
    let server = TestServer::start(None).await?;
    let doc = first_item(&server).await?;
    let stored_before = server.storage.document_chunks(&doc).await?;
    let mut ws = joined(&server, "office").await?;

    // Not CBOR at all.
    ws.send(Ws::Binary(vec![0xff, 0x00, 0x13, 0x37].into()))
        .await?;
    match next_message(&mut ws).await? {
        Message::Error { message, .. } => assert!(!message.is_empty()),
        other => panic!("expected an error, got {other:?}"),
    }
    // A sync message whose Automerge bytes are cut off.
    let full = hello();
    let cut = full[..full.len() / 2].to_vec();
    ws.send(Ws::Binary(sync_frame("sync", doc, cut).into()))
        .await?;
    match next_message(&mut ws).await? {
        Message::Error {
            message,
            document_id,
            ..
        } => {
            assert_eq!(document_id, Some(doc));
            assert!(
                message.contains("not an Automerge sync message"),
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // The same connection still works after both.
    ws.send(Ws::Binary(sync_frame("request", doc, full).into()))
        .await?;
    assert!(matches!(next_message(&mut ws).await?, Message::Sync(_)));

    assert_eq!(server.storage.document_chunks(&doc).await?, stored_before);
    still_served(&server, doc).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_frame_closes_that_connection_with_a_reason() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let doc = first_item(&server).await?;
    let mut ws = joined(&server, "office").await?;
    let huge = vec![0u8; MAX_FRAME_BYTES + 1024];
    ws.send(Ws::Binary(huge.into())).await?;
    let mut close = None;
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Ws::Close(frame))) => {
                close = frame;
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let close = close.expect("a close frame with a reason");
    assert_eq!(close.code, CloseCode::Size);
    assert!(
        close.reason.contains("larger than the limit"),
        "{}",
        close.reason
    );
    // Everyone else keeps syncing.
    still_served(&server, doc).await
}
