//! Rescuing refused work (`model::rescue`): a device's work is read back as edits and made
//! again on the server's copy; each case lists what happens to each edit.

use automerge::AutoCommit;
use rectify_shared::ids::UnitId;
use rectify_shared::model::{
    self, EditContext, EvidenceRef, ItemDoc, ItemEdit, ItemPlan, MeasureText, Timing,
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

fn school() -> EditContext {
    ctx(Role::Unit, Some("s1"), "school1")
}

fn plan(units: &[&str]) -> ItemPlan {
    ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: units.iter().map(|u| (*u).to_owned()).collect(),
        deadline: Some("2024-06-30".into()),
        timing: Some(Timing::ByDeadline),
    }
}

/// An item with two measures, assigned to s1 and s2; s1 has started.
fn planned_item() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "2.7.2", "采购项目管理制度不完善。");
    item.measures = ["一", "二"]
        .iter()
        .enumerate()
        .map(|(i, t)| model::Measure {
            id: format!("m{}", i + 1),
            text: (*t).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    model::apply(&mut doc, &office(), ItemEdit::Plan(plan(&["s1", "s2"]))).unwrap();
    let start = ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: "已开始。".into(),
    };
    model::apply(&mut doc, &school(), start).unwrap();
    doc
}

fn photo() -> EvidenceRef {
    EvidenceRef {
        sha256: "ab".repeat(32),
        name: "陪餐记录.jpg".into(),
        mime: "image/jpeg".into(),
        size: 1000,
        caption: String::new(),
        added_by: "school1".into(),
        added_at_ms: 0,
    }
}

fn narrative(text: &str) -> ItemEdit {
    ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: text.into(),
    }
}

fn status(unit: &str, to: UnitStatus, reason: Option<&str>) -> ItemEdit {
    ItemEdit::UnitStatus {
        unit: unit.into(),
        to,
        reason: reason.map(str::to_owned),
    }
}

/// The school's offline day: text, a tick, a photo, a question, and a request for sign-off.
fn school_day() -> Vec<ItemEdit> {
    vec![
        narrative("已开始。已建立台账。"),
        ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m1".into(),
            done: true,
        },
        ItemEdit::AddEvidence {
            unit: "s1".into(),
            evidence: photo(),
        },
        ItemEdit::AddFeedback {
            id: "f-school".into(),
            unit: Some("s1".into()),
            text: "第二项措施需要财务配合。".into(),
        },
        status("s1", UnitStatus::Submitted, None),
    ]
}

/// Runs a case: `device` edits made as `who` on a copy of the planned item, `server` edits
/// made meanwhile on the server's copy; then the device's work is read back as edits and
/// made again on the server's copy. Returns each edit's op and outcome: `ok`, `already`, or
/// the refusal's message.
fn rescue(
    who: &EditContext,
    device: Vec<ItemEdit>,
    server: Vec<(EditContext, ItemEdit)>,
) -> Vec<(String, String)> {
    let mut base = planned_item();
    let confirmed = base.get_heads();
    let mut mine = base.fork();
    for edit in device {
        model::apply(&mut mine, who, edit).unwrap();
    }
    for (ctx, edit) in server {
        model::apply(&mut base, &ctx, edit).unwrap();
    }
    let (before, after) = model::rescue::base_and_mine(&mut mine, &confirmed).unwrap();
    let before = before.expect("the confirmed heads are in the device's document");
    let mut outcomes = Vec::new();
    for edit in model::rescue::edits_between(Some(&before), &after) {
        let op = edit.op().to_owned();
        let now = ItemDoc::load(&base).unwrap();
        let outcome = if model::rescue::is_already(&now, &edit) {
            "already".to_owned()
        } else {
            match model::apply(&mut base, who, edit) {
                Ok(()) => "ok".to_owned(),
                Err(err) => err.to_string(),
            }
        };
        outcomes.push((op, outcome));
    }
    outcomes
}

fn expect(outcomes: &[(String, String)], expected: &[(&str, &str)]) {
    let got: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|(op, outcome)| (op.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_school_s_offline_day_is_made_again_on_the_server_s_copy() {
    // Nothing changed on the server meanwhile: everything goes through again.
    expect(
        &rescue(&school(), school_day(), vec![]),
        &[
            ("unit_narrative", "ok"),
            ("tick_measure", "ok"),
            ("add_evidence", "ok"),
            ("add_feedback", "ok"),
            ("unit_status", "ok"),
        ],
    );
}

#[test]
fn what_a_sign_off_locked_meanwhile_is_refused_and_the_rest_goes_through() {
    let locked = "已销号: the office signed off this unit's work, so it can no longer be changed; \
                  ask the office (领导小组办公室) to reopen it (退回) first";
    let sign_off = vec![
        (school(), status("s1", UnitStatus::Submitted, None)),
        (office(), status("s1", UnitStatus::SignedOff, None)),
    ];
    expect(
        &rescue(&school(), school_day(), sign_off),
        &[
            ("unit_narrative", locked),
            ("tick_measure", locked),
            ("add_evidence", locked),
            // A question to the office is not part of the entry: it still goes through.
            ("add_feedback", "ok"),
            ("unit_status", locked),
        ],
    );
}

#[test]
fn what_the_server_has_already_is_not_made_twice() {
    // Another device of the same school made the same tick and added the same photo.
    let same = vec![
        (
            school(),
            ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m1".into(),
                done: true,
            },
        ),
        (
            school(),
            ItemEdit::AddEvidence {
                unit: "s1".into(),
                evidence: photo(),
            },
        ),
    ];
    expect(
        &rescue(&school(), school_day(), same),
        &[
            ("unit_narrative", "ok"),
            ("tick_measure", "already"),
            ("add_evidence", "already"),
            ("add_feedback", "ok"),
            ("unit_status", "ok"),
        ],
    );
}

#[test]
fn a_file_removed_on_the_device_is_removed_again() {
    let mut device = school_day();
    device.truncate(3);
    device.push(ItemEdit::RemoveEvidence {
        unit: "s1".into(),
        sha256: photo().sha256,
    });
    // The photo was added and removed on the device: nothing to do about it.
    expect(
        &rescue(&school(), device, vec![]),
        &[("unit_narrative", "ok"), ("tick_measure", "ok")],
    );
}

#[test]
fn the_office_s_own_work_is_made_again_too() {
    let office_day = vec![
        ItemEdit::Define {
            title: "采购项目管理制度不完善，需修订。".into(),
            measures: vec![
                MeasureText::new("一"),
                MeasureText::new("二"),
                MeasureText::new("三"),
            ],
            narrative: "已修订制度。".into(),
        },
        ItemEdit::Plan(plan(&["s1"])),
        ItemEdit::AddFeedback {
            id: "f-office".into(),
            unit: None,
            text: "请各校按时完成。".into(),
        },
    ];
    expect(
        &rescue(&office(), office_day, vec![]),
        &[("define", "ok"), ("plan", "ok"), ("add_feedback", "ok")],
    );
}

#[test]
fn a_return_keeps_its_reason_and_a_closed_item_needs_its_units_signed_off() {
    let mut base = planned_item();
    model::apply(
        &mut base,
        &school(),
        status("s1", UnitStatus::Submitted, None),
    )
    .unwrap();
    let confirmed = base.get_heads();
    let mut mine = base.fork();
    model::apply(
        &mut mine,
        &office(),
        status("s1", UnitStatus::Returned, Some("缺少佐证材料")),
    )
    .unwrap();
    let (before, after) = model::rescue::base_and_mine(&mut mine, &confirmed).unwrap();
    assert_eq!(
        model::rescue::edits_between(before.as_ref(), &after),
        vec![status("s1", UnitStatus::Returned, Some("缺少佐证材料"))]
    );

    // Closing the item is the last edit, after the units' moves it depends on.
    let mut mine = base.fork();
    model::apply(
        &mut mine,
        &office(),
        status("s1", UnitStatus::SignedOff, None),
    )
    .unwrap();
    // s2 has no account: the office records its request, then signs it off.
    model::apply(
        &mut mine,
        &office(),
        status("s2", UnitStatus::Submitted, None),
    )
    .unwrap();
    model::apply(
        &mut mine,
        &office(),
        status("s2", UnitStatus::SignedOff, None),
    )
    .unwrap();
    model::apply(
        &mut mine,
        &office(),
        ItemEdit::ItemStatus(PublicStatus::Done),
    )
    .unwrap();
    let (before, after) = model::rescue::base_and_mine(&mut mine, &confirmed).unwrap();
    let edits = model::rescue::edits_between(before.as_ref(), &after);
    let ops: Vec<&str> = edits.iter().map(ItemEdit::op).collect();
    assert_eq!(
        edits[1..3],
        [
            status("s2", UnitStatus::Submitted, None),
            status("s2", UnitStatus::SignedOff, None)
        ],
        "the request the office recorded comes back before its decision"
    );
    assert_eq!(
        ops,
        ["unit_status", "unit_status", "unit_status", "item_status"]
    );
    let mut server = base.fork();
    for edit in edits {
        model::apply(&mut server, &office(), edit).unwrap();
    }
    assert_eq!(ItemDoc::load(&server).unwrap().status, PublicStatus::Done);
}

#[test]
fn without_a_confirmed_base_only_what_the_server_lacks_is_made_again() {
    let mut base = planned_item();
    let mut mine = base.fork();
    model::apply(&mut mine, &school(), narrative("已开始。整改完毕。")).unwrap();
    // Heads this document never had: the sync state was lost.
    let unknown = vec![automerge::ChangeHash([7; 32])];
    let (before, after) = model::rescue::base_and_mine(&mut mine, &unknown).unwrap();
    assert!(before.is_none());
    let server = ItemDoc::load(&base).unwrap();
    let to_make: Vec<ItemEdit> = model::rescue::edits_between(None, &after)
        .into_iter()
        .filter(|edit| !model::rescue::is_already(&server, edit))
        .collect();
    assert_eq!(to_make, vec![narrative("已开始。整改完毕。")]);
    for edit in to_make {
        model::apply(&mut base, &school(), edit).unwrap();
    }
}
