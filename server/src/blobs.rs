//! Where evidence bytes live: a [`BlobStore`], addressed by SHA-256. The local directory
//! ([`LocalBlobStore`]) is the default; an S3-compatible object store ([`S3BlobStore`],
//! `rectify serve --blobs s3://BUCKET[/PREFIX]`) implements the same trait, so several server
//! processes can share one. [`BlobLocation`] says which; [`open`] is the one place a store is
//! chosen.
//!
//! The store holds only checked, complete files (and their thumbnails), and is written
//! create-only: a file's name is its hash, so an entry that exists already holds these bytes
//! and is left alone. Unfinished uploads are staged in the database by [`crate::evidence`]
//! and move in with [`BlobStore::put`] once their hash is checked.

use anyhow::Context;
use async_trait::async_trait;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use rectify_shared::evidence::is_sha256_hex;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is stored under a file's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

/// The name of a file's entry, relative to the store's root: `ab/abcdef…` or
/// `ab/abcdef….thumb.jpg`. Only a checked hash ever becomes part of a name.
fn entry_name(sha256: &str, variant: Variant) -> anyhow::Result<String> {
    anyhow::ensure!(is_sha256_hex(sha256), "not a SHA-256: {sha256:?}");
    let prefix = &sha256[..2];
    Ok(match variant {
        Variant::Original => format!("{prefix}/{sha256}"),
        Variant::Thumbnail => format!("{prefix}/{sha256}.thumb.jpg"),
    })
}

/// Complete evidence files by SHA-256 (lowercase hex, checked by every method).
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores the bytes under the file's hash, all or nothing (a reader never sees part of
    /// them), durable when it returns. Create-only: an entry that exists is kept (same hash,
    /// same bytes) and that is success.
    async fn put(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> anyhow::Result<()>;
    /// The bytes, or `None` when there are none.
    async fn get(&self, sha256: &str, variant: Variant) -> anyhow::Result<Option<Vec<u8>>>;
    /// Deletes the file and its thumbnail; deleting what is not there is no error.
    async fn delete(&self, sha256: &str) -> anyhow::Result<()>;
}

/// Where the evidence files are: `rectify serve --blobs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlobLocation {
    /// `DIR/blobs` in the data directory (the default).
    #[default]
    DataDir,
    /// An S3-compatible object store.
    S3(S3Settings),
}

/// An S3 bucket (and a prefix in it) and how to reach it. Credentials come only from the
/// standard AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), never from flags, which other users of the machine can read in the
/// process list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Entries go under `PREFIX/` (no leading or trailing slash); empty for the bucket's root.
    pub prefix: String,
    /// The service's address (`--s3-endpoint`); else `AWS_ENDPOINT_URL`, else AWS itself.
    /// An `http://` endpoint is allowed to be plain HTTP (a store on a private network).
    pub endpoint: Option<String>,
    /// `--s3-region`; else `AWS_REGION` (or `AWS_DEFAULT_REGION`), else `us-east-1`.
    pub region: Option<String>,
}

impl S3Settings {
    /// Reads `s3://BUCKET[/PREFIX]`; the error says what is wrong with it.
    pub fn parse_url(url: &str) -> Result<S3Settings, String> {
        let expected = "expected s3://BUCKET or s3://BUCKET/PREFIX";
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(format!(
                "'{url}' is not an S3 location: {expected} (without --blobs, evidence files \
                 are kept in the data directory)"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's rules for a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(format!(
                "'{bucket}' in '{url}' is not a bucket name (3 to 63 lowercase letters, digits, \
                 dots and hyphens): {expected}"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|part| matches!(part, "." | "..") || (part.is_empty() && !prefix.is_empty()))
        {
            return Err(format!(
                "the prefix '{prefix}' in '{url}' has an empty, '.' or '..' part: {expected}"
            ));
        }
        Ok(S3Settings {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
        })
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobLocation::DataDir => write!(f, "the data directory"),
            BlobLocation::S3(s3) => {
                write!(f, "s3://{}", s3.bucket)?;
                if !s3.prefix.is_empty() {
                    write!(f, "/{}", s3.prefix)?;
                }
                if let Some(endpoint) = &s3.endpoint {
                    write!(f, " at {endpoint}")?;
                }
                Ok(())
            }
        }
    }
}

/// Opens the store at `location` (`DIR/blobs` for [`BlobLocation::DataDir`]) and checks that
/// it answers: the one place a store is chosen. An S3 bucket that cannot be reached or read
/// is an error naming the bucket, the endpoint and what the service said.
pub async fn open(
    location: &BlobLocation,
    data_dir: &Path,
) -> anyhow::Result<std::sync::Arc<dyn BlobStore>> {
    Ok(match location {
        BlobLocation::DataDir => {
            std::sync::Arc::new(LocalBlobStore::open(&data_dir.join("blobs"))?)
        }
        BlobLocation::S3(settings) => std::sync::Arc::new(S3BlobStore::open(settings).await?),
    })
}

/// Files in a local directory: `DIR/ab/abcdef…` and `DIR/ab/abcdef….thumb.jpg`.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn open(root: &Path) -> anyhow::Result<LocalBlobStore> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the file store {}", root.display()))?;
        Ok(LocalBlobStore {
            root: root.to_owned(),
        })
    }

    fn path(&self, sha256: &str, variant: Variant) -> anyhow::Result<PathBuf> {
        Ok(self.root.join(entry_name(sha256, variant)?))
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> anyhow::Result<()> {
        let to = self.path(sha256, variant)?;
        if tokio::fs::try_exists(&to).await? {
            return Ok(());
        }
        tokio::fs::create_dir_all(to.parent().expect("a blob path has a parent")).await?;
        // Through a temporary name and a rename, so a crash never leaves half a file under a
        // hash.
        let tmp = to.with_extension("partial");
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, &to).await?;
        Ok(())
    }

    async fn get(&self, sha256: &str, variant: Variant) -> anyhow::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(sha256, variant)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, sha256: &str) -> anyhow::Result<()> {
        for variant in [Variant::Original, Variant::Thumbnail] {
            match tokio::fs::remove_file(self.path(sha256, variant)?).await {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

/// Files in an S3-compatible object store, under the same names as in a local directory
/// (below the prefix). Writes are create-only (`If-None-Match: *`, `PutMode::Create`), so two
/// servers storing the same file at once store it once.
#[derive(Debug)]
pub struct S3BlobStore {
    store: AmazonS3,
    prefix: String,
    /// Said in errors: `s3://BUCKET/PREFIX at ENDPOINT`.
    location: String,
}

impl S3BlobStore {
    /// Connects to the bucket and lists its prefix once, so that a wrong endpoint, bucket or
    /// credentials stop the server at start with the reason rather than at the first upload.
    pub async fn open(settings: &S3Settings) -> anyhow::Result<S3BlobStore> {
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let location = BlobLocation::S3(S3Settings {
            endpoint: endpoint.clone(),
            ..settings.clone()
        })
        .to_string();
        // The HTTP client needs the process's TLS crypto provider (the one `--tls-cert` uses),
        // even for an http:// endpoint.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // An unreachable store fails a request in seconds, not after minutes of retries.
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120));
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..object_store::RetryConfig::default()
        };
        // Client options first: they hold `allow_http`, which is set after them.
        let mut builder = AmazonS3Builder::from_env()
            .with_client_options(client)
            .with_retry(retry)
            .with_bucket_name(&settings.bucket);
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        let store = builder
            .build()
            .with_context(|| format!("cannot use the evidence store {location}"))?;
        let this = S3BlobStore {
            store,
            prefix: settings.prefix.clone(),
            location,
        };
        let root =
            (!this.prefix.is_empty()).then(|| object_store::path::Path::from(this.prefix.as_str()));
        this.store
            .list_with_delimiter(root.as_ref())
            .await
            .with_context(|| {
                format!(
                    "cannot read the evidence store {}: check the endpoint (--s3-endpoint or \
                     AWS_ENDPOINT_URL), that the bucket exists, and the credentials \
                     (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
                    this.location
                )
            })?;
        Ok(this)
    }

    fn key(&self, sha256: &str, variant: Variant) -> anyhow::Result<object_store::path::Path> {
        let name = entry_name(sha256, variant)?;
        Ok(if self.prefix.is_empty() {
            object_store::path::Path::from(name)
        } else {
            object_store::path::Path::from(format!("{}/{name}", self.prefix))
        })
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> anyhow::Result<()> {
        let key = self.key(sha256, variant)?;
        let payload = PutPayload::from(bytes.to_vec());
        match self
            .store
            .put_opts(&key, payload, PutMode::Create.into())
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(err) => {
                Err(err).with_context(|| format!("cannot store {key} in {}", self.location))
            }
        }
    }

    async fn get(&self, sha256: &str, variant: Variant) -> anyhow::Result<Option<Vec<u8>>> {
        let key = self.key(sha256, variant)?;
        let read = async { self.store.get(&key).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => {
                Err(err).with_context(|| format!("cannot read {key} from {}", self.location))
            }
        }
    }

    async fn delete(&self, sha256: &str) -> anyhow::Result<()> {
        for variant in [Variant::Original, Variant::Thumbnail] {
            let key = self.key(sha256, variant)?;
            // S3 answers a delete of a missing key with success; some stores say 404.
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot delete {key} from {}", self.location));
                }
            }
        }
        Ok(())
    }
}

/// A place of its own in the tests' S3 bucket, for tests (like
/// [`crate::storage::scratch`] for PostgreSQL).
pub mod scratch {
    use super::S3Settings;

    /// The tests' S3 endpoint; `cargo xtask test` starts one (moto) and sets it.
    pub const TEST_S3_ENV: &str = "RECTIFY_TEST_S3_ENDPOINT";
    /// The bucket the tests use on it (made by `cargo xtask test`).
    pub const TEST_BUCKET: &str = "rectify-test";

    /// A fresh prefix in the test bucket at `RECTIFY_TEST_S3_ENDPOINT`. Fails (never skips)
    /// when the variable is not set, saying how to get a server.
    pub fn test_location() -> anyhow::Result<S3Settings> {
        let endpoint = std::env::var(TEST_S3_ENV).ok().filter(|e| !e.is_empty());
        let Some(endpoint) = endpoint else {
            anyhow::bail!(
                "the S3 tests need an S3-compatible server: {TEST_S3_ENV} is not set. Run them \
                 with `cargo xtask test`, or start one with `cargo xtask s3` and export the \
                 variables it prints"
            );
        };
        anyhow::ensure!(
            std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
            "the S3 tests sign their requests: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (`cargo xtask s3` prints values for its server)"
        );
        let mut nonce = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let prefix = format!(
            "test-{}",
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Ok(S3Settings {
            bucket: TEST_BUCKET.to_owned(),
            prefix,
            endpoint: Some(endpoint),
            region: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_maybe_a_prefix() {
        let parsed = S3Settings::parse_url("s3://rectify-evidence/district/pengshan/").unwrap();
        assert_eq!(
            (parsed.bucket.as_str(), parsed.prefix.as_str()),
            ("rectify-evidence", "district/pengshan")
        );
        assert_eq!(S3Settings::parse_url("s3://bucket").unwrap().prefix, "");
        for (bad, says) in [
            ("/srv/blobs", "not an S3 location"),
            ("https://bucket", "not an S3 location"),
            ("s3://", "not a bucket name"),
            ("s3://Upper_Case", "not a bucket name"),
            ("s3://ab", "not a bucket name"),
            ("s3://bucket/a//b", "empty, '.' or '..' part"),
            ("s3://bucket/../x", "empty, '.' or '..' part"),
        ] {
            let err = S3Settings::parse_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
