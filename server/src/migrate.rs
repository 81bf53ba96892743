//! `rectify migrate`: moving a district from one machine to the cluster (issue #18). A SQLite
//! data directory is copied into an empty PostgreSQL database, and its evidence files into
//! the object store (or another data directory), then checked: every document's heads, the
//! rows of every table, every file's SHA-256 read back from the target.
//!
//! Everything goes through the [`Storage`] and [`BlobStore`] traits on both sides, never SQL,
//! so a table added to the schema is copied once the trait can list it (and [`Counts`] counts
//! it). Copied: accounts (password hashes as stored), sessions (devices stay logged in),
//! units, the server's sync identity (`peer_id`, `storage_id`), documents with every chunk
//! and their change arrivals (time and sender), campaigns, items and unit-work documents in
//! the index, refused
//! changes, the audit log (oldest first, so its order stays), evidence records and files.
//! Not copied: unfinished uploads (a device starts them again) and failed-login counts (they
//! expire in minutes anyway).
//!
//! Not one transaction: the copy is written batch by batch (a document with its chunks and
//! arrivals is one), so memory stays bounded by the largest document. A target that is not
//! empty is refused before anything is written; a failure half-way says what was copied and
//! that the target database must be dropped and created empty again before another try.

use crate::blobs::{BlobStore, Variant};
use crate::storage::{AuditQuery, Storage, Write};
use anyhow::{Context, bail};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model;
use std::collections::BTreeMap;

/// The server settings that belong to the data, not to a server process: clients keep sync
/// state per storage id, so the cluster answers as the server they knew.
const META_KEYS: [&str; 2] = ["peer_id", "storage_id"];

/// Audit entries read per page.
const AUDIT_PAGE: u32 = 1000;

/// Rows per table (and files), as copied or as counted on one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub accounts: usize,
    pub sessions: usize,
    pub units: usize,
    pub documents: usize,
    pub chunks: usize,
    pub change_arrivals: usize,
    pub campaigns: usize,
    pub items: usize,
    pub unit_work: usize,
    pub quarantine: usize,
    pub audit_log: usize,
    pub files: usize,
}

impl Counts {
    fn rows(&self) -> [(&'static str, usize); 12] {
        [
            ("accounts", self.accounts),
            ("sessions", self.sessions),
            ("units", self.units),
            ("documents", self.documents),
            ("chunks", self.chunks),
            ("change arrivals", self.change_arrivals),
            ("campaigns", self.campaigns),
            ("items", self.items),
            ("unit-work documents", self.unit_work),
            ("refused changes", self.quarantine),
            ("audit log entries", self.audit_log),
            ("evidence files", self.files),
        ]
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<String> = self
            .rows()
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        write!(f, "{}", rows.join(", "))
    }
}

/// One side of a migration: a database and its evidence files.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub storage: &'a dyn Storage,
    pub files: &'a dyn BlobStore,
    /// For messages: the data directory, or the database URL without its password.
    pub name: &'a str,
}

/// Copies `from` into `to` and checks the copy. Refuses a target with any account or
/// document, writing nothing. `progress` gets a line now and then (`documents 120/530`).
pub async fn migrate(
    from: Side<'_>,
    to: Side<'_>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Counts> {
    let accounts = to.storage.users().await?.len();
    let documents = to.storage.documents().await?.len();
    if accounts > 0 || documents > 0 {
        bail!(
            "the target {} is not empty: it has {accounts} account(s) and {documents} \
             document(s). rectify migrate copies only into an empty database and changed \
             nothing; create a new one (createdb) and name it with --to",
            to.name
        );
    }
    let mut copied = Counts::default();
    if let Err(err) = copy(from, to, &mut copied, progress).await {
        return Err(err.context(format!(
            "the migration stopped half-way, after copying {copied}. The target {} is \
             incomplete: drop that database and create it empty again (files already copied \
             to the evidence store may stay; they are written again unchanged) before \
             trying again",
            to.name
        )));
    }
    progress("checking the copy");
    verify(from, to, progress).await?;
    Ok(copied)
}

async fn copy(
    from: Side<'_>,
    to: Side<'_>,
    copied: &mut Counts,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let (source, target) = (from.storage, to.storage);
    for user in source.users().await? {
        target.create_user(&user).await?;
        copied.accounts += 1;
    }
    for session in source.all_sessions().await? {
        target.create_session(&session).await?;
        copied.sessions += 1;
    }
    for unit in source.units().await? {
        target.upsert_unit(&unit).await?;
        copied.units += 1;
    }
    for key in META_KEYS {
        if let Some(value) = source.meta(key).await? {
            target.init_meta(key, &value).await?;
        }
    }
    progress(&format!("copied {copied}"));

    let documents = source.documents().await?;
    let total = documents.len();
    for (n, document) in documents.into_iter().enumerate() {
        let chunks = source
            .document_chunks(&document.id)
            .await?
            .with_context(|| format!("document {} went away while copying", document.id))?;
        let mut batch = vec![Write::NewDocument {
            id: document.id,
            kind: document.kind,
            created_at_ms: document.created_at_ms,
        }];
        let chunk_count = chunks.len();
        batch.extend(chunks.into_iter().map(|data| Write::AppendChunk {
            document: document.id,
            data,
            created_at_ms: document.created_at_ms,
            expect_version: None,
        }));
        let arrivals = arrivals_writes(source, &document.id).await?;
        let arrival_count = arrivals.1;
        batch.extend(arrivals.0);
        target
            .write(batch)
            .await
            .with_context(|| format!("cannot write document {}", document.id))?;
        copied.documents += 1;
        copied.chunks += chunk_count;
        copied.change_arrivals += arrival_count;
        if (n + 1) % 100 == 0 || n + 1 == total {
            progress(&format!("documents {}/{total}", n + 1));
        }
    }

    for campaign in source.campaigns().await? {
        let items = source.items(&campaign.id).await?;
        let item_count = items.len();
        let mut works = Vec::new();
        for item in &items {
            works.extend(source.unit_works(&item.id).await?);
        }
        let work_count = works.len();
        let mut batch = vec![Write::Campaign(campaign)];
        batch.extend(items.into_iter().map(Write::Item));
        batch.extend(works.into_iter().map(Write::UnitWork));
        target.write(batch).await?;
        copied.campaigns += 1;
        copied.items += item_count;
        copied.unit_work += work_count;
    }

    for document in source.quarantined_documents().await? {
        // Newest first there; written oldest first, so the order stays.
        let mut refused = source.quarantined(&document).await?;
        refused.reverse();
        let count = refused.len();
        target
            .write(refused.into_iter().map(Write::Quarantine).collect())
            .await?;
        copied.quarantine += count;
    }

    let mut entries = all_audit(source).await?;
    entries.reverse();
    for page in entries.chunks(AUDIT_PAGE as usize) {
        let batch = page
            .iter()
            .map(|e| {
                Write::Audit(crate::storage::NewAudit {
                    at_ms: e.at_ms,
                    account: e.account.clone(),
                    action: e.action.clone(),
                    target: e.target.clone(),
                    detail: e.detail.clone(),
                })
            })
            .collect();
        target.write(batch).await?;
        copied.audit_log += page.len();
    }
    progress(&format!("copied {copied}"));

    let blobs = source.all_blobs().await?;
    let total = blobs.len();
    for (n, blob) in blobs.into_iter().enumerate() {
        let bytes = from
            .files
            .get(&blob.sha256, Variant::Original)
            .await?
            .with_context(|| {
                format!(
                    "evidence file {} ({}) is recorded in {} but its bytes are missing",
                    blob.sha256, blob.name, from.name
                )
            })?;
        to.files
            .put(&blob.sha256, Variant::Original, &bytes)
            .await?;
        if blob.has_thumbnail {
            match from.files.get(&blob.sha256, Variant::Thumbnail).await? {
                Some(thumbnail) => {
                    to.files
                        .put(&blob.sha256, Variant::Thumbnail, &thumbnail)
                        .await?;
                }
                None => progress(&format!(
                    "warning: the thumbnail of {} is missing in {}; the file is copied \
                     without it",
                    blob.sha256, from.name
                )),
            }
        }
        target.insert_blob(&blob, None).await?;
        copied.files += 1;
        if (n + 1) % 100 == 0 || n + 1 == total {
            progress(&format!("evidence files {}/{total}", n + 1));
        }
    }
    Ok(())
}

/// A document's change arrivals as writes (one per arrival time and sender), and how many.
async fn arrivals_writes(
    source: &dyn Storage,
    document: &DocumentId,
) -> anyhow::Result<(Vec<Write>, usize)> {
    let arrivals = source.change_arrivals(document).await?;
    let count = arrivals.len();
    let mut grouped: BTreeMap<(i64, Option<Username>), Vec<String>> = BTreeMap::new();
    for (hash, arrival) in arrivals {
        grouped
            .entry((arrival.received_at_ms, arrival.sent_by))
            .or_default()
            .push(hash);
    }
    let writes = grouped
        .into_iter()
        .map(
            |((received_at_ms, sent_by), hashes)| Write::ChangesArrived {
                document: *document,
                hashes,
                received_at_ms,
                sent_by,
            },
        )
        .collect();
    Ok((writes, count))
}

/// Every audit log entry, newest first.
async fn all_audit(storage: &dyn Storage) -> anyhow::Result<Vec<crate::storage::AuditRecord>> {
    let mut entries = Vec::new();
    let mut before_id = None;
    loop {
        let page = storage
            .audit_log(&AuditQuery {
                before_id,
                limit: AUDIT_PAGE,
                ..AuditQuery::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(entries);
        };
        before_id = Some(last.id);
        entries.extend(page);
    }
}

/// The rows of one side, counted through the trait.
async fn count(storage: &dyn Storage) -> anyhow::Result<Counts> {
    let mut counts = Counts {
        accounts: storage.users().await?.len(),
        sessions: storage.all_sessions().await?.len(),
        units: storage.units().await?.len(),
        audit_log: all_audit(storage).await?.len(),
        files: storage.all_blobs().await?.len(),
        ..Counts::default()
    };
    for document in storage.documents().await? {
        counts.documents += 1;
        counts.chunks += storage
            .document_chunks(&document.id)
            .await?
            .unwrap_or_default()
            .len();
        counts.change_arrivals += storage.change_arrivals(&document.id).await?.len();
    }
    for campaign in storage.campaigns().await? {
        counts.campaigns += 1;
        for item in storage.items(&campaign.id).await? {
            counts.items += 1;
            counts.unit_work += storage.unit_works(&item.id).await?.len();
        }
    }
    for document in storage.quarantined_documents().await? {
        counts.quarantine += storage.quarantined(&document).await?.len();
    }
    Ok(counts)
}

/// A document's heads as stored (empty for a document without chunks).
async fn heads(storage: &dyn Storage, id: &DocumentId) -> anyhow::Result<Vec<String>> {
    let chunks = storage.document_chunks(id).await?.unwrap_or_default();
    if chunks.is_empty() {
        return Ok(Vec::new());
    }
    let mut doc = model::load_automerge(&chunks.concat())
        .with_context(|| format!("document {id} does not load"))?;
    let mut heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort();
    Ok(heads)
}

/// Checks the target against the source: rows per table, every document's heads, every
/// file's bytes by their SHA-256 read back from the target.
async fn verify(
    from: Side<'_>,
    to: Side<'_>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let (source, target) = (count(from.storage).await?, count(to.storage).await?);
    let differ: Vec<String> = source
        .rows()
        .iter()
        .zip(target.rows())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((what, a), (_, b))| format!("{what}: {a} in {}, {b} in {}", from.name, to.name))
        .collect();
    if !differ.is_empty() {
        bail!("the copy differs: {}", differ.join("; "));
    }
    let documents = from.storage.documents().await?;
    let total = documents.len();
    for (n, document) in documents.iter().enumerate() {
        let (a, b) = (
            heads(from.storage, &document.id).await?,
            heads(to.storage, &document.id).await?,
        );
        if a != b {
            bail!(
                "document {} differs: heads {a:?} in {}, {b:?} in {}",
                document.id,
                from.name,
                to.name
            );
        }
        if (n + 1) % 100 == 0 || n + 1 == total {
            progress(&format!("checked documents {}/{total}", n + 1));
        }
    }
    let blobs = from.storage.all_blobs().await?;
    let total = blobs.len();
    for (n, blob) in blobs.iter().enumerate() {
        let bytes = to
            .files
            .get(&blob.sha256, Variant::Original)
            .await?
            .with_context(|| format!("evidence file {} is missing in the target", blob.sha256))?;
        let read = sha256_hex(&bytes);
        if read != blob.sha256 || bytes.len() as u64 != blob.size {
            bail!(
                "evidence file {} reads back from the target as {} bytes with SHA-256 {read}",
                blob.sha256,
                bytes.len()
            );
        }
        if (n + 1) % 100 == 0 || n + 1 == total {
            progress(&format!("checked evidence files {}/{total}", n + 1));
        }
    }
    Ok(())
}
