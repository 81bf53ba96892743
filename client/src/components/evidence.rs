//! A unit's evidence on an item (佐证材料): adding photos and files (the unit's own user),
//! each file with its thumbnail, caption, size, who added it and its upload state, and
//! opening it. Tests read `[data-testid=evidence]` with `data-sha256`, `data-upload`
//! (`queued|uploading|paused|done|failed|remote`), `data-received` and `data-size`.

use crate::context::ReplicaContext;
use crate::format::{human_size, when};
use crate::i18n::{Lang, Msg, tr};
use crate::services::prepare::{self, Refusal};
use crate::services::replica::{Added, Replica};
use crate::services::uploads::Progress;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::EvidenceRef;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use web_sys::{File, HtmlInputElement, Url};
use yew::prelude::*;

/// What the file inputs accept; the kind is checked again from the bytes.
const ACCEPT_FILES: &str = "image/*,.pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.heic,.heif";
/// How long an opened file's object URL lives: the new tab or the download has it by then.
const OPENED_URL_MS: u32 = 60_000;

#[derive(Properties, PartialEq)]
pub struct EvidenceProps {
    pub id: DocumentId,
    pub unit: String,
    pub evidence: Vec<EvidenceRef>,
    pub lang: Lang,
    /// The unit's own user: may add and remove files.
    #[prop_or_default]
    pub editable: bool,
}

/// Something to tell the user about the files just picked.
#[derive(Clone, PartialEq)]
enum Notice {
    Refused(Refusal),
    AlreadyThere(String),
    NotSaved(String),
}

#[function_component(Evidence)]
pub fn evidence(props: &EvidenceProps) -> Html {
    // The context (not a prop) so that upload progress re-renders this.
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let busy = use_state(|| false);
    let notices = use_state(Vec::<Notice>::new);
    let caption = use_node_ref();
    let Some(ReplicaContext { replica, .. }) = context else {
        return Html::default();
    };
    let lang = props.lang;
    let add = {
        let (replica, id, unit) = (replica.clone(), props.id, props.unit.clone());
        let (busy, notices, caption) = (busy.clone(), notices.clone(), caption.clone());
        Callback::from(move |files: Vec<File>| {
            let (replica, unit, busy, notices, caption) = (
                replica.clone(),
                unit.clone(),
                busy.clone(),
                notices.clone(),
                caption.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let caption_input = caption.cast::<HtmlInputElement>();
                let text = caption_input
                    .as_ref()
                    .map(|input| input.value().trim().to_owned())
                    .unwrap_or_default();
                let settings = replica.uploads().settings();
                let mut told = Vec::new();
                let mut added_any = false;
                for file in files {
                    let prepared = match prepare::prepare(&file, &settings).await {
                        Ok(prepared) => prepared,
                        Err(refusal) => {
                            told.push(Notice::Refused(refusal));
                            continue;
                        }
                    };
                    let name = prepared.name.clone();
                    match replica
                        .add_evidence(&id, &unit, prepared, text.clone())
                        .await
                    {
                        Ok(Added::Added) => added_any = true,
                        Ok(Added::AlreadyThere) => told.push(Notice::AlreadyThere(name)),
                        Err(err) => told.push(Notice::NotSaved(format!("{name}: {err}"))),
                    }
                }
                if added_any && let Some(input) = caption_input {
                    input.set_value("");
                }
                notices.set(told);
                busy.set(false);
            });
        })
    };
    let onchange = Callback::from(move |event: Event| {
        let Some(input) = event.target_dyn_into::<HtmlInputElement>() else {
            return;
        };
        let files: Vec<File> = input
            .files()
            .map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect())
            .unwrap_or_default();
        // Emptied, so that picking the same file again is noticed.
        input.set_value("");
        if !files.is_empty() {
            add.emit(files);
        }
    });
    let uploads = replica.uploads();
    let settings = uploads.settings();
    // The upload state is a prop: an entry re-renders only when its props change.
    let entries = props.evidence.iter().map(|evidence| {
        html! {
            <EvidenceEntry key={evidence.sha256.clone()} replica={replica.clone()} id={props.id}
                           unit={props.unit.clone()} evidence={evidence.clone()} {lang}
                           progress={uploads.progress(&evidence.sha256)}
                           on_device={uploads.is_on_device(&evidence.sha256)}
                           editable={props.editable} />
        }
    });
    let list = if props.evidence.is_empty() {
        html! { <p class="empty">{ tr(lang, Msg::NoEvidence) }</p> }
    } else {
        html! { <ul class="plain evidence-list">{ for entries }</ul> }
    };
    if !props.editable {
        return html! {
            <div class="evidence">
                <h3 class="subtitle">{ tr(lang, Msg::Evidence) }</h3>
                { list }
            </div>
        };
    }
    html! {
        <section class="card evidence" aria-labelledby="evidence-title">
            <h2 id="evidence-title" class="section-title">
                { tr(lang, Msg::Evidence) }
                <span class="count">{ props.evidence.len() }</span>
            </h2>
            <div class="evidence-add">
                <label class="file-button primary">
                    { tr(lang, Msg::TakePhoto) }
                    <input type="file" accept="image/*" capture="environment"
                           data-testid="evidence-camera" disabled={*busy} onchange={onchange.clone()} />
                </label>
                <label class="file-button">
                    { tr(lang, Msg::PickFiles) }
                    <input type="file" accept={ACCEPT_FILES} multiple=true
                           data-testid="evidence-file" disabled={*busy} {onchange} />
                </label>
            </div>
            <input ref={caption} type="text" class="evidence-caption" data-testid="evidence-caption"
                   maxlength="200" aria-label={tr(lang, Msg::Caption)}
                   placeholder={tr(lang, Msg::Caption)} />
            if *busy {
                <p class="hint" role="status">{ tr(lang, Msg::Preparing) }</p>
            }
            if !notices.is_empty() {
                <ul class="plain error evidence-notices" role="alert" data-testid="evidence-error">
                    { for notices.iter().map(|notice| html! { <li>{ notice_text(lang, notice) }</li> }) }
                </ul>
            }
            <p class="hint">
                { tr(lang, Msg::EvidenceHint) }{ " " }{ human_size(settings.max_file_bytes) }
                if settings.quota_bytes > 0 {
                    { " · " }{ tr(lang, Msg::SpaceUsed) }{ " " }{ human_size(settings.used_bytes) }
                    { " / " }{ human_size(settings.quota_bytes) }
                }
            </p>
            { list }
        </section>
    }
}

fn notice_text(lang: Lang, notice: &Notice) -> String {
    match notice {
        Notice::Refused(Refusal::Kind(name)) => format!("{}{name}", tr(lang, Msg::FileKindRefused)),
        Notice::Refused(Refusal::TooLarge { name, max_bytes }) => format!(
            "{}{name} · {} {}",
            tr(lang, Msg::FileTooLarge),
            tr(lang, Msg::SizeLimit),
            human_size(*max_bytes)
        ),
        Notice::Refused(Refusal::Unreadable(name)) => {
            format!("{}{name}", tr(lang, Msg::FileUnreadable))
        }
        Notice::AlreadyThere(name) => format!("{}{name}", tr(lang, Msg::FileAlreadyAdded)),
        Notice::NotSaved(reason) => format!("{}{reason}", tr(lang, Msg::FileNotSaved)),
    }
}

#[derive(Properties, PartialEq)]
struct EntryProps {
    replica: Replica,
    id: DocumentId,
    unit: String,
    evidence: EvidenceRef,
    lang: Lang,
    progress: Progress,
    on_device: bool,
    editable: bool,
}

/// One file: thumbnail, name (opens it), caption, size, who and when, upload state.
#[function_component(EvidenceEntry)]
fn evidence_entry(props: &EntryProps) -> Html {
    let confirming = use_state(|| false);
    let failure = use_state(|| None::<String>);
    let EntryProps {
        replica,
        id,
        unit,
        evidence,
        lang,
        progress,
        on_device,
        editable,
    } = props;
    let (lang, on_device) = (*lang, *on_device);
    let uploads = replica.uploads();
    let sha = evidence.sha256.clone();
    let open = {
        let (replica, evidence, failure) = (replica.clone(), evidence.clone(), failure.clone());
        Callback::from(move |_: MouseEvent| {
            let failed = {
                let (failure, name) = (failure.clone(), evidence.name.clone());
                Callback::from(move |()| {
                    failure.set(Some(format!("{}{name}", tr(lang, Msg::OpenFailed))));
                })
            };
            failure.set(None);
            open_file(&replica, &evidence, failed);
        })
    };
    let state_text = match progress {
        Progress::Queued { .. } => Some(tr(lang, Msg::UploadQueued).to_owned()),
        Progress::Uploading { received } => Some(format!(
            "{} {}%",
            tr(lang, Msg::UploadUploading),
            percent(*received, evidence.size)
        )),
        Progress::Paused { received } if *received > 0 => Some(format!(
            "{} {}%",
            tr(lang, Msg::UploadPaused),
            percent(*received, evidence.size)
        )),
        Progress::Paused { .. } => Some(tr(lang, Msg::UploadPaused).to_owned()),
        Progress::Done => Some(tr(lang, Msg::UploadDone).to_owned()),
        Progress::Failed(reason) => Some(format!(
            "{}{}",
            tr(lang, Msg::UploadFailed),
            reason.in_lang(lang)
        )),
        Progress::Remote => None,
    };
    let pause = {
        let sha = sha.clone();
        match progress {
            Progress::Queued { .. } | Progress::Uploading { .. } => Some((
                Msg::Pause,
                "evidence-pause",
                Callback::from(move |_: MouseEvent| uploads.pause(&sha)),
            )),
            Progress::Paused { .. } => Some((
                Msg::Resume,
                "evidence-pause",
                Callback::from(move |_: MouseEvent| uploads.resume(&sha)),
            )),
            Progress::Failed(_) => Some((
                Msg::Retry,
                "evidence-retry",
                Callback::from(move |_: MouseEvent| uploads.resume(&sha)),
            )),
            Progress::Done | Progress::Remote => None,
        }
    };
    let remove = {
        let (replica, id, unit, sha) = (replica.clone(), *id, unit.clone(), sha.clone());
        let (confirming, failure) = (confirming.clone(), failure.clone());
        Callback::from(move |_: MouseEvent| {
            if !*confirming {
                confirming.set(true);
                return;
            }
            confirming.set(false);
            let (replica, unit, sha, failure) =
                (replica.clone(), unit.clone(), sha.clone(), failure.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(err) = replica.remove_evidence(&id, &unit, &sha).await {
                    failure.set(Some(err));
                }
            });
        })
    };
    let cancel = {
        let confirming = confirming.clone();
        Callback::from(move |_: MouseEvent| confirming.set(false))
    };
    let received = progress.received(evidence.size);
    let uploading = matches!(
        progress,
        Progress::Uploading { .. } | Progress::Paused { .. } | Progress::Queued { .. }
    );
    html! {
        <li class="evidence-entry" data-testid="evidence" data-sha256={sha.clone()}
            data-upload={progress.key()} data-received={received.to_string()}
            data-size={evidence.size.to_string()}>
            <button type="button" class="evidence-thumb" onclick={open.clone()}
                    aria-label={evidence.name.clone()}>
                <Thumbnail replica={replica.clone()} sha256={sha.clone()} mime={evidence.mime.clone()}
                           name={evidence.name.clone()} {on_device} />
            </button>
            <div class="evidence-body">
                <button type="button" class="link evidence-name" onclick={open}>{ &evidence.name }</button>
                if !evidence.caption.is_empty() {
                    <p class="evidence-caption-text">{ &evidence.caption }</p>
                }
                <p class="evidence-meta">
                    { human_size(evidence.size) }{ " · " }{ &evidence.added_by }{ " · " }
                    { when(evidence.added_at_ms) }
                </p>
                if let Some(text) = state_text {
                    <p class={classes!("upload-state", progress.key())}>{ text }</p>
                }
                if uploading {
                    <progress class="upload-bar" max={evidence.size.max(1).to_string()}
                              value={received.to_string()} aria-hidden="true" />
                }
                if let Some(message) = &*failure {
                    <p class="error" role="alert">{ message }</p>
                }
                <div class="evidence-actions">
                    if let Some((label, testid, onclick)) = pause {
                        <button type="button" class="secondary small" data-testid={testid} {onclick}>
                            { tr(lang, label) }
                        </button>
                    }
                    if *editable {
                        <button type="button" class={classes!("small", if *confirming { "danger" } else { "secondary" })}
                                data-testid="evidence-remove" data-confirm={confirming.to_string()}
                                onclick={remove}>
                            { tr(lang, if *confirming { Msg::ConfirmRemove } else { Msg::Remove }) }
                        </button>
                        if *confirming {
                            <button type="button" class="secondary small" onclick={cancel}>
                                { tr(lang, Msg::Cancel) }
                            </button>
                        }
                    }
                </div>
            </div>
        </li>
    }
}

#[derive(Properties, PartialEq)]
struct ThumbnailProps {
    replica: Replica,
    sha256: String,
    mime: String,
    name: String,
    on_device: bool,
}

/// The image itself (the device copy) or the server's thumbnail, as an object URL: an
/// `<img src>` cannot send the token. Other kinds show their extension.
#[function_component(Thumbnail)]
fn thumbnail(props: &ThumbnailProps) -> Html {
    let url = use_state(|| None::<String>);
    let drawable = matches!(
        props.mime.as_str(),
        "image/jpeg" | "image/png" | "image/webp"
    );
    {
        let (url, uploads) = (url.clone(), props.replica.uploads());
        use_effect_with(
            (props.sha256.clone(), props.on_device, drawable),
            move |(sha256, _, drawable)| {
                let alive = Rc::new(Cell::new(true));
                let made = Rc::new(RefCell::new(None::<String>));
                if *drawable {
                    let (sha256, alive, made) = (sha256.clone(), alive.clone(), made.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let Ok(blob) = uploads.blob(&sha256, true).await else {
                            return; // offline, or not on the server yet: the label shows
                        };
                        let Ok(object_url) = Url::create_object_url_with_blob(&blob) else {
                            return;
                        };
                        if alive.get() {
                            *made.borrow_mut() = Some(object_url.clone());
                            url.set(Some(object_url));
                        } else {
                            let _ = Url::revoke_object_url(&object_url);
                        }
                    });
                }
                move || {
                    alive.set(false);
                    if let Some(object_url) = made.borrow_mut().take() {
                        let _ = Url::revoke_object_url(&object_url);
                    }
                }
            },
        );
    }
    match &*url {
        Some(src) => html! { <img src={src.clone()} alt="" /> },
        None => html! { <span class="file-kind">{ kind_label(&props.name) }</span> },
    }
}

/// Opens a file in a new tab (images, PDF) or downloads it (office files, HEIC): the device
/// copy, else the server's, fetched with the token.
fn open_file(replica: &Replica, evidence: &EvidenceRef, failed: Callback<()>) {
    let inline = matches!(
        evidence.mime.as_str(),
        "image/jpeg" | "image/png" | "image/webp" | "application/pdf"
    );
    // A tab opened after an `.await` is blocked as a pop-up: open it now, fill it later.
    let tab = inline
        .then(|| {
            gloo::utils::window()
                .open_with_url_and_target("", "_blank")
                .ok()
                .flatten()
        })
        .flatten();
    let (uploads, sha256, name) = (
        replica.uploads(),
        evidence.sha256.clone(),
        evidence.name.clone(),
    );
    wasm_bindgen_futures::spawn_local(async move {
        let object_url = match uploads.blob(&sha256, false).await {
            Ok(blob) => Url::create_object_url_with_blob(&blob).ok(),
            Err(_) => None,
        };
        let Some(object_url) = object_url else {
            if let Some(tab) = tab {
                let _ = tab.close();
            }
            failed.emit(());
            return;
        };
        match tab {
            Some(tab) => {
                let _ = tab.location().set_href(&object_url);
            }
            None => download(&object_url, &name),
        }
        gloo::timers::callback::Timeout::new(OPENED_URL_MS, move || {
            let _ = Url::revoke_object_url(&object_url);
        })
        .forget();
    });
}

fn download(url: &str, name: &str) {
    use wasm_bindgen::JsCast;
    let Some(link) = gloo::utils::document()
        .create_element("a")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    else {
        return;
    };
    link.set_href(url);
    link.set_download(name);
    link.click();
}

/// `PDF`, `DOCX`…: what a file without a picture shows.
fn kind_label(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_uppercase())
        .filter(|ext| (1..=5).contains(&ext.chars().count()))
        .unwrap_or_else(|| "FILE".to_owned())
}

fn percent(received: u64, size: u64) -> u64 {
    (received * 100).checked_div(size).unwrap_or(100).min(100)
}
