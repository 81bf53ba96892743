//! Throwaway PostgreSQL databases for tests: each test gets a database of its own on the test
//! server, dropped when it is done.
//!
//! The test server is [`test_server_url`]: `RECTIFY_TEST_DATABASE_URL` when set, otherwise the
//! local server at 127.0.0.1:5432 (trust auth, user `postgres`, database `test`) when one
//! answers. `cargo xtask test` makes sure one of the two is there (it starts a private cluster
//! under `target/pg` when neither is) and sets the variable. Without a server a test fails and
//! says so; it never skips.
//!
//! The calls here block (each runs its SQL on a thread of its own with its own small runtime),
//! so they work anywhere: in a `Drop`, in a plain `#[test]`, inside `#[tokio::test]`.

use super::StorageUrl;
use anyhow::{Context, bail};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable that names the PostgreSQL server tests use (a URL whose
/// database is only connected to, never changed).
pub const TEST_DATABASE_ENV: &str = "RECTIFY_TEST_DATABASE_URL";

/// The local server machines of this kind (and CI) run: trust auth, user `postgres`.
pub const LOCAL_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL server tests make their databases on: [`TEST_DATABASE_ENV`], else
/// [`LOCAL_TEST_SERVER`] when something listens there; else an error that says what to do.
pub fn test_server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(TEST_DATABASE_ENV)
        && !url.is_empty()
    {
        return Ok(url);
    }
    let local = SocketAddr::from(([127, 0, 0, 1], 5432));
    if TcpStream::connect_timeout(&local, Duration::from_secs(2)).is_ok() {
        return Ok(LOCAL_TEST_SERVER.to_owned());
    }
    bail!(
        "no PostgreSQL server for the tests: {TEST_DATABASE_ENV} is not set and nothing answers \
         at 127.0.0.1:5432. Run the tests with `cargo xtask test` (it starts a private server \
         when there is none) or set {TEST_DATABASE_ENV}=postgres://USER@HOST:PORT/DATABASE"
    )
}

/// `url` with its database replaced by `database` (options after `?` kept).
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base
        .split_once("://")
        .with_context(|| format!("'{}' is not a PostgreSQL URL", super::url::redacted(url)))?;
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Runs one statement on the server at `url`, on a thread of its own with a small runtime,
/// and waits for it.
fn blocking_execute(url: String, sql: String) -> anyhow::Result<()> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime")?
            .block_on(execute(&url, &sql))
    })
    .join()
    .unwrap_or_else(|_| bail!("the database thread panicked"))
}

/// Runs one statement on the server at `url`.
async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).with_context(|| {
        format!(
            "cannot read the test database URL {}",
            super::url::redacted(url)
        )
    })?;
    let mut connection = PgConnection::connect_with(&options)
        .await
        .with_context(|| {
            format!(
                "cannot connect to the test PostgreSQL server at {}",
                super::url::redacted(url)
            )
        })?;
    sqlx::raw_sql(sql)
        .execute(&mut connection)
        .await
        .with_context(|| format!("{sql} failed"))?;
    connection.close().await?;
    Ok(())
}

/// A new, empty database on the test server, dropped (with whatever still connects to it)
/// when this is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a database with a name no other test uses, on [`test_server_url`].
    pub fn create() -> anyhow::Result<ScratchDatabase> {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let server = test_server_url()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let name = format!(
            "rectify_test_{}_{}_{nanos}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_database(&server, &name)?;
        blocking_execute(
            server.clone(),
            format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"),
        )?;
        Ok(ScratchDatabase { server, name, url })
    }

    /// The database's URL (it may hold the test server's password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` on this database, as an operator would (end a connection, say).
    pub fn execute(&self, sql: &str) -> anyhow::Result<()> {
        blocking_execute(self.url.clone(), sql.to_owned())
    }

    /// The database as a [`StorageUrl`].
    pub fn storage_url(&self) -> StorageUrl {
        StorageUrl::Postgres(self.url.clone())
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = blocking_execute(
            self.server.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Err(err) = dropped {
            eprintln!("warning: the test database {} stays: {err:#}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/test?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgres://h:5433", "postgres://h:5433/x"),
            ("postgresql://h/", "postgresql://h/x"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").unwrap(), expected, "{url}");
        }
    }
}
