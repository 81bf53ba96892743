//! Schema version 2 served (issue #21): the demo's data migrated with the runner behind
//! `rectify migrate-schema`, then synced over real WebSockets. On an item shared by two
//! schools, school2 is refused school1's work document, syncs its own, and reads a
//! version-2 item that holds none of school1's words.

use anyhow::Result;
use automerge::transaction::Transactable;
use rectify_server::campaigns::{self, load_document};
use rectify_server::schema_v2::migrate_items;
use rectify_server::storage::ItemRecord;
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
use rectify_shared::model::{ItemDoc, ItemEdit, ItemPlan};
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{SyncTestClient, TestServer, office_edit, unit_edit};
use std::time::Duration;

const S1_WORK: &str = "一中：已完成校额调整，名单见附件";
const S2_WORK: &str = "三中：正在制定方案";
const LIMIT: Duration = Duration::from_secs(10);

/// The first demo item open to both demo schools, planned for just them, each with its
/// work written (in version 1, before the migration).
async fn shared_item(server: &TestServer) -> Result<ItemRecord> {
    let storage = server.storage.as_ref();
    let campaign = storage.campaigns().await?.remove(0);
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
    campaigns::edit_item(storage, &shared, &office_edit(1), plan).await?;
    for (user, unit, text) in [("school1", "pszx1", S1_WORK), ("school2", "pszx3", S2_WORK)] {
        let edit = ItemEdit::UnitNarrative {
            unit: unit.into(),
            text: text.into(),
        };
        campaigns::edit_item(storage, &shared, &unit_edit(user, unit, 2), edit).await?;
    }
    Ok(shared)
}

#[tokio::test]
async fn a_school_syncs_only_its_own_work_on_a_shared_item() -> Result<()> {
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    // Before any client connects, so the sync hub holds nothing of version 1.
    migrate_items(server.storage.as_ref()).await?;
    let item_id = v2::item_id_for(&shared.id);
    let (theirs, ours) = (
        v2::unit_work_id(&item_id, "pszx1"),
        v2::unit_work_id(&item_id, "pszx3"),
    );

    let token = server.token("school2").await?;
    let mut school2 = SyncTestClient::connect(&server.ws_base(), &token).await?;
    // Refused: school1's work, and the kept version-1 document (every school's work).
    for refused in [theirs, shared.id] {
        let fetched = school2.fetch(refused, LIMIT).await;
        let error = format!("{:#}", fetched.expect_err("not school2's to read"));
        assert!(error.contains("unavailable"), "{refused}: {error}");
    }

    // The item: readable, and nothing of school1's work in it, not even in its history.
    school2.fetch(item_id, LIMIT).await?;
    let item_doc = school2.document_mut(&item_id)?;
    let item = ItemDocV2::load(item_doc)?;
    let bytes = String::from_utf8_lossy(&item_doc.save()).into_owned();
    assert!(!bytes.contains(S1_WORK) && !bytes.contains(S2_WORK));

    // Its own work: readable, and school2 changes it.
    school2.fetch(ours, LIMIT).await?;
    let own = school2.document_mut(&ours)?;
    assert_eq!(UnitWorkDoc::load(own)?.narrative.as_str(), S2_WORK);
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx3".into(),
        text: format!("{S2_WORK}，已上报"),
    };
    v2::apply_unit_work(own, &item, &unit_edit("school2", "pszx3", 3), edit)?;
    school2.sync_until_acknowledged(&ours, LIMIT).await?;
    // A tick names a measure of the item, which the server read when it loaded the item.
    let own = school2.document_mut(&ours)?;
    let done = automerge::ReadDoc::get(own, automerge::ROOT, "measures_done")?
        .expect("a map")
        .1;
    own.put(&done, "m-made-up", true)?;
    own.put(automerge::ROOT, "updated_by", "school2")?;
    own.commit();
    let refused = school2.sync_until_acknowledged(&ours, LIMIT).await;
    let refused = format!("{:#}", refused.expect_err("no such measure"));
    assert!(refused.contains("m-made-up"), "{refused}");
    let stored = load_document(server.storage.as_ref(), &ours)
        .await?
        .expect("stored");
    assert_eq!(
        UnitWorkDoc::load(&stored)?.narrative.as_str(),
        format!("{S2_WORK}，已上报")
    );
    Ok(())
}
