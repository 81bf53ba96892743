//! Who may read or name an evidence file: the facts the shared rule
//! ([`rectify_shared::model::check_reference`]) needs, looked up in storage. Used by the
//! file server ([`crate::evidence`]) and by the sync driver ([`crate::sync_ws`]), which
//! checks the files a change newly references before writing it.
//!
//! A file is referenced by version-1 items (their index row lists it) and, in schema
//! version 2 (issue #21), by unit-work documents (their index row lists it; the version-2
//! item lists none): a reader of the file is a reader of either, by the index alone.

use crate::storage::{BlobRecord, Storage, StorageResult};
use rectify_shared::ids::Username;
use rectify_shared::model::StoredFile;
use rectify_shared::policy::{Actor, can_read_item};

/// What the policy needs to know of a stored file for `actor` (account `username`)
/// ([`rectify_shared::model::check_reference`]), or `None` when no file has this hash.
pub async fn stored_file(
    storage: &dyn Storage,
    actor: &Actor,
    username: &Username,
    sha256: &str,
) -> StorageResult<Option<StoredFile>> {
    let Some(blob) = storage.blob(sha256).await? else {
        return Ok(None);
    };
    Ok(Some(facts(storage, actor, username, &blob).await?))
}

/// [`stored_file`] for a file known to be stored.
pub async fn facts(
    storage: &dyn Storage,
    actor: &Actor,
    username: &Username,
    blob: &BlobRecord,
) -> StorageResult<StoredFile> {
    let mine = blob.uploaded_by == *username;
    let uploader_unit = if mine {
        None
    } else {
        storage
            .user(&blob.uploaded_by)
            .await?
            .and_then(|uploader| uploader.unit)
    };
    let readable_by_sender = !mine && readable_through_reference(storage, actor, blob).await?;
    Ok(StoredFile {
        uploaded_by: blob.uploaded_by.as_str().to_owned(),
        uploader_unit,
        readable_by_sender,
    })
}

/// May `actor` read a document that references the file: a version-1 item it may read
/// (`can_read_item`), or a unit-work document it may read (`UnitWorkRecord::may_read`: a
/// school never another school's work, the item's department and the office every unit's).
async fn readable_through_reference(
    storage: &dyn Storage,
    actor: &Actor,
    blob: &BlobRecord,
) -> StorageResult<bool> {
    let items = storage.items_referencing(&blob.sha256).await?;
    if (items.iter()).any(|item| can_read_item(actor, &item.units, item.department.as_deref())) {
        return Ok(true);
    }
    let works = storage.unit_works_referencing(&blob.sha256).await?;
    Ok(works.iter().any(|work| work.may_read(actor)))
}
