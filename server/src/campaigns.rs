//! Campaigns and their items on top of [`Storage`]: importing a report into documents,
//! loading them back for the ledger and the public report.
//!
//! An import is one storage transaction: a report that fails to parse, or a write that fails,
//! leaves everything stored as it was. Re-importing the same report changes nothing; an
//! updated report updates the items' definitions and keeps the units' progress.

use crate::accounts::now_ms;
use crate::storage::{CampaignRecord, ItemRecord, Storage, Write};
use anyhow::{Context, Result, bail};
use automerge::AutoCommit;
use rand_core::{OsRng, RngCore};
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{self, CampaignDoc, EditContext, ItemDoc, ItemEdit, LedgerContext};
use rectify_shared::report::Report;
use std::collections::BTreeMap;

/// A fresh random document id.
pub fn new_document_id() -> DocumentId {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    DocumentId(bytes)
}

/// Loads a document from its chunks; `None` when it does not exist.
pub async fn load_document(storage: &dyn Storage, id: &DocumentId) -> Result<Option<AutoCommit>> {
    let Some(chunks) = storage.document_chunks(id).await? else {
        return Ok(None);
    };
    let bytes: Vec<u8> = chunks.concat();
    let doc = model::load_automerge(&bytes).with_context(|| format!("document {id} is damaged"))?;
    Ok(Some(doc))
}

/// The item's index row, from the document.
pub fn item_record(id: DocumentId, campaign: DocumentId, item: &ItemDoc, now: i64) -> ItemRecord {
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
        evidence: {
            let mut all: Vec<String> = item
                .progress
                .values()
                .flat_map(|p| p.evidence.iter().map(|e| e.sha256.clone()))
                .collect();
            all.sort();
            all.dedup();
            all
        },
    }
}

/// Adds the writes that create a new document holding `value` to `batch`; returns its id.
fn new_document<T: autosurgeon::Reconcile>(
    batch: &mut Vec<Write>,
    value: &T,
    kind: &str,
    user: &str,
    now: i64,
) -> Result<DocumentId> {
    let id = new_document_id();
    let mut doc = model::create_document(value, user, now)?;
    batch.push(Write::NewDocument {
        id,
        kind: kind.to_owned(),
        created_at_ms: now,
    });
    batch.push(Write::AppendChunk {
        document: id,
        data: doc.save(),
        created_at_ms: now,
    });
    Ok(id)
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub campaign: DocumentId,
    pub campaign_created: bool,
    pub items_created: usize,
    pub items_updated: usize,
    pub items_unchanged: usize,
}

/// Stores an imported report as a campaign and its items (all in one transaction).
pub async fn import_report(
    storage: &dyn Storage,
    report: &Report,
    user: &str,
) -> Result<ImportOutcome> {
    let now = now_ms();
    let imported_campaign = model::campaign_from_report(report);
    let natural_key = imported_campaign.natural_key();
    let existing = storage
        .campaigns()
        .await?
        .into_iter()
        .find(|c| c.natural_key == natural_key);
    let mut batch = Vec::new();
    let campaign_created = existing.is_none();
    let campaign_id = match &existing {
        Some(record) => {
            let mut doc = load_document(storage, &record.id)
                .await?
                .context("the campaign's document is missing")?;
            let mut current = CampaignDoc::load(&doc)?;
            let before = doc.get_heads();
            current.name.clone_from(&imported_campaign.name);
            current
                .inspection_start
                .clone_from(&imported_campaign.inspection_start);
            current
                .inspection_end
                .clone_from(&imported_campaign.inspection_end);
            current.publisher.clone_from(&imported_campaign.publisher);
            current.preamble.update(imported_campaign.preamble.as_str());
            current.areas.clone_from(&imported_campaign.areas);
            model::update_document(&mut doc, &current, user, "import", now)?;
            if doc.get_heads() != before {
                batch.push(Write::AppendChunk {
                    document: record.id,
                    data: doc.save_incremental(),
                    created_at_ms: now,
                });
            }
            record.id
        }
        None => {
            let id = new_document(&mut batch, &imported_campaign, "campaign", user, now)?;
            batch.push(Write::Campaign(CampaignRecord {
                id,
                natural_key,
                name: imported_campaign.name.clone(),
                created_at_ms: now,
            }));
            id
        }
    };

    let known: BTreeMap<String, ItemRecord> = if campaign_created {
        BTreeMap::new()
    } else {
        storage
            .items(&campaign_id)
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect()
    };
    let campaign_text = campaign_id.to_string();
    let mut outcome = ImportOutcome {
        campaign: campaign_id,
        campaign_created,
        items_created: 0,
        items_updated: 0,
        items_unchanged: 0,
    };
    for area in &report.areas {
        for problem in &area.problems {
            for item in &problem.items {
                let imported = model::item_from_report(&campaign_text, area, problem, item);
                match known.get(&imported.key) {
                    Some(record) => {
                        let mut doc =
                            load_document(storage, &record.id).await?.with_context(|| {
                                format!("item {}'s document is missing", record.key)
                            })?;
                        let mut current = ItemDoc::load(&doc)?;
                        model::refresh_from_report(&mut current, &imported);
                        let before = doc.get_heads();
                        model::update_document(&mut doc, &current, user, "import", now)?;
                        if doc.get_heads() == before {
                            outcome.items_unchanged += 1;
                        } else {
                            outcome.items_updated += 1;
                            batch.push(Write::AppendChunk {
                                document: record.id,
                                data: doc.save_incremental(),
                                created_at_ms: now,
                            });
                            batch.push(Write::Item(item_record(
                                record.id,
                                campaign_id,
                                &current,
                                now,
                            )));
                        }
                    }
                    None => {
                        let id = new_document(&mut batch, &imported, "item", user, now)?;
                        batch.push(Write::Item(item_record(id, campaign_id, &imported, now)));
                        outcome.items_created += 1;
                    }
                }
            }
        }
    }
    storage.write(batch).await?;
    Ok(outcome)
}

/// Applies an edit to a stored item and saves it with its index row, in one transaction.
pub async fn edit_item(
    storage: &dyn Storage,
    record: &ItemRecord,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<ItemDoc> {
    let mut doc = load_document(storage, &record.id)
        .await?
        .with_context(|| format!("item {} is missing", record.key))?;
    model::apply(&mut doc, ctx, edit)?;
    let item = ItemDoc::load(&doc)?;
    storage
        .write(vec![
            Write::AppendChunk {
                document: record.id,
                data: doc.save_incremental(),
                created_at_ms: ctx.now_ms,
            },
            Write::Item(item_record(
                record.id,
                record.campaign_id,
                &item,
                ctx.now_ms,
            )),
        ])
        .await?;
    Ok(item)
}

/// The campaign to use: the one named, or the only/newest one.
pub async fn choose_campaign(storage: &dyn Storage, id: Option<&str>) -> Result<CampaignRecord> {
    let campaigns = storage.campaigns().await?;
    match id {
        Some(id) => {
            let id: DocumentId = id.parse()?;
            campaigns
                .into_iter()
                .find(|c| c.id == id)
                .with_context(|| format!("no campaign {id}"))
        }
        None => match campaigns.into_iter().last() {
            Some(campaign) => Ok(campaign),
            None => {
                bail!("there is no campaign yet: import a report first (`rectify import FILE`)")
            }
        },
    }
}

/// A campaign with all its items, and what the ledger needs about them.
#[derive(Debug)]
pub struct LoadedCampaign {
    pub record: CampaignRecord,
    pub campaign: CampaignDoc,
    pub items: Vec<(ItemRecord, ItemDoc)>,
    pub ledger: LedgerContext,
}

impl LoadedCampaign {
    pub fn item_docs(&self) -> Vec<ItemDoc> {
        self.items.iter().map(|(_, doc)| doc.clone()).collect()
    }

    pub fn report(&self) -> Report {
        model::report_from_docs(&self.campaign, &self.item_docs())
    }

    pub fn ledger_rows(&self) -> Vec<rectify_shared::ledger::LedgerRow> {
        model::ledger_rows(&self.item_docs(), &self.ledger)
    }
}

pub async fn load_campaign(
    storage: &dyn Storage,
    record: CampaignRecord,
) -> Result<LoadedCampaign> {
    let doc = load_document(storage, &record.id)
        .await?
        .context("the campaign's document is missing")?;
    let campaign = CampaignDoc::load(&doc)?;
    let mut ledger = LedgerContext {
        unit_names: storage
            .units()
            .await?
            .into_iter()
            .map(|u| (u.id.0, u.name))
            .collect(),
        ..LedgerContext::default()
    };
    let mut items = Vec::new();
    for item_record in storage.items(&record.id).await? {
        let mut doc = load_document(storage, &item_record.id)
            .await?
            .with_context(|| format!("item {}'s document is missing", item_record.key))?;
        let item = ItemDoc::load(&doc)?;
        let last_change = doc.get_changes(&[]).iter().map(|c| c.timestamp()).max();
        if let Some(ms) = last_change {
            ledger.last_change_ms.insert(item.key.clone(), ms);
        }
        items.push((item_record, item));
    }
    items.sort_by_key(|(_, item)| (item.area_no, item.problem_no, item.sub_no));
    Ok(LoadedCampaign {
        record,
        campaign,
        items,
        ledger,
    })
}
