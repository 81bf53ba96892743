//! The outside world, behind small functions: the HTTP API and browser storage.

pub mod api;
pub mod storage;

/// Registers the service worker that caches the app shell, so the app starts offline.
pub fn register_service_worker() {
    let navigator = gloo::utils::window().navigator();
    // `serviceWorker` is missing on insecure origins other than localhost.
    let has_worker = js_sys_has(&navigator, "serviceWorker");
    if has_worker {
        let _promise = navigator.service_worker().register("/sw.js");
    }
}

fn js_sys_has(target: &web_sys::Navigator, key: &str) -> bool {
    web_sys::js_sys::Reflect::has(target, &key.into()).unwrap_or(false)
}
