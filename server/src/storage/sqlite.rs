//! The embedded backend: one SQLite file in WAL mode.

use super::{SessionRecord, Storage, StorageError, StorageResult, UnitRecord, UserRecord};
use async_trait::async_trait;
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::policy::Role;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite storage. WAL mode with `synchronous = FULL`: a committed write survives a crash
/// or power loss, which is what "acknowledged only after it is durable" needs.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    pub async fn open(path: &Path) -> StorageResult<SqliteStorage> {
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
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStorage { pool })
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

fn session_from_row(row: &SqliteRow) -> StorageResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        username: Username::new(row.try_get::<String, _>("username")?),
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
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

    async fn create_session(&self, session: &SessionRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms, revoked)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(session.username.as_str())
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .bind(i64::from(session.revoked))
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

    async fn extend_session(&self, token_hash: &str, expires_at_ms: i64) -> StorageResult<()> {
        sqlx::query(
            "UPDATE sessions SET expires_at_ms = max(expires_at_ms, ?) WHERE token_hash = ?",
        )
        .bind(expires_at_ms)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_sessions(&self, username: &Username) -> StorageResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE username = ? AND revoked = 0")
                .bind(username.as_str())
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
}
