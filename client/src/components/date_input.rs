//! A date field that reads YYYY-MM-DD whatever the browser's locale: a text input with a
//! pattern (a native date input shows "mm/dd/yyyy" in an English browser), and under it a
//! hint of the form that shows only once what was typed does not match (`:user-invalid`).
//! Forms that hold one refuse to submit until it matches or is empty. A date of the right
//! form that does not exist (2026-02-30) is refused the same way, with its own words: the
//! field's custom validity says so.

use crate::context::AppContext;
use crate::i18n::{Lang, Msg, tr};
use rectify_shared::date::names_no_day;
use web_sys::HtmlInputElement;
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

/// Marks `input` invalid (with words for `lang`) when it holds a day that does not exist,
/// valid otherwise (the pattern still judges the form). Returns whether it is impossible.
fn check(input: &HtmlInputElement, lang: Lang) -> bool {
    let impossible = names_no_day(&input.value());
    input.set_custom_validity(if impossible {
        tr(lang, Msg::DateImpossible)
    } else {
        ""
    });
    impossible
}

#[function_component(DateInput)]
pub fn date_input(props: &DateInputProps) -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    let impossible = use_state(|| false);
    let oninput = {
        let (outer, impossible) = (props.oninput.clone(), impossible.clone());
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                impossible.set(check(&input, lang));
            }
            if let Some(outer) = &outer {
                outer.emit(e);
            }
        })
    };
    {
        // A value set by the page (or a language switch) is judged too.
        let (input_ref, impossible) = (props.input_ref.clone(), impossible.clone());
        use_effect_with((props.value.clone(), lang), move |_| {
            if let Some(input) = input_ref.cast::<HtmlInputElement>() {
                impossible.set(check(&input, lang));
            }
        });
    }
    let hint = if *impossible {
        Msg::DateImpossible
    } else {
        Msg::DateHint
    };
    html! {
        <>
            <input type="text" class="date" pattern={DATE_PATTERN} maxlength="10" autocomplete="off"
                   placeholder={tr(lang, Msg::DatePlaceholder)} title={tr(lang, Msg::DateHint)}
                   value={props.value.clone()} ref={props.input_ref.clone()}
                   onchange={props.onchange.clone()} {oninput}
                   readonly={props.readonly} data-testid={props.testid.clone()}
                   data-impossible={impossible.then_some("true")} />
            <small class="date-error">{ tr(lang, hint) }</small>
        </>
    }
}
