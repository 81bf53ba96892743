//! Newtypes for identifiers, so that a unit id can never be passed where a user id is meant.
//!
//! All of them are stored and synced: change their representation only with a migration.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A login name, e.g. `office` or `school1`. Stored and synced.
    Username
);
string_id!(
    /// A unit (school, kindergarten) or department (股室), e.g. `pengshan-no1-middle`. Stored and synced.
    UnitId
);
