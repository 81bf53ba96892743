//! Where the storage is, as a URL: the one place that says which backend a URL means.

use super::StorageError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The database file of a data directory, and of a backup directory.
pub(super) const SQLITE_FILE: &str = "rectify.db";

/// A parsed storage URL. [`super::open`] and [`super::backup_for`] turn it into a backend;
/// adding a backend is a variant here, a scheme in [`StorageUrl::from_str`] and an arm in
/// each of those two functions.
///
/// Neither `Debug` nor `Display` shows a password a PostgreSQL URL holds ([`redacted`]).
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `sqlite://PATH` or `sqlite:PATH` (`sqlite:///srv/rectify/rectify.db` for an absolute
    /// path): one SQLite file, created when missing, with its `-wal` and `-shm` files beside
    /// it while open.
    Sqlite(PathBuf),
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]` (or `postgresql://`), as
    /// libpq takes it: an existing database, whose schema Rectify creates and migrates.
    Postgres(String),
}

/// `url` with any password replaced by `***` (in the user part and in a `password=` option),
/// for messages and logs.
pub fn redacted(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let rest = match rest.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => rest.to_owned(),
            };
            format!("{scheme}://{rest}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let options: Vec<String> = query
            .split('&')
            .map(|option| match option.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => option.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&options.join("&"));
    }
    out
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StorageUrl::Postgres(url) => f.debug_tuple("Postgres").field(&redacted(url)).finish(),
        }
    }
}

impl StorageUrl {
    /// The storage of a data directory: SQLite at `DIR/rectify.db`.
    pub fn for_data_dir(dir: &Path) -> StorageUrl {
        StorageUrl::Sqlite(dir.join(SQLITE_FILE))
    }
}

impl FromStr for StorageUrl {
    type Err = StorageError;

    fn from_str(url: &str) -> Result<StorageUrl, StorageError> {
        let bad = |why: String| Err(StorageError::BadUrl(why));
        let Some((scheme, rest)) = url.split_once(':') else {
            return bad(format!(
                "'{url}' is not a storage URL: use sqlite://PATH (for example sqlite:///srv/rectify/rectify.db)"
            ));
        };
        match scheme {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return bad(format!("'{url}' names no file: use sqlite://PATH"));
                }
                if path == ":memory:" || path.starts_with(":memory:?") {
                    return bad(
                        "in-memory SQLite is not supported (each connection would see its own \
                         database): give a file, sqlite://PATH"
                            .to_owned(),
                    );
                }
                Ok(StorageUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => {
                if !rest.starts_with("//") {
                    // Not repeated: without `//` the password cannot be found to hide it.
                    return bad(format!(
                        "this is not a PostgreSQL URL: use {scheme}://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                    ));
                }
                Ok(StorageUrl::Postgres(url.to_owned()))
            }
            // Only the scheme is repeated: the rest of a URL may hold a password.
            other => bad(format!(
                "unknown storage URL scheme '{other}:': use sqlite://PATH or postgres://…"
            )),
        }
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StorageUrl::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_each_backend_takes_and_says_why_not() {
        let ok = [
            ("sqlite:///srv/r/rectify.db", "/srv/r/rectify.db"),
            ("sqlite://data/rectify.db", "data/rectify.db"),
            ("sqlite:data/rectify.db", "data/rectify.db"),
        ];
        for (url, path) in ok {
            let parsed: StorageUrl = url.parse().unwrap();
            assert_eq!(parsed, StorageUrl::Sqlite(PathBuf::from(path)), "{url}");
            let again: StorageUrl = parsed.to_string().parse().unwrap();
            assert_eq!(again, parsed, "{url} survives Display");
        }
        for url in [
            "postgres://rectify:secret@db/rectify",
            "postgresql://db:5433/rectify?sslmode=require",
        ] {
            let parsed: StorageUrl = url.parse().unwrap();
            assert_eq!(parsed, StorageUrl::Postgres(url.to_owned()), "{url}");
        }
        let refused = [
            ("postgres:secret@db", "not a PostgreSQL URL"),
            (
                "mysql://u:secret@h/db",
                "unknown storage URL scheme 'mysql:'",
            ),
            ("sqlite://", "names no file"),
            ("sqlite::memory:", "in-memory SQLite is not supported"),
            ("rectify.db", "is not a storage URL"),
        ];
        for (url, message) in refused {
            match url.parse::<StorageUrl>() {
                Err(err @ StorageError::BadUrl(_)) => {
                    let text = err.to_string();
                    assert!(text.contains(message), "{url}: {text}");
                    assert!(!text.contains("secret"), "{url}: {text}");
                    assert!(!err.is_transient(), "{url}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_postgres_password_is_never_shown() {
        let cases = [
            (
                "postgres://rectify:secret@db:5432/rectify",
                "postgres://rectify:***@db:5432/rectify",
            ),
            (
                "postgresql://rectify@db/rectify?password=secret&sslmode=require",
                "postgresql://rectify@db/rectify?password=***&sslmode=require",
            ),
            ("postgres://u:p%40ss:secret@db/x", "postgres://u:***@db/x"),
            ("postgres://db/rectify", "postgres://db/rectify"),
        ];
        for (url, shown) in cases {
            let parsed: StorageUrl = url.parse().unwrap();
            assert_eq!(parsed.to_string(), shown);
            let debug = format!("{parsed:?}");
            assert!(debug.contains(shown), "{debug}");
            assert!(!debug.contains("secret"), "{debug}");
        }
    }

    #[test]
    fn a_data_directory_is_sqlite_in_rectify_db() {
        assert_eq!(
            StorageUrl::for_data_dir(Path::new("/srv/data")).to_string(),
            "sqlite:///srv/data/rectify.db"
        );
    }
}
