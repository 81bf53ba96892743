//! Evidence files over a real HTTP connection: uploads cut at random points complete with
//! exactly the right bytes, a file is stored once, a wrong hash or kind is refused, only
//! those who may read an item that references a file can fetch it, limits hold, and
//! unreferenced files are collected after the grace period; and with several servers on one
//! database and one object store (#18), an upload moves between them.

use anyhow::{Context, Result};
use rectify_server::blobs::{self, BlobLocation, BlobStore, Variant};
use rectify_server::campaigns;
use rectify_server::evidence::PART_BYTES;
use rectify_server::evidence::files::FilesSettings;
use rectify_server::state::ServerSettings;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{self, ItemRecord, PartAppended};
use rectify_shared::evidence::{UPLOAD_OFFSET, UploadRequest, UploadStatus, sha256_hex};
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::model::{EditContext, EvidenceRef, ItemEdit, ItemPlan};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::proxy::{CutProxy, Rng};
use rectify_tests::uploader::upload;
use rectify_tests::{TEST_PASSWORD, TestServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PIECE: usize = 256 * 1024;

/// A PDF-looking file of `len` bytes whose contents come from `seed`.
fn pdf(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut bytes = b"%PDF-1.7\n".to_vec();
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A JPEG photo of `width`×`height` pixels.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image)
        .unwrap();
    out
}

async fn items(server: &TestServer) -> Result<Vec<ItemRecord>> {
    let campaign = server.storage.campaigns().await?.remove(0);
    Ok(server.storage.items(&campaign.id).await?)
}

/// An item of school1's only: the office takes school2 off the first item of both.
async fn item_of_school1_only(server: &TestServer) -> Result<ItemRecord> {
    let record = items(server)
        .await?
        .into_iter()
        // Open: the demo signs off the units of done items, and that locks their entries.
        .find(|r| r.units.iter().any(|u| u == "pszx1") && !r.status.is_done())
        .expect("the demo assigns open items to school1");
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1_700_000_000_000,
    };
    let plan = ItemPlan {
        units: vec!["pszx1".into()],
        ..ItemPlan::default()
    };
    campaigns::edit_item(
        server.storage.as_ref(),
        &record,
        &office,
        ItemEdit::Plan(plan),
    )
    .await?;
    let record = items(server)
        .await?
        .into_iter()
        .find(|r| r.id == record.id)
        .unwrap();
    assert_eq!(record.units, ["pszx1"]);
    Ok(record)
}

/// Adds a reference to `bytes` to `school1`'s progress on `item`, as the server stores edits.
async fn reference(server: &TestServer, item: &ItemRecord, bytes: &[u8], name: &str) -> Result<()> {
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: 1_700_000_000_000,
    };
    let edit = ItemEdit::AddEvidence {
        unit: "pszx1".into(),
        evidence: EvidenceRef {
            sha256: sha256_hex(bytes),
            name: name.into(),
            mime: "image/jpeg".into(),
            size: bytes.len() as u64,
            caption: "食堂陪餐记录".into(),
            added_by: "school1".into(),
            added_at_ms: ctx.now_ms,
        },
    };
    campaigns::edit_item(server.storage.as_ref(), item, &ctx, edit).await?;
    Ok(())
}

async fn stored(server: &TestServer, sha256: &str) -> Result<Option<Vec<u8>>> {
    server.files.store.get(sha256, Variant::Original).await
}

/// Files in the blob directory (thumbnails included).
fn stored_files(server: &TestServer) -> usize {
    walk(&server.data.path().join("blobs"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn start_upload(
    server: &TestServer,
    token: &str,
    sha256: &str,
    size: u64,
) -> Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(server.url("/api/uploads"))
        .bearer_auth(token)
        .json(&UploadRequest {
            sha256: sha256.to_owned(),
            size,
            name: "证明材料.pdf".into(),
        })
        .send()
        .await?)
}

async fn patch(
    server: &TestServer,
    token: &str,
    sha256: &str,
    offset: u64,
    body: Vec<u8>,
) -> Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .patch(server.url(&format!("/api/uploads/{sha256}")))
        .bearer_auth(token)
        .header(UPLOAD_OFFSET, offset.to_string())
        .body(body)
        .send()
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_cut_at_random_points_complete_with_exactly_the_right_bytes() -> Result<()> {
    let server = TestServer::start(None).await?;
    let token = server.token("school1").await?;
    for seed in 1..=6u64 {
        let mut rng = Rng::new(seed);
        let len = rng.range(600_000, 2_000_000) as usize;
        let bytes = pdf(seed, len);
        // Every connection but the last few is cut somewhere in its first 600 KB.
        let plan = (0..rng.range(3, 8))
            .map(|_| Some(rng.range(1, 600_000)))
            .collect();
        let proxy = CutProxy::start(server.addr, plan).await?;
        let base = proxy.url("");
        let report = upload(&base, &token, "台账.pdf", &bytes, PIECE, 50)
            .await
            .map_err(|err| anyhow::anyhow!("seed {seed}: {err:#}"))?;
        let sha = sha256_hex(&bytes);
        assert_eq!(
            stored(&server, &sha).await?.as_deref(),
            Some(&bytes[..]),
            "seed {seed}: the stored bytes differ"
        );
        assert!(proxy.cuts() > 0, "seed {seed}: the proxy cut nothing");
        // Every byte that crossed the link was kept: beyond the file itself only requests'
        // headers and small JSON bodies crossed it.
        let overhead = proxy.up() - len as u64;
        assert!(
            overhead <= u64::from(report.requests) * 1024,
            "seed {seed}: {overhead} bytes beyond the file crossed the link in {} requests",
            report.requests
        );
        eprintln!(
            "seed {seed}: {len} bytes, {} cuts, {} requests, {overhead} bytes of overhead on the link",
            proxy.cuts(),
            report.requests
        );
    }
    Ok(())
}

/// Issue #20: deduplication tells nobody about a file they may not read. School2 asking to
/// upload school1's file (by its hash, with any size) is answered as for a new file; a
/// `PATCH` without a started upload is the same 404 as for a file the server lacks.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_uploads_do_not_tell_who_may_not_read_a_file_that_it_exists() -> Result<()> {
    let server = TestServer::start(None).await?;
    let bytes = photo(640, 480);
    let sha = sha256_hex(&bytes);
    upload(
        &server.url(""),
        &server.token("school1").await?,
        "a.jpg",
        &bytes,
        PIECE,
        0,
    )
    .await?;
    let school2 = server.token("school2").await?;
    let unknown = sha256_hex(b"a file nobody uploaded");
    let patched = |sha: String| {
        let (server, school2) = (&server, &school2);
        async move { patch(server, school2, &sha, 0, b"x".to_vec()).await }
    };
    let absent = patched(unknown).await?;
    let present = patched(sha.clone()).await?;
    assert_eq!(absent.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(present.status(), absent.status());
    let (absent, present) = (absent.text().await?, present.text().await?);
    assert_eq!(present, absent, "the same answer, file or not");
    for size in [7, bytes.len() as u64] {
        let answer = start_upload(&server, &school2, &sha, size).await?;
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
        let status: UploadStatus = answer.json().await?;
        assert_eq!(
            status,
            UploadStatus {
                sha256: sha.clone(),
                size,
                received: 0,
                complete: false,
            },
            "as for a new upload"
        );
    }
    // The uploader is still told at once.
    let answer = start_upload(&server, &server.token("school1").await?, &sha, 1).await?;
    let status: UploadStatus = answer.json().await?;
    assert!(status.complete && status.size == bytes.len() as u64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_file_is_stored_once_and_a_second_upload_costs_one_request() -> Result<()> {
    let server = TestServer::start(None).await?;
    let bytes = photo(800, 600);
    // A name with a path in it keeps only its last part.
    let first = upload(
        &server.url(""),
        &server.token("school1").await?,
        "../../etc/a.jpg",
        &bytes,
        PIECE,
        0,
    )
    .await?;
    assert_eq!(first.requests, 2, "one POST, one PATCH");
    let files_after_first = stored_files(&server);
    assert_eq!(files_after_first, 2, "the photo and its thumbnail");
    let again = upload(
        &server.url(""),
        &server.token("school1").await?,
        "b.jpg",
        &bytes,
        PIECE,
        0,
    )
    .await?;
    assert_eq!(again.requests, 1, "a file the server has costs one request");
    assert_eq!(again.body_bytes_sent, 0);
    // Another school, which may not read school1's file, sends the bytes (it is not told the
    // server has them, #20); the server still keeps one copy.
    let other = upload(
        &server.url(""),
        &server.token("school2").await?,
        "b.jpg",
        &bytes,
        PIECE,
        0,
    )
    .await?;
    assert_eq!(other.requests, 2, "one POST, one PATCH");
    assert_eq!(other.body_bytes_sent, bytes.len() as u64);
    assert_eq!(stored_files(&server), files_after_first);
    let blob = server.storage.blob(&sha256_hex(&bytes)).await?.unwrap();
    assert_eq!(
        blob.uploaded_by.as_str(),
        "school1",
        "the first uploader pays"
    );
    assert_eq!(
        server.storage.quota_used(&Username::new("school2")).await?,
        0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_hash_or_kind_is_refused_and_nothing_is_kept() -> Result<()> {
    let server = TestServer::start(None).await?;
    let token = server.token("school1").await?;
    let bytes = pdf(7, 5000);
    let claimed = sha256_hex(b"something else");
    let started: UploadStatus = start_upload(&server, &token, &claimed, 5000)
        .await?
        .json()
        .await?;
    assert_eq!((started.received, started.complete), (0, false));
    let staged = server
        .storage
        .upload(&Username::new("school1"), &claimed)
        .await?
        .context("the upload was started")?;
    let refused = patch(&server, &token, &claimed, 0, bytes.clone()).await?;
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["code"], "unprocessable");
    assert!(
        body["message"].as_str().unwrap().contains("SHA-256"),
        "{body}"
    );
    assert!(server.storage.blob(&claimed).await?.is_none());
    assert!(
        server
            .storage
            .upload(&Username::new("school1"), &claimed)
            .await?
            .is_none()
    );
    assert_eq!(stored_files(&server), 0);
    assert_eq!(
        server.storage.upload_bytes(staged.id).await?,
        b"",
        "the partial bytes are gone"
    );

    // Right hash, but HTML: not evidence, and never served.
    let html = b"<!DOCTYPE html><script>alert(1)</script>".to_vec();
    let sha = sha256_hex(&html);
    start_upload(&server, &token, &sha, html.len() as u64).await?;
    let refused = patch(&server, &token, &sha, 0, html).await?;
    assert_eq!(refused.status(), 422);
    assert!(server.storage.blob(&sha).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_readers_of_a_referencing_item_get_the_file() -> Result<()> {
    let server = TestServer::start(None).await?;
    let school1 = server.token("school1").await?;
    let bytes = photo(1600, 1200);
    let sha = sha256_hex(&bytes);
    upload(&server.url(""), &school1, "陪餐.jpg", &bytes, PIECE, 0).await?;
    let item = item_of_school1_only(&server).await?;
    assert!(
        !item.units.iter().any(|u| u == "pszx3"),
        "school2 must not be on the item"
    );
    reference(&server, &item, &bytes, "陪餐.jpg").await?;

    let http = reqwest::Client::new();
    let get = |path: String, token: Option<String>| {
        let mut request = http.get(server.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for user in ["school1", "office", "viewer"] {
        let response = get(format!("/api/files/{sha}"), Some(server.token(user).await?)).await?;
        assert_eq!(response.status(), 200, "{user}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["content-security-policy"]
                .to_str()?
                .contains("sandbox")
        );
        assert!(
            headers["content-disposition"]
                .to_str()?
                .starts_with("inline; filename=")
        );
        assert!(headers["cache-control"].to_str()?.starts_with("private"));
        assert_eq!(response.bytes().await?.as_ref(), &bytes[..], "{user}");
        let thumb = get(
            format!("/api/files/{sha}/thumbnail"),
            Some(server.token(user).await?),
        )
        .await?;
        assert_eq!(thumb.status(), 200);
        let thumb = image::load_from_memory(&thumb.bytes().await?)?;
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
    }
    // Another school: the same answer as for a file that does not exist.
    let school2 = server.token("school2").await?;
    for path in [
        format!("/api/files/{sha}"),
        format!("/api/files/{sha}/thumbnail"),
    ] {
        let response = get(path.clone(), Some(school2.clone())).await?;
        assert_eq!(response.status(), 404, "school2 {path}");
        let body: serde_json::Value = response.json().await?;
        assert_eq!(body["code"], "not_found");
    }
    let missing = sha256_hex(b"no such file");
    assert_eq!(
        get(format!("/api/files/{missing}"), Some(school2.clone()))
            .await?
            .status(),
        404
    );
    assert_eq!(get(format!("/api/files/{sha}"), None).await?.status(), 401);
    // Names that are not hashes never reach the disk.
    for bad in [
        "..%2F..%2Frectify.db",
        "ABCDEF",
        "..%5C..%5Cwin.ini",
        "a%00b",
    ] {
        let status = get(format!("/api/files/{bad}"), Some(school1.clone()))
            .await?
            .status();
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_quotas_offsets_and_roles_are_enforced() -> Result<()> {
    let settings = ServerSettings {
        files: FilesSettings {
            max_file_bytes: 100_000,
            quota_bytes: 150_000,
            ..FilesSettings::default()
        },
        ..ServerSettings::default()
    };
    let server = TestServer::start_with(None, settings).await?;
    let token = server.token("school1").await?;
    let too_big = start_upload(&server, &token, &sha256_hex(b"x"), 100_001).await?;
    assert_eq!(too_big.status(), 413);

    let first = pdf(1, 90_000);
    upload(&server.url(""), &token, "1.pdf", &first, PIECE, 0).await?;
    let second = pdf(2, 90_000);
    let over = start_upload(&server, &token, &sha256_hex(&second), 90_000).await?;
    assert_eq!(over.status(), 413);
    let body: serde_json::Value = over.json().await?;
    assert!(
        body["message"].as_str().unwrap().contains("quota"),
        "{body}"
    );
    let settings: serde_json::Value = reqwest::Client::new()
        .get(server.url("/api/files"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(settings["used_bytes"], 90_000);
    assert_eq!(settings["image_max_side"], 1600);

    // A PATCH at the wrong offset is told where to continue; more bytes than declared are refused.
    let other = server.token("school2").await?;
    let small = pdf(3, 20_000);
    let sha = sha256_hex(&small);
    start_upload(&server, &other, &sha, 20_000).await?;
    patch(&server, &other, &sha, 0, small[..5000].to_vec()).await?;
    let wrong = patch(&server, &other, &sha, 0, small[..5000].to_vec()).await?;
    assert_eq!(wrong.status(), 409);
    let body: serde_json::Value = wrong.json().await?;
    assert!(body["message"].as_str().unwrap().contains("5000"), "{body}");
    let resumed: UploadStatus = start_upload(&server, &other, &sha, 20_000)
        .await?
        .json()
        .await?;
    assert_eq!(resumed.received, 5000);
    let mut extra = small[5000..].to_vec();
    extra.extend_from_slice(b"and more");
    assert_eq!(
        patch(&server, &other, &sha, 5000, extra).await?.status(),
        400
    );
    assert!(server.storage.blob(&sha).await?.is_none());
    let no_offset = reqwest::Client::new()
        .patch(server.url(&format!("/api/uploads/{sha}")))
        .bearer_auth(&other)
        .body(vec![1, 2, 3])
        .send()
        .await?;
    assert_eq!(no_offset.status(), 400);

    let viewer = server.token("viewer").await?;
    assert_eq!(
        start_upload(&server, &viewer, &sha, 20_000).await?.status(),
        403
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unreferenced_files_and_abandoned_uploads_are_collected_after_the_grace_period()
-> Result<()> {
    let settings = ServerSettings {
        files: FilesSettings {
            grace: Duration::from_secs(3600),
            ..FilesSettings::default()
        },
        ..ServerSettings::default()
    };
    let server = TestServer::start_with(None, settings).await?;
    let token = server.token("school1").await?;
    let kept = photo(400, 300);
    let dropped = pdf(5, 10_000);
    upload(&server.url(""), &token, "kept.jpg", &kept, PIECE, 0).await?;
    upload(&server.url(""), &token, "dropped.pdf", &dropped, PIECE, 0).await?;
    let abandoned = pdf(6, 10_000);
    start_upload(&server, &token, &sha256_hex(&abandoned), 10_000).await?;
    let staged = server
        .storage
        .upload(&Username::new("school1"), &sha256_hex(&abandoned))
        .await?
        .context("the upload was started")?;
    patch(
        &server,
        &token,
        &sha256_hex(&abandoned),
        0,
        abandoned[..4000].to_vec(),
    )
    .await?;
    assert_eq!(server.storage.upload_received(staged.id).await?, 4000);
    reference(
        &server,
        &item_of_school1_only(&server).await?,
        &kept,
        "kept.jpg",
    )
    .await?;

    let hour = 3_600_000;
    let now = rectify_server::clock::now_ms();
    let collect =
        |at| rectify_server::evidence::files::collect(server.storage.as_ref(), &server.files, at);
    assert_eq!(
        collect(now).await?,
        (0, 0),
        "within the grace period nothing goes"
    );
    assert_eq!(collect(now + hour / 2).await?, (0, 0));
    assert_eq!(collect(now + 2 * hour).await?, (1, 1));
    assert!(stored(&server, &sha256_hex(&dropped)).await?.is_none());
    assert_eq!(
        stored(&server, &sha256_hex(&kept)).await?.as_deref(),
        Some(&kept[..])
    );
    assert_eq!(
        server.storage.upload_received(staged.id).await?,
        0,
        "the abandoned upload's parts are gone"
    );
    assert_eq!(
        collect(now + 10 * hour).await?,
        (0, 0),
        "a referenced file stays"
    );
    Ok(())
}

// ── Several servers on one database and one object store (#18) ─────────────────────────

/// A blob store that fails every write while `failing` is set (a store that is down).
#[derive(Debug)]
struct FailingBlobStore {
    inner: Arc<dyn BlobStore>,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl BlobStore for FailingBlobStore {
    async fn put(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            anyhow::bail!("the object store is down (a fault injected by the test)");
        }
        self.inner.put(sha256, variant, bytes).await
    }
    async fn get(&self, sha256: &str, variant: Variant) -> Result<Option<Vec<u8>>> {
        self.inner.get(sha256, variant).await
    }
    async fn delete(&self, sha256: &str) -> Result<()> {
        self.inner.delete(sha256).await
    }
}

/// Two servers as replicas: each with its own connections to one PostgreSQL database (with
/// the demo data) and its own client of one S3 prefix.
async fn two_replicas() -> Result<(ScratchDatabase, TestServer, TestServer)> {
    let database = ScratchDatabase::create()?;
    let first = storage::open(&database.storage_url()).await?;
    rectify_server::demo::create_demo(first.as_ref(), TEST_PASSWORD).await?;
    let second = storage::open(&database.storage_url()).await?;
    let location = BlobLocation::S3(blobs::scratch::test_location()?);
    let nowhere = std::path::Path::new("/nonexistent");
    let a = TestServer::start_sharing(first, blobs::open(&location, nowhere).await?).await?;
    let b = TestServer::start_sharing(second, blobs::open(&location, nowhere).await?).await?;
    Ok((database, a, b))
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_18_an_upload_started_on_one_replica_finishes_on_another() -> Result<()> {
    let (_database, a, b) = two_replicas().await?;
    // One login works on both: sessions are in the database.
    let token = a.token("school1").await?;
    let bytes = photo(1600, 1200);
    let sha = sha256_hex(&bytes);
    let size = bytes.len() as u64;
    let first_part = bytes.len() * 3 / 5;
    let started: UploadStatus = start_upload(&a, &token, &sha, size).await?.json().await?;
    assert_eq!(started.received, 0);
    let sent: UploadStatus = patch(&a, &token, &sha, 0, bytes[..first_part].to_vec())
        .await?
        .json()
        .await?;
    assert_eq!((sent.received, sent.complete), (first_part as u64, false));

    // The load balancer sends the rest to the other replica, which knows how much arrived.
    let resumed: UploadStatus = start_upload(&b, &token, &sha, size).await?.json().await?;
    assert_eq!(
        (resumed.received, resumed.complete),
        (first_part as u64, false),
        "the second replica resumes where the first stopped: nothing is sent again"
    );
    let done: UploadStatus = patch(
        &b,
        &token,
        &sha,
        first_part as u64,
        bytes[first_part..].to_vec(),
    )
    .await?
    .json()
    .await?;
    assert_eq!((done.received, done.complete), (size, true));

    // Stored once in the object store, with its thumbnail, readable through either replica.
    assert_eq!(
        a.files.store.get(&sha, Variant::Original).await?.as_deref(),
        Some(&bytes[..])
    );
    assert!(a.files.store.get(&sha, Variant::Thumbnail).await?.is_some());
    let office = a.token("office").await?;
    let served = reqwest::Client::new()
        .get(a.url(&format!("/api/files/{sha}")))
        .bearer_auth(&office)
        .send()
        .await?;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await?.as_ref(), &bytes[..]);
    assert!(
        b.storage
            .upload(&Username::new("school1"), &sha)
            .await?
            .is_none(),
        "the upload and its parts are gone"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_18_a_newer_request_on_another_replica_takes_over_an_upload() -> Result<()> {
    let (_database, a, b) = two_replicas().await?;
    let token = a.token("school1").await?;
    let bytes = pdf(18, 400_000);
    let sha = sha256_hex(&bytes);
    start_upload(&a, &token, &sha, bytes.len() as u64).await?;
    let upload = a
        .storage
        .upload(&Username::new("school1"), &sha)
        .await?
        .context("the upload was started")?;
    // A request on replica A that its client has given up on (its connection looks alive):
    // it becomes the writer, then replica B's request for the same offset takes over.
    let stale = a
        .storage
        .take_upload_writer(upload.id)
        .await?
        .context("a writer")?;
    let part: UploadStatus = patch(&b, &token, &sha, 0, bytes[..200_000].to_vec())
        .await?
        .json()
        .await?;
    assert_eq!((part.received, part.complete), (200_000, false));
    // The old writer's next part is refused: nothing of it is stored.
    let late = a
        .storage
        .append_upload_part(upload.id, stale, 200_000, b"stale bytes")
        .await?;
    assert_eq!(late, PartAppended::TakenOver);
    assert_eq!(a.storage.upload_received(upload.id).await?, 200_000);
    let done: UploadStatus = patch(&a, &token, &sha, 200_000, bytes[200_000..].to_vec())
        .await?
        .json()
        .await?;
    assert!(done.complete);
    assert_eq!(
        a.files.store.get(&sha, Variant::Original).await?.as_deref(),
        Some(&bytes[..])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_18_an_append_whose_write_fails_stays_resumable_at_the_last_stored_offset()
-> Result<()> {
    let (server, faulty) = TestServer::start_faulty().await?;
    let token = server.token("school1").await?;
    let bytes = pdf(19, 3 * PART_BYTES + 1000);
    let sha = sha256_hex(&bytes);
    start_upload(&server, &token, &sha, bytes.len() as u64).await?;
    // The database takes the first part, then fails.
    faulty.fail_upload_parts_after(1);
    let failed = patch(&server, &token, &sha, 0, bytes.clone()).await?;
    assert_eq!(failed.status(), 503, "a transient failure: try again");
    let upload = faulty
        .inner()
        .upload(&Username::new("school1"), &sha)
        .await?
        .context("the upload stays")?;
    let kept = faulty.inner().upload_received(upload.id).await?;
    assert!(
        (PART_BYTES as u64..bytes.len() as u64).contains(&kept),
        "the first part is kept: {kept} bytes"
    );
    faulty.heal();
    let status: UploadStatus = start_upload(&server, &token, &sha, bytes.len() as u64)
        .await?
        .json()
        .await?;
    assert_eq!((status.received, status.complete), (kept, false));
    let done: UploadStatus = patch(&server, &token, &sha, kept, bytes[kept as usize..].to_vec())
        .await?
        .json()
        .await?;
    assert!(done.complete);
    assert_eq!(stored(&server, &sha).await?.as_deref(), Some(&bytes[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_18_a_file_the_object_store_did_not_take_is_finished_by_the_next_request()
-> Result<()> {
    let data = tempfile::tempdir()?;
    let storage = storage::open_data_dir(data.path()).await?;
    rectify_server::demo::create_demo(storage.as_ref(), TEST_PASSWORD).await?;
    let store = Arc::new(FailingBlobStore {
        inner: blobs::open(&BlobLocation::DataDir, data.path()).await?,
        failing: AtomicBool::new(true),
    });
    let server = TestServer::start_sharing(storage, store.clone()).await?;
    let token = server.token("school1").await?;
    let bytes = pdf(20, 300_000);
    let sha = sha256_hex(&bytes);
    start_upload(&server, &token, &sha, bytes.len() as u64).await?;
    let failed = patch(&server, &token, &sha, 0, bytes.clone()).await?;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    assert!(server.storage.blob(&sha).await?.is_none());

    // The store is back. The client asks how far it got (as ours does after an error): every
    // byte is there, so the server finishes the file without any being sent again.
    store.failing.store(false, Ordering::SeqCst);
    let status: UploadStatus = start_upload(&server, &token, &sha, bytes.len() as u64)
        .await?
        .json()
        .await?;
    assert_eq!(
        (status.received, status.complete),
        (bytes.len() as u64, true)
    );
    assert_eq!(stored(&server, &sha).await?.as_deref(), Some(&bytes[..]));
    assert!(server.storage.blob(&sha).await?.is_some());
    Ok(())
}
