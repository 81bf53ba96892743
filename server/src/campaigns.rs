//! Campaigns and their items on top of [`Storage`]: importing a report into documents,
//! loading them back for the ledger and the public report.
//!
//! An import is one storage transaction: a report that fails to parse, or a write that fails,
//! leaves everything stored as it was. Re-importing the same report changes nothing; an
//! updated report updates the items' definitions and keeps the units' progress.

use crate::arrivals;
use crate::audit;
use crate::clock::now_ms;
use crate::office_files;
use crate::storage::{CampaignRecord, ItemRecord, Storage, Write};
use anyhow::{Context, Result, bail};
use automerge::{AutoCommit, ChangeHash};
use rand_core::{OsRng, RngCore};
use rectify_shared::api::{ImportPreview, LeftAlone, ReportText};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::import::{self, Imported};
use rectify_shared::ledger::Headers;
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
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

/// Adds the writes that create a new document holding `value` to `batch` (with the record of
/// its first change's arrival); returns its id.
fn new_document<T: autosurgeon::Reconcile>(
    batch: &mut Vec<Write>,
    value: &T,
    kind: &str,
    user: &str,
    now: i64,
) -> Result<DocumentId> {
    let id = new_document_id();
    let mut doc = model::create_document(value, user, now)?;
    let hashes: Vec<ChangeHash> = doc.get_changes_meta(&[]).iter().map(|c| c.hash).collect();
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
    batch.push(arrivals::arrived(
        id,
        &hashes,
        now,
        Some(&Username::new(user)),
    ));
    Ok(id)
}

/// Adds the changes `doc` has beyond `since` (the heads it was loaded with) to `batch` as one
/// chunk, with the record of their arrival from `user` (the account that called the API).
/// False when there are none.
///
/// Not `save_incremental`: after a load it would save every change again, not the new ones.
fn push_changes(
    batch: &mut Vec<Write>,
    id: DocumentId,
    doc: &mut AutoCommit,
    since: &[ChangeHash],
    now: i64,
    user: &str,
) -> bool {
    let hashes: Vec<ChangeHash> = doc.get_changes_meta(since).iter().map(|c| c.hash).collect();
    if hashes.is_empty() {
        return false;
    }
    batch.push(Write::AppendChunk {
        document: id,
        data: doc.save_after(since),
        created_at_ms: now,
        // Written beside the sync hub, which reads what is stored afresh afterwards.
        expect_version: None,
    });
    batch.push(arrivals::arrived(
        id,
        &hashes,
        now,
        Some(&Username::new(user)),
    ));
    true
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub campaign: DocumentId,
    pub campaign_created: bool,
    pub items_created: usize,
    pub items_updated: usize,
    pub items_unchanged: usize,
    /// What the re-import did not overwrite, and why ([`model::refresh_from_report`]).
    pub left_alone: Vec<LeftAlone>,
    /// Documents that existed and were changed: open copies to refresh
    /// ([`crate::sync_ws::SyncHub::refresh`]).
    pub changed: Vec<DocumentId>,
    /// Documents made by the import (the campaign, if new, and its new items): their readers
    /// are told at once ([`crate::sync_ws::SyncHub::announce`]).
    pub created: Vec<DocumentId>,
}

/// The key that tells whether a report is of a campaign already stored (the same inspection
/// round): an import of it updates that campaign.
pub fn natural_key(report: &Report) -> String {
    model::campaign_from_report(report).natural_key()
}

/// Stores an imported report as a campaign and its items, with its audit entry by
/// `audit_as` (all in one transaction). `user` names the changes it makes.
pub async fn import_report(
    storage: &dyn Storage,
    report: &Report,
    user: &str,
    audit_as: &Username,
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
    let mut changed = Vec::new();
    let campaign_created = existing.is_none();
    let campaign_id = match &existing {
        Some(record) => {
            let mut doc = load_document(storage, &record.id)
                .await?
                .context("the campaign's document is missing")?;
            let mut current = CampaignDoc::load(&doc)?;
            let before = doc.get_heads();
            model::refresh_campaign_from_report(&mut current, &imported_campaign);
            model::update_document(&mut doc, &current, user, "import", now)?;
            if push_changes(&mut batch, record.id, &mut doc, &before, now, user) {
                changed.push(record.id);
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
        left_alone: Vec::new(),
        changed,
        created: Vec::new(),
    };
    if campaign_created {
        outcome.created.push(campaign_id);
    }
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
                        // Reading the item as the last import left it costs a fork of the
                        // document: only when the report differs where the app may have
                        // decided (most items of a re-import do not).
                        let decided_fields_differ = imported.status != current.status
                            || imported.narrative.as_str() != current.narrative.as_str();
                        let last_import = decided_fields_differ
                            .then(|| model::as_last_imported(&mut doc))
                            .flatten();
                        outcome.left_alone.extend(model::refresh_from_report(
                            &mut current,
                            &imported,
                            last_import.as_ref(),
                        ));
                        let before = doc.get_heads();
                        model::update_item(&mut doc, &current, user, "import", now)?;
                        if push_changes(&mut batch, record.id, &mut doc, &before, now, user) {
                            outcome.items_updated += 1;
                            outcome.changed.push(record.id);
                            batch.push(Write::Item(item_record(
                                record.id,
                                campaign_id,
                                &current,
                                now,
                            )));
                        } else {
                            outcome.items_unchanged += 1;
                        }
                    }
                    None => {
                        let id = new_document(&mut batch, &imported, "item", user, now)?;
                        batch.push(Write::Item(item_record(id, campaign_id, &imported, now)));
                        outcome.items_created += 1;
                        outcome.created.push(id);
                    }
                }
            }
        }
    }
    batch.push(audit::entry(
        audit_as,
        audit::action::IMPORT,
        &campaign_id.to_string(),
        &format!(
            "created {}, updated {}, unchanged {}",
            outcome.items_created, outcome.items_updated, outcome.items_unchanged
        ),
    ));
    storage.write(batch).await?;
    Ok(outcome)
}

/// The report's own text of a stored campaign (title, opening, parts 一 三 四, signature).
pub async fn report_text(storage: &dyn Storage, record: &CampaignRecord) -> Result<ReportText> {
    let doc = load_document(storage, &record.id)
        .await?
        .context("the campaign's document is missing")?;
    Ok(model::report_text(&CampaignDoc::load(&doc)?))
}

/// Sets the report's own text of a stored campaign: only what changed is written, as one
/// change by `user` (op `report_text`). Text that cannot be stored is a
/// [`model::ReportTextError`] and changes nothing.
pub async fn edit_report_text(
    storage: &dyn Storage,
    record: &CampaignRecord,
    text: &ReportText,
    user: &str,
) -> Result<ReportText> {
    let mut doc = load_document(storage, &record.id)
        .await?
        .context("the campaign's document is missing")?;
    let mut campaign = CampaignDoc::load(&doc)?;
    model::set_report_text(&mut campaign, text)?;
    let now = now_ms();
    let before = doc.get_heads();
    model::update_document(&mut doc, &campaign, user, "report_text", now)?;
    let mut batch = Vec::new();
    if push_changes(&mut batch, record.id, &mut doc, &before, now, user) {
        storage.write(batch).await?;
    }
    Ok(model::report_text(&campaign))
}

/// Applies an edit to a stored item and saves it with its index row, in one transaction; what
/// the audit log records of it (a re-plan, a sign-off, a send-back: [`audit::sync_entries`])
/// goes in that transaction too, by [`audit::COMMAND_LINE`]: this is the command line's (and
/// the demo's) way to edit, never an HTTP caller's.
pub async fn edit_item(
    storage: &dyn Storage,
    record: &ItemRecord,
    ctx: &EditContext,
    edit: ItemEdit,
) -> Result<ItemDoc> {
    let mut doc = load_document(storage, &record.id)
        .await?
        .with_context(|| format!("item {} is missing", record.key))?;
    let before = doc.get_heads();
    let old = ItemDoc::load(&doc)?;
    model::apply(&mut doc, ctx, edit)?;
    let item = ItemDoc::load(&doc)?;
    // The arrival is the server's clock, not the edit's (a test or the demo may date edits).
    let now = now_ms();
    let mut batch = Vec::new();
    push_changes(&mut batch, record.id, &mut doc, &before, now, &ctx.user);
    batch.push(Write::Item(item_record(
        record.id,
        record.campaign_id,
        &item,
        ctx.now_ms,
    )));
    batch.extend(audit::sync_entries(
        &audit::command_line(),
        record.id,
        &old,
        &item,
        now,
    ));
    storage.write(batch).await?;
    Ok(item)
}

/// Stores `item`, an item made by hand by `user` (the office), as a new document of
/// `campaign` with its index row and its audit entry, in one transaction, as the importer
/// stores a new item.
pub async fn add_item(
    storage: &dyn Storage,
    campaign: &CampaignRecord,
    item: &ItemDoc,
    user: &str,
) -> Result<ItemRecord> {
    let now = now_ms();
    let mut batch = Vec::new();
    // An item in an area the campaign does not list yet adds the area, in the same
    // transaction: the report, the ledger and the item list go by that list.
    let mut doc = load_document(storage, &campaign.id)
        .await?
        .context("the campaign's document is missing")?;
    let mut current = CampaignDoc::load(&doc)?;
    if !current.areas.iter().any(|a| a.number == item.area_no) {
        current.areas.push(model::AreaInfo {
            number: item.area_no,
            title: item.area_title.clone(),
        });
        current.areas.sort_by_key(|a| a.number);
        let before = doc.get_heads();
        model::update_document(&mut doc, &current, user, "add_area", now)?;
        push_changes(&mut batch, campaign.id, &mut doc, &before, now, user);
    }
    let id = new_document(&mut batch, item, "item", user, now)?;
    let record = item_record(id, campaign.id, item, now);
    batch.push(Write::Item(record.clone()));
    batch.push(audit::entry(
        &Username::new(user),
        audit::action::ITEM_ADDED,
        &id.to_string(),
        &record.key,
    ));
    storage.write(batch).await?;
    Ok(record)
}

/// Does the campaign list no area `area_no` yet? Adding an item there changes the campaign's
/// document ([`add_item`]).
pub async fn area_is_new(
    storage: &dyn Storage,
    campaign: &CampaignRecord,
    area_no: u32,
) -> Result<bool> {
    let doc = load_document(storage, &campaign.id)
        .await?
        .context("the campaign's document is missing")?;
    Ok(!CampaignDoc::load(&doc)?
        .areas
        .iter()
        .any(|a| a.number == area_no))
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

    /// The item documents, borrowed (the ledgers read them without copying).
    fn docs(&self) -> impl Iterator<Item = &ItemDoc> {
        self.items.iter().map(|(_, doc)| doc)
    }

    pub fn ledger_rows(&self) -> Vec<rectify_shared::ledger::LedgerRow> {
        model::ledger_rows(self.docs(), &self.ledger)
    }

    /// Each assigned unit's work on each item (the XLSX ledger's second sheet).
    pub fn unit_ledger_rows(&self) -> Vec<rectify_shared::ledger::UnitLedgerRow> {
        model::unit_ledger_rows(self.docs(), &self.ledger)
    }
}

/// Loads a campaign and all its items for the ledger and the report. A version-2 item
/// (issue #21) is read with every unit's work document it lists, as the office reads it
/// ([`ItemDocV2::office_view`]), so the ledger, the report and the export are the same
/// before and after `rectify migrate-schema`. A document missing or unreadable is an error
/// naming the item: never a report without some unit's work.
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
    // The stored bytes first (IO), then every document read in one go off the async threads
    // (a district's campaign is thousands of Automerge loads); the same again for the
    // unit-work documents the version-2 items list.
    let mut stored = Vec::new();
    for item_record in storage.items(&record.id).await? {
        let chunks = storage
            .document_chunks(&item_record.id)
            .await?
            .with_context(|| format!("item {}'s document is missing", item_record.key))?;
        stored.push((item_record, chunks.concat()));
    }
    let read = crate::blocking::cpu(move || -> Result<Vec<ReadItem>> {
        stored
            .into_iter()
            .map(|(r, bytes)| read_item(r, &bytes))
            .collect()
    })
    .await??;
    let mut works = Vec::new();
    for item in &read {
        let Stored::V2(v2) = &item.doc else { continue };
        for (unit, id) in &v2.unit_work {
            let bytes = unit_work_bytes(storage, id).await.with_context(|| {
                format!(
                    "item {} ({}): unit {unit}'s work cannot be read",
                    item.record.key, item.record.id
                )
            })?;
            works.push((item.record.id, unit.clone(), bytes));
        }
    }
    let (items, last_change_ms) = crate::blocking::cpu(move || office_items(read, works)).await??;
    ledger.last_change_ms.extend(last_change_ms);
    Ok(LoadedCampaign {
        record,
        campaign,
        items,
        ledger,
    })
}

/// A stored item document as read: version 1, or version 2 (without its units' work yet).
enum Stored {
    V1(ItemDoc),
    V2(ItemDocV2),
}

struct ReadItem {
    record: ItemRecord,
    doc: Stored,
    /// The time of its newest change (Unix ms), if it has any.
    last_change_ms: Option<i64>,
}

/// Reads an item document of either schema version (CPU work).
fn read_item(record: ItemRecord, bytes: &[u8]) -> Result<ReadItem> {
    let id = record.id;
    let mut doc =
        model::load_automerge(bytes).with_context(|| format!("document {id} is damaged"))?;
    let typed = if v2::is_v2(&doc) {
        Stored::V2(
            ItemDocV2::load(&doc)
                .with_context(|| format!("item {} ({id}) cannot be read", record.key))?,
        )
    } else {
        Stored::V1(ItemDoc::load(&doc)?)
    };
    let last_change_ms = newest_change_ms(&mut doc);
    Ok(ReadItem {
        record,
        doc: typed,
        last_change_ms,
    })
}

fn newest_change_ms(doc: &mut AutoCommit) -> Option<i64> {
    doc.get_changes(&[]).iter().map(|c| c.timestamp()).max()
}

/// The stored bytes of the unit-work document `id` (as written in an item's `unit_work`).
async fn unit_work_bytes(storage: &dyn Storage, id: &str) -> Result<Vec<u8>> {
    let id: DocumentId = id
        .parse()
        .map_err(|e| anyhow::anyhow!("its document id '{id}' is not an id: {e}"))?;
    let chunks = storage
        .document_chunks(&id)
        .await?
        .with_context(|| format!("its document {id} is missing"))?;
    Ok(chunks.concat())
}

/// Every item as the office reads it, in report order, and each item's newest change (a
/// version-2 item's over its document and its units' documents), by key (CPU work).
/// `works` are (item id, unit, the stored bytes) of the version-2 items' unit-work documents.
#[allow(clippy::type_complexity)]
fn office_items(
    read: Vec<ReadItem>,
    works: Vec<(DocumentId, String, Vec<u8>)>,
) -> Result<(Vec<(ItemRecord, ItemDoc)>, Vec<(String, i64)>)> {
    let mut by_item: BTreeMap<DocumentId, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (item, unit, bytes) in works {
        by_item.entry(item).or_default().push((unit, bytes));
    }
    let mut items = Vec::with_capacity(read.len());
    let mut last_change_ms = Vec::new();
    for ReadItem {
        record,
        doc,
        last_change_ms: mut newest,
    } in read
    {
        let item = match doc {
            Stored::V1(item) => item,
            Stored::V2(item) => {
                let what = || format!("item {} ({})", record.key, record.id);
                let mut docs = BTreeMap::new();
                for (unit, bytes) in by_item.remove(&record.id).unwrap_or_default() {
                    let mut doc = model::load_automerge(&bytes)
                        .with_context(|| format!("{}: unit {unit}'s work is damaged", what()))?;
                    let work = UnitWorkDoc::load(&doc).with_context(|| {
                        format!("{}: unit {unit}'s work cannot be read", what())
                    })?;
                    newest = newest.max(newest_change_ms(&mut doc));
                    docs.insert(unit, work);
                }
                item.office_view(&record.id, &docs).with_context(what)?
            }
        };
        if let Some(ms) = newest {
            last_change_ms.push((item.key.clone(), ms));
        }
        items.push((record, item));
    }
    items.sort_by_key(|(_, item)| (item.area_no, item.problem_no, item.sub_no));
    Ok((items, last_change_ms))
}

/// A report file as it arrives (`rectify import FILE`, `POST /api/import`): a `.docx` (a ZIP
/// archive) or a text file in any encoding the importer accepts, decoded and parsed. Nothing
/// is stored.
pub fn read_report(bytes: &[u8]) -> Result<Imported> {
    if bytes.starts_with(b"PK\x03\x04") {
        let text = office_files::docx::extract_text(bytes)?;
        Ok(import::parse(&text)?)
    } else {
        Ok(import::import_bytes(bytes)?)
    }
}

/// What a parsed report holds and what looked odd, before anything is stored; `outcome`
/// fills in what storing it did.
pub fn import_preview(imported: &Imported, outcome: Option<&ImportOutcome>) -> ImportPreview {
    let totals = imported.report.totals();
    ImportPreview {
        campaign_name: model::campaign_from_report(&imported.report).name,
        areas: totals.areas,
        problems: totals.problems,
        items: totals.items,
        done: totals.done,
        done_long_term: totals.done_long_term,
        in_progress: totals.in_progress,
        warnings: imported.warnings.clone(),
        stored: outcome.is_some(),
        campaign: outcome.map(|o| o.campaign.to_string()),
        items_created: outcome.map_or(0, |o| o.items_created),
        items_updated: outcome.map_or(0, |o| o.items_updated),
        items_unchanged: outcome.map_or(0, |o| o.items_unchanged),
        left_alone: outcome.map_or_else(Vec::new, |o| o.left_alone.clone()),
    }
}

/// The ledger's (台账) file formats: `rectify export --format`, and
/// `GET /api/campaigns/{id}/ledger.{csv,xlsx}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LedgerFormat {
    Csv,
    Xlsx,
    Json,
}

/// The public report's file formats: `rectify report --format`, and
/// `GET /api/campaigns/{id}/report.{txt,docx,html}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Txt,
    Docx,
    Html,
}

impl LedgerFormat {
    pub fn extension(self) -> &'static str {
        match self {
            LedgerFormat::Csv => "csv",
            LedgerFormat::Xlsx => "xlsx",
            LedgerFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            LedgerFormat::Csv => "text/csv; charset=utf-8",
            LedgerFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            LedgerFormat::Json => "application/json",
        }
    }

    /// Not for a terminal.
    pub fn is_binary(self) -> bool {
        self == LedgerFormat::Xlsx
    }
}

impl ReportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Txt => "txt",
            ReportFormat::Docx => "docx",
            ReportFormat::Html => "html",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Txt => "text/plain; charset=utf-8",
            ReportFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            ReportFormat::Html => "text/html; charset=utf-8",
        }
    }

    /// Not for a terminal.
    pub fn is_binary(self) -> bool {
        self == ReportFormat::Docx
    }
}

impl LoadedCampaign {
    /// The ledger as a file. The command line and the HTTP API both write it here; `headers`
    /// is the CSV's header row (the XLSX's labels are always Chinese, JSON has keys).
    pub fn ledger_file(&self, format: LedgerFormat, headers: Headers) -> Result<Vec<u8>> {
        let rows = self.ledger_rows();
        Ok(match format {
            LedgerFormat::Csv => rectify_shared::ledger::to_csv_with(&rows, headers).into_bytes(),
            LedgerFormat::Json => {
                let mut json = serde_json::to_vec_pretty(&rows)?;
                json.push(b'\n');
                json
            }
            LedgerFormat::Xlsx => {
                office_files::xlsx::write_ledger(&rows, &self.unit_ledger_rows(), "台账")?
            }
        })
    }

    /// The public report as a file. The command line and the HTTP API both write it here.
    pub fn report_file(&self, format: ReportFormat) -> Result<Vec<u8>> {
        let report = self.report();
        Ok(match format {
            ReportFormat::Txt => rectify_shared::report::text::build(&report).into_bytes(),
            ReportFormat::Html => rectify_shared::report::html::build(&report).into_bytes(),
            ReportFormat::Docx => {
                let title = rectify_shared::report::html::title(&report);
                office_files::docx::write_report(&report, Some(&title))?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rectify_shared::ids::UnitId;
    use rectify_shared::model::ItemPlan;
    use rectify_shared::policy::{Actor, Role};
    use std::collections::BTreeSet;

    /// Issue #20: what the command line does (an import, a re-plan with `edit_item`, the
    /// demo's way) is in the audit log, by the command line, not by the name the edit is
    /// committed under; an edit that changes no plan and no review adds no entry.
    #[tokio::test]
    async fn issue_20_command_line_imports_and_re_plans_are_audited() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::open_data_dir(dir.path()).await.unwrap();
        let storage = storage.as_ref();
        let imported = import::parse(crate::demo::DEMO_REPORT).unwrap();
        let outcome = import_report(storage, &imported.report, "import", &audit::command_line())
            .await
            .unwrap();
        let record = storage.items(&outcome.campaign).await.unwrap().remove(0);
        let office = EditContext {
            actor: Actor {
                role: Role::Office,
                unit: None,
            },
            user: "office".into(),
            now_ms: 1_700_000_000_000,
        };
        let plan = ItemPlan {
            responsible_leader: "分管副局长".into(),
            units: vec!["pszx1".into()],
            ..ItemPlan::default()
        };
        edit_item(storage, &record, &office, ItemEdit::Plan(plan))
            .await
            .unwrap();
        let feedback = ItemEdit::AddFeedback {
            id: "f1".into(),
            unit: Some("pszx1".into()),
            text: "请补充佐证。".into(),
        };
        edit_item(storage, &record, &office, feedback)
            .await
            .unwrap();

        let log = storage
            .audit_log(&crate::storage::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let rows: Vec<_> = log
            .iter()
            .rev()
            .map(|e| (e.account.as_str(), e.action.as_str(), e.target.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    audit::COMMAND_LINE,
                    audit::action::IMPORT,
                    outcome.campaign.to_string()
                ),
                (
                    audit::COMMAND_LINE,
                    audit::action::ITEM_REPLANNED,
                    record.id.to_string()
                ),
            ]
        );
        assert_eq!(log[0].detail, record.key);
    }

    #[tokio::test]
    async fn an_edit_stores_only_its_own_changes_and_when_they_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::open_data_dir(dir.path()).await.unwrap();
        let storage = storage.as_ref();
        let imported = import::parse(crate::demo::DEMO_REPORT).unwrap();
        let outcome = import_report(storage, &imported.report, "import", &audit::command_line())
            .await
            .unwrap();
        let record = storage.items(&outcome.campaign).await.unwrap().remove(0);
        let office = EditContext {
            actor: Actor {
                role: Role::Office,
                unit: None,
            },
            user: "office".into(),
            now_ms: 1_700_000_000_000,
        };
        let plan = ItemPlan {
            units: vec!["pszx1".into()],
            ..ItemPlan::default()
        };
        edit_item(storage, &record, &office, ItemEdit::Plan(plan))
            .await
            .unwrap();
        let school = EditContext {
            actor: Actor {
                role: Role::Unit,
                unit: Some(UnitId::new("pszx1")),
            },
            user: "school1".into(),
            ..office.clone()
        };
        let narrative = ItemEdit::UnitNarrative {
            unit: "pszx1".into(),
            text: "已整改。".into(),
        };
        edit_item(storage, &record, &school, narrative)
            .await
            .unwrap();

        // The import's save, then one chunk per edit holding just that edit's change.
        let chunks = storage.numbered_chunks(&record.id).await.unwrap();
        let per_chunk: Vec<usize> = chunks
            .iter()
            .map(|c| arrivals::hashes_in(&c.data).unwrap().len())
            .collect();
        assert_eq!(per_chunk, [1, 1, 1]);
        // Every change has its arrival, at the server's time rather than the edit's.
        let mut doc = load_document(storage, &record.id).await.unwrap().unwrap();
        let changes: BTreeSet<String> = doc
            .get_changes_meta(&[])
            .iter()
            .map(|c| c.hash.to_string())
            .collect();
        let arrived = storage.change_arrivals(&record.id).await.unwrap();
        assert_eq!(arrived.keys().cloned().collect::<BTreeSet<_>>(), changes);
        assert!(arrived.values().all(|a| a.received_at_ms > office.now_ms));
        // And who sent each: the account that called, one per chunk.
        let senders: BTreeSet<&str> = arrived
            .values()
            .filter_map(|a| a.sent_by.as_ref().map(Username::as_str))
            .collect();
        assert_eq!(senders, BTreeSet::from(["import", "office", "school1"]));
        assert!(arrived.values().all(|a| a.sent_by.is_some()));

        // The same report again appends nothing.
        let again = import_report(storage, &imported.report, "import", &audit::command_line())
            .await
            .unwrap();
        assert_eq!(again.items_created + again.items_updated, 0);
        assert_eq!(storage.numbered_chunks(&record.id).await.unwrap().len(), 3);
    }
}
