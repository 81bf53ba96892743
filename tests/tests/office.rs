//! The district office's view in headless Chromium: it sends an item back and signs it off
//! and the school sees each decision after a sync; a school reaches neither the office's
//! pages nor another school's items, in the UI or at the API; the office downloads the
//! ledger as XLSX and it reads back with the 53 items of the real report; the office edits
//! the report's own text at 360 px wide and the downloaded report prints it; every page, as
//! the office and a school see it in Chinese, has no English words but the data's own.

use anyhow::{Context, Result, bail, ensure};
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{Browser, TestServer, web_root};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const SCHOOL1_UNIT: &str = "pszx1";
const WAIT: Duration = Duration::from_secs(20);

/// Runs `script` until it returns `true`, or fails with `what` after [`WAIT`].
async fn wait_until(browser: &Browser, script: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if browser.client.execute(script, vec![]).await?.as_bool() == Some(true) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out waiting until {what}")
}

async fn wait_synced(browser: &Browser) -> Result<()> {
    wait_until(
        browser,
        "const s = document.querySelector('[data-testid=sync-status]');
         return !!s && s.dataset.state === 'synced' && s.dataset.pending === '0';",
        "the page is synced",
    )
    .await
}

async fn goto(browser: &Browser, server: &TestServer, hash: &str) -> Result<()> {
    browser
        .client
        .goto(&server.url(&format!("/{hash}")))
        .await?;
    Ok(())
}

/// Items assigned to `unit` and not to `other`, by id, with their status for `unit`.
async fn items_of(
    server: &TestServer,
    unit: &str,
    other: &str,
) -> Result<Vec<(String, UnitStatus)>> {
    let mut found = Vec::new();
    for campaign in server.storage.campaigns().await? {
        for record in server.storage.items(&campaign.id).await? {
            let mine = record.units.iter().any(|u| u == unit);
            let theirs = record.units.iter().any(|u| u == other);
            if mine && !theirs {
                let item = server.item(&record.id.to_string()).await?;
                let status = item
                    .progress
                    .get(unit)
                    .map_or(UnitStatus::NotStarted, |p| p.status);
                found.push((record.id.to_string(), status));
            }
        }
    }
    Ok(found)
}

async fn unit_status_on_server(server: &TestServer, id: &str, unit: &str) -> Result<UnitStatus> {
    let item = server.item(id).await?;
    Ok(item
        .progress
        .get(unit)
        .map_or(UnitStatus::NotStarted, |p| p.status))
}

/// Clicks the element, scrolled to the middle of the screen first: the sticky title and
/// sync bars would cover it at the top.
/// Waits until the server has stored `status` for `unit` on item `id`.
async fn wait_for_server_status(
    server: &TestServer,
    id: &str,
    unit: &str,
    status: UnitStatus,
) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = unit_status_on_server(server, id, unit).await?;
        if now == status {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server has {now:?} for {unit}, expected {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Browser, css: &str) -> Result<()> {
    let element = browser.wait_for(css).await?;
    browser
        .client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![serde_json::to_value(&element)?],
        )
        .await?;
    element.click().await?;
    Ok(())
}

/// A progress text has a limit (3,000 characters): the school's editor counts toward it and
/// takes no more, and on the office's phone a long text scrolls in its own box so that the
/// decision buttons stay within reach.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_progress_text_is_counted_and_the_decisions_stay_within_reach() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (id, _) = items_of(&server, SCHOOL1_UNIT, "-")
        .await?
        .into_iter()
        .find(|(_, status)| matches!(status, UnitStatus::NotStarted | UnitStatus::InProgress))
        .context("an open item of school 1")?;

    let school = Browser::start(360, 800).await?;
    school.log_in(&server.url("/"), "school1").await?;
    goto(&school, &server, &format!("#/item/{id}")).await?;
    school.wait_for("[data-testid=progress-editor]").await?;
    // A long paste: the field takes at most the limit.
    school
        .client
        .execute(
            "const el = document.querySelector('[data-testid=progress-editor]');
             el.focus();
             document.execCommand('insertText', false, '整改'.repeat(2_000));",
            vec![],
        )
        .await?;
    wait_until(
        &school,
        "const c = document.querySelector('[data-testid=narrative-count]');
         return !!c && c.innerText === '3000 / 3000' && c.classList.contains('near');",
        "the counter shows the limit reached",
    )
    .await?;
    school.screenshot("school-long-text-360").await?;
    click(&school, "[data-testid=move-submitted]").await?;
    click(&school, "[data-testid=confirm-submit]").await?;
    wait_for_server_status(&server, &id, SCHOOL1_UNIT, UnitStatus::Submitted).await?;
    let stored = server.item(&id).await?.progress[SCHOOL1_UNIT]
        .narrative
        .as_str()
        .chars()
        .count();
    assert_eq!(stored, 3_000, "the server has the text up to the limit");

    let office = Browser::start(360, 800).await?;
    office.log_in(&server.url("/"), "office").await?;
    goto(&office, &server, &format!("#/item/{id}")).await?;
    let review = format!("[data-testid=unit-review][data-unit={SCHOOL1_UNIT}]");
    office
        .wait_for(&format!("{review}[data-status=submitted]"))
        .await?;
    let distance = office
        .client
        .execute(
            &format!(
                "const r = document.querySelector('{review}');
                 const text = r.querySelector('[data-testid=narrative]');
                 const button = r.querySelector('[data-testid=sign-off]');
                 if (text.scrollHeight <= text.clientHeight) return -1;
                 return button.getBoundingClientRect().top - text.getBoundingClientRect().top;"
            ),
            vec![],
        )
        .await?
        .as_f64()
        .context("a distance")?;
    assert!(
        (0.0..800.0).contains(&distance),
        "the sign-off button is {distance} px below the start of the text (-1: it does not scroll)"
    );
    office
        .client
        .execute(
            &format!("document.querySelector('{review} [data-testid=sign-off]').scrollIntoView({{block: 'end'}});"),
            vec![],
        )
        .await?;
    office.screenshot("office-review-long-text-360").await?;
    school.close().await?;
    office.close().await?;
    Ok(())
}

/// Sends back with a reason, then signs off after the school asks again; the school's open
/// page shows each decision after its sync, and the server records who decided and when.
#[tokio::test(flavor = "multi_thread")]
async fn the_office_signs_off_and_the_school_sees_it() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (id, _) = items_of(&server, SCHOOL1_UNIT, "-")
        .await?
        .into_iter()
        .find(|(_, status)| matches!(status, UnitStatus::NotStarted | UnitStatus::InProgress))
        .context("an open item of school 1")?;

    // The school writes its progress and asks for sign-off.
    let school = Browser::start(360, 800).await?;
    school.log_in(&server.url("/"), "school1").await?;
    goto(&school, &server, &format!("#/item/{id}")).await?;
    let editor = school.wait_for("[data-testid=progress-editor]").await?;
    // Nothing written yet: asking is explained, not sent.
    click(&school, "[data-testid=move-submitted]").await?;
    wait_until(
        &school,
        "const e = document.querySelector('[data-testid=edit-error]');
         return !!e && e.innerText.includes('请先填写整改情况');",
        "the school is told to describe its work first",
    )
    .await?;
    editor.send_keys("已完成食堂台账整改。").await?;
    // The school confirms on the page before the request goes.
    click(&school, "[data-testid=move-submitted]").await?;
    school.wait_for("[data-testid=confirm-sign-off]").await?;
    school.screenshot("school-confirm-sign-off-360").await?;
    click(&school, "[data-testid=confirm-submit]").await?;
    wait_for_server_status(&server, &id, SCHOOL1_UNIT, UnitStatus::Submitted).await?;

    // The office sees it waiting on the dashboard and opens it.
    let office = Browser::start(1280, 800).await?;
    office.log_in(&server.url("/"), "office").await?;
    wait_until(
        &office,
        &format!(
            "return !!document.querySelector('[data-testid=review-list] a[href=\"#/item/{id}\"]');"
        ),
        "the dashboard lists the request for sign-off",
    )
    .await?;
    office.screenshot("office-dashboard-1280").await?;
    // The sign-off chart: its line ends at this week's count of signed-off entries (read
    // once every item is on the device).
    wait_synced(&office).await?;
    let chart = office.wait_for("[data-testid=sign-off-chart]").await?;
    let signed_off_before: usize = chart
        .attr("data-signed-off")
        .await?
        .context("the chart's count")?
        .parse()?;
    // What waits for the office comes before the overviews; each tile opens its list, and
    // the overdue list names who is late.
    wait_until(
        &office,
        "const top = id => document.getElementById(id).getBoundingClientRect().top;
         return top('review-section') < top('matrix-section')
             && top('overdue-list-section') < top('matrix-section');",
        "the office's to-do comes first",
    )
    .await?;
    office
        .wait_for("[data-testid=overdue-list] [data-testid=owing-units]")
        .await?;
    click(&office, "[data-testid=tile-total]").await?;
    wait_until(
        &office,
        "const t = document.getElementById('items-section').getBoundingClientRect().top;
         return t >= 0 && t < 400;",
        "the total tile opens the item list",
    )
    .await?;
    goto(&office, &server, &format!("#/item/{id}")).await?;
    let review = format!("[data-testid=unit-review][data-unit={SCHOOL1_UNIT}]");
    office
        .wait_for(&format!("{review}[data-status=submitted]"))
        .await?;
    office.screenshot("office-review-1280").await?;

    // Sending back needs a reason: without one nothing changes.
    click(&office, &format!("{review} [data-testid=send-back]")).await?;
    office.wait_for("[data-testid=edit-error]").await?;
    assert_eq!(
        unit_status_on_server(&server, &id, SCHOOL1_UNIT).await?,
        UnitStatus::Submitted
    );
    office
        .wait_for(&format!("{review} [data-testid=return-reason]"))
        .await?
        .send_keys("请补充整改前后的照片。")
        .await?;
    click(&office, &format!("{review} [data-testid=send-back]")).await?;
    office
        .wait_for(&format!("{review}[data-status=returned]"))
        .await?;
    wait_for_server_status(&server, &id, SCHOOL1_UNIT, UnitStatus::Returned).await?;

    // The school's open page shows it was sent back, with the reason.
    wait_until(
        &school,
        "const s = document.querySelector('[data-testid=unit-status]');
         return !!s && s.classList.contains('returned')
             && document.body.innerText.includes('请补充整改前后的照片。');",
        "the school sees the item sent back with the reason",
    )
    .await?;
    school.screenshot("school-returned-360").await?;

    // The school asks again; the office signs off.
    click(&school, "[data-testid=move-submitted]").await?;
    click(&school, "[data-testid=confirm-submit]").await?;
    wait_for_server_status(&server, &id, SCHOOL1_UNIT, UnitStatus::Submitted).await?;
    office
        .wait_for(&format!("{review}[data-status=submitted]"))
        .await?;
    click(&office, &format!("{review} [data-testid=sign-off]")).await?;
    office
        .wait_for(&format!("{review}[data-status=signed_off]"))
        .await?;
    wait_for_server_status(&server, &id, SCHOOL1_UNIT, UnitStatus::SignedOff).await?;
    let item = server.item(&id).await?;
    assert_eq!(item.progress[SCHOOL1_UNIT].status, UnitStatus::SignedOff);
    let decisions: Vec<(UnitStatus, &str, &str)> = item
        .reviews
        .iter()
        .filter(|r| r.unit == SCHOOL1_UNIT)
        .map(|r| (r.decision, r.by.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            (UnitStatus::Returned, "office", "请补充整改前后的照片。"),
            (UnitStatus::SignedOff, "office", ""),
        ],
        "every decision records who made it"
    );
    assert!(item.reviews.iter().all(|r| r.at_ms > 0));

    // The chart counts the sign-off in this week.
    goto(&office, &server, "#/dashboard").await?;
    wait_until(
        &office,
        &format!(
            "const c = document.querySelector('[data-testid=sign-off-chart]');
             return !!c && c.dataset.signedOff === '{}';",
            signed_off_before + 1
        ),
        "the sign-off chart counts the new sign-off",
    )
    .await?;
    office
        .client
        .execute(
            "document.getElementById('sign-off-section').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await?;
    office.screenshot("office-sign-off-chart-1280").await?;

    // The school sees it signed off after its sync, the buttons are gone, and its entry is
    // locked: the words read-only, the measures and the evidence fixed.
    wait_until(
        &school,
        "const s = document.querySelector('[data-testid=unit-status]');
         return !!s && s.classList.contains('signed_off')
             && !document.querySelector('[data-testid=move-submitted]')
             && !!document.querySelector('[data-testid=locked]')
             && document.querySelector('[data-testid=progress-editor]').readOnly
             && [...document.querySelectorAll('[data-testid=measure]')].every(m => m.disabled);",
        "the school sees the item signed off and locked",
    )
    .await?;
    school.screenshot("school-signed-off-360").await?;

    // The item's history names both, with the device's and the server's times.
    goto(&office, &server, &format!("#/item/{id}/history")).await?;
    wait_until(
        &office,
        "const users = [...document.querySelectorAll('[data-testid=history-entry]')].map(e => e.dataset.user);
         return users.includes('school1') && users.includes('office');",
        "the history lists the school's and the office's changes",
    )
    .await?;
    office.screenshot("office-history-1280").await?;
    school.close().await?;
    office.close().await?;
    Ok(())
}

/// A school sees no office page and no other school's item, in the UI and at the API.
#[tokio::test(flavor = "multi_thread")]
async fn a_school_reaches_neither_the_office_pages_nor_other_schools_items() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (other, _) = items_of(&server, "pszx3", SCHOOL1_UNIT)
        .await?
        .into_iter()
        .next()
        .context("an item of school 2 alone")?;
    let school = Browser::start(360, 800).await?;
    school.log_in(&server.url("/"), "school1").await?;
    wait_synced(&school).await?;
    let nav = school
        .client
        .execute(
            "return !!document.querySelector('[data-testid=nav]');",
            vec![],
        )
        .await?;
    assert_eq!(nav.as_bool(), Some(false), "a school has no office tabs");
    for hash in [
        "#/dashboard",
        "#/supervise",
        "#/reports",
        "#/accounts",
        "#/new-item",
    ] {
        goto(&school, &server, hash).await?;
        school
            .wait_for("[data-testid=forbidden]")
            .await
            .with_context(|| format!("{hash} is refused"))?;
        let shown = school.client.execute(
            "return !!document.querySelector('[data-testid=dashboard], [data-testid=accounts], [data-testid=campaign]');",
            vec![],
        ).await?;
        assert_eq!(
            shown.as_bool(),
            Some(false),
            "{hash} shows nothing of the office's"
        );
    }
    school.screenshot("school-forbidden-360").await?;
    // Another school's item is not on the device, and its history is not served.
    goto(&school, &server, &format!("#/item/{other}")).await?;
    wait_until(&school, "return !document.querySelector('[data-testid=unit-status]') && !!document.querySelector('.empty');", "the other school's item is not shown").await?;
    goto(&school, &server, &format!("#/item/{other}/history")).await?;
    school.wait_for("[role=alert]").await?;
    let entries = school
        .client
        .execute(
            "return document.querySelectorAll('[data-testid=history-entry]').length;",
            vec![],
        )
        .await?;
    assert_eq!(entries.as_u64(), Some(0));

    // The same at the API, with the school's own token.
    let token = server.token("school1").await?;
    let http = reqwest::Client::new();
    let campaign = server.storage.campaigns().await?.remove(0).id;
    let cases = [
        ("GET", "/api/campaigns".to_owned(), 403),
        ("GET", "/api/accounts".to_owned(), 403),
        ("GET", format!("/api/campaigns/{campaign}/ledger.xlsx"), 403),
        ("GET", format!("/api/campaigns/{campaign}/report.docx"), 403),
        ("POST", "/api/import?dry_run=true".to_owned(), 403),
        ("GET", format!("/api/items/{other}/history"), 404),
    ];
    for (method, path, expected) in cases {
        let request = match method {
            "POST" => http.post(server.url(&path)).body("x"),
            _ => http.get(server.url(&path)),
        };
        let response = request.bearer_auth(&token).send().await?;
        assert_eq!(response.status().as_u16(), expected, "{method} {path}");
    }
    let listed: Vec<rectify_shared::api::ItemSummary> = http
        .get(server.url("/api/items"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert!(!listed.is_empty());
    assert!(
        listed
            .iter()
            .all(|i| i.units.iter().any(|u| u.as_str() == SCHOOL1_UNIT))
    );
    assert!(!listed.iter().any(|i| i.id == other));
    school.close().await?;
    Ok(())
}

/// The office downloads the ledger from the reports page; the file is a real XLSX with the
/// 53 items of the real report, in the report's order; the HTML report opens in a new tab.
#[tokio::test(flavor = "multi_thread")]
async fn the_office_downloads_the_ledger_as_xlsx() -> Result<()> {
    use calamine::{Reader, Xlsx};
    let server = TestServer::start(Some(web_root())).await?;
    let office = Browser::start(1280, 800).await?;
    office.log_in(&server.url("/"), "office").await?;
    goto(&office, &server, "#/reports").await?;
    click(&office, "[data-testid=download-ledger\\.xlsx]").await?;
    office.screenshot("office-reports-1280").await?;
    let downloads = office.downloads();
    let deadline = Instant::now() + WAIT;
    let file = loop {
        let done = std::fs::read_dir(&downloads)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "xlsx"));
        if let Some(file) = done {
            break file;
        }
        if Instant::now() > deadline {
            bail!("no .xlsx appeared in {}", downloads.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with("台账.xlsx"), "a readable file name: {name}");
    let bytes = std::fs::read(&file)?;
    let mut workbook = Xlsx::new(std::io::Cursor::new(bytes)).context("the download is an XLSX")?;
    let sheet = workbook.worksheet_range("台账").context("the 台账 sheet")?;
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect();
    let header = rows
        .iter()
        .position(|row| row.first().map(String::as_str) == Some("方面"))
        .context("the header row")?;
    let title = rectify_shared::ledger::COLUMNS
        .iter()
        .position(|(key, _)| *key == "title")
        .context("a title column")?;
    let data = &rows[header + 1..];
    assert_eq!(data.len(), 53, "the 53 items of the real report");
    // The same items, in the same order, as the server's campaign.
    let campaign = server.storage.campaigns().await?.remove(0);
    let loaded =
        rectify_server::campaigns::load_campaign(server.storage.as_ref(), campaign).await?;
    let expected: Vec<String> = loaded.ledger_rows().into_iter().map(|r| r.title).collect();
    let got: Vec<String> = data.iter().map(|r| r[title].clone()).collect();
    assert_eq!(got, expected);

    // The HTML report opens in a tab of its own, with its own style (the app's
    // Content-Security-Policy, which the tab inherits, allows it), not as a download.
    let before = office.client.windows().await?;
    click(&office, "[data-testid=download-report\\.html]").await?;
    let deadline = Instant::now() + WAIT;
    let tab = loop {
        let now = office.client.windows().await?;
        if let Some(tab) = now.into_iter().find(|w| !before.contains(w)) {
            break tab;
        }
        if Instant::now() > deadline {
            bail!("the report did not open in a new tab");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    office.client.switch_to_window(tab).await?;
    wait_until(
        &office,
        "const h = document.querySelector('h1');
         return !!h && h.textContent.includes('整改') && getComputedStyle(h).textAlign === 'center';",
        "the report is shown with its style",
    )
    .await?;
    office.screenshot("office-report-html-1280").await?;
    office.close().await?;
    Ok(())
}

/// The report's own text (报告正文) on a phone-sized screen: the office reads the parts the
/// import kept, changes part 三 and the title, saves, and the downloaded text report prints
/// them; a viewer sees the same text and cannot save.
#[tokio::test(flavor = "multi_thread")]
async fn the_office_edits_the_reports_own_text_at_360_px() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let office = Browser::start(360, 800).await?;
    office.log_in(&server.url("/"), "office").await?;
    goto(&office, &server, "#/reports").await?;
    click(&office, "[data-testid=open-report-text]").await?;
    let results = office.wait_for("[data-testid=results-body]").await?;
    let body = results.prop("value").await?.unwrap_or_default();
    assert!(body.starts_with("针对巡察反馈问题"), "{body}");
    office.screenshot("office-report-text-360").await?;
    office
        .client
        .execute(
            "document.querySelector('[data-testid=part-results]').scrollIntoView();",
            vec![],
        )
        .await?;
    office.screenshot("office-report-text-parts-360").await?;
    // Nothing sticks out to the side at 360 px.
    let wide = office
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await?;
    assert_eq!(wide.as_bool(), Some(true), "the page fits 360 px");

    let title = "中共眉山市彭山区教育和体育局委员会关于巡察整改情况的通报";
    office
        .wait_for("[data-testid=title]")
        .await?
        .send_keys(title)
        .await?;
    results.send_keys("\n(五)新增一段成效。").await?;
    click(&office, "[data-testid=save-report-text]").await?;
    wait_until(
        &office,
        "return !!document.querySelector('.report-text p.ok');",
        "the text is saved",
    )
    .await?;
    office.screenshot("office-report-text-saved-360").await?;
    let campaign = server.storage.campaigns().await?.remove(0);
    let loaded =
        rectify_server::campaigns::load_campaign(server.storage.as_ref(), campaign).await?;
    let txt = String::from_utf8(loaded.report_file(rectify_server::campaigns::ReportFormat::Txt)?)?;
    assert!(txt.starts_with(&format!("{title}\n")), "{txt}");
    assert!(
        txt.contains("(五)新增一段成效。\n四、下一步工作打算"),
        "{txt}"
    );
    office.close().await?;

    let viewer = Browser::start(360, 800).await?;
    viewer.log_in(&server.url("/"), "viewer").await?;
    goto(&viewer, &server, "#/reports").await?;
    click(&viewer, "[data-testid=open-report-text]").await?;
    let shown = viewer.wait_for("[data-testid=title]").await?;
    assert_eq!(shown.prop("value").await?.as_deref(), Some(title));
    assert!(
        shown.attr("readonly").await?.is_some(),
        "read-only for a viewer"
    );
    let saves = viewer
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=save-report-text]"))
        .await?;
    assert!(saves.is_empty(), "a viewer has no save button");
    viewer.close().await?;
    Ok(())
}

/// The office's other pages, driven as a person would: the plan edited on an item, a report
/// file checked then imported, an account created, the chase list and its notice.
#[tokio::test(flavor = "multi_thread")]
async fn the_office_plans_imports_creates_an_account_and_chases() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let (id, _) = items_of(&server, SCHOOL1_UNIT, "-")
        .await?
        .into_iter()
        .next()
        .context("an item of school 1")?;
    let before = server.item(&id).await?;
    let added = ["syxx", "xjxx", "psxx1", "pszx3"]
        .into_iter()
        .find(|u| !before.units.iter().any(|x| x == u))
        .context("a school the item does not have")?;
    let office = Browser::start(1280, 800).await?;
    office.log_in(&server.url("/"), "office").await?;

    // Plan: a new deadline and another school added.
    goto(&office, &server, &format!("#/item/{id}")).await?;
    click(&office, "[data-testid=edit-plan]").await?;
    office
        .client
        .execute(
            "const d = document.querySelector('[data-testid=plan-deadline]');
             d.value = '2027-03-31';",
            vec![],
        )
        .await?;
    click(
        &office,
        &format!("[data-testid=plan-form] input[type=checkbox][value={added}]"),
    )
    .await?;
    office.screenshot("office-plan-1280").await?;
    click(&office, "[data-testid=save-plan]").await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let item = server.item(&id).await?;
        if item.deadline.as_deref() == Some("2027-03-31") {
            assert!(item.units.iter().any(|u| u == added), "{added} was added");
            assert!(
                item.units.iter().any(|u| u == SCHOOL1_UNIT),
                "school 1 stays"
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("the plan did not reach the server: {:?}", item.deadline);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Import: the real report, checked first (nothing stored), then stored.
    let report = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/data/pengshan-2024.txt")
        .canonicalize()?;
    goto(&office, &server, "#/reports").await?;
    office
        .wait_for("[data-testid=import-file]")
        .await?
        .send_keys(&report.to_string_lossy())
        .await?;
    click(&office, "[data-testid=import-check]").await?;
    office
        .wait_for("[data-testid=import-preview][data-items='53'][data-stored=false]")
        .await?;
    office.screenshot("office-import-check-1280").await?;
    // The office reads the importer's warnings in Chinese (#22), line 115's typo among them.
    let warnings = office
        .wait_for("[data-testid=import-warnings]")
        .await?
        .text()
        .await?;
    assert!(
        warnings.contains("（二）方面第7个问题的第(2)项"),
        "{warnings}"
    );
    assert!(
        !warnings.contains("problem") && !warnings.contains("imported"),
        "English in the Chinese page: {warnings}"
    );
    let before = server.storage.campaigns().await?.len();
    click(&office, "[data-testid=import-store]").await?;
    office
        .wait_for("[data-testid=import-preview][data-stored=true]")
        .await?;
    assert_eq!(
        server.storage.campaigns().await?.len(),
        before,
        "the same inspection round updates its campaign"
    );

    // An account: created with a generated password, which logs in.
    goto(&office, &server, "#/accounts").await?;
    let form = "[data-testid=new-account]";
    office.wait_for(&format!("{form} input")).await?;
    office
        .client
        .execute(
            "const f = document.querySelector(arguments[0]);
             const [user, name] = f.querySelectorAll('input');
             user.value = 'xjxx-teacher'; name.value = '谢家小学 教务';
             const [role, unit] = f.querySelectorAll('select');
             role.value = 'unit'; unit.value = 'xjxx';",
            vec![serde_json::json!(form)],
        )
        .await?;
    click(&office, &format!("{form} button[type=submit]")).await?;
    let notice = office
        .wait_for("[data-testid=account-notice]")
        .await?
        .text()
        .await?;
    let password = notice
        .rsplit('：')
        .next()
        .map(str::trim)
        .context("the password is shown")?
        .to_owned();
    let login = reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&serde_json::json!({ "username": "xjxx-teacher", "password": password }))
        .send()
        .await?;
    assert!(
        login.status().is_success(),
        "the shown password logs in: {notice}"
    );
    office
        .wait_for("[data-testid=accounts] tr[data-username=xjxx-teacher]")
        .await?;

    // Supervise: the chase list and a unit's printable notice.
    goto(&office, &server, "#/supervise").await?;
    office.wait_for("[data-testid=chase]").await?;
    click(&office, "[data-testid=chase] [data-testid=chase-notice]").await?;
    office.wait_for("[data-testid=notice] table").await?;
    office.screenshot("office-notice-1280").await?;
    office.close().await?;
    Ok(())
}

/// A school's list opens on what it owes: a summary line, its open items with the overdue
/// ones first, and what the office signed off folded away below.
#[tokio::test(flavor = "multi_thread")]
async fn a_schools_list_opens_on_what_it_owes() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let school = Browser::start(360, 800).await?;
    school.log_in(&server.url("/"), "school1").await?;
    wait_synced(&school).await?;
    school.wait_for("[data-testid=todo-summary]").await?;
    school.screenshot("school-todo-360").await?;
    let listed = |css: &str| {
        let script = format!(
            "return [...document.querySelectorAll('{css} [data-testid=item]')].map(e => e.dataset.id);"
        );
        let school = &school;
        async move {
            let ids = school.client.execute(&script, vec![]).await?;
            let ids: Vec<String> = serde_json::from_value(ids)?;
            anyhow::Ok(ids)
        }
    };
    let open = listed("[data-testid=todo]").await?;
    let signed_off = listed("[data-testid=signed-off]").await?;
    ensure!(
        !open.is_empty() && !signed_off.is_empty(),
        "{open:?} {signed_off:?}"
    );

    let today = rectify_shared::date::Date::in_china(rectify_server::clock::now_ms());
    let mut overdue_seen_after_other = false;
    let mut other_seen = false;
    let mut overdue = 0;
    for id in &open {
        let item = server.item(id).await?;
        assert_ne!(
            item.progress[SCHOOL1_UNIT].status,
            UnitStatus::SignedOff,
            "{id}"
        );
        let late = item
            .deadline
            .as_deref()
            .and_then(|d| d.parse::<rectify_shared::date::Date>().ok())
            .is_some_and(|d| d < today);
        if late {
            overdue += 1;
            overdue_seen_after_other |= other_seen;
        } else {
            other_seen = true;
        }
    }
    assert!(overdue > 0, "the demo has overdue items for school 1");
    assert!(
        !overdue_seen_after_other,
        "overdue items come first: {open:?}"
    );
    for id in &signed_off {
        let item = server.item(id).await?;
        assert_eq!(
            item.progress[SCHOOL1_UNIT].status,
            UnitStatus::SignedOff,
            "{id}"
        );
    }
    let summary = school
        .client
        .execute(
            "return document.querySelector('[data-testid=todo-summary]').innerText;",
            vec![],
        )
        .await?;
    let summary = summary.as_str().unwrap_or_default().to_owned();
    assert!(
        summary.starts_with(&format!("{} 项待办", open.len()))
            && summary.contains(&format!("{overdue} 项逾期")),
        "{summary}"
    );
    // Folded: the signed-off items are there but closed.
    let folded = school
        .client
        .execute(
            "return !document.querySelector('[data-testid=signed-off]').open;",
            vec![],
        )
        .await?;
    assert_eq!(folded.as_bool(), Some(true));
    school.close().await?;
    Ok(())
}

/// Logging out on an item page and back in, then tapping that same item, opens it: the
/// address does not keep pointing at the item (before, the tap set the same address and
/// nothing happened).
#[tokio::test(flavor = "multi_thread")]
async fn after_logging_out_on_an_item_tapping_it_again_opens_it() -> Result<()> {
    use fantoccini::Locator;
    let server = TestServer::start(Some(web_root())).await?;
    let school = Browser::start(360, 800).await?;
    school.log_in(&server.url("/"), "school1").await?;
    wait_synced(&school).await?;
    let first = "[data-testid=todo] [data-testid=item] a";
    click(&school, first).await?;
    school.wait_for("[data-testid=progress-editor]").await?;
    click(&school, "[data-testid=log-out]").await?;
    click(&school, "[data-testid=log-out-confirm]").await?;
    // Logged in again through the form, without loading the page anew.
    school
        .wait_for("input[name=username]")
        .await?
        .send_keys("school1")
        .await?;
    school
        .client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(rectify_tests::TEST_PASSWORD)
        .await?;
    click(&school, "button[type=submit]").await?;
    school.wait_for(first).await?;
    click(&school, first).await?;
    school
        .wait_for("[data-testid=progress-editor]")
        .await
        .context("the item opens")?;
    school.close().await?;
    Ok(())
}

/// Latin words on the page that a Chinese reader should not meet: everything but names of
/// file formats, products (the program's own name) and units that are written in Latin
/// letters in Chinese too, and the words of the data itself (`data`: account names, unit
/// ids, the report's own "APP"; identifiers marked `translate="no"`).
async fn latin_words(browser: &Browser, data: &HashSet<String>) -> Result<Vec<String>> {
    const ALLOWED: &[&str] = &[
        "English",
        "Excel",
        "CSV",
        "Word",
        "docx",
        "txt",
        "xlsx",
        "KB",
        "MB",
        "GB",
        "Chrome",
        "Android",
        "Linux",
        "HeadlessChrome",
        "Safari",
        "Firefox",
        "iPhone",
        "Windows",
        "Mac",
        "rectify",
    ];
    // Identifiers (a document id in the audit log) are marked `translate="no"`, as for
    // translation tools: their letters are not words.
    let text = browser
        .client
        .execute(
            "let text = document.body.innerText;
             for (const e of document.querySelectorAll('[translate=no]')) {
                 text = text.split(e.innerText).join(' ');
             }
             return text;",
            vec![],
        )
        .await?;
    let text = text.as_str().unwrap_or_default().to_owned();
    let mut found: Vec<String> = latin(&text)
        .filter(|w| !ALLOWED.contains(w) && !data.contains(*w))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// The runs of Latin letters in `text`.
fn latin(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
}

/// Issue #22: every page, as the office and as a school see it in Chinese, has no English
/// left in it (a label, a server message, a status) beyond the names of formats and products.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_speaks_chinese() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let report = include_str!("../../shared/tests/data/pengshan-2024.txt");
    let mut data: HashSet<String> = latin(report).map(str::to_owned).collect();
    for user in server.storage.users().await? {
        data.extend(latin(user.username.as_str()).map(str::to_owned));
    }
    for unit in server.storage.units().await? {
        data.extend(latin(&unit.id.0).map(str::to_owned));
    }
    let (item, _) = items_of(&server, SCHOOL1_UNIT, "-")
        .await?
        .into_iter()
        .next()
        .context("an item of school 1")?;
    let mut english = Vec::new();
    for (who, pages) in [
        (
            "office",
            vec![
                "#/".to_owned(),
                "#/items".to_owned(),
                "#/dashboard".to_owned(),
                "#/supervise".to_owned(),
                format!("#/supervise/{SCHOOL1_UNIT}"),
                "#/reports".to_owned(),
                "#/accounts".to_owned(),
                "#/new-item".to_owned(),
                "#/audit".to_owned(),
                "#/devices".to_owned(),
                format!("#/item/{item}"),
                format!("#/item/{item}/history"),
            ],
        ),
        (
            "school1",
            vec![
                "#/".to_owned(),
                "#/devices".to_owned(),
                format!("#/item/{item}"),
                format!("#/item/{item}/history"),
            ],
        ),
    ] {
        let browser = Browser::start(1280, 800).await?;
        browser.log_in(&server.url("/"), who).await?;
        wait_synced(&browser).await?;
        for page in pages {
            goto(&browser, &server, &page).await?;
            wait_synced(&browser).await?;
            // Lists and pages that ask the server fill in after a moment.
            tokio::time::sleep(Duration::from_millis(700)).await;
            let words = latin_words(&browser, &data).await?;
            if !words.is_empty() {
                english.push(format!("{who} {page}: {words:?}"));
            }
        }
    }
    ensure!(
        english.is_empty(),
        "English in the Chinese UI:\n{}",
        english.join("\n")
    );
    Ok(())
}
