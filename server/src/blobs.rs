//! Where evidence bytes live: a [`BlobStore`], addressed by SHA-256. The local directory is
//! the default; an S3-compatible store implements the same trait.
//!
//! The store holds only checked, complete files (and their thumbnails). Unfinished uploads
//! are staged on local disk by [`crate::evidence`] and move in with [`BlobStore::put_file`].

use async_trait::async_trait;
use rectify_shared::evidence::is_sha256_hex;
use std::path::{Path, PathBuf};

/// What is stored under a file's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

/// Complete evidence files by SHA-256 (lowercase hex, checked by every method).
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Moves a checked file from local disk into the store (atomically: readers see all of it
    /// or nothing). An existing entry is kept (same hash, same bytes).
    async fn put_file(&self, sha256: &str, variant: Variant, from: &Path) -> anyhow::Result<()>;
    /// Stores bytes (a thumbnail) under the file's hash.
    async fn put_bytes(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> anyhow::Result<()>;
    /// The bytes, or `None` when there are none.
    async fn get(&self, sha256: &str, variant: Variant) -> anyhow::Result<Option<Vec<u8>>>;
    /// Deletes the file and its thumbnail; deleting what is not there is no error.
    async fn delete(&self, sha256: &str) -> anyhow::Result<()>;
}

/// Files in a local directory: `DIR/ab/abcdef…` and `DIR/ab/abcdef….thumb.jpg`.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn open(root: &Path) -> anyhow::Result<LocalBlobStore> {
        use anyhow::Context;
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the file store {}", root.display()))?;
        Ok(LocalBlobStore {
            root: root.to_owned(),
        })
    }

    fn path(&self, sha256: &str, variant: Variant) -> anyhow::Result<PathBuf> {
        // Only a checked hash ever becomes part of a path.
        anyhow::ensure!(is_sha256_hex(sha256), "not a SHA-256: {sha256:?}");
        let name = match variant {
            Variant::Original => sha256.to_owned(),
            Variant::Thumbnail => format!("{sha256}.thumb.jpg"),
        };
        Ok(self.root.join(&sha256[..2]).join(name))
    }

    /// Writes through a temporary name and renames, so a crash never leaves half a file under
    /// a hash.
    async fn write_atomically(&self, to: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = to.with_extension("partial");
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, to).await?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put_file(&self, sha256: &str, variant: Variant, from: &Path) -> anyhow::Result<()> {
        let to = self.path(sha256, variant)?;
        if tokio::fs::try_exists(&to).await? {
            return Ok(());
        }
        tokio::fs::create_dir_all(to.parent().expect("a blob path has a parent")).await?;
        tokio::fs::File::open(from).await?.sync_all().await?;
        if tokio::fs::rename(from, &to).await.is_err() {
            // Another file system: copy through a temporary name instead.
            let bytes = tokio::fs::read(from).await?;
            self.write_atomically(&to, &bytes).await?;
        }
        Ok(())
    }

    async fn put_bytes(&self, sha256: &str, variant: Variant, bytes: &[u8]) -> anyhow::Result<()> {
        let to = self.path(sha256, variant)?;
        tokio::fs::create_dir_all(to.parent().expect("a blob path has a parent")).await?;
        self.write_atomically(&to, bytes).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use rectify_shared::evidence::sha256_hex;

    #[tokio::test]
    async fn stores_reads_and_deletes_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(&dir.path().join("blobs")).unwrap();
        let bytes = b"%PDF-1.7 evidence";
        let sha = sha256_hex(bytes);
        let staged = dir.path().join("staged");
        std::fs::write(&staged, bytes).unwrap();
        store
            .put_file(&sha, Variant::Original, &staged)
            .await
            .unwrap();
        store
            .put_bytes(&sha, Variant::Thumbnail, b"thumb")
            .await
            .unwrap();
        assert_eq!(
            store.get(&sha, Variant::Original).await.unwrap().unwrap(),
            bytes
        );
        assert_eq!(
            store.get(&sha, Variant::Thumbnail).await.unwrap().unwrap(),
            b"thumb"
        );
        store.delete(&sha).await.unwrap();
        assert!(store.get(&sha, Variant::Original).await.unwrap().is_none());
        store.delete(&sha).await.unwrap();
    }

    #[tokio::test]
    async fn refuses_anything_but_a_hash_as_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        for bad in ["../../etc/passwd", "", "ABC", &"a".repeat(63)] {
            assert!(store.get(bad, Variant::Original).await.is_err(), "{bad:?}");
            assert!(
                store
                    .put_bytes(bad, Variant::Thumbnail, b"x")
                    .await
                    .is_err()
            );
        }
    }
}
