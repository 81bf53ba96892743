//! The outside world, behind small interfaces: the HTTP API ([`api`]), the device store in
//! IndexedDB ([`local`]), the synced replica of the user's items ([`replica`]), evidence
//! files ([`prepare`] before they are stored, [`uploads`] after) and the language setting
//! ([`settings`]).

pub mod api;
pub mod local;
pub mod prepare;
pub mod replica;
pub mod settings;
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

/// Exponential backoff with full jitter: up to 1 s, 2 s, 4 s … 60 s.
pub fn backoff_ms(attempt: u32) -> u32 {
    let cap = 1000u32.saturating_mul(1 << attempt.min(6)).min(60_000);
    ((js_sys::Math::random() * f64::from(cap)) as u32).max(250)
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
