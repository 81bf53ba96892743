//! `client-timing`: how soon the web client can be used on a phone, in headless Chromium.
//!
//! - first visit: a fresh profile over an emulated poor mobile network ([`Network::slow_3g`]:
//!   1.6 Mbit/s down, 750 kbit/s up, 300 ms round trip); the time from navigation start until
//!   the login form is interactive, and the bytes transferred.
//! - offline reload: in the same browser, once the service worker controls the page, a school
//!   logs in and syncs, the network is taken down and the page reloaded; the time until its
//!   items show (read from IndexedDB). "Down" is emulated offline and the server stopped,
//!   because the emulation does not reach a service worker that started online.
//! - offline cold start: a new browser on the same profile (the app closed and opened again),
//!   offline from the start: the time until the school's items show.
//!
//! "Interactive" is the moment `input[name=username]` exists and is enabled (or, logged in,
//! the first `[data-testid=item]` is there), read as
//! `performance.now()` in the page (0 is navigation start) by a script installed before the
//! page's own scripts run, so WebDriver's round trips do not count. Nothing is asserted: it
//! prints numbers. Needs the built client (`cargo xtask build`) and Chromium.

use anyhow::{Context, Result, bail};
use clap::Parser;
use rectify_tests::{Browser, Network, TestServer, web_root};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "client-timing",
    about = "Time to an interactive login form: first visit on a slow network, offline reload"
)]
struct Cli {
    /// Measurements of each kind, each first visit with a fresh profile.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The viewport, in CSS pixels.
    #[arg(long, default_value_t = 360)]
    width: u32,
    #[arg(long, default_value_t = 800)]
    height: u32,
    /// The built web client; by default `target/web` (or `RECTIFY_WEB_ROOT`).
    #[arg(long)]
    web_root: Option<PathBuf>,
    /// A page that is not interactive after this long fails the run.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// Installed on every new document before the page's scripts: records when the login form
/// becomes interactive (`login`) and when a logged-in user's item list shows (`items`), with
/// the bytes transferred by then.
const WATCH_LOGIN_FORM: &str = r#"
(() => {
  if (window !== window.top) return;
  const transferred = () =>
    performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
      .reduce((sum, entry) => sum + (entry.transferSize || 0), 0);
  window.__rectifyTiming = {};
  const mark = (name) => {
    if (!window.__rectifyTiming[name]) {
      window.__rectifyTiming[name] = { interactiveMs: performance.now(), bytes: transferred() };
    }
  };
  const check = () => {
    const input = document.querySelector("input[name=username]");
    if (input && !input.disabled) mark("login");
    // A logged-in user: the list of items, read from the device.
    if (document.querySelector("[data-testid=item]")) mark("items");
  };
  const observer = new MutationObserver(check);
  // The document has no element yet; `disabled` is watched for a form rendered disabled.
  observer.observe(document, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"],
  });
  window.__rectifyTransferred = transferred;
})();
"#;

/// One measurement of a page load.
#[derive(Debug, Clone, Copy)]
struct Load {
    interactive_ms: f64,
    /// Transferred by the time the form was interactive.
    bytes: f64,
    /// Transferred by the page once the service worker controls it (what the worker fetches to
    /// precache is its own, not counted).
    bytes_settled: f64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = cli.web_root.clone().unwrap_or_else(web_root);
    anyhow::ensure!(
        root.join("index.html").is_file(),
        "no web client at {}: build it with `cargo xtask build`",
        root.display()
    );
    anyhow::ensure!(cli.runs > 0, "nothing to do: --runs 0");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli, root))
}

async fn run(cli: Cli, root: PathBuf) -> Result<()> {
    println!("command: {}", command_line());
    println!("web client: {}", root.display());
    let limit = Duration::from_secs(cli.timeout_secs);
    let network = Network::slow_3g();
    println!(
        "viewport {}×{}; first visit over {} kbit/s down, {} kbit/s up, {} ms round trip",
        cli.width,
        cli.height,
        network.download_bytes_per_sec * 8 / 1000,
        network.upload_bytes_per_sec * 8 / 1000,
        network.latency_ms
    );

    let (mut first, mut reload, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    let mut user_agent = String::new();
    for run in 1..=cli.runs {
        // A server per run: it is stopped for the offline measurements.
        let server = TestServer::start(Some(root.clone())).await?;
        let url = server.url("/");
        let profile = tempfile::tempdir()?;
        let browser = Browser::start_with_profile(cli.width, cli.height, profile.path()).await?;
        let mut server = Some(server);
        let measured = async {
            if user_agent.is_empty() {
                user_agent = script(&browser, "return navigator.userAgent")
                    .await?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
            watch(&browser).await?;
            browser.set_network(network).await?;
            browser.client.goto(&url).await?;
            let a = interactive(&browser, "login", limit).await?;
            let a = Load {
                bytes_settled: await_service_worker(&browser, limit).await?,
                ..a
            };
            // A school logs in and syncs its items onto the device.
            browser.set_network(Network::unthrottled()).await?;
            log_in(&browser, limit).await?;
            // Offline emulation does not reach a service worker that started online: its
            // network-first fetch of the page would still get through. With the server gone
            // too, nothing can.
            stop(server.take()).await?;
            browser.set_offline(true).await?;
            browser.client.refresh().await?;
            let b = interactive(&browser, "items", limit).await?;
            anyhow::Ok((a, b))
        }
        .await;
        // Closed either way, so that a failed run leaves no browser behind.
        browser.close().await?;
        drop(server);
        let (a, b) = measured.with_context(|| format!("run {run}"))?;

        // The app opened again with no network: a new browser on the same profile.
        let browser = Browser::start_with_profile(cli.width, cli.height, profile.path()).await?;
        let measured = async {
            watch(&browser).await?;
            browser.set_offline(true).await?;
            browser.client.goto(&url).await?;
            interactive(&browser, "items", limit).await
        }
        .await;
        browser.close().await?;
        let c = measured.with_context(|| format!("run {run}, offline cold start"))?;
        println!(
            "run {run}: first visit {:.0} ms ({}), offline reload {:.0} ms, offline cold start {:.0} ms",
            a.interactive_ms,
            kib(a.bytes),
            b.interactive_ms,
            c.interactive_ms
        );
        first.push(a);
        reload.push(b);
        cold.push(c);
    }

    println!();
    println!("browser: {user_agent}");
    println!("{} run(s); median [min – max]", cli.runs);
    let times = |loads: &[Load]| Summary::of(loads.iter().map(|l| l.interactive_ms).collect());
    let bytes = |loads: &[Load], f: fn(&Load) -> f64| Summary::of(loads.iter().map(f).collect());
    println!(
        "  first visit, slow 3G     interactive {}",
        times(&first).show(|v| format!("{v:.0} ms"))
    );
    println!(
        "                           transferred {} by then, {} settled",
        bytes(&first, |l| l.bytes).show(kib),
        bytes(&first, |l| l.bytes_settled).show(kib)
    );
    println!(
        "  offline reload, school   items shown {}",
        times(&reload).show(|v| format!("{v:.0} ms"))
    );
    println!(
        "  offline cold start       items shown {}",
        times(&cold).show(|v| format!("{v:.0} ms"))
    );
    let json = json!({
        "runs": cli.runs,
        "viewport": [cli.width, cli.height],
        "first_visit_ms": times(&first).json(),
        "first_visit_bytes": bytes(&first, |l| l.bytes).json(),
        "first_visit_bytes_settled": bytes(&first, |l| l.bytes_settled).json(),
        "offline_reload_ms": times(&reload).json(),
        "offline_cold_start_ms": times(&cold).json(),
    });
    println!("{json}");
    Ok(())
}

/// This program's command line, as it can be pasted into a shell.
fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stops the server and waits until its port refuses connections.
async fn stop(server: Option<TestServer>) -> Result<()> {
    let Some(server) = server else { return Ok(()) };
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

async fn script(browser: &Browser, js: &str) -> Result<Value> {
    Ok(browser.client.execute(js, Vec::new()).await?)
}

/// Installs [`WATCH_LOGIN_FORM`] for every later navigation of this browser's page.
async fn watch(browser: &Browser) -> Result<()> {
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": WATCH_LOGIN_FORM }),
        )
        .await?;
    Ok(())
}

/// Logs in as the demo school and waits until its items are synced onto the device.
async fn log_in(browser: &Browser, limit: Duration) -> Result<()> {
    const LOG_IN: &str = r#"
        const done = arguments[arguments.length - 1];
        const field = (name) => document.querySelector(`input[name=${name}]`);
        const type = (input, value) => {
          input.value = value;
          input.dispatchEvent(new Event("input", { bubbles: true }));
        };
        type(field("username"), "school1");
        type(field("password"), arguments[0]);
        document.querySelector("button[type=submit]").click();
        const poll = setInterval(() => {
          const status = document.querySelector("[data-testid=sync-status]");
          if (status && status.dataset.state === "synced") { clearInterval(poll); done("synced"); }
        }, 100);
    "#;
    browser
        .client
        .update_timeouts(script_timeout(limit))
        .await?;
    let state = browser
        .client
        .execute_async(LOG_IN, vec![json!(rectify_tests::TEST_PASSWORD)])
        .await
        .context("logging in as school1 and syncing")?;
    anyhow::ensure!(state == json!("synced"), "after logging in: {state}");
    Ok(())
}

/// Waits until the current page recorded `mark` (`login` or `items`).
async fn interactive(browser: &Browser, mark: &str, limit: Duration) -> Result<Load> {
    let started = Instant::now();
    loop {
        let timing = script(
            browser,
            &format!("return (window.__rectifyTiming || {{}})[{mark:?}] || null"),
        )
        .await?;
        if let (Some(ms), Some(bytes)) =
            (timing["interactiveMs"].as_f64(), timing["bytes"].as_f64())
        {
            return Ok(Load {
                interactive_ms: ms,
                bytes,
                bytes_settled: bytes,
            });
        }
        if started.elapsed() > limit {
            let url = browser.client.current_url().await?;
            bail!("{mark} at {url} was not interactive after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the service worker is active and controls the page; returns the bytes the page
/// had transferred by then. The worker claims open pages when it activates, which can come
/// a moment after `ready`; if it never does, one reload puts the page under its control.
async fn await_service_worker(browser: &Browser, limit: Duration) -> Result<f64> {
    const READY: &str = r#"
        const [limit, done] = [arguments[0], arguments[arguments.length - 1]];
        const answer = (state) => done({ state, bytes: window.__rectifyTransferred() });
        if (!("serviceWorker" in navigator)) { answer("unsupported"); return; }
        const sw = navigator.serviceWorker;
        const timeout = setTimeout(() => answer(sw.controller ? "controlled" : "not ready"), limit);
        sw.ready.then(() => {
          if (sw.controller) { clearTimeout(timeout); answer("controlled"); return; }
          sw.addEventListener("controllerchange", () => { clearTimeout(timeout); answer("controlled"); });
        });
    "#;
    let started = Instant::now();
    browser
        .client
        .update_timeouts(script_timeout(limit))
        .await?;
    let ready = browser
        .client
        .execute_async(READY, vec![json!(limit.as_millis() as u64)])
        .await?;
    let bytes = ready["bytes"]
        .as_f64()
        .context("the page did not say how much it transferred")?;
    match ready["state"].as_str() {
        Some("controlled") => {}
        Some("not ready") => {
            browser.client.refresh().await?;
            let left = limit.saturating_sub(started.elapsed());
            let again = browser
                .client
                .execute_async(READY, vec![json!(left.as_millis() as u64)])
                .await?;
            if again["state"].as_str() != Some("controlled") {
                bail!("the service worker does not control the page after a reload: {again}");
            }
        }
        _ => bail!("no service worker: {ready}"),
    }
    Ok(bytes)
}

/// WebDriver's script timeout a little above `limit`, so that the page's own timer answers.
fn script_timeout(limit: Duration) -> fantoccini::wd::TimeoutConfiguration {
    fantoccini::wd::TimeoutConfiguration::new(Some(limit + Duration::from_secs(5)), None, None)
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

/// Median, minimum and maximum of some measurements.
#[derive(Debug, Clone, Copy)]
struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Summary {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Summary {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }

    fn show(self, unit: impl Fn(f64) -> String) -> String {
        format!(
            "{} [{} – {}]",
            unit(self.median),
            unit(self.min),
            unit(self.max)
        )
    }

    fn json(self) -> Value {
        json!({ "median": self.median, "min": self.min, "max": self.max })
    }
}
