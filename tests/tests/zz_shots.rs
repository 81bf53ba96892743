use anyhow::Result;
use rectify_tests::{Browser, TestServer, web_root};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn shots() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    for width in [360u32, 1280] {
        let b = Browser::start(width, 800).await?;
        b.log_in(&server.url("/"), "office").await?;
        for lang in ["zh", "en"] {
            if lang == "en" {
                b.wait_for(".topbar-actions button[lang=en]")
                    .await?
                    .click()
                    .await?;
            }
            b.client.goto(&server.url("/#/dashboard")).await?;
            b.wait_for("[data-testid=sign-off-chart]").await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            b.client.execute("document.getElementById('sign-off-section').scrollIntoView({block: 'center'});", vec![]).await?;
            b.screenshot(&format!("zz-chart-{width}-{lang}")).await?;
            b.client.goto(&server.url("/#/reports")).await?;
            b.wait_for("[data-testid=import-file]").await?;
            b.client.execute("document.querySelector('[data-testid=import-file]').scrollIntoView({block: 'center'});", vec![]).await?;
            b.screenshot(&format!("zz-import-{width}-{lang}")).await?;
        }
        b.close().await?;
    }
    Ok(())
}
