//! The demo: units and departments named in the bundled real report, and one account per
//! role, so that `cargo xtask run` shows a working system on first start.

use crate::accounts::{hash_password, now_ms};
use crate::storage::{Storage, StorageError, UnitRecord, UserRecord};
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::policy::Role;

/// (id, name, kind) of the demo units: schools and kindergartens named in the report, and
/// the bureau's departments (股室).
pub const DEMO_UNITS: &[(&str, &str, &str)] = &[
    ("pszx1", "彭山一中", "school"),
    ("pszx2", "彭山二中", "school"),
    ("pszx3", "彭山三中", "school"),
    ("psxx1", "彭山一小", "school"),
    ("psxx2", "彭山二小", "school"),
    ("syxx", "实验小学", "school"),
    ("psxx5", "彭山五小", "school"),
    ("xjxx", "谢家小学", "school"),
    ("qhyey", "启航幼儿园", "kindergarten"),
    ("cxyey", "城西幼儿园", "kindergarten"),
    ("djg", "党建股", "department"),
    ("jcg", "计财股", "department"),
    ("ddnsg", "督导内审股", "department"),
    ("rsg", "人事股", "department"),
    ("jyg", "教育股", "department"),
    ("tyg", "体育股", "department"),
    ("zbz", "装备站", "department"),
    ("ypzx", "研培中心", "department"),
];

/// (username, display name, role, unit) of the demo accounts, besides one per department.
pub const DEMO_ACCOUNTS: &[(&str, &str, Role, Option<&str>)] = &[
    ("office", "领导小组办公室", Role::Office, None),
    ("viewer", "派驻纪检组", Role::Viewer, None),
    ("school1", "彭山一中", Role::Unit, Some("pszx1")),
    ("school2", "彭山三中", Role::Unit, Some("pszx3")),
];

/// What the demo created, for printing.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub units: usize,
    /// (username, display name) of every demo account, new or already there.
    pub accounts: Vec<(String, String)>,
    pub created_accounts: usize,
}

/// Creates the demo units and accounts. Idempotent: existing accounts keep their passwords.
pub async fn create_demo(storage: &dyn Storage, password: &str) -> anyhow::Result<DemoSummary> {
    let mut summary = DemoSummary::default();
    for (id, name, kind) in DEMO_UNITS {
        storage
            .upsert_unit(&UnitRecord {
                id: UnitId::new(*id),
                name: (*name).to_owned(),
                kind: (*kind).to_owned(),
            })
            .await?;
        summary.units += 1;
    }
    let departments = DEMO_UNITS
        .iter()
        .filter(|(_, _, kind)| *kind == "department")
        .map(|(id, name, _)| {
            (
                format!("dept-{id}"),
                (*name).to_owned(),
                Role::Department,
                Some(*id),
            )
        });
    let accounts = DEMO_ACCOUNTS
        .iter()
        .map(|(user, name, role, unit)| ((*user).to_owned(), (*name).to_owned(), *role, *unit))
        .chain(departments);
    let hash = hash_password(password)?;
    for (username, display_name, role, unit) in accounts {
        let record = UserRecord {
            username: Username::new(&username),
            display_name: display_name.clone(),
            role,
            unit: unit.map(UnitId::new),
            password_hash: hash.clone(),
            disabled: false,
            created_at_ms: now_ms(),
        };
        match storage.create_user(&record).await {
            Ok(()) => summary.created_accounts += 1,
            Err(StorageError::UserExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        summary.accounts.push((username, display_name));
    }
    Ok(summary)
}
