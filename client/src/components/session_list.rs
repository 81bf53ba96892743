//! A list of signed-in devices (sessions): one's own (`account` `None`, on the devices page)
//! or an account's (the office's accounts page). Each shows its device, when it signed in
//! and when it was last used; 本设备 marks the one in use, which is ended by logging out
//! instead. Ending another asks first, on the card itself.

use crate::format::{describe, when};
use crate::i18n::{Lang, Msg, tr};
use crate::services::api;
use rectify_shared::api::SessionInfo;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SessionListProps {
    pub lang: Lang,
    pub token: String,
    /// Whose sessions: `None` for the caller's own.
    pub account: Option<String>,
    /// Whether the caller may end them (the office on the accounts page; everyone for its
    /// own).
    pub may_end: bool,
    /// Told after a session was ended (the accounts page recounts).
    #[prop_or_default]
    pub on_ended: Callback<()>,
}

#[function_component(SessionList)]
pub fn session_list(props: &SessionListProps) -> Html {
    let lang = props.lang;
    let list = use_state(|| None::<Result<Vec<SessionInfo>, String>>);
    let asking = use_state(|| None::<String>);
    let notice = use_state(|| None::<Result<(), String>>);
    let reload = use_state(|| 0u32);
    {
        let (list, token, account) = (list.clone(), props.token.clone(), props.account.clone());
        use_effect_with((*reload, props.account.clone()), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let answer = api::sessions(&token, account.as_deref()).await;
                list.set(Some(answer.map_err(|e| describe(lang, &e))));
            });
        });
    }
    let end = |id: String| {
        let (token, account) = (props.token.clone(), props.account.clone());
        let (asking, notice, reload) = (asking.clone(), notice.clone(), reload.clone());
        let on_ended = props.on_ended.clone();
        Callback::from(move |_| {
            let (token, account, id) = (token.clone(), account.clone(), id.clone());
            let (asking, notice, reload) = (asking.clone(), notice.clone(), reload.clone());
            let on_ended = on_ended.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let result = api::end_session(&token, account.as_deref(), &id).await;
                if result.is_ok() {
                    on_ended.emit(());
                }
                asking.set(None);
                notice.set(Some(result.map_err(|e| describe(lang, &e))));
                reload.set(*reload + 1);
            });
        })
    };
    let notice_view = match &*notice {
        Some(Ok(())) => html! {
            <p class="ok" role="status" data-testid="session-notice">{ tr(lang, Msg::SessionEnded) }</p>
        },
        Some(Err(text)) => html! { <p class="error" role="alert">{ text }</p> },
        None => Html::default(),
    };
    let body = match &*list {
        None => html! { <p class="empty" role="status">{ tr(lang, Msg::Loading) }</p> },
        Some(Err(err)) => html! { <p class="error" role="alert">{ err }</p> },
        Some(Ok(sessions)) if sessions.is_empty() => {
            html! { <p class="empty">{ tr(lang, Msg::NoSessions) }</p> }
        }
        Some(Ok(sessions)) => html! {
            <ul class="plain sessions" data-testid="sessions">
                { for sessions.iter().map(|s| {
                    let id = s.id.0.clone();
                    let device = if s.device.is_empty() { tr(lang, Msg::UnknownDevice).to_owned() } else { s.device.clone() };
                    let ask = {
                        let (asking, id) = (asking.clone(), id.clone());
                        Callback::from(move |_| asking.set(Some(id.clone())))
                    };
                    let cancel = {
                        let asking = asking.clone();
                        Callback::from(move |_| asking.set(None))
                    };
                    let is_asking = asking.as_deref() == Some(id.as_str());
                    html! {
                        <li class="session" data-testid="session" data-current={s.current.to_string()}>
                            <div class="session-head">
                                <strong class="session-device">{ device }</strong>
                                if s.current {
                                    <span class="badge current" data-testid="this-device">{ tr(lang, Msg::ThisDevice) }</span>
                                }
                            </div>
                            <p class="meta">
                                { tr(lang, Msg::SignedInAt) }{ " " }{ when(s.created_at_ms) }
                                { " · " }{ tr(lang, Msg::LastSeen) }{ " " }{ when(s.last_seen_ms) }
                            </p>
                            if props.may_end && !s.current {
                                if is_asking {
                                    <div class="confirm" role="alertdialog">
                                        <p>{ tr(lang, Msg::EndSessionAsk) }</p>
                                        <div class="actions">
                                            <button class="primary danger" onclick={end(id.clone())} data-testid="end-session-confirm">
                                                { tr(lang, Msg::EndSession) }
                                            </button>
                                            <button class="secondary" onclick={cancel}>{ tr(lang, Msg::Cancel) }</button>
                                        </div>
                                    </div>
                                } else {
                                    <button class="secondary" onclick={ask} data-testid="end-session">{ tr(lang, Msg::EndSession) }</button>
                                }
                            }
                        </li>
                    }
                }) }
            </ul>
        },
    };
    html! {
        <>
            { notice_view }
            { body }
        </>
    }
}
