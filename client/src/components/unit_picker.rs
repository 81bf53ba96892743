//! A scrolling list of units with a checkbox each: an item's 责任单位, in the plan editor and
//! on the page adding an item by hand.

use crate::i18n::{Lang, Msg, tr};
use rectify_shared::api::UnitInfo;
use std::collections::BTreeSet;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct UnitPickerProps {
    pub lang: Lang,
    pub units: Vec<UnitInfo>,
    /// The units ticked, by id.
    pub chosen: UseStateHandle<BTreeSet<String>>,
}

/// A scrolling list of units with a checkbox each (an item's 责任单位).
#[function_component(UnitPicker)]
pub fn unit_picker(props: &UnitPickerProps) -> Html {
    let chosen = &props.chosen;
    html! {
        <fieldset class="unit-picker">
            <legend>{ tr(props.lang, Msg::Units) }</legend>
            { for props.units.iter().map(|u| {
                let onchange = {
                    let (chosen, id) = (chosen.clone(), u.id.0.clone());
                    Callback::from(move |event: Event| {
                        let on = event
                            .target_dyn_into::<HtmlInputElement>()
                            .is_some_and(|i| i.checked());
                        let mut next = (*chosen).clone();
                        if on {
                            next.insert(id.clone());
                        } else {
                            next.remove(&id);
                        }
                        chosen.set(next);
                    })
                };
                html! {
                    <label class="check">
                        <input type="checkbox" checked={chosen.contains(&u.id.0)} {onchange} value={u.id.0.clone()} />
                        { &u.name }
                    </label>
                }
            }) }
        </fieldset>
    }
}
