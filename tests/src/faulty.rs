//! [`FaultyStorage`]: a [`Storage`] that fails chosen reads and writes on command, and slows
//! writes, for testing what the server does when its database is in trouble (issue #17).
//!
//! It wraps another storage and passes every call through, except that while a fault is set:
//!
//! - a [`Storage::write`] batch that touches a chosen document (any write naming it: its
//!   chunk, its index row, its arrivals, a quarantined change) fails, or every batch does;
//! - [`Storage::document_chunks`] of a chosen document fails, or of every document does;
//! - every write batch first waits a while (and then succeeds or fails as above);
//! - reading a chosen document waits until the test releases it (a disk stuck on one file);
//! - a write batch touching a chosen document waits until the test lets it go, one at a
//!   time or all;
//! - appending a part to an unfinished upload fails after a chosen number more succeed.
//! - a chosen call noting an upload's progress ([`Storage::touch_upload`]) fails;
//! - counting a login attempt ([`Storage::count_login_attempt`]) fails;
//! - a write batch that appends to the audit log ([`Write::Audit`]) fails, with whatever
//!   else it holds (the action the entry records, when they share the batch).
//!
//! Failures are [`StorageError::Unavailable`], the transient error of a busy or broken
//! database: nothing of a failed batch is written, and the same call may succeed later. The
//! controls take `&self` and may be changed from a test while the server runs.
//! [`crate::TestServer::start_faulty`] starts a server on one.

use async_trait::async_trait;
use rectify_server::storage::{
    AuditQuery, AuditRecord, BlobRecord, CampaignRecord, ChangeArrival, DocumentRecord, ItemRecord,
    LoginAttempt, PartAppended, QuarantineRecord, SessionRecord, Storage, StorageError,
    StorageResult, StoredChunk, UnitRecord, UnitWorkRecord, UploadRecord, UserRecord, Write,
};
use rectify_shared::ids::{DocumentId, SessionId, Username};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Which documents a fault hits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Target {
    #[default]
    Nothing,
    Documents(BTreeSet<DocumentId>),
    Everything,
}

impl Target {
    fn hits(&self, doc: &DocumentId) -> bool {
        match self {
            Target::Nothing => false,
            Target::Documents(docs) => docs.contains(doc),
            Target::Everything => true,
        }
    }

    fn add(&mut self, docs: impl IntoIterator<Item = DocumentId>) {
        match self {
            Target::Everything => {}
            Target::Documents(set) => set.extend(docs),
            Target::Nothing => *self = Target::Documents(docs.into_iter().collect()),
        }
    }
}

#[derive(Debug, Default)]
struct Faults {
    writes: Target,
    reads: Target,
    held_reads: Target,
    held_writes: Target,
    write_delay: Duration,
    /// Upload parts still allowed to be stored before appends fail (`None`: no limit).
    upload_parts_left: Option<u64>,
    /// Which `touch_upload` call from now fails (1 for the next), counted down; 0: none.
    upload_touch_to_fail: u32,
    /// Counting failed logins (`count_login_attempt`) fails.
    login_attempts: bool,
    /// Write batches holding an audit entry fail.
    audit: bool,
}

/// What the wrapper did, for tests to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Write batches failed on purpose.
    pub writes_failed: u64,
    /// `document_chunks` calls failed on purpose.
    pub reads_failed: u64,
    /// `document_chunks` calls that waited for [`FaultyStorage::release_reads`].
    pub reads_held: u64,
    /// Write batches that waited for [`FaultyStorage::release_writes`].
    pub writes_held: u64,
    /// Write batches passed to the wrapped storage (which may still fail them).
    pub writes_passed: u64,
    /// `touch_upload` calls failed on purpose.
    pub upload_touches_failed: u64,
    /// Per document: `AppendChunk` writes in batches the wrapped storage accepted.
    pub chunks_appended: HashMap<DocumentId, u64>,
}

/// A storage that fails or slows chosen calls on command; see the [module](self) docs.
#[derive(Debug)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    faults: Mutex<Faults>,
    counts: Mutex<FaultCounts>,
    /// Bumped by [`FaultyStorage::release_reads`]; held reads wait for it.
    released: tokio::sync::watch::Sender<u64>,
    /// One permit per held write let go ([`FaultyStorage::release_writes`]).
    write_permits: tokio::sync::Semaphore,
}

impl FaultyStorage {
    /// `inner`, with no fault set.
    pub fn new(inner: Arc<dyn Storage>) -> Arc<FaultyStorage> {
        Arc::new(FaultyStorage {
            inner,
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(FaultCounts::default()),
            released: tokio::sync::watch::Sender::new(0),
            write_permits: tokio::sync::Semaphore::new(0),
        })
    }

    /// The wrapped storage, to read what is stored whatever the faults.
    pub fn inner(&self) -> &Arc<dyn Storage> {
        &self.inner
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counting(&self) -> MutexGuard<'_, FaultCounts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, write batches that touch any of `docs` fail (added to those already
    /// failing).
    pub fn fail_writes_to(&self, docs: impl IntoIterator<Item = DocumentId>) {
        self.faults().writes.add(docs);
    }

    /// From now on, every write batch fails.
    pub fn fail_all_writes(&self) {
        self.faults().writes = Target::Everything;
    }

    /// The `nth` call from now (1 for the next) that notes an upload's progress
    /// (`touch_upload`, made by the upload's `POST` and after each `PATCH` wrote its bytes)
    /// fails; the others work.
    pub fn fail_upload_touch(&self, nth: u32) {
        self.faults().upload_touch_to_fail = nth;
    }

    /// From now on, counting a login attempt (the login throttle) fails.
    pub fn fail_login_attempts(&self) {
        self.faults().login_attempts = true;
    }

    /// From now on, every write batch holding an audit entry fails (and everything else in
    /// it with it).
    pub fn fail_audit_writes(&self) {
        self.faults().audit = true;
    }

    /// From now on, reading the chunks of any of `docs` fails (added to those already failing).
    pub fn fail_reads_of(&self, docs: impl IntoIterator<Item = DocumentId>) {
        self.faults().reads.add(docs);
    }

    /// From now on, reading any document's chunks fails.
    pub fn fail_all_reads(&self) {
        self.faults().reads = Target::Everything;
    }

    /// From now on, every write batch waits `delay` before it is written (or fails).
    pub fn slow_writes(&self, delay: Duration) {
        self.faults().write_delay = delay;
    }

    /// From now on, reading the chunks of any of `docs` waits until
    /// [`FaultyStorage::release_reads`] (or [`FaultyStorage::heal`]).
    pub fn hold_reads_of(&self, docs: impl IntoIterator<Item = DocumentId>) {
        self.faults().held_reads.add(docs);
    }

    /// From now on, a write batch touching any of `docs` waits until
    /// [`FaultyStorage::release_writes`] lets it go.
    pub fn hold_writes_to(&self, docs: impl IntoIterator<Item = DocumentId>) {
        self.faults().held_writes.add(docs);
    }

    /// From now on, `n` more upload parts are stored, then every append of a part fails.
    pub fn fail_upload_parts_after(&self, n: u64) {
        self.faults().upload_parts_left = Some(n);
    }

    /// Lets `n` held writes go on (in the order they came), or with `None` every one, holding
    /// no more.
    pub fn release_writes(&self, n: Option<usize>) {
        match n {
            Some(n) => self.write_permits.add_permits(n),
            None => {
                self.faults().held_writes = Target::Nothing;
                self.write_permits
                    .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
            }
        }
    }

    /// Lets every held read go on, and holds no more.
    pub fn release_reads(&self) {
        self.faults().held_reads = Target::Nothing;
        self.released.send_modify(|n| *n += 1);
    }

    /// Clears every fault: reads and writes work and are fast again.
    pub fn heal(&self) {
        *self.faults() = Faults::default();
        self.released.send_modify(|n| *n += 1);
        self.release_writes(None);
    }

    /// What the wrapper did so far.
    pub fn counts(&self) -> FaultCounts {
        self.counting().clone()
    }

    /// Chunks appended to `doc` through this wrapper so far.
    pub fn chunks_appended(&self, doc: &DocumentId) -> u64 {
        self.counting()
            .chunks_appended
            .get(doc)
            .copied()
            .unwrap_or(0)
    }

    fn unavailable(what: &str) -> StorageError {
        StorageError::Unavailable(format!("{what} (a fault injected by FaultyStorage)"))
    }
}

/// The document a write names (an audit entry or an account's names none).
fn touched(write: &Write) -> Option<DocumentId> {
    match write {
        Write::NewDocument { id, .. } | Write::EnsureDocument { id, .. } => Some(*id),
        Write::AppendChunk { document, .. } | Write::ChangesArrived { document, .. } => {
            Some(*document)
        }
        Write::Campaign(campaign) | Write::EnsureCampaign(campaign) => Some(campaign.id),
        Write::Item(item) => Some(item.id),
        Write::RemoveItem(id) => Some(*id),
        Write::UnitWork(work) => Some(work.id),
        Write::Quarantine(record) => Some(record.document),
        Write::Audit(_)
        | Write::NewUser(_)
        | Write::PasswordHash { .. }
        | Write::Disabled { .. }
        | Write::EndSessions(_)
        | Write::EndSession { .. } => None,
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    async fn create_user(&self, user: &UserRecord) -> StorageResult<()> {
        self.inner.create_user(user).await
    }
    async fn user(&self, username: &Username) -> StorageResult<Option<UserRecord>> {
        self.inner.user(username).await
    }
    async fn users(&self) -> StorageResult<Vec<UserRecord>> {
        self.inner.users().await
    }
    async fn set_password_hash(&self, username: &Username, hash: &str) -> StorageResult<()> {
        self.inner.set_password_hash(username, hash).await
    }
    async fn set_disabled(&self, username: &Username, disabled: bool) -> StorageResult<()> {
        self.inner.set_disabled(username, disabled).await
    }
    async fn set_display_name(&self, username: &Username, display_name: &str) -> StorageResult<()> {
        self.inner.set_display_name(username, display_name).await
    }

    async fn create_session(&self, session: &SessionRecord) -> StorageResult<()> {
        self.inner.create_session(session).await
    }
    async fn session(&self, token_hash: &str) -> StorageResult<Option<SessionRecord>> {
        self.inner.session(token_hash).await
    }
    async fn touch_session(
        &self,
        token_hash: &str,
        seen_ms: i64,
        expires_at_ms: i64,
    ) -> StorageResult<()> {
        self.inner
            .touch_session(token_hash, seen_ms, expires_at_ms)
            .await
    }
    async fn session_by_id(&self, id: &SessionId) -> StorageResult<Option<SessionRecord>> {
        self.inner.session_by_id(id).await
    }
    async fn user_sessions(
        &self,
        username: &Username,
        now_ms: i64,
    ) -> StorageResult<Vec<SessionRecord>> {
        self.inner.user_sessions(username, now_ms).await
    }
    async fn revoke_sessions(&self, username: &Username) -> StorageResult<u64> {
        self.inner.revoke_sessions(username).await
    }
    async fn revoke_session(&self, token_hash: &str) -> StorageResult<bool> {
        self.inner.revoke_session(token_hash).await
    }
    async fn active_sessions(&self, now_ms: i64) -> StorageResult<HashMap<Username, u32>> {
        self.inner.active_sessions(now_ms).await
    }

    async fn count_login_attempt(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StorageResult<LoginAttempt> {
        if self.faults().login_attempts {
            return Err(Self::unavailable("counting a login attempt failed"));
        }
        self.inner
            .count_login_attempt(key, limit, window_ms, now_ms)
            .await
    }
    async fn refund_login_attempt(&self, key: &str) -> StorageResult<()> {
        self.inner.refund_login_attempt(key).await
    }
    async fn clear_login_attempts(&self, key: &str) -> StorageResult<()> {
        self.inner.clear_login_attempts(key).await
    }
    async fn expire_login_attempts(&self, before_ms: i64) -> StorageResult<u64> {
        self.inner.expire_login_attempts(before_ms).await
    }

    async fn upsert_unit(&self, unit: &UnitRecord) -> StorageResult<()> {
        self.inner.upsert_unit(unit).await
    }
    async fn units(&self) -> StorageResult<Vec<UnitRecord>> {
        self.inner.units().await
    }

    async fn write(&self, batch: Vec<Write>) -> StorageResult<()> {
        let held = {
            let faults = self.faults();
            batch
                .iter()
                .filter_map(touched)
                .any(|doc| faults.held_writes.hits(&doc))
        };
        if held {
            self.counting().writes_held += 1;
            if let Ok(permit) = self.write_permits.acquire().await {
                permit.forget();
            }
        }
        let delay = self.faults().write_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // Decided after the delay: a fault set meanwhile hits a write already under way, as a
        // disk that fails mid-write does.
        let failing = {
            let faults = self.faults();
            batch
                .iter()
                .filter_map(touched)
                .find(|doc| faults.writes.hits(doc))
        };
        if let Some(doc) = failing {
            self.counting().writes_failed += 1;
            return Err(Self::unavailable(&format!("writing {doc} failed")));
        }
        if self.faults().audit && batch.iter().any(|w| matches!(w, Write::Audit(_))) {
            self.counting().writes_failed += 1;
            return Err(Self::unavailable("writing an audit entry failed"));
        }
        let appended: Vec<DocumentId> = batch
            .iter()
            .filter_map(|w| match w {
                Write::AppendChunk { document, .. } => Some(*document),
                _ => None,
            })
            .collect();
        self.counting().writes_passed += 1;
        self.inner.write(batch).await?;
        let mut counts = self.counting();
        for doc in appended {
            *counts.chunks_appended.entry(doc).or_default() += 1;
        }
        Ok(())
    }
    async fn document_chunks(&self, id: &DocumentId) -> StorageResult<Option<Vec<Vec<u8>>>> {
        // Subscribed before looking, so a release in between is not missed.
        let mut released = self.released.subscribe();
        if self.faults().held_reads.hits(id) {
            self.counting().reads_held += 1;
            while self.faults().held_reads.hits(id) {
                if released.changed().await.is_err() {
                    break;
                }
            }
        }
        if self.faults().reads.hits(id) {
            self.counting().reads_failed += 1;
            return Err(Self::unavailable(&format!("reading {id} failed")));
        }
        self.inner.document_chunks(id).await
    }
    async fn documents_to_compact(
        &self,
        chunks: usize,
        limit: usize,
    ) -> StorageResult<Vec<DocumentId>> {
        self.inner.documents_to_compact(chunks, limit).await
    }
    async fn numbered_chunks(&self, id: &DocumentId) -> StorageResult<Vec<StoredChunk>> {
        self.inner.numbered_chunks(id).await
    }
    async fn replace_chunks(
        &self,
        id: &DocumentId,
        seqs: &[i64],
        merged: Vec<u8>,
    ) -> StorageResult<bool> {
        self.inner.replace_chunks(id, seqs, merged).await
    }

    async fn campaigns(&self) -> StorageResult<Vec<CampaignRecord>> {
        self.inner.campaigns().await
    }
    async fn items(&self, campaign: &DocumentId) -> StorageResult<Vec<ItemRecord>> {
        self.inner.items(campaign).await
    }
    async fn item(&self, id: &DocumentId) -> StorageResult<Option<ItemRecord>> {
        self.inner.item(id).await
    }
    async fn unit_work(&self, id: &DocumentId) -> StorageResult<Option<UnitWorkRecord>> {
        self.inner.unit_work(id).await
    }
    async fn unit_works(&self, item: &DocumentId) -> StorageResult<Vec<UnitWorkRecord>> {
        self.inner.unit_works(item).await
    }
    async fn unit_works_of(&self, unit: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        self.inner.unit_works_of(unit).await
    }
    async fn campaign_unit_works(
        &self,
        campaign: &DocumentId,
    ) -> StorageResult<Vec<UnitWorkRecord>> {
        self.inner.campaign_unit_works(campaign).await
    }
    async fn audit_log(&self, query: &AuditQuery) -> StorageResult<Vec<AuditRecord>> {
        self.inner.audit_log(query).await
    }

    async fn change_arrivals(
        &self,
        document: &DocumentId,
    ) -> StorageResult<HashMap<String, ChangeArrival>> {
        self.inner.change_arrivals(document).await
    }
    async fn quarantined(&self, document: &DocumentId) -> StorageResult<Vec<QuarantineRecord>> {
        self.inner.quarantined(document).await
    }

    async fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        self.inner.meta(key).await
    }
    async fn init_meta(&self, key: &str, value: &str) -> StorageResult<String> {
        self.inner.init_meta(key, value).await
    }

    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>> {
        self.inner.blob(sha256).await
    }
    async fn insert_blob(&self, blob: &BlobRecord, upload: Option<i64>) -> StorageResult<()> {
        self.inner.insert_blob(blob, upload).await
    }
    async fn upload(
        &self,
        username: &Username,
        sha256: &str,
    ) -> StorageResult<Option<UploadRecord>> {
        self.inner.upload(username, sha256).await
    }
    async fn create_upload(&self, upload: &UploadRecord) -> StorageResult<UploadRecord> {
        self.inner.create_upload(upload).await
    }
    async fn touch_upload(&self, id: i64, at_ms: i64) -> StorageResult<()> {
        let fail = {
            let mut faults = self.faults();
            let fail = faults.upload_touch_to_fail == 1;
            faults.upload_touch_to_fail = faults.upload_touch_to_fail.saturating_sub(1);
            fail
        };
        if fail {
            self.counting().upload_touches_failed += 1;
            return Err(Self::unavailable("noting an upload's progress failed"));
        }
        self.inner.touch_upload(id, at_ms).await
    }
    async fn delete_upload(&self, id: i64) -> StorageResult<()> {
        self.inner.delete_upload(id).await
    }
    async fn take_upload_writer(&self, id: i64) -> StorageResult<Option<i64>> {
        self.inner.take_upload_writer(id).await
    }
    async fn append_upload_part(
        &self,
        id: i64,
        generation: i64,
        offset: u64,
        bytes: &[u8],
    ) -> StorageResult<PartAppended> {
        if let Some(left) = &mut self.faults().upload_parts_left {
            if *left == 0 {
                return Err(Self::unavailable("an upload part is not stored"));
            }
            *left -= 1;
        }
        self.inner
            .append_upload_part(id, generation, offset, bytes)
            .await
    }
    async fn upload_received(&self, id: i64) -> StorageResult<u64> {
        self.inner.upload_received(id).await
    }
    async fn upload_bytes(&self, id: i64) -> StorageResult<Vec<u8>> {
        self.inner.upload_bytes(id).await
    }
    async fn stale_uploads(&self, before_ms: i64) -> StorageResult<Vec<UploadRecord>> {
        self.inner.stale_uploads(before_ms).await
    }
    async fn quota_used(&self, username: &Username) -> StorageResult<u64> {
        self.inner.quota_used(username).await
    }
    async fn items_referencing(&self, sha256: &str) -> StorageResult<Vec<ItemRecord>> {
        self.inner.items_referencing(sha256).await
    }
    async fn unit_works_referencing(&self, sha256: &str) -> StorageResult<Vec<UnitWorkRecord>> {
        self.inner.unit_works_referencing(sha256).await
    }
    async fn orphaned_blobs(&self, now_ms: i64, before_ms: i64) -> StorageResult<Vec<String>> {
        self.inner.orphaned_blobs(now_ms, before_ms).await
    }
    async fn delete_orphan(&self, sha256: &str, before_ms: i64) -> StorageResult<bool> {
        self.inner.delete_orphan(sha256, before_ms).await
    }

    async fn document_versions(
        &self,
        ids: &[DocumentId],
    ) -> StorageResult<HashMap<DocumentId, i64>> {
        self.inner.document_versions(ids).await
    }

    async fn chunks_after(&self, id: &DocumentId, version: i64) -> StorageResult<Vec<Vec<u8>>> {
        self.inner.chunks_after(id, version).await
    }

    async fn all_sessions(&self) -> StorageResult<Vec<SessionRecord>> {
        self.inner.all_sessions().await
    }
    async fn documents(&self) -> StorageResult<Vec<DocumentRecord>> {
        self.inner.documents().await
    }
    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>> {
        self.inner.all_blobs().await
    }
    async fn quarantined_documents(&self) -> StorageResult<Vec<DocumentId>> {
        self.inner.quarantined_documents().await
    }

    async fn housekeeping(&self) -> StorageResult<Option<rectify_server::storage::Held>> {
        self.inner.housekeeping().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hit_what_they_name() {
        let (a, b) = (DocumentId([1; 16]), DocumentId([2; 16]));
        let mut target = Target::default();
        assert!(!target.hits(&a));
        target.add([a]);
        assert!(target.hits(&a) && !target.hits(&b));
        target.add([b]);
        assert!(target.hits(&b));
        target = Target::Everything;
        target.add([a]);
        assert_eq!(target, Target::Everything);
    }

    #[test]
    fn every_write_names_its_document() {
        let doc = DocumentId([3; 16]);
        let write = Write::ChangesArrived {
            document: doc,
            hashes: Vec::new(),
            received_at_ms: 0,
            sent_by: None,
        };
        assert_eq!(touched(&write), Some(doc));
    }
}
