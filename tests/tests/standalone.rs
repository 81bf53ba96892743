//! The `rectify` binary on its own (issue #23): copied alone into an empty directory and
//! started there with a fresh data directory, it serves the web client built into it; on
//! storage without accounts it says how to make the first one; `rectify init` makes exactly
//! one office account, refuses bad input and a second run; and a browser logs in through it.
//!
//! Needs the binary built after the web client (`cargo xtask test` does both; by hand:
//! `cargo xtask build && cargo build -p rectify`).

use anyhow::{Context, Result, ensure};
use rectify_tests::process::ServerProcess;
use rectify_tests::{Browser, TEST_PASSWORD};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `rectify ARGS` in `dir` with nothing from the test run's environment (no
/// `RECTIFY_WEB_ROOT`, no config), `stdin` on standard input.
fn rectify(binary: &Path, dir: &Path, args: &[&str], stdin: &str) -> Result<Output> {
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    Ok(child.wait_with_output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `rectify serve` child, killed when dropped; its log in `log`.
struct Serving {
    child: Child,
    log: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_alone_serves_the_app_and_init_makes_the_first_account() -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let binary = dir.path().join("rectify");
    std::fs::copy(ServerProcess::test_binary()?, &binary)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");

    // First start: no data directory, no accounts, no web root: it says how to make the
    // first account, and serves the client built in.
    let log = dir.path().join("serve.log");
    let mut serving = Serving {
        child: Command::new(&binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
        log,
    };
    let http = reqwest::Client::builder().no_proxy().build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(ok) = http.get(format!("{base}/healthz")).send().await
            && ok.status().is_success()
        {
            break;
        }
        ensure!(
            serving.child.try_wait()?.is_none(),
            "rectify serve exited: {}",
            serving.log()
        );
        ensure!(Instant::now() < deadline, "no answer: {}", serving.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let said = serving.log();
    assert!(said.contains("web client: built in"), "{said}");
    assert!(said.contains("no accounts yet"), "{said}");
    assert!(said.contains("rectify init --data ./data"), "{said}");

    // The page, its policy and a pre-compressed, immutable asset, from the binary alone.
    let page = http
        .get(format!("{base}/items/whatever"))
        .header("accept-encoding", "br")
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html");
    assert_eq!(page.headers()["content-encoding"], "br");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert!(page.headers().contains_key("content-security-policy"));
    let etag = page.headers()["etag"].clone();
    let again = http
        .get(format!("{base}/"))
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(again.status(), 304);
    let html = http.get(format!("{base}/")).send().await?.text().await?;
    // Both builds of the client (issue #22): the school build and the full one.
    let wasms: Vec<&str> = html.split('"').filter(|s| s.ends_with(".wasm")).collect();
    assert_eq!(wasms.len(), 2, "{html}");
    for build in ["school", "full"] {
        let wasm = wasms
            .iter()
            .find(|s| s.starts_with(&format!("/assets/rectify-{build}-")))
            .with_context(|| format!("no {build} build in {html}"))?;
        let asset = http
            .get(format!("{base}{wasm}"))
            .header("accept-encoding", "gzip, br;q=0")
            .send()
            .await?;
        assert_eq!(asset.status(), 200, "{wasm}");
        assert_eq!(asset.headers()["content-type"], "application/wasm");
        assert_eq!(asset.headers()["content-encoding"], "gzip");
        assert_eq!(
            asset.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
    }

    // `rectify init`: bad input refused before any storage is made, then the first account.
    let fresh = dir.path().join("fresh");
    let short = rectify(
        &binary,
        dir.path(),
        &[
            "init",
            "--data",
            "fresh",
            "--username",
            "office",
            "--password-stdin",
        ],
        "short\n",
    )?;
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("at least"), "{short:?}");
    let bad_name = rectify(
        &binary,
        dir.path(),
        &[
            "init",
            "--data",
            "fresh",
            "--username",
            "Office!",
            "--password-stdin",
        ],
        "a-good-password\n",
    )?;
    assert!(!bad_name.status.success());
    assert!(
        text(&bad_name.stderr).contains("cannot be a username"),
        "{bad_name:?}"
    );
    let no_terminal = rectify(&binary, dir.path(), &["init", "--data", "fresh"], "")?;
    assert!(!no_terminal.status.success());
    assert!(
        text(&no_terminal.stderr).contains("--password-stdin"),
        "{no_terminal:?}"
    );
    assert!(!fresh.exists(), "bad input made no storage");

    let init = ["init", "--username", "office", "--name", "领导小组办公室"];
    let made = rectify(
        &binary,
        dir.path(),
        &[&init[..], &["--password-stdin"]].concat(),
        &format!("{TEST_PASSWORD}\n"),
    )?;
    assert!(made.status.success(), "{made:?}");
    assert!(text(&made.stdout).contains("office"), "{made:?}");
    let twice = rectify(
        &binary,
        dir.path(),
        &["init", "--username", "second", "--password-stdin"],
        "another-password\n",
    )?;
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("already has 1 account(s) (office)"),
        "{twice:?}"
    );
    let users = rectify(&binary, dir.path(), &["user", "list"], "")?;
    let listed = text(&users.stdout);
    let accounts: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(accounts.len(), 1, "{listed}");
    assert!(
        accounts[0].starts_with("office") && accounts[0].contains(" office "),
        "{listed}"
    );
    assert!(accounts[0].contains("领导小组办公室"), "{listed}");

    // A browser logs in through it with the account `init` made: the office's dashboard of
    // an installation with no campaign yet.
    for (width, height) in [(1280, 800), (360, 800)] {
        let browser = Browser::start(width, height).await?;
        browser.client.goto(&base).await?;
        browser
            .wait_for("input[name=username]")
            .await?
            .send_keys("office")
            .await?;
        browser
            .wait_for("input[name=password]")
            .await?
            .send_keys(TEST_PASSWORD)
            .await?;
        browser
            .wait_for("button[type=submit]")
            .await?
            .click()
            .await?;
        browser.wait_for("[data-testid=dashboard]").await?;
        browser
            .screenshot(&format!("standalone-first-start-{width}"))
            .await?;
        browser.close().await?;
    }
    drop(serving);
    println!(
        "the standalone binary test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Issue #20: what `rectify user add`, `passwd` and `disable` do to accounts is in the audit
/// log, by the command line (`(rectify command line)`), like the office's actions over HTTP.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_account_changes_on_the_command_line_are_audited() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let binary = ServerProcess::test_binary()?;
    let run = |args: &[&str], stdin: &str| -> Result<()> {
        let out = rectify(&binary, dir.path(), args, stdin)?;
        anyhow::ensure!(out.status.success(), "rectify {args:?}: {out:?}");
        Ok(())
    };
    run(
        &["init", "--username", "office", "--password-stdin"],
        "first-password-1\n",
    )?;
    run(
        &["user", "add", "viewer2", "--role", "viewer"],
        "viewer-password-1\n",
    )?;
    run(&["user", "passwd", "viewer2"], "viewer-password-2\n")?;
    run(&["user", "disable", "viewer2"], "")?;
    run(&["user", "disable", "viewer2"], "")?;
    run(&["user", "disable", "viewer2", "--enable"], "")?;

    let storage = rectify_server::storage::open_data_dir(&dir.path().join("data")).await?;
    let log = storage
        .audit_log(&rectify_server::storage::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await?;
    let rows: Vec<(&str, &str, &str)> = log
        .iter()
        .rev()
        .map(|e| (e.account.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    let cli = rectify_server::audit::COMMAND_LINE;
    assert_eq!(
        rows,
        [
            // `rectify init`'s first office account too.
            (cli, "account_created", "office"),
            (cli, "account_created", "viewer2"),
            (cli, "password_reset", "viewer2"),
            // Disabling twice is one change.
            (cli, "account_disabled", "viewer2"),
            (cli, "account_enabled", "viewer2"),
        ]
    );
    storage.close().await;
    Ok(())
}
