//! The evidence file service: limits, the blob store, dropping unfinished uploads, and
//! collecting what nothing references. No HTTP here (that is [`super`]), so the application
//! state can hold a [`Files`] without depending on the handlers. Unfinished uploads are
//! staged in the database ([`Storage::append_upload_part`]), so that any server process
//! sharing it can resume one.

use crate::blobs::BlobStore;
use crate::storage::Storage;
use rectify_shared::evidence;
use std::sync::Arc;
use std::time::Duration;

/// Limits and policies for evidence files (`rectify serve --max-file-mb …`).
#[derive(Debug, Clone, PartialEq)]
pub struct FilesSettings {
    pub max_file_bytes: u64,
    /// Per user: the files they uploaded first plus their unfinished uploads.
    pub quota_bytes: u64,
    pub image_max_side: u32,
    pub image_quality: f64,
    /// How long an unreferenced file (or an untouched unfinished upload) is kept.
    pub grace: Duration,
}

impl Default for FilesSettings {
    fn default() -> Self {
        FilesSettings {
            max_file_bytes: evidence::DEFAULT_MAX_FILE_BYTES,
            quota_bytes: 2 * 1024 * 1024 * 1024,
            image_max_side: evidence::DEFAULT_IMAGE_MAX_SIDE,
            image_quality: evidence::DEFAULT_IMAGE_QUALITY,
            grace: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The file service: settings and the blob store.
#[derive(Debug)]
pub struct Files {
    pub settings: FilesSettings,
    pub store: Arc<dyn BlobStore>,
}

impl Files {
    pub fn new(store: Arc<dyn BlobStore>, settings: FilesSettings) -> Files {
        Files { settings, store }
    }
}

/// Deletes files no item has referenced for the grace period, and unfinished uploads left
/// untouched as long. Returns (files, uploads) deleted.
pub async fn collect(
    storage: &dyn Storage,
    files: &Files,
    now_ms: i64,
) -> anyhow::Result<(usize, usize)> {
    let grace = i64::try_from(files.settings.grace.as_millis()).unwrap_or(i64::MAX);
    let before = now_ms.saturating_sub(grace);
    let mut deleted_files = 0;
    for sha256 in storage.orphaned_blobs(now_ms, before).await? {
        // The record goes first: if a reference arrived meanwhile, the bytes stay.
        if storage.delete_orphan(&sha256, before).await? {
            files.store.delete(&sha256).await?;
            deleted_files += 1;
        }
    }
    let mut deleted_uploads = 0;
    for upload in storage.stale_uploads(before).await? {
        storage.delete_upload(upload.id).await?;
        deleted_uploads += 1;
    }
    Ok((deleted_files, deleted_uploads))
}
