//! Helpers for the end-to-end tests: an in-process server on a free loopback port with
//! demo accounts, the real `rectify` binary as a child process ([`process`]), our sync
//! client on a WebSocket ([`sync_client`]), and a headless Chromium driven over WebDriver.

pub mod faulty;
pub mod link;
pub mod photos;
pub mod process;
pub mod proxy;
pub mod replicas;
pub mod sim;
pub mod sync_client;
pub mod uploader;

pub use faulty::FaultyStorage;
pub use process::{ServerProcess, free_port};
pub use sync_client::SyncTestClient;

use anyhow::{Context, Result, bail};
use rectify_server::http::app;
use rectify_server::state::{AppState, ServerSettings};
use rectify_server::storage::{self, Storage};
use rectify_server::sync_ws::SyncHub;
use rectify_server::web::WebClient;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{EditContext, ItemDoc};
use rectify_shared::policy::{Actor, Role};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The demo office account (`office`) as an edit's author, at `now_ms`.
pub fn office_edit(now_ms: i64) -> EditContext {
    EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms,
    }
}

/// How `user` of `unit` edits at `now_ms` (a school's or kindergarten's account).
pub fn unit_edit(user: &str, unit: &str, now_ms: i64) -> EditContext {
    EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new(unit)),
        },
        user: user.into(),
        now_ms,
    }
}

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
    /// The evidence file service (for collecting files in tests).
    pub files: Arc<rectify_server::evidence::files::Files>,
    /// The sync hub behind `/sync` (to drop its documents from memory in tests).
    pub sync: Arc<SyncHub>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(web_root: Option<PathBuf>) -> Result<TestServer> {
        Self::start_with(web_root, ServerSettings::default()).await
    }

    /// A server with other limits (a small quota, a short grace period …).
    pub async fn start_with(
        web_root: Option<PathBuf>,
        settings: ServerSettings,
    ) -> Result<TestServer> {
        Self::start_on(web_root, settings, |storage| storage).await
    }

    /// A replica on the PostgreSQL database at `url` (several may share one, issue #18),
    /// with its own data directory for evidence files; `demo`: write the demo data first
    /// (once per database). The change feed is `settings.sync.feed` (give
    /// [`storage::change_feed`], or a [`replicas::LossyFeed`] around it). `web_root`: the
    /// built web client to serve, for a browser.
    pub async fn replica(
        url: &str,
        settings: ServerSettings,
        demo: bool,
        web_root: Option<PathBuf>,
    ) -> Result<TestServer> {
        let storage = storage::open(&storage::StorageUrl::Postgres(url.to_owned())).await?;
        if demo {
            rectify_server::demo::create_demo(storage.as_ref(), TEST_PASSWORD).await?;
        }
        let data = tempfile::tempdir()?;
        let state =
            AppState::with_settings(storage, web_root.into(), data.path(), settings).await?;
        Self::serve(data, state).await
    }

    /// A server (without the web client, default settings) on a [`FaultyStorage`] around its
    /// database, with no fault set yet; the demo data is written before the wrapper exists.
    /// `server.storage` is the wrapper (what the server uses); read around the faults with
    /// [`FaultyStorage::inner`].
    pub async fn start_faulty() -> Result<(TestServer, Arc<FaultyStorage>)> {
        let mut faulty = None;
        let server = Self::start_on(None, ServerSettings::default(), |storage| {
            let wrapper = FaultyStorage::new(storage);
            faulty = Some(Arc::clone(&wrapper));
            wrapper
        })
        .await?;
        Ok((server, faulty.context("the storage was wrapped")?))
    }

    /// A server whose storage is `wrap` applied to its database (already holding the demo
    /// data): a storage that fails or slows chosen calls, one that counts them …
    pub async fn start_on(
        web_root: Option<PathBuf>,
        settings: ServerSettings,
        wrap: impl FnOnce(Arc<dyn Storage>) -> Arc<dyn Storage>,
    ) -> Result<TestServer> {
        let data = tempfile::tempdir()?;
        let storage = storage::open_data_dir(data.path()).await?;
        rectify_server::demo::create_demo(storage.as_ref(), TEST_PASSWORD).await?;
        let storage = wrap(storage);
        let state =
            AppState::with_settings(storage, web_root.into(), data.path(), settings).await?;
        Self::serve(data, state).await
    }

    /// A server on `storage` (which holds the demo data already) keeping evidence in `store`:
    /// several of these on one database and one store act as replicas behind a load balancer.
    pub async fn start_sharing(
        storage: Arc<dyn Storage>,
        store: Arc<dyn rectify_server::blobs::BlobStore>,
    ) -> Result<TestServer> {
        let data = tempfile::tempdir()?;
        let state = AppState::with_store(
            storage,
            WebClient::Missing,
            store,
            ServerSettings::default(),
        )
        .await?;
        Self::serve(data, state).await
    }

    /// Serves `state` on a free loopback port until dropped.
    async fn serve(data: tempfile::TempDir, state: AppState) -> Result<TestServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let storage = Arc::clone(&state.storage);
        let files = Arc::clone(&state.files);
        let sync = Arc::clone(&state.sync);
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
            files,
            sync,
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
        let login = rectify_server::accounts::login(self.storage.as_ref(), request, "")
            .await
            .map_err(|err| anyhow::anyhow!("login as {username}: {err}"))?;
        Ok(login.token)
    }

    /// An item document as the server stored it, read from its storage rather than through a
    /// page or a sync connection: what survives a restart. The server persists a change
    /// before it acknowledges or relays it, so anything a client saw confirmed is here.
    pub async fn item(&self, doc_id: &str) -> Result<ItemDoc> {
        let id: DocumentId = doc_id.parse()?;
        let doc = rectify_server::campaigns::load_document(self.storage.as_ref(), &id)
            .await?
            .with_context(|| format!("the server has no document {id}"))?;
        ItemDoc::load(&doc).with_context(|| format!("document {id} is not an item"))
    }

    /// How many Automerge changes the server has stored for a document (its history's
    /// length): a typing burst is one.
    pub async fn changes(&self, doc_id: &str) -> Result<usize> {
        let id: DocumentId = doc_id.parse()?;
        let mut doc = rectify_server::campaigns::load_document(self.storage.as_ref(), &id)
            .await?
            .with_context(|| format!("the server has no document {id}"))?;
        Ok(doc.get_changes(&[]).len())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A headless Chromium behind its own chromedriver.
pub struct Browser {
    pub client: fantoccini::Client,
    /// Closed through [`Browser::close`]: Chromium quit by itself.
    closed: bool,
    driver: Child,
    /// The fresh profile of [`Browser::start`], removed after the browser closed; `None` when
    /// the caller owns the profile ([`Browser::start_with_profile`]).
    _profile: Option<tempfile::TempDir>,
    /// The profile directory in use (Chromium's `--user-data-dir`).
    profile_path: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window and a fresh
    /// profile (no cache, no service worker, no IndexedDB).
    /// Fails loudly when either is missing: `cargo xtask test` installs them.
    pub async fn start(width: u32, height: u32) -> Result<Browser> {
        let profile = tempfile::tempdir()?;
        let mut browser = Browser::launch(width, height, profile.path()).await?;
        browser._profile = Some(profile);
        Ok(browser)
    }

    /// Like [`Browser::start`], on a profile directory the caller keeps. Closing this browser
    /// and starting another on the same directory is a cold start of the app that keeps what
    /// a phone keeps: IndexedDB, the service worker and its caches, the HTTP cache, cookies.
    /// Only one browser may use a profile at a time: [`Browser::close`] the first one.
    pub async fn start_with_profile(
        width: u32,
        height: u32,
        profile_dir: &Path,
    ) -> Result<Browser> {
        std::fs::create_dir_all(profile_dir)
            .with_context(|| format!("creating the profile {}", profile_dir.display()))?;
        Browser::launch(width, height, profile_dir).await
    }

    async fn launch(width: u32, height: u32, profile: &Path) -> Result<Browser> {
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
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": args,
                // Downloads land in the profile, without asking (see `Browser::downloads`).
                "prefs": {
                    "download.default_directory": profile.join("downloads"),
                    "download.prompt_for_download": false,
                },
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
                        closed: false,
                        driver,
                        _profile: None,
                        profile_path: profile.to_owned(),
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

    /// Emulates `network` for the page from now on: chromedriver's `network_conditions`, the
    /// DevTools network emulation of the page. It may be set before the first navigation and
    /// holds across navigations (chromedriver sets it again after each one).
    ///
    /// What offline emulation does (checked with Chromium 156):
    /// - `navigator.onLine` turns false and the window gets an `offline` event at once
    ///   (`online` when it ends);
    /// - `fetch` rejects with `TypeError: Failed to fetch`; a navigation nobody else answers
    ///   fails with `net::ERR_INTERNET_DISCONNECTED` (an error from `goto`, an error page after
    ///   `refresh`);
    /// - a new WebSocket fails: `error`, then `close` with code 1006;
    /// - a WebSocket that is already open stays open and keeps carrying frames both ways (a
    ///   message sent offline is answered; still open after 35 s): it does not make a
    ///   dropped connection;
    /// - a service worker's own fetches fail only if the worker started while the page was
    ///   already offline (a new browser on a kept profile, set offline before its first
    ///   navigation). A worker that started online still reaches the network after
    ///   `set_offline(true)`, across reloads too: stop the server to be sure.
    pub async fn set_network(&self, network: Network) -> Result<()> {
        let Network {
            offline,
            latency_ms,
            download_bytes_per_sec,
            upload_bytes_per_sec,
        } = network;
        let body = serde_json::json!({ "network_conditions": {
            "offline": offline,
            "latency": latency_ms,
            "download_throughput": download_bytes_per_sec,
            "upload_throughput": upload_bytes_per_sec,
        } });
        self.client
            .issue_cmd(VendorCommand {
                path: "chromium/network_conditions",
                body,
            })
            .await
            .with_context(|| format!("setting the network conditions {network:?}"))?;
        Ok(())
    }

    /// Sends a Chrome DevTools Protocol command to the page (chromedriver's `goog/cdp/execute`)
    /// and returns its result, e.g. `Page.addScriptToEvaluateOnNewDocument` to watch a page
    /// from before its own scripts run.
    pub async fn cdp(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        let body = serde_json::json!({ "cmd": method, "params": params });
        self.client
            .issue_cmd(VendorCommand {
                path: "goog/cdp/execute",
                body,
            })
            .await
            .with_context(|| format!("the DevTools command {method}"))
    }

    /// Takes the emulated network down (`true`) or brings it back, unthrottled (`false`).
    pub async fn set_offline(&self, offline: bool) -> Result<()> {
        let network = if offline {
            Network::offline()
        } else {
            Network::unthrottled()
        };
        self.set_network(network).await
    }

    /// Opens the app at `url` and logs in as a demo account; returns once its items are
    /// listed (a school) or the dashboard counts some (those who oversee).
    pub async fn log_in(&self, url: &str, username: &str) -> Result<()> {
        use fantoccini::Locator;
        self.client.goto(url).await?;
        self.wait_for("input[name=username]")
            .await?
            .send_keys(username)
            .await?;
        self.client
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(TEST_PASSWORD)
            .await?;
        self.client
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        self.wait_for("[data-testid=item], [data-testid=dashboard]:not([data-items='0'])")
            .await?;
        Ok(())
    }

    /// Where this browser saves downloads.
    pub fn downloads(&self) -> PathBuf {
        self.profile_path.join("downloads")
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

    /// Kills Chromium with SIGKILL, as a phone's OS kills a browser or its battery dies: no
    /// unload, no flush. Every process started with this profile goes, then chromedriver.
    pub fn crash(self) -> Result<()> {
        let killed = self.kill_chromium();
        if killed == 0 {
            bail!(
                "no Chromium process with --user-data-dir={} to kill",
                self.profile_path.display()
            );
        }
        drop(self);
        Ok(())
    }

    /// SIGKILLs every process started with this browser's profile; how many there were.
    fn kill_chromium(&self) -> usize {
        let marker = format!("--user-data-dir={}", self.profile_path.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let mut killed = 0;
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let matches = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == marker.as_bytes());
            if matches
                && Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            {
                killed += 1;
            }
        }
        killed
    }

    pub async fn close(mut self) -> Result<()> {
        let result = self.client.clone().close().await;
        // Chromium quit with the session: do not kill it while it may still be writing its
        // profile (a kept profile is started again by the cold-start tests).
        self.closed = result.is_ok();
        // Stops chromedriver, then removes the profile if it is ours (see `Drop`).
        drop(self);
        result.context("closing the browser")
    }
}

impl Drop for Browser {
    /// A browser dropped without [`Browser::close`] (a failed test) still stops its
    /// chromedriver and its Chromium, which would otherwise outlive the test process (and
    /// slow every later test on a 2-core machine).
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if !self.closed {
            self.kill_chromium();
        }
    }
}

/// Network conditions for [`Browser::set_network`], as chromedriver takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub offline: bool,
    /// Added to each request before its response starts (the round trip), in milliseconds.
    pub latency_ms: u32,
    /// In bytes per second; 0 is unthrottled.
    pub download_bytes_per_sec: u32,
    /// In bytes per second; 0 is unthrottled.
    pub upload_bytes_per_sec: u32,
}

impl Network {
    /// No emulation: the loopback network as it is.
    pub fn unthrottled() -> Network {
        Network {
            offline: false,
            latency_ms: 0,
            download_bytes_per_sec: 0,
            upload_bytes_per_sec: 0,
        }
    }

    /// No network at all.
    pub fn offline() -> Network {
        Network {
            offline: true,
            ..Network::unthrottled()
        }
    }

    /// A poor mobile connection, the one first visits are measured on: 1.6 Mbit/s down,
    /// 750 kbit/s up, 300 ms round trip.
    pub fn slow_3g() -> Network {
        Network {
            offline: false,
            latency_ms: 300,
            download_bytes_per_sec: 1_600_000 / 8,
            upload_bytes_per_sec: 750_000 / 8,
        }
    }
}

/// A chromedriver command outside the WebDriver standard: `POST /session/{id}/{path}`.
#[derive(Debug)]
struct VendorCommand {
    path: &'static str,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for VendorCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        // A `Browser` always has a session; fantoccini's own commands assume the same.
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
