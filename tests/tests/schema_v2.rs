//! Schema version 2 served (issue #21): the demo's data migrated with the runner behind
//! `rectify migrate-schema`, then synced over real WebSockets. On an item shared by two
//! schools, school2 is refused school1's work document, syncs its own, and reads a
//! version-2 item that holds none of school1's words. Evidence a school attached in version 1
//! is still served after the migration (now named by the school's work document): to the
//! school, the item's department and the office, never to the other school, and never
//! collected as unreferenced; `GET /api/items` lists each account the work documents it may
//! read. An old client's offline work synced after the migration is carried over to its
//! unit's work document as its own (wiring step 2), also through a storage fault.

use anyhow::Result;
use automerge::transaction::Transactable;
use rectify_server::campaigns::{self, load_document};
use rectify_server::schema_v2::migrate_items;
use rectify_server::state::ServerSettings;
use rectify_server::storage::ItemRecord;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_shared::api::{ErrorBody, ItemSummary};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
use rectify_shared::model::{self, EvidenceRef, ItemDoc, ItemEdit, ItemPlan};
use rectify_shared::sync::client::ClientEvent;
use rectify_shared::workflow::UnitStatus;
use rectify_tests::photos::phone_photo;
use rectify_tests::sync_client::Received;
use rectify_tests::uploader::upload;
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

/// `GET path` as `token`: the status and the body.
async fn get(server: &TestServer, token: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.bytes().await?.to_vec()))
}

/// School1 attaches a photo to its work on the shared item (version 1), then everything is
/// migrated: the photo is named only by school1's work document. Who may download it is
/// decided by that document's index row: school1, the item's department (jcg) and the
/// office and viewers may, school2 may not (the same answer as a file that does not exist,
/// in Chinese and English); and a referenced file is never collected as unreferenced.
#[tokio::test]
async fn evidence_of_a_migrated_item_goes_to_its_unit_the_department_and_the_office() -> Result<()>
{
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    let school1 = server.token("school1").await?;
    let photo = phone_photo(640, 480, 21);
    let sha = sha256_hex(&photo);
    upload(
        &server.url(""),
        &school1,
        "陪餐记录.jpg",
        &photo,
        256 * 1024,
        0,
    )
    .await?;
    let evidence = ItemEdit::AddEvidence {
        unit: "pszx1".into(),
        evidence: EvidenceRef {
            sha256: sha.clone(),
            name: "陪餐记录.jpg".into(),
            mime: "image/jpeg".into(),
            size: photo.len() as u64,
            caption: "食堂陪餐记录".into(),
            added_by: "school1".into(),
            added_at_ms: 3,
        },
    };
    let storage = server.storage.as_ref();
    campaigns::edit_item(
        storage,
        &shared,
        &unit_edit("school1", "pszx1", 3),
        evidence,
    )
    .await?;
    let file = format!("/api/files/{sha}");
    // Before: the department reads it through the version-1 item.
    let dept = server.token("dept-jcg").await?;
    assert_eq!(get(&server, &dept, &file).await?.0, 200);

    migrate_items(storage).await?;
    let item_id = v2::item_id_for(&shared.id);
    assert!(
        storage.items_referencing(&sha).await?.is_empty(),
        "the version-1 item left the list and the version-2 item names no file"
    );
    let works = storage.unit_works_referencing(&sha).await?;
    assert_eq!(
        works.iter().map(|w| w.id).collect::<Vec<_>>(),
        [v2::unit_work_id(&item_id, "pszx1")]
    );

    for (user, expected) in [
        ("school1", 200),
        ("dept-jcg", 200),
        ("office", 200),
        ("viewer", 200),
        ("school2", 404),
    ] {
        let token = server.token(user).await?;
        let (status, body) = get(&server, &token, &file).await?;
        assert_eq!(
            status,
            expected,
            "{user}: {}",
            String::from_utf8_lossy(&body)
        );
        if status == 200 {
            assert_eq!(body, photo, "{user} got the photo's bytes");
        } else {
            let error: ErrorBody = serde_json::from_slice(&body)?;
            let zh = error.message_zh.unwrap_or_default();
            assert!(zh.contains("文件"), "{zh}");
            assert!(error.message.contains("no such file"), "{}", error.message);
        }
        let thumbnail = get(&server, &token, &format!("{file}/thumbnail")).await?.0;
        assert_eq!(thumbnail, expected, "{user}'s thumbnail");
    }

    // Never collected while school1's work names it.
    let hour = 3_600_000;
    let later = rectify_server::clock::now_ms() + 1000 * hour;
    let files = &server.files;
    rectify_server::evidence::files::collect(storage, files, later).await?;
    rectify_server::evidence::files::collect(storage, files, later + 1000 * hour).await?;
    assert!(
        storage.blob(&sha).await?.is_some(),
        "the file's record stays"
    );
    assert_eq!(get(&server, &school1, &file).await?.1, photo);
    Ok(())
}

/// `GET /api/items` after the migration: the same items for every account as before, now
/// version 2, each with the work documents the account may read: a school its own, the
/// department and the office every unit's on the shared item.
#[tokio::test]
async fn the_item_list_after_the_migration_names_the_work_each_account_may_read() -> Result<()> {
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    let users = [
        "office", "viewer", "school1", "school2", "dept-jcg", "dept-rsg",
    ];
    let mut before = Vec::new();
    for user in users {
        let token = server.token(user).await?;
        let (status, body) = get(&server, &token, "/api/items").await?;
        assert_eq!(status, 200);
        let list: Vec<ItemSummary> = serde_json::from_slice(&body)?;
        assert!(list.iter().all(|i| i.unit_work.is_empty()), "version 1");
        before.push(list);
    }
    migrate_items(server.storage.as_ref()).await?;
    let item_id = v2::item_id_for(&shared.id);
    let work = |unit| v2::unit_work_id(&item_id, unit).to_string();
    let all_works: Vec<String> = (server.storage.unit_works(&item_id).await?)
        .iter()
        .map(|w| w.id.to_string())
        .collect();
    assert!(all_works.contains(&work("pszx1")) && all_works.contains(&work("pszx3")));

    for (user, before) in users.into_iter().zip(before) {
        let token = server.token(user).await?;
        let (status, body) = get(&server, &token, "/api/items").await?;
        assert_eq!(status, 200);
        let after: Vec<ItemSummary> = serde_json::from_slice(&body)?;
        // The same entries under the same keys, each now the version-2 item.
        let keys = |list: &[ItemSummary]| list.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&after), keys(&before), "{user}");
        for (old, new) in before.iter().zip(&after) {
            let old_id: rectify_shared::ids::DocumentId = old.id.parse()?;
            assert_eq!(
                new.id,
                v2::item_id_for(&old_id).to_string(),
                "{user} {}",
                new.key
            );
            assert_eq!((&new.units, &new.status), (&old.units, &old.status));
        }
        let listed = after.iter().find(|i| i.id == item_id.to_string());
        let expected: Option<Vec<String>> = match user {
            "office" | "viewer" | "dept-jcg" => Some(all_works.clone()),
            "school1" => Some(vec![work("pszx1")]),
            "school2" => Some(vec![work("pszx3")]),
            // Not the shared item's department nor one of its units: not listed at all.
            _ => None,
        };
        assert_eq!(listed.map(|i| i.unit_work.clone()), expected, "{user}");
        // No account is listed a work document it may not read, on any item.
        for item in &after {
            for id in &item.unit_work {
                let record = (server.storage.unit_works(&item.id.parse()?).await?)
                    .into_iter()
                    .find(|w| w.id.to_string() == *id)
                    .expect("a listed work document is in the index");
                if user.starts_with("school") {
                    let own = if user == "school1" { "pszx1" } else { "pszx3" };
                    assert_eq!(record.unit, own, "{user} on {}", item.key);
                }
            }
        }
    }
    Ok(())
}

/// The office adds a sub-item to a problem whose items are all migrated, leaving the
/// problem's title out (`POST /api/campaigns/{id}/items` takes it from the problem's other
/// item): the title is read from the version-2 item, not refused as "written by a newer
/// version".
#[tokio::test]
async fn a_new_item_beside_migrated_ones_takes_its_problems_title() -> Result<()> {
    let server = TestServer::start(None).await?;
    let storage = server.storage.as_ref();
    let campaign = storage.campaigns().await?.remove(0);
    migrate_items(storage).await?;
    // A problem with numbered sub-items.
    let sibling = (storage.items(&campaign.id).await?)
        .into_iter()
        .find(|i| i.key.split('.').count() == 3)
        .expect("the demo has sub-items");
    let doc = load_document(storage, &sibling.id).await?.expect("stored");
    let sibling_doc = ItemDocV2::load(&doc)?;
    let new = rectify_shared::api::NewItem {
        area_no: sibling_doc.area_no,
        area_title: String::new(),
        problem_no: sibling_doc.problem_no,
        problem_title: String::new(),
        sub_no: Some(99),
        title: "新增的子项".into(),
        measures: vec!["一是补充措施。".into()],
        responsible_leader: String::new(),
        responsible_department: None,
        units: Vec::new(),
        deadline: None,
        timing: None,
    };
    let office = server.token("office").await?;
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/campaigns/{}/items", campaign.id)))
        .bearer_auth(&office)
        .json(&new)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    assert_eq!(status, 201, "{body}");
    let made: ItemSummary = serde_json::from_str(&body)?;
    let item = server.item(&made.id).await?;
    assert!(!sibling_doc.problem_title.is_empty());
    assert_eq!(item.problem_title, sibling_doc.problem_title);
    Ok(())
}

/// Step 6 for the history page: a migrated item's history merges the item's lines with
/// those of the unit-work documents the reader may read. The office and the department
/// see each school's work; school2 sees its own and nothing of school1's.
#[tokio::test]
async fn a_migrated_items_history_shows_each_reader_only_the_work_it_may_read() -> Result<()> {
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    migrate_items(server.storage.as_ref()).await?;
    let item_id = v2::item_id_for(&shared.id);
    let path = format!("/api/items/{item_id}/history");
    for (user, sees, never) in [
        ("office", vec![S1_WORK, S2_WORK], vec![]),
        ("dept-jcg", vec![S1_WORK, S2_WORK], vec![]),
        ("school1", vec![S1_WORK], vec![S2_WORK]),
        ("school2", vec![S2_WORK], vec![S1_WORK]),
    ] {
        let token = server.token(user).await?;
        let (status, body) = get(&server, &token, &path).await?;
        let body = String::from_utf8(body)?;
        assert_eq!(status, 200, "{user}: {body}");
        let history: rectify_shared::api::ItemHistory = serde_json::from_str(&body)?;
        assert!(!history.entries.is_empty(), "{user}");
        let narratives: Vec<&str> = (history.entries.iter())
            .flat_map(|e| &e.details)
            .filter(|d| d.field == "narrative")
            .map(|d| d.after.as_str())
            .collect();
        for words in sees {
            assert!(
                narratives.contains(&words),
                "{user} sees {words}: {narratives:?}"
            );
        }
        for words in never {
            assert!(!body.contains(words), "{user} must not see {words}");
        }
    }
    Ok(())
}

/// A unit-work document created or re-planned beside the sync (as the migration does) is
/// announced (`rectify-list-changed`) to those who may read it by the index: its school, the
/// item's department and the office, never the other school of the item.
#[tokio::test]
async fn a_unit_work_document_is_announced_to_its_readers_only() -> Result<()> {
    use rectify_shared::sync::client::ClientEvent;
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    migrate_items(server.storage.as_ref()).await?;
    let theirs = v2::unit_work_id(&v2::item_id_for(&shared.id), "pszx1");
    let mut clients = Vec::new();
    for (user, told) in [
        ("school1", true),
        ("school2", false),
        ("dept-jcg", true),
        ("dept-rsg", false),
        ("office", true),
    ] {
        let token = server.token(user).await?;
        clients.push((
            user,
            told,
            SyncTestClient::connect(&server.ws_base(), &token).await?,
        ));
    }
    server.sync.announce(&[theirs]).await;
    for (user, told, client) in &mut clients {
        client.settle().await?;
        let heard = client.events.contains(&ClientEvent::ListChanged);
        assert_eq!(heard, *told, "{user}: {:?}", client.events);
    }
    Ok(())
}

const OFFLINE: &str = "一中：已完成校额调整，名单见附件；离线补充：已公示";

/// School1's old device (a version-1 client: `SyncTestClient` holding the version-1 item)
/// synced the shared item before the migration and went offline; offline it wrote more.
/// Returns it, disconnected, with its one offline change made.
async fn old_device_with_offline_work(
    server: &TestServer,
    shared: &ItemRecord,
) -> Result<SyncTestClient> {
    let token = server.token("school1").await?;
    let mut old = SyncTestClient::connect(&server.ws_base(), &token).await?;
    old.fetch(shared.id, LIMIT).await?;
    old.settle().await?;
    old.disconnect();
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: OFFLINE.into(),
    };
    let device = old.document_mut(&shared.id)?;
    model::apply(device, &unit_edit("school1", "pszx1", 9), edit)?;
    Ok(old)
}

/// The migration, run beside the sync hub (it pauses syncing and empties its memory).
async fn migrate_beside(server: &TestServer) -> Result<()> {
    let storage = std::sync::Arc::clone(&server.storage);
    server
        .sync
        .write_beside(async move { migrate_items(storage.as_ref()).await })
        .await?;
    Ok(())
}

/// The frames the server sends `client` until `done` holds of its events (or `limit`).
async fn until(
    client: &mut SyncTestClient,
    limit: Duration,
    done: impl Fn(&[ClientEvent]) -> bool,
) -> Result<()> {
    let deadline = std::time::Instant::now() + limit;
    while !done(&client.events) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        anyhow::ensure!(!left.is_zero(), "not within {limit:?}: {:?}", client.events);
        if let Received::Closed = client.receive(left).await? {
            anyhow::ensure!(done(&client.events), "closed: {:?}", client.events);
        }
    }
    Ok(())
}

/// Issue #21, wiring step 2: an old client's offline edit to a version-1 item, synced after
/// `rectify migrate-schema`, lands in school1's own work document as school1's (the commit
/// message and the recorded sender), reaches school1's updated device that has the document
/// open, never school2's; the version-1 document keeps the original change; the old client
/// is told to update, then that the item is unavailable.
#[tokio::test]
async fn an_old_clients_offline_edit_is_carried_over_to_its_own_work_document() -> Result<()> {
    old_offline_edit_carried_over(&TestServer::start(None).await?).await
}

/// The same on PostgreSQL.
#[tokio::test]
async fn an_old_clients_offline_edit_is_carried_over_on_postgres() -> Result<()> {
    let database = ScratchDatabase::create()?;
    let server = TestServer::replica(database.url(), ServerSettings::default(), true, None).await?;
    old_offline_edit_carried_over(&server).await
}

async fn old_offline_edit_carried_over(server: &TestServer) -> Result<()> {
    let shared = shared_item(server).await?;
    let mut old = old_device_with_offline_work(server, &shared).await?;
    let old_heads = old.document_mut(&shared.id)?.get_heads();
    migrate_beside(server).await?;
    let item_id = v2::item_id_for(&shared.id);
    let (s1_work, s2_work) = (
        v2::unit_work_id(&item_id, "pszx1"),
        v2::unit_work_id(&item_id, "pszx3"),
    );
    let storage = server.storage.as_ref();
    let s1_before = load_document(storage, &s1_work).await?.expect("migrated");
    let s2_before = load_document(storage, &s2_work)
        .await?
        .expect("migrated")
        .save();

    // Updated devices: school1's and school2's, each with its own work document open.
    let token1 = server.token("school1").await?;
    let mut s1_new = SyncTestClient::connect(&server.ws_base(), &token1).await?;
    s1_new.fetch(s1_work, LIMIT).await?;
    let token2 = server.token("school2").await?;
    let mut school2 = SyncTestClient::connect(&server.ws_base(), &token2).await?;
    school2.fetch(s2_work, LIMIT).await?;

    // The old device comes back.
    old.reconnect(&server.ws_base(), &token1).await?;
    let id = shared.id;
    until(&mut old, LIMIT, |events| {
        events.contains(&ClientEvent::Unavailable(id))
    })
    .await?;
    let update = (old.events.iter())
        .position(|e| matches!(e, ClientEvent::Update { doc: Some(d), message } if *d == id && message.contains("reload to update")));
    let gone = (old.events.iter()).position(|e| *e == ClientEvent::Unavailable(id));
    assert!(update.is_some() && update < gone, "{:?}", old.events);
    assert!(
        !(old.events.iter())
            .any(|e| matches!(e, ClientEvent::Error { .. } | ClientEvent::Retry { .. })),
        "{:?}",
        old.events
    );

    // Its sync state counts the change as on the server: nothing pending.
    assert_eq!(old.core.unsynced_changes(&shared.id), 0);

    // In school1's work document, as school1.
    let stored = load_document(storage, &s1_work).await?.expect("stored");
    assert_eq!(UnitWorkDoc::load(&stored)?.narrative.as_str(), OFFLINE);
    assert_eq!(UnitWorkDoc::load(&stored)?.updated_by, "school1");
    let new: Vec<_> = stored.clone().get_changes(&s1_before.clone().get_heads());
    assert_eq!(new.len(), 1, "one carried change");
    let message = model::read_commit_message(new[0].message().unwrap_or(""));
    assert_eq!(
        message
            .and_then(|m| m["user"].as_str().map(str::to_owned))
            .as_deref(),
        Some("school1")
    );
    let arrivals = storage.change_arrivals(&s1_work).await?;
    let arrival = arrivals.get(&new[0].hash().to_string());
    assert_eq!(
        arrival.and_then(|a| a.sent_by.as_ref()).map(|u| u.as_str()),
        Some("school1")
    );
    // The version-1 document (the office's) keeps the device's change.
    let mut v1 = load_document(storage, &shared.id).await?.expect("kept");
    assert!(old_heads.iter().all(|h| v1.get_change_by_hash(h).is_some()));
    // school2's work is untouched, and nothing was kept back.
    let s2_now = load_document(storage, &s2_work)
        .await?
        .expect("stored")
        .save();
    assert_eq!(s2_now, s2_before);
    assert!(storage.quarantined(&shared.id).await?.is_empty());

    // School1's updated device receives it; school2's never does.
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let copy = UnitWorkDoc::load(s1_new.document_mut(&s1_work)?)?;
        if copy.narrative.as_str() == OFFLINE {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "school1's device never got it"
        );
        s1_new.receive(Duration::from_millis(200)).await?;
    }
    school2.settle().await?;
    let theirs = school2.document_mut(&s2_work)?.save();
    assert!(!String::from_utf8_lossy(&theirs).contains("离线补充"));
    assert!(school2.core.document(&s1_work).is_none());
    assert!(
        !(school2.events.iter()).any(|e| matches!(e, ClientEvent::Changed(d) if *d == s1_work))
    );
    Ok(())
}

/// The version-2 documents cannot be read, or the carry over's one write fails: the old
/// device is told to try again later (not to update, not refused) and keeps its change;
/// nothing is written anywhere. Once storage is back, its reconnect carries the change over.
#[tokio::test]
async fn a_storage_fault_during_a_carry_over_writes_nothing_and_the_device_retries() -> Result<()> {
    for fault in ["read", "write"] {
        let (server, faulty) = TestServer::start_faulty().await?;
        let shared = shared_item(&server).await?;
        let mut old = old_device_with_offline_work(&server, &shared).await?;
        migrate_beside(&server).await?;
        let item_id = v2::item_id_for(&shared.id);
        let s1_work = v2::unit_work_id(&item_id, "pszx1");
        let inner = faulty.inner().as_ref();
        let stored = |doc: rectify_shared::ids::DocumentId| async move {
            Ok::<_, anyhow::Error>(load_document(inner, &doc).await?.expect("stored").save())
        };
        let (v1_before, s1_before) = (stored(shared.id).await?, stored(s1_work).await?);
        match fault {
            "read" => faulty.fail_reads_of([item_id]),
            _ => faulty.fail_writes_to([s1_work]),
        }
        let token = server.token("school1").await?;
        old.reconnect(&server.ws_base(), &token).await?;
        let id = shared.id;
        until(&mut old, LIMIT, |events| {
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::Retry { doc: Some(d), .. } if *d == id))
        })
        .await?;
        assert!(
            !(old.events.iter()).any(|e| matches!(
                e,
                ClientEvent::Update { .. }
                    | ClientEvent::Error { .. }
                    | ClientEvent::Unavailable(_)
            )),
            "{fault}: {:?}",
            old.events
        );
        assert_eq!(stored(shared.id).await?, v1_before, "{fault}");
        assert_eq!(stored(s1_work).await?, s1_before, "{fault}");
        assert!(inner.quarantined(&shared.id).await?.is_empty(), "{fault}");

        faulty.heal();
        old.reconnect(&server.ws_base(), &token).await?;
        until(&mut old, LIMIT, |events| {
            events.contains(&ClientEvent::Unavailable(id))
        })
        .await?;
        let work = load_document(inner, &s1_work).await?.expect("stored");
        assert_eq!(
            UnitWorkDoc::load(&work)?.narrative.as_str(),
            OFFLINE,
            "{fault}"
        );
    }
    Ok(())
}

/// What an old device's offline work may no longer do is kept in the quarantine for the
/// office, with why, by its sender: a tick on a measure the office removed before the
/// migration (never moved onto another measure), and evidence naming a file school2
/// uploaded (which school1 may not name). Nothing of either reaches school1's work.
#[tokio::test]
async fn what_an_old_device_may_no_longer_do_is_kept_for_the_office() -> Result<()> {
    let server = TestServer::start(None).await?;
    let shared = shared_item(&server).await?;
    let storage = server.storage.as_ref();
    let school2 = server.token("school2").await?;
    let photo = phone_photo(320, 240, 7);
    let theirs = sha256_hex(&photo);
    upload(&server.url(""), &school2, "三中.jpg", &photo, 256 * 1024, 0).await?;

    let token = server.token("school1").await?;
    let mut old = SyncTestClient::connect(&server.ws_base(), &token).await?;
    old.fetch(shared.id, LIMIT).await?;
    old.settle().await?;
    old.disconnect();
    let item = ItemDoc::load(old.document_mut(&shared.id)?)?;
    let (gone, kept) = item.measures.split_first().expect("the item has measures");
    let school1 = unit_edit("school1", "pszx1", 9);
    for edit in [
        ItemEdit::TickMeasure {
            unit: "pszx1".into(),
            measure: gone.id.clone(),
            done: true,
        },
        ItemEdit::AddEvidence {
            unit: "pszx1".into(),
            evidence: EvidenceRef {
                sha256: theirs.clone(),
                name: "三中.jpg".into(),
                mime: "image/jpeg".into(),
                size: photo.len() as u64,
                caption: "不是一中的".into(),
                added_by: "school1".into(),
                added_at_ms: 9,
            },
        },
    ] {
        model::apply(old.document_mut(&shared.id)?, &school1, edit)?;
    }
    // Meanwhile the office removes the first measure; then the migration.
    let define = ItemEdit::Define {
        title: item.title.as_str().to_owned(),
        measures: (kept.iter())
            .map(|m| model::MeasureText::existing(m.id.clone(), m.text.as_str()))
            .collect(),
        narrative: item.narrative.as_str().to_owned(),
    };
    campaigns::edit_item(storage, &shared, &office_edit(4), define).await?;
    migrate_beside(&server).await?;
    let s1_work = v2::unit_work_id(&v2::item_id_for(&shared.id), "pszx1");

    old.reconnect(&server.ws_base(), &token).await?;
    let id = shared.id;
    until(&mut old, LIMIT, |events| {
        events.contains(&ClientEvent::Unavailable(id))
    })
    .await?;
    let work = UnitWorkDoc::load(&load_document(storage, &s1_work).await?.expect("stored"))?;
    assert!(!work.measures_done.contains_key(&gone.id), "{work:?}");
    assert!(
        work.measures_done.values().all(|done| !done),
        "never re-pointed"
    );
    assert!(
        !work.evidence.iter().any(|e| e.sha256 == theirs),
        "{work:?}"
    );
    let quarantined = storage.quarantined(&shared.id).await?;
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(quarantined.iter().all(|q| q.username.as_str() == "school1"));
    let reasons: Vec<&str> = quarantined.iter().map(|q| q.reason.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("removed from the item") && r.contains(&gone.id)),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("AddEvidence") && r.contains(&theirs)),
        "{reasons:?}"
    );
    assert!(quarantined.iter().all(|q| !q.change_bytes.is_empty()));
    Ok(())
}

/// School1 writes on its updated device while the server is carrying its old device's
/// change over (between reading the version-2 documents and writing): the carry over's
/// write meets a newer work document, reads again and is made on top of it. Both writings
/// are kept, and the old device is not sent away to retry.
#[tokio::test]
async fn a_carry_over_racing_a_write_to_the_work_document_reads_again() -> Result<()> {
    let (server, faulty) = TestServer::start_faulty().await?;
    let shared = shared_item(&server).await?;
    let mut old = old_device_with_offline_work(&server, &shared).await?;
    migrate_beside(&server).await?;
    let item_id = v2::item_id_for(&shared.id);
    let s1_work = v2::unit_work_id(&item_id, "pszx1");
    let token = server.token("school1").await?;
    let mut s1_new = SyncTestClient::connect(&server.ws_base(), &token).await?;
    s1_new.fetch(s1_work, LIMIT).await?;
    s1_new.fetch(item_id, LIMIT).await?;

    // The carry over reads the versions, then waits on reading the item.
    faulty.hold_reads_of([item_id]);
    old.reconnect(&server.ws_base(), &token).await?;
    let deadline = std::time::Instant::now() + LIMIT;
    while faulty.counts().reads_held == 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the carry over never read"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meanwhile, on the updated device, school1 adds a feedback message.
    let item = ItemDocV2::load(s1_new.document_mut(&item_id)?)?;
    let feedback = ItemEdit::AddFeedback {
        id: "fb-new-device".into(),
        unit: Some("pszx1".into()),
        text: "新设备上的留言".into(),
    };
    let doc = s1_new.document_mut(&s1_work)?;
    v2::apply_unit_work(doc, &item, &unit_edit("school1", "pszx1", 20), feedback)?;
    s1_new.sync_until_acknowledged(&s1_work, LIMIT).await?;
    faulty.release_reads();

    let id = shared.id;
    until(&mut old, LIMIT, |events| {
        events.contains(&ClientEvent::Unavailable(id))
    })
    .await?;
    assert!(
        !(old.events.iter()).any(|e| matches!(e, ClientEvent::Retry { .. })),
        "{:?}",
        old.events
    );
    let stored = load_document(faulty.inner().as_ref(), &s1_work)
        .await?
        .expect("stored");
    let work = UnitWorkDoc::load(&stored)?;
    assert_eq!(work.narrative.as_str(), OFFLINE);
    assert!(
        work.feedback.iter().any(|f| f.text == "新设备上的留言"),
        "{work:?}"
    );
    Ok(())
}
