//! Helpers for the end-to-end tests: an in-process server on a free loopback port with
//! demo accounts, the real `rectify` binary as a child process ([`process`]), our sync
//! client on a WebSocket ([`sync_client`]), and a headless Chromium driven over WebDriver.

pub mod process;
pub mod sync_client;

pub use process::{ServerProcess, free_port};
pub use sync_client::SyncTestClient;

use anyhow::{Context, Result, bail};
use rectify_server::http::{AppState, app};
use rectify_server::storage::{self, Storage};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The password of every demo account in tests.
pub const TEST_PASSWORD: &str = "test-password";

/// The built web client. `cargo xtask test` builds it and passes `RECTIFY_WEB_ROOT`; without
/// it the tests look in `target/web` and fail with a message saying how to build it.
pub fn web_root() -> PathBuf {
    let root = std::env::var_os("RECTIFY_WEB_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web"));
    assert!(
        root.join("index.html").is_file(),
        "no web client bundle at {}: run the tests with `cargo xtask test` (or build it with `cargo xtask build`)",
        root.display()
    );
    root
}

/// A server on 127.0.0.1 with its own data directory and the demo accounts.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub storage: Arc<dyn Storage>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(web_root: Option<PathBuf>) -> Result<TestServer> {
        let data = tempfile::tempdir()?;
        let storage = storage::open_data_dir(data.path()).await?;
        rectify_server::demo::create_demo(storage.as_ref(), TEST_PASSWORD).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(storage, web_root).await?;
        let storage = Arc::clone(&state.storage);
        let router = app(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestServer {
            addr,
            data,
            storage,
            shutdown: Some(tx),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The base address for [`SyncTestClient::connect`].
    pub fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A bearer token for a demo account (logged in through the same code as `/api/login`).
    pub async fn token(&self, username: &str) -> Result<String> {
        let request = rectify_shared::api::LoginRequest {
            username: username.to_owned(),
            password: TEST_PASSWORD.to_owned(),
        };
        let login = rectify_server::accounts::login(self.storage.as_ref(), request)
            .await
            .map_err(|err| anyhow::anyhow!("login as {username}: {err}"))?;
        Ok(login.token)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A headless Chromium behind its own chromedriver, with a fresh profile.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    /// Fails loudly when either is missing: `cargo xtask test` installs them.
    pub async fn start(width: u32, height: u32) -> Result<Browser> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                bail!(
                    "{tool} is missing: run the tests with `cargo xtask test`, which installs Chromium"
                );
            }
        }
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let profile = tempfile::tempdir()?;
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": args,
                // An exact viewport (a headless window has a minimum width), touch on phones.
                "mobileEmulation": { "deviceMetrics": {
                    "width": width, "height": height, "pixelRatio": 1.0, "touch": width < 600,
                } },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; retry for up to 10 s.
        let mut last_error = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::rustls()?
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Ok(Browser {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut driver = driver;
        let _ = driver.kill();
        bail!("cannot connect to chromedriver: {last_error:?}")
    }

    /// Waits for an element, with a clear failure after 15 s.
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .with_context(|| format!("the page never showed `{css}`"))
    }

    /// Saves a screenshot under `target/screenshots/NAME.png` (for people to look at).
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await?)?;
        Ok(path)
    }

    pub async fn close(self) -> Result<()> {
        let Browser {
            client,
            mut driver,
            _profile,
        } = self;
        let result = client.close().await;
        let _ = driver.kill();
        let _ = driver.wait();
        result.context("closing the browser")
    }
}
