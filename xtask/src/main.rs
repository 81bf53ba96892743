//! `cargo xtask`: everything beyond `cargo build`.
//!
//! - `cargo xtask run`: build the web client, start the server on http://127.0.0.1:8080
//!   with demo data on first start.
//! - `cargo xtask test`: fmt, clippy (native and wasm32), the web build, every test
//!   including the browser tests and the PostgreSQL storage tests. Installs what is missing
//!   (and finds or starts a PostgreSQL server: `postgres.rs`; and an S3 server, moto:
//!   `s3.rs`) and says so.
//! - `cargo xtask postgres`: the PostgreSQL server the tests would use (a private one under
//!   `target/pg` keeps running until `--stop`), for running tests by hand.
//! - `cargo xtask s3`: the S3 server the tests would use (moto, installed under
//!   `target/moto` when missing), running until Ctrl-C, for running tests by hand.
//! - `cargo xtask build`: only the web client bundle, into `target/web`.
//! - `cargo xtask modules`: checks that no crate's module graph has a cycle (also part of
//!   `test`).
//! - `cargo xtask soak`: the sync simulation over many seeds (release build).
//! - `cargo xtask fuzz`: every cargo-fuzz target for a bounded time (nightly, installed if
//!   missing).
//! - `cargo xtask bench`: sync efficiency and capacity, side by side with the reference
//!   automerge-repo server (release builds); writes `bench/RESULTS.md`.
//! - `cargo xtask dist`: the release tarball and Debian package in `target/dist`, then the
//!   packaging test that installs and starts them (`dist.rs`, `packaging.rs`; as root).

mod bench;
mod dist;
mod fuzz;
mod modules;
mod packaging;
mod postgres;
mod release;
mod s3;
mod tools;
mod web;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  run      build the web client and start the server on http://127.0.0.1:8080 with demo data
           (extra arguments go to `rectify serve`, e.g. `cargo xtask run -- --listen 0.0.0.0:8080`)
  test     everything CI runs: fmt, clippy, the web build, unit, integration and browser tests
  build    build the web client bundle into target/web
  postgres the PostgreSQL server the tests use, as `export RECTIFY_TEST_DATABASE_URL=…` (the
           variable, else 127.0.0.1:5432, else a private cluster under target/pg, which keeps
           running); --private starts the private one anyway, --stop stops it
  s3       the S3 server the tests use (RECTIFY_TEST_S3_ENDPOINT, else moto from PyPI installed
           under target/moto), with the `export …` lines to use; runs until Ctrl-C
  modules  check that no crate's module graph has a cycle (part of `test`); a directory
           argument checks that workspace instead of this one
  soak     the sync simulation over many seeds: --seeds N (200), --first S, --seed S (replay one), --replicas N
  fuzz     run each fuzz target: --seconds N (60 each), --target NAME (all); needs nightly and
           cargo-fuzz, installed when missing
  bench    sync efficiency and capacity, ours and the reference automerge-repo server side by
           side (release builds, about 10 minutes); writes bench/RESULTS.md. Arguments go to the
           bench (`cargo xtask bench --help`), e.g. --quick or --only reconnect,idle; a run
           with arguments writes target/bench/RESULTS.md instead
  dist     the release artifacts in target/dist: rectify-<version>-x86_64-linux.tar.gz and
           the Debian package (release build; installs cargo-deb and cargo-about under
           target/tools when missing), then the packaging test: the .deb installed into a
           clean root with dpkg, the tarball unpacked, each started and reached (as root)
";

/// The demo accounts' password for `cargo xtask run` (a local, loopback-only server).
const DEMO_PASSWORD: &str = "rectify-demo";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("build") => web::build(&workspace_root()).map(|_| ()),
        Some("postgres") => test_database(&args[1..]),
        Some("s3") => s3::serve_for_hand_runs(&workspace_root()),
        Some("modules") => modules::check(&args.get(1).map_or_else(workspace_root, PathBuf::from)),
        Some("soak") => soak(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("dist") => dist::dist(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nxtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// Prints a step's header, so the log says what is running.
pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs a command in the workspace root and fails with its command line when it fails.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(extra: &[String]) -> Result<()> {
    let root = workspace_root();
    let started = Instant::now();
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_opt(&root)?;
    let web_root = web::build(&root)?;
    step("building the server");
    run_cmd(cargo().args([
        "build",
        "--quiet",
        "--package",
        "rectify",
        "--bin",
        "rectify",
    ]))?;
    let rectify = root.join("target/debug/rectify");
    let data = std::env::var("RECTIFY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("data"));
    // A new data directory (missing or empty) gets the demo; which files a database is made of
    // is the server's business.
    if !std::fs::read_dir(&data).is_ok_and(|mut entries| entries.next().is_some()) {
        step("first start: creating the demo data");
        run_cmd(
            Command::new(&rectify)
                .arg("demo")
                .arg("--data")
                .arg(&data)
                .args(["--password", DEMO_PASSWORD]),
        )?;
    }
    let listen = std::env::var("RECTIFY_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    println!(
        "\nRectify is starting (ready in {:.1} s).\n\n  Open  http://{listen}\n  Data  {}\n\n  Demo logins (password: {DEMO_PASSWORD}):\n    office    领导小组办公室 (plans, reviews, signs off)\n    school1   彭山一中 (a school)\n    school2   彭山三中 (another school)\n    viewer    派驻纪检组 (reads everything)\n    dept-djg  党建股 (a department; dept-jcg, dept-rsg … likewise)\n\n  Stop with Ctrl-C.\n",
        started.elapsed().as_secs_f64(),
        data.display()
    );
    let mut serve = Command::new(&rectify);
    serve
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .arg("--web-root")
        .arg(&web_root)
        .arg("--listen")
        .arg(&listen)
        .args(extra);
    run_cmd(&mut serve)
}

/// `cargo xtask postgres [--private | --stop]`.
fn test_database(args: &[String]) -> Result<()> {
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("--stop") => postgres::stop_private(&root),
        Some("--private") | None => {
            step("the PostgreSQL server for the tests");
            let database = postgres::ensure(&root, !args.is_empty())?;
            // Left running: the point is to run tests by hand against it.
            println!("\nexport {}={}", postgres::TEST_DATABASE_ENV, database.url);
            Ok(())
        }
        Some(other) => bail!("unknown argument '{other}': use --private or --stop"),
    }
}

/// The simulation in release mode, over many seeds on every core.
fn soak(args: &[String]) -> Result<()> {
    step("the sync simulation: cargo run --release -p rectify-tests --bin soak");
    run_cmd(
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "rectify-tests",
                "--bin",
                "soak",
                "--",
            ])
            .args(args),
    )
}

fn test() -> Result<()> {
    let root = workspace_root();
    let started = Instant::now();
    let mut timings: Vec<(&str, f64)> = Vec::new();
    let mut timed = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        f()?;
        timings.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    timed("tools", &mut || {
        step("checking the tools the tests need");
        tools::ensure_wasm_target()?;
        tools::ensure_wasm_opt(&root)?;
        tools::ensure_chromium()?;
        tools::ensure_node_test_packages(&root)?;
        tools::ensure_nextest()
    })?;
    timed("fmt", &mut || {
        step("cargo fmt --check");
        run_cmd(cargo().args(["fmt", "--all", "--check"]))
    })?;
    timed("module cycles", &mut || {
        step("no module cycles (cargo xtask modules)");
        modules::check(&root)
    })?;
    timed("clippy (native)", &mut || {
        step("cargo clippy --workspace --all-targets, native");
        run_cmd(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    timed("clippy (wasm32)", &mut || {
        step("cargo clippy, wasm32 (the client's school build)");
        run_cmd(cargo().args([
            "clippy",
            "--package",
            "rectify-client",
            "--package",
            "rectify-shared",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))?;
        // The full build (`office`) has every page: both builds must be clean.
        step("cargo clippy, wasm32 (the client's full build)");
        run_cmd(cargo().args([
            "clippy",
            "--package",
            "rectify-client",
            "--features",
            "office",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    let mut web_root = PathBuf::new();
    timed("web build", &mut || {
        web_root = web::build(&root)?;
        Ok(())
    })?;
    // After the web build, so it holds this client: the process tests run it, and one copies
    // it alone into an empty directory (`tests/tests/standalone.rs`). Cargo builds another
    // package's binary for no test, hence this step.
    timed("rectify binary", &mut || {
        step("building the rectify binary (web client built in)");
        run_cmd(cargo().args(["build", "--package", "rectify", "--bin", "rectify"]))
    })?;
    // Last before the tests, so a private cluster (and the S3 server) is stopped on every way
    // out.
    let mut database = None;
    timed("postgres", &mut || {
        step("the PostgreSQL server for the storage tests");
        database = Some(postgres::ensure(&root, false)?);
        Ok(())
    })?;
    let database = database.expect("set by the step above");
    step("the S3 server for the evidence tests");
    let s3 = match s3::ensure(&root) {
        Ok(s3) => s3,
        Err(err) => {
            database.stop();
            return Err(err);
        }
    };
    let tested = timed("tests", &mut || {
        step("unit, integration, simulation and browser tests");
        let mut cmd = cargo();
        cmd.args([
            "nextest",
            "run",
            "--workspace",
            "--exclude",
            "rectify-client",
            "--no-fail-fast",
        ])
        .env("RECTIFY_WEB_ROOT", &web_root)
        .env(postgres::TEST_DATABASE_ENV, &database.url)
        .envs(s3.env());
        run_cmd(&mut cmd)
    });
    // A private PostgreSQL cluster and the S3 server stop whatever the tests said.
    database.stop();
    s3.stop();
    tested?;

    println!(
        "\nAll checks passed in {:.0} s:",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in timings {
        println!("  {name:<16} {secs:>6.1} s");
    }
    Ok(())
}
