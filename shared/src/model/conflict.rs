//! Values that could not merge. Two people who set a unit's status at the same time (one of
//! them offline) both "win" in Automerge: it keeps both values and shows one. The UI shows
//! every value and who set it, so nobody is surprised by a status they never chose.

use crate::workflow::UnitStatus;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};

/// One of several concurrent values of a unit's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusClaim {
    pub status: UnitStatus,
    /// The user who set it, from the change's commit message (`None` for a foreign client).
    pub by: Option<String>,
}

/// The concurrent values of `unit`'s status on an item, or nothing when there is one value.
pub fn status_conflicts(doc: &mut AutoCommit, unit: &str) -> Vec<StatusClaim> {
    let Some(entry) = map_at(doc, &ROOT, "progress").and_then(|p| map_at(doc, &p, unit)) else {
        return Vec::new();
    };
    let values = doc.get_all(&entry, "status").unwrap_or_default();
    if values.len() < 2 {
        return Vec::new();
    }
    let statuses: Vec<(Option<UnitStatus>, ObjId)> = values
        .into_iter()
        .map(|(value, op)| {
            let status = match value {
                Value::Scalar(s) => s.as_str().and_then(UnitStatus::from_key),
                _ => None,
            };
            (status, op)
        })
        .collect();
    let mut claims: Vec<StatusClaim> = statuses
        .into_iter()
        .filter_map(|(status, op)| {
            let by = match &op {
                ObjId::Id(counter, actor, _) => author_of(doc, actor, *counter),
                ObjId::Root => None,
            };
            Some(StatusClaim {
                status: status?,
                by,
            })
        })
        .collect();
    claims.sort_by(|a, b| a.by.cmp(&b.by));
    claims
}

fn map_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// The `user` of the commit message of the change that holds operation `counter` of `actor`.
fn author_of(doc: &mut AutoCommit, actor: &automerge::ActorId, counter: u64) -> Option<String> {
    let change = doc.get_changes(&[]).into_iter().find(|change| {
        change.actor_id() == actor
            && change.start_op().get() <= counter
            && counter <= change.max_op()
    })?;
    let message = super::read_commit_message(change.message()?)?;
    message.get("user")?.as_str().map(str::to_owned)
}
