//! `GET /api/items`: the items the caller may read, as list entries ([`item_summary`]).

use crate::auth::CurrentUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::ItemRecord;
use axum::Json;
use axum::extract::State;
use rectify_shared::api::ItemSummary;
use rectify_shared::date::Date;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::policy::{Actor, can_read_item};

/// The items the caller may read, in report order.
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
        for record in records {
            if !can_read_item(&actor, &record.units, record.department.as_deref()) {
                continue;
            }
            out.push(item_summary(record, &campaign.id, today));
        }
    }
    Ok(Json(out))
}

/// The list entry of an item, from its index row. `today` decides whether it is overdue.
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
    }
}
