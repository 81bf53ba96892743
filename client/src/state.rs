//! The app state and its reducer: every change goes through an [`Action`].

use crate::i18n::Lang;
use crate::services::{local, storage};
use rectify_shared::api::LoginResponse;
use rectify_shared::policy::Role;
use std::rc::Rc;
use yew::Reducible;

#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    pub lang: Lang,
    /// False until the stored session has been read from IndexedDB.
    pub booted: bool,
    /// The logged-in session, kept in IndexedDB so the app starts logged in, even offline.
    pub session: Option<Session>,
    pub route: Route,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub token: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The user's unit (school or department), if any.
    pub unit: Option<String>,
}

impl From<LoginResponse> for Session {
    fn from(login: LoginResponse) -> Session {
        Session {
            token: login.token,
            username: login.username.0,
            display_name: login.display_name,
            role: login.role,
            unit: login.unit.map(|u| u.as_str().to_owned()),
        }
    }
}

/// Which page is shown, kept in the URL's hash (`#/item/<id>`) so reload and back work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Items,
    Item(String),
}

impl Route {
    pub fn from_hash(hash: &str) -> Route {
        match hash.trim_start_matches('#').strip_prefix("/item/") {
            Some(id) if !id.is_empty() => Route::Item(id.to_owned()),
            _ => Route::Items,
        }
    }

    pub fn current() -> Route {
        Route::from_hash(&gloo::utils::window().location().hash().unwrap_or_default())
    }

    pub fn href(&self) -> String {
        match self {
            Route::Items => "#/".to_owned(),
            Route::Item(id) => format!("#/item/{id}"),
        }
    }
}

pub enum Action {
    SwitchLanguage,
    Booted(Option<Session>),
    LoggedIn(Session),
    LogOut,
    Navigated(Route),
}

impl AppState {
    pub fn load() -> AppState {
        AppState {
            lang: storage::load_lang().unwrap_or(Lang::Zh),
            booted: false,
            session: None,
            route: Route::current(),
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
            Action::Booted(session) => {
                next.booted = true;
                next.session = session;
            }
            Action::LoggedIn(session) => {
                let saved = session.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = local::save_session(Some(&saved)).await;
                });
                next.session = Some(session);
            }
            Action::LogOut => {
                wasm_bindgen_futures::spawn_local(async {
                    let _ = local::save_session::<Session>(None).await;
                });
                next.session = None;
                next.route = Route::Items;
            }
            Action::Navigated(route) => next.route = route,
        }
        Rc::new(next)
    }
}
