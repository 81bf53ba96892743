//! Newtypes for identifiers, so that a unit id can never be passed where a user id is meant.
//!
//! All of them are stored and synced: change their representation only with a migration.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Defines a string newtype with `new`, `as_str`, `Display` and transparent serde.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_id;

string_id!(
    /// A login name, e.g. `office` or `school1`. Stored and synced.
    Username
);
string_id!(
    /// A login session's public id: random, unrelated to its token, so that a list of
    /// sessions holds nothing that logs anyone in. Stored.
    SessionId
);
string_id!(
    /// A unit (school, kindergarten) or department (股室), e.g. `pengshan-no1-middle`. Stored and synced.
    UnitId
);

/// An Automerge document's id: 16 bytes, written as bs58check (the automerge-repo
/// `documentId`, without the `automerge:` prefix of its URL). Stored and synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId(pub [u8; 16]);

impl DocumentId {
    /// The automerge-repo URL, `automerge:<id>`.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

/// The text is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a document id (expected 16 bytes in bs58check, optionally after 'automerge:')"
)]
pub struct BadDocumentId(pub String);

impl std::str::FromStr for DocumentId {
    type Err = BadDocumentId;

    fn from_str(s: &str) -> Result<DocumentId, BadDocumentId> {
        let bare = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| BadDocumentId(s.to_owned()))?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| BadDocumentId(s.to_owned()))?;
        Ok(DocumentId(bytes))
    }
}

impl Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DocumentId, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_round_trip_and_reject_garbage() {
        let id = DocumentId([7; 16]);
        let text = id.to_string();
        assert_eq!(text.parse::<DocumentId>(), Ok(id));
        assert_eq!(id.url().parse::<DocumentId>(), Ok(id));
        for bad in ["", "abc", "automerge:", &text[1..], "0OIl"] {
            assert!(bad.parse::<DocumentId>().is_err(), "{bad}");
        }
    }
}
