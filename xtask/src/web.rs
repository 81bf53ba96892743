//! The web client bundle: cargo (wasm32, size profile) → wasm-bindgen (the library, pinned to
//! the `wasm-bindgen` in Cargo.lock) → `wasm-opt` ([`WASM_OPT_PASSES`]) → content-hashed names
//! → brotli and gzip siblings. Output: `target/web`.
//!
//! Two builds of the client go in it ([`BUILDS`], issue #22): the school build
//! (`rectify-school-….js/.wasm`, no feature: what a school uses) and the full build
//! (`rectify-full-…`, the `office` feature: every page). `index.html`'s loader fetches one of
//! them (the school build unless the device's session oversees); the service worker
//! precaches only the school build.
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

/// One build of the client: its name in the bundle's file names and `index.html`'s
/// placeholders, and the cargo features it is built with.
struct Build {
    name: &'static str,
    placeholder: &'static str,
    features: &'static [&'static str],
}

/// The school build first: it is what most devices load, and the service worker precaches it.
const BUILDS: [Build; 2] = [
    Build {
        name: "school",
        placeholder: "SCHOOL",
        features: &[],
    },
    Build {
        name: "full",
        placeholder: "FULL",
        features: &["office"],
    },
];

/// A build's generated files in the bundle: (JS, WASM) names under `assets/`.
struct Built {
    js: String,
    wasm: String,
}

/// Builds the bundle and returns its directory.
pub fn build(root: &Path) -> Result<PathBuf> {
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_opt(root)?;
    check_wasm_bindgen_pin(root)?;
    let inputs = root.join("target/web.input");
    fs::create_dir_all(&inputs)?;
    let mut wasms = Vec::new();
    for build in &BUILDS {
        step(&format!(
            "building the web client's {} build (wasm32, size-optimised)",
            build.name
        ));
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        cargo.args([
            "build",
            "--quiet",
            "--package",
            "rectify-client",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ]);
        if !build.features.is_empty() {
            cargo.args(["--features", &build.features.join(",")]);
        }
        run_cmd(&mut cargo)?;
        // Both builds write the same file: each is kept aside before the next one.
        let wasm = inputs.join(format!("{}.wasm", build.name));
        fs::copy(
            root.join(format!("target/{TARGET}/{PROFILE}/rectify-client.wasm")),
            &wasm,
        )
        .with_context(|| format!("keeping the {} build", build.name))?;
        wasms.push(wasm);
    }
    let static_dir = root.join("client/static");
    let out = root.join("target/web");
    let fingerprint = fingerprint(&wasms, &static_dir)?;
    let stamp = out.join(".fingerprint");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
        println!("    web client unchanged: {}", out.display());
        return Ok(out);
    }

    let staging = root.join("target/web.staging");
    let _ = fs::remove_dir_all(&staging);
    let assets = staging.join("assets");
    fs::create_dir_all(&assets)?;

    let mut built = Vec::new();
    for (build, wasm) in BUILDS.iter().zip(&wasms) {
        built.push(bind_and_optimise(root, build, wasm, &assets)?);
    }

    step("writing the bundle (hashed names, brotli and gzip)");
    let css = hashed_copy(&static_dir.join("app.css"), &assets, "app", "css")?;
    let mut index = fs::read_to_string(static_dir.join("index.html"))?.replace("{{CSS}}", &css);
    for (build, files) in BUILDS.iter().zip(&built) {
        index = index
            .replace(&format!("{{{{{}_JS}}}}", build.placeholder), &files.js)
            .replace(&format!("{{{{{}_WASM}}}}", build.placeholder), &files.wasm);
    }
    if index.contains("{{") {
        bail!("client/static/index.html has a placeholder this build does not fill");
    }
    fs::write(staging.join("index.html"), index)?;
    // Only the school build is precached: a school's device never fetches the full one.
    let school = &built[0];
    let asset_list = [&school.js, &school.wasm, &css]
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
    for (build, files) in BUILDS.iter().zip(&built) {
        report_sizes(&out, build.name, &files.wasm, &files.js, &css)?;
    }
    Ok(out)
}

/// One build's WASM through wasm-bindgen and wasm-opt into `assets` under hashed names.
fn bind_and_optimise(root: &Path, build: &Build, wasm: &Path, assets: &Path) -> Result<Built> {
    step(&format!(
        "generating the JS bindings of the {} build (wasm-bindgen)",
        build.name
    ));
    let bindgen_out = root.join(format!("target/web.bindgen/{}", build.name));
    let _ = fs::remove_dir_all(&bindgen_out);
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .web(true)?
        .typescript(false)
        .out_name("rectify")
        .generate(&bindgen_out)
        .context("wasm-bindgen failed")?;

    step(&format!(
        "optimising the {} build's WASM (wasm-opt {})",
        build.name,
        WASM_OPT_PASSES.join(" ")
    ));
    let optimised = bindgen_out.join("rectify_bg.opt.wasm");
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
    let stem = format!("rectify-{}", build.name);
    Ok(Built {
        js: hashed_copy(&bindgen_out.join("rectify.js"), assets, &stem, "js")?,
        wasm: hashed_copy(&optimised, assets, &stem, "wasm")?,
    })
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
fn fingerprint(wasms: &[PathBuf], static_dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for wasm in wasms {
        hasher.update(fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?);
    }
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

/// One build's files and what a first load of it fetches (`index.html`, its JS and WASM,
/// the CSS), raw, gzip and brotli.
fn report_sizes(out: &Path, build: &str, wasm: &str, js: &str, css: &str) -> Result<()> {
    let size = |p: PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut total = [0u64; 3];
    println!(
        "    {:<42} {:>9} {:>9} {:>9}",
        format!("{build} build"),
        "raw",
        "gzip",
        "brotli"
    );
    for name in [
        "index.html".to_owned(),
        format!("assets/{wasm}"),
        format!("assets/{js}"),
        format!("assets/{css}"),
    ] {
        let path = out.join(&name);
        let row = [
            size(path.clone()),
            size(with_suffix(&path, "gz")),
            size(with_suffix(&path, "br")),
        ];
        println!("    {name:<42} {:>9} {:>9} {:>9}", row[0], row[1], row[2]);
        for (t, v) in total.iter_mut().zip(row) {
            *t += v;
        }
    }
    println!(
        "    {:<42} {:>9} {:>9} {:>9}",
        "first load (bytes)", total[0], total[1], total[2]
    );
    Ok(())
}
