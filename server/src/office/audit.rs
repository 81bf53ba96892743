//! `GET /api/audit`, `GET /api/audit.csv` and `GET /api/audit.xlsx`: the audit log ([`crate::audit`]) for the
//! office and viewers, filtered and paged. There is no route that changes it.

use crate::audit::action;
use crate::auth::CurrentUser;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use crate::storage::{AuditQuery, AuditRecord, Storage};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rectify_shared::api::{AuditEntry, AuditPage};
use rectify_shared::date::{CHINA_OFFSET_MS, Date};
use rectify_shared::ids::{DocumentId, Username};
use serde::Deserialize;
use std::collections::HashMap;

use super::{Need, require};

/// The most entries one page holds (`limit`), and the default.
pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 100;
/// The most rows one CSV export holds (newest first).
pub const MAX_EXPORT: u32 = 100_000;

/// The filters of `GET /api/audit` and `/api/audit.csv`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Only this account's actions.
    account: Option<String>,
    /// Only this action (one of [`action::ALL`]).
    action: Option<String>,
    /// From this time on (Unix ms, inclusive).
    from: Option<i64>,
    /// Before this time (Unix ms, exclusive).
    to: Option<i64>,
    /// The next page: entries older than this entry id (a page's `next_before`).
    before: Option<i64>,
    /// How many entries (at most [`MAX_PAGE`]).
    limit: Option<u32>,
}

impl AuditFilter {
    fn query(&self, limit: u32) -> Result<AuditQuery, ApiError> {
        if let Some(action) = &self.action
            && !action::ALL.contains(&action.as_str())
        {
            return Err(ApiError::BadRequest(Said::new(
                format!("没有“{action}”这种操作；操作有：{}", action::ALL.join("、")),
                format!(
                    "there is no action '{action}'; the actions are: {}",
                    action::ALL.join(", ")
                ),
            )));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(ApiError::BadRequest(Said::new(
                "起始日期要早于截止日期",
                format!("from ({from}) must be before to ({to})"),
            )));
        }
        Ok(AuditQuery {
            account: self.account.clone().map(Username::new),
            action: self.action.clone(),
            from_ms: self.from,
            to_ms: self.to,
            before_id: self.before,
            limit,
        })
    }
}

fn filter(
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<AuditFilter, ApiError> {
    query.map(|Query(f)| f).map_err(|err| {
        ApiError::BadRequest(Said::new(
            format!(
                "{}；筛选条件有 account、action、from 和 to（Unix 毫秒）、before（记录编号）和 limit",
                err.body_text()
            ),
            format!(
                "{}; the filters are account, action, from and to (Unix ms), before (an entry id) and limit",
                err.body_text()
            ),
        ))
    })
}

/// What a person knows each document named by `records` by, keyed by its id: an item's key
/// and title (`7.2 食堂…`), a campaign's name. Read from the index when the log is listed
/// rather than written into each entry: entries written before names were shown get them
/// too, no writer (sync, an import, the command line) has to look them up inside its
/// transaction, and an item renamed since reads as the office now knows it. The index is
/// small (one row per item), so reading all of it is cheaper than one query per entry.
async fn document_names(
    storage: &dyn Storage,
    records: &[AuditRecord],
) -> Result<HashMap<String, String>, ApiError> {
    let mut names = HashMap::new();
    if !records
        .iter()
        .any(|r| r.target.parse::<DocumentId>().is_ok())
    {
        return Ok(names);
    }
    for campaign in storage.campaigns().await? {
        for item in storage.items(&campaign.id).await? {
            names.insert(item.id.to_string(), format!("{} {}", item.key, item.title));
        }
        names.insert(campaign.id.to_string(), campaign.name);
    }
    Ok(names)
}

fn to_api(record: AuditRecord, names: &HashMap<String, String>) -> AuditEntry {
    AuditEntry {
        id: record.id,
        at_ms: record.at_ms,
        account: record.account.as_str().to_owned(),
        action: record.action,
        target_name: names.get(&record.target).cloned(),
        target: record.target,
        detail: record.detail,
    }
}

/// `GET /api/audit`: newest first, a page at a time; office and viewers.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    require(&user, Need::ReadAll)?;
    let filter = filter(query)?;
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(Said::new(
            format!("limit 应在 1 到 {MAX_PAGE} 之间，而不是 {limit}"),
            format!("limit must be between 1 and {MAX_PAGE}, not {limit}"),
        )));
    }
    let records = state.storage.audit_log(&filter.query(limit)?).await?;
    let next_before = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let names = document_names(state.storage.as_ref(), &records).await?;
    Ok(Json(AuditPage {
        entries: records.into_iter().map(|r| to_api(r, &names)).collect(),
        next_before,
    }))
}

/// `GET /api/audit.csv`: the same filters, every matching entry (newest first, at most
/// [`MAX_EXPORT`]), as CSV with a byte-order mark for Excel.
pub async fn csv(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require(&user, Need::ReadAll)?;
    let mut out = String::from("\u{feff}");
    rectify_shared::ledger::push_csv_line(&mut out, &EXPORT_COLUMNS.map(str::to_owned));
    for row in export_rows(&state, query).await? {
        rectify_shared::ledger::push_csv_line(&mut out, &row);
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// The columns of both exports, in order: `time` for people (the time in China, UTC+8, the
/// zone of every date the app shows), `at_ms` for programs.
/// `target_name` is what a person knows a document `target` by (see [`document_names`]).
const EXPORT_COLUMNS: [&str; 8] = [
    "id",
    "time (Asia/Shanghai)",
    "at_ms",
    "account",
    "action",
    "target",
    "target_name",
    "detail",
];

/// A Unix time in ms as the time in China, to the second: `2026-12-07 14:03:22`.
fn china_time(at_ms: i64) -> String {
    let local = at_ms + CHINA_OFFSET_MS;
    let date = Date::from_unix_millis(local);
    let seconds = local.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.year,
        date.month,
        date.day,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The rows of an export (CSV or XLSX): every entry the filter matches, newest first, at
/// most [`MAX_EXPORT`].
async fn export_rows(
    state: &AppState,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Vec<Vec<String>>, ApiError> {
    let filter = filter(query)?;
    let records = state.storage.audit_log(&filter.query(MAX_EXPORT)?).await?;
    let names = document_names(state.storage.as_ref(), &records).await?;
    Ok(records
        .into_iter()
        .map(|r| {
            let name = names.get(&r.target).cloned().unwrap_or_default();
            vec![
                r.id.to_string(),
                china_time(r.at_ms),
                r.at_ms.to_string(),
                r.account.as_str().to_owned(),
                r.action,
                r.target,
                name,
                r.detail,
            ]
        })
        .collect())
}

/// `GET /api/audit.xlsx`: what [`csv`] gives, as an Excel workbook (one sheet, 审计日志).
pub async fn xlsx(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require(&user, Need::ReadAll)?;
    let rows = export_rows(&state, query).await?;
    let bytes = crate::blocking::cpu(move || {
        crate::office_files::xlsx::write_table("审计日志", &EXPORT_COLUMNS, &rows)
    })
    .await?
    .map_err(|err| ApiError::Internal(anyhow::anyhow!(err)))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_told_in_china_to_the_second() {
        for (at_ms, text) in [
            (0, "1970-01-01 08:00:00"),
            // 2026-12-07 06:03:22.999 UTC.
            (1_796_623_402_999, "2026-12-07 14:03:22"),
            // 16:00 UTC is midnight in China: the next day.
            (1_796_659_200_000, "2026-12-08 00:00:00"),
            (-1, "1970-01-01 07:59:59"),
        ] {
            assert_eq!(super::china_time(at_ms), text, "{at_ms}");
        }
    }
}
