//! The documents Rectify syncs, as typed Rust on top of Automerge (via autosurgeon).
//!
//! Two kinds of document:
//! - a **campaign** ([`CampaignDoc`]): one inspection round: who inspected whom, the dates,
//!   the areas. Read by the office, departments and viewers.
//! - an **item** ([`ItemDoc`]): one leaf item (a problem without sub-problems, or a
//!   sub-problem): its definition (office only), and each assigned unit's progress,
//!   evidence, feedback and the office's decisions. A unit syncs only its items' documents.
//!
//! Every document carries `schema_version`. A client that meets a newer version than
//! [`SCHEMA_VERSION`] reads what it can and refuses to write ([`ModelError::NewerSchema`]),
//! so it never rewrites what it does not understand. Edits hydrate the document, change
//! the typed value and reconcile it back: autosurgeon writes only what changed (text as
//! character splices), and keys this version does not know are left untouched.
//!
//! Every key is documented for third-party clients in `docs/sync-protocol.md`.
//!
//! [`v2`] is schema version 2 (an item and one document per unit's work, issue #21): not
//! yet used by the server or the client; `docs/schema-v2.md` is its design.

mod campaign;
pub mod check;
mod conflict;
mod convert;
mod item;
pub mod rescue;
pub mod v2;

pub use campaign::{AreaInfo, CampaignDoc, PartDoc};
pub use check::{
    ChangeRefusal, StoredFile, check_authorship, check_change, check_reference, check_sent_change,
    check_sent_change_knowing,
};
pub use conflict::{StatusClaim, status_conflicts};
pub use convert::{
    LedgerContext, ReportTextError, as_last_imported, beijing_time, campaign_from_report,
    item_from_report, item_key, ledger_rows, refresh_campaign_from_report, refresh_from_report,
    report_from_docs, report_text, set_report_text, unit_ledger_rows,
};
pub use item::{
    EditContext, EvidenceRef, Feedback, ItemDoc, ItemEdit, ItemPlan, Measure, MeasureText,
    RemovedMeasure, Review, Timing, UnitProgress, apply, apply_at, apply_to, new_measure_id,
    update_item,
};

use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ReadDoc};
use autosurgeon::Reconcile;

/// The schema version this code writes. Bump it (and add a migration note to
/// `docs/sync-protocol.md`) whenever a stored key changes meaning.
pub const SCHEMA_VERSION: u64 = 1;

/// What went wrong reading or editing a document.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "this document was written by a newer version of Rectify (schema {found}, this app knows {known}); \
         update the app to change it — nothing was changed"
    )]
    NewerSchema { found: u64, known: u64 },
    #[error("this is not a {expected} document (it says kind = {found:?})")]
    WrongKind {
        expected: &'static str,
        found: Option<String>,
    },
    #[error("the document does not have the expected shape: {0}")]
    Shape(#[from] autosurgeon::HydrateError),
    #[error("cannot write the document: {0}")]
    Reconcile(#[from] autosurgeon::ReconcileError),
    #[error(transparent)]
    Refused(#[from] crate::workflow::Refusal),
    #[error("{0}")]
    Invalid(String),
}

/// A new, empty Automerge document as Rectify uses them.
///
/// Text positions are counted in UTF-8 bytes: autosurgeon computes splice positions as
/// byte offsets into Rust strings, and with the default (code point) counting any Chinese
/// text would be spliced at the wrong place. Every document must be made or loaded here.
pub fn new_automerge() -> AutoCommit {
    AutoCommit::new_with_encoding(automerge::TextEncoding::Utf8CodeUnit)
}

/// Loads saved Automerge bytes (a full save, optionally followed by incremental chunks).
pub fn load_automerge(bytes: &[u8]) -> Result<AutoCommit, automerge::AutomergeError> {
    let options =
        automerge::LoadOptions::new().text_encoding(automerge::TextEncoding::Utf8CodeUnit);
    AutoCommit::load_with_options(bytes, options)
}

/// Reads `kind` and `schema_version` before anything else, so that a document from a newer
/// version is recognised even when its shape changed.
pub fn check_header(doc: &AutoCommit, expected_kind: &'static str) -> Result<(), ModelError> {
    let kind: Option<String> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "kind").ok();
    let version: Option<u64> = autosurgeon::hydrate_prop(doc, automerge::ROOT, "schema_version")
        .ok()
        .flatten();
    if let Some(found) = version.filter(|v| *v > SCHEMA_VERSION) {
        return Err(ModelError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if kind.as_deref() != Some(expected_kind) {
        return Err(ModelError::WrongKind {
            expected: expected_kind,
            found: kind,
        });
    }
    Ok(())
}

/// The document's kind (`item`, `campaign`), if it has one.
pub fn kind_of(doc: &AutoCommit) -> Option<String> {
    match doc.get(automerge::ROOT, "kind") {
        Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Creates a new document holding `value` (an [`ItemDoc`] or a [`CampaignDoc`]) as one
/// change by `user`.
pub fn create_document<T: Reconcile>(
    value: &T,
    user: &str,
    now_ms: i64,
) -> Result<AutoCommit, ModelError> {
    let mut doc = new_automerge();
    autosurgeon::reconcile(&mut doc, value)?;
    let message = commit_message(user, "create");
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(now_ms),
    );
    Ok(doc)
}

/// Writes `value` over the document (only what differs), as one change by `user`.
pub fn update_document<T: Reconcile>(
    doc: &mut AutoCommit,
    value: &T,
    user: &str,
    op: &str,
    now_ms: i64,
) -> Result<(), ModelError> {
    autosurgeon::reconcile(doc, value)?;
    let message = commit_message(user, op);
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(now_ms),
    );
    Ok(())
}

/// The commit message of a change Rectify makes: JSON `{"user": …, "op": …}`, read by the
/// history and the conflict view ([`read_commit_message`]).
pub fn commit_message(user: &str, op: &str) -> String {
    serde_json::json!({ "user": user, "op": op }).to_string()
}

/// A commit message as JSON, or `None` (a foreign client's message, or none). Releases up to
/// this one wrote the message with Rust's `{:?}`, which is JSON for ordinary names but not
/// for one with a control character (`\u{1}`, `\0`): those are read too.
pub fn read_commit_message(message: &str) -> Option<serde_json::Value> {
    serde_json::from_str(message)
        .ok()
        .or_else(|| serde_json::from_str(&debug_escapes_as_json(message)?).ok())
}

/// Rewrites the escapes Rust's `{:?}` writes and JSON lacks (`\u{…}`, `\0`, `\'`) as JSON's;
/// `None` when there are none.
fn debug_escapes_as_json(message: &str) -> Option<String> {
    if !message.contains("\\u{") && !message.contains("\\0") && !message.contains("\\'") {
        return None;
    }
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push_str("\\u0000"),
            Some('\'') => out.push('\''),
            Some('u') if chars.peek() == Some(&'{') => {
                chars.next();
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_messages_are_json_and_old_ones_still_read() {
        // (user, op): names a Rust `{:?}` message wrote as something JSON cannot read.
        let cases = [
            ("school1", "unit_narrative"),
            ("张老师", "tick_measure"),
            ("a\"quoted\"\\name", "plan"),
            ("tab\there", "create"),
            ("ctrl\u{1}char", "add_feedback"),
            ("nul\0", "define"),
            ("zero\u{200b}width", "unit_status"),
        ];
        for (user, op) in cases {
            let expected = Some(serde_json::json!({ "user": user, "op": op }));
            let now = commit_message(user, op);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&now).ok(),
                expected,
                "{now}"
            );
            // As releases before this one wrote it.
            let old = format!("{{\"user\":{user:?},\"op\":{op:?}}}");
            assert_eq!(read_commit_message(&old), expected, "{old}");
        }
        assert_eq!(read_commit_message("a foreign client's message"), None);
        assert_eq!(read_commit_message("{\"user\":\"x\\u{zz}\"}"), None);
    }
}
