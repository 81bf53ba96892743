//! Background housekeeping: idle documents leave memory, many small stored chunks become one,
//! unreferenced evidence files are collected after their grace period, failed-login counts
//! whose window has passed are deleted.
//!
//! With several servers on one PostgreSQL database, each evicts its own documents; compaction
//! of a document is one server's at a time (an advisory lock in `replace_chunks`, which deletes
//! only the chunks it read), and evidence collection, upload expiry and failed-login expiry are done by the server
//! holding [`Storage::housekeeping`] for that sweep.
//!
//! Both are safe to run at any time. Eviction drops only what is already durable (see
//! [`rectify_shared::sync::core::SyncServer::evict_idle`]). Compaction replaces a document's
//! chunks with one save of the same changes, in one transaction; chunks appended while it
//! works are untouched, and a sync that loads the document meanwhile reads either the old
//! chunks or the merged one, which hold the same changes.

use crate::metrics::Metrics;
use crate::storage::Storage;
use crate::sync_ws::SyncHub;
use rectify_shared::ids::DocumentId;
use rectify_shared::model;
use std::sync::{Arc, Weak};

/// Documents compacted per sweep at most, so one sweep never holds the disk for long.
const COMPACT_PER_SWEEP: usize = 200;

/// Runs eviction and compaction every [`crate::sync_ws::SyncSettings::idle_document_after`],
/// for as long as the hub exists.
pub fn spawn(
    hub: &Arc<SyncHub>,
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    files: Arc<crate::evidence::files::Files>,
) {
    let hub: Weak<SyncHub> = Arc::downgrade(hub);
    tokio::spawn(async move {
        loop {
            let Some(period) = hub.upgrade().map(|h| h.settings().idle_document_after) else {
                return;
            };
            tokio::time::sleep(period).await;
            let Some(hub) = hub.upgrade() else {
                return;
            };
            let evicted = hub.evict_idle().await;
            if evicted > 0 {
                tracing::debug!(evicted, "idle documents left memory");
            }
            let at = hub.settings().compact_at_chunks;
            match compact(storage.as_ref(), at, COMPACT_PER_SWEEP).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics.documents_compacted.inc_by(crate::metrics::count(n));
                    tracing::debug!(documents = n, "compacted stored documents");
                }
                Err(err) => tracing::error!(error = format!("{err:#}"), "compaction failed"),
            }
            // One server at a time on a shared database: the others skip this sweep.
            match storage.housekeeping().await {
                Ok(Some(_turn)) => {
                    let now = crate::clock::now_ms();
                    let window_start = now - crate::accounts::THROTTLE_WINDOW_MS;
                    match storage.expire_login_attempts(window_start).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::debug!(keys = n, "forgot failed logins past their window");
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "cannot forget old failed logins");
                        }
                    }
                    match crate::evidence::files::collect(storage.as_ref(), &files, now).await {
                        Ok((0, 0)) => {}
                        Ok((files, uploads)) => {
                            tracing::info!(files, uploads, "collected unreferenced evidence files");
                        }
                        Err(err) => {
                            tracing::error!(error = format!("{err:#}"), "file collection failed");
                        }
                    }
                }
                Ok(None) => tracing::debug!("another server is collecting evidence files"),
                Err(err) => tracing::error!(error = %err, "cannot take a turn at collecting files"),
            }
        }
    });
}

/// Compacts up to `limit` documents stored in `at_chunks` chunks or more. Returns how many.
pub async fn compact(
    storage: &dyn Storage,
    at_chunks: usize,
    limit: usize,
) -> anyhow::Result<usize> {
    let mut done = 0;
    for id in storage
        .documents_to_compact(at_chunks.max(2), limit)
        .await?
    {
        if compact_document(storage, &id).await? {
            done += 1;
        }
    }
    Ok(done)
}

/// Merges one document's stored chunks into one save. A document whose chunks don't load is
/// left as it is (and logged): compaction must never turn unreadable bytes into lost ones.
pub async fn compact_document(storage: &dyn Storage, id: &DocumentId) -> anyhow::Result<bool> {
    let chunks = storage.numbered_chunks(id).await?;
    if chunks.len() < 2 {
        return Ok(false);
    }
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
    let seqs: Vec<i64> = chunks.iter().map(|c| c.seq).collect();
    let id_for_log = *id;
    // Loading and saving a document is CPU work: off the async threads.
    let merged = crate::blocking::cpu(move || {
        let mut doc = match model::load_automerge(&bytes) {
            Ok(doc) => doc,
            Err(err) => {
                let id = id_for_log;
                tracing::error!(%id, error = %err, "not compacting a document that does not load");
                return None;
            }
        };
        // Changes whose dependencies are missing would not survive a save: leave those alone.
        if !doc.get_missing_deps(&[]).is_empty() {
            let id = id_for_log;
            tracing::error!(%id, "not compacting a document with missing dependencies");
            return None;
        }
        Some(doc.save())
    })
    .await?;
    let Some(merged) = merged else {
        return Ok(false);
    };
    Ok(storage.replace_chunks(id, &seqs, merged).await?)
}
