//! The item model: edits and the policy, schema versions, and merging concurrent edits.

use automerge::{AutoCommit, ObjType, ReadDoc, transaction::Transactable};
use proptest::prelude::*;
use rectify_shared::ids::UnitId;
use rectify_shared::model::{
    self, EditContext, ItemDoc, ItemEdit, ItemPlan, ModelError, SCHEMA_VERSION, Timing,
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
            "school asks for sign-off",
            s1(),
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
                    let measures = item.measures.iter().map(|m| m.text.as_str().to_owned()).collect();
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
