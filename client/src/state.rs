//! The app state and its reducer: every change goes through an [`Action`].

use crate::i18n::Lang;
use crate::services::storage;
use rectify_shared::api::LoginResponse;
use std::rc::Rc;
use yew::Reducible;

#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    pub lang: Lang,
    /// The logged-in session, kept in browser storage so a reload stays logged in.
    pub session: Option<Session>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub token: String,
    pub username: String,
    pub display_name: String,
    pub role: rectify_shared::policy::Role,
}

impl From<LoginResponse> for Session {
    fn from(login: LoginResponse) -> Session {
        Session {
            token: login.token,
            username: login.username.0,
            display_name: login.display_name,
            role: login.role,
        }
    }
}

pub enum Action {
    SwitchLanguage,
    LoggedIn(Session),
    LogOut,
}

impl AppState {
    pub fn load() -> AppState {
        AppState {
            lang: storage::load_lang().unwrap_or(Lang::Zh),
            session: storage::load_session(),
        }
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::SwitchLanguage => {
                next.lang = self.lang.other();
                storage::save_lang(next.lang);
            }
            Action::LoggedIn(session) => {
                storage::save_session(&session);
                next.session = Some(session);
            }
            Action::LogOut => {
                storage::clear_session();
                next.session = None;
            }
        }
        Rc::new(next)
    }
}
