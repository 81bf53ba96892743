//! A date field that reads YYYY-MM-DD whatever the browser's locale: a text input with a
//! pattern (a native date input shows "mm/dd/yyyy" in an English browser), and under it a
//! hint of the form that shows only once what was typed does not match (`:user-invalid`).
//! Forms that hold one refuse to submit until it matches or is empty.

use crate::context::AppContext;
use crate::i18n::{Msg, tr};
use yew::prelude::*;

/// What a date field accepts: the form `Date` parses and prints.
pub const DATE_PATTERN: &str = "[0-9]{4}-[0-9]{2}-[0-9]{2}";

#[derive(Properties, PartialEq)]
pub struct DateInputProps {
    /// The value, for a field the page keeps in its state; none for one read by `input_ref`.
    #[prop_or_default]
    pub value: Option<AttrValue>,
    #[prop_or_default]
    pub input_ref: NodeRef,
    #[prop_or_default]
    pub onchange: Option<Callback<Event>>,
    #[prop_or_default]
    pub oninput: Option<Callback<InputEvent>>,
    #[prop_or_default]
    pub readonly: bool,
    #[prop_or_default]
    pub testid: Option<AttrValue>,
}

#[function_component(DateInput)]
pub fn date_input(props: &DateInputProps) -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    html! {
        <>
            <input type="text" class="date" pattern={DATE_PATTERN} maxlength="10" autocomplete="off"
                   placeholder={tr(lang, Msg::DatePlaceholder)} title={tr(lang, Msg::DateHint)}
                   value={props.value.clone()} ref={props.input_ref.clone()}
                   onchange={props.onchange.clone()} oninput={props.oninput.clone()}
                   readonly={props.readonly} data-testid={props.testid.clone()} />
            <small class="date-error">{ tr(lang, Msg::DateHint) }</small>
        </>
    }
}
