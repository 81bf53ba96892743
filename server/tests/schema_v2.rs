//! The schema version 2 migration runner (`rectify migrate-schema`, issue #21) on stored
//! data: the demo campaign, with two schools' work on one shared item.
//!
//! Then what the office reads of the migrated campaign (step 7): the report, the ledger and
//! the export are the same as before, and a unit's work that cannot be read is an error.
//!
//! PostgreSQL runs on the test server (`RECTIFY_TEST_DATABASE_URL`, else 127.0.0.1:5432).

use anyhow::Result;
use rectify_server::campaigns::{self, LedgerFormat, ReportFormat, load_document};
use rectify_server::demo::create_demo;
use rectify_server::schema_v2::migrate_items;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{self, AuditQuery, ItemRecord, Storage, StorageUrl, Write};
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::ledger::Headers;
use rectify_shared::model::v2::migrate::migrated_to;
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
use rectify_shared::model::{EditContext, EvidenceRef, ItemDoc, ItemEdit, ItemPlan};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::workflow::UnitStatus;
use std::collections::BTreeMap;
use std::sync::Arc;

const S1_WORK: &str = "一中：已完成校额调整，佐证见附件";
const S2_WORK: &str = "三中：正在制定方案";

fn ctx(role: Role, unit: Option<&str>, user: &str) -> EditContext {
    EditContext {
        actor: Actor {
            role,
            unit: unit.map(UnitId::new),
        },
        user: user.to_owned(),
        now_ms: 1_700_000_000_000,
    }
}

/// The demo, and its first item shared by school1 (pszx1) and school2 (pszx3), each of
/// which wrote its own work.
async fn demo_with_shared_item(storage: &dyn Storage) -> Result<ItemRecord> {
    create_demo(storage, "demo-password").await?;
    let campaign = campaigns::choose_campaign(storage, None).await?;
    // The first item neither school's work on is signed off (the demo signs some off).
    let mut shared = None;
    for item in storage.items(&campaign.id).await? {
        let doc = load_document(storage, &item.id).await?.expect("stored");
        let v1 = ItemDoc::load(&doc)?;
        let open = |unit| v1.unit_status(unit) != UnitStatus::SignedOff;
        if open("pszx1") && open("pszx3") {
            shared = Some(item);
            break;
        }
    }
    let shared = shared.expect("the demo has an item open to both schools");
    let plan = ItemEdit::Plan(ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: vec!["pszx1".into(), "pszx3".into()],
        deadline: None,
        timing: None,
    });
    let office = ctx(Role::Office, None, "office");
    campaigns::edit_item(storage, &shared, &office, plan).await?;
    for (unit, user, text) in [("pszx1", "school1", S1_WORK), ("pszx3", "school2", S2_WORK)] {
        let edit = ItemEdit::UnitNarrative {
            unit: unit.into(),
            text: text.into(),
        };
        campaigns::edit_item(storage, &shared, &ctx(Role::Unit, Some(unit), user), edit).await?;
    }
    Ok(shared)
}

/// Everything a run could change, to compare two states: every document's stored version,
/// every listed item, every unit-work row, the audit log's length.
async fn snapshot(storage: &dyn Storage) -> Result<String> {
    let ids: Vec<DocumentId> = storage.documents().await?.iter().map(|d| d.id).collect();
    let versions: BTreeMap<String, i64> = (storage.document_versions(&ids).await?)
        .into_iter()
        .map(|(id, v)| (id.to_string(), v))
        .collect();
    let mut items = Vec::new();
    let mut works = Vec::new();
    for campaign in storage.campaigns().await? {
        for item in storage.items(&campaign.id).await? {
            works.extend(storage.unit_works(&item.id).await?);
            items.push(ItemRecord {
                updated_at_ms: 0,
                ..item
            });
        }
    }
    let audit = migrated_entries(storage).await?;
    Ok(format!("{versions:?}\n{items:?}\n{works:?}\n{audit}"))
}

fn audit_query() -> AuditQuery {
    AuditQuery {
        action: Some("schema_migrated".to_owned()),
        limit: 10_000,
        ..AuditQuery::default()
    }
}

/// How many items the audit log says were migrated.
async fn migrated_entries(storage: &dyn Storage) -> Result<usize> {
    Ok(storage.audit_log(&audit_query()).await?.len())
}

async fn sqlite() -> Result<(tempfile::TempDir, Arc<dyn Storage>)> {
    let dir = tempfile::tempdir()?;
    let storage = storage::open(&StorageUrl::for_data_dir(dir.path())).await?;
    Ok((dir, storage))
}

#[tokio::test]
async fn every_item_moves_to_version_2_once_and_a_school_gets_only_its_own_work() -> Result<()> {
    let (_dir, storage) = sqlite().await?;
    let storage = storage.as_ref();
    let shared = demo_with_shared_item(storage).await?;
    let campaign = shared.campaign_id;
    let before = storage.items(&campaign).await?;

    let run = migrate_items(storage).await?;
    assert_eq!(run.migrated.len(), before.len(), "{run:?}");
    assert_eq!(run.already, 0);

    // The list holds the version-2 items, under the same keys.
    let after = storage.items(&campaign).await?;
    let keys = |items: &[ItemRecord]| items.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&after), keys(&before));
    for item in &after {
        let doc = load_document(storage, &item.id).await?.expect("stored");
        ItemDocV2::load(&doc)?;
    }

    // The shared item: one work document per school, each with only its own work; the
    // item every school reads holds neither; the version-1 document is marked.
    let v2_id = v2::item_id_for(&shared.id);
    let works = storage.unit_works(&v2_id).await?;
    let work_of = |unit: &str| works.iter().find(|w| w.unit == unit).expect("a row");
    // The demo may have had another unit on the item: kept, taken off.
    let others = works
        .iter()
        .filter(|w| !["pszx1", "pszx3"].contains(&w.unit.as_str()));
    assert!(others.clone().all(|w| !w.assigned), "{works:?}");
    for (work, own, other) in [
        (work_of("pszx1"), S1_WORK, S2_WORK),
        (work_of("pszx3"), S2_WORK, S1_WORK),
    ] {
        assert_eq!(work.id, v2::unit_work_id(&v2_id, &work.unit));
        assert!(work.assigned);
        assert_eq!(work.department.as_deref(), Some("jcg"));
        let mut doc = load_document(storage, &work.id).await?.expect("stored");
        assert_eq!(UnitWorkDoc::load(&doc)?.narrative.as_str(), own);
        let saved = String::from_utf8_lossy(&doc.save()).into_owned();
        assert!(
            !saved.contains(other),
            "{}'s document holds the other's work",
            work.unit
        );
    }
    let mut item = load_document(storage, &v2_id).await?.expect("stored");
    let saved = String::from_utf8_lossy(&item.save()).into_owned();
    assert!(!saved.contains(S1_WORK) && !saved.contains(S2_WORK));
    let v1 = load_document(storage, &shared.id).await?.expect("kept");
    assert_eq!(migrated_to(&v1), Some(v2_id));
    assert_eq!(
        ItemDoc::load(&v1)?.progress["pszx1"].narrative.as_str(),
        S1_WORK
    );
    let ours = storage.unit_works_of("pszx3").await?;
    assert!(ours.iter().all(|w| w.unit == "pszx3"), "{ours:?}");

    // Audited, one entry per item, by the command line.
    assert_eq!(migrated_entries(storage).await?, before.len());
    let audit = storage.audit_log(&audit_query()).await?;
    assert_eq!(
        audit[0].account.as_str(),
        rectify_shared::api::AUDIT_COMMAND_LINE
    );

    // Again: nothing to do, nothing changed.
    let state = snapshot(storage).await?;
    let again = migrate_items(storage).await?;
    assert!(again.migrated.is_empty(), "{again:?}");
    assert_eq!(again.already, before.len());
    assert_eq!(snapshot(storage).await?, state);
    Ok(())
}

/// A write that fails (here: a document already has the id the version-2 item must have)
/// leaves the version-1 item as it was: its document, its place in the list, no unit-work
/// rows, no audit entry; the run stops there and says which item (the first listed, so
/// nothing at all changes).
#[tokio::test]
async fn a_failed_write_leaves_version_1_untouched() -> Result<()> {
    let (_dir, storage) = sqlite().await?;
    let storage = storage.as_ref();
    let shared = demo_with_shared_item(storage).await?;
    let shared = storage.items(&shared.campaign_id).await?.remove(0);
    let squatter = v2::item_id_for(&shared.id);
    storage
        .write(vec![Write::NewDocument {
            id: squatter,
            kind: "item".to_owned(),
            created_at_ms: 1,
        }])
        .await?;
    let state = snapshot(storage).await?;

    let failed = migrate_items(storage).await.expect_err("the id is taken");
    let message = format!("{failed:#}");
    assert!(message.contains(&shared.key), "{message}");
    assert_eq!(snapshot(storage).await?, state);
    let v1 = load_document(storage, &shared.id).await?.expect("kept");
    assert_eq!(migrated_to(&v1), None);
    assert!(storage.unit_works(&squatter).await?.is_empty());
    Ok(())
}

/// Two runners on one PostgreSQL database at once (two replicas): every item migrated once,
/// the version-1 document marked once.
#[tokio::test]
async fn two_runners_at_once_make_one_result() -> Result<()> {
    let database = ScratchDatabase::create()?;
    let url = database.storage_url();
    let (a, b) = (storage::open(&url).await?, storage::open(&url).await?);
    let shared = demo_with_shared_item(a.as_ref()).await?;
    let listed = a.items(&shared.campaign_id).await?;
    let chunks_before = a.document_chunks(&shared.id).await?.expect("stored").len();

    let (run_a, run_b) = tokio::join!(migrate_items(a.as_ref()), migrate_items(b.as_ref()));
    let (run_a, run_b) = (run_a?, run_b?);
    let mut migrated: Vec<_> = run_a.migrated.iter().chain(&run_b.migrated).collect();
    migrated.sort();
    migrated.dedup();
    assert_eq!(
        run_a.migrated.len() + run_b.migrated.len(),
        listed.len(),
        "each item migrated by exactly one runner: {run_a:?} {run_b:?}"
    );
    assert_eq!(migrated.len(), listed.len());

    let v1 = a.document_chunks(&shared.id).await?.expect("kept");
    assert_eq!(v1.len(), chunks_before + 1, "one mark");
    let v2_id = v2::item_id_for(&shared.id);
    assert_eq!(a.document_chunks(&v2_id).await?.expect("made").len(), 1);
    let works = a.unit_works(&v2_id).await?;
    let mut units: Vec<&str> = works.iter().map(|w| w.unit.as_str()).collect();
    units.dedup();
    assert_eq!(units.len(), works.len(), "one row per unit: {works:?}");
    assert_eq!(migrated_entries(a.as_ref()).await?, listed.len());
    Ok(())
}

/// The office's files of the (only) campaign, by name: the report as text and HTML, the
/// ledger as CSV and JSON, and the per-unit ledger (each unit's work on each item).
async fn office_files(storage: &dyn Storage) -> Result<Vec<(&'static str, String)>> {
    let record = campaigns::choose_campaign(storage, None).await?;
    let loaded = campaigns::load_campaign(storage, record).await?;
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("text");
    Ok(vec![
        ("report.txt", text(loaded.report_file(ReportFormat::Txt)?)),
        ("report.html", text(loaded.report_file(ReportFormat::Html)?)),
        (
            "ledger.csv",
            text(loaded.ledger_file(LedgerFormat::Csv, Headers::Chinese)?),
        ),
        (
            "ledger.json",
            text(loaded.ledger_file(LedgerFormat::Json, Headers::Keys)?),
        ),
        ("unit ledger", format!("{:#?}", loaded.unit_ledger_rows())),
    ])
}

/// Each file equal to the one of the same name in `expected`; a difference is shown by its
/// first differing line.
fn same_files(files: &[(&str, String)], expected: &[(&str, String)], when: &str) {
    assert_eq!(files.len(), expected.len());
    for ((name, got), (_, want)) in files.iter().zip(expected) {
        let first_difference = (got.lines().zip(want.lines()))
            .find(|(g, w)| g != w)
            .map(|(g, w)| format!("now:    {g}\nbefore: {w}"));
        assert!(
            got == want,
            "{when}: {name} differs: {}",
            first_difference.unwrap_or_else(|| "in length".to_owned())
        );
    }
}

/// On the shared item, school1 also attaches a file and the office signs school2's work off
/// with a message: every kind of a unit's work is in the files compared.
async fn more_work_on(storage: &dyn Storage, shared: &ItemRecord) -> Result<()> {
    let school1 = ctx(Role::Unit, Some("pszx1"), "school1");
    let evidence = ItemEdit::AddEvidence {
        unit: "pszx1".into(),
        evidence: EvidenceRef {
            sha256: "ab".repeat(32),
            name: "名单.pdf".into(),
            mime: "application/pdf".into(),
            size: 1000,
            caption: String::new(),
            added_by: "school1".into(),
            added_at_ms: school1.now_ms,
        },
    };
    campaigns::edit_item(storage, shared, &school1, evidence).await?;
    let school2 = ctx(Role::Unit, Some("pszx3"), "school2");
    let request = ItemEdit::UnitStatus {
        unit: "pszx3".into(),
        to: UnitStatus::Submitted,
        reason: None,
    };
    campaigns::edit_item(storage, shared, &school2, request).await?;
    let office = ctx(Role::Office, None, "office");
    let sign_off = ItemEdit::UnitStatus {
        unit: "pszx3".into(),
        to: UnitStatus::SignedOff,
        reason: None,
    };
    campaigns::edit_item(storage, shared, &office, sign_off).await?;
    Ok(())
}

/// Step 7 (issue #21): the report, the ledger and the export of a campaign are the same
/// before the migration, with some items migrated (a run stopped half-way) and with all of
/// them migrated; on SQLite and on PostgreSQL. The per-unit ledger holds each school's
/// words, so a unit's work left out makes them differ.
#[tokio::test]
async fn the_office_files_are_the_same_before_and_after_the_migration() -> Result<()> {
    let (_dir, sqlite) = sqlite().await?;
    let database = ScratchDatabase::create()?;
    let postgres = storage::open(&database.storage_url()).await?;
    for storage in [sqlite.as_ref(), postgres.as_ref()] {
        let shared = demo_with_shared_item(storage).await?;
        more_work_on(storage, &shared).await?;
        let before = office_files(storage).await?;
        let units = &before.last().expect("the unit ledger").1;
        assert!(
            units.contains(S1_WORK) && units.contains(S2_WORK),
            "{units}"
        );

        // Half-way: the item after the shared one in the list cannot be migrated (its id is
        // taken), so the run stops there: the items before it are version 2, it and those
        // after it version 1.
        let listed = storage.items(&shared.campaign_id).await?;
        let at = listed
            .iter()
            .position(|i| i.id == shared.id)
            .expect("listed")
            + 1;
        assert!(at < listed.len(), "the shared item is not the last one");
        let squatter = v2::item_id_for(&listed[at].id);
        storage
            .write(vec![Write::NewDocument {
                id: squatter,
                kind: "item".to_owned(),
                created_at_ms: 1,
            }])
            .await?;
        migrate_items(storage)
            .await
            .expect_err("stops at the taken id");
        let mixed = storage.items(&shared.campaign_id).await?;
        let still_v1 = |i: &&ItemRecord| listed.iter().any(|l| l.id == i.id);
        let v2_items = mixed.iter().filter(|i| !still_v1(i)).count();
        assert_eq!(v2_items, at, "the items before the stop are migrated");
        same_files(&office_files(storage).await?, &before, "mixed versions");
    }

    // All of them (without the squatter) on a fresh store of each backend.
    let (_dir, sqlite) = self::sqlite().await?;
    let database = ScratchDatabase::create()?;
    let postgres = storage::open(&database.storage_url()).await?;
    for storage in [sqlite.as_ref(), postgres.as_ref()] {
        let shared = demo_with_shared_item(storage).await?;
        more_work_on(storage, &shared).await?;
        let before = office_files(storage).await?;
        let listed = storage.items(&shared.campaign_id).await?.len();
        let run = migrate_items(storage).await?;
        assert_eq!(run.migrated.len(), listed);
        same_files(&office_files(storage).await?, &before, "all migrated");
    }
    Ok(())
}

/// A version-2 item whose unit's work document cannot be read, or does not exist (the
/// office's plan assigning a unit arrived before the unit's document), makes the ledger
/// and the report fail with an error naming the item and the unit, rather than leave that
/// unit's work out.
#[tokio::test]
async fn a_unit_work_document_missing_or_damaged_is_an_error_naming_the_item() -> Result<()> {
    let (_dir, storage) = sqlite().await?;
    let storage = storage.as_ref();
    let shared = demo_with_shared_item(storage).await?;
    migrate_items(storage).await?;
    let item_id = v2::item_id_for(&shared.id);
    office_files(storage).await?;

    // Damaged: bytes that are no Automerge appended to school2's work.
    let ours = v2::unit_work_id(&item_id, "pszx3");
    storage
        .write(vec![Write::AppendChunk {
            document: ours,
            data: b"not automerge".to_vec(),
            created_at_ms: 1,
            expect_version: None,
        }])
        .await?;
    let failed = office_files(storage)
        .await
        .map(|_| ())
        .expect_err("damaged");
    let message = format!("{failed:#}");
    for named in [shared.key.as_str(), &item_id.to_string(), "pszx3"] {
        assert!(message.contains(named), "{named} in: {message}");
    }

    // Missing: on a fresh store, the office assigns another school; the item lists its work
    // document, which is not stored (yet).
    let (_dir, storage) = sqlite().await?;
    let storage = storage.as_ref();
    let shared = demo_with_shared_item(storage).await?;
    migrate_items(storage).await?;
    let item_id = v2::item_id_for(&shared.id);
    let mut item = load_document(storage, &item_id).await?.expect("stored");
    let before = item.get_heads();
    let typed = ItemDocV2::load(&item)?;
    let plan = ItemEdit::Plan(ItemPlan {
        responsible_leader: typed.responsible_leader.clone(),
        responsible_department: typed.responsible_department.clone(),
        units: vec!["pszx1".into(), "pszx3".into(), "pszx5".into()],
        deadline: None,
        timing: None,
    });
    let statuses = BTreeMap::new();
    let office = ctx(Role::Office, None, "office");
    v2::apply_item(&mut item, &item_id, &statuses, &office, plan)?;
    storage
        .write(vec![Write::AppendChunk {
            document: item_id,
            data: item.save_after(&before),
            created_at_ms: 1,
            expect_version: None,
        }])
        .await?;
    let failed = office_files(storage)
        .await
        .map(|_| ())
        .expect_err("missing");
    let message = format!("{failed:#}");
    let missing = v2::unit_work_id(&item_id, "pszx5").to_string();
    for named in [shared.key.as_str(), &item_id.to_string(), "pszx5", &missing] {
        assert!(message.contains(named), "{named} in: {message}");
    }
    Ok(())
}
