//! The always-visible sync status: offline / syncing / all synced / N waiting / error, the
//! evidence files waiting to upload, and when the last full sync was. Tests read
//! `data-state`, `data-pending` and `data-files-pending`.

use crate::context::{AppContext, ReplicaContext};
use crate::i18n::{Msg, tr};
use crate::services::replica::{Link, SyncState};
use crate::state::Action;
use yew::prelude::*;

#[function_component(SyncStatus)]
pub fn sync_status() -> Html {
    let state = use_context::<AppContext>().expect("AppContext is provided by App");
    let replica = use_context::<Option<ReplicaContext>>().flatten();
    let lang = state.lang;
    let Some(ReplicaContext { replica, .. }) = replica else {
        return html! {
            <div class="sync-status" data-testid="sync-status" data-state="offline" data-pending="0"
                 data-files-pending="0" role="status" aria-live="polite">
                { tr(lang, Msg::Loading) }
            </div>
        };
    };
    let sync = replica.sync_state();
    let pending = replica.pending_total();
    let link = replica.link();
    let files_pending = replica.uploads().waiting();
    let label = match sync {
        SyncState::Offline => tr(lang, Msg::StateOffline).to_owned(),
        SyncState::Syncing => tr(lang, Msg::StateSyncing).to_owned(),
        SyncState::Synced => tr(lang, Msg::StateSynced).to_owned(),
        SyncState::Pending => format!("{pending} {}", tr(lang, Msg::StatePending)),
        SyncState::Error => tr(lang, Msg::StateError).to_owned(),
    };
    let detail = match &link {
        Link::Failed(message) => Some(html! { <span class="sync-detail">{ message }</span> }),
        Link::SessionExpired => {
            let onclick = Callback::from(move |_| state.dispatch(Action::LogOut));
            Some(html! {
                <span class="sync-detail">
                    { tr(lang, Msg::SessionExpired) }
                    <button class="link" {onclick}>{ tr(lang, Msg::LogInAgain) }</button>
                </span>
            })
        }
        _ if pending > 0 && sync != SyncState::Pending => Some(
            html! { <span class="sync-detail">{ format!("{pending} {}", tr(lang, Msg::StatePending)) }</span> },
        ),
        _ => None,
    };
    let last = replica
        .last_synced_ms()
        .map(format_time)
        .unwrap_or_else(|| tr(lang, Msg::Never).to_owned());
    html! {
        <div class={classes!("sync-status", sync.key())} data-testid="sync-status"
             data-state={sync.key()} data-pending={pending.to_string()}
             data-files-pending={files_pending.to_string()}
             role="status" aria-live="polite">
            <span class="sync-dot" aria-hidden="true"></span>
            <strong class="sync-label">{ label }</strong>
            { for detail }
            if files_pending > 0 {
                <span class="sync-files">{ format!("{files_pending} {}", tr(lang, Msg::FilesWaiting)) }</span>
            }
            <span class="sync-last">{ tr(lang, Msg::LastSynced) }{ "：" }{ last }</span>
        </div>
    }
}

/// Local time of day, with the date when it is not today: `14:05` or `11-28 14:05`.
fn format_time(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    let now = js_sys::Date::new_0();
    let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    if date.to_date_string() == now.to_date_string() {
        time
    } else {
        format!("{:02}-{:02} {time}", date.get_month() + 1, date.get_date())
    }
}
