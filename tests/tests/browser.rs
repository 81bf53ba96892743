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
