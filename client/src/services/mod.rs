//! The outside world, behind small interfaces: the HTTP API ([`api`]), the device store in
//! IndexedDB ([`local`]), the synced replica of the user's items ([`replica`]), evidence
//! files ([`prepare`] before they are stored, [`uploads`] after), the language setting
//! ([`settings`]), which build of the client the device loads ([`bundle`]) and the other tabs
//! of the same user ([`tabs`]: which one leads).

pub mod api;
pub mod bundle;
pub mod local;
pub mod prepare;
pub mod replica;
pub mod settings;
pub mod tabs;
pub mod uploads;

/// Registers the service worker that caches the app shell, so the app starts offline.
pub fn register_service_worker() {
    let navigator = gloo::utils::window().navigator();
    // `serviceWorker` is missing on insecure origins other than localhost.
    let has_worker = js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false);
    if has_worker {
        let _promise = navigator.service_worker().register("/sw.js");
    }
}

/// How long to wait before try number `attempt` to reach the server: full jitter up to 2 s
/// for a device in recent contact with it (`recent_contact`), else growing to 60 s
/// ([`rectify_shared::link::retry_delay_ms`]).
pub fn retry_ms(attempt: u32, recent_contact: bool) -> u32 {
    rectify_shared::link::retry_delay_ms(attempt, recent_contact, js_sys::Math::random())
}

/// Whether `last_contact_ms` (when the server last answered) is recent enough for short
/// retries ([`rectify_shared::link::RECENT_CONTACT_MS`]).
pub fn is_recent(last_contact_ms: Option<f64>) -> bool {
    last_contact_ms
        .is_some_and(|at| js_sys::Date::now() - at < rectify_shared::link::RECENT_CONTACT_MS)
}

/// Sleeps for `ms` milliseconds (for ever with `None`) unless `woken` fires first, or its
/// sender is dropped: how the replica's and the uploads' loops wait for a retry or for news.
pub async fn sleep_unless_woken(woken: futures::channel::oneshot::Receiver<()>, ms: Option<u32>) {
    use futures::FutureExt;
    match ms {
        Some(ms) => {
            let timer = gloo::timers::future::TimeoutFuture::new(ms);
            futures::select! {
                _ = timer.fuse() => {},
                _ = woken.fuse() => {},
            }
        }
        None => {
            let _ = woken.await;
        }
    }
}
