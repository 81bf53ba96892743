//! The language setting, in `localStorage` (read synchronously, before the first render).
//! Everything else lives in IndexedDB ([`super::local`]).

use crate::i18n::Lang;
use gloo::storage::{LocalStorage, Storage};

const LANG_KEY: &str = "rectify.lang";

pub fn load_lang() -> Option<Lang> {
    LocalStorage::get(LANG_KEY).ok()
}

pub fn save_lang(lang: Lang) {
    let _ = LocalStorage::set(LANG_KEY, lang);
}
