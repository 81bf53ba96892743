//! Adding an item by hand (a problem found after the report, or one the importer missed).
//! The server creates the document; the replica then picks it up like any other.

use crate::components::date_input::DateInput;
use crate::components::unit_picker::UnitPicker;
use crate::context::{AppContext, ReplicaContext};
use crate::format::describe;
use crate::i18n::{Msg, timing_name, tr};
use crate::services::api;
use crate::state::Route;
use rectify_shared::api::{CampaignInfo, NewItem};
use rectify_shared::ids::UnitId;
use rectify_shared::model::Timing;
use std::collections::BTreeSet;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

#[function_component(NewItemPage)]
pub fn new_item_page() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let campaigns = use_state(Vec::<CampaignInfo>::new);
    let error = use_state(|| None::<String>);
    let chosen = use_state(BTreeSet::<String>::new);
    let refs = use_state(|| std::array::from_fn::<NodeRef, 11, _>(|_| NodeRef::default()));
    let lang = state.lang;
    let (Some(session), Some(ReplicaContext { replica, .. })) = (state.session.clone(), context)
    else {
        return Html::default();
    };
    {
        let (campaigns, token) = (campaigns.clone(), session.token.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(list) = api::campaigns(&token).await {
                    campaigns.set(list);
                }
            });
        });
    }
    let [
        campaign,
        area_no,
        area_title,
        problem_no,
        problem_title,
        sub_no,
        title,
        measures,
        leader,
        department,
        deadline,
    ] = (*refs).clone();
    let units = replica.units();
    let onsubmit = {
        let (error, chosen, replica, token) =
            (error.clone(), chosen.clone(), replica, session.token);
        let nodes = [
            campaign.clone(),
            area_no.clone(),
            area_title.clone(),
            problem_no.clone(),
            problem_title.clone(),
            sub_no.clone(),
            title.clone(),
            measures.clone(),
            leader.clone(),
            department.clone(),
            deadline.clone(),
        ];
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let value = |i: usize| {
                let node = &nodes[i];
                node.cast::<HtmlInputElement>()
                    .map(|n| n.value())
                    .or_else(|| node.cast::<HtmlSelectElement>().map(|n| n.value()))
                    .or_else(|| node.cast::<HtmlTextAreaElement>().map(|n| n.value()))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            let number = |i: usize| value(i).parse::<u32>().ok();
            let (Some(area), Some(problem)) = (number(1), number(3)) else {
                error.set(Some(tr(lang, Msg::NumbersNeeded).to_owned()));
                return;
            };
            let timing = gloo::utils::document()
                .query_selector("[data-testid=new-item-timing]")
                .ok()
                .flatten()
                .and_then(|e| wasm_bindgen::JsCast::dyn_into::<HtmlSelectElement>(e).ok())
                .map(|s| s.value())
                .filter(|v| !v.is_empty());
            let body = NewItem {
                area_no: area,
                area_title: value(2),
                problem_no: problem,
                problem_title: value(4),
                sub_no: number(5),
                title: value(6),
                measures: value(7)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                responsible_leader: value(8),
                responsible_department: Some(value(9)).filter(|d| !d.is_empty()).map(UnitId),
                units: chosen.iter().cloned().map(UnitId).collect(),
                deadline: Some(value(10)).filter(|d| !d.is_empty()),
                timing,
            };
            let campaign = value(0);
            let (error, replica, token) = (error.clone(), replica.clone(), token.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::add_item(&token, &campaign, &body).await {
                    Ok(summary) => {
                        replica.refresh();
                        let _ = gloo::utils::window()
                            .location()
                            .set_hash(&Route::Item(summary.id).href());
                    }
                    Err(err) => error.set(Some(describe(lang, &err))),
                }
            });
        })
    };
    html! {
            <section class="card" aria-labelledby="new-item-title">
                <a class="back" href={Route::Items.href()}>{ "‹ " }{ tr(lang, Msg::BackToList) }</a>
                <h2 id="new-item-title" class="section-title">{ tr(lang, Msg::AddItem) }</h2>
                if let Some(message) = &*error { <p class="error" role="alert">{ message }</p> }
                <form {onsubmit} data-testid="new-item">
                    <label><span>{ tr(lang, Msg::Campaign) }</span>
                        <select ref={campaign}>
                            { for campaigns.iter().rev().enumerate().map(|(i, c)| html! { <option value={c.id.clone()} selected={i == 0}>{ &c.name }</option> }) }
                        </select></label>
                    <div class="row">
                        <label><span>{ tr(lang, Msg::AreaNo) }</span><input ref={area_no} type="number" min="1" required=true /></label>
                        <label class="grow"><span>{ tr(lang, Msg::AreaTitle) }</span><input ref={area_title} /></label>
                    </div>
                    <div class="row">
                        <label><span>{ tr(lang, Msg::ProblemNo) }</span><input ref={problem_no} type="number" min="1" required=true /></label>
                        <label><span>{ tr(lang, Msg::SubNo) }</span><input ref={sub_no} type="number" min="1" /></label>
                        <label class="grow"><span>{ tr(lang, Msg::ProblemTitle) }</span><input ref={problem_title} /></label>
                    </div>
                    <label><span>{ tr(lang, Msg::Problem) }</span><textarea ref={title} rows="3" required=true /></label>
                    <label><span>{ tr(lang, Msg::Measures) }{ " " }<small>{ tr(lang, Msg::OnePerLine) }</small></span><textarea ref={measures} rows="4" /></label>
                    <label><span>{ tr(lang, Msg::Leader) }</span><input ref={leader} /></label>
                    <label><span>{ tr(lang, Msg::Department) }</span>
                        <select ref={department}>
                            <option value="" selected=true>{ "—" }</option>
                            { for units.values().filter(|u| u.kind == "department").map(|u| html! { <option value={u.id.0.clone()}>{ &u.name }</option> }) }
                        </select></label>
    <UnitPicker {lang} units={units.values().cloned().collect::<Vec<_>>()} chosen={chosen.clone()} />
                    <label><span>{ tr(lang, Msg::Deadline) }</span><DateInput input_ref={deadline} testid="new-deadline" /></label>
                    <label><span>{ tr(lang, Msg::Timing) }</span>
                        <select data-testid="new-item-timing">
                            <option value="" selected=true>{ "—" }</option>
                            { for Timing::ALL.into_iter().map(|t| html! { <option value={t.key()}>{ timing_name(lang, t) }</option> }) }
                        </select></label>
                    <button type="submit" class="primary" data-testid="create-item">{ tr(lang, Msg::Create) }</button>
                </form>
            </section>
        }
}
