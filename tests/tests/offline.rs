//! The offline-first client in headless Chromium: edits made offline survive a reload and
//! reach the server, offline edits of two devices merge, the app cold-starts with no network,
//! and a refused edit is shown with its text while everything else keeps syncing.
//!
//! "Offline" is DevTools network emulation (see [`Browser::set_network`]); what the server
//! has is read from its storage, not from the page.

use anyhow::{Context, Result, bail};
use rectify_server::state::ServerSettings;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{EditContext, ItemEdit, ItemPlan};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{Browser, FaultyStorage, SyncTestClient, TestServer, web_root};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// School 1's unit id in the demo data.
const SCHOOL1_UNIT: &str = "pszx1";
const SCHOOL2_UNIT: &str = "pszx3";
const WAIT: Duration = Duration::from_secs(20);

/// The sync status as the page shows it: (`data-state`, `data-pending`).
async fn sync_status(browser: &Browser) -> Result<(String, usize)> {
    let value = browser
        .client
        .execute(
            "const s = document.querySelector('[data-testid=sync-status]');
             return s ? [s.dataset.state, s.dataset.pending] : ['missing', '0'];",
            vec![],
        )
        .await?;
    let state = value[0].as_str().unwrap_or_default().to_owned();
    let pending = value[1].as_str().unwrap_or("0").parse().unwrap_or(0);
    Ok((state, pending))
}

/// Waits until the status is `state` (with `pending` changes waiting, when given).
async fn wait_for_status(browser: &Browser, state: &str, pending: Option<usize>) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = (String::new(), 0);
    while Instant::now() < deadline {
        last = sync_status(browser).await?;
        if last.0 == state && pending.is_none_or(|p| p == last.1) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the sync status stayed {last:?}, expected {state} (pending {pending:?})")
}

async fn editor_text(browser: &Browser) -> Result<String> {
    let value = browser
        .client
        .execute(
            "return document.querySelector('[data-testid=progress-editor]').value;",
            vec![],
        )
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// Waits until the progress editor holds `expected`.
async fn wait_for_text(browser: &Browser, expected: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        last = editor_text(browser).await?;
        if last == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the progress editor shows {last:?}, expected {expected:?}")
}

/// The ids of the items listed, in order.
async fn listed_items(browser: &Browser) -> Result<Vec<String>> {
    let value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=item]')].map(e => e.dataset.id);",
            vec![],
        )
        .await?;
    Ok(value
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// Items school 1 may still work on (not signed off), as listed.
async fn open_items(browser: &Browser, server: &TestServer) -> Result<Vec<String>> {
    open_items_of(browser, server, SCHOOL1_UNIT).await
}

/// Items `unit` may still work on (not signed off), as listed.
async fn open_items_of(browser: &Browser, server: &TestServer, unit: &str) -> Result<Vec<String>> {
    let mut open = Vec::new();
    for id in listed_items(browser).await? {
        let item = server.item(&id).await?;
        let status = item.progress.get(unit).map(|p| p.status);
        if status != Some(UnitStatus::SignedOff) {
            open.push(id);
        }
    }
    Ok(open)
}

async fn open_item(browser: &Browser, server: &TestServer, id: &str) -> Result<()> {
    browser
        .client
        .goto(&server.url(&format!("/#/item/{id}")))
        .await?;
    browser.wait_for("[data-testid=progress-editor]").await?;
    Ok(())
}

/// Types `text` into the progress editor at `at` (`None`: at the end).
async fn type_progress(browser: &Browser, text: &str, at: Option<usize>) -> Result<()> {
    let editor = browser.wait_for("[data-testid=progress-editor]").await?;
    editor.click().await?;
    let at = at.map_or("el.value.length".to_owned(), |at| at.to_string());
    browser
        .client
        .execute(
            &format!(
                "const el = document.querySelector('[data-testid=progress-editor]');
                 el.focus(); el.setSelectionRange({at}, {at});"
            ),
            vec![],
        )
        .await?;
    editor.send_keys(text).await?;
    Ok(())
}

async fn server_narrative(server: &TestServer, id: &str) -> Result<String> {
    unit_narrative(server, id, SCHOOL1_UNIT).await
}

async fn unit_narrative(server: &TestServer, id: &str, unit: &str) -> Result<String> {
    let item = server.item(id).await?;
    Ok(item
        .progress
        .get(unit)
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default())
}

/// A phone and a laptop of school 1, both synced, on the same open item whose narrative is
/// not empty; with the item's id and that narrative.
async fn two_devices_on_one_item(
    server: &TestServer,
) -> Result<(Browser, Browser, String, String)> {
    let phone = Browser::start(360, 800).await?;
    let laptop = Browser::start(1280, 800).await?;
    phone.log_in(&server.url("/"), "school1").await?;
    laptop.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&phone, "synced", Some(0)).await?;
    wait_for_status(&laptop, "synced", Some(0)).await?;
    let id = open_items(&phone, server).await?[0].clone();
    let before = server_narrative(server, &id).await?;
    open_item(&phone, server, &id).await?;
    open_item(&laptop, server, &id).await?;
    wait_for_text(&laptop, &before).await?;
    // A text to edit on both sides of: at an empty text, "at the start" and "at the end" are
    // the same place, and two inserts there merge in an order of Automerge's choosing.
    let before = format!("{before}基础");
    type_progress(&phone, "基础", None).await?;
    wait_for_status(&phone, "synced", Some(0)).await?;
    wait_for_text(&laptop, &before).await?;
    Ok((phone, laptop, id, before))
}

/// Log in, go offline, edit, reload offline (the edit is there, waiting), go online (the
/// server has it).
#[tokio::test(flavor = "multi_thread")]
async fn an_offline_edit_survives_a_reload_and_reaches_the_server() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    browser.screenshot("offline-list-360").await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let before = server_narrative(&server, &id).await?;

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", Some(0)).await?;
    open_item(&browser, &server, &id).await?;
    type_progress(&browser, "离线填写：已更换食堂登记表。", None).await?;
    let expected = format!("{before}离线填写：已更换食堂登记表。");
    wait_for_text(&browser, &expected).await?;
    wait_for_status(&browser, "pending", None).await?;
    let (_, waiting) = sync_status(&browser).await?;
    assert!(waiting > 0, "the status counts the waiting changes");
    assert_eq!(
        server_narrative(&server, &id).await?,
        before,
        "nothing reached the server while offline"
    );
    browser.screenshot("offline-item-pending-360").await?;

    // Reload with the network still off: the edit is on the device, still waiting.
    browser.client.refresh().await?;
    browser.wait_for("[data-testid=progress-editor]").await?;
    wait_for_text(&browser, &expected).await?;
    wait_for_status(&browser, "pending", Some(waiting)).await?;
    // Editing the reloaded copy keeps the Chinese text whole.
    let after_colon = before.encode_utf16().count() + "离线填写：".encode_utf16().count();
    type_progress(&browser, "（已复查）", Some(after_colon)).await?;
    let expected = format!("{before}离线填写：（已复查）已更换食堂登记表。");
    wait_for_text(&browser, &expected).await?;
    // The new edit waits too, counted once its burst is over: one change.
    wait_for_status(&browser, "pending", Some(waiting + 1)).await?;
    browser
        .client
        .execute("location.hash = '#/';", vec![])
        .await?;
    let mark = browser
        .wait_for(&format!(
            "[data-testid=item][data-id='{id}'][data-unsynced=true]"
        ))
        .await;
    assert!(
        mark.is_ok(),
        "the list marks the item with unsynced changes"
    );

    // Back online: it syncs by itself, and the server has the text.
    browser.set_offline(false).await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);
    browser
        .wait_for(&format!(
            "[data-testid=item][data-id='{id}'][data-unsynced=false]"
        ))
        .await?;
    browser.close().await?;
    Ok(())
}

/// A server with the web client on a [`FaultyStorage`] (no fault set yet).
async fn start_faulty_with_client() -> Result<(TestServer, Arc<FaultyStorage>)> {
    let mut faulty = None;
    let server = TestServer::start_on(Some(web_root()), ServerSettings::default(), |storage| {
        let wrapper = FaultyStorage::new(storage);
        faulty = Some(Arc::clone(&wrapper));
        wrapper
    })
    .await?;
    Ok((server, faulty.context("the storage was wrapped")?))
}

/// School 1 logged in on a phone and synced: its first open item (id, parsed id) and the
/// school's narrative there as the server has it.
async fn school1_on_an_open_item(
    server: &TestServer,
) -> Result<(Browser, String, DocumentId, String)> {
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, server).await?[0].clone();
    let doc: DocumentId = id.parse()?;
    let before = server_narrative(server, &id).await?;
    Ok((browser, id, doc, before))
}

/// The server's disk fails the school's edit: the page says so and keeps the edit waiting
/// (after a reload too), the app does not hammer the server (the reconnects back off instead
/// of starting over each time), and once the disk is back the edit arrives.
///
/// Without the backoff kept across a "try again later" (this stop) the app reconnected within
/// 0.25–2 s every time, about ten failed writes in 12 s.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_keeps_the_edit_waiting_and_the_app_backs_off() -> Result<()> {
    let (server, faulty) = start_faulty_with_client().await?;
    let (browser, id, doc, before) = school1_on_an_open_item(&server).await?;
    open_item(&browser, &server, &id).await?;

    faulty.fail_writes_to([doc]);
    type_progress(&browser, "磁盘故障时填写。", None).await?;
    let expected = format!("{before}磁盘故障时填写。");
    wait_for_status(&browser, "error", None).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let failed = faulty.counts().writes_failed;
    assert!(
        (1..=6).contains(&failed),
        "{failed} failed writes in {:?}: the app should back off",
        started.elapsed()
    );
    assert_eq!(
        editor_text(&browser).await?,
        expected,
        "the edit stays on screen"
    );
    assert_eq!(
        server_narrative(&server, &id).await?,
        before,
        "nothing stored"
    );

    // A reload keeps it, waiting.
    browser.client.refresh().await?;
    browser.wait_for("[data-testid=progress-editor]").await?;
    wait_for_text(&browser, &expected).await?;
    let (_, waiting) = sync_status(&browser).await?;
    assert!(waiting > 0, "the edit still counts as waiting");

    // The disk is back: the next reconnect (the reload started over) stores it.
    faulty.heal();
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);
    browser.close().await?;
    Ok(())
}

/// The server cannot read an item the school holds (its disk fails that file): the school's
/// copy in IndexedDB stays as it was, offline edit included, across a reload; once the read
/// works again the edit arrives. Before issue #17 the server answered `doc-unavailable`, on
/// which the app deleted its copy, waiting edit and all.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_read_leaves_the_schools_copy_intact() -> Result<()> {
    let (server, faulty) = start_faulty_with_client().await?;
    let (browser, id, doc, before) = school1_on_an_open_item(&server).await?;

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", Some(0)).await?;
    open_item(&browser, &server, &id).await?;
    type_progress(&browser, "读取故障前填写。", None).await?;
    let expected = format!("{before}读取故障前填写。");
    wait_for_status(&browser, "pending", None).await?;
    // The server drops the item from memory; from now on it cannot read it.
    server.sync.write_beside(async {}).await;
    faulty.fail_reads_of([doc]);
    browser.set_offline(false).await?;
    let deadline = Instant::now() + WAIT;
    while faulty.counts().reads_failed == 0 {
        ensure_before(deadline, "the app asked for the item")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    browser.client.refresh().await?;
    browser.wait_for("[data-testid=progress-editor]").await?;
    wait_for_text(&browser, &expected).await?;
    let (state, waiting) = sync_status(&browser).await?;
    assert!(waiting > 0, "still waiting ({state})");
    browser
        .client
        .execute("location.hash = '#/';", vec![])
        .await?;
    browser
        .wait_for(&format!("[data-testid=item][data-id='{id}']"))
        .await
        .context("the item is still listed")?;

    faulty.heal();
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);
    browser.close().await?;
    Ok(())
}

fn ensure_before(deadline: Instant, what: &str) -> Result<()> {
    if Instant::now() > deadline {
        bail!("timed out waiting until {what}");
    }
    Ok(())
}

/// Two devices of one school edit the same text offline; both edits survive the merge.
#[tokio::test(flavor = "multi_thread")]
async fn offline_edits_of_two_devices_merge() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (phone, laptop, id, before) = two_devices_on_one_item(&server).await?;

    phone.set_offline(true).await?;
    laptop.set_offline(true).await?;
    wait_for_status(&phone, "offline", None).await?;
    wait_for_status(&laptop, "offline", None).await?;
    type_progress(&phone, "【手机】", Some(0)).await?;
    type_progress(&laptop, "【电脑】", None).await?;
    wait_for_status(&phone, "pending", None).await?;
    wait_for_status(&laptop, "pending", None).await?;

    phone.set_offline(false).await?;
    laptop.set_offline(false).await?;
    let merged = format!("【手机】{before}【电脑】");
    for browser in [&phone, &laptop] {
        wait_for_status(browser, "synced", Some(0)).await?;
    }
    // The phone may have synced before the laptop's edit arrived: wait for both pages.
    wait_for_text(&phone, &merged).await?;
    wait_for_text(&laptop, &merged).await?;
    assert_eq!(server_narrative(&server, &id).await?, merged);
    laptop.screenshot("offline-merged-1280").await?;
    phone.close().await?;
    laptop.close().await?;
    Ok(())
}

/// The remote edit arrives while someone is typing: their cursor stays where it was.
#[tokio::test(flavor = "multi_thread")]
async fn the_cursor_stays_put_when_a_remote_edit_arrives() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (phone, laptop, _id, before) = two_devices_on_one_item(&server).await?;
    // The laptop's cursor sits at the end.
    type_progress(&laptop, "甲", None).await?;
    wait_for_status(&laptop, "synced", Some(0)).await?;
    // The phone inserts at the start; the laptop keeps typing where it was.
    type_progress(&phone, "乙", Some(0)).await?;
    wait_for_text(&laptop, &format!("乙{before}甲")).await?;
    laptop
        .wait_for("[data-testid=progress-editor]")
        .await?
        .send_keys("丙")
        .await?;
    wait_for_text(&laptop, &format!("乙{before}甲丙")).await?;
    phone.close().await?;
    laptop.close().await?;
    Ok(())
}

/// A browser closed and started again with no network shows the app and the last data.
#[tokio::test(flavor = "multi_thread")]
async fn a_cold_start_with_no_network_shows_the_app_and_the_last_data() -> Result<()> {
    let profile = tempfile::tempdir()?;
    let (listed, origin) = {
        let server = TestServer::start(Some(web_root())).await?;
        let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
        browser.log_in(&server.url("/"), "school1").await?;
        wait_for_status(&browser, "synced", Some(0)).await?;
        // The service worker has the app shell once it controls the page.
        let deadline = Instant::now() + WAIT;
        while browser
            .client
            .execute("return !!navigator.serviceWorker.controller;", vec![])
            .await?
            != serde_json::json!(true)
        {
            if Instant::now() > deadline {
                bail!("the service worker never took control of the page");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let listed = listed_items(&browser).await?;
        browser.close().await?;
        (listed, server.url("/"))
        // The server stops here: from now on nothing answers at that address.
    };
    let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
    browser.set_offline(true).await?;
    let _ = browser.client.goto(&origin).await;
    browser.wait_for("[data-testid=item]").await?;
    wait_for_status(&browser, "offline", Some(0)).await?;
    assert_eq!(
        listed_items(&browser).await?,
        listed,
        "the last data is there"
    );
    browser.screenshot("offline-cold-start-360").await?;
    browser.close().await?;
    Ok(())
}

/// The office reassigns an item while the school edits it offline: the school sees what
/// was refused, with its text, and everything else still syncs.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_edit_is_shown_with_its_text_and_the_rest_syncs() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let open = open_items(&browser, &server).await?;
    let (taken, kept) = (open[0].clone(), open[1].clone());
    let kept_before = server_narrative(&server, &kept).await?;

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", None).await?;
    open_item(&browser, &server, &taken).await?;
    type_progress(&browser, "这段文字会被拒绝", None).await?;
    open_item(&browser, &server, &kept).await?;
    type_progress(&browser, "另一项的进展", None).await?;
    wait_for_status(&browser, "pending", None).await?;

    // Meanwhile the office gives the first item to another school.
    let token = server.token("office").await?;
    let mut office = SyncTestClient::connect(&server.ws_base(), &token).await?;
    let taken_id: DocumentId = taken.parse()?;
    office.fetch(taken_id, WAIT).await?;
    let item = office.item(&taken_id);
    let plan = ItemPlan {
        responsible_leader: item.responsible_leader.clone(),
        responsible_department: item.responsible_department.clone(),
        units: vec![SCHOOL2_UNIT.to_owned()],
        deadline: item.deadline.clone(),
        timing: item.timing,
    };
    let ctx = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1_700_000_000_000,
    };
    rectify_shared::model::apply(office.document_mut(&taken_id)?, &ctx, ItemEdit::Plan(plan))?;
    office.sync_until_acknowledged(&taken_id, WAIT).await?;

    browser.set_offline(false).await?;
    let refused = browser.wait_for("[data-testid=refused-text]").await?;
    let text = refused.prop("value").await?.unwrap_or_default();
    assert!(
        text.ends_with("这段文字会被拒绝"),
        "the refused text is there to copy: {text:?}"
    );
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(
        server_narrative(&server, &kept).await?,
        format!("{kept_before}另一项的进展"),
        "the other item's edit reached the server"
    );
    assert!(
        !server_narrative(&server, &taken)
            .await?
            .contains("这段文字会被拒绝"),
        "the refused text never reached the server"
    );
    assert!(
        !listed_items(&browser).await?.contains(&taken),
        "the reassigned item left the school's list"
    );
    browser.screenshot("offline-refused-360").await?;
    browser.close().await?;
    Ok(())
}

/// The office signs off a school's entry while the school works on it offline: when the
/// school reconnects, the server refuses its changes; the app resets the item to the
/// server's copy, makes again what is still allowed (the question to the office), and lists
/// on screen each edit that the lock now refuses (the text, the tick) with its content.
#[tokio::test(flavor = "multi_thread")]
async fn refused_work_is_made_again_where_allowed_and_the_rest_is_listed() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let narrative_before = server_narrative(&server, &id).await?;

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", None).await?;
    open_item(&browser, &server, &id).await?;
    type_progress(&browser, "离线写下的整改情况", None).await?;
    browser
        .wait_for("[data-testid=measure]")
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-testid=feedback-input]")
        .await?
        .send_keys("第二项措施需要财务配合")
        .await?;
    browser
        .wait_for("[data-testid=feedback-send]")
        .await?
        .click()
        .await?;
    wait_for_status(&browser, "pending", None).await?;

    // Meanwhile the office records the school's request and signs its entry off.
    let token = server.token("office").await?;
    let mut office = SyncTestClient::connect(&server.ws_base(), &token).await?;
    let doc: DocumentId = id.parse()?;
    office.fetch(doc, WAIT).await?;
    let ctx = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1_700_000_000_000,
    };
    for to in [UnitStatus::Submitted, UnitStatus::SignedOff] {
        let edit = ItemEdit::UnitStatus {
            unit: SCHOOL1_UNIT.into(),
            to,
            reason: None,
        };
        rectify_shared::model::apply(office.document_mut(&doc)?, &ctx, edit)?;
    }
    office.sync_until_acknowledged(&doc, WAIT).await?;

    browser.set_offline(false).await?;
    browser.wait_for("[data-testid=refused-reapplied]").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let listed = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=not-reapplied]')]
                 .map(e => [e.dataset.op, e.querySelector('.refused-edit-text').textContent]);",
            vec![],
        )
        .await?;
    let listed: Vec<(String, String)> = serde_json::from_value(listed)?;
    let reason = browser
        .wait_for("[data-testid=refused-entry] .refused-reason")
        .await?
        .text()
        .await?;
    assert!(
        reason.contains("已销号") && !reason.contains(&id),
        "the reason is the server's, without the document id the panel does not need: {reason:?}"
    );
    // Said in the user's language from the refusal the server sent as data (#22), not the
    // server's English message.
    assert!(
        reason.contains("办公室已对本单位的整改销号")
            && !reason.chars().any(|c| c.is_ascii_alphabetic()),
        "the reason is in Chinese: {reason:?}"
    );
    // So is why each edit could not be made again (the app's own check this time).
    let why: Vec<String> = serde_json::from_value(
        browser
            .client
            .execute(
                "return [...document.querySelectorAll('[data-testid=not-reapplied] small')]
                     .map(e => e.textContent);",
                vec![],
            )
            .await?,
    )?;
    assert!(
        !why.is_empty()
            && why
                .iter()
                .all(|t| t.contains("已销号") && !t.chars().any(|c| c.is_ascii_alphabetic())),
        "why each edit was not made again, in Chinese: {why:?}"
    );
    let ops: Vec<&str> = listed.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(ops, ["unit_narrative", "tick_measure"], "{listed:?}");
    assert!(listed[0].1.ends_with("离线写下的整改情况"), "{listed:?}");
    let item = server.item(&id).await?;
    assert!(
        item.feedback
            .iter()
            .any(|f| f.text == "第二项措施需要财务配合" && f.author == "school1"),
        "the question was made again on the server's copy: {:?}",
        item.feedback
    );
    assert_eq!(
        server_narrative(&server, &id).await?,
        narrative_before,
        "the signed-off entry stayed as signed off"
    );
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=refused]').scrollIntoView();",
            vec![],
        )
        .await?;
    browser.screenshot("offline-refused-rescue-360").await?;
    browser.close().await?;
    Ok(())
}

/// Keys of `user` in the app's IndexedDB (documents, sync states, records, files).
async fn keys_on_device(browser: &Browser, user: &str) -> Result<u64> {
    let count = browser
        .client
        .execute_async(
            "const [user, done] = arguments;
             const open = indexedDB.open('rectify');
             open.onsuccess = () => {
               const stores = ['chunks', 'sync', 'kv', 'files'];
               const tx = open.result.transaction(stores);
               let n = 0, left = stores.length;
               for (const name of stores) {
                 const all = tx.objectStore(name).getAllKeys();
                 all.onsuccess = () => {
                   n += all.result.filter(k => String(k).startsWith(user + '\\u0001')).length;
                   if (--left === 0) done(n);
                 };
               }
             };",
            vec![serde_json::Value::String(user.to_owned())],
        )
        .await?;
    count.as_u64().context("a count of keys")
}

/// The users named in the device-wide note of work left at logout.
async fn left_work_users(browser: &Browser) -> Result<Vec<String>> {
    let users = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=left-work-entry]')]
                 .map(e => e.dataset.user);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(users)?)
}

async fn click_testid(browser: &Browser, testid: &str) -> Result<()> {
    browser
        .wait_for(&format!("[data-testid={testid}]"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// A shared school computer: school2 logs out with a note not yet on the server. The app
/// warns and says what is waiting, will not clear the device, and keeps the note; the login
/// page and school1, who logs in next, are told; school1 logs out and clears its own data;
/// school2 logs in again and the note reaches the server.
#[tokio::test(flavor = "multi_thread")]
async fn work_left_at_logout_is_named_kept_and_sent_at_the_next_login() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school2").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items_of(&browser, &server, SCHOOL2_UNIT).await?[0].clone();

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", None).await?;
    open_item(&browser, &server, &id).await?;
    type_progress(&browser, "二校离线记录", None).await?;
    wait_for_status(&browser, "pending", None).await?;
    click_testid(&browser, "log-out").await?;
    let warning = browser
        .wait_for("[data-testid=log-out-warning]")
        .await?
        .text()
        .await?;
    let pending = browser
        .wait_for("[data-testid=log-out-panel]")
        .await?
        .attr("data-pending")
        .await?
        .unwrap_or_default();
    assert!(
        pending != "0" && warning.contains(&pending),
        "says what is waiting: {pending} in {warning:?}"
    );
    browser
        .wait_for("[data-testid=log-out-cannot-clear]")
        .await?;
    assert!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("[data-testid=log-out-clear]"))
            .await?
            .is_empty(),
        "clearing the device is not offered while work is waiting"
    );
    browser.screenshot("log-out-unsynced-360").await?;
    click_testid(&browser, "log-out-confirm").await?;
    browser.wait_for("[data-testid=left-work-entry]").await?;
    assert_eq!(left_work_users(&browser).await?, ["school2"]);
    browser.screenshot("log-out-left-work-360").await?;

    browser.set_offline(false).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    browser.wait_for("[data-testid=left-work-entry]").await?;
    assert_eq!(
        left_work_users(&browser).await?,
        ["school2"],
        "school1 is told"
    );
    assert!(
        !unit_narrative(&server, &id, SCHOOL2_UNIT)
            .await?
            .contains("二校离线记录"),
        "school2's note is still only on the device"
    );

    // school1 has everything on the server: it may clear its part of the device.
    assert!(keys_on_device(&browser, "school1").await? > 0);
    click_testid(&browser, "log-out").await?;
    click_testid(&browser, "log-out-clear").await?;
    browser.wait_for("#login-title").await?;
    assert_eq!(
        keys_on_device(&browser, "school1").await?,
        0,
        "school1's data left the device"
    );
    assert!(
        keys_on_device(&browser, "school2").await? > 0,
        "school2's is still there"
    );

    browser.log_in(&server.url("/"), "school2").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let deadline = Instant::now() + WAIT;
    while !unit_narrative(&server, &id, SCHOOL2_UNIT)
        .await?
        .contains("二校离线记录")
    {
        ensure_before(deadline, "school2's note reaching the server")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Everything sent: the note on the device goes.
    click_testid(&browser, "log-out").await?;
    click_testid(&browser, "log-out-confirm").await?;
    browser.wait_for("#login-title").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(left_work_users(&browser).await?.is_empty());
    browser.close().await?;
    Ok(())
}

/// An evidence entry as the page shows it: (`data-upload`, `data-received`, `data-size`).
async fn evidence_state(browser: &Browser, sha256: &str) -> Result<Option<(String, u64, u64)>> {
    let value = browser
        .client
        .execute(
            "const e = document.querySelector(`[data-testid=evidence][data-sha256='${arguments[0]}']`);
             return e ? [e.dataset.upload, e.dataset.received, e.dataset.size] : null;",
            vec![serde_json::Value::String(sha256.to_owned())],
        )
        .await?;
    let Some(parts) = value.as_array() else {
        return Ok(None);
    };
    let number = |i: usize| parts[i].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    let state = parts[0].as_str().unwrap_or_default().to_owned();
    Ok(Some((state, number(1), number(2))))
}

/// The first evidence entry's SHA-256, once one is shown.
async fn first_evidence(browser: &Browser) -> Result<String> {
    let element = browser
        .wait_for("[data-testid=evidence][data-sha256]")
        .await?;
    element
        .attr("data-sha256")
        .await?
        .context("an evidence entry without data-sha256")
}

async fn wait_for_upload(browser: &Browser, sha256: &str, state: &str) -> Result<(u64, u64)> {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        last = evidence_state(browser, sha256).await?;
        if let Some((shown, received, size)) = &last
            && shown == state
        {
            return Ok((*received, *size));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("evidence {sha256} shows {last:?}, expected {state}")
}

/// A photo taken offline is downscaled, kept on the device through a reload, and uploaded
/// when the network returns; the server gets exactly the device's bytes and the reference.
#[tokio::test(flavor = "multi_thread")]
async fn a_photo_queued_offline_survives_a_reload_and_uploads_when_online() -> Result<()> {
    use rectify_shared::evidence::sha256_hex;
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let photo = rectify_tests::photos::phone_photo(4000, 3000, 7);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("食堂陪餐记录.jpg");
    std::fs::write(&path, &photo)?;

    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", Some(0)).await?;
    open_item(&browser, &server, &id).await?;
    browser
        .wait_for("[data-testid=evidence-file]")
        .await?
        .send_keys(path.to_str().context("a UTF-8 path")?)
        .await?;
    let sha = first_evidence(&browser).await?;
    let (_, size) = wait_for_upload(&browser, &sha, "queued").await?;
    assert!(
        size < photo.len() as u64 / 3,
        "a {} byte photo was stored as {size} bytes: not downscaled",
        photo.len()
    );
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=evidence]').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await?;
    browser.screenshot("evidence-queued-360").await?;

    browser.client.refresh().await?;
    browser.wait_for("[data-testid=progress-editor]").await?;
    wait_for_upload(&browser, &sha, "queued").await?;
    assert!(
        server.storage.blob(&sha).await?.is_none(),
        "nothing left while offline"
    );

    browser.set_offline(false).await?;
    wait_for_upload(&browser, &sha, "done").await?;
    let stored = server
        .files
        .store
        .get(&sha, rectify_server::blobs::Variant::Original)
        .await?
        .context("the server has no file after the upload")?;
    assert_eq!(sha256_hex(&stored), sha);
    assert_eq!(stored.len() as u64, size);
    let image = image::load_from_memory(&stored)?;
    assert_eq!(
        (image.width(), image.height()),
        (1600, 1200),
        "downscaled to 1600 px"
    );
    let item = server.item(&id).await?;
    let evidence = &item.progress[SCHOOL1_UNIT].evidence;
    assert!(
        evidence
            .iter()
            .any(|e| e.sha256 == sha && e.added_by == "school1"),
        "the server's item references the file: {evidence:?}"
    );
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=evidence]').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await?;
    browser.screenshot("evidence-uploaded-360").await?;
    eprintln!(
        "a {} byte 4000×3000 photo became {size} bytes at 1600×1200",
        photo.len()
    );
    browser.close().await?;

    // The office sees it with the server's thumbnail, on a desktop screen.
    let office = Browser::start(1280, 800).await?;
    office.log_in(&server.url("/"), "office").await?;
    office
        .client
        .goto(&server.url(&format!("/#/item/{id}")))
        .await?;
    wait_for_upload(&office, &sha, "remote").await?;
    let thumbnail = format!("[data-testid=evidence][data-sha256='{sha}'] img");
    let deadline = Instant::now() + WAIT;
    loop {
        let width = office
            .client
            .execute(
                "const img = document.querySelector(arguments[0]);
                 return img && img.complete ? img.naturalWidth : 0;",
                vec![serde_json::Value::String(thumbnail.clone())],
            )
            .await?;
        if width.as_u64() == Some(320) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the office's thumbnail did not load (width {width})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    office
        .client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
            vec![serde_json::Value::String(thumbnail)],
        )
        .await?;
    office.screenshot("evidence-office-1280").await?;
    office.close().await?;
    Ok(())
}

/// The browser is killed (SIGKILL) while a school types offline: every edit the app had
/// counted as waiting (it counts only what is on disk) is there when the app opens again,
/// and reaches the server once online.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_killed_while_typing_loses_no_edit_it_had_counted() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let profile = tempfile::tempdir()?;
    let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let before = server_narrative(&server, &id).await?;
    browser.set_offline(true).await?;
    wait_for_status(&browser, "offline", Some(0)).await?;
    open_item(&browser, &server, &id).await?;
    let mut counted = before.clone();
    let mut waiting = 0;
    for burst in ["第一批：已整改。", "第二批：已复查。", "第三批：已公示。"]
    {
        type_progress(&browser, burst, None).await?;
        counted.push_str(burst);
        // Wait until the app counts the burst as waiting: then it is on disk.
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, pending) = sync_status(&browser).await?;
            if pending > waiting && editor_text(&browser).await? == counted {
                waiting = pending;
                break;
            }
            if Instant::now() > deadline {
                bail!("the burst {burst} was never counted as waiting");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // One more burst, and the browser dies while it is being written.
    type_progress(&browser, "第四批：正在填写", None).await?;
    browser.crash()?;

    let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
    browser.set_offline(true).await?;
    let _ = browser
        .client
        .goto(&server.url(&format!("/#/item/{id}")))
        .await;
    browser.wait_for("[data-testid=progress-editor]").await?;
    let reopened = editor_text(&browser).await?;
    assert!(
        reopened.starts_with(&counted),
        "counted edits were lost: had {counted:?}, reopened with {reopened:?}"
    );
    browser.set_offline(false).await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, reopened);
    browser.close().await?;
    Ok(())
}

/// Every IndexedDB transaction that writes the user's work (the edit's chunk, the sync state
/// that counts it as sent, queued files, small records) asks the browser for strict
/// durability: done only once flushed to disk, so a power cut right after an edit counted
/// cannot take it. The default ("relaxed") completes when the data reaches the operating
/// system's buffers. Killing the browser process would not show the difference (the buffers
/// survive it), so the test watches the transactions the app opens.
#[tokio::test(flavor = "multi_thread")]
async fn every_write_to_the_device_waits_for_the_disk() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (browser, id, _, before) = school1_on_an_open_item(&server).await?;
    browser
        .client
        .execute(
            "window.__transactions = [];
             const open = IDBDatabase.prototype.transaction;
             IDBDatabase.prototype.transaction = function (stores, mode, options) {
                 const tx = open.apply(this, arguments);
                 window.__transactions.push({
                     stores: [].concat(stores).join(','),
                     mode: tx.mode,
                     asked: options ? options.durability : null,
                     durability: tx.durability,
                 });
                 return tx;
             };",
            vec![],
        )
        .await?;
    browser
        .client
        .execute(&format!("location.hash = '#/item/{id}';"), vec![])
        .await?;
    type_progress(&browser, "已落盘。", None).await?;
    let expected = format!("{before}已落盘。");
    wait_for_text(&browser, &expected).await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);

    let seen = browser
        .client
        .execute("return window.__transactions;", vec![])
        .await?;
    let seen = seen.as_array().context("a list of transactions")?;
    let writes: Vec<&serde_json::Value> =
        seen.iter().filter(|t| t["mode"] == "readwrite").collect();
    assert!(
        writes.iter().any(|t| t["stores"] == "chunks,sync"),
        "the edit was written: {seen:?}"
    );
    for write in &writes {
        assert_eq!(write["asked"], "strict", "{write}");
        assert_eq!(write["durability"], "strict", "{write}");
    }
    browser.close().await?;
    Ok(())
}

/// Scrolls the progress editor into view (for a screenshot people can read).
async fn show_editor(browser: &Browser) -> Result<()> {
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=progress-editor]').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await?;
    Ok(())
}

/// Issue #19, "a typing burst is one change": sixty characters typed key by key become one
/// change on the server (the bar never counts more than that one waiting), not sixty.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_a_typing_burst_is_one_change() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let before = server_narrative(&server, &id).await?;
    let changes_before = server.changes(&id).await?;
    open_item(&browser, &server, &id).await?;
    let typed: String = "已召开专题会议研究整改，制定方案，明确责任人和时限。"
        .chars()
        .cycle()
        .take(60)
        .collect();
    // The app counts what is waiting on the bar: sample it while the keys go in.
    browser
        .client
        .execute(
            "window.__mostPending = 0;
             setInterval(() => {
                 const s = document.querySelector('[data-testid=sync-status]');
                 const n = s ? Number(s.dataset.pending) : 0;
                 window.__mostPending = Math.max(window.__mostPending, n);
             }, 5);",
            vec![],
        )
        .await?;
    type_progress(&browser, &typed, None).await?;
    let expected = format!("{before}{typed}");
    // The field shows every key at once, before the burst is made a change.
    assert_eq!(editor_text(&browser).await?, expected);
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);
    assert_eq!(
        server.changes(&id).await? - changes_before,
        1,
        "sixty keystrokes are one change"
    );
    let most = browser
        .client
        .execute("return window.__mostPending;", vec![])
        .await?;
    assert!(
        most.as_u64().unwrap_or(0) <= 1,
        "the bar counted {most} changes waiting for one burst"
    );
    show_editor(&browser).await?;
    browser.screenshot("burst-synced-360").await?;
    browser.close().await?;
    Ok(())
}

/// Issue #19: what was typed a moment before leaving the page (a navigation away, then the
/// browser closed) is neither lost nor sent twice: reopened, the app shows it and syncs it.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_text_typed_right_before_leaving_is_kept() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let profile = tempfile::tempdir()?;
    let browser = Browser::start_with_profile(1280, 800, profile.path()).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let before = server_narrative(&server, &id).await?;
    open_item(&browser, &server, &id).await?;

    // Typed, and at once another site: the page unloads mid-burst.
    type_progress(&browser, "离开前：已整改。", None).await?;
    browser.client.goto("about:blank").await?;
    open_item(&browser, &server, &id).await?;
    let expected = format!("{before}离开前：已整改。");
    wait_for_text(&browser, &expected).await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);

    // Typed, and at once the browser closes.
    type_progress(&browser, "关闭前：已公示。", None).await?;
    browser.close().await?;
    let browser = Browser::start_with_profile(1280, 800, profile.path()).await?;
    let _ = browser
        .client
        .goto(&server.url(&format!("/#/item/{id}")))
        .await;
    browser.wait_for("[data-testid=progress-editor]").await?;
    let expected = format!("{expected}关闭前：已公示。");
    wait_for_text(&browser, &expected).await?;
    wait_for_status(&browser, "synced", Some(0)).await?;
    assert_eq!(server_narrative(&server, &id).await?, expected);
    show_editor(&browser).await?;
    browser.screenshot("burst-reopened-1280").await?;
    browser.close().await?;
    Ok(())
}

/// Issue #19: another device's edit arrives while this one is in the middle of a burst (not
/// yet a change): the field keeps what is being typed, shows both, and the typing goes on.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_a_remote_edit_mid_burst_does_not_clobber_the_typing() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (phone, laptop, id, before) = two_devices_on_one_item(&server).await?;
    // The laptop types at the end: a burst, held for 1.5 s of quiet.
    type_progress(&laptop, "甲", None).await?;
    // The phone types at the start and leaves the field: its burst goes out at once.
    type_progress(&phone, "乙", Some(0)).await?;
    phone
        .client
        .execute(
            "document.querySelector('[data-testid=progress-editor]').blur();",
            vec![],
        )
        .await?;
    wait_for_text(&laptop, &format!("乙{before}甲")).await?;
    laptop
        .wait_for("[data-testid=progress-editor]")
        .await?
        .send_keys("丙")
        .await?;
    let merged = format!("乙{before}甲丙");
    wait_for_text(&laptop, &merged).await?;
    wait_for_status(&laptop, "synced", Some(0)).await?;
    wait_for_text(&phone, &merged).await?;
    assert_eq!(server_narrative(&server, &id).await?, merged);
    show_editor(&laptop).await?;
    laptop.screenshot("burst-merged-1280").await?;
    phone.close().await?;
    laptop.close().await?;
    Ok(())
}
