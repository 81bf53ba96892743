//! `GET /api/items/{id}/history`: an item's changes as readable lines
//! ([`rectify_shared::history::timeline`]) with who made them and when the server got them.
//! Who made a change is the account the server recorded as its sender
//! ([`crate::storage::ChangeArrival`]), never only the commit message the client wrote.

use crate::auth::CurrentUser;
use crate::campaigns;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use rectify_shared::api::ItemHistory;
use rectify_shared::history::Recorded;
use rectify_shared::ids::DocumentId;
use rectify_shared::policy::{self, Actor};
use std::collections::HashMap;

/// `GET /api/items/{id}/history`: for whoever may read the item; 404 for everyone else, as
/// for an id that does not exist, so the answer does not tell that it exists.
pub(super) async fn history(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ItemHistory>, ApiError> {
    let missing = || {
        ApiError::NotFound(Said::new(
            "没有你可以查看的这个事项",
            format!("there is no item '{id}' you may read"),
        ))
    };
    let doc_id: DocumentId = id.parse().map_err(|_| missing())?;
    let storage = state.storage.as_ref();
    let record = storage.item(&doc_id).await?.ok_or_else(missing)?;
    let actor = Actor {
        role: user.role,
        unit: user.unit.clone(),
    };
    if !policy::can_read_item(&actor, &record.units, record.department.as_deref()) {
        return Err(missing());
    }
    let doc = campaigns::load_document(storage, &doc_id)
        .await?
        .ok_or_else(missing)?;
    let arrivals = storage.change_arrivals(&doc_id).await?;
    let mut entries = crate::blocking::cpu(move || {
        rectify_shared::history::timeline(&doc, &|hash| {
            arrivals.get(&hash.to_string()).map(|arrival| Recorded {
                received_ms: arrival.received_at_ms,
                sender: arrival.sent_by.as_ref().map(|u| u.as_str().to_owned()),
            })
        })
    })
    .await?;
    let names: HashMap<String, String> = storage
        .users()
        .await?
        .into_iter()
        .map(|u| (u.username.0, u.display_name))
        .collect();
    for entry in &mut entries {
        entry.display_name = entry
            .user
            .as_ref()
            .and_then(|user| names.get(user).cloned());
    }
    Ok(Json(ItemHistory { entries }))
}
