//! The start page after login: who is signed in and the items they may see.

use crate::app::AppContext;
use crate::i18n::{Msg, role_name, status_name, tr};
use crate::services::api::{self, ApiFailure};
use crate::state::Action;
use rectify_shared::api::ItemSummary;
use rectify_shared::status::PublicStatus;
use yew::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Items {
    Loading,
    Loaded(Vec<ItemSummary>),
    Failed(String),
}

#[function_component(Home)]
pub fn home() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    let items = use_state(|| Items::Loading);
    {
        let items = items.clone();
        let state = state.clone();
        let token = state.session.as_ref().map(|s| s.token.clone());
        use_effect_with(token, move |token| {
            if let Some(token) = token.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    match api::items(&token).await {
                        Ok(list) => {
                            items.set(Items::Loaded(list));
                        }
                        Err(ApiFailure::Refused { status: 401, .. }) => {
                            state.dispatch(Action::LogOut);
                        }
                        Err(ApiFailure::Refused { message, .. }) => {
                            items.set(Items::Failed(message));
                        }
                        Err(ApiFailure::Network) => {
                            items.set(Items::Failed(tr(state.lang, Msg::NetworkError).to_owned()));
                        }
                    }
                });
            }
        });
    }
    let Some(session) = &state.session else {
        return Html::default();
    };
    let body = match &*items {
        Items::Loading => html! { <p class="empty" role="status">{ tr(lang, Msg::Loading) }</p> },
        Items::Failed(message) => html! { <p class="error" role="alert">{ message }</p> },
        Items::Loaded(list) if list.is_empty() => {
            html! { <p class="empty">{ tr(lang, Msg::NoItemsYet) }</p> }
        }
        Items::Loaded(list) => html! {
            <ul class="items">
                { for list.iter().map(|item| item_row(lang, item)) }
            </ul>
        },
    };
    let count = match &*items {
        Items::Loaded(list) => format!("{} {}", list.len(), tr(lang, Msg::ItemsCount)),
        _ => String::new(),
    };
    html! {
        <>
            <section class="card">
                <p class="whoami" data-testid="whoami">
                    { tr(lang, Msg::SignedInAs) }{ "：" }
                    <strong>{ &session.display_name }</strong>
                    { " · " }{ role_name(lang, session.role) }
                </p>
            </section>
            <section class="card" aria-labelledby="items-title">
                <h2 id="items-title" class="section-title">
                    { tr(lang, Msg::MyItems) }<span class="count">{ count }</span>
                </h2>
                { body }
            </section>
        </>
    }
}

fn item_row(lang: crate::i18n::Lang, item: &ItemSummary) -> Html {
    let badge = match item.status {
        PublicStatus::Done => "badge done",
        PublicStatus::DoneLongTerm => "badge done-long-term",
        PublicStatus::InProgress => "badge in-progress",
    };
    let number = item_number(&item.key);
    html! {
        <li class={classes!("item", item.overdue.then_some("overdue"))} data-testid="item" data-key={item.key.clone()}>
            <div class="item-head">
                <span class="item-no">{ number }</span>
                <span class={badge}>{ status_name(lang, item.status) }</span>
            </div>
            <p class="item-title">{ &item.title }</p>
            if let Some(deadline) = &item.deadline {
                <p class="item-meta">
                    { tr(lang, Msg::Deadline) }{ "：" }{ deadline }
                    if item.overdue { <strong class="overdue-tag">{ " · " }{ tr(lang, Msg::Overdue) }</strong> }
                </p>
            }
        </li>
    }
}

/// `2.7.2` → `(二)7(2)`: the report's own numbering.
fn item_number(key: &str) -> String {
    const AREAS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    let parts: Vec<&str> = key.split('.').collect();
    let area = parts
        .first()
        .and_then(|a| a.parse::<usize>().ok())
        .and_then(|a| AREAS.get(a.wrapping_sub(1)));
    let mut out = area.map(|a| format!("({a})")).unwrap_or_default();
    if let Some(problem) = parts.get(1) {
        out.push_str(problem);
    }
    if let Some(sub) = parts.get(2) {
        out.push_str(&format!("({sub})"));
    }
    out
}
