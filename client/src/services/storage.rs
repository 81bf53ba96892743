//! Small settings kept in `localStorage`: the language and the session.

use crate::i18n::Lang;
use crate::state::Session;
use gloo::storage::{LocalStorage, Storage};

const LANG_KEY: &str = "rectify.lang";
const SESSION_KEY: &str = "rectify.session";

pub fn load_lang() -> Option<Lang> {
    LocalStorage::get(LANG_KEY).ok()
}

pub fn save_lang(lang: Lang) {
    let _ = LocalStorage::set(LANG_KEY, lang);
}

pub fn load_session() -> Option<Session> {
    LocalStorage::get(SESSION_KEY).ok()
}

pub fn save_session(session: &Session) {
    let _ = LocalStorage::set(SESSION_KEY, session);
}

pub fn clear_session() {
    LocalStorage::delete(SESSION_KEY);
}
