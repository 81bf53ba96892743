//! Stable measure ids (issue #21): deleting, reordering, adding and re-importing measures never
//! moves a tick, an id is never given twice, and a school's tick on a measure the office
//! removed while the school was offline is accepted (and counts for nothing), while a tick on
//! a measure the item never had is refused.
//!
//! Each case is a list of steps on an item created with the measures A, B, C (`m1`, `m2`,
//! `m3`, as stored items have them) and assigned to school s1; the item is then shown as its
//! current measures, its removed ones, s1's ticks and what the server said to each sync.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc};
use expect_test::{Expect, expect};
use rectify_shared::ids::UnitId;
use rectify_shared::model::{
    self, EditContext, ItemDoc, ItemEdit, ItemPlan, Measure, MeasureText, check_sent_change,
};
use rectify_shared::policy::{Actor, Role};
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// What happens, in order.
enum Step {
    /// The office sets the measure list on the server: `"A"` keeps the measure now reading A,
    /// `"A>A2"` keeps it with the text A2, `"+D"` adds a new measure D.
    Define(&'static [&'static str]),
    /// The office re-imports the report with these measure texts (`rectify import`).
    Reimport(&'static [&'static str]),
    /// School s1 ticks the measure reading this text (or removed with it), online.
    Tick(&'static str),
    /// School s1's device goes offline with a copy of the server's document.
    GoOffline,
    /// School s1 ticks, offline, the measure its copy shows with this text.
    TickOffline(&'static str),
    /// School s1's modified client ticks the id `m9`, which the item never had, offline.
    TickUnknownOffline,
    /// The device comes back: its changes reach the server, which checks them.
    Reconnect,
}

/// The id of the measure reading `text` now, or removed with that text.
fn id_of(item: &ItemDoc, text: &str) -> String {
    item.current_measures()
        .find(|m| m.text.as_str() == text)
        .map(|m| m.id.clone())
        .or_else(|| {
            let removed = item.removed_measures.iter().find(|r| r.text == text)?;
            Some(removed.id.clone())
        })
        .unwrap_or_else(|| panic!("no measure reads '{text}'"))
}

fn tick(doc: &mut AutoCommit, text: &str) {
    let measure = id_of(&ItemDoc::load(doc).unwrap(), text);
    let edit = ItemEdit::TickMeasure {
        unit: "s1".into(),
        measure,
        done: true,
    };
    model::apply(doc, &school(), edit).unwrap();
}

fn check(steps: &[Step], expected: &Expect) {
    let mut item = ItemDoc::new("campaign", "1.1", "问题");
    item.measures = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(i, text)| Measure {
            id: format!("m{}", i + 1),
            text: (*text).into(),
        })
        .collect();
    let mut server = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemPlan {
        units: vec!["s1".into()],
        ..ItemPlan::default()
    };
    model::apply(&mut server, &office(), ItemEdit::Plan(plan)).unwrap();
    let mut device: Option<AutoCommit> = None;
    let mut said = Vec::new();
    // Every id the item has had, with the text it was made with: an id is never given twice.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut note_ids = |item: &ItemDoc| {
        for measure in &item.measures {
            ids.entry(measure.id.clone())
                .or_insert_with(|| measure.text.as_str().to_owned());
        }
    };
    note_ids(&ItemDoc::load(&server).unwrap());
    for step in steps {
        match step {
            Step::Define(list) => {
                let item = ItemDoc::load(&server).unwrap();
                let measures = list
                    .iter()
                    .map(|entry| match entry.strip_prefix('+') {
                        Some(new) => MeasureText::new(new),
                        None => {
                            let (old, new) = entry.split_once('>').unwrap_or((entry, entry));
                            MeasureText::existing(id_of(&item, old), new)
                        }
                    })
                    .collect();
                let edit = ItemEdit::Define {
                    title: "问题".into(),
                    measures,
                    narrative: String::new(),
                };
                model::apply(&mut server, &office(), edit).unwrap();
            }
            Step::Reimport(texts) => {
                let mut current = ItemDoc::load(&server).unwrap();
                let mut imported = ItemDoc::new("campaign", "1.1", "问题");
                imported.measures = texts
                    .iter()
                    .enumerate()
                    .map(|(i, text)| Measure {
                        id: format!("m{}", i + 1),
                        text: (*text).into(),
                    })
                    .collect();
                model::refresh_from_report(&mut current, &imported, None);
                model::update_item(&mut server, &current, "office", "import", 0).unwrap();
            }
            Step::Tick(text) => tick(&mut server, text),
            Step::GoOffline => device = Some(server.fork()),
            Step::TickOffline(text) => tick(device.as_mut().unwrap(), text),
            Step::TickUnknownOffline => {
                let device = device.as_mut().unwrap();
                let done = device
                    .get(automerge::ROOT, "progress")
                    .unwrap()
                    .and_then(|(_, progress)| device.get(&progress, "s1").unwrap())
                    .and_then(|(_, entry)| device.get(&entry, "measures_done").unwrap())
                    .map(|(_, done)| done)
                    .unwrap();
                device.put(&done, "m9", true).unwrap();
                device.commit();
            }
            Step::Reconnect => {
                let mut merged = server.clone();
                merged.merge(device.as_mut().unwrap()).unwrap();
                match check_sent_change(&school().actor, "school1", &server, &merged) {
                    Ok(()) => {
                        server = merged;
                        said.push("accepted".to_owned());
                    }
                    Err(refusal) => said.push(format!("refused: {refusal}")),
                }
            }
        }
        note_ids(&ItemDoc::load(&server).unwrap());
    }
    let item = ItemDoc::load(&server).unwrap();
    // Fresh ids are random: shown as `new1`, `new2` … in the order they appear.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut name = |id: &str| -> String {
        if id.starts_with("m-") {
            let next = format!("new{}", names.len() + 1);
            names.entry(id.to_owned()).or_insert(next).clone()
        } else {
            id.to_owned()
        }
    };
    let mut out = String::new();
    let current: Vec<String> = item
        .current_measures()
        .map(|m| format!("{}={}", name(&m.id), m.text.as_str()))
        .collect();
    let removed: Vec<String> = (item.removed_measures.iter())
        .map(|r| format!("{}={}", name(&r.id), r.text))
        .collect();
    let progress = &item.progress["s1"];
    let ticked: Vec<String> = (progress.measures_done.iter())
        .filter(|(_, done)| **done)
        .map(|(id, _)| name(id))
        .collect();
    let (done, total) = item.measures_done("s1");
    let on_removed: Vec<&str> = (item.ticked_removed_measures("s1").into_iter())
        .map(|r| r.text.as_str())
        .collect();
    writeln!(out, "measures: {}", current.join(" ")).unwrap();
    writeln!(out, "removed: {}", removed.join(" ")).unwrap();
    writeln!(out, "s1 ticked: {}", ticked.join(" ")).unwrap();
    writeln!(out, "s1 done: {done}/{total}").unwrap();
    writeln!(out, "s1 ticked removed: {}", on_removed.join(" ")).unwrap();
    for line in said {
        writeln!(out, "sync: {line}").unwrap();
    }
    expected.assert_eq(&out);
    // However the list changed, an id names one measure only, for ever.
    let all: Vec<&str> = (item.measures.iter().map(|m| m.id.as_str()))
        .chain(item.removed_measures.iter().map(|r| r.id.as_str()))
        .collect();
    let mut distinct = all.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "an id is listed twice: {all:?}");
    for measure in &item.removed_measures {
        assert_eq!(
            ids.get(&measure.id),
            Some(&measure.text),
            "{} was given to another text",
            measure.id
        );
    }
}

#[test]
fn deleting_the_first_of_three_moves_no_tick() {
    check(
        &[Step::Tick("A"), Step::Tick("C"), Step::Define(&["B", "C"])],
        &expect![[r#"
            measures: m2=B m3=C
            removed: m1=A
            s1 ticked: m1 m3
            s1 done: 1/2
            s1 ticked removed: A
        "#]],
    );
}

#[test]
fn reordering_moves_no_tick() {
    check(
        &[Step::Tick("B"), Step::Define(&["C", "A", "B>B改"])],
        &expect![[r#"
            measures: m3=C m1=A m2=B改
            removed: 
            s1 ticked: m2
            s1 done: 1/3
            s1 ticked removed: 
        "#]],
    );
}

#[test]
fn a_measure_added_after_a_delete_never_reuses_an_id() {
    check(
        &[
            Step::Tick("C"),
            Step::Define(&["A", "B"]),
            Step::Define(&["A", "B", "+D"]),
            Step::Define(&["A", "+E", "D"]),
        ],
        &expect![[r#"
            measures: m1=A new1=E new2=D
            removed: m3=C m2=B
            s1 ticked: m3
            s1 done: 0/3
            s1 ticked removed: C
        "#]],
    );
}

#[test]
fn a_re_import_keeps_ticks_on_the_texts_it_still_has() {
    check(
        &[
            Step::Tick("A"),
            Step::Tick("B"),
            Step::Tick("C"),
            Step::Reimport(&["C", "A", "B（修订）", "D"]),
        ],
        &expect![[r#"
            measures: m3=C m1=A new1=B（修订） new2=D
            removed: m2=B
            s1 ticked: m1 m2 m3
            s1 done: 2/4
            s1 ticked removed: B
        "#]],
    );
}

#[test]
fn re_importing_the_same_measures_changes_nothing() {
    check(
        &[Step::Tick("B"), Step::Reimport(&["A", "B", "C"])],
        &expect![[r#"
            measures: m1=A m2=B m3=C
            removed: 
            s1 ticked: m2
            s1 done: 1/3
            s1 ticked removed: 
        "#]],
    );
}

#[test]
fn a_tick_on_a_measure_removed_while_the_school_was_offline_is_accepted() {
    check(
        &[
            Step::GoOffline,
            Step::Define(&["B", "C"]),
            Step::TickOffline("C"),
            Step::TickOffline("A"),
            Step::Reconnect,
            Step::Define(&["B", "C", "+D"]),
        ],
        &expect![[r#"
            measures: m2=B m3=C new1=D
            removed: m1=A
            s1 ticked: m1 m3
            s1 done: 1/3
            s1 ticked removed: A
            sync: accepted
        "#]],
    );
}

#[test]
fn a_tick_on_a_measure_the_item_never_had_is_refused() {
    check(
        &[
            Step::GoOffline,
            Step::Define(&["B", "C"]),
            Step::TickOffline("C"),
            Step::TickUnknownOffline,
            Step::Reconnect,
        ],
        &expect![[r#"
            measures: m2=B m3=C
            removed: m1=A
            s1 ticked: 
            s1 done: 0/2
            s1 ticked removed: 
            sync: refused: no measure 'm9' in this item, so it cannot be ticked
        "#]],
    );
}

/// The item A, B, C (`m1`…`m3`) assigned to s1, as stored today.
fn item_abc() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "1.1", "问题");
    item.measures = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(i, text)| Measure {
            id: format!("m{}", i + 1),
            text: (*text).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemPlan {
        units: vec!["s1".into()],
        ..ItemPlan::default()
    };
    model::apply(&mut doc, &office(), ItemEdit::Plan(plan)).unwrap();
    doc
}

fn define(measures: Vec<MeasureText>) -> ItemEdit {
    ItemEdit::Define {
        title: "问题".into(),
        measures,
        narrative: String::new(),
    }
}

#[test]
fn a_removed_measure_does_not_come_back_and_is_not_ticked_anew() {
    let mut doc = item_abc();
    let remove_a = define(vec![
        MeasureText::existing("m2", "B"),
        MeasureText::existing("m3", "C"),
    ]);
    model::apply(&mut doc, &office(), remove_a).unwrap();
    let heads = doc.get_heads();
    // (who, edit, what the app says)
    let cases = [
        (
            school(),
            ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m1".into(),
                done: true,
            },
            "the office removed the measure 'A' from this item, so it cannot be ticked",
        ),
        (
            office(),
            define(vec![MeasureText::existing("m1", "A")]),
            "the measure 'A' was removed from this item and does not come back: add its text as a new measure",
        ),
        (
            office(),
            define(vec![MeasureText::existing("m 1", "A")]),
            "'m 1' is not a measure id: 1 to 64 letters, digits, '-' or '_'",
        ),
        (
            office(),
            define(vec![
                MeasureText::existing("m2", "B"),
                MeasureText::existing("m2", "B"),
            ]),
            "the measure 'm2' is listed twice",
        ),
    ];
    for (who, edit, expected) in cases {
        let error = model::apply(&mut doc, &who, edit).unwrap_err();
        assert_eq!(error.to_string(), expected);
        assert_eq!(doc.get_heads(), heads, "a refused edit wrote something");
    }
    // Nor may the office's client forget a removed measure: its ticks would lose their text.
    let mut forgetful = doc.fork();
    let removed = forgetful
        .get(automerge::ROOT, "removed_measures")
        .unwrap()
        .unwrap()
        .1;
    forgetful.delete(&removed, 0).unwrap();
    forgetful.commit();
    let refusal = model::check_change(&office().actor, &doc, &forgetful).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "the measure 'A' (m1) is gone from the item without a trace: a measure the office removes \
         is kept in `removed_measures` with its text, so that ticks on it stay readable and its \
         id is never given again"
    );
}

#[test]
fn two_office_devices_removing_measures_at_once_both_count() {
    // An item stored before `removed_measures` existed: each device makes the list, and the
    // two lists conflict once merged; neither removal may be lost in the conflict.
    let mut doc = item_abc();
    doc.delete(automerge::ROOT, "removed_measures").unwrap();
    doc.commit();
    let mut laptop = doc.fork();
    let mut phone = doc.fork();
    let without = |keep: [(&str, &str); 2]| {
        define(
            keep.iter()
                .map(|(id, text)| MeasureText::existing(*id, *text))
                .collect(),
        )
    };
    model::apply(&mut laptop, &office(), without([("m2", "B"), ("m3", "C")])).unwrap();
    model::apply(&mut phone, &office(), without([("m1", "A"), ("m3", "C")])).unwrap();
    laptop.merge(&mut phone).unwrap();
    let item = ItemDoc::load(&laptop).unwrap();
    let current: Vec<&str> = item.current_measures().map(|m| m.id.as_str()).collect();
    let mut removed: Vec<&str> = (item.removed_measures.iter())
        .map(|r| r.id.as_str())
        .collect();
    removed.sort_unstable();
    assert_eq!((current, removed), (vec!["m3"], vec!["m1", "m2"]));
    // The next edit keeps both removals, whichever list won.
    model::apply(&mut laptop, &office(), define(vec![MeasureText::new("D")])).unwrap();
    let item = ItemDoc::load(&laptop).unwrap();
    let mut removed: Vec<&str> = (item.removed_measures.iter())
        .map(|r| r.id.as_str())
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, vec!["m1", "m2", "m3"]);
}
