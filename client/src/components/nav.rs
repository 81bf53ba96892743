//! The page tabs under the sync bar: what this role may open. A school sees none (its items
//! are its whole app); the others see the dashboard, the items and supervision, and the
//! office (and, read-only, viewers) the reports, accounts and the audit log.

use crate::context::AppContext;
use crate::i18n::{Msg, tr};
use crate::state::{Route, may_see};
use rectify_shared::policy::Role;
use yew::prelude::*;

#[function_component(Nav)]
pub fn nav() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let Some(session) = &state.session else {
        return Html::default();
    };
    if session.role == Role::Unit {
        return Html::default();
    }
    let lang = state.lang;
    let current = match &state.route {
        Route::Home => Route::Dashboard,
        Route::Item(_) | Route::History(_) | Route::NewItem => Route::Items,
        Route::Supervise(_) => Route::Supervise(None),
        other => other.clone(),
    };
    let tabs = [
        (Route::Dashboard, Msg::NavDashboard),
        (Route::Items, Msg::NavItems),
        (Route::Supervise(None), Msg::NavSupervise),
        (Route::Reports, Msg::NavReports),
        (Route::Accounts, Msg::NavAccounts),
        (Route::Audit, Msg::NavAudit),
    ];
    html! {
        <nav class="tabs" aria-label={tr(lang, Msg::NavLabel)} data-testid="nav">
            { for tabs.into_iter().filter(|(route, _)| may_see(session.role, route)).map(|(route, label)| {
                let active = route == current;
                html! {
                    <a href={route.href()} class={classes!("tab", active.then_some("active"))}
                       aria-current={active.then_some("page")}
                       data-testid={format!("nav-{}", route.href().trim_start_matches("#/"))}>
                        { tr(lang, label) }
                    </a>
                }
            }) }
        </nav>
    }
}
