//! The root component: session, language, page, and the user's replica.

use crate::components::{
    header::Header, left_work::LeftWorkNotice, nav::Nav, refused::RefusedPanel,
    sync_status::SyncStatus,
};
use crate::context::{AppContext, ReplicaContext};
use crate::i18n::{Lang, Msg, tr};
#[cfg(feature = "office")]
use crate::pages::{
    accounts::Accounts, audit::Audit, dashboard::Dashboard, new_item::NewItemPage,
    reports::Reports, supervise::Supervise,
};
use crate::pages::{devices::Devices, history::History, home::Home, item::ItemPage, login::Login};
use crate::services::{bundle, local, replica::Replica};
use crate::session::Session;
use crate::state::{Action, AppState, Route, may_see};
#[cfg(feature = "office")]
use rectify_shared::policy::Role;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Default, PartialEq)]
struct Version(u64);

impl Reducible for Version {
    type Action = ();
    fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
        Rc::new(Version(self.0 + 1))
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(AppState::load);
    let replica = use_state(|| None::<Replica>);
    let version = use_reducer(Version::default);
    let failure = use_state(|| None::<String>);
    {
        let lang = state.lang;
        use_effect_with(lang, move |lang| {
            if let Some(root) = gloo::utils::document().document_element() {
                let _ = root.set_attribute("lang", lang.tag());
            }
        });
    }
    // Read the stored session once; follow the URL's hash.
    {
        let state = state.clone();
        use_effect_with((), move |_| {
            let booting = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let session = local::load_session::<Session>().await;
                booting.dispatch(Action::Booted(session));
            });
            let listener =
                gloo::events::EventListener::new(&gloo::utils::window(), "hashchange", move |_| {
                    state.dispatch(Action::Navigated(Route::current()));
                });
            move || drop(listener)
        });
    }
    // Which build the next load takes follows the session (services/bundle.rs): the full
    // one while an account that oversees is logged in. This build lacking its pages, the
    // session is stored first, then the page loads again in the full build.
    let switch_refused = use_state(|| false);
    {
        let switch_refused = switch_refused.clone();
        let session = state.booted.then(|| state.session.clone());
        use_effect_with(session, move |session| {
            if let Some(session) = session {
                let full = session
                    .as_ref()
                    .is_some_and(|s| bundle::needs_office(s.role));
                let kept = bundle::remember(full);
                if let Some(session) = session.clone().filter(|s| bundle::must_switch(s.role)) {
                    if kept {
                        wasm_bindgen_futures::spawn_local(async move {
                            let _ = local::save_session(Some(&session)).await;
                            bundle::reload();
                        });
                    } else {
                        switch_refused.set(true);
                    }
                }
            }
        });
    }
    // One replica per logged-in session, stopped at log out (its data stays on the device);
    // none while this build is being left for the full one.
    {
        let (replica, version, failure) = (replica.clone(), version.clone(), failure.clone());
        let app = state.clone();
        let session = state.session.clone();
        use_effect_with(session, move |session| {
            let running = Rc::new(std::cell::RefCell::new(None::<Replica>));
            if let Some(session) = session.clone().filter(|s| !bundle::must_switch(s.role)) {
                let (replica, running) = (replica.clone(), Rc::clone(&running));
                wasm_bindgen_futures::spawn_local(async move {
                    let on_change = Callback::from(move |()| version.dispatch(()));
                    // Logged out in another tab: this one shows the login page too.
                    let on_logged_out = Callback::from(move |()| app.dispatch(Action::LogOut));
                    match Replica::start(session, on_change, on_logged_out).await {
                        Ok(started) => {
                            *running.borrow_mut() = Some(started.clone());
                            replica.set(Some(started));
                        }
                        Err(err) => failure.set(Some(err.0)),
                    }
                });
            }
            move || {
                if let Some(stopped) = running.borrow_mut().take() {
                    stopped.stop();
                }
                replica.set(None);
            }
        });
    }
    let lang = state.lang;
    let page = match (&state.session, &*replica) {
        _ if !state.booted => {
            html! { <p class="boot" role="status">{ tr(lang, Msg::Loading) }</p> }
        }
        (None, _) => html! { <Login /> },
        (Some(session), _) if bundle::must_switch(session.role) => {
            if *switch_refused {
                html! { <p class="error" role="alert">{ tr(lang, Msg::SwitchRefused) }</p> }
            } else {
                html! {
                    <p class="boot" role="status" data-testid="loading-office">
                        { tr(lang, Msg::LoadingOfficePages) }
                    </p>
                }
            }
        }
        (Some(_), None) => match &*failure {
            Some(message) => html! {
                <p class="error" role="alert">{ tr(lang, Msg::LocalStoreFailed) }{ message }</p>
            },
            None => html! { <p class="boot" role="status">{ tr(lang, Msg::Loading) }</p> },
        },
        (Some(session), Some(_)) if !may_see(session.role, &state.route) => forbidden(lang),
        (Some(session), Some(_)) => page(session, &state.route, lang),
    };
    let context = (*replica).clone().map(|replica| ReplicaContext {
        replica,
        version: version.0,
    });
    html! {
        <ContextProvider<AppContext> context={state.clone()}>
            <ContextProvider<Option<ReplicaContext>> context={context}>
                // The top bar and the sync status stay in view together.
                <div class="chrome">
                    <Header />
                    if state.session.as_ref().is_some_and(|s| !bundle::must_switch(s.role)) {
                        <SyncStatus />
                        <Nav />
                    }
                </div>
                <main class="page">
                    if state.booted { <LeftWorkNotice /> }
                    if state.session.is_some() { <RefusedPanel /> }
                    { page }
                </main>
            </ContextProvider<Option<ReplicaContext>>>
        </ContextProvider<AppContext>>
    }
}

/// The page for a route the session may see, in the full build.
#[cfg(feature = "office")]
fn page(session: &Session, route: &Route, _: Lang) -> Html {
    match route {
        Route::Home if session.role == Role::Unit => html! { <Home /> },
        Route::Home | Route::Dashboard => html! { <Dashboard /> },
        Route::Items => html! { <Home /> },
        Route::Item(id) => html! { <ItemPage id={id.clone()} /> },
        Route::History(id) => html! { <History id={id.clone()} /> },
        Route::Supervise(unit) => html! { <Supervise unit={unit.clone()} /> },
        Route::Reports => html! { <Reports /> },
        Route::Accounts => html! { <Accounts /> },
        Route::NewItem => html! { <NewItemPage /> },
        Route::Devices => html! { <Devices /> },
        Route::Audit => html! { <Audit /> },
    }
}

/// The page for a route the session may see, in the school build: only a school's session
/// gets here (the others switch builds first), and `may_see` keeps it from the others.
#[cfg(not(feature = "office"))]
fn page(_: &Session, route: &Route, lang: Lang) -> Html {
    match route {
        Route::Home | Route::Items => html! { <Home /> },
        Route::Item(id) => html! { <ItemPage id={id.clone()} /> },
        Route::History(id) => html! { <History id={id.clone()} /> },
        Route::Devices => html! { <Devices /> },
        Route::Dashboard
        | Route::Supervise(_)
        | Route::Reports
        | Route::Accounts
        | Route::NewItem
        | Route::Audit => forbidden(lang),
    }
}

fn forbidden(lang: Lang) -> Html {
    html! { <p class="error" role="alert" data-testid="forbidden">{ tr(lang, Msg::Forbidden) }</p> }
}
