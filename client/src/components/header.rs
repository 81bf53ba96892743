//! The top bar: the app's name, the language switch and, when logged in, the signed-in
//! devices (#/devices) and log out. Logging
//! out asks first, on the page: it says what has not reached the server (it stays on the
//! device and syncs at the next login here), and offers to clear this device, which it
//! refuses while anything has not reached the server.

use crate::context::{AppContext, ReplicaContext};
use crate::format;
use crate::i18n::{Msg, tr};
use crate::services::replica::Unsynced;
use crate::state::{Action, Route};
use yew::prelude::*;

#[function_component(Header)]
pub fn header() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let replica = use_context::<Option<ReplicaContext>>().flatten();
    let asking = use_state(|| false);
    let lang = state.lang;
    let switch = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::SwitchLanguage))
    };
    let logout = state.session.as_ref().map(|_| {
        let asking = asking.clone();
        let onclick = Callback::from(move |_| asking.set(!*asking));
        html! {
            <>
                <a class="link" href={Route::Devices.href()} data-testid="my-devices"
                   aria-label={tr(lang, Msg::MyDevices)}>{ tr(lang, Msg::MyDevicesShort) }</a>
                <button class="link" data-testid="log-out" {onclick}>{ tr(lang, Msg::LogOut) }</button>
            </>
        }
    });
    let panel = match (replica, *asking && state.session.is_some()) {
        (Some(ReplicaContext { replica, .. }), true) => {
            let unsynced = replica.unsynced();
            let cancel = {
                let asking = asking.clone();
                Callback::from(move |_| asking.set(false))
            };
            let confirm = {
                let (state, replica, asking) = (state.clone(), replica.clone(), asking.clone());
                Callback::from(move |_| {
                    let (state, replica, asking) = (state.clone(), replica.clone(), asking.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        replica.log_out().await;
                        asking.set(false);
                        state.dispatch(Action::LogOut);
                    });
                })
            };
            let clear = {
                let (state, asking) = (state, asking);
                Callback::from(move |_| {
                    let (state, replica, asking) = (state.clone(), replica.clone(), asking.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        // Refused (nothing deleted) if work arrived meanwhile: the panel
                        // stays and says so.
                        if replica.log_out_and_clear().await.is_ok() {
                            asking.set(false);
                            state.dispatch(Action::LogOut);
                        }
                    });
                })
            };
            Some(logout_panel(lang, unsynced, cancel, confirm, clear))
        }
        _ => None,
    };
    html! {
        <>
            <header class="topbar">
                <h1 class="brand">{ tr(lang, Msg::AppName) }</h1>
                <nav class="topbar-actions">
                    <button class="link" onclick={switch} aria-label={tr(lang, Msg::SwitchLanguage)}
                            lang={lang.other().tag()}>
                        { lang.other().switch_label() }
                    </button>
                    { for logout }
                </nav>
            </header>
            { for panel }
        </>
    }
}

fn logout_panel(
    lang: crate::i18n::Lang,
    unsynced: Unsynced,
    cancel: Callback<MouseEvent>,
    confirm: Callback<MouseEvent>,
    clear: Callback<MouseEvent>,
) -> Html {
    let all_sent = unsynced.is_nothing();
    let waiting = format::waiting_work(lang, unsynced.changes, unsynced.files, unsynced.refused);
    html! {
        <div class="card logout-panel" role="alertdialog" aria-labelledby="logout-title"
             data-testid="log-out-panel" data-pending={unsynced.changes.to_string()}
             data-files={unsynced.files.to_string()}>
            <h2 id="logout-title" class="section-title">{ tr(lang, Msg::LogOutTitle) }</h2>
            if all_sent {
                <p>{ tr(lang, Msg::LogOutAllSent) }</p>
            } else {
                <p class="warning" data-testid="log-out-warning">
                    { tr(lang, Msg::LogOutWaiting) }<strong>{ waiting }</strong>
                </p>
                <p>{ tr(lang, Msg::LogOutKept) }</p>
            }
            <div class="actions">
                <button class="primary" onclick={confirm} data-testid="log-out-confirm">
                    { tr(lang, if all_sent { Msg::LogOutConfirm } else { Msg::LogOutAnyway }) }
                </button>
                <button class="secondary" onclick={cancel} data-testid="log-out-cancel">
                    { tr(lang, Msg::Cancel) }
                </button>
            </div>
            if all_sent {
                <button class="link danger" onclick={clear} data-testid="log-out-clear">
                    { tr(lang, Msg::LogOutClear) }
                </button>
            } else {
                <p class="muted" data-testid="log-out-cannot-clear">{ tr(lang, Msg::LogOutCannotClear) }</p>
            }
        </div>
    }
}
