//! Schema version 2 (issue #21), not yet wired: the split of every item of the real report
//! into an item and per-unit work documents (nothing of one unit in another's), the check of
//! changes to a unit-work document, and carrying a late version-1 change over.

mod common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::v2::check::check_unit_work_change;
use rectify_shared::model::v2::migrate::{
    Carried, CarryRefusal, MIGRATION_USER, carry_over, mark_migrated, migrate, migrated_to,
};
use rectify_shared::model::v2::{
    self, ItemDocV2, Target, UnitWorkDoc, apply_item, apply_unit_work, item_id_for, route,
    unit_work_id,
};
use rectify_shared::model::{
    self, ChangeRefusal, EditContext, EvidenceRef, ItemDoc, ItemEdit, ItemPlan, Measure,
    MeasureText,
};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::workflow::{Refusal, UnitStatus};
use std::collections::BTreeMap;

const NOW: i64 = 1_700_000_000_000;

fn ctx(role: Role, unit: Option<&str>, user: &str) -> EditContext {
    EditContext {
        actor: Actor {
            role,
            unit: unit.map(UnitId::new),
        },
        user: user.to_owned(),
        now_ms: NOW,
    }
}

fn office() -> EditContext {
    ctx(Role::Office, None, "office")
}

/// The account of school `unit`: `school-<unit>`.
fn school(unit: &str) -> EditContext {
    ctx(Role::Unit, Some(unit), &format!("school-{unit}"))
}

fn viewer() -> EditContext {
    ctx(Role::Viewer, None, "viewer")
}

fn dept(unit: &str) -> EditContext {
    ctx(Role::Department, Some(unit), &format!("dept-{unit}"))
}

fn plan(units: &[&str]) -> ItemEdit {
    ItemEdit::Plan(ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: units.iter().map(|u| (*u).to_owned()).collect(),
        deadline: Some("2024-06-30".into()),
        timing: None,
    })
}

/// The marker every text of `unit` carries, so another unit's documents can be searched for
/// it.
fn mark(unit: &str) -> String {
    format!("【{unit}】")
}

fn evidence(unit: &str, key: &str) -> EvidenceRef {
    EvidenceRef {
        sha256: sha256_hex(format!("{unit} {key}").as_bytes()),
        name: format!("{}台账{key}.jpg", mark(unit)),
        mime: "image/jpeg".into(),
        size: 2048,
        caption: format!("{}佐证", mark(unit)),
        added_by: format!("school-{unit}"),
        added_at_ms: NOW,
    }
}

/// `unit`'s work on the item `key`: narrative, a tick, evidence, feedback both ways, and a
/// request the office decided on (signed off for `s1`, sent back for the others).
fn unit_work(doc: &mut AutoCommit, key: &str, unit: &str, measures: &[Measure]) {
    let me = school(unit);
    let m = mark(unit);
    let edits = [
        ItemEdit::UnitNarrative {
            unit: unit.into(),
            text: format!("{m}已完成{key}的整改"),
        },
        ItemEdit::AddEvidence {
            unit: unit.into(),
            evidence: evidence(unit, key),
        },
        ItemEdit::AddFeedback {
            id: format!("f-{unit}-{key}"),
            unit: Some(unit.into()),
            text: format!("{m}请指导"),
        },
        ItemEdit::UnitStatus {
            unit: unit.into(),
            to: UnitStatus::Submitted,
            reason: None,
        },
    ];
    for edit in edits {
        model::apply(doc, &me, edit).unwrap();
    }
    if let Some(measure) = measures.get(unit_index(unit) % measures.len().max(1)) {
        // Ticked before the request, by the unit; the order does not matter here.
        model::apply(
            doc,
            &office(),
            ItemEdit::TickMeasure {
                unit: unit.into(),
                measure: measure.id.clone(),
                done: true,
            },
        )
        .unwrap();
    }
    model::apply(
        doc,
        &office(),
        ItemEdit::AddFeedback {
            id: format!("o-{unit}-{key}"),
            unit: Some(unit.into()),
            text: format!("{m}收到"),
        },
    )
    .unwrap();
    let (to, reason) = if unit == "s1" {
        (UnitStatus::SignedOff, None)
    } else {
        (UnitStatus::Returned, Some(format!("{m}佐证不足")))
    };
    model::apply(
        doc,
        &office(),
        ItemEdit::UnitStatus {
            unit: unit.into(),
            to,
            reason,
        },
    )
    .unwrap();
}

fn unit_index(unit: &str) -> usize {
    unit[1..].parse().unwrap_or(0)
}

/// Every item of the real report as a version-1 document: each assigned to s1, every
/// second one also to s2 and s3 (and a removed s4 that had worked on it), with each unit's
/// work and an office notice to everyone.
fn seed_items() -> Vec<(DocumentId, AutoCommit)> {
    let report = rectify_shared::import::parse(common::PENGSHAN)
        .expect("the real report imports")
        .report;
    let mut docs = Vec::new();
    let mut n = 0u8;
    for area in &report.areas {
        for problem in &area.problems {
            for item in &problem.items {
                n += 1;
                let item = model::item_from_report("campaign", area, problem, item);
                let mut doc = model::create_document(&item, "office", 0).unwrap();
                let shared = n.is_multiple_of(2);
                let units: &[&str] = if shared {
                    &["s1", "s2", "s3", "s4"]
                } else {
                    &["s1"]
                };
                model::apply(&mut doc, &office(), plan(units)).unwrap();
                for unit in units {
                    unit_work(&mut doc, &item.key, unit, &item.measures);
                }
                if shared {
                    // s4 is taken off the item: its work stays, for the office only.
                    model::apply(&mut doc, &office(), plan(&["s1", "s2", "s3"])).unwrap();
                }
                model::apply(
                    &mut doc,
                    &office(),
                    ItemEdit::AddFeedback {
                        id: format!("notice-{}", item.key),
                        unit: None,
                        text: "各单位按时报送".into(),
                    },
                )
                .unwrap();
                docs.push((DocumentId([n; 16]), doc));
            }
        }
    }
    assert_eq!(docs.len(), 53, "the report's leaf items");
    docs
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Everything a unit's document could give away of `unit`: its marker, its account, its
/// files' hashes.
fn traces(unit: &str, key: &str) -> [String; 3] {
    [
        mark(unit),
        format!("school-{unit}"),
        sha256_hex(format!("{unit} {key}").as_bytes()),
    ]
}

#[test]
fn every_seed_item_splits_into_its_units_own_documents() {
    let mut shared_items = 0;
    for (v1_id, mut v1) in seed_items() {
        let old = ItemDoc::load(&v1).unwrap();
        let migrated = migrate(&v1_id, &mut v1).unwrap();
        let key = old.key.clone();
        assert_eq!(migrated.item_id, item_id_for(&v1_id));
        let mut item_doc = migrated.item;
        let item = ItemDocV2::load(&item_doc).unwrap();
        let ever: Vec<&str> = if old.units.len() > 1 {
            shared_items += 1;
            vec!["s1", "s2", "s3", "s4"]
        } else {
            vec!["s1"]
        };
        assert_eq!(
            item.unit_work
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ever,
            "{key}"
        );
        // The item holds no unit's work at all.
        let item_bytes = item_doc.save_nocompress();
        for unit in &ever {
            for trace in traces(unit, &key) {
                assert!(!contains(&item_bytes, &trace), "{key}: {trace} in the item");
            }
        }
        let mut works = BTreeMap::new();
        for (unit, (id, mut doc)) in migrated.units {
            assert_eq!(id, unit_work_id(&item_id_for(&v1_id), &unit));
            assert_eq!(item.unit_work[&unit], id.to_string());
            let work = UnitWorkDoc::load(&doc).unwrap();
            let bytes = doc.save_nocompress();
            let values = format!("{work:?}");
            // Its own work is there (so the search below can find what it looks for) ...
            for trace in traces(&unit, &key) {
                assert!(contains(&bytes, &trace), "{key}/{unit}: own {trace}");
                assert!(values.contains(&trace), "{key}/{unit}: own {trace}");
            }
            // ... and nothing of another unit's, in the bytes or the values.
            for other in ever.iter().filter(|o| **o != unit) {
                for trace in traces(other, &key) {
                    assert!(!contains(&bytes, &trace), "{key}/{unit}: {trace}");
                    assert!(!values.contains(&trace), "{key}/{unit}: {trace}");
                }
            }
            // One change, by the migration, with fresh history.
            assert_eq!(doc.get_changes(&[]).len(), 1, "{key}/{unit}");
            let progress = &old.progress[&unit];
            assert_eq!(work.progress(), *progress, "{key}/{unit}");
            assert_eq!(work.assigned, unit != "s4", "{key}/{unit}");
            assert_eq!(work.item, item_id_for(&v1_id).to_string());
            let about_me = |u: Option<&String>| u.map(String::as_str) == Some(unit.as_str());
            let feedback: Vec<_> = (old.feedback.iter())
                .filter(|f| about_me(f.unit.as_ref()))
                .cloned()
                .collect();
            assert_eq!(work.feedback, feedback, "{key}/{unit}");
            assert_eq!(work.feedback.len(), 2, "{key}/{unit}");
            let reviews: Vec<_> = (old.reviews.iter())
                .filter(|r| r.unit == unit)
                .cloned()
                .collect();
            assert_eq!(work.reviews, reviews, "{key}/{unit}");
            assert_eq!(work.reviews.len(), 1, "{key}/{unit}");
            works.insert(unit, work);
        }
        // Everything is accounted for: the documents together are the version-1 item.
        let mut together = item.combined_v1(&works);
        let mut expected = old.clone();
        for list in [&mut together.feedback, &mut expected.feedback] {
            list.sort_by(|a, b| a.id.cmp(&b.id));
        }
        for list in [&mut together.reviews, &mut expected.reviews] {
            list.sort_by(|a, b| a.id.cmp(&b.id));
        }
        assert_eq!(together, expected, "{key}");
        assert_eq!(item.notices.len(), 1);
        assert_eq!(item.migrated_from, Some(v1_id.to_string()));
    }
    assert_eq!(shared_items, 26);
}

#[test]
fn migrating_twice_makes_byte_identical_documents() {
    for (v1_id, v1) in seed_items().into_iter().step_by(5) {
        let (mut a, mut b) = (
            v1.clone(),
            model::load_automerge(&v1.clone().save()).unwrap(),
        );
        let mut first = migrate(&v1_id, &mut a).unwrap();
        let mut second = migrate(&v1_id, &mut b).unwrap();
        assert_eq!(first.item.save(), second.item.save());
        assert_eq!(
            first.units.keys().collect::<Vec<_>>(),
            second.units.keys().collect::<Vec<_>>()
        );
        for (unit, (id, doc)) in &mut first.units {
            let (other_id, other) = second.units.get_mut(unit).unwrap();
            assert_eq!(id, other_id);
            assert_eq!(doc.save(), other.save(), "{unit}");
        }
        // Two servers' copies merged stay one change: the same change, not two.
        first.item.merge(&mut second.item).unwrap();
        assert_eq!(first.item.get_changes(&[]).len(), 1);
        let change = first.item.get_changes(&[])[0].clone();
        let message = change.message().unwrap_or_default().to_owned();
        assert!(message.contains(MIGRATION_USER), "{message}");
        // Marking the old document is as deterministic, and says where it went.
        let heads = first.v1_heads.clone();
        let (mut a, mut b) = (v1.clone(), v1.clone());
        mark_migrated(&mut a, &v1_id, &heads).unwrap();
        mark_migrated(&mut b, &v1_id, &heads).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(migrated_to(&a), Some(item_id_for(&v1_id)));
        assert_eq!(migrated_to(&v1), None);
    }
}

/// Two servers that migrated different states of one item (a change reached one of them in
/// between) made different changes: with different actors, so Automerge can still merge
/// them (one actor's sequence number twice would be unmergeable).
#[test]
fn migrations_of_two_states_never_share_an_actor() {
    let id = DocumentId([1; 16]);
    let mut first = abc_item();
    let mut later = first.fork();
    model::apply(
        &mut later,
        &school("s2"),
        ItemEdit::UnitNarrative {
            unit: "s2".into(),
            text: "已自查".into(),
        },
    )
    .unwrap();
    let mut a = migrate(&id, &mut first).unwrap();
    let mut b = migrate(&id, &mut later).unwrap();
    let actor = |doc: &mut AutoCommit| doc.get_changes(&[])[0].actor_id().clone();
    assert_ne!(actor(&mut a.item), actor(&mut b.item));
    let (s2a, s2b) = (
        &mut a.units.get_mut("s2").unwrap().1,
        &mut b.units.get_mut("s2").unwrap().1,
    );
    assert_ne!(actor(s2a), actor(s2b));
    s2a.merge(s2b).unwrap();
    assert_eq!(s2a.get_changes(&[]).len(), 2);
    // The unchanged s1 work is the same document content, by different actors.
    assert_eq!(a.units["s1"].0, b.units["s1"].0);
}

/// A version-1 item with measures A, B, C assigned to s1 and s2, as a school's device and
/// the server held it before the office's later edits.
fn abc_item() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "1.1", "问题");
    item.measures = ["A 建立台账", "B 修订制度", "C 专项检查"]
        .iter()
        .enumerate()
        .map(|(i, text)| Measure {
            id: format!("m{}", i + 1),
            text: (*text).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    model::apply(&mut doc, &office(), plan(&["s1", "s2"])).unwrap();
    model::apply(
        &mut doc,
        &school("s1"),
        ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "已建立台账".into(),
        },
    )
    .unwrap();
    doc
}

/// The version-2 documents of `v1` as the server holds them: the item and every unit's work.
struct V2 {
    item_id: DocumentId,
    item: AutoCommit,
    works: BTreeMap<String, AutoCommit>,
}

impl V2 {
    fn of(v1: &AutoCommit) -> V2 {
        let migrated = migrate(&DocumentId([1; 16]), &mut v1.clone()).unwrap();
        V2 {
            item_id: migrated.item_id,
            item: migrated.item,
            works: (migrated.units.into_iter())
                .map(|(unit, (_, doc))| (unit, doc))
                .collect(),
        }
    }

    fn item(&self) -> ItemDocV2 {
        ItemDocV2::load(&self.item).unwrap()
    }

    fn works(&self) -> BTreeMap<String, UnitWorkDoc> {
        (self.works.iter())
            .map(|(unit, doc)| (unit.clone(), UnitWorkDoc::load(doc).unwrap()))
            .collect()
    }

    fn work(&self, unit: &str) -> UnitWorkDoc {
        UnitWorkDoc::load(&self.works[unit]).unwrap()
    }

    /// Makes an edit on the document it routes to.
    fn apply(&mut self, who: &EditContext, edit: ItemEdit) -> Result<(), Box<model::ModelError>> {
        let item = self.item();
        match route(&edit) {
            Target::Item => {
                let statuses = (self.works().into_iter())
                    .map(|(unit, work)| (unit, work.status))
                    .collect();
                apply_item(&mut self.item, &self.item_id, &statuses, who, edit).map_err(Box::new)
            }
            Target::UnitWork { unit } => {
                apply_unit_work(self.works.get_mut(&unit).unwrap(), &item, who, edit)
                    .map_err(Box::new)
            }
        }
    }
}

// ---- Editing and routing -------------------------------------------------------------------

#[test]
fn edits_go_to_their_own_document_under_version_1_rules() {
    let mut v2 = V2::of(&abc_item());
    let narrative = |unit: &str, text: &str| ItemEdit::UnitNarrative {
        unit: unit.into(),
        text: text.into(),
    };
    // s1's words go to s1's document only.
    v2.apply(&school("s1"), narrative("s1", "已建立台账。已培训"))
        .unwrap();
    assert_eq!(v2.work("s1").narrative.as_str(), "已建立台账。已培训");
    assert_eq!(v2.work("s2").narrative.as_str(), "");
    // A school cannot write another's work, nor close the item.
    assert!(v2.apply(&school("s2"), narrative("s1", "改写")).is_err());
    assert!(
        v2.apply(
            &school("s1"),
            ItemEdit::ItemStatus(rectify_shared::status::PublicStatus::Done)
        )
        .is_err()
    );
    // Signed off: locked for the unit until the office reopens it.
    let status = |unit: &str, to, reason: Option<&str>| ItemEdit::UnitStatus {
        unit: unit.into(),
        to,
        reason: reason.map(str::to_owned),
    };
    v2.apply(&school("s1"), status("s1", UnitStatus::Submitted, None))
        .unwrap();
    v2.apply(&office(), status("s1", UnitStatus::SignedOff, None))
        .unwrap();
    let locked = v2
        .apply(&school("s1"), narrative("s1", "再改"))
        .map_err(|e| *e);
    assert!(
        matches!(
            locked,
            Err(model::ModelError::Refused(Refusal::SignedOffLocked))
        ),
        "{locked:?}"
    );
    // The item closes only when every assigned unit is signed off (read from their documents).
    let close = ItemEdit::ItemStatus(rectify_shared::status::PublicStatus::Done);
    assert!(v2.apply(&office(), close).is_err());
    v2.apply(
        &office(),
        status("s1", UnitStatus::Returned, Some("回头看")),
    )
    .unwrap();
    v2.apply(&school("s1"), narrative("s1", "再改")).unwrap();
    assert_eq!(v2.work("s1").reviews.len(), 2);
    // The office's plan assigns s3: the item records s3's document by its derived id.
    v2.apply(&office(), plan(&["s1", "s2", "s3"])).unwrap();
    assert_eq!(
        v2.item().unit_work["s3"],
        unit_work_id(&v2.item_id, "s3").to_string()
    );
    // Reordering the measures in the item keeps their ids.
    let measures = vec![
        MeasureText::existing("m3", "C 专项检查"),
        MeasureText::existing("m1", "A 建立台账"),
    ];
    v2.apply(
        &office(),
        ItemEdit::Define {
            title: "问题".into(),
            measures,
            narrative: String::new(),
        },
    )
    .unwrap();
    let item = v2.item();
    let ids: Vec<_> = item.current_measures().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m3", "m1"]);
    assert_eq!(item.removed_measures[0].id, "m2");
    // Feedback about no unit is the item's notice; about a unit, that unit's thread.
    assert_eq!(
        route(&ItemEdit::AddFeedback {
            id: "x".into(),
            unit: None,
            text: "t".into()
        }),
        Target::Item
    );
    assert_eq!(
        route(&ItemEdit::AddFeedback {
            id: "x".into(),
            unit: Some("s2".into()),
            text: "t".into()
        }),
        Target::UnitWork { unit: "s2".into() }
    );
}

/// The office writes to a unit whose document has no work yet (made on assignment, or the
/// unit taken off before it wrote): the message is kept.
#[test]
fn the_office_writes_to_a_unit_with_no_work_yet() {
    let v2 = V2::of(&abc_item());
    let item = v2.item();
    let (_, mut doc) = v2::create_unit_work(&v2.item_id, "campaign", "s5").unwrap();
    let edit = ItemEdit::AddFeedback {
        id: "o1".into(),
        unit: Some("s5".into()),
        text: "请尽快开展自查".into(),
    };
    apply_unit_work(&mut doc, &item, &office(), edit).unwrap();
    let work = UnitWorkDoc::load(&doc).unwrap();
    assert_eq!(work.feedback.len(), 1);
    assert!(!work.has_progress());
}

#[test]
fn who_reads_a_units_work() {
    let v2 = V2::of(&abc_item());
    let work = v2.work("s1");
    let actor = |c: EditContext| c.actor;
    // (who, may read s1's work)
    let cases = [
        (actor(office()), true),
        (actor(viewer()), true),
        (actor(school("s1")), true),
        (actor(school("s2")), false),
        (actor(dept("jcg")), true),
        (actor(dept("rsg")), false),
    ];
    for (who, expected) in cases {
        assert_eq!(work.may_read(&who), expected, "{who:?}");
    }
    // The office takes s1 off the item: s1's document says so, and s1 no longer reads it.
    let mut v2 = v2;
    v2.apply(&office(), plan(&["s2"])).unwrap();
    let item = v2.item();
    let mut removed = work;
    v2::set_assignment(&mut removed, &item);
    assert!(!removed.assigned);
    assert!(!removed.may_read(&actor(school("s1"))));
    assert!(removed.may_read(&actor(office())));
    assert!(removed.may_read(&actor(dept("jcg"))));
    let mut s2 = v2.work("s2");
    s2.assigned = false;
    v2::set_assignment(&mut s2, &item);
    assert!(s2.assigned && s2.may_read(&actor(school("s2"))));
    // A unit assigned later gets a new document: made the same by any office device, then
    // assigned.
    v2.apply(&office(), plan(&["s2", "s3"])).unwrap();
    let item = v2.item();
    let (id, mut made) = v2::create_unit_work(&v2.item_id, "campaign", "s3").unwrap();
    let (again_id, mut again) = v2::create_unit_work(&v2.item_id, "campaign", "s3").unwrap();
    assert_eq!((id, made.save()), (again_id, again.save()));
    assert_eq!(item.unit_work["s3"], id.to_string());
    let mut s3 = UnitWorkDoc::load(&made).unwrap();
    assert!(!s3.may_read(&actor(school("s3"))));
    v2::set_assignment(&mut s3, &item);
    model::update_document(&mut made, &s3, "office", "plan", NOW).unwrap();
    let s3 = UnitWorkDoc::load(&made).unwrap();
    assert!(s3.may_read(&actor(school("s3"))));
    assert_eq!(s3.department.as_deref(), Some("jcg"));
    let o = office();
    assert_eq!(
        check_unit_work_change(&o.actor, &o.user, &again, &made, Some(&item)),
        Ok(vec![])
    );
}

// ---- The check of a change to a unit-work document -----------------------------------------

/// How a case makes its change: through `apply_unit_work` as someone (who may differ from
/// the sender), or as raw Automerge operations, as a modified client could.
#[allow(clippy::large_enum_variant)] // a test table's rows
enum Make {
    Edit(EditContext, ItemEdit),
    Raw(fn(&mut AutoCommit)),
}

/// s1's work document after the office signed s1 off, or before.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    Open,
    SignedOff,
    Unassigned,
}

fn s1_work(start: Start) -> (ItemDocV2, AutoCommit) {
    let mut v2 = V2::of(&abc_item());
    if start == Start::SignedOff {
        v2.apply(
            &school("s1"),
            ItemEdit::UnitStatus {
                unit: "s1".into(),
                to: UnitStatus::Submitted,
                reason: None,
            },
        )
        .unwrap();
        v2.apply(
            &office(),
            ItemEdit::UnitStatus {
                unit: "s1".into(),
                to: UnitStatus::SignedOff,
                reason: None,
            },
        )
        .unwrap();
    }
    let item = v2.item();
    let mut doc = v2.works.remove("s1").unwrap();
    if start == Start::Unassigned {
        let mut work = UnitWorkDoc::load(&doc).unwrap();
        work.assigned = false;
        model::update_document(&mut doc, &work, "office", "plan", NOW).unwrap();
    }
    (item, doc)
}

fn put(doc: &mut AutoCommit, key: &str, value: impl Into<automerge::ScalarValue>) {
    doc.put(automerge::ROOT, key, value.into()).unwrap();
}

fn map(doc: &AutoCommit, key: &str) -> automerge::ObjId {
    doc.get(automerge::ROOT, key).unwrap().unwrap().1
}

fn tick_raw(doc: &mut AutoCommit, measure: &str) {
    let done = map(doc, "measures_done");
    doc.put(&done, measure, true).unwrap();
    put(doc, "updated_by", "school-s1");
}

/// (case, start, how the change is made, who sends it, expected)
type Case = (
    &'static str,
    Start,
    Make,
    EditContext,
    Result<(), ChangeRefusal>,
);

#[test]
fn changes_to_a_units_work_are_checked() {
    use ChangeRefusal as C;
    let narrative = |text: &str| ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: text.into(),
    };
    let feedback = ItemEdit::AddFeedback {
        id: "f9".into(),
        unit: Some("s1".into()),
        text: "请指导".into(),
    };
    let s1 = || school("s1");
    let refused = |r: Refusal| Err(C::Workflow(r));
    // (case, start, how the change is made, who sends it, expected)
    let cases: Vec<Case> = vec![
        (
            "s1 writes its narrative",
            Start::Open,
            Make::Edit(s1(), narrative("已整改")),
            s1(),
            Ok(()),
        ),
        (
            "the same sent by s2",
            Start::Open,
            Make::Edit(s1(), narrative("已整改")),
            school("s2"),
            Err(C::OtherUnitsProgress { unit: "s1".into() }),
        ),
        (
            "the same sent by the item's department",
            Start::Open,
            Make::Edit(s1(), narrative("已整改")),
            dept("jcg"),
            Err(C::OtherUnitsProgress { unit: "s1".into() }),
        ),
        (
            "the same sent by a viewer",
            Start::Open,
            Make::Edit(s1(), narrative("已整改")),
            viewer(),
            refused(Refusal::ReadOnly),
        ),
        (
            "s1 ticks a measure",
            Start::Open,
            Make::Raw(|d| tick_raw(d, "m2")),
            s1(),
            Ok(()),
        ),
        (
            "s1 ticks a measure the item never had",
            Start::Open,
            Make::Raw(|d| tick_raw(d, "m9")),
            s1(),
            Err(C::NoSuchMeasure {
                measure: "m9".into(),
            }),
        ),
        (
            "s1 asks for sign-off with nothing written",
            Start::Open,
            Make::Raw(|d| {
                let text = map(d, "narrative");
                let len = d.length(&text) as isize;
                d.splice_text(&text, 0, len, "").unwrap();
                put(d, "status", "submitted");
            }),
            s1(),
            refused(Refusal::NothingToSubmit),
        ),
        (
            "s1 signs itself off",
            Start::Open,
            Make::Raw(|d| put(d, "status", "signed_off")),
            s1(),
            refused(Refusal::OnlyOfficeDecides),
        ),
        (
            "s1 changes its narrative after sign-off",
            Start::SignedOff,
            Make::Edit(office(), narrative("改了")),
            s1(),
            refused(Refusal::SignedOffLocked),
        ),
        (
            "s1 unticks after sign-off",
            Start::SignedOff,
            Make::Raw(|d| tick_raw(d, "m1")),
            s1(),
            refused(Refusal::SignedOffLocked),
        ),
        (
            "s1 still writes to the office after sign-off",
            Start::SignedOff,
            Make::Edit(s1(), feedback.clone()),
            s1(),
            Ok(()),
        ),
        (
            "the office changes a signed-off entry",
            Start::SignedOff,
            Make::Edit(office(), narrative("办公室补记")),
            office(),
            Ok(()),
        ),
        (
            "s1 rewrites a feedback message",
            Start::SignedOff,
            Make::Raw(|d| {
                let list = map(d, "feedback");
                let first = d.get(&list, 0).unwrap().unwrap().1;
                d.put(&first, "text", "改写").unwrap();
            }),
            s1(),
            Ok(()), // no feedback yet at this start: replaced below
        ),
        (
            "s1 writes feedback about s2",
            Start::Open,
            Make::Raw(|d| {
                let list = map(d, "feedback");
                let m = d.insert_object(&list, 0, ObjType::Map).unwrap();
                d.put(&m, "id", "f7").unwrap();
                d.put(&m, "unit", "s2").unwrap();
                d.put(&m, "author", "school-s1").unwrap();
                d.put(&m, "text", "t").unwrap();
                d.put(&m, "at_ms", 0).unwrap();
            }),
            s1(),
            Err(C::FeedbackNotYours {
                about: "unit 's2'".into(),
            }),
        ),
        (
            "a message in the office's name sent by s1",
            Start::Open,
            Make::Edit(
                office(),
                ItemEdit::AddFeedback {
                    id: "f8".into(),
                    unit: Some("s1".into()),
                    text: "t".into(),
                },
            ),
            s1(),
            Err(C::NotTheSender {
                field: "feedback.author".into(),
                claimed: "office".into(),
                sender: "school-s1".into(),
            }),
        ),
        (
            "s1 assigns itself",
            Start::Open,
            Make::Raw(|d| put(d, "assigned", false)),
            s1(),
            Err(C::OfficeOnlyKey {
                key: "assigned".into(),
            }),
        ),
        (
            "s1 adds a key",
            Start::Open,
            Make::Raw(|d| put(d, "secret", "x")),
            s1(),
            Err(C::UnknownKey {
                path: "secret".into(),
            }),
        ),
        (
            "s1 replaces its narrative object",
            Start::Open,
            Make::Raw(|d| {
                let text = d
                    .put_object(automerge::ROOT, "narrative", ObjType::Text)
                    .unwrap();
                d.splice_text(&text, 0, 0, "新").unwrap();
            }),
            s1(),
            Err(C::Replaced {
                path: "narrative".into(),
            }),
        ),
        (
            "the office moves the document to another unit",
            Start::Open,
            Make::Raw(|d| put(d, "unit", "s2")),
            office(),
            Err(C::Malformed {
                kind: "unit_work".into(),
                reason: "`unit` is fixed when a unit-work document is made".into(),
            }),
        ),
        (
            "the office files a decision on s2 in s1's document",
            Start::SignedOff,
            Make::Raw(|d| {
                let list = map(d, "reviews");
                let m = d.insert_object(&list, 1, ObjType::Map).unwrap();
                for (key, value) in [("id", "r9"), ("unit", "s2"), ("decision", "returned")] {
                    d.put(&m, key, value).unwrap();
                }
                d.put(&m, "reason", "【s2】照片不清").unwrap();
                d.put(&m, "by", "office").unwrap();
                d.put(&m, "at_ms", 0).unwrap();
            }),
            office(),
            Err(C::Malformed {
                kind: "unit_work".into(),
                reason: "a decision about unit 's2' in the work document of unit 's1': it belongs in its own unit's document".into(),
            }),
        ),
        (
            "the office files a notice to everyone in s1's document",
            Start::Open,
            Make::Raw(|d| {
                let list = map(d, "feedback");
                let m = d.insert_object(&list, 0, ObjType::Map).unwrap();
                d.put(&m, "id", "n1").unwrap();
                d.put(&m, "unit", automerge::ScalarValue::Null).unwrap();
                d.put(&m, "author", "office").unwrap();
                d.put(&m, "text", "各单位注意").unwrap();
                d.put(&m, "at_ms", 0).unwrap();
            }),
            office(),
            Err(C::Malformed {
                kind: "unit_work".into(),
                reason: "a message about no unit in the work document of unit 's1': the office's notices to every unit belong in the item".into(),
            }),
        ),
        (
            "the office writes to s1",
            Start::Open,
            Make::Edit(
                office(),
                ItemEdit::AddFeedback {
                    id: "f6".into(),
                    unit: Some("s1".into()),
                    text: "各单位注意".into(),
                },
            ),
            office(),
            Ok(()),
        ),
        (
            "the office deletes a decision",
            Start::SignedOff,
            Make::Raw(|d| {
                let list = map(d, "reviews");
                d.delete(&list, 0).unwrap();
            }),
            office(),
            Err(C::ReviewsRewritten),
        ),
        (
            "s1 writes after being taken off the item",
            Start::Unassigned,
            Make::Raw(|d| {
                let text = map(d, "narrative");
                d.splice_text(&text, 0, 0, "还在写").unwrap();
            }),
            s1(),
            refused(Refusal::NotYourUnit),
        ),
        (
            "s1 writes in another account's name",
            Start::Open,
            Make::Edit(school("s1b"), narrative("冒名")),
            s1(),
            Ok(()), // school-s1b's edit is refused by apply; replaced below
        ),
        (
            "s1 writes too much",
            Start::Open,
            Make::Raw(|d| {
                let text = map(d, "narrative");
                d.splice_text(&text, 0, 0, &"字".repeat(3_001)).unwrap();
                put(d, "updated_by", "school-s1");
            }),
            s1(),
            refused(Refusal::TooLong {
                field: rectify_shared::workflow::TextField::Narrative,
                chars: 3_001 + "已建立台账".chars().count(),
                max: 3_000,
            }),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, start, make, sender, expected) in cases {
        // Two placeholders above are made meaningful here (they need a state the table cannot
        // name): a feedback message to rewrite, and an edit under another account's name.
        let (item, mut before) = s1_work(start);
        let expected = match name {
            "s1 rewrites a feedback message" => {
                apply_unit_work(&mut before, &item, &school("s1"), feedback.clone()).unwrap();
                Err(C::FeedbackRewritten)
            }
            "s1 writes in another account's name" => Err(C::NotTheSender {
                field: "updated_by".into(),
                claimed: "school-s1b".into(),
                sender: "school-s1".into(),
            }),
            _ => expected,
        };
        let mut after = before.fork();
        match make {
            Make::Edit(who, edit) => {
                let who = if name == "s1 writes in another account's name" {
                    EditContext {
                        actor: school("s1").actor,
                        ..who
                    }
                } else {
                    who
                };
                apply_unit_work(&mut after, &item, &who, edit).unwrap();
            }
            Make::Raw(change) => {
                change(&mut after);
                after.commit();
            }
        }
        let got = check_unit_work_change(&sender.actor, &sender.user, &before, &after, Some(&item))
            .map(|_| ());
        if got != expected {
            wrong.push(format!("{name}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_the_office_makes_a_units_document_and_new_evidence_is_reported() {
    let (item, mut doc) = s1_work(Start::Open);
    let empty = model::new_automerge();
    for (who, expected) in [
        (office(), Ok(())),
        (
            school("s1"),
            Err(ChangeRefusal::OnlyOfficeCreates {
                kind: "unit_work".into(),
            }),
        ),
    ] {
        let got = check_unit_work_change(&who.actor, &who.user, &empty, &doc, Some(&item));
        assert_eq!(got.map(|_| ()), expected, "{}", who.user);
    }
    let mut after = doc.fork();
    let file = evidence("s1", "1.1");
    let edit = ItemEdit::AddEvidence {
        unit: "s1".into(),
        evidence: file.clone(),
    };
    apply_unit_work(&mut after, &item, &school("s1"), edit).unwrap();
    let s1 = school("s1");
    assert_eq!(
        check_unit_work_change(&s1.actor, &s1.user, &doc, &after, Some(&item)),
        Ok(vec![file.sha256])
    );
}

// ---- Carrying a late version-1 change over --------------------------------------------------

/// The device's one change on top of its copy `device` (a fork of the server's version 1
/// before the migration): `edit` as `who`.
fn offline_change(device: &mut AutoCommit, who: &EditContext, edit: ItemEdit) -> automerge::Change {
    let before = device.get_heads();
    model::apply(device, who, edit).unwrap();
    let changes = device.get_changes(&before);
    assert_eq!(changes.len(), 1);
    changes[0].clone()
}

/// The server's version 1 after the office's `edits`, migrated; the device's copy from
/// before them.
fn server_and_device(edits: Vec<ItemEdit>) -> (AutoCommit, V2, AutoCommit) {
    let mut server = abc_item();
    let device = server.fork();
    for edit in edits {
        model::apply(&mut server, &office(), edit).unwrap();
    }
    let v2 = V2::of(&server);
    (server, v2, device)
}

fn define(measures: &[(&str, &str)]) -> ItemEdit {
    ItemEdit::Define {
        title: "问题".into(),
        measures: (measures.iter())
            .map(|(id, text)| MeasureText::existing(*id, *text))
            .collect(),
        narrative: String::new(),
    }
}

fn carry(server: &AutoCommit, v2: &V2, change: &automerge::Change) -> Vec<Carried> {
    carry_over(server, change, &v2.item(), &v2.works()).unwrap()
}

/// Makes every carried edit on the version-2 documents as `who`; returns what was kept.
fn make_carried(v2: &mut V2, who: &EditContext, carried: Vec<Carried>) -> Vec<CarryRefusal> {
    let mut kept = Vec::new();
    for carried in carried {
        match carried {
            Carried::Edit { target, edit } => {
                assert_eq!(route(&edit), target);
                v2.apply(who, edit).unwrap();
            }
            Carried::Kept { reason, .. } => kept.push(reason),
        }
    }
    kept
}

#[test]
fn a_schools_offline_narrative_is_merged_into_its_own_document() {
    let (server, mut v2, mut device) = server_and_device(vec![]);
    // Since the migration s1 wrote more on another device, online.
    v2.apply(
        &school("s1"),
        ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "已建立台账。已开展培训".into(),
        },
    )
    .unwrap();
    let change = offline_change(
        &mut device,
        &school("s1"),
        ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "今年已建立台账".into(),
        },
    );
    let carried = carry(&server, &v2, &change);
    assert_eq!(carried.len(), 1, "{carried:?}");
    assert!(
        matches!(&carried[0], Carried::Edit { target: Target::UnitWork { unit }, .. } if unit == "s1")
    );
    assert!(make_carried(&mut v2, &school("s1"), carried).is_empty());
    // Both writings kept, character by character; s2's document untouched.
    assert_eq!(
        v2.work("s1").narrative.as_str(),
        "今年已建立台账。已开展培训"
    );
    assert_eq!(v2.work("s2").narrative.as_str(), "");
}

#[test]
fn an_offline_tick_lands_on_its_measure_after_a_reorder_or_is_kept_when_removed() {
    // The office reordered to C, A, B meanwhile, then removed A.
    let (server, mut v2, mut device) = server_and_device(vec![
        define(&[
            ("m3", "C 专项检查"),
            ("m1", "A 建立台账"),
            ("m2", "B 修订制度"),
        ]),
        define(&[("m3", "C 专项检查"), ("m2", "B 修订制度")]),
    ]);
    let tick = |measure: &str| ItemEdit::TickMeasure {
        unit: "s1".into(),
        measure: measure.into(),
        done: true,
    };
    let on_c = offline_change(&mut device.fork(), &school("s1"), tick("m3"));
    let on_a = offline_change(&mut device, &school("s1"), tick("m1"));
    let carried = carry(&server, &v2, &on_c);
    assert!(make_carried(&mut v2, &school("s1"), carried).is_empty());
    let item = v2.item();
    let done: Vec<_> = (item.current_measures())
        .filter(|m| v2.work("s1").measures_done.get(&m.id) == Some(&true))
        .map(|m| m.text.as_str().to_owned())
        .collect();
    assert_eq!(done, ["C 专项检查"]);
    let carried = carry(&server, &v2, &on_a);
    let kept = make_carried(&mut v2, &school("s1"), carried);
    assert_eq!(
        kept,
        [CarryRefusal::MeasureRemoved {
            measure: "m1".into(),
            text: "A 建立台账".into()
        }]
    );
    assert_eq!(v2.work("s1").measures_done.len(), 1, "nothing re-pointed");
}

/// Before ids were stable, removing A renumbered B and C as m1 and m2: a tick made on the
/// old numbering lands on the measure it meant.
#[test]
fn a_tick_from_before_stable_ids_follows_its_measure_not_its_number() {
    let mut server = abc_item();
    let mut device = server.fork();
    let mut item = ItemDoc::load(&server).unwrap();
    item.measures = vec![
        Measure {
            id: "m1".into(),
            text: "B 修订制度".into(),
        },
        Measure {
            id: "m2".into(),
            text: "C 专项检查".into(),
        },
    ];
    model::update_document(&mut server, &item, "office", "define", NOW).unwrap();
    let v2 = V2::of(&server);
    let tick = |measure: &str| ItemEdit::TickMeasure {
        unit: "s1".into(),
        measure: measure.into(),
        done: true,
    };
    let on_c = offline_change(&mut device.fork(), &school("s1"), tick("m3"));
    let on_a = offline_change(&mut device, &school("s1"), tick("m1"));
    assert_eq!(
        carry(&server, &v2, &on_c),
        [Carried::Edit {
            target: Target::UnitWork { unit: "s1".into() },
            edit: tick("m2"),
        }]
    );
    assert!(matches!(
        carry(&server, &v2, &on_a).as_slice(),
        [Carried::Kept {
            reason: CarryRefusal::MeasureRemoved { .. },
            ..
        }]
    ));
}

#[test]
fn offline_evidence_a_request_and_feedback_go_to_the_units_own_document() {
    let (server, mut v2, mut device) = server_and_device(vec![]);
    let file = evidence("s2", "1.1");
    let changes = [
        offline_change(
            &mut device,
            &school("s2"),
            ItemEdit::AddEvidence {
                unit: "s2".into(),
                evidence: file.clone(),
            },
        ),
        offline_change(
            &mut device,
            &school("s2"),
            ItemEdit::UnitStatus {
                unit: "s2".into(),
                to: UnitStatus::Submitted,
                reason: None,
            },
        ),
        offline_change(
            &mut device,
            &school("s2"),
            ItemEdit::AddFeedback {
                id: "f-late".into(),
                unit: Some("s2".into()),
                text: "照片已补".into(),
            },
        ),
    ];
    // Carried over in the order they were made (each on top of the one before, which the
    // server's version-1 copy holds once carried).
    let mut server = server;
    for change in changes {
        let carried = carry(&server, &v2, &change);
        assert_eq!(carried.len(), 1, "{carried:?}");
        assert!(
            matches!(&carried[0], Carried::Edit { target: Target::UnitWork { unit }, .. } if unit == "s2"),
            "{carried:?}"
        );
        assert!(make_carried(&mut v2, &school("s2"), carried).is_empty());
        server.apply_changes([change]).unwrap();
    }
    let s2 = v2.work("s2");
    assert_eq!(s2.evidence, [file]);
    assert_eq!(s2.status, UnitStatus::Submitted);
    assert_eq!(s2.feedback.len(), 1);
    assert_eq!(s2.feedback[0].author, "school-s2");
    let s1 = v2.work("s1");
    assert!(s1.evidence.is_empty() && s1.feedback.is_empty());
    // The office's notice to everyone goes to the item; a unit without a document is kept.
    let notice = offline_change(
        &mut server.fork(),
        &office(),
        ItemEdit::AddFeedback {
            id: "n-late".into(),
            unit: None,
            text: "周五前报送".into(),
        },
    );
    assert!(matches!(
        carry(&server, &v2, &notice).as_slice(),
        [Carried::Edit {
            target: Target::Item,
            ..
        }]
    ));
    // The office assigned s9 on version 1 and wrote for it offline: s9 has no document.
    model::apply(&mut server, &office(), plan(&["s1", "s2", "s9"])).unwrap();
    let mut office_device = server.fork();
    let late = offline_change(
        &mut office_device,
        &office(),
        ItemEdit::UnitNarrative {
            unit: "s9".into(),
            text: "代为填报".into(),
        },
    );
    let kept: Vec<_> = (carry(&server, &v2, &late).into_iter())
        .filter_map(|c| match c {
            Carried::Kept { reason, .. } => Some(reason),
            Carried::Edit { .. } => None,
        })
        .collect();
    assert_eq!(kept, [CarryRefusal::NoUnitDocument { unit: "s9".into() }]);
}

/// One version-1 change touching two units (an office device's, or a foreign client's) is
/// split: each unit's part goes to its own document.
#[test]
fn a_change_touching_two_units_is_split_between_their_documents() {
    let (server, v2, mut device) = server_and_device(vec![]);
    let before = device.get_heads();
    let mut item = ItemDoc::load(&device).unwrap();
    let s1 = item.progress.get_mut("s1").unwrap();
    s1.narrative.update("已建立台账（办公室代填）");
    item.progress.get_mut("s2").unwrap().status = UnitStatus::InProgress;
    model::update_document(&mut device, &item, "office", "import", NOW).unwrap();
    let change = device.get_changes(&before).remove(0);
    let targets: Vec<_> = (carry(&server, &v2, &change).into_iter())
        .map(|c| match c {
            Carried::Edit { target, edit } => (target, edit.op()),
            Carried::Kept { reason, .. } => panic!("{reason}"),
        })
        .collect();
    assert_eq!(
        targets,
        [
            (Target::UnitWork { unit: "s1".into() }, "unit_narrative"),
            (Target::UnitWork { unit: "s2".into() }, "unit_status"),
        ]
    );
}

#[test]
fn a_change_the_migration_holds_carries_nothing_over() {
    let (mut server, _, mut device) = server_and_device(vec![]);
    let change = offline_change(
        &mut device,
        &school("s1"),
        ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "已建立台账，已培训".into(),
        },
    );
    server.apply_changes([change.clone()]).unwrap();
    let v2 = V2::of(&server);
    assert_eq!(v2.work("s1").narrative.as_str(), "已建立台账，已培训");
    assert_eq!(carry(&server, &v2, &change), []);
}

#[test]
fn old_readers_meet_version_2_as_newer() {
    let v2 = V2::of(&abc_item());
    // A version-1 reader is told to update, not shown a half-read item.
    assert!(matches!(
        ItemDoc::load(&v2.item),
        Err(model::ModelError::NewerSchema { found: 2, known: 1 })
    ));
    assert!(v2::is_v2(&v2.item) && v2::is_v2(&v2.works["s1"]));
    assert!(!v2::is_v2(&abc_item()));
}

// ---- The check of a change to a version-2 item ---------------------------------------------

/// How an item case makes its change: as an edit by someone, or raw.
#[allow(clippy::large_enum_variant)] // a test table's rows
enum MakeItem {
    Edit(EditContext, ItemEdit),
    Raw(fn(&mut AutoCommit)),
}

/// (case, how the change is made, who sends it, the units' statuses given, expected)
type ItemCase = (
    &'static str,
    MakeItem,
    EditContext,
    Option<BTreeMap<String, UnitStatus>>,
    Result<(), ChangeRefusal>,
);

#[test]
fn only_the_office_changes_a_version_2_item() {
    use ChangeRefusal as C;
    use v2::check::check_item_v2_change;
    let mut v2 = V2::of(&abc_item());
    v2.apply(
        &office(),
        ItemEdit::AddFeedback {
            id: "n1".into(),
            unit: None,
            text: "各单位按时报送".into(),
        },
    )
    .unwrap();
    let reword = || ItemEdit::Define {
        title: "问题".into(),
        measures: vec![
            MeasureText::existing("m1", "A 建立台账"),
            MeasureText::existing("m2", "B 修订制度"),
            MeasureText::existing("m3", "C 专项检查"),
        ],
        narrative: "办公室的整改情况".into(),
    };
    let statuses = |s1: UnitStatus| {
        Some(BTreeMap::from([
            ("s1".to_owned(), s1),
            ("s2".to_owned(), UnitStatus::SignedOff),
        ]))
    };
    let close = |d: &mut AutoCommit| put(d, "status", "done");
    let cases: Vec<ItemCase> = vec![
        (
            "the office writes its narrative",
            MakeItem::Edit(office(), reword()),
            office(),
            None,
            Ok(()),
        ),
        (
            "the same sent by s1",
            MakeItem::Edit(office(), reword()),
            school("s1"),
            None,
            Err(C::OfficeOnlyKey {
                key: "narrative".into(),
            }),
        ),
        (
            "the same sent by the item's department",
            MakeItem::Edit(office(), reword()),
            dept("jcg"),
            None,
            Err(C::OfficeOnlyKey {
                key: "narrative".into(),
            }),
        ),
        (
            "the same sent by a viewer",
            MakeItem::Edit(office(), reword()),
            viewer(),
            None,
            Err(C::Workflow(Refusal::ReadOnly)),
        ),
        (
            "s1 closes the item",
            MakeItem::Raw(close),
            school("s1"),
            statuses(UnitStatus::SignedOff),
            Err(C::Workflow(Refusal::OnlyOfficePlans)),
        ),
        (
            "s1 adds a key",
            MakeItem::Raw(|d| put(d, "secret", "x")),
            school("s1"),
            None,
            Err(C::UnknownKey {
                path: "secret".into(),
            }),
        ),
        (
            "the office closes with every unit signed off",
            MakeItem::Raw(close),
            office(),
            statuses(UnitStatus::SignedOff),
            Ok(()),
        ),
        (
            "the office closes with s1 asking",
            MakeItem::Raw(close),
            office(),
            statuses(UnitStatus::Submitted),
            Err(C::Workflow(Refusal::UnitsNotSignedOff { pending: 1 })),
        ),
        (
            "the office closes without the units' statuses",
            MakeItem::Raw(close),
            office(),
            None,
            Err(C::Workflow(Refusal::UnitsNotSignedOff { pending: 2 })),
        ),
        (
            "the office assigns s3",
            MakeItem::Edit(office(), plan(&["s1", "s2", "s3"])),
            office(),
            None,
            Ok(()),
        ),
        (
            "the office drops a measure without its tombstone",
            MakeItem::Raw(|d| {
                let list = map(d, "measures");
                d.delete(&list, 0).unwrap();
            }),
            office(),
            None,
            Err(C::MeasureDropped {
                id: "m1".into(),
                text: "A 建立台账".into(),
            }),
        ),
        (
            "the office rewrites a notice",
            MakeItem::Raw(|d| {
                let list = map(d, "notices");
                let first = d.get(&list, 0).unwrap().unwrap().1;
                d.put(&first, "text", "改写").unwrap();
            }),
            office(),
            None,
            Err(C::FeedbackRewritten),
        ),
        (
            "the office points s1's work elsewhere",
            MakeItem::Raw(|d| {
                let works = map(d, "unit_work");
                let other = DocumentId([9; 16]).to_string();
                d.put(&works, "s1", other).unwrap();
            }),
            office(),
            None,
            Err(C::Malformed {
                kind: "item".into(),
                reason: format!(
                    "`unit_work.s1` must be {}, the id derived from the item and the unit",
                    unit_work_id(&DocumentId([0; 16]), "s1")
                ),
            }),
        ),
        (
            "the office forgets s1's work",
            MakeItem::Raw(|d| {
                let works = map(d, "unit_work");
                d.delete(&works, "s1").unwrap();
            }),
            office(),
            None,
            Err(C::Malformed {
                kind: "item".into(),
                reason:
                    "`unit_work.s1` is removed: a unit's work document stays listed, for the office"
                        .into(),
            }),
        ),
        (
            "a notice in another account's name",
            MakeItem::Edit(
                ctx(Role::Office, None, "office2"),
                ItemEdit::AddFeedback {
                    id: "n2".into(),
                    unit: None,
                    text: "周五前报送".into(),
                },
            ),
            office(),
            None,
            Err(C::NotTheSender {
                field: "notices.author".into(),
                claimed: "office2".into(),
                sender: "office".into(),
            }),
        ),
    ];
    let item_id = v2.item_id;
    let mut wrong = Vec::new();
    for (name, make, sender, statuses, expected) in cases {
        let mut before = v2.item.clone();
        let mut after = before.fork();
        match make {
            MakeItem::Edit(who, edit) => {
                apply_item(&mut after, &item_id, &BTreeMap::new(), &who, edit).unwrap();
            }
            MakeItem::Raw(change) => {
                change(&mut after);
                after.commit();
            }
        }
        // The derived id in the expected text is of this item.
        let expected = expected.map_err(|e| match e {
            C::Malformed { kind, reason } => C::Malformed {
                kind,
                reason: reason.replace(
                    &unit_work_id(&DocumentId([0; 16]), "s1").to_string(),
                    &unit_work_id(&item_id, "s1").to_string(),
                ),
            },
            e => e,
        });
        let got = check_item_v2_change(
            &sender.actor,
            &sender.user,
            &item_id,
            &before,
            &after,
            statuses.as_ref(),
        );
        if got != expected {
            wrong.push(format!("{name}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Made by a school: refused; the migration's own item is the office's.
    let empty = model::new_automerge();
    let s1 = school("s1");
    assert_eq!(
        check_item_v2_change(&s1.actor, &s1.user, &item_id, &empty, &v2.item, None),
        Err(C::OnlyOfficeCreates {
            kind: "item".into()
        })
    );
    let o = office();
    assert_eq!(
        check_item_v2_change(&o.actor, MIGRATION_USER, &item_id, &empty, &v2.item, None),
        Ok(())
    );
}

// ---- Property: whatever the units did, the split keeps each unit's work to itself ----------

/// One random step on a version-1 item assigned to s1, s2 and s3: (replica, unit, what).
fn v1_step() -> impl proptest::strategy::Strategy<Value = (usize, usize, u8)> {
    (0..2usize, 1..4usize, 0..8u8)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

    /// Random work by three units on two replicas of one version-1 item, merged: after the
    /// migration each unit's document holds all of its own work and nothing of the others',
    /// and the documents together are the version-1 item.
    #[test]
    fn the_split_keeps_each_units_work_to_itself(
        steps in proptest::collection::vec(v1_step(), 1..30)
    ) {
        let mut base = abc_item();
        let mut replicas = [base.clone(), base.fork()];
        for (n, (replica, unit, what)) in steps.into_iter().enumerate() {
            let unit = format!("s{unit}");
            let m = mark(&unit);
            let me = school(&unit);
            let (who, edit) = match what {
                0 => (me, ItemEdit::UnitNarrative { unit: unit.clone(), text: format!("{m}第{n}步") }),
                1 => (me, ItemEdit::AddEvidence { unit: unit.clone(), evidence: evidence(&unit, &n.to_string()) }),
                2 => (me, ItemEdit::AddFeedback { id: format!("f{n}"), unit: Some(unit.clone()), text: format!("{m}问{n}") }),
                3 => (me, ItemEdit::TickMeasure { unit: unit.clone(), measure: format!("m{}", n % 3 + 1), done: n % 2 == 0 }),
                4 => (me, ItemEdit::UnitStatus { unit: unit.clone(), to: UnitStatus::Submitted, reason: None }),
                5 => (office(), ItemEdit::UnitStatus { unit: unit.clone(), to: UnitStatus::Returned, reason: Some(format!("{m}退回{n}")) }),
                6 => (office(), ItemEdit::UnitStatus { unit: unit.clone(), to: UnitStatus::SignedOff, reason: None }),
                _ => (office(), ItemEdit::AddFeedback { id: format!("o{n}"), unit: Some(unit.clone()), text: format!("{m}答{n}") }),
            };
            // Refused edits (a request with nothing written, a decision on nothing) are skipped.
            let _ = model::apply(&mut replicas[replica], &who, edit);
        }
        let [mut v1, mut other] = replicas;
        v1.merge(&mut other).unwrap();
        let old = ItemDoc::load(&v1).unwrap();
        let migrated = migrate(&DocumentId([3; 16]), &mut v1).unwrap();
        let item = ItemDocV2::load(&migrated.item).unwrap();
        let mut works = BTreeMap::new();
        for (unit, (_, mut doc)) in migrated.units {
            let bytes = doc.save_nocompress();
            let work = UnitWorkDoc::load(&doc).unwrap();
            let values = format!("{work:?}");
            for other in ["s1", "s2", "s3"].into_iter().filter(|o| *o != unit) {
                for trace in [mark(other), format!("school-{other}")] {
                    proptest::prop_assert!(!contains(&bytes, &trace), "{unit}: {trace}");
                    proptest::prop_assert!(!values.contains(&trace), "{unit}: {trace}");
                }
            }
            works.insert(unit, work);
        }
        let mut together = item.combined_v1(&works);
        let mut expected = old;
        // The order across units is not kept (each unit's list is its own document's), and
        // ids are only unique per unit (the generator stamps two units' reviews alike).
        for list in [&mut together.feedback, &mut expected.feedback] {
            list.sort_by(|a, b| (&a.id, &a.unit).cmp(&(&b.id, &b.unit)));
        }
        for list in [&mut together.reviews, &mut expected.reviews] {
            list.sort_by(|a, b| (&a.id, &a.unit).cmp(&(&b.id, &b.unit)));
        }
        proptest::prop_assert_eq!(together, expected);
    }
}

/// What the office's ledger and report read of a version-2 item (step 7): the item with
/// every unit's work, as version 1 had it; a unit's document missing, another unit's or
/// another item's in its place, or one the item does not list is an error naming the
/// unit, never a view without that unit's work.
#[test]
fn the_office_view_needs_every_units_work() {
    let (v1_id, mut v1) = (seed_items().into_iter())
        .find(|(_, doc)| ItemDoc::load(doc).unwrap().units.len() > 1)
        .expect("a shared seed item");
    let migrated = migrate(&v1_id, &mut v1).unwrap();
    let item = ItemDocV2::load(&migrated.item).unwrap();
    let item_id = migrated.item_id;
    let works: BTreeMap<String, UnitWorkDoc> = (migrated.units.into_iter())
        .map(|(unit, (_, doc))| (unit, UnitWorkDoc::load(&doc).unwrap()))
        .collect();
    assert_eq!(works.len(), 4);
    let view = item.office_view(&item_id, &works).unwrap();
    assert_eq!(view, item.combined_v1(&works));
    assert!(view.progress["s2"].narrative.as_str().contains(&mark("s2")));

    let error = |works: &BTreeMap<String, UnitWorkDoc>, item_id: &DocumentId| {
        item.office_view(item_id, works)
            .expect_err("refused")
            .to_string()
    };
    let mut missing = works.clone();
    missing.remove("s2");
    let message = error(&missing, &item_id);
    assert!(
        message.contains("s2") && message.contains("missing"),
        "{message}"
    );
    assert!(message.contains(&unit_work_id(&item_id, "s2").to_string()));

    let mut swapped = works.clone();
    let s1 = swapped["s1"].clone();
    swapped.insert("s2".to_owned(), s1);
    let message = error(&swapped, &item_id);
    assert!(message.contains("belongs to unit s1"), "{message}");

    let other_item = DocumentId([7; 16]);
    let message = error(&works, &other_item);
    assert!(message.contains(&format!("of item {item_id}")), "{message}");

    let mut extra = works.clone();
    let mut s9 = works["s1"].clone();
    s9.unit = "s9".to_owned();
    extra.insert("s9".to_owned(), s9);
    let message = error(&extra, &item_id);
    assert!(
        message.contains("s9") && message.contains("does not list"),
        "{message}"
    );
}
