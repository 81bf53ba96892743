//! The data directory as a whole: one server at a time, backups and restores.
//!
//! `DIR` holds the database ([`StorageUrl::for_data_dir`]: SQLite's `rectify.db`, with its
//! `-wal` and `-shm` files while open) and `DIR/blobs/`, the evidence files. A backup is a
//! directory holding a consistent copy of the database ([`Backup::backup_to`]), made while the
//! server runs, and the evidence files (`blobs/`, copied after the database, so every file the
//! copy records is there). A restore never deletes anything: the current database is moved
//! aside first ([`Backup::restore_from`]), and evidence files are only added.
//!
//! With `--database postgres://…` the database is not in `DIR` (only the lock and the evidence
//! files are): backups and restores are refused before anything is made or moved, saying to
//! use `pg_dump` and `pg_restore` ([`Backup::supported`]). With `--blobs s3://…` the evidence
//! files are not in `DIR` either: backups and restores cover the database only
//! ([`Evidence::Elsewhere`]), and the bucket's versioning keeps the files.

use crate::storage::{self, Backup, StorageUrl};
use anyhow::{Context, bail};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The evidence files' directory inside a data directory (and inside a backup).
pub const BLOBS: &str = "blobs";
/// Held (an OS file lock) by the one process that may serve or restore a data directory.
pub const LOCK_FILE: &str = "rectify.lock";

/// The backups and restores of a data directory's database.
fn database(dir: &Path) -> Box<dyn Backup> {
    storage::backup_for(&StorageUrl::for_data_dir(dir))
}

/// The backups and restores of the database at `url`, or the backend's reason why not.
fn supported(url: &StorageUrl) -> anyhow::Result<Box<dyn Backup>> {
    let database = storage::backup_for(url);
    database.supported()?;
    Ok(database)
}

/// An exclusive lock on a data directory, released when dropped (or when the process dies,
/// so a crash never leaves a stale lock behind).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data directory's lock, or says who holds it.
pub fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another Rectify server is using {} (it holds {}); stop it first",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Where the evidence files are, for a backup or a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// In `DIR/blobs`: copied with the database.
    InDataDir,
    /// In an object store (`--blobs s3://…`): not copied; its own versioning keeps them.
    Elsewhere,
}

/// What a backup holds, for the message after it.
#[derive(Debug)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub bytes: u64,
    /// Evidence files (and thumbnails) copied, and their bytes.
    pub files: u64,
    pub file_bytes: u64,
}

/// Writes a consistent copy of the database at `url` (the data directory's own:
/// [`StorageUrl::for_data_dir`]) to `out` (checked), then the data directory's evidence files
/// to `out/blobs/`, while a server may be running. `out` must not exist yet (or be an empty
/// directory).
pub async fn backup(
    dir: &Path,
    url: &StorageUrl,
    out: &Path,
    evidence: Evidence,
) -> anyhow::Result<BackupSummary> {
    let database = supported(url)?;
    if out.exists() {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .with_context(|| format!("cannot read {}", out.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists; a backup goes into a new (or empty) directory",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // A data directory that does not exist yet holds an empty database, as it always has.
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = database
        .backup_to(out)
        .await
        .with_context(|| format!("cannot write a checked backup to {}", out.display()))?;
    let bytes = std::fs::metadata(&path)?.len();
    let (files, file_bytes) = match evidence {
        Evidence::InDataDir => copy_new_files(&dir.join(BLOBS), &out.join(BLOBS))?,
        Evidence::Elsewhere => (0, 0),
    };
    Ok(BackupSummary {
        path,
        bytes,
        files,
        file_bytes,
    })
}

/// Copies every complete file under `from` to the same place under `to` unless it is there
/// (evidence files never change: same name, same bytes). Hard links where the file system
/// allows. Returns the files and bytes copied.
fn copy_new_files(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok((0, 0)); // no evidence yet
    };
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let (mut files, mut bytes) = (0, 0);
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            let (f, b) = copy_new_files(&source, &target)?;
            files += f;
            bytes += b;
        } else if source.extension().is_none_or(|e| e != "partial") && !target.exists() {
            if std::fs::hard_link(&source, &target).is_err() {
                std::fs::copy(&source, &target).with_context(|| {
                    format!("cannot copy {} to {}", source.display(), target.display())
                })?;
            }
            files += 1;
            bytes += entry.metadata()?.len();
        }
    }
    Ok((files, bytes))
}

/// Checks the data directory's database: the backend finds it intact and this build can
/// read it.
pub async fn check(dir: &Path) -> anyhow::Result<()> {
    database(dir)
        .check()
        .await
        .with_context(|| format!("the database in {} is not sound", dir.display()))
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreSummary {
    /// Where the database that was there before now is, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the database at `url` (the data directory's own: [`StorageUrl::for_data_dir`])
/// with the backup's, and adds the backup's evidence files. Refuses while a server holds
/// the directory. The backup is checked (on a copy) before anything is moved, and the current
/// database goes to `DIR/before-restore-<time>/`, never deleted.
pub async fn restore(
    dir: &Path,
    url: &StorageUrl,
    backup: &Path,
    now_ms: i64,
    evidence: Evidence,
) -> anyhow::Result<RestoreSummary> {
    let database = supported(url)?;
    let Some(copy) = database.find_copy(backup) else {
        bail!(
            "no backup at {}: give the directory `rectify backup` wrote",
            backup.display()
        );
    };
    let _lock = lock(dir)?;
    let aside = dir.join(format!("before-restore-{now_ms}"));
    let moved = database
        .restore_from(&copy, &aside)
        .await
        .with_context(|| format!("{} was not restored", copy.display()))?;
    if backup.is_dir() && evidence == Evidence::InDataDir {
        copy_new_files(&backup.join(BLOBS), &dir.join(BLOBS))?;
    }
    Ok(RestoreSummary {
        previous: moved.then_some(aside),
    })
}
