//! Finding, and where possible installing, the tools the build and the tests need.
//! Every install is announced; what cannot be installed stops with a message that says
//! exactly what to install.

use crate::{run_cmd, step};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// `apt-get update` then `apt-get install` of `packages`, without recommends or questions.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// `rustup target add wasm32-unknown-unknown` when the target is missing.
pub fn ensure_wasm_target() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]));
    let Some(installed) = installed else {
        bail!(
            "rustup was not found. The client is built for wasm32-unknown-unknown: install Rust with \
             rustup (https://rustup.rs), or add the target to your toolchain by other means."
        );
    };
    if installed
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    step("installing the wasm32-unknown-unknown target (rustup target add wasm32-unknown-unknown)");
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// `wasm-opt` from the npm package `binaryen`, pinned in `xtask/package-lock.json`
/// (Debian's binaryen is too old to read the WASM today's Rust writes).
pub fn wasm_opt_path(root: &Path) -> PathBuf {
    root.join("xtask/node_modules/.bin/wasm-opt")
}

pub fn ensure_wasm_opt(root: &Path) -> Result<()> {
    if wasm_opt_path(root).exists() {
        return Ok(());
    }
    if !succeeds(Command::new("npm").arg("--version")) {
        bail!(
            "npm was not found. It installs wasm-opt (npm package `binaryen`) for the web build: \
             install Node.js 20 or newer with npm (Debian: `apt-get install nodejs npm`)."
        );
    }
    step("installing wasm-opt: npm ci in xtask/ (the pinned npm package `binaryen`)");
    run_cmd(Command::new("npm").args(["ci", "--prefix", "xtask", "--no-audit", "--no-fund"]))?;
    if !wasm_opt_path(root).exists() {
        bail!(
            "npm ci finished but {} is missing",
            wasm_opt_path(root).display()
        );
    }
    Ok(())
}

/// A CJK font, so that screenshots of the (Chinese) UI show text rather than boxes.
const CJK_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// Debian's `chromium` and `chromium-driver` for the browser tests (and a small CJK font for
/// readable screenshots), installed with apt-get when running as root.
pub fn ensure_chromium() -> Result<()> {
    let have = |path: &str| Path::new(path).exists();
    if have(CHROMIUM) && have(CHROMEDRIVER) && have(CJK_FONT) {
        return Ok(());
    }
    if have(CHROMIUM) && have(CHROMEDRIVER) && !is_root() {
        println!(
            "    note: no CJK font ({CJK_FONT}); screenshots will show boxes for Chinese text"
        );
        return Ok(());
    }
    if !is_root() || !succeeds(Command::new("apt-get").arg("--version")) {
        bail!(
            "the browser tests need {CHROMIUM} and {CHROMEDRIVER}. Install them with \
             `sudo apt-get install chromium chromium-driver` (Debian) and run again."
        );
    }
    step(
        "installing Chromium for the browser tests: apt-get install chromium chromium-driver fonts-wqy-microhei",
    );
    apt_install(&["chromium", "chromium-driver", "fonts-wqy-microhei"])?;
    if !(have(CHROMIUM) && have(CHROMEDRIVER)) {
        bail!("apt-get finished but {CHROMIUM} or {CHROMEDRIVER} is still missing");
    }
    Ok(())
}

/// cargo-nextest runs the tests (it is on this kind of machine); installed from crates.io
/// when missing.
pub fn ensure_nextest() -> Result<()> {
    if succeeds(Command::new("cargo").args(["nextest", "--version"])) {
        return Ok(());
    }
    step("installing cargo-nextest (cargo install cargo-nextest --locked)");
    run_cmd(Command::new("cargo").args(["install", "cargo-nextest", "--locked"]))
}

/// The npm packages of the Node tests (stock automerge-repo clients), from
/// `tests/node/package-lock.json`.
pub fn ensure_node_test_packages(root: &Path) -> Result<()> {
    if root
        .join("tests/node/node_modules/@automerge/automerge-repo")
        .is_dir()
    {
        return Ok(());
    }
    if !succeeds(Command::new("node").arg("--version"))
        || !succeeds(Command::new("npm").arg("--version"))
    {
        bail!(
            "node and npm were not found. The tests run stock automerge-repo clients on Node.js: \
             install Node.js 20 or newer with npm (Debian: `apt-get install nodejs npm`)."
        );
    }
    // `npm install` with the lock file installs exactly the locked versions. Not `npm ci`:
    // npm 11 refuses this lock as out of sync because cbor-x's optional, platform-specific
    // `@cbor-extract/*` packages are named but not listed (they are not needed).
    step("installing the Node tests' packages: npm install in tests/node (automerge-repo, locked)");
    run_cmd(Command::new("npm").args([
        "install",
        "--prefix",
        "tests/node",
        "--no-audit",
        "--no-fund",
    ]))
}
