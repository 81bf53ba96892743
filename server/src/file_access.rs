//! Who may read or name an evidence file: the facts the shared rule
//! ([`rectify_shared::model::check_reference`]) needs, looked up in storage. Used by the
//! file server ([`crate::evidence`]) and by the sync driver ([`crate::sync_ws`]), which
//! checks the files a change newly references before writing it.

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
    let readable_by_sender = !mine
        && storage
            .items_referencing(&blob.sha256)
            .await?
            .iter()
            .any(|item| can_read_item(actor, &item.units, item.department.as_deref()));
    Ok(StoredFile {
        uploaded_by: blob.uploaded_by.as_str().to_owned(),
        uploader_unit,
        readable_by_sender,
    })
}
