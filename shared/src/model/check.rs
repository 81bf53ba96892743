//! Checking a change a client sent: is the step from one state of a document to the next
//! allowed for who sent it?
//!
//! The server cannot trust that a change was made through [`super::apply`]: a modified or
//! third-party client can write any Automerge operation. So the server compares the document
//! before and after the change, on two levels:
//!
//! - **raw**: every key and list element with the ids of the operations that wrote it,
//!   including conflicting values and keys this version does not know. A unit may only touch
//!   its own progress entry and append feedback; anything else that differs, even a value
//!   written again unchanged or an object replaced by an identical copy (which would hide
//!   edits made elsewhere at the same time), is refused.
//! - **typed**: the hydrated [`ItemDoc`]s, checked with the same workflow rules
//!   ([`check_unit_move`], [`check_item_status`]) that [`super::apply`] uses.
//!
//! Reviews are history: not even the office may change or remove one.

use super::{CampaignDoc, ItemDoc, ModelError, SCHEMA_VERSION, kind_of};
use crate::ids::UnitId;
use crate::policy::{Actor, Role};
use crate::workflow::{
    Refusal, UnitStatus, check_entry_edit, check_item_status, check_length, check_submission,
    check_unit_move,
};
use automerge::{AutoCommit, ObjType, ReadDoc, ScalarValue, Value, marks::Mark};
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// The two states of a document a check compares, each read as an item at most once however
/// many checks ask (reading an item is most of a check's cost on the server).
struct States<'a> {
    before: &'a AutoCommit,
    after: &'a AutoCommit,
    before_item: OnceCell<Result<ItemDoc, ModelError>>,
    after_item: OnceCell<Result<ItemDoc, ModelError>>,
}

impl<'a> States<'a> {
    fn new(before: &'a AutoCommit, after: &'a AutoCommit) -> Self {
        States {
            before,
            after,
            before_item: OnceCell::new(),
            after_item: OnceCell::new(),
        }
    }

    fn before_item(&self) -> &Result<ItemDoc, ModelError> {
        self.before_item.get_or_init(|| ItemDoc::load(self.before))
    }

    fn after_item(&self) -> &Result<ItemDoc, ModelError> {
        self.after_item.get_or_init(|| ItemDoc::load(self.after))
    }
}

/// Everything the server checks of a change `sender` sent: [`check_change`], then
/// [`check_authorship`], reading each state of the document once.
pub fn check_sent_change(
    actor: &Actor,
    sender: &str,
    before: &AutoCommit,
    after: &AutoCommit,
) -> Result<(), ChangeRefusal> {
    check_sent_change_knowing(actor, sender, before, after, None)
        .0
        .map(|_| ())
}

/// [`check_sent_change`], given the item as `before` reads (when the caller kept it from an
/// earlier check); also returns the item as `after` reads, when the checks read it. Reading an
/// item is most of a check's cost, and one change's `after` is the next one's `before`.
///
/// An allowed change comes with the evidence files it newly references (sorted, once
/// each): whether the sender may name them depends on who uploaded them, which only the
/// server can look up; it then asks [`check_reference`] about each.
pub fn check_sent_change_knowing(
    actor: &Actor,
    sender: &str,
    before: &AutoCommit,
    after: &AutoCommit,
    before_item: Option<ItemDoc>,
) -> (Result<Vec<String>, ChangeRefusal>, Option<ItemDoc>) {
    let states = States::new(before, after);
    if let Some(item) = before_item {
        let _ = states.before_item.set(Ok(item));
    }
    let verdict = change_allowed(actor, &states).and_then(|()| authorship(sender, &states));
    let after_item = states.after_item.into_inner().and_then(Result::ok);
    (verdict, after_item)
}

/// What the server knows of a stored evidence file that a change newly references, for
/// [`check_reference`]. (A hash with no stored file has no facts: see there.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The account that uploaded it first.
    pub uploaded_by: String,
    /// That account's unit.
    pub uploader_unit: Option<UnitId>,
    /// Whether the sender may read the file already: it may read an item that references
    /// it (before this change).
    pub readable_by_sender: bool,
}

/// May `actor` (account `sender`) make an item reference the evidence file `sha256`?
/// `stored` is what the server has of the file, `None` when no file has this hash.
///
/// A reference lets everyone who reads the item read the file, so naming a file is allowed
/// only to those who could read it anyway: the office and viewers, the account that
/// uploaded it or another account of its unit, and whoever may already read an item that
/// references it. A file nobody has stored yet is the sender's own (the device references a
/// file first and uploads it after the documents are in sync). Knowing a file's hash is not
/// the right to read it.
pub fn check_reference(
    actor: &Actor,
    sender: &str,
    sha256: &str,
    stored: Option<&StoredFile>,
) -> Result<(), ChangeRefusal> {
    let Some(file) = stored else {
        return Ok(());
    };
    let allowed = matches!(actor.role, Role::Office | Role::Viewer)
        || file.uploaded_by == sender
        || (file.uploader_unit.is_some() && file.uploader_unit == actor.unit)
        || file.readable_by_sender;
    if allowed {
        Ok(())
    } else {
        Err(ChangeRefusal::EvidenceNotYours {
            sha256: sha256.to_owned(),
        })
    }
}

/// The top-level keys of an item document (see `docs/sync-protocol.md`).
pub const ITEM_KEYS: &[&str] = &[
    "schema_version",
    "kind",
    "campaign",
    "key",
    "area_no",
    "area_title",
    "problem_no",
    "problem_title",
    "sub_no",
    "title",
    "measures",
    "removed_measures",
    "responsible_leader",
    "responsible_department",
    "units",
    "deadline",
    "timing",
    "narrative",
    "status",
    "document_numbers",
    "progress",
    "feedback",
    "reviews",
];

/// The keys of a unit's `progress` entry; the unit may write all of them.
pub const PROGRESS_KEYS: &[&str] = &[
    "status",
    "narrative",
    "measures_done",
    "evidence",
    "updated_by",
    "updated_at_ms",
];

/// How deeply nested a document may be. Rectify's own documents are four levels deep; the
/// limit keeps a hostile document from exhausting the stack while it is compared.
const MAX_DEPTH: usize = 32;

/// Why a change was refused. The message says what was refused and why, for the
/// quarantine table and for the client that sent it.
///
/// The workflow's own refusals ([`Refusal`]) are kept as they are, so a move refused here
/// reads exactly as it does when [`super::apply`] refuses it in the client.
///
/// Our client is sent it as data (`rectifyRefusal` in the `error` frame, JSON: `code` and the
/// variant's fields) and says it in the user's language; the text stays for everyone else.
/// Add variants, never rename them: an older client shows the text for a code it does not
/// know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ChangeRefusal {
    #[error(transparent)]
    Workflow(#[from] Refusal),
    #[error("only the office (领导小组办公室) can create {kind} documents")]
    OnlyOfficeCreates { kind: String },
    #[error("only the office (领导小组办公室) can change a campaign")]
    OnlyOfficeCampaign,
    #[error(
        "this document is of a kind Rectify does not know ({kind}); only the office (领导小组办公室) can change it"
    )]
    UnknownKind { kind: String },
    #[error(
        "a document's kind is fixed when it is created: the change turns a {before} document into {after}"
    )]
    KindChanged { before: String, after: String },
    #[error(
        "only the office (领导小组办公室) can move a document to a newer schema \
         (the change sets schema_version to {found}; this server knows {known})"
    )]
    SchemaBump { found: u64, known: u64 },
    #[error(
        "this document is from a newer schema ({found}; this server knows {known}), so the server \
         cannot check changes to it; only the office (领导小组办公室) can change it"
    )]
    NewerSchema { found: u64, known: u64 },
    #[error("the change leaves a document that is not a valid {kind} document: {reason}")]
    Malformed { kind: String, reason: String },
    #[error(
        "the stored {kind} document cannot be read ({reason}), so changes to it cannot be checked; \
         only the office (领导小组办公室) can change it"
    )]
    StoredMalformed { kind: String, reason: String },
    #[error("the document is nested more than {max} levels deep, too deep to check")]
    TooDeep { max: usize },
    #[error("only the office (领导小组办公室) can change an item's `{key}`")]
    OfficeOnlyKey { key: String },
    #[error(
        "`{path}` is not a key this version of Rectify knows; only the office (领导小组办公室) can add, change or remove it"
    )]
    UnknownKey { path: String },
    #[error("a unit can change only its own progress, not the progress of unit '{unit}'")]
    OtherUnitsProgress { unit: String },
    #[error(
        "the progress entry of unit '{unit}' is created and removed only by the office (领导小组办公室), when it assigns units"
    )]
    ProgressEntry { unit: String },
    #[error(
        "`{path}` was replaced by a new object; only its contents may be edited, so that edits made \
         elsewhere at the same time are not lost"
    )]
    Replaced { path: String },
    #[error("no measure '{measure}' in this item, so it cannot be ticked")]
    NoSuchMeasure { measure: String },
    #[error(
        "the measure '{text}' ({id}) is gone from the item without a trace: a measure the office \
         removes is kept in `removed_measures` with its text, so that ticks on it stay readable \
         and its id is never given again"
    )]
    MeasureDropped { id: String, text: String },
    #[error("a unit can add feedback only about its own unit (this message is about {about})")]
    FeedbackNotYours { about: String },
    #[error("feedback messages can only be added: existing messages are never changed or removed")]
    FeedbackRewritten,
    #[error(
        "reviews (销号 / 退回 decisions) are history: they can only be added, never changed or removed"
    )]
    ReviewsRewritten,
    #[error(
        "evidence must name its file by the SHA-256 of the file's bytes (64 lowercase hex digits), not '{sha256}'"
    )]
    EvidenceId { sha256: String },
    #[error(
        "evidence file {sha256} is not one this account may attach: attach files from this device, \
         not another unit's files by their hash"
    )]
    EvidenceNotYours { sha256: String },
    #[error(
        "evidence {sha256} was added by '{before}'; the change rewrites that to '{after}': who added a file is history and never changes"
    )]
    EvidenceAuthorRewritten {
        sha256: String,
        before: String,
        after: String,
    },
    #[error(
        "`{field}` names '{claimed}', but the change was sent by '{sender}': nobody writes in another's name"
    )]
    NotTheSender {
        field: String,
        claimed: String,
        sender: String,
    },
}

/// Does every name the change writes (a progress entry's `updated_by`, new evidence's
/// `added_by`, new feedback's `author`, a new review's `by`) name `sender`, the account that
/// sent it? And does new evidence name its file by a SHA-256 (the file server's key)? Run after [`check_change`] allowed the change; documents that are not items, or
/// don't load as items, have nothing to check here.
pub fn check_authorship(
    sender: &str,
    before: &AutoCommit,
    after: &AutoCommit,
) -> Result<(), ChangeRefusal> {
    authorship(sender, &States::new(before, after)).map(|_| ())
}

/// [`check_authorship`]; when it passes, the files the change newly references.
fn authorship(sender: &str, states: &States<'_>) -> Result<Vec<String>, ChangeRefusal> {
    let mut referenced = Vec::new();
    if kind_of(states.after).as_deref() != Some("item") {
        return Ok(referenced);
    }
    let (Ok(after), before) = (states.after_item(), states.before_item().as_ref().ok()) else {
        return Ok(referenced);
    };
    let claim = |field: String, claimed: &str| {
        if claimed == sender {
            Ok(())
        } else {
            Err(ChangeRefusal::NotTheSender {
                field,
                claimed: claimed.to_owned(),
                sender: sender.to_owned(),
            })
        }
    };
    for (unit, progress) in &after.progress {
        let old = before.as_ref().and_then(|b| b.progress.get(unit));
        // A new entry (made by the office on assignment) may name nobody yet; a changed one
        // names its sender, never nobody.
        if old.is_none_or(|old| old.updated_by != progress.updated_by)
            && (old.is_some() || !progress.updated_by.is_empty())
        {
            claim(format!("progress.{unit}.updated_by"), &progress.updated_by)?;
        }
        for evidence in &progress.evidence {
            let earlier: Vec<_> = old
                .map(|old| {
                    old.evidence
                        .iter()
                        .filter(|e| e.sha256 == evidence.sha256)
                        .collect()
                })
                .unwrap_or_default();
            if !earlier.is_empty() {
                // Who added a file is history: the entry keeps it whoever edits the entry.
                if !earlier.iter().any(|e| e.added_by == evidence.added_by) {
                    return Err(ChangeRefusal::EvidenceAuthorRewritten {
                        sha256: evidence.sha256.clone(),
                        before: earlier[0].added_by.clone(),
                        after: evidence.added_by.clone(),
                    });
                }
            } else {
                claim(
                    format!("progress.{unit}.evidence.added_by"),
                    &evidence.added_by,
                )?;
                if !crate::evidence::is_sha256_hex(&evidence.sha256) {
                    return Err(ChangeRefusal::EvidenceId {
                        sha256: evidence.sha256.clone(),
                    });
                }
                referenced.push(evidence.sha256.clone());
            }
        }
    }
    for feedback in &after.feedback {
        let known = before
            .as_ref()
            .is_some_and(|b| b.feedback.iter().any(|f| f.id == feedback.id));
        if !known {
            claim("feedback.author".to_owned(), &feedback.author)?;
        }
    }
    for review in &after.reviews {
        let known = before
            .as_ref()
            .is_some_and(|b| b.reviews.iter().any(|r| r.id == review.id));
        if !known {
            claim("reviews.by".to_owned(), &review.by)?;
        }
    }
    referenced.sort_unstable();
    referenced.dedup();
    Ok(referenced)
}

/// Is the change from `before` to `after` (two states of one document) allowed for `actor`?
///
/// `before` is empty (e.g. [`super::new_automerge`]) when a client announces a new document.
/// `after` may come from a hostile client: whatever it holds, the answer is a refusal with
/// a message, never a panic.
pub fn check_change(
    actor: &Actor,
    before: &AutoCommit,
    after: &AutoCommit,
) -> Result<(), ChangeRefusal> {
    change_allowed(actor, &States::new(before, after))
}

fn change_allowed(actor: &Actor, states: &States<'_>) -> Result<(), ChangeRefusal> {
    let (before, after) = (states.before, states.after);
    let raw_before = Fields::of(before)?;
    let raw_after = Fields::of(after)?;
    if raw_before == raw_after {
        // Not one value or operation id differs (an empty change, say): nothing to refuse.
        return Ok(());
    }
    if actor.role == Role::Viewer {
        return Err(Refusal::ReadOnly.into());
    }
    let office = actor.role == Role::Office;
    let kind = kind_of(after);
    let creating = raw_before.0.is_empty();
    if creating && !office {
        return Err(ChangeRefusal::OnlyOfficeCreates {
            kind: kind.unwrap_or_else(|| "untyped".to_owned()),
        });
    }
    let kind_before = kind_of(before);
    if !creating && kind_before != kind {
        let name = |kind: Option<String>| kind.unwrap_or_else(|| "untyped".to_owned());
        return Err(ChangeRefusal::KindChanged {
            before: name(kind_before),
            after: name(kind),
        });
    }
    check_schema(actor, before, after)?;
    if office && newer_schema(after).is_some() {
        // The office may write what this server cannot read; there is nothing more to check.
        return Ok(());
    }
    match kind.as_deref() {
        Some("item") => {
            let after_item = states
                .after_item()
                .as_ref()
                .map_err(|e| malformed("item", e))?;
            if creating {
                return Ok(());
            }
            let changes = Changes {
                actor,
                before: &raw_before,
                after: &raw_after,
                after_item,
            };
            match states.before_item() {
                Ok(before_item) => changes.check(Some(before_item)),
                // The office may repair a stored document this version cannot read.
                Err(_) if office => changes.check(None),
                Err(e) => Err(ChangeRefusal::StoredMalformed {
                    kind: "item".to_owned(),
                    reason: e.to_string(),
                }),
            }
        }
        Some("campaign") if office => {
            CampaignDoc::load(after).map_err(|e| malformed("campaign", &e))?;
            Ok(())
        }
        Some("campaign") => Err(ChangeRefusal::OnlyOfficeCampaign),
        _ if office => Ok(()),
        other => Err(ChangeRefusal::UnknownKind {
            kind: other.unwrap_or("untyped").to_owned(),
        }),
    }
}

pub(crate) fn malformed(kind: &'static str, error: &ModelError) -> ChangeRefusal {
    ChangeRefusal::Malformed {
        kind: kind.to_owned(),
        reason: error.to_string(),
    }
}

/// The document's `schema_version` when it is newer than this version knows.
fn newer_schema(doc: &AutoCommit) -> Option<u64> {
    autosurgeon::hydrate_prop::<_, Option<u64>, _, _>(doc, automerge::ROOT, "schema_version")
        .ok()
        .flatten()
        .filter(|v| *v > SCHEMA_VERSION)
}

/// Only the office may write a document of a newer schema, or make one newer: this server
/// cannot tell what such a change means.
fn check_schema(
    actor: &Actor,
    before: &AutoCommit,
    after: &AutoCommit,
) -> Result<(), ChangeRefusal> {
    if actor.role == Role::Office {
        return Ok(());
    }
    if let Some(found) = newer_schema(before) {
        return Err(ChangeRefusal::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if let Some(found) = newer_schema(after) {
        return Err(ChangeRefusal::SchemaBump {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// A change to an item document, with both states at the raw level and the result typed.
struct Changes<'a> {
    actor: &'a Actor,
    before: &'a Fields,
    after: &'a Fields,
    after_item: &'a ItemDoc,
}

impl Changes<'_> {
    /// `before_item` is `None` only for the office repairing an unreadable document.
    fn check(&self, before_item: Option<&ItemDoc>) -> Result<(), ChangeRefusal> {
        check_lengths(before_item, self.after_item)?;
        match self.actor.role {
            Role::Office => self.check_office(before_item),
            Role::Unit | Role::Department => {
                let own = self.actor.unit.as_ref().map(UnitId::as_str);
                match (own, before_item) {
                    (Some(own), Some(before_item)) => self.check_unit(own, before_item),
                    _ => Err(Refusal::NotYourUnit.into()),
                }
            }
            Role::Viewer => Err(Refusal::ReadOnly.into()),
        }
    }

    /// The office changes anything, but never rewrites a review, closes an item only when
    /// every assigned unit is signed off, and never drops a measure without its tombstone.
    fn check_office(&self, before_item: Option<&ItemDoc>) -> Result<(), ChangeRefusal> {
        if let Some((_, before, after)) = self.changed("reviews") {
            appended_slots(before, after).ok_or(ChangeRefusal::ReviewsRewritten)?;
        }
        let item = self.after_item;
        if before_item.is_none_or(|before| before.status != item.status) {
            check_item_status(self.actor, item.status, &item.unit_statuses())?;
        }
        if let Some(before) = before_item {
            let dropped = (before.measures.iter())
                .map(|m| (&m.id, m.text.as_str()))
                .chain(
                    before
                        .removed_measures
                        .iter()
                        .map(|r| (&r.id, r.text.as_str())),
                )
                .find(|(id, _)| !item.ever_had_measure(id));
            if let Some((id, text)) = dropped {
                return Err(ChangeRefusal::MeasureDropped {
                    id: id.clone(),
                    text: text.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// A unit (or a department, for its own unit) changes its own progress entry and adds
    /// feedback about itself; nothing else may differ.
    fn check_unit(&self, own: &str, before_item: &ItemDoc) -> Result<(), ChangeRefusal> {
        let mut progress_changed = false;
        let mut new_feedback = Vec::new();
        for (key, before, after) in changed_keys(self.before, self.after) {
            match key {
                "progress" => {
                    check_own_progress(own, before, after)?;
                    progress_changed = true;
                }
                "feedback" => {
                    new_feedback =
                        appended_slots(before, after).ok_or(ChangeRefusal::FeedbackRewritten)?;
                }
                "reviews" => return Err(Refusal::OnlyOfficeDecides.into()),
                "status" => return Err(Refusal::OnlyOfficePlans.into()),
                key if ITEM_KEYS.contains(&key) => {
                    return Err(ChangeRefusal::OfficeOnlyKey {
                        key: key.to_owned(),
                    });
                }
                key => {
                    return Err(ChangeRefusal::UnknownKey {
                        path: key.to_owned(),
                    });
                }
            }
        }
        let item = self.after_item;
        if progress_changed {
            // The same rule as `apply`: a unit works only on items assigned to it.
            if !item.units.iter().any(|u| u == own) {
                return Err(Refusal::NotYourUnit.into());
            }
            // The raw check proved that the entry exists in both states.
            if let (Some(before), Some(after)) =
                (before_item.progress.get(own), item.progress.get(own))
            {
                // What the office signed off stays as it was signed off, until it reopens it.
                check_entry_edit(self.actor, before.status)?;
                if before.status != after.status {
                    check_unit_move(self.actor, own, before.status, after.status, None)?;
                    if after.status == UnitStatus::Submitted {
                        check_submission(after.narrative.as_str(), after.evidence.len())?;
                    }
                }
                // A measure the office removed may still be ticked (the unit was offline when
                // it was removed): the tick stays on it and counts for nothing. A measure the
                // item never had may not.
                for (measure, done) in &after.measures_done {
                    let ticked = before.measures_done.get(measure) != Some(done);
                    if ticked && !item.ever_had_measure(measure) {
                        return Err(ChangeRefusal::NoSuchMeasure {
                            measure: measure.clone(),
                        });
                    }
                }
            }
        }
        for index in new_feedback {
            // Hydrating `after` succeeded, so every list element is a feedback message.
            let Some(message) = item.feedback.get(index) else {
                continue;
            };
            if message.unit.as_deref() != Some(own) {
                let about = match &message.unit {
                    Some(unit) => format!("unit '{unit}'"),
                    None => "no unit".to_owned(),
                };
                return Err(ChangeRefusal::FeedbackNotYours { about });
            }
        }
        Ok(())
    }

    /// The top-level key's slots before and after, if it changed.
    fn changed(&self, key: &str) -> Option<(&str, Option<&Slot>, Option<&Slot>)> {
        changed_keys(self.before, self.after).find(|(k, _, _)| *k == key)
    }
}

/// Within `progress`, only the unit's own entry may change, and within it only the keys
/// the unit writes. The entry itself is the office's: created on assignment, never
/// replaced.
fn check_own_progress(
    own: &str,
    before: Option<&Slot>,
    after: Option<&Slot>,
) -> Result<(), ChangeRefusal> {
    let replaced = || ChangeRefusal::Replaced {
        path: "progress".to_owned(),
    };
    let (before, after) = same_map(before, after).ok_or_else(replaced)?;
    for (unit, before, after) in changed_keys(before, after) {
        if unit != own {
            return Err(ChangeRefusal::OtherUnitsProgress {
                unit: unit.to_owned(),
            });
        }
        if before.is_none() || after.is_none() {
            return Err(ChangeRefusal::ProgressEntry {
                unit: unit.to_owned(),
            });
        }
        let (before, after) = same_map(before, after).ok_or_else(|| ChangeRefusal::Replaced {
            path: format!("progress.{unit}"),
        })?;
        if let Some((key, _, _)) =
            changed_keys(before, after).find(|(key, _, _)| !PROGRESS_KEYS.contains(key))
        {
            return Err(ChangeRefusal::UnknownKey {
                path: format!("progress.{unit}.{key}"),
            });
        }
    }
    Ok(())
}

// ---- The raw view of a document -----------------------------------------------------------

/// A map's keys, each with everything it holds.
#[derive(Debug, PartialEq)]
pub(crate) struct Fields(pub(crate) BTreeMap<String, Slot>);

/// What one map key or list position holds: every value concurrent writes left there, each
/// with the id of the operation that wrote it, the winning value last. Two slots are equal
/// only when the same operations wrote the same values.
pub(crate) type Slot = Vec<(automerge::ObjId, Raw)>;

/// A value as stored, with nested objects expanded.
#[derive(Debug, PartialEq)]
pub(crate) enum Raw {
    Scalar(Scalar),
    Map(Fields),
    List(Vec<Slot>),
    Text { text: String, marks: Vec<Mark> },
}

/// A scalar compared by its bits, so that a NaN equals itself and an unchanged document
/// always compares equal to itself.
#[derive(Debug)]
pub(crate) struct Scalar(ScalarValue);

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (ScalarValue::F64(a), ScalarValue::F64(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }
}

impl Fields {
    /// The whole document, from the root.
    pub(crate) fn of(doc: &AutoCommit) -> Result<Fields, ChangeRefusal> {
        match read_object(doc, &automerge::ROOT, ObjType::Map, 0)? {
            Raw::Map(fields) => Ok(fields),
            _ => Ok(Fields(BTreeMap::new())),
        }
    }
}

fn read_object(
    doc: &AutoCommit,
    obj: &automerge::ObjId,
    kind: ObjType,
    depth: usize,
) -> Result<Raw, ChangeRefusal> {
    if depth > MAX_DEPTH {
        return Err(ChangeRefusal::TooDeep { max: MAX_DEPTH });
    }
    Ok(match kind {
        ObjType::Map | ObjType::Table => {
            let mut fields = BTreeMap::new();
            for key in doc.keys(obj) {
                let slot = read_slot(doc, obj, key.as_str().into(), depth)?;
                fields.insert(key, slot);
            }
            Raw::Map(Fields(fields))
        }
        ObjType::List => (0..doc.length(obj))
            .map(|i| read_slot(doc, obj, i.into(), depth))
            .collect::<Result<_, _>>()
            .map(Raw::List)?,
        ObjType::Text => Raw::Text {
            // An object id just read from this document is always readable; an error would
            // mean a bug in Automerge, and then comparing as empty only makes us stricter.
            text: doc.text(obj).unwrap_or_default(),
            marks: doc.marks(obj).unwrap_or_default(),
        },
    })
}

fn read_slot(
    doc: &AutoCommit,
    obj: &automerge::ObjId,
    prop: automerge::Prop,
    depth: usize,
) -> Result<Slot, ChangeRefusal> {
    // Automerge lists the winning value last (`get` is the last of `get_all`).
    let mut slot = Vec::new();
    for (value, id) in doc.get_all(obj, prop).unwrap_or_default() {
        let raw = match value {
            Value::Scalar(scalar) => Raw::Scalar(Scalar(scalar.into_owned())),
            Value::Object(kind) => read_object(doc, &id, kind, depth + 1)?,
        };
        slot.push((id, raw));
    }
    Ok(slot)
}

/// The keys whose slots differ between two maps, with both slots.
pub(crate) fn changed_keys<'a>(
    before: &'a Fields,
    after: &'a Fields,
) -> impl Iterator<Item = (&'a str, Option<&'a Slot>, Option<&'a Slot>)> {
    let (before, after) = (&before.0, &after.0);
    let removed = before.keys().filter(|k| !after.contains_key(*k));
    after
        .keys()
        .chain(removed)
        .map(|key| (key.as_str(), before.get(key), after.get(key)))
        .filter(|(_, before, after)| before != after)
}

/// The same object in both states (same operation ids, losing conflicting values
/// unchanged), with the winning value's contents.
pub(crate) fn same_object<'a>(
    before: Option<&'a Slot>,
    after: Option<&'a Slot>,
) -> Option<(&'a Raw, &'a Raw)> {
    let (before, after) = (before?, after?);
    let ((before_id, before_value), before_losers) = before.split_last()?;
    let ((after_id, after_value), after_losers) = after.split_last()?;
    (before_id == after_id && before_losers == after_losers).then_some((before_value, after_value))
}

/// [`same_object`] for a map.
fn same_map<'a>(
    before: Option<&'a Slot>,
    after: Option<&'a Slot>,
) -> Option<(&'a Fields, &'a Fields)> {
    match same_object(before, after)? {
        (Raw::Map(before), Raw::Map(after)) => Some((before, after)),
        _ => None,
    }
}

/// Was `after` made from `before` only by inserting elements (anywhere: concurrent appends
/// interleave)? Then the positions of the new elements in `after`.
pub(crate) fn appended_slots(before: Option<&Slot>, after: Option<&Slot>) -> Option<Vec<usize>> {
    match same_object(before, after)? {
        (Raw::List(before), Raw::List(after)) => appended(before, after),
        _ => None,
    }
}

fn appended(before: &[Slot], after: &[Slot]) -> Option<Vec<usize>> {
    let known = |slot: &Slot| {
        before.iter().any(|old| {
            old.iter()
                .any(|(id, _)| slot.iter().any(|(new, _)| new == id))
        })
    };
    let mut old = before.iter().peekable();
    let mut added = Vec::new();
    for (index, slot) in after.iter().enumerate() {
        if old.peek() == Some(&slot) {
            old.next();
        } else if known(slot) {
            // An existing element that was changed, or one that moved past a removed one.
            return None;
        } else {
            added.push(index);
        }
    }
    // Whatever is left in `old` was removed.
    old.next().is_none().then_some(added)
}

/// Every text a change wrote fits its field ([`check_length`]). Texts it did not touch are
/// not judged: an imported text longer than a limit does not block other edits of the item.
fn check_lengths(before: Option<&ItemDoc>, after: &ItemDoc) -> Result<(), Refusal> {
    use crate::workflow::TextField::{Caption, Definition, Feedback, Narrative, Reason};
    let check = |field, old: Option<&str>, new: &str| {
        if old == Some(new) {
            Ok(())
        } else {
            check_length(field, new)
        }
    };
    check(
        Definition,
        before.map(|b| b.title.as_str()),
        after.title.as_str(),
    )?;
    check(
        Narrative,
        before.map(|b| b.narrative.as_str()),
        after.narrative.as_str(),
    )?;
    for measure in &after.measures {
        let old = before
            .and_then(|b| b.measures.iter().find(|m| m.id == measure.id))
            .map(|m| m.text.as_str());
        check(Definition, old, measure.text.as_str())?;
    }
    for (unit, progress) in &after.progress {
        let old = before.and_then(|b| b.progress.get(unit));
        check(
            Narrative,
            old.map(|p| p.narrative.as_str()),
            progress.narrative.as_str(),
        )?;
        for evidence in &progress.evidence {
            let was = old
                .and_then(|p| p.evidence.iter().find(|e| e.sha256 == evidence.sha256))
                .map(|e| e.caption.as_str());
            check(Caption, was, &evidence.caption)?;
        }
    }
    for message in &after.feedback {
        let old = before
            .and_then(|b| b.feedback.iter().find(|f| f.id == message.id))
            .map(|f| f.text.as_str());
        check(Feedback, old, &message.text)?;
    }
    for review in &after.reviews {
        let old = before
            .and_then(|b| b.reviews.iter().find(|r| r.id == review.id))
            .map(|r| r.reason.as_str());
        check(Reason, old, &review.reason)?;
    }
    Ok(())
}
