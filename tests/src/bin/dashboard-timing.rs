//! `dashboard-timing`: how long the office's dashboard takes to render for a large campaign,
//! in headless Chromium, once the data is on the device.
//!
//! A server with the demo data and a generated campaign of `--items` items (a report tree
//! imported by the real importer's storage path, each item planned for one to three of the
//! demo schools, two thirds of them with the school's progress moved) is started in-process.
//! The office logs in and syncs every item into the browser (that time is printed too).
//! Then, from a light page, the hash is set to `#/dashboard` and the time until the
//! dashboard is in the DOM and a frame has been painted after it is read with
//! `performance.now()` in the page; and the time to re-render after a filter changes. Nothing
//! is asserted: it prints numbers. Needs the built client (`cargo xtask build`) and Chromium.

use anyhow::{Context, Result, bail};
use clap::Parser;
use rectify_server::campaigns;
use rectify_shared::model::{EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::report::{Area, CampaignHeader, Item, Problem, Report};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{Browser, TestServer, web_root};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "dashboard-timing",
    about = "Render time of the office's dashboard for a large campaign"
)]
struct Cli {
    /// Items in the generated campaign.
    #[arg(long, default_value_t = 5000)]
    items: usize,
    /// Renders to measure.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Give up syncing the items into the browser after this long.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

const SCHOOLS: [&str; 8] = [
    "pszx1", "pszx2", "pszx3", "psxx1", "psxx2", "psxx5", "syxx", "xjxx",
];
const DEPARTMENTS: [&str; 4] = ["jcg", "rsg", "ddnsg", "jyg"];

/// Sets the hash, then resolves with the milliseconds until `[data-testid=dashboard]` is in
/// the DOM and the frame after it has been painted.
const RENDER: &str = r#"
const [hash, done] = [arguments[0], arguments[arguments.length - 1]];
const t0 = performance.now();
location.hash = hash;
const check = () => {
  const el = document.querySelector('[data-testid=dashboard]');
  if (el) { requestAnimationFrame(() => setTimeout(() => done([performance.now() - t0, el.dataset.renderMs || ""]), 0)); }
  else if (performance.now() - t0 > 20000) { done([-1, ""]); }
  else { requestAnimationFrame(check); }
};
requestAnimationFrame(check);
"#;

/// Changes the unit filter, then resolves with the milliseconds until the count of matching
/// items changed and a frame was painted.
const FILTER: &str = r#"
const [unit, done] = [arguments[0], arguments[arguments.length - 1]];
const el = document.querySelector('[data-testid=dashboard]');
const before = el.dataset.items;
const select = document.querySelector('[data-testid=filter-unit]');
const t0 = performance.now();
select.value = unit;
select.dispatchEvent(new Event('change', { bubbles: true }));
const check = () => {
  const now = document.querySelector('[data-testid=dashboard]');
  if (now && now.dataset.items !== before) { requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0)); }
  else if (performance.now() - t0 > 20000) { done(-1); }
  else { requestAnimationFrame(check); }
};
requestAnimationFrame(check);
"#;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let server = TestServer::start(Some(web_root())).await?;
    let started = Instant::now();
    generate(&server, cli.items).await?;
    let total: usize = {
        let mut n = 0;
        for c in server.storage.campaigns().await? {
            n += server.storage.items(&c.id).await?.len();
        }
        n
    };
    eprintln!(
        "generated {} items in {:.1} s ({total} items in all)",
        cli.items,
        started.elapsed().as_secs_f64()
    );

    let browser = Browser::start(cli.width, 800).await?;
    let synced = Instant::now();
    browser.log_in(&server.url("/"), "office").await?;
    let deadline = synced + Duration::from_secs(cli.timeout_secs);
    loop {
        let state = browser
            .client
            .execute(
                "const d = document.querySelector('[data-testid=dashboard]');
                 const s = document.querySelector('[data-testid=sync-status]');
                 return [d ? Number(d.dataset.items) : 0, s ? s.dataset.state : ''];",
                vec![],
            )
            .await?;
        let items = state[0].as_u64().unwrap_or(0) as usize;
        if items == total && state[1] == "synced" {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {items} of {total} items reached the browser in {} s",
                cli.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "the office's browser synced {total} items in {:.1} s",
        synced.elapsed().as_secs_f64()
    );

    let mut renders = Vec::new();
    let mut own = Vec::new();
    for _ in 0..cli.runs {
        browser
            .client
            .execute("location.hash = '#/new-item';", vec![])
            .await?;
        browser.wait_for("[data-testid=new-item]").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let result = browser
            .client
            .execute_async(RENDER, vec![json!("#/dashboard")])
            .await?;
        let ms = result[0].as_f64().context("a time")?;
        if ms < 0.0 {
            bail!("the dashboard did not render");
        }
        renders.push(ms);
        own.push(
            result[1]
                .as_str()
                .unwrap_or_default()
                .parse::<f64>()
                .unwrap_or(0.0),
        );
    }
    let mut filters = Vec::new();
    for unit in SCHOOLS.iter().take(cli.runs.min(SCHOOLS.len())) {
        let ms = browser
            .client
            .execute_async(FILTER, vec![json!(unit)])
            .await?
            .as_f64()
            .context("a time")?;
        filters.push(ms);
    }
    browser.screenshot("dashboard-generated-1280").await?;
    println!(
        "dashboard for {total} items, {} px wide, {} runs:",
        cli.width, cli.runs
    );
    println!(
        "  hash change → dashboard painted: {}",
        summary(&mut renders)
    );
    println!(
        "  the component's own render (to DOM update): {}",
        summary(&mut own)
    );
    println!(
        "  unit filter changed → repainted: {}",
        summary(&mut filters)
    );
    browser.close().await?;
    Ok(())
}

fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let max = values[values.len() - 1];
    format!("median {median:.0} ms, max {max:.0} ms")
}

/// A campaign of `n` items over the demo schools, stored like an imported report, then
/// planned and worked on through the same edits the app makes.
async fn generate(server: &TestServer, n: usize) -> Result<()> {
    let per_problem = 5;
    let problems_per_area = n.div_ceil(per_problem * 4).max(1);
    let mut areas: Vec<Area> = (1..=4)
        .map(|a| Area {
            number: a,
            title: format!("生成的第{a}方面问题"),
            problems: Vec::new(),
        })
        .collect();
    for i in 0..n {
        let area = &mut areas[i / (problems_per_area * per_problem) % 4];
        let problem_no = (i / per_problem) % problems_per_area + 1;
        if area
            .problems
            .last()
            .is_none_or(|p| p.number as usize != problem_no)
        {
            area.problems.push(Problem {
                number: problem_no as u32,
                title: format!("问题{problem_no}"),
                items: Vec::new(),
            });
        }
        let problem = area.problems.last_mut().context("a problem")?;
        problem.items.push(Item {
            sub: Some((problem.items.len() + 1) as u32),
            title: format!("第{i}项：学校食堂食品安全管理台账记录不完整，索证索票不规范。"),
            narrative: String::new(),
            status: PublicStatus::ALL[i % 3],
            status_wording: None,
            measures: vec!["建立健全台账".to_owned(), "开展专项检查".to_owned()],
            document_numbers: Vec::new(),
            dates: Vec::new(),
        });
    }
    let report = Report {
        campaign: CampaignHeader {
            inspector: Some("生成的巡察组".to_owned()),
            inspected: Some(format!("{n}项生成的整改事项")),
            preamble: "用于测量总览页面的生成数据。".to_owned(),
            ..CampaignHeader::default()
        },
        parts: Default::default(),
        areas,
    };
    let storage = server.storage.as_ref();
    let outcome = campaigns::import_report(
        storage,
        &report,
        "office",
        &rectify_server::audit::command_line(),
    )
    .await?;
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".to_owned(),
        now_ms: rectify_server::clock::now_ms(),
    };
    let today = rectify_shared::date::Date::from_unix_millis(office.now_ms);
    for (i, record) in storage.items(&outcome.campaign).await?.iter().enumerate() {
        let units: Vec<String> = (0..1 + i % 3)
            .map(|k| SCHOOLS[(i + k * 3) % SCHOOLS.len()].to_owned())
            .collect();
        let plan = ItemPlan {
            responsible_leader: "分管副局长".to_owned(),
            responsible_department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].to_owned()),
            units: units.clone(),
            deadline: Some(today.add_days((i % 90) as i64 - 45).to_string()),
            timing: Some(Timing::ByDeadline),
        };
        let item: ItemDoc =
            campaigns::edit_item(storage, record, &office, ItemEdit::Plan(plan)).await?;
        if i % 3 != 0 {
            let unit = &units[0];
            let as_school = EditContext {
                actor: Actor {
                    role: Role::Unit,
                    unit: Some(rectify_shared::ids::UnitId::new(unit)),
                },
                user: "school".to_owned(),
                ..office.clone()
            };
            let to = if i % 3 == 1 {
                UnitStatus::InProgress
            } else {
                UnitStatus::Submitted
            };
            let mut record =
                campaigns::item_record(record.id, record.campaign_id, &item, office.now_ms);
            if to == UnitStatus::Submitted {
                // A request for sign-off needs the work described.
                let words = ItemEdit::UnitNarrative {
                    unit: unit.clone(),
                    text: "已完成整改。".to_owned(),
                };
                let item = campaigns::edit_item(storage, &record, &as_school, words).await?;
                record =
                    campaigns::item_record(record.id, record.campaign_id, &item, office.now_ms);
            }
            campaigns::edit_item(
                storage,
                &record,
                &as_school,
                ItemEdit::UnitStatus {
                    unit: unit.clone(),
                    to,
                    reason: None,
                },
            )
            .await?;
        }
    }
    Ok(())
}
