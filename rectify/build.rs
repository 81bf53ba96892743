//! Builds the web client into the binary: every file of the bundle `cargo xtask build` wrote
//! to `target/web` (or the directory in `RECTIFY_EMBED_WEB`), pre-compressed variants
//! included, becomes an `include_bytes!` entry of `OUT_DIR/web.rs`, which `main.rs` hands to
//! the server (`rectify_server::web::EmbeddedFile`, imported by `main.rs`).
//!
//! Cargo runs this again when anything under that directory changes (it scans a directory
//! named by `rerun-if-changed` whole), so only this small crate is rebuilt after a client
//! change: the server library and the test binaries are not. Without a bundle the binary has
//! no client built in, says so here as a warning and at start, and serves the API only (or a
//! `--web-root`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=RECTIFY_EMBED_WEB");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = std::env::var_os("RECTIFY_EMBED_WEB")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/web"));
    println!("cargo::rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    if web.join("index.html").is_file() {
        collect(&web, &web, &mut files);
        files.sort();
    } else {
        println!(
            "cargo::warning=no web client at {} (run `cargo xtask build` first): this rectify \
             binary has none built in and serves the app only with --web-root",
            web.display()
        );
    }
    let mut out = String::from("&[\n");
    for (name, path) in &files {
        writeln!(
            out,
            "    EmbeddedFile {{ path: {name:?}, bytes: include_bytes!({:?}) }},",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("]\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("web.rs");
    std::fs::write(&dest, out).expect("OUT_DIR is writable");
}

/// Every file under `dir` as (its path in the bundle with `/`, its absolute path), except
/// hidden ones (xtask's `.fingerprint`).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let name = path
                .strip_prefix(root)
                .expect("under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((name, absolute));
        }
    }
}
