//! 审计日志: the audit log for the office and viewers, newest first, a page at a time, with
//! filters (action, account, dates) and the same filters downloaded as CSV or Excel. Each
//! entry is a card, so it fits a phone. A document an entry is about shows by the name the
//! server read for it (`target_name`: an item's key and title, a campaign's name), its id on
//! hover.

use crate::components::date_input::DateInput;
use crate::context::AppContext;
use crate::format::{describe, when_full};
use crate::i18n::{AUDIT_ACTIONS, Msg, audit_account, audit_action_name, audit_detail, tr};
use crate::pages::accounts::value;
use crate::pages::reports::save_blob;
use crate::services::api;
use rectify_shared::api::AuditEntry;
use yew::prelude::*;

/// What the audit page lists: the entries so far, and where the next (older) page starts.
#[derive(Clone, PartialEq, Default)]
struct Listing {
    entries: Vec<AuditEntry>,
    next_before: Option<i64>,
}

/// A `YYYY-MM-DD` date input as local midnight in Unix ms, `days` later.
fn day_ms(date: &str, days: f64) -> Option<i64> {
    if date.is_empty() {
        return None;
    }
    let ms = js_sys::Date::parse(&format!("{date}T00:00"));
    (!ms.is_nan()).then_some((ms + days * 86_400_000.0) as i64)
}

#[function_component(Audit)]
pub fn audit() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let listing = use_state(|| None::<Result<Listing, String>>);
    let filters = use_state(String::new);
    let more = use_state(|| None::<i64>);
    let (action, account, from, to) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    let lang = state.lang;
    let token = state
        .session
        .as_ref()
        .map(|s| s.token.clone())
        .unwrap_or_default();
    {
        let (listing, token) = (listing.clone(), token.clone());
        use_effect_with(((*filters).clone(), *more), move |(filters, before)| {
            let (filters, before) = (filters.clone(), *before);
            wasm_bindgen_futures::spawn_local(async move {
                let mut query = filters;
                if let Some(before) = before {
                    query.push_str(&format!("&before={before}"));
                }
                let answer = api::audit(&token, &query).await;
                let previous = match (&*listing, before) {
                    (Some(Ok(shown)), Some(_)) => shown.entries.clone(),
                    _ => Vec::new(),
                };
                listing.set(Some(answer.map_err(|e| describe(lang, &e)).map(|page| {
                    let mut entries = previous;
                    entries.extend(page.entries);
                    Listing {
                        entries,
                        next_before: page.next_before,
                    }
                })));
            });
        });
    }
    let onsubmit = {
        let (action, account, from, to) =
            (action.clone(), account.clone(), from.clone(), to.clone());
        let (filters, more) = (filters.clone(), more.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let mut query = Vec::new();
            let action = value(&action);
            if !action.is_empty() {
                query.push(format!("action={action}"));
            }
            let account = value(&account);
            if !account.is_empty() {
                query.push(format!(
                    "account={}",
                    js_sys::encode_uri_component(&account)
                ));
            }
            if let Some(ms) = day_ms(&value(&from), 0.0) {
                query.push(format!("from={ms}"));
            }
            if let Some(ms) = day_ms(&value(&to), 1.0) {
                query.push(format!("to={ms}"));
            }
            more.set(None);
            filters.set(query.join("&"));
        })
    };
    let download = |extension: &'static str, label: Msg| {
        let (token, filters) = (token.clone(), (*filters).clone());
        let onclick = Callback::from(move |_| {
            let (token, url) = (token.clone(), format!("/api/audit.{extension}?{filters}"));
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(blob) = api::download(&token, &url).await {
                    save_blob(&blob, &format!("audit-log.{extension}"));
                }
            });
        });
        html! {
            <button type="button" class="secondary" {onclick} data-testid={format!("audit-{extension}")}>
                { tr(lang, label) }
            </button>
        }
    };
    let list = match &*listing {
        None => html! { <p class="empty" role="status">{ tr(lang, Msg::Loading) }</p> },
        Some(Err(err)) => html! { <p class="error" role="alert">{ err }</p> },
        Some(Ok(shown)) if shown.entries.is_empty() => {
            html! { <p class="empty" data-testid="audit-empty">{ tr(lang, Msg::AuditEmpty) }</p> }
        }
        Some(Ok(shown)) => {
            let older = shown.next_before.map(|before| {
                let more = more.clone();
                let onclick = Callback::from(move |_| more.set(Some(before)));
                html! {
                    <button class="secondary" {onclick} data-testid="audit-older">{ tr(lang, Msg::AuditOlder) }</button>
                }
            });
            html! {
                <>
                    <ul class="plain audit-list" data-testid="audit-entries">
                        { for shown.entries.iter().map(|e| html! {
                            <li class="audit-entry" data-testid="audit-entry" data-action={e.action.clone()}>
                                <div class="audit-head">
                                    <strong class="audit-action">{ audit_action_name(lang, &e.action) }</strong>
                                    <span class="meta">{ when_full(e.at_ms) }</span>
                                </div>
                                <p class="meta">{ tr(lang, Msg::AuditAccount) }{ "：" }{ audit_account(lang, &e.account) }</p>
                                if let Some(name) = &e.target_name {
                                    // A document as people know it; its id on hover.
                                    <p class="meta audit-wrap">{ tr(lang, Msg::AuditTarget) }{ "：" }<span title={e.target.clone()} data-testid="audit-target">{ name }</span></p>
                                } else if !e.target.is_empty() {
                                    <p class="meta audit-wrap">{ tr(lang, Msg::AuditTarget) }{ "：" }<span translate="no" data-testid="audit-target">{ &e.target }</span></p>
                                }
                                if !e.detail.is_empty() {
                                    <p class="audit-wrap">{ audit_detail(lang, &e.action, &e.detail) }</p>
                                }
                            </li>
                        }) }
                    </ul>
                    { for older }
                </>
            }
        }
    };
    html! {
        <>
            <section class="card" aria-labelledby="audit-title" data-testid="audit-page">
                <h2 id="audit-title" class="section-title">{ tr(lang, Msg::NavAudit) }</h2>
                <form class="audit-filters" {onsubmit} data-testid="audit-filters">
                    <label><span>{ tr(lang, Msg::AuditAction) }</span>
                        <select ref={action} data-testid="audit-action">
                            <option value="" selected=true>{ tr(lang, Msg::AuditAllActions) }</option>
                            { for AUDIT_ACTIONS.into_iter().map(|a| html! {
                                <option value={a}>{ audit_action_name(lang, a) }</option>
                            }) }
                        </select></label>
                    <label><span>{ tr(lang, Msg::AuditAccount) }</span>
                        <input ref={account} autocomplete="off" data-testid="audit-account" /></label>
                    <label><span>{ tr(lang, Msg::AuditFrom) }</span><DateInput input_ref={from} testid="audit-from" /></label>
                    <label><span>{ tr(lang, Msg::AuditTo) }</span><DateInput input_ref={to} testid="audit-to" /></label>
                    <div class="actions">
                        <button type="submit" class="primary" data-testid="audit-apply">{ tr(lang, Msg::AuditApply) }</button>
                        { download("csv", Msg::AuditDownloadCsv) }
                        { download("xlsx", Msg::AuditDownloadXlsx) }
                    </div>
                </form>
            </section>
            <section class="card">{ list }</section>
        </>
    }
}
