//! The login page.

use crate::context::AppContext;
use crate::format::describe;
use crate::i18n::{Msg, tr};
use crate::services::api::{self, ApiFailure};
use crate::state::Action;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[function_component(Login)]
pub fn login() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let lang = state.lang;
    let username = use_node_ref();
    let password = use_node_ref();
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);

    let onsubmit = {
        let (username, password, busy, error, state) = (
            username.clone(),
            password.clone(),
            busy.clone(),
            error.clone(),
            state,
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let value = |node: &NodeRef| {
                node.cast::<HtmlInputElement>()
                    .map(|input| input.value())
                    .unwrap_or_default()
            };
            let (user, pass) = (value(&username), value(&password));
            let (busy, error, state) = (busy.clone(), error.clone(), state.clone());
            busy.set(true);
            error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                match api::login(user, pass).await {
                    Ok(login) => state.dispatch(Action::LoggedIn(login.into())),
                    Err(ApiFailure::Refused { status: 401, .. }) => {
                        error.set(Some(tr(state.lang, Msg::LoginFailed).to_owned()));
                    }
                    Err(failure) => error.set(Some(describe(state.lang, &failure))),
                }
                busy.set(false);
            });
        })
    };

    html! {
        <section class="card login" aria-labelledby="login-title">
            <h2 id="login-title">{ tr(lang, Msg::LogIn) }</h2>
            <p class="tagline">{ tr(lang, Msg::AppTagline) }</p>
            <form {onsubmit}>
                <label>
                    <span>{ tr(lang, Msg::Username) }</span>
                    <input ref={username} name="username" autocomplete="username" required=true
                           autocapitalize="none" spellcheck="false" />
                </label>
                <label>
                    <span>{ tr(lang, Msg::Password) }</span>
                    <input ref={password} name="password" type="password"
                           autocomplete="current-password" required=true />
                </label>
                if let Some(message) = &*error {
                    <p class="error" role="alert">{ message }</p>
                }
                <button type="submit" class="primary" disabled={*busy}>
                    { if *busy { tr(lang, Msg::LoggingIn) } else { tr(lang, Msg::LogIn) } }
                </button>
            </form>
        </section>
    }
}
