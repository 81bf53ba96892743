//! The evidence file service: limits, the blob store, the staging of unfinished uploads,
//! and collecting what nothing references. No HTTP here (that is [`super`]), so the
//! application state can hold a [`Files`] without depending on the handlers.

use crate::blobs::BlobStore;
use crate::error::ApiError;
use crate::storage::{Storage, UploadRecord};
use anyhow::Context;
use rectify_shared::evidence;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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

/// The file service: settings, the blob store and the staging directory.
#[derive(Debug)]
pub struct Files {
    pub settings: FilesSettings,
    pub store: Arc<dyn BlobStore>,
    staging: PathBuf,
    /// Upload id → the generation of the request allowed to write it.
    writers: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<u64>>>>,
}

impl Files {
    /// The file service for a data directory: blobs in `DIR/blobs`, staging in `DIR/uploads`.
    pub fn open(data_dir: &std::path::Path, settings: FilesSettings) -> anyhow::Result<Files> {
        let store = crate::blobs::LocalBlobStore::open(&data_dir.join("blobs"))?;
        let staging = data_dir.join("uploads");
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Files {
            settings,
            store: Arc::new(store),
            staging,
            writers: Mutex::new(HashMap::new()),
        })
    }

    pub(super) fn staged(&self, upload: &UploadRecord) -> PathBuf {
        self.staging.join(upload.id.to_string())
    }

    pub(super) fn writer(&self, upload: i64) -> Arc<tokio::sync::Mutex<u64>> {
        let mut writers = self.writers.lock().expect("writers lock");
        Arc::clone(writers.entry(upload).or_default())
    }

    pub(super) fn forget_writer(&self, upload: i64) {
        self.writers.lock().expect("writers lock").remove(&upload);
    }

    pub(super) async fn staged_len(&self, upload: &UploadRecord) -> Result<u64, ApiError> {
        match tokio::fs::metadata(self.staged(upload)).await {
            Ok(meta) => Ok(meta.len()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(err) => Err(anyhow::Error::from(err).into()),
        }
    }

    /// Drops an upload: its staged bytes and its record.
    pub(super) async fn discard(
        &self,
        storage: &dyn Storage,
        upload: &UploadRecord,
    ) -> anyhow::Result<()> {
        storage.delete_upload(upload.id).await?;
        match tokio::fs::remove_file(self.staged(upload)).await {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
        self.forget_writer(upload.id);
        Ok(())
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
        files.discard(storage, &upload).await?;
        deleted_uploads += 1;
    }
    Ok((deleted_files, deleted_uploads))
}
