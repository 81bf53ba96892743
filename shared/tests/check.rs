//! The server's check of a change a client sent (`model::check_change`): every rule, as
//! allowed and refused changes, made through `model::apply` and as raw Automerge operations
//! (what a modified client could send); and a property test that the typed policy and the
//! check agree.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue};
use proptest::prelude::*;
use rectify_shared::ids::UnitId;
use rectify_shared::model::check::{ITEM_KEYS, PROGRESS_KEYS};
use rectify_shared::model::{
    self, CampaignDoc, EditContext, EvidenceRef, Feedback, ItemDoc, ItemEdit, ItemPlan, Measure,
    MeasureText, Review, SCHEMA_VERSION, Timing, UnitProgress, check_change,
};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;

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
fn s1() -> EditContext {
    ctx(Role::Unit, Some("s1"), "school1")
}
fn s2() -> EditContext {
    ctx(Role::Unit, Some("s2"), "school2")
}
fn jcg() -> EditContext {
    ctx(Role::Department, Some("jcg"), "dept-jcg")
}
fn viewer() -> EditContext {
    ctx(Role::Viewer, None, "viewer")
}

fn apply(doc: &mut AutoCommit, who: &EditContext, edit: ItemEdit) {
    model::apply(doc, who, edit).unwrap();
}

/// An item with three measures, assigned to schools s1 and s2 and department jcg, with some
/// history: s1 wrote, attached evidence and sent feedback; s2 was sent back once.
fn planned_item() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "2.7.2", "采购项目管理制度不完善。");
    item.measures = ["建立采购台账", "修订管理制度", "开展专项检查"]
        .iter()
        .enumerate()
        .map(|(i, text)| Measure {
            id: format!("m{}", i + 1),
            text: (*text).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: vec!["s1".into(), "s2".into(), "jcg".into()],
        deadline: Some("2024-06-30".into()),
        timing: Some(Timing::ByDeadline),
    };
    apply(&mut doc, &office(), ItemEdit::Plan(plan));
    apply(&mut doc, &s1(), narrative("s1", "已建立台账"));
    apply(&mut doc, &s1(), evidence("s1", "aa"));
    apply(&mut doc, &s1(), feedback("f1", Some("s1")));
    apply(&mut doc, &s2(), narrative("s2", "已自查"));
    apply(&mut doc, &s2(), unit_status("s2", UnitStatus::Submitted));
    apply(
        &mut doc,
        &office(),
        ItemEdit::UnitStatus {
            unit: "s2".into(),
            to: UnitStatus::Returned,
            reason: Some("佐证不足".into()),
        },
    );
    doc
}

fn narrative(unit: &str, text: &str) -> ItemEdit {
    ItemEdit::UnitNarrative {
        unit: unit.into(),
        text: text.into(),
    }
}

fn evidence(unit: &str, sha256: &str) -> ItemEdit {
    ItemEdit::AddEvidence {
        unit: unit.into(),
        evidence: EvidenceRef {
            sha256: rectify_shared::evidence::sha256_hex(sha256.as_bytes()),
            name: "台账.pdf".into(),
            mime: "application/pdf".into(),
            size: 1024,
            caption: "采购台账".into(),
            added_by: "school1".into(),
            added_at_ms: NOW,
        },
    }
}

fn feedback(id: &str, unit: Option<&str>) -> ItemEdit {
    ItemEdit::AddFeedback {
        id: id.into(),
        unit: unit.map(str::to_owned),
        text: "已按要求补充佐证".into(),
    }
}

fn unit_status(unit: &str, to: UnitStatus) -> ItemEdit {
    ItemEdit::UnitStatus {
        unit: unit.into(),
        to,
        reason: None,
    }
}

/// The object at `path` from the root: map keys, or list indices inside lists.
fn at(doc: &AutoCommit, path: &[&str]) -> ObjId {
    let mut obj = automerge::ROOT;
    for segment in path {
        let next = match doc.object_type(&obj).unwrap() {
            ObjType::List | ObjType::Text => doc.get(&obj, segment.parse::<usize>().unwrap()),
            ObjType::Map | ObjType::Table => doc.get(&obj, *segment),
        };
        obj = next.unwrap().unwrap().1;
    }
    obj
}

/// Hydrates the item, changes it, and reconciles it back: a client that skips the policy.
fn reconcile_modified(doc: &mut AutoCommit, change: impl FnOnce(&mut ItemDoc)) {
    let mut item = ItemDoc::load(doc).unwrap();
    change(&mut item);
    autosurgeon::reconcile(doc, &item).unwrap();
}

/// Sets the campaign's report text as the office's API does, with no policy check.
fn report_text(doc: &mut AutoCommit, change: impl FnOnce(&mut rectify_shared::api::ReportText)) {
    let mut campaign = CampaignDoc::load(doc).unwrap();
    let mut text = model::report_text(&campaign);
    change(&mut text);
    model::set_report_text(&mut campaign, &text).unwrap();
    autosurgeon::reconcile(doc, &campaign).unwrap();
}

/// The documents a change starts from.
#[derive(Debug, Clone, Copy)]
enum Base {
    Item,
    /// The item with s1's work (a narrative, a tick, evidence) signed off by the office.
    SignedOffItem,
    /// The item, moved to a newer schema by the office.
    NewerItem,
    Campaign,
    /// A campaign as the first release wrote it: no title, date or text parts.
    OldCampaign,
    /// A document of a kind this version does not know.
    OtherKind,
    /// Nothing yet: the change creates the document.
    Empty,
}

fn base(base: Base) -> AutoCommit {
    match base {
        Base::Item => planned_item(),
        Base::SignedOffItem => {
            let mut doc = planned_item();
            let tick = ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m1".into(),
                done: true,
            };
            apply(&mut doc, &s1(), tick);
            apply(&mut doc, &s1(), unit_status("s1", UnitStatus::Submitted));
            apply(
                &mut doc,
                &office(),
                unit_status("s1", UnitStatus::SignedOff),
            );
            doc
        }
        Base::NewerItem => {
            let mut doc = planned_item();
            doc.put(automerge::ROOT, "schema_version", SCHEMA_VERSION + 1)
                .unwrap();
            doc.commit();
            doc
        }
        Base::Campaign => {
            model::create_document(&CampaignDoc::new_empty("第三轮巡察"), "office", 0).unwrap()
        }
        Base::OldCampaign => {
            let mut doc =
                model::create_document(&CampaignDoc::new_empty("第二轮巡察"), "office", 0).unwrap();
            for key in [
                "title",
                "published",
                "organisation",
                "items_heading",
                "results",
                "next_steps",
            ] {
                doc.delete(automerge::ROOT, key).unwrap();
            }
            doc.commit();
            doc
        }
        Base::OtherKind => {
            let mut doc = model::new_automerge();
            doc.put(automerge::ROOT, "kind", "note").unwrap();
            doc.put(automerge::ROOT, "body", "备忘").unwrap();
            doc.commit();
            doc
        }
        Base::Empty => model::new_automerge(),
    }
}

/// Makes `edit` as `who` on a copy of `base` (as another device would) and checks the
/// change as the server does: `ok`, or the refusal's message (a trailing `…` matches any
/// rest).
fn check(base_doc: Base, who: &EditContext, edit: Edit) -> String {
    let mut before = base(base_doc);
    let mut after = before.fork();
    edit(&mut after, who);
    after.commit_with(CommitOptions::default().with_message("{\"user\":\"mallory\"}"));
    match check_change(&who.actor, &before, &after) {
        Ok(()) => "ok".to_owned(),
        Err(refusal) => refusal.to_string(),
    }
}

type Edit = fn(&mut AutoCommit, &EditContext);

const OFFICE_ONLY: &str =
    "only the office (领导小组办公室) can change an item's definition or close it";
const ONLY_OFFICE_DECIDES: &str =
    "only the office (领导小组办公室) can sign off (销号) or send back (退回)";
const READ_ONLY: &str = "viewers can read everything but change nothing";
const SIGNED_OFF: &str = "已销号: the office signed off this unit's work, so it can no longer be changed; ask the office (领导小组办公室) to reopen it (退回) first";
const NOTHING_TO_SUBMIT: &str = "申请销号 needs something to sign off: describe the work done (整改情况) or add at least one piece of evidence first";
const FEEDBACK_REWRITTEN: &str =
    "feedback messages can only be added: existing messages are never changed or removed";
const REVIEWS_REWRITTEN: &str =
    "reviews (销号 / 退回 decisions) are history: they can only be added, never changed or removed";

#[test]
fn changes_follow_the_policy() {
    use Base::*;
    #[rustfmt::skip]
    let cases: Vec<(&str, Base, EditContext, Edit, &str)> = vec![
        // ---- A unit: its own progress and feedback about itself.
        ("unit writes its own narrative", Item, s1(),
            |d, w| apply(d, w, narrative("s1", "已建立采购台账并公示")), "ok"),
        ("unit splices its own narrative (raw)", Item, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, "本周").unwrap(), "ok"),
        ("unit ticks a measure", Item, s1(),
            |d, w| apply(d, w, ItemEdit::TickMeasure { unit: "s1".into(), measure: "m2".into(), done: true }), "ok"),
        ("unit asks for sign-off", Item, s1(),
            |d, w| apply(d, w, unit_status("s1", UnitStatus::Submitted)), "ok"),
        ("sent-back unit asks again", Item, s2(),
            |d, w| apply(d, w, unit_status("s2", UnitStatus::Submitted)), "ok"),
        ("unit adds evidence", Item, s1(),
            |d, w| apply(d, w, evidence("s1", "bb")), "ok"),
        ("unit removes its own evidence", Item, s1(),
            |d, _| d.delete(at(d, &["progress", "s1", "evidence"]), 0).unwrap(), "ok"),
        ("unit adds feedback about itself", Item, s1(),
            |d, w| apply(d, w, feedback("f2", Some("s1"))), "ok"),
        ("unit writes another unit's narrative", Item, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s2", "narrative"]), 0, 0, "代写").unwrap(),
            "a unit can change only its own progress, not the progress of unit 's2'"),
        ("unit changes the title (raw splice)", Item, s1(),
            |d, _| d.splice_text(at(d, &["title"]), 0, 6, "已完善").unwrap(),
            "only the office (领导小组办公室) can change an item's `title`"),
        ("unit changes the title (reconciled)", Item, s1(),
            |d, _| reconcile_modified(d, |item| item.title.update("没有问题")),
            "only the office (领导小组办公室) can change an item's `title`"),
        ("unit replaces the title by an identical copy", Item, s1(),
            |d, _| {
                let title = d.put_object(automerge::ROOT, "title", ObjType::Text).unwrap();
                d.splice_text(&title, 0, 0, "采购项目管理制度不完善。").unwrap();
            },
            "only the office (领导小组办公室) can change an item's `title`"),
        ("unit edits a measure", Item, s1(),
            |d, _| d.splice_text(at(d, &["measures", "0", "text"]), 0, 0, "不").unwrap(),
            "only the office (领导小组办公室) can change an item's `measures`"),
        ("unit brings back a removed measure (raw)", Item, s1(),
            |d, _| { d.put_object(automerge::ROOT, "removed_measures", ObjType::List).unwrap(); },
            "only the office (领导小组办公室) can change an item's `removed_measures`"),
        ("unit moves the deadline", Item, s1(),
            |d, _| d.put(automerge::ROOT, "deadline", "2025-12-31").unwrap(),
            "only the office (领导小组办公室) can change an item's `deadline`"),
        ("unit unassigns another unit", Item, s1(),
            |d, _| d.delete(at(d, &["units"]), 1).unwrap(),
            "only the office (领导小组办公室) can change an item's `units`"),
        ("unit closes the item (raw put)", Item, s1(),
            |d, _| d.put(automerge::ROOT, "status", "done").unwrap(), OFFICE_ONLY),
        ("unit signs itself off (raw put)", Item, s1(),
            |d, _| d.put(at(d, &["progress", "s1"]), "status", "signed_off").unwrap(), ONLY_OFFICE_DECIDES),
        ("sent-back unit marks itself returned-then-signed-off", Item, s2(),
            |d, _| d.put(at(d, &["progress", "s2"]), "status", "signed_off").unwrap(), ONLY_OFFICE_DECIDES),
        ("unit deletes a review", Item, s2(),
            |d, _| d.delete(at(d, &["reviews"]), 0).unwrap(), ONLY_OFFICE_DECIDES),
        ("unit adds a review (reconciled)", Item, s1(),
            |d, _| reconcile_modified(d, |item| item.reviews.push(Review {
                id: "r9".into(), unit: "s1".into(), decision: UnitStatus::SignedOff,
                reason: String::new(), by: "office".into(), at_ms: NOW,
            })),
            ONLY_OFFICE_DECIDES),
        ("unit adds feedback about another unit (reconciled)", Item, s1(),
            |d, _| reconcile_modified(d, |item| item.feedback.push(Feedback {
                id: "f9".into(), unit: Some("s2".into()), author: "school1".into(),
                text: "s2 没整改".into(), at_ms: NOW,
            })),
            "a unit can add feedback only about its own unit (this message is about unit 's2')"),
        ("unit adds feedback about no unit (reconciled)", Item, s1(),
            |d, _| reconcile_modified(d, |item| item.feedback.push(Feedback {
                id: "f9".into(), unit: None, author: "school1".into(), text: "通知".into(), at_ms: NOW,
            })),
            "a unit can add feedback only about its own unit (this message is about no unit)"),
        ("unit edits an existing feedback message", Item, s1(),
            |d, _| d.put(at(d, &["feedback", "0"]), "text", "改过的").unwrap(), FEEDBACK_REWRITTEN),
        ("unit deletes its own feedback message", Item, s1(),
            |d, _| d.delete(at(d, &["feedback"]), 0).unwrap(), FEEDBACK_REWRITTEN),
        ("unit adds an unknown top-level key", Item, s1(),
            |d, _| d.put(automerge::ROOT, "junk", "x").unwrap(),
            "`junk` is not a key this version of Rectify knows; only the office (领导小组办公室) can add, change or remove it"),
        ("unit adds an unknown key to its own progress", Item, s1(),
            |d, _| d.put(at(d, &["progress", "s1"]), "junk", 1).unwrap(),
            "`progress.s1.junk` is not a key this version of Rectify knows; only the office (领导小组办公室) can add, change or remove it"),
        ("unit creates a progress entry for another unit (reconciled)", Item, s1(),
            |d, _| reconcile_modified(d, |item| {
                let entry = UnitProgress {
                    status: UnitStatus::Submitted, narrative: "代报".into(), measures_done: Default::default(),
                    evidence: vec![], updated_by: "school1".into(), updated_at_ms: NOW,
                };
                item.progress.insert("s9".into(), entry);
            }),
            "a unit can change only its own progress, not the progress of unit 's9'"),
        ("unit deletes its own progress entry", Item, s1(),
            |d, _| d.delete(at(d, &["progress"]), "s1").unwrap(),
            "the progress entry of unit 's1' is created and removed only by the office (领导小组办公室), when it assigns units"),
        ("unit replaces the progress map by an empty one", Item, s1(),
            |d, _| { d.put_object(automerge::ROOT, "progress", ObjType::Map).unwrap(); },
            "`progress` was replaced by a new object; only its contents may be edited, so that edits made elsewhere at the same time are not lost"),
        ("unit ticks a measure the item does not have (raw)", Item, s1(),
            |d, _| d.put(at(d, &["progress", "s1", "measures_done"]), "m9", true).unwrap(),
            "no measure 'm9' in this item, so it cannot be ticked"),
        ("unit writes a wrong-typed status (raw)", Item, s1(),
            |d, _| d.put(at(d, &["progress", "s1"]), "status", 42).unwrap(),
            "the change leaves a document that is not a valid item document: …"),
        ("unit account without a unit", Item, ctx(Role::Unit, None, "nobody"),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, "x").unwrap(),
            "this item is not assigned to your unit"),
        ("unit bumps the schema", Item, s1(),
            |d, _| d.put(automerge::ROOT, "schema_version", SCHEMA_VERSION + 1).unwrap(),
            "only the office (领导小组办公室) can move a document to a newer schema (the change sets schema_version to 2; this server knows 1)"),
        ("unit turns the item into a campaign", Item, s1(),
            |d, _| d.put(automerge::ROOT, "kind", "campaign").unwrap(),
            "a document's kind is fixed when it is created: the change turns a item document into campaign"),
        ("unit nests junk too deep to check", Item, s1(),
            |d, _| {
                let mut obj = at(d, &["progress", "s1"]);
                for _ in 0..40 {
                    obj = d.put_object(&obj, "junk", ObjType::Map).unwrap();
                }
            },
            "the document is nested more than 32 levels deep, too deep to check"),
        // ---- A department: a unit of its own.
        ("department writes its own progress", Item, jcg(),
            |d, w| apply(d, w, narrative("jcg", "已修订制度")), "ok"),
        ("department asks for sign-off", Item, jcg(),
            |d, w| {
                apply(d, w, narrative("jcg", "已修订制度"));
                apply(d, w, unit_status("jcg", UnitStatus::Submitted));
            }, "ok"),
        ("department asks for sign-off with nothing written (raw)", Item, jcg(),
            |d, _| d.put(at(d, &["progress", "jcg"]), "status", "submitted").unwrap(), NOTHING_TO_SUBMIT),
        // ---- A signed-off entry (s1's) is locked for its unit until the office reopens it.
        ("signed-off unit edits its narrative (raw)", SignedOffItem, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, "补充").unwrap(), SIGNED_OFF),
        ("signed-off unit unticks a measure (raw)", SignedOffItem, s1(),
            |d, _| d.put(at(d, &["progress", "s1", "measures_done"]), "m1", false).unwrap(), SIGNED_OFF),
        ("signed-off unit removes its evidence (raw)", SignedOffItem, s1(),
            |d, _| d.delete(at(d, &["progress", "s1", "evidence"]), 0).unwrap(), SIGNED_OFF),
        ("signed-off unit adds evidence (reconciled)", SignedOffItem, s1(),
            |d, _| reconcile_modified(d, |item| {
                let mut more = item.progress["s1"].evidence[0].clone();
                more.sha256 = rectify_shared::evidence::sha256_hex(b"more");
                item.progress.get_mut("s1").unwrap().evidence.push(more);
            }), SIGNED_OFF),
        ("signed-off unit withdraws (raw)", SignedOffItem, s1(),
            |d, _| d.put(at(d, &["progress", "s1"]), "status", "in_progress").unwrap(), SIGNED_OFF),
        ("signed-off unit still adds feedback", SignedOffItem, s1(),
            |d, w| apply(d, w, feedback("f3", Some("s1"))), "ok"),
        ("another unit works on beside a signed-off one", SignedOffItem, s2(),
            |d, w| apply(d, w, narrative("s2", "已自查，继续整改")), "ok"),
        ("office corrects a signed-off entry", SignedOffItem, office(),
            |d, w| apply(d, w, narrative("s1", "已建立台账（办公室更正）")), "ok"),
        ("office reopens a signed-off entry with a reason", SignedOffItem, office(),
            |d, w| apply(d, w, ItemEdit::UnitStatus {
                unit: "s1".into(), to: UnitStatus::Returned, reason: Some("回头看发现台账不全".into()),
            }), "ok"),
        // ---- Texts have limits (3,000 characters of progress text), as a raw write too.
        ("unit writes a 3,000-character progress text", Item, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, &"整".repeat(3_000 - "已建立台账".chars().count())).unwrap(), "ok"),
        ("unit writes 20,000 characters of progress text (raw)", Item, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, &"整".repeat(20_000)).unwrap(),
            "整改情况 (the progress text) is too long: 20005 characters, at most 3000"),
        ("unit writes a 2,000-character message (raw)", Item, s1(),
            |d, _| reconcile_modified(d, |item| item.feedback.push(Feedback {
                id: "f9".into(), unit: Some("s1".into()), author: "school1".into(),
                text: "问".repeat(2_000), at_ms: 0,
            })),
            "反馈 (the message) is too long: 2000 characters, at most 1000"),
        ("office reopens with a 600-character reason (raw)", SignedOffItem, office(),
            |d, _| reconcile_modified(d, |item| {
                item.progress.get_mut("s1").unwrap().status = UnitStatus::Returned;
                item.reviews.push(Review {
                    id: "r9".into(), unit: "s1".into(), decision: UnitStatus::Returned,
                    reason: "缺".repeat(600), by: "office".into(), at_ms: 0,
                });
            }),
            "退回理由 (the reason) is too long: 600 characters, at most 500"),
        ("department writes a school's progress", Item, jcg(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, "督促").unwrap(),
            "a unit can change only its own progress, not the progress of unit 's1'"),
        ("department signs a school off", Item, jcg(),
            |d, _| d.put(at(d, &["progress", "s2"]), "status", "signed_off").unwrap(),
            "a unit can change only its own progress, not the progress of unit 's2'"),
        // ---- A viewer.
        ("viewer ticks a measure", Item, viewer(),
            |d, _| d.put(at(d, &["progress", "s1", "measures_done"]), "m1", true).unwrap(), READ_ONLY),
        ("viewer sends an empty change", Item, viewer(), |_, _| {}, "ok"),
        // ---- The office.
        ("office closes the item with units not signed off (raw)", Item, office(),
            |d, _| d.put(automerge::ROOT, "status", "done").unwrap(),
            "没整改到位绝不销号: 3 unit(s) are not signed off yet"),
        ("office closes the item when every unit is signed off", Item, office(),
            |d, w| {
                for unit in ["s1", "s2", "jcg"] {
                    apply(d, w, unit_status(unit, UnitStatus::Submitted));
                    apply(d, w, unit_status(unit, UnitStatus::SignedOff));
                }
                apply(d, w, ItemEdit::ItemStatus(PublicStatus::DoneLongTerm));
            },
            "ok"),
        ("office signs a unit off (a review is added)", Item, office(),
            |d, w| {
                apply(d, w, unit_status("s2", UnitStatus::Submitted));
                apply(d, w, unit_status("s2", UnitStatus::SignedOff));
            },
            "ok"),
        ("office rewrites a review's reason", Item, office(),
            |d, _| d.put(at(d, &["reviews", "0"]), "reason", "没问题").unwrap(), REVIEWS_REWRITTEN),
        ("office deletes a review", Item, office(),
            |d, _| d.delete(at(d, &["reviews"]), 0).unwrap(), REVIEWS_REWRITTEN),
        ("office replaces the reviews by an empty list", Item, office(),
            |d, _| { d.put_object(automerge::ROOT, "reviews", ObjType::List).unwrap(); }, REVIEWS_REWRITTEN),
        ("office redefines the item", Item, office(),
            |d, w| apply(d, w, ItemEdit::Define { title: "新标题".into(), measures: vec![MeasureText::new("一")], narrative: "已整改".into() }),
            "ok"),
        ("office removes a measure, keeping it as removed", Item, office(),
            |d, w| apply(d, w, ItemEdit::Define { title: "新标题".into(), measures: vec![MeasureText::existing("m2", "修订管理制度")], narrative: String::new() }),
            "ok"),
        ("office deletes a measure without a trace (raw)", Item, office(),
            |d, _| d.delete(at(d, &["measures"]), 0).unwrap(),
            "the measure '建立采购台账' (m1) is gone from the item without a trace: a measure the office removes is kept in `removed_measures` with its text, so that ticks on it stay readable and its id is never given again"),
        ("office renumbers the measures (raw: m1 now reads as m2's text)", Item, office(),
            |d, _| {
                d.delete(at(d, &["measures"]), 0).unwrap();
                d.put(at(d, &["measures", "0"]), "id", "m1").unwrap();
            },
            "the measure '修订管理制度' (m2) is gone from the item without a trace: a measure the office removes is kept in `removed_measures` with its text, so that ticks on it stay readable and its id is never given again"),
        ("office re-plans the item", Item, office(),
            |d, w| apply(d, w, ItemEdit::Plan(ItemPlan { units: vec!["s1".into(), "s3".into()], ..ItemPlan::default() })),
            "ok"),
        ("office writes a school's narrative", Item, office(),
            |d, w| apply(d, w, narrative("s1", "代录")), "ok"),
        ("office deletes a feedback message", Item, office(),
            |d, _| d.delete(at(d, &["feedback"]), 0).unwrap(), "ok"),
        ("office adds an unknown key", Item, office(),
            |d, _| d.put(automerge::ROOT, "future", "x").unwrap(), "ok"),
        ("office bumps the schema", Item, office(),
            |d, _| d.put(automerge::ROOT, "schema_version", SCHEMA_VERSION + 1).unwrap(), "ok"),
        ("office writes a wrong-typed item status (raw)", Item, office(),
            |d, _| d.put(automerge::ROOT, "status", ScalarValue::Int(7)).unwrap(),
            "the change leaves a document that is not a valid item document: …"),
        // ---- Newer schemas.
        ("unit writes to a newer-schema document", NewerItem, s1(),
            |d, _| d.splice_text(at(d, &["progress", "s1", "narrative"]), 0, 0, "x").unwrap(),
            "this document is from a newer schema (2; this server knows 1), so the server cannot check changes to it; only the office (领导小组办公室) can change it"),
        ("office writes to a newer-schema document", NewerItem, office(),
            |d, _| d.put(automerge::ROOT, "anything", 1).unwrap(), "ok"),
        // ---- Creating documents.
        ("unit creates an item", Empty, s1(),
            |d, _| autosurgeon::reconcile(d, ItemDoc::new("c", "9.9", "伪造的问题")).unwrap(),
            "only the office (领导小组办公室) can create item documents"),
        ("department creates a campaign", Empty, jcg(),
            |d, _| autosurgeon::reconcile(d, CampaignDoc::new_empty("伪造")).unwrap(),
            "only the office (领导小组办公室) can create campaign documents"),
        ("viewer creates a document", Empty, viewer(),
            |d, _| d.put(automerge::ROOT, "x", 1).unwrap(), READ_ONLY),
        ("office creates an item", Empty, office(),
            |d, _| autosurgeon::reconcile(d, ItemDoc::new("c", "9.9", "新问题")).unwrap(), "ok"),
        ("office creates a campaign", Empty, office(),
            |d, _| autosurgeon::reconcile(d, CampaignDoc::new_empty("第四轮")).unwrap(), "ok"),
        ("office creates an item without its keys", Empty, office(),
            |d, _| d.put(automerge::ROOT, "kind", "item").unwrap(),
            "the change leaves a document that is not a valid item document: …"),
        // ---- Campaigns and documents of other kinds.
        ("office renames the campaign", Campaign, office(),
            |d, _| d.put(automerge::ROOT, "name", "第三轮巡察整改").unwrap(), "ok"),
        ("unit renames the campaign", Campaign, s1(),
            |d, _| d.put(automerge::ROOT, "name", "改名").unwrap(),
            "only the office (领导小组办公室) can change a campaign"),
        ("office breaks the campaign's areas", Campaign, office(),
            |d, _| d.put(automerge::ROOT, "areas", "none").unwrap(),
            "the change leaves a document that is not a valid campaign document: …"),
        // ---- The report's own text on the campaign: the office's alone.
        ("office writes the report text", Campaign, office(),
            |d, _| report_text(d, |t| {
                t.title = "关于巡察整改情况的通报".into();
                t.results.body = "上下团结,联动协作。".into();
                t.published = Some("2024-03-27".into());
            }), "ok"),
        ("office splices part 三 (raw)", Campaign, office(),
            |d, _| d.splice_text(at(d, &["results", "body"]), 0, 0, "成效").unwrap(), "ok"),
        ("unit splices part 三 (raw)", Campaign, s1(),
            |d, _| d.splice_text(at(d, &["results", "body"]), 0, 0, "成效").unwrap(),
            "only the office (领导小组办公室) can change a campaign"),
        ("unit writes the report text", Campaign, s1(),
            |d, _| report_text(d, |t| t.next_steps.body = "下一步".into()),
            "only the office (领导小组办公室) can change a campaign"),
        ("department sets the title (raw)", Campaign, jcg(),
            |d, _| d.put(automerge::ROOT, "title", "伪造的标题").unwrap(),
            "only the office (领导小组办公室) can change a campaign"),
        ("department sets the date (raw)", Campaign, jcg(),
            |d, _| d.put(automerge::ROOT, "published", "2024-01-01").unwrap(),
            "only the office (领导小组办公室) can change a campaign"),
        ("viewer renames part 一 (raw)", Campaign, viewer(),
            |d, _| d.put(at(d, &["organisation"]), "heading", "改").unwrap(), READ_ONLY),
        ("unit adds part 三 to an old campaign (raw)", OldCampaign, s1(),
            |d, _| { d.put_object(automerge::ROOT, "results", ObjType::Map).unwrap(); },
            "only the office (领导小组办公室) can change a campaign"),
        ("office adds the report text to an old campaign", OldCampaign, office(),
            |d, _| report_text(d, |t| t.organisation.body = "(一)高度重视,部署整改。".into()), "ok"),
        ("office writes part 四 as a plain string", Campaign, office(),
            |d, _| d.put(automerge::ROOT, "next_steps", "下一步").unwrap(),
            "the change leaves a document that is not a valid campaign document: …"),
        ("unit edits a document of unknown kind", OtherKind, s1(),
            |d, _| d.put(automerge::ROOT, "body", "改").unwrap(),
            "this document is of a kind Rectify does not know (note); only the office (领导小组办公室) can change it"),
        ("office edits a document of unknown kind", OtherKind, office(),
            |d, _| d.put(automerge::ROOT, "body", "改").unwrap(), "ok"),
    ];
    let mut failures = Vec::new();
    for (what, base_doc, who, edit, expected) in cases {
        let got = check(base_doc, &who, edit);
        let matches = match expected.strip_suffix('…') {
            Some(prefix) => got.starts_with(prefix),
            None => got == expected,
        };
        if !matches {
            failures.push(format!(
                "{what}:\n  expected: {expected}\n  got:      {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The key lists the check uses are exactly the keys Rectify writes.
#[test]
fn known_keys_match_the_model() {
    let doc = planned_item();
    let mut root: Vec<String> = doc.keys(automerge::ROOT).collect();
    let mut known: Vec<String> = ITEM_KEYS.iter().map(|k| (*k).to_owned()).collect();
    root.sort();
    known.sort();
    assert_eq!(root, known);
    let mut progress: Vec<String> = doc.keys(at(&doc, &["progress", "s1"])).collect();
    let mut known: Vec<String> = PROGRESS_KEYS.iter().map(|k| (*k).to_owned()).collect();
    progress.sort();
    known.sort();
    assert_eq!(progress, known);
}

// ---- The typed policy and the check agree -------------------------------------------------

/// The editors: two schools, a department (assigned like a school) and the office.
const EDITORS: [(Role, Option<&str>, &str); 4] = [
    (Role::Unit, Some("s1"), "school1"),
    (Role::Unit, Some("s2"), "school2"),
    (Role::Department, Some("jcg"), "dept-jcg"),
    (Role::Office, None, "office"),
];

/// An edit by editor `who`; units edit their own progress, the office picks a unit.
#[derive(Debug, Clone)]
enum Step {
    Narrative {
        who: usize,
        unit: usize,
        at: u8,
    },
    Tick {
        who: usize,
        unit: usize,
        measure: u8,
        done: bool,
    },
    Status {
        who: usize,
        unit: usize,
        to: usize,
    },
    Evidence {
        who: usize,
        unit: usize,
        sha: u8,
    },
    RemoveEvidence {
        who: usize,
        unit: usize,
        sha: u8,
    },
    Feedback {
        who: usize,
        unit: usize,
    },
    ItemStatus {
        to: usize,
    },
    Define {
        at: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..4usize;
    let unit = 0..3usize;
    prop_oneof![
        3 => (who.clone(), unit.clone(), any::<u8>()).prop_map(|(who, unit, at)| Step::Narrative { who, unit, at }),
        2 => (who.clone(), unit.clone(), 0..3u8, any::<bool>()).prop_map(|(who, unit, measure, done)| Step::Tick { who, unit, measure, done }),
        3 => (who.clone(), unit.clone(), 0..5usize).prop_map(|(who, unit, to)| Step::Status { who, unit, to }),
        1 => (who.clone(), unit.clone(), 0..4u8).prop_map(|(who, unit, sha)| Step::Evidence { who, unit, sha }),
        1 => (who.clone(), unit.clone(), 0..4u8).prop_map(|(who, unit, sha)| Step::RemoveEvidence { who, unit, sha }),
        1 => (who, unit).prop_map(|(who, unit)| Step::Feedback { who, unit }),
        1 => (0..3usize).prop_map(|to| Step::ItemStatus { to }),
        1 => any::<u8>().prop_map(|at| Step::Define { at }),
    ]
}

/// The unit an editor works on: its own, or the chosen one for the office.
fn target(who: usize, unit: usize) -> String {
    EDITORS[who]
        .1
        .unwrap_or(["s1", "s2", "jcg"][unit])
        .to_owned()
}

fn to_edit(step: &Step, item: &ItemDoc, n: usize) -> (usize, ItemEdit) {
    match *step {
        Step::Narrative { who, unit, at } => {
            let unit = target(who, unit);
            let current = item.progress[&unit].narrative.as_str();
            let boundaries: Vec<usize> = (0..=current.len())
                .filter(|i| current.is_char_boundary(*i))
                .collect();
            let pos = boundaries[boundaries.len() * usize::from(at) / 256];
            let text = format!("{}第{n}条{}", &current[..pos], &current[pos..]);
            (who, narrative(&unit, &text))
        }
        Step::Tick {
            who,
            unit,
            measure,
            done,
        } => (
            who,
            ItemEdit::TickMeasure {
                unit: target(who, unit),
                measure: format!("m{}", measure + 1),
                done,
            },
        ),
        Step::Status { who, unit, to } => (
            who,
            ItemEdit::UnitStatus {
                unit: target(who, unit),
                to: UnitStatus::ALL[to],
                reason: Some("请补充佐证".into()),
            },
        ),
        Step::Evidence { who, unit, sha } => {
            (who, evidence(&target(who, unit), &format!("{sha:02x}")))
        }
        Step::RemoveEvidence { who, unit, sha } => (
            who,
            ItemEdit::RemoveEvidence {
                unit: target(who, unit),
                sha256: rectify_shared::evidence::sha256_hex(format!("{sha:02x}").as_bytes()),
            },
        ),
        Step::Feedback { who, unit } => {
            let unit = target(who, unit);
            (who, feedback(&format!("f{n}"), Some(&unit)))
        }
        Step::ItemStatus { to } => (3, ItemEdit::ItemStatus(PublicStatus::ALL[to])),
        Step::Define { at } => {
            let title = format!("{}（{at}）", item.title.as_str());
            let measures = item
                .measures
                .iter()
                .map(|m| MeasureText::existing(&m.id, m.text.as_str()))
                .collect();
            (
                3,
                ItemEdit::Define {
                    title,
                    measures,
                    narrative: item.narrative.as_str().to_owned(),
                },
            )
        }
    }
}

/// A unit that is neither the editor's nor the one the edit is about.
fn different_unit(editor: Option<&str>, edit: &ItemEdit) -> EditContext {
    let about = match edit {
        ItemEdit::UnitNarrative { unit, .. }
        | ItemEdit::TickMeasure { unit, .. }
        | ItemEdit::UnitStatus { unit, .. }
        | ItemEdit::AddEvidence { unit, .. }
        | ItemEdit::RemoveEvidence { unit, .. } => Some(unit.as_str()),
        ItemEdit::AddFeedback { unit, .. } => unit.as_deref(),
        _ => None,
    };
    let other = ["s1", "s2", "jcg"]
        .into_iter()
        .find(|u| Some(*u) != editor && Some(*u) != about)
        .unwrap();
    match other {
        "jcg" => jcg(),
        unit => ctx(Role::Unit, Some(unit), unit),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Every edit `model::apply` accepts passes `check_change` for the editor who made it, and
    /// the same change is refused for a different unit and for a viewer.
    #[test]
    fn the_typed_policy_and_the_check_agree(steps in prop::collection::vec(step(), 1..20)) {
        let mut doc = planned_item();
        for (n, step) in steps.iter().enumerate() {
            let item = ItemDoc::load(&doc).unwrap();
            let (who, edit) = to_edit(step, &item, n);
            let (role, unit, user) = EDITORS[who];
            let editor = ctx(role, unit, user);
            let mut after = doc.fork();
            if model::apply(&mut after, &editor, edit.clone()).is_err() {
                continue; // refused by the typed policy: nothing to send
            }
            let checked = check_change(&editor.actor, &doc, &after);
            prop_assert_eq!(checked, Ok(()), "step {}: {:?} by {}", n, edit, user);
            if check_change(&viewer().actor, &doc, &after).is_ok() {
                doc = after;
                continue; // the edit changed nothing (ticking a ticked measure again, say)
            }
            let other = different_unit(unit, &edit);
            prop_assert!(
                check_change(&other.actor, &doc, &after).is_err(),
                "step {}: {:?} by {} was accepted for {}", n, edit, user, other.user
            );
            doc = after;
        }
    }
}

/// Names written by a change must be the sender's: a change made as `writer` and sent by
/// `sender` is allowed only when they are the same account.
#[test]
fn nobody_writes_in_another_accounts_name() {
    use rectify_shared::model::check_authorship;
    let base = planned_item();
    let s1_as = |user: &str| ctx(Role::Unit, Some("s1"), user);
    let office_as = |user: &str| ctx(Role::Office, None, user);
    let evidence_by = |by: &str| match evidence("s1", "bb") {
        ItemEdit::AddEvidence { unit, mut evidence } => {
            evidence.added_by = by.to_owned();
            ItemEdit::AddEvidence { unit, evidence }
        }
        _ => unreachable!(),
    };
    let sign_off = ItemEdit::UnitStatus {
        unit: "s1".into(),
        to: UnitStatus::SignedOff,
        reason: None,
    };
    let cases: Vec<(&str, EditContext, ItemEdit, &str, Option<&str>)> = vec![
        (
            "own narrative",
            s1_as("school1"),
            narrative("s1", "新进展"),
            "school1",
            None,
        ),
        (
            "narrative as a colleague",
            s1_as("school1b"),
            narrative("s1", "新进展"),
            "school1",
            Some("progress.s1.updated_by"),
        ),
        (
            "own feedback",
            s1_as("school1"),
            feedback("f9", Some("s1")),
            "school1",
            None,
        ),
        (
            "feedback as the office",
            s1_as("office"),
            feedback("f9", Some("s1")),
            "school1",
            Some("feedback.author"),
        ),
        (
            "own evidence",
            s1_as("school1"),
            evidence_by("school1"),
            "school1",
            None,
        ),
        (
            "evidence as another",
            s1_as("school1"),
            evidence_by("school2"),
            "school1",
            Some("evidence.added_by"),
        ),
        (
            "a review by the office",
            office_as("office"),
            sign_off.clone(),
            "office",
            None,
        ),
        (
            "a review in the leader's name",
            office_as("leader"),
            sign_off,
            "office",
            Some("by"),
        ),
    ];
    for (name, writer, edit, sender, refused) in cases {
        let mut base = base.clone();
        if matches!(edit, ItemEdit::UnitStatus { .. }) {
            apply(&mut base, &s1(), unit_status("s1", UnitStatus::Submitted));
        }
        let mut after = base.clone();
        // Whatever the workflow says about the edit itself, only the names are checked here.
        if model::apply(&mut after, &writer, edit).is_err() {
            panic!("{name}: the edit itself should apply");
        }
        let result = check_authorship(sender, &base, &after);
        match (refused, result) {
            (None, Ok(())) => {}
            (Some(field), Err(refusal)) => {
                let text = refusal.to_string();
                assert!(
                    text.contains(field) && text.contains(sender),
                    "{name}: {text}"
                );
            }
            (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

/// Two accounts of school s1 edit at once, which leaves conflicting values in s1's progress
/// entry; school s2's next edit must not touch them (the server would refuse it as changing
/// s1's progress).
#[test]
fn an_edit_leaves_other_units_conflicts_alone() {
    let base = planned_item();
    let mut one = base.clone();
    let mut other = base;
    other.set_actor(automerge::ActorId::random());
    let mut first = ctx(Role::Unit, Some("s1"), "school1a");
    first.now_ms = NOW + 1;
    apply(&mut one, &first, narrative("s1", "甲写的"));
    let mut colleague = ctx(Role::Unit, Some("s1"), "school1b");
    colleague.now_ms = NOW + 2;
    apply(&mut other, &colleague, narrative("s1", "乙写的"));
    one.merge(&mut other).unwrap();
    let progress = at(&one, &["progress", "s1"]);
    assert!(
        one.get_all(&progress, "updated_by").unwrap().len() > 1,
        "the test needs a conflict to start from"
    );

    let merged = one.clone();
    for (who, edit) in [
        (s2(), narrative("s2", "乙校进展")),
        (s2(), feedback("f7", Some("s2"))),
        (s2(), evidence("s2", "cc")),
    ] {
        let mut after = merged.clone();
        apply(&mut after, &who, edit);
        assert_eq!(check_change(&who.actor, &merged, &after), Ok(()));
        assert!(after.get_all(&progress, "updated_by").unwrap().len() > 1);
    }
}

/// A stock or modified client could write any string as a file id; the server refuses new
/// evidence that does not name its file by a SHA-256 (and `apply` never writes one).
#[test]
fn evidence_must_name_its_file_by_a_sha256() {
    use rectify_shared::model::check_authorship;
    let mut base = planned_item();
    for bad in ["../../rectify.db", "BB", ""] {
        let mut item = ItemDoc::load(&base).unwrap();
        let progress = item.progress.get_mut("s1").unwrap();
        progress.evidence.push(EvidenceRef {
            sha256: bad.into(),
            name: "x.jpg".into(),
            mime: "image/jpeg".into(),
            size: 1,
            caption: String::new(),
            added_by: "school1".into(),
            added_at_ms: NOW,
        });
        let mut after = base.fork();
        autosurgeon::reconcile(&mut after, &item).unwrap();
        assert!(
            matches!(
                check_authorship("school1", &base, &after),
                Err(model::ChangeRefusal::EvidenceId { .. })
            ),
            "{bad:?}"
        );
        let mut doc = base.fork();
        let edit = ItemEdit::AddEvidence {
            unit: "s1".into(),
            evidence: item.progress["s1"].evidence.last().unwrap().clone(),
        };
        assert!(model::apply(&mut doc, &s1(), edit).is_err(), "{bad:?}");
    }
}

/// Issue #20: who may name a stored evidence file in a change (the facts are the server's).
#[test]
fn issue_20_only_those_who_may_read_a_file_may_reference_it() {
    use rectify_shared::model::{StoredFile, check_reference};
    let actor = |role, unit: Option<&str>| Actor {
        role,
        unit: unit.map(UnitId::new),
    };
    let school1s = StoredFile {
        uploaded_by: "school1".into(),
        uploader_unit: Some(UnitId::new("pszx1")),
        readable_by_sender: false,
    };
    let readable = StoredFile {
        readable_by_sender: true,
        ..school1s.clone()
    };
    let sha = "ab".repeat(32);
    // (who, account, the file, allowed)
    let table = [
        (actor(Role::Unit, Some("pszx3")), "school2", None, true),
        (
            actor(Role::Unit, Some("pszx3")),
            "school2",
            Some(&school1s),
            false,
        ),
        (
            actor(Role::Unit, Some("pszx3")),
            "school2",
            Some(&readable),
            true,
        ),
        (
            actor(Role::Unit, Some("pszx1")),
            "school1",
            Some(&school1s),
            true,
        ),
        (
            actor(Role::Unit, Some("pszx1")),
            "school1b",
            Some(&school1s),
            true,
        ),
        (
            actor(Role::Department, Some("jcg")),
            "dept-jcg",
            Some(&school1s),
            false,
        ),
        (actor(Role::Unit, None), "orphan", Some(&school1s), false),
        (actor(Role::Office, None), "office", Some(&school1s), true),
    ];
    for (who, sender, file, allowed) in table {
        let got = check_reference(&who, sender, &sha, file);
        assert_eq!(got.is_ok(), allowed, "{sender} {file:?}: {got:?}");
    }
}

/// Issue #20 (item 5): names already written are history. As raw Automerge writes, what a
/// modified client could send: a school rewriting who added evidence already in its entry,
/// or emptying `updated_by`, is refused by `check_sent_change` (in `check_authorship`);
/// the same entry's honest edits pass.
#[test]
fn issue_20_names_already_written_stay() {
    use rectify_shared::model::check_sent_change;
    let mut base = planned_item();
    let put = |path: &'static [&'static str], key: &'static str, value: &'static str| {
        move |doc: &mut AutoCommit| {
            let obj = at(doc, path);
            doc.put(&obj, key, value).unwrap();
        }
    };
    let evidence0: &[&str] = &["progress", "s1", "evidence", "0"];
    let entry: &[&str] = &["progress", "s1"];
    // (case, who sends it, the raw write, the refusal's words or None when allowed)
    type Raw = Box<dyn Fn(&mut AutoCommit)>;
    let rows: Vec<(&str, EditContext, Raw, Option<&str>)> = vec![
        (
            "evidence's added_by rewritten to the sender",
            ctx(Role::Unit, Some("s1"), "school1b"),
            Box::new(put(evidence0, "added_by", "school1b")),
            Some("was added by 'school1'"),
        ),
        (
            "evidence's added_by rewritten to the office",
            s1(),
            Box::new(put(evidence0, "added_by", "office")),
            Some("was added by 'school1'"),
        ),
        (
            "evidence's added_by emptied",
            s1(),
            Box::new(put(evidence0, "added_by", "")),
            Some("was added by 'school1'"),
        ),
        (
            "evidence's caption changed, its author kept",
            s1(),
            Box::new(put(evidence0, "caption", "新的说明")),
            None,
        ),
        (
            "updated_by emptied",
            s1(),
            Box::new(put(entry, "updated_by", "")),
            Some("`progress.s1.updated_by` names ''"),
        ),
        (
            "updated_by emptied with a narrative edit",
            s1(),
            Box::new(|doc: &mut AutoCommit| {
                let obj = at(doc, &["progress", "s1"]);
                doc.put(&obj, "updated_by", "").unwrap();
                let text = at(doc, &["progress", "s1", "narrative"]);
                doc.splice_text(&text, 0, 0, "又").unwrap();
            }),
            Some("`progress.s1.updated_by` names ''"),
        ),
        (
            "updated_by emptied by the office",
            office(),
            Box::new(put(entry, "updated_by", "")),
            Some("`progress.s1.updated_by` names ''"),
        ),
        (
            "updated_by set to the sender",
            ctx(Role::Unit, Some("s1"), "school1b"),
            Box::new(put(entry, "updated_by", "school1b")),
            None,
        ),
    ];
    for (case, who, write, refused) in rows {
        let mut after = base.fork();
        write(&mut after);
        after.commit_with(CommitOptions::default().with_message("{\"user\":\"x\"}"));
        let got = check_sent_change(&who.actor, &who.user, &base, &after);
        match (refused, got) {
            (None, Ok(())) => {}
            (Some(words), Err(refusal)) => {
                let text = refusal.to_string();
                assert!(text.contains(words), "{case}: {text}");
            }
            (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
        }
    }
}
