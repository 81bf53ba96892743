//! The web client bundle: cargo (wasm32, size profile) → wasm-bindgen (the library, pinned to
//! the `wasm-bindgen` in Cargo.lock) → `wasm-opt` ([`WASM_OPT_PASSES`]) → content-hashed names
//! → brotli and gzip siblings. Output: `target/web`.
//!
//! When neither the compiled WASM nor `client/static` changed since the last build, the
//! bundle is left as it is, so a second `cargo xtask run` starts in seconds.

use crate::{run_cmd, step, tools};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
/// What `wasm-opt` runs, in order: `-Oz`, and the custom sections nobody reads in a browser go.
/// Measured for issue #9 (ARCHITECTURE.md): `--flatten --rereloop -Oz -Oz` after it saves only
/// 5.5 KB brotli (0.8 %) for a minute more of every build, and the passes that assume things
/// about the program (`--low-memory-unused`, `--traps-never-happen`) are not obviously true.
const WASM_OPT_PASSES: &[&str] = &[
    "-Oz",
    "--strip-debug",
    "--strip-producers",
    "--strip-target-features",
];
/// Files that are compressed ahead of time (images are compressed already).
const COMPRESSIBLE: &[&str] = &["html", "js", "wasm", "css", "webmanifest", "svg", "json"];

/// Builds the bundle and returns its directory.
pub fn build(root: &Path) -> Result<PathBuf> {
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_opt(root)?;
    check_wasm_bindgen_pin(root)?;
    step("building the web client (wasm32, size-optimised)");
    run_cmd(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())).args([
            "build",
            "--quiet",
            "--package",
            "rectify-client",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ]),
    )?;
    let wasm = root.join(format!("target/{TARGET}/{PROFILE}/rectify-client.wasm"));
    let static_dir = root.join("client/static");
    let out = root.join("target/web");
    let fingerprint = fingerprint(&wasm, &static_dir)?;
    let stamp = out.join(".fingerprint");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
        println!("    web client unchanged: {}", out.display());
        return Ok(out);
    }

    let staging = root.join("target/web.staging");
    let _ = fs::remove_dir_all(&staging);
    let assets = staging.join("assets");
    fs::create_dir_all(&assets)?;

    step("generating the JS bindings (wasm-bindgen)");
    let bindgen_out = root.join("target/web.bindgen");
    let _ = fs::remove_dir_all(&bindgen_out);
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .typescript(false)
        .out_name("rectify")
        .generate(&bindgen_out)
        .context("wasm-bindgen failed")?;

    step(&format!(
        "optimising the WASM (wasm-opt {})",
        WASM_OPT_PASSES.join(" ")
    ));
    let optimised = root.join("target/web.bindgen/rectify_bg.opt.wasm");
    run_cmd(
        Command::new(tools::wasm_opt_path(root))
            .args(WASM_OPT_PASSES)
            .args([
                "--enable-bulk-memory",
                "--enable-mutable-globals",
                "--enable-sign-ext",
                "--enable-nontrapping-float-to-int",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(bindgen_out.join("rectify_bg.wasm"))
            .arg("-o")
            .arg(&optimised),
    )?;

    step("writing the bundle (hashed names, brotli and gzip)");
    let js = hashed_copy(&bindgen_out.join("rectify.js"), &assets, "rectify", "js")?;
    let wasm_name = hashed_copy(&optimised, &assets, "rectify", "wasm")?;
    let css = hashed_copy(&static_dir.join("app.css"), &assets, "app", "css")?;
    let index = fs::read_to_string(static_dir.join("index.html"))?
        .replace("{{JS}}", &js)
        .replace("{{WASM}}", &wasm_name)
        .replace("{{CSS}}", &css);
    fs::write(staging.join("index.html"), index)?;
    let asset_list = [&js, &wasm_name, &css]
        .map(|name| format!("\"/assets/{name}\""))
        .join(", ");
    let sw = fs::read_to_string(static_dir.join("sw.js"))?
        .replace("{{VERSION}}", &fingerprint[..16])
        .replace("{{ASSETS}}", &format!("[{asset_list}]"));
    fs::write(staging.join("sw.js"), sw)?;
    for name in [
        "manifest.webmanifest",
        "icon.svg",
        "icon-192.png",
        "icon-512.png",
    ] {
        fs::copy(static_dir.join(name), staging.join(name))
            .with_context(|| format!("copying {name}"))?;
    }
    compress_tree(&staging)?;
    fs::write(staging.join(".fingerprint"), &fingerprint)?;

    let _ = fs::remove_dir_all(&out);
    fs::rename(&staging, &out)?;
    report_sizes(&out, &wasm_name, &js, &css)?;
    Ok(out)
}

/// The Cargo.lock `wasm-bindgen` and the `wasm-bindgen-cli-support` xtask links must be the
/// same version, or the generated bindings do not match the WASM.
fn check_wasm_bindgen_pin(root: &Path) -> Result<()> {
    let lock = fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let version_of = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        lock.find(&marker).map(|at| {
            let rest = &lock[at + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
    };
    let (lib, cli) = (
        version_of("wasm-bindgen"),
        version_of("wasm-bindgen-cli-support"),
    );
    if lib.is_none() || lib != cli {
        bail!(
            "wasm-bindgen is {lib:?} in Cargo.lock but xtask's wasm-bindgen-cli-support is {cli:?}: \
             pin both to the same version (`wasm-bindgen = \"=X\"` in Cargo.toml and \
             `wasm-bindgen-cli-support = \"=X\"` in xtask/Cargo.toml)"
        );
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A hash of everything the bundle is made from (and of how the WASM is optimised).
fn fingerprint(wasm: &Path, static_dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?);
    let mut entries: Vec<_> = fs::read_dir(static_dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        hasher.update(entry.file_name().as_encoded_bytes());
        hasher.update(fs::read(entry.path())?);
    }
    hasher.update(env!("CARGO_PKG_VERSION"));
    // A change of the passes must rebuild the bundle even when the WASM is the same.
    hasher.update(WASM_OPT_PASSES.join(" "));
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Copies `src` to `dir/stem-HASH.ext` and returns the new name.
fn hashed_copy(src: &Path, dir: &Path, stem: &str, ext: &str) -> Result<String> {
    let bytes = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    let name = format!("{stem}-{}.{ext}", &sha256_hex(&bytes)[..12]);
    fs::write(dir.join(&name), bytes)?;
    Ok(name)
}

fn compress_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            compress_tree(&path)?;
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let bytes = fs::read(&path)?;
        let mut br = Vec::new();
        {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut bytes.as_slice(), &mut br, &params)?;
        }
        fs::write(with_suffix(&path, "br"), br)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        fs::write(with_suffix(&path, "gz"), gz.finish()?)?;
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn report_sizes(out: &Path, wasm: &str, js: &str, css: &str) -> Result<()> {
    let size = |p: PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut total = [0u64; 3];
    println!(
        "    {:<34} {:>9} {:>9} {:>9}",
        "bundle", "raw", "gzip", "brotli"
    );
    for name in [wasm, js, css] {
        let path = out.join("assets").join(name);
        let row = [
            size(path.clone()),
            size(with_suffix(&path, "gz")),
            size(with_suffix(&path, "br")),
        ];
        println!("    {name:<34} {:>9} {:>9} {:>9}", row[0], row[1], row[2]);
        for (t, v) in total.iter_mut().zip(row) {
            *t += v;
        }
    }
    println!(
        "    {:<34} {:>9} {:>9} {:>9}",
        "total (bytes)", total[0], total[1], total[2]
    );
    Ok(())
}
