//! The root component.

use crate::components::header::Header;
use crate::pages::{home::Home, login::Login};
use crate::state::AppState;
use yew::prelude::*;

/// The app state and its dispatcher, available to every component.
pub type AppContext = UseReducerHandle<AppState>;

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(AppState::load);
    {
        let lang = state.lang;
        use_effect_with(lang, move |lang| {
            if let Some(root) = gloo::utils::document().document_element() {
                let _ = root.set_attribute("lang", lang.tag());
            }
        });
    }
    let page = if state.session.is_some() {
        html! { <Home /> }
    } else {
        html! { <Login /> }
    };
    html! {
        <ContextProvider<AppContext> context={state}>
            <Header />
            <main class="page">{ page }</main>
        </ContextProvider<AppContext>>
    }
}
