//! Supervision (督办): per unit, the open assignments that are overdue or due soon, and for
//! each unit a printable chase notice (督办通知) the office can print or save as PDF.

use crate::context::{AppContext, ReplicaContext};
use crate::format::days_label;
use crate::i18n::{Lang, Msg, tr, unit_status_name};
use crate::state::Route;
use rectify_shared::dashboard::{Chase, Filter, ItemFacts, chase_list};
use rectify_shared::date::Date;
use rectify_shared::workflow::UnitStatus;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SuperviseProps {
    /// Show this unit's printable notice instead of the list.
    pub unit: Option<String>,
}

#[function_component(Supervise)]
pub fn supervise(props: &SuperviseProps) -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let Some(ReplicaContext { replica, .. }) = use_context::<Option<ReplicaContext>>().flatten()
    else {
        return Html::default();
    };
    let lang = state.lang;
    let today = Date::in_china(js_sys::Date::now() as i64);
    let facts = replica.facts();
    let chases = chase_list(&facts, &Filter::default(), today);
    if let Some(unit) = &props.unit {
        let chase = chases.iter().find(|c| &c.unit == unit);
        return notice(lang, &replica.unit_name(unit), unit, chase, &facts, today);
    }
    html! {
        <section class="card" aria-labelledby="supervise-title" data-testid="supervise">
            <h2 id="supervise-title" class="section-title">
                { tr(lang, Msg::NavSupervise) }<span class="count">{ chases.len() }</span>
            </h2>
            <p class="hint">{ tr(lang, Msg::SuperviseHint) }</p>
            if chases.is_empty() {
                <p class="empty">{ tr(lang, Msg::NothingToChase) }</p>
            }
            { for chases.iter().map(|chase| html! {
                <section class="chase" data-testid="chase" data-unit={chase.unit.clone()}>
                    <h3 class="subtitle">
                        { replica.unit_name(&chase.unit) }
                        <span class="count">
                            { format!(" {} {} · {} {}", chase.overdue.len(), tr(lang, Msg::Overdue), chase.at_risk.len(), tr(lang, Msg::AtRisk)) }
                        </span>
                    </h3>
                    <ul class="plain list">
                        { for chase.overdue.iter().chain(&chase.at_risk).map(|(i, status)| row(lang, &facts[*i], *status, today)) }
                    </ul>
                    <a class="button secondary" href={Route::Supervise(Some(chase.unit.clone())).href()}
                       data-testid="chase-notice">{ tr(lang, Msg::ChaseNotice) }</a>
                </section>
            }) }
        </section>
    }
}

fn row(lang: Lang, item: &ItemFacts, status: UnitStatus, today: Date) -> Html {
    let days = item
        .deadline
        .map(|d| d.days_since_epoch() - today.days_since_epoch())
        .unwrap_or(0);
    html! {
        <li>
            <a href={Route::Item(item.id.clone()).href()}>
                <span class="item-no">{ &item.number }</span>{ " " }{ &item.title }
            </a>
            <span class={classes!("meta", (days < 0).then_some("late"))}>
                { " · " }{ unit_status_name(lang, status) }{ " · " }
                { item.deadline.map(|d| d.to_string()).unwrap_or_default() }{ " (" }{ days_label(lang, days) }{ ")" }
            </span>
        </li>
    }
}

/// The printable notice: a formal letter the office signs and sends (or prints).
fn notice(
    lang: Lang,
    name: &str,
    unit: &str,
    chase: Option<&Chase>,
    facts: &[ItemFacts],
    today: Date,
) -> Html {
    let print = Callback::from(|_| {
        let _ = gloo::utils::window().print();
    });
    let items: Vec<Html> = chase
        .map(|c| {
            c.overdue
                .iter()
                .chain(&c.at_risk)
                .map(|(i, status)| {
                    let item = &facts[*i];
                    html! {
                        <tr>
                            <td>{ &item.number }</td>
                            <td>{ &item.title }</td>
                            <td>{ item.deadline.map(|d| d.to_string()).unwrap_or_default() }</td>
                            <td>{ unit_status_name(lang, *status) }</td>
                        </tr>
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        <>
            <div class="no-print actions">
                <a class="back" href={Route::Supervise(None).href()}>{ "‹ " }{ tr(lang, Msg::NavSupervise) }</a>
                <button class="primary" onclick={print} data-testid="print">{ tr(lang, Msg::Print) }</button>
            </div>
            <article class="card notice" data-testid="notice" data-unit={unit.to_owned()}>
                <h2 class="notice-title">{ tr(lang, Msg::NoticeTitle) }</h2>
                <p><strong>{ name }</strong>{ tr(lang, Msg::NoticeTo) }</p>
                <p>{ tr(lang, Msg::NoticeBody) }</p>
                if items.is_empty() {
                    <p class="empty">{ tr(lang, Msg::NothingToChase) }</p>
                } else {
                    <table class="grid">
                        <thead><tr>
                            <th>{ tr(lang, Msg::Number) }</th>
                            <th>{ tr(lang, Msg::ProblemCol) }</th>
                            <th>{ tr(lang, Msg::DeadlineCol) }</th>
                            <th>{ tr(lang, Msg::Status) }</th>
                        </tr></thead>
                        <tbody>{ for items }</tbody>
                    </table>
                }
                <p>{ tr(lang, Msg::NoticeClosing) }</p>
                <p class="notice-sign">{ tr(lang, Msg::NoticeSigner) }<br />{ today.to_string() }</p>
            </article>
        </>
    }
}
