//! The workload: schools (unit accounts with their units and tokens), their item documents
//! in a `rectify` data directory, and each document's offline edits, made once so that both
//! servers get exactly the same bytes.

use anyhow::{Context, Result, ensure};
use automerge::ChangeHash;
use rectify_server::campaigns;
use rectify_server::storage::{SessionRecord, Storage, UnitRecord, UserRecord};
use rectify_shared::ids::{DocumentId, UnitId, Username};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::report::{Area, CampaignHeader, Item, Problem, Report};
use rectify_shared::status::PublicStatus;
use rectify_tests::{ServerProcess, TEST_PASSWORD};
use std::path::PathBuf;

/// One item document of a school.
#[derive(Debug, Clone)]
pub struct BenchDoc {
    pub id: DocumentId,
    /// The document as stored before the offline work (a full save).
    pub base: Vec<u8>,
    /// The school's offline edits, as `save_after(base heads)` writes them: in automerge 0.12
    /// that is each change's own bytes one after the other, not compressed together. Applied
    /// to the clients' copies.
    pub changes: Vec<u8>,
    /// The floor: the same changes compressed as one bundle (`AutoCommit::bundle`).
    pub floor: u64,
    /// The whole document after the edits, saved (compressed).
    pub full_save: u64,
    /// The heads once the edits are in.
    pub new_heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone)]
pub struct School {
    pub username: String,
    pub unit: String,
    pub token: String,
    pub docs: Vec<BenchDoc>,
}

#[derive(Debug)]
pub struct Fixture {
    pub schools: Vec<School>,
    pub office_token: String,
    /// Offline edits per document.
    pub edits: usize,
}

impl Fixture {
    /// The floor: every document's new changes compressed as one bundle, summed.
    pub fn floor_bytes(&self) -> u64 {
        self.sum(|d| d.floor)
    }

    /// `save_after(heads before the edits)`, summed.
    pub fn save_after_bytes(&self) -> u64 {
        self.sum(|d| d.changes.len() as u64)
    }

    /// Every document saved whole after the edits, summed.
    pub fn full_save_bytes(&self) -> u64 {
        self.sum(|d| d.full_save)
    }

    fn sum(&self, f: impl Fn(&BenchDoc) -> u64) -> u64 {
        self.schools.iter().flat_map(|s| &s.docs).map(f).sum()
    }
}

/// A token nobody can guess is not needed on loopback; a unique one is.
fn new_token(tag: &str) -> String {
    format!("bench-{tag}-{}", campaigns::new_document_id())
}

/// A session for `username`, written straight into the storage (no argon2 per login).
pub async fn session(storage: &dyn Storage, username: &str, tag: &str) -> Result<String> {
    let token = new_token(tag);
    let now = rectify_server::clock::now_ms();
    storage
        .create_session(&SessionRecord {
            token_hash: rectify_server::accounts::token_hash(&token),
            id: rectify_server::accounts::new_session_id(),
            username: Username::new(username),
            device: String::new(),
            created_at_ms: now,
            last_seen_ms: now,
            expires_at_ms: now + 7 * 24 * 3_600_000,
            revoked: false,
        })
        .await?;
    Ok(token)
}

/// `count` unit accounts (`{prefix}0001` …) with a unit each, and a token for each.
/// Returns (username, unit, token).
pub async fn unit_accounts(
    storage: &dyn Storage,
    prefix: &str,
    count: usize,
) -> Result<Vec<(String, String, String)>> {
    let hash = rectify_server::accounts::hash_password(TEST_PASSWORD)?;
    let now = rectify_server::clock::now_ms();
    let mut accounts = Vec::with_capacity(count);
    for n in 1..=count {
        let unit = format!("{prefix}u{n:04}");
        let username = format!("{prefix}{n:04}");
        storage
            .upsert_unit(&UnitRecord {
                id: UnitId::new(&unit),
                name: format!("测试学校{n}"),
                kind: "school".to_owned(),
            })
            .await?;
        storage
            .create_user(&UserRecord {
                username: Username::new(&username),
                display_name: format!("测试学校{n}"),
                role: Role::Unit,
                unit: Some(UnitId::new(&unit)),
                password_hash: hash.clone(),
                disabled: false,
                created_at_ms: now,
            })
            .await?;
        let token = session(storage, &username, &username).await?;
        accounts.push((username, unit, token));
    }
    Ok(accounts)
}

/// A report of `n` items (problems of five), for the importer.
fn report(n: usize) -> Report {
    let per_problem = 5;
    let mut area = Area {
        number: 1,
        title: "基准测试的问题".to_owned(),
        problems: Vec::new(),
    };
    for i in 0..n {
        let problem_no = (i / per_problem + 1) as u32;
        if area.problems.last().is_none_or(|p| p.number != problem_no) {
            area.problems.push(Problem {
                number: problem_no,
                title: format!("问题{problem_no}"),
                items: Vec::new(),
            });
        }
        let problem = area.problems.last_mut().expect("just pushed");
        problem.items.push(Item {
            sub: Some((problem.items.len() + 1) as u32),
            title: format!("第{i}项：学校食堂食品安全管理台账记录不完整，索证索票不规范。"),
            narrative: String::new(),
            status: PublicStatus::ALL[i % 3],
            status_wording: None,
            measures: vec!["建立健全台账".to_owned(), "开展专项检查".to_owned()],
            document_numbers: Vec::new(),
            dates: Vec::new(),
        });
    }
    Report {
        campaign: CampaignHeader {
            inspector: Some("基准测试巡察组".to_owned()),
            inspected: Some(format!("{n}项基准测试整改事项")),
            preamble: "用于基准测试的生成数据。".to_owned(),
            ..CampaignHeader::default()
        },
        parts: Default::default(),
        areas: vec![area],
    }
}

/// Every document the account of `token` may read on the running `server`, as the app would
/// hold them: the items `GET /api/items` lists, their campaigns and the unit-work documents
/// it names.
pub async fn readable_by(server: &ServerProcess, token: &str) -> Result<Vec<DocumentId>> {
    let mut ids = std::collections::BTreeSet::new();
    for item in server.items(token).await? {
        for id in [&item.id, &item.campaign]
            .into_iter()
            .chain(&item.unit_work)
        {
            ids.insert(
                id.parse::<DocumentId>()
                    .with_context(|| format!("GET /api/items listed a bad id {id}"))?,
            );
        }
    }
    Ok(ids.into_iter().collect())
}

/// A data directory (demo data plus `schools` unit accounts, each with `docs` items assigned
/// to it alone, planned by the office) and the fixture with `edits` offline edits per
/// document. The server is not started.
pub async fn prepare(
    binary: PathBuf,
    schools: usize,
    docs: usize,
    edits: usize,
) -> Result<(ServerProcess, Fixture)> {
    ensure!(schools > 0 && docs > 0, "nothing to measure");
    let server = ServerProcess::prepare(binary).await?;
    let storage = rectify_server::storage::open_data_dir(&server.data_dir()).await?;
    let fixture = fill(storage.as_ref(), schools, docs, edits).await;
    storage.close().await;
    Ok((server, fixture?))
}

async fn fill(storage: &dyn Storage, schools: usize, docs: usize, edits: usize) -> Result<Fixture> {
    let accounts = unit_accounts(storage, "bench", schools).await?;
    let office_token = session(storage, "office", "office").await?;
    let outcome = campaigns::import_report(
        storage,
        &report(schools * docs),
        "office",
        &rectify_server::audit::command_line(),
    )
    .await?;
    let mut records = storage.items(&outcome.campaign).await?;
    records.sort_by(|a, b| a.key.cmp(&b.key));
    ensure!(
        records.len() == schools * docs,
        "imported {} items, not {}",
        records.len(),
        schools * docs
    );
    let office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".to_owned(),
        now_ms: rectify_server::clock::now_ms(),
    };
    let mut out = Vec::new();
    for (s, (username, unit, token)) in accounts.into_iter().enumerate() {
        let mut school = School {
            username,
            unit,
            token,
            docs: Vec::new(),
        };
        for record in &records[s * docs..(s + 1) * docs] {
            let plan = ItemPlan {
                responsible_leader: "分管副局长".to_owned(),
                responsible_department: None,
                units: vec![school.unit.clone()],
                deadline: Some("2030-12-31".to_owned()),
                timing: Some(Timing::ByDeadline),
            };
            campaigns::edit_item(storage, record, &office, ItemEdit::Plan(plan)).await?;
            let doc = campaigns::load_document(storage, &record.id)
                .await?
                .context("an item just written is missing")?;
            school.docs.push(offline_edits(
                record.id,
                doc,
                &school.username,
                &school.unit,
                edits,
            )?);
        }
        out.push(school);
    }
    Ok(Fixture {
        schools: out,
        office_token,
        edits,
    })
}

/// The school's `edits` offline edits to one document, each appending a sentence to its
/// narrative through `model::apply` (one real Automerge change each).
pub fn offline_edits(
    id: DocumentId,
    mut doc: automerge::AutoCommit,
    username: &str,
    unit: &str,
    edits: usize,
) -> Result<BenchDoc> {
    let base = doc.save();
    let before = doc.get_heads();
    let mut narrative = ItemDoc::load(&doc)?
        .progress
        .get(unit)
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default();
    let start = rectify_server::clock::now_ms();
    for k in 1..=edits {
        narrative.push_str(&format!(
            "第{k}次进展：已按要求落实整改措施，相关台账已同步更新，并开展了自查。"
        ));
        let ctx = EditContext {
            actor: Actor {
                role: Role::Unit,
                unit: Some(UnitId::new(unit)),
            },
            user: username.to_owned(),
            now_ms: start + 1000 * k as i64,
        };
        let edit = ItemEdit::UnitNarrative {
            unit: unit.to_owned(),
            text: narrative.clone(),
        };
        model::apply(&mut doc, &ctx, edit).with_context(|| format!("offline edit {k}"))?;
    }
    let new: Vec<ChangeHash> = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
    let (changes, floor) = if new.is_empty() {
        (Vec::new(), 0)
    } else {
        let bundle = doc.bundle(new)?;
        (doc.save_after(&before), bundle.bytes().len() as u64)
    };
    Ok(BenchDoc {
        id,
        base,
        changes,
        floor,
        full_save: doc.save().len() as u64,
        new_heads: doc.get_heads(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_the_items_asked_for() {
        let report = report(12);
        let items: usize = report
            .areas
            .iter()
            .flat_map(|a| &a.problems)
            .map(|p| p.items.len())
            .sum();
        assert_eq!(items, 12);
        assert_eq!(report.areas[0].problems.len(), 3);
    }
}
