//! Storage behind one trait, one implementation per backend, chosen from a URL.
//!
//! - [`StorageUrl`] says where the storage is (`sqlite://PATH` or `postgres://…`);
//!   [`StorageUrl::for_data_dir`] is a data directory's database.
//! - [`open`] turns a URL into an [`Arc<dyn Storage>`](Storage), the one place a backend is
//!   chosen; [`open_data_dir`] is the same for a data directory.
//! - [`Storage`] is everything the server keeps, in sections: accounts, sessions, units,
//!   documents, the index, server settings, evidence.
//! - [`Held`] ([`Storage::housekeeping`]) is one server's turn at the database-wide chores when
//!   several serve one PostgreSQL database (an advisory lock; SQLite: always its turn, its data
//!   directory's lock keeps it to one server).
//! - [`Backup`] ([`backup_for`]) is whole-database copies for `rectify backup` and
//!   `rectify restore`; [`crate::data_dir`] adds the lock and the evidence files.
//! - [`StorageError`] says what happened in backend-neutral terms (a conflict, a database that
//!   is unavailable for now, corrupt data …); no sqlx type leaves this module.
//!
//! Two backends: SQLite (`sqlite.rs`, migrations in `server/migrations/sqlite/`), the default,
//! one file in the data directory; and PostgreSQL (`postgres.rs`, migrations in
//! `server/migrations/postgres/`). Both pass the conformance suite in
//! `server/tests/storage.rs`. [`scratch`] makes throwaway PostgreSQL databases for tests.

mod committer;
mod pg_feed;
mod postgres;
pub mod scratch;
mod sqlite;
mod url;

pub use committer::Committer;
pub use pg_feed::LISTENER_NAME;
pub use url::{StorageUrl, redacted};

use async_trait::async_trait;
use rectify_shared::evidence::FileKind;
use rectify_shared::ids::{DocumentId, SessionId, UnitId, Username};
use rectify_shared::policy::Role;
use rectify_shared::status::PublicStatus;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stored account. `password_hash` is an argon2 PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub unit: Option<UnitId>,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at_ms: i64,
}

/// A stored login session; the token itself is never stored, only its hash. Stored: change
/// only with a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    /// The session's public id: random, unrelated to the token, so that listing sessions
    /// shows nothing usable as a credential.
    pub id: SessionId,
    pub username: Username,
    /// A short label of the device the session was opened on ("Chrome · Android"), made
    /// from the login's User-Agent; only ever shown, never trusted. Empty when unknown
    /// (sessions opened before it was recorded).
    pub device: String,
    pub created_at_ms: i64,
    /// When the session was last used, to about a minute ([`crate::accounts::authenticate`]).
    pub last_seen_ms: i64,
    pub expires_at_ms: i64,
    pub revoked: bool,
}

/// A school, kindergarten or department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRecord {
    pub id: UnitId,
    pub name: String,
    pub kind: String,
}

/// A stored document: what [`Write::NewDocument`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub id: DocumentId,
    /// `campaign` or `item`.
    pub kind: String,
    pub created_at_ms: i64,
}

/// A campaign in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    pub id: DocumentId,
    /// `inspector|inspected|feedback date`: the same inspection round across imports.
    pub natural_key: String,
    pub name: String,
    pub created_at_ms: i64,
}

/// An item in the index: what listing and access checks need without loading the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub id: DocumentId,
    pub campaign_id: DocumentId,
    /// `area.problem[.sub]`
    pub key: String,
    pub title: String,
    pub status: PublicStatus,
    pub units: Vec<String>,
    pub department: Option<String>,
    pub deadline: Option<String>,
    pub updated_at_ms: i64,
    /// The SHA-256 of every evidence file the item references, sorted.
    pub evidence: Vec<String>,
}

/// A unit's work document on an item in the index (schema version 2, issue #21): whose work
/// it is and what decides who may read it, without loading the document
/// (`rectify_shared::model::v2::WorkReaders::may_read` is the rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitWorkRecord {
    pub id: DocumentId,
    /// The version-2 item it belongs to.
    pub item_id: DocumentId,
    pub unit: String,
    /// Whether the unit is assigned to the item now.
    pub assigned: bool,
    /// The item's responsible department.
    pub department: Option<String>,
    /// The SHA-256 of every evidence file the unit's work references, sorted (the unit's
    /// files live in its work document, not in the version-2 item).
    pub evidence: Vec<String>,
}

impl UnitWorkRecord {
    /// May `actor` read the document? The rule of the document itself
    /// (`UnitWorkDoc::may_read`), from the index row.
    pub fn may_read(&self, actor: &rectify_shared::policy::Actor) -> bool {
        rectify_shared::model::v2::WorkReaders {
            item: self.item_id.to_string(),
            unit: self.unit.clone(),
            assigned: self.assigned,
            department: self.department.clone(),
        }
        .may_read(actor)
    }
}

/// A stored evidence file; its bytes are in the [`crate::blobs::BlobStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    pub sha256: String,
    pub size: u64,
    pub kind: FileKind,
    /// The first uploader's file name (made safe).
    pub name: String,
    /// Whose quota the file counts against: the first to upload it.
    pub uploaded_by: Username,
    pub has_thumbnail: bool,
    pub created_at_ms: i64,
}

/// An unfinished upload; the bytes received so far are its parts in the database
/// ([`Storage::append_upload_part`]), so any server process sharing the database can resume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: i64,
    pub username: Username,
    pub sha256: String,
    pub size: u64,
    pub name: String,
    pub created_at_ms: i64,
    pub touched_at_ms: i64,
}

/// What [`Storage::append_upload_part`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartAppended {
    /// The part is stored; the upload now has `received` bytes.
    Stored { received: u64 },
    /// Nothing stored: a newer request took over the upload ([`Storage::take_upload_writer`]).
    TakenOver,
    /// Nothing stored: the upload has `received` bytes, not as many as the part's offset.
    WrongOffset { received: u64 },
    /// Nothing stored: there is no such upload (finished or dropped meanwhile).
    NoUpload,
}

/// What [`Storage::count_login_attempt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Counted: the key now has `count` attempts in its window.
    Counted { count: u32 },
    /// Not counted: the key had its limit of attempts in the window that started at
    /// `since_ms`.
    Refused { since_ms: i64 },
}

/// One write of a [`Storage::write`] batch. Writes that name a document need it stored (before
/// or earlier in the batch); one that breaks a rule fails the batch with
/// [`StorageError::Conflict`].
#[derive(Debug, Clone)]
pub enum Write {
    /// A new document; its first chunk follows as an `AppendChunk`. A conflict when the id
    /// is taken.
    NewDocument {
        id: DocumentId,
        kind: String,
        created_at_ms: i64,
    },
    /// Creates the document's row unless it exists (for documents announced over sync).
    EnsureDocument {
        id: DocumentId,
        kind: String,
        created_at_ms: i64,
    },
    /// Automerge bytes (a full save or an incremental one) to append to a document. Raises
    /// the document's version by one (see [`Storage::document_versions`]); with
    /// `expect_version`, only if the document is at that version now, else the batch fails with
    /// [`StorageError::Outdated`] (a replica whose copy is behind never appends on top of it).
    AppendChunk {
        document: DocumentId,
        data: Vec<u8>,
        created_at_ms: i64,
        expect_version: Option<i64>,
    },
    /// Insert or replace a campaign's index row (its `created_at_ms` stays the first one). A
    /// conflict when another campaign has the natural key.
    Campaign(CampaignRecord),
    /// Insert a campaign's index row unless one with its id exists (for campaigns announced
    /// over sync). A conflict when another campaign has the natural key.
    EnsureCampaign(CampaignRecord),
    /// Insert or replace an item's index row and its evidence list (its `campaign_id` stays
    /// the first one). A conflict when another item of the campaign has the key.
    Item(ItemRecord),
    /// Removes an item's index row and its evidence list; the document stays. A version-1
    /// item migrated to version 2 gives its place in the list (and its key) to the new item.
    RemoveItem(DocumentId),
    /// Insert or replace a unit-work document's index row and its evidence list (its `item_id`
    /// and `unit` stay the first ones).
    UnitWork(UnitWorkRecord),
    /// Keep a refused change.
    Quarantine(QuarantineRecord),
    /// When the server first stored these changes of a document (hex change hashes); put it
    /// in the batch of the chunk that carries them. A change already recorded keeps its first
    /// time.
    ChangesArrived {
        document: DocumentId,
        hashes: Vec<String>,
        received_at_ms: i64,
        /// The authenticated account that sent them (over sync), or whose API call made
        /// them; `None` when the server cannot say (the sender left before the write).
        sent_by: Option<Username>,
    },
    /// Append an entry to the audit log (`crate::audit`). Entries are never changed or
    /// removed: the trait has no way to, and both backends refuse it.
    Audit(NewAudit),
    /// A new account ([`Storage::create_user`] in a batch, e.g. with its [`Write::Audit`]
    /// entry). Fails the batch with [`StorageError::UserExists`] when the username is taken.
    NewUser(UserRecord),
    /// An account's new password hash ([`Storage::set_password_hash`] in a batch).
    /// [`StorageError::NoSuchUser`] when there is no such account.
    PasswordHash { username: Username, hash: String },
    /// An account disabled or enabled ([`Storage::set_disabled`] in a batch).
    /// [`StorageError::NoSuchUser`] when there is no such account.
    Disabled { username: Username, disabled: bool },
    /// Ends every session of an account ([`Storage::revoke_sessions`] in a batch).
    EndSessions(Username),
    /// Ends the session of a token's hash, if it is active ([`Storage::revoke_session`] in
    /// a batch).
    EndSession { token_hash: String },
}

/// An audit log entry to append: who did what, when (server time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub at_ms: i64,
    /// The authenticated account that did it.
    pub account: Username,
    /// One of `crate::audit::action`.
    pub action: String,
    /// What it was done to: a username, a document id, a file's SHA-256.
    pub target: String,
    /// Words for people: a role, an item's key and unit, a reason, a file name.
    pub detail: String,
}

/// A stored audit log entry: [`NewAudit`] with its id (rising with each append).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at_ms: i64,
    pub account: Username,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Which audit entries to read: every filter given must hold; newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub account: Option<Username>,
    pub action: Option<String>,
    /// `at_ms >= from_ms`.
    pub from_ms: Option<i64>,
    /// `at_ms < to_ms`.
    pub to_ms: Option<i64>,
    /// Entries with an id below this (the next page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// When the server first stored a change, and who sent it (see [`Write::ChangesArrived`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeArrival {
    pub received_at_ms: i64,
    /// `None` for changes stored before senders were recorded, or whose sender was unknown.
    pub sent_by: Option<Username>,
}

/// One stored chunk of a document and its place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    pub seq: i64,
    pub data: Vec<u8>,
}

/// A change the policy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub document: DocumentId,
    pub username: Username,
    pub reason: String,
    pub change_bytes: Vec<u8>,
    pub received_at_ms: i64,
}

/// Errors of the storage layer, the same for every backend. Each backend maps its own
/// errors to these in one function (`sqlite::storage_error`, `postgres::storage_error`).
///
/// Over HTTP ([`crate::error`]) an [`StorageError::Unavailable`] is a 503 with
/// `Retry-After`, every other a 500; the callers that expect one match it first: a taken
/// username ([`StorageError::UserExists`]) and an item key added meanwhile
/// ([`StorageError::Conflict`]) are 409s.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// [`Storage::create_user`]: the username is taken.
    #[error("user '{0}' already exists")]
    UserExists(Username),
    /// Changing an account that does not exist.
    #[error("no user named '{0}'")]
    NoSuchUser(Username),
    /// The write breaks a rule the stored data keeps: a key that exists (a document id, a
    /// campaign's natural key, an item key in its campaign), a reference to nothing, a value
    /// the schema refuses. Nothing of the call (or batch) was written; the same write fails
    /// again. Not corruption: what is stored is fine.
    #[error("the write conflicts with what is stored: {0}")]
    Conflict(String),
    /// The database cannot answer now: busy or locked past the timeout, no connection free in
    /// time, the connection or the file system failed, the disk is full, the storage is
    /// closed. A write that failed so was rolled back; the same call may succeed later. Never
    /// a sign that something is absent ([`StorageError::is_transient`]).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data this build cannot read (an unknown role, a malformed id), or a damaged
    /// database file.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The schema could not be brought up to date (a database written by a newer build, a
    /// migration that failed).
    #[error("database migration failed: {0}")]
    Migration(String),
    /// [`Write::AppendChunk`] with an `expect_version` the document is no longer at: another
    /// server wrote it meanwhile. Nothing was written; the same write succeeds once the writer
    /// has read the chunks above the version it held ([`Storage::chunks_after`]).
    #[error("the document changed meanwhile: {0}")]
    Outdated(String),
    /// A storage URL that names no backend this build has, or that the backend cannot read.
    #[error("{0}")]
    BadUrl(String),
    /// Something this backend does not do, and what to do instead (a PostgreSQL database is
    /// backed up with `pg_dump`, not `rectify backup`).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else the backend reported: most likely a bug (a query the schema does not fit,
    /// a value the backend cannot hold).
    #[error("database error: {0}")]
    Backend(String),
}

impl StorageError {
    /// Whether the same call may succeed later ([`StorageError::Unavailable`]). Whatever the
    /// answer, an error is never "not there": a caller that cannot read a document must not
    /// treat it as missing.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Everything the server keeps. Every write is durable when the call returns; a call that
/// fails wrote nothing.
///
/// The conformance suite (`server/tests/storage.rs`) pins down what each method does,
/// including the orders of the lists; a new backend passes it unchanged.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    // ── Accounts ────────────────────────────────────────────────────────────────────────

    /// Adds an account; [`StorageError::UserExists`] when the username is taken.
    async fn create_user(&self, user: &UserRecord) -> StorageResult<()>;
    /// An account, or `None`.
    async fn user(&self, username: &Username) -> StorageResult<Option<UserRecord>>;
    /// Every account, by username.
    async fn users(&self) -> StorageResult<Vec<UserRecord>>;
    /// The `set_…` calls fail with [`StorageError::NoSuchUser`] for an unknown username.
    async fn set_password_hash(&self, username: &Username, hash: &str) -> StorageResult<()>;
    async fn set_disabled(&self, username: &Username, disabled: bool) -> StorageResult<()>;
    async fn set_display_name(&self, username: &Username, display_name: &str) -> StorageResult<()>;

    // ── Sessions ────────────────────────────────────────────────────────────────────────

    /// Stores a session of an existing account.
    async fn create_session(&self, session: &SessionRecord) -> StorageResult<()>;
    /// A session by its token's hash (revoked and expired ones too), or `None`.
    async fn session(&self, token_hash: &str) -> StorageResult<Option<SessionRecord>>;
    /// Records that the session was used at `seen_ms` and moves its expiry to
    /// `expires_at_ms`; neither ever goes back. An unknown token changes nothing.
    async fn touch_session(
        &self,
        token_hash: &str,
        seen_ms: i64,
        expires_at_ms: i64,
    ) -> StorageResult<()>;
    /// A session by its public id (revoked and expired ones too), or `None`.
    async fn session_by_id(&self, id: &SessionId) -> StorageResult<Option<SessionRecord>>;
    /// The user's sessions neither revoked nor expired at `now_ms`, the most recently used
    /// first.
    async fn user_sessions(
        &self,
        username: &Username,
        now_ms: i64,
    ) -> StorageResult<Vec<SessionRecord>>;
    /// Revokes every session of the user (a lost phone, a disabled account); returns how
    /// many were still unrevoked.
    async fn revoke_sessions(&self, username: &Username) -> StorageResult<u64>;
    /// Revokes one session (logging out on one device); `false` when it was unknown or
    /// revoked already.
    async fn revoke_session(&self, token_hash: &str) -> StorageResult<bool>;
    /// Per account, the sessions neither revoked nor expired at `now_ms` (one expiring at
    /// `now_ms` still counts; accounts without any are absent).
    async fn active_sessions(&self, now_ms: i64) -> StorageResult<HashMap<Username, u32>>;

    // ── Failed logins ───────────────────────────────────────────────────────────────────

    /// Counts a login attempt for `key` (`account:NAME`, `address:IP`: see
    /// [`crate::accounts::LoginThrottle`]) unless it had `limit` in the window that started at
    /// its first counted attempt; a window `window_ms` old or older starts over at `now_ms`.
    /// Atomic: of attempts racing on one key (from any server on the database) at most
    /// `limit` are counted per window.
    async fn count_login_attempt(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StorageResult<LoginAttempt>;
    /// Gives back one counted attempt of `key` (not below 0; an unknown key changes nothing).
    async fn refund_login_attempt(&self, key: &str) -> StorageResult<()>;
    /// Forgets `key`'s attempts (a right password: the account starts over).
    async fn clear_login_attempts(&self, key: &str) -> StorageResult<()>;
    /// Deletes the counts whose window started at or before `before_ms` (housekeeping);
    /// returns how many.
    async fn expire_login_attempts(&self, before_ms: i64) -> StorageResult<u64>;

    // ── Units ───────────────────────────────────────────────────────────────────────────

    /// Adds a unit, or replaces the name and kind of the unit with that id.
    async fn upsert_unit(&self, unit: &UnitRecord) -> StorageResult<()>;
    /// Every unit, by id.
    async fn units(&self) -> StorageResult<Vec<UnitRecord>>;

    // ── Documents: Automerge bytes as chunks ────────────────────────────────────────────

    /// Applies every write or none (one transaction); durable when it returns. A write that
    /// breaks a rule of the stored data fails the batch with [`StorageError::Conflict`].
    async fn write(&self, batch: Vec<Write>) -> StorageResult<()>;
    /// Several [`Storage::write`] batches at once, each all or nothing, with one result per
    /// batch in order: a batch that breaks a rule fails alone. A backend commits them
    /// together (one sync to disk for all: group commit, see [`Committer`]); the default
    /// writes them one by one.
    async fn write_group(&self, batches: Vec<Vec<Write>>) -> Vec<StorageResult<()>> {
        let mut results = Vec::with_capacity(batches.len());
        for batch in batches {
            results.push(self.write(batch).await);
        }
        results
    }
    /// A document's chunks in order, or `None` when there is no such document (a document
    /// made by `EnsureDocument` without chunks yet is `Some` of nothing).
    async fn document_chunks(&self, id: &DocumentId) -> StorageResult<Option<Vec<Vec<u8>>>>;
    /// The versions of those of `ids` that are stored (a document's version is the number of
    /// chunks ever appended to it, counted from this schema on: see [`Write::AppendChunk`]).
    /// Read a document's version *before* its chunks: the chunks then hold at least that
    /// version, never less.
    async fn document_versions(
        &self,
        ids: &[DocumentId],
    ) -> StorageResult<HashMap<DocumentId, i64>>;
    /// The chunks of a document appended at versions above `version`, in order (a compacted
    /// chunk counts at the highest version it merged, so it may hold changes at or below
    /// `version` too: loading them again is harmless). Empty for an unknown document.
    async fn chunks_after(&self, id: &DocumentId, version: i64) -> StorageResult<Vec<Vec<u8>>>;
    /// Documents stored in at least `chunks` chunks (candidates for compaction), those with
    /// the most first, at most `limit`.
    async fn documents_to_compact(
        &self,
        chunks: usize,
        limit: usize,
    ) -> StorageResult<Vec<DocumentId>>;
    /// A document's chunks with their sequence numbers, in order (empty for an unknown
    /// document). Sequence numbers only grow, across documents, and are never reused.
    async fn numbered_chunks(&self, id: &DocumentId) -> StorageResult<Vec<StoredChunk>>;
    /// Replaces the chunks numbered `seqs` with one chunk `merged` (in the first one's place,
    /// so chunks appended since stay after it, at the highest version of those it replaces),
    /// in one transaction. If any of them is gone (compacted meanwhile), or `seqs` is empty,
    /// or another server is compacting the document right now, nothing changes and the result
    /// is `Ok(false)`.
    async fn replace_chunks(
        &self,
        id: &DocumentId,
        seqs: &[i64],
        merged: Vec<u8>,
    ) -> StorageResult<bool>;

    // ── The index: campaigns, items, arrivals, refused changes ─────────────────────────

    /// Every campaign, oldest first (by `created_at_ms`, then id).
    async fn campaigns(&self) -> StorageResult<Vec<CampaignRecord>>;
    /// A campaign's items, by key.
    async fn items(&self, campaign: &DocumentId) -> StorageResult<Vec<ItemRecord>>;
    /// One item's index row, or `None` when there is no such item.
    async fn item(&self, id: &DocumentId) -> StorageResult<Option<ItemRecord>>;
    /// One unit-work document's index row, or `None` when no unit-work document has that id.
    async fn unit_work(&self, id: &DocumentId) -> StorageResult<Option<UnitWorkRecord>>;
    /// The unit-work documents of the (version 2) item `item`, by unit.
    async fn unit_works(&self, item: &DocumentId) -> StorageResult<Vec<UnitWorkRecord>>;
    /// The unit-work documents whose unit or department is `unit`, by item and unit: every
    /// one that unit's accounts may read, and some they may not (a unit taken off the item);
    /// the caller keeps those `WorkReaders::may_read` allows.
    async fn unit_works_of(&self, unit: &str) -> StorageResult<Vec<UnitWorkRecord>>;
    /// The unit-work documents of every item listed in `campaign`, by item and unit.
    async fn campaign_unit_works(
        &self,
        campaign: &DocumentId,
    ) -> StorageResult<Vec<UnitWorkRecord>>;
    /// When the server first stored each of a document's changes and who sent it: hex
    /// change hash → its arrival (see [`Write::ChangesArrived`]).
    async fn change_arrivals(
        &self,
        document: &DocumentId,
    ) -> StorageResult<HashMap<String, ChangeArrival>>;
    /// Audit log entries matching `query`, newest (highest id) first, at most `query.limit`.
    /// Appending is [`Write::Audit`]; nothing changes or removes an entry.
    async fn audit_log(&self, query: &AuditQuery) -> StorageResult<Vec<AuditRecord>>;
    /// A document's refused changes, newest first (for operators).
    async fn quarantined(&self, document: &DocumentId) -> StorageResult<Vec<QuarantineRecord>>;

    // ── Server settings ─────────────────────────────────────────────────────────────────

    /// A server setting (`peer_id`, `storage_id`), or `None`.
    async fn meta(&self, key: &str) -> StorageResult<Option<String>>;
    /// Sets a server setting unless it is set; returns the value that holds.
    async fn init_meta(&self, key: &str, value: &str) -> StorageResult<String>;

    // ── Evidence: files, uploads, references ───────────────────────────────────────────

    /// A stored evidence file's record.
    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>>;
    /// Records a stored file and ends the upload `upload` (if any, with its parts) in one transaction; a file
    /// already recorded keeps its first record.
    async fn insert_blob(&self, blob: &BlobRecord, upload: Option<i64>) -> StorageResult<()>;
    /// The unfinished upload of `sha256` by `username`.
    async fn upload(
        &self,
        username: &Username,
        sha256: &str,
    ) -> StorageResult<Option<UploadRecord>>;
    /// Starts an upload (`id` is ignored) or returns the one that exists.
    async fn create_upload(&self, upload: &UploadRecord) -> StorageResult<UploadRecord>;
    /// Marks an upload as active at `at_ms`; an unknown id changes nothing.
    async fn touch_upload(&self, id: i64, at_ms: i64) -> StorageResult<()>;
    /// Forgets an upload and its parts; an unknown id changes nothing.
    async fn delete_upload(&self, id: i64) -> StorageResult<()>;
    /// Makes the caller the one request that may append to an upload, and returns its
    /// generation: an older request's next [`Storage::append_upload_part`] is refused. `None`
    /// for an unknown id. Held in the database, so it holds across server processes.
    async fn take_upload_writer(&self, id: i64) -> StorageResult<Option<i64>>;
    /// Stores `bytes` as the upload's next part if `generation` still writes the upload and
    /// `offset` is where its parts end; otherwise stores nothing and says why. Durable when
    /// it returns; two appends racing from one offset store one part.
    async fn append_upload_part(
        &self,
        id: i64,
        generation: i64,
        offset: u64,
        bytes: &[u8],
    ) -> StorageResult<PartAppended>;
    /// How many bytes an upload's parts hold (0 for an unknown id).
    async fn upload_received(&self, id: i64) -> StorageResult<u64>;
    /// An upload's bytes so far: its parts, in order.
    async fn upload_bytes(&self, id: i64) -> StorageResult<Vec<u8>>;
    /// Unfinished uploads untouched since `before_ms`, by id.
    async fn stale_uploads(&self, before_ms: i64) -> StorageResult<Vec<UploadRecord>>;
    /// Bytes counted against a user's quota: files they uploaded first, and their unfinished
    /// uploads at full size.
    async fn quota_used(&self, username: &Username) -> StorageResult<u64>;
    /// The items that reference a file, by id.
    async fn items_referencing(&self, sha256: &str) -> StorageResult<Vec<ItemRecord>>;
    /// The unit-work documents (schema version 2) that reference a file, by id.
    async fn unit_works_referencing(&self, sha256: &str) -> StorageResult<Vec<UnitWorkRecord>>;
    /// Marks files no item and no unit-work document references (from `now_ms`), unmarks
    /// referenced ones, and returns the files unreferenced since before `before_ms`, by hash.
    async fn orphaned_blobs(&self, now_ms: i64, before_ms: i64) -> StorageResult<Vec<String>>;
    /// Deletes a file's record if it is still unreferenced since before `before_ms`; `false`
    /// when a reference arrived meanwhile (then the bytes must stay).
    async fn delete_orphan(&self, sha256: &str, before_ms: i64) -> StorageResult<bool>;

    // ── Everything, for copying a database (`rectify migrate`) ──────────────────────────

    /// Every session (revoked and expired ones too), by token hash.
    async fn all_sessions(&self) -> StorageResult<Vec<SessionRecord>>;
    /// Every stored document (with or without chunks), by id.
    async fn documents(&self) -> StorageResult<Vec<DocumentRecord>>;
    /// Every evidence file's record, by hash.
    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>>;
    /// The documents that have refused changes ([`Storage::quarantined`]), by id; stored or
    /// not (a refused change may have tried to create one).
    async fn quarantined_documents(&self) -> StorageResult<Vec<DocumentId>>;

    // ── Lifecycle ───────────────────────────────────────────────────────────────────────

    /// This server's turn at the database-wide chores (evidence collection, upload expiry),
    /// held until the [`Held`] is dropped, or `None` when another server on the database has
    /// it now (then it is that one's job). SQLite: always `Some` (one server per data
    /// directory).
    async fn housekeeping(&self) -> StorageResult<Option<Held>>;

    /// Finishes pending work and closes the database (on shutdown); later calls fail with
    /// [`StorageError::Unavailable`].
    async fn close(&self);
}

/// Copies of the whole database: `rectify backup` and `rectify restore`. One implementation
/// per backend, for the database at a URL ([`backup_for`]); [`crate::data_dir`] adds what is
/// not the database's (the lock, the evidence files, where copies and replaced databases go).
///
/// SQLite: `VACUUM INTO` (one snapshot, while writers carry on) writes `OUT/rectify.db`;
/// a restore moves `rectify.db` and its `-wal` and `-shm` files aside. PostgreSQL: only
/// [`Backup::check`]; copies and restores are [`StorageError::Unsupported`] with a message
/// that says to use `pg_dump` and `pg_restore`.
#[async_trait]
pub trait Backup: Send + Sync + std::fmt::Debug {
    /// Whether this backend makes copies and restores them at all: [`StorageError::Unsupported`]
    /// saying what to use instead when not (PostgreSQL: `pg_dump`). Asked before anything is
    /// created or moved.
    fn supported(&self) -> StorageResult<()> {
        Ok(())
    }
    /// Writes a consistent copy of the whole database into the directory `out` (which exists
    /// and holds no copy yet) while a server may be writing, checks the copy as
    /// [`Backup::check`] does, and returns the file written.
    async fn backup_to(&self, out: &Path) -> StorageResult<PathBuf>;
    /// The copy in `backup`: the directory [`Backup::backup_to`] wrote, or the copy's file
    /// itself; `None` when there is no copy there.
    fn find_copy(&self, backup: &Path) -> Option<PathBuf>;
    /// Checks the database: the backend finds it intact ([`StorageError::Corrupt`] when
    /// not), and this build can read it (its schema is brought up to date).
    async fn check(&self) -> StorageResult<()>;
    /// Replaces the database with the copy `copy` (from [`Backup::find_copy`]), checked
    /// first on a scratch copy so `copy` itself is never changed, and moves the current
    /// database into the directory `aside` (made when needed) instead of deleting it. Returns
    /// whether there was a database to move aside. When the check fails nothing changes. No
    /// server may use the database meanwhile: the caller holds the data directory's lock.
    async fn restore_from(&self, copy: &Path, aside: &Path) -> StorageResult<bool>;
}

/// This build's version, recorded in the database (`server_meta`, [`VERSION_KEY`]) by every
/// open, so a build that finds a newer schema can name the version that wrote it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The `server_meta` key of the last version of Rectify that opened the database.
pub const VERSION_KEY: &str = "rectify_version";

/// How a database's schema compares with this build's migrations, before any is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// The newest migration the database has applied (0: a new database).
    pub database: i64,
    /// The newest this build knows.
    pub known: i64,
    /// Migrations this build will apply.
    pub pending: usize,
}

impl SchemaState {
    /// Compares the migrations a database has applied (`applied`: version and description)
    /// with those this build knows. A migration this build does not know means a newer
    /// Rectify wrote the database: refused with a message naming both versions (`written_by`:
    /// the version the database recorded, if any), before anything is changed.
    pub fn compare(
        applied: &[(i64, String)],
        known: &[i64],
        written_by: Option<&str>,
        database: &str,
    ) -> StorageResult<SchemaState> {
        let newest_known = known.iter().copied().max().unwrap_or(0);
        if let Some((version, description)) = applied.iter().find(|(v, _)| !known.contains(v)) {
            let newest = applied.iter().map(|(v, _)| *v).max().unwrap_or(*version);
            let by = written_by
                .filter(|by| *by != VERSION)
                .map(|by| format!("Rectify {by}, "))
                .unwrap_or_default();
            return Err(StorageError::Migration(format!(
                "{database} was written by a newer Rectify ({by}schema {newest}: migration \
                 {version} \"{description}\" is unknown here); this is Rectify {VERSION}, which \
                 knows the schema up to {newest_known}. Nothing was changed: run that version \
                 or a later one, or restore a backup made before the upgrade"
            )));
        }
        Ok(SchemaState {
            database: applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
            known: newest_known,
            pending: known
                .iter()
                .filter(|v| !applied.iter().any(|(a, _)| a == *v))
                .count(),
        })
    }
}

/// Where SQLite's automatic backup before a migration goes: `DIR/backups/` beside the
/// database, named `rectify-before-<this version>-<UTC time>.db`.
pub fn upgrade_backup_path(database: &Path, now_ms: i64) -> PathBuf {
    let dir = database
        .parent()
        .map_or_else(|| PathBuf::from("backups"), |p| p.join("backups"));
    let date = rectify_shared::date::Date::from_unix_millis(now_ms);
    let secs = now_ms.rem_euclid(86_400_000) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    dir.join(format!(
        "rectify-before-{VERSION}-{date}T{h:02}{m:02}{s:02}Z.db"
    ))
}

/// Opens the storage at `url`, bringing its schema up to date: the one place a backend is
/// chosen. A SQLite database with migrations to apply is copied first
/// ([`upgrade_backup_path`]); a database written by a newer Rectify is refused untouched
/// ([`SchemaState::compare`]).
pub async fn open(url: &StorageUrl) -> StorageResult<Arc<dyn Storage>> {
    match url {
        StorageUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStorage::open(path).await?)),
        StorageUrl::Postgres(url) => Ok(Arc::new(postgres::PostgresStorage::open(url).await?)),
    }
}

/// Backups and restores of the database at `url` (nothing is opened until they are used).
pub fn backup_for(url: &StorageUrl) -> Box<dyn Backup> {
    match url {
        StorageUrl::Sqlite(path) => Box::new(sqlite::SqliteBackup::new(path)),
        StorageUrl::Postgres(url) => Box::new(postgres::PostgresBackup::new(url)),
    }
}

/// The right to do a database-wide chore (collecting evidence files, expiring uploads) while
/// other servers on the same database leave it alone ([`Storage::housekeeping`]); given up when
/// dropped, or when the process dies.
pub struct Held {
    _held: Box<dyn Send>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Held {
    /// Held for as long as `guard` lives.
    fn new(guard: impl Send + 'static) -> Held {
        Held {
            _held: Box::new(guard),
        }
    }
}

/// How the servers on the database at `url` hear of each other's writes and logouts:
/// PostgreSQL's LISTEN/NOTIFY, or nothing for SQLite (one server per data directory).
pub fn change_feed(url: &StorageUrl) -> StorageResult<Arc<dyn crate::feed::ChangeFeed>> {
    match url {
        StorageUrl::Sqlite(_) => Ok(Arc::new(crate::feed::NoFeed)),
        StorageUrl::Postgres(url) => Ok(Arc::new(pg_feed::PgFeed::new(url)?)),
    }
}

/// Opens the storage of a data directory ([`StorageUrl::for_data_dir`]: SQLite at
/// `DIR/rectify.db`), creating the directory when needed.
pub async fn open_data_dir(dir: &Path) -> anyhow::Result<Arc<dyn Storage>> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    open(&StorageUrl::for_data_dir(dir))
        .await
        .with_context(|| format!("cannot open the database in {}", dir.display()))
}
