//! Browser tests: the served app in headless Chromium.

use fantoccini::Locator;
use rectify_tests::{Browser, TEST_PASSWORD, TestServer, web_root};

/// The app loads, renders its login form in Chinese, and a school logs in.
#[tokio::test(flavor = "multi_thread")]
async fn served_app_renders_and_a_school_logs_in() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    for (width, height) in [(360, 800), (1280, 800)] {
        let browser = Browser::start(width, height).await?;
        let c = &browser.client;
        c.goto(&server.url("/")).await?;
        let title = browser.wait_for("#login-title").await?.text().await?;
        assert_eq!(title, "登录", "the login page speaks Chinese by default");
        browser.screenshot(&format!("login-{width}")).await?;

        c.find(Locator::Css("input[name=username]"))
            .await?
            .send_keys("school1")
            .await?;
        c.find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(TEST_PASSWORD)
            .await?;
        c.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let whoami = browser
            .wait_for("[data-testid=whoami]")
            .await?
            .text()
            .await?;
        assert!(
            whoami.contains("彭山一中"),
            "logged in as the school: {whoami}"
        );
        browser.screenshot(&format!("home-{width}")).await?;
        browser.close().await?;
    }
    Ok(())
}

/// A wrong password is refused with a message, and nobody is logged in.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_shows_an_error() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    let c = &browser.client;
    c.goto(&server.url("/")).await?;
    browser
        .wait_for("input[name=username]")
        .await?
        .send_keys("school1")
        .await?;
    c.find(Locator::Css("input[name=password]"))
        .await?
        .send_keys("not-the-password")
        .await?;
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let alert = browser.wait_for("[role=alert]").await?.text().await?;
    assert_eq!(alert, "用户名或密码不正确");
    assert!(c.find(Locator::Css("[data-testid=whoami]")).await.is_err());
    browser.close().await?;
    Ok(())
}

/// Issue #20: when the office logs an account out everywhere, the app open on that account
/// is told at once (its sync connection is closed with "log in again"), asks for a login,
/// and keeps what it has on the device.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_session_ended_by_the_office_asks_the_open_app_to_log_in_again()
-> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(1280, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    browser
        .wait_for("[data-testid=sync-status][data-state=synced]")
        .await?;
    let items = browser
        .client
        .find_all(Locator::Css("[data-testid=item]"))
        .await?
        .len();
    assert!(items > 0);

    let office = server.token("office").await?;
    let revoked = reqwest::Client::new()
        .post(server.url("/api/accounts/school1/sessions/revoke"))
        .bearer_auth(office)
        .send()
        .await?;
    assert!(revoked.status().is_success());

    let status = browser
        .wait_for("[data-testid=sync-status][data-state=error]")
        .await?
        .text()
        .await?;
    assert!(status.contains("登录已过期"), "{status}");
    // The device keeps its copy meanwhile.
    let still = browser
        .client
        .find_all(Locator::Css("[data-testid=item]"))
        .await?
        .len();
    assert_eq!(still, items);
    browser.close().await?;
    Ok(())
}

/// Issue #20: logging out in the app ends the session on the server too, so a copied token
/// stops working.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_logging_out_ends_the_session_on_the_server() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let school1 = rectify_shared::ids::Username::new("school1");
    let active = |server: &TestServer| {
        let storage = std::sync::Arc::clone(&server.storage);
        let school1 = school1.clone();
        async move {
            let now = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis(),
            )?;
            anyhow::Ok(storage.active_sessions(now).await?.get(&school1).copied())
        }
    };
    let browser = Browser::start(1280, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    assert_eq!(active(&server).await?, Some(1));
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
    // The app asks the server in the background: wait for it (a minute at most).
    let mut ended = false;
    for _ in 0..600 {
        if active(&server).await?.is_none() {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ended, "the session is still active on the server");
    browser.close().await?;
    Ok(())
}

/// Issue #22: an item the office adds for a school while the school has the app open appears
/// in its list within seconds, without a reload or a reconnect (the server tells the open
/// connection its list changed; the app lists and syncs the new item).
#[tokio::test(flavor = "multi_thread")]
async fn an_item_assigned_while_the_app_is_open_appears_at_once() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school2").await?;
    browser
        .wait_for("[data-testid=sync-status][data-state=synced]")
        .await?;
    let title = "临时增加：校外培训机构排查。";
    let listed = || async {
        let mut found = false;
        for item in browser
            .client
            .find_all(Locator::Css("[data-testid=item]"))
            .await?
        {
            found |= item.text().await?.contains(title);
        }
        anyhow::Ok(found)
    };
    assert!(!listed().await?);

    let campaign = server.storage.campaigns().await?.remove(0);
    let added = reqwest::Client::new()
        .post(server.url(&format!("/api/campaigns/{}/items", campaign.id)))
        .bearer_auth(server.token("office").await?)
        .json(&serde_json::json!({
            "area_no": 1,
            "area_title": "",
            "problem_no": 97,
            "problem_title": "临时增加的问题。",
            "sub_no": null,
            "title": title,
            "measures": ["逐校排查"],
            "responsible_leader": "分管副局长",
            "responsible_department": null,
            "units": ["pszx3"],
            "deadline": "2026-6-30",
            "timing": "by_deadline",
        }))
        .send()
        .await?;
    anyhow::ensure!(added.status() == 201, "{}", added.text().await?);

    // Well within the 30 s keepalive, after which a reconnect would list it anyway.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while !listed().await? {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the new item did not appear within 8 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    browser.screenshot("new-item-pushed-360").await?;
    browser.close().await?;
    Ok(())
}

/// Logs `username` in over HTTP as an Android phone would; its token.
async fn phone_session(server: &TestServer, username: &str) -> anyhow::Result<String> {
    let answer = reqwest::Client::new()
        .post(server.url("/api/login"))
        .header(
            reqwest::header::USER_AGENT,
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Mobile Safari/537.36",
        )
        .json(&serde_json::json!({"username": username, "password": TEST_PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "login: {}", answer.status());
    Ok(answer
        .json::<rectify_shared::api::LoginResponse>()
        .await?
        .token)
}

async fn switch_language(browser: &Browser) -> anyhow::Result<()> {
    browser
        .wait_for(".topbar-actions button[lang]")
        .await?
        .click()
        .await?;
    Ok(())
}

/// Issue #20: a school opens 我的登录设备 from the top bar, sees this browser (本设备) and
/// its phone, and ends the phone's session after confirming: the phone's token stops
/// working, the browser keeps going.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_school_ends_another_device_from_its_devices_list() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    for width in [360, 1280] {
        let phone = phone_session(&server, "school1").await?;
        let browser = Browser::start(width, 800).await?;
        browser.log_in(&server.url("/"), "school1").await?;
        browser
            .wait_for("[data-testid=my-devices]")
            .await?
            .click()
            .await?;
        browser
            .wait_for("[data-testid=session] + [data-testid=session]")
            .await?;
        let current = browser
            .wait_for("[data-testid=session][data-current=true]")
            .await?
            .text()
            .await?;
        assert!(current.contains("本设备"), "{current}");
        assert!(current.contains("Chrome · Linux"), "{current}");
        let other = browser
            .client
            .find(Locator::XPath(
                "//li[@data-testid='session'][@data-current='false'][contains(., 'Android')]",
            ))
            .await?;
        let text = other.text().await?;
        assert!(text.contains("Chrome · Android"), "{text}");
        assert!(text.contains("最近使用"), "{text}");
        browser.screenshot(&format!("devices-zh-{width}")).await?;

        let before = browser
            .client
            .find_all(Locator::Css("[data-testid=session]"))
            .await?
            .len();
        other
            .find(Locator::Css("[data-testid=end-session]"))
            .await?
            .click()
            .await?;
        let confirm = browser
            .wait_for("[data-testid=end-session-confirm]")
            .await?;
        browser
            .screenshot(&format!("devices-confirm-zh-{width}"))
            .await?;
        confirm.click().await?;
        browser.wait_for("[data-testid=session-notice]").await?;
        let me = reqwest::Client::new()
            .get(server.url("/api/me"))
            .bearer_auth(&phone)
            .send()
            .await?;
        assert_eq!(me.status(), reqwest::StatusCode::UNAUTHORIZED, "the phone");
        // (the first round's browser is still signed in during the second)
        let mut left = 0;
        for _ in 0..50 {
            left = browser
                .client
                .find_all(Locator::Css("[data-testid=session]"))
                .await?
                .len();
            if left == before - 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(left, before - 1, "the phone is gone from the list");

        switch_language(&browser).await?;
        let title = browser.wait_for("#devices-title").await?.text().await?;
        assert_eq!(title, "Signed-in devices");
        browser.wait_for("[data-testid=this-device]").await?;
        browser.screenshot(&format!("devices-en-{width}")).await?;
        // Back to Chinese for the next browser (the choice is kept on the device).
        switch_language(&browser).await?;
        browser.close().await?;
    }
    Ok(())
}

/// Issue #20: the office opens 审计日志 from its tabs and reads an entry in words (not the
/// stored code), filters by action, and the page speaks English after the switch; the office
/// ends one of school1's sessions from the accounts page.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_the_office_reads_the_audit_log_in_chinese() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let office = server.token("office").await?;
    let revoked = reqwest::Client::new()
        .post(server.url("/api/accounts/school2/sessions/revoke"))
        .bearer_auth(&office)
        .send()
        .await?;
    assert!(revoked.status().is_success());
    for width in [360, 1280] {
        let browser = Browser::start(width, 800).await?;
        browser.log_in(&server.url("/"), "office").await?;
        browser
            .wait_for("[data-testid=nav-audit]")
            .await?
            .click()
            .await?;
        let entry = browser
            .wait_for("[data-testid=audit-entry][data-action=sessions_revoked]")
            .await?
            .text()
            .await?;
        assert!(entry.contains("退出所有设备"), "{entry}");
        assert!(entry.contains("school2"), "{entry}");
        assert!(!entry.contains("sessions_revoked"), "a raw code: {entry}");
        // The demo's plans were made on the command line: said so in words.
        let by_command_line = browser
            .wait_for("[data-testid=audit-entry][data-action=item_replanned]")
            .await?
            .text()
            .await?;
        assert!(
            by_command_line.contains("服务器命令行（rectify）"),
            "{by_command_line}"
        );
        // The item is named as people know it (its number and title), not by its id.
        let target = browser
            .wait_for(
                "[data-testid=audit-entry][data-action=item_replanned] [data-testid=audit-target]",
            )
            .await?;
        let named = target.text().await?;
        assert!(
            named
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{named}"
        );
        assert!(target.attr("title").await?.is_some_and(|id| !id.is_empty()));
        browser.screenshot(&format!("audit-zh-{width}")).await?;

        let select = browser.wait_for("[data-testid=audit-action]").await?;
        select
            .find(Locator::Css("option[value=password_reset]"))
            .await?
            .click()
            .await?;
        browser
            .wait_for("[data-testid=audit-apply]")
            .await?
            .click()
            .await?;
        browser.wait_for("[data-testid=audit-empty]").await?;

        switch_language(&browser).await?;
        select
            .find(Locator::Css("option[value='']"))
            .await?
            .click()
            .await?;
        browser
            .wait_for("[data-testid=audit-apply]")
            .await?
            .click()
            .await?;
        let entry = browser
            .wait_for("[data-testid=audit-entry][data-action=sessions_revoked]")
            .await?
            .text()
            .await?;
        assert!(entry.contains("Signed out everywhere"), "{entry}");
        let by_command_line = browser
            .wait_for("[data-testid=audit-entry][data-action=item_replanned]")
            .await?
            .text()
            .await?;
        assert!(
            by_command_line.contains("the server's command line (rectify)"),
            "{by_command_line}"
        );
        browser.screenshot(&format!("audit-en-{width}")).await?;
        switch_language(&browser).await?;
        browser.close().await?;
    }

    // One session of school1, ended from the accounts page.
    let phone = phone_session(&server, "school1").await?;
    let browser = Browser::start(1280, 800).await?;
    browser.log_in(&server.url("/"), "office").await?;
    browser
        .wait_for("[data-testid=nav-accounts]")
        .await?
        .click()
        .await?;
    browser
        .wait_for("tr[data-username=school1] [data-testid=show-sessions]")
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-testid=account-sessions] [data-testid=end-session]")
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-testid=end-session-confirm]")
        .await?
        .click()
        .await?;
    browser.wait_for("[data-testid=session-notice]").await?;
    // The account's count of devices follows.
    let mut count = String::new();
    for _ in 0..50 {
        count = browser
            .wait_for("tr[data-username=school1] td.num")
            .await?
            .text()
            .await?;
        if count.starts_with('0') {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(count.starts_with('0'), "{count}");
    browser.screenshot("accounts-sessions-zh-1280").await?;
    let me = reqwest::Client::new()
        .get(server.url("/api/me"))
        .bearer_auth(&phone)
        .send()
        .await?;
    assert_eq!(me.status(), reqwest::StatusCode::UNAUTHORIZED);
    browser.close().await?;
    Ok(())
}

/// The paths this page load fetched (resource timing: the page's own requests, those its
/// service worker answered included).
async fn fetched(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let value = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(value)?)
}

/// Which build of the client `index.html` loaded (`school` or `full`).
async fn loaded_build(browser: &Browser) -> anyhow::Result<String> {
    let value = browser
        .client
        .execute(
            "return document.documentElement.dataset.bundle || '';",
            vec![],
        )
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// What the device keeps for the loader: `rectify.bundle` in `localStorage`.
async fn remembered_build(browser: &Browser) -> anyhow::Result<Option<String>> {
    let value = browser
        .client
        .execute("return localStorage.getItem('rectify.bundle');", vec![])
        .await?;
    Ok(value.as_str().map(str::to_owned))
}

/// Whether a build's WASM and JS are among `paths`.
fn has_build(paths: &[String], build: &str) -> [bool; 2] {
    let prefix = format!("/assets/rectify-{build}-");
    ["wasm", "js"].map(|ext| {
        paths
            .iter()
            .any(|p| p.starts_with(&prefix) && p.ends_with(&format!(".{ext}")))
    })
}

/// Issue #22: a school's first visit loads the school build, never the full one (not the
/// page, not the service worker's precache), and a reload stays on it.
#[tokio::test(flavor = "multi_thread")]
async fn issue_22_a_school_never_fetches_the_full_build() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    let c = &browser.client;
    c.goto(&server.url("/")).await?;
    browser.wait_for("#login-title").await?;
    browser
        .screenshot("issue-22-school-build-login-360")
        .await?;
    browser.log_in(&server.url("/"), "school1").await?;
    browser
        .wait_for("[data-testid=sync-status][data-state=synced]")
        .await?;
    browser.screenshot("issue-22-school-build-list-360").await?;
    assert_eq!(loaded_build(&browser).await?, "school");
    assert_eq!(remembered_build(&browser).await?, None);
    let paths = fetched(&browser).await?;
    assert_eq!(has_build(&paths, "school"), [true, true], "{paths:?}");
    assert_eq!(has_build(&paths, "full"), [false, false], "{paths:?}");
    // The service worker, once installed, holds the school build and nothing of the full one.
    let kept = cached(&browser).await?;
    assert_eq!(has_build(&kept, "school"), [true, true], "{kept:?}");
    assert_eq!(has_build(&kept, "full"), [false, false], "{kept:?}");
    // Logged in, reloaded: still the school build.
    c.refresh().await?;
    browser.wait_for("[data-testid=item]").await?;
    assert_eq!(loaded_build(&browser).await?, "school");
    let paths = fetched(&browser).await?;
    assert_eq!(has_build(&paths, "full"), [false, false], "{paths:?}");
    browser.close().await?;
    Ok(())
}

/// Issue #22: an account that oversees logs in on the school build; the app shows that it is
/// loading the management pages (never a blank page), reloads into the full build with the
/// session kept, and every page is there. Logging out sends the next load back to the school
/// build.
#[tokio::test(flavor = "multi_thread")]
async fn issue_22_an_account_that_oversees_switches_to_the_full_build_and_back()
-> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    // Kept across the reload (sessionStorage): whether the loading state showed (any change
    // to the page), and whether a frame was painted with the app's element empty.
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": "
                new MutationObserver(() => {
                  if (document.querySelector('[data-testid=loading-office]'))
                    sessionStorage.setItem('saw-loading', '1');
                }).observe(document, { childList: true, subtree: true, characterData: true });
                const frame = () => {
                  const app = document.getElementById('app');
                  if (app && app.textContent.trim() === '') sessionStorage.setItem('saw-blank', '1');
                  requestAnimationFrame(frame);
                };
                requestAnimationFrame(frame);
            " }),
        )
        .await?;
    for (account, page) in [
        ("office", "[data-testid=dashboard]:not([data-items='0'])"),
        ("viewer", "[data-testid=dashboard]:not([data-items='0'])"),
        ("dept-djg", "[data-testid=dashboard]"),
    ] {
        browser.client.goto(&server.url("/")).await?;
        browser.wait_for("#login-title").await?;
        assert_eq!(loaded_build(&browser).await?, "school", "{account}");
        let paths = fetched(&browser).await?;
        assert_eq!(has_build(&paths, "full"), [false, false], "{paths:?}");
        browser
            .wait_for("input[name=username]")
            .await?
            .send_keys(account)
            .await?;
        browser
            .client
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(TEST_PASSWORD)
            .await?;
        browser
            .client
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        browser.wait_for(page).await?;
        assert_eq!(loaded_build(&browser).await?, "full", "{account}");
        assert_eq!(remembered_build(&browser).await?.as_deref(), Some("full"));
        let paths = fetched(&browser).await?;
        assert_eq!(has_build(&paths, "full"), [true, true], "{paths:?}");
        assert_eq!(has_build(&paths, "school"), [false, false], "{paths:?}");
        let seen = browser
            .client
            .execute(
                "return [sessionStorage.getItem('saw-loading'), sessionStorage.getItem('saw-blank')];",
                vec![],
            )
            .await?;
        assert_eq!(seen, serde_json::json!(["1", null]), "{account}");
        // The office's pages are there.
        browser.wait_for("[data-testid=nav-supervise]").await?;
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
        assert_eq!(remembered_build(&browser).await?, None, "{account}");
        browser
            .client
            .execute("sessionStorage.clear();", vec![])
            .await?;
    }
    browser.close().await?;
    Ok(())
}

/// The paths the service worker's caches hold (once it is active).
async fn cached(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let value = browser
        .client
        .execute(
            "await navigator.serviceWorker.ready;
             const paths = [];
             for (const name of await caches.keys()) {
               const cache = await caches.open(name);
               for (const request of await cache.keys()) paths.push(new URL(request.url).pathname);
             }
             return paths;",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(value)?)
}

/// Issue #22: the service worker keeps the full build once a device that oversees loaded it
/// through the worker, so the office's app starts with no network too.
#[tokio::test(flavor = "multi_thread")]
async fn issue_22_the_full_build_starts_with_no_network() -> anyhow::Result<()> {
    let profile = tempfile::tempdir()?;
    let origin = {
        let server = TestServer::start(Some(web_root())).await?;
        let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
        browser.log_in(&server.url("/"), "office").await?;
        let mut controlled = false;
        for _ in 0..100 {
            let value = browser
                .client
                .execute("return !!navigator.serviceWorker.controller;", vec![])
                .await?;
            if value == serde_json::json!(true) {
                controlled = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(
            controlled,
            "the service worker never took control of the page"
        );
        // Loaded through the worker: it keeps the full build.
        browser.client.refresh().await?;
        browser
            .wait_for("[data-testid=dashboard]:not([data-items='0'])")
            .await?;
        let mut kept = Vec::new();
        for _ in 0..50 {
            kept = cached(&browser).await?;
            if has_build(&kept, "full") == [true, true] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(has_build(&kept, "full"), [true, true], "{kept:?}");
        browser.close().await?;
        server.url("/")
        // The server stops here: from now on nothing answers at that address.
    };
    let browser = Browser::start_with_profile(360, 800, profile.path()).await?;
    browser.set_offline(true).await?;
    let _ = browser.client.goto(&origin).await;
    browser
        .wait_for("[data-testid=dashboard]:not([data-items='0'])")
        .await?;
    assert_eq!(loaded_build(&browser).await?, "full");
    browser.close().await?;
    Ok(())
}

/// Issue #22: a build that does not load (here the full build's WASM is missing) leaves a
/// message, not the boot text forever.
#[tokio::test(flavor = "multi_thread")]
async fn issue_22_a_build_that_fails_to_load_says_so() -> anyhow::Result<()> {
    let web = tempfile::tempdir()?;
    copy_tree(&web_root(), web.path())?;
    for entry in std::fs::read_dir(web.path().join("assets"))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("rectify-full-") && name.contains(".wasm") {
            std::fs::remove_file(&path)?;
        }
    }
    let server = TestServer::start(Some(web.path().to_owned())).await?;
    let browser = Browser::start(360, 800).await?;
    let c = &browser.client;
    c.goto(&server.url("/")).await?;
    browser.wait_for("#login-title").await?;
    c.execute("localStorage.setItem('rectify.bundle', 'full');", vec![])
        .await?;
    c.refresh().await?;
    let message = browser
        .wait_for("[data-testid=load-failed]")
        .await?
        .text()
        .await?;
    assert!(message.contains("应用未能加载"), "{message}");
    assert_eq!(loaded_build(&browser).await?, "full");
    browser.close().await?;
    Ok(())
}

/// Issue #22: a browser that refuses to keep `localStorage` cannot be told to load the full
/// build: an account that oversees is told so, and the page does not reload over and over.
#[tokio::test(flavor = "multi_thread")]
async fn issue_22_a_browser_that_keeps_no_settings_is_told_why() -> anyhow::Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let browser = Browser::start(360, 800).await?;
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": "
                Storage.prototype.setItem = function () {
                  throw new DOMException('refused', 'QuotaExceededError');
                };
                window.addEventListener('beforeunload', () => { window.name = 'unloaded'; });
            " }),
        )
        .await?;
    browser.client.goto(&server.url("/")).await?;
    browser
        .wait_for("input[name=username]")
        .await?
        .send_keys("office")
        .await?;
    browser
        .client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(TEST_PASSWORD)
        .await?;
    browser
        .client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    let alert = browser.wait_for("[role=alert]").await?.text().await?;
    assert!(alert.contains("此浏览器不允许保存设置"), "{alert}");
    // Still the page first loaded: no reload happened.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let name = browser
        .client
        .execute("return window.name;", vec![])
        .await?;
    assert_eq!(name, serde_json::json!(""));
    assert_eq!(loaded_build(&browser).await?, "school");
    browser.close().await?;
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
