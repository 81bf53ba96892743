//! The schema version 2 migration runner (`rectify migrate-schema`, issue #21) on stored
//! data: the demo campaign, with two schools' work on one shared item.
//!
//! PostgreSQL runs on the test server (`RECTIFY_TEST_DATABASE_URL`, else 127.0.0.1:5432).

use anyhow::Result;
use rectify_server::campaigns::{self, load_document};
use rectify_server::demo::create_demo;
use rectify_server::schema_v2::migrate_items;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{self, AuditQuery, ItemRecord, Storage, StorageUrl, Write};
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::v2::migrate::migrated_to;
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
use rectify_shared::model::{EditContext, ItemDoc, ItemEdit, ItemPlan};
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
