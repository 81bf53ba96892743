//! The app state and its reducer: every change goes through an [`Action`].

use crate::i18n::Lang;
use crate::services::{local, settings};
use crate::session::Session;
use rectify_shared::policy::{Need, Role};
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

/// Which page is shown, kept in the URL's hash (`#/item/<id>`) so reload and back work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `#/`: the dashboard for those who oversee (office, viewer, department), the item
    /// list for a school.
    Home,
    /// `#/items`: the item list.
    Items,
    Item(String),
    /// `#/item/<id>/history`
    History(String),
    /// `#/dashboard`
    Dashboard,
    /// `#/supervise`, and `#/supervise/<unit>` for that unit's printable chase notice.
    Supervise(Option<String>),
    /// `#/reports`: downloads and importing a report.
    Reports,
    /// `#/accounts`: units and accounts.
    Accounts,
    /// `#/new-item`: an item added by hand.
    NewItem,
    /// `#/devices`: one's own signed-in devices (every role).
    Devices,
    /// `#/audit`: the audit log (office, viewer).
    Audit,
}

impl Route {
    pub fn from_hash(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("item"), Some(id), None) if !id.is_empty() => Route::Item(id.to_owned()),
            (Some("item"), Some(id), Some("history")) if !id.is_empty() => {
                Route::History(id.to_owned())
            }
            (Some("items"), None, None) => Route::Items,
            (Some("dashboard"), None, None) => Route::Dashboard,
            (Some("supervise"), None, None) => Route::Supervise(None),
            (Some("supervise"), Some(unit), None) if !unit.is_empty() => {
                Route::Supervise(Some(unit.to_owned()))
            }
            (Some("reports"), None, None) => Route::Reports,
            (Some("accounts"), None, None) => Route::Accounts,
            (Some("new-item"), None, None) => Route::NewItem,
            (Some("devices"), None, None) => Route::Devices,
            (Some("audit"), None, None) => Route::Audit,
            _ => Route::Home,
        }
    }

    pub fn current() -> Route {
        Route::from_hash(&gloo::utils::window().location().hash().unwrap_or_default())
    }

    pub fn href(&self) -> String {
        match self {
            Route::Home => "#/".to_owned(),
            Route::Items => "#/items".to_owned(),
            Route::Item(id) => format!("#/item/{id}"),
            Route::History(id) => format!("#/item/{id}/history"),
            Route::Dashboard => "#/dashboard".to_owned(),
            Route::Supervise(None) => "#/supervise".to_owned(),
            Route::Supervise(Some(unit)) => format!("#/supervise/{unit}"),
            Route::Reports => "#/reports".to_owned(),
            Route::Accounts => "#/accounts".to_owned(),
            Route::NewItem => "#/new-item".to_owned(),
            Route::Devices => "#/devices".to_owned(),
            Route::Audit => "#/audit".to_owned(),
        }
    }
}

/// Who reaches which page, by the same table the server's API uses ([`Need`]): schools work
/// on their items; the others oversee; only the office (and read-only, viewers) manages
/// accounts and reports. The server refuses the same at the API; this only hides.
pub fn may_see(role: Role, route: &Route) -> bool {
    let needed = match route {
        Route::Home | Route::Items | Route::Item(_) | Route::History(_) => Need::LoggedIn,
        Route::Dashboard | Route::Supervise(_) => Need::Oversee,
        Route::Devices => Need::LoggedIn,
        Route::Reports | Route::Accounts | Route::Audit => Need::ReadAll,
        Route::NewItem => Need::Office,
    };
    needed.allows(role)
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
            lang: settings::load_lang().unwrap_or(Lang::Zh),
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
                settings::save_lang(next.lang);
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
                let token = self.session.as_ref().map(|s| s.token.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = local::save_session::<Session>(None).await;
                    if let Some(token) = token {
                        crate::services::api::logout(&token).await;
                    }
                });
                next.session = None;
                next.route = Route::Home;
                // The address too: left on an item, tapping that item after the next login
                // would set the same address, and nothing would happen.
                let _ = gloo::utils::window()
                    .location()
                    .set_hash(&Route::Home.href());
            }
            Action::Navigated(route) => next.route = route,
        }
        Rc::new(next)
    }
}
