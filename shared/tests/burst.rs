//! A typing burst is one change (`burst`, `model::apply_at`): when a burst ends, what it
//! merges with, and what it saves.

use Step::{Clock, End, Type};
use automerge::AutoCommit;
use rectify_shared::burst::{Bursts, LONGEST_MS, QUIET_MS};
use rectify_shared::ids::UnitId;
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{Actor, Role};

/// One step of a script: a keystroke in a field, the clock reaching a time, or the caller
/// ending the bursts of a field (blur, leaving the page).
enum Step {
    Type(&'static str, f64, &'static str),
    Clock(f64),
    End(&'static str),
}

/// Runs `steps` and lists what ended when, as `time field value`; the value a burst keeps
/// is the first letter typed and the last, so a test sees that the start is remembered.
fn check(steps: &[Step], expected: &[&str]) {
    let mut bursts: Bursts<&str, (String, String)> = Bursts::default();
    let mut ended = Vec::new();
    let mut now = 0.0;
    for step in steps {
        match step {
            Type(field, at, text) => {
                now = *at;
                bursts.typed(field, now, |held| match held {
                    Some((first, _)) => (first, (*text).to_owned()),
                    None => ((*text).to_owned(), (*text).to_owned()),
                });
            }
            Clock(at) => {
                // A caller's timer fires at `next_due_ms`, never before.
                now = *at;
                let due = bursts.take_due(now);
                if let Some(next) = bursts.next_due_ms() {
                    assert!(next > now, "a burst due at {next} was not taken at {now}");
                }
                for (field, (first, last)) in due {
                    ended.push(format!("{now} {field} {first}..{last}"));
                }
            }
            End(which) => {
                for (field, (first, last)) in bursts.take_where(|f| f == which) {
                    ended.push(format!("{now} {field} {first}..{last} (ended)"));
                }
            }
        }
    }
    assert_eq!(ended, expected);
}

#[test]
fn a_burst_ends_after_quiet_time() {
    check(
        &[
            Type("a", 0.0, "x"),
            Type("a", 400.0, "xy"),
            Clock(1899.0),
            Type("a", 1000.0, "xyz"),
            Clock(2499.0),
            Clock(2500.0),
            Clock(9000.0),
        ],
        &["2500 a x..xyz"],
    );
}

#[test]
fn a_burst_without_pause_ends_after_the_longest_time() {
    let mut steps: Vec<Step> = (0..30)
        .map(|i| Type("a", f64::from(i) * 500.0, "k"))
        .collect();
    steps.insert(21, Clock(LONGEST_MS));
    assert_eq!(QUIET_MS, 1500.0);
    check(&steps, &["10000 a k..k"]);
}

#[test]
fn fields_end_on_their_own_and_blur_ends_one_at_once() {
    check(
        &[
            Type("a", 0.0, "a1"),
            Type("b", 1000.0, "b1"),
            Clock(1500.0),
            Type("b", 1600.0, "b2"),
            End("b"),
            End("b"),
            Type("b", 1700.0, "b3"),
            Clock(3200.0),
        ],
        &["1500 a a1..a1", "1600 b b1..b2 (ended)", "3200 b b3..b3"],
    );
}

#[test]
fn nothing_open_is_never_due() {
    let mut bursts: Bursts<u8, ()> = Bursts::default();
    assert_eq!(bursts.next_due_ms(), None);
    assert!(bursts.take_due(f64::MAX).is_empty());
    bursts.typed(1, 5.0, |_| ());
    assert_eq!(bursts.next_due_ms(), Some(5.0 + QUIET_MS));
    assert_eq!(bursts.len(), 1);
}

fn school() -> EditContext {
    EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("s1")),
        },
        user: "school1".into(),
        now_ms: 1_700_000_000_000,
    }
}

fn office() -> EditContext {
    EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: 1_700_000_000_000,
    }
}

/// An item assigned to s1, whose narrative is `text`.
fn item_with(text: &str) -> AutoCommit {
    let item = ItemDoc::new("campaign", "1.1", "制度不完善。");
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: None,
        units: vec!["s1".into()],
        deadline: None,
        timing: Some(Timing::ByDeadline),
    };
    model::apply(&mut doc, &office(), ItemEdit::Plan(plan)).unwrap();
    model::apply(&mut doc, &school(), narrative(text)).unwrap();
    doc
}

fn narrative(text: &str) -> ItemEdit {
    ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: text.into(),
    }
}

fn text_of(doc: &AutoCommit) -> String {
    ItemDoc::load(doc).unwrap().progress["s1"]
        .narrative
        .as_str()
        .to_owned()
}

/// Another device's edit merged in while the school was typing is kept: the burst is made
/// at the heads it started from and merged, not written over the text as it is now.
#[test]
fn a_burst_keeps_what_another_device_wrote_meanwhile() {
    let mut doc = item_with("已整改。");
    let base = doc.get_heads();
    // The laptop adds a line at the start while the phone types at the end.
    let mut laptop = doc.fork();
    model::apply(&mut laptop, &school(), narrative("【复查】已整改。")).unwrap();
    doc.merge(&mut laptop).unwrap();
    model::apply_at(&mut doc, &base, &school(), narrative("已整改。已公示。")).unwrap();
    assert_eq!(text_of(&doc), "【复查】已整改。已公示。");
    // With the doc unchanged since the base, the edit is one plain change.
    let heads = doc.get_heads();
    let before = doc.get_changes(&[]).len();
    model::apply_at(
        &mut doc,
        &heads,
        &school(),
        narrative("【复查】已整改。已公示！"),
    )
    .unwrap();
    assert_eq!(doc.get_changes(&[]).len(), before + 1);
    assert_eq!(text_of(&doc), "【复查】已整改。已公示！");
}

/// A base the document does not have (reset to the server's copy after a refusal): the
/// edit is made on the document as it is.
#[test]
fn a_burst_on_an_unknown_base_is_made_on_the_document_as_it_is() {
    let mut doc = item_with("甲");
    let unknown = item_with("乙").get_heads();
    model::apply_at(&mut doc, &unknown, &school(), narrative("甲乙")).unwrap();
    assert_eq!(text_of(&doc), "甲乙");
}

/// The measurement behind "a typing burst is one change": a 200-character paragraph typed
/// key by key, once as one change per keystroke (before) and once as one burst. Stored is
/// what the device writes to IndexedDB (a chunk per flush, `save_after` the last saved
/// heads), sent the changes a reconnect uploads (their encoded bytes).
#[test]
fn a_typed_paragraph_as_one_change_costs_a_fraction_of_the_bytes() {
    let paragraph: String = "已召开专题会议研究整改工作，制定整改方案，明确责任人和完成时限。"
        .chars()
        .cycle()
        .take(200)
        .collect();
    let measure = |per_key: bool| {
        let mut doc = item_with("");
        let start = doc.get_heads();
        let mut saved = start.clone();
        let mut stored = 0;
        let mut typed = String::new();
        for c in paragraph.chars() {
            typed.push(c);
            if per_key {
                model::apply(&mut doc, &school(), narrative(&typed)).unwrap();
                stored += doc.save_after(&saved).len();
                saved = doc.get_heads();
            }
        }
        if !per_key {
            model::apply_at(&mut doc, &start, &school(), narrative(&typed)).unwrap();
            stored += doc.save_after(&saved).len();
        }
        assert_eq!(text_of(&doc), paragraph);
        let changes = doc.get_changes(&start);
        let sent: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        (changes.len(), stored, sent)
    };
    let (keys, keys_stored, keys_sent) = measure(true);
    let (burst, burst_stored, burst_sent) = measure(false);
    eprintln!(
        "200 characters: per keystroke {keys} changes, {keys_stored} B stored, {keys_sent} B sent; \
         one burst {burst} change, {burst_stored} B stored, {burst_sent} B sent"
    );
    assert_eq!((keys, burst), (200, 1));
    assert!(
        burst_stored * 10 < keys_stored,
        "{burst_stored} vs {keys_stored}"
    );
    assert!(burst_sent * 10 < keys_sent, "{burst_sent} vs {keys_sent}");
}
