//! The page tabs under the sync bar: what this role may open. A school sees none (its items
//! are its whole app); the others see the dashboard, the items and supervision, and the
//! office (and, read-only, viewers) the reports, accounts and the audit log.
//!
//! On a phone the tabs do not fit: they scroll sideways, the current one is scrolled into
//! view, and a fade with an arrow marks each edge that has more tabs behind it
//! (`more-left`, `more-right` on the wrapper, measured after each render, scroll and resize).

use crate::context::AppContext;
use crate::i18n::{Msg, tr};
use crate::state::{Route, may_see};
use gloo::events::EventListener;
use rectify_shared::policy::Role;
use wasm_bindgen::JsValue;
use web_sys::Element;
use yew::prelude::*;

/// Which edges of the tab bar have tabs scrolled out of view: (left, right).
fn hidden_edges(nav: &Element) -> (bool, bool) {
    let left = nav.scroll_left();
    (left > 1, left + nav.client_width() < nav.scroll_width() - 1)
}

/// Scrolls the tab bar so that the current tab is in the middle of it (as far as it goes).
fn show_current(nav: &Element) {
    let Ok(Some(tab)) = nav.query_selector(".tab.active") else {
        return;
    };
    let number = |name: &str| {
        js_sys::Reflect::get(&tab, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    let (offset, width) = (number("offsetLeft"), number("offsetWidth"));
    let target = offset - (f64::from(nav.client_width()) - width) / 2.0;
    nav.set_scroll_left(target.max(0.0) as i32);
}

#[function_component(Nav)]
pub fn nav() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let nav_ref = use_node_ref();
    let edges = use_state_eq(|| (false, false));
    let lang = state.lang;
    let current = match &state.route {
        Route::Home => Route::Dashboard,
        Route::Item(_) | Route::History(_) | Route::NewItem => Route::Items,
        Route::Supervise(_) => Route::Supervise(None),
        other => other.clone(),
    };
    let measure = {
        let (nav_ref, edges) = (nav_ref.clone(), edges.clone());
        move || {
            if let Some(nav) = nav_ref.cast::<Element>() {
                edges.set(hidden_edges(&nav));
            }
        }
    };
    {
        let (nav_ref, measure) = (nav_ref.clone(), measure.clone());
        use_effect_with((current.clone(), lang), move |_| {
            if let Some(nav) = nav_ref.cast::<Element>() {
                show_current(&nav);
            }
            measure();
        });
    }
    {
        let measure = measure.clone();
        use_effect_with((), move |_| {
            let listener = EventListener::new(&gloo::utils::window(), "resize", move |_| measure());
            move || drop(listener)
        });
    }
    let Some(session) = &state.session else {
        return Html::default();
    };
    if session.role == Role::Unit {
        return Html::default();
    }
    let onscroll = Callback::from(move |_| measure());
    let tabs = [
        (Route::Dashboard, Msg::NavDashboard),
        (Route::Items, Msg::NavItems),
        (Route::Supervise(None), Msg::NavSupervise),
        (Route::Reports, Msg::NavReports),
        (Route::Accounts, Msg::NavAccounts),
        (Route::Audit, Msg::NavAudit),
    ];
    let (left, right) = *edges;
    html! {
        <div class={classes!("tabs-wrap", left.then_some("more-left"), right.then_some("more-right"))}
             data-testid="nav-wrap">
            <nav class="tabs" aria-label={tr(lang, Msg::NavLabel)} data-testid="nav" ref={nav_ref} {onscroll}>
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
        </div>
    }
}
