//! `GET /api/items/{id}/history`: an item's changes as readable lines
//! ([`rectify_shared::history::timeline`]) with who made them and when the server got them.
//! Who made a change is the account the server recorded as its sender
//! ([`crate::storage::ChangeArrival`]), never only the commit message the client wrote.
//! A version-2 item's history (issue #21) merges the item's lines with those of the
//! unit-work documents the caller may read ([`history::timeline_v2`]).

use crate::auth::CurrentUser;
use crate::campaigns;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use crate::storage::ChangeArrival;
use automerge::ChangeHash;
use axum::Json;
use axum::extract::{Path, State};
use rectify_shared::api::ItemHistory;
use rectify_shared::history::{self, Recorded, V2Document};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::v2;
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
    // A version-2 item (issue #21): with the unit-work documents the caller may read (a
    // school its own; the department, the office and viewers every unit's).
    let mut works = Vec::new();
    if v2::is_v2(&doc) {
        for work in storage.unit_works(&doc_id).await? {
            if !work.may_read(&actor) {
                continue;
            }
            let Some(work_doc) = campaigns::load_document(storage, &work.id).await? else {
                continue;
            };
            works.push((work_doc, storage.change_arrivals(&work.id).await?));
        }
    }
    let arrivals = storage.change_arrivals(&doc_id).await?;
    let mut entries = crate::blocking::cpu(move || {
        if !v2::is_v2(&doc) {
            return history::timeline(&doc, &recorded(&arrivals));
        }
        let item_recorded = recorded(&arrivals);
        let work_recorded: Vec<_> = works.iter().map(|(_, a)| recorded(a)).collect();
        let work_docs: Vec<V2Document<'_>> = (works.iter().zip(&work_recorded))
            .map(|((doc, _), recorded)| V2Document { doc, recorded })
            .collect();
        let item = V2Document {
            doc: &doc,
            recorded: &item_recorded,
        };
        history::timeline_v2(&item, &work_docs)
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

/// What the server recorded of each change of a document, from its arrivals.
fn recorded(
    arrivals: &HashMap<String, ChangeArrival>,
) -> impl Fn(&ChangeHash) -> Option<Recorded> + '_ {
    move |hash| {
        arrivals.get(&hash.to_string()).map(|arrival| Recorded {
            received_ms: arrival.received_at_ms,
            sender: arrival.sent_by.as_ref().map(|u| u.as_str().to_owned()),
        })
    }
}
