//! The always-visible sync status: offline / syncing / all synced / N waiting / link
//! unstable / error, the evidence files waiting to upload and their bytes, whether they go
//! on over HTTP while the sync connection is down, when the last full sync was and, while
//! not connected, when the server last answered. In a tab that follows another tab of the
//! same user, all of it is the leading tab's, but for this tab's own failed write to the
//! device. Tests read `data-state`, `data-pending`,
//! `data-files-pending` and `data-tab` (`leader`, `follower`, `alone`).

use crate::context::{AppContext, ReplicaContext};
use crate::format::human_size;
use crate::i18n::{Msg, tr};
use crate::services::replica::{Link, SyncState, TabRole};
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
    let tab = match replica.tab_role() {
        TabRole::Leader => "leader",
        TabRole::Follower => "follower",
        TabRole::Alone => "alone",
    };
    let pending = replica.pending_total();
    let link = replica.link();
    let uploads = replica.uploads();
    let files_pending = uploads.waiting();
    let (bytes_sent, bytes_total) = uploads.bytes_waiting();
    // Uploads are plain HTTP requests: they may carry on while the WebSocket is down.
    let uploading_over_http = uploads.getting_through() && link != Link::Connected;
    let label = match sync {
        SyncState::Offline => tr(lang, Msg::StateOffline).to_owned(),
        SyncState::Syncing => tr(lang, Msg::StateSyncing).to_owned(),
        SyncState::Synced => tr(lang, Msg::StateSynced).to_owned(),
        SyncState::Pending => format!("{pending} {}", tr(lang, Msg::StatePending)),
        SyncState::Unstable => tr(lang, Msg::StateUnstable).to_owned(),
        SyncState::Error => tr(lang, Msg::StateError).to_owned(),
    };
    let detail = match &link {
        Link::Failed(message) => Some(html! { <span class="sync-detail">{ message }</span> }),
        Link::DeviceWriteFailed(message) => Some(html! {
            <span class="sync-detail" data-testid="device-write-failed">
                { tr(lang, Msg::DeviceWriteFailed) }{ message }
            </span>
        }),
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
    // While not connected, when the server last answered anything (to the second: on a
    // link that drops every minute the minute says little).
    let last_contact = replica
        .last_contact_ms()
        .filter(|_| link != Link::Connected)
        .map(|ms| {
            format!(
                "{}{}{}",
                tr(lang, Msg::LastContact),
                tr(lang, Msg::Colon),
                format_time_seconds(ms)
            )
        });
    html! {
        <div class={classes!("sync-status", sync.key())} data-testid="sync-status"
             data-state={sync.key()} data-pending={pending.to_string()}
             data-files-pending={files_pending.to_string()} data-tab={tab}
             role="status" aria-live="polite">
            <span class="sync-dot" aria-hidden="true"></span>
            <strong class="sync-label">{ label }</strong>
            { for detail }
            if files_pending > 0 {
                <span class="sync-files" data-testid="sync-files" data-sent={bytes_sent.to_string()}
                      data-total={bytes_total.to_string()}>
                    { format!("{files_pending} {} · {} / {}", tr(lang, Msg::FilesWaiting),
                              human_size(bytes_sent), human_size(bytes_total)) }
                </span>
            }
            if uploading_over_http {
                <span class="sync-detail" data-testid="sync-over-http">{ tr(lang, Msg::UploadingOverHttp) }</span>
            }
            <span class="sync-last">
                { tr(lang, Msg::LastSynced) }{ tr(lang, Msg::Colon) }{ last }
                if let Some(contact) = last_contact {
                    <span class="sync-contact">{ " · " }{ contact }</span>
                }
            </span>
        </div>
    }
}

/// Local time of day to the second: `14:05:09`, with the date when it is not today.
fn format_time_seconds(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!("{}:{:02}", format_time(ms), date.get_seconds())
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
