//! `POST /api/campaigns/{id}/items`: an item added by hand, checked against the campaign and
//! the units, made and stored as the importer makes one.

use super::{LaterJson, Need, existing_campaign, require};
use crate::auth::CurrentUser;
use crate::campaigns;
use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::items::item_summary;
use crate::state::AppState;
use crate::storage::{CampaignRecord, StorageError, UserRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rectify_shared::api::{ItemSummary, NewItem};
use rectify_shared::date::Date;
use rectify_shared::ids::UnitId;
use rectify_shared::model::v2::{self, ItemDocV2};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::Actor;
use rectify_shared::report;
use rectify_shared::status::PublicStatus;

/// `POST /api/campaigns/{id}/items`: a new item, made and stored as the importer makes one.
pub(super) async fn add_item(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: LaterJson<NewItem>,
) -> Result<(StatusCode, Json<ItemSummary>), ApiError> {
    require(&user, Need::Office)?;
    let new = body.read().await?;
    let campaign = existing_campaign(&state, &id).await?;
    let item = checked_item(&state, &campaign, &user, new).await?;
    let storage = state.storage.as_ref();
    let add = campaigns::add_item(storage, &campaign, &item, user.username.as_str());
    // A new area changes the campaign's document, which may be open on sync connections.
    let added = if campaigns::area_is_new(storage, &campaign, item.area_no).await? {
        let added = state.sync.write_beside(add).await;
        state.sync.refresh(&[campaign.id]).await;
        added
    } else {
        add.await
    };
    let record = match added {
        Ok(record) => record,
        // Someone added the same key meanwhile (the index keeps keys unique per campaign).
        Err(err) if is_conflict(&err) => return Err(key_taken(&item.key)),
        Err(err) => return Err(err.into()),
    };
    // Its units and department (and the other office devices) list it now.
    state.sync.announce(&[record.id]).await;
    tracing::info!(by = %user.username, key = %record.key, item = %record.id, "item added");
    let today = Date::in_china(now_ms());
    Ok((
        StatusCode::CREATED,
        Json(item_summary(record, &campaign.id, today)),
    ))
}

fn is_conflict(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<StorageError>(),
        Some(StorageError::Conflict(_))
    )
}

fn key_taken(key: &str) -> ApiError {
    ApiError::Conflict(Said::new(
        format!("本轮巡察已有事项 {key}：请换一个序号，或修改那个事项"),
        format!(
            "item {key} already exists in this campaign: choose another number, or edit that item"
        ),
    ))
}

/// Checks a new item against the campaign and the units, and makes its document value: the
/// importer's item (measures numbered `m1`, `m2` …) with the office's plan applied, which
/// also creates each assigned unit's progress entry.
async fn checked_item(
    state: &AppState,
    campaign: &CampaignRecord,
    user: &UserRecord,
    new: NewItem,
) -> Result<ItemDoc, ApiError> {
    let invalid = |zh: String, en: String| Err(ApiError::Unprocessable(Said::new(zh, en)));
    let storage = state.storage.as_ref();
    let title = new.title.trim();
    if title.is_empty() {
        return invalid(
            "事项的问题表述（标题）是空的：请填写".to_owned(),
            "the item's problem statement (title) is empty: write it".to_owned(),
        );
    }
    if new.area_no == 0 || new.problem_no == 0 || new.sub_no == Some(0) {
        return invalid(
            "方面、问题和子问题的序号都从 1 开始".to_owned(),
            "area, problem and sub-problem numbers start at 1".to_owned(),
        );
    }
    let key = model::item_key(new.area_no, new.problem_no, new.sub_no);
    let problem_key = model::item_key(new.area_no, new.problem_no, None);
    let records = storage.items(&campaign.id).await?;
    if records.iter().any(|r| r.key == key) {
        return Err(key_taken(&key));
    }
    // A problem either is one item or has sub-items (1), (2) …: never both.
    let same_problem = records
        .iter()
        .find(|r| r.key == problem_key || r.key.starts_with(&format!("{problem_key}.")));
    if let Some(other) = same_problem
        && (new.sub_no.is_none() || other.key == problem_key)
    {
        return Err(ApiError::Conflict(Said::new(
            format!(
                "问题 {problem_key} 已有事项 {}：一个问题要么是一个事项，要么分成带序号的子项，不能两者都有",
                other.key
            ),
            format!(
                "problem {problem_key} already has item {}: a problem has either one item or \
                 numbered sub-items, not both",
                other.key
            ),
        )));
    }
    let area_title = match new.area_title.trim() {
        "" => {
            let doc = campaigns::load_document(storage, &campaign.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("campaign {} has no document", campaign.id))?;
            let known = model::CampaignDoc::load(&doc).map_err(anyhow::Error::from)?;
            match known.areas.into_iter().find(|a| a.number == new.area_no) {
                Some(area) => area.title,
                None => {
                    return invalid(
                        format!("第 {} 方面在本轮巡察中是新的：请填写它的标题", new.area_no),
                        format!(
                            "area {} is new in this campaign: give its title (area_title)",
                            new.area_no
                        ),
                    );
                }
            }
        }
        given => given.to_owned(),
    };
    let problem_title = match (new.problem_title.trim(), same_problem) {
        ("", Some(other)) => {
            let doc = campaigns::load_document(storage, &other.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("item {} has no document", other.key))?;
            // The other item may be version 2 (issue #21): the title is the office's in both.
            if v2::is_v2(&doc) {
                ItemDocV2::load(&doc)
                    .map_err(anyhow::Error::from)?
                    .problem_title
            } else {
                ItemDoc::load(&doc)
                    .map_err(anyhow::Error::from)?
                    .problem_title
            }
        }
        ("", None) => {
            return invalid(
                format!("问题 {problem_key} 是新的：请填写它的标题"),
                format!("problem {problem_key} is new: give its title (problem_title)"),
            );
        }
        (given, _) => given.to_owned(),
    };

    let units = storage.units().await?;
    let kind_of = |id: &UnitId| units.iter().find(|u| &u.id == id).map(|u| u.kind.as_str());
    let mut assigned: Vec<String> = Vec::new();
    for unit in &new.units {
        if kind_of(unit).is_none() {
            return invalid(
                format!("没有可分配的单位“{unit}”"),
                format!(
                    "there is no unit '{unit}' to assign (the units are listed by GET /api/units)"
                ),
            );
        }
        if !assigned.iter().any(|u| u == unit.as_str()) {
            assigned.push(unit.to_string());
        }
    }
    if let Some(department) = &new.responsible_department {
        match kind_of(department) {
            Some("department") => {}
            Some(kind) => {
                return invalid(
                    format!("“{department}”不是股室：责任部门必须是股室"),
                    format!(
                        "'{department}' is a {kind}, not a department: the responsible department \
                         must be one"
                    ),
                );
            }
            None => {
                return invalid(
                    format!("没有股室“{department}”"),
                    format!(
                        "there is no department '{department}' (the units are listed by GET /api/units)"
                    ),
                );
            }
        }
    }
    let deadline = match new.deadline.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<Date>() {
            Ok(date) => Some(date.to_string()),
            Err(_) => {
                return invalid(
                    format!("整改时限“{text}”不是“年-月-日”格式的日期"),
                    format!("the deadline '{text}' is not a date YYYY-MM-DD"),
                );
            }
        },
    };
    let timing = match new.timing.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(key) => match Timing::from_key(key) {
            Some(timing) => Some(timing),
            None => {
                return invalid(
                    format!("未知的整改时限类型“{key}”：应为 immediate、by_deadline 或 long_term"),
                    format!("unknown timing '{key}': use immediate, by_deadline or long_term"),
                );
            }
        },
    };
    let measures: Vec<String> = new
        .measures
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();

    let area = report::Area {
        number: new.area_no,
        title: area_title,
        problems: Vec::new(),
    };
    let problem = report::Problem {
        number: new.problem_no,
        title: problem_title,
        items: Vec::new(),
    };
    let leaf = report::Item {
        sub: new.sub_no,
        title: title.to_owned(),
        narrative: String::new(),
        status: PublicStatus::InProgress,
        status_wording: None,
        measures,
        document_numbers: Vec::new(),
        dates: Vec::new(),
    };
    let mut item = model::item_from_report(&campaign.id.to_string(), &area, &problem, &leaf);
    let office = EditContext {
        actor: Actor {
            role: user.role,
            unit: user.unit.clone(),
        },
        user: user.username.to_string(),
        now_ms: now_ms(),
    };
    let plan = ItemPlan {
        responsible_leader: new.responsible_leader.trim().to_owned(),
        responsible_department: new.responsible_department.map(|d| d.to_string()),
        units: assigned,
        deadline,
        timing,
    };
    model::apply_to(&mut item, &office, ItemEdit::Plan(plan)).map_err(|err| {
        ApiError::Unprocessable(Said::new(format!("事项无法建立：{err}"), err.to_string()))
    })?;
    Ok(item)
}
