//! Units (schools, kindergartens, departments): `GET /api/units` for every account,
//! `POST /api/units` to create or rename one (the office).

use super::{LaterJson, Need, checked_name, require};
use crate::accounts;
use crate::auth::CurrentUser;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use crate::storage::UnitRecord;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rectify_shared::api::UnitInfo;

/// The longest unit id.
pub const MAX_UNIT_ID_CHARS: usize = 32;
/// The unit kinds (`units.kind`).
pub const UNIT_KINDS: [&str; 4] = ["school", "kindergarten", "department", "other"];

pub(super) async fn list_units(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<UnitInfo>>, ApiError> {
    require(&user, Need::LoggedIn)?;
    let units = state.storage.units().await?;
    Ok(Json(units.into_iter().map(unit_info).collect()))
}

fn unit_info(unit: UnitRecord) -> UnitInfo {
    UnitInfo {
        id: unit.id,
        name: unit.name,
        kind: unit.kind,
    }
}

/// `POST /api/units`: creates a unit (201) or renames one (200).
pub(super) async fn save_unit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: LaterJson<UnitInfo>,
) -> Result<(StatusCode, Json<UnitInfo>), ApiError> {
    require(&user, Need::Office)?;
    let unit = body.read().await?;
    check_unit_id(unit.id.as_str())?;
    let name = checked_name(&unit.name, ("单位名称", "the unit's name"))?;
    if !UNIT_KINDS.contains(&unit.kind.as_str()) {
        return Err(ApiError::Unprocessable(Said::new(
            format!(
                "未知的单位类型“{}”：应为 {} 之一",
                unit.kind,
                UNIT_KINDS.join("、")
            ),
            format!(
                "unknown unit kind '{}': use one of {}",
                unit.kind,
                UNIT_KINDS.join(", ")
            ),
        )));
    }
    let storage = state.storage.as_ref();
    let mut units = storage.units().await?;
    let existing = units.iter().position(|u| u.id == unit.id);
    let record = UnitRecord {
        id: unit.id,
        name,
        kind: unit.kind,
    };
    // A unit's accounts must still fit it (a department account needs a department).
    if let Some(at) = existing {
        units[at] = record.clone();
        for account in storage.users().await? {
            if account.unit.as_ref() == Some(&record.id) {
                accounts::check_role_unit(account.role, account.unit.as_ref(), &units).map_err(
                    |why| {
                        ApiError::Conflict(Said::new(
                            format!(
                                "账号“{}”属于这个单位，改后就不相符了：{}",
                                account.username, why.zh
                            ),
                            format!(
                                "account '{}' belongs to this unit and would no longer fit it: {}",
                                account.username, why.en
                            ),
                        ))
                    },
                )?;
            }
        }
    }
    storage.upsert_unit(&record).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(unit_info(record))))
}

fn check_unit_id(id: &str) -> Result<(), ApiError> {
    let fits = !id.is_empty()
        && id.len() <= MAX_UNIT_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if fits {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(Said::new(
            format!(
                "“{id}”不能作单位编号：请用 1 到 {MAX_UNIT_ID_CHARS} 个小写字母 a-z、数字、“-”或“_”（如 pszx4）"
            ),
            format!(
                "'{id}' cannot be a unit id: use 1 to {MAX_UNIT_ID_CHARS} lowercase letters a-z, \
                 digits, '-' or '_' (e.g. pszx4)"
            ),
        )))
    }
}
