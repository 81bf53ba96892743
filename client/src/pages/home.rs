//! The start page after login: the user's items, grouped by area, with status, deadline and
//! a mark on every item with changes not yet on the server. Overdue items stand out.

use crate::app::{AppContext, ReplicaContext};
use crate::i18n::{Lang, Msg, role_name, status_name, tr, unit_status_name};
use crate::state::Route;
use rectify_shared::date::Date;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::ItemDoc;
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;
use yew::prelude::*;

#[function_component(Home)]
pub fn home() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let Some(ReplicaContext { replica, .. }) = use_context::<Option<ReplicaContext>>().flatten()
    else {
        return Html::default();
    };
    let lang = state.lang;
    let Some(session) = &state.session else {
        return Html::default();
    };
    let today = Date::from_unix_millis(js_sys::Date::now() as i64);
    let items = replica.items();
    let waiting = replica.waiting_for_items();
    let mut areas: Vec<(u32, String, Vec<Html>)> = Vec::new();
    for (id, item) in &items {
        let row = item_row(
            lang,
            id,
            item,
            session.unit.as_deref(),
            today,
            replica.pending_for(id),
        );
        match areas.last_mut() {
            Some((no, _, rows)) if *no == item.area_no => rows.push(row),
            _ => areas.push((item.area_no, item.area_title.clone(), vec![row])),
        }
    }
    let body = if items.is_empty() && waiting > 0 {
        html! { <p class="empty" role="status">{ tr(lang, Msg::WaitingForItems) }</p> }
    } else if items.is_empty() {
        html! { <p class="empty">{ tr(lang, Msg::NoItemsYet) }</p> }
    } else {
        html! {
            { for areas.into_iter().map(|(no, title, rows)| html! {
                <section class="area" aria-label={title.clone()}>
                    <h3 class="area-title">{ area_numeral(no) }{ " " }{ title }</h3>
                    <ul class="items">{ for rows }</ul>
                </section>
            }) }
        }
    };
    html! {
        <>
            <p class="whoami" data-testid="whoami">
                { tr(lang, Msg::SignedInAs) }{ "：" }
                <strong>{ &session.display_name }</strong>
                { " · " }{ role_name(lang, session.role) }
            </p>
            <section class="card" aria-labelledby="items-title">
                <h2 id="items-title" class="section-title">
                    { tr(lang, Msg::MyItems) }
                    <span class="count">{ format!("{} {}", items.len(), tr(lang, Msg::ItemsCount)) }</span>
                </h2>
                { body }
            </section>
        </>
    }
}

fn item_row(
    lang: Lang,
    id: &DocumentId,
    item: &ItemDoc,
    unit: Option<&str>,
    today: Date,
    pending: usize,
) -> Html {
    let overdue = item.is_overdue(today);
    // A school sees its own progress; the office sees the item's public status.
    let mine = unit.filter(|u| item.units.iter().any(|x| x == u));
    let badge = match mine {
        Some(unit) => {
            let status = item
                .progress
                .get(unit)
                .map_or(UnitStatus::NotStarted, |p| p.status);
            html! { <span class={classes!("badge", status.key())}>{ unit_status_name(lang, status) }</span> }
        }
        None => {
            let class = match item.status {
                PublicStatus::Done => "done",
                PublicStatus::DoneLongTerm => "done-long-term",
                PublicStatus::InProgress => "in-progress",
            };
            html! { <span class={classes!("badge", class)}>{ status_name(lang, item.status) }</span> }
        }
    };
    let href = Route::Item(id.to_string()).href();
    html! {
        <li class={classes!("item", overdue.then_some("overdue"))} data-testid="item"
            data-id={id.to_string()} data-key={item.key.clone()}
            data-unsynced={(pending > 0).to_string()}>
            <a class="item-link" {href}>
                <div class="item-head">
                    <span class="item-no">{ item.number() }</span>
                    if pending > 0 {
                        <span class="unsynced" title={tr(lang, Msg::Unsynced)}
                              aria-label={tr(lang, Msg::Unsynced)} data-testid="unsynced">{ "●" }</span>
                    }
                    <span class="spacer"></span>
                    { badge }
                </div>
                <p class="item-title">{ item.title.as_str() }</p>
                if let Some(deadline) = &item.deadline {
                    <p class="item-meta">
                        { tr(lang, Msg::Deadline) }{ "：" }{ deadline }
                        if overdue { <strong class="overdue-tag">{ " · " }{ tr(lang, Msg::Overdue) }</strong> }
                    </p>
                }
            </a>
        </li>
    }
}

/// `2` → `(二)`: the report's own numbering of areas.
pub fn area_numeral(no: u32) -> String {
    const AREAS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    AREAS
        .get((no as usize).wrapping_sub(1))
        .map(|a| format!("({a})"))
        .unwrap_or_default()
}
