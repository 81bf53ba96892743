//! The embedded backend: one SQLite file in WAL mode.

use super::DocumentRecord;
use super::url::SQLITE_FILE;
use super::{
    AuditQuery, AuditRecord, Backup, BlobRecord, CampaignRecord, ChangeArrival, ItemRecord,
    LoginAttempt, PartAppended, QuarantineRecord, SessionRecord, Storage, StorageError,
    StorageResult, StoredChunk, UnitRecord, UnitWorkRecord, UploadRecord, UserRecord, Write,
};
use async_trait::async_trait;
use rectify_shared::evidence::FileKind;
use rectify_shared::ids::{DocumentId, SessionId, UnitId, Username};
use rectify_shared::policy::Role;
use rectify_shared::status::PublicStatus;
use sqlx::migrate::MigrateError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite storage. WAL mode with `synchronous = FULL`: a committed write survives a crash
/// or power loss, which is what "acknowledged only after it is durable" needs.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    /// Opens (creating when missing) the database file at `path` and brings its schema up to
    /// date, copying it first to `DIR/backups/` when it has migrations to apply
    /// ([`super::upgrade_backup_path`]). A database written by a newer Rectify is refused
    /// and left as it was.
    pub async fn open(path: &Path) -> StorageResult<SqliteStorage> {
        Self::open_with(path, true).await
    }

    /// [`SqliteStorage::open`]; `backup`: whether to copy an older database before migrating
    /// it (not for the scratch copies a backup or restore checks).
    async fn open_with(path: &Path, backup: bool) -> StorageResult<SqliteStorage> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let storage = SqliteStorage { pool };
        if let Err(err) = storage.upgrade(path, backup).await {
            storage.pool.close().await;
            return Err(err);
        }
        Ok(storage)
    }

    /// Compares the schema with this build's, refuses a newer one, backs up an older one and
    /// migrates it, then records this version.
    async fn upgrade(&self, path: &Path, backup: bool) -> StorageResult<()> {
        let has_table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        let applied: Vec<(i64, String)> = if has_table.is_some() {
            sqlx::query_as(
                "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        let written_by: Option<String> = if applied.is_empty() {
            None
        } else {
            sqlx::query_scalar("SELECT value FROM server_meta WHERE key = ?")
                .bind(super::VERSION_KEY)
                .fetch_optional(&self.pool)
                .await
                .ok()
                .flatten()
        };
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let state = super::SchemaState::compare(
            &applied,
            &known,
            written_by.as_deref(),
            &format!("the database {}", path.display()),
        )?;
        if backup && state.pending > 0 && state.database > 0 {
            let copy = super::upgrade_backup_path(path, crate::clock::now_ms());
            if let Some(dir) = copy.parent() {
                std::fs::create_dir_all(dir).map_err(file_error(format!(
                    "cannot create {} for the backup before the upgrade",
                    dir.display()
                )))?;
            }
            self.vacuum_into(&copy).await?;
            tracing::info!(
                backup = %copy.display(),
                "the database has schema {} and this Rectify {} has {}: copied it before migrating",
                state.database,
                super::VERSION,
                state.known
            );
        }
        MIGRATOR.run(&self.pool).await?;
        if written_by.as_deref() != Some(super::VERSION) {
            sqlx::query(
                "INSERT INTO server_meta (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(super::VERSION_KEY)
            .bind(super::VERSION)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// SQLite's own check of the file: `Corrupt` with what is wrong unless it says "ok".
    async fn integrity_check(&self) -> StorageResult<()> {
        let row = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?;
        let verdict: String = row.try_get(0)?;
        if verdict != "ok" {
            return Err(StorageError::Corrupt(format!(
                "SQLite's integrity check says: {verdict}"
            )));
        }
        Ok(())
    }

    /// Writes a compact, self-contained copy to `path` (a new file). `VACUUM INTO` reads one
    /// snapshot (WAL readers don't block writers), so the server keeps writing meanwhile.
    async fn vacuum_into(&self, path: &Path) -> StorageResult<()> {
        let path = path.to_str().ok_or_else(|| {
            StorageError::Backend(format!("backup path {} is not UTF-8", path.display()))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// SQLite's primary result codes (the low byte of an extended code), from sqlite3.h.
mod code {
    pub(super) const BUSY: i32 = 5;
    pub(super) const LOCKED: i32 = 6;
    pub(super) const NOMEM: i32 = 7;
    pub(super) const IOERR: i32 = 10;
    pub(super) const CORRUPT: i32 = 11;
    pub(super) const FULL: i32 = 13;
    pub(super) const CANTOPEN: i32 = 14;
    pub(super) const PROTOCOL: i32 = 15;
    pub(super) const CONSTRAINT: i32 = 19;
    pub(super) const NOTADB: i32 = 26;
}

/// Every sqlx error of this backend as a [`StorageError`]: the one mapping. A conflict is a
/// constraint SQLite enforced; busy, locked, IO, a full disk, a pool timeout or a closed
/// pool are transient; damaged files and undecodable values are corrupt.
fn storage_error(err: sqlx::Error) -> StorageError {
    use sqlx::error::ErrorKind;
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|code| code.parse::<i32>().ok());
            let text = db.to_string();
            match (db.kind(), code.map(|code| code & 0xff)) {
                (
                    ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation,
                    _,
                )
                | (_, Some(code::CONSTRAINT)) => StorageError::Conflict(text),
                (
                    _,
                    Some(
                        code::BUSY
                        | code::LOCKED
                        | code::NOMEM
                        | code::IOERR
                        | code::FULL
                        | code::CANTOPEN
                        | code::PROTOCOL,
                    ),
                ) => StorageError::Unavailable(text),
                (_, Some(code::CORRUPT | code::NOTADB)) => StorageError::Corrupt(text),
                _ => StorageError::Backend(text),
            }
        }
        err @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => {
            StorageError::Unavailable(err.to_string())
        }
        err @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => {
            StorageError::Corrupt(err.to_string())
        }
        sqlx::Error::Migrate(migrate) => match *migrate {
            // A database that cannot be read at all says so, not "migration failed".
            MigrateError::Execute(inner) => match storage_error(inner) {
                err @ (StorageError::Unavailable(_) | StorageError::Corrupt(_)) => err,
                other => StorageError::Migration(other.to_string()),
            },
            err @ MigrateError::VersionMissing(_) => StorageError::Migration(format!(
                "{err} (was the database written by a newer Rectify?)"
            )),
            other => StorageError::Migration(other.to_string()),
        },
        other => StorageError::Backend(other.to_string()),
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        storage_error(err)
    }
}

impl From<MigrateError> for StorageError {
    fn from(err: MigrateError) -> Self {
        storage_error(sqlx::Error::Migrate(Box::new(err)))
    }
}

/// Backups and restores of one SQLite file ([`Backup`]).
#[derive(Debug)]
pub struct SqliteBackup {
    path: PathBuf,
}

impl SqliteBackup {
    pub fn new(path: &Path) -> SqliteBackup {
        SqliteBackup {
            path: path.to_owned(),
        }
    }
}

/// `path` with `suffix` appended to its file name (`rectify.db` → `rectify.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_error(what: String) -> impl FnOnce(std::io::Error) -> StorageError {
    move |err| StorageError::Unavailable(format!("{what}: {err}"))
}

/// Opens the file (bringing its schema up to date), runs SQLite's integrity check and closes
/// it again.
async fn check_file(path: &Path) -> StorageResult<()> {
    let storage = SqliteStorage::open_with(path, false).await?;
    let verdict = storage.integrity_check().await;
    storage.close().await;
    verdict
}

#[async_trait]
impl Backup for SqliteBackup {
    async fn backup_to(&self, out: &Path) -> StorageResult<PathBuf> {
        let copy = out.join(SQLITE_FILE);
        let storage = SqliteStorage::open(&self.path).await?;
        let written = storage.vacuum_into(&copy).await;
        storage.close().await;
        written?;
        check_file(&copy).await?;
        Ok(copy)
    }

    fn find_copy(&self, backup: &Path) -> Option<PathBuf> {
        let copy = if backup.is_dir() {
            backup.join(SQLITE_FILE)
        } else {
            backup.to_path_buf()
        };
        copy.is_file().then_some(copy)
    }

    async fn check(&self) -> StorageResult<()> {
        check_file(&self.path).await
    }

    async fn restore_from(&self, copy: &Path, aside: &Path) -> StorageResult<bool> {
        // Checked on a copy beside the database: opening migrates and writes WAL files, and
        // the backup must stay as it was.
        let staged = with_suffix(&self.path, ".restoring");
        std::fs::copy(copy, &staged).map_err(file_error(format!(
            "cannot copy {} to {}",
            copy.display(),
            staged.display()
        )))?;
        let checked = check_file(&staged).await;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&staged, suffix));
        }
        if let Err(err) = checked {
            let _ = std::fs::remove_file(&staged);
            return Err(err);
        }

        let previous = self.path.exists();
        if previous {
            std::fs::create_dir_all(aside)
                .map_err(file_error(format!("cannot create {}", aside.display())))?;
            for suffix in ["", "-wal", "-shm"] {
                let from = with_suffix(&self.path, suffix);
                if let (true, Some(name)) = (from.exists(), from.file_name()) {
                    let to = aside.join(name);
                    std::fs::rename(&from, &to).map_err(file_error(format!(
                        "cannot move {} to {}",
                        from.display(),
                        to.display()
                    )))?;
                }
            }
        }
        std::fs::rename(&staged, &self.path).map_err(file_error(format!(
            "cannot move the restored database to {}",
            self.path.display()
        )))?;
        Ok(previous)
    }
}

fn user_from_row(row: &SqliteRow) -> StorageResult<UserRecord> {
    let role: String = row.try_get("role")?;
    let role = Role::from_key(&role)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown role '{role}' in users")))?;
    Ok(UserRecord {
        username: Username::new(row.try_get::<String, _>("username")?),
        display_name: row.try_get("display_name")?,
        role,
        unit: row
            .try_get::<Option<String>, _>("unit_id")?
            .map(UnitId::new),
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn document_id(row: &SqliteRow, column: &str) -> StorageResult<DocumentId> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|err| StorageError::Corrupt(format!("{column}: {err}")))
}

fn campaign_from_row(row: &SqliteRow) -> StorageResult<CampaignRecord> {
    Ok(CampaignRecord {
        id: document_id(row, "id")?,
        natural_key: row.try_get("natural_key")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn unit_work_from_row(row: &SqliteRow) -> StorageResult<UnitWorkRecord> {
    Ok(UnitWorkRecord {
        id: document_id(row, "id")?,
        item_id: document_id(row, "item_id")?,
        unit: row.try_get("unit")?,
        assigned: row.try_get("assigned")?,
        department: row.try_get("department")?,
        evidence: {
            let joined: Option<String> = row.try_get("evidence")?;
            let mut evidence: Vec<String> = joined
                .map(|j| j.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            evidence.sort();
            evidence
        },
    })
}

/// Unit-work rows (`UNIT_WORK_WHERE` + a condition), with their evidence.
const UNIT_WORK_WHERE: &str = "SELECT id, item_id, unit, assigned, department,
       (SELECT group_concat(sha256) FROM unit_work_evidence e WHERE e.work_id = unit_work.id)
         AS evidence
     FROM unit_work WHERE";

/// A file some item or unit-work document references (a condition on `sha256`).
const REFERENCED: &str = "(sha256 IN (SELECT sha256 FROM item_evidence) OR sha256 IN (SELECT sha256 FROM unit_work_evidence))";

fn item_from_row(row: &SqliteRow) -> StorageResult<ItemRecord> {
    let status: String = row.try_get("status")?;
    let units: String = row.try_get("units")?;
    Ok(ItemRecord {
        id: document_id(row, "id")?,
        campaign_id: document_id(row, "campaign_id")?,
        key: row.try_get("item_key")?,
        title: row.try_get("title")?,
        status: PublicStatus::from_key(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown item status '{status}'")))?,
        units: serde_json::from_str(&units)
            .map_err(|err| StorageError::Corrupt(format!("item units: {err}")))?,
        department: row.try_get("department")?,
        deadline: row.try_get("deadline")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        evidence: row
            .try_get::<Option<String>, _>("evidence")?
            .map(|list| {
                let mut list: Vec<String> = list.split(',').map(str::to_owned).collect();
                list.sort();
                list
            })
            .unwrap_or_default(),
    })
}

/// Item rows with their evidence list (`ITEMS_WHERE` + a condition on `items`).
const ITEMS_WHERE: &str = "SELECT items.*,
       (SELECT group_concat(sha256) FROM item_evidence e WHERE e.item_id = items.id) AS evidence
     FROM items WHERE";

fn blob_from_row(row: &SqliteRow) -> StorageResult<BlobRecord> {
    let kind: String = row.try_get("kind")?;
    let kind: FileKind = serde_json::from_value(serde_json::Value::String(kind.clone()))
        .map_err(|_| StorageError::Corrupt(format!("unknown file kind '{kind}' in blobs")))?;
    Ok(BlobRecord {
        sha256: row.try_get("sha256")?,
        size: size(row.try_get("size")?)?,
        kind,
        name: row.try_get("name")?,
        uploaded_by: Username::new(row.try_get::<String, _>("uploaded_by")?),
        has_thumbnail: row.try_get::<i64, _>("has_thumbnail")? != 0,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn upload_from_row(row: &SqliteRow) -> StorageResult<UploadRecord> {
    Ok(UploadRecord {
        id: row.try_get("id")?,
        username: Username::new(row.try_get::<String, _>("username")?),
        sha256: row.try_get("sha256")?,
        size: size(row.try_get("size")?)?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
        touched_at_ms: row.try_get("touched_at_ms")?,
    })
}

fn size(stored: i64) -> StorageResult<u64> {
    u64::try_from(stored).map_err(|_| StorageError::Corrupt(format!("negative size {stored}")))
}

fn stored_size(size: u64) -> StorageResult<i64> {
    i64::try_from(size).map_err(|_| StorageError::Backend(format!("size {size} too large")))
}

fn kind_key(kind: FileKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(key)) => key,
        _ => unreachable!("FileKind serialises as a string"),
    }
}

fn session_from_row(row: &SqliteRow) -> StorageResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        username: Username::new(row.try_get::<String, _>("username")?),
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
        id: SessionId::new(row.try_get::<String, _>("public_id")?),
        device: row.try_get("device")?,
        last_seen_ms: row.try_get("last_seen_ms")?,
    })
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn create_user(&self, user: &UserRecord) -> StorageResult<()> {
        let result = sqlx::query(
            "INSERT INTO users (username, display_name, role, unit_id, password_hash, disabled, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(user.role.key())
        .bind(user.unit.as_ref().map(UnitId::as_str))
        .bind(&user.password_hash)
        .bind(i64::from(user.disabled))
        .bind(user.created_at_ms)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                Err(StorageError::UserExists(user.username.clone()))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn user(&self, username: &Username) -> StorageResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self) -> StorageResult<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_password_hash(&self, username: &Username, hash: &str) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(hash)
            .bind(username.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NoSuchUser(username.clone()));
        }
        Ok(())
    }

    async fn set_disabled(&self, username: &Username, disabled: bool) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE username = ?")
            .bind(i64::from(disabled))
            .bind(username.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NoSuchUser(username.clone()));
        }
        Ok(())
    }

    async fn set_display_name(&self, username: &Username, display_name: &str) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET display_name = ? WHERE username = ?")
            .bind(display_name)
            .bind(username.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NoSuchUser(username.clone()));
        }
        Ok(())
    }

    async fn create_session(&self, session: &SessionRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms, revoked,
                                   public_id, device, last_seen_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(session.username.as_str())
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .bind(i64::from(session.revoked))
        .bind(session.id.as_str())
        .bind(&session.device)
        .bind(session.last_seen_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StorageResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        seen_ms: i64,
        expires_at_ms: i64,
    ) -> StorageResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?),
                                 expires_at_ms = max(expires_at_ms, ?)
             WHERE token_hash = ?",
        )
        .bind(seen_ms)
        .bind(expires_at_ms)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_by_id(&self, id: &SessionId) -> StorageResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE public_id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn user_sessions(
        &self,
        username: &Username,
        now_ms: i64,
    ) -> StorageResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE username = ? AND revoked = 0 AND expires_at_ms >= ?
             ORDER BY last_seen_ms DESC, created_at_ms DESC, public_id",
        )
        .bind(username.as_str())
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn revoke_sessions(&self, username: &Username) -> StorageResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE username = ? AND revoked = 0")
                .bind(username.as_str())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_session(&self, token_hash: &str) -> StorageResult<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = ? AND revoked = 0")
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn active_sessions(&self, now_ms: i64) -> StorageResult<HashMap<Username, u32>> {
        let rows = sqlx::query(
            "SELECT username, count(*) AS n FROM sessions
             WHERE revoked = 0 AND expires_at_ms >= ? GROUP BY username",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let n: i64 = row.try_get("n")?;
                Ok((
                    Username::new(row.try_get::<String, _>("username")?),
                    u32::try_from(n).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    async fn count_login_attempt(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StorageResult<LoginAttempt> {
        // One statement: a new key is inserted, an old window starts over, and a key at its
        // limit is left alone (the WHERE fails: no row returned), under the row's lock.
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO login_attempts (key, count, since_ms) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
                 count = CASE WHEN login_attempts.since_ms <= ?2 - ?4 THEN 1
                              ELSE login_attempts.count + 1 END,
                 since_ms = CASE WHEN login_attempts.since_ms <= ?2 - ?4 THEN ?2
                                 ELSE login_attempts.since_ms END
             WHERE login_attempts.since_ms <= ?2 - ?4 OR login_attempts.count < ?3
             RETURNING count",
        )
        .bind(key)
        .bind(now_ms)
        .bind(i64::from(limit))
        .bind(window_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(count) = counted {
            return Ok(LoginAttempt::Counted {
                count: u32::try_from(count).unwrap_or(0),
            });
        }
        // Refused; when the window started is only for the message.
        let since: Option<i64> =
            sqlx::query_scalar("SELECT since_ms FROM login_attempts WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(LoginAttempt::Refused {
            since_ms: since.unwrap_or(now_ms),
        })
    }

    async fn refund_login_attempt(&self, key: &str) -> StorageResult<()> {
        sqlx::query("UPDATE login_attempts SET count = count - 1 WHERE key = ? AND count > 0")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn clear_login_attempts(&self, key: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM login_attempts WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn expire_login_attempts(&self, before_ms: i64) -> StorageResult<u64> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE since_ms <= ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn upsert_unit(&self, unit: &UnitRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO units (id, name, kind) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind",
        )
        .bind(unit.id.as_str())
        .bind(&unit.name)
        .bind(&unit.kind)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn units(&self) -> StorageResult<Vec<UnitRecord>> {
        let rows = sqlx::query("SELECT id, name, kind FROM units ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(UnitRecord {
                    id: UnitId::new(row.try_get::<String, _>("id")?),
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                })
            })
            .collect()
    }

    async fn write(&self, batch: Vec<Write>) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        apply_writes(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One transaction, one savepoint per batch: a batch that fails is rolled back to its
    /// savepoint and the others are committed together, with one sync to disk.
    async fn write_group(&self, batches: Vec<Vec<Write>>) -> Vec<StorageResult<()>> {
        let count = batches.len();
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(err) => return failed_group(&storage_error(err), count),
        };
        let mut results = Vec::with_capacity(count);
        for batch in batches {
            // sqlx nests a transaction as a savepoint; dropping it unfinished rolls it back.
            let result = async {
                let mut savepoint = tx.begin().await?;
                apply_writes(&mut savepoint, batch).await?;
                savepoint.commit().await?;
                StorageResult::Ok(())
            }
            .await;
            results.push(result);
        }
        if let Err(err) = tx.commit().await {
            let err = storage_error(err);
            for result in &mut results {
                if result.is_ok() {
                    *result = Err(err.clone());
                }
            }
        }
        results
    }

    async fn document_chunks(&self, id: &DocumentId) -> StorageResult<Option<Vec<Vec<u8>>>> {
        let id = id.to_string();
        let exists = sqlx::query("SELECT 1 FROM documents WHERE id = ?")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT data FROM document_chunks WHERE document_id = ? ORDER BY id")
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
        let chunks = rows
            .iter()
            .map(|row| row.try_get::<Vec<u8>, _>("data"))
            .collect::<Result<_, _>>()?;
        Ok(Some(chunks))
    }

    async fn document_versions(
        &self,
        ids: &[DocumentId],
    ) -> StorageResult<HashMap<DocumentId, i64>> {
        let mut versions = HashMap::new();
        for id in ids {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT version FROM documents WHERE id = ?")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(version) = version {
                versions.insert(*id, version);
            }
        }
        Ok(versions)
    }

    async fn chunks_after(&self, id: &DocumentId, version: i64) -> StorageResult<Vec<Vec<u8>>> {
        let rows = sqlx::query(
            "SELECT data FROM document_chunks WHERE document_id = ? AND version > ? ORDER BY id",
        )
        .bind(id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get::<Vec<u8>, _>("data"))
            .collect::<Result<_, _>>()?)
    }

    async fn documents_to_compact(
        &self,
        chunks: usize,
        limit: usize,
    ) -> StorageResult<Vec<DocumentId>> {
        let rows = sqlx::query(
            "SELECT document_id FROM document_chunks GROUP BY document_id
             HAVING count(*) >= ? ORDER BY count(*) DESC LIMIT ?",
        )
        .bind(i64::try_from(chunks).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| document_id(row, "document_id"))
            .collect()
    }

    async fn numbered_chunks(&self, id: &DocumentId) -> StorageResult<Vec<StoredChunk>> {
        let rows =
            sqlx::query("SELECT id, data FROM document_chunks WHERE document_id = ? ORDER BY id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredChunk {
                    seq: row.try_get("id")?,
                    data: row.try_get("data")?,
                })
            })
            .collect()
    }

    async fn replace_chunks(
        &self,
        id: &DocumentId,
        seqs: &[i64],
        merged: Vec<u8>,
    ) -> StorageResult<bool> {
        let Some(&first) = seqs.iter().min() else {
            return Ok(false);
        };
        let id = id.to_string();
        let mut tx = self.pool.begin().await?;
        // The merged chunk stands for the highest version it replaces.
        let placeholders = vec!["?"; seqs.len()].join(", ");
        let statement = format!(
            "UPDATE document_chunks SET version = (SELECT max(version) FROM document_chunks
               WHERE document_id = ? AND id IN ({placeholders}))
             WHERE id = ? AND document_id = ?"
        );
        let mut highest = sqlx::query(&statement).bind(&id);
        for &seq in seqs {
            highest = highest.bind(seq);
        }
        highest.bind(first).bind(&id).execute(&mut *tx).await?;
        let mut removed = 0;
        for &seq in seqs.iter().filter(|&&seq| seq != first) {
            removed += sqlx::query("DELETE FROM document_chunks WHERE id = ? AND document_id = ?")
                .bind(seq)
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let kept =
            sqlx::query("UPDATE document_chunks SET data = ? WHERE id = ? AND document_id = ?")
                .bind(merged)
                .bind(first)
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if kept != 1 || removed + 1 != seqs.len() as u64 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn campaigns(&self) -> StorageResult<Vec<CampaignRecord>> {
        let rows = sqlx::query("SELECT * FROM campaigns ORDER BY created_at_ms, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn items(&self, campaign: &DocumentId) -> StorageResult<Vec<ItemRecord>> {
        let rows = sqlx::query(&format!("{ITEMS_WHERE} campaign_id = ? ORDER BY item_key"))
            .bind(campaign.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn item(&self, id: &DocumentId) -> StorageResult<Option<ItemRecord>> {
        let row = sqlx::query(&format!("{ITEMS_WHERE} id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn unit_work(&self, id: &DocumentId) -> StorageResult<Option<UnitWorkRecord>> {
        let row = sqlx::query(&format!("{UNIT_WORK_WHERE} id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(unit_work_from_row).transpose()
    }

    async fn unit_works(&self, item: &DocumentId) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!("{UNIT_WORK_WHERE} item_id = ? ORDER BY unit"))
            .bind(item.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn unit_works_of(&self, unit: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} unit = ? OR department = ? ORDER BY item_id, unit"
        ))
        .bind(unit)
        .bind(unit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn campaign_unit_works(
        &self,
        campaign: &DocumentId,
    ) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} item_id IN (SELECT id FROM items WHERE campaign_id = ?)
             ORDER BY item_id, unit"
        ))
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn change_arrivals(
        &self,
        document: &DocumentId,
    ) -> StorageResult<HashMap<String, ChangeArrival>> {
        let rows = sqlx::query(
            "SELECT change_hash, received_at_ms, sent_by FROM change_arrivals WHERE document_id = ?",
        )
        .bind(document.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let sent_by: Option<String> = row.try_get("sent_by")?;
                Ok((
                    row.try_get("change_hash")?,
                    ChangeArrival {
                        received_at_ms: row.try_get("received_at_ms")?,
                        sent_by: sent_by.map(Username::new),
                    },
                ))
            })
            .collect()
    }

    async fn audit_log(&self, query: &AuditQuery) -> StorageResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at_ms, account, action, target, detail FROM audit_log
             WHERE (?1 IS NULL OR account = ?1)
               AND (?2 IS NULL OR action = ?2)
               AND (?3 IS NULL OR at_ms >= ?3)
               AND (?4 IS NULL OR at_ms < ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
        )
        .bind(query.account.as_ref().map(|u| u.as_str()))
        .bind(query.action.as_deref())
        .bind(query.from_ms)
        .bind(query.to_ms)
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at_ms: row.try_get("at_ms")?,
                    account: Username::new(row.try_get::<String, _>("account")?),
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn quarantined(&self, document: &DocumentId) -> StorageResult<Vec<QuarantineRecord>> {
        let rows = sqlx::query("SELECT * FROM quarantine WHERE document_id = ? ORDER BY id DESC")
            .bind(document.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantineRecord {
                    document: document_id(row, "document_id")?,
                    username: Username::new(row.try_get::<String, _>("username")?),
                    reason: row.try_get("reason")?,
                    change_bytes: row.try_get("change_bytes")?,
                    received_at_ms: row.try_get("received_at_ms")?,
                })
            })
            .collect()
    }

    async fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM server_meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    async fn init_meta(&self, key: &str, value: &str) -> StorageResult<String> {
        sqlx::query(
            "INSERT INTO server_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(self.meta(key).await?.unwrap_or_else(|| value.to_owned()))
    }

    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>> {
        let row = sqlx::query("SELECT * FROM blobs WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(blob_from_row).transpose()
    }

    async fn insert_blob(&self, blob: &BlobRecord, upload: Option<i64>) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO blobs (sha256, size, kind, name, uploaded_by, has_thumbnail, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&blob.sha256)
        .bind(stored_size(blob.size)?)
        .bind(kind_key(blob.kind))
        .bind(&blob.name)
        .bind(blob.uploaded_by.as_str())
        .bind(i64::from(blob.has_thumbnail))
        .bind(blob.created_at_ms)
        .execute(&mut *tx)
        .await?;
        if let Some(id) = upload {
            sqlx::query("DELETE FROM uploads WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upload(
        &self,
        username: &Username,
        sha256: &str,
    ) -> StorageResult<Option<UploadRecord>> {
        let row = sqlx::query("SELECT * FROM uploads WHERE username = ? AND sha256 = ?")
            .bind(username.as_str())
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StorageResult<UploadRecord> {
        sqlx::query(
            "INSERT INTO uploads (username, sha256, size, name, created_at_ms, touched_at_ms)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username, sha256) DO NOTHING",
        )
        .bind(upload.username.as_str())
        .bind(&upload.sha256)
        .bind(stored_size(upload.size)?)
        .bind(&upload.name)
        .bind(upload.created_at_ms)
        .bind(upload.touched_at_ms)
        .execute(&self.pool)
        .await?;
        self.upload(&upload.username, &upload.sha256)
            .await?
            .ok_or_else(|| StorageError::Backend("an upload vanished as it was made".to_owned()))
    }

    async fn touch_upload(&self, id: i64, at_ms: i64) -> StorageResult<()> {
        sqlx::query("UPDATE uploads SET touched_at_ms = ? WHERE id = ?")
            .bind(at_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_upload(&self, id: i64) -> StorageResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_upload_writer(&self, id: i64) -> StorageResult<Option<i64>> {
        let row =
            sqlx::query("UPDATE uploads SET writer = writer + 1 WHERE id = ?1 RETURNING writer")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| row.try_get("writer"))
            .transpose()
            .map_err(StorageError::from)
    }

    async fn append_upload_part(
        &self,
        id: i64,
        generation: i64,
        offset: u64,
        bytes: &[u8],
    ) -> StorageResult<PartAppended> {
        let start = stored_size(offset)?;
        let size = stored_size(bytes.len() as u64)?;
        // One statement: the writer and the offset are checked where the part is inserted.
        let inserted = sqlx::query(
            "INSERT INTO upload_parts (upload_id, start_offset, size, bytes)
             SELECT id, ?3, ?4, ?5 FROM uploads
             WHERE id = ?1 AND writer = ?2
               AND (SELECT COALESCE(SUM(size), 0) FROM upload_parts WHERE upload_id = ?1) = ?3
             ON CONFLICT (upload_id, start_offset) DO NOTHING",
        )
        .bind(id)
        .bind(generation)
        .bind(start)
        .bind(size)
        .bind(bytes)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let received = self.upload_received(id).await?;
        if inserted == 1 {
            return Ok(PartAppended::Stored { received });
        }
        // Nothing stored: say why.
        let writer: Option<i64> = sqlx::query_scalar("SELECT writer FROM uploads WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match writer {
            None => PartAppended::NoUpload,
            Some(writer) if writer != generation => PartAppended::TakenOver,
            Some(_) => PartAppended::WrongOffset { received },
        })
    }

    async fn upload_received(&self, id: i64) -> StorageResult<u64> {
        let received: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0) FROM upload_parts WHERE upload_id = ?1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        size(received)
    }

    async fn upload_bytes(&self, id: i64) -> StorageResult<Vec<u8>> {
        let parts: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT bytes FROM upload_parts WHERE upload_id = ?1 ORDER BY start_offset",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(parts.concat())
    }

    async fn stale_uploads(&self, before_ms: i64) -> StorageResult<Vec<UploadRecord>> {
        let rows = sqlx::query("SELECT * FROM uploads WHERE touched_at_ms < ? ORDER BY id")
            .bind(before_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn quota_used(&self, username: &Username) -> StorageResult<u64> {
        let row = sqlx::query(
            "SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE uploaded_by = ?1)
                  + (SELECT coalesce(sum(size), 0) FROM uploads WHERE username = ?1)",
        )
        .bind(username.as_str())
        .fetch_one(&self.pool)
        .await?;
        size(row.try_get(0)?)
    }

    async fn items_referencing(&self, sha256: &str) -> StorageResult<Vec<ItemRecord>> {
        let rows = sqlx::query(&format!(
            "{ITEMS_WHERE} id IN (SELECT item_id FROM item_evidence WHERE sha256 = ?) ORDER BY id"
        ))
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn unit_works_referencing(&self, sha256: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} id IN (SELECT work_id FROM unit_work_evidence WHERE sha256 = ?)
             ORDER BY id"
        ))
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn orphaned_blobs(&self, now_ms: i64, before_ms: i64) -> StorageResult<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "UPDATE blobs SET orphaned_at_ms = NULL WHERE orphaned_at_ms IS NOT NULL
               AND {REFERENCED}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE blobs SET orphaned_at_ms = ? WHERE orphaned_at_ms IS NULL
               AND NOT {REFERENCED}"
        ))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query("SELECT sha256 FROM blobs WHERE orphaned_at_ms < ? ORDER BY sha256")
            .bind(before_ms)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(|row| Ok(row.try_get("sha256")?)).collect()
    }

    async fn delete_orphan(&self, sha256: &str, before_ms: i64) -> StorageResult<bool> {
        let done = sqlx::query(&format!(
            "DELETE FROM blobs WHERE sha256 = ? AND orphaned_at_ms < ?
               AND NOT {REFERENCED}"
        ))
        .bind(sha256)
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn all_sessions(&self) -> StorageResult<Vec<SessionRecord>> {
        let rows = sqlx::query("SELECT * FROM sessions ORDER BY token_hash")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn documents(&self) -> StorageResult<Vec<DocumentRecord>> {
        let rows = sqlx::query("SELECT id, kind, created_at_ms FROM documents ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DocumentRecord {
                    id: document_id(row, "id")?,
                    kind: row.try_get("kind")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>> {
        let rows = sqlx::query("SELECT * FROM blobs ORDER BY sha256")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(blob_from_row).collect()
    }

    async fn quarantined_documents(&self) -> StorageResult<Vec<DocumentId>> {
        let rows = sqlx::query("SELECT DISTINCT document_id FROM quarantine ORDER BY document_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| document_id(row, "document_id"))
            .collect()
    }

    async fn housekeeping(&self) -> StorageResult<Option<super::Held>> {
        // One server per data directory (its lock): always this one's turn.
        Ok(Some(super::Held::new(())))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The same error for every batch of a group that could not be written.
fn failed_group(err: &StorageError, count: usize) -> Vec<StorageResult<()>> {
    (0..count).map(|_| Err(err.clone())).collect()
}

/// `Write::Campaign`: a campaign's index row, replacing the one with its id (but not when
/// it was made).
const CAMPAIGN_REPLACING: &str = "INSERT INTO campaigns (id, natural_key, name, created_at_ms)
     VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET natural_key = excluded.natural_key, name = excluded.name";

/// `Write::EnsureCampaign`: a campaign's index row, unless its id has one.
const CAMPAIGN_UNLESS_THERE: &str = "INSERT INTO campaigns (id, natural_key, name, created_at_ms)
     VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO NOTHING";

/// A campaign's index row, with one of the two statements above.
async fn insert_campaign(
    tx: &mut sqlx::SqliteConnection,
    c: CampaignRecord,
    sql: &'static str,
) -> StorageResult<()> {
    sqlx::query(sql)
        .bind(c.id.to_string())
        .bind(c.natural_key)
        .bind(c.name)
        .bind(c.created_at_ms)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Applies one [`Storage::write`] batch inside a transaction (or a savepoint of one).
async fn apply_writes(tx: &mut sqlx::SqliteConnection, batch: Vec<Write>) -> StorageResult<()> {
    for write in batch {
        match write {
            Write::NewDocument {
                id,
                kind,
                created_at_ms,
            } => {
                sqlx::query("INSERT INTO documents (id, kind, created_at_ms) VALUES (?, ?, ?)")
                    .bind(id.to_string())
                    .bind(kind)
                    .bind(created_at_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            Write::EnsureDocument {
                id,
                kind,
                created_at_ms,
            } => {
                sqlx::query(
                    "INSERT INTO documents (id, kind, created_at_ms) VALUES (?, ?, ?)
                         ON CONFLICT (id) DO NOTHING",
                )
                .bind(id.to_string())
                .bind(kind)
                .bind(created_at_ms)
                .execute(&mut *tx)
                .await?;
            }
            Write::Quarantine(q) => {
                sqlx::query(
                        "INSERT INTO quarantine (document_id, username, reason, change_bytes, received_at_ms)
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(q.document.to_string())
                    .bind(q.username.as_str())
                    .bind(q.reason)
                    .bind(q.change_bytes)
                    .bind(q.received_at_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            Write::AppendChunk {
                document,
                data,
                created_at_ms,
                expect_version,
            } => {
                let id = document.to_string();
                let version: Option<i64> = sqlx::query_scalar(
                    "UPDATE documents SET version = version + 1 WHERE id = ? RETURNING version",
                )
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(version) = version else {
                    return Err(StorageError::Conflict(format!(
                        "a chunk for document {id}, which is not stored"
                    )));
                };
                if let Some(expected) = expect_version
                    && version != expected + 1
                {
                    return Err(StorageError::Outdated(format!(
                        "document {id} is at version {}, not {expected}",
                        version - 1
                    )));
                }
                sqlx::query(
                    "INSERT INTO document_chunks (document_id, data, created_at_ms, version)
                     VALUES (?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(data)
                .bind(created_at_ms)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            }
            Write::ChangesArrived {
                document,
                hashes,
                received_at_ms,
                sent_by,
            } => {
                let document = document.to_string();
                let sent_by = sent_by.as_ref().map(|u| u.as_str());
                for hash in hashes {
                    sqlx::query(
                        "INSERT INTO change_arrivals (document_id, change_hash, received_at_ms, sent_by)
                             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    )
                    .bind(&document)
                    .bind(hash)
                    .bind(received_at_ms)
                    .bind(sent_by)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Write::Audit(entry) => {
                sqlx::query(
                    "INSERT INTO audit_log (at_ms, account, action, target, detail)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(entry.at_ms)
                .bind(entry.account.as_str())
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&entry.detail)
                .execute(&mut *tx)
                .await?;
            }
            Write::NewUser(user) => {
                let result = sqlx::query(
                    "INSERT INTO users (username, display_name, role, unit_id, password_hash, disabled, created_at_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(user.username.as_str())
                .bind(&user.display_name)
                .bind(user.role.key())
                .bind(user.unit.as_ref().map(UnitId::as_str))
                .bind(&user.password_hash)
                .bind(i64::from(user.disabled))
                .bind(user.created_at_ms)
                .execute(&mut *tx)
                .await;
                match result {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                        return Err(StorageError::UserExists(user.username));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Write::PasswordHash { username, hash } => {
                let done = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
                    .bind(hash)
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StorageError::NoSuchUser(username));
                }
            }
            Write::Disabled { username, disabled } => {
                let done = sqlx::query("UPDATE users SET disabled = ? WHERE username = ?")
                    .bind(i64::from(disabled))
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StorageError::NoSuchUser(username));
                }
            }
            Write::EndSessions(username) => {
                sqlx::query("UPDATE sessions SET revoked = 1 WHERE username = ? AND revoked = 0")
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            Write::EndSession { token_hash } => {
                sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = ? AND revoked = 0")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            Write::Campaign(c) => insert_campaign(tx, c, CAMPAIGN_REPLACING).await?,
            Write::EnsureCampaign(c) => insert_campaign(tx, c, CAMPAIGN_UNLESS_THERE).await?,
            Write::RemoveItem(id) => {
                let id = id.to_string();
                for table in [
                    "DELETE FROM item_evidence WHERE item_id = ?",
                    "DELETE FROM items WHERE id = ?",
                ] {
                    sqlx::query(table).bind(&id).execute(&mut *tx).await?;
                }
            }
            Write::UnitWork(work) => {
                sqlx::query(
                    "INSERT INTO unit_work (id, item_id, unit, assigned, department)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (id) DO UPDATE SET assigned = excluded.assigned,
                       department = excluded.department",
                )
                .bind(work.id.to_string())
                .bind(work.item_id.to_string())
                .bind(work.unit)
                .bind(work.assigned)
                .bind(work.department)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM unit_work_evidence WHERE work_id = ?")
                    .bind(work.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                for sha256 in &work.evidence {
                    sqlx::query(
                        "INSERT INTO unit_work_evidence (work_id, sha256) VALUES (?, ?)
                             ON CONFLICT DO NOTHING",
                    )
                    .bind(work.id.to_string())
                    .bind(sha256)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Write::Item(item) => {
                let units = serde_json::to_string(&item.units)
                    .map_err(|e| StorageError::Backend(e.to_string()))?;
                sqlx::query(
                        "INSERT INTO items (id, campaign_id, item_key, title, status, units, department, deadline, updated_at_ms)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                         ON CONFLICT (id) DO UPDATE SET item_key = excluded.item_key, title = excluded.title,
                           status = excluded.status, units = excluded.units, department = excluded.department,
                           deadline = excluded.deadline, updated_at_ms = excluded.updated_at_ms",
                    )
                    .bind(item.id.to_string())
                    .bind(item.campaign_id.to_string())
                    .bind(item.key)
                    .bind(item.title)
                    .bind(item.status.key())
                    .bind(units)
                    .bind(item.department)
                    .bind(item.deadline)
                    .bind(item.updated_at_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM item_evidence WHERE item_id = ?")
                    .bind(item.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                for sha256 in &item.evidence {
                    sqlx::query(
                        "INSERT INTO item_evidence (item_id, sha256) VALUES (?, ?)
                             ON CONFLICT DO NOTHING",
                    )
                    .bind(item.id.to_string())
                    .bind(sha256)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{ConnectOptions, Connection};

    /// Errors SQLite really gives, each mapped to what happened.
    #[tokio::test]
    async fn sqlite_errors_say_what_happened() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rectify.db");
        let storage = SqliteStorage::open(&path).await?;
        let raw = SqliteConnectOptions::new().filename(&path);

        // Busy: another connection holds the write lock and this one does not wait.
        let mut holder = raw.connect().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await?;
        let mut impatient = raw.clone().busy_timeout(Duration::ZERO).connect().await?;
        let busy = sqlx::query("INSERT INTO server_meta (key, value) VALUES ('k', 'v')")
            .execute(&mut impatient)
            .await
            .expect_err("the database is locked");
        let busy = storage_error(busy);
        assert!(
            matches!(busy, StorageError::Unavailable(_)) && busy.is_transient(),
            "{busy:?}"
        );
        sqlx::query("ROLLBACK").execute(&mut holder).await?;

        // A stored value this build cannot read.
        sqlx::query(
            "INSERT INTO documents (id, kind, created_at_ms) VALUES ('not-a-document-id', 'item', 1)",
        )
        .execute(&mut holder)
        .await?;
        sqlx::query("INSERT INTO document_chunks (document_id, data, created_at_ms) VALUES ('not-a-document-id', x'00', 1)")
            .execute(&mut holder)
            .await?;
        let corrupt = storage.documents_to_compact(1, 10).await;
        assert!(
            matches!(corrupt, Err(StorageError::Corrupt(_))),
            "{corrupt:?}"
        );

        // A database written by a newer build (a migration this one does not know).
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut holder)
        .await?;
        holder.close().await?;
        impatient.close().await?;
        storage.close().await;
        let newer = SqliteStorage::open(&path).await.expect_err("refused");
        assert!(
            matches!(&newer, StorageError::Migration(m) if m.contains("newer Rectify")),
            "{newer:?}"
        );

        // A file that is not a database.
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"this is not a database".repeat(200))?;
        let not_a_db = SqliteStorage::open(&garbage).await.expect_err("refused");
        assert!(matches!(not_a_db, StorageError::Corrupt(_)), "{not_a_db:?}");

        // Errors without a database answer.
        let cases = [
            (sqlx::Error::PoolTimedOut, "unavailable"),
            (sqlx::Error::PoolClosed, "unavailable"),
            (
                sqlx::Error::Io(std::io::Error::other("disk gone")),
                "unavailable",
            ),
            (sqlx::Error::Decode("bad bytes".into()), "invalid"),
            (sqlx::Error::RowNotFound, "database error"),
            (
                sqlx::Error::ColumnNotFound("x".to_owned()),
                "database error",
            ),
        ];
        for (err, expected) in cases {
            let what = err.to_string();
            let mapped = storage_error(err);
            assert!(mapped.to_string().contains(expected), "{what}: {mapped:?}");
            assert_eq!(
                mapped.is_transient(),
                expected == "unavailable",
                "{what}: {mapped:?}"
            );
        }
        Ok(())
    }
}

/// Upgrades (issue #23): an older database is copied before it is migrated, a newer one is
/// refused untouched; the committed fixture of each release opens.
#[cfg(test)]
mod upgrades {
    use super::*;
    use sqlx::Connection;

    /// A database with only the first `n` migrations of this build applied, and an account.
    async fn database_at(path: &Path, n: usize) -> anyhow::Result<()> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(options).await?;
        let older = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(MIGRATOR.migrations[..n].to_vec()),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        older.run(&pool).await?;
        sqlx::query(
            "INSERT INTO users (username, display_name, role, password_hash, created_at_ms) \
             VALUES ('office', 'Office', 'office', 'x', 1)",
        )
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }

    async fn newest_applied(path: &Path) -> anyhow::Result<i64> {
        let mut raw = sqlx::SqliteConnection::connect_with(
            &SqliteConnectOptions::new().filename(path).read_only(true),
        )
        .await?;
        let newest = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut raw)
            .await?;
        raw.close().await?;
        Ok(newest)
    }

    #[tokio::test]
    async fn an_older_database_is_copied_to_backups_then_migrated() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rectify.db");
        let known = MIGRATOR.migrations.len();
        database_at(&path, known - 1).await?;

        let storage = SqliteStorage::open(&path).await?;
        assert_eq!(storage.users().await?.len(), 1, "the account survived");
        assert_eq!(
            storage.meta(super::super::VERSION_KEY).await?.as_deref(),
            Some(super::super::VERSION)
        );
        storage.close().await;
        let newest = MIGRATOR
            .iter()
            .map(|m| m.version)
            .max()
            .expect("migrations");
        assert_eq!(newest_applied(&path).await?, newest);

        let backups: Vec<PathBuf> = std::fs::read_dir(dir.path().join("backups"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        assert_eq!(backups.len(), 1, "{backups:?}");
        let name = backups[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("rectify-before-{}-", super::super::VERSION))
                && name.ends_with("Z.db"),
            "{name}"
        );
        // The copy is the database as it was: the older schema, the account.
        let before = MIGRATOR.migrations[known - 2].version;
        assert_eq!(newest_applied(&backups[0]).await?, before);

        // Opening again: nothing to migrate, no second copy.
        SqliteStorage::open(&path).await?.close().await;
        assert_eq!(std::fs::read_dir(dir.path().join("backups"))?.count(), 1);
        // A new database is not copied.
        let fresh = tempfile::tempdir()?;
        SqliteStorage::open(&fresh.path().join("rectify.db"))
            .await?
            .close()
            .await;
        assert!(!fresh.path().join("backups").exists());
        Ok(())
    }

    /// The fixture of the current release (`tests/fixtures/data-v<version>/`) with one more
    /// migration recorded, as a newer Rectify would leave it: refused, naming both versions,
    /// and not a byte of it changed.
    #[tokio::test]
    async fn a_database_from_a_newer_rectify_is_refused_and_left_alone() -> anyhow::Result<()> {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "../tests/fixtures/data-v{}/rectify.db",
            super::super::VERSION
        ));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rectify.db");
        std::fs::copy(&fixture, &path)
            .map_err(|err| anyhow::anyhow!("{}: {err}", fixture.display()))?;
        let mut raw =
            sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
                .await?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9000, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut raw)
        .await?;
        sqlx::query("UPDATE server_meta SET value = '9.0.0' WHERE key = ?")
            .bind(super::super::VERSION_KEY)
            .execute(&mut raw)
            .await?;
        raw.close().await?;
        let before = std::fs::read(&path)?;

        let refused = SqliteStorage::open(&path).await.expect_err("refused");
        let message = refused.to_string();
        for needed in [
            "newer Rectify (Rectify 9.0.0, schema 9000",
            "\"from the future\"",
            &format!("this is Rectify {}", super::super::VERSION),
            "Nothing was changed",
        ] {
            assert!(message.contains(needed), "{needed}: {message}");
        }
        assert!(std::fs::read(&path)? == before, "the database was changed");
        assert!(!dir.path().join("backups").exists());
        Ok(())
    }
}
