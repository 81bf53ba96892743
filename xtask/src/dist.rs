//! `cargo xtask dist`: the release artifacts in `target/dist/`, then the packaging test
//! (`packaging.rs`), which installs and starts them.
//!
//! - `rectify-<version>-x86_64-linux.tar.gz`: the binary, the config files, the systemd units,
//!   the backup script, README, deploy.md and the third-party licence notice;
//! - `rectify_<version>-1_amd64.deb`, made by cargo-deb from `[package.metadata.deb]` in
//!   `rectify/Cargo.toml`.
//!
//! The packaging files live in `server/dist/`. cargo-deb and cargo-about are installed under
//! `target/tools` (pinned, `cargo install --locked`) when missing. Runs only on demand, never
//! in `cargo xtask test`.

use crate::release::{Artifacts, PACKAGED, Packaged};
use crate::{cargo, packaging, run_cmd, step, workspace_root};
use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's version (every crate inherits `workspace.package.version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The target the artifacts are for, as their names say it.
const ARCH: &str = "x86_64-linux";

/// A packaging tool, pinned: installed with `cargo install --locked` into `target/tools`.
struct Tool {
    name: &'static str,
    version: &'static str,
    /// The crate's features its binary needs (cargo-about builds no binary without `cli`,
    /// and `cargo install` then succeeds having installed nothing).
    features: &'static [&'static str],
}

const CARGO_DEB: Tool = Tool {
    name: "cargo-deb",
    version: "3.8.0",
    features: &[],
};
const CARGO_ABOUT: Tool = Tool {
    name: "cargo-about",
    version: "0.9.3",
    features: &["cli"],
};

/// The packaging files, relative to the workspace root.
const DIST_FILES: &str = "server/dist";

pub fn dist(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask dist` takes no arguments (got '{arg}')");
    }
    let root = workspace_root();
    packaging::check_prerequisites()?;
    let tools = ensure_tools(&root)?;
    // The web client first: the binary builds `target/web` into itself (`rectify/build.rs`).
    crate::web::build(&root)?;
    let built = build(&root)?;
    let out = root.join("target/dist");
    fs::create_dir_all(&out)?;
    let notice = licence_notice(&root, &tools, &out)?;
    let (tarball, binary, top) = tarball(&root, &built, &notice, &out)?;
    let deb = deb(&root, &tools, &out)?;
    let artifacts = Artifacts {
        binary,
        tarball,
        deb,
        top,
    };
    packaging::test(&root, &artifacts)?;
    report(&artifacts)
}

/// `target/tools/bin`, with cargo-deb and cargo-about in it.
fn ensure_tools(root: &Path) -> Result<PathBuf> {
    let tools = root.join("target/tools");
    let bin = tools.join("bin");
    for tool in [CARGO_DEB, CARGO_ABOUT] {
        let Tool {
            name,
            version,
            features,
        } = tool;
        if check_installed(&bin, &tool).is_ok() {
            continue;
        }
        step(&format!(
            "installing {name} {version} into target/tools (cargo install --locked)"
        ));
        let mut install = cargo();
        install
            .args(["install", "--locked", "--root"])
            .arg(&tools)
            .arg(format!("{name}@{version}"));
        if !features.is_empty() {
            install.arg("--features").arg(features.join(","));
        }
        run_cmd(&mut install)?;
        // `cargo install` succeeds without installing anything when the features leave the
        // crate with no binary (only a warning says so).
        check_installed(&bin, &tool)
            .with_context(|| format!("`cargo install {name}@{version}` finished, but"))?;
    }
    Ok(bin)
}

/// Whether `bin_dir` holds `tool` at its pinned version: it runs and `--version` names it.
fn check_installed(bin_dir: &Path, tool: &Tool) -> Result<()> {
    let binary = bin_dir.join(tool.name);
    let out = Command::new(&binary)
        .args(tool.name.strip_prefix("cargo-"))
        .arg("--version")
        .output()
        .with_context(|| format!("{} cannot be run", binary.display()))?;
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && said.contains(tool.version),
        "{} --version answers '{}', not version {}",
        binary.display(),
        said.trim(),
        tool.version
    );
    Ok(())
}

/// `cargo <sub>` with `target/tools/bin` first on the PATH, so cargo finds the subcommands
/// installed there.
fn cargo_with_tools(tools: &Path) -> Result<Command> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(tools.to_owned()).chain(std::env::split_paths(&path)),
    )?;
    let mut cmd = cargo();
    cmd.env("PATH", path);
    Ok(cmd)
}

/// Builds [`PACKAGED`] in release and returns the binary.
fn build(root: &Path) -> Result<PathBuf> {
    let Packaged {
        package,
        bin,
        features,
    } = PACKAGED;
    step(&format!(
        "building {bin} in release: cargo build --release -p {package} --bin {bin}"
    ));
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", package, "--bin", bin]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    run_cmd(&mut cmd)?;
    let binary = root.join("target/release").join(bin);
    if !binary.is_file() {
        bail!("cargo build finished but {} is missing", binary.display());
    }
    Ok(binary)
}

/// `THIRD-PARTY-LICENSES.txt`: every crate linked into the binary with its licence and the
/// licence texts (cargo-about, `server/dist/about.toml` and `about.hbs`). Checked against
/// `cargo tree`: a crate in the binary's dependency graph missing from the notice fails.
fn licence_notice(root: &Path, tools: &Path, out: &Path) -> Result<PathBuf> {
    step("the third-party licence notice (cargo about generate)");
    let notice = out.join("THIRD-PARTY-LICENSES.txt");
    let dist = root.join(DIST_FILES);
    // cargo-about reads every file of every crate (minutes): done again only when the
    // dependencies or the template changed.
    let stamp = out.join("THIRD-PARTY-LICENSES.inputs");
    let inputs = notice_inputs(root)?;
    if notice.is_file() && fs::read_to_string(&stamp).is_ok_and(|old| old == inputs) {
        println!("    unchanged since the last run (Cargo.lock, about.toml, about.hbs)");
    } else {
        // Every crate's sources, for every target, so that cargo-about's `cargo metadata`
        // runs offline (--frozen) and reads the licence texts from the registry's copies.
        run_cmd(cargo().args(["fetch", "--locked"]))?;
        let mut cmd = cargo_with_tools(tools)?;
        // --fail: a crate whose licence cannot be read or settled fails.
        cmd.args(["about", "generate", "--frozen", "--fail", "--manifest-path"])
            .arg(root.join(format!("{}/Cargo.toml", PACKAGED.package)))
            .arg("--config")
            .arg(dist.join("about.toml"))
            .arg("--output-file")
            .arg(&notice);
        if !PACKAGED.features.is_empty() {
            cmd.arg("--features").arg(PACKAGED.features.join(","));
        }
        cmd.arg(dist.join("about.hbs"));
        run_cmd(&mut cmd)?;
        fs::write(&stamp, &inputs)?;
    }

    let text =
        fs::read_to_string(&notice).with_context(|| format!("cannot read {}", notice.display()))?;
    let listed: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("- ")?.split(' ');
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    let linked = linked_crates(root)?;
    let missing: Vec<String> = linked
        .iter()
        .filter(|krate| !listed.contains(*krate))
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the licence notice leaves out crates the binary links: {}",
            missing.join(", ")
        );
    }
    println!(
        "    {} crates in the binary's dependency graph, each listed with its licence",
        linked.len()
    );
    Ok(notice)
}

/// What the notice is made from: the SHA-256 of Cargo.lock, cargo-about's settings and
/// template, and the packaged features.
fn notice_inputs(root: &Path) -> Result<String> {
    let mut hash = Sha256::new();
    for file in [
        "Cargo.lock",
        "server/dist/about.toml",
        "server/dist/about.hbs",
    ] {
        hash.update(fs::read(root.join(file)).with_context(|| format!("cannot read {file}"))?);
    }
    hash.update(PACKAGED.features.join(","));
    Ok(format!("{:x}\n", hash.finalize()))
}

/// The third-party crates in the packaged binary's normal dependency graph for this target
/// (name, version), from `cargo tree`.
fn linked_crates(root: &Path) -> Result<BTreeSet<(String, String)>> {
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["tree", "--locked", "-p", PACKAGED.package])
        .args(["--edges", "normal", "--target", "x86_64-unknown-linux-gnu"])
        .args(["--prefix", "none", "--format", "{p}"]);
    if !PACKAGED.features.is_empty() {
        cmd.arg("--features").arg(PACKAGED.features.join(","));
    }
    let output = cmd.output().context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let workspace = root.to_string_lossy().into_owned();
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        // Our own crates are named with their path in the workspace.
        .filter(|line| !line.contains(&workspace))
        .filter_map(|line| {
            let mut words = line.split(' ');
            let name = words.next()?.to_owned();
            let version = words.next()?.strip_prefix('v')?.to_owned();
            Some((name, version))
        })
        .collect())
}

/// The tarball: returns it, the binary inside its staging directory and its top directory's
/// name.
fn tarball(
    root: &Path,
    binary: &Path,
    notice: &Path,
    out: &Path,
) -> Result<(PathBuf, PathBuf, String)> {
    let top = format!("rectify-{VERSION}-{ARCH}");
    step(&format!("the tarball {top}.tar.gz"));
    let stage = out.join(&top);
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    fs::create_dir_all(stage.join("systemd"))?;
    let dist = root.join(DIST_FILES);
    let copies: [(PathBuf, &str); 10] = [
        (binary.to_owned(), "rectify"),
        (dist.join("rectify.toml"), "rectify.toml"),
        (
            root.join("server/rectify.sample.toml"),
            "rectify.sample.toml",
        ),
        (dist.join("rectify-backup"), "rectify-backup"),
        (
            dist.join("systemd/rectify.service"),
            "systemd/rectify.service",
        ),
        (
            dist.join("systemd-backup/rectify-backup.service"),
            "systemd/rectify-backup.service",
        ),
        (
            dist.join("systemd-backup/rectify-backup-daily.timer"),
            "systemd/rectify-backup-daily.timer",
        ),
        (dist.join("README.md"), "README.md"),
        (root.join("docs/deploy.md"), "deploy.md"),
        (notice.to_owned(), "THIRD-PARTY-LICENSES.txt"),
    ];
    for (from, to) in &copies {
        fs::copy(from, stage.join(to))
            .with_context(|| format!("cannot copy {} into the tarball as {to}", from.display()))?;
    }
    // Symbols only: panics still say where (file and line are in the binary's data); the
    // .deb's copy is stripped the same way by cargo-deb.
    let shipped = stage.join("rectify");
    run_cmd(Command::new("strip").arg("--strip-unneeded").arg(&shipped))?;
    let tarball = out.join(format!("{top}.tar.gz"));
    run_cmd(
        Command::new("tar")
            .args([
                "--create",
                "--gzip",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--sort=name",
                "--file",
            ])
            .arg(&tarball)
            .arg("--directory")
            .arg(out)
            .arg(&top),
    )?;
    Ok((tarball, shipped, top))
}

/// The Debian package (cargo-deb, `--no-build`: the binary [`build`] made).
fn deb(root: &Path, tools: &Path, out: &Path) -> Result<PathBuf> {
    step("the Debian package (cargo deb)");
    let deb = out.join(format!("rectify_{VERSION}-1_amd64.deb"));
    if deb.exists() {
        fs::remove_file(&deb)?;
    }
    let mut cmd = cargo_with_tools(tools)?;
    cmd.args(["deb", "--no-build", "-p", PACKAGED.package, "--output"])
        .arg(&deb);
    run_cmd(cmd.current_dir(root))?;
    if !deb.is_file() {
        bail!("cargo deb finished but {} is missing", deb.display());
    }
    Ok(deb)
}

fn size(path: &Path) -> Result<String> {
    let bytes = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok(format!(
        "{:>6.1} MiB  {}",
        bytes as f64 / (1024.0 * 1024.0),
        path.display()
    ))
}

fn report(artifacts: &Artifacts) -> Result<()> {
    println!("\nRelease artifacts (the packaging test passed):");
    println!("  binary   {}", size(&artifacts.binary)?);
    println!("  tarball  {}", size(&artifacts.tarball)?);
    println!("  .deb     {}", size(&artifacts.deb)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory of its own under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("a temporary directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A stand-in for the tool: a script that prints `answer` to `--version`.
    fn fake_tool(dir: &Path, answer: &str) {
        let path = dir.join(CARGO_ABOUT.name);
        fs::write(&path, format!("#!/bin/sh\necho '{answer}'\n")).expect("write the script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn a_tool_that_cargo_install_did_not_install_is_named() {
        let dir = TempDir::new("missing-tool");
        let err = check_installed(&dir.0, &CARGO_ABOUT).expect_err("no binary there");
        assert!(
            format!("{err:#}").contains(&dir.0.join("cargo-about").display().to_string()),
            "{err:#}"
        );
    }

    #[test]
    fn a_tool_of_another_version_is_not_taken() {
        let dir = TempDir::new("old-tool");
        fake_tool(&dir.0, "cargo-about 0.6.1");
        let err = check_installed(&dir.0, &CARGO_ABOUT).expect_err("the wrong version");
        assert!(format!("{err:#}").contains("not version 0.9.3"), "{err:#}");
    }

    #[test]
    fn the_pinned_version_is_taken() {
        let dir = TempDir::new("pinned-tool");
        fake_tool(&dir.0, "cargo-about 0.9.3");
        check_installed(&dir.0, &CARGO_ABOUT).expect("the pinned version");
    }
}
