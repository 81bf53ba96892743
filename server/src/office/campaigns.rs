//! The campaigns, and their ledger (台账) and report as files: built by the same code as
//! `rectify export` and `rectify report` ([`LoadedCampaign::ledger_file`] and
//! [`LoadedCampaign::report_file`]).

use super::{Need, existing_campaign, require};
use crate::auth::CurrentUser;
use crate::campaigns::{self, LedgerFormat, LoadedCampaign, ReportFormat};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::evidence::content_disposition;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use rectify_shared::api::CampaignInfo;
use rectify_shared::date::Date;

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

#[derive(Debug, Clone, Copy)]
pub(super) enum Download {
    Ledger(LedgerFormat),
    Report(ReportFormat),
}

/// `GET /api/campaigns/{id}/ledger.*` and `report.*`: built by the same code as
/// `rectify export` and `rectify report`.
pub(super) async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    what: Download,
) -> Result<Response, ApiError> {
    require(&user, Need::ReadAll)?;
    let record = existing_campaign(&state, &id).await?;
    let loaded = campaigns::load_campaign(state.storage.as_ref(), record).await?;
    let (bytes, content_type, name) =
        crate::blocking::cpu(move || build_download(&loaded, what)).await??;
    let headers = [
        (CONTENT_TYPE, content_type.to_owned()),
        (
            CONTENT_DISPOSITION,
            content_disposition("attachment", &name),
        ),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, bytes).into_response())
}

/// The file's bytes, its type and its name: `<campaign>台账-<date>.xlsx`, `<campaign>报告-<date>.docx`.
fn build_download(
    loaded: &LoadedCampaign,
    what: Download,
) -> anyhow::Result<(Vec<u8>, &'static str, String)> {
    let (bytes, content_type, label, extension) = match what {
        Download::Ledger(format) => (
            loaded.ledger_file(format)?,
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
    let today = Date::from_unix_millis(now_ms() + 8 * 3_600_000);
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
