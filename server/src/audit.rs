//! The audit log (issue #20): every office action, with the authenticated account that did
//! it and the server's time, for the discipline inspection office to read.
//!
//! Entries are only ever appended ([`Write::Audit`]; the storage trait has no way to change or
//! remove one, and both backends refuse `UPDATE` and `DELETE` on the table). What is recorded:
//! - over HTTP, in the storage transaction of the action itself (one [`Write`] batch: the
//!   action is never stored without its entry, nor the entry without the action): accounts
//!   created, disabled or enabled, passwords reset, sessions revoked (all, or one), reports
//!   imported, items added; evidence files downloaded (the original, not thumbnails) by
//!   anyone, the entry written before the bytes are sent;
//! - on the command line (`rectify init`, `rectify import`, `rectify demo`,
//!   [`crate::campaigns::edit_item`],
//!   `rectify user add`, `passwd` and `disable`), in the same way, by [`COMMAND_LINE`];
//! - over sync, in the same batch as the change ([`sync_entries`]): sign-offs (销号) and
//!   send-backs (退回), and an item re-planned (leader, department, units, deadline,
//!   timing), read from the typed item before and after the change, never its commit message.
//!
//! `GET /api/audit` (and `/api/audit.csv`, `crate::office::audit`) lets the office and
//! viewers read it (`docs/office-api.md`). This module depends on storage only, so the sync
//! driver and every handler can use it.

use crate::clock::now_ms;
use crate::storage::{NewAudit, Write};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model::ItemDoc;
use rectify_shared::workflow::UnitStatus;

/// The actions recorded, as stored and sent (`action`): change only with the clients.
pub mod action {
    pub const ACCOUNT_CREATED: &str = "account_created";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const ACCOUNT_ENABLED: &str = "account_enabled";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const SESSIONS_REVOKED: &str = "sessions_revoked";
    /// One session of an account ended by the office (target the account, detail the
    /// device and the session's public id).
    pub const SESSION_ENDED: &str = "session_ended";
    pub const IMPORT: &str = "import";
    pub const ITEM_ADDED: &str = "item_added";
    pub const ITEM_REPLANNED: &str = "item_replanned";
    pub const SIGNED_OFF: &str = "signed_off";
    pub const SENT_BACK: &str = "sent_back";
    pub const FILE_DOWNLOADED: &str = "file_downloaded";
    /// A version-1 item migrated to schema version 2 by `rectify migrate-schema` (target
    /// the version-1 document, detail the item's key and the version-2 item's id).
    pub const SCHEMA_MIGRATED: &str = "schema_migrated";

    /// Every action, for checking a filter.
    pub const ALL: [&str; 13] = [
        ACCOUNT_CREATED,
        ACCOUNT_DISABLED,
        ACCOUNT_ENABLED,
        PASSWORD_RESET,
        SESSIONS_REVOKED,
        SESSION_ENDED,
        IMPORT,
        ITEM_ADDED,
        ITEM_REPLANNED,
        SIGNED_OFF,
        SENT_BACK,
        FILE_DOWNLOADED,
        SCHEMA_MIGRATED,
    ];
}

/// The account named by entries of what the server's command line did (`rectify import`,
/// `rectify demo`, [`crate::campaigns::edit_item`]): no account can be called this
/// (`crate::accounts::check_username` allows no spaces or brackets), so it is never mistaken
/// for one.
pub const COMMAND_LINE: &str = rectify_shared::api::AUDIT_COMMAND_LINE;

/// [`COMMAND_LINE`] as the account of an entry.
pub fn command_line() -> Username {
    Username::new(COMMAND_LINE)
}

/// An entry by `account` now.
pub fn entry(account: &Username, action: &str, target: &str, detail: &str) -> Write {
    Write::Audit(NewAudit {
        at_ms: now_ms(),
        account: account.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: detail.to_owned(),
    })
}

/// The entries a synced change to an item makes, from the item before and after it: one per
/// new review (sign-off or send-back; target the item, detail `unit` or `unit: reason`), and
/// one when the plan changed. `account` is the sending account.
pub fn sync_entries(
    account: &Username,
    doc: DocumentId,
    before: &ItemDoc,
    after: &ItemDoc,
    now: i64,
) -> Vec<Write> {
    let mut entries = Vec::new();
    let mut push = |action: &str, detail: String| {
        entries.push(Write::Audit(NewAudit {
            at_ms: now,
            account: account.clone(),
            action: action.to_owned(),
            target: doc.to_string(),
            detail,
        }));
    };
    for review in &after.reviews {
        if before.reviews.iter().any(|r| r.id == review.id) {
            continue;
        }
        let action = match review.decision {
            UnitStatus::SignedOff => action::SIGNED_OFF,
            UnitStatus::Returned => action::SENT_BACK,
            _ => continue,
        };
        let detail = if review.reason.trim().is_empty() {
            format!("{} {}", after.key, review.unit)
        } else {
            format!("{} {}: {}", after.key, review.unit, review.reason.trim())
        };
        push(action, detail);
    }
    let plan = |item: &ItemDoc| {
        (
            item.responsible_leader.clone(),
            item.responsible_department.clone(),
            item.units.clone(),
            item.deadline.clone(),
            item.timing,
        )
    };
    if plan(before) != plan(after) {
        push(action::ITEM_REPLANNED, after.key.clone());
    }
    entries
}
