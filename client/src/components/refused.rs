//! Changes the server refused: what, why, and the user's text to copy. Nothing is dropped
//! silently; an entry stays (on the device) until the user dismisses it.

use crate::context::{AppContext, ReplicaContext};
use crate::i18n::{Msg, tr};
use crate::refusals;
use crate::services::replica::{RefusalReason, Refused};
use yew::prelude::*;

#[function_component(RefusedPanel)]
pub fn refused_panel() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let Some(ReplicaContext { replica, .. }) = use_context::<Option<ReplicaContext>>().flatten()
    else {
        return Html::default();
    };
    let lang = state.lang;
    let refused = replica.refused();
    if refused.is_empty() {
        return Html::default();
    }
    let entries = refused.into_iter().map(|entry| {
        let reason = match &entry.reason {
            RefusalReason::NoLongerYours => tr(lang, Msg::RefusedNoLongerYours).to_owned(),
            RefusalReason::Server(message) => {
                // In the user's language when the server sent the refusal as data.
                let why = entry
                    .refusal
                    .as_ref()
                    .map_or_else(|| message.clone(), |r| refusals::change(lang, r));
                format!("{}{why}", tr(lang, Msg::RefusedByServer))
            }
            // Typed, then refused as it became a change (signed off meanwhile).
            RefusalReason::NotKept(message) => {
                let why = entry
                    .refusal
                    .as_ref()
                    .map_or_else(|| message.clone(), |r| refusals::change(lang, r));
                format!("{}{why}", tr(lang, Msg::RefusedTyped))
            }
        };
        let reason_key = match &entry.reason {
            RefusalReason::NoLongerYours => "no-longer-yours",
            RefusalReason::Server(_) => "server",
            RefusalReason::NotKept(_) => "not-kept",
        };
        let dismiss = {
            let (replica, id) = (replica.clone(), entry.id.clone());
            Callback::from(move |_| replica.dismiss_refused(&id))
        };
        let copy = {
            let text = copy_text(&entry);
            Callback::from(move |_| {
                let clipboard = gloo::utils::window().navigator().clipboard();
                let _promise = clipboard.write_text(&text);
            })
        };
        let text_id = format!("refused-text-{}", entry.id);
        html! {
            <li class="refused-entry" data-testid="refused-entry" data-reason={reason_key}>
                <p class="refused-item"><strong>{ &entry.item_key }</strong>{ " " }{ &entry.item_title }</p>
                <p class="refused-reason">{ reason }</p>
                if !entry.text.is_empty() {
                    <label for={text_id.clone()}>{ tr(lang, Msg::YourText) }</label>
                    <textarea id={text_id} class="refused-text" data-testid="refused-text" readonly=true
                              value={entry.text.clone()} rows="4" />
                }
                if entry.reapplied > 0 {
                    <p class="refused-reapplied" data-testid="refused-reapplied" data-count={entry.reapplied.to_string()}>
                        { tr(lang, Msg::RefusedReapplied) }{ entry.reapplied }{ tr(lang, Msg::EditsCounted) }
                    </p>
                }
                if !entry.not_reapplied.is_empty() {
                    <p>{ tr(lang, Msg::RefusedNotReapplied) }</p>
                    <ul class="plain refused-edits">
                        { for entry.not_reapplied.iter().enumerate().map(|(i, edit)| {
                            // A reason is said once for a run of edits refused for it.
                            let new_reason = i == 0 || entry.not_reapplied[i - 1].reason != edit.reason;
                            html! {
                                <li data-testid="not-reapplied" data-op={edit.op.clone()}>
                                    <strong>{ tr(lang, edit_name(&edit.op)) }</strong>{ lang.colon() }
                                    <span class="refused-edit-text">{ &edit.text }</span>
                                    if new_reason && !edit.reason.is_empty() {
                                        <br /><small class="muted">{
                                            edit.refusal.as_ref().map_or_else(|| edit.reason.clone(), |r| refusals::change(lang, r))
                                        }</small>
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                }
                <div class="actions">
                    if !entry.text.is_empty() || !entry.not_reapplied.is_empty() {
                        <button class="secondary" onclick={copy}>{ tr(lang, Msg::Copy) }</button>
                    }
                    <button class="secondary" onclick={dismiss}>{ tr(lang, Msg::Dismiss) }</button>
                </div>
            </li>
        }
    });
    html! {
        <section class="card refused" role="alert" aria-labelledby="refused-title" data-testid="refused">
            <h2 id="refused-title" class="section-title">{ tr(lang, Msg::RefusedTitle) }</h2>
            <ul class="plain">{ for entries }</ul>
        </section>
    }
}

/// The name of a kind of edit ([`rectify_shared::model::ItemEdit::op`]).
fn edit_name(op: &str) -> Msg {
    match op {
        "unit_narrative" => Msg::EditNarrative,
        "tick_measure" => Msg::EditTick,
        "unit_status" => Msg::EditStatus,
        "add_evidence" => Msg::EditAddEvidence,
        "remove_evidence" => Msg::EditRemoveEvidence,
        "add_feedback" => Msg::EditFeedback,
        "item_status" => Msg::EditItemStatus,
        "plan" => Msg::EditOfPlan,
        _ => Msg::EditDefine,
    }
}

/// Everything of an entry worth keeping, as one text: the user's own text, then each edit
/// that could not be kept.
fn copy_text(entry: &Refused) -> String {
    let mut lines = vec![format!("{} {}", entry.item_key, entry.item_title)];
    if !entry.text.is_empty() {
        lines.push(entry.text.clone());
    }
    lines.extend(
        entry
            .not_reapplied
            .iter()
            .filter(|edit| edit.op != "unit_narrative")
            .map(|edit| edit.text.clone()),
    );
    lines.join("\n")
}
