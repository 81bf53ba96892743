//! The dashboard (工作台): the campaign as it stands on this device, updating as schools
//! sync. All numbers come from `rectify_shared::dashboard`, computed over the replica's
//! cached [`ItemFacts`]; the charts are plain SVG. Long lists are capped so a campaign of
//! thousands of items still renders at once.

use crate::components::chart::{SignOffChart, StackedBar, percent};
use crate::components::date_input::DateInput;
use crate::context::{AppContext, ReplicaContext};
use crate::format::{area_numeral, days_label, when};
use crate::i18n::{
    Lang, Msg, due_in_week, sign_off_summary, status_name, tr, undated_sign_offs, unit_status_name,
};
use crate::services::{api, replica::Replica};
use crate::state::Route;
use rectify_shared::dashboard::{
    Filter, GroupRow, ItemFacts, Overview, SignOffProgress, StatusFilter, overview,
    sign_off_progress,
};
use rectify_shared::date::Date;
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;
use std::collections::{BTreeMap, BTreeSet};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Rows shown before "show all" in the unit and item tables.
const SHOWN: usize = 15;
/// Items listed under the filters before "show more".
const ITEMS_SHOWN: usize = 100;

#[function_component(Dashboard)]
pub fn dashboard() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let filter = use_state(Filter::default);
    // Campaign names, for telling inspection rounds apart (the API answers the office and
    // viewers; others see ids, and usually hold one campaign anyway).
    let campaign_names = use_state(BTreeMap::<String, String>::new);
    {
        let (names, token) = (
            campaign_names.clone(),
            state.session.as_ref().map(|s| s.token.clone()),
        );
        use_effect_with(token, move |token| {
            if let Some(token) = token.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(list) = api::campaigns(&token).await {
                        names.set(list.into_iter().map(|c| (c.id, c.name)).collect());
                    }
                });
            }
        });
    }
    let all_units = use_state(|| false);
    let more_items = use_state(|| false);
    let node = use_node_ref();
    let started = performance_now();
    {
        // How long this render took, up to the DOM being updated: for the timing test.
        let node = node.clone();
        use_effect(move || {
            if let Some(element) = node.cast::<web_sys::Element>() {
                let ms = performance_now() - started;
                let _ = element.set_attribute("data-render-ms", &format!("{ms:.1}"));
            }
        });
    }
    let Some(ReplicaContext { replica, .. }) = context else {
        return Html::default();
    };
    let lang = state.lang;
    let today = Date::in_china(js_sys::Date::now() as i64);
    let facts = replica.facts();
    let view = overview(&facts, &filter, today);
    let set_filter = {
        let filter = filter.clone();
        Callback::from(move |next: Filter| filter.set(next))
    };
    html! {
        <div class="dashboard" ref={node} data-testid="dashboard" data-items={view.matching.len().to_string()}>
            <Filters lang={lang} replica={replica.clone()} facts={facts.clone()}
                     campaigns={(*campaign_names).clone()}
                     filter={(*filter).clone()} on_change={set_filter} />
            { totals(lang, &view) }
            // What waits for the office comes first; the overviews follow.
            <div class="columns">
                { review_list(lang, &replica, &facts, &view) }
                { deadline_list(lang, &replica, &facts, &view.overdue, Msg::OverdueItems, "overdue-list", today) }
                { deadline_list(lang, &replica, &facts, &view.at_risk, Msg::AtRiskItems, "at-risk-list", today) }
                { recent(lang, &replica, &facts, &view) }
            </div>
            { sign_off_chart(lang, &sign_off_progress(&facts, &filter, today)) }
            { matrix(lang, &view, &campaign_names) }
            { groups(lang, &replica, &view.units, Msg::ByUnit, *all_units, {
                let all_units = all_units.clone();
                Callback::from(move |_| all_units.set(!*all_units))
            }) }
            { groups(lang, &replica, &view.departments, Msg::ByDepartment, true, Callback::noop()) }
            { item_table(lang, &facts, &view, *more_items, {
                let more_items = more_items.clone();
                Callback::from(move |_| more_items.set(true))
            }) }
        </div>
    }
}

fn performance_now() -> f64 {
    gloo::utils::window()
        .performance()
        .map_or_else(js_sys::Date::now, |p| p.now())
}

#[derive(Properties, PartialEq)]
struct FiltersProps {
    lang: Lang,
    replica: Replica,
    facts: std::rc::Rc<Vec<ItemFacts>>,
    campaigns: BTreeMap<String, String>,
    filter: Filter,
    on_change: Callback<Filter>,
}

/// Unit, department, area, status, due-by and a search box.
#[function_component(Filters)]
fn filters(props: &FiltersProps) -> Html {
    let FiltersProps {
        lang,
        replica,
        facts,
        campaigns,
        filter,
        on_change,
    } = props;
    let held: BTreeSet<&str> = facts.iter().map(|f| f.campaign.as_str()).collect();
    let lang = *lang;
    let units: BTreeSet<&str> = facts
        .iter()
        .flat_map(|f| f.units.iter().map(|u| u.unit.as_str()))
        .collect();
    let departments: BTreeSet<&str> = facts
        .iter()
        .filter_map(|f| f.department.as_deref())
        .collect();
    let mut areas: Vec<(u32, &str)> = facts
        .iter()
        .map(|f| (f.area_no, f.area_title.as_str()))
        .collect();
    areas.dedup();
    areas.sort();
    areas.dedup();
    let select = |value: Option<String>,
                  options: Vec<(String, String)>,
                  testid: &'static str,
                  label: Msg,
                  apply: fn(&mut Filter, Option<String>)| {
        let (filter, on_change) = (filter.clone(), on_change.clone());
        let onchange = Callback::from(move |event: Event| {
            let value = event
                .target_dyn_into::<HtmlSelectElement>()
                .map(|s| s.value())
                .filter(|v| !v.is_empty());
            let mut next = filter.clone();
            apply(&mut next, value);
            on_change.emit(next);
        });
        html! {
            <label class="filter">
                <span>{ tr(lang, label) }</span>
                <select {onchange} data-testid={testid}>
                    <option value="" selected={value.is_none()}>{ tr(lang, Msg::All) }</option>
                    { for options.into_iter().map(|(key, name)| html! {
                        <option selected={value.as_deref() == Some(key.as_str())} value={key.clone()}>{ name }</option>
                    }) }
                </select>
            </label>
        }
    };
    let unit_options = units
        .iter()
        .map(|u| ((*u).to_owned(), replica.unit_name(u)))
        .collect();
    let department_options = departments
        .iter()
        .map(|d| ((*d).to_owned(), replica.unit_name(d)))
        .collect();
    let area_options = areas
        .iter()
        .map(|(no, title)| (no.to_string(), format!("{} {title}", area_numeral(*no))))
        .collect();
    let status_options = StatusFilter::ALL
        .into_iter()
        .map(|s| (s.key().to_owned(), status_filter_name(lang, s).to_owned()))
        .collect();
    let due_change = {
        let (filter, on_change) = (filter.clone(), on_change.clone());
        Callback::from(move |event: Event| {
            let mut next = filter.clone();
            next.due_by = event
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok());
            on_change.emit(next);
        })
    };
    let search = {
        let (filter, on_change) = (filter.clone(), on_change.clone());
        Callback::from(move |event: InputEvent| {
            let mut next = filter.clone();
            next.search = event
                .target_dyn_into::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            on_change.emit(next);
        })
    };
    html! {
        <section class="card filters" aria-label={tr(lang, Msg::Filters)}>
            <label class="filter search">
                <span>{ tr(lang, Msg::Search) }</span>
                <input type="search" value={filter.search.clone()} oninput={search}
                       placeholder={tr(lang, Msg::SearchHint)} data-testid="filter-search" />
            </label>
            if held.len() > 1 {
                { select(filter.campaign.clone(), held.iter().map(|c| ((*c).to_owned(), campaign_name(campaigns, c))).collect(), "filter-campaign", Msg::Campaign, |f, v| f.campaign = v) }
            }
            { select(filter.unit.clone(), unit_options, "filter-unit", Msg::Unit, |f, v| f.unit = v) }
            { select(filter.department.clone(), department_options, "filter-department", Msg::Department, |f, v| f.department = v) }
            { select(filter.area.map(|a| a.to_string()), area_options, "filter-area", Msg::Area, |f, v| f.area = v.and_then(|v| v.parse().ok())) }
            { select(filter.status.map(|s| s.key().to_owned()), status_options, "filter-status", Msg::Status, |f, v| f.status = v.as_deref().and_then(StatusFilter::from_key)) }
            <label class="filter">
                <span>{ tr(lang, Msg::DueBy) }</span>
                <DateInput value={filter.due_by.map(|d| AttrValue::from(d.to_string()))}
                           onchange={due_change} testid="filter-due" />
            </label>
        </section>
    }
}

pub fn status_filter_name(lang: Lang, filter: StatusFilter) -> &'static str {
    match filter {
        StatusFilter::Public(status) => status_name(lang, status),
        StatusFilter::Overdue => tr(lang, Msg::Overdue),
        StatusFilter::AtRisk => tr(lang, Msg::AtRisk),
        StatusFilter::AwaitingReview => tr(lang, Msg::AwaitingReview),
    }
}

fn totals(lang: Lang, view: &Overview) -> Html {
    let c = view.counts;
    // Each tile opens its list: (label, value, key, the id of the list's section).
    let tiles = [
        (Msg::Total, c.total().to_string(), "total", "items-section"),
        (
            Msg::CompletionRate,
            format!("{:.1}%", c.completion_percent()),
            "completion",
            "matrix-section",
        ),
        (
            Msg::Overdue,
            view.overdue.len().to_string(),
            "overdue",
            "overdue-list-section",
        ),
        (
            Msg::AtRisk,
            view.at_risk.len().to_string(),
            "at-risk",
            "at-risk-list-section",
        ),
        (
            Msg::AwaitingReview,
            view.awaiting_review.len().to_string(),
            "awaiting-review",
            "review-section",
        ),
    ];
    html! {
        <section class="card" aria-label={tr(lang, Msg::Totals)}>
            <div class="tiles">
                { for tiles.into_iter().map(|(label, value, key, target)| {
                    // Scrolled to rather than linked: the address's hash is the app's route.
                    let onclick = Callback::from(move |_| {
                        if let Some(section) = gloo::utils::document().get_element_by_id(target) {
                            section.scroll_into_view();
                        }
                    });
                    html! {
                        <button type="button" class={classes!("tile", key)} data-testid={format!("tile-{key}")} {onclick}>
                            <span class="tile-value">{ value }</span>
                            <span class="tile-label">{ tr(lang, label) }</span>
                        </button>
                    }
                }) }
            </div>
            <StackedBar parts={vec![
                (c.done, "done".to_owned(), status_name(lang, PublicStatus::Done).to_owned()),
                (c.done_long_term, "done-long-term".to_owned(), status_name(lang, PublicStatus::DoneLongTerm).to_owned()),
                (c.in_progress, "in-progress".to_owned(), status_name(lang, PublicStatus::InProgress).to_owned()),
            ]} legend=true />
        </section>
    }
}

fn campaign_name(names: &BTreeMap<String, String>, id: &str) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| id.chars().take(8).collect())
}

/// The sign-offs over the weeks, with the weeks items fall due.
fn sign_off_chart(lang: Lang, progress: &SignOffProgress) -> Html {
    let signed_off = progress.weeks.last().map_or(0, |w| w.signed_off);
    html! {
        <section class="card chart-card" id="sign-off-section" aria-labelledby="sign-off-title">
            <h2 id="sign-off-title" class="section-title">{ tr(lang, Msg::SignOffChart) }</h2>
            <SignOffChart progress={progress.clone()} this_week={tr(lang, Msg::ThisWeek)}
                          due={Callback::from(move |(n, sunday): (usize, String)| due_in_week(lang, n, &sunday))}
                          summary={sign_off_summary(lang, signed_off, progress.assigned)} />
            <p class="meta">
                { tr(lang, Msg::SignOffChartNote) }
                if progress.undated > 0 { { " " }{ undated_sign_offs(lang, progress.undated) } }
            </p>
        </section>
    }
}

/// Areas × public status, with a bar per area.
fn matrix(lang: Lang, view: &Overview, campaigns: &BTreeMap<String, String>) -> Html {
    let several = view
        .areas
        .iter()
        .any(|a| a.campaign != view.areas[0].campaign);
    html! {
        <section class="card" id="matrix-section" aria-labelledby="matrix-title">
            <h2 id="matrix-title" class="section-title">{ tr(lang, Msg::ByArea) }</h2>
            <div class="table-wrap">
                <table class="grid" data-testid="area-matrix">
                    <thead><tr>
                        <th>{ tr(lang, Msg::Area) }</th>
                        <th class="num">{ status_name(lang, PublicStatus::Done) }</th>
                        <th class="num">{ status_name(lang, PublicStatus::DoneLongTerm) }</th>
                        <th class="num">{ status_name(lang, PublicStatus::InProgress) }</th>
                        <th class="num">{ tr(lang, Msg::Total) }</th>
                        <th class="bar-cell">{ tr(lang, Msg::CompletionRate) }</th>
                    </tr></thead>
                    <tbody>
                        { for view.areas.iter().map(|area| html! {
                            <tr>
                                <td>
                                    if several { <span class="meta">{ campaign_name(campaigns, &area.campaign) }{ " · " }</span> }
                                    { area_numeral(area.area_no) }{ " " }{ &area.title }
                                </td>
                                <td class="num">{ area.counts.done }</td>
                                <td class="num">{ area.counts.done_long_term }</td>
                                <td class="num">{ area.counts.in_progress }</td>
                                <td class="num">{ area.counts.total() }</td>
                                <td class="bar-cell">
                                    <StackedBar parts={vec![
                                        (area.counts.done, "done".to_owned(), String::new()),
                                        (area.counts.done_long_term, "done-long-term".to_owned(), String::new()),
                                        (area.counts.in_progress, "in-progress".to_owned(), String::new()),
                                    ]} />
                                    <span class="pct">{ percent(area.counts.completion_percent()) }</span>
                                </td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// Progress per unit (or per department): assignments by the unit's status.
fn groups(
    lang: Lang,
    replica: &Replica,
    rows: &[GroupRow],
    title: Msg,
    show_all: bool,
    toggle: Callback<MouseEvent>,
) -> Html {
    if rows.is_empty() {
        return Html::default();
    }
    let shown = if show_all {
        rows.len()
    } else {
        rows.len().min(SHOWN)
    };
    let testid = if title == Msg::ByUnit {
        "unit-progress"
    } else {
        "department-progress"
    };
    html! {
        <section class="card" aria-label={tr(lang, title)}>
            <h2 class="section-title">{ tr(lang, title) }<span class="count">{ rows.len() }</span></h2>
            <div class="table-wrap">
                <table class="grid" data-testid={testid}>
                    <thead><tr>
                        <th>{ tr(lang, if title == Msg::ByUnit { Msg::Unit } else { Msg::Department }) }</th>
                        <th class="num">{ tr(lang, Msg::Assigned) }</th>
                        <th class="num">{ unit_status_name(lang, UnitStatus::SignedOff) }</th>
                        <th class="num">{ unit_status_name(lang, UnitStatus::Submitted) }</th>
                        <th class="num">{ tr(lang, Msg::Overdue) }</th>
                        <th class="bar-cell">{ tr(lang, Msg::SignedOffShare) }</th>
                    </tr></thead>
                    <tbody>
                        { for rows[..shown].iter().map(|row| html! {
                            <tr data-unit={row.id.clone()}>
                                <td>{ replica.unit_name(&row.id) }</td>
                                <td class="num">{ row.assigned() }</td>
                                <td class="num">{ row.count(UnitStatus::SignedOff) }</td>
                                <td class="num">{ row.count(UnitStatus::Submitted) }</td>
                                <td class={classes!("num", (row.overdue > 0).then_some("late"))}>{ row.overdue }</td>
                                <td class="bar-cell">
                                    <StackedBar parts={UnitStatus::ALL.iter().rev().map(|s| (row.count(*s), s.key().to_owned(), String::new())).collect::<Vec<_>>()} />
                                    <span class="pct">{ percent(row.signed_off_percent()) }</span>
                                </td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
            if rows.len() > SHOWN {
                <button class="link" onclick={toggle}>
                    { tr(lang, if show_all { Msg::ShowFewer } else { Msg::ShowAll }) }
                </button>
            }
        </section>
    }
}

fn item_link(facts: &ItemFacts) -> Html {
    html! {
        <a href={Route::Item(facts.id.clone()).href()}>
            <span class="item-no">{ &facts.number }</span>{ " " }{ short(&facts.title, 40) }
        </a>
    }
}

fn short(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

fn review_list(lang: Lang, replica: &Replica, facts: &[ItemFacts], view: &Overview) -> Html {
    html! {
        <section class="card" id="review-section" aria-labelledby="review-title">
            <h2 id="review-title" class="section-title">
                { tr(lang, Msg::AwaitingReview) }<span class="count">{ view.awaiting_review.len() }</span>
            </h2>
            if view.awaiting_review.is_empty() {
                <p class="empty">{ tr(lang, Msg::NothingWaiting) }</p>
            } else {
                <ul class="plain list" data-testid="review-list">
                    { for view.awaiting_review.iter().take(SHOWN).map(|(i, unit)| html! {
                        <li>{ item_link(&facts[*i]) }<span class="meta">{ " · " }{ replica.unit_name(unit) }</span></li>
                    }) }
                </ul>
            }
        </section>
    }
}

fn deadline_list(
    lang: Lang,
    replica: &Replica,
    facts: &[ItemFacts],
    items: &[usize],
    title: Msg,
    testid: &'static str,
    today: Date,
) -> Html {
    html! {
        <section class="card" id={format!("{testid}-section")} aria-label={tr(lang, title)}>
            <h2 class="section-title">{ tr(lang, title) }<span class="count">{ items.len() }</span></h2>
            if items.is_empty() {
                <p class="empty">{ tr(lang, Msg::None) }</p>
            } else {
                <ul class="plain list" data-testid={testid}>
                    { for items.iter().take(SHOWN).map(|i| {
                        let f = &facts[*i];
                        let days = f.deadline.map(|d| d.days_since_epoch() - today.days_since_epoch()).unwrap_or(0);
                        // Who is late: the units not signed off yet.
                        let owing: Vec<String> = f.units.iter()
                            .filter(|u| u.status != UnitStatus::SignedOff)
                            .map(|u| replica.unit_name(&u.unit))
                            .collect();
                        html! {
                            <li>
                                { item_link(f) }
                                <span class={classes!("meta", (days < 0).then_some("late"))}>
                                    { " · " }{ f.deadline.map(|d| d.to_string()).unwrap_or_default() }
                                    { " (" }{ days_label(lang, days) }{ ")" }
                                </span>
                                if !owing.is_empty() {
                                    <span class="meta owing" data-testid="owing-units">{ " · " }{ owing.join("、") }</span>
                                }
                            </li>
                        }
                    }) }
                </ul>
            }
        </section>
    }
}

fn recent(lang: Lang, replica: &Replica, facts: &[ItemFacts], view: &Overview) -> Html {
    html! {
        <section class="card" aria-labelledby="recent-title">
            <h2 id="recent-title" class="section-title">{ tr(lang, Msg::RecentActivity) }</h2>
            if view.recent.is_empty() {
                <p class="empty">{ tr(lang, Msg::None) }</p>
            } else {
                <ul class="plain list" data-testid="recent">
                    { for view.recent.iter().map(|a| html! {
                        <li>
                            <span class="meta">{ when(a.at_ms) }{ " · " }</span>
                            { replica.unit_name(&a.unit) }{ " " }
                            <span class={classes!("badge", a.status.key())}>{ unit_status_name(lang, a.status) }</span>
                            <br />{ item_link(&facts[a.item]) }
                        </li>
                    }) }
                </ul>
            }
        </section>
    }
}

fn item_table(
    lang: Lang,
    facts: &[ItemFacts],
    view: &Overview,
    more: bool,
    show_more: Callback<MouseEvent>,
) -> Html {
    let shown = if more {
        view.matching.len()
    } else {
        view.matching.len().min(ITEMS_SHOWN)
    };
    html! {
        <section class="card" id="items-section" aria-labelledby="matching-title">
            <h2 id="matching-title" class="section-title">
                { tr(lang, Msg::MatchingItems) }<span class="count">{ view.matching.len() }</span>
            </h2>
            <ul class="plain list" data-testid="matching-items">
                { for view.matching[..shown].iter().map(|i| {
                    let f = &facts[*i];
                    let class = match f.status {
                        PublicStatus::Done => "done",
                        PublicStatus::DoneLongTerm => "done-long-term",
                        PublicStatus::InProgress => "in-progress",
                    };
                    html! {
                        <li>
                            { item_link(f) }{ " " }
                            <span class={classes!("badge", class)}>{ status_name(lang, f.status) }</span>
                        </li>
                    }
                }) }
            </ul>
            if shown < view.matching.len() {
                <button class="link" onclick={show_more}>{ tr(lang, Msg::ShowAll) }</button>
            }
        </section>
    }
}
