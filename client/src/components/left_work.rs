//! Work other accounts left on this device when they logged out before it reached the
//! server: named on the login page and for whoever logs in next, so that it is never
//! silently stranded on a shared school computer. It syncs when that account logs in here
//! again, and the note goes once it has.

use crate::context::AppContext;
use crate::format;
use crate::i18n::{Lang, Msg, tr};
use crate::services::local::{self, LeftWork};
use std::collections::BTreeMap;
use yew::prelude::*;

#[function_component(LeftWorkNotice)]
pub fn left_work_notice() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let left = use_state(BTreeMap::<String, LeftWork>::new);
    let me = state.session.as_ref().map(|s| s.username.clone());
    {
        let left = left.clone();
        // Read again whenever someone logs in or out.
        use_effect_with(me.clone(), move |_| {
            wasm_bindgen_futures::spawn_local(async move { left.set(local::left_work().await) });
        });
    }
    let lang = state.lang;
    let others: Vec<(&String, &LeftWork)> = left
        .iter()
        .filter(|(user, _)| Some(*user) != me.as_ref())
        .collect();
    if others.is_empty() {
        return Html::default();
    }
    let entries = others.into_iter().map(|(user, work)| {
        html! {
            <li data-testid="left-work-entry" data-user={user.clone()}>
                <strong>{ user }</strong>{ lang.colon() }{ format::waiting_work(lang, work.changes, work.files, 0) }
                { if lang == Lang::Zh { "（" } else { " (" } }{ tr(lang, Msg::LeftAt) }{ " " }{ format::when(work.at_ms as i64) }{ if lang == Lang::Zh { "）" } else { ")" } }
            </li>
        }
    });
    html! {
        <section class="card left-work" role="status" data-testid="left-work">
            <p>{ tr(lang, Msg::LeftOnDevice) }</p>
            <ul class="plain">{ for entries }</ul>
        </section>
    }
}
