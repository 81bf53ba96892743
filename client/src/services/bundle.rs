//! Which of the two builds of the client this device loads (issue #22). `cargo xtask build`
//! makes a school build (no `office` feature: login, the list, an item, its history, devices,
//! sync) and a full build (`office`: the office's pages too). `index.html`'s loader loads the
//! school build unless `localStorage` says `rectify.bundle` = `full`, which this module keeps
//! true exactly while the session on the device belongs to an account that oversees
//! ([`Need::Oversee`]: office, department, viewer).
//!
//! The school build, given such a session (a login, or one read from the device), shows a
//! loading state, makes sure the session is stored, sets the key and reloads: the same
//! session opens in the full build. Logging out (or a school's session in the full build)
//! clears the key, so the next load is the school build again.

use gloo::storage::{LocalStorage, Storage};
use rectify_shared::policy::{Need, Role};

/// The `localStorage` key `index.html` reads (a plain string, not JSON).
pub const KEY: &str = "rectify.bundle";
/// Its value for the full build.
pub const FULL: &str = "full";
/// Whether this build has the office's pages.
pub const HAS_OFFICE: bool = cfg!(feature = "office");

/// Whether an account with this role needs the full build: those who oversee do.
pub fn needs_office(role: Role) -> bool {
    Need::Oversee.allows(role)
}

/// Whether this build cannot show this role's pages, so the device must switch builds.
pub fn must_switch(role: Role) -> bool {
    needs_office(role) && !HAS_OFFICE
}

/// Sets (or clears) the key for the next load; returns whether the device now says so (a
/// browser that refuses `localStorage` keeps the school build, and the caller must not
/// reload forever).
pub fn remember(full: bool) -> bool {
    let storage = LocalStorage::raw();
    let _ = if full {
        storage.set_item(KEY, FULL)
    } else {
        storage.remove_item(KEY)
    };
    remembered() == full
}

/// Whether the device says to load the full build.
pub fn remembered() -> bool {
    LocalStorage::raw().get_item(KEY).ok().flatten().as_deref() == Some(FULL)
}

/// Loads the page again (the session stays on the device), now in the full build.
pub fn reload() {
    let _ = gloo::utils::window().location().reload();
}
