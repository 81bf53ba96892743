//! 我的登录设备: every user's own signed-in devices, reached from the top bar. A lost phone
//! is ended here from another device.

use crate::components::session_list::SessionList;
use crate::context::AppContext;
use crate::i18n::{Msg, tr};
use yew::prelude::*;

#[function_component(Devices)]
pub fn devices() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let Some(session) = state.session.clone() else {
        return Html::default();
    };
    let lang = state.lang;
    html! {
        <section class="card" aria-labelledby="devices-title" data-testid="devices-page">
            <h2 id="devices-title" class="section-title">{ tr(lang, Msg::MyDevices) }</h2>
            <p class="hint">{ tr(lang, Msg::MyDevicesHint) }</p>
            <SessionList {lang} token={session.token.clone()} account={None::<String>} may_end=true />
        </section>
    }
}
