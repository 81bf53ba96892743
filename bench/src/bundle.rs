//! Phase 4: the client bundle as `cargo xtask build` wrote it to `target/web`: the WASM, the
//! JS and the CSS under `assets/` and `index.html`, each with its `.gz` and `.br` siblings.
//!
//! The bundle holds two builds of the client (issue #22): a school's first load fetches
//! `index.html`, the CSS and the school build (`rectify-school-…`); a device that oversees
//! fetches the full build (`rectify-full-…`) instead. Each first load is summed apart.

use anyhow::{Context, Result, ensure};
use std::path::Path;

/// Raw, gzip and brotli sizes in bytes.
pub type Sizes = [u64; 3];

#[derive(Debug, Clone)]
pub struct Bundle {
    pub files: Vec<(String, Sizes)>,
    /// What a school's first load fetches (the whole bundle, when it has one build only).
    pub total: Sizes,
    /// What the first load of a device that oversees fetches: the full build, when there is one.
    pub full: Option<Sizes>,
}

/// The sizes of the files a first load of `build` fetches: `index.html`, the CSS and that
/// build's files (every file, for `None`).
fn first_load(files: &[(String, Sizes)], build: Option<&str>) -> Sizes {
    let mut total = [0; 3];
    let fetched = files.iter().filter(|(name, _)| match build {
        None => true,
        Some(build) => {
            name == "index.html"
                || name.ends_with(".css")
                || name.starts_with(&format!("assets/rectify-{build}-"))
        }
    });
    for (_, s) in fetched {
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    total
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .len())
}

fn sizes(path: &Path) -> Result<Sizes> {
    let sibling = |ext: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        std::path::PathBuf::from(name)
    };
    Ok([size(path)?, size(&sibling("gz"))?, size(&sibling("br"))?])
}

pub fn measure(web: &Path) -> Result<Bundle> {
    ensure!(
        web.join("index.html").is_file(),
        "no client bundle in {}: build it with `cargo xtask build`",
        web.display()
    );
    let mut files = vec![("index.html".to_owned(), sizes(&web.join("index.html"))?)];
    let mut assets: Vec<_> = std::fs::read_dir(web.join("assets"))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "wasm" | "js" | "css"))
        })
        .collect();
    assets.sort();
    for path in assets {
        let name = format!(
            "assets/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        files.push((name, sizes(&path)?));
    }
    ensure!(
        files.iter().any(|(n, _)| n.ends_with(".wasm")),
        "no .wasm in {}/assets",
        web.display()
    );
    let has = |build: &str| {
        let prefix = format!("assets/rectify-{build}-");
        files.iter().any(|(name, _)| name.starts_with(&prefix))
    };
    let (total, full) = if has("school") {
        (
            first_load(&files, Some("school")),
            has("full").then(|| first_load(&files, Some("full"))),
        )
    } else {
        (first_load(&files, None), None)
    };
    Ok(Bundle { files, total, full })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_load_counts_the_page_the_css_and_one_build() {
        let files = [
            ("index.html", [10, 5, 4]),
            ("assets/app-1.css", [100, 50, 40]),
            ("assets/rectify-full-2.js", [1_000, 500, 400]),
            ("assets/rectify-full-3.wasm", [10_000, 5_000, 4_000]),
            ("assets/rectify-school-4.js", [2_000, 600, 500]),
            ("assets/rectify-school-5.wasm", [20_000, 6_000, 5_000]),
        ]
        .map(|(name, sizes)| (name.to_owned(), sizes));
        assert_eq!(first_load(&files, Some("school")), [22_110, 6_655, 5_544]);
        assert_eq!(first_load(&files, Some("full")), [11_110, 5_555, 4_444]);
        assert_eq!(first_load(&files, None), [33_110, 12_155, 9_944]);
    }
}
