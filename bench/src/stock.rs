//! Phase `stock`: the stock automerge-repo JS clients (`@automerge/automerge-repo` 2.5.6 with
//! its `WebSocketClientAdapter`, the versions of `bench/reference`) drive the throughput
//! workload against both servers, through `bench/reference/stock-load.mjs` (one Node.js
//! process, one Repo per client). Each client edits its own document, one change at a time,
//! and waits for the server's acknowledgement before the next (issue #17).

use crate::latency::{self, Latency};
use crate::procfs::CpuTicks;
use crate::setup::Fixture;
use anyhow::{Context, Result, bail, ensure};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How long the clients may take to connect and open their documents.
const READY_LIMIT: Duration = Duration::from_secs(120);
/// After the last acknowledgement, before the server's CPU is read again (the reference
/// writes a document at most every 100 ms after its last change).
const QUIET: Duration = Duration::from_millis(300);
/// How long the server's CPU is read doing nothing before the start, for comparison.
pub const IDLE: Duration = Duration::from_secs(1);

/// One server's run.
#[derive(Debug, Clone, Default)]
pub struct StockRun {
    pub clients: usize,
    pub changes: usize,
    /// Changes the server acknowledged.
    pub acked: usize,
    /// Clients that stopped early (no acknowledgement in time), and the first reasons.
    pub failed: usize,
    pub errors: Vec<String>,
    /// From `go` to the last acknowledgement.
    pub wall_s: f64,
    /// Per acknowledged change: the frame carrying it sent → the server's heads include it.
    pub ack_ms: Vec<f64>,
    /// Per acknowledged change: `handle.change()` → the server's heads include it (with the
    /// stock client's own throttle of 100 ms per document).
    pub change_ack_ms: Vec<f64>,
    /// Per acknowledged change: `handle.change()` → the frame carrying it sent.
    pub send_ms: Vec<f64>,
    /// Server CPU (user + system) from `go` until 300 ms after the last acknowledgement.
    pub cpu_s: f64,
    /// Server CPU over 1 s of doing nothing just before the start (all clients connected).
    pub idle_cpu_s: f64,
    /// Ours: `rectify_sync_changes_applied_total` over the same span.
    pub applied_metric: Option<f64>,
    /// The clients' setup: connect, open (or create) every document.
    pub open_s: f64,
}

impl StockRun {
    pub fn changes_per_s(&self) -> Option<f64> {
        latency::per_second(self.acked, self.wall_s)
    }

    pub fn ack(&self) -> Option<Latency> {
        Latency::of(&self.ack_ms)
    }

    pub fn change_ack(&self) -> Option<Latency> {
        Latency::of(&self.change_ack_ms)
    }

    pub fn send(&self) -> Option<Latency> {
        Latency::of(&self.send_ms)
    }

    pub fn cpu_ms_per_change(&self) -> Option<f64> {
        latency::cpu_ms_per_change(self.cpu_s, self.acked)
    }

    /// The driver's `result {...}` line.
    fn from_result(json: &serde_json::Value) -> Result<StockRun> {
        let count = |key: &str| -> Result<usize> {
            json.get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .with_context(|| format!("`{key}` missing from the driver's result"))
        };
        let times = |key: &str| -> Result<Vec<f64>> {
            json.get(key)
                .and_then(serde_json::Value::as_array)
                .with_context(|| format!("`{key}` missing from the driver's result"))?
                .iter()
                .map(|v| v.as_f64().context("a time that is not a number"))
                .collect()
        };
        let run = StockRun {
            clients: count("clients")?,
            changes: count("changes")?,
            acked: count("acked")?,
            failed: count("failed")?,
            errors: json
                .get("errors")
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            wall_s: json
                .get("wall_s")
                .and_then(serde_json::Value::as_f64)
                .context("`wall_s` missing from the driver's result")?,
            ack_ms: times("ack_ms")?,
            change_ack_ms: times("change_ack_ms")?,
            send_ms: times("send_ms")?,
            ..StockRun::default()
        };
        ensure!(
            [&run.ack_ms, &run.change_ack_ms, &run.send_ms]
                .iter()
                .all(|times| times.len() == run.acked),
            "the driver reported {} acknowledgements but {} / {} / {} times",
            run.acked,
            run.ack_ms.len(),
            run.change_ack_ms.len(),
            run.send_ms.len()
        );
        Ok(run)
    }
}

/// A line of the driver's stdout: `ready {...}` or `result {...}`.
fn parse_line(line: &str) -> Option<(&str, serde_json::Value)> {
    let (word, json) = line.trim().split_once(' ')?;
    matches!(word, "ready" | "result")
        .then(|| serde_json::from_str(json).ok())
        .flatten()
        .map(|v| (word, v))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The driver's plan: one client per school, on its school's first document. `ours`: find the
/// document by id (it is on the server); otherwise import the same document as stored before
/// the run (the reference accepts any document, under a new id).
fn plan(url: &str, fixture: &Fixture, ours: bool) -> serde_json::Value {
    let clients: Vec<serde_json::Value> = fixture
        .schools
        .iter()
        .filter_map(|school| {
            let doc = school.docs.first()?;
            let mut client = serde_json::json!({
                "token": school.token,
                "user": school.username,
                "unit": school.unit,
            });
            if ours {
                client["document"] = doc.id.to_string().into();
            } else {
                client["base"] = hex(&doc.base).into();
            }
            Some(client)
        })
        .collect();
    serde_json::json!({ "url": url, "clients": clients })
}

/// Runs `node stock-load.mjs` against the server at `ws_base` (process `pid`): waits until
/// every client is ready, reads the server's CPU, lets them go, reads it again 300 ms after the
/// result. Bounded by `limit` (the driver's own timeout; this gives up a minute later).
pub async fn drive(
    reference_dir: &Path,
    ws_base: &str,
    pid: u32,
    fixture: &Fixture,
    ours: bool,
    changes: usize,
    limit: Duration,
) -> Result<StockRun> {
    let script = reference_dir.join("stock-load.mjs");
    ensure!(script.is_file(), "{} is missing", script.display());
    ensure!(
        reference_dir
            .join("node_modules/@automerge/automerge-repo")
            .is_dir(),
        "the stock clients' packages are not installed: run `npm install --no-audit --no-fund` \
         in {} (`cargo xtask bench` does it)",
        reference_dir.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("rectify-bench-stock-")
        .tempdir()?;
    let plan_path = dir.path().join("plan.json");
    std::fs::write(
        &plan_path,
        plan(&format!("{ws_base}/sync"), fixture, ours).to_string(),
    )?;
    let log_path = dir.path().join("stock-load.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg("--plan")
        .arg(&plan_path)
        .args(["--changes", &changes.to_string()])
        .args(["--timeout", &limit.as_secs().to_string()])
        .current_dir(reference_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting `node stock-load.mjs` (is Node.js installed?)")?;
    let log_tail = || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let mut stdin = child.stdin.take().context("no stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let mut expect = async |word: &str, within: Duration| -> Result<serde_json::Value> {
        loop {
            let line = tokio::time::timeout(within, lines.next_line())
                .await
                .with_context(|| format!("no `{word}` from stock-load.mjs within {within:?}"))??;
            let Some(line) = line else {
                bail!("stock-load.mjs ended before `{word}`");
            };
            match parse_line(&line) {
                Some((w, json)) if w == word => return Ok(json),
                _ => eprintln!("    stock-load.mjs: {line}"),
            }
        }
    };
    let measured = async {
        let ready = expect("ready", READY_LIMIT).await?;
        let open_s = ready
            .get("open_s")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        eprintln!(
            "    {} stock clients ready in {open_s:.1} s; {changes} changes each",
            fixture.schools.len()
        );
        let idle = CpuTicks::of(pid)?;
        tokio::time::sleep(IDLE).await;
        let before = CpuTicks::of(pid)?;
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
        let result = expect("result", limit).await?;
        tokio::time::sleep(QUIET).await;
        let after = CpuTicks::of(pid)?;
        let mut run = StockRun::from_result(&result)?;
        run.cpu_s = before.seconds_until(after);
        run.idle_cpu_s = idle.seconds_until(before);
        run.open_s = open_s;
        anyhow::Ok(run)
    };
    let run = measured.await;
    let _ = stdin.write_all(b"stop\n").await;
    drop(stdin);
    match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
        Ok(Ok(status)) if status.success() || run.is_err() => {}
        Ok(Ok(status)) => bail!("stock-load.mjs failed ({status}):\n{}", log_tail()),
        Ok(Err(err)) => return Err(err.into()),
        Err(_) => {
            let _ = child.kill().await;
        }
    }
    let run = run.with_context(|| format!("stock-load.mjs log:\n{}", log_tail()))?;
    eprintln!(
        "    acknowledged {} of {} changes in {:.2} s; server CPU {:.2} s{}",
        run.acked,
        run.clients * run.changes,
        run.wall_s,
        run.cpu_s,
        if run.failed > 0 {
            format!(
                "; {} client(s) stopped: {}",
                run.failed,
                run.errors.join("; ")
            )
        } else {
            String::new()
        }
    );
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_lines() {
        // (line, word and a field of its JSON)
        type Want<'a> = Option<(&'a str, &'a str, f64)>;
        let cases: &[(&str, Want<'_>)] = &[
            (
                "ready {\"clients\":5,\"open_s\":0.75}",
                Some(("ready", "open_s", 0.75)),
            ),
            ("result {\"acked\":50}\n", Some(("result", "acked", 50.0))),
            ("ready", None),
            ("ready {broken", None),
            ("hello {\"a\":1}", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = parse_line(line);
            match (got, want) {
                (None, None) => {}
                (Some((word, json)), Some((w, key, value))) => {
                    assert_eq!(word, *w, "{line}");
                    assert_eq!(json[*key].as_f64(), Some(*value), "{line}");
                }
                (got, want) => panic!("{line:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_result_and_its_figures() {
        let json = serde_json::json!({
            "clients": 2, "changes": 2, "acked": 4, "failed": 0, "errors": [],
            "wall_s": 0.5,
            "ack_ms": [10.0, 20.0, 30.0, 400.0],
            "change_ack_ms": [110.0, 120.0, 130.0, 500.0],
            "send_ms": [100.0, 100.0, 100.0, 90.0],
        });
        let mut run = StockRun::from_result(&json).expect("a result");
        run.cpu_s = 0.02;
        assert_eq!(run.changes_per_s(), Some(8.0));
        let ack = run.ack().expect("times");
        assert_eq!((ack.p50, ack.p99, ack.max), (20.0, 400.0, 400.0));
        assert_eq!(run.change_ack().map(|l| l.p50), Some(120.0));
        assert_eq!(run.send().map(|l| (l.p50, l.max)), Some((100.0, 100.0)));
        assert!((run.cpu_ms_per_change().expect("acked") - 5.0).abs() < 1e-9);

        // Counts and times must agree; fields must be there.
        for key in ["ack_ms", "change_ack_ms", "send_ms"] {
            let mut short = json.clone();
            short[key] = serde_json::json!([1.0]);
            assert!(StockRun::from_result(&short).is_err(), "{key}");
        }
        let mut missing = json;
        missing.as_object_mut().expect("object").remove("wall_s");
        assert!(StockRun::from_result(&missing).is_err());
    }

    #[test]
    fn hex_of_bytes() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(hex(&[]), "");
    }
}
