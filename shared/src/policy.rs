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

/// May `actor` read an item assigned to `units` and led by `department`? The office and
/// viewers read everything; a department reads the items it leads or is assigned; a unit
/// reads the items assigned to it.
pub fn can_read_item(actor: &Actor, units: &[String], department: Option<&str>) -> bool {
    let own = actor.unit.as_ref().map(UnitId::as_str);
    match actor.role {
        Role::Office | Role::Viewer => true,
        Role::Department => {
            own.is_some_and(|own| department == Some(own) || units.iter().any(|u| u == own))
        }
        Role::Unit => own.is_some_and(|own| units.iter().any(|u| u == own)),
    }
}

/// What an action beyond a single item needs: the office API's endpoints, the office's
/// pages, reading a campaign. One table, used by the server's API (`require`), the sync gate
/// and the client's navigation, so they cannot disagree.
///
/// | needed     | office | viewer | department | unit (school) |
/// |------------|--------|--------|------------|---------------|
/// | `LoggedIn` | yes    | yes    | yes        | yes           |
/// | `Oversee`  | yes    | yes    | yes        | no            |
/// | `ReadAll`  | yes    | yes    | no         | no            |
/// | `Office`   | yes    | no     | no         | no            |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any logged-in account: the unit names, one's own items.
    LoggedIn,
    /// Overseeing others' work: the dashboard, the chase list (督办), a campaign document.
    /// Everyone but a school.
    Oversee,
    /// Reading everything: accounts, campaigns, the ledger and the report. The office and
    /// viewers.
    ReadAll,
    /// Changing anything beyond one's own work: the office only.
    Office,
}

impl Need {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Need::LoggedIn => true,
            Need::Oversee => role != Role::Unit,
            Need::ReadAll => matches!(role, Role::Office | Role::Viewer),
            Need::Office => role == Role::Office,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_has_what_need() {
        use Role::*;
        // (need, the roles it allows, in Role::ALL's order: office, department, unit, viewer)
        let table = [
            (Need::LoggedIn, [true, true, true, true]),
            (Need::Oversee, [true, true, false, true]),
            (Need::ReadAll, [true, false, false, true]),
            (Need::Office, [true, false, false, false]),
        ];
        assert_eq!(Role::ALL, [Office, Department, Unit, Viewer]);
        for (need, expected) in table {
            assert_eq!(
                Role::ALL.map(|role| need.allows(role)),
                expected,
                "{need:?}"
            );
        }
    }

    #[test]
    fn who_reads_which_item() {
        let units = vec!["pszx1".to_owned(), "pszx3".to_owned()];
        let actor = |role, unit: Option<&str>| Actor {
            role,
            unit: unit.map(UnitId::new),
        };
        let cases = [
            (actor(Role::Office, None), true),
            (actor(Role::Viewer, None), true),
            (actor(Role::Unit, Some("pszx1")), true),
            (actor(Role::Unit, Some("pszx2")), false),
            (actor(Role::Unit, None), false),
            (actor(Role::Department, Some("jcg")), true),
            (actor(Role::Department, Some("rsg")), false),
        ];
        for (who, expected) in cases {
            assert_eq!(
                can_read_item(&who, &units, Some("jcg")),
                expected,
                "{who:?}"
            );
        }
    }
}
