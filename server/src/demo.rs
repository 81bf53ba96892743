//! The demo: units and departments named in the bundled real report, and one account per
//! role, so that `cargo xtask run` shows a working system on first start.

use crate::accounts::hash_password;
use crate::campaigns;
use crate::clock::now_ms;
use crate::storage::{Storage, StorageError, UnitRecord, UserRecord};
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::model::{EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;

/// The real report the demo campaign is imported from.
pub const DEMO_REPORT: &str = include_str!("../../shared/tests/data/pengshan-2024.txt");

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
    /// Items of the demo campaign, when it was created by this call.
    pub created_items: usize,
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
    if storage.campaigns().await?.is_empty() {
        summary.created_items = create_demo_campaign(storage).await?;
    }
    Ok(summary)
}

/// Imports the bundled report and gives every item a plausible plan: a department by the
/// subject, the units the narrative names (or two schools for items about "the schools"),
/// deadlines (some overdue), and the units' progress matching the reported status.
async fn create_demo_campaign(storage: &dyn Storage) -> anyhow::Result<usize> {
    let imported = rectify_shared::import::parse(DEMO_REPORT)?;
    let outcome = campaigns::import_report(
        storage,
        &imported.report,
        "office",
        &crate::audit::command_line(),
    )
    .await?;
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: now_ms(),
    };
    let records = storage.items(&outcome.campaign).await?;
    for (n, record) in records.iter().enumerate() {
        let doc = campaigns::load_document(storage, &record.id).await?;
        let Some(doc) = doc else { continue };
        let item = ItemDoc::load(&doc)?;
        let plan = demo_plan(&item, n);
        let units = plan.units.clone();
        let mut current =
            campaigns::edit_item(storage, record, &office, ItemEdit::Plan(plan)).await?;
        // The work on a done item was done and signed off some days ago (up to ten weeks),
        // so the dashboard's sign-off chart shows a campaign under way, not one day's jump.
        let done_at = EditContext {
            now_ms: office.now_ms - ((n as i64 * 5) % 70 + 1) * 86_400_000,
            ..office.clone()
        };
        for unit in &units {
            let as_unit = EditContext {
                actor: Actor {
                    role: Role::Unit,
                    unit: Some(UnitId::new(unit)),
                },
                ..done_at.clone()
            };
            let record =
                &campaigns::item_record(record.id, record.campaign_id, &current, office.now_ms);
            let to = if item.status.is_done() {
                UnitStatus::Submitted
            } else {
                UnitStatus::InProgress
            };
            if item.status.is_done() {
                // A request for sign-off needs the work described: the report's own words.
                let text = match item.narrative.as_str() {
                    "" => "已按整改措施完成整改。".to_owned(),
                    text => text.to_owned(),
                };
                let words = ItemEdit::UnitNarrative {
                    unit: unit.clone(),
                    text,
                };
                current = campaigns::edit_item(storage, record, &as_unit, words).await?;
            }
            let record =
                &campaigns::item_record(record.id, record.campaign_id, &current, office.now_ms);
            current = campaigns::edit_item(
                storage,
                record,
                &as_unit,
                ItemEdit::UnitStatus {
                    unit: unit.clone(),
                    to,
                    reason: None,
                },
            )
            .await?;
            if item.status.is_done() {
                let sign = ItemEdit::UnitStatus {
                    unit: unit.clone(),
                    to: UnitStatus::SignedOff,
                    reason: None,
                };
                current = campaigns::edit_item(storage, record, &done_at, sign).await?;
            }
        }
    }
    Ok(records.len())
}

/// Keyword → department, first match wins.
const DEPARTMENT_BY_SUBJECT: &[(&[&str], &str)] = &[
    (
        &[
            "财务",
            "经费",
            "资金",
            "报账",
            "票据",
            "发票",
            "收费",
            "资产",
            "伙食费",
            "延时服务费",
            "延迟费",
            "工作餐",
        ],
        "jcg",
    ),
    (&["采购", "校服", "食堂", "项目"], "zbz"),
    (&["党", "廉政", "团", "谈心", "三会一课"], "djg"),
    (&["教师", "教研", "代课", "借用", "劳务", "人员"], "rsg"),
    (&["体育", "运动"], "tyg"),
    (
        &[
            "幼儿园",
            "布局",
            "校额",
            "园额",
            "基础设施",
            "厕所",
            "居民",
            "基地",
        ],
        "ddnsg",
    ),
    (&["质量", "思政", "心理", "均衡", "APP", "活动"], "jyg"),
];

fn demo_plan(item: &ItemDoc, n: usize) -> ItemPlan {
    let subject = format!("{}{}", item.problem_title, item.title.as_str());
    let department = DEPARTMENT_BY_SUBJECT
        .iter()
        .find(|(words, _)| words.iter().any(|w| subject.contains(w)))
        .map_or("djg", |(_, dept)| dept);
    let narrative = item.narrative.as_str();
    let mut units: Vec<String> = DEMO_UNITS
        .iter()
        .filter(|(_, name, kind)| *kind != "department" && narrative.contains(name))
        .map(|(id, _, _)| (*id).to_owned())
        .collect();
    if units.is_empty()
        && ["学校", "各校", "食堂", "伙食"]
            .iter()
            .any(|w| narrative.contains(w))
    {
        units = vec!["pszx1".into(), "pszx3".into()];
    }
    if units.is_empty() {
        units.push(department.to_owned());
    }
    let (timing, deadline) = match item.status {
        PublicStatus::DoneLongTerm => (Timing::LongTerm, None),
        PublicStatus::Done => (Timing::ByDeadline, Some("2023-12-31")),
        // Some open items are overdue, the others due later, so the office has something to chase.
        PublicStatus::InProgress if n.is_multiple_of(2) => (Timing::ByDeadline, Some("2024-06-30")),
        PublicStatus::InProgress => (Timing::ByDeadline, Some("2027-06-30")),
    };
    ItemPlan {
        responsible_leader: if department == "djg" {
            "局党委书记".into()
        } else {
            "分管副局长".into()
        },
        responsible_department: Some(department.to_owned()),
        units,
        deadline: deadline.map(str::to_owned),
        timing: Some(timing),
    }
}
