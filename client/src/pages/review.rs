//! The office's side of an item: each unit's progress and evidence with sign-off (销号) and
//! send-back (退回, with a reason), the item's public status, and its plan (leader,
//! department, units, deadline, timing). Viewers and departments see the same, read-only;
//! what a role may do comes from `rectify_shared::workflow`, as on the server.

use crate::components::date_input::DateInput;
use crate::components::{evidence::Evidence, feedback::FeedbackBox, unit_picker::UnitPicker};
use crate::format::when;
use crate::i18n::{Lang, Msg, status_name, timing_name, tr, unit_status_name};
use crate::services::replica::Replica;
use rectify_shared::api::UnitInfo;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::{TextField, UnitStatus, check_item_status, check_unit_move};
use std::collections::BTreeSet;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ReviewProps {
    pub replica: Replica,
    pub id: DocumentId,
    pub item: ItemDoc,
    pub unit: String,
    pub actor: Actor,
    pub lang: Lang,
    pub on_error: Callback<Option<String>>,
}

/// One unit's progress as the office reviews it.
#[function_component(UnitReview)]
pub fn unit_review(props: &ReviewProps) -> Html {
    let ReviewProps {
        replica,
        id,
        item,
        unit,
        actor,
        lang,
        on_error,
    } = props;
    let (id, lang) = (*id, *lang);
    let reason = use_node_ref();
    let progress = item.progress.get(unit);
    let status = progress.map_or(UnitStatus::NotStarted, |p| p.status);
    let edit = {
        let (replica, on_error) = (replica.clone(), on_error.clone());
        Callback::from(move |edit: ItemEdit| {
            on_error.emit(replica.edit(&id, edit).err().map(|e| e.say(lang)));
        })
    };
    let may_sign = check_unit_move(actor, unit, status, UnitStatus::SignedOff, None).is_ok()
        && status != UnitStatus::SignedOff;
    let may_return =
        check_unit_move(actor, unit, status, UnitStatus::Returned, Some("reason")).is_ok();
    let sign_off = {
        let (edit, unit) = (edit.clone(), unit.clone());
        Callback::from(move |_| {
            edit.emit(ItemEdit::UnitStatus {
                unit: unit.clone(),
                to: UnitStatus::SignedOff,
                reason: None,
            });
        })
    };
    let send_back = {
        let (edit, unit, reason, on_error) =
            (edit.clone(), unit.clone(), reason.clone(), on_error.clone());
        Callback::from(move |_| {
            let Some(area) = reason.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let text = area.value().trim().to_owned();
            if text.is_empty() {
                on_error.emit(Some(tr(lang, Msg::ReasonNeeded).to_owned()));
                let _ = area.focus();
                return;
            }
            edit.emit(ItemEdit::UnitStatus {
                unit: unit.clone(),
                to: UnitStatus::Returned,
                reason: Some(text),
            });
            area.set_value("");
        })
    };
    // Only the item's current measures count; a tick on one the office removed (the unit
    // ticked it offline) is shown apart, as such.
    let (done_measures, measure_count) = item.measures_done(unit);
    let ticked_removed = item.ticked_removed_measures(unit);
    let decisions = item.reviews.iter().filter(|r| &r.unit == unit).rev().map(|review| {
        let label = if review.decision == UnitStatus::SignedOff { tr(lang, Msg::SignedOff) } else { tr(lang, Msg::Returned) };
        html! {
            <li class={classes!("decision", review.decision.key())}>
                <strong>{ label }</strong>{ " · " }{ &review.by }{ " · " }{ when(review.at_ms) }
                if !review.reason.is_empty() { <p>{ tr(lang, Msg::Reason) }{ lang.colon() }{ &review.reason }</p> }
            </li>
        }
    });
    html! {
        <section class="card unit-progress" aria-label={replica.unit_name(unit)}
                 data-testid="unit-review" data-unit={unit.clone()} data-status={status.key()}>
            <h2 class="section-title">
                { replica.unit_name(unit) }
                <span class={classes!("badge", status.key())} data-testid="unit-status">{ unit_status_name(lang, status) }</span>
            </h2>
            if let Some(p) = progress {
                if p.updated_at_ms > 0 {
                    <p class="meta">{ tr(lang, Msg::LastChange) }{ lang.colon() }{ &p.updated_by }{ " · " }{ when(p.updated_at_ms) }</p>
                }
                if measure_count > 0 {
                    <p class="meta" data-testid="measures-done">{ tr(lang, Msg::MeasuresDone) }{ format!("{}{done_measures}/{measure_count}", lang.colon()) }</p>
                }
                if !ticked_removed.is_empty() {
                    <div class="removed-ticks" data-testid="removed-ticks">
                        <p class="meta">{ tr(lang, Msg::TicksOnRemoved) }</p>
                        <ul class="plain">
                            { for ticked_removed.iter().map(|removed| html! {
                                <li class="removed-measure" data-testid="removed-tick" data-measure={removed.id.clone()}>{ &removed.text }</li>
                            }) }
                        </ul>
                    </div>
                }
                if p.narrative.as_str().is_empty() {
                    <p class="empty">{ tr(lang, Msg::NoNarrative) }</p>
                } else {
                    <p class="narrative" data-testid="narrative">{ p.narrative.as_str() }</p>
                }
                if !p.evidence.is_empty() {
                    <Evidence {id} unit={unit.clone()} {lang} evidence={p.evidence.clone()} />
                }
            } else {
                <p class="empty">{ tr(lang, Msg::NoNarrative) }</p>
            }
            if may_sign || may_return {
                <div class="review-actions">
                    if may_return {
                        <textarea ref={reason} rows="2" data-testid="return-reason"
                                  maxlength={TextField::Reason.max_chars().to_string()}
                                  aria-label={tr(lang, Msg::Reason)} placeholder={tr(lang, Msg::ReasonHint)} />
                    }
                    <div class="actions">
                        if may_sign {
                            <button class="primary" onclick={sign_off} data-testid="sign-off">{ tr(lang, Msg::SignOff) }</button>
                        }
                        if may_return {
                            <button class="secondary" onclick={send_back} data-testid="send-back">{ tr(lang, Msg::SendBack) }</button>
                        }
                    </div>
                </div>
            }
            if item.reviews.iter().any(|r| &r.unit == unit) {
                <h3 class="subtitle">{ tr(lang, Msg::Decisions) }</h3>
                <ul class="plain decisions">{ for decisions }</ul>
            }
            // The office answers each unit; a department reading an item it leads does not
            // write in the unit's thread.
            if actor.role == Role::Office {
                <FeedbackBox item={item.clone()} unit={unit.clone()} {lang} edit={edit.clone()} />
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct ItemStatusProps {
    pub replica: Replica,
    pub id: DocumentId,
    pub item: ItemDoc,
    pub actor: Actor,
    pub lang: Lang,
    pub on_error: Callback<Option<String>>,
}

/// The item's public status (整改进度 in the report): closing needs every unit signed off.
#[function_component(ItemStatusControl)]
pub fn item_status_control(props: &ItemStatusProps) -> Html {
    let lang = props.lang;
    let statuses = props.item.unit_statuses();
    let buttons = PublicStatus::ALL
        .into_iter()
        .filter(|s| *s != props.item.status)
        .map(|target| {
            let allowed = check_item_status(&props.actor, target, &statuses);
            let onclick = {
                let (replica, id, on_error) =
                    (props.replica.clone(), props.id, props.on_error.clone());
                Callback::from(move |_| {
                    let refused = replica.edit(&id, ItemEdit::ItemStatus(target)).err();
                    on_error.emit(refused.map(|e| e.say(lang)));
                })
            };
            let title = allowed.as_ref().err().map(|e| e.to_string());
            html! {
                <button class="secondary" disabled={allowed.is_err()} {title} {onclick}
                        data-testid={format!("item-status-{}", target.key())}>
                    { tr(lang, Msg::MarkAs) }{ status_name(lang, target) }
                </button>
            }
        });
    let may_change = props.actor.role == Role::Office;
    html! {
        <div class="item-status">
            <p>
                { tr(lang, Msg::PublicStatus) }{ lang.colon() }
                <strong data-testid="item-status">{ status_name(lang, props.item.status) }</strong>
            </p>
            if may_change { <div class="actions">{ for buttons }</div> }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct PlanProps {
    pub replica: Replica,
    pub id: DocumentId,
    pub item: ItemDoc,
    pub lang: Lang,
    pub on_error: Callback<Option<String>>,
    /// Viewers and departments see the plan but do not change it.
    #[prop_or_default]
    pub read_only: bool,
}

/// The office's plan of an item: who leads, which department, which units, by when, how.
#[function_component(PlanEditor)]
pub fn plan_editor(props: &PlanProps) -> Html {
    let lang = props.lang;
    let open = use_state(|| false);
    let (leader, department, deadline, timing) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    let chosen = use_state(|| {
        props
            .item
            .units
            .iter()
            .cloned()
            .collect::<BTreeSet<String>>()
    });
    // The fields are filled once when the form opens, not on every render: a re-render (a
    // ticked unit, a remote change) must not put back what the office just typed.
    {
        let (leader, department, deadline, timing) = (
            leader.clone(),
            department.clone(),
            deadline.clone(),
            timing.clone(),
        );
        let item = props.item.clone();
        use_effect_with(*open, move |open| {
            if *open {
                let set = |node: &NodeRef, value: &str| {
                    if let Some(input) = node.cast::<HtmlInputElement>() {
                        input.set_value(value);
                    } else if let Some(select) = node.cast::<HtmlSelectElement>() {
                        select.set_value(value);
                    }
                };
                set(&leader, &item.responsible_leader);
                set(
                    &department,
                    item.responsible_department.as_deref().unwrap_or(""),
                );
                set(&deadline, item.deadline.as_deref().unwrap_or(""));
                set(&timing, item.timing.map_or("", Timing::key));
            }
        });
    }
    let units = props.replica.units();
    let item = &props.item;
    let summary = html! {
        <dl class="plan">
            <dt>{ tr(lang, Msg::Leader) }</dt><dd>{ if item.responsible_leader.is_empty() { "—".to_owned() } else { item.responsible_leader.clone() } }</dd>
            <dt>{ tr(lang, Msg::Department) }</dt><dd>{ item.responsible_department.as_deref().map(|d| props.replica.unit_name(d)).unwrap_or_else(|| "—".to_owned()) }</dd>
            <dt>{ tr(lang, Msg::Units) }</dt><dd>{ item.units.iter().map(|u| props.replica.unit_name(u)).collect::<Vec<_>>().join("、") }</dd>
            <dt>{ tr(lang, Msg::Deadline) }</dt><dd>{ item.deadline.clone().unwrap_or_else(|| "—".to_owned()) }</dd>
            <dt>{ tr(lang, Msg::Timing) }</dt><dd>{ item.timing.map(|t| timing_name(lang, t)).unwrap_or("—") }</dd>
        </dl>
    };
    if props.read_only {
        return summary;
    }
    if !*open {
        let onclick = {
            let (open, chosen, units_now) = (open, chosen, item.units.clone());
            Callback::from(move |_| {
                chosen.set(units_now.iter().cloned().collect());
                open.set(true);
            })
        };
        return html! {
            <>
                { summary }
                <button class="secondary" {onclick} data-testid="edit-plan">{ tr(lang, Msg::EditPlan) }</button>
            </>
        };
    }
    let save = {
        let (replica, id, on_error, open, chosen) = (
            props.replica.clone(),
            props.id,
            props.on_error.clone(),
            open.clone(),
            chosen.clone(),
        );
        let (leader, department, deadline, timing) = (
            leader.clone(),
            department.clone(),
            deadline.clone(),
            timing.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let value = |node: &NodeRef| {
                node.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .or_else(|| node.cast::<HtmlSelectElement>().map(|s| s.value()))
                    .unwrap_or_default()
            };
            if chosen.is_empty() {
                on_error.emit(Some(tr(lang, Msg::UnitsNeeded).to_owned()));
                return;
            }
            let plan = ItemPlan {
                responsible_leader: value(&leader).trim().to_owned(),
                responsible_department: Some(value(&department)).filter(|d| !d.is_empty()),
                units: chosen.iter().cloned().collect(),
                deadline: Some(value(&deadline)).filter(|d| !d.is_empty()),
                timing: Timing::from_key(&value(&timing)),
            };
            let result = replica.edit(&id, ItemEdit::Plan(plan));
            if result.is_ok() {
                open.set(false);
            }
            on_error.emit(result.err().map(|e| e.say(lang)));
        })
    };
    let cancel = {
        let open = open;
        Callback::from(move |_| open.set(false))
    };
    let departments: Vec<&UnitInfo> = units.values().filter(|u| u.kind == "department").collect();
    let schools: Vec<&UnitInfo> = units.values().collect();
    html! {
            <form class="plan-form" onsubmit={save} data-testid="plan-form">
                <label><span>{ tr(lang, Msg::Leader) }</span>
                    <input ref={leader} data-testid="plan-leader" /></label>
                <label><span>{ tr(lang, Msg::Department) }</span>
                    <select ref={department} data-testid="plan-department">
                        <option value="">{ "—" }</option>
                        { for departments.iter().map(|d| html! {
                            <option value={d.id.0.clone()}>{ &d.name }</option>
                        }) }
                    </select></label>
    <UnitPicker {lang} units={schools.iter().map(|u| (*u).clone()).collect::<Vec<_>>()} chosen={chosen.clone()} />
                <label><span>{ tr(lang, Msg::Deadline) }</span>
                    <DateInput input_ref={deadline} testid="plan-deadline" /></label>
                <label><span>{ tr(lang, Msg::Timing) }</span>
                    <select ref={timing} data-testid="plan-timing">
                        <option value="">{ "—" }</option>
                        { for Timing::ALL.into_iter().map(|t| html! {
                            <option value={t.key()}>{ timing_name(lang, t) }</option>
                        }) }
                    </select></label>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="save-plan">{ tr(lang, Msg::Save) }</button>
                    <button type="button" class="secondary" onclick={cancel}>{ tr(lang, Msg::Cancel) }</button>
                </div>
            </form>
        }
}
