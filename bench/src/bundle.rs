//! Phase 4: the client bundle as `cargo xtask build` wrote it to `target/web`: the WASM, the
//! JS and the CSS under `assets/` and `index.html`, each with its `.gz` and `.br` siblings.

use anyhow::{Context, Result, ensure};
use std::path::Path;

/// Raw, gzip and brotli sizes in bytes.
pub type Sizes = [u64; 3];

#[derive(Debug, Clone)]
pub struct Bundle {
    pub files: Vec<(String, Sizes)>,
    pub total: Sizes,
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
    let mut total = [0; 3];
    for (_, s) in &files {
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    Ok(Bundle { files, total })
}
