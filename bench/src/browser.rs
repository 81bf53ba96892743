//! Phase 4, in the browser: the time to open a school's documents from IndexedDB in headless
//! Chromium, with no network.
//!
//! A server (the tests' in-process `TestServer`: the real router on loopback, serving the
//! built web client) gets one school — a unit account with its unit — and `docs` item
//! documents assigned to that unit alone, planned by the office and worked on by the school
//! (status, progress text in a few sittings, a ticked measure) through the same edits the app
//! makes. The school logs in in Chromium (through `rectify_tests::Browser`, on a profile of
//! its own) and its replica syncs every document into IndexedDB; the bench waits until the
//! sync status says synced, the list shows every item and IndexedDB holds every document, and
//! until the service worker controls the page. Then the server is stopped and the network
//! emulated offline, and the page is reloaded `reloads` times. Each time, read in the page
//! with `performance.now()` (0 = navigation start): the client's own marks
//! `rectify-local-loading` (before the device store opens) and `rectify-local-loaded` (every
//! stored document opened: Automerge loaded, the item read), the moment the item list has a
//! row for every document (a `MutationObserver` installed before the page's scripts) and a
//! frame later (`requestAnimationFrame` then `setTimeout 0`: the list painted).

use crate::setup;
use anyhow::{Context, Result, bail, ensure};
use rectify_server::campaigns;
use rectify_server::storage::Storage;
use rectify_shared::date::Date;
use rectify_shared::ids::UnitId;
use rectify_shared::model::{EditContext, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::report::{Area, CampaignHeader, Item, Problem, Report};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{Browser, CHROMEDRIVER, CHROMIUM, TestServer};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// A phone's viewport, as the tests' `client-timing` uses: schools work on phones.
pub const VIEWPORT: (u32, u32) = (360, 800);

/// The item list shows this many rows before "show all" (`SHOWN` in client/src/pages/home.rs).
pub const LIST_ROWS: usize = 200;

/// The demo's departments (the `TestServer` has the demo data).
const DEPARTMENTS: [&str; 4] = ["jcg", "rsg", "ddnsg", "jyg"];

/// One reload, in milliseconds from navigation start.
#[derive(Debug, Clone, Copy)]
pub struct Reload {
    /// `rectify-local-loading`: the replica starts opening the device store.
    pub loading_ms: f64,
    /// `rectify-local-loaded`: every stored document is open in the replica.
    pub loaded_ms: f64,
    /// The item list has a row for every document.
    pub listed_ms: f64,
    /// A frame after that: the list painted.
    pub painted_ms: f64,
}

#[derive(Debug, Clone)]
pub struct OpenFromDevice {
    pub documents: usize,
    /// Log in → synced with every document in IndexedDB (online, loopback).
    pub first_sync_s: f64,
    /// What IndexedDB held for the school before the reloads.
    pub stored_chunks: u64,
    pub stored_bytes: u64,
    pub reloads: Vec<Reload>,
    /// `navigator.userAgent`, and `chromium --version` (the user agent names no minor version).
    pub user_agent: String,
    pub chromium: String,
}

/// Installed on every new document before the page's scripts (the row count is filled in).
const WATCH: &str = r#"
(() => {
  if (window !== window.top) return;
  const want = __WANT__;
  const t = (window.__rectifyOpen = { rows: 0 });
  const check = () => {
    if (t.listedMs !== undefined) return;
    t.rows = document.querySelectorAll("[data-testid=item]").length;
    if (t.rows < want) return;
    t.listedMs = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => { t.paintedMs = performance.now(); }, 0));
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true });
})();
"#;

/// What the watcher and the client's marks recorded on this page; `null` until painted.
const READ: &str = r#"
const t = window.__rectifyOpen || {};
if (t.paintedMs === undefined) return null;
const mark = (name) => {
  const entries = performance.getEntriesByName(name, "mark");
  return entries.length ? entries[0].startTime : null;
};
const status = document.querySelector("[data-testid=sync-status]");
const nav = performance.getEntriesByType("navigation")[0];
return {
  listedMs: t.listedMs, paintedMs: t.paintedMs, rows: t.rows,
  loadingMs: mark("rectify-local-loading"), loadedMs: mark("rectify-local-loaded"),
  rowsNow: document.querySelectorAll("[data-testid=item]").length,
  online: navigator.onLine, state: status ? status.dataset.state : "",
  navigation: nav ? nav.type : "",
};
"#;

/// Starts counting what IndexedDB holds for `arguments[0]` (documents, chunks, bytes) into
/// `window.__rectifyStored`; read it with [`STORED`].
const COUNT_STORED: &str = r#"
const user = arguments[0];
window.__rectifyStored = null;
const open = indexedDB.open("rectify");
open.onerror = () => { window.__rectifyStored = { error: String(open.error) }; };
open.onsuccess = () => {
  const db = open.result;
  const range = IDBKeyRange.bound(user + "\u0001", user + "\u0002", false, true);
  const store = db.transaction(["chunks"], "readonly").objectStore("chunks");
  const keys = store.getAllKeys(range);
  const values = store.getAll(range);
  values.onsuccess = () => {
    const docs = new Set(keys.result.map((k) => k.split("\u0001")[1]));
    const bytes = values.result.reduce((sum, v) => sum + (v.byteLength || 0), 0);
    window.__rectifyStored = { docs: docs.size, chunks: keys.result.length, bytes };
    db.close();
  };
  values.onerror = () => { window.__rectifyStored = { error: String(values.error) }; db.close(); };
};
"#;
const STORED: &str = "return window.__rectifyStored;";

/// Seeds, syncs into Chromium, then reloads offline `reloads` times; see the module's comment.
pub async fn open_from_device(web: &Path, docs: usize, reloads: usize) -> Result<OpenFromDevice> {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        ensure!(
            Path::new(tool).exists(),
            "{tool} is missing: this figure needs headless Chromium and chromedriver (Debian: \
             `apt-get install chromium chromium-driver fonts-wqy-microhei`; `cargo xtask test` \
             installs them too)"
        );
    }
    ensure!(
        web.join("index.html").is_file(),
        "no web client at {}: build it with `cargo xtask build`",
        web.display()
    );
    ensure!(
        (1..=LIST_ROWS).contains(&docs),
        "--open-docs must be 1 to {LIST_ROWS}: the item list shows {LIST_ROWS} rows before \
         \"show all\""
    );
    ensure!(reloads > 0, "--open-reloads must be at least 1");

    let server = TestServer::start(Some(web.to_owned())).await?;
    let seeding = Instant::now();
    let username = seed(server.storage.as_ref(), docs)
        .await
        .context("seeding the school's documents")?;
    let seed_s = seeding.elapsed().as_secs_f64();
    eprintln!("  seeded one school with {docs} documents in {seed_s:.1} s");

    let profile = tempfile::tempdir()?;
    let browser = Browser::start_with_profile(VIEWPORT.0, VIEWPORT.1, profile.path()).await?;
    // Closed either way, so that a failed run leaves no Chromium behind.
    let measured = measure(&browser, server, &username, docs, reloads).await;
    let closed = browser.close().await;
    let measured = measured?;
    closed?;
    Ok(measured)
}

async fn measure(
    browser: &Browser,
    server: TestServer,
    username: &str,
    docs: usize,
    reloads: usize,
) -> Result<OpenFromDevice> {
    let user_agent = script(browser, "return navigator.userAgent", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": WATCH.replace("__WANT__", &docs.to_string()) }),
        )
        .await?;

    let syncing = Instant::now();
    browser
        .log_in(&server.url("/"), username)
        .await
        .with_context(|| format!("logging in as {username}"))?;
    let limit = Duration::from_secs(300);
    loop {
        let state = script(
            browser,
            "const s = document.querySelector('[data-testid=sync-status]');
             return [document.querySelectorAll('[data-testid=item]').length,
                     s ? s.dataset.state : ''];",
            vec![],
        )
        .await?;
        let rows = state[0].as_u64().unwrap_or(0) as usize;
        if rows == docs && state[1] == "synced" {
            break;
        }
        if syncing.elapsed() > limit {
            bail!(
                "after {} s the list shows {rows} of {docs} items, sync status {}",
                limit.as_secs(),
                state[1]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = loop {
        let stored = stored(browser, username).await?;
        if stored.0 == docs as u64 {
            break stored;
        }
        if syncing.elapsed() > limit {
            bail!("IndexedDB holds {} of {docs} documents", stored.0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first_sync_s = syncing.elapsed().as_secs_f64();
    eprintln!(
        "  synced into Chromium in {first_sync_s:.1} s: {} documents, {} chunks, {} bytes in IndexedDB",
        stored.0, stored.1, stored.2
    );
    service_worker_controls(browser).await?;

    // Nothing from the network: the server gone (a service worker that started online still
    // reaches the network through offline emulation) and the page offline.
    stop(server).await?;
    browser.set_offline(true).await?;

    let mut measured = Vec::new();
    for n in 1..=reloads {
        browser.client.refresh().await?;
        let reload = read_reload(browser, docs)
            .await
            .with_context(|| format!("reload {n} of {reloads}"))?;
        eprintln!(
            "  reload {n}: loading {:.0} ms, all loaded {:.0} ms, listed {:.0} ms, painted {:.0} ms",
            reload.loading_ms, reload.loaded_ms, reload.listed_ms, reload.painted_ms
        );
        measured.push(reload);
    }
    Ok(OpenFromDevice {
        documents: docs,
        first_sync_s,
        stored_chunks: stored.1,
        stored_bytes: stored.2,
        reloads: measured,
        user_agent,
        chromium: chromium_version(),
    })
}

fn chromium_version() -> String {
    std::process::Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "Chromium (version unknown)".to_owned())
}

async fn script(browser: &Browser, js: &str, args: Vec<Value>) -> Result<Value> {
    Ok(browser.client.execute(js, args).await?)
}

/// (documents, chunks, bytes) IndexedDB holds for `username`.
async fn stored(browser: &Browser, username: &str) -> Result<(u64, u64, u64)> {
    script(browser, COUNT_STORED, vec![json!(username)]).await?;
    let started = Instant::now();
    loop {
        let stored = script(browser, STORED, vec![]).await?;
        if let Some(error) = stored.get("error") {
            bail!("reading IndexedDB: {error}");
        }
        if let (Some(docs), Some(chunks), Some(bytes)) = (
            stored["docs"].as_u64(),
            stored["chunks"].as_u64(),
            stored["bytes"].as_u64(),
        ) {
            return Ok((docs, chunks, bytes));
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("reading IndexedDB did not finish in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the service worker controls the page (it claims open pages when it
/// activates); reloads once (still online) if it does not within 20 s.
async fn service_worker_controls(browser: &Browser) -> Result<()> {
    const CONTROLLED: &str =
        "return !!(navigator.serviceWorker && navigator.serviceWorker.controller);";
    for attempt in 0..2 {
        if attempt > 0 {
            browser.client.refresh().await?;
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if script(browser, CONTROLLED, vec![]).await? == json!(true) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bail!("the service worker does not control the page, even after a reload")
}

/// Stops the server and waits until its port refuses connections.
async fn stop(server: TestServer) -> Result<()> {
    let addr = server.addr;
    drop(server);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server on {addr} still accepts connections 5 s after it was stopped")
}

/// Waits (at most 60 s) until the reloaded page painted the list, and checks that it came
/// from the device: the reload, offline, every document listed, the client's marks there.
async fn read_reload(browser: &Browser, docs: usize) -> Result<Reload> {
    let started = Instant::now();
    let page = loop {
        let page = script(browser, READ, vec![]).await?;
        if !page.is_null() {
            break page;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let url = browser.client.current_url().await?;
            let rows = script(
                browser,
                "return document.querySelectorAll('[data-testid=item]').length",
                vec![],
            )
            .await?;
            bail!("{url} did not list the {docs} items within 60 s ({rows} rows)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let number = |key: &str| {
        page[key]
            .as_f64()
            .with_context(|| format!("the page did not record {key}: {page}"))
    };
    ensure!(
        page["navigation"] == "reload",
        "not a reload: navigation type {}",
        page["navigation"]
    );
    ensure!(
        page["online"] == false && page["state"] == "offline",
        "the page was not offline: {page}"
    );
    ensure!(
        page["rows"] == json!(docs) && page["rowsNow"] == json!(docs),
        "the list does not show exactly the {docs} items: {page}"
    );
    let reload = Reload {
        loading_ms: number("loadingMs")?,
        loaded_ms: number("loadedMs")?,
        listed_ms: number("listedMs")?,
        painted_ms: number("paintedMs")?,
    };
    ensure!(
        reload.loading_ms <= reload.loaded_ms && reload.loaded_ms <= reload.listed_ms,
        "the marks are out of order: {reload:?}"
    );
    Ok(reload)
}

/// One school (a unit account and its unit) with `docs` items assigned to it alone, planned
/// by the office and worked on by the school; returns the school's username.
async fn seed(storage: &dyn Storage, docs: usize) -> Result<String> {
    let (username, unit, _token) = setup::unit_accounts(storage, "idb", 1)
        .await?
        .pop()
        .context("no account")?;
    let outcome = campaigns::import_report(
        storage,
        &report(docs),
        "office",
        &rectify_server::audit::command_line(),
    )
    .await?;
    let mut records = storage.items(&outcome.campaign).await?;
    records.sort_by(|a, b| a.key.cmp(&b.key));
    ensure!(
        records.len() == docs,
        "imported {} items, not {docs}",
        records.len()
    );
    let now = rectify_server::clock::now_ms();
    let today = Date::from_unix_millis(now);
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".to_owned(),
        now_ms: now - 30 * 86_400_000,
    };
    for (i, record) in records.iter().enumerate() {
        let plan = ItemPlan {
            responsible_leader: "分管副局长".to_owned(),
            responsible_department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].to_owned()),
            units: vec![unit.clone()],
            deadline: Some(today.add_days((i % 120) as i64 - 30).to_string()),
            timing: Some(Timing::ByDeadline),
        };
        let planned = campaigns::edit_item(storage, record, &office, ItemEdit::Plan(plan)).await?;
        // A quarter not started yet; the rest in progress, a few submitted for sign-off.
        if i % 4 == 0 {
            continue;
        }
        let school = |day: i64| EditContext {
            actor: Actor {
                role: Role::Unit,
                unit: Some(UnitId::new(&unit)),
            },
            user: username.clone(),
            now_ms: office.now_ms + day * 86_400_000 + (i as i64) * 60_000,
        };
        let edit = |change: ItemEdit, day: i64| {
            let ctx = school(day);
            async move { campaigns::edit_item(storage, record, &ctx, change).await }
        };
        edit(
            ItemEdit::UnitStatus {
                unit: unit.clone(),
                to: UnitStatus::InProgress,
                reason: None,
            },
            1,
        )
        .await?;
        let mut narrative = String::new();
        for (day, sentence) in PROGRESS.iter().enumerate().take(1 + i % PROGRESS.len()) {
            narrative.push_str(sentence);
            edit(
                ItemEdit::UnitNarrative {
                    unit: unit.clone(),
                    text: narrative.clone(),
                },
                2 + day as i64 * 5,
            )
            .await?;
        }
        edit(
            ItemEdit::TickMeasure {
                unit: unit.clone(),
                measure: planned.measures.first().context("no measure")?.id.clone(),
                done: true,
            },
            20,
        )
        .await?;
        if i % 6 == 1 {
            edit(
                ItemEdit::UnitStatus {
                    unit: unit.clone(),
                    to: UnitStatus::Submitted,
                    reason: None,
                },
                25,
            )
            .await?;
        }
    }
    Ok(username)
}

/// The school's progress text, written in sittings (each one edit of the whole text).
const PROGRESS: [&str; 4] = [
    "已召开专题会议研究部署整改工作，明确分管领导和具体责任人，制定整改方案和完成时限。",
    "对照问题清单逐项排查，建立整改台账，每周更新进展情况并报送主管科室。",
    "相关管理制度已修订完善并印发执行，组织全体相关人员开展专题培训，共计三十余人次参加。",
    "开展整改落实情况自查，发现的问题已当场整改，建立长效机制，防止问题反弹。",
];

const MEASURES: [&str; 4] = [
    "建立健全台账",
    "开展专项检查",
    "修订完善管理制度",
    "组织相关人员培训",
];

/// A report of `n` items over four areas (problems of five), with two to four measures each.
fn report(n: usize) -> Report {
    let per_problem = 5;
    let per_area = n.div_ceil(4).max(1);
    let mut areas: Vec<Area> = Vec::new();
    for i in 0..n {
        let area_no = (i / per_area + 1) as u32;
        if areas.last().is_none_or(|a| a.number != area_no) {
            areas.push(Area {
                number: area_no,
                title: format!("第{area_no}方面：落实管理责任不到位的问题"),
                problems: Vec::new(),
            });
        }
        let area = areas.last_mut().expect("just pushed");
        let problem_no = ((i % per_area) / per_problem + 1) as u32;
        if area.problems.last().is_none_or(|p| p.number != problem_no) {
            area.problems.push(Problem {
                number: problem_no,
                title: format!("问题{problem_no}：制度执行不严格，监督检查流于形式"),
                items: Vec::new(),
            });
        }
        let problem = area.problems.last_mut().expect("just pushed");
        problem.items.push(Item {
            sub: Some((problem.items.len() + 1) as u32),
            title: format!(
                "第{i}项：学校食堂食品安全管理台账记录不完整，索证索票不规范，\
                 部分食材出入库登记缺失。"
            ),
            narrative: String::new(),
            status: PublicStatus::ALL[i % 3],
            status_wording: None,
            measures: MEASURES[..2 + i % 3]
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            document_numbers: Vec::new(),
            dates: Vec::new(),
        });
    }
    Report {
        campaign: CampaignHeader {
            inspector: Some("基准测试巡察组".to_owned()),
            inspected: Some(format!("一所学校的{n}项整改事项")),
            preamble: "用于测量从设备打开文档的生成数据。".to_owned(),
            ..CampaignHeader::default()
        },
        parts: Default::default(),
        areas,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_has_the_items_asked_for_in_four_areas() {
        let report = super::report(200);
        let items: usize = report
            .areas
            .iter()
            .flat_map(|a| &a.problems)
            .map(|p| p.items.len())
            .sum();
        assert_eq!(items, 200);
        assert_eq!(report.areas.len(), 4);
        assert_eq!(report.areas[0].problems.len(), 10);
    }
}
