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

/// Stored chunks of a document: a change that is accepted adds one.
async fn chunks(server: &TestServer, doc: DocumentId) -> anyhow::Result<usize> {
    Ok(server
        .storage
        .document_chunks(&doc)
        .await?
        .map_or(0, |c| c.len()))
}

/// A CBOR text string (short ones only).
fn cbor_text(s: &str) -> Vec<u8> {
    assert!(s.len() < 24);
    [vec![0x60 | s.len() as u8], s.as_bytes().to_vec()].concat()
}

/// A sync message carrying a real change to `doc` (as a client that already knows the
/// server's copy would send it): the second message of a local exchange.
async fn message_with_a_change(server: &TestServer, doc: DocumentId) -> anyhow::Result<Vec<u8>> {
    use rectify_shared::model::{EditContext, ItemEdit};
    use rectify_shared::policy::{Actor, Role};
    let mut base = rectify_server::campaigns::load_document(server.storage.as_ref(), &doc)
        .await?
        .expect("stored");
    let mut edited = base.fork();
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1,
    };
    let edit = ItemEdit::AddFeedback {
        id: "replayed".into(),
        unit: None,
        text: "请各校按时报送".into(),
    };
    rectify_shared::model::apply(&mut edited, &office, edit)?;
    let (mut theirs, mut ours) = (automerge::sync::State::new(), automerge::sync::State::new());
    for _ in 0..4 {
        if let Some(message) = edited.sync().generate_sync_message(&mut ours) {
            if !message.changes.is_empty() {
                return Ok(message.encode());
            }
            base.sync().receive_sync_message(&mut theirs, message)?;
        }
        if let Some(reply) = base.sync().generate_sync_message(&mut theirs) {
            edited.sync().receive_sync_message(&mut ours, reply)?;
        }
    }
    anyhow::bail!("no message with changes")
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_cbor_with_the_wrong_types_gets_an_error_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let doc = first_item(&server).await?;
    let before = chunks(&server, doc).await?;
    let mut ws = joined(&server, "school1").await?;
    // {"type": "sync", "documentId": 5, "data": "text"}: a map, but the fields' types are wrong.
    let wrong_types = [
        vec![0xa3],
        cbor_text("type"),
        cbor_text("sync"),
        cbor_text("documentId"),
        vec![0x05],
        cbor_text("data"),
        cbor_text("text"),
    ]
    .concat();
    // A list where a map belongs.
    let a_list = vec![0x82, 0x01, 0x02];
    for frame in [wrong_types, a_list] {
        ws.send(Ws::Binary(frame.into())).await?;
        match next_message(&mut ws).await? {
            Message::Error { message, .. } => assert!(!message.is_empty()),
            other => anyhow::bail!("expected an error, got {other:?}"),
        }
    }
    // A message type this version does not know is ignored, as automerge-repo peers do, so
    // newer clients keep working; the connection stays usable.
    let unknown = [vec![0xa1], cbor_text("type"), cbor_text("launch")].concat();
    ws.send(Ws::Binary(unknown.into())).await?;
    ws.send(Ws::Binary(sync_frame("request", doc, hello()).into()))
        .await?;
    match next_message(&mut ws).await? {
        Message::Sync(data) if data.document_id == doc => {}
        other => anyhow::bail!("expected the document after an unknown message, got {other:?}"),
    }
    assert_eq!(
        chunks(&server, doc).await?,
        before,
        "nothing stored changed"
    );
    still_served(&server, doc).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_to_a_document_the_user_cannot_see_is_not_applied() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let campaign = server.storage.campaigns().await?.remove(0);
    let hidden = server
        .storage
        .items(&campaign.id)
        .await?
        .into_iter()
        .find(|r| !r.units.iter().any(|u| u == "pszx3"))
        .expect("an item school2 is not on")
        .id;
    let before = chunks(&server, hidden).await?;
    let message = message_with_a_change(&server, hidden).await?;
    let mut ws = joined(&server, "school2").await?;
    ws.send(Ws::Binary(sync_frame("sync", hidden, message).into()))
        .await?;
    match next_message(&mut ws).await? {
        Message::DocUnavailable { document_id, .. } => assert_eq!(document_id, hidden),
        other => anyhow::bail!("expected doc-unavailable, got {other:?}"),
    }
    assert_eq!(chunks(&server, hidden).await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_change_is_stored_once() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let doc = first_item(&server).await?;
    let before = chunks(&server, doc).await?;
    // The office's message, sent three times on two connections.
    let message = message_with_a_change(&server, doc).await?;
    let mut sockets = [
        joined(&server, "office").await?,
        joined(&server, "office").await?,
    ];
    let campaign = server.storage.campaigns().await?.remove(0);
    let other = server.storage.items(&campaign.id).await?[1].id;
    for n in [0, 1, 0] {
        let ws = &mut sockets[n];
        ws.send(Ws::Binary(sync_frame("sync", doc, message.clone()).into()))
            .await?;
        // Frames are handled in order: once the other document arrives, the replay was handled
        // (a replay on a connection that already sent it gets no answer of its own).
        ws.send(Ws::Binary(sync_frame("request", other, hello()).into()))
            .await?;
        loop {
            match next_message(ws).await? {
                Message::Sync(data) if data.document_id == other => break,
                Message::Error { message, .. } => anyhow::bail!("refused: {message}"),
                _ => {}
            }
        }
    }
    assert_eq!(chunks(&server, doc).await?, before + 1, "stored once");
    let stored = server.item(&doc.to_string()).await?;
    let copies = stored
        .feedback
        .iter()
        .filter(|f| f.id == "replayed")
        .count();
    assert_eq!(copies, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_forged_tokens_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let token = server.token("school1").await?;
    let http = reqwest::Client::new();
    let me = |token: String| http.get(server.url("/api/me")).bearer_auth(token).send();
    assert_eq!(me(token.clone()).await?.status(), 200);
    // Forged: the right shape, never issued; and a real one with a character changed.
    let mut altered = token.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    for forged in [
        "A".repeat(token.len()),
        String::from_utf8(altered)?,
        format!("{token}x"),
    ] {
        assert_eq!(me(forged.clone()).await?.status(), 401, "{forged}");
        let upgrade =
            tokio_tungstenite::connect_async(format!("ws://{}/sync?token={forged}", server.addr))
                .await;
        assert!(upgrade.is_err(), "a forged token opened /sync");
    }
    // Expired and revoked sessions.
    let expired = "expired-session-token-0123456789abcdef".to_owned();
    server
        .storage
        .create_session(&rectify_server::storage::SessionRecord {
            token_hash: rectify_server::accounts::token_hash(&expired),
            id: rectify_server::accounts::new_session_id(),
            username: rectify_shared::ids::Username::new("school1"),
            device: String::new(),
            created_at_ms: 1,
            last_seen_ms: 1,
            expires_at_ms: 2,
            revoked: false,
        })
        .await?;
    server
        .storage
        .revoke_sessions(&rectify_shared::ids::Username::new("school1"))
        .await?;
    for refused in [expired, token] {
        let response = me(refused.clone()).await?;
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await?;
        assert_eq!(body["code"], "unauthorized");
        let upgrade =
            tokio_tungstenite::connect_async(format!("ws://{}/sync?token={refused}", server.addr))
                .await;
        assert!(upgrade.is_err(), "an expired or revoked token opened /sync");
    }
    Ok(())
}

/// A peer that sends but never reads is disconnected once its queue is full, instead of
/// growing the server's memory; everyone else keeps syncing. (A peer that only stops reading
/// is held back by the sync protocol itself: one message in flight per document.)
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_never_reads_is_disconnected_and_others_keep_syncing() -> anyhow::Result<()> {
    use rectify_server::state::ServerSettings;
    use rectify_server::sync_ws::SyncSettings;
    let settings = ServerSettings {
        sync: SyncSettings {
            outgoing_queue: 4,
            ..SyncSettings::default()
        },
        ..ServerSettings::default()
    };
    let server = TestServer::start_with(None, settings).await?;
    let doc = first_item(&server).await?;
    let slow_peers = || async {
        let text = reqwest::get(server.url("/metrics")).await?.text().await?;
        anyhow::Ok(
            text.lines()
                .find_map(|l| l.strip_prefix("rectify_sync_slow_peers_disconnected_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0),
        )
    };

    // A socket with a tiny receive buffer that asks and asks (for a document nobody has,
    // each answered with doc-unavailable) and never reads an answer.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(server.addr).await?;
    let token = server.token("viewer").await?;
    let (mut slow, _) = tokio_tungstenite::client_async(
        format!("ws://{}/sync?token={token}", server.addr),
        MaybeTlsStream::Plain(stream),
    )
    .await?;
    let join = Message::Join {
        sender_id: PeerId::new("never-reads"),
        peer_metadata: PeerMetadata::default(),
        supported_protocol_versions: vec![wire::PROTOCOL_VERSION.to_owned()],
    };
    slow.send(Ws::Binary(wire::encode(&join).into())).await?;
    let nobody = DocumentId([9; 16]);
    let ask = sync_frame("request", nobody, hello());
    let mut sent = 0;
    while slow_peers().await? == 0 {
        for _ in 0..500 {
            if slow.send(Ws::Binary(ask.clone().into())).await.is_err() {
                break; // the server has closed it
            }
            sent += 1;
        }
        anyhow::ensure!(
            sent <= 50_000,
            "not disconnected after {sent} unread requests"
        );
    }
    // The server closed the socket: what is left to read ends.
    let mut frames = 0;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(_)) = slow.next().await {
            frames += 1;
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the socket is still open after {frames} frames"
    );
    still_served(&server, doc).await?;
    eprintln!("disconnected after {sent} unread requests; {frames} answers were in buffers");
    Ok(())
}

/// Issue #20: guesses sent in parallel meet the login throttle too. Twenty wrong passwords
/// for one account at once: only the limit (5 in 10 minutes) are checked; the rest are
/// refused with 429 before any password check, because each attempt is counted before the
/// slow check, not after it.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_parallel_wrong_passwords_are_throttled_like_sequential_ones() -> anyhow::Result<()>
{
    let server = TestServer::start(None).await?;
    let http = reqwest::Client::new();
    let url = server.url("/api/login");
    let guesses = (0..20).map(|n| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let body = serde_json::json!({"username": "school1", "password": format!("guess-{n}")});
            http.post(url).json(&body).send().await.map(|r| r.status())
        })
    });
    let mut statuses = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        statuses.push(guess.await??);
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == reqwest::StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == reqwest::StatusCode::TOO_MANY_REQUESTS)
        .count();
    let limit = rectify_server::accounts::MAX_FAILED_LOGINS as usize;
    assert_eq!((checked, throttled), (limit, 20 - limit), "{statuses:?}");
    // The right password now waits too.
    let body = serde_json::json!({"username": "school1", "password": rectify_tests::TEST_PASSWORD});
    let right = http.post(&url).json(&body).send().await?.status();
    assert_eq!(right, reqwest::StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

/// Issue #18: failed-login counts are rows in storage; the housekeeping sweep deletes those
/// whose window has passed (someone trying many names must not grow the table for ever) and
/// keeps the others.
#[tokio::test(flavor = "multi_thread")]
async fn failed_login_counts_past_their_window_are_deleted_by_the_housekeeping()
-> anyhow::Result<()> {
    let settings = rectify_server::state::ServerSettings {
        sync: rectify_server::sync_ws::SyncSettings {
            idle_document_after: Duration::from_millis(100),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start_on(None, settings, |storage| storage).await?;
    let window = rectify_server::accounts::THROTTLE_WINDOW_MS;
    let now = rectify_server::clock::now_ms();
    let storage = server.storage.as_ref();
    storage
        .count_login_attempt("account:old", 5, window, now - window - 1000)
        .await?;
    storage
        .count_login_attempt("account:new", 5, window, now)
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Only the fresh count is left to delete.
    assert_eq!(storage.expire_login_attempts(i64::MAX).await?, 1);
    Ok(())
}

/// Issue #20: the `error` messages a peer gets say what was wrong in words, never in Rust's
/// debug notation (the CBOR library's errors print as `Syntax(0)`, `Semantic(None, "…")`,
/// `Io(Error { kind: … })`, which tell an attacker about the server's insides and nobody
/// anything useful).
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_error_messages_carry_no_rust_debug_text() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let mut ws = joined(&server, "school1").await?;
    let wrong_types = [
        vec![0xa3],
        cbor_text("type"),
        cbor_text("sync"),
        cbor_text("documentId"),
        vec![0x05],
        cbor_text("data"),
        cbor_text("text"),
    ]
    .concat();
    let frames = [
        vec![0xff, 0x00, 0x13, 0x37], // not CBOR
        vec![0xa2, 0x64],             // cut off inside a map
        vec![0x1c],                   // a reserved CBOR header
        wrong_types,
    ];
    let debug_markers = [
        "Syntax(",
        "Semantic(",
        "Io(",
        "Error {",
        "kind:",
        "Custom(",
        "Some(",
        "None",
        "\\\"",
    ];
    for frame in frames {
        ws.send(Ws::Binary(frame.clone().into())).await?;
        match next_message(&mut ws).await? {
            Message::Error { message, .. } => {
                assert!(!message.is_empty());
                for marker in debug_markers {
                    assert!(!message.contains(marker), "{frame:x?}: {message}");
                }
            }
            other => anyhow::bail!("expected an error, got {other:?}"),
        }
    }
    Ok(())
}

/// Issue #20: `/api/login` and `/api/uploads` answer a body they cannot read with the API's
/// JSON error (`{code, message}`), not a plain-text rejection; and a token in the query
/// counts only on `/sync` (elsewhere URLs land in logs and `Referer` headers).
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_bad_bodies_get_json_errors_and_query_tokens_count_only_on_sync()
-> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let token = server.token("school1").await?;
    let http = reqwest::Client::new();
    let bodies: [(&str, &[u8]); 4] = [
        ("application/json", b"{not json"),
        ("application/json", b"{\"username\": 5}"),
        ("application/json", b"[]"),
        ("text/plain", b"hello"),
    ];
    for path in ["/api/login", "/api/uploads"] {
        for (content_type, body) in bodies {
            let reply = http
                .post(server.url(path))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(body.to_vec())
                .send()
                .await?;
            let status = reply.status();
            assert!(status.is_client_error(), "{path} {body:?}: {status}");
            let json: serde_json::Value = reply
                .json()
                .await
                .map_err(|err| anyhow::anyhow!("{path} {body:?}: not a JSON error body ({err})"))?;
            assert!(
                json["code"].is_string() && json["message"].is_string(),
                "{path} {body:?}: {json}"
            );
        }
    }
    for path in ["/api/me", "/api/items", "/api/files"] {
        let status = http
            .get(server.url(&format!("{path}?token={token}")))
            .send()
            .await?
            .status();
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{path}");
        let status = http
            .get(server.url(path))
            .bearer_auth(&token)
            .send()
            .await?
            .status();
        assert_eq!(status, reqwest::StatusCode::OK, "{path} with the header");
    }
    // The WebSocket still takes it from the query (browsers cannot set its headers).
    let (_ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/sync?token={token}", server.addr))
            .await?;
    Ok(())
}

/// Sends `size` bytes as the body of `method path` over a plain TCP connection, as fast as the
/// server takes them, and reads the whole answer: its status and JSON body. An answer sent
/// while the body is still arriving, on a connection then closed, is lost in a reset.
async fn send_large_body(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    size: usize,
) -> anyhow::Result<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = TcpStream::connect(server.addr).await?;
    let (mut read, mut write) = stream.into_split();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {size}\r\nConnection: close\r\n",
        server.addr
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    write.write_all(head.as_bytes()).await?;
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            let n = chunk.len().min(size - sent);
            write.write_all(&chunk[..n]).await?;
            sent += n;
        }
        anyhow::Ok(write)
    });
    let mut answer = Vec::new();
    let read_all = tokio::time::timeout(Duration::from_secs(60), read.read_to_end(&mut answer))
        .await?
        .map_err(|err| anyhow::anyhow!("{method} {path}: the answer was lost: {err}"));
    let written = writer.await?;
    read_all?;
    written.map_err(|err| anyhow::anyhow!("{method} {path}: the body was cut off: {err}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line: {text:?}"))?;
    let json = &text[text.find('{').unwrap_or(0)..=text.rfind('}').unwrap_or(0)];
    let body: serde_json::Value = serde_json::from_str(json)
        .map_err(|err| anyhow::anyhow!("{method} {path}: not a JSON error ({err}): {text}"))?;
    Ok((status, body))
}

/// Issue #20: a refusal made before the body is read (401 for a stranger, 403 for a school on
/// an office route) reaches a caller that is still sending a large body, as a JSON error,
/// instead of being lost when the connection is closed under the body (`server::drain`).
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_refusal_reaches_a_caller_still_sending_a_large_body() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let school = server.token("school1").await?;
    let sha = rectify_shared::evidence::sha256_hex(b"a file");
    let upload = format!("/api/uploads/{sha}");
    let size = 12 * 1024 * 1024;
    let cases = [
        ("POST", "/api/accounts", Some(school.as_str()), 403),
        ("POST", "/api/import", Some(school.as_str()), 403),
        ("POST", "/api/units", Some(school.as_str()), 403),
        ("PATCH", upload.as_str(), None, 401),
        ("PATCH", upload.as_str(), Some("forged-token"), 401),
    ];
    for (method, path, token, expected) in cases {
        let (status, body) = send_large_body(&server, method, path, token, size).await?;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{method} {path}: {body}"
        );
    }
    // An ordinary HTTP client gets the answer too (not "error sending request").
    let http = reqwest::Client::new();
    for (path, token, expected) in [
        ("/api/accounts", Some(school.as_str()), 403),
        (upload.as_str(), None, 401),
    ] {
        let mut request = http
            .request(reqwest::Method::POST, server.url(path))
            .body(vec![b' '; size]);
        if path == upload {
            request = http
                .request(reqwest::Method::PATCH, server.url(path))
                .body(vec![b' '; size]);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{path}: {err:?}"))?;
        assert_eq!(reply.status().as_u16(), expected, "{path}");
        let body: serde_json::Value = reply.json().await?;
        assert!(body["code"].is_string(), "{path}: {body}");
    }
    // The server still serves.
    let me = reqwest::Client::new()
        .get(server.url("/api/me"))
        .bearer_auth(&school)
        .send()
        .await?;
    assert_eq!(me.status(), 200);
    Ok(())
}
