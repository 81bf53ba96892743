//! `rectify migrate` (issue #18): a district's SQLite data directory moved into PostgreSQL and
//! the object store, then served from there; a target that is not empty refused untouched;
//! bad arguments refused clearly; a failure half-way says what was copied and what to do.
//!
//! Needs PostgreSQL ([`ScratchDatabase`]), the tests' S3 server
//! (`blobs::scratch::test_location`) and the `rectify` binary ([`ServerProcess::test_binary`]).

use anyhow::{Context, Result, ensure};
use rectify_server::blobs::{BlobStore, LocalBlobStore};
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{self, Storage, StorageUrl};
use rectify_shared::api::ItemSummary;
use rectify_shared::evidence::sha256_hex;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, EvidenceRef, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::{FaultyStorage, ServerProcess, SyncTestClient};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const NARRATIVE: &str = "迁移样本：签到台账已建立。";

/// Runs the binary with `args` (and the environment's S3 credentials).
fn rectify(args: &[&str]) -> Result<Output> {
    Ok(Command::new(ServerProcess::test_binary()?)
        .args(args)
        .env("RECTIFY_LOG", "warn")
        .output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What the source holds beyond the demo: school1's narrative on `item` (a synced change)
/// and the photo `sha256` it references (uploaded).
struct Work {
    item: DocumentId,
    sha256: String,
    photo: Vec<u8>,
}

/// A stopped server's SQLite data directory: the demo, a photo uploaded by school1 and a
/// synced change of school1's referencing it.
async fn source_with_work() -> Result<(ServerProcess, Work)> {
    let mut source = ServerProcess::prepare(ServerProcess::test_binary()?).await?;
    source.start().await?;
    let token = source.token("school1").await?;
    let photo = rectify_tests::photos::phone_photo(640, 480, 18);
    let sha256 = sha256_hex(&photo);
    rectify_tests::uploader::upload(&source.http_base(), &token, "台账.jpg", &photo, 1 << 16, 0)
        .await?;
    let unit = UnitId::new("pszx1");
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(unit.clone()),
        },
        user: "school1".into(),
        now_ms: rectify_server::clock::now_ms(),
    };
    let mut sync = SyncTestClient::connect(&source.ws_base(), &token).await?;
    let limit = Duration::from_secs(30);
    let mut open = None;
    for item in source.items(&token).await? {
        if !item.units.contains(&unit) {
            continue;
        }
        let id: DocumentId = item.id.parse()?;
        sync.fetch(id, limit).await?;
        let edit = ItemEdit::UnitNarrative {
            unit: "pszx1".into(),
            text: NARRATIVE.into(),
        };
        if model::apply(sync.document_mut(&id)?, &ctx, edit).is_ok() {
            open = Some(id);
            break;
        }
    }
    let item = open.context("school1 has an item it may change")?;
    let evidence = ItemEdit::AddEvidence {
        unit: "pszx1".into(),
        evidence: EvidenceRef {
            sha256: sha256.clone(),
            name: "台账.jpg".into(),
            mime: "image/jpeg".into(),
            size: photo.len() as u64,
            caption: "签到台账".into(),
            added_by: "school1".into(),
            added_at_ms: ctx.now_ms,
        },
    };
    model::apply(sync.document_mut(&item)?, &ctx, evidence)?;
    sync.sync_until_acknowledged(&item, limit).await?;
    sync.close().await?;
    source.terminate(Duration::from_secs(20)).await?;
    Ok((
        source,
        Work {
            item,
            sha256,
            photo,
        },
    ))
}

/// The demo plus an uploaded photo and a synced change, migrated into a scratch PostgreSQL
/// database and a prefix of the tests' bucket, then served from there by `rectify serve`: the
/// item, its history with the sender's name and the photo are there.
#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_moves_to_postgres_and_s3_and_is_served_from_there() -> Result<()> {
    let (source, work) = source_with_work().await?;
    let database = ScratchDatabase::create()?;
    let s3 = rectify_server::blobs::scratch::test_location()?;
    let blobs = format!("s3://{}/{}", s3.bucket, s3.prefix);
    let endpoint = s3
        .endpoint
        .clone()
        .context("the test location has an endpoint")?;
    let mut target =
        ServerProcess::replica(ServerProcess::test_binary()?, database.url(), false).await?;
    let from = source.data_dir();
    let data = target.data_dir();
    let out = rectify(&[
        "migrate",
        "--from",
        from.to_str().context("a UTF-8 path")?,
        "--to",
        database.url(),
        "--data",
        data.to_str().context("a UTF-8 path")?,
        "--blobs",
        &blobs,
        "--s3-endpoint",
        &endpoint,
    ])?;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure!(out.status.success(), "migrate failed: {stderr}");
    for line in [
        "documents 54/54",
        "checked documents 54/54",
        "evidence files 1/1",
    ] {
        ensure!(
            stderr.contains(line),
            "no progress line {line:?} in: {stderr}"
        );
    }
    ensure!(
        stdout.contains("12 accounts") && stdout.contains("54 documents"),
        "{stdout}"
    );

    target.set_serve_args(vec![
        "--database".into(),
        database.url().into(),
        "--blobs".into(),
        blobs.clone(),
        "--s3-endpoint".into(),
        endpoint,
    ]);
    target.start().await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let office = target.token("office").await?;
    let items: Vec<ItemSummary> = target.items(&office).await?;
    ensure!(items.len() == 53, "{} items", items.len());
    ensure!(items.iter().any(|i| i.id == work.item.to_string()));

    // The history names the sender the source recorded.
    let history: serde_json::Value = http
        .get(format!(
            "{}/api/items/{}/history",
            target.http_base(),
            work.item
        ))
        .bearer_auth(&office)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let entries = history["entries"].as_array().context("history entries")?;
    ensure!(
        entries
            .iter()
            .any(|e| e["user"] == "school1" && e["verified"] == true),
        "no verified line by school1 in {history}"
    );
    ensure!(history.to_string().contains(NARRATIVE), "{history}");

    // The file, from the object store, byte for byte; and the school's own session works.
    let school = target.token("school1").await?;
    let file = http
        .get(format!("{}/api/files/{}", target.http_base(), work.sha256))
        .bearer_auth(&school)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    ensure!(file.as_ref() == work.photo.as_slice(), "the file differs");
    let in_s3 = rectify_server::blobs::S3BlobStore::open(&s3).await?;
    ensure!(
        in_s3
            .get(&work.sha256, rectify_server::blobs::Variant::Original)
            .await?
            .is_some(),
        "the file is not in the bucket"
    );
    Ok(())
}

/// Counts of what a database holds: accounts and documents.
async fn holds(url: &str) -> Result<(usize, usize)> {
    let storage = storage::open(&url.parse::<StorageUrl>()?).await?;
    let held = (
        storage.users().await?.len(),
        storage.documents().await?.len(),
    );
    storage.close().await;
    Ok(held)
}

/// A database with anything in it is refused before anything is written, with a message
/// that says why; what it held is unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_is_not_empty_is_refused_untouched() -> Result<()> {
    let source = ServerProcess::prepare(ServerProcess::test_binary()?).await?;
    let database = ScratchDatabase::create()?;
    let other =
        ServerProcess::replica(ServerProcess::test_binary()?, database.url(), false).await?;
    // One account in the target, nothing else.
    let data = other.data_dir();
    let data = data.to_str().context("a UTF-8 path")?;
    other
        .cli(
            &[
                "user",
                "add",
                "--data",
                data,
                "--database",
                database.url(),
                "admin",
                "--role",
                "office",
            ],
            Some("a-long-password-1\n"),
        )
        .await?;
    let before = holds(database.url()).await?;
    assert_eq!(before, (1, 0));
    let from = source.data_dir();
    let out = rectify(&[
        "migrate",
        "--from",
        from.to_str().context("a UTF-8 path")?,
        "--to",
        database.url(),
        "--data",
        data,
    ])?;
    let stderr = text(&out.stderr);
    ensure!(!out.status.success(), "a non-empty target was accepted");
    ensure!(
        stderr.contains("is not empty") && stderr.contains("1 account(s)"),
        "{stderr}"
    );
    ensure!(holds(database.url()).await? == before, "the target changed");
    Ok(())
}

/// Bad arguments: each refused with a message naming the problem, nothing made.
#[test]
fn bad_arguments_are_refused_clearly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("not-there");
    let missing = missing.to_str().context("a UTF-8 path")?;
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let empty = empty.to_str().context("a UTF-8 path")?;
    let pg = "postgres://nobody@127.0.0.1:1/none";
    let cases: [(&[&str], &str); 5] = [
        (&["migrate", "--from", empty], "--to"),
        (&["migrate", "--to", pg], "--from"),
        (
            &["migrate", "--from", missing, "--to", pg],
            "is not a Rectify data directory",
        ),
        (
            &["migrate", "--from", empty, "--to", pg],
            "is not a Rectify data directory",
        ),
        (
            &["migrate", "--from", empty, "--to", "sqlite:///tmp/x.db"],
            "--to must name a PostgreSQL database",
        ),
    ];
    for (args, says) in cases {
        let out = rectify(args)?;
        let stderr = text(&out.stderr);
        ensure!(!out.status.success(), "{args:?} succeeded");
        ensure!(stderr.contains(says), "{args:?}: {stderr}");
    }
    ensure!(!Path::new(missing).exists(), "a missing --from was created");
    ensure!(
        std::fs::read_dir(empty)?.next().is_none(),
        "something was written into a directory that is not a data directory"
    );
    Ok(())
}

/// A write that fails half-way stops the migration with a message saying what was copied
/// and that the target must be dropped before trying again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_half_way_says_what_was_copied_and_what_to_do() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let source = storage::open_data_dir(dir.path()).await?;
    rectify_server::demo::create_demo(source.as_ref(), rectify_tests::TEST_PASSWORD).await?;
    let database = ScratchDatabase::create()?;
    let target = FaultyStorage::new(storage::open(&database.storage_url()).await?);
    target.fail_all_writes();
    let (from_files, to_files) = (
        LocalBlobStore::open(&dir.path().join("blobs"))?,
        LocalBlobStore::open(&dir.path().join("target-blobs"))?,
    );
    let mut lines = Vec::new();
    let result = rectify_server::migrate::migrate(
        rectify_server::migrate::Side {
            storage: source.as_ref(),
            files: &from_files as &dyn BlobStore,
            name: "source",
        },
        rectify_server::migrate::Side {
            storage: target.as_ref() as &dyn Storage,
            files: &to_files,
            name: "target",
        },
        &mut |line| lines.push(line.to_owned()),
    )
    .await;
    let err = format!("{:#}", result.err().context("the migration succeeded")?);
    ensure!(err.contains("stopped half-way"), "{err}");
    ensure!(err.contains("after copying 12 accounts"), "{err}");
    ensure!(err.contains("0 documents"), "{err}");
    ensure!(err.contains("drop that database"), "{err}");
    Ok(())
}
