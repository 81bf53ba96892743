//! Tabs of one user on one device: which tab leads, and how they talk.
//!
//! The tab holding the Web Lock `rectify-leader-<user>` (`navigator.locks`) is the leader:
//! it alone opens the sync connection and runs the upload queue. Every other tab of that user
//! waits in the lock's queue as a follower; when the leader's tab closes (or logs out) the
//! browser releases its lock and the next tab in the queue is granted it ([`request_lock`]).
//! The tabs tell each other what changed on the device over a `BroadcastChannel`
//! ([`Channel`]); the data itself is always read from IndexedDB, never sent over the channel.
//!
//! Each tab also holds a lock of its own, `rectify-tab-<id>`, for its life: another tab can
//! then tell a live tab's typing journal from one a closed tab left ([`live_tabs`]).
//!
//! A browser without Web Locks ([`has_locks`]) runs every tab as today: each its own
//! connection and queue. The bindings go through `js_sys::Reflect`, as web-sys has Web Locks
//! only behind the `web_sys_unstable_apis` flag.

use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::{Serialize, de::DeserializeOwned};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use yew::Callback;

/// Whether the browser has the Web Locks API (`navigator.locks`).
pub fn has_locks() -> bool {
    locks().is_some()
}

fn locks() -> Option<Object> {
    let navigator = gloo::utils::window().navigator();
    Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
        .and_then(|locks| locks.dyn_into().ok())
}

/// A lock this tab holds, or waits for; [`HeldLock::release`] lets it go (the page closing
/// lets it go too).
#[derive(Clone, Default)]
pub struct HeldLock(Rc<RefCell<LockState>>);

#[derive(Default)]
struct LockState {
    /// Resolves the promise the lock is held by.
    release: Option<Function>,
    /// Released before it was granted: give it back at once when it is.
    released: bool,
}

impl HeldLock {
    pub fn release(&self) {
        let mut state = self.0.borrow_mut();
        state.released = true;
        if let Some(release) = state.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

/// Asks for the lock `name` and holds it until released: `on_granted` is called once the
/// browser grants it (at once when free, else when its holder lets it go). `None` without
/// Web Locks.
pub fn request_lock(name: &str, on_granted: impl FnOnce() + 'static) -> Option<HeldLock> {
    let locks = locks()?;
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let held = HeldLock::default();
    let state = Rc::clone(&held.0);
    let granted = Closure::once_into_js(move |_lock: JsValue| -> Promise {
        // The lock is held until this promise settles.
        let promise = Promise::new(&mut |resolve, _reject| {
            state.borrow_mut().release = Some(resolve);
        });
        if state.borrow().released {
            HeldLock(state).release();
        } else {
            on_granted();
        }
        promise
    });
    request.call2(&locks, &name.into(), &granted).ok()?;
    Some(held)
}

/// The names of the locks held now, by any tab of this origin (`navigator.locks.query`).
/// `None` without Web Locks.
pub async fn held_locks() -> Option<Vec<String>> {
    let locks = locks()?;
    let query: Function = Reflect::get(&locks, &"query".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = query.call0(&locks).ok()?.dyn_into().ok()?;
    let snapshot = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let held: Array = Reflect::get(&snapshot, &"held".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(
        held.iter()
            .filter_map(|info| Reflect::get(&info, &"name".into()).ok()?.as_string())
            .collect(),
    )
}

/// The lock a tab holds for its life, by the tab's id.
pub fn tab_lock_name(tab: &str) -> String {
    format!("rectify-tab-{tab}")
}

/// The ids of the tabs open now (each holds [`tab_lock_name`]); `None` without Web Locks.
pub async fn live_tabs() -> Option<Vec<String>> {
    let prefix = tab_lock_name("");
    Some(
        held_locks()
            .await?
            .into_iter()
            .filter_map(|name| name.strip_prefix(&prefix).map(str::to_owned))
            .collect(),
    )
}

/// A `BroadcastChannel` carrying `M` as JSON to the other tabs of this origin on the same
/// channel name (never to this tab itself). Closed when dropped.
pub struct Channel<M> {
    channel: web_sys::BroadcastChannel,
    _listener: gloo::events::EventListener,
    _message: std::marker::PhantomData<M>,
}

impl<M: Serialize + DeserializeOwned + 'static> Channel<M> {
    /// Opens the channel `name`; `on_message` gets every message another tab sends on it.
    /// `None` when the browser has no `BroadcastChannel`.
    pub fn open(name: &str, on_message: Callback<M>) -> Option<Channel<M>> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let listener = gloo::events::EventListener::new(&channel, "message", move |event| {
            let Some(event) = event.dyn_ref::<web_sys::MessageEvent>() else {
                return;
            };
            let message = event
                .data()
                .as_string()
                .and_then(|json| serde_json::from_str::<M>(&json).ok());
            if let Some(message) = message {
                on_message.emit(message);
            }
        });
        Some(Channel {
            channel,
            _listener: listener,
            _message: std::marker::PhantomData,
        })
    }

    pub fn send(&self, message: &M) {
        if let Ok(json) = serde_json::to_string(message) {
            let _ = self.channel.post_message(&json.into());
        }
    }
}

impl<M> Drop for Channel<M> {
    fn drop(&mut self) {
        self.channel.close();
    }
}
