//! Reports and importing: the ledger (XLSX, CSV) and the public report (DOCX, HTML, text)
//! of each campaign, built by the server with the same code as `rectify export`/`report`;
//! the report's own text around the items (报告正文, [`ReportTextEditor`]); and importing a
//! report file, checked first (warnings shown) and stored only when the office confirms.

use crate::components::report_text::ReportTextEditor;
use crate::context::{AppContext, ReplicaContext};
use crate::format::describe;
use crate::i18n::{Lang, Msg, tr};
use crate::services::api;
use rectify_shared::api::{CampaignInfo, ImportPreview};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// (path suffix, label, file name suffix)
const DOWNLOADS: [(&str, Msg, &str); 5] = [
    ("ledger.xlsx", Msg::LedgerXlsx, "台账.xlsx"),
    ("ledger.csv", Msg::LedgerCsv, "台账.csv"),
    ("report.docx", Msg::ReportDocx, "整改报告.docx"),
    ("report.html", Msg::ReportHtml, "整改报告.html"),
    ("report.txt", Msg::ReportTxt, "整改报告.txt"),
];

#[function_component(Reports)]
pub fn reports() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let campaigns = use_state(|| None::<Result<Vec<CampaignInfo>, String>>);
    let message = use_state(|| None::<Result<String, String>>);
    let reload = use_state(|| 0u32);
    // The campaign whose report text is open.
    let open = use_state(|| None::<String>);
    let lang = state.lang;
    let Some(session) = state.session.clone() else {
        return Html::default();
    };
    {
        let (campaigns, token) = (campaigns.clone(), session.token.clone());
        use_effect_with(*reload, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                campaigns.set(Some(
                    api::campaigns(&token).await.map_err(|e| describe(lang, &e)),
                ));
            });
        });
    }
    let download = |campaign: &CampaignInfo,
                    (path, label, suffix): (&'static str, Msg, &'static str)| {
        let url = format!("/api/campaigns/{}/{path}", campaign.id);
        let name = format!("{}-{suffix}", campaign.name);
        let (token, message) = (session.token.clone(), message.clone());
        let onclick = Callback::from(move |_| {
            let (url, name, token, message) =
                (url.clone(), name.clone(), token.clone(), message.clone());
            // The HTML report is read in the browser: a tab opened now, while the click
            // still counts as the user's (a tab opened after the download would be blocked),
            // and filled when the file is here.
            let tab = (path == "report.html")
                .then(|| {
                    gloo::utils::window()
                        .open_with_url("about:blank")
                        .ok()
                        .flatten()
                })
                .flatten();
            wasm_bindgen_futures::spawn_local(async move {
                match api::download(&token, &url).await {
                    Ok(blob) => match &tab {
                        Some(tab) => show_blob(tab, &blob),
                        None => save_blob(&blob, &name),
                    },
                    Err(err) => {
                        if let Some(tab) = &tab {
                            let _ = tab.close();
                        }
                        message.set(Some(Err(describe(lang, &err))));
                    }
                }
            });
        });
        html! {
            <button class="secondary" {onclick} data-testid={format!("download-{path}")}>{ tr(lang, label) }</button>
        }
    };
    let toggle = |campaign: &CampaignInfo| {
        let (open, id) = (open.clone(), campaign.id.clone());
        let expanded = open.as_deref() == Some(id.as_str());
        let onclick = Callback::from(move |_| {
            open.set((!expanded).then(|| id.clone()));
        });
        html! {
            <button class="secondary" type="button" aria-expanded={expanded.to_string()} {onclick}
                data-testid="open-report-text">{ tr(lang, Msg::ReportTextOpen) }</button>
        }
    };
    let editable = session.role == rectify_shared::policy::Role::Office;
    let list = match &*campaigns {
        None => html! { <p class="empty" role="status">{ tr(lang, Msg::LoadingHistory) }</p> },
        Some(Err(err)) => html! { <p class="error" role="alert">{ err }</p> },
        Some(Ok(list)) if list.is_empty() => {
            html! { <p class="empty">{ tr(lang, Msg::NoCampaigns) }</p> }
        }
        Some(Ok(list)) => html! {
            { for list.iter().map(|campaign| html! {
                <section class="campaign" data-testid="campaign" data-id={campaign.id.clone()}>
                    <h3 class="subtitle">{ &campaign.name }<span class="count">{ format!(" {} {}", campaign.items, tr(lang, Msg::ItemsUnit)) }</span></h3>
                    <div class="actions">
                        { for DOWNLOADS.into_iter().map(|d| download(campaign, d)) }
                        { toggle(campaign) }
                    </div>
                    if open.as_deref() == Some(campaign.id.as_str()) {
                        <ReportTextEditor {lang} token={session.token.clone()}
                            campaign={campaign.id.clone()} {editable} />
                    }
                </section>
            }) }
        },
    };
    let on_imported = {
        let (reload, context) = (reload, context);
        Callback::from(move |()| {
            reload.set(*reload + 1);
            if let Some(c) = &context {
                c.replica.refresh();
            }
        })
    };
    html! {
        <>
            <section class="card" aria-labelledby="reports-title">
                <h2 id="reports-title" class="section-title">{ tr(lang, Msg::NavReports) }</h2>
                <p class="hint">{ tr(lang, Msg::ReportsHint) }</p>
                if let Some(Err(err)) = &*message { <p class="error" role="alert">{ err }</p> }
                { list }
            </section>
            if session.role == rectify_shared::policy::Role::Office {
                <Import {lang} token={session.token.clone()} {on_imported} />
            }
        </>
    }
}

/// Offers `blob` to the user as a file called `name` (the browser's download).
/// Shows `blob` in `tab` (opened by the click), revoking its URL once the tab has it.
fn show_blob(tab: &web_sys::Window, blob: &web_sys::Blob) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    let _ = tab.location().set_href(&url);
    gloo::timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
}

pub(crate) fn save_blob(blob: &web_sys::Blob, name: &str) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    let document = gloo::utils::document();
    if let Some(anchor) = document
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(name);
        let _ = document.body().map(|b| b.append_child(&anchor));
        anchor.click();
        anchor.remove();
    }
    // Revoke later: the download reads the URL after this function returns.
    gloo::timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
}

#[derive(Properties, PartialEq)]
struct ImportProps {
    lang: Lang,
    token: String,
    on_imported: Callback<()>,
}

/// Pick a file, see what the importer makes of it, then store it.
#[function_component(Import)]
fn import(props: &ImportProps) -> Html {
    let lang = props.lang;
    let input = use_node_ref();
    let preview = use_state(|| None::<Result<ImportPreview, String>>);
    let busy = use_state(|| false);
    let run = |dry_run: bool| {
        let (input, preview, busy, token, on_imported) = (
            input.clone(),
            preview.clone(),
            busy.clone(),
            props.token.clone(),
            props.on_imported.clone(),
        );
        Callback::from(move |_| {
            let Some(file) = input
                .cast::<HtmlInputElement>()
                .and_then(|i| i.files())
                .and_then(|files| files.get(0))
            else {
                preview.set(Some(Err(tr(lang, Msg::PickAFile).to_owned())));
                return;
            };
            let (preview, busy, token, on_imported) = (
                preview.clone(),
                busy.clone(),
                token.clone(),
                on_imported.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let result = api::import(&token, file.into(), dry_run).await;
                busy.set(false);
                if result.as_ref().is_ok_and(|p| p.stored) {
                    on_imported.emit(());
                }
                preview.set(Some(result.map_err(|e| describe(lang, &e))));
            });
        })
    };
    // The chosen file's name, shown beside the button: the browser's own "Choose File / No
    // file chosen" speaks the browser's language, not the app's.
    let chosen = use_state(String::new);
    let onchange = {
        let (preview, chosen) = (preview.clone(), chosen.clone());
        Callback::from(move |e: Event| {
            preview.set(None);
            let name = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.files())
                .and_then(|files| files.get(0))
                .map(|file| file.name())
                .unwrap_or_default();
            chosen.set(name);
        })
    };
    let result = match &*preview {
        None => Html::default(),
        Some(Err(err)) => {
            html! { <p class="error" role="alert" data-testid="import-error">{ err }</p> }
        }
        Some(Ok(p)) => html! {
            <div class="import-preview" data-testid="import-preview" data-items={p.items.to_string()}
                 data-stored={p.stored.to_string()}>
                <p><strong>{ &p.campaign_name }</strong></p>
                <p>{ format!("{} {} · {} {} · {} {}", p.areas, tr(lang, Msg::AreasUnit), p.problems, tr(lang, Msg::ProblemsUnit), p.items, tr(lang, Msg::ItemsUnit)) }</p>
                if p.stored {
                    <p class="ok" role="status">{ format!("{} {} · {} {} · {} {}",
                        tr(lang, Msg::Created), p.items_created, tr(lang, Msg::Updated), p.items_updated,
                        tr(lang, Msg::Unchanged), p.items_unchanged) }</p>
                }
                if !p.left_alone.is_empty() {
                    <p class="warn">{ tr(lang, Msg::LeftAloneHeading) }</p>
                    <ul class="plain warnings" data-testid="left-alone">
                        { for p.left_alone.iter().map(|left| {
                            let field = if left.field == "status" { Msg::StatusField } else { Msg::NarrativeField };
                            html! {
                                <li>
                                    <span class="meta">{ format!("{} {}{}", left.key, tr(lang, field), lang.colon()) }</span>
                                    { &left.why }
                                    if left.field == "status" {
                                        { format!("（{}“{}”）", tr(lang, Msg::ReportSays), left.report_says) }
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                }
                if p.warnings.is_empty() {
                    <p class="ok">{ tr(lang, Msg::NoWarnings) }</p>
                } else {
                    <p class="warn">{ format!("{} {}", p.warnings.len(), tr(lang, Msg::WarningsCount)) }</p>
                    <ul class="plain warnings" data-testid="import-warnings">
                        { for p.warnings.iter().map(|w| html! {
                            <li><span class="meta">{ format!("{} {}{}", tr(lang, Msg::Line), w.line, lang.colon()) }</span>{ if lang == Lang::Zh { w.in_chinese() } else { &w.message } }</li>
                        }) }
                    </ul>
                }
            </div>
        },
    };
    let checked = matches!(&*preview, Some(Ok(p)) if !p.stored);
    let (check, store) = (run(true), run(false));
    html! {
        <section class="card" aria-labelledby="import-title">
            <h2 id="import-title" class="section-title">{ tr(lang, Msg::ImportReport) }</h2>
            <p class="hint">{ tr(lang, Msg::ImportHint) }</p>
            <div class="file-pick">
                <label class="file-button">
                    { tr(lang, Msg::ChooseReportFile) }
                    <input ref={input} type="file" accept=".txt,.docx,text/plain,application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                           {onchange} data-testid="import-file" />
                </label>
                <span class="meta" data-testid="import-file-name" translate={(!chosen.is_empty()).then_some("no")}>
                    if chosen.is_empty() { { tr(lang, Msg::NoFileChosen) } } else { { (*chosen).clone() } }
                </span>
            </div>
            <div class="actions">
                <button class="secondary" onclick={check} disabled={*busy} data-testid="import-check">{ tr(lang, Msg::CheckFile) }</button>
                if checked {
                    <button class="primary" onclick={store} disabled={*busy} data-testid="import-store">{ tr(lang, Msg::ImportConfirm) }</button>
                }
            </div>
            { result }
        </section>
    }
}
