//! The data directory as a whole: one server at a time, backups and restores.
//!
//! `DIR/rectify.db` is the database (with its `-wal` and `-shm` files while open), `DIR/blobs/`
//! the evidence files. A backup is a directory holding a consistent copy of the database,
//! `rectify.db`, made while the server runs, and the evidence files (`blobs/`, copied after the
//! database, so every file the copy records is there). A restore never deletes anything: the
//! current database is moved aside first, and evidence files are only added.

use crate::storage::{SqliteStorage, Storage};
use anyhow::{Context, bail};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The database file inside a data directory (and inside a backup).
pub const DATABASE: &str = "rectify.db";
/// The evidence files' directory inside a data directory (and inside a backup).
pub const BLOBS: &str = "blobs";
/// Held (an OS file lock) by the one process that may serve or restore a data directory.
pub const LOCK_FILE: &str = "rectify.lock";

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

/// What a backup holds, for the message after it.
#[derive(Debug)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub bytes: u64,
    /// Evidence files (and thumbnails) copied, and their bytes.
    pub files: u64,
    pub file_bytes: u64,
}

/// Writes a consistent copy of the data directory's database to `out/rectify.db`, then its
/// evidence files to `out/blobs/`, while a server may be running. `out` must not exist yet (or
/// be an empty directory).
pub async fn backup(
    storage: &dyn Storage,
    dir: &Path,
    out: &Path,
) -> anyhow::Result<BackupSummary> {
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
    let path = out.join(DATABASE);
    storage
        .backup_to(&path)
        .await
        .with_context(|| format!("cannot write the backup to {}", path.display()))?;
    check_database(&path).await?;
    let bytes = std::fs::metadata(&path)?.len();
    let (files, file_bytes) = copy_new_files(&dir.join(BLOBS), &out.join(BLOBS))?;
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

/// Opens a database file and checks that SQLite finds it intact and Rectify can read it.
async fn check_database(path: &Path) -> anyhow::Result<()> {
    let storage = SqliteStorage::open(path)
        .await
        .with_context(|| format!("{} is not a Rectify database", path.display()))?;
    let verdict = storage.integrity_check().await?;
    storage.close().await;
    if verdict != "ok" {
        bail!("{} is damaged: {verdict}", path.display());
    }
    Ok(())
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreSummary {
    /// Where the database that was there before now is, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the data directory's database with the backup's. Refuses while a server holds
/// the directory. The backup is checked (on a copy) before anything is moved, and the current
/// database goes to `DIR/before-restore-<time>/`, never deleted.
pub async fn restore(dir: &Path, backup: &Path, now_ms: i64) -> anyhow::Result<RestoreSummary> {
    let source = if backup.is_dir() {
        backup.join(DATABASE)
    } else {
        backup.to_path_buf()
    };
    if !source.is_file() {
        bail!(
            "no backup at {}: give the directory `rectify backup` wrote (it holds {DATABASE})",
            backup.display()
        );
    }
    let _lock = lock(dir)?;
    let staged = dir.join(format!("{DATABASE}.restoring"));
    std::fs::copy(&source, &staged)
        .with_context(|| format!("cannot copy {} into {}", source.display(), dir.display()))?;
    if let Err(err) = check_database(&staged).await {
        let _ = std::fs::remove_file(&staged);
        return Err(err.context(format!("{} was not restored", source.display())));
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{DATABASE}.restoring{suffix}")));
    }

    let current = dir.join(DATABASE);
    let previous = if current.exists() {
        let aside = dir.join(format!("before-restore-{now_ms}"));
        std::fs::create_dir_all(&aside)
            .with_context(|| format!("cannot create {}", aside.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let from = dir.join(format!("{DATABASE}{suffix}"));
            if from.exists() {
                let to = aside.join(format!("{DATABASE}{suffix}"));
                std::fs::rename(&from, &to).with_context(|| {
                    format!("cannot move {} to {}", from.display(), to.display())
                })?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, &current)
        .with_context(|| format!("cannot move the restored database to {}", current.display()))?;
    if backup.is_dir() {
        copy_new_files(&backup.join(BLOBS), &dir.join(BLOBS))?;
    }
    Ok(RestoreSummary { previous })
}
