//! Bodies of the JSON HTTP API, shared by the server (which produces them) and the client.
//!
//! These are a public interface: add fields, do not rename or remove them.

use crate::ids::{SessionId, UnitId, Username};
use crate::policy::Role;
use serde::{Deserialize, Serialize};

/// `POST /api/login` request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/login` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub unit: Option<UnitId>,
    /// When the token stops working unless refreshed, in Unix milliseconds.
    pub expires_at_ms: i64,
}

/// Every error response of the API has this body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `bad_credentials`.
    pub code: String,
    /// What went wrong and what to do about it, in plain words (English).
    pub message: String,
    /// The same in Chinese (every refusal of this server has it; absent from an older one:
    /// show `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
}

/// One entry of `GET /api/items`: an item the caller may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSummary {
    /// The item document's id (bs58check).
    pub id: String,
    /// The automerge URL, `automerge:<id>`.
    pub url: String,
    pub campaign: String,
    /// `area.problem[.sub]`
    pub key: String,
    pub title: String,
    pub status: crate::status::PublicStatus,
    /// The report's wording of the status.
    pub status_wording: String,
    pub units: Vec<UnitId>,
    pub department: Option<UnitId>,
    /// `YYYY-MM-DD`
    pub deadline: Option<String>,
    /// The deadline has passed and the item is still open.
    pub overdue: bool,
    /// Schema version 2 (issue #21): the ids (bs58check) of the item's unit-work documents
    /// the caller may read (`UnitWorkDoc::may_read`: a school its own, the item's department,
    /// the office and viewers every unit's), by unit. Empty for a version-1 item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unit_work: Vec<String>,
}

/// `GET /api/units`: every school, kindergarten and department, for names and pickers.
/// `POST /api/units` (office) creates or renames one with the same body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitInfo {
    pub id: UnitId,
    pub name: String,
    /// `school`, `kindergarten`, `department` or `other`.
    pub kind: String,
}

/// One entry of `GET /api/accounts` (office; viewers read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub unit: Option<UnitId>,
    pub disabled: bool,
    pub created_at_ms: i64,
    /// Sessions (devices) that are logged in now.
    pub active_sessions: u32,
}

/// `POST /api/accounts` (office): a new account. Without a password one is generated and
/// returned once in [`AccountCreated`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit: Option<UnitId>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The answer to `POST /api/accounts` and to a password reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCreated {
    pub account: AccountInfo,
    /// The generated password, shown once; `None` when the caller chose it.
    pub password: Option<String>,
}

/// `PATCH /api/accounts/{username}` (office): what to change; absent fields stay.
/// Disabling an account also logs out all its devices.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountChange {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `POST /api/accounts/{username}/password` (office): a new password (generated when
/// `None`); every session of the account ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PasswordReset {
    #[serde(default)]
    pub password: Option<String>,
}

/// The answer to `POST /api/accounts/{username}/sessions/revoke` (a lost phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsRevoked {
    pub revoked: u64,
}

/// One active login session (`GET /api/me/sessions`, `GET /api/accounts/{username}/sessions`).
/// Holds nothing that logs anyone in: `id` is a random public id, not the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// End it with `DELETE /api/me/sessions/{id}` (own) or
    /// `DELETE /api/accounts/{username}/sessions/{id}` (office).
    pub id: SessionId,
    /// "Chrome · Android", from the login's User-Agent; `""` when unknown (older sessions).
    pub device: String,
    /// When it logged in, Unix ms.
    pub created_at_ms: i64,
    /// When it was last used, Unix ms, to about a minute.
    pub last_seen_ms: i64,
    /// Whether it is the session making this request.
    pub current: bool,
}

/// One entry of `GET /api/campaigns` (office, viewer). Its reports are at
/// `/api/campaigns/{id}/ledger.xlsx`, `ledger.csv`, `report.docx`, `report.html`, `report.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignInfo {
    pub id: String,
    pub name: String,
    pub items: usize,
    pub created_at_ms: i64,
}

/// The answer to `POST /api/import` (office; the body is the `.txt` or `.docx` file).
/// With `?dry_run=true` nothing is stored: the office sees the warnings first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub campaign_name: String,
    pub areas: usize,
    pub problems: usize,
    pub items: usize,
    pub done: usize,
    pub done_long_term: usize,
    pub in_progress: usize,
    pub warnings: Vec<ImportWarning>,
    /// False for a dry run.
    pub stored: bool,
    /// Filled in when stored.
    pub campaign: Option<String>,
    pub items_created: usize,
    pub items_updated: usize,
    pub items_unchanged: usize,
    /// What a re-import did not overwrite because the app's workflow has the say (filled in
    /// when stored; empty for a new campaign).
    #[serde(default)]
    pub left_alone: Vec<LeftAlone>,
}

/// A field of an item a re-import left as the app has it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftAlone {
    /// The item's `area.problem[.sub]`.
    pub key: String,
    /// `status` or `narrative`.
    pub field: String,
    /// What the report says, as the report words it.
    pub report_says: String,
    /// Why the app's value was kept (in Chinese, for the office).
    pub why: String,
}

/// `GET` (office, viewer) and `PUT` (office) `/api/campaigns/{id}/report-text`: the report's
/// own text around the items, as the published report prints it. Text keeps its lines
/// (`\n`); `published` is `YYYY-MM-DD` or null; an empty part is a part the report lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportText {
    pub title: String,
    pub preamble: String,
    /// Part 一 (整改工作开展情况).
    pub organisation: crate::report::Part,
    /// Part 二's heading; empty for the standard 整改工作具体落实情况.
    pub items_heading: String,
    /// Part 三 (整改工作取得的主要成效).
    pub results: crate::report::Part,
    /// Part 四 (下一步工作打算).
    pub next_steps: crate::report::Part,
    pub publisher: String,
    pub published: Option<String>,
}

/// A warning of the import preview: the importer's own, with its message in both languages.
pub use crate::import::ImportWarning;

/// `POST /api/campaigns/{id}/items` (office): an item added by hand. The answer is its
/// [`ItemSummary`]; the office's replica picks the document up from the item list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewItem {
    pub area_no: u32,
    pub area_title: String,
    pub problem_no: u32,
    pub problem_title: String,
    pub sub_no: Option<u32>,
    /// The problem statement.
    pub title: String,
    pub measures: Vec<String>,
    pub responsible_leader: String,
    pub responsible_department: Option<UnitId>,
    pub units: Vec<UnitId>,
    /// `YYYY-MM-DD`
    pub deadline: Option<String>,
    /// `immediate`, `by_deadline` or `long_term`.
    pub timing: Option<String>,
}

/// `GET /api/items/{id}/history`: the item's timeline, oldest first, for whoever may read
/// the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemHistory {
    pub entries: Vec<HistoryEntry>,
}

/// Consecutive changes by one person to one part of an item, shown as one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The account that made the changes: the server's record of which authenticated account
    /// sent them (`verified`), or, for changes stored before the server recorded senders,
    /// what their commit messages say; `None` when unknown.
    pub user: Option<String>,
    /// Whether `user` is the server's record of the sender (false: only the commit message's
    /// word, unverified).
    #[serde(default)]
    pub verified: bool,
    /// The user the commit messages name when that is not the recorded sender: the sending
    /// client claimed to be someone else. `None` when they agree or nothing is recorded.
    #[serde(default)]
    pub claimed_user: Option<String>,
    /// That account's display name, when the server knows it.
    pub display_name: Option<String>,
    /// The edit (`unit_narrative`, `unit_status`, `plan`, `import` …), as `ItemEdit::op`.
    pub op: String,
    /// How many Automerge changes this entry groups (one per keystroke when typing).
    pub changes: usize,
    /// Device time of the first and the last change, Unix ms (the device's clock: it may be
    /// wrong, and the device may have been offline).
    pub device_first_ms: i64,
    pub device_last_ms: i64,
    /// When the server first stored the last of these changes, Unix ms; `None` for changes
    /// older than the record of arrival times.
    pub received_ms: Option<i64>,
    /// What changed, field by field.
    pub details: Vec<HistoryDetail>,
}

/// One field's change. Text is given whole before and after; `shared::text::changed_span`
/// finds the difference to highlight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryDetail {
    /// `narrative`, `status`, `measure`, `evidence`, `feedback`, `review`, `title`,
    /// `measures`, `plan.leader`, `plan.department`, `plan.units`, `plan.deadline`,
    /// `plan.timing`, `item_status`, `office_narrative`.
    pub field: String,
    /// The unit whose progress it is, if any.
    pub unit: Option<UnitId>,
    pub before: String,
    pub after: String,
}

/// The `account` of audit entries for what the server's command line did (`rectify import`,
/// `rectify demo`): no account can have this name (usernames have no spaces or brackets).
pub const AUDIT_COMMAND_LINE: &str = "(rectify command line)";

/// One entry of the audit log (`GET /api/audit`): an office action, who did it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Rises with each entry; a page's `next_before` is the last one's.
    pub id: i64,
    /// Server time, Unix ms.
    pub at_ms: i64,
    /// The authenticated account that did it.
    pub account: String,
    /// `account_created`, `account_disabled`, `account_enabled`, `password_reset`,
    /// `sessions_revoked`, `import`, `item_added`, `item_replanned`, `signed_off`,
    /// `sent_back`, `file_downloaded`, `schema_migrated`.
    pub action: String,
    /// What it was done to: a username, a document id, a file's SHA-256.
    pub target: String,
    /// What a person knows a document `target` by, as it is called now (read from the index
    /// when the log is listed): an item's key and title, `7.2 食堂…`, or a campaign's name.
    /// `None` when the target is no document, or one no longer indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    /// Words for people: a role, an item's key and unit, a reason, a file name.
    pub detail: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` when this is the last.
    pub next_before: Option<i64>,
}
