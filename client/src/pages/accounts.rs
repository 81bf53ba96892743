//! Units and accounts: the office adds schools and departments, creates accounts, disables
//! them, resets passwords (the new one is shown once), logs out a lost phone (one device or
//! all of an account's, under its row). Viewers
//! see the lists read-only.

use crate::components::session_list::SessionList;
use crate::context::{AppContext, ReplicaContext};
use crate::format::describe;
use crate::i18n::{Lang, Msg, role_name, tr};
use crate::services::api::{self, ApiFailure};
use rectify_shared::api::{AccountChange, AccountInfo, NewAccount, UnitInfo};
use rectify_shared::ids::UnitId;
use rectify_shared::policy::Role;
use std::future::Future;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

const UNIT_KINDS: [(&str, Msg); 4] = [
    ("school", Msg::KindSchool),
    ("kindergarten", Msg::KindKindergarten),
    ("department", Msg::KindDepartment),
    ("other", Msg::KindOther),
];

#[function_component(Accounts)]
pub fn accounts() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let context = use_context::<Option<ReplicaContext>>().flatten();
    let list = use_state(|| None::<Result<Vec<AccountInfo>, String>>);
    let units = use_state(Vec::<UnitInfo>::new);
    let notice = use_state(|| None::<Result<String, String>>);
    let reload = use_state(|| 0u32);
    // The account whose devices are shown under its row.
    let expanded = use_state(|| None::<String>);
    let lang = state.lang;
    let Some(session) = state.session.clone() else {
        return Html::default();
    };
    let office = session.role == Role::Office;
    {
        let (list, units, token) = (list.clone(), units.clone(), session.token.clone());
        use_effect_with(*reload, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(all) = api::units(&token).await {
                    units.set(all);
                }
                list.set(Some(
                    api::accounts(&token).await.map_err(|e| describe(lang, &e)),
                ));
            });
        });
    }
    // Runs a call; on success shows `done(result)` and reloads the lists.
    let act = {
        let (notice, reload, context) = (notice.clone(), reload.clone(), context);
        move |call: std::pin::Pin<Box<dyn Future<Output = Result<String, ApiFailure>>>>| {
            let (notice, reload, context) = (notice.clone(), reload.clone(), context.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let result = call.await;
                if result.is_ok() {
                    reload.set(*reload + 1);
                    if let Some(c) = &context {
                        c.replica.refresh();
                    }
                }
                notice.set(Some(result.map_err(|e| describe(lang, &e))));
            });
        }
    };
    let unit_name = |id: &Option<UnitId>| {
        id.as_ref().map_or_else(String::new, |id| {
            units
                .iter()
                .find(|u| &u.id == id)
                .map_or_else(|| id.0.clone(), |u| u.name.clone())
        })
    };
    // On a phone each account is a card: each value says what it is (`table.cards`).
    let label = |msg: Msg| format!("{}{}", tr(lang, msg), lang.colon());
    let rows = match &*list {
        None => html! { <p class="empty" role="status">{ tr(lang, Msg::Loading) }</p> },
        Some(Err(err)) => html! { <p class="error" role="alert">{ err }</p> },
        Some(Ok(accounts)) => html! {
            <div class="table-wrap">
                <table class="grid cards" data-testid="accounts">
                    <thead><tr>
                        <th>{ tr(lang, Msg::Username) }</th>
                        <th>{ tr(lang, Msg::Name) }</th>
                        <th>{ tr(lang, Msg::Role) }</th>
                        <th>{ tr(lang, Msg::Unit) }</th>
                        <th class="num">{ tr(lang, Msg::Devices) }</th>
                        if office { <th>{ tr(lang, Msg::Actions) }</th> }
                    </tr></thead>
                    <tbody>
                        { for accounts.iter().map(|a| {
                            let user = a.username.0.clone();
                            let token = session.token.clone();
                            let toggle = {
                                let (act, user, token, disabled) = (act.clone(), user.clone(), token.clone(), a.disabled);
                                Callback::from(move |_| {
                                    let (user, token) = (user.clone(), token.clone());
                                    act(Box::pin(async move {
                                        let change = AccountChange { disabled: Some(!disabled), ..AccountChange::default() };
                                        api::change_account(&token, &user, &change).await
                                            .map(|a| format!("{} {}", a.username.0, tr(lang, if a.disabled { Msg::Disabled } else { Msg::Enabled })))
                                    }));
                                })
                            };
                            let reset = {
                                let (act, user, token) = (act.clone(), user.clone(), token.clone());
                                Callback::from(move |_| {
                                    let (user, token) = (user.clone(), token.clone());
                                    act(Box::pin(async move {
                                        api::reset_password(&token, &user).await.map(|created| {
                                            format!("{} {}：{}", created.account.username.0, tr(lang, Msg::NewPassword),
                                                created.password.unwrap_or_default())
                                        })
                                    }));
                                })
                            };
                            let revoke = {
                                let (act, user, token) = (act.clone(), user.clone(), token.clone());
                                Callback::from(move |_| {
                                    let (user, token) = (user.clone(), token.clone());
                                    act(Box::pin(async move {
                                        api::revoke_sessions(&token, &user).await
                                            .map(|r| format!("{user}：{} {}", r.revoked, tr(lang, Msg::DevicesLoggedOut)))
                                    }));
                                })
                            };
                            let is_me = user == session.username;
                            let shown = expanded.as_deref() == Some(user.as_str());
                            let toggle_devices = {
                                let (expanded, user) = (expanded.clone(), user.clone());
                                Callback::from(move |_| expanded.set((!shown).then(|| user.clone())))
                            };
                            html! {
                                <>
                                <tr data-username={user.clone()} data-disabled={a.disabled.to_string()}
                                    class={classes!(a.disabled.then_some("disabled"))}>
                                    <td class="name">{ &user }</td>
                                    <td class="name" data-label={label(Msg::Name)}>{ &a.display_name }</td>
                                    <td class="name" data-label={label(Msg::Role)}>{ role_name(lang, a.role) }</td>
                                    <td class="name" data-label={label(Msg::Unit)}>{ unit_name(&a.unit) }</td>
                                    <td class="num" data-label={label(Msg::Devices)}>
                                        { a.active_sessions }{ " " }
                                        <button class="link" onclick={toggle_devices} data-testid="show-sessions"
                                                aria-expanded={shown.to_string()}>
                                            { tr(lang, if shown { Msg::HideSessions } else { Msg::ShowSessions }) }
                                        </button>
                                    </td>
                                    if office {
                                        <td class="row-actions">
                                            if !is_me {
                                                <button class="link" onclick={toggle} data-testid="toggle-account">
                                                    { tr(lang, if a.disabled { Msg::Enable } else { Msg::Disable }) }
                                                </button>
                                            }
                                            <button class="link" onclick={reset} data-testid="reset-password">{ tr(lang, Msg::ResetPassword) }</button>
                                            <button class="link" onclick={revoke} data-testid="revoke-sessions">{ tr(lang, Msg::LogOutDevices) }</button>
                                        </td>
                                    }
                                </tr>
                                if shown {
                                    <tr class="sessions-row" data-testid="account-sessions">
                                        <td colspan={if office { "6" } else { "5" }}>
                                            <SessionList {lang} token={session.token.clone()}
                                                         account={Some(user.clone())} may_end={office}
                                                         on_ended={{
                                                             let reload = reload.clone();
                                                             Callback::from(move |()| reload.set(*reload + 1))
                                                         }} />
                                        </td>
                                    </tr>
                                }
                                </>
                            }
                        }) }
                    </tbody>
                </table>
            </div>
        },
    };
    let notice_view = match &*notice {
        Some(Ok(text)) => {
            html! { <p class="ok card" role="status" data-testid="account-notice">{ text }</p> }
        }
        Some(Err(text)) => {
            html! { <p class="error" role="alert" data-testid="account-error">{ text }</p> }
        }
        None => Html::default(),
    };
    html! {
        <>
            { notice_view }
            <section class="card" aria-labelledby="accounts-title">
                <h2 id="accounts-title" class="section-title">{ tr(lang, Msg::NavAccounts) }</h2>
                { rows }
            </section>
            if office {
                <NewAccountForm {lang} units={(*units).clone()} on_submit={{
                    let (act, token) = (act.clone(), session.token.clone());
                    Callback::from(move |body: NewAccount| {
                        let token = token.clone();
                        act(Box::pin(async move {
                            api::create_account(&token, &body).await.map(|created| match created.password {
                                Some(password) => format!("{} {}：{password}", created.account.username.0, tr(lang, Msg::NewPassword)),
                                None => format!("{} {}", created.account.username.0, tr(lang, Msg::Created)),
                            })
                        }));
                    })
                }} />
            }
            <section class="card" aria-labelledby="units-title">
                <h2 id="units-title" class="section-title">{ tr(lang, Msg::UnitsTitle) }<span class="count">{ units.len() }</span></h2>
                <ul class="plain list" data-testid="units">
                    { for units.iter().map(|u| html! {
                        <li>{ &u.name }<span class="meta">{ " · " }{ &u.id.0 }{ " · " }{ kind_name(lang, &u.kind) }</span></li>
                    }) }
                </ul>
                if office {
                    <NewUnitForm {lang} on_submit={{
                        let (act, token) = (act.clone(), session.token.clone());
                        Callback::from(move |unit: UnitInfo| {
                            let token = token.clone();
                            act(Box::pin(async move {
                                api::save_unit(&token, &unit).await.map(|u| format!("{} {}", u.name, tr(lang, Msg::Saved)))
                            }));
                        })
                    }} />
                }
            </section>
        </>
    }
}

fn kind_name(lang: Lang, kind: &str) -> &'static str {
    UNIT_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, label)| tr(lang, *label))
}

/// A form field's value (an input or a select), trimmed.
pub(crate) fn value(node: &NodeRef) -> String {
    node.cast::<HtmlInputElement>()
        .map(|i| i.value())
        .or_else(|| node.cast::<HtmlSelectElement>().map(|s| s.value()))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[derive(Properties, PartialEq)]
struct NewAccountProps {
    lang: Lang,
    units: Vec<UnitInfo>,
    on_submit: Callback<NewAccount>,
}

#[function_component(NewAccountForm)]
fn new_account_form(props: &NewAccountProps) -> Html {
    let lang = props.lang;
    let (username, name, role, unit) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    let onsubmit = {
        let (username, name, role, unit, on_submit) = (
            username.clone(),
            name.clone(),
            role.clone(),
            unit.clone(),
            props.on_submit.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let role = Role::from_key(&value(&role)).unwrap_or(Role::Unit);
            on_submit.emit(NewAccount {
                username: value(&username),
                display_name: value(&name),
                role,
                unit: Some(value(&unit))
                    .filter(|u| !u.is_empty() && role.needs_unit())
                    .map(UnitId),
                password: None,
            });
        })
    };
    html! {
        <section class="card" aria-labelledby="new-account-title">
            <h2 id="new-account-title" class="section-title">{ tr(lang, Msg::NewAccount) }</h2>
            <form {onsubmit} data-testid="new-account">
                <label><span>{ tr(lang, Msg::Username) }</span><input ref={username} required=true autocomplete="off" /></label>
                <label><span>{ tr(lang, Msg::Name) }</span><input ref={name} required=true /></label>
                <label><span>{ tr(lang, Msg::Role) }</span>
                    <select ref={role}>
                        { for Role::ALL.into_iter().map(|r| html! { <option value={r.key()} selected={r == Role::Unit}>{ role_name(lang, r) }</option> }) }
                    </select></label>
                <label><span>{ tr(lang, Msg::Unit) }</span>
                    <select ref={unit}>
                        <option value="" selected=true>{ "—" }</option>
                        { for props.units.iter().map(|u| html! { <option value={u.id.0.clone()}>{ &u.name }</option> }) }
                    </select></label>
                <p class="hint">{ tr(lang, Msg::PasswordGenerated) }</p>
                <button type="submit" class="primary">{ tr(lang, Msg::Create) }</button>
            </form>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct NewUnitProps {
    lang: Lang,
    on_submit: Callback<UnitInfo>,
}

#[function_component(NewUnitForm)]
fn new_unit_form(props: &NewUnitProps) -> Html {
    let lang = props.lang;
    let (id, name, kind) = (use_node_ref(), use_node_ref(), use_node_ref());
    let onsubmit = {
        let (id, name, kind, on_submit) = (
            id.clone(),
            name.clone(),
            kind.clone(),
            props.on_submit.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            on_submit.emit(UnitInfo {
                id: UnitId(value(&id)),
                name: value(&name),
                kind: value(&kind),
            });
        })
    };
    html! {
        <form class="inline-form" {onsubmit} data-testid="new-unit">
            <h3 class="subtitle">{ tr(lang, Msg::NewUnit) }</h3>
            <label><span>{ tr(lang, Msg::UnitId) }</span><input ref={id} required=true pattern="[a-z0-9_-]{1,32}" /></label>
            <label><span>{ tr(lang, Msg::Name) }</span><input ref={name} required=true /></label>
            <label><span>{ tr(lang, Msg::Kind) }</span>
                <select ref={kind}>
                    { for UNIT_KINDS.into_iter().map(|(k, label)| html! { <option value={k} selected={k == "school"}>{ tr(lang, label) }</option> }) }
                </select></label>
            <button type="submit" class="secondary">{ tr(lang, Msg::Save) }</button>
        </form>
    }
}
