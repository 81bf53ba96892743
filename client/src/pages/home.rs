//! The start page after login: the user's items, grouped by area, with status, deadline and
//! a mark on every item with changes not yet on the server. Overdue items stand out.

use crate::context::{AppContext, ReplicaContext};
use crate::format::area_numeral;
use crate::i18n::{Lang, Msg, role_name, status_name, tr, unit_status_name};
use crate::state::Route;
use rectify_shared::dashboard::{ItemFacts, Urgency, unit_todo};
use rectify_shared::date::Date;
use rectify_shared::policy::Role;
use rectify_shared::status::PublicStatus;
use yew::prelude::*;

/// Rows shown before "show all": a school has a few dozen items, the office thousands.
const SHOWN: usize = 200;

#[function_component(Home)]
pub fn home() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let show_all = use_state(|| false);
    let Some(ReplicaContext { replica, .. }) = use_context::<Option<ReplicaContext>>().flatten()
    else {
        return Html::default();
    };
    let lang = state.lang;
    let Some(session) = &state.session else {
        return Html::default();
    };
    let today = Date::in_china(js_sys::Date::now() as i64);
    // The cached facts, not the documents: listing thousands of items stays cheap.
    let items = replica.facts();
    let waiting = replica.waiting_for_items();
    let shown = if *show_all {
        items.len()
    } else {
        items.len().min(SHOWN)
    };
    let row_numbered = |item: &ItemFacts, number: String| {
        item_row(
            lang,
            item,
            number,
            session.unit.as_deref(),
            today,
            item.id.parse().map_or(0, |id| replica.pending_for(&id)),
        )
    };
    let row = |item: &ItemFacts| row_numbered(item, item.number.clone());
    let row_with_area = |item: &ItemFacts| {
        row_numbered(
            item,
            format!("{}{}", area_numeral(item.area_no), item.number),
        )
    };
    // A school (or a department) sees what it owes first: its open items by urgency, a
    // summary line, and what was signed off folded away. The office keeps the report's order.
    let own_unit = session
        .unit
        .as_deref()
        .filter(|_| matches!(session.role, Role::Unit | Role::Department));
    let body = if items.is_empty() && waiting > 0 {
        html! { <p class="empty" role="status">{ tr(lang, Msg::WaitingForItems) }</p> }
    } else if items.is_empty() {
        html! { <p class="empty">{ tr(lang, Msg::NoItemsYet) }</p> }
    } else if let Some(unit) = own_unit {
        let todo = unit_todo(&items, unit, today);
        let pick = |indices: &[usize]| indices.iter().map(|i| &items[*i]).collect::<Vec<_>>();
        let mut summary = vec![format!("{} {}", todo.open.len(), tr(lang, Msg::TodoCount))];
        for (urgency, label) in [
            (Urgency::Overdue, Msg::OverdueCount),
            (Urgency::Returned, Msg::ReturnedCount),
        ] {
            let n = todo.count(urgency);
            if n > 0 {
                summary.push(format!("{n} {}", tr(lang, label)));
            }
        }
        html! {
            <>
                <p class="todo-summary" data-testid="todo-summary">{ summary.join(" · ") }</p>
                if todo.open.is_empty() {
                    <p class="empty">{ tr(lang, Msg::NothingToDo) }</p>
                } else {
                    <ul class="items" data-testid="todo">
                        // Out of its area's section: the number says the area too.
                        { for todo.open.iter().map(|(_, i)| row_with_area(&items[*i])) }
                    </ul>
                }
                if !todo.others.is_empty() {
                    <h3 class="area-title">{ tr(lang, Msg::OtherItems) }</h3>
                    { by_area(&pick(&todo.others), &row) }
                }
                if !todo.signed_off.is_empty() {
                    <details class="signed-off" data-testid="signed-off">
                        <summary>{ format!("{} {} {}", tr(lang, Msg::SignedOff), todo.signed_off.len(), tr(lang, Msg::ItemsCount)) }</summary>
                        { by_area(&pick(&todo.signed_off), &row) }
                    </details>
                }
            </>
        }
    } else {
        by_area(&items[..shown].iter().collect::<Vec<_>>(), &row)
    };
    let more = {
        let show_all = show_all;
        Callback::from(move |_| show_all.set(true))
    };
    html! {
        <>
            <p class="whoami" data-testid="whoami">
                { tr(lang, Msg::SignedInAs) }{ lang.colon() }
                <strong>{ &session.display_name }</strong>
                { " · " }{ role_name(lang, session.role) }
            </p>
            <section class="card" aria-labelledby="items-title">
                <h2 id="items-title" class="section-title">
                    { tr(lang, Msg::MyItems) }
                    <span class="count">{ format!("{} {}", items.len(), tr(lang, Msg::ItemsCount)) }</span>
                    if session.role == Role::Office {
                        <a class="add-link" href={Route::NewItem.href()} data-testid="add-item">
                            { "+ " }{ tr(lang, Msg::AddItem) }
                        </a>
                    }
                </h2>
                { body }
                if shown < items.len() {
                    <button class="link" onclick={more}>{ tr(lang, Msg::ShowAll) }</button>
                }
            </section>
        </>
    }
}

/// Items under their area's heading, in the order given.
fn by_area(items: &[&ItemFacts], row: &dyn Fn(&ItemFacts) -> Html) -> Html {
    let mut areas: Vec<(u32, String, Vec<Html>)> = Vec::new();
    for item in items {
        match areas.last_mut() {
            Some((no, _, rows)) if *no == item.area_no => rows.push(row(item)),
            _ => areas.push((item.area_no, item.area_title.clone(), vec![row(item)])),
        }
    }
    html! {
        { for areas.into_iter().map(|(no, title, rows)| html! {
            <section class="area" aria-label={title.clone()}>
                <h3 class="area-title">{ area_numeral(no) }{ " " }{ title }</h3>
                <ul class="items">{ for rows }</ul>
            </section>
        }) }
    }
}

fn item_row(
    lang: Lang,
    item: &ItemFacts,
    number: String,
    unit: Option<&str>,
    today: Date,
    pending: usize,
) -> Html {
    let overdue = item.is_overdue(today);
    // A school sees its own progress; the office sees the item's public status.
    let mine = unit.and_then(|u| item.units.iter().find(|x| x.unit == u));
    let badge = match mine {
        Some(mine) => {
            html! { <span class={classes!("badge", mine.status.key())}>{ unit_status_name(lang, mine.status) }</span> }
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
    let href = Route::Item(item.id.clone()).href();
    html! {
        <li class={classes!("item", overdue.then_some("overdue"))} data-testid="item"
            data-id={item.id.clone()} data-key={item.key.clone()}
            data-unsynced={(pending > 0).to_string()}>
            <a class="item-link" {href}>
                <div class="item-head">
                    <span class="item-no">{ number }</span>
                    if pending > 0 {
                        <span class="unsynced" title={tr(lang, Msg::Unsynced)}
                              aria-label={tr(lang, Msg::Unsynced)} data-testid="unsynced">{ "●" }</span>
                    }
                    <span class="spacer"></span>
                    { badge }
                </div>
                <p class="item-title">{ &item.title }</p>
                if let Some(deadline) = &item.deadline {
                    <p class="item-meta">
                        { tr(lang, Msg::Deadline) }{ lang.colon() }{ deadline.to_string() }
                        if overdue { <strong class="overdue-tag">{ " · " }{ tr(lang, Msg::Overdue) }</strong> }
                    </p>
                }
            </a>
        </li>
    }
}
