//! The report's own text around the items (报告正文): title, opening paragraph, parts 一,
//! 三 and 四, part 二's heading, publisher and date, as the published report prints them.
//! Read from `GET /api/campaigns/{id}/report-text`; the office saves it with `PUT` (viewers
//! see it read-only). The items of part 二 are edited on their own pages.

use crate::components::date_input::DateInput;
use crate::format::describe;
use crate::i18n::{Lang, Msg, tr};
use crate::services::api;
use rectify_shared::api::ReportText;
use rectify_shared::report::{
    ITEMS_HEADING, NEXT_STEPS_HEADING, ORGANISATION_HEADING, Part, RESULTS_HEADING,
};
use wasm_bindgen::JsValue;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ReportTextProps {
    pub lang: Lang,
    pub token: String,
    pub campaign: String,
    /// The office may save; everyone else reads.
    pub editable: bool,
}

/// The value of the input or textarea an event came from.
fn value_of(event: &InputEvent) -> String {
    event
        .target()
        .and_then(|target| js_sys::Reflect::get(&target, &JsValue::from_str("value")).ok())
        .and_then(|value| value.as_string())
        .unwrap_or_default()
}

type Setter = fn(&mut ReportText, String);

#[function_component(ReportTextEditor)]
pub fn report_text_editor(props: &ReportTextProps) -> Html {
    let lang = props.lang;
    let text = use_state(|| None::<Result<ReportText, String>>);
    let message = use_state(|| None::<Result<&'static str, String>>);
    let saving = use_state(|| false);
    {
        let (text, token, campaign) = (text.clone(), props.token.clone(), props.campaign.clone());
        use_effect_with(props.campaign.clone(), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = api::report_text(&token, &campaign).await;
                text.set(Some(loaded.map_err(|e| describe(lang, &e))));
            });
        });
    }
    let current = match &*text {
        None => {
            return html! { <p class="empty" role="status">{ tr(lang, Msg::LoadingHistory) }</p> };
        }
        Some(Err(err)) => return html! { <p class="error" role="alert">{ err }</p> },
        Some(Ok(current)) => current.clone(),
    };
    let readonly = !props.editable;
    let set = |setter: Setter| {
        let (text, message, current) = (text.clone(), message.clone(), current.clone());
        Callback::from(move |event: InputEvent| {
            let mut changed = current.clone();
            setter(&mut changed, value_of(&event));
            text.set(Some(Ok(changed)));
            message.set(None);
        })
    };
    let line = |label: Msg, value: &str, placeholder: &str, setter: Setter, testid: &str| {
        html! {
            <label><span>{ tr(lang, label) }</span>
                <input value={value.to_owned()} placeholder={placeholder.to_owned()} {readonly}
                    data-testid={testid.to_owned()} oninput={set(setter)} />
            </label>
        }
    };
    let body = |value: &str, rows: u32, setter: Setter, testid: &str| {
        html! {
            <label><span>{ tr(lang, Msg::PartBody) }</span>
                <textarea value={value.to_owned()} rows={rows.to_string()} {readonly}
                    data-testid={testid.to_owned()} oninput={set(setter)} />
            </label>
        }
    };
    let part = |legend: Msg,
                part: &Part,
                standard: &str,
                heading: Setter,
                text: Setter,
                id: &str| {
        html! {
            <fieldset class="report-part" data-testid={format!("part-{id}")}>
                <legend>{ tr(lang, legend) }</legend>
                { line(Msg::PartHeading, &part.heading, standard, heading, &format!("{id}-heading")) }
                { body(&part.body, 8, text, &format!("{id}-body")) }
            </fieldset>
        }
    };
    let onsubmit = {
        let (text, message, saving) = (text.clone(), message.clone(), saving.clone());
        let (token, campaign, current) =
            (props.token.clone(), props.campaign.clone(), current.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let (text, message, saving) = (text.clone(), message.clone(), saving.clone());
            let (token, campaign, current) = (token.clone(), campaign.clone(), current.clone());
            saving.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                match api::save_report_text(&token, &campaign, &current).await {
                    Ok(stored) => {
                        text.set(Some(Ok(stored)));
                        message.set(Some(Ok(tr(lang, Msg::ReportTextSaved))));
                    }
                    Err(err) => message.set(Some(Err(describe(lang, &err)))),
                }
                saving.set(false);
            });
        })
    };
    let status = match &*message {
        Some(Ok(saved)) => html! { <p class="ok" role="status">{ *saved }</p> },
        Some(Err(err)) => html! { <p class="error" role="alert">{ err }</p> },
        None => html! {},
    };
    html! {
        <form class="report-text" data-testid="report-text" {onsubmit}>
            <p class="hint">{ tr(lang, Msg::ReportTextHint) }</p>
            { line(Msg::ReportTitle, &current.title, tr(lang, Msg::ReportTitlePlaceholder), |t, v| t.title = v, "title") }
            <label><span>{ tr(lang, Msg::ReportPreamble) }</span>
                <textarea value={current.preamble.clone()} rows="4" {readonly} data-testid="preamble"
                    oninput={set(|t, v| t.preamble = v)} />
            </label>
            { part(Msg::PartOrganisation, &current.organisation, ORGANISATION_HEADING,
                |t, v| t.organisation.heading = v, |t, v| t.organisation.body = v, "organisation") }
            <fieldset class="report-part" data-testid="part-items">
                <legend>{ tr(lang, Msg::PartItems) }</legend>
                { line(Msg::PartHeading, &current.items_heading, ITEMS_HEADING, |t, v| t.items_heading = v, "items-heading") }
                <p class="hint">{ tr(lang, Msg::PartItemsHint) }</p>
            </fieldset>
            { part(Msg::PartResults, &current.results, RESULTS_HEADING,
                |t, v| t.results.heading = v, |t, v| t.results.body = v, "results") }
            { part(Msg::PartNextSteps, &current.next_steps, NEXT_STEPS_HEADING,
                |t, v| t.next_steps.heading = v, |t, v| t.next_steps.body = v, "next-steps") }
            { line(Msg::ReportPublisher, &current.publisher, "", |t, v| t.publisher = v, "publisher") }
            <label><span>{ tr(lang, Msg::ReportPublished) }</span>
                <DateInput value={AttrValue::from(current.published.clone().unwrap_or_default())} {readonly}
                    testid="published"
                    oninput={set(|t, v| t.published = (!v.is_empty()).then_some(v))} />
            </label>
            { status }
            if props.editable {
                <div class="actions">
                    <button class="primary" type="submit" disabled={*saving} data-testid="save-report-text">
                        { tr(lang, Msg::SaveReportText) }
                    </button>
                </div>
            }
        </form>
    }
}
