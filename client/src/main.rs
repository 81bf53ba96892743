//! Rectify's browser client: a yew CSR app.
//!
//! - [`app`]: the root component: session, language, which page.
//! - [`context`]: what the root hands to every component (the app state, the replica).
//! - [`state`]: the app state, an [`state::Action`] enum and its reducer.
//! - [`session`]: who is logged in (kept on the device).
//! - [`i18n`]: every user-visible string, in Chinese (default) and English; [`refusals`]:
//!   why something was refused, from the refusal as data, in both.
//! - [`format`]: values as people read them (times, area numerals, days, API failures).
//! - [`pages`]: one file per page; [`components`]: reusable pieces.
//! - [`services`]: the HTTP API and browser storage, behind small functions.

mod app;
mod components;
mod context;
mod format;
mod i18n;
mod pages;
mod refusals;
mod services;
mod session;
mod state;

fn main() {
    services::register_service_worker();
    yew::Renderer::<app::App>::with_root(root()).render();
}

/// The `#app` element of `index.html` (the body if someone removed it).
fn root() -> web_sys::Element {
    let document = gloo::utils::document();
    document
        .get_element_by_id("app")
        .unwrap_or_else(|| gloo::utils::body().into())
}
