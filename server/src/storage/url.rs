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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `sqlite://PATH` or `sqlite:PATH` (`sqlite:///srv/rectify/rectify.db` for an absolute
    /// path): one SQLite file, created when missing, with its `-wal` and `-shm` files beside
    /// it while open.
    Sqlite(PathBuf),
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
                bad("PostgreSQL storage is not built yet; see issue #18".to_owned())
            }
            // Only the scheme is repeated: the rest of a URL may hold a password.
            other => bad(format!(
                "unknown storage URL scheme '{other}:': use sqlite://PATH"
            )),
        }
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
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
        let refused = [
            (
                "postgres://rectify:secret@db/rectify",
                "PostgreSQL storage is not built yet; see issue #18",
            ),
            (
                "postgresql://db/rectify",
                "PostgreSQL storage is not built yet; see issue #18",
            ),
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
    fn a_data_directory_is_sqlite_in_rectify_db() {
        assert_eq!(
            StorageUrl::for_data_dir(Path::new("/srv/data")).to_string(),
            "sqlite:///srv/data/rectify.db"
        );
    }
}
