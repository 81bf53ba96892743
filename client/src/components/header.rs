//! The top bar: the app's name, the language switch and, when logged in, log out.

use crate::context::AppContext;
use crate::i18n::{Msg, tr};
use crate::state::Action;
use yew::prelude::*;

#[function_component(Header)]
pub fn header() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    let switch = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::SwitchLanguage))
    };
    let logout = state.session.as_ref().map(|_| {
        let state = state.clone();
        let onclick = Callback::from(move |_| state.dispatch(Action::LogOut));
        html! { <button class="link" data-testid="log-out" {onclick}>{ tr(lang, Msg::LogOut) }</button> }
    });
    html! {
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
    }
}
