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
