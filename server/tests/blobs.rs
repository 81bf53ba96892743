//! The blob store conformance suite: what every [`BlobStore`] must do, run against the local
//! directory and an S3-compatible store (`<store>::<test>`;
//! `cargo nextest run -p rectify-server --test blobs`).
//!
//! S3 runs on the tests' server (`RECTIFY_TEST_S3_ENDPOINT`, which `cargo xtask test` starts:
//! moto), each test under a prefix of its own. Without a server the S3 tests fail and say how
//! to get one; they never skip.

use anyhow::Result;
use rectify_server::blobs::{self, BlobLocation, BlobStore, S3Settings, Variant, scratch};
use rectify_shared::evidence::sha256_hex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A fresh, empty store and what must live as long as it.
struct Place {
    store: Arc<dyn BlobStore>,
    _keep: Option<tempfile::TempDir>,
}

type NewPlace = fn() -> Pin<Box<dyn Future<Output = Result<Place>>>>;

fn local() -> Pin<Box<dyn Future<Output = Result<Place>>>> {
    Box::pin(async {
        let dir = tempfile::tempdir()?;
        let store = blobs::open(&BlobLocation::DataDir, dir.path()).await?;
        Ok(Place {
            store,
            _keep: Some(dir),
        })
    })
}

fn s3() -> Pin<Box<dyn Future<Output = Result<Place>>>> {
    Box::pin(async {
        let location = BlobLocation::S3(scratch::test_location()?);
        let store = blobs::open(&location, std::path::Path::new("/nonexistent")).await?;
        Ok(Place { store, _keep: None })
    })
}

async fn stores_reads_and_deletes_by_hash(new: NewPlace) -> Result<()> {
    let place = new().await?;
    let store = &place.store;
    let bytes = b"%PDF-1.7 evidence";
    let sha = sha256_hex(bytes);
    assert_eq!(store.get(&sha, Variant::Original).await?, None);
    store.put(&sha, Variant::Original, bytes).await?;
    store.put(&sha, Variant::Thumbnail, b"thumb").await?;
    assert_eq!(
        store.get(&sha, Variant::Original).await?.as_deref(),
        Some(&bytes[..])
    );
    assert_eq!(
        store.get(&sha, Variant::Thumbnail).await?.as_deref(),
        Some(&b"thumb"[..])
    );
    store.delete(&sha).await?;
    assert_eq!(store.get(&sha, Variant::Original).await?, None);
    assert_eq!(store.get(&sha, Variant::Thumbnail).await?, None);
    store.delete(&sha).await?;
    Ok(())
}

async fn writes_are_create_only(new: NewPlace) -> Result<()> {
    let place = new().await?;
    let store = &place.store;
    let sha = sha256_hex(b"the first bytes");
    store
        .put(&sha, Variant::Original, b"the first bytes")
        .await?;
    // A second write under the name succeeds and changes nothing: the name is the hash, so
    // whatever is there is right (two servers finishing one upload at once store it once).
    store.put(&sha, Variant::Original, b"other bytes").await?;
    assert_eq!(
        store.get(&sha, Variant::Original).await?.as_deref(),
        Some(&b"the first bytes"[..])
    );
    Ok(())
}

async fn a_file_without_a_thumbnail_is_no_error(new: NewPlace) -> Result<()> {
    let place = new().await?;
    let store = &place.store;
    let sha = sha256_hex(b"a pdf");
    store.put(&sha, Variant::Original, b"a pdf").await?;
    assert_eq!(store.get(&sha, Variant::Thumbnail).await?, None);
    store.delete(&sha).await?;
    assert_eq!(store.get(&sha, Variant::Original).await?, None);
    Ok(())
}

async fn refuses_anything_but_a_hash_as_a_name(new: NewPlace) -> Result<()> {
    let place = new().await?;
    let store = &place.store;
    for bad in [
        "../../etc/passwd",
        "",
        "ABC",
        &"a".repeat(63),
        &"A".repeat(64),
    ] {
        assert!(store.get(bad, Variant::Original).await.is_err(), "{bad:?}");
        assert!(store.put(bad, Variant::Thumbnail, b"x").await.is_err());
        assert!(store.delete(bad).await.is_err());
    }
    Ok(())
}

macro_rules! store {
    ($store:ident: $($test:ident),* $(,)?) => {
        mod $store {
            $(
                #[tokio::test]
                async fn $test() -> anyhow::Result<()> {
                    super::$test(super::$store).await
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        store!(local: $($test),*);
        store!(s3: $($test),*);
    };
}

suite![
    stores_reads_and_deletes_by_hash,
    writes_are_create_only,
    a_file_without_a_thumbnail_is_no_error,
    refuses_anything_but_a_hash_as_a_name,
];

// ── Opening an S3 store that is not there ───────────────────────────────────────────────

/// An endpoint nothing listens on, or a bucket that does not exist, stops the server at start
/// with an error that names them.
#[tokio::test]
async fn an_unreachable_endpoint_or_a_missing_bucket_is_a_clear_error() -> Result<()> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let unreachable = S3Settings {
        endpoint: Some(format!("http://{closed}")),
        ..scratch::test_location()?
    };
    let err = blobs::open(&BlobLocation::S3(unreachable), std::path::Path::new("/x"))
        .await
        .expect_err("nothing listens there");
    let message = format!("{err:#}");
    assert!(message.contains(&closed.to_string()), "{message}");
    assert!(message.contains("s3://rectify-test/test-"), "{message}");

    let missing = S3Settings {
        bucket: "no-such-bucket-here".to_owned(),
        ..scratch::test_location()?
    };
    let err = blobs::open(&BlobLocation::S3(missing), std::path::Path::new("/x"))
        .await
        .expect_err("no such bucket");
    let message = format!("{err:#}");
    assert!(message.contains("s3://no-such-bucket-here"), "{message}");
    assert!(message.contains("that the bucket exists"), "{message}");
    Ok(())
}
