//! An item's history: who changed what and when, from the server's record of the
//! Automerge history (`GET /api/items/{id}/history`). Each line shows the device's time (it
//! may have been offline, or its clock wrong) and when the server received it; text changes
//! are shown with what was removed and inserted.

use crate::context::{AppContext, ReplicaContext};
use crate::format::{describe, when};
use crate::i18n::{Lang, Msg, status_name, timing_name, tr, unit_status_name};
use crate::services::api;
use crate::state::Route;
use rectify_shared::api::{HistoryDetail, HistoryEntry, ItemHistory};
use rectify_shared::history::Field;
use rectify_shared::model::Timing;
use rectify_shared::status::PublicStatus;
use rectify_shared::text::changed_span;
use rectify_shared::workflow::UnitStatus;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct HistoryProps {
    pub id: String,
}

#[function_component(History)]
pub fn history(props: &HistoryProps) -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let loaded = use_state(|| None::<Result<ItemHistory, String>>);
    let lang = state.lang;
    let token = state.session.as_ref().map(|s| s.token.clone());
    {
        let loaded = loaded.clone();
        use_effect_with((props.id.clone(), token), move |(id, token)| {
            if let Some(token) = token.clone() {
                let id = id.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let result = api::history(&token, &id)
                        .await
                        .map_err(|e| describe(lang, &e));
                    loaded.set(Some(result));
                });
            }
        });
    }
    let unit_name = |unit: &str| {
        context
            .as_ref()
            .map_or_else(|| unit.to_owned(), |c| c.replica.unit_name(unit))
    };
    let body = match &*loaded {
        None => html! { <p class="empty" role="status">{ tr(lang, Msg::LoadingHistory) }</p> },
        Some(Err(message)) => html! { <p class="error" role="alert">{ message }</p> },
        Some(Ok(history)) if history.entries.is_empty() => {
            html! { <p class="empty">{ tr(lang, Msg::None) }</p> }
        }
        Some(Ok(history)) => html! {
            <ol class="timeline" data-testid="history">
                { for history.entries.iter().rev().map(|entry| entry_view(lang, entry, &unit_name)) }
            </ol>
        },
    };
    html! {
        <article class="history-page">
            <a class="back" href={Route::Item(props.id.clone()).href()}>{ "‹ " }{ tr(lang, Msg::BackToItem) }</a>
            <section class="card" aria-labelledby="history-title">
                <h2 id="history-title" class="section-title">{ tr(lang, Msg::History) }</h2>
                <p class="hint">{ tr(lang, Msg::HistoryHint) }</p>
                { body }
            </section>
        </article>
    }
}

fn entry_view(lang: Lang, entry: &HistoryEntry, unit_name: &dyn Fn(&str) -> String) -> Html {
    let who = entry
        .display_name
        .clone()
        .or_else(|| entry.user.clone())
        .unwrap_or_else(|| tr(lang, Msg::Unknown).to_owned());
    let device = if entry.device_first_ms == entry.device_last_ms {
        when(entry.device_last_ms)
    } else {
        format!(
            "{}–{}",
            when(entry.device_first_ms),
            when(entry.device_last_ms)
        )
    };
    // A change that reached the server long after it was made was made offline.
    let late = entry
        .received_ms
        .is_some_and(|r| r - entry.device_last_ms > 10 * 60 * 1000);
    // Who made it is the server's record of the sending account; older changes have only the
    // name they carry, and a change may carry a name that is not its sender's.
    let unverified = !entry.verified && entry.user.is_some();
    html! {
        <li class="entry" data-testid="history-entry" data-op={entry.op.clone()}
            data-user={entry.user.clone().unwrap_or_default()}
            data-verified={entry.verified.to_string()}
            data-claimed={entry.claimed_user.clone().unwrap_or_default()}>
            <p class="entry-head">
                <strong>{ who }</strong>{ " · " }{ op_name(lang, &entry.op) }
                if entry.changes > 1 { <span class="meta">{ format!(" ({} {})", entry.changes, tr(lang, Msg::Changes)) }</span> }
            </p>
            if let Some(claimed) = &entry.claimed_user {
                <p class="warning" role="note" data-testid="claimed-other">
                    { "⚠ " }{ tr(lang, Msg::ClaimedOther) }{ " “" }{ claimed }{ "”" }
                    { tr(lang, Msg::ClaimedOtherWarning) }
                </p>
            }
            if unverified {
                <p class="meta" data-testid="unverified">{ tr(lang, Msg::Unverified) }</p>
            }
            <p class="meta">
                { tr(lang, Msg::DeviceTime) }{ lang.colon() }{ device }
                { " · " }{ tr(lang, Msg::ReceivedTime) }{ lang.colon() }
                { entry.received_ms.map(when).unwrap_or_else(|| "—".to_owned()) }
                if late { <span class="late">{ " · " }{ tr(lang, Msg::MadeOffline) }</span> }
            </p>
            <ul class="plain details">
                { for entry.details.iter().map(|d| detail_view(lang, d, unit_name)) }
            </ul>
        </li>
    }
}

fn detail_view(lang: Lang, detail: &HistoryDetail, unit_name: &dyn Fn(&str) -> String) -> Html {
    let whose = detail
        .unit
        .as_ref()
        .map(|u| format!("{} · ", unit_name(u.as_str())))
        .unwrap_or_default();
    let status = |key: &str| {
        UnitStatus::from_key(key)
            .map_or_else(|| key.to_owned(), |s| unit_status_name(lang, s).to_owned())
    };
    // A field this build does not know (a newer server's) shows as it is named.
    let field = Field::from_key(&detail.field);
    // Keys and ids as people say them.
    let readable = |value: &str| -> String {
        match field {
            Some(Field::PlanDepartment) if !value.is_empty() => unit_name(value),
            Some(Field::PlanUnits) => value
                .lines()
                .map(|u| unit_name(u.trim()))
                .collect::<Vec<_>>()
                .join("、"),
            Some(Field::PlanTiming) => Timing::from_key(value)
                .map_or_else(|| value.to_owned(), |t| timing_name(lang, t).to_owned()),
            Some(Field::ItemStatus) => PublicStatus::from_key(value)
                .map_or_else(|| value.to_owned(), |s| status_name(lang, s).to_owned()),
            Some(Field::Review) => match value.split_once(':') {
                Some((decision, reason)) => {
                    format!("{}{}{}", status(decision), lang.colon(), reason.trim())
                }
                None => status(value),
            },
            _ => value.to_owned(),
        }
    };
    let short_field = matches!(
        field,
        Some(
            Field::PlanDepartment
                | Field::PlanUnits
                | Field::PlanTiming
                | Field::ItemStatus
                | Field::Review
        )
    );
    let change = if field == Some(Field::Status) {
        html! { <>{ status(&detail.before) }{ " → " }<strong>{ status(&detail.after) }</strong></> }
    } else if short_field {
        let (before, after) = (readable(&detail.before), readable(&detail.after));
        html! {
            <span class="diff">
                if !before.is_empty() { <del>{ before }</del>{ " → " } }
                if !after.is_empty() { <ins>{ after }</ins> }
            </span>
        }
    } else if detail.before.chars().count() + detail.after.chars().count() > 40 {
        // Long text: show what changed inside it, with a little context.
        let span = changed_span(&detail.before, &detail.after);
        let context_before: String = {
            let chars: Vec<char> = span.prefix.chars().collect();
            let from = chars.len().saturating_sub(12);
            let tail: String = chars[from..].iter().collect();
            if from > 0 { format!("…{tail}") } else { tail }
        };
        let context_after: String = {
            let head: String = span.suffix.chars().take(12).collect();
            if span.suffix.chars().count() > 12 {
                format!("{head}…")
            } else {
                head
            }
        };
        html! {
            <span class="diff">
                { context_before }
                if !span.removed.is_empty() { <del>{ span.removed }</del> }
                if !span.inserted.is_empty() { <ins>{ span.inserted }</ins> }
                { context_after }
            </span>
        }
    } else {
        html! {
            <span class="diff">
                if !detail.before.is_empty() { <del>{ &detail.before }</del>{ " " } }
                if !detail.after.is_empty() { <ins>{ &detail.after }</ins> }
            </span>
        }
    };
    let name = field.map_or_else(
        || detail.field.clone(),
        |f| tr(lang, field_name(f)).to_owned(),
    );
    html! {
        <li class="detail" data-field={detail.field.clone()}>
            <span class="meta">{ whose }{ name }{ lang.colon() }</span>{ change }
        </li>
    }
}

fn op_name(lang: Lang, op: &str) -> String {
    let msg = match op {
        "unit_narrative" => Msg::OpUnitNarrative,
        "tick_measure" => Msg::OpTickMeasure,
        "unit_status" => Msg::OpUnitStatus,
        "add_evidence" => Msg::OpAddEvidence,
        "remove_evidence" => Msg::OpRemoveEvidence,
        "add_feedback" => Msg::OpAddFeedback,
        "item_status" => Msg::OpItemStatus,
        "plan" => Msg::OpPlan,
        "define" => Msg::OpDefine,
        "import" => Msg::OpImport,
        "create" => Msg::OpCreate,
        _ => return op.to_owned(),
    };
    tr(lang, msg).to_owned()
}

/// How a field is named in the UI: every field has a name (the match is exhaustive).
fn field_name(field: Field) -> Msg {
    match field {
        Field::Narrative => Msg::FieldNarrative,
        Field::Status => Msg::FieldStatus,
        Field::Measure => Msg::FieldMeasure,
        Field::Evidence => Msg::FieldEvidence,
        Field::Feedback => Msg::FieldFeedback,
        Field::Review => Msg::FieldReview,
        Field::Title => Msg::FieldTitle,
        Field::Measures => Msg::FieldMeasures,
        Field::PlanLeader => Msg::FieldPlanLeader,
        Field::PlanDepartment => Msg::FieldPlanDepartment,
        Field::PlanUnits => Msg::FieldPlanUnits,
        Field::PlanDeadline => Msg::FieldPlanDeadline,
        Field::PlanTiming => Msg::FieldPlanTiming,
        Field::ItemStatus => Msg::FieldItemStatus,
        Field::OfficeNarrative => Msg::FieldOfficeNarrative,
    }
}
