//! `GET /sync` over real WebSockets on loopback, with our sans-IO client core: authentication,
//! reading only what one may, changes that reach others durably, and refused changes.

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use rectify_server::storage::ItemRecord;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
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

    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: 1,
    };
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
    let as_office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1,
    };
    let as_school = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: 2,
    };
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
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx3")),
        },
        user: "school2".into(),
        now_ms: 1,
    };
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
