//! Changes the server refused: what, why, and the user's text to copy. Nothing is dropped
//! silently; an entry stays (on the device) until the user dismisses it.

use crate::context::{AppContext, ReplicaContext};
use crate::i18n::{Msg, tr};
use crate::services::replica::RefusalReason;
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
            RefusalReason::Server(message) => format!("{}{message}", tr(lang, Msg::RefusedByServer)),
        };
        let dismiss = {
            let (replica, id) = (replica.clone(), entry.id.clone());
            Callback::from(move |_| replica.dismiss_refused(&id))
        };
        let copy = {
            let text = entry.text.clone();
            Callback::from(move |_| {
                let clipboard = gloo::utils::window().navigator().clipboard();
                let _promise = clipboard.write_text(&text);
            })
        };
        let text_id = format!("refused-text-{}", entry.id);
        html! {
            <li class="refused-entry" data-testid="refused-entry">
                <p class="refused-item"><strong>{ &entry.item_key }</strong>{ " " }{ &entry.item_title }</p>
                <p class="refused-reason">{ reason }</p>
                if !entry.text.is_empty() {
                    <label for={text_id.clone()}>{ tr(lang, Msg::YourText) }</label>
                    <textarea id={text_id} class="refused-text" data-testid="refused-text" readonly=true
                              value={entry.text.clone()} rows="4" />
                }
                <div class="actions">
                    if !entry.text.is_empty() {
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
