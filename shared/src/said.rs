//! A message in both of the app's languages, for what the server or the importer tells a
//! person: Chinese for the office and the schools, English for the command line, the logs
//! and the app in English. Both are written side by side where the message is made, so that
//! neither goes missing.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Said {
    pub zh: String,
    pub en: String,
}

impl Said {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Said {
        Said {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// In English: what the command line and the logs print.
impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}
