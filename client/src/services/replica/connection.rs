//! The replica's connection: the loop that connects to `/sync` whenever it can (at once on
//! the browser's `online` event, a visible tab and an answered upload, otherwise after a short
//! jittered wait, probing `HEAD /healthz` once a try failed), the WebSocket's frames in and
//! out of the [`SyncClient`](rectify_shared::sync::client::SyncClient), the item list asked
//! for on every connection, noting when everything is in sync and when the server last
//! answered, and what the status bar says about the link (`Inner::shown_state`).

use super::{Inner, Link, Replica, SyncState};
use crate::services::api::{self, ApiFailure};
use crate::services::{is_recent, retry_ms, sleep_unless_woken};
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo::net::websocket::{Message, WebSocketError, futures::WebSocket};
use rectify_shared::ids::DocumentId;
use rectify_shared::sync::client::ClientEvent;
use rectify_shared::sync::wire::CLOSE_LOG_IN_AGAIN;
use std::rc::Rc;

/// How long a new connection may take to answer `join` before it is given up.
const JOIN_TIMEOUT_MS: u32 = 10_000;
/// After losing a connection that worked, how long the bar keeps its last state while the
/// next connection is made (on a link that drops every minute, most come back within this).
pub(super) const LOST_GRACE_MS: f64 = 5_000.0;
/// Without any answer from the server for this long, the bar says offline, not unstable.
const UNSTABLE_FOR_MS: f64 = 60_000.0;

impl Replica {
    pub(super) fn send_polled(&self) {
        let mut inner = self.0.borrow_mut();
        let frames = inner.client.poll();
        inner.send(frames);
    }

    /// The connection loop: runs until log out or an expired session.
    ///
    /// After a connection that worked drops, the first try is a new WebSocket at once (after
    /// a short random wait: a cut link usually carries the next connection). Once a try has
    /// failed, each further one first asks `HEAD /healthz`, a few hundred bytes, and opens a
    /// WebSocket only when the server answers. Waits are short (up to 2 s) for a device in
    /// recent contact with the server, and grow to 60 s otherwise or when the server asked
    /// us to come back later.
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
            let probe_first = self.0.borrow().attempt >= 2;
            if probe_first {
                if !matches!(self.link(), Link::Failed(_) | Link::DeviceWriteFailed(_)) {
                    self.set_link(Link::Retrying);
                }
                if api::server_answers().await {
                    self.heard_from_server();
                    self.uploads().wake(); // their requests may be waiting out a backoff
                } else {
                    self.retry_later().await;
                    continue;
                }
            }
            self.set_link(Link::Connecting);
            let (reached, session_ended) = self.connect_once().await;
            {
                let mut inner = self.0.borrow_mut();
                inner.outbox = None;
                inner.close = None;
                inner.listed = false;
                if reached {
                    // Lost a connection that worked: the bar keeps its last state for a
                    // moment (`sync_state`), as the next connection usually follows at once.
                    inner.lost_at_ms = Some(js_sys::Date::now());
                    inner.synced_when_lost = inner.synced;
                }
                inner.synced = false;
                inner.client.disconnect();
                if matches!(inner.link, Link::Connected | Link::Connecting) {
                    inner.link = Link::Retrying;
                }
            }
            self.notify();
            if reached {
                // Say "unstable" rather than keep the last state once the grace is over.
                let replica = self.clone();
                gloo::timers::callback::Timeout::new(LOST_GRACE_MS as u32 + 50, move || {
                    replica.notify();
                })
                .forget();
            }
            if self.0.borrow().stopped {
                return;
            }
            if (!reached || session_ended) && browser_online() {
                // The upgrade failed (a dead server, or one that refuses our token), or the
                // server ended the connection because the session ended (logged out,
                // disabled, a new password): ask for a login, keeping the local data.
                let token = self.0.borrow().session.token.clone();
                match api::me(&token).await {
                    Err(ApiFailure::Refused { status: 401, .. }) => {
                        self.set_link(Link::SessionExpired);
                        return;
                    }
                    Err(ApiFailure::Network) => {}
                    // It answered: the link is up (the WebSocket failed for another reason).
                    _ => self.heard_from_server(),
                }
            }
            {
                let mut inner = self.0.borrow_mut();
                // A connection that worked starts the backoff over, unless the server sent us
                // away to try later (its disk failed): then reconnecting at once would only
                // fail again, so the wait keeps growing, uncapped.
                if reached {
                    inner.asked_to_wait = inner.told_to_retry;
                    if !inner.told_to_retry {
                        inner.attempt = 0;
                    }
                }
                inner.told_to_retry = false;
            }
            self.retry_later().await;
        }
    }

    /// Counts a failed (or lost) try and waits before the next one, unless woken.
    async fn retry_later(&self) {
        let (attempt, recent) = {
            let mut inner = self.0.borrow_mut();
            inner.attempt += 1;
            let recent = !inner.asked_to_wait && is_recent(inner.last_contact_ms);
            (inner.attempt, recent)
        };
        self.notify(); // a failed try may turn the bar to "unstable" or "offline"
        self.wait(Some(retry_ms(attempt, recent))).await;
    }

    /// The server answered something (a frame, a probe, an upload request): note the time,
    /// which the bar shows, and which keeps retries short.
    pub(super) fn heard_from_server(&self) {
        let changed = {
            let mut inner = self.0.borrow_mut();
            let now = js_sys::Date::now();
            let shown_before = inner.last_contact_ms.map(|at| (at / 1000.0) as i64);
            inner.last_contact_ms = Some(now);
            shown_before != Some((now / 1000.0) as i64)
        };
        if changed {
            self.notify();
        }
    }

    /// Proof from elsewhere (an upload request answered) that the link carries requests:
    /// if the loop is waiting to retry, it tries now, unless the server asked it to wait.
    pub(super) fn link_is_back(&self) {
        self.heard_from_server();
        let waiting_to_retry = {
            let inner = self.0.borrow();
            !inner.asked_to_wait && inner.link == Link::Retrying
        };
        if waiting_to_retry {
            self.wake_up();
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
        // A link that swallows packets would leave the upgrade waiting for minutes.
        let mut join_timeout = gloo::timers::future::TimeoutFuture::new(JOIN_TIMEOUT_MS).fuse();
        loop {
            let next = futures::select! {
                message = stream.next().fuse() => message,
                _ = (&mut closed).fuse() => None,
                _ = join_timeout => if reached { continue } else { None },
            };
            match next {
                Some(Ok(Message::Bytes(frame))) => {
                    self.heard_from_server();
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
                    refusal,
                } => self.refused_change(id, message, refusal).await,
                // The server could not read or store the item just now: not a refusal, so the
                // copy and its pending changes stay as they are; after a failed write the
                // server closes the connection and the reconnect sends them again.
                ClientEvent::Retry { message, .. } => {
                    self.0.borrow_mut().told_to_retry = true;
                    self.set_link(Link::Failed(message));
                }
                // This build is too old for the item (schema version 2): the bar says to
                // reload; `doc-unavailable` for it follows. (Step 4 of docs/schema-v2.md
                // opens the version-2 documents instead.)
                ClientEvent::Update { message, .. }
                | ClientEvent::Error {
                    doc: None, message, ..
                }
                | ClientEvent::BadFrame(message) => {
                    self.set_link(Link::Failed(message));
                }
                ClientEvent::Connected { .. } => {}
                // An item was created or assigned to us: list and open it now, not at the
                // next reconnect.
                ClientEvent::ListChanged => self.refresh_list().await,
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
            let synced = inner.link == Link::Connected
                && inner.listed
                && pending == 0
                && all_in_sync
                && inner.typing.is_empty();
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
    /// browser knows before the socket times out). An upload request the server answered
    /// proves the link is back.
    pub(super) fn listen_to_the_browser(&self) {
        let weak = Rc::downgrade(&self.0);
        self.uploads()
            .on_server_answer(yew::Callback::from(move |()| {
                if let Some(inner) = weak.upgrade() {
                    Replica(inner).link_is_back();
                }
            }));
        let window = gloo::utils::window();
        let weak = Rc::downgrade(&self.0);
        let online = gloo::events::EventListener::new(&window, "online", move |_| {
            if let Some(inner) = weak.upgrade() {
                let replica = Replica(inner);
                replica.wake_up();
                replica.uploads().came_online();
                replica.notify(); // a follower with no word from its leader says so at once
            }
        });
        let weak = Rc::downgrade(&self.0);
        let offline = gloo::events::EventListener::new(&window, "offline", move |_| {
            let Some(inner) = weak.upgrade() else { return };
            let close = inner.borrow_mut().close.take();
            if let Some(close) = close {
                let _ = close.send(());
            }
            Replica(inner).notify(); // a follower with no word from its leader: offline
        });
        let weak = Rc::downgrade(&self.0);
        let document = gloo::utils::document();
        let visible = gloo::events::EventListener::new(&document, "visibilitychange", move |_| {
            let shown =
                gloo::utils::document().visibility_state() == web_sys::VisibilityState::Visible;
            if let Some(inner) = weak.upgrade() {
                if shown {
                    Replica(inner).wake_up();
                } else {
                    // Hidden may be the last the page hears: what is being typed goes to disk.
                    Replica(inner).end_all_typing();
                }
            }
        });
        let weak = Rc::downgrade(&self.0);
        let hide = gloo::events::EventListener::new(&window, "pagehide", move |_| {
            if let Some(inner) = weak.upgrade() {
                Replica(inner).end_all_typing();
            }
        });
        // They live as long as the page: a log out stops the loop they wake.
        online.forget();
        offline.forget();
        visible.forget();
        hide.forget();
    }
}

impl Inner {
    /// What the bar shows, at `now_ms` (see [`Replica::sync_state`]).
    pub(super) fn shown_state(&self, now_ms: f64) -> SyncState {
        let pending: usize = self.pending.values().sum();
        let lost_a_moment_ago = self
            .lost_at_ms
            .is_some_and(|at| now_ms - at < LOST_GRACE_MS);
        let heard_lately = self
            .last_contact_ms
            .is_some_and(|at| now_ms - at < UNSTABLE_FOR_MS);
        match &self.link {
            Link::Connected if self.synced => SyncState::Synced,
            Link::Connected => SyncState::Syncing,
            Link::Failed(_) | Link::DeviceWriteFailed(_) | Link::SessionExpired => SyncState::Error,
            Link::Offline if pending > 0 => SyncState::Pending,
            Link::Offline => SyncState::Offline,
            // Reconnecting after a cut: no flicker, the next connection usually follows.
            Link::Connecting | Link::Retrying if lost_a_moment_ago => {
                if self.synced_when_lost && pending == 0 {
                    SyncState::Synced
                } else {
                    SyncState::Syncing
                }
            }
            // The server answered within the last minute: the link comes and goes.
            Link::Connecting | Link::Retrying if heard_lately => SyncState::Unstable,
            Link::Connecting if pending == 0 => SyncState::Syncing,
            Link::Connecting | Link::Retrying if pending > 0 => SyncState::Pending,
            Link::Connecting | Link::Retrying => SyncState::Offline,
        }
    }

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
        Message::RectifyDigestReply { .. }
            | Message::RectifyHeadsReply { .. }
            | Message::RectifyApplied { .. }
    )
}

pub(super) fn browser_online() -> bool {
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
