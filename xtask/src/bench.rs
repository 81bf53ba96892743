//! `cargo xtask bench`: sync efficiency and capacity, side by side with the reference
//! automerge-repo sync server (issue #9). Builds `rectify`, `sync-load`, `replica-latency` and
//! `bench` in release, the web client (for its size), installs the reference server's npm
//! packages, finds (or starts) PostgreSQL for the scale-out phase, runs the bench and writes
//! `bench/RESULTS.md`.

use crate::{cargo, run_cmd, step, web, workspace_root};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Where a full run writes its results; runs with arguments write under `target/` instead, so
/// a quick or partial run never replaces the figures to quote.
const RESULTS: &str = "bench/RESULTS.md";
const PARTIAL_RESULTS: &str = "target/bench/RESULTS.md";

pub fn bench(args: &[String]) -> Result<()> {
    let args = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    let root = workspace_root();
    let started = Instant::now();
    let mut ran = vec![
        format!("cargo xtask bench {}", args.join(" "))
            .trim_end()
            .to_owned(),
    ];

    let build = [
        "build",
        "--release",
        "--package",
        "rectify",
        "--bin",
        "rectify",
        "--package",
        "rectify-tests",
        "--bin",
        "sync-load",
        "--bin",
        "replica-latency",
        "--package",
        "rectify-bench",
        "--bin",
        "bench",
    ];
    step("building rectify, sync-load, replica-latency and bench (release)");
    run_cmd(cargo().args(build))?;
    ran.push(format!("cargo {}", build.join(" ")));

    if runs_phase(args, "client") {
        web::build(&root)?;
        ran.push(
            "cargo xtask build   # the web client: its size, and opening it in Chromium".to_owned(),
        );
        // The open-from-IndexedDB figure needs Chromium, installed as `cargo xtask test` does.
        crate::tools::ensure_chromium()?;
    }
    // The reference server and the stock JS clients (phase `stock`) share these packages.
    if ["reconnect", "idle", "capacity", "stock"]
        .iter()
        .any(|phase| runs_phase(args, phase))
    {
        ensure_reference_packages(&root)?;
        ran.push("npm install --prefix bench/reference --no-audit --no-fund".to_owned());
    }

    let explicit_results = args
        .iter()
        .any(|a| a == "--results" || a.starts_with("--results="));
    let results = if args.is_empty() {
        RESULTS
    } else {
        PARTIAL_RESULTS
    };
    let mut cmd = Command::new(root.join("target/release/bench"));
    if !explicit_results {
        std::fs::create_dir_all(root.join(results).parent().unwrap_or(Path::new(".")))?;
        cmd.args(["--results", results]);
    }
    for command in &ran {
        cmd.args(["--ran", command]);
    }
    cmd.args(args);
    // The scale-out phase's replicas share a PostgreSQL database, found or started as for the
    // tests (and a private cluster stopped at the end).
    let database = if runs_phase(args, "scale-out") {
        let database = crate::postgres::ensure(&root, false)?;
        cmd.env(crate::postgres::TEST_DATABASE_ENV, &database.url);
        Some(database)
    } else {
        None
    };
    step("running the bench (target/release/bench)");
    let ran_bench = run_cmd(&mut cmd);
    if let Some(database) = database {
        database.stop();
    }
    ran_bench?;
    if !explicit_results {
        println!(
            "\nResults in {results} ({:.1} minutes in all).",
            started.elapsed().as_secs_f64() / 60.0
        );
    }
    Ok(())
}

/// Whether the bench's `--only` (absent: every phase) includes `phase`.
fn runs_phase(args: &[String], phase: &str) -> bool {
    let mut only: Option<String> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--only" {
            only = iter.next().cloned();
        } else if let Some(value) = arg.strip_prefix("--only=") {
            only = Some(value.to_owned());
        }
    }
    only.is_none_or(|list| list.split(',').any(|p| p.trim() == phase))
}

/// The reference server's npm packages, locked in `bench/reference/package-lock.json`.
fn ensure_reference_packages(root: &Path) -> Result<()> {
    if root
        .join("bench/reference/node_modules/@automerge/automerge-repo")
        .is_dir()
    {
        return Ok(());
    }
    if Command::new("npm").arg("--version").output().is_err() {
        bail!(
            "npm was not found. The bench runs the reference automerge-repo sync server on \
             Node.js: install Node.js 20 or newer with npm (Debian: `apt-get install nodejs npm`)."
        );
    }
    // `npm install`, not `npm ci`: npm 11 calls the lock out of sync because cbor-x's optional
    // `@cbor-extract/*` packages are named but not listed (see bench/reference/README.md).
    step("installing the reference server's packages: npm install in bench/reference (locked)");
    run_cmd(Command::new("npm").args([
        "install",
        "--prefix",
        "bench/reference",
        "--no-audit",
        "--no-fund",
    ]))
}

#[cfg(test)]
mod tests {
    use super::runs_phase;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_selects_phases() {
        assert!(runs_phase(&args(&[]), "client"));
        assert!(runs_phase(&args(&["--quick"]), "client"));
        assert!(!runs_phase(&args(&["--only", "reconnect,idle"]), "client"));
        assert!(runs_phase(&args(&["--only=idle,client"]), "client"));
        assert!(runs_phase(&args(&["--only", "capacity"]), "capacity"));
        assert!(runs_phase(&args(&["--only", "stock,single-doc"]), "stock"));
        assert!(!runs_phase(&args(&["--only", "single-doc"]), "stock"));
    }
}
