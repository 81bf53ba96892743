//! The reference automerge-repo sync server (`bench/reference/server.mjs`) as a child process.

use anyhow::{Context, Result, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long `node server.mjs` may take to print `listening on PORT`.
const START_LIMIT: Duration = Duration::from_secs(30);

/// `node server.mjs --port 0 --data DIR` on a fresh data directory. Killed when dropped.
#[derive(Debug)]
pub struct ReferenceServer {
    child: Option<Child>,
    port: u16,
    /// Holds `data/` and `server.log` (its standard error).
    root: tempfile::TempDir,
}

impl ReferenceServer {
    /// Starts the server in `dir` (the directory with `server.mjs` and its `node_modules`).
    pub async fn start(dir: &Path) -> Result<ReferenceServer> {
        ensure!(
            dir.join("node_modules/@automerge/automerge-repo").is_dir(),
            "the reference server's packages are not installed: run `npm install --no-audit \
             --no-fund` in {} (`cargo xtask bench` does it)",
            dir.display()
        );
        let root = tempfile::Builder::new()
            .prefix("rectify-bench-reference-")
            .tempdir()?;
        let log = std::fs::File::create(root.path().join("server.log"))?;
        // Extra arguments for node, for looking inside (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
        let node_args = std::env::var("BENCH_NODE_ARGS").unwrap_or_default();
        let mut child = Command::new("node")
            .args(node_args.split_whitespace())
            .arg(dir.join("server.mjs"))
            .args(["--port", "0", "--data"])
            .arg(root.path().join("data"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting `node server.mjs` (is Node.js installed?)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        });
        let mut server = ReferenceServer {
            child: Some(child),
            port: 0,
            root,
        };
        let line = match tokio::time::timeout(START_LIMIT, first_line).await {
            Ok(line) => line??,
            Err(_) => bail!(
                "the reference server printed no `listening on PORT` within {START_LIMIT:?}:\n{}",
                server.log_tail()
            ),
        };
        server.port = parse_listening(&line).with_context(|| {
            format!(
                "the reference server said {line:?} instead of `listening on PORT`:\n{}",
                server.log_tail()
            )
        })?;
        server.wait_until_joining().await?;
        Ok(server)
    }

    /// `server.mjs` prints `listening on PORT` as soon as the HTTP server listens, but the
    /// Repo connects its WebSocket adapter (which attaches the sockets' message handlers) only
    /// once its storage id is read: a connection made in between is accepted and then ignored
    /// for good. So: wait until a `join` is answered.
    async fn wait_until_joining(&self) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        let url = format!("{}/sync", self.ws_base());
        loop {
            let probe = async {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
                let join = rectify_shared::sync::client::SyncClient::new(
                    rectify_shared::sync::wire::PeerId::new(format!(
                        "bench-probe-{}",
                        std::process::id()
                    )),
                    None,
                )
                .connect();
                ws.send(WsMessage::Binary(join.into())).await?;
                while let Some(message) = ws.next().await {
                    if let WsMessage::Binary(_) = message? {
                        let _ = ws.close(None).await;
                        return anyhow::Ok(());
                    }
                }
                bail!("closed")
            };
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(500), probe).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the reference server answered no `join` within {START_LIMIT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("server.log")
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM (the server writes its documents and exits), SIGKILL after 15 s.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("the reference server did not stop within 15 s of SIGTERM (killed it)")
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The port of `listening on PORT`.
fn parse_listening(line: &str) -> Option<u16> {
    line.trim().strip_prefix("listening on ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_port_line() {
        assert_eq!(super::parse_listening("listening on 40123\n"), Some(40123));
        assert_eq!(super::parse_listening("listening on x"), None);
        assert_eq!(super::parse_listening(""), None);
    }
}
