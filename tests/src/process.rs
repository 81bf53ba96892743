//! [`ServerProcess`]: the real `rectify` binary as a child process, for what an in-process
//! server cannot show: SIGKILL and SIGTERM, restarts on the same data, the process's memory.

use anyhow::{Context, Result, bail, ensure};
use rectify_shared::api::ItemSummary;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before it counts as failed (a debug build on a busy machine).
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// A `rectify serve` child on 127.0.0.1 with its own data directory and the demo accounts
/// (password [`crate::TEST_PASSWORD`]). Killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    binary: PathBuf,
    /// Holds `data/` and one `serve-N.log` per start.
    root: tempfile::TempDir,
    port: Option<u16>,
    child: Option<Child>,
    starts: usize,
    serve_args: Vec<String>,
    http: reqwest::Client,
}

impl ServerProcess {
    /// `rectify` next to the test executable: `target/<profile>/deps/<test>` → `target/<profile>/`.
    /// Cargo does not build another package's binary for our tests, hence the loud failure.
    pub fn test_binary() -> Result<PathBuf> {
        let exe = std::env::current_exe()?;
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .context("the test executable has no target/<profile> directory")?;
        let binary = dir.join("rectify");
        ensure!(
            binary.is_file(),
            "{} is missing: build it with `cargo build -p rectify` (same profile and \
             target directory as the tests)",
            binary.display()
        );
        Ok(binary)
    }

    /// A fresh data directory with the demo data, not yet serving.
    pub async fn prepare(binary: PathBuf) -> Result<ServerProcess> {
        ensure!(
            binary.is_file(),
            "{} is missing: build it with `cargo build -p rectify`",
            binary.display()
        );
        let root = tempfile::Builder::new()
            .prefix("rectify-process-")
            .tempdir()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let server = ServerProcess {
            binary,
            root,
            port: None,
            child: None,
            starts: 0,
            serve_args: Vec::new(),
            http,
        };
        let data = server.data_dir();
        let data = data.to_str().context("a non-UTF-8 temporary path")?;
        server
            .cli(
                &["demo", "--data", data, "--password", crate::TEST_PASSWORD],
                None,
            )
            .await?;
        Ok(server)
    }

    /// A replica on the PostgreSQL database `database` (several may share one: issue #18),
    /// with a data directory of its own for the evidence files, not yet serving. `demo`: put
    /// the demo data into the database first (once per database).
    pub async fn replica(binary: PathBuf, database: &str, demo: bool) -> Result<ServerProcess> {
        let root = tempfile::Builder::new()
            .prefix("rectify-replica-")
            .tempdir()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let server = ServerProcess {
            binary,
            root,
            port: None,
            child: None,
            starts: 0,
            serve_args: vec!["--database".to_owned(), database.to_owned()],
            http,
        };
        if demo {
            let data = server.data_dir();
            let data = data.to_str().context("a non-UTF-8 temporary path")?;
            let args = ["demo", "--data", data, "--database", database];
            let args = [&args[..], &["--password", crate::TEST_PASSWORD]].concat();
            server.cli(&args, None).await?;
        }
        Ok(server)
    }

    /// The test binary, demo data, serving.
    pub async fn start_for_tests() -> Result<ServerProcess> {
        let mut server = ServerProcess::prepare(ServerProcess::test_binary()?).await?;
        server.start().await?;
        Ok(server)
    }

    /// More arguments for `rectify serve` (limits, eviction), from the next start on.
    pub fn set_serve_args(&mut self, args: Vec<String>) {
        self.serve_args = args;
    }

    /// Logs out the session of `token` (`POST /api/logout`).
    pub async fn logout(&self, token: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/api/logout", self.http_base()))
            .bearer_auth(token)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "logout: {}",
            response.status()
        );
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The log (standard error) of the current or latest start.
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join(format!("serve-{}.log", self.starts))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port.expect("the server was started")
    }

    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port())
    }

    /// Runs `rectify ARGS` to completion (at most 60 s), with `stdin` as its input.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .context("no stdin")?
                .write_all(input.as_bytes())?;
        }
        let what = format!("rectify {}", args.join(" "));
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || child.wait_with_output()),
        )
        .await
        .with_context(|| format!("`{what}` took over 60 s"))???;
        ensure!(
            output.status.success(),
            "`{what}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts `rectify serve` and waits (at most [`START_LIMIT`]) for `GET /healthz`. The first
    /// start picks a free port (retrying if another process takes it first); later starts
    /// reuse it, so clients reconnect to the same address.
    pub async fn start(&mut self) -> Result<()> {
        ensure!(self.child.is_none(), "the server is already running");
        let mut last_error = None;
        for attempt in 0..5 {
            if attempt > 0 && self.port.is_some() {
                // The same port: give the old socket a moment to go.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let port = match self.port {
                Some(port) => port,
                None => free_port()?,
            };
            match self.start_on(port).await {
                Ok(()) => {
                    self.port = Some(port);
                    return Ok(());
                }
                Err(err) => {
                    let in_use = std::fs::read_to_string(self.log_path())
                        .is_ok_and(|log| log.contains("cannot listen"));
                    if !in_use {
                        return Err(err);
                    }
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    async fn start_on(&mut self, port: u16) -> Result<()> {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path())?;
        let data = self.data_dir();
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--web-root")
            .arg(self.root.path().join("no-web-client"))
            .args(&self.serve_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} serve", self.binary.display()))?;
        self.child = Some(child);
        let url = format!("http://127.0.0.1:{port}/healthz");
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "rectify serve exited during start ({status}):\n{}",
                    self.log_tail()
                );
            }
            let probe = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill()?;
        bail!(
            "rectify serve did not answer /healthz within {START_LIMIT:?}:\n{}",
            self.log_tail()
        )
    }

    /// The last lines of the current log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGKILL, and reaps the process: nothing gets a chance to flush or say goodbye.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then waits at most `limit` for the exit. On timeout the process is SIGKILLed
    /// and this fails: a server that does not stop on SIGTERM is a bug.
    pub async fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        let mut child = self.child.take().context("the server is not running")?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("running kill -TERM")?;
        ensure!(
            status.success(),
            "kill -TERM {} failed: {status}",
            child.id()
        );
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "rectify serve was still running {limit:?} after SIGTERM (killed it):\n{}",
            self.log_tail()
        )
    }

    /// Starts again on the same data directory and port; kills the old process if it runs.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.start().await
    }

    /// Logs in through `POST /api/login`; returns the bearer token.
    pub async fn login(&self, username: &str, password: &str) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/api/login", self.http_base()))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .with_context(|| format!("POST /api/login as {username}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        ensure!(status.is_success(), "login as {username}: {status} {body}");
        body["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no token in the login answer: {body}"))
    }

    /// A token for a demo account.
    pub async fn token(&self, username: &str) -> Result<String> {
        self.login(username, crate::TEST_PASSWORD).await
    }

    /// `GET /api/items`: the items the token's account may read.
    pub async fn items(&self, token: &str) -> Result<Vec<ItemSummary>> {
        let response = self
            .http
            .get(format!("{}/api/items", self.http_base()))
            .bearer_auth(token)
            .send()
            .await
            .context("GET /api/items")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "GET /api/items: {status} {}",
            response.text().await.unwrap_or_default()
        );
        Ok(response.json().await?)
    }

    /// `GET path` as text, or `None` when the server answers with an error status.
    pub async fn get_text(&self, path: &str) -> Result<Option<String>> {
        let response = self
            .http
            .get(format!("{}{path}", self.http_base()))
            .send()
            .await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(Some(response.text().await?))
    }

    /// The process's memory now (from `/proc/PID/status`).
    pub fn memory(&self) -> Result<Memory> {
        Memory::of(self.pid().context("the server is not running")?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident now.
    pub rss_kib: u64,
    /// The most it was ever resident (high water mark).
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// A port that was free a moment ago (the OS picks it; we let go of it at once).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
