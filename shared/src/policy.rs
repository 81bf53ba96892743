//! Who may do what. The server enforces these rules; the client uses the same code to
//! show only what the user may do.

use crate::ids::UnitId;
use serde::{Deserialize, Serialize};

/// An account's role.
///
/// Stored (as `key()`): change only with a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 整改落实工作领导小组办公室: plans, assigns, reviews, signs off, publishes.
    Office,
    /// 股室: works on the items its department leads, sees its schools' progress.
    Department,
    /// 学校/幼儿园: works on the items assigned to it.
    Unit,
    /// 派驻纪检组, bureau leaders: reads everything, changes nothing.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Office, Role::Department, Role::Unit, Role::Viewer];

    pub fn key(self) -> &'static str {
        match self {
            Role::Office => "office",
            Role::Department => "department",
            Role::Unit => "unit",
            Role::Viewer => "viewer",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Department and unit accounts belong to a unit; office and viewer accounts do not.
    pub fn needs_unit(self) -> bool {
        matches!(self, Role::Department | Role::Unit)
    }
}

/// The authenticated caller, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub role: Role,
    /// The unit (school or department) the account belongs to, for `Unit` and `Department`.
    pub unit: Option<UnitId>,
}
