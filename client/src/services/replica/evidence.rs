//! A unit's evidence files on an item: a file's bytes are on the device (and queued for
//! upload) before the item references it; the reference is an ordinary edit.

use super::Replica;
use crate::services::prepare::Prepared;
use crate::services::uploads::{DeviceFile, UploadState};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{EvidenceRef, ItemEdit};

/// What adding a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added,
    /// The unit's evidence already has this file (the same bytes).
    AlreadyThere,
}

impl Replica {
    /// Adds a prepared file to a unit's evidence: its bytes go to the device store first,
    /// then the reference is an ordinary edit. A file the unit already has is left alone.
    pub async fn add_evidence(
        &self,
        id: &DocumentId,
        unit: &str,
        file: Prepared,
        caption: String,
    ) -> Result<Added, String> {
        let already = self
            .item(id)
            .and_then(|item| item.progress.get(unit).cloned())
            .is_some_and(|p| p.evidence.iter().any(|e| e.sha256 == file.sha256));
        if already {
            return Ok(Added::AlreadyThere);
        }
        let now = js_sys::Date::now();
        let device_file = DeviceFile {
            sha256: file.sha256.clone(),
            name: file.name.clone(),
            mime: file.mime.clone(),
            size: file.size,
            document: id.to_string(),
            unit: unit.to_owned(),
            upload: UploadState::Queued,
            received: 0,
            added_at_ms: now,
        };
        let uploads = self.uploads();
        let stored_now = uploads
            .store(device_file, &file.blob)
            .await
            .map_err(|e| e.0)?;
        let evidence = EvidenceRef {
            sha256: file.sha256.clone(),
            name: file.name,
            mime: file.mime,
            size: file.size,
            caption,
            added_by: self.0.borrow().session.username.clone(),
            added_at_ms: now as i64,
        };
        let edit = ItemEdit::AddEvidence {
            unit: unit.to_owned(),
            evidence,
        };
        if let Err(err) = self.edit(id, edit) {
            if stored_now {
                uploads.discard_unfinished(&file.sha256).await;
            }
            return Err(err.to_string());
        }
        Ok(Added::Added)
    }

    /// Removes a file from a unit's evidence. A file not uploaded yet that nothing on this
    /// device references any more leaves the upload queue and the device.
    pub async fn remove_evidence(
        &self,
        id: &DocumentId,
        unit: &str,
        sha256: &str,
    ) -> Result<(), String> {
        let edit = ItemEdit::RemoveEvidence {
            unit: unit.to_owned(),
            sha256: sha256.to_owned(),
        };
        self.edit(id, edit).map_err(|e| e.to_string())?;
        let still_referenced = self.0.borrow().items.values().any(|item| {
            item.progress
                .values()
                .any(|p| p.evidence.iter().any(|e| e.sha256 == sha256))
        });
        if !still_referenced {
            self.uploads().discard_unfinished(sha256).await;
        }
        Ok(())
    }
}
