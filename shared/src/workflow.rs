//! The status workflow: who may move a unit's progress, or an item, from where to where.
//!
//! "整改一个销号一个，没整改到位绝不销号": a unit reports its work and asks for sign-off;
//! only the office signs off (销号) or sends back (退回, with a reason); an item is closed
//! only when every unit assigned to it has been signed off.

use crate::policy::{Actor, Role};
use crate::status::PublicStatus;
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// A unit's progress on an item (整改进度 of one school or department).
///
/// Stored and synced (as the snake_case name): change only with a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Reconcile, Hydrate)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// 未开始
    #[autosurgeon(rename = "not_started")]
    NotStarted,
    /// 整改中
    #[autosurgeon(rename = "in_progress")]
    InProgress,
    /// 申请销号: the unit says it is done and asks the office to sign off.
    #[autosurgeon(rename = "submitted")]
    Submitted,
    /// 退回: the office sent it back, with a reason.
    #[autosurgeon(rename = "returned")]
    Returned,
    /// 已销号: the office signed it off.
    #[autosurgeon(rename = "signed_off")]
    SignedOff,
}

impl UnitStatus {
    pub const ALL: [UnitStatus; 5] = [
        UnitStatus::NotStarted,
        UnitStatus::InProgress,
        UnitStatus::Submitted,
        UnitStatus::Returned,
        UnitStatus::SignedOff,
    ];

    pub fn key(self) -> &'static str {
        match self {
            UnitStatus::NotStarted => "not_started",
            UnitStatus::InProgress => "in_progress",
            UnitStatus::Submitted => "submitted",
            UnitStatus::Returned => "returned",
            UnitStatus::SignedOff => "signed_off",
        }
    }

    pub fn from_key(key: &str) -> Option<UnitStatus> {
        UnitStatus::ALL.into_iter().find(|&s| s.key() == key)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            UnitStatus::NotStarted => "未开始",
            UnitStatus::InProgress => "整改中",
            UnitStatus::Submitted => "申请销号",
            UnitStatus::Returned => "已退回",
            UnitStatus::SignedOff => "已销号",
        }
    }
}

/// Why a move was refused. The message says what the user may do instead.
///
/// Also sent to our client as data (inside [`crate::model::ChangeRefusal`]'s `workflow`, as
/// `refusal` and its fields) so that it says why in the user's language: add variants, never
/// rename them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    #[error("viewers can read everything but change nothing")]
    ReadOnly,
    #[error("only the office (领导小组办公室) can sign off (销号) or send back (退回)")]
    OnlyOfficeDecides,
    #[error("this item is not assigned to your unit")]
    NotYourUnit,
    #[error("a unit cannot go from {} to {}", UnitStatus::key(*.from), UnitStatus::key(*.to))]
    NotAllowed { from: UnitStatus, to: UnitStatus },
    #[error("sending back (退回) needs a reason")]
    ReasonRequired,
    #[error("没整改到位绝不销号: {pending} unit(s) are not signed off yet")]
    UnitsNotSignedOff { pending: usize },
    #[error("only the office (领导小组办公室) can change an item's definition or close it")]
    OnlyOfficePlans,
    #[error(
        "已销号: the office signed off this unit's work, so it can no longer be changed; \
         ask the office (领导小组办公室) to reopen it (退回) first"
    )]
    SignedOffLocked,
    #[error(
        "申请销号 needs something to sign off: describe the work done (整改情况) or add at \
         least one piece of evidence first"
    )]
    NothingToSubmit,
    #[error("{} is too long: {chars} characters, at most {max}", .field.label())]
    TooLong {
        field: TextField,
        chars: usize,
        max: usize,
    },
}

/// The texts people write, each with the most characters it takes: a 20,000-character
/// progress text pushed the office's decision buttons 10,000 px down. The longest paragraph
/// of the real report is under 500 characters, so each limit leaves ample room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextField {
    /// A unit's 整改情况, and the office's own for the report.
    Narrative,
    /// A message in the feedback thread.
    Feedback,
    /// The reason of a 退回.
    Reason,
    /// The problem statement (存在问题) and each measure (整改措施).
    Definition,
    /// An evidence file's caption.
    Caption,
}

impl TextField {
    pub fn max_chars(self) -> usize {
        match self {
            TextField::Narrative => 3_000,
            TextField::Feedback => 1_000,
            TextField::Reason => 500,
            TextField::Definition => 1_000,
            TextField::Caption => 200,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TextField::Narrative => "整改情况 (the progress text)",
            TextField::Feedback => "反馈 (the message)",
            TextField::Reason => "退回理由 (the reason)",
            TextField::Definition => "存在问题/整改措施 (the problem or a measure)",
            TextField::Caption => "说明 (the caption)",
        }
    }

    /// The field's key, as the client names it to translate the message.
    pub fn key(self) -> &'static str {
        match self {
            TextField::Narrative => "narrative",
            TextField::Feedback => "feedback",
            TextField::Reason => "reason",
            TextField::Definition => "definition",
            TextField::Caption => "caption",
        }
    }
}

/// Refuses `text` when it is longer than `field` takes (counted in characters, as people
/// count them, not bytes).
pub fn check_length(field: TextField, text: &str) -> Result<(), Refusal> {
    let max = field.max_chars();
    let chars = text.chars().count();
    if chars > max {
        return Err(Refusal::TooLong { field, chars, max });
    }
    Ok(())
}

/// May `actor` move `unit`'s progress from `from` to `to`? `reason` is the 退回 reason.
pub fn check_unit_move(
    actor: &Actor,
    unit: &str,
    from: UnitStatus,
    to: UnitStatus,
    reason: Option<&str>,
) -> Result<(), Refusal> {
    use UnitStatus::*;
    match actor.role {
        Role::Viewer => Err(Refusal::ReadOnly),
        Role::Office => match to {
            Returned if reason.is_none_or(|r| r.trim().is_empty()) => Err(Refusal::ReasonRequired),
            // The office decides on what was submitted, and may reopen what it signed off.
            Returned | SignedOff if matches!(from, Submitted | SignedOff) => Ok(()),
            // It may also record progress itself, e.g. for a unit without an account.
            InProgress | Submitted | NotStarted => Ok(()),
            _ => Err(Refusal::NotAllowed { from, to }),
        },
        Role::Unit | Role::Department => {
            if actor.unit.as_ref().is_none_or(|own| own.as_str() != unit) {
                return Err(Refusal::NotYourUnit);
            }
            match (from, to) {
                (_, SignedOff | Returned) => Err(Refusal::OnlyOfficeDecides),
                (SignedOff, _) => Err(Refusal::SignedOffLocked),
                (NotStarted | InProgress | Returned, InProgress | Submitted) => Ok(()),
                // Withdraw a request for sign-off.
                (Submitted, InProgress) => Ok(()),
                (a, b) if a == b => Ok(()),
                _ => Err(Refusal::NotAllowed { from, to }),
            }
        }
    }
}

/// May `actor` change a unit's work on an item (its narrative, ticks and evidence) while that
/// unit's progress is `status`? Once the office has signed it off (销号) the unit's entry is
/// locked: "整改一个销号一个" means what was signed off stays as it was signed off. Only the
/// office changes it, or reopens it (退回, with a reason) so that the unit can work again.
pub fn check_entry_edit(actor: &Actor, status: UnitStatus) -> Result<(), Refusal> {
    match actor.role {
        Role::Viewer => Err(Refusal::ReadOnly),
        Role::Office => Ok(()),
        Role::Unit | Role::Department if status == UnitStatus::SignedOff => {
            Err(Refusal::SignedOffLocked)
        }
        Role::Unit | Role::Department => Ok(()),
    }
}

/// May a unit's progress with this narrative and this many pieces of evidence be submitted
/// for sign-off (申请销号)? Only with something to look at: "没整改到位绝不销号".
pub fn check_submission(narrative: &str, evidence: usize) -> Result<(), Refusal> {
    if narrative.trim().is_empty() && evidence == 0 {
        Err(Refusal::NothingToSubmit)
    } else {
        Ok(())
    }
}

/// May `actor` set the item's status to `to`, given its units' statuses? Closing an item
/// (整改完成 or 整改完成，长期坚持) needs every assigned unit signed off.
pub fn check_item_status(
    actor: &Actor,
    to: PublicStatus,
    unit_statuses: &[UnitStatus],
) -> Result<(), Refusal> {
    match actor.role {
        Role::Viewer => return Err(Refusal::ReadOnly),
        Role::Unit | Role::Department => return Err(Refusal::OnlyOfficePlans),
        Role::Office => {}
    }
    if to.is_done() {
        let pending = unit_statuses
            .iter()
            .filter(|s| **s != UnitStatus::SignedOff)
            .count();
        if pending > 0 {
            return Err(Refusal::UnitsNotSignedOff { pending });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UnitId;

    fn actor(role: Role, unit: Option<&str>) -> Actor {
        Actor {
            role,
            unit: unit.map(UnitId::new),
        }
    }

    /// (role, own unit, target unit, from, to, reason, expected)
    type Case = (
        Role,
        Option<&'static str>,
        &'static str,
        UnitStatus,
        UnitStatus,
        Option<&'static str>,
        Result<(), Refusal>,
    );

    #[test]
    fn unit_moves() {
        use UnitStatus::*;
        let cases: &[Case] = &[
            (
                Role::Unit,
                Some("s1"),
                "s1",
                NotStarted,
                InProgress,
                None,
                Ok(()),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                InProgress,
                Submitted,
                None,
                Ok(()),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                Submitted,
                InProgress,
                None,
                Ok(()),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                Returned,
                Submitted,
                None,
                Ok(()),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                Submitted,
                SignedOff,
                None,
                Err(Refusal::OnlyOfficeDecides),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                SignedOff,
                InProgress,
                None,
                Err(Refusal::SignedOffLocked),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s1",
                SignedOff,
                Submitted,
                None,
                Err(Refusal::SignedOffLocked),
            ),
            (
                Role::Unit,
                Some("s1"),
                "s2",
                NotStarted,
                InProgress,
                None,
                Err(Refusal::NotYourUnit),
            ),
            (
                Role::Unit,
                None,
                "s1",
                NotStarted,
                InProgress,
                None,
                Err(Refusal::NotYourUnit),
            ),
            (
                Role::Department,
                Some("jcg"),
                "jcg",
                InProgress,
                Submitted,
                None,
                Ok(()),
            ),
            (
                Role::Department,
                Some("jcg"),
                "s1",
                InProgress,
                Submitted,
                None,
                Err(Refusal::NotYourUnit),
            ),
            (Role::Office, None, "s1", Submitted, SignedOff, None, Ok(())),
            (
                Role::Office,
                None,
                "s1",
                Submitted,
                Returned,
                Some("照片不清晰"),
                Ok(()),
            ),
            (
                Role::Office,
                None,
                "s1",
                Submitted,
                Returned,
                Some("  "),
                Err(Refusal::ReasonRequired),
            ),
            (
                Role::Office,
                None,
                "s1",
                SignedOff,
                Returned,
                Some("回头看发现反弹"),
                Ok(()),
            ),
            (
                Role::Office,
                None,
                "s1",
                InProgress,
                SignedOff,
                None,
                Err(Refusal::NotAllowed {
                    from: InProgress,
                    to: SignedOff,
                }),
            ),
            (
                Role::Viewer,
                None,
                "s1",
                InProgress,
                Submitted,
                None,
                Err(Refusal::ReadOnly),
            ),
        ];
        for (role, own, unit, from, to, reason, expected) in cases {
            let got = check_unit_move(&actor(*role, *own), unit, *from, *to, *reason);
            assert_eq!(
                &got, expected,
                "{role:?}({own:?}) moves {unit} {from:?} -> {to:?}"
            );
        }
    }

    #[test]
    fn a_signed_off_entry_is_locked_for_its_unit_only() {
        use UnitStatus::*;
        // (role, the entry's status, expected)
        let cases = [
            (Role::Unit, InProgress, Ok(())),
            (Role::Unit, Submitted, Ok(())),
            (Role::Unit, Returned, Ok(())),
            (Role::Unit, SignedOff, Err(Refusal::SignedOffLocked)),
            (Role::Department, SignedOff, Err(Refusal::SignedOffLocked)),
            (Role::Office, SignedOff, Ok(())),
            (Role::Viewer, InProgress, Err(Refusal::ReadOnly)),
        ];
        for (role, status, expected) in cases {
            assert_eq!(
                check_entry_edit(&actor(role, Some("s1")), status),
                expected,
                "{role:?} on {status:?}"
            );
        }
    }

    #[test]
    fn a_request_for_sign_off_needs_words_or_evidence() {
        let cases = [
            ("", 0, Err(Refusal::NothingToSubmit)),
            (" \n\t", 0, Err(Refusal::NothingToSubmit)),
            ("食堂台账已补齐。", 0, Ok(())),
            ("", 1, Ok(())),
        ];
        for (narrative, evidence, expected) in cases {
            assert_eq!(
                check_submission(narrative, evidence),
                expected,
                "{narrative:?} with {evidence} file(s)"
            );
        }
    }

    #[test]
    fn closing_an_item_needs_every_unit_signed_off() {
        use UnitStatus::*;
        let office = actor(Role::Office, None);
        assert_eq!(
            check_item_status(&office, PublicStatus::Done, &[SignedOff, SignedOff]),
            Ok(())
        );
        assert_eq!(check_item_status(&office, PublicStatus::Done, &[]), Ok(()));
        assert_eq!(
            check_item_status(&office, PublicStatus::DoneLongTerm, &[SignedOff, Submitted]),
            Err(Refusal::UnitsNotSignedOff { pending: 1 })
        );
        assert_eq!(
            check_item_status(&office, PublicStatus::InProgress, &[Submitted]),
            Ok(())
        );
        let school = actor(Role::Unit, Some("s1"));
        assert_eq!(
            check_item_status(&school, PublicStatus::Done, &[]),
            Err(Refusal::OnlyOfficePlans)
        );
    }
}
