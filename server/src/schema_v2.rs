//! Schema version 2 on the server (issue #21, `docs/schema-v2.md`): the index rows of its
//! documents, and the migration runner (`rectify migrate-schema`).
//!
//! [`migrate_items`] turns every stored version-1 item not yet migrated into a version-2
//! item and one work document per unit ([`v2::migrate::migrate`]), and marks the version-1
//! document with where it went ([`v2::migrate::mark_migrated`]). Each item is one storage
//! transaction: the new documents (created only if absent), their index rows, the
//! version-1 item's row given up to the new item, the mark appended on top of the version
//! read (`expect_version`), and the audit entry. Two runners on one database (replicas, or a
//! runner beside a server taking changes) therefore make one result: the loser's batch fails
//! whole ([`StorageError::Conflict`] on a document id, [`StorageError::Outdated`] on the
//! version), and it reads the item again: migrated by the other (skipped), or changed
//! meanwhile (migrated at its new state). Running it again changes nothing.
//!
//! A late version-1 change an old client syncs to a migrated item is carried over by the
//! sync driver (`sync_ws.rs`) with [`read_item_docs`] and [`carry_batch`] around the pure
//! [`carry::carry_changes`].
//!
//! **Not run by `rectify serve`**: the client reads schema 1 only until its store is wired
//! (docs/schema-v2.md, step 4), and a migrated item is the office's only.

use crate::arrivals;
use crate::audit;
use crate::campaigns::load_document;
use crate::clock::now_ms;
use crate::storage::{
    ItemRecord, QuarantineRecord, Storage, StorageError, StorageResult, UnitWorkRecord, Write,
};
use anyhow::{Context, Result};
use automerge::{AutoCommit, Change, ChangeHash};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model::v2::carry;
use rectify_shared::model::v2::migrate::{Migrated, mark_migrated, migrate, migrated_to};
use rectify_shared::model::v2::{self, ItemDocV2, UNIT_WORK_KIND, UnitWorkDoc};
use rectify_shared::model::{self, EvidenceRef};
use std::collections::{BTreeMap, HashMap};

/// Tries per item: a try fails only when another writer changed the item meanwhile.
const TRIES: usize = 3;

/// A version-2 item's index row. It lists no evidence: the units' files are named in their
/// own work documents, which not every reader of the item may read.
pub fn item_record_v2(
    id: DocumentId,
    campaign: DocumentId,
    item: &ItemDocV2,
    now: i64,
) -> ItemRecord {
    ItemRecord {
        id,
        campaign_id: campaign,
        key: item.key.clone(),
        title: item.title.as_str().to_owned(),
        status: item.status,
        units: item.units.clone(),
        department: item.responsible_department.clone(),
        deadline: item.deadline.clone(),
        updated_at_ms: now,
        evidence: Vec::new(),
    }
}

/// A unit-work document's index row, from the document (with the evidence files it
/// references); `None` for anything else.
pub fn unit_work_record(id: DocumentId, doc: &AutoCommit) -> Option<UnitWorkRecord> {
    let readers = UnitWorkDoc::readers(doc).ok()?;
    let evidence: Vec<EvidenceRef> =
        autosurgeon::hydrate_prop(doc, automerge::ROOT, "evidence").ok()?;
    let mut evidence: Vec<String> = evidence.into_iter().map(|e| e.sha256).collect();
    evidence.sort();
    evidence.dedup();
    Some(UnitWorkRecord {
        id,
        item_id: readers.item.parse().ok()?,
        unit: readers.unit,
        assigned: readers.assigned,
        department: readers.department,
        evidence,
    })
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationRun {
    /// Version-1 items migrated by this run: (version-1 id, version-2 id).
    pub migrated: Vec<(DocumentId, DocumentId)>,
    /// Items listed that are version 2 already.
    pub already: usize,
    /// Items another writer migrated while this run was at them.
    pub migrated_by_another: usize,
}

/// Migrates every stored version-1 item without `migrated_to` (see the module's doc). An
/// item that cannot be migrated (a damaged document, storage failing) stops the run with
/// the reason; the items migrated before it stay migrated, that one and those after it are
/// untouched, and running again continues.
pub async fn migrate_items(storage: &dyn Storage) -> Result<MigrationRun> {
    let mut run = MigrationRun::default();
    for campaign in storage.campaigns().await? {
        for item in storage.items(&campaign.id).await? {
            migrate_one(storage, &item, &mut run)
                .await
                .with_context(|| format!("item {} ({}) was not migrated", item.key, item.id))?;
        }
    }
    Ok(run)
}

/// One item, retried when another writer got there first.
async fn migrate_one(
    storage: &dyn Storage,
    item: &ItemRecord,
    run: &mut MigrationRun,
) -> Result<()> {
    for attempt in 1..=TRIES {
        // The version before the bytes: a change appended in between makes the mark's
        // version check fail, never a mark on top of a state not migrated.
        let version = (storage.document_versions(&[item.id]).await?)
            .get(&item.id)
            .copied()
            .unwrap_or(0);
        let mut doc = load_document(storage, &item.id)
            .await?
            .context("the document is missing")?;
        if v2::is_v2(&doc) {
            run.already += 1;
            return Ok(());
        }
        if migrated_to(&doc).is_some() {
            run.migrated_by_another += 1;
            return Ok(());
        }
        let batch = migration_batch(item, &mut doc, version)?;
        let item_v2 = v2::item_id_for(&item.id);
        match storage.write(batch).await {
            Ok(()) => {
                run.migrated.push((item.id, item_v2));
                return Ok(());
            }
            // Another writer made the documents or changed the item: read it again.
            Err(StorageError::Conflict(_) | StorageError::Outdated(_)) if attempt < TRIES => {}
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last try returns")
}

/// The one batch that migrates `item` (its document `doc`, read at `version`).
fn migration_batch(item: &ItemRecord, doc: &mut AutoCommit, version: i64) -> Result<Vec<Write>> {
    let now = now_ms();
    let Migrated {
        v1_heads,
        item_id,
        item: mut item_doc,
        units,
    } = migrate(&item.id, doc)?;
    let mut batch = Vec::new();
    let create = |batch: &mut Vec<Write>, id: DocumentId, kind: &str, doc: &mut AutoCommit| {
        let hashes = doc.get_heads();
        // `NewDocument` is a conflict when the id is taken: made once, whoever is first.
        batch.push(Write::NewDocument {
            id,
            kind: kind.to_owned(),
            created_at_ms: now,
        });
        batch.push(Write::AppendChunk {
            document: id,
            data: doc.save(),
            created_at_ms: now,
            expect_version: None,
        });
        batch.push(arrivals::arrived(id, &hashes, now, None));
    };
    let typed = ItemDocV2::load(&item_doc)?;
    create(&mut batch, item_id, "item", &mut item_doc);
    for (_, (id, mut work)) in units {
        let record = unit_work_record(id, &work).context("a unit-work document unreadable")?;
        create(&mut batch, id, UNIT_WORK_KIND, &mut work);
        batch.push(Write::UnitWork(record));
    }
    // The version-2 item takes the version-1 item's place (and key) in the list.
    batch.push(Write::RemoveItem(item.id));
    batch.push(Write::Item(item_record_v2(
        item_id,
        item.campaign_id,
        &typed,
        now,
    )));
    mark_migrated(doc, &item.id, &v1_heads)?;
    let mark: Vec<_> = (doc.get_changes_meta(&v1_heads).iter())
        .map(|c| c.hash)
        .collect();
    batch.push(Write::AppendChunk {
        document: item.id,
        data: doc.save_after(&v1_heads),
        created_at_ms: now,
        expect_version: Some(version),
    });
    batch.push(arrivals::arrived(item.id, &mark, now, None));
    batch.push(audit::entry(
        &audit::command_line(),
        audit::action::SCHEMA_MIGRATED,
        &item.id.to_string(),
        &format!("{} → {item_id}", item.key),
    ));
    Ok(batch)
}

/// The version-2 documents of the item `item_id` as stored, with the version each was read
/// at (read before its bytes, so a write on top of it is refused as outdated if another
/// came in between): the item and every unit-work document the index lists for it. A
/// document listed but missing or damaged is an error (`Corrupt`): nothing is carried over
/// onto a partial picture.
pub async fn read_item_docs(
    storage: &dyn Storage,
    item_id: DocumentId,
) -> StorageResult<(carry::ItemDocs, HashMap<DocumentId, i64>)> {
    let works = storage.unit_works(&item_id).await?;
    let ids: Vec<DocumentId> = std::iter::once(item_id)
        .chain(works.iter().map(|w| w.id))
        .collect();
    let versions = storage.document_versions(&ids).await?;
    let read = |id: DocumentId| async move {
        let chunks = (storage.document_chunks(&id).await?)
            .ok_or_else(|| StorageError::Corrupt(format!("document {id} is listed but missing")))?;
        model::load_automerge(&chunks.concat())
            .map_err(|e| StorageError::Corrupt(format!("document {id} does not load: {e}")))
    };
    let item = read(item_id).await?;
    let mut docs = BTreeMap::new();
    for work in works {
        docs.insert(work.unit.clone(), (work.id, read(work.id).await?));
    }
    let docs = carry::ItemDocs {
        item_id,
        item,
        works: docs,
    };
    Ok((docs, versions))
}

/// The one batch that stores a carry over: each version-2 document's new changes on top of
/// the version it was read at (`versions`), with their arrival (sent by `sender`) and index
/// row; the version-1 changes (`v1_chunk`, hashes `v1_hashes`) appended to the migrated
/// document `v1_id` on top of `v1_version`; and each edit kept back in the quarantine,
/// with the bytes of the change it came from (`changes`).
#[allow(clippy::too_many_arguments)]
pub fn carry_batch(
    carried: &carry::Carry,
    versions: &HashMap<DocumentId, i64>,
    (v1_id, v1_version): (DocumentId, i64),
    (v1_chunk, v1_hashes): (Vec<u8>, &[ChangeHash]),
    changes: &[Change],
    sender: &Username,
    now: i64,
) -> Vec<Write> {
    let mut batch = Vec::new();
    for written in &carried.written {
        batch.push(Write::AppendChunk {
            document: written.id,
            data: written.chunk.clone(),
            created_at_ms: now,
            expect_version: Some(versions.get(&written.id).copied().unwrap_or(0)),
        });
        batch.push(arrivals::arrived(
            written.id,
            &written.hashes,
            now,
            Some(sender),
        ));
        if let Some(record) = unit_work_record(written.id, &written.doc) {
            batch.push(Write::UnitWork(record));
        } else if let Ok(item) = ItemDocV2::load(&written.doc)
            && let Ok(campaign) = item.campaign.parse()
        {
            batch.push(Write::Item(item_record_v2(
                written.id, campaign, &item, now,
            )));
        }
    }
    batch.push(Write::AppendChunk {
        document: v1_id,
        data: v1_chunk,
        created_at_ms: now,
        expect_version: Some(v1_version),
    });
    batch.push(arrivals::arrived(v1_id, v1_hashes, now, Some(sender)));
    for kept in &carried.kept {
        let bytes = (changes.iter())
            .find(|c| c.hash() == kept.change)
            .map(|c| c.raw_bytes().to_vec())
            .unwrap_or_default();
        batch.push(Write::Quarantine(QuarantineRecord {
            document: v1_id,
            username: sender.clone(),
            reason: kept.describe(),
            change_bytes: bytes,
            received_at_ms: now,
        }));
    }
    batch
}
