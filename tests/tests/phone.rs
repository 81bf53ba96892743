//! The office on a 360-pixel phone (issue #22, "phone layout"): no page scrolls sideways
//! (a wide table scrolls in its own box), the tab bar shows that it has more tabs and keeps
//! the current one in view, the accounts' names are not wrapped one character a line, and
//! date fields read YYYY-MM-DD whatever the browser's locale (this Chromium's is en-US, whose
//! native date input shows "mm/dd/yyyy"). The same pages at 1280 px keep no cue and no
//! sideways scroll. Screenshots: `target/screenshots/phone-*`.

use anyhow::{Result, bail, ensure};
use rectify_tests::{Browser, TestServer, web_root};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

const PAGES: [&str; 7] = [
    "#/",
    "#/dashboard",
    "#/items",
    "#/supervise",
    "#/reports",
    "#/accounts",
    "#/audit",
];

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

async fn open(browser: &Browser, server: &TestServer, page: &str) -> Result<()> {
    browser
        .client
        .goto(&server.url(&format!("/{page}")))
        .await?;
    wait_synced(browser).await?;
    // Lists and pages that ask the server fill in after a moment.
    tokio::time::sleep(Duration::from_millis(800)).await;
    Ok(())
}

/// `page`'s layout problems at this width, in words (none: an empty list).
async fn layout_problems(browser: &Browser, page: &str) -> Result<Vec<String>> {
    let found = browser
        .client
        .execute(
            "const problems = [];
             const root = document.documentElement;
             if (root.scrollWidth > innerWidth + 1) {
               problems.push(`the page scrolls sideways: ${root.scrollWidth} > ${innerWidth}`);
             }
             const wrap = document.querySelector('[data-testid=nav-wrap]');
             const nav = document.querySelector('[data-testid=nav]');
             if (!nav) { problems.push('no tab bar'); return problems; }
             const cue = (side) => !!wrap && wrap.classList.contains('more-' + side)
               && getComputedStyle(wrap, side === 'right' ? '::after' : '::before').opacity === '1';
             const behind = nav.scrollWidth - nav.clientWidth - nav.scrollLeft;
             if (behind > 1 && !cue('right')) {
               problems.push(`tabs hidden at the right edge (${behind} px) and no cue`);
             }
             if (behind <= 1 && cue('right')) { problems.push('a right cue with nothing behind it'); }
             if (nav.scrollLeft > 1 && !cue('left')) { problems.push('tabs hidden at the left edge and no cue'); }
             const active = nav.querySelector('.tab.active');
             if (active) {
               const a = active.getBoundingClientRect(), n = nav.getBoundingClientRect();
               if (a.left < n.left - 1 || a.right > n.right + 1) {
                 problems.push(`the current tab is out of view: ${a.left}..${a.right} in ${n.left}..${n.right}`);
               }
             }
             return problems;",
            vec![],
        )
        .await?;
    Ok(found
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{page}: {}", p.as_str().unwrap_or_default()))
        .collect())
}

/// Names in the accounts table shorter than the text they hold, or on more than one line:
/// what a cell one character wide does to 督导内审股.
async fn squeezed_names(browser: &Browser) -> Result<Vec<String>> {
    let found = browser
        .client
        .execute(
            "const out = [];
             for (const row of document.querySelectorAll('[data-testid=accounts] tr[data-username]')) {
               for (const cell of [...row.cells].slice(0, 4)) {
                 const text = cell.textContent.trim();
                 if ([...text].length < 3) continue;
                 const range = document.createRange();
                 range.selectNodeContents(cell);
                 const box = range.getBoundingClientRect();
                 const em = parseFloat(getComputedStyle(cell).fontSize);
                 const lines = Math.round(box.height / parseFloat(getComputedStyle(cell).lineHeight));
                 if (box.width < 2.5 * em || lines > 1) {
                   out.push(`${text}: ${Math.round(box.width)} px wide, ${lines} lines`);
                 }
               }
             }
             return out;",
            vec![],
        )
        .await?;
    Ok(found
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().unwrap_or_default().to_owned())
        .collect())
}

/// The date fields on the page that do not read YYYY-MM-DD: a native date input (its text is
/// the browser locale's), or a field whose hint shows another form.
async fn foreign_dates(browser: &Browser, css: &str) -> Result<Vec<String>> {
    let found = browser
        .client
        .execute(
            "const out = [];
             const fields = document.querySelectorAll(arguments[0]);
             if (fields.length === 0) out.push('no date field');
             for (const input of fields) {
               if (input.type !== 'text' || input.placeholder !== '年-月-日'
                   || !/^$|^\\d{4}-\\d{2}-\\d{2}$/.test(input.value)) {
                 out.push(`${input.dataset.testid}: type ${input.type}, shows '${input.value || input.placeholder}'`);
               }
             }
             return out;",
            vec![serde_json::json!(css)],
        )
        .await?;
    Ok(found
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().unwrap_or_default().to_owned())
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_office_fits_a_360_px_phone() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let mut problems = Vec::new();
    for (width, english) in [(360, false), (360, true), (1280, false)] {
        let browser = Browser::start(width, 800).await?;
        browser.log_in(&server.url("/"), "office").await?;
        let lang = if english {
            browser
                .client
                .execute(
                    "document.querySelector('.topbar-actions button[lang=en]').click();",
                    vec![],
                )
                .await?;
            "en"
        } else {
            "zh"
        };
        for page in PAGES {
            open(&browser, &server, page).await?;
            let name = match page.trim_start_matches("#/") {
                "" => "home",
                other => other,
            };
            full_shot(&browser, &format!("phone-{name}-{width}-{lang}")).await?;
            problems.extend(
                layout_problems(&browser, page)
                    .await?
                    .into_iter()
                    .map(|p| format!("{width} px {lang} {p}")),
            );
        }
        if width == 360 {
            // The tab bar overflows on a phone: the cue must be there on the first page.
            open(&browser, &server, "#/dashboard").await?;
            ensure!(
                browser
                    .client
                    .execute(
                        "const n = document.querySelector('[data-testid=nav]');
                         return n.scrollWidth > n.clientWidth;",
                        vec![]
                    )
                    .await?
                    .as_bool()
                    == Some(true),
                "the tabs fit 360 px: the cue is not tried"
            );
            open(&browser, &server, "#/accounts").await?;
            problems.extend(
                squeezed_names(&browser)
                    .await?
                    .into_iter()
                    .map(|p| format!("{width} px {lang} accounts: {p}")),
            );
        }
        if width == 360 && !english {
            open(&browser, &server, "#/audit").await?;
            problems.extend(
                foreign_dates(
                    &browser,
                    "[data-testid=audit-filters] input[type=date], [data-testid=audit-filters] input.date",
                )
                .await?
                .into_iter()
                .map(|p| format!("audit: {p}")),
            );
            open(&browser, &server, "#/dashboard").await?;
            let due = browser.wait_for("[data-testid=filter-due]").await?;
            due.send_keys("2024-06-30").await?;
            browser
                .client
                .execute(
                    "document.querySelector('[data-testid=filter-due]').blur();",
                    vec![],
                )
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            problems.extend(
                foreign_dates(&browser, "[data-testid=filter-due]")
                    .await?
                    .into_iter()
                    .map(|p| format!("dashboard: {p}")),
            );
            // A date in another form is refused in words, not dropped silently.
            due.clear().await?;
            due.send_keys("6/30/2024").await?;
            let said = browser
                .client
                .execute(
                    "const due = document.querySelector('[data-testid=filter-due]');
                     due.blur();
                     const hint = due.nextElementSibling;
                     return !!hint && hint.classList.contains('date-error')
                       && getComputedStyle(hint).display !== 'none' && hint.textContent.includes('2024-06-30');",
                    vec![],
                )
                .await?;
            if said.as_bool() != Some(true) {
                problems.push(
                    "dashboard: a date typed as 6/30/2024 is not refused in words".to_owned(),
                );
            }
            browser.screenshot("phone-date-filter-360-zh").await?;
            // A day that does not exist is refused with its own words, not taken as no date.
            due.clear().await?;
            due.send_keys("2026-02-30").await?;
            let said = browser
                .client
                .execute(
                    "const due = document.querySelector('[data-testid=filter-due]');
                     due.blur();
                     const hint = due.nextElementSibling;
                     return !due.validity.valid && due.validity.customError
                       && getComputedStyle(hint).display !== 'none' && hint.textContent.includes('没有这一天');",
                    vec![],
                )
                .await?;
            if said.as_bool() != Some(true) {
                problems.push("dashboard: 2026-02-30 is not refused in words".to_owned());
            }
            browser.screenshot("phone-impossible-date-360-zh").await?;
        }
        browser.close().await?;
    }
    ensure!(problems.is_empty(), "at 360 px:\n{}", problems.join("\n"));
    Ok(())
}

/// Saves the whole page, not just the viewport, as `target/screenshots/NAME-0.png`, `-1`, …
/// (1,100 px tall each, at most six): the DevTools screenshot beyond the viewport.
async fn full_shot(browser: &Browser, name: &str) -> Result<()> {
    let size = browser
        .client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
            vec![],
        )
        .await?;
    let width = size[0].as_f64().unwrap_or(360.0);
    let height = size[1].as_f64().unwrap_or(800.0);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir)?;
    let mut y = 0.0;
    let mut part = 0;
    while y < height && part < 6 {
        let h = (height - y).min(1100.0);
        let r = browser
            .cdp(
                "Page.captureScreenshot",
                serde_json::json!({"format": "png", "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": y, "width": width, "height": h, "scale": 1}}),
            )
            .await?;
        let bytes = base64(r["data"].as_str().unwrap_or_default());
        std::fs::write(dir.join(format!("{name}-{part}.png")), bytes)?;
        y += 1100.0;
        part += 1;
    }
    Ok(())
}

/// Decodes standard base64 (the DevTools screenshot), without a dependency for it.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &d) in chunk.iter().enumerate() {
            n |= u32::from(d) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
