//! The district office's HTTP API (issue #7, "office view"), one module per resource:
//! [`units`], [`accounts`], [`campaigns`] and their ledger and report files, [`import`] of a
//! report from the browser, items added by hand ([`new_item`]), an item's [`history`], and
//! the [`audit`] log.
//! `docs/office-api.md` describes each endpoint.
//!
//! Who may call what is decided in one place, [`require`]; an item's history follows the
//! item policy instead ([`policy::can_read_item`](rectify_shared::policy::can_read_item)), and
//! answers 404 to those who may not read the item, exactly as for an unknown id. Every
//! refusal is an [`ApiError`].

pub mod accounts;
pub mod audit;
pub mod campaigns;
pub mod history;
pub mod import;
pub mod new_item;
pub mod units;

use crate::campaigns::{LedgerFormat, ReportFormat};
use crate::error::{ApiError, Said};
pub use crate::json::{JsonBody, LaterJson};
use crate::state::AppState;
use crate::storage::{CampaignRecord, UserRecord};
use axum::Router;
use axum::routing::{get, patch, post};
use campaigns::Download;
use rectify_shared::ids::DocumentId;
pub use rectify_shared::policy::Need;
use rectify_shared::policy::Role;

/// The longest unit or account display name.
pub const MAX_NAME_CHARS: usize = 100;

/// The office's endpoints, merged into the router (`http::app`).
pub fn routes() -> Router<AppState> {
    let ledger =
        |format| get(move |s, u, p, q| campaigns::download(s, u, p, q, Download::Ledger(format)));
    let report =
        |format| get(move |s, u, p, q| campaigns::download(s, u, p, q, Download::Report(format)));
    Router::new()
        .route("/api/units", get(units::list_units).post(units::save_unit))
        .route(
            "/api/accounts",
            get(accounts::list_accounts).post(accounts::create_account),
        )
        .route("/api/accounts/{username}", patch(accounts::change_account))
        .route(
            "/api/accounts/{username}/password",
            post(accounts::reset_password),
        )
        .route(
            "/api/accounts/{username}/sessions/revoke",
            post(accounts::revoke_sessions),
        )
        .route(
            "/api/accounts/{username}/sessions",
            get(accounts::list_sessions),
        )
        .route(
            "/api/accounts/{username}/sessions/{id}",
            axum::routing::delete(accounts::end_session),
        )
        .route("/api/campaigns", get(campaigns::list_campaigns))
        .route("/api/campaigns/{id}/items", post(new_item::add_item))
        .route(
            "/api/campaigns/{id}/report-text",
            get(campaigns::get_report_text).put(campaigns::put_report_text),
        )
        .route(
            "/api/campaigns/{id}/ledger.xlsx",
            ledger(LedgerFormat::Xlsx),
        )
        .route("/api/campaigns/{id}/ledger.csv", ledger(LedgerFormat::Csv))
        .route(
            "/api/campaigns/{id}/report.docx",
            report(ReportFormat::Docx),
        )
        .route(
            "/api/campaigns/{id}/report.html",
            report(ReportFormat::Html),
        )
        .route("/api/campaigns/{id}/report.txt", report(ReportFormat::Txt))
        .route("/api/import", post(import::import))
        .route("/api/items/{id}/history", get(history::history))
        .route("/api/audit", get(audit::list))
        .route("/api/audit.csv", get(audit::csv))
        .route("/api/audit.xlsx", get(audit::xlsx))
}

/// Refuses (403, saying who may) a caller whose role does not have `needed`; the table of
/// who has what is [`Need`], in `rectify_shared::policy`, shared with the sync gate and the
/// client's pages.
pub fn require(user: &UserRecord, needed: Need) -> Result<(), ApiError> {
    if needed.allows(user.role) {
        return Ok(());
    }
    let (who_zh, who) = match needed {
        Need::Oversee => (
            "领导小组办公室、查看和股室账号",
            "the office (领导小组办公室), viewer and department accounts",
        ),
        Need::ReadAll => (
            "领导小组办公室和查看账号",
            "the office (领导小组办公室) and viewer accounts",
        ),
        Need::LoggedIn | Need::Office => ("领导小组办公室", "the office (领导小组办公室)"),
    };
    let (why_zh, why) = match user.role {
        Role::Viewer => (
            "查看账号能看全部，但不能修改".to_owned(),
            "a viewer account reads everything but changes nothing".to_owned(),
        ),
        role => (
            "该账号只办理自己的事项（见问题清单）；如需此功能请联系领导小组办公室".to_owned(),
            format!(
                "a {} account works on its own items (the item list); ask the office if you need this",
                role.key()
            ),
        ),
    };
    Err(ApiError::Forbidden(Said::new(
        format!("只有{who_zh}能做这件事：{why_zh}"),
        format!("only {who} may do this: {why}"),
    )))
}

/// A display name, trimmed: not empty, at most [`MAX_NAME_CHARS`] characters.
/// `what` names the field, in Chinese and in English.
fn checked_name(name: &str, what: (&str, &str)) -> Result<String, ApiError> {
    let (what_zh, what) = what;
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::Unprocessable(Said::new(
            format!("{what_zh}是空的：请填写"),
            format!("{what} is empty: give one"),
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::Unprocessable(Said::new(
            format!("{what_zh}超过 {MAX_NAME_CHARS} 个字：请缩短"),
            format!("{what} is longer than {MAX_NAME_CHARS} characters: shorten it"),
        )));
    }
    Ok(name.to_owned())
}

/// The campaign `id`, or 404 (also for text that is no document id).
async fn existing_campaign(state: &AppState, id: &str) -> Result<CampaignRecord, ApiError> {
    let missing = || {
        ApiError::NotFound(Said::new(
            format!("没有这一轮巡察（{id}）"),
            format!("there is no campaign '{id}' (the campaigns are listed by GET /api/campaigns)"),
        ))
    };
    let id: DocumentId = id.parse().map_err(|_| missing())?;
    state
        .storage
        .campaigns()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(missing)
}
