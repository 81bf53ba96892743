//! The start page after login.

use crate::app::AppContext;
use crate::i18n::{Msg, role_name, tr};
use yew::prelude::*;

#[function_component(Home)]
pub fn home() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    let Some(session) = &state.session else {
        return Html::default();
    };
    html! {
        <section class="card">
            <p class="whoami" data-testid="whoami">
                { tr(lang, Msg::SignedInAs) }{ "：" }
                <strong>{ &session.display_name }</strong>
                { " · " }{ role_name(lang, session.role) }
            </p>
            <p class="empty">{ tr(lang, Msg::NoItemsYet) }</p>
        </section>
    }
}
