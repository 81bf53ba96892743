//! Issue #19, one device and several tabs: the tabs of one user in one browser share one
//! sync connection and one upload queue. The first tab leads (it holds the Web Lock
//! `rectify-leader-<user>`); a second tab follows: it opens no connection, uploads nothing,
//! and talks to the leader over a `BroadcastChannel`. When the leader's tab closes, the
//! follower takes over without a reload. Also here: a typing burst refused as it becomes a
//! change is listed with the refused work, its text to copy.
//!
//! The tabs are two WebDriver windows of one browser (one profile); what the server has is
//! read from its storage and `/metrics`, not from the page.

use anyhow::{Context, Result, bail};
use fantoccini::wd::WindowHandle;
use rectify_shared::ids::DocumentId;
use rectify_shared::model::{EditContext, ItemEdit, ItemPlan};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{Browser, SyncTestClient, TestServer, web_root};
use std::time::{Duration, Instant};

/// School 1's unit id in the demo data.
const SCHOOL1_UNIT: &str = "pszx1";
const SCHOOL2_UNIT: &str = "pszx3";
const WAIT: Duration = Duration::from_secs(20);

/// The current window's bar: (`data-state`, `data-pending`, `data-tab`).
async fn bar(browser: &Browser) -> Result<(String, usize, String)> {
    let value = browser
        .client
        .execute(
            "const s = document.querySelector('[data-testid=sync-status]');
             return s ? [s.dataset.state, s.dataset.pending, s.dataset.tab || ''] : ['missing', '0', ''];",
            vec![],
        )
        .await?;
    let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
    Ok((text(0), text(1).parse().unwrap_or(0), text(2)))
}

/// Waits until the current window's bar says `state` with nothing pending, in the tab role
/// `tab`.
async fn wait_for_bar(browser: &Browser, state: &str, tab: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = Default::default();
    while Instant::now() < deadline {
        last = bar(browser).await?;
        if last.0 == state && last.1 == 0 && last.2 == tab {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the bar stayed {last:?}, expected {state} with nothing pending in a {tab} tab")
}

/// The open sync connections, as the server counts them.
async fn connections(server: &TestServer) -> Result<u64> {
    let text = reqwest::get(server.url("/metrics")).await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("rectify_sync_connections "))
        .and_then(|v| v.trim().parse().ok())
        .context("no rectify_sync_connections in /metrics")
}

/// Items school 1 may still work on (not signed off), as listed.
async fn open_items(browser: &Browser, server: &TestServer) -> Result<Vec<String>> {
    let value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=item]')].map(e => e.dataset.id);",
            vec![],
        )
        .await?;
    let mut open = Vec::new();
    for id in value.as_array().context("a list")? {
        let id = id.as_str().context("an id")?;
        let item = server.item(id).await?;
        if item.progress.get(SCHOOL1_UNIT).map(|p| p.status) != Some(UnitStatus::SignedOff) {
            open.push(id.to_owned());
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

/// Types `text` at the end of the progress editor.
async fn type_progress(browser: &Browser, text: &str) -> Result<()> {
    let editor = browser.wait_for("[data-testid=progress-editor]").await?;
    browser
        .client
        .execute(
            "const el = document.querySelector('[data-testid=progress-editor]');
             el.focus(); el.setSelectionRange(el.value.length, el.value.length);",
            vec![],
        )
        .await?;
    editor.send_keys(text).await?;
    Ok(())
}

/// Waits until the current window's progress editor holds `expected`.
async fn wait_for_text(browser: &Browser, expected: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let value = browser
            .client
            .execute(
                "const el = document.querySelector('[data-testid=progress-editor]');
                 return el ? el.value : '';",
                vec![],
            )
            .await?;
        last = value.as_str().unwrap_or_default().to_owned();
        if last == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the progress editor shows {last:?}, expected {expected:?}")
}

async fn server_narrative(server: &TestServer, id: &str) -> Result<String> {
    let item = server.item(id).await?;
    Ok(item
        .progress
        .get(SCHOOL1_UNIT)
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default())
}

/// Waits until the server's narrative of `id` is `expected`.
async fn wait_for_server_text(server: &TestServer, id: &str, expected: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        last = server_narrative(server, id).await?;
        if last == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server's narrative is {last:?}, expected {expected:?}")
}

/// The typing journal's entries (key → text) for `id`, in `localStorage`.
async fn journal(browser: &Browser, id: &str) -> Result<Vec<(String, String)>> {
    let value = browser
        .client
        .execute(
            "return Object.keys(localStorage)
                 .filter(k => k.startsWith('rectify.typing.') && k.includes(arguments[0]))
                 .map(k => [k, JSON.parse(localStorage.getItem(k)).text]);",
            vec![serde_json::Value::String(id.to_owned())],
        )
        .await?;
    Ok(value
        .as_array()
        .context("a list")?
        .iter()
        .map(|pair| {
            let text = |i: usize| pair[i].as_str().unwrap_or_default().to_owned();
            (text(0), text(1))
        })
        .collect())
}

/// A second window of the same browser (the same profile: one device), showing the app.
async fn second_tab(
    browser: &Browser,
    server: &TestServer,
) -> Result<(WindowHandle, WindowHandle)> {
    let first = browser.client.window().await?;
    let second = browser.client.new_window(false).await?.handle;
    browser.client.switch_to_window(second.clone()).await?;
    browser.client.goto(&server.url("/")).await?;
    browser.wait_for("[data-testid=item]").await?;
    Ok((first, second))
}

/// Two tabs of school 1: one connection to the server; an edit in the follower reaches the
/// server and shows in the leader, and one in the leader shows in the follower; two tabs
/// typing in one field keep a journal entry each; the leader's tab closes and the follower
/// takes over without a reload, syncing an edit made after.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_two_tabs_share_one_connection_and_the_follower_takes_over() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(1280, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let (leader, follower) = second_tab(&browser, &server).await?;
    wait_for_bar(&browser, "synced", "follower").await?;

    // (a) One connection for the two tabs, however long they stay open.
    for _ in 0..10 {
        assert_eq!(connections(&server).await?, 1, "two tabs, one connection");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // (b) An edit in the follower reaches the server and shows in the leader.
    let before = server_narrative(&server, &id).await?;
    open_item(&browser, &server, &id).await?;
    type_progress(&browser, "从第二个标签页写入。").await?;
    let after_b = format!("{before}从第二个标签页写入。");
    wait_for_server_text(&server, &id, &after_b).await?;
    wait_for_bar(&browser, "synced", "follower").await?;
    browser.client.switch_to_window(leader.clone()).await?;
    open_item(&browser, &server, &id).await?;
    wait_for_text(&browser, &after_b).await?;

    // And back: an edit in the leader shows in the follower.
    type_progress(&browser, "甲").await?;
    let after_leader = format!("{after_b}甲");
    wait_for_server_text(&server, &id, &after_leader).await?;
    browser.client.switch_to_window(follower.clone()).await?;
    wait_for_text(&browser, &after_leader).await?;

    // Both tabs type in the same field at once: each keeps its own journal entry, so the
    // first burst to end does not remove the other tab's.
    type_progress(&browser, "乙").await?;
    browser.client.switch_to_window(leader.clone()).await?;
    type_progress(&browser, "丙").await?;
    let entries = journal(&browser, &id).await?;
    assert_eq!(entries.len(), 2, "one journal entry per tab: {entries:?}");
    assert_ne!(entries[0].0, entries[1].0);
    let mut texts: Vec<String> = entries.iter().map(|(_, text)| text.clone()).collect();
    texts.sort();
    assert!(
        texts[0].ends_with('丙') && texts[1].ends_with('乙')
            || texts[0].ends_with('乙') && texts[1].ends_with('丙'),
        "each tab's entry holds its own text: {texts:?}"
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let text = server_narrative(&server, &id).await?;
        if text.contains('乙') && text.contains('丙') {
            break;
        }
        if Instant::now() > deadline {
            bail!("both bursts never reached the server: {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_bar(&browser, "synced", "leader").await?;
    browser.client.switch_to_window(follower.clone()).await?;
    wait_for_bar(&browser, "synced", "follower").await?;
    let deadline = Instant::now() + WAIT;
    while !journal(&browser, &id).await?.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "journal entries stayed: {:?}",
                journal(&browser, &id).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.screenshot("tabs-follower-1280").await?;

    // (c) The leader's tab closes: the follower leads, without a reload, and syncs.
    browser.client.switch_to_window(leader).await?;
    browser.client.close_window().await?;
    browser.client.switch_to_window(follower).await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    let now = server_narrative(&server, &id).await?;
    type_progress(&browser, "接管后写入。").await?;
    wait_for_server_text(&server, &id, &format!("{now}接管后写入。")).await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    assert_eq!(
        connections(&server).await?,
        1,
        "the new leader's connection"
    );
    browser.close().await?;
    Ok(())
}

/// A refusal of a follower's edit: the follower writes offline work (the leader's page is
/// offline), the office gives the item to another school meanwhile, the leader reconnects
/// and the server refuses the change. The follower, which made the edit, shows the refusal
/// with its text to copy, and the item leaves its list too.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_a_refused_edit_made_in_a_follower_is_shown_there() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    let taken = open_items(&browser, &server).await?[0].clone();
    let (leader, follower) = second_tab(&browser, &server).await?;
    wait_for_bar(&browser, "synced", "follower").await?;

    browser.client.switch_to_window(leader.clone()).await?;
    browser.set_offline(true).await?;
    wait_for_bar(&browser, "offline", "leader").await?;
    browser.client.switch_to_window(follower.clone()).await?;
    open_item(&browser, &server, &taken).await?;
    type_progress(&browser, "这段文字会被拒绝").await?;
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=progress-editor]').blur();",
            vec![],
        )
        .await?;
    let deadline = Instant::now() + WAIT;
    while bar(&browser).await?.1 == 0 {
        if Instant::now() > deadline {
            bail!("the follower's bar never counted the edit waiting");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token = server.token("office").await?;
    let mut office = SyncTestClient::connect(&server.ws_base(), &token).await?;
    let doc: DocumentId = taken.parse()?;
    office.fetch(doc, WAIT).await?;
    let item = office.item(&doc);
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
    rectify_shared::model::apply(office.document_mut(&doc)?, &ctx, ItemEdit::Plan(plan))?;
    office.sync_until_acknowledged(&doc, WAIT).await?;

    browser.client.switch_to_window(leader).await?;
    browser.set_offline(false).await?;
    browser.client.switch_to_window(follower).await?;
    let refused = browser.wait_for("[data-testid=refused-text]").await?;
    let text = refused.prop("value").await?.unwrap_or_default();
    assert!(
        text.ends_with("这段文字会被拒绝"),
        "the follower shows the refused text to copy: {text:?}"
    );
    wait_for_bar(&browser, "synced", "follower").await?;
    browser.client.goto(&server.url("/")).await?;
    browser.wait_for("[data-testid=item]").await?;
    let listed = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=item]')].map(e => e.dataset.id);",
            vec![],
        )
        .await?;
    assert!(
        !listed
            .as_array()
            .context("a list")?
            .iter()
            .any(|id| id.as_str() == Some(taken.as_str())),
        "the reassigned item left the follower's list"
    );
    assert!(
        !server_narrative(&server, &taken)
            .await?
            .contains("这段文字会被拒绝"),
        "the refused text never reached the server"
    );
    browser.close().await?;
    Ok(())
}

/// Leaves the progress editor: the typing burst becomes a change.
async fn blur_progress(browser: &Browser) -> Result<()> {
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=progress-editor]').blur();",
            vec![],
        )
        .await?;
    Ok(())
}

/// Which of the current window's requests went to the upload API.
async fn upload_requests(browser: &Browser) -> Result<u64> {
    let value = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/api/uploads')).length;",
            vec![],
        )
        .await?;
    value.as_u64().context("a count")
}

/// (d) A file attached in the follower tab is uploaded once, by the leader: the follower
/// sends no upload request at all, shows the upload's progress as the leader sends it, and
/// the file uploaded once the leader has. Then
/// the user logs out in the leader's tab: the follower leaves to the login page at once.
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_a_file_attached_in_a_follower_is_uploaded_once_by_the_leader() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(1280, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    let id = open_items(&browser, &server).await?[0].clone();
    let (leader, follower) = second_tab(&browser, &server).await?;
    wait_for_bar(&browser, "synced", "follower").await?;

    let photo = rectify_tests::photos::phone_photo(1200, 900, 3);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("整改台账.jpg");
    std::fs::write(&path, &photo)?;
    // The leader's uploads go slowly, in several pieces: the follower shows each as the
    // leader sends it, not only the end.
    browser.client.switch_to_window(leader.clone()).await?;
    browser
        .set_network(rectify_tests::Network {
            upload_bytes_per_sec: 100_000,
            ..rectify_tests::Network::unthrottled()
        })
        .await?;
    browser.client.switch_to_window(follower.clone()).await?;
    open_item(&browser, &server, &id).await?;
    browser
        .wait_for("[data-testid=evidence-file]")
        .await?
        .send_keys(path.to_str().context("a UTF-8 path")?)
        .await?;
    let sha = browser
        .wait_for("[data-testid=evidence][data-sha256]")
        .await?
        .attr("data-sha256")
        .await?
        .context("an evidence entry without data-sha256")?;
    let mut partly = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let entry = browser
            .client
            .execute(
                "const e = document.querySelector(`[data-testid=evidence][data-sha256='${arguments[0]}']`);
                 return [e.dataset.upload, Number(e.dataset.received), Number(e.dataset.size)];",
                vec![sha.clone().into()],
            )
            .await?;
        let (state, received, size) = (
            entry[0].as_str().unwrap_or_default().to_owned(),
            entry[1].as_u64().unwrap_or(0),
            entry[2].as_u64().unwrap_or(0),
        );
        if state == "done" {
            break;
        }
        if state == "uploading" && received > 0 && received < size {
            partly.push(received);
        }
        if Instant::now() > deadline {
            bail!("the upload never finished in the follower: {entry}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !partly.is_empty(),
        "the follower showed the upload's progress before the end: {partly:?} of {} bytes",
        photo.len()
    );
    let done = format!("[data-testid=evidence][data-sha256='{sha}'][data-upload=done]");
    browser.wait_for(&done).await?;
    assert!(
        server.storage.blob(&sha).await?.is_some(),
        "the server has the file"
    );
    let item = server.item(&id).await?;
    assert!(
        item.progress[SCHOOL1_UNIT]
            .evidence
            .iter()
            .any(|e| e.sha256 == sha),
        "the server's item references it"
    );
    assert_eq!(
        upload_requests(&browser).await?,
        0,
        "the follower uploaded nothing"
    );
    browser.client.switch_to_window(leader.clone()).await?;
    browser.set_offline(false).await?; // unthrottled
    let leader_requests = upload_requests(&browser).await?;
    assert!(
        leader_requests >= 2,
        "the leader started the upload and sent the bytes ({leader_requests} requests)"
    );
    let names = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/api/uploads')).map(e => e.name + ' ' + e.initiatorType);",
            vec![],
        )
        .await?;
    eprintln!("leader's upload requests: {names}");
    let starts = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource')
                 .filter(e => e.name.endsWith('/api/uploads')).length;",
            vec![],
        )
        .await?;
    assert_eq!(starts.as_u64(), Some(1), "one upload started, once");

    // The follower's storage fails (as a full quota would): its own bar says so, as the
    // leader's would, and the edit is not taken as saved (its journal entry stays).
    browser.client.switch_to_window(follower.clone()).await?;
    browser
        .client
        .execute(
            "const open = IDBDatabase.prototype.transaction;
             window.__healDisk = () => { IDBDatabase.prototype.transaction = open; };
             IDBDatabase.prototype.transaction = function (stores, mode) {
                 if (mode === 'readwrite') {
                     throw new DOMException('the disk is full', 'QuotaExceededError');
                 }
                 return open.apply(this, arguments);
             };",
            vec![],
        )
        .await?;
    let before = server_narrative(&server, &id).await?;
    type_progress(&browser, "磁盘已满时写入。").await?;
    blur_progress(&browser).await?;
    let deadline = Instant::now() + WAIT;
    while bar(&browser).await?.0 != "error" {
        if Instant::now() > deadline {
            bail!("the follower's bar never said its write failed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let detail = browser
        .wait_for("[data-testid=device-write-failed]")
        .await?
        .text()
        .await?;
    assert!(
        detail.starts_with("无法写入本机存储") && detail.contains("disk is full"),
        "the failure is said: {detail:?}"
    );
    let entries = journal(&browser, &id).await?;
    assert_eq!(
        entries.len(),
        1,
        "the burst's journal entry stays: {entries:?}"
    );
    assert_eq!(
        server_narrative(&server, &id).await?,
        before,
        "nothing sent"
    );
    for (lang, width) in [("zh", 1280), ("zh", 360), ("en", 360), ("en", 1280)] {
        if lang == "en" && width == 360 {
            browser.wait_for("button[lang=en]").await?.click().await?;
        }
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                serde_json::json!({"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}),
            )
            .await?;
        browser
            .screenshot(&format!("tabs-follower-write-failed-{width}-{lang}"))
            .await?;
    }
    // The disk takes writes again: the follower writes the edit by itself (nothing typed
    // since), and the bar is the leader's again.
    browser
        .client
        .execute("window.__healDisk();", vec![])
        .await?;
    wait_for_server_text(&server, &id, &format!("{before}磁盘已满时写入。")).await?;
    wait_for_bar(&browser, "synced", "follower").await?;
    browser.client.switch_to_window(leader.clone()).await?;

    // Logging out in the leader's tab: the follower shows the login page too, without a
    // reload, and neither tab connects again.
    browser
        .wait_for("[data-testid=log-out]")
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-testid=log-out-confirm]")
        .await?
        .click()
        .await?;
    browser.wait_for("#login-title").await?;
    browser.client.switch_to_window(follower).await?;
    browser
        .wait_for("#login-title")
        .await
        .context("the follower stayed logged in")?;
    let deadline = Instant::now() + WAIT;
    while connections(&server).await? != 0 {
        if Instant::now() > deadline {
            bail!("a tab still holds a sync connection after logging out");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await?;
    Ok(())
}

/// Part 2: a burst the policy refuses as it becomes a change is shown with the refused work,
/// its text to copy, and its journal entry goes once that is on the device. The burst was
/// typed in a tab that closed before it became a change; meanwhile the office signed the
/// entry off and the device's copy was reset (so the burst's base is not in it any more).
#[tokio::test(flavor = "multi_thread")]
async fn issue_19_a_burst_refused_as_it_becomes_a_change_is_listed() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let mut shots = Vec::new();
    for width in [360, 1280] {
        let browser = Browser::start(width, 800).await?;
        browser.log_in(&server.url("/"), "school1").await?;
        wait_for_bar(&browser, "synced", "leader").await?;
        let id = open_items(&browser, &server).await?[0].clone();

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
        // The device has the sign-off.
        open_item(&browser, &server, &id).await?;
        browser.wait_for("[data-testid=locked]").await?;

        let typed = "关闭标签页前写下的整改情况";
        browser
            .client
            .execute(
                "localStorage.setItem(arguments[0], JSON.stringify({base: [arguments[1]], text: arguments[2]}));
                 localStorage.setItem('rectify.lang', JSON.stringify('Zh'));",
                vec![
                    format!("rectify.typing.school1.closedtab~{id}.{SCHOOL1_UNIT}").into(),
                    "ab".repeat(32).into(),
                    typed.into(),
                ],
            )
            .await?;
        browser.client.refresh().await?;
        for lang in ["zh", "en"] {
            if lang == "en" {
                // Kept on the device: shown again after a reload, now in English.
                browser
                    .client
                    .execute(
                        "localStorage.setItem('rectify.lang', JSON.stringify('En'));",
                        vec![],
                    )
                    .await?;
                browser.client.refresh().await?;
            }
            let selector = "[data-testid=refused-entry][data-reason=not-kept]";
            let entry = browser.wait_for(selector).await?;
            let text = browser
                .wait_for(&format!("{selector} [data-testid=refused-text]"))
                .await?
                .prop("value")
                .await?
                .unwrap_or_default();
            assert_eq!(text, typed, "the refused text is there to copy");
            let reason = entry.text().await?;
            let expected = if lang == "zh" {
                "未能保存"
            } else {
                "could not be saved"
            };
            assert!(reason.contains(expected), "the reason is said: {reason:?}");
            // Shown and kept on the device: the journal entry goes.
            let deadline = Instant::now() + WAIT;
            while !journal(&browser, &id).await?.is_empty() {
                if Instant::now() > deadline {
                    bail!(
                        "the journal entry stayed: {:?}",
                        journal(&browser, &id).await?
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            browser
                .client
                .execute("window.scrollTo(0, 0);", vec![])
                .await?;
            shots.push(
                browser
                    .screenshot(&format!("burst-refused-{width}-{lang}"))
                    .await?,
            );
        }
        assert!(
            !server_narrative(&server, &id).await?.contains(typed),
            "the refused text never reached the server"
        );
        browser.close().await?;
    }
    eprintln!("screenshots: {shots:?}");
    Ok(())
}

/// A reloaded page follows until the browser grants it the leader's lock, a moment usually
/// (here another holder of the origin keeps the lock, so the moment lasts). Offline, its bar
/// says offline all that time, not 正在同步 (syncing): nothing can sync. The bench read
/// "syncing" at the first paint after an offline reload.
#[tokio::test(flavor = "multi_thread")]
async fn an_offline_reload_waiting_for_the_lock_says_offline() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 740).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_bar(&browser, "synced", "leader").await?;
    let app = browser.client.window().await?;
    // A page of the origin, not the app, queues for the lock: it gets it as the app's page
    // unloads, before the reloaded page asks, and keeps it.
    let holder = browser.client.new_window(false).await?.handle;
    browser.client.switch_to_window(holder).await?;
    browser.client.goto(&server.url("/healthz")).await?;
    browser
        .client
        .execute(
            "navigator.locks.request('rectify-leader-school1', () => new Promise(() => {}));
             return true;",
            vec![],
        )
        .await?;
    browser.client.switch_to_window(app).await?;
    browser.set_offline(true).await?;
    wait_for_bar(&browser, "offline", "leader").await?;
    browser.client.refresh().await?;
    browser.wait_for("[data-testid=item]").await?;
    wait_for_bar(&browser, "offline", "follower").await?;
    Ok(())
}
