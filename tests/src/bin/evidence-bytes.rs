//! `evidence-bytes`: what an evidence photo costs on the wire.
//!
//! 1. A 4000×3000 phone photo (about 4.6 MB, [`rectify_tests::photos::phone_photo`]) is
//!    attached in headless Chromium by school 1, through a byte-counting proxy in front of the
//!    server: the bytes stored (after the device downscaled it) and the bytes that crossed the
//!    link from the browser until the upload finished (the reference's sync included).
//! 2. That stored file is uploaded again by the protocol client (`rectify_tests::uploader`),
//!    once cleanly and once through a proxy that cuts the connection at 50 % of the file: the
//!    bytes each way crossed the link, so the difference is what the cut cost.
//!
//! Prints numbers, asserts nothing. Needs the built client (`cargo xtask build`) and Chromium.

use anyhow::{Context, Result, bail};
use rectify_shared::evidence::sha256_hex;
use rectify_tests::proxy::CutProxy;
use rectify_tests::uploader::upload;
use rectify_tests::{Browser, TestServer, web_root};
use std::time::{Duration, Instant};

const PIECE: usize = 256 * 1024;

#[tokio::main]
async fn main() -> Result<()> {
    let server = TestServer::start(Some(web_root())).await?;
    let photo = rectify_tests::photos::phone_photo(4000, 3000, 7);
    let (stored, browser_up) = attach_in_browser(&server, &photo).await?;
    let dims = image::load_from_memory(&stored)?;
    println!(
        "phone photo: {} bytes at 4000×3000 → stored {} bytes at {}×{} ({:.1} %)",
        photo.len(),
        stored.len(),
        dims.width(),
        dims.height(),
        100.0 * stored.len() as f64 / photo.len() as f64
    );
    println!("browser → server while attaching and uploading it: {browser_up} bytes");

    // The same bytes under another name would be deduplicated: upload a variant (one byte
    // of the JPEG's comment-free tail changed is still the same kind) as a fresh file.
    let mut file = stored.clone();
    let last = file.len() - 3;
    file[last] ^= 0x01;
    let clean = uploaded_through(&server, "school2", &file, None).await?;
    let mut other = stored.clone();
    other[last] ^= 0x02;
    let half = other.len() as u64 / 2;
    let cut = uploaded_through(&server, "school2", &other, Some(half)).await?;
    println!(
        "protocol upload of {} bytes: clean {} bytes up in {} requests; cut at 50 %: {} bytes up in {} requests, {} cut(s)",
        file.len(),
        clean.0,
        clean.1,
        cut.0,
        cut.1,
        cut.2
    );
    println!(
        "re-sent because of the cut: {} bytes (the difference; request headers included)",
        cut.0 as i64 - clean.0 as i64
    );
    Ok(())
}

/// Logs in school 1 through a counting proxy, attaches `photo` to its first item and waits
/// for the upload; returns the stored bytes and the bytes the browser sent meanwhile.
async fn attach_in_browser(server: &TestServer, photo: &[u8]) -> Result<(Vec<u8>, u64)> {
    let proxy = CutProxy::start(server.addr, Vec::new()).await?;
    let browser = Browser::start(360, 800).await?;
    browser.log_in(&proxy.url("/"), "school1").await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("phone-photo.jpg");
    std::fs::write(&path, photo)?;
    let first = browser
        .wait_for("[data-testid=item]")
        .await?
        .attr("data-id")
        .await?
        .context("an item without data-id")?;
    browser
        .client
        .execute(&format!("location.hash = '#/item/{first}';"), vec![])
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await; // let the list's sync settle
    let before = proxy.up();
    browser
        .wait_for("[data-testid=evidence-file]")
        .await?
        .send_keys(path.to_str().context("a UTF-8 path")?)
        .await?;
    let entry = browser
        .wait_for("[data-testid=evidence][data-sha256]")
        .await?;
    let sha = entry.attr("data-sha256").await?.context("no data-sha256")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = browser
            .wait_for(&format!("[data-testid=evidence][data-sha256='{sha}']"))
            .await?
            .attr("data-upload")
            .await?;
        if state.as_deref() == Some("done") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the upload did not finish in 60 s (state {state:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = proxy.up() - before;
    browser.close().await?;
    let stored = server
        .files
        .store
        .get(&sha, rectify_server::blobs::Variant::Original)
        .await?
        .context("the server has no file")?;
    anyhow::ensure!(sha256_hex(&stored) == sha, "the stored bytes differ");
    Ok((stored, sent))
}

/// Uploads `bytes` as `user` through a proxy that cuts the first connection after `cut_at`
/// bytes of the file (plus the requests before it); returns (bytes up, requests, cuts).
async fn uploaded_through(
    server: &TestServer,
    user: &str,
    bytes: &[u8],
    cut_at: Option<u64>,
) -> Result<(u64, u32, u64)> {
    // The POST and the PATCH's headers travel on the same connection before the file's bytes.
    let plan = vec![cut_at.map(|n| n + 600)];
    let proxy = CutProxy::start(server.addr, plan).await?;
    let token = server.token(user).await?;
    let report = upload(&proxy.url(""), &token, "photo.jpg", bytes, PIECE, 5).await?;
    Ok((proxy.up(), report.requests, proxy.cuts()))
}
