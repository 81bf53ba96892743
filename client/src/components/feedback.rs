//! Messages between a unit and the office about an item (事事有回音): the thread and a box
//! to write in. On the item page for the unit, and under each unit's progress for the office.

use crate::format::when;
use crate::i18n::{Lang, Msg, tr};
use rectify_shared::model::{ItemDoc, ItemEdit};
use rectify_shared::workflow::TextField;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FeedbackProps {
    pub item: ItemDoc,
    pub unit: String,
    pub lang: Lang,
    pub edit: Callback<ItemEdit>,
}

/// Messages between the unit and the office about this item (事事有回音).
#[function_component(FeedbackBox)]
pub fn feedback_box(props: &FeedbackProps) -> Html {
    let lang = props.lang;
    let input = use_node_ref();
    let messages: Vec<Html> = props
        .item
        .feedback
        .iter()
        .filter(|f| f.unit.as_deref().is_none_or(|u| u == props.unit))
        .map(|f| {
            html! {
                <li class="feedback">
                    <p class="feedback-meta"><strong>{ &f.author }</strong>{ " · " }{ when(f.at_ms) }</p>
                    <p>{ &f.text }</p>
                </li>
            }
        })
        .collect();
    let onsubmit = {
        let (input, edit, unit) = (input.clone(), props.edit.clone(), props.unit.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let Some(area) = input.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let text = area.value().trim().to_owned();
            if text.is_empty() {
                return;
            }
            edit.emit(ItemEdit::AddFeedback {
                id: format!("f{}", js_sys::Date::now() as u64),
                unit: Some(unit.clone()),
                text,
            });
            area.set_value("");
        })
    };
    html! {
        <section class="card" aria-labelledby="feedback-title">
            <h2 id="feedback-title" class="section-title">{ tr(lang, Msg::Feedback) }</h2>
            if messages.is_empty() {
                <p class="empty">{ tr(lang, Msg::NoFeedback) }</p>
            } else {
                <ul class="plain">{ for messages }</ul>
            }
            <form class="feedback-form" {onsubmit}>
                <textarea ref={input} rows="2" aria-label={tr(lang, Msg::Feedback)} data-testid="feedback-input"
                          maxlength={TextField::Feedback.max_chars().to_string()}
                          placeholder={tr(lang, Msg::FeedbackPlaceholder)} />
                <button type="submit" class="secondary" data-testid="feedback-send">{ tr(lang, Msg::Send) }</button>
            </form>
        </section>
    }
}
