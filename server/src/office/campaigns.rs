//! The campaigns, and their ledger (台账) and report as files: built by the same code as
//! `rectify export` and `rectify report` ([`LoadedCampaign::ledger_file`] and
//! [`LoadedCampaign::report_file`]).

use super::{LaterJson, Need, existing_campaign, require};
use crate::auth::CurrentUser;
use crate::campaigns::{self, LedgerFormat, LoadedCampaign, ReportFormat};
use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::evidence::content_disposition;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use rectify_shared::api::{CampaignInfo, ReportText};
use rectify_shared::date::Date;
use rectify_shared::ledger::Headers;
use rectify_shared::model::ReportTextError;

pub(super) async fn list_campaigns(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<CampaignInfo>>, ApiError> {
    require(&user, Need::ReadAll)?;
    let mut out = Vec::new();
    for campaign in state.storage.campaigns().await? {
        let items = state.storage.items(&campaign.id).await?.len();
        out.push(CampaignInfo {
            id: campaign.id.to_string(),
            name: campaign.name,
            items,
            created_at_ms: campaign.created_at_ms,
        });
    }
    Ok(Json(out))
}

/// `GET /api/campaigns/{id}/report-text`: the report's own text (office, viewer).
pub(super) async fn get_report_text(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ReportText>, ApiError> {
    require(&user, Need::ReadAll)?;
    let record = existing_campaign(&state, &id).await?;
    Ok(Json(
        campaigns::report_text(state.storage.as_ref(), &record).await?,
    ))
}

/// `PUT /api/campaigns/{id}/report-text` (office): sets the report's own text; the answer
/// is the text as stored. A date that is not one, or text too long, is 422.
pub(super) async fn put_report_text(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: LaterJson<ReportText>,
) -> Result<Json<ReportText>, ApiError> {
    require(&user, Need::Office)?;
    let text = body.read().await?;
    let record = existing_campaign(&state, &id).await?;
    let storage = state.storage.as_ref();
    // Beside the sync server, as an import is: a campaign document open on a connection
    // is read again from storage after the write, and its peers are sent the change.
    let write = campaigns::edit_report_text(storage, &record, &text, user.username.as_str());
    let written = state.sync.write_beside(write).await;
    state.sync.refresh(&[record.id]).await;
    match written {
        Ok(stored) => {
            tracing::info!(by = %user.username, campaign = %record.id, "report text set");
            Ok(Json(stored))
        }
        Err(err) => match err.downcast_ref::<ReportTextError>() {
            Some(invalid) => Err(ApiError::Unprocessable(Said::new(
                format!("报告文字不符合要求：{invalid}"),
                invalid.to_string(),
            ))),
            None => Err(err.into()),
        },
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Download {
    Ledger(LedgerFormat),
    Report(ReportFormat),
}

/// `GET /api/campaigns/{id}/ledger.*` and `report.*`: built by the same code as
/// `rectify export` and `rectify report`. The CSV ledger's header row is in Chinese unless
/// `?lang=en` asks for the column keys; the HTML report opens in the browser, the other
/// files download.
pub(super) async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    what: Download,
) -> Result<Response, ApiError> {
    require(&user, Need::ReadAll)?;
    let headers = ledger_headers(query.as_deref())?;
    let record = existing_campaign(&state, &id).await?;
    let loaded = campaigns::load_campaign(state.storage.as_ref(), record).await?;
    let (bytes, content_type, name) =
        crate::blocking::cpu(move || build_download(&loaded, what, headers)).await??;
    let disposition = match what {
        Download::Report(ReportFormat::Html) => "inline",
        _ => "attachment",
    };
    let headers = [
        (CONTENT_TYPE, content_type.to_owned()),
        (CONTENT_DISPOSITION, content_disposition(disposition, &name)),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, bytes).into_response())
}

/// The CSV header a download asks for: `lang=en` gives the column keys, `lang=zh` or
/// nothing the Chinese labels; anything else is refused.
fn ledger_headers(query: Option<&str>) -> Result<Headers, ApiError> {
    let mut headers = Headers::Chinese;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        headers = match pair {
            "lang=en" => Headers::Keys,
            "lang=zh" | "lang=zh-CN" => Headers::Chinese,
            other => {
                return Err(ApiError::BadRequest(Said::new(
                    format!("未知参数“{other}”：下载只接受 lang=zh（默认）或 lang=en"),
                    format!(
                        "unknown parameter '{other}': a download takes only lang=zh (the default) \
                         or lang=en"
                    ),
                )));
            }
        };
    }
    Ok(headers)
}

/// The file's bytes, its type and its name: `<campaign>台账-<date>.xlsx`, `<campaign>报告-<date>.docx`.
fn build_download(
    loaded: &LoadedCampaign,
    what: Download,
    headers: Headers,
) -> anyhow::Result<(Vec<u8>, &'static str, String)> {
    let (bytes, content_type, label, extension) = match what {
        Download::Ledger(format) => (
            loaded.ledger_file(format, headers)?,
            format.content_type(),
            "台账",
            format.extension(),
        ),
        Download::Report(format) => (
            loaded.report_file(format)?,
            format.content_type(),
            "报告",
            format.extension(),
        ),
    };
    // The date where the office is (China Standard Time).
    let today = Date::in_china(now_ms());
    let campaign: String = loaded
        .campaign
        .name
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    Ok((
        bytes,
        content_type,
        format!("{campaign}{label}-{today}.{extension}"),
    ))
}
