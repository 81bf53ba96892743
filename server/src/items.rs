//! `GET /api/items`: the items the caller may read, as list entries ([`item_summary`]),
//! each with the unit-work documents (schema version 2) the caller may read of it.

use crate::auth::CurrentUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{ItemRecord, UnitWorkRecord};
use axum::Json;
use axum::extract::State;
use rectify_shared::api::ItemSummary;
use rectify_shared::date::Date;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::policy::{Actor, can_read_item};
use std::collections::BTreeMap;

/// The items the caller may read, in report order; on a version-2 item, the unit-work
/// documents the caller may read (by the index: no document is read).
pub async fn items(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<ItemSummary>>, ApiError> {
    let actor = Actor {
        role: user.role,
        unit: user.unit.clone(),
    };
    let today = Date::in_china(now_ms());
    let mut out = Vec::new();
    for campaign in state.storage.campaigns().await? {
        let mut records = state.storage.items(&campaign.id).await?;
        records.sort_by_key(|r| {
            r.key
                .split('.')
                .map(|n| n.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        });
        let mut works: BTreeMap<DocumentId, Vec<UnitWorkRecord>> = BTreeMap::new();
        for work in state.storage.campaign_unit_works(&campaign.id).await? {
            works.entry(work.item_id).or_default().push(work);
        }
        for record in records {
            if !can_read_item(&actor, &record.units, record.department.as_deref()) {
                continue;
            }
            let readable = readable_work(&actor, works.remove(&record.id).unwrap_or_default());
            let mut summary = item_summary(record, &campaign.id, today);
            summary.unit_work = readable;
            out.push(summary);
        }
    }
    Ok(Json(out))
}

/// The ids of the unit-work documents among `works` that `actor` may read
/// ([`UnitWorkRecord::may_read`]), by unit.
pub fn readable_work(actor: &Actor, works: Vec<UnitWorkRecord>) -> Vec<String> {
    let mut readable: Vec<(String, String)> = works
        .into_iter()
        .filter(|work| work.may_read(actor))
        .map(|work| (work.unit, work.id.to_string()))
        .collect();
    readable.sort();
    readable.into_iter().map(|(_, id)| id).collect()
}

/// The list entry of an item, from its index row (no unit-work documents: see [`items`]). `today` decides whether it is overdue.
pub fn item_summary(record: ItemRecord, campaign: &DocumentId, today: Date) -> ItemSummary {
    let overdue = !record.status.is_done()
        && record
            .deadline
            .as_deref()
            .and_then(|d| d.parse::<Date>().ok())
            .is_some_and(|d| d < today);
    ItemSummary {
        id: record.id.to_string(),
        url: record.id.url(),
        campaign: campaign.to_string(),
        key: record.key,
        title: record.title,
        status: record.status,
        status_wording: record.status.wording().to_owned(),
        units: record.units.into_iter().map(UnitId::new).collect(),
        department: record.department.map(UnitId::new),
        deadline: record.deadline,
        overdue,
        unit_work: Vec::new(),
    }
}
