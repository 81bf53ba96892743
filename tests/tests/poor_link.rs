//! A school's offline day of work reaches the server intact over a poor rural link (issue
//! #24): the real client in headless Chromium, which reaches the server only through the
//! [`LinkEmulator`] (slow in both directions, a round trip, connections cut at random
//! lifetimes, an outage that swallows new connections). Five items edited and two photos
//! taken offline; then the poor link; everything must arrive, byte for byte. No timing is
//! asserted: the link is scaled down from the (faster, shorter cuts and outage) to
//! keep the run short, and the time is printed.
//!
//! While connected over the poor link, the status bar must never say offline or "changes
//! waiting" at a cut; it says "link unstable, retrying" during the outage.

use anyhow::{Context, Result, bail};
use rectify_server::campaigns;
use rectify_server::state::ServerSettings;
use rectify_shared::evidence::sha256_hex;
use rectify_shared::model::{ItemEdit, ItemPlan};
use rectify_tests::link::{LinkEmulator, LinkShape, Outage};
use rectify_tests::{Browser, FaultyStorage, TestServer, web_root};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHOOL1_UNIT: &str = "pszx1";
const WAIT: Duration = Duration::from_secs(20);
/// The whole poor-link phase must end within this (it takes ~30 s here).
const SYNC_DEADLINE: Duration = Duration::from_secs(120);

/// The link, scaled for a test run: 4× the bandwidth, shorter cuts and outage.
fn poor_link() -> LinkShape {
    LinkShape {
        down_bytes_per_sec: 192_000,
        up_bytes_per_sec: 64_000,
        round_trip: Duration::from_millis(300),
        cut_after: Some((Duration::from_secs(2), Duration::from_secs(8))),
    }
}
/// When the outage starts after the link returns, and how long it lasts: longer than the
/// bar's grace after a cut (5 s), so "unstable" shows.
const OUTAGE_AFTER: Duration = Duration::from_secs(6);
const OUTAGE: Duration = Duration::from_secs(9);

/// The bar as the page shows it: `data-state`, `data-pending`, `data-files-pending`.
async fn bar(browser: &Browser) -> Result<(String, u64, u64)> {
    let value = browser
        .client
        .execute(
            "const s = document.querySelector('[data-testid=sync-status]');
             return s ? [s.dataset.state, s.dataset.pending, s.dataset.filesPending]
                      : ['missing', '0', '0'];",
            vec![],
        )
        .await?;
    let number = |i: usize| value[i].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    let state = value[0].as_str().unwrap_or_default().to_owned();
    Ok((state, number(1), number(2)))
}

async fn wait_for_state(browser: &Browser, state: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        let now = bar(browser).await?;
        if now.0 == state {
            return Ok(());
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the bar stayed {last:?}, expected {state}")
}

/// The ids of school 1's items it may still work on (not signed off), as listed.
async fn open_items(browser: &Browser, server: &TestServer) -> Result<Vec<String>> {
    let listed = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=item]')].map(e => e.dataset.id);",
            vec![],
        )
        .await?;
    let mut open = Vec::new();
    for id in listed.as_array().context("a list")? {
        let id = id.as_str().context("an id")?.to_owned();
        let item = server.item(&id).await?;
        let status = item.progress.get(SCHOOL1_UNIT).map(|p| p.status);
        if status != Some(rectify_shared::workflow::UnitStatus::SignedOff) {
            open.push(id);
        }
    }
    Ok(open)
}

async fn server_narrative(server: &TestServer, id: &str) -> Result<String> {
    let item = server.item(id).await?;
    Ok(item
        .progress
        .get(SCHOOL1_UNIT)
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default())
}

/// Adds `text` at the end of the item's progress narrative; returns the whole text.
async fn write_progress(browser: &Browser, text: &str) -> Result<String> {
    let editor = browser.wait_for("[data-testid=progress-editor]").await?;
    editor.click().await?;
    browser
        .client
        .execute(
            "const el = document.querySelector('[data-testid=progress-editor]');
             el.focus(); el.setSelectionRange(el.value.length, el.value.length);",
            vec![],
        )
        .await?;
    editor.send_keys(text).await?;
    let value = browser
        .client
        .execute(
            "return document.querySelector('[data-testid=progress-editor]').value;",
            vec![],
        )
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// Takes a photo on the open item; returns its SHA-256 once it is on the device, queued.
async fn take_photo(browser: &Browser, path: &std::path::Path) -> Result<String> {
    browser
        .wait_for("[data-testid=evidence-file]")
        .await?
        .send_keys(path.to_str().context("a UTF-8 path")?)
        .await?;
    let entry = browser
        .wait_for("[data-testid=evidence][data-upload=queued]")
        .await?;
    entry
        .attr("data-sha256")
        .await?
        .context("an evidence entry without data-sha256")
}

/// Screenshots of the page at 360×800 and 1280×800 (`NAME-360`, `NAME-1280`), back at
/// 360×800 after.
async fn screenshots(browser: &Browser, name: &str) -> Result<()> {
    browser.screenshot(&format!("{name}-360")).await?;
    let wide = serde_json::json!({
        "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false,
    });
    browser
        .cdp("Emulation.setDeviceMetricsOverride", wide)
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await; // one layout
    browser.screenshot(&format!("{name}-1280")).await?;
    let phone = serde_json::json!({
        "width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": true,
    });
    browser
        .cdp("Emulation.setDeviceMetricsOverride", phone)
        .await?;
    Ok(())
}

/// Gives school 1 open items until it has `wanted` (the demo gives it fewer): the office
/// adds the school to items that are not done, as the plan editor would.
async fn give_school1_items(server: &TestServer, wanted: usize) -> Result<()> {
    let campaign = server.storage.campaigns().await?.remove(0);
    let records = server.storage.items(&campaign.id).await?;
    let mut open = 0;
    for record in &records {
        let item = server.item(&record.id.to_string()).await?;
        let status = item.progress.get(SCHOOL1_UNIT).map(|p| p.status);
        if record.units.iter().any(|u| u == SCHOOL1_UNIT)
            && status != Some(rectify_shared::workflow::UnitStatus::SignedOff)
        {
            open += 1;
        }
    }
    for record in records.iter().filter(|r| !r.status.is_done()) {
        if open >= wanted {
            break;
        }
        if record.units.iter().any(|u| u == SCHOOL1_UNIT) {
            continue;
        }
        let item = server.item(&record.id.to_string()).await?;
        let mut units = item.units.clone();
        units.push(SCHOOL1_UNIT.to_owned());
        let plan = ItemPlan {
            responsible_leader: item.responsible_leader.clone(),
            responsible_department: item.responsible_department.clone(),
            units,
            deadline: item.deadline.clone(),
            timing: item.timing,
        };
        let office = rectify_tests::office_edit(1_700_000_000_000);
        campaigns::edit_item(
            server.storage.as_ref(),
            record,
            &office,
            ItemEdit::Plan(plan),
        )
        .await?;
        open += 1;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_day_reaches_the_server_intact_over_a_poor_link() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    give_school1_items(&server, 5).await?;
    // The app loads over a clear link; the browser knows no other address of the server.
    let link = LinkEmulator::start(server.addr, LinkShape::clear(), 24).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&link.url("/"), "school1").await?;
    wait_for_state(&browser, "synced").await?;
    let items: Vec<String> = open_items(&browser, &server).await?;
    assert!(items.len() >= 5, "school 1 has {} open items", items.len());
    let items = &items[..5];

    // The offline day: five items written, two photos taken.
    let dir = tempfile::tempdir()?;
    browser.set_offline(true).await?;
    wait_for_state(&browser, "offline").await?;
    let mut expected = Vec::new();
    let mut photos = Vec::new();
    for (n, id) in items.iter().enumerate() {
        browser
            .client
            .goto(&link.url(&format!("/#/item/{id}")))
            .await?;
        let text = write_progress(&browser, &format!("离线第{n}项：已整改并复查。")).await?;
        expected.push((id.clone(), text));
        if n < 2 {
            let path = dir.path().join(format!("现场照片{n}.jpg"));
            std::fs::write(
                &path,
                rectify_tests::photos::phone_photo(2000, 1500, n as u64),
            )?;
            photos.push((id.clone(), take_photo(&browser, &path).await?));
        }
    }
    wait_for_state(&browser, "pending").await?;
    for (id, text) in &expected {
        assert_ne!(
            &server_narrative(&server, id).await?,
            text,
            "nothing left offline"
        );
    }

    // The poor link, with an outage that swallows new connections.
    link.set_shape(poor_link());
    let (up_before, down_before) = (link.up(), link.down());
    browser.set_offline(false).await?;
    let back = Instant::now();
    let mut outage = None;
    let mut connected = false;
    let mut seen = BTreeSet::new();
    let mut shot = false;
    // When the link came back, and when the bar said "synced" again (printed, not asserted).
    let mut outage_ended: Option<Instant> = None;
    let mut back_in_sync = None;
    loop {
        let (state, pending, files) = bar(&browser).await?;
        // Once connected, a cut must not show as offline or as changes waiting.
        connected |= matches!(state.as_str(), "syncing" | "synced" | "unstable");
        if connected {
            seen.insert(state.clone());
        }
        match outage {
            None if back.elapsed() >= OUTAGE_AFTER => {
                link.begin_outage(Outage::Blackhole);
                outage = Some(Instant::now());
            }
            Some(began) if began.elapsed() >= OUTAGE && !shot => {
                // For people to look at: the bar during the outage, both languages.
                screenshots(&browser, "poor-link-outage").await?;
                browser
                    .client
                    .find(fantoccini::Locator::Css(".topbar-actions button[lang=en]"))
                    .await?
                    .click()
                    .await?;
                screenshots(&browser, "poor-link-outage-en").await?;
                shot = true;
                link.end_outage();
                outage_ended = Some(Instant::now());
            }
            _ => {}
        }
        if let Some(ended) = outage_ended
            && back_in_sync.is_none()
            && state == "synced"
        {
            back_in_sync = Some(ended.elapsed());
        }
        if shot && state == "synced" && pending == 0 && files == 0 {
            break;
        }
        if back.elapsed() > SYNC_DEADLINE {
            let text = browser
                .client
                .execute(
                    "return document.querySelector('[data-testid=sync-status]').innerText;",
                    vec![],
                )
                .await?;
            browser.screenshot("poor-link-stuck-360").await?;
            bail!(
                "not synced {SYNC_DEADLINE:?} after the link returned: {state}, {pending} changes, \
                 {files} files; the bar says {text} (and showed {seen:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = back.elapsed();
    let back_in_sync = back_in_sync.map_or("never".to_owned(), |d| format!("{d:.1?}"));

    // Everything arrived, byte for byte.
    for (id, text) in &expected {
        assert_eq!(&server_narrative(&server, id).await?, text, "item {id}");
    }
    let mut photo_bytes = 0;
    for (id, sha) in &photos {
        let stored = server
            .files
            .store
            .get(sha, rectify_server::blobs::Variant::Original)
            .await?
            .with_context(|| format!("the server has no photo {sha}"))?;
        assert_eq!(&sha256_hex(&stored), sha, "the photo's bytes");
        photo_bytes += stored.len();
        let item = server.item(id).await?;
        assert!(
            item.progress[SCHOOL1_UNIT]
                .evidence
                .iter()
                .any(|e| &e.sha256 == sha && e.added_by == "school1"),
            "item {id} references photo {sha}"
        );
    }
    assert!(link.cuts() > 0, "the link cut no connection");
    let honest: BTreeSet<String> = ["syncing", "synced", "unstable"].map(str::to_owned).into();
    assert!(
        seen.is_subset(&honest),
        "while connected over the poor link the bar showed {seen:?}"
    );
    assert!(
        seen.contains("unstable"),
        "the outage never showed as an unstable link: {seen:?}"
    );
    eprintln!(
        "poor link: synced {took:.1?} after it returned ({OUTAGE:?} outage; the bar said synced \
         {back_in_sync} after the outage); {photo_bytes} photo bytes; \
         {} bytes up, {} down; {} connections, {} cut; the bar showed {seen:?}",
        link.up() - up_before,
        link.down() - down_before,
        link.connections(),
        link.cuts(),
    );
    browser.screenshot("poor-link-synced-360").await?;
    browser.close().await?;
    Ok(())
}

/// Every byte of a photo arrived but the request failed before the server checked and
/// stored the file (here a failed database write; on a poor link, the request cut while the
/// server checked the file): the server keeps the bytes and says it has them all. The app asks it to finish with an empty `PATCH` at the
/// end; it used to wait for a check that would never come, and the photo never arrived.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_last_request_failed_is_finished() -> Result<()> {
    let mut faulty = None;
    let server = TestServer::start_on(Some(web_root()), ServerSettings::default(), |storage| {
        let wrapper = FaultyStorage::new(storage);
        faulty = Some(Arc::clone(&wrapper));
        wrapper
    })
    .await?;
    let faulty = faulty.context("the storage was wrapped")?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&server.url("/"), "school1").await?;
    wait_for_state(&browser, "synced").await?;
    let id = open_items(&browser, &server).await?[0].clone();
    browser
        .client
        .goto(&server.url(&format!("/#/item/{id}")))
        .await?;

    // A photo small enough for one `PATCH`: the `POST` notes the upload (call 1), the
    // `PATCH` writes every byte, then noting it (call 2) fails before the file is checked.
    faulty.fail_upload_touch(2);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("签到表.jpg");
    let photo = rectify_tests::photos::phone_photo(240, 180, 5);
    assert!(
        photo.len() < 64 * 1024,
        "{} bytes: more than one piece",
        photo.len()
    );
    std::fs::write(&path, photo)?;
    let sha = take_photo(&browser, &path).await?;
    browser
        .wait_for(&format!(
            "[data-testid=evidence][data-sha256='{sha}'][data-upload=done]"
        ))
        .await?;
    assert_eq!(
        faulty.counts().upload_touches_failed,
        1,
        "the fault was met"
    );
    let stored = server
        .files
        .store
        .get(&sha, rectify_server::blobs::Variant::Original)
        .await?
        .context("the server has no file after the upload")?;
    assert_eq!(sha256_hex(&stored), sha);
    browser.close().await?;
    Ok(())
}
