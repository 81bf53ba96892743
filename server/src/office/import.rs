//! `POST /api/import`: a report file sent from the browser, checked with `?dry_run=true`
//! first, then imported all at once, as `rectify import` does.

use super::{Need, require};
use crate::auth::CurrentUser;
use crate::campaigns;
use crate::error::{ApiError, Said};
use crate::office_files::docx::DocxError;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;
use rectify_shared::api::ImportPreview;
use rectify_shared::import::ImportError;

/// The largest report file `POST /api/import` takes.
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

/// `POST /api/import[?dry_run=true]`: the body is the report file itself.
pub(super) async fn import(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportPreview>, ApiError> {
    // The report a refused caller sent is read and dropped by `crate::drain`, so the 403
    // reaches it.
    require(&user, Need::Office)?;
    let dry_run = dry_run(query.as_deref())?;
    let bytes = read_limited(&headers, body, MAX_IMPORT_BYTES).await?;
    let imported = crate::blocking::cpu(move || campaigns::read_report(&bytes))
        .await?
        .map_err(|err| ApiError::Unprocessable(not_imported(&err)))?;
    if dry_run {
        return Ok(Json(campaigns::import_preview(&imported, None)));
    }
    let storage = state.storage.as_ref();
    // The audit entry is written with the import, in its transaction.
    let store = campaigns::import_report(
        storage,
        &imported.report,
        user.username.as_str(),
        &user.username,
    );
    // A report of a campaign that exists may update documents open on sync connections.
    let known = campaigns::natural_key(&imported.report);
    let outcome = if storage
        .campaigns()
        .await?
        .iter()
        .any(|c| c.natural_key == known)
    {
        let outcome = state.sync.write_beside(store).await?;
        // Open pages (the office's dashboard, a school's item) get the new text now.
        state.sync.refresh(&outcome.changed).await;
        outcome
    } else {
        store.await?
    };
    // New items (and items re-planned to other units) reach connected readers now, not at
    // their next reconnect.
    let readers_changed: Vec<_> = outcome
        .created
        .iter()
        .chain(&outcome.changed)
        .copied()
        .collect();
    state.sync.announce(&readers_changed).await;
    tracing::info!(
        by = %user.username,
        campaign = %outcome.campaign,
        created = outcome.items_created,
        updated = outcome.items_updated,
        "report imported"
    );
    Ok(Json(campaigns::import_preview(&imported, Some(&outcome))))
}

/// `dry_run` from the query: absent or `false`/`0` stores, `true`/`1` (or a bare `dry_run`)
/// does not.
fn dry_run(query: Option<&str>) -> Result<bool, ApiError> {
    let mut dry_run = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key != "dry_run" {
            continue;
        }
        dry_run = match value {
            "true" | "1" | "" => true,
            "false" | "0" => false,
            other => {
                return Err(ApiError::BadRequest(Said::new(
                    format!("dry_run={other} 应为 true 或 false"),
                    format!("dry_run={other} is neither true nor false"),
                )));
            }
        };
    }
    Ok(dry_run)
}

/// The whole body, refused with 413 as soon as it is over `limit` bytes.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(Said::new(
            format!(
                "文件超过 {} MiB：一份报告要小得多，请检查是否选对了文件",
                limit / (1024 * 1024)
            ),
            format!(
                "the file is larger than {} MiB: a report is much smaller; check that this is the right file",
                limit / (1024 * 1024)
            ),
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Far too large: answer at once (the connection is cut under the rest of the upload).
    if declared.is_some_and(|len| len > (limit + DRAIN_SLACK) as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut received = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|err| {
            ApiError::BadRequest(Said::new(
                "文件上传中断了，请重新发送",
                format!("the upload broke off ({err}); send the file again"),
            ))
        })?;
        received = received.saturating_add(frame.len());
        if received > limit + DRAIN_SLACK {
            return Err(too_large());
        }
        if received > limit {
            // A little too large: read the rest and drop it, so the client is still reading
            // when the answer comes and sees the 413 instead of a cut connection.
            bytes = Vec::new();
            continue;
        }
        bytes.extend_from_slice(&frame);
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// How far past the limit an upload is still read (and thrown away) before the 413.
const DRAIN_SLACK: usize = 4 * 1024 * 1024;

/// Why a report could not be read, in both languages: the importer's and the .docx reader's
/// own messages, which say what to do.
fn not_imported(err: &anyhow::Error) -> Said {
    let zh = if let Some(err) = err.downcast_ref::<ImportError>() {
        err.in_chinese()
    } else if let Some(err) = err.downcast_ref::<DocxError>() {
        err.in_chinese()
    } else {
        format!("{err:#}")
    };
    Said::new(
        format!("文件未导入：{zh}"),
        format!("the file was not imported: {err:#}"),
    )
}
