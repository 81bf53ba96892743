//! `cargo xtask fuzz`: each cargo-fuzz target (`fuzz/`) for a bounded time, from a corpus
//! seeded with valid inputs, and a summary of executions. A crash stops nothing else: every
//! target runs, the crashing inputs are copied to `fuzz/regressions/<target>/` (which the
//! tests replay) and the task fails.

use crate::{cargo, run_cmd, step, workspace_root};
use anyhow::{Context, Result, bail};
use std::process::Command;

const TARGETS: &[&str] = &[
    "wire_decode",
    "import_report",
    "server_frames",
    "upload_protocol",
];

pub fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--seconds needs a number")?;
            }
            "--target" => only = Some(args.next().context("--target needs a name")?.clone()),
            other => bail!("unknown argument '{other}' (use --seconds N, --target NAME)"),
        }
    }
    let targets: Vec<&str> = match &only {
        Some(name) if TARGETS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => bail!("no fuzz target '{name}'; there are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    step("seeding the corpus: fuzz/corpus/<target>/ (rectify_server::fuzzing::seeds)");
    run_cmd(cargo().args([
        "run",
        "-q",
        "-p",
        "rectify-tests",
        "--bin",
        "fuzz-seeds",
        "--",
        "fuzz/corpus",
    ]))?;
    let mut summary = Vec::new();
    let mut crashed = Vec::new();
    for target in targets {
        step(&format!("fuzzing {target} for {seconds} s"));
        let output = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target])
            .arg(format!("fuzz/corpus/{target}"))
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-print_final_stats=1",
            ])
            .current_dir(&root)
            .output()
            .with_context(|| format!("cannot run cargo fuzz for {target}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
        };
        let executions = stat("number_of_executed_units");
        let per_second = stat("average_exec_per_sec");
        println!("    {target}: {executions} executions, {per_second}/s");
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            keep_crashes(&root, target)?;
            crashed.push(target);
        }
        summary.push((target, executions, per_second, output.status.success()));
    }
    println!("\nfuzzing, {seconds} s per target:");
    for (target, executions, per_second, ok) in &summary {
        let verdict = if *ok { "no crash" } else { "CRASH" };
        println!("  {target:<16} {executions:>12} executions  {per_second:>8}/s  {verdict}");
    }
    if !crashed.is_empty() {
        bail!(
            "crashes in {}: the inputs are in fuzz/regressions/<target>/; fix them and commit the inputs",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// Copies libFuzzer's crash artifacts into the regressions the tests replay.
fn keep_crashes(root: &std::path::Path, target: &str) -> Result<()> {
    let artifacts = root.join("fuzz/artifacts").join(target);
    let keep = root.join("fuzz/regressions").join(target);
    std::fs::create_dir_all(&keep)?;
    for entry in std::fs::read_dir(&artifacts)
        .into_iter()
        .flatten()
        .flatten()
    {
        let to = keep.join(entry.file_name());
        std::fs::copy(entry.path(), &to)?;
        println!("    kept {}", to.display());
    }
    Ok(())
}

fn ensure_nightly() -> Result<()> {
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()?;
    if String::from_utf8_lossy(&listed.stdout).contains("nightly") {
        return Ok(());
    }
    step(
        "installing the nightly toolchain for cargo-fuzz: rustup toolchain install nightly --profile minimal",
    );
    run_cmd(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
    ]))
}

fn ensure_cargo_fuzz() -> Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    step("installing cargo-fuzz: cargo install cargo-fuzz");
    run_cmd(Command::new("cargo").args(["install", "cargo-fuzz"]))
}
