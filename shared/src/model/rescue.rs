//! Rescuing work the server refused. When the server refuses a document's changes, the
//! client resets the item to the server's copy; what the user did is not lost: it is read
//! back as the [`ItemEdit`]s that lead from the item as the server last confirmed it
//! (`base`) to the item on this device (`mine`), and each is made again on the server's copy
//! as far as the policy still allows. The rest is listed for the user, with its text.
//!
//! Reading the work as edits (rather than replaying the refused Automerge changes) is what
//! lets the allowed part through: a refused change is all or nothing, and later changes
//! depend on it.

use super::{ItemDoc, ItemEdit, ItemPlan, MeasureText, ModelError};
use crate::workflow::UnitStatus;
use automerge::{AutoCommit, ChangeHash};
use std::collections::BTreeSet;

/// The item as the server last confirmed it and as this device holds it, from the device's
/// document and the heads the server last confirmed. Heads the document does not know (the
/// sync state was lost) give an empty `base`: then everything on the device counts as the
/// user's, and [`is_already`] drops what the server has anyway.
pub fn base_and_mine(
    doc: &mut AutoCommit,
    confirmed: &[ChangeHash],
) -> Result<(Option<ItemDoc>, ItemDoc), ModelError> {
    let mine = ItemDoc::load(doc)?;
    let known = confirmed
        .iter()
        .all(|h| doc.get_change_by_hash(h).is_some());
    let base = if confirmed.is_empty() || !known {
        None
    } else {
        // A base the server confirmed but this build cannot read counts as unknown.
        doc.fork_at(confirmed)
            .ok()
            .and_then(|base| ItemDoc::load(&base).ok())
    };
    Ok((base, mine))
}

/// The edits that turn `base` into `mine` (everything in `mine` when there is no `base`), in
/// an order that re-applies cleanly: the office's definition and plan first, then each
/// unit's entry (text, ticks, evidence), feedback, each unit's status move (a request for
/// sign-off needs the text or evidence before it), and the item's public status last
/// (closing needs every unit signed off).
pub fn edits_between(base: Option<&ItemDoc>, mine: &ItemDoc) -> Vec<ItemEdit> {
    let mut edits = Vec::new();
    // Each measure by its id: made again, a measure keeps its id (and its ticks), a measure
    // this device removed is removed again, and one the server removed meanwhile is not
    // brought back (the edit is then listed).
    let measure_texts = |item: &ItemDoc| -> Vec<MeasureText> {
        item.current_measures()
            .map(|m| MeasureText::existing(&m.id, m.text.as_str()))
            .collect()
    };
    let defined = |item: &ItemDoc| {
        (
            item.title.as_str().to_owned(),
            measure_texts(item),
            item.narrative.as_str().to_owned(),
        )
    };
    if base.map(defined) != Some(defined(mine)) {
        edits.push(ItemEdit::Define {
            title: mine.title.as_str().to_owned(),
            measures: measure_texts(mine),
            narrative: mine.narrative.as_str().to_owned(),
        });
    }
    if base.map(plan_of) != Some(plan_of(mine)) {
        edits.push(ItemEdit::Plan(plan_of(mine)));
    }
    for (unit, progress) in &mine.progress {
        let before = base.and_then(|b| b.progress.get(unit));
        let narrative = progress.narrative.as_str();
        if before.map_or("", |p| p.narrative.as_str()) != narrative {
            edits.push(ItemEdit::UnitNarrative {
                unit: unit.clone(),
                text: narrative.to_owned(),
            });
        }
        for (measure, &done) in &progress.measures_done {
            let was = before
                .and_then(|p| p.measures_done.get(measure))
                .copied()
                .unwrap_or(false);
            if was != done {
                edits.push(ItemEdit::TickMeasure {
                    unit: unit.clone(),
                    measure: measure.clone(),
                    done,
                });
            }
        }
        let had: BTreeSet<&str> = before
            .map(|p| p.evidence.iter().map(|e| e.sha256.as_str()).collect())
            .unwrap_or_default();
        let has: BTreeSet<&str> = progress
            .evidence
            .iter()
            .map(|e| e.sha256.as_str())
            .collect();
        for sha256 in had.difference(&has) {
            edits.push(ItemEdit::RemoveEvidence {
                unit: unit.clone(),
                sha256: (*sha256).to_owned(),
            });
        }
        for evidence in &progress.evidence {
            if !had.contains(evidence.sha256.as_str()) {
                edits.push(ItemEdit::AddEvidence {
                    unit: unit.clone(),
                    evidence: evidence.clone(),
                });
            }
        }
    }
    let known: BTreeSet<&str> = base
        .map(|b| b.feedback.iter().map(|f| f.id.as_str()).collect())
        .unwrap_or_default();
    for message in &mine.feedback {
        if !known.contains(message.id.as_str()) {
            edits.push(ItemEdit::AddFeedback {
                id: message.id.clone(),
                unit: message.unit.clone(),
                text: message.text.clone(),
            });
        }
    }
    let reviewed: BTreeSet<&str> = base
        .map(|b| b.reviews.iter().map(|r| r.id.as_str()).collect())
        .unwrap_or_default();
    for (unit, progress) in &mine.progress {
        let was = base.map_or(UnitStatus::NotStarted, |b| b.unit_status(unit));
        if was != progress.status {
            // A decision of the office carries its reason in the review it wrote.
            let reason = mine
                .reviews
                .iter()
                .rev()
                .find(|r| {
                    &r.unit == unit
                        && r.decision == progress.status
                        && !reviewed.contains(r.id.as_str())
                })
                .map(|r| r.reason.clone())
                .filter(|reason| !reason.is_empty());
            // The office decides only on a request; the device's changes since `base` are
            // its own, so a decision on a unit that had not asked means this device recorded
            // the request first (the office may, for a unit without an account).
            let decision = matches!(
                progress.status,
                UnitStatus::SignedOff | UnitStatus::Returned
            );
            if decision && !matches!(was, UnitStatus::Submitted | UnitStatus::SignedOff) {
                edits.push(ItemEdit::UnitStatus {
                    unit: unit.clone(),
                    to: UnitStatus::Submitted,
                    reason: None,
                });
            }
            edits.push(ItemEdit::UnitStatus {
                unit: unit.clone(),
                to: progress.status,
                reason,
            });
        }
    }
    if base.map(|b| b.status) != Some(mine.status) {
        edits.push(ItemEdit::ItemStatus(mine.status));
    }
    edits
}

/// Whether `item` already holds what `edit` would make (the server has it, or the user's
/// work was re-applied already): such an edit is neither made again nor listed as lost.
pub fn is_already(item: &ItemDoc, edit: &ItemEdit) -> bool {
    let progress = |unit: &str| item.progress.get(unit);
    match edit {
        ItemEdit::UnitNarrative { unit, text } => {
            progress(unit).map_or("", |p| p.narrative.as_str()) == text
        }
        ItemEdit::TickMeasure {
            unit,
            measure,
            done,
        } => {
            progress(unit)
                .and_then(|p| p.measures_done.get(measure))
                .copied()
                .unwrap_or(false)
                == *done
        }
        ItemEdit::UnitStatus { unit, to, .. } => item.unit_status(unit) == *to,
        ItemEdit::AddEvidence { unit, evidence } => {
            progress(unit).is_some_and(|p| p.evidence.iter().any(|e| e.sha256 == evidence.sha256))
        }
        ItemEdit::RemoveEvidence { unit, sha256 } => {
            !progress(unit).is_some_and(|p| p.evidence.iter().any(|e| &e.sha256 == sha256))
        }
        ItemEdit::AddFeedback { id, .. } => item.feedback.iter().any(|f| &f.id == id),
        ItemEdit::ItemStatus(status) => item.status == *status,
        ItemEdit::Plan(plan) => plan_of(item) == *plan,
        ItemEdit::Define {
            title,
            measures,
            narrative,
        } => {
            let current: Vec<_> = item.current_measures().collect();
            item.title.as_str() == title
                && item.narrative.as_str() == narrative
                && current.len() == measures.len()
                && current.iter().zip(measures).all(|(m, t)| {
                    m.text.as_str() == t.text && t.id.as_ref().is_none_or(|id| id == &m.id)
                })
        }
    }
}

fn plan_of(item: &ItemDoc) -> ItemPlan {
    ItemPlan {
        responsible_leader: item.responsible_leader.clone(),
        responsible_department: item.responsible_department.clone(),
        units: item.units.clone(),
        deadline: item.deadline.clone(),
        timing: item.timing,
    }
}
