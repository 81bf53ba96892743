//! The PostgreSQL backend: one database, shared by a pool of connections.
//!
//! The same logical schema as SQLite's (migrations in `server/migrations/postgres/`), the same
//! behaviour (the conformance suite in `server/tests/storage.rs` runs against both), and the
//! same group commit: [`Storage::write_group`] is one transaction for the group (without
//! savepoints unless a batch fails; then again with a savepoint per batch).
//! Statements are prepared once per connection (sqlx's statement cache). PostgreSQL's default
//! `synchronous_commit = on` makes a committed write durable, which "acknowledged only after it
//! is durable" needs; a server that turns it off loses that promise.
//!
//! Backups are PostgreSQL's own business (`pg_dump`, base backups, replicas):
//! [`PostgresBackup`] checks the database but refuses to copy or restore it, and says so. The
//! one copy this backend makes itself is the one before an upgrade migrates the schema: every
//! table copied into a schema `rectify_before_<version>_<time>` of the same database, so a bad
//! migration can be undone without a dump at hand.

use super::DocumentRecord;
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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections in the pool: the committer's one writer, the readers of loading documents and
/// the HTTP handlers.
const MAX_CONNECTIONS: u32 = 16;

/// How long a call waits for a free connection (or a new one) before it is
/// [`StorageError::Unavailable`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
}

/// The connection options of `url` (`postgres://…` or `postgresql://…`, as libpq takes them).
pub(super) fn connect_options(url: &str) -> StorageResult<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map(|options| options.application_name("rectify"))
        // sqlx's message may quote the URL, and with it a password: only say what kind of
        // problem it is.
        .map_err(|_| {
            StorageError::BadUrl(
                "the PostgreSQL URL cannot be read: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                    .to_owned(),
            )
        })
}

impl PostgresStorage {
    /// [`Storage::write_group`] with the batches in the order given.
    async fn write_group_in_order(&self, batches: Vec<Vec<Write>>) -> Vec<StorageResult<()>> {
        let count = batches.len();
        if count <= 1 {
            let mut results = Vec::with_capacity(count);
            for batch in batches {
                results.push(self.write(batch).await);
            }
            return results;
        }
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(err) => return failed_group(&storage_error(err), count),
        };
        let mut applied = Ok(());
        for batch in &batches {
            applied = apply_writes(&mut tx, batch.clone()).await;
            if applied.is_err() {
                break;
            }
        }
        if applied.is_ok() {
            // A failed commit may or may not have landed: never written again.
            return match tx.commit().await {
                Ok(()) => (0..count).map(|_| Ok(())).collect(),
                Err(err) => failed_group(&storage_error(err), count),
            };
        }
        let _ = tx.rollback().await;
        write_group_by_savepoints(&self.pool, batches).await
    }

    /// Connects to the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> StorageResult<PostgresStorage> {
        let options = connect_options(url)?;
        // One connection first, for a clear error at once when the server cannot be reached
        // (the pool would retry until its timeout and then only say that it timed out).
        let first = sqlx::PgConnection::connect_with(&options).await.pg()?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let storage = PostgresStorage { pool };
        if let Err(err) = storage.upgrade(url).await {
            storage.pool.close().await;
            return Err(err);
        }
        Ok(storage)
    }

    /// Refuses a schema written by a newer Rectify (nothing changed), migrates an older one
    /// after copying its tables to a schema of their own ([`Self::migrate_with_copy`]), then
    /// records this version.
    async fn upgrade(&self, url: &str) -> StorageResult<()> {
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .pg()?;
        let applied: Vec<(i64, String)> = if has_table {
            sqlx::query_as(
                "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .pg()?
        } else {
            Vec::new()
        };
        let written_by: Option<String> = if applied.is_empty() {
            None
        } else {
            sqlx::query_scalar("SELECT value FROM server_meta WHERE key = $1")
                .bind(super::VERSION_KEY)
                .fetch_optional(&self.pool)
                .await
                .ok()
                .flatten()
        };
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let shown = url.parse::<super::StorageUrl>().map_or_else(
            |_| "the database".to_owned(),
            |u| format!("the database {u}"),
        );
        let state = super::SchemaState::compare(&applied, &known, written_by.as_deref(), &shown)?;
        if state.pending > 0 && state.database > 0 {
            tracing::info!(
                "the database has schema {} and this Rectify {} has {}: migrating it",
                state.database,
                super::VERSION,
                state.known
            );
            self.migrate_with_copy(crate::clock::now_ms(), UPGRADE_LOCK_TIMEOUT)
                .await?;
        } else {
            MIGRATOR.run(&self.pool).await.pg()?;
        }
        if written_by.as_deref() != Some(super::VERSION) {
            sqlx::query(
                "INSERT INTO server_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(super::VERSION_KEY)
            .bind(super::VERSION)
            .execute(&self.pool)
            .await
            .pg()?;
        }
        Ok(())
    }

    /// Copies every table of the schema to a new schema ([`upgrade_copy_schema`]) and then
    /// migrates, both while holding [`UPGRADE_LOCK_KEY`]: of several replicas starting the
    /// new version at once, one copies and migrates and the others find nothing left to do.
    /// The copy is one transaction: if it fails (no space, a table locked past
    /// `lock_timeout`), nothing was migrated and the error says so.
    async fn migrate_with_copy(&self, now_ms: i64, lock_timeout: Duration) -> StorageResult<()> {
        let mut conn = self.pool.acquire().await.pg()?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(UPGRADE_LOCK_KEY)
            .execute(&mut *conn)
            .await
            .pg()?;
        let result = self.copy_and_migrate(&mut conn, now_ms, lock_timeout).await;
        // The lock is the connection's: give it up before the connection goes back to the pool.
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(UPGRADE_LOCK_KEY)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            // A connection in an unknown state does not go back to the pool.
            let _ = conn.detach().close().await;
        }
        result
    }

    /// [`Self::migrate_with_copy`] once the lock is held (on `conn`).
    async fn copy_and_migrate(
        &self,
        conn: &mut sqlx::PgConnection,
        now_ms: i64,
        lock_timeout: Duration,
    ) -> StorageResult<()> {
        // Another replica may have migrated while this one waited for the lock.
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut *conn)
                .await
                .pg()?;
        if MIGRATOR.iter().any(|m| !applied.contains(&m.version)) {
            let copy = upgrade_copy_schema(now_ms);
            if let Err(err) = copy_tables(conn, &copy, lock_timeout).await {
                return Err(StorageError::Migration(format!(
                    "the database was not migrated: copying it to schema {copy} first failed \
                     ({err})"
                )));
            }
            tracing::info!(
                "copied the database's tables to schema {copy} before migrating; once this \
                 version runs well, drop it with: DROP SCHEMA {copy} CASCADE"
            );
        }
        MIGRATOR.run(&self.pool).await.pg()
    }
}

/// The schema an upgrade copies the database to before migrating it:
/// `rectify_before_<version>_<UTC time>`, e.g. `rectify_before_0_2_0_20261207t063000z`
/// (PostgreSQL folds unquoted names to lower case; at most 63 bytes).
pub fn upgrade_copy_schema(now_ms: i64) -> String {
    let date = rectify_shared::date::Date::from_unix_millis(now_ms).to_string();
    let secs = now_ms.rem_euclid(86_400_000) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let version: String = super::VERSION
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let date: String = date.chars().filter(char::is_ascii_digit).collect();
    format!("rectify_before_{version}_{date}t{h:02}{m:02}{s:02}z")
}

/// Copies every table of the current schema (rows only: no indexes, the copy is for going
/// back, not for serving) into the new schema `copy`, in one transaction.
async fn copy_tables(
    conn: &mut sqlx::PgConnection,
    copy: &str,
    lock_timeout: Duration,
) -> StorageResult<()> {
    let mut tx = conn.begin().await.pg()?;
    let set_timeout = format!("SET LOCAL lock_timeout = {}", lock_timeout.as_millis());
    sqlx::query(&set_timeout).execute(&mut *tx).await.pg()?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await
    .pg()?;
    let create = format!("CREATE SCHEMA {copy}");
    sqlx::query(&create).execute(&mut *tx).await.pg()?;
    for table in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let statement = format!("CREATE TABLE {copy}.{quoted} AS TABLE {quoted}");
        sqlx::query(&statement).execute(&mut *tx).await.pg()?;
    }
    tx.commit().await.pg()
}

/// The key of the session-level advisory lock held while copying and migrating the schema.
const UPGRADE_LOCK_KEY: i64 = 0x72_65_63_75_70_67;

/// How long the copy before an upgrade waits for a table another server holds locked.
const UPGRADE_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The channel [`Write::AppendChunk`] notifies with `DOCUMENT_ID VERSION` once committed.
pub const DOCUMENTS_CHANNEL: &str = "rectify_documents";

/// The first key of the per-document advisory locks compaction takes (the second is the
/// document id's hash), so they meet no other advisory lock.
const COMPACTION_LOCK_CLASS: i32 = 0x7265_6300;

/// The key of the session-level advisory lock a server holds while it does the database-wide
/// chores ([`Storage::housekeeping`]): advisory locks are per database, so one key is enough.
const HOUSEKEEPING_LOCK_KEY: i64 = 0x72_65_63_74_69_66_79;

/// PostgreSQL's error codes (SQLSTATE) that say "try again later": the connection failed
/// (class 08), the server is short of something — disk, memory, connections (53), is shutting
/// down or starting (57P01–57P03), cancelled the statement (57014), hit a deadlock or a
/// serialization failure (40001, 40P01), could not get a lock (55P03), or had an IO error (58).
fn transient_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("58")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "55P03"
        )
}

/// Every sqlx error of this backend as a [`StorageError`]: the one mapping, in the same terms
/// as SQLite's. A conflict is a constraint PostgreSQL enforced (class 23); connection
/// problems, a pool timeout, a closed pool and the codes of [`transient_code`] are transient;
/// damaged data (XX001, XX002) and undecodable values are corrupt.
fn storage_error(err: sqlx::Error) -> StorageError {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|code| code.into_owned()).unwrap_or_default();
            let text = db.to_string();
            if code.starts_with("23") {
                StorageError::Conflict(text)
            } else if transient_code(&code) {
                StorageError::Unavailable(text)
            } else if matches!(code.as_str(), "XX001" | "XX002") {
                StorageError::Corrupt(text)
            } else {
                StorageError::Backend(format!("{text} (SQLSTATE {code})"))
            }
        }
        err @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StorageError::Unavailable(err.to_string()),
        err @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => {
            StorageError::Corrupt(err.to_string())
        }
        sqlx::Error::Migrate(migrate) => match *migrate {
            // A database that cannot be reached says so, not "migration failed".
            MigrateError::Execute(inner) => match storage_error(inner) {
                err @ (StorageError::Unavailable(_) | StorageError::Corrupt(_)) => err,
                other => StorageError::Migration(other.to_string()),
            },
            err @ MigrateError::VersionMissing(_) => StorageError::Migration(format!(
                "{err} (was the database written by a newer Rectify?)"
            )),
            other => StorageError::Migration(other.to_string()),
        },
        // Never the URL: it may hold a password.
        sqlx::Error::Configuration(_) => StorageError::BadUrl(
            "the PostgreSQL connection settings are invalid: check the URL".to_owned(),
        ),
        other => StorageError::Backend(other.to_string()),
    }
}

/// sqlx errors of this module, through [`storage_error`] (the `?` operator).
trait PgResultExt<T> {
    fn pg(self) -> StorageResult<T>;
}

impl<T> PgResultExt<T> for Result<T, sqlx::Error> {
    fn pg(self) -> StorageResult<T> {
        self.map_err(storage_error)
    }
}

impl<T> PgResultExt<T> for Result<T, MigrateError> {
    fn pg(self) -> StorageResult<T> {
        self.map_err(|err| storage_error(sqlx::Error::Migrate(Box::new(err))))
    }
}

/// What `rectify backup` and `rectify restore` say with a PostgreSQL database.
const USE_PG_DUMP: &str = "rectify backup and restore copy a SQLite database; a PostgreSQL \
    database is backed up with PostgreSQL's own tools: `pg_dump --format=custom` while the \
    server runs and `pg_restore` into a new, empty database (copy the evidence files in \
    DIR/blobs beside it)";

/// [`Backup`] of a PostgreSQL database: [`Backup::check`] connects and brings the schema up
/// to date; copies and restores are refused ([`USE_PG_DUMP`]).
pub struct PostgresBackup {
    url: String,
}

impl std::fmt::Debug for PostgresBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackup")
            .field("url", &super::url::redacted(&self.url))
            .finish()
    }
}

impl PostgresBackup {
    pub fn new(url: &str) -> PostgresBackup {
        PostgresBackup {
            url: url.to_owned(),
        }
    }
}

#[async_trait]
impl Backup for PostgresBackup {
    fn supported(&self) -> StorageResult<()> {
        Err(StorageError::Unsupported(USE_PG_DUMP.to_owned()))
    }

    async fn backup_to(&self, _out: &Path) -> StorageResult<PathBuf> {
        Err(StorageError::Unsupported(USE_PG_DUMP.to_owned()))
    }

    fn find_copy(&self, _backup: &Path) -> Option<PathBuf> {
        None
    }

    async fn check(&self) -> StorageResult<()> {
        let storage = PostgresStorage::open(&self.url).await?;
        // Every table answers.
        let checked = async {
            for table in [
                "users",
                "sessions",
                "units",
                "documents",
                "document_chunks",
                "campaigns",
                "items",
                "server_meta",
                "quarantine",
                "blobs",
                "uploads",
                "item_evidence",
                "change_arrivals",
                "audit_log",
            ] {
                sqlx::query(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&storage.pool)
                    .await
                    .pg()?;
            }
            StorageResult::Ok(())
        }
        .await;
        storage.close().await;
        checked
    }

    async fn restore_from(&self, _copy: &Path, _aside: &Path) -> StorageResult<bool> {
        Err(StorageError::Unsupported(USE_PG_DUMP.to_owned()))
    }
}

fn user_from_row(row: &PgRow) -> StorageResult<UserRecord> {
    let role: String = row.try_get("role").pg()?;
    let role = Role::from_key(&role)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown role '{role}' in users")))?;
    Ok(UserRecord {
        username: Username::new(row.try_get::<String, _>("username").pg()?),
        display_name: row.try_get("display_name").pg()?,
        role,
        unit: row
            .try_get::<Option<String>, _>("unit_id")
            .pg()?
            .map(UnitId::new),
        password_hash: row.try_get("password_hash").pg()?,
        disabled: row.try_get("disabled").pg()?,
        created_at_ms: row.try_get("created_at_ms").pg()?,
    })
}

fn document_id(row: &PgRow, column: &str) -> StorageResult<DocumentId> {
    let text: String = row.try_get(column).pg()?;
    text.parse()
        .map_err(|err| StorageError::Corrupt(format!("{column}: {err}")))
}

fn campaign_from_row(row: &PgRow) -> StorageResult<CampaignRecord> {
    Ok(CampaignRecord {
        id: document_id(row, "id")?,
        natural_key: row.try_get("natural_key").pg()?,
        name: row.try_get("name").pg()?,
        created_at_ms: row.try_get("created_at_ms").pg()?,
    })
}

fn unit_work_from_row(row: &PgRow) -> StorageResult<UnitWorkRecord> {
    Ok(UnitWorkRecord {
        id: document_id(row, "id")?,
        item_id: document_id(row, "item_id")?,
        unit: row.try_get("unit").pg()?,
        assigned: row.try_get("assigned").pg()?,
        department: row.try_get("department").pg()?,
        evidence: row
            .try_get::<Option<Vec<String>>, _>("evidence")
            .pg()?
            .unwrap_or_default(),
    })
}

/// Unit-work rows (`UNIT_WORK_WHERE` + a condition), with their evidence.
const UNIT_WORK_WHERE: &str = "SELECT id, item_id, unit, assigned, department,
       (SELECT array_agg(sha256 ORDER BY sha256) FROM unit_work_evidence e
         WHERE e.work_id = unit_work.id) AS evidence
     FROM unit_work WHERE";

/// A file some item or unit-work document references (a condition on `sha256`).
const REFERENCED: &str = "(sha256 IN (SELECT sha256 FROM item_evidence) OR sha256 IN (SELECT sha256 FROM unit_work_evidence))";

fn item_from_row(row: &PgRow) -> StorageResult<ItemRecord> {
    let status: String = row.try_get("status").pg()?;
    let units: String = row.try_get("units").pg()?;
    let mut evidence = row
        .try_get::<Option<Vec<String>>, _>("evidence")
        .pg()?
        .unwrap_or_default();
    evidence.sort();
    Ok(ItemRecord {
        id: document_id(row, "id")?,
        campaign_id: document_id(row, "campaign_id")?,
        key: row.try_get("item_key").pg()?,
        title: row.try_get("title").pg()?,
        status: PublicStatus::from_key(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown item status '{status}'")))?,
        units: serde_json::from_str(&units)
            .map_err(|err| StorageError::Corrupt(format!("item units: {err}")))?,
        department: row.try_get("department").pg()?,
        deadline: row.try_get("deadline").pg()?,
        updated_at_ms: row.try_get("updated_at_ms").pg()?,
        evidence,
    })
}

/// Item rows with their evidence list (`ITEMS_WHERE` + a condition on `items`).
const ITEMS_WHERE: &str = "SELECT items.*,
       (SELECT array_agg(sha256 ORDER BY sha256) FROM item_evidence e WHERE e.item_id = items.id)
         AS evidence
     FROM items WHERE";

fn blob_from_row(row: &PgRow) -> StorageResult<BlobRecord> {
    let kind: String = row.try_get("kind").pg()?;
    let kind: FileKind = serde_json::from_value(serde_json::Value::String(kind.clone()))
        .map_err(|_| StorageError::Corrupt(format!("unknown file kind '{kind}' in blobs")))?;
    Ok(BlobRecord {
        sha256: row.try_get("sha256").pg()?,
        size: size(row.try_get("size").pg()?)?,
        kind,
        name: row.try_get("name").pg()?,
        uploaded_by: Username::new(row.try_get::<String, _>("uploaded_by").pg()?),
        has_thumbnail: row.try_get("has_thumbnail").pg()?,
        created_at_ms: row.try_get("created_at_ms").pg()?,
    })
}

fn upload_from_row(row: &PgRow) -> StorageResult<UploadRecord> {
    Ok(UploadRecord {
        id: row.try_get("id").pg()?,
        username: Username::new(row.try_get::<String, _>("username").pg()?),
        sha256: row.try_get("sha256").pg()?,
        size: size(row.try_get("size").pg()?)?,
        name: row.try_get("name").pg()?,
        created_at_ms: row.try_get("created_at_ms").pg()?,
        touched_at_ms: row.try_get("touched_at_ms").pg()?,
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

fn session_from_row(row: &PgRow) -> StorageResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash").pg()?,
        username: Username::new(row.try_get::<String, _>("username").pg()?),
        created_at_ms: row.try_get("created_at_ms").pg()?,
        expires_at_ms: row.try_get("expires_at_ms").pg()?,
        revoked: row.try_get("revoked").pg()?,
        id: SessionId::new(row.try_get::<String, _>("public_id").pg()?),
        device: row.try_get("device").pg()?,
        last_seen_ms: row.try_get("last_seen_ms").pg()?,
    })
}

/// `Err(NoSuchUser)` when an `UPDATE users …` changed no row.
fn one_user(done: &sqlx::postgres::PgQueryResult, username: &Username) -> StorageResult<()> {
    if done.rows_affected() == 0 {
        return Err(StorageError::NoSuchUser(username.clone()));
    }
    Ok(())
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn create_user(&self, user: &UserRecord) -> StorageResult<()> {
        let result = sqlx::query(
            "INSERT INTO users (username, display_name, role, unit_id, password_hash, disabled, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(user.role.key())
        .bind(user.unit.as_ref().map(UnitId::as_str))
        .bind(&user.password_hash)
        .bind(user.disabled)
        .bind(user.created_at_ms)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                Err(StorageError::UserExists(user.username.clone()))
            }
            Err(err) => Err(storage_error(err)),
        }
    }

    async fn user(&self, username: &Username) -> StorageResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self) -> StorageResult<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_password_hash(&self, username: &Username, hash: &str) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(hash)
            .bind(username.as_str())
            .execute(&self.pool)
            .await
            .pg()?;
        one_user(&done, username)
    }

    async fn set_disabled(&self, username: &Username, disabled: bool) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(disabled)
            .bind(username.as_str())
            .execute(&self.pool)
            .await
            .pg()?;
        one_user(&done, username)
    }

    async fn set_display_name(&self, username: &Username, display_name: &str) -> StorageResult<()> {
        let done = sqlx::query("UPDATE users SET display_name = $1 WHERE username = $2")
            .bind(display_name)
            .bind(username.as_str())
            .execute(&self.pool)
            .await
            .pg()?;
        one_user(&done, username)
    }

    async fn create_session(&self, session: &SessionRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms, revoked,
                                   public_id, device, last_seen_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.token_hash)
        .bind(session.username.as_str())
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .bind(session.revoked)
        .bind(session.id.as_str())
        .bind(&session.device)
        .bind(session.last_seen_ms)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StorageResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        seen_ms: i64,
        expires_at_ms: i64,
    ) -> StorageResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_ms = GREATEST(last_seen_ms, $1),
                                 expires_at_ms = GREATEST(expires_at_ms, $2)
             WHERE token_hash = $3",
        )
        .bind(seen_ms)
        .bind(expires_at_ms)
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn session_by_id(&self, id: &SessionId) -> StorageResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE public_id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn user_sessions(
        &self,
        username: &Username,
        now_ms: i64,
    ) -> StorageResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE username = $1 AND NOT revoked AND expires_at_ms >= $2
             ORDER BY last_seen_ms DESC, created_at_ms DESC, public_id",
        )
        .bind(username.as_str())
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter().map(session_from_row).collect()
    }

    async fn revoke_sessions(&self, username: &Username) -> StorageResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = TRUE WHERE username = $1 AND NOT revoked")
                .bind(username.as_str())
                .execute(&self.pool)
                .await
                .pg()?;
        Ok(done.rows_affected())
    }

    async fn revoke_session(&self, token_hash: &str) -> StorageResult<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = TRUE WHERE token_hash = $1 AND NOT revoked")
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .pg()?;
        Ok(done.rows_affected() > 0)
    }

    async fn active_sessions(&self, now_ms: i64) -> StorageResult<HashMap<Username, u32>> {
        let rows = sqlx::query(
            "SELECT username, count(*) AS n FROM sessions
             WHERE NOT revoked AND expires_at_ms >= $1 GROUP BY username",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter()
            .map(|row| {
                let n: i64 = row.try_get("n").pg()?;
                Ok((
                    Username::new(row.try_get::<String, _>("username").pg()?),
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
        let counted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO login_attempts (key, count, since_ms) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET
                 count = CASE WHEN login_attempts.since_ms <= $2 - $4 THEN 1
                              ELSE login_attempts.count + 1 END,
                 since_ms = CASE WHEN login_attempts.since_ms <= $2 - $4 THEN $2
                                 ELSE login_attempts.since_ms END
             WHERE login_attempts.since_ms <= $2 - $4 OR login_attempts.count < $3
             RETURNING count",
        )
        .bind(key)
        .bind(now_ms)
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .bind(window_ms)
        .fetch_optional(&self.pool)
        .await
        .pg()?;
        if let Some(count) = counted {
            return Ok(LoginAttempt::Counted {
                count: u32::try_from(count).unwrap_or(0),
            });
        }
        // Refused; when the window started is only for the message.
        let since: Option<i64> =
            sqlx::query_scalar("SELECT since_ms FROM login_attempts WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .pg()?;
        Ok(LoginAttempt::Refused {
            since_ms: since.unwrap_or(now_ms),
        })
    }

    async fn refund_login_attempt(&self, key: &str) -> StorageResult<()> {
        sqlx::query("UPDATE login_attempts SET count = count - 1 WHERE key = $1 AND count > 0")
            .bind(key)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn clear_login_attempts(&self, key: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM login_attempts WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn expire_login_attempts(&self, before_ms: i64) -> StorageResult<u64> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE since_ms <= $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(done.rows_affected())
    }

    async fn upsert_unit(&self, unit: &UnitRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO units (id, name, kind) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind",
        )
        .bind(unit.id.as_str())
        .bind(&unit.name)
        .bind(&unit.kind)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn units(&self) -> StorageResult<Vec<UnitRecord>> {
        let rows = sqlx::query("SELECT id, name, kind FROM units ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter()
            .map(|row| {
                Ok(UnitRecord {
                    id: UnitId::new(row.try_get::<String, _>("id").pg()?),
                    name: row.try_get("name").pg()?,
                    kind: row.try_get("kind").pg()?,
                })
            })
            .collect()
    }

    async fn write(&self, batch: Vec<Write>) -> StorageResult<()> {
        let mut tx = self.pool.begin().await.pg()?;
        apply_writes(&mut tx, batch).await?;
        tx.commit().await.pg()?;
        Ok(())
    }

    /// One transaction for the group, with one flush of the write-ahead log. Batches rarely
    /// fail, so they first go in without savepoints (two round trips fewer per batch); only
    /// when one fails before the commit is that transaction rolled back and the group written
    /// again with a savepoint per batch, so the failing batch fails alone.
    ///
    /// The batches go in the order of the documents they write ([`lock_order`]), and the
    /// results come back in the callers' order: several servers on one database commit groups
    /// at once, and two groups locking the same documents' rows in opposite orders would wait
    /// for each other until PostgreSQL aborted one ("deadlock detected").
    async fn write_group(&self, batches: Vec<Vec<Write>>) -> Vec<StorageResult<()>> {
        let mut indexed: Vec<(usize, Vec<Write>)> = batches.into_iter().enumerate().collect();
        indexed.sort_by_key(|(_, batch)| lock_order(batch));
        let (positions, batches): (Vec<usize>, Vec<Vec<Write>>) = indexed.into_iter().unzip();
        let results = self.write_group_in_order(batches).await;
        let mut placed: Vec<(usize, StorageResult<()>)> =
            positions.into_iter().zip(results).collect();
        placed.sort_by_key(|(position, _)| *position);
        placed.into_iter().map(|(_, result)| result).collect()
    }

    async fn document_chunks(&self, id: &DocumentId) -> StorageResult<Option<Vec<Vec<u8>>>> {
        let id = id.to_string();
        let exists = sqlx::query("SELECT 1 FROM documents WHERE id = $1")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT data FROM document_chunks WHERE document_id = $1 ORDER BY id")
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .pg()?;
        let chunks = rows
            .iter()
            .map(|row| row.try_get::<Vec<u8>, _>("data"))
            .collect::<Result<_, _>>()
            .pg()?;
        Ok(Some(chunks))
    }

    async fn document_versions(
        &self,
        ids: &[DocumentId],
    ) -> StorageResult<HashMap<DocumentId, i64>> {
        let ids: Vec<String> = ids.iter().map(DocumentId::to_string).collect();
        let rows = sqlx::query("SELECT id, version FROM documents WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter()
            .map(|row| Ok((document_id(row, "id")?, row.try_get("version").pg()?)))
            .collect()
    }

    async fn chunks_after(&self, id: &DocumentId, version: i64) -> StorageResult<Vec<Vec<u8>>> {
        let rows = sqlx::query(
            "SELECT data FROM document_chunks WHERE document_id = $1 AND version > $2 ORDER BY id",
        )
        .bind(id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter()
            .map(|row| row.try_get::<Vec<u8>, _>("data"))
            .collect::<Result<_, _>>()
            .pg()
    }

    async fn documents_to_compact(
        &self,
        chunks: usize,
        limit: usize,
    ) -> StorageResult<Vec<DocumentId>> {
        let rows = sqlx::query(
            "SELECT document_id FROM document_chunks GROUP BY document_id
             HAVING count(*) >= $1 ORDER BY count(*) DESC, document_id LIMIT $2",
        )
        .bind(i64::try_from(chunks).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter()
            .map(|row| document_id(row, "document_id"))
            .collect()
    }

    async fn numbered_chunks(&self, id: &DocumentId) -> StorageResult<Vec<StoredChunk>> {
        let rows =
            sqlx::query("SELECT id, data FROM document_chunks WHERE document_id = $1 ORDER BY id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .pg()?;
        rows.iter()
            .map(|row| {
                Ok(StoredChunk {
                    seq: row.try_get("id").pg()?,
                    data: row.try_get("data").pg()?,
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
        let others: Vec<i64> = seqs.iter().copied().filter(|&seq| seq != first).collect();
        let id = id.to_string();
        let mut tx = self.pool.begin().await.pg()?;
        // Replicas compact independently: one at a time per document (the lock ends with the
        // transaction); another that finds it taken leaves the document to this one.
        let alone: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2))")
            .bind(COMPACTION_LOCK_CLASS)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .pg()?;
        if !alone {
            tx.rollback().await.pg()?;
            return Ok(false);
        }
        // The merged chunk stands for the highest version it replaces.
        sqlx::query(
            "UPDATE document_chunks SET version = (SELECT max(version) FROM document_chunks
               WHERE id = ANY($1) AND document_id = $2)
             WHERE id = $3 AND document_id = $2",
        )
        .bind(seqs)
        .bind(&id)
        .bind(first)
        .execute(&mut *tx)
        .await
        .pg()?;
        let removed =
            sqlx::query("DELETE FROM document_chunks WHERE id = ANY($1) AND document_id = $2")
                .bind(&others)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .pg()?
                .rows_affected();
        let kept =
            sqlx::query("UPDATE document_chunks SET data = $1 WHERE id = $2 AND document_id = $3")
                .bind(merged)
                .bind(first)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .pg()?
                .rows_affected();
        if kept != 1 || removed + 1 != seqs.len() as u64 {
            tx.rollback().await.pg()?;
            return Ok(false);
        }
        tx.commit().await.pg()?;
        Ok(true)
    }

    async fn campaigns(&self) -> StorageResult<Vec<CampaignRecord>> {
        let rows = sqlx::query("SELECT * FROM campaigns ORDER BY created_at_ms, id")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn items(&self, campaign: &DocumentId) -> StorageResult<Vec<ItemRecord>> {
        let rows = sqlx::query(&format!("{ITEMS_WHERE} campaign_id = $1 ORDER BY item_key"))
            .bind(campaign.to_string())
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(item_from_row).collect()
    }

    async fn item(&self, id: &DocumentId) -> StorageResult<Option<ItemRecord>> {
        let row = sqlx::query(&format!("{ITEMS_WHERE} id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn unit_work(&self, id: &DocumentId) -> StorageResult<Option<UnitWorkRecord>> {
        let row = sqlx::query(&format!("{UNIT_WORK_WHERE} id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(unit_work_from_row).transpose()
    }

    async fn unit_works(&self, item: &DocumentId) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!("{UNIT_WORK_WHERE} item_id = $1 ORDER BY unit"))
            .bind(item.to_string())
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn unit_works_of(&self, unit: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} unit = $1 OR department = $1 ORDER BY item_id, unit"
        ))
        .bind(unit)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn campaign_unit_works(
        &self,
        campaign: &DocumentId,
    ) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} item_id IN (SELECT id FROM items WHERE campaign_id = $1)
             ORDER BY item_id, unit"
        ))
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn change_arrivals(
        &self,
        document: &DocumentId,
    ) -> StorageResult<HashMap<String, ChangeArrival>> {
        let rows = sqlx::query(
            "SELECT change_hash, received_at_ms, sent_by FROM change_arrivals WHERE document_id = $1",
        )
        .bind(document.to_string())
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter()
            .map(|row| {
                let sent_by: Option<String> = row.try_get("sent_by").pg()?;
                Ok((
                    row.try_get("change_hash").pg()?,
                    ChangeArrival {
                        received_at_ms: row.try_get("received_at_ms").pg()?,
                        sent_by: sent_by.map(Username::new),
                    },
                ))
            })
            .collect()
    }

    async fn audit_log(&self, query: &AuditQuery) -> StorageResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at_ms, account, action, target, detail FROM audit_log
             WHERE ($1::text IS NULL OR account = $1)
               AND ($2::text IS NULL OR action = $2)
               AND ($3::bigint IS NULL OR at_ms >= $3)
               AND ($4::bigint IS NULL OR at_ms < $4)
               AND ($5::bigint IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6",
        )
        .bind(query.account.as_ref().map(|u| u.as_str()))
        .bind(query.action.as_deref())
        .bind(query.from_ms)
        .bind(query.to_ms)
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id").pg()?,
                    at_ms: row.try_get("at_ms").pg()?,
                    account: Username::new(row.try_get::<String, _>("account").pg()?),
                    action: row.try_get("action").pg()?,
                    target: row.try_get("target").pg()?,
                    detail: row.try_get("detail").pg()?,
                })
            })
            .collect()
    }

    async fn quarantined(&self, document: &DocumentId) -> StorageResult<Vec<QuarantineRecord>> {
        let rows = sqlx::query("SELECT * FROM quarantine WHERE document_id = $1 ORDER BY id DESC")
            .bind(document.to_string())
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter()
            .map(|row| {
                Ok(QuarantineRecord {
                    document: document_id(row, "document_id")?,
                    username: Username::new(row.try_get::<String, _>("username").pg()?),
                    reason: row.try_get("reason").pg()?,
                    change_bytes: row.try_get("change_bytes").pg()?,
                    received_at_ms: row.try_get("received_at_ms").pg()?,
                })
            })
            .collect()
    }

    async fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM server_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.map(|row| row.try_get("value")).transpose().pg()
    }

    async fn init_meta(&self, key: &str, value: &str) -> StorageResult<String> {
        sqlx::query(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(self.meta(key).await?.unwrap_or_else(|| value.to_owned()))
    }

    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>> {
        let row = sqlx::query("SELECT * FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(blob_from_row).transpose()
    }

    async fn insert_blob(&self, blob: &BlobRecord, upload: Option<i64>) -> StorageResult<()> {
        let mut tx = self.pool.begin().await.pg()?;
        sqlx::query(
            "INSERT INTO blobs (sha256, size, kind, name, uploaded_by, has_thumbnail, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&blob.sha256)
        .bind(stored_size(blob.size)?)
        .bind(kind_key(blob.kind))
        .bind(&blob.name)
        .bind(blob.uploaded_by.as_str())
        .bind(blob.has_thumbnail)
        .bind(blob.created_at_ms)
        .execute(&mut *tx)
        .await
        .pg()?;
        if let Some(id) = upload {
            sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .pg()?;
        }
        tx.commit().await.pg()?;
        Ok(())
    }

    async fn upload(
        &self,
        username: &Username,
        sha256: &str,
    ) -> StorageResult<Option<UploadRecord>> {
        let row = sqlx::query("SELECT * FROM uploads WHERE username = $1 AND sha256 = $2")
            .bind(username.as_str())
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StorageResult<UploadRecord> {
        sqlx::query(
            "INSERT INTO uploads (username, sha256, size, name, created_at_ms, touched_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username, sha256) DO NOTHING",
        )
        .bind(upload.username.as_str())
        .bind(&upload.sha256)
        .bind(stored_size(upload.size)?)
        .bind(&upload.name)
        .bind(upload.created_at_ms)
        .bind(upload.touched_at_ms)
        .execute(&self.pool)
        .await
        .pg()?;
        self.upload(&upload.username, &upload.sha256)
            .await?
            .ok_or_else(|| StorageError::Backend("an upload vanished as it was made".to_owned()))
    }

    async fn touch_upload(&self, id: i64, at_ms: i64) -> StorageResult<()> {
        sqlx::query("UPDATE uploads SET touched_at_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn delete_upload(&self, id: i64) -> StorageResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn take_upload_writer(&self, id: i64) -> StorageResult<Option<i64>> {
        let row =
            sqlx::query("UPDATE uploads SET writer = writer + 1 WHERE id = $1 RETURNING writer")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .pg()?;
        row.map(|row| row.try_get("writer")).transpose().pg()
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
             SELECT id, $3, $4, $5 FROM uploads
             WHERE id = $1 AND writer = $2
               AND (SELECT COALESCE(SUM(size), 0) FROM upload_parts WHERE upload_id = $1) = $3
             ON CONFLICT (upload_id, start_offset) DO NOTHING",
        )
        .bind(id)
        .bind(generation)
        .bind(start)
        .bind(size)
        .bind(bytes)
        .execute(&self.pool)
        .await
        .pg()?
        .rows_affected();
        let received = self.upload_received(id).await?;
        if inserted == 1 {
            return Ok(PartAppended::Stored { received });
        }
        // Nothing stored: say why.
        let writer: Option<i64> = sqlx::query_scalar("SELECT writer FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .pg()?;
        Ok(match writer {
            None => PartAppended::NoUpload,
            Some(writer) if writer != generation => PartAppended::TakenOver,
            Some(_) => PartAppended::WrongOffset { received },
        })
    }

    async fn upload_received(&self, id: i64) -> StorageResult<u64> {
        let received: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM upload_parts WHERE upload_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .pg()?;
        size(received)
    }

    async fn upload_bytes(&self, id: i64) -> StorageResult<Vec<u8>> {
        let parts: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT bytes FROM upload_parts WHERE upload_id = $1 ORDER BY start_offset",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        Ok(parts.concat())
    }

    async fn stale_uploads(&self, before_ms: i64) -> StorageResult<Vec<UploadRecord>> {
        let rows = sqlx::query("SELECT * FROM uploads WHERE touched_at_ms < $1 ORDER BY id")
            .bind(before_ms)
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn quota_used(&self, username: &Username) -> StorageResult<u64> {
        // sum(BIGINT) is NUMERIC in PostgreSQL: back to BIGINT.
        let row = sqlx::query(
            "SELECT ((SELECT coalesce(sum(size), 0) FROM blobs WHERE uploaded_by = $1)
                   + (SELECT coalesce(sum(size), 0) FROM uploads WHERE username = $1))::BIGINT",
        )
        .bind(username.as_str())
        .fetch_one(&self.pool)
        .await
        .pg()?;
        size(row.try_get(0).pg()?)
    }

    async fn items_referencing(&self, sha256: &str) -> StorageResult<Vec<ItemRecord>> {
        let rows = sqlx::query(&format!(
            "{ITEMS_WHERE} id IN (SELECT item_id FROM item_evidence WHERE sha256 = $1) ORDER BY id"
        ))
        .bind(sha256)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter().map(item_from_row).collect()
    }

    async fn unit_works_referencing(&self, sha256: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        let rows = sqlx::query(&format!(
            "{UNIT_WORK_WHERE} id IN (SELECT work_id FROM unit_work_evidence WHERE sha256 = $1)
             ORDER BY id"
        ))
        .bind(sha256)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        rows.iter().map(unit_work_from_row).collect()
    }

    async fn orphaned_blobs(&self, now_ms: i64, before_ms: i64) -> StorageResult<Vec<String>> {
        let mut tx = self.pool.begin().await.pg()?;
        sqlx::query(&format!(
            "UPDATE blobs SET orphaned_at_ms = NULL WHERE orphaned_at_ms IS NOT NULL
               AND {REFERENCED}"
        ))
        .execute(&mut *tx)
        .await
        .pg()?;
        sqlx::query(&format!(
            "UPDATE blobs SET orphaned_at_ms = $1 WHERE orphaned_at_ms IS NULL
               AND NOT {REFERENCED}"
        ))
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .pg()?;
        let rows =
            sqlx::query("SELECT sha256 FROM blobs WHERE orphaned_at_ms < $1 ORDER BY sha256")
                .bind(before_ms)
                .fetch_all(&mut *tx)
                .await
                .pg()?;
        tx.commit().await.pg()?;
        rows.iter().map(|row| row.try_get("sha256").pg()).collect()
    }

    async fn delete_orphan(&self, sha256: &str, before_ms: i64) -> StorageResult<bool> {
        let done = sqlx::query(&format!(
            "DELETE FROM blobs WHERE sha256 = $1 AND orphaned_at_ms < $2
               AND NOT {REFERENCED}"
        ))
        .bind(sha256)
        .bind(before_ms)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(done.rows_affected() == 1)
    }

    async fn all_sessions(&self) -> StorageResult<Vec<SessionRecord>> {
        let rows = sqlx::query("SELECT * FROM sessions ORDER BY token_hash")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(session_from_row).collect()
    }

    async fn documents(&self) -> StorageResult<Vec<DocumentRecord>> {
        let rows = sqlx::query("SELECT id, kind, created_at_ms FROM documents ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter()
            .map(|row| {
                Ok(DocumentRecord {
                    id: document_id(row, "id")?,
                    kind: row.try_get("kind").pg()?,
                    created_at_ms: row.try_get("created_at_ms").pg()?,
                })
            })
            .collect()
    }

    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>> {
        let rows = sqlx::query("SELECT * FROM blobs ORDER BY sha256")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter().map(blob_from_row).collect()
    }

    async fn quarantined_documents(&self) -> StorageResult<Vec<DocumentId>> {
        let rows = sqlx::query("SELECT DISTINCT document_id FROM quarantine ORDER BY document_id")
            .fetch_all(&self.pool)
            .await
            .pg()?;
        rows.iter()
            .map(|row| document_id(row, "document_id"))
            .collect()
    }

    async fn housekeeping(&self) -> StorageResult<Option<super::Held>> {
        // A connection of its own, not the pool's: the lock lives as long as the connection,
        // which is closed (and the lock released) when the guard is dropped.
        let mut connection = sqlx::PgConnection::connect_with(&self.pool.connect_options())
            .await
            .pg()?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(HOUSEKEEPING_LOCK_KEY)
            .fetch_one(&mut connection)
            .await
            .pg()?;
        if !taken {
            let _ = connection.close().await;
            return Ok(None);
        }
        Ok(Some(super::Held::new(connection)))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Where a batch goes in a group: by the first document whose row it locks (a chunk appended,
/// a document made, its index rows), so that every group takes those locks in one order.
/// Batches that write no document go first, in their order (the sort is stable).
fn lock_order(batch: &[Write]) -> Option<DocumentId> {
    batch
        .iter()
        .filter_map(|write| match write {
            Write::AppendChunk { document, .. } => Some(*document),
            Write::NewDocument { id, .. } | Write::EnsureDocument { id, .. } => Some(*id),
            Write::Item(item) => Some(item.id),
            Write::UnitWork(work) => Some(work.id),
            _ => None,
        })
        .min()
}

/// [`Storage::write_group`] with one savepoint per batch: a batch that fails is rolled back
/// to its savepoint (which also clears PostgreSQL's "transaction aborted" state) and the
/// others are committed together.
async fn write_group_by_savepoints(
    pool: &PgPool,
    batches: Vec<Vec<Write>>,
) -> Vec<StorageResult<()>> {
    let count = batches.len();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(err) => return failed_group(&storage_error(err), count),
    };
    let mut results = Vec::with_capacity(count);
    for batch in batches {
        let result = async {
            let mut savepoint = tx.begin().await.pg()?;
            match apply_writes(&mut savepoint, batch).await {
                Ok(()) => savepoint.commit().await.pg(),
                Err(err) => {
                    // Rolled back here rather than on drop, so the next batch starts in a
                    // transaction that is not aborted. Should that fail too, the next
                    // savepoint fails and says why.
                    let _ = savepoint.rollback().await;
                    Err(err)
                }
            }
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

/// The same error for every batch of a group that could not be written.
fn failed_group(err: &StorageError, count: usize) -> Vec<StorageResult<()>> {
    (0..count).map(|_| Err(err.clone())).collect()
}

/// `Write::Campaign`: a campaign's index row, replacing the one with its id (but not when
/// it was made).
const CAMPAIGN_REPLACING: &str = "INSERT INTO campaigns (id, natural_key, name, created_at_ms)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET natural_key = excluded.natural_key, name = excluded.name";

/// `Write::EnsureCampaign`: a campaign's index row, unless its id has one.
const CAMPAIGN_UNLESS_THERE: &str = "INSERT INTO campaigns (id, natural_key, name, created_at_ms)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING";

/// A campaign's index row, with one of the two statements above.
async fn insert_campaign(
    tx: &mut sqlx::PgConnection,
    c: CampaignRecord,
    sql: &'static str,
) -> StorageResult<()> {
    sqlx::query(sql)
        .bind(c.id.to_string())
        .bind(c.natural_key)
        .bind(c.name)
        .bind(c.created_at_ms)
        .execute(&mut *tx)
        .await
        .pg()?;
    Ok(())
}

/// Applies one [`Storage::write`] batch inside a transaction (or a savepoint of one). Lists
/// (arrivals, evidence references) go in as one array each, one statement per write.
async fn apply_writes(tx: &mut sqlx::PgConnection, batch: Vec<Write>) -> StorageResult<()> {
    for write in batch {
        match write {
            Write::NewDocument {
                id,
                kind,
                created_at_ms,
            } => {
                sqlx::query("INSERT INTO documents (id, kind, created_at_ms) VALUES ($1, $2, $3)")
                    .bind(id.to_string())
                    .bind(kind)
                    .bind(created_at_ms)
                    .execute(&mut *tx)
                    .await
                    .pg()?;
            }
            Write::EnsureDocument {
                id,
                kind,
                created_at_ms,
            } => {
                sqlx::query(
                    "INSERT INTO documents (id, kind, created_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id.to_string())
                .bind(kind)
                .bind(created_at_ms)
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::Quarantine(q) => {
                sqlx::query(
                    "INSERT INTO quarantine (document_id, username, reason, change_bytes, received_at_ms)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(q.document.to_string())
                .bind(q.username.as_str())
                .bind(q.reason)
                .bind(q.change_bytes)
                .bind(q.received_at_ms)
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::AppendChunk {
                document,
                data,
                created_at_ms,
                expect_version,
            } => {
                let id = document.to_string();
                // The row lock this takes orders the appenders of a document: versions are
                // gap-free and committed in order.
                let version: Option<i64> = sqlx::query_scalar(
                    "UPDATE documents SET version = version + 1 WHERE id = $1 RETURNING version",
                )
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .pg()?;
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
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(data)
                .bind(created_at_ms)
                .bind(version)
                .execute(&mut *tx)
                .await
                .pg()?;
                // Delivered to the listening replicas only once (and if) this commits.
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(DOCUMENTS_CHANNEL)
                    .bind(format!("{id} {version}"))
                    .execute(&mut *tx)
                    .await
                    .pg()?;
            }
            Write::ChangesArrived {
                document,
                hashes,
                received_at_ms,
                sent_by,
            } => {
                if hashes.is_empty() {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO change_arrivals (document_id, change_hash, received_at_ms, sent_by)
                     SELECT $1, hash, $3, $4 FROM unnest($2::text[]) AS hash
                     ON CONFLICT DO NOTHING",
                )
                .bind(document.to_string())
                .bind(hashes)
                .bind(received_at_ms)
                .bind(sent_by.as_ref().map(|u| u.as_str()))
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::Audit(entry) => {
                sqlx::query(
                    "INSERT INTO audit_log (at_ms, account, action, target, detail)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(entry.at_ms)
                .bind(entry.account.as_str())
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&entry.detail)
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::NewUser(user) => {
                let result = sqlx::query(
                    "INSERT INTO users (username, display_name, role, unit_id, password_hash, disabled, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(user.username.as_str())
                .bind(&user.display_name)
                .bind(user.role.key())
                .bind(user.unit.as_ref().map(UnitId::as_str))
                .bind(&user.password_hash)
                .bind(user.disabled)
                .bind(user.created_at_ms)
                .execute(&mut *tx)
                .await;
                match result {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                        return Err(StorageError::UserExists(user.username));
                    }
                    Err(err) => return Err(storage_error(err)),
                }
            }
            Write::PasswordHash { username, hash } => {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
                    .bind(hash)
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                one_user(&done, &username)?;
            }
            Write::Disabled { username, disabled } => {
                let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
                    .bind(disabled)
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                one_user(&done, &username)?;
            }
            Write::EndSessions(username) => {
                sqlx::query(
                    "UPDATE sessions SET revoked = TRUE WHERE username = $1 AND NOT revoked",
                )
                .bind(username.as_str())
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::EndSession { token_hash } => {
                sqlx::query(
                    "UPDATE sessions SET revoked = TRUE WHERE token_hash = $1 AND NOT revoked",
                )
                .bind(token_hash)
                .execute(&mut *tx)
                .await
                .pg()?;
            }
            Write::Campaign(c) => insert_campaign(tx, c, CAMPAIGN_REPLACING).await?,
            Write::EnsureCampaign(c) => insert_campaign(tx, c, CAMPAIGN_UNLESS_THERE).await?,
            Write::RemoveItem(id) => {
                let id = id.to_string();
                for table in [
                    "DELETE FROM item_evidence WHERE item_id = $1",
                    "DELETE FROM items WHERE id = $1",
                ] {
                    sqlx::query(table).bind(&id).execute(&mut *tx).await.pg()?;
                }
            }
            Write::UnitWork(work) => {
                let id = work.id.to_string();
                sqlx::query(
                    "INSERT INTO unit_work (id, item_id, unit, assigned, department)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET assigned = excluded.assigned,
                       department = excluded.department",
                )
                .bind(&id)
                .bind(work.item_id.to_string())
                .bind(work.unit)
                .bind(work.assigned)
                .bind(work.department)
                .execute(&mut *tx)
                .await
                .pg()?;
                sqlx::query("DELETE FROM unit_work_evidence WHERE work_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                if !work.evidence.is_empty() {
                    sqlx::query(
                        "INSERT INTO unit_work_evidence (work_id, sha256)
                         SELECT $1, sha256 FROM unnest($2::text[]) AS sha256
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&id)
                    .bind(work.evidence)
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                }
            }
            Write::Item(item) => {
                let units = serde_json::to_string(&item.units)
                    .map_err(|e| StorageError::Backend(e.to_string()))?;
                let id = item.id.to_string();
                sqlx::query(
                    "INSERT INTO items (id, campaign_id, item_key, title, status, units, department, deadline, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (id) DO UPDATE SET item_key = excluded.item_key, title = excluded.title,
                       status = excluded.status, units = excluded.units, department = excluded.department,
                       deadline = excluded.deadline, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&id)
                .bind(item.campaign_id.to_string())
                .bind(item.key)
                .bind(item.title)
                .bind(item.status.key())
                .bind(units)
                .bind(item.department)
                .bind(item.deadline)
                .bind(item.updated_at_ms)
                .execute(&mut *tx)
                .await
                .pg()?;
                sqlx::query("DELETE FROM item_evidence WHERE item_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                if !item.evidence.is_empty() {
                    sqlx::query(
                        "INSERT INTO item_evidence (item_id, sha256)
                         SELECT $1, sha256 FROM unnest($2::text[]) AS sha256
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&id)
                    .bind(item.evidence)
                    .execute(&mut *tx)
                    .await
                    .pg()?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::scratch::ScratchDatabase;
    /// The schemas upgrades copied the database to.
    async fn copies(pool: &PgPool) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'rectify_before_%' ORDER BY 1",
        )
        .fetch_all(pool)
        .await?)
    }

    /// A database at schema 6 with a document and an account in it, as an older Rectify left it.
    async fn older_database() -> anyhow::Result<(ScratchDatabase, PgPool)> {
        let database = ScratchDatabase::create()?;
        let pool = PgPool::connect(database.url()).await?;
        let older = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                MIGRATOR
                    .iter()
                    .filter(|m| m.version <= 6)
                    .cloned()
                    .collect(),
            ),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        older.run(&pool).await?;
        sqlx::raw_sql(
            "INSERT INTO documents (id, kind, created_at_ms) VALUES ('doc-1', 'item', 1);
             INSERT INTO users (username, display_name, role, password_hash, created_at_ms)
               VALUES ('office', '办公室', 'office', 'x', 1)",
        )
        .execute(&pool)
        .await?;
        Ok((database, pool))
    }

    async fn count(pool: &PgPool, table: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await?)
    }

    /// Issue #23: an older PostgreSQL database is copied, whole, before it is migrated; a copy
    /// that fails leaves it unmigrated; of two replicas upgrading at once only one copies.
    #[tokio::test]
    async fn an_upgrade_copies_the_database_first() -> anyhow::Result<()> {
        let (database, pool) = older_database().await?;

        // The copy cannot read a table another server holds locked: nothing is migrated.
        let mut holder = pool.begin().await?;
        sqlx::query("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *holder)
            .await?;
        let storage = PostgresStorage { pool: pool.clone() };
        let failed = storage
            .migrate_with_copy(0, Duration::from_millis(200))
            .await
            .expect_err("the copy waits 200 ms for the lock, then gives up");
        assert!(
            matches!(&failed, StorageError::Migration(m) if m.contains("was not migrated")),
            "{failed:?}"
        );
        holder.rollback().await?;
        assert_eq!(count(&pool, "_sqlx_migrations").await?, 6);
        assert!(
            copies(&pool).await?.is_empty(),
            "the failed copy is rolled back"
        );

        // Opened by this version: copied, then migrated.
        let opened = PostgresStorage::open(database.url()).await?;
        let made = copies(&pool).await?;
        assert_eq!(made.len(), 1, "{made:?}");
        let copy = &made[0];
        assert!(copy.starts_with("rectify_before_"), "{copy}");
        assert_eq!(count(&pool, &format!("{copy}._sqlx_migrations")).await?, 6);
        assert_eq!(count(&pool, &format!("{copy}.documents")).await?, 1);
        assert_eq!(count(&pool, &format!("{copy}.users")).await?, 1);
        let known = i64::try_from(MIGRATOR.iter().count())?;
        assert_eq!(count(&pool, "_sqlx_migrations").await?, known);
        assert_eq!(count(&pool, "documents").await?, 1);
        opened.pool.close().await;

        // Up to date: opening again copies nothing.
        PostgresStorage::open(database.url())
            .await?
            .pool
            .close()
            .await;
        assert_eq!(copies(&pool).await?.len(), 1);
        pool.close().await;

        // Two replicas start the new version on one older database at once: one copy.
        let (database, pool) = older_database().await?;
        let (a, b) = tokio::join!(
            PostgresStorage::open(database.url()),
            PostgresStorage::open(database.url())
        );
        a?.pool.close().await;
        b?.pool.close().await;
        assert_eq!(copies(&pool).await?.len(), 1);
        assert_eq!(count(&pool, "_sqlx_migrations").await?, known);
        pool.close().await;
        Ok(())
    }

    #[test]
    fn upgrade_copy_names() {
        // 2026-12-07 06:30:00 UTC.
        let name = upgrade_copy_schema(1_796_625_000_000);
        assert!(name.starts_with("rectify_before_"), "{name}");
        assert!(name.ends_with("_20261207t063000z"), "{name}");
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
    }

    /// Replicas share the database's chores: compaction of a document is one server's at a
    /// time (another that finds its lock taken changes nothing), and the housekeeping turn is
    /// one server's until it gives it up.
    #[tokio::test]
    async fn replicas_take_turns_at_compaction_and_housekeeping() -> anyhow::Result<()> {
        let database = ScratchDatabase::create()?;
        let storage = PostgresStorage::open(database.url()).await?;
        let other = PostgresStorage::open(database.url()).await?;
        let id = DocumentId([3; 16]);
        storage
            .write(vec![
                Write::NewDocument {
                    id,
                    kind: "item".to_owned(),
                    created_at_ms: 1,
                },
                chunk(id, b"a"),
                chunk(id, b"b"),
            ])
            .await?;
        let seqs: Vec<i64> = storage
            .numbered_chunks(&id)
            .await?
            .iter()
            .map(|c| c.seq)
            .collect();

        // Another server is compacting the document: this one leaves it alone.
        let mut compacting = other.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(COMPACTION_LOCK_CLASS)
            .bind(id.to_string())
            .execute(&mut *compacting)
            .await?;
        assert!(!storage.replace_chunks(&id, &seqs, b"ab".to_vec()).await?);
        assert_eq!(storage.numbered_chunks(&id).await?.len(), 2);
        compacting.rollback().await?;
        assert!(storage.replace_chunks(&id, &seqs, b"ab".to_vec()).await?);

        // One housekeeping turn at a time, given up when dropped.
        let turn = storage.housekeeping().await?;
        assert!(turn.is_some());
        assert!(other.housekeeping().await?.is_none(), "held by the first");
        drop(turn);
        // The lock goes when the server sees the connection close.
        let mut again = None;
        for _ in 0..100 {
            again = other.housekeeping().await?;
            if again.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(again.is_some(), "free once the first gave it up");
        Ok(())
    }

    fn chunk(document: DocumentId, data: &[u8]) -> Write {
        Write::AppendChunk {
            document,
            data: data.to_vec(),
            created_at_ms: 2,
            expect_version: None,
        }
    }

    /// Errors PostgreSQL really gives, each mapped to what happened (on a scratch database of
    /// the test server).
    #[tokio::test]
    async fn postgres_errors_say_what_happened() -> anyhow::Result<()> {
        let database = ScratchDatabase::create()?;
        let storage = PostgresStorage::open(database.url()).await?;
        let options = connect_options(database.url())?;

        // A lock another connection holds, not waited for (lock_not_available, 55P03).
        let mut holder = sqlx::PgConnection::connect_with(&options).await?;
        sqlx::raw_sql("BEGIN; LOCK TABLE server_meta IN ACCESS EXCLUSIVE MODE")
            .execute(&mut holder)
            .await?;
        let mut impatient = sqlx::PgConnection::connect_with(&options).await?;
        let busy = sqlx::raw_sql("BEGIN; LOCK TABLE server_meta IN ACCESS EXCLUSIVE MODE NOWAIT")
            .execute(&mut impatient)
            .await
            .expect_err("the table is locked");
        sqlx::raw_sql("ROLLBACK").execute(&mut impatient).await?;
        let busy = storage_error(busy);
        assert!(
            matches!(busy, StorageError::Unavailable(_)) && busy.is_transient(),
            "{busy:?}"
        );
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await?;

        // A stored value this build cannot read.
        sqlx::raw_sql(
            "INSERT INTO documents (id, kind, created_at_ms) VALUES ('not-a-document-id', 'item', 1);
             INSERT INTO document_chunks (document_id, data, created_at_ms)
               VALUES ('not-a-document-id', '\\x00', 1)",
        )
        .execute(&mut holder)
        .await?;
        let corrupt = storage.documents_to_compact(1, 10).await;
        assert!(
            matches!(corrupt, Err(StorageError::Corrupt(_))),
            "{corrupt:?}"
        );

        // A database written by a newer build (a migration this one does not know).
        sqlx::raw_sql(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
        )
        .execute(&mut holder)
        .await?;
        holder.close().await?;
        impatient.close().await?;
        storage.close().await;
        let newer = PostgresStorage::open(database.url())
            .await
            .expect_err("refused");
        assert!(
            matches!(&newer, StorageError::Migration(m) if m.contains("newer Rectify")),
            "{newer:?}"
        );

        // No server there: transient, said at once, and the password is not repeated.
        let nowhere = PostgresStorage::open("postgres://rectify:hunter2@127.0.0.1:1/x")
            .await
            .expect_err("nothing listens on port 1");
        assert!(nowhere.is_transient(), "{nowhere:?}");
        assert!(!nowhere.to_string().contains("hunter2"), "{nowhere}");

        // Errors without a database answer.
        let cases = [
            (sqlx::Error::PoolTimedOut, "unavailable"),
            (sqlx::Error::PoolClosed, "unavailable"),
            (
                sqlx::Error::Io(std::io::Error::other("connection reset")),
                "unavailable",
            ),
            (sqlx::Error::Decode("bad bytes".into()), "invalid"),
            (sqlx::Error::RowNotFound, "database error"),
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
