//! The item model: edits and the policy, schema versions, and merging concurrent edits.

use automerge::{AutoCommit, ObjType, ReadDoc, transaction::Transactable};
use proptest::prelude::*;
use rectify_shared::ids::UnitId;
use rectify_shared::model::{
    self, EditContext, EvidenceRef, ItemDoc, ItemEdit, ItemPlan, MeasureText, ModelError,
    SCHEMA_VERSION, Timing,
};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;

fn ctx(role: Role, unit: Option<&str>, user: &str) -> EditContext {
    EditContext {
        actor: Actor {
            role,
            unit: unit.map(UnitId::new),
        },
        user: user.to_owned(),
        now_ms: 1_700_000_000_000,
    }
}

fn office() -> EditContext {
    ctx(Role::Office, None, "office")
}

/// An item with three measures, assigned to units s1 and s2.
fn planned_item() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "2.7.2", "采购项目管理制度不完善。");
    item.measures = ["一", "二", "三"]
        .iter()
        .enumerate()
        .map(|(i, t)| model::Measure {
            id: format!("m{}", i + 1),
            text: (*t).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: vec!["s1".into(), "s2".into()],
        deadline: Some("2024-06-30".into()),
        timing: Some(Timing::ByDeadline),
    };
    model::apply(&mut doc, &office(), ItemEdit::Plan(plan)).unwrap();
    doc
}

/// Applies each edit to a fresh planned item and compares the outcome with the expectation:
/// `ok` or the refusal's message.
#[test]
fn edits_follow_the_policy() {
    let s1 = || ctx(Role::Unit, Some("s1"), "school1");
    let viewer = || ctx(Role::Viewer, None, "viewer");
    let dept = || ctx(Role::Department, Some("jcg"), "dept-jcg");
    let narrative = |unit: &str| ItemEdit::UnitNarrative {
        unit: unit.into(),
        text: "已建立台账".into(),
    };
    let status = |unit: &str, to| ItemEdit::UnitStatus {
        unit: unit.into(),
        to,
        reason: None,
    };
    let define = || ItemEdit::Define {
        title: "改".into(),
        measures: vec![],
        narrative: String::new(),
    };
    let cases: Vec<(&str, EditContext, ItemEdit, &str)> = vec![
        ("school writes its progress", s1(), narrative("s1"), "ok"),
        (
            "school writes 3,001 characters of progress",
            s1(),
            ItemEdit::UnitNarrative {
                unit: "s1".into(),
                text: "整".repeat(3_001),
            },
            "整改情况 (the progress text) is too long: 3001 characters, at most 3000",
        ),
        (
            "school writes a 1,001-character message",
            s1(),
            ItemEdit::AddFeedback {
                id: "f1".into(),
                unit: Some("s1".into()),
                text: "问".repeat(1_001),
            },
            "反馈 (the message) is too long: 1001 characters, at most 1000",
        ),
        (
            "school writes another school's progress",
            s1(),
            narrative("s2"),
            "this item is not assigned to your unit",
        ),
        (
            "school ticks a measure",
            s1(),
            ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m2".into(),
                done: true,
            },
            "ok",
        ),
        (
            "school ticks a missing measure",
            s1(),
            ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m9".into(),
                done: true,
            },
            "no measure 'm9' in this item",
        ),
        (
            "school asks for sign-off with nothing written or attached",
            s1(),
            status("s1", UnitStatus::Submitted),
            "申请销号 needs something to sign off: describe the work done (整改情况) or add at least one piece of evidence first",
        ),
        (
            "office records a request for a unit without an account",
            office(),
            status("s1", UnitStatus::Submitted),
            "ok",
        ),
        (
            "school signs itself off",
            s1(),
            status("s1", UnitStatus::SignedOff),
            "only the office (领导小组办公室) can sign off (销号) or send back (退回)",
        ),
        (
            "school changes the title",
            s1(),
            define(),
            "only the office (领导小组办公室) can change an item's definition or close it",
        ),
        (
            "school closes the item",
            s1(),
            ItemEdit::ItemStatus(PublicStatus::Done),
            "only the office (领导小组办公室) can change an item's definition or close it",
        ),
        (
            "school reassigns the item",
            s1(),
            ItemEdit::Plan(ItemPlan::default()),
            "only the office (领导小组办公室) can change an item's definition or close it",
        ),
        (
            "viewer writes",
            viewer(),
            narrative("s1"),
            "viewers can read everything but change nothing",
        ),
        (
            "department writes a school's progress",
            dept(),
            narrative("s1"),
            "this item is not assigned to your unit",
        ),
        (
            "office closes with units open",
            office(),
            ItemEdit::ItemStatus(PublicStatus::Done),
            "没整改到位绝不销号: 2 unit(s) are not signed off yet",
        ),
        ("office changes the title", office(), define(), "ok"),
        (
            "unassigned unit",
            office(),
            narrative("s9"),
            "unit 's9' is not assigned to this item",
        ),
        (
            "empty feedback",
            s1(),
            ItemEdit::AddFeedback {
                id: "f1".into(),
                unit: Some("s1".into()),
                text: " ".into(),
            },
            "a feedback message cannot be empty",
        ),
    ];
    for (what, who, edit, expected) in cases {
        let mut doc = planned_item();
        let heads = doc.get_heads();
        let got = match model::apply(&mut doc, &who, edit) {
            Ok(()) => "ok".to_owned(),
            Err(err) => err.to_string(),
        };
        assert_eq!(got, expected, "{what}");
        if expected != "ok" {
            assert_eq!(
                doc.get_heads(),
                heads,
                "{what}: a refused edit writes nothing"
            );
        }
    }
}

#[test]
fn sign_off_flow_records_decisions_and_closes_the_item() {
    let mut doc = planned_item();
    for (unit, user) in [("s1", "school1"), ("s2", "school2")] {
        let who = ctx(Role::Unit, Some(unit), user);
        let words = ItemEdit::UnitNarrative {
            unit: unit.into(),
            text: "已整改".into(),
        };
        model::apply(&mut doc, &who, words).unwrap();
        model::apply(
            &mut doc,
            &who,
            ItemEdit::UnitStatus {
                unit: unit.into(),
                to: UnitStatus::Submitted,
                reason: None,
            },
        )
        .unwrap();
    }
    let back = ItemEdit::UnitStatus {
        unit: "s2".into(),
        to: UnitStatus::Returned,
        reason: Some("佐证不足".into()),
    };
    model::apply(&mut doc, &office(), back).unwrap();
    let sign = |unit: &str| ItemEdit::UnitStatus {
        unit: unit.into(),
        to: UnitStatus::SignedOff,
        reason: None,
    };
    model::apply(&mut doc, &office(), sign("s1")).unwrap();
    assert!(
        model::apply(
            &mut doc,
            &office(),
            ItemEdit::ItemStatus(PublicStatus::Done)
        )
        .is_err()
    );
    let s2 = ctx(Role::Unit, Some("s2"), "school2");
    model::apply(
        &mut doc,
        &s2,
        ItemEdit::UnitStatus {
            unit: "s2".into(),
            to: UnitStatus::Submitted,
            reason: None,
        },
    )
    .unwrap();
    model::apply(&mut doc, &office(), sign("s2")).unwrap();
    model::apply(
        &mut doc,
        &office(),
        ItemEdit::ItemStatus(PublicStatus::Done),
    )
    .unwrap();

    let item = ItemDoc::load(&doc).unwrap();
    assert_eq!(item.status, PublicStatus::Done);
    let decisions: Vec<(String, UnitStatus, String)> = item
        .reviews
        .iter()
        .map(|r| (r.unit.clone(), r.decision, r.reason.clone()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("s2".into(), UnitStatus::Returned, "佐证不足".into()),
            ("s1".into(), UnitStatus::SignedOff, String::new()),
            ("s2".into(), UnitStatus::SignedOff, String::new()),
        ]
    );
}

#[test]
fn a_newer_schema_is_read_only() {
    let mut doc = planned_item();
    doc.put(automerge::ROOT, "schema_version", SCHEMA_VERSION + 1)
        .unwrap();
    let heads = doc.get_heads();
    let err = model::apply(
        &mut doc,
        &office(),
        ItemEdit::ItemStatus(PublicStatus::InProgress),
    )
    .unwrap_err();
    assert!(
        matches!(err, ModelError::NewerSchema { found: 2, known: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("update the app"));
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn keys_this_version_does_not_know_survive_an_edit() {
    let mut doc = planned_item();
    doc.put(automerge::ROOT, "future_key", "kept").unwrap();
    let progress = doc.get(automerge::ROOT, "progress").unwrap().unwrap().1;
    let s1 = doc.get(&progress, "s1").unwrap().unwrap().1;
    let nested = doc.put_object(&s1, "future_map", ObjType::Map).unwrap();
    doc.put(&nested, "x", 1).unwrap();
    let who = ctx(Role::Unit, Some("s1"), "school1");
    model::apply(
        &mut doc,
        &who,
        ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "新".into(),
        },
    )
    .unwrap();
    assert!(doc.get(automerge::ROOT, "future_key").unwrap().is_some());
    assert!(doc.get(&s1, "future_map").unwrap().is_some());
}

#[test]
fn wrong_kind_is_refused() {
    let doc = model::create_document(&model::CampaignDoc::new_empty("x"), "office", 0).unwrap();
    let err = ItemDoc::load(&doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this is not a item document (it says kind = Some(\"campaign\"))"
    );
}

// ---- Merging concurrent edits -------------------------------------------------------------

/// The replicas: two devices of school s1, one of school s2, and the office.
const REPLICAS: [(Role, Option<&str>, &str); 4] = [
    (Role::Unit, Some("s1"), "s1-phone"),
    (Role::Unit, Some("s1"), "s1-laptop"),
    (Role::Unit, Some("s2"), "s2"),
    (Role::Office, None, "office"),
];

#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` inserts a unique token into its unit's narrative at `at` (a fraction).
    Type {
        r: usize,
        at: u8,
    },
    Tick {
        r: usize,
        measure: u8,
        done: bool,
    },
    Feedback {
        r: usize,
    },
    /// The office rewords the title by inserting a token.
    Retitle {
        at: u8,
    },
    /// Replica `a` receives everything replica `b` has.
    Sync {
        a: usize,
        b: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4usize, any::<u8>()).prop_map(|(r, at)| Step::Type { r, at }),
        2 => (0..4usize, 0..3u8, any::<bool>()).prop_map(|(r, measure, done)| Step::Tick { r, measure, done }),
        1 => (0..4usize).prop_map(|r| Step::Feedback { r }),
        1 => any::<u8>().prop_map(|at| Step::Retitle { at }),
        3 => (0..4usize, 0..4usize).prop_map(|(a, b)| Step::Sync { a, b }),
    ]
}

fn unit_of(r: usize) -> &'static str {
    REPLICAS[r].1.unwrap_or("s1")
}

/// Inserts `token` between two tokens of `text` (which holds only tokens, or words ending in
/// `。`), so that no token is split and each stays findable.
fn insert_at(text: &str, at: u8, token: &str) -> String {
    let mut boundaries = vec![0];
    boundaries.extend(
        text.char_indices()
            .filter(|(_, c)| matches!(c, '⟩' | '。'))
            .map(|(i, c)| i + c.len_utf8()),
    );
    let pos = boundaries[boundaries.len() * usize::from(at) / 256];
    format!("{}{token}{}", &text[..pos], &text[pos..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random edits on four replicas with random syncs: after a full sync every replica holds
    /// the same item, and every token typed, feedback sent and measure ticked is in it.
    #[test]
    fn concurrent_edits_converge_and_nothing_is_lost(steps in prop::collection::vec(step(), 1..40)) {
        let base = planned_item();
        let mut replicas: Vec<AutoCommit> = (0..REPLICAS.len()).map(|_| base.clone().with_actor(automerge::ActorId::random())).collect();
        let mut tokens: Vec<(String, String)> = Vec::new(); // (where, token)
        let mut feedback_ids = Vec::new();
        let mut ticks = Vec::new();
        for (n, step) in steps.iter().enumerate() {
            match *step {
                Step::Type { r, at } => {
                    let (role, unit, user) = REPLICAS[r];
                    let unit_id = unit.unwrap_or("s1");
                    let item = ItemDoc::load(&replicas[r]).unwrap();
                    let current = item.progress.get(unit_id).map(|p| p.narrative.as_str().to_owned()).unwrap_or_default();
                    let token = format!("⟨{n}⟩");
                    let text = insert_at(&current, at, &token);
                    model::apply(&mut replicas[r], &ctx(role, unit, user), ItemEdit::UnitNarrative { unit: unit_id.into(), text }).unwrap();
                    tokens.push((unit_id.to_owned(), token));
                }
                Step::Tick { r, measure, done } => {
                    let (role, unit, user) = REPLICAS[r];
                    let edit = ItemEdit::TickMeasure { unit: unit_of(r).into(), measure: format!("m{}", measure + 1), done };
                    model::apply(&mut replicas[r], &ctx(role, unit, user), edit).unwrap();
                    ticks.push((unit_of(r).to_owned(), format!("m{}", measure + 1)));
                }
                Step::Feedback { r } => {
                    let (role, unit, user) = REPLICAS[r];
                    let id = format!("f{n}");
                    let edit = ItemEdit::AddFeedback { id: id.clone(), unit: Some(unit_of(r).into()), text: format!("消息{n}") };
                    model::apply(&mut replicas[r], &ctx(role, unit, user), edit).unwrap();
                    feedback_ids.push(id);
                }
                Step::Retitle { at } => {
                    let item = ItemDoc::load(&replicas[3]).unwrap();
                    let token = format!("⟨t{n}⟩");
                    let title = insert_at(item.title.as_str(), at, &token);
                    let narrative = item.narrative.as_str().to_owned();
                    let measures = item.measures.iter().map(|m| MeasureText::existing(&m.id, m.text.as_str())).collect();
                    model::apply(&mut replicas[3], &office(), ItemEdit::Define { title, measures, narrative }).unwrap();
                    tokens.push(("title".to_owned(), token));
                }
                Step::Sync { a, b } if a != b => {
                    let mut other = replicas[b].clone();
                    replicas[a].merge(&mut other).unwrap();
                }
                Step::Sync { .. } => {}
            }
        }
        // Everyone meets everyone.
        for a in 0..replicas.len() {
            for b in 0..replicas.len() {
                if a != b {
                    let mut other = replicas[b].clone();
                    replicas[a].merge(&mut other).unwrap();
                }
            }
        }
        let first = ItemDoc::load(&replicas[0]).unwrap();
        for (r, replica) in replicas.iter_mut().enumerate() {
            prop_assert_eq!(&ItemDoc::load(replica).unwrap(), &first, "replica {} differs", r);
        }
        for (place, token) in &tokens {
            let text = if place == "title" { first.title.as_str().to_owned() } else { first.progress[place].narrative.as_str().to_owned() };
            prop_assert!(text.contains(token.as_str()), "token {} lost from {}: {:?}", token, place, text);
        }
        for id in &feedback_ids {
            prop_assert!(first.feedback.iter().any(|f| &f.id == id), "feedback {} lost", id);
        }
        for (unit, measure) in &ticks {
            prop_assert!(first.progress[unit].measures_done.contains_key(measure), "tick {}/{} lost", unit, measure);
        }
    }
}

/// 整改一个销号一个: once the office signs off a school's entry, the school can change none
/// of it (words, ticks, evidence, status) until the office reopens it (退回, with a reason,
/// recorded); feedback stays open, and other schools on the item are not affected.
#[test]
fn a_signed_off_entry_is_locked_until_the_office_reopens_it() {
    let mut doc = planned_item();
    let school = ctx(Role::Unit, Some("s1"), "school1");
    let words = |text: &str| ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: text.into(),
    };
    let to = |to, reason: Option<&str>| ItemEdit::UnitStatus {
        unit: "s1".into(),
        to,
        reason: reason.map(str::to_owned),
    };
    model::apply(&mut doc, &school, words("已建立台账")).unwrap();
    model::apply(&mut doc, &school, to(UnitStatus::Submitted, None)).unwrap();
    model::apply(&mut doc, &office(), to(UnitStatus::SignedOff, None)).unwrap();

    let locked = "已销号: the office signed off this unit's work, so it can no longer be changed; ask the office (领导小组办公室) to reopen it (退回) first";
    let sha = rectify_shared::evidence::sha256_hex(b"photo");
    let refused = [
        words("已建立台账，又改了"),
        ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m1".into(),
            done: true,
        },
        ItemEdit::AddEvidence {
            unit: "s1".into(),
            evidence: EvidenceRef {
                sha256: sha.clone(),
                name: "p.jpg".into(),
                mime: "image/jpeg".into(),
                size: 5,
                caption: String::new(),
                added_by: "school1".into(),
                added_at_ms: 1,
            },
        },
        ItemEdit::RemoveEvidence {
            unit: "s1".into(),
            sha256: sha,
        },
        to(UnitStatus::InProgress, None),
        to(UnitStatus::Submitted, None),
    ];
    for edit in refused {
        let heads = doc.get_heads();
        let got = model::apply(&mut doc, &school, edit.clone()).map_err(|e| e.to_string());
        assert_eq!(got, Err(locked.to_owned()), "{edit:?}");
        assert_eq!(doc.get_heads(), heads, "{edit:?} wrote nothing");
    }
    let talk = ItemEdit::AddFeedback {
        id: "f1".into(),
        unit: Some("s1".into()),
        text: "谢谢".into(),
    };
    model::apply(&mut doc, &school, talk).unwrap();
    let other = ctx(Role::Unit, Some("s2"), "school2");
    let theirs = ItemEdit::UnitNarrative {
        unit: "s2".into(),
        text: "继续整改".into(),
    };
    model::apply(&mut doc, &other, theirs).unwrap();

    // The office reopens it with a reason; the school works again.
    model::apply(
        &mut doc,
        &office(),
        to(UnitStatus::Returned, Some("台账不全")),
    )
    .unwrap();
    model::apply(&mut doc, &school, words("已补全台账")).unwrap();
    let item = ItemDoc::load(&doc).unwrap();
    let decisions: Vec<(UnitStatus, &str)> = item
        .reviews
        .iter()
        .map(|r| (r.decision, r.reason.as_str()))
        .collect();
    assert_eq!(
        decisions,
        [
            (UnitStatus::SignedOff, ""),
            (UnitStatus::Returned, "台账不全")
        ]
    );
    assert_eq!(item.progress["s1"].narrative.as_str(), "已补全台账");
}

/// Two accounts of one school set different statuses while apart: after the merge both
/// values are there, each with who set it, for the UI to show.
#[test]
fn concurrent_statuses_are_both_shown_with_who_set_them() {
    let mut doc = planned_item();
    let teacher = ctx(Role::Unit, Some("s1"), "teacher");
    let principal = ctx(Role::Unit, Some("s1"), "principal");
    let to = |to| ItemEdit::UnitStatus {
        unit: "s1".into(),
        to,
        reason: None,
    };
    model::apply(&mut doc, &teacher, to(UnitStatus::InProgress)).unwrap();
    let words = ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: "已整改".into(),
    };
    model::apply(&mut doc, &teacher, words).unwrap();
    assert!(model::status_conflicts(&mut doc, "s1").is_empty());
    let mut phone = doc.fork();
    model::apply(&mut doc, &teacher, to(UnitStatus::Submitted)).unwrap();
    model::apply(&mut doc, &teacher, to(UnitStatus::InProgress)).unwrap();
    model::apply(&mut phone, &principal, to(UnitStatus::Submitted)).unwrap();
    doc.merge(&mut phone).unwrap();
    let claims = model::status_conflicts(&mut doc, "s1");
    let shown: Vec<(UnitStatus, Option<&str>)> =
        claims.iter().map(|c| (c.status, c.by.as_deref())).collect();
    assert_eq!(
        shown,
        [
            (UnitStatus::Submitted, Some("principal")),
            (UnitStatus::InProgress, Some("teacher")),
        ]
    );
    assert!(model::status_conflicts(&mut doc, "s2").is_empty());
}

#[test]
fn readers_are_read_without_the_rest_of_the_item() {
    let mut doc = planned_item();
    let item = ItemDoc::load(&doc).unwrap();
    assert_eq!(
        ItemDoc::readers(&doc).unwrap(),
        (item.units.clone(), item.responsible_department.clone())
    );
    assert_eq!(item.units, ["s1", "s2"]);
    // What the full read refuses, this refuses too.
    doc.put(automerge::ROOT, "schema_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert!(ItemDoc::load(&doc).is_err() && ItemDoc::readers(&doc).is_err());
}

// The report's own text on the campaign (issue #21, the whole report).

/// A campaign document as the first release wrote it: no title, date or text parts.
fn first_release_campaign() -> AutoCommit {
    let mut doc = model::new_automerge();
    let root = automerge::ROOT;
    doc.put(&root, "schema_version", 1u64).unwrap();
    doc.put(&root, "kind", "campaign").unwrap();
    doc.put(&root, "name", "区委第三巡察组巡察区教体局党委反馈问题整改")
        .unwrap();
    doc.put(&root, "inspector", "区委第三巡察组").unwrap();
    doc.put(&root, "inspected", "区教体局党委").unwrap();
    doc.put(&root, "inspection_start", "2023-04-13").unwrap();
    doc.put(&root, "inspection_end", "2023-06-02").unwrap();
    doc.put(&root, "feedback_date", "2023-09-14").unwrap();
    doc.put(&root, "publisher", "中共眉山市彭山区教育和体育局委员会")
        .unwrap();
    let preamble = doc.put_object(&root, "preamble", ObjType::Text).unwrap();
    doc.splice_text(
        &preamble,
        0,
        0,
        "根据区委统一部署,现将巡察整改情况予以公布。",
    )
    .unwrap();
    let areas = doc.put_object(&root, "areas", ObjType::List).unwrap();
    let area = doc.insert_object(&areas, 0, ObjType::Map).unwrap();
    doc.put(&area, "number", 1u64).unwrap();
    doc.put(&area, "title", "聚焦党中央各项决策部署在基层的落实情况方面")
        .unwrap();
    doc.commit();
    doc
}

#[test]
fn a_campaign_without_the_report_text_loads_with_empty_parts() {
    let doc = first_release_campaign();
    let campaign = model::CampaignDoc::load(&doc).expect("an old campaign loads");
    assert_eq!(campaign.title, "");
    assert_eq!(campaign.published, None);
    assert_eq!(campaign.items_heading, "");
    for part in [
        &campaign.organisation,
        &campaign.results,
        &campaign.next_steps,
    ] {
        assert_eq!(part, &model::PartDoc::default());
    }
    let report = model::report_from_docs(&campaign, &[]);
    assert_eq!(report.parts, rectify_shared::report::Parts::default());
    // Its report is the one the first release printed: the items alone, now numbered 一.
    let text = rectify_shared::report::text::build(&report);
    assert!(text.contains("\n一、整改工作具体落实情况\n"), "{text}");
    assert!(!text.contains("三、"), "{text}");
    // Saved and loaded again after an edit, the new keys are there and the old ones kept.
    let mut doc = doc;
    let mut edited = campaign;
    edited.results.heading = "整改工作取得的主要成效".to_owned();
    model::update_document(&mut doc, &edited, "office", "report_text", 0).unwrap();
    let reloaded = model::load_automerge(&doc.save()).unwrap();
    let again = model::CampaignDoc::load(&reloaded).unwrap();
    assert_eq!(again.results.heading, "整改工作取得的主要成效");
    assert_eq!(again.inspector, "区委第三巡察组");
}

fn seed_campaign() -> model::CampaignDoc {
    let report = rectify_shared::import::parse(include_str!("data/pengshan-2024.txt"))
        .expect("imports")
        .report;
    model::campaign_from_report(&report)
}

#[test]
fn re_import_updates_the_parts_a_report_has_and_keeps_the_others() {
    let stored = seed_campaign();
    // A report of the same round with part 三 rewritten and part 四, the title and the
    // date missing.
    let mut imported = stored.clone();
    imported.results.body = autosurgeon::Text::with_value("新的成效。");
    imported.next_steps = model::PartDoc::default();
    imported.title = String::new();
    imported.published = None;
    let mut office_wrote = stored.clone();
    office_wrote.title = "中共眉山市彭山区教育和体育局委员会关于巡察整改情况的通报".to_owned();
    model::refresh_campaign_from_report(&mut office_wrote, &imported);
    assert_eq!(office_wrote.results.body.as_str(), "新的成效。");
    assert_eq!(office_wrote.next_steps, stored.next_steps);
    assert_eq!(office_wrote.published.as_deref(), Some("2024-03-27"));
    assert_eq!(
        office_wrote.title,
        "中共眉山市彭山区教育和体育局委员会关于巡察整改情况的通报"
    );
    // The same report again changes nothing.
    let mut same = stored.clone();
    model::refresh_campaign_from_report(&mut same, &stored);
    assert_eq!(same, stored);
}

#[test]
fn the_office_sets_the_report_text() {
    let mut doc = model::create_document(&seed_campaign(), "office", 0).unwrap();
    let campaign = model::CampaignDoc::load(&doc).unwrap();
    let mut text = model::report_text(&campaign);
    assert_eq!(text.organisation.heading, "整改工作开展情况");
    text.title = " 关于巡察整改情况的通报 ".to_owned();
    text.results.body = text
        .results
        .body
        .replacen("针对", "对照", 1)
        .replace('\n', "\r\n");
    text.published = Some("2024-04-01".to_owned());
    let mut edited = campaign.clone();
    model::set_report_text(&mut edited, &text).unwrap();
    assert_eq!(edited.title, "关于巡察整改情况的通报");
    assert!(edited.results.body.as_str().starts_with("对照巡察反馈问题"));
    assert!(!edited.results.body.as_str().contains('\r'));
    assert_eq!(edited.published.as_deref(), Some("2024-04-01"));
    // Only what changed is written: the two characters, not the whole part.
    let before = doc.get_heads();
    model::update_document(&mut doc, &edited, "office", "report_text", 1).unwrap();
    let ops: usize = doc.get_changes(&before).iter().map(|c| c.len()).sum();
    assert!(
        ops < 20,
        "{ops} operations for a two-character edit, a title and a date"
    );
    // Bad input is refused with a reason, and nothing changes.
    let mut bad = text.clone();
    bad.published = Some("2024-02-30".to_owned());
    let mut untouched = campaign.clone();
    assert_eq!(
        model::set_report_text(&mut untouched, &bad)
            .unwrap_err()
            .to_string(),
        "the date of publication '2024-02-30' is not a date: write it as YYYY-MM-DD, or leave it empty"
    );
    assert_eq!(untouched, campaign);
    bad.published = None;
    bad.title = "题".repeat(501);
    assert!(model::set_report_text(&mut untouched, &bad).is_err());
    assert_eq!(untouched, campaign);
}
