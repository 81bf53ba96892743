//! `GET /sync` over real WebSockets on loopback, with our sans-IO client core: authentication,
//! reading only what one may, changes that reach others durably, and refused changes.

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use rectify_server::storage::ItemRecord;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{self, ItemDoc, ItemEdit};
use rectify_shared::sync::client::ClientEvent;
use rectify_tests::SyncTestClient;
use rectify_tests::TestServer;

/// `username` (a demo account) connected to the in-process server.
async fn connect(server: &TestServer, username: &str) -> anyhow::Result<SyncTestClient> {
    SyncTestClient::connect(&server.ws_base(), &server.token(username).await?).await
}

/// The office and school1, each connected with `id` open and synced.
async fn office_and_school_on(
    server: &TestServer,
    id: DocumentId,
) -> anyhow::Result<(SyncTestClient, SyncTestClient)> {
    let mut office = connect(server, "office").await?;
    office.core.open_document(id);
    office.settle().await?;
    let mut school = connect(server, "school1").await?;
    school.core.open_document(id);
    school.settle().await?;
    Ok((office, school))
}

async fn items(server: &TestServer) -> anyhow::Result<Vec<ItemRecord>> {
    let campaign = server.storage.campaigns().await?.remove(0);
    Ok(server.storage.items(&campaign.id).await?)
}

/// The items assigned to `unit` that are still open: the demo signs off every unit of an item
/// the report calls done, and a signed-off entry is locked for its unit.
fn open_to(records: &[ItemRecord], unit: &str) -> Vec<DocumentId> {
    let open: Vec<DocumentId> = records
        .iter()
        .filter(|r| !r.status.is_done())
        .map(|r| r.id)
        .collect();
    let mut ids = assigned(records, unit);
    ids.retain(|id| open.contains(id));
    ids
}

fn assigned(records: &[ItemRecord], unit: &str) -> Vec<DocumentId> {
    records
        .iter()
        .filter(|r| r.units.iter().any(|u| u == unit))
        .map(|r| r.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_valid_token_the_upgrade_is_refused() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    for url in [
        format!("ws://{}/sync", server.addr),
        format!("ws://{}/sync?token=forged", server.addr),
    ] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{url}");
            }
            other => panic!("{url}: expected 401, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_school_gets_its_items_and_only_those() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let own = assigned(&records, "pszx1");
    let other = records
        .iter()
        .find(|r| !r.units.iter().any(|u| u == "pszx1"))
        .expect("an item of others")
        .id;
    let mut school = connect(&server, "school1").await?;
    school.core.open_document(own[0]);
    school.core.open_document(other);
    school.settle().await?;
    let title = records
        .iter()
        .find(|r| r.id == own[0])
        .map(|r| r.title.clone());
    assert_eq!(Some(school.item(&own[0]).title.as_str().to_owned()), title);
    assert!(
        school.events.contains(&ClientEvent::Unavailable(other)),
        "{:?}",
        school.events
    );
    assert!(
        school
            .core
            .document(&other)
            .is_none_or(|d| d.keys(automerge::ROOT).next().is_none()),
        "nothing of the other item arrived"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schools_edit_reaches_the_office_and_is_on_disk() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = open_to(&records, "pszx1")[0];
    let (mut office, mut school) = office_and_school_on(&server, id).await?;

    let ctx = rectify_tests::unit_edit("school1", "pszx1", 1);
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: "已建立食堂出入库台账。".into(),
    };
    model::apply(school.core.document_mut(&id).expect("open"), &ctx, edit)?;
    school.settle().await?;
    office.settle().await?;

    assert_eq!(
        office.item(&id).progress["pszx1"].narrative.as_str(),
        "已建立食堂出入库台账。"
    );
    let stored = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
        .await?
        .expect("stored");
    assert_eq!(
        ItemDoc::load(&stored)?.progress["pszx1"].narrative.as_str(),
        "已建立食堂出入库台账。"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_school_cannot_change_the_title_and_everyone_keeps_syncing() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = assigned(&records, "pszx1")[0];
    let (mut office, mut school) = office_and_school_on(&server, id).await?;
    let title = office.item(&id).title.as_str().to_owned();

    // A modified client writes the title directly.
    let doc = school.core.document_mut(&id).expect("open");
    let (_, title_obj) = doc.get(automerge::ROOT, "title")?.expect("a title");
    doc.splice_text(&title_obj, 0, 0, "已解决：")?;
    doc.commit();
    school.settle().await?;
    office.settle().await?;

    assert!(
        school
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Error { message, .. } if message.contains("title"))),
        "the school is told: {:?}",
        school.events
    );
    assert_eq!(
        office.item(&id).title.as_str(),
        title,
        "the refused change was not relayed"
    );
    let stored = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
        .await?
        .expect("stored");
    assert_eq!(ItemDoc::load(&stored)?.title.as_str(), title, "nor stored");
    assert_eq!(
        server.storage.quarantined(&id).await?.len(),
        1,
        "but kept in quarantine"
    );

    // The office keeps working on the same item and the school still receives it.
    let ctx = rectify_tests::office_edit(2);
    let feedback = ItemEdit::AddFeedback {
        id: "f1".into(),
        unit: Some("pszx1".into()),
        text: "请补充佐证".into(),
    };
    model::apply(office.core.document_mut(&id).expect("open"), &ctx, feedback)?;
    office.settle().await?;
    school.settle().await?;
    assert!(
        school.item(&id).feedback.iter().any(|f| f.id == "f1"),
        "the school still receives the office's changes"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_school_cannot_sign_off_its_own_work() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    // An item the office has not signed off for school1 yet.
    let mut chosen = None;
    for id in assigned(&records, "pszx1") {
        let doc = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
            .await?
            .expect("stored");
        if ItemDoc::load(&doc)?.progress["pszx1"].status
            != rectify_shared::workflow::UnitStatus::SignedOff
        {
            chosen = Some(id);
            break;
        }
    }
    let id = chosen.expect("an item school1 still works on");
    let (mut office, mut school) = office_and_school_on(&server, id).await?;
    let before = office.item(&id).progress["pszx1"].status;

    // 销号 is the office's decision: a modified client writes it anyway.
    let doc = school.core.document_mut(&id).expect("open");
    let (_, progress) = doc.get(automerge::ROOT, "progress")?.expect("progress");
    let (_, entry) = doc.get(&progress, "pszx1")?.expect("school1's entry");
    doc.put(&entry, "status", "signed_off")?;
    doc.commit();
    school.settle().await?;
    office.settle().await?;

    assert!(
        school.events.iter().any(
            |e| matches!(e, ClientEvent::Error { message, .. } if message.contains("refused"))
        ),
        "the school is told: {:?}",
        school.events
    );
    assert_eq!(office.item(&id).progress["pszx1"].status, before);
    let stored = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
        .await?
        .expect("stored");
    assert_eq!(ItemDoc::load(&stored)?.progress["pszx1"].status, before);
    assert_eq!(server.storage.quarantined(&id).await?.len(), 1);
    Ok(())
}

/// 整改一个销号一个: once the office signs off school 1's entry, nothing of it changes through
/// sync — a modified client's edit is refused and kept in quarantine, the app's own edit is
/// refused before it is made — until the office reopens it (退回, with a reason); then the
/// school works on it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_off_entry_cannot_change_until_the_office_reopens_it() -> anyhow::Result<()> {
    use rectify_shared::workflow::UnitStatus;
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = open_to(&records, "pszx1")[0];
    let (mut office, mut school) = office_and_school_on(&server, id).await?;
    let as_office = rectify_tests::office_edit(1);
    let as_school = rectify_tests::unit_edit("school1", "pszx1", 2);
    let narrative = |text: &str| ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: text.into(),
    };
    let move_to = |to, reason: Option<&str>| ItemEdit::UnitStatus {
        unit: "pszx1".into(),
        to,
        reason: reason.map(str::to_owned),
    };
    let doc = school.core.document_mut(&id).expect("open");
    model::apply(doc, &as_school, narrative("已建立食堂出入库台账。"))?;
    model::apply(doc, &as_school, move_to(UnitStatus::Submitted, None))?;
    school.settle().await?;
    office.settle().await?;
    let doc = office.core.document_mut(&id).expect("open");
    model::apply(doc, &as_office, move_to(UnitStatus::SignedOff, None))?;
    office.settle().await?;
    school.settle().await?;
    assert_eq!(
        school.item(&id).progress["pszx1"].status,
        UnitStatus::SignedOff
    );

    // The app refuses to make the edit at all.
    let doc = school.core.document_mut(&id).expect("open");
    let refused = model::apply(doc, &as_school, narrative("改过的台账。"));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().starts_with("已销号")),
        "{refused:?}"
    );
    // A modified client writes it anyway: refused by the server and kept in quarantine.
    let (_, progress) = doc.get(automerge::ROOT, "progress")?.expect("progress");
    let (_, entry) = doc.get(&progress, "pszx1")?.expect("school1's entry");
    let (_, text) = doc.get(&entry, "narrative")?.expect("narrative");
    doc.splice_text(&text, 0, 0, "（补）")?;
    doc.commit();
    school.settle().await?;
    assert!(
        school.events.iter().any(|e| matches!(e,
            ClientEvent::Error { message, .. } if message.contains("已销号"))),
        "the school is told why: {:?}",
        school.events
    );
    let stored = || async {
        let doc = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
            .await?
            .expect("stored");
        anyhow::Ok(ItemDoc::load(&doc)?)
    };
    assert_eq!(
        stored().await?.progress["pszx1"].narrative.as_str(),
        "已建立食堂出入库台账。"
    );
    assert_eq!(server.storage.quarantined(&id).await?.len(), 1);

    // The office reopens it with a reason; the school (a fresh copy) works again.
    let doc = office.core.document_mut(&id).expect("open");
    model::apply(
        doc,
        &as_office,
        move_to(UnitStatus::Returned, Some("台账缺少三月份记录")),
    )?;
    office.settle().await?;
    let mut school = connect(&server, "school1").await?;
    school.core.open_document(id);
    school.settle().await?;
    let doc = school.core.document_mut(&id).expect("open");
    model::apply(doc, &as_school, narrative("已补齐三月份台账。"))?;
    school.settle().await?;
    let item = stored().await?;
    assert_eq!(
        item.progress["pszx1"].narrative.as_str(),
        "已补齐三月份台账。"
    );
    assert_eq!(item.progress["pszx1"].status, UnitStatus::Returned);
    let reopened = item.reviews.last().expect("a decision");
    assert_eq!(
        (reopened.decision, reopened.reason.as_str()),
        (UnitStatus::Returned, "台账缺少三月份记录")
    );
    Ok(())
}

/// Waits (at most a minute: a hung server fails the test) until the server closes `client`'s
/// connection; the close code it gave.
async fn closed_code(client: &mut SyncTestClient) -> anyhow::Result<Option<u16>> {
    use rectify_tests::sync_client::Received;
    for _ in 0..60 {
        if let Received::Closed = client.receive(std::time::Duration::from_secs(1)).await? {
            return Ok(client.closed_with.as_ref().map(|(code, _)| *code));
        }
    }
    anyhow::bail!("the connection stayed open")
}

/// Issue #20: an open sync connection does not outlive its session. Disabling the account,
/// logging it out everywhere, resetting its password and logging out close the connections
/// they end at once, with the close code the client reads as "log in again"
/// (`CLOSE_LOG_IN_AGAIN`); logging out on one device leaves the account's other sessions
/// connected.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_ending_a_session_closes_its_sync_connections() -> anyhow::Result<()> {
    use rectify_shared::sync::wire::CLOSE_LOG_IN_AGAIN;
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let mine = assigned(&records, "pszx1");
    let office = server.token("office").await?;
    let http = reqwest::Client::new();
    use reqwest::Method;
    let call = |method: Method, path: &str, token: &str| {
        http.request(method, server.url(path))
            .bearer_auth(token.to_owned())
            .json(&serde_json::json!({}))
    };
    // (what the office or the user does; the password reset last: the tests log in with the
    // demo password)
    let cases: [(&str, Method, &str, Option<serde_json::Value>); 4] = [
        ("log out", Method::POST, "/api/logout", None),
        (
            "disable",
            Method::PATCH,
            "/api/accounts/school1",
            Some(serde_json::json!({"disabled": true})),
        ),
        (
            "log out everywhere",
            Method::POST,
            "/api/accounts/school1/sessions/revoke",
            None,
        ),
        (
            "reset the password",
            Method::POST,
            "/api/accounts/school1/password",
            None,
        ),
    ];
    for (what, method, path, body) in cases {
        let token = server.token("school1").await?;
        let mut client = SyncTestClient::connect(&server.ws_base(), &token).await?;
        client
            .fetch(mine[0], std::time::Duration::from_secs(30))
            .await?;
        // Another device of the same account.
        let other_token = server.token("school1").await?;
        let mut other = SyncTestClient::connect(&server.ws_base(), &other_token).await?;
        other
            .fetch(mine[0], std::time::Duration::from_secs(30))
            .await?;

        let by = if what == "log out" { &token } else { &office };
        let mut request = call(method, path, by);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await?;
        assert!(answer.status().is_success(), "{what}: {}", answer.status());
        assert_eq!(
            closed_code(&mut client).await?,
            Some(CLOSE_LOG_IN_AGAIN),
            "{what}"
        );
        let me = http
            .get(server.url("/api/me"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(me.status(), reqwest::StatusCode::UNAUTHORIZED, "{what}");
        if what == "log out" {
            // Only that session ended: the other device still syncs.
            other
                .fetch(mine[1], std::time::Duration::from_secs(30))
                .await?;
            assert!(other.is_open(), "{what}");
        } else {
            assert_eq!(
                closed_code(&mut other).await?,
                Some(CLOSE_LOG_IN_AGAIN),
                "{what}: every device"
            );
        }
        if what == "disable" {
            let enabled = call(Method::PATCH, "/api/accounts/school1", &office)
                .json(&serde_json::json!({"disabled": false}))
                .send()
                .await?;
            assert!(enabled.status().is_success());
        }
    }
    Ok(())
}

/// Issue #20, through our own (batched) client: school2 may name a file it uploaded, or one
/// nobody has uploaded yet (the device references first, uploads later), but not school1's
/// file by its hash: that change is refused with a reason naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_evidence_references_are_checked_against_who_uploaded_the_file()
-> anyhow::Result<()> {
    use rectify_shared::evidence::sha256_hex;
    use rectify_shared::model::EvidenceRef;
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = open_to(&records, "pszx3")[0];
    let upload = |user: &'static str, seed: u64| {
        let server = &server;
        async move {
            let bytes = rectify_tests::photos::phone_photo(320, 240, seed);
            let token = server.token(user).await?;
            rectify_tests::uploader::upload(&server.url(""), &token, "a.jpg", &bytes, 1 << 20, 0)
                .await?;
            anyhow::Ok(sha256_hex(&bytes))
        }
    };
    let school1s = upload("school1", 1).await?;
    let school2s = upload("school2", 2).await?;
    let not_uploaded = sha256_hex(b"a photo still on the phone");
    let ctx = rectify_tests::unit_edit("school2", "pszx3", 1);
    let add = |sha256: &str| ItemEdit::AddEvidence {
        unit: "pszx3".into(),
        evidence: EvidenceRef {
            sha256: sha256.to_owned(),
            name: "a.jpg".into(),
            mime: "image/jpeg".into(),
            size: 1,
            caption: String::new(),
            added_by: "school2".into(),
            added_at_ms: 1,
        },
    };
    let limit = std::time::Duration::from_secs(30);
    for (sha, allowed) in [(&school2s, true), (&not_uploaded, true), (&school1s, false)] {
        let mut school2 = connect(&server, "school2").await?;
        school2.fetch(id, limit).await?;
        model::apply(school2.document_mut(&id)?, &ctx, add(sha))?;
        let synced = school2.sync_until_acknowledged(&id, limit).await;
        match (allowed, synced) {
            (true, Ok(())) => {}
            (false, Err(refused)) => {
                let message = refused.to_string();
                assert!(message.contains(sha.as_str()), "{message}");
            }
            (_, got) => panic!("{sha}: allowed {allowed}, got {got:?}"),
        }
    }
    let stored = server.item(&id.to_string()).await?;
    let named: Vec<&str> = stored.progress["pszx3"]
        .evidence
        .iter()
        .map(|e| e.sha256.as_str())
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(named.contains(&school2s.as_str()) && named.contains(&not_uploaded.as_str()));
    Ok(())
}

/// Issue #22: an item assigned to a school while it is connected reaches it at once. When the
/// office's change adds school2 to an item, the server tells school2's connection that its
/// list changed (`rectify-list-changed`, our extension: the app then lists and opens the
/// item); a change that assigns no one new tells nobody, and a stock automerge-repo
/// connection of school2 (which would not understand it) is told nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_connected_school_is_told_at_once_of_an_item_assigned_to_it() -> anyhow::Result<()> {
    use rectify_shared::model::ItemPlan;
    let wait = std::time::Duration::from_secs(10);
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let record = records
        .iter()
        .find(|r| !r.units.iter().any(|u| u == "pszx3") && !r.status.is_done())
        .expect("an open item school2 is not on");
    let id = record.id;
    let mut office = connect(&server, "office").await?;
    office.fetch(id, wait).await?;
    let mut school2 = connect(&server, "school2").await?;
    let token2 = server.token("school2").await?;
    let mut stock = SyncTestClient::connect_stock(&server.ws_base(), &token2).await?;
    let told = |client: &SyncTestClient| {
        client
            .events
            .iter()
            .filter(|e| **e == ClientEvent::ListChanged)
            .count()
    };
    let ctx = rectify_tests::office_edit(1);
    let item = office.item(&id);
    let plan = |units: Vec<String>, deadline: &str| ItemPlan {
        responsible_leader: item.responsible_leader.clone(),
        responsible_department: item.responsible_department.clone(),
        units,
        deadline: Some(deadline.to_owned()),
        timing: item.timing,
    };

    // A new deadline changes no one's list: nobody is told.
    let same_units = plan(item.units.clone(), "2026-09-30");
    model::apply(
        office.core.document_mut(&id).expect("open"),
        &ctx,
        ItemEdit::Plan(same_units),
    )?;
    office.sync_until_acknowledged(&id, wait).await?;
    school2.settle().await?;
    assert_eq!(told(&school2), 0, "{:?}", school2.events);

    // The office assigns school2 too.
    let with_school2 = plan(
        item.units.iter().cloned().chain(["pszx3".into()]).collect(),
        "2026-09-30",
    );
    model::apply(
        office.core.document_mut(&id).expect("open"),
        &ctx,
        ItemEdit::Plan(with_school2),
    )?;
    office.sync_until_acknowledged(&id, wait).await?;
    school2.settle().await?;
    stock.settle().await?;
    assert_eq!(told(&school2), 1, "{:?}", school2.events);
    assert_eq!(told(&stock), 0, "a stock client would not understand it");
    assert_eq!(told(&office), 0, "the office has the item open");

    // What the app does on the notice: the list now names the item, and it syncs.
    school2.fetch(id, wait).await?;
    assert!(school2.item(&id).units.iter().any(|u| u == "pszx3"));
    Ok(())
}

/// Issue #22: an item the office adds over HTTP reaches its connected school at once, and
/// only that school (and the office's other devices).
#[tokio::test(flavor = "multi_thread")]
async fn an_item_added_over_http_is_announced_to_its_readers_only() -> anyhow::Result<()> {
    let server = TestServer::start(None).await?;
    let campaign = server.storage.campaigns().await?.remove(0);
    let mut school1 = connect(&server, "school1").await?;
    let mut school2 = connect(&server, "school2").await?;
    let mut office = connect(&server, "office").await?;
    let body = serde_json::json!({
        "area_no": 1,
        "area_title": "",
        "problem_no": 98,
        "problem_title": "临时增加的问题。",
        "sub_no": null,
        "title": "临时增加的事项。",
        "measures": ["建立制度"],
        "responsible_leader": "分管副局长",
        "responsible_department": null,
        "units": ["pszx3"],
        "deadline": "2026-6-30",
        "timing": "by_deadline",
    });
    let office_token = server.token("office").await?;
    let reply = reqwest::Client::new()
        .post(server.url(&format!("/api/campaigns/{}/items", campaign.id)))
        .bearer_auth(&office_token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(reply.status() == 201, "{}", reply.text().await?);
    for client in [&mut school1, &mut school2, &mut office] {
        client.settle().await?;
    }
    let told = |client: &SyncTestClient| client.events.contains(&ClientEvent::ListChanged);
    assert!(told(&school2), "school2 is assigned: {:?}", school2.events);
    assert!(!told(&school1), "school1 may not read it");
    assert!(told(&office), "the office reads every item");
    Ok(())
}

/// Issue #21, stable measure ids: the office removes measure A while school1 is offline and
/// ticks C (and A). Nothing is refused when it comes back; C is ticked; the office sees the
/// tick on A as a tick on a removed measure; a measure added afterwards is not ticked.
#[tokio::test(flavor = "multi_thread")]
async fn issue_21_a_measure_removed_while_a_school_ticks_offline_moves_no_tick()
-> anyhow::Result<()> {
    use model::MeasureText;
    use std::time::Duration;
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = open_to(&records, "pszx1")[0];
    let (mut office, mut school) = office_and_school_on(&server, id).await?;
    let as_office = rectify_tests::office_edit(1);
    let as_school = rectify_tests::unit_edit("school1", "pszx1", 2);
    let define = |item: &ItemDoc, measures: Vec<MeasureText>| ItemEdit::Define {
        title: item.title.as_str().to_owned(),
        measures,
        narrative: item.narrative.as_str().to_owned(),
    };
    let keep = |item: &ItemDoc| -> Vec<MeasureText> {
        item.current_measures()
            .map(|m| MeasureText::existing(&m.id, m.text.as_str()))
            .collect()
    };

    // The item gets at least three measures (the imported ones keep their ids).
    let item = office.item(&id);
    let mut measures = keep(&item);
    for n in measures.len()..3 {
        measures.push(MeasureText::new(format!("补充措施{n}")));
    }
    let doc = office.document_mut(&id)?;
    model::apply(doc, &as_office, define(&item, measures))?;
    office
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;
    school.settle().await?;
    let before = school.item(&id);
    let ids: Vec<String> = before.current_measures().map(|m| m.id.clone()).collect();
    let (a, c) = (ids[0].clone(), ids[2].clone());
    let a_text = before
        .current_measures()
        .next()
        .expect("A")
        .text
        .as_str()
        .to_owned();

    // School1 goes offline; the office removes A meanwhile.
    school.disconnect();
    let item = office.item(&id);
    let without_a = keep(&item).into_iter().skip(1).collect();
    model::apply(
        office.document_mut(&id)?,
        &as_office,
        define(&item, without_a),
    )?;
    office
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;

    // Offline, school1 ticks C and A (its copy still lists A).
    let doc = school.document_mut(&id)?;
    for measure in [&c, &a] {
        let tick = ItemEdit::TickMeasure {
            unit: "pszx1".into(),
            measure: measure.clone(),
            done: true,
        };
        model::apply(doc, &as_school, tick)?;
    }

    // Back online: the batch is accepted whole.
    school
        .reconnect(&server.ws_base(), &server.token("school1").await?)
        .await?;
    school
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;
    school.settle().await?;
    office.settle().await?;
    let refusals: Vec<&ClientEvent> = (school.events.iter())
        .filter(|e| matches!(e, ClientEvent::Error { .. }))
        .collect();
    assert!(refusals.is_empty(), "refused: {refusals:?}");

    let stored = rectify_server::campaigns::load_document(server.storage.as_ref(), &id)
        .await?
        .expect("stored");
    for (who, item) in [
        ("the office's copy", office.item(&id)),
        ("the school's copy", school.item(&id)),
        ("storage", ItemDoc::load(&stored)?),
    ] {
        let done = &item.progress["pszx1"].measures_done;
        assert_eq!(done.get(&c), Some(&true), "{who}: C is ticked");
        assert_eq!(done.get(&a), Some(&true), "{who}: the tick on A stays on A");
        assert!(!item.is_current_measure(&a), "{who}: A is removed");
        let removed: Vec<&str> = (item.ticked_removed_measures("pszx1").into_iter())
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(removed, [a_text.as_str()], "{who}: a tick on removed A");
        // Only C counts, out of the measures left.
        assert_eq!(item.measures_done("pszx1"), (1, ids.len() - 1), "{who}");
    }

    // A measure the office adds afterwards is new: no id reused, no tick inherited.
    let item = office.item(&id);
    let mut measures = keep(&item);
    measures.push(MeasureText::new("新增措施：回头看"));
    model::apply(
        office.document_mut(&id)?,
        &as_office,
        define(&item, measures),
    )?;
    office
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;
    school.settle().await?;
    let item = school.item(&id);
    let added = item.current_measures().last().expect("added");
    assert_eq!(added.text.as_str(), "新增措施：回头看");
    assert!(!ids.contains(&added.id), "{} was given before", added.id);
    assert_eq!(
        item.progress["pszx1"].measures_done.get(&added.id),
        None,
        "the new measure is not ticked"
    );
    assert_eq!(item.measures_done("pszx1"), (1, ids.len()));
    Ok(())
}

/// Issue #20 (item 5): who made a change is the account that sent it, not what its commit
/// message says. school2 makes an allowed edit to its own progress but commits it as
/// `{"user":"office","op":"item_status"}`: the change is accepted, and the history names
/// school2 (verified) and flags that the message claimed the office.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_the_history_names_the_sender_not_the_commit_message() -> anyhow::Result<()> {
    use automerge::transaction::CommitOptions;
    use rectify_shared::api::ItemHistory;
    let server = TestServer::start(None).await?;
    let records = items(&server).await?;
    let id = open_to(&records, "pszx3")[0];
    let limit = std::time::Duration::from_secs(30);
    let mut school2 = connect(&server, "school2").await?;
    school2.fetch(id, limit).await?;
    {
        let doc = school2.document_mut(&id)?;
        let Some((_, progress)) = doc.get(automerge::ROOT, "progress")? else {
            anyhow::bail!("no progress");
        };
        let Some((_, entry)) = doc.get(&progress, "pszx3")? else {
            anyhow::bail!("no progress entry for pszx3");
        };
        let Some((_, narrative)) = doc.get(&entry, "narrative")? else {
            anyhow::bail!("no narrative");
        };
        doc.splice_text(&narrative, 0, 0, "伪造的署名")?;
        doc.put(&entry, "updated_by", "school2")?;
        doc.commit_with(
            CommitOptions::default()
                .with_message(r#"{"user":"office","op":"item_status"}"#)
                .with_time(1_700_000_000_000),
        );
    }
    school2.sync_until_acknowledged(&id, limit).await?;
    assert!(
        server.item(&id.to_string()).await?.progress["pszx3"]
            .narrative
            .as_str()
            .starts_with("伪造的署名"),
        "the edit itself is allowed and stored"
    );

    let response = reqwest::Client::new()
        .get(server.url(&format!("/api/items/{id}/history")))
        .bearer_auth(server.token("office").await?)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let history: ItemHistory = response.json().await?;
    let forged = history
        .entries
        .iter()
        .find(|e| e.op == "item_status" && e.device_last_ms == 1_700_000_000_000)
        .ok_or_else(|| anyhow::anyhow!("no line for the change: {history:?}"))?;
    assert_eq!(forged.user.as_deref(), Some("school2"), "{forged:?}");
    assert!(forged.verified, "{forged:?}");
    assert_eq!(forged.claimed_user.as_deref(), Some("office"), "{forged:?}");
    // Every other line's sender is recorded (the demo's by the accounts that made them) and
    // agrees with its message.
    for entry in history.entries.iter().filter(|e| !std::ptr::eq(*e, forged)) {
        assert!(entry.verified, "{entry:?}");
        assert_eq!(entry.claimed_user, None, "{entry:?}");
    }
    Ok(())
}

/// Issue #24: an idle reconnect costs the same few hundred bytes whatever the number of
/// documents — the upgrade, `join`/`peer` and the digest exchange — counted at a proxy both
/// ways. (With the per-document summary it was 24 bytes more per document.) Each account
/// reconnects with its documents in the server's memory, then out of it (their heads read
/// from storage), then again (remembered); a change made afterwards still reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn issue_24_an_idle_reconnect_costs_under_a_kilobyte_whatever_it_holds() -> anyhow::Result<()>
{
    let server = TestServer::start(None).await?;
    let proxy = rectify_tests::proxy::CutProxy::start(server.addr, Vec::new()).await?;
    let base = format!("ws://{}", proxy.addr);
    let records = items(&server).await?;
    let campaign = server.storage.campaigns().await?.remove(0).id;
    let own = assigned(&records, "pszx1");
    let mut clients = Vec::new();
    for (username, docs) in [
        ("school1", own.clone()),
        (
            "office",
            records.iter().map(|r| r.id).chain([campaign]).collect(),
        ),
    ] {
        let token = server.token(username).await?;
        let mut client = SyncTestClient::connect(&base, &token).await?;
        for id in &docs {
            client
                .fetch(*id, std::time::Duration::from_secs(10))
                .await?;
        }
        client.settle().await?;
        assert!(!docs.is_empty());
        for memory in ["in memory", "read from storage", "remembered"] {
            if memory != "in memory" {
                // Twice: a sweep evicts what was idle since the one before.
                server.sync.evict_idle().await;
                server.sync.evict_idle().await;
            }
            let (up, down) = (proxy.up(), proxy.down());
            client.reconnect(&base, &token).await?;
            let bytes = proxy.up() - up + proxy.down() - down;
            let n = docs.len();
            eprintln!("{username}: {n} documents {memory}, idle reconnect {bytes} bytes");
            assert!(
                bytes <= 1_000,
                "{username}, {memory}: {n} documents cost {bytes} bytes"
            );
            assert!(client.core.is_digested());
            for id in &docs {
                assert!(
                    client.core.in_sync(id),
                    "{username}, {memory}: {id} in sync"
                );
            }
        }
        clients.push(client);
    }
    // Subscribed by the digest alone (the documents are out of memory): the school gets the
    // office's next change.
    let [school, office] = &mut clients[..] else {
        unreachable!()
    };
    let id = own[0];
    office
        .document_mut(&id)?
        .put(automerge::ROOT, "office_note", "after the digest")?;
    office.document_mut(&id)?.commit();
    office
        .sync_until_acknowledged(&id, std::time::Duration::from_secs(10))
        .await?;
    school.settle().await?;
    let note = school
        .core
        .document(&id)
        .and_then(|doc| doc.get(automerge::ROOT, "office_note").ok().flatten())
        .map(|(value, _)| value.to_string());
    assert_eq!(note.as_deref(), Some("\"after the digest\""));
    Ok(())
}
