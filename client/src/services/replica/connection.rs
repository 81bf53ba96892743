//! The replica's connection: the loop that connects to `/sync` whenever it can (at once on
//! the browser's `online` event and a visible tab, otherwise with backoff), the WebSocket's
//! frames in and out of the [`SyncClient`](rectify_shared::sync::client::SyncClient), the
//! item list asked for on every connection, and noting when everything is in sync.

use super::{Inner, Link, Replica};
use crate::services::api::{self, ApiFailure};
use crate::services::{backoff_ms, sleep_unless_woken};
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo::net::websocket::{Message, WebSocketError, futures::WebSocket};
use rectify_shared::ids::DocumentId;
use rectify_shared::sync::client::ClientEvent;
use rectify_shared::sync::wire::CLOSE_LOG_IN_AGAIN;
use std::rc::Rc;

impl Replica {
    pub(super) fn send_polled(&self) {
        let mut inner = self.0.borrow_mut();
        let frames = inner.client.poll();
        inner.send(frames);
    }

    /// The connection loop: runs until log out or an expired session.
    pub(super) async fn run(&self) {
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
            let (reached, session_ended) = self.connect_once().await;
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
            if (!reached || session_ended) && browser_online() {
                // The upgrade failed (a dead server, or one that refuses our token), or the
                // server ended the connection because the session ended (logged out,
                // disabled, a new password): ask for a login, keeping the local data.
                let token = self.0.borrow().session.token.clone();
                if let Err(ApiFailure::Refused { status: 401, .. }) = api::me(&token).await {
                    self.set_link(Link::SessionExpired);
                    return;
                }
            }
            let attempt = {
                let mut inner = self.0.borrow_mut();
                // A connection that worked starts the backoff over, unless the server sent us
                // away to try later (its disk failed): then reconnecting at once would only
                // fail again, so the wait keeps growing.
                if reached && !inner.told_to_retry {
                    inner.attempt = 0;
                }
                inner.told_to_retry = false;
                inner.attempt += 1;
                inner.attempt
            };
            self.wait(Some(backoff_ms(attempt))).await;
        }
    }

    /// One connection, until it drops. Returns whether the server answered `join`, and
    /// whether it closed the connection because the session ended
    /// ([`CLOSE_LOG_IN_AGAIN`]).
    async fn connect_once(&self) -> (bool, bool) {
        let url = {
            let inner = self.0.borrow();
            sync_url(&inner.session.token)
        };
        let Ok(socket) = WebSocket::open(&url) else {
            return (false, false);
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
        let mut session_ended = false;
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
                Some(Err(WebSocketError::ConnectionClose(event))) => {
                    session_ended = event.code == CLOSE_LOG_IN_AGAIN;
                    break;
                }
                Some(Err(_)) | None => break,
            }
        }
        (reached, session_ended)
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
                // The server could not read or store the item just now: not a refusal, so the
                // copy and its pending changes stay as they are; after a failed write the
                // server closes the connection and the reconnect sends them again.
                ClientEvent::Retry { message, .. } => {
                    self.0.borrow_mut().told_to_retry = true;
                    self.set_link(Link::Failed(message));
                }
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
    pub(super) async fn refresh_list(&self) {
        let token = self.0.borrow().session.token.clone();
        self.refresh_units(&token).await;
        match api::items(&token).await {
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
            Err(ApiFailure::Refused { status: 401, .. }) => {
                self.set_link(Link::SessionExpired);
                self.stop();
            }
            Err(_) => self.0.borrow_mut().listed = true,
        }
        self.notify();
    }

    /// Everything is on the server and we have everything: note the time.
    pub(super) async fn mark_synced_if_quiet(&self) {
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

    fn set_link(&self, link: Link) {
        self.0.borrow_mut().link = link;
        self.notify();
    }

    /// Waits for `ms` milliseconds, or forever, unless woken (online, tab visible, log out).
    async fn wait(&self, ms: Option<u32>) {
        let (wake, woken) = oneshot::channel::<()>();
        self.0.borrow_mut().wake = Some(wake);
        sleep_unless_woken(woken, ms).await;
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
    pub(super) fn listen_to_the_browser(&self) {
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
    fn send(&mut self, frames: Vec<Vec<u8>>) {
        let Some(outbox) = &self.outbox else { return };
        for frame in frames {
            let _ = outbox.unbounded_send(frame);
        }
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
