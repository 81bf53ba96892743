//! An item's history, read from its document's own changes: who changed what, and when.
//!
//! Every change made through [`model::apply`] carries its author and its edit in the commit
//! message (`{"user":…,"op":…}`) and the device's clock as its time. The timeline groups a
//! typing session's hundreds of one-keystroke changes into one line and says, field by field,
//! what the line changed. It compares the item before and after the line rather than reading
//! the operations, so a merged concurrent edit reads like any other.
//!
//! What a [`HistoryDetail`] holds, by field (a [`Field`], named by its key):
//! - text and single values (`title`, `office_narrative`, `narrative`, `plan.*`,
//!   `item_status`, `status`): the whole value before and after; statuses and timings as
//!   their keys, a missing value as `""`. A unit without progress yet counts as `not_started`.
//! - lists (`measures`, `plan.units`): one element per line.
//! - things added or removed one at a time (`measure` ticks, `evidence`, `feedback`,
//!   `review`): one detail each, `before` empty when it was added and `after` empty when it
//!   was removed. The value is the measure's text, the file name, the message, or the
//!   decision's key followed by `: reason` when there is one (`returned: 照片不清楚`).

use crate::api::{HistoryDetail, HistoryEntry};
use crate::ids::UnitId;
use crate::model::v2::{ItemDocV2, UnitWorkDoc};
use crate::model::{self, ItemDoc};
use crate::workflow::UnitStatus;
use automerge::{AutoCommit, Change, ChangeHash};
use std::collections::{BTreeMap, BTreeSet};

/// A pause longer than this between two changes ends a line, even within one edit: whoever
/// reads the history wants to see that the narrative was written on two different days.
pub const SESSION_GAP_MS: i64 = 10 * 60 * 1000;

/// What the server recorded of a change: when it first stored it, and which authenticated
/// account sent it (`None` for changes stored before senders were recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub received_ms: i64,
    pub sender: Option<String>,
}

/// The item's history, oldest first. `recorded` says what the server recorded of a change
/// (`None` when it has no record). Who made a line is the recorded sender when there is one
/// (`verified`); the commit message's `user` is what the sending client claimed, shown as
/// `claimed_user` when it names someone else, and used (unverified) only for changes
/// without a recorded sender. `display_name` is left for the server to fill in.
pub fn timeline(
    doc: &AutoCommit,
    recorded: &dyn Fn(&ChangeHash) -> Option<Recorded>,
) -> Vec<HistoryEntry> {
    timeline_read(doc, recorded, &|doc| ItemDoc::load(doc).ok(), None)
}

/// [`timeline`] of one document, each state read as an item by `read` (`None`: unreadable),
/// the first line compared with `start`.
fn timeline_read(
    doc: &AutoCommit,
    recorded: &dyn Fn(&ChangeHash) -> Option<Recorded>,
    read: &dyn Fn(&AutoCommit) -> Option<ItemDoc>,
    start: Option<ItemDoc>,
) -> Vec<HistoryEntry> {
    // `get_changes` closes any open transaction, so it needs its own copy of the document.
    let changes = doc.clone().get_changes(&[]);
    // Replaying the changes in causal order gives each line's "after" state by applying only
    // that line's changes; forking at every line's heads would re-apply the whole prefix.
    let mut replay = model::new_automerge();
    let mut before: Option<ItemDoc> = start;
    let mut entries = Vec::new();
    for session in sessions(changes, recorded) {
        let mut entry = entry_without_details(&session);
        let after = replay
            .apply_changes(session.changes)
            .ok()
            .and_then(|()| read(&replay));
        // An unreadable state (a newer schema) says nothing about what the line did: better no
        // details than everything shown as deleted.
        if let Some(after) = &after {
            entry.details = differences(before.as_ref(), after);
        }
        entries.push(entry);
        before = after;
    }
    entries
}

/// A document of a version-2 item (issue #21) and what the server recorded of its changes.
pub struct V2Document<'a> {
    pub doc: &'a AutoCommit,
    pub recorded: &'a dyn Fn(&ChangeHash) -> Option<Recorded>,
}

/// The history of a version-2 item: the lines of the item document and of each unit-work
/// document in `works` (only those the reader may read: a school its own), merged by when
/// the server received them (else the device's time), oldest first. A unit's line reads as
/// a change to that unit's part of the item, with the item as it is now around it.
pub fn timeline_v2(item: &V2Document<'_>, works: &[V2Document<'_>]) -> Vec<HistoryEntry> {
    let none = BTreeMap::new();
    let read_item = |doc: &AutoCommit| {
        ItemDocV2::load(doc)
            .ok()
            .map(|item| item.combined_v1(&none))
    };
    let mut entries = timeline_read(item.doc, item.recorded, &read_item, None);
    if let Ok(now) = ItemDocV2::load(item.doc) {
        for work in works {
            let read_work = |doc: &AutoCommit| {
                let work = UnitWorkDoc::load(doc).ok()?;
                Some(now.combined_v1(&BTreeMap::from([(work.unit.clone(), work)])))
            };
            let start = Some(now.combined_v1(&none));
            entries.extend(timeline_read(work.doc, work.recorded, &read_work, start));
        }
    }
    // Stable: each document's lines keep their causal order among equal times.
    entries.sort_by_key(|e| e.received_ms.unwrap_or(e.device_last_ms));
    entries
}

/// Who a change's commit message says made it, and with which edit. Foreign clients write
/// other messages or none: their changes are by an unknown user and an `unknown` edit. The
/// sending client writes the message: it is a claim, not a record.
pub fn authorship(change: &Change) -> (Option<String>, String) {
    let message: Option<serde_json::Value> = change.message().and_then(model::read_commit_message);
    let field = |key: &str| {
        message
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(serde_json::Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let op = field("op").unwrap_or_else(|| "unknown".to_owned());
    (field("user"), op)
}

/// Who made a change, as a history line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Author {
    user: Option<String>,
    verified: bool,
    claimed_user: Option<String>,
}

fn author(claimed: Option<String>, recorded: Option<&Recorded>) -> Author {
    match recorded.and_then(|r| r.sender.clone()) {
        Some(sender) => Author {
            claimed_user: claimed.filter(|claimed| *claimed != sender),
            user: Some(sender),
            verified: true,
        },
        None => Author {
            user: claimed,
            verified: false,
            claimed_user: None,
        },
    }
}

/// Consecutive changes by one author with one edit and without a long pause: one line.
struct Session {
    author: Author,
    op: String,
    changes: Vec<Change>,
    received: Vec<Option<i64>>,
}

fn sessions(
    changes: Vec<Change>,
    recorded: &dyn Fn(&ChangeHash) -> Option<Recorded>,
) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    for change in changes {
        let (claimed, op) = authorship(&change);
        let record = recorded(&change.hash());
        let author = author(claimed, record.as_ref());
        let received = record.map(|r| r.received_ms);
        if let Some(session) = sessions.last_mut()
            && session.author == author
            && session.op == op
            && session.changes.last().is_some_and(|last| {
                // The device clock may be set back: a jump either way is a pause.
                (change.timestamp() - last.timestamp()).abs() <= SESSION_GAP_MS
            })
        {
            session.changes.push(change);
            session.received.push(received);
        } else {
            sessions.push(Session {
                author,
                op,
                changes: vec![change],
                received: vec![received],
            });
        }
    }
    sessions
}

fn entry_without_details(session: &Session) -> HistoryEntry {
    let changes = &session.changes;
    let (first, last) = (&changes[0], &changes[changes.len() - 1]);
    // The last change may predate the record of arrivals while earlier ones do not: then
    // the latest arrival known is the best answer.
    let received = session.received[changes.len() - 1]
        .or_else(|| session.received.iter().flatten().copied().max());
    HistoryEntry {
        user: session.author.user.clone(),
        verified: session.author.verified,
        claimed_user: session.author.claimed_user.clone(),
        display_name: None,
        op: session.op.clone(),
        changes: changes.len(),
        device_first_ms: first.timestamp(),
        device_last_ms: last.timestamp(),
        received_ms: received,
        details: Vec::new(),
    }
}

/// The fields a history line shows, in the order it shows them: the item's own first, then
/// each unit's. On the wire a [`HistoryDetail`] names its field by [`Field::key`]; the
/// client reads it back with [`Field::from_key`] and names each field in its own language,
/// so a field added here must be named there too (its match is exhaustive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Title,
    Measures,
    OfficeNarrative,
    PlanLeader,
    PlanDepartment,
    PlanUnits,
    PlanDeadline,
    PlanTiming,
    ItemStatus,
    Status,
    Review,
    Narrative,
    Measure,
    Evidence,
    Feedback,
}

impl Field {
    /// Every field, in the order a history line shows them.
    pub const ALL: [Field; 15] = [
        Field::Title,
        Field::Measures,
        Field::OfficeNarrative,
        Field::PlanLeader,
        Field::PlanDepartment,
        Field::PlanUnits,
        Field::PlanDeadline,
        Field::PlanTiming,
        Field::ItemStatus,
        Field::Status,
        Field::Review,
        Field::Narrative,
        Field::Measure,
        Field::Evidence,
        Field::Feedback,
    ];

    /// The field's name in a [`HistoryDetail`] (sent to clients: change only with them).
    pub fn key(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Measures => "measures",
            Field::OfficeNarrative => "office_narrative",
            Field::PlanLeader => "plan.leader",
            Field::PlanDepartment => "plan.department",
            Field::PlanUnits => "plan.units",
            Field::PlanDeadline => "plan.deadline",
            Field::PlanTiming => "plan.timing",
            Field::ItemStatus => "item_status",
            Field::Status => "status",
            Field::Review => "review",
            Field::Narrative => "narrative",
            Field::Measure => "measure",
            Field::Evidence => "evidence",
            Field::Feedback => "feedback",
        }
    }

    /// The field a [`HistoryDetail`] names, `None` for a name this build does not know.
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.key() == key)
    }

    /// The value of a place that is not there: a unit's progress is created when the office
    /// assigns the unit, and that alone is no change of status.
    fn absent(self) -> &'static str {
        match self {
            Field::Status => UnitStatus::NotStarted.key(),
            _ => "",
        }
    }
}

/// Where a value is shown: a field, of a unit or of the item (`None`), and for things that
/// come one at a time (a tick, a file, a message, a decision) which one, by its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    unit: Option<String>,
    field: Field,
    element: String,
}

/// Everything a history line can show of an item, by place.
fn shown(item: &ItemDoc) -> BTreeMap<Place, String> {
    let mut values = BTreeMap::new();
    let mut put = |unit: Option<&str>, field: Field, element: &str, value: String| {
        let place = Place {
            unit: unit.map(str::to_owned),
            field,
            element: element.to_owned(),
        };
        values.insert(place, value);
    };
    put(None, Field::Title, "", item.title.as_str().to_owned());
    let measures: Vec<&str> = item.current_measures().map(|m| m.text.as_str()).collect();
    put(None, Field::Measures, "", measures.join("\n"));
    put(
        None,
        Field::OfficeNarrative,
        "",
        item.narrative.as_str().to_owned(),
    );
    put(None, Field::PlanLeader, "", item.responsible_leader.clone());
    let department = item.responsible_department.clone().unwrap_or_default();
    put(None, Field::PlanDepartment, "", department);
    put(None, Field::PlanUnits, "", item.units.join("\n"));
    put(
        None,
        Field::PlanDeadline,
        "",
        item.deadline.clone().unwrap_or_default(),
    );
    let timing = item.timing.map_or("", |t| t.key());
    put(None, Field::PlanTiming, "", timing.to_owned());
    put(None, Field::ItemStatus, "", item.status.key().to_owned());
    for (unit, progress) in &item.progress {
        let unit = Some(unit.as_str());
        put(unit, Field::Status, "", progress.status.key().to_owned());
        put(
            unit,
            Field::Narrative,
            "",
            progress.narrative.as_str().to_owned(),
        );
        for (measure, _) in progress.measures_done.iter().filter(|(_, done)| **done) {
            // The text is looked up when the difference is shown, so that the office
            // rewording a ticked measure does not read as a tick.
            put(unit, Field::Measure, measure, String::new());
        }
        for evidence in &progress.evidence {
            put(
                unit,
                Field::Evidence,
                &evidence.sha256,
                evidence.name.clone(),
            );
        }
    }
    for feedback in &item.feedback {
        put(
            feedback.unit.as_deref(),
            Field::Feedback,
            &feedback.id,
            feedback.text.clone(),
        );
    }
    for review in &item.reviews {
        let decision = match review.reason.as_str() {
            "" => review.decision.key().to_owned(),
            reason => format!("{}: {reason}", review.decision.key()),
        };
        put(Some(&review.unit), Field::Review, &review.id, decision);
    }
    values
}

/// What changed from `before` (`None`: nothing yet) to `after`, field by field.
fn differences(before: Option<&ItemDoc>, after: &ItemDoc) -> Vec<HistoryDetail> {
    let old = before.map(shown).unwrap_or_default();
    let new = shown(after);
    let places: BTreeSet<&Place> = old.keys().chain(new.keys()).collect();
    // By id: a removed measure keeps its text, so a tick on it reads as that measure.
    let measure_text = |id: &str| {
        let items = || std::iter::once(after).chain(before);
        items()
            .flat_map(|item| &item.measures)
            .find(|m| m.id == id)
            .map(|m| m.text.as_str().to_owned())
            .or_else(|| items().find_map(|item| Some(item.removed_measure(id)?.text.clone())))
            .unwrap_or_else(|| id.to_owned())
    };
    places
        .into_iter()
        .filter_map(|place| {
            let value = |values: &BTreeMap<Place, String>| {
                match (values.get(place), place.field) {
                    // A tick is there or not; what shows is the measure's current text.
                    (Some(_), Field::Measure) => measure_text(&place.element),
                    (Some(value), _) => value.clone(),
                    (None, field) => field.absent().to_owned(),
                }
            };
            let (before, after) = (value(&old), value(&new));
            (before != after).then(|| HistoryDetail {
                field: place.field.key().to_owned(),
                unit: place.unit.as_deref().map(UnitId::new),
                before,
                after,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        EditContext, EvidenceRef, ItemEdit, ItemPlan, Measure, MeasureText, Timing,
    };
    use crate::policy::{Actor, Role};
    use automerge::transaction::{CommitOptions, Transactable};
    use expect_test::expect;
    use std::collections::HashMap;
    use std::fmt::Write as _;

    const MINUTE: i64 = 60 * 1000;
    /// 2024-03-01 09:00 Beijing time.
    const T0: i64 = 1_709_254_800_000;

    fn ctx(role: Role, unit: Option<&str>, user: &str, now_ms: i64) -> EditContext {
        EditContext {
            actor: Actor {
                role,
                unit: unit.map(UnitId::new),
            },
            user: user.to_owned(),
            now_ms,
        }
    }
    fn office(now_ms: i64) -> EditContext {
        ctx(Role::Office, None, "office", now_ms)
    }
    fn school1(now_ms: i64) -> EditContext {
        ctx(Role::Unit, Some("s1"), "school1", now_ms)
    }
    fn school2(now_ms: i64) -> EditContext {
        ctx(Role::Unit, Some("s2"), "school2", now_ms)
    }

    fn apply(doc: &mut AutoCommit, who: &EditContext, edit: ItemEdit) {
        model::apply(doc, who, edit).unwrap();
    }

    fn plan(deadline: &str) -> ItemPlan {
        ItemPlan {
            responsible_leader: "张副局长".into(),
            responsible_department: Some("jcg".into()),
            units: vec!["s1".into(), "s2".into()],
            deadline: Some(deadline.into()),
            timing: Some(Timing::ByDeadline),
        }
    }

    /// An imported item with two measures, planned by the office for schools s1 and s2.
    fn planned_item() -> AutoCommit {
        let mut item = ItemDoc::new("campaign", "2.7.2", "采购项目管理制度不完善。");
        item.measures = ["建立采购台账", "修订管理制度"]
            .iter()
            .enumerate()
            .map(|(i, text)| Measure {
                id: format!("m{}", i + 1),
                text: (*text).into(),
            })
            .collect();
        let mut doc = model::create_document(&item, "office", T0).unwrap();
        apply(
            &mut doc,
            &office(T0 + MINUTE),
            ItemEdit::Plan(plan("2024-06-30")),
        );
        doc
    }

    /// Types `text` into `unit`'s narrative one character a second from `start`, as a
    /// browser does: one change per keystroke.
    fn type_narrative(
        doc: &mut AutoCommit,
        who: impl Fn(i64) -> EditContext,
        unit: &str,
        text: &str,
        start: i64,
    ) {
        let mut typed = current_narrative(doc, unit);
        for (i, c) in text.chars().enumerate() {
            typed.push(c);
            let edit = ItemEdit::UnitNarrative {
                unit: unit.into(),
                text: typed.clone(),
            };
            apply(doc, &who(start + 1000 * i as i64), edit);
        }
    }

    fn current_narrative(doc: &AutoCommit, unit: &str) -> String {
        let item = ItemDoc::load(doc).unwrap();
        item.progress
            .get(unit)
            .map(|p| p.narrative.as_str().to_owned())
            .unwrap_or_default()
    }

    /// One line per entry and one per detail, for the expectations.
    fn render(entries: &[HistoryEntry]) -> String {
        let mut out = String::new();
        for e in entries {
            let user = e.user.as_deref().unwrap_or("?");
            let minutes = |ms: i64| (ms - T0) / MINUTE;
            let received = e.received_ms.map(minutes);
            writeln!(
                out,
                "{user} {} ×{} device {}..{} min, received {received:?}",
                e.op,
                e.changes,
                minutes(e.device_first_ms),
                minutes(e.device_last_ms),
            )
            .unwrap();
            for d in &e.details {
                assert!(Field::from_key(&d.field).is_some(), "{}", d.field);
                let unit = d.unit.as_ref().map_or(String::new(), |u| format!("[{u}] "));
                writeln!(out, "  {unit}{}: {:?} → {:?}", d.field, d.before, d.after).unwrap();
            }
        }
        out
    }

    /// Arrival times: each change a minute after its device time, except those left out.
    fn arrivals(doc: &AutoCommit, unknown: &[ChangeHash]) -> HashMap<ChangeHash, i64> {
        doc.clone()
            .get_changes(&[])
            .iter()
            .filter(|c| !unknown.contains(&c.hash()))
            .map(|c| (c.hash(), c.timestamp() + MINUTE))
            .collect()
    }

    fn last_change(doc: &mut AutoCommit) -> ChangeHash {
        doc.get_heads()[0]
    }

    #[test]
    fn a_school_works_on_an_item_and_the_office_signs_it_off() {
        let mut doc = planned_item();
        let created = doc.clone().get_changes(&[])[0].hash();
        type_narrative(
            &mut doc,
            school1,
            "s1",
            "已建立采购台账。",
            T0 + 60 * MINUTE,
        );
        // The last keystroke's arrival is not known: the entry shows the latest known one.
        let last_keystroke = last_change(&mut doc);
        let photo = EvidenceRef {
            sha256: "ab".repeat(32),
            name: "台账.jpg".into(),
            mime: "image/jpeg".into(),
            size: 1000,
            caption: String::new(),
            added_by: "school1".into(),
            added_at_ms: T0 + 62 * MINUTE,
        };
        let s1 = || "s1".to_owned();
        let edits = [
            (
                school1(T0 + 62 * MINUTE),
                ItemEdit::AddEvidence {
                    unit: s1(),
                    evidence: photo,
                },
            ),
            (
                school1(T0 + 63 * MINUTE),
                ItemEdit::TickMeasure {
                    unit: s1(),
                    measure: "m1".into(),
                    done: true,
                },
            ),
            (
                school1(T0 + 64 * MINUTE),
                ItemEdit::AddFeedback {
                    id: "f1".into(),
                    unit: Some(s1()),
                    text: "请审核".into(),
                },
            ),
            (
                school1(T0 + 65 * MINUTE),
                ItemEdit::UnitStatus {
                    unit: s1(),
                    to: UnitStatus::Submitted,
                    reason: None,
                },
            ),
            (
                office(T0 + 120 * MINUTE),
                ItemEdit::UnitStatus {
                    unit: s1(),
                    to: UnitStatus::SignedOff,
                    reason: None,
                },
            ),
            (
                office(T0 + 121 * MINUTE),
                ItemEdit::Plan(plan("2024-07-31")),
            ),
        ];
        for (who, edit) in edits {
            apply(&mut doc, &who, edit);
        }
        let arrived = arrivals(&doc, &[created, last_keystroke]);
        let entries = timeline(&doc, &|hash| {
            arrived.get(hash).map(|&received_ms| Recorded {
                received_ms,
                sender: None,
            })
        });
        expect![[r#"
            office create ×1 device 0..0 min, received None
              title: "" → "采购项目管理制度不完善。"
              measures: "" → "建立采购台账\n修订管理制度"
              item_status: "" → "in_progress"
            office plan ×1 device 1..1 min, received Some(2)
              plan.leader: "" → "张副局长"
              plan.department: "" → "jcg"
              plan.units: "" → "s1\ns2"
              plan.deadline: "" → "2024-06-30"
              plan.timing: "" → "by_deadline"
            school1 unit_narrative ×8 device 60..60 min, received Some(61)
              [s1] narrative: "" → "已建立采购台账。"
            school1 add_evidence ×1 device 62..62 min, received Some(63)
              [s1] evidence: "" → "台账.jpg"
            school1 tick_measure ×1 device 63..63 min, received Some(64)
              [s1] measure: "" → "建立采购台账"
            school1 add_feedback ×1 device 64..64 min, received Some(65)
              [s1] feedback: "" → "请审核"
            school1 unit_status ×1 device 65..65 min, received Some(66)
              [s1] status: "not_started" → "submitted"
            office unit_status ×1 device 120..120 min, received Some(121)
              [s1] status: "submitted" → "signed_off"
              [s1] review: "" → "signed_off"
            office plan ×1 device 121..121 min, received Some(122)
              plan.deadline: "2024-06-30" → "2024-07-31"
        "#]]
        .assert_eq(&render(&entries));
        // The typing session's arrival is its second-to-last keystroke's (7 s after the start).
        let session = &entries[2];
        assert_eq!(session.received_ms, Some(T0 + 60 * MINUTE + 6_000 + MINUTE));
        assert_eq!(session.device_last_ms - session.device_first_ms, 7_000);
        assert!(entries.iter().all(|e| e.display_name.is_none()));
    }

    #[test]
    fn a_concurrent_edit_merged_later_is_its_own_entry() {
        let mut doc = planned_item();
        let mut offline = doc.fork();
        type_narrative(&mut offline, school2, "s2", "已整改", T0 + 10 * MINUTE);
        type_narrative(&mut doc, school1, "s1", "已建立台账", T0 + 20 * MINUTE);
        let returned = ItemEdit::UnitStatus {
            unit: "s2".into(),
            to: UnitStatus::Returned,
            reason: Some("照片不清楚".into()),
        };
        // The office sends s2 back while its narrative is still offline (allowed from
        // submitted only, so s2 submitted first: written as an older client did, since
        // `apply` now wants something to sign off and s2's words are on the other device).
        let mut item = ItemDoc::load(&doc).unwrap();
        item.progress.get_mut("s2").unwrap().status = UnitStatus::Submitted;
        model::update_document(&mut doc, &item, "school2", "unit_status", T0 + 21 * MINUTE)
            .unwrap();
        apply(&mut doc, &office(T0 + 22 * MINUTE), returned);
        doc.merge(&mut offline).unwrap();

        let entries = timeline(&doc, &|_| None);
        let lines: Vec<(Option<&str>, &str, usize)> = entries
            .iter()
            .map(|e| (e.user.as_deref(), e.op.as_str(), e.changes))
            .collect();
        assert_eq!(lines.len(), 6, "{}", render(&entries));
        for line in [
            (Some("office"), "create", 1),
            (Some("office"), "plan", 1),
            (Some("school2"), "unit_narrative", 3),
            (Some("school1"), "unit_narrative", 5),
            (Some("school2"), "unit_status", 1),
            (Some("office"), "unit_status", 1),
        ] {
            assert!(lines.contains(&line), "{line:?} in {}", render(&entries));
        }
        let details = |user: &str, op: &str| {
            let entry = entries
                .iter()
                .find(|e| e.user.as_deref() == Some(user) && e.op == op)
                .unwrap();
            let rendered = render(std::slice::from_ref(entry));
            rendered
                .lines()
                .skip(1)
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            details("school2", "unit_narrative"),
            r#"[s2] narrative: "" → "已整改""#
        );
        assert_eq!(
            details("school1", "unit_narrative"),
            r#"[s1] narrative: "" → "已建立台账""#
        );
        assert_eq!(
            details("office", "unit_status"),
            "[s2] status: \"submitted\" → \"returned\"\n[s2] review: \"\" → \"returned: 照片不清楚\""
        );
    }

    #[test]
    fn a_long_pause_ends_a_typing_session() {
        // (pause between "已建立" and "台账", narratives of the entries)
        let cases: [(i64, &[(&str, &str)]); 4] = [
            (9 * MINUTE, &[("", "已建立台账")]),
            (10 * MINUTE, &[("", "已建立台账")]),
            (10 * MINUTE + 1, &[("", "已建立"), ("已建立", "已建立台账")]),
            // The clock was set back: a jump backwards is a pause too.
            (-60 * MINUTE, &[("", "已建立"), ("已建立", "已建立台账")]),
        ];
        for (pause, expected) in cases {
            let mut doc = planned_item();
            let start = T0 + 100 * MINUTE;
            type_narrative(&mut doc, school1, "s1", "已建立", start);
            type_narrative(&mut doc, school1, "s1", "台账", start + 2_000 + pause);
            let entries = timeline(&doc, &|_| None);
            let narratives: Vec<(&str, &str)> = entries[2..]
                .iter()
                .map(|e| {
                    assert_eq!(e.details.len(), 1, "{}", render(&entries));
                    (e.details[0].before.as_str(), e.details[0].after.as_str())
                })
                .collect();
            assert_eq!(narratives, expected, "pause {pause} ms");
        }
    }

    #[test]
    fn changes_from_other_clients_are_by_an_unknown_user() {
        // (commit message, user, op)
        let cases = [
            (None, None, "unknown"),
            (Some("set deadline"), None, "unknown"),
            (Some(r#"{"op":"plan"}"#), None, "plan"),
            (Some(r#"{"user":"school1"}"#), Some("school1"), "unknown"),
            (Some(r#"{"user":7,"op":["plan"]}"#), None, "unknown"),
            (Some(r#"{"user":"","op":""}"#), None, "unknown"),
            (
                Some(r#"{"user":"张老师","op":"plan","extra":1}"#),
                Some("张老师"),
                "plan",
            ),
        ];
        for (message, user, op) in cases {
            let mut doc = planned_item();
            doc.put(automerge::ROOT, "deadline", "2024-09-01").unwrap();
            let options = CommitOptions::default().with_time(T0 + 5 * MINUTE);
            let options = match message {
                Some(message) => options.with_message(message),
                None => options,
            };
            doc.commit_with(options);
            let entries = timeline(&doc, &|_| None);
            let entry = entries.last().unwrap();
            assert_eq!(
                (entry.user.as_deref(), entry.op.as_str()),
                (user, op),
                "{message:?}"
            );
            let deadline = &entry.details[0];
            assert_eq!(
                (
                    deadline.field.as_str(),
                    deadline.before.as_str(),
                    deadline.after.as_str()
                ),
                ("plan.deadline", "2024-06-30", "2024-09-01")
            );
        }
    }

    #[test]
    fn rewording_a_ticked_measure_is_not_a_tick() {
        let mut doc = planned_item();
        let tick = ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m2".into(),
            done: true,
        };
        apply(&mut doc, &school1(T0 + 2 * MINUTE), tick);
        let define = ItemEdit::Define {
            title: "采购项目管理制度不完善。".into(),
            measures: vec![
                MeasureText::existing("m1", "建立采购台账"),
                MeasureText::existing("m2", "修订采购管理制度"),
            ],
            narrative: "已修订".into(),
        };
        apply(&mut doc, &office(T0 + 3 * MINUTE), define);
        let untick = ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m2".into(),
            done: false,
        };
        apply(&mut doc, &school1(T0 + 4 * MINUTE), untick);
        let entries = timeline(&doc, &|_| None);
        expect![[r#"
            school1 tick_measure ×1 device 2..2 min, received None
              [s1] measure: "" → "修订管理制度"
            office define ×1 device 3..3 min, received None
              measures: "建立采购台账\n修订管理制度" → "建立采购台账\n修订采购管理制度"
              office_narrative: "" → "已修订"
            school1 tick_measure ×1 device 4..4 min, received None
              [s1] measure: "修订采购管理制度" → ""
        "#]]
        .assert_eq(&render(&entries[2..]));
    }

    #[test]
    fn a_tick_on_a_removed_measure_reads_as_that_measure() {
        // School 1 ticks 建立采购台账 offline while the office removes it (#21).
        let mut doc = planned_item();
        let mut device = doc.fork();
        let define = ItemEdit::Define {
            title: "采购项目管理制度不完善。".into(),
            measures: vec![MeasureText::existing("m2", "修订管理制度")],
            narrative: String::new(),
        };
        apply(&mut doc, &office(T0 + 2 * MINUTE), define);
        let tick = ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m1".into(),
            done: true,
        };
        apply(&mut device, &school1(T0 + 3 * MINUTE), tick);
        doc.merge(&mut device).unwrap();
        let entries = timeline(&doc, &|_| None);
        expect![[r#"
            office define ×1 device 2..2 min, received None
              measures: "建立采购台账\n修订管理制度" → "修订管理制度"
            school1 tick_measure ×1 device 3..3 min, received None
              [s1] measure: "" → "建立采购台账"
        "#]]
        .assert_eq(&render(&entries[2..]));
    }

    #[test]
    fn every_field_is_read_back_from_its_key() {
        for field in Field::ALL {
            assert_eq!(Field::from_key(field.key()), Some(field), "{field:?}");
        }
        // In the order they are shown, each once (a new field goes in `ALL` too).
        assert!(Field::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Field::from_key("plan"), None);
    }

    #[test]
    fn an_empty_document_has_no_history() {
        assert_eq!(timeline(&model::new_automerge(), &|_| None), Vec::new());
    }

    /// 2,000 keystrokes in one session, then 48 short edits: 51 entries. Each entry's state
    /// comes from one replay of the document, so this stays fast however long the session.
    #[test]
    fn a_long_typing_session_is_one_entry() {
        let mut doc = planned_item();
        let text: String = "已建立采购台账并逐笔登记。"
            .chars()
            .cycle()
            .take(2_000)
            .collect();
        type_narrative(&mut doc, school1, "s1", &text, T0 + 60 * MINUTE);
        let mut now = T0 + 120 * MINUTE;
        for round in 0..24 {
            now += MINUTE;
            let tick = ItemEdit::TickMeasure {
                unit: "s1".into(),
                measure: "m1".into(),
                done: round % 2 == 0,
            };
            apply(&mut doc, &school1(now), tick);
            type_narrative(&mut doc, school1, "s1", "。", now + 1_000);
        }
        let entries = timeline(&doc, &|_| None);
        assert_eq!(entries.len(), 2 + 1 + 48);
        let session = &entries[2];
        assert_eq!(session.changes, 2_000);
        assert_eq!(session.details[0].after, text);
        assert!(
            entries[3..]
                .iter()
                .all(|e| e.changes == 1 && e.details.len() == 1)
        );
    }
}
