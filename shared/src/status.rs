//! Statuses: the public wording of a report (整改进度) and, later, the workflow behind it.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// The status as the public report states it (整改进度).
///
/// Stored and synced (as its `key()`): change only with a migration.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Reconcile,
    Hydrate,
)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    /// 整改完成
    #[autosurgeon(rename = "done")]
    Done,
    /// 整改完成，长期坚持
    #[autosurgeon(rename = "done_long_term")]
    DoneLongTerm,
    /// 正在整改中
    #[autosurgeon(rename = "in_progress")]
    InProgress,
}

impl PublicStatus {
    pub const ALL: [PublicStatus; 3] = [Self::Done, Self::DoneLongTerm, Self::InProgress];

    /// The report's own wording, as printed in section 二 (`整改进度:整改完成。`).
    pub fn wording(self) -> &'static str {
        match self {
            Self::Done => "整改完成",
            Self::DoneLongTerm => "整改完成，长期坚持",
            Self::InProgress => "正在整改中",
        }
    }

    /// Stable key used in storage, exports and the API.
    pub fn key(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::DoneLongTerm => "done_long_term",
            Self::InProgress => "in_progress",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|&s| s.key() == key)
    }

    /// Counts towards the completion rate (完成率).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Done | Self::DoneLongTerm)
    }
}
