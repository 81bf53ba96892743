//! Evidence files on this device and their resumable upload (`docs/evidence.md`).
//!
//! Rules it keeps:
//! - a file's bytes and its upload state are in IndexedDB, so a reload or a browser restart
//!   resumes where it was; a queued file is never dropped (only a refusal by the server
//!   stops it, and the file stays on the device with the reason);
//! - files go up only while the documents are in sync (the replica says so): the server then
//!   already knows an item references them;
//! - one file at a time, in pieces sized to the link: each piece's time is measured and the
//!   next is sized to take a few seconds ([`rectify_shared::link::next_piece_bytes`], 16 KiB
//!   to 1 MiB), so a cut loses little and a good link is not slowed; after a dropped
//!   connection a `POST` asks the server how much it has and the upload continues from there;
//!   when it has every byte but the request that carried the last ones ended before it
//!   stored the file, an empty `PATCH` at the end asks it to check and store it;
//! - network errors and server failures back off like the replica's reconnects (up to 2 s
//!   while the server answered lately, else doubling to 60 s, full jitter); the browser's
//!   `online` event and the replica finding the server again retry at once; every answer of
//!   the server is passed on to the replica as proof that the link is back;
//! - of the tabs of one user, only the leader uploads ([`Uploads::lead`]); a follower stores
//!   files and reads the queue's state from the device when told it changed
//!   ([`Uploads::reload`]), so two tabs never upload the same file.

use super::api::{self, ApiFailure};
use super::local::{LocalStore, StoreError};
use crate::i18n::Lang;
use futures::channel::oneshot;
use rectify_shared::evidence::{FileSettings, UploadRequest, UploadStatus};
use rectify_shared::link;
use rectify_shared::said::Said;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use web_sys::Blob;
use yew::Callback;

/// An upload answered within this long is getting through ([`Uploads::getting_through`]):
/// two pieces' time.
const GETTING_THROUGH_MS: f64 = 6_000.0;
/// `POST`s after a 409 or 404 in a row before backing off.
const MAX_CONFLICTS: u32 = 3;
const SETTINGS_KEY: &str = "file_settings";

/// A file on this device, as stored next to its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFile {
    pub sha256: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    /// The item and unit it was added to (it may be referenced elsewhere too).
    pub document: String,
    pub unit: String,
    pub upload: UploadState,
    /// The bytes the server said it has (stored on each state change, so a paused file shows
    /// its progress after a reload; the server says again before the upload continues).
    pub received: u64,
    pub added_at_ms: f64,
}

/// The stored upload state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum UploadState {
    Queued,
    Paused,
    Done,
    /// The server refused it, with its message.
    Failed(Reason),
}

/// Why the server refused a file, in both languages (entries stored by older builds hold
/// the English text only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reason {
    Said(Said),
    Plain(String),
}

impl Reason {
    pub fn in_lang(&self, lang: Lang) -> &str {
        match (self, lang) {
            (Reason::Said(said), Lang::Zh) => &said.zh,
            (Reason::Said(said), Lang::En) => &said.en,
            (Reason::Plain(text), _) => text,
        }
    }
}

/// What the UI shows for a file: `data-upload` and the bytes the server has.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Queued {
        received: u64,
    },
    Uploading {
        received: u64,
    },
    Paused {
        received: u64,
    },
    Done,
    Failed(Reason),
    /// Not on this device: someone else's file (or one added on another device).
    Remote,
}

impl Progress {
    pub fn key(&self) -> &'static str {
        match self {
            Progress::Queued { .. } => "queued",
            Progress::Uploading { .. } => "uploading",
            Progress::Paused { .. } => "paused",
            Progress::Done => "done",
            Progress::Failed(_) => "failed",
            Progress::Remote => "remote",
        }
    }

    /// The bytes the server is known to have, out of `size`.
    pub fn received(&self, size: u64) -> u64 {
        match self {
            Progress::Queued { received }
            | Progress::Uploading { received }
            | Progress::Paused { received } => *received,
            Progress::Done => size,
            Progress::Failed(_) | Progress::Remote => 0,
        }
    }
}

/// Why an upload stopped before the file was done or refused.
enum Halt {
    /// Network error or server failure: back off, then resume.
    Retry,
    /// The server no longer accepts the token; the replica asks to log in again.
    Unauthorized,
}

struct Inner {
    store: Rc<LocalStore>,
    token: String,
    files: BTreeMap<String, DeviceFile>,
    settings: FileSettings,
    /// The settings were asked for since the last time we came online or finished a file.
    settings_asked: bool,
    /// Every document is written and acknowledged by the server (set by the replica).
    documents_in_sync: bool,
    /// The file being sent now.
    active: Option<String>,
    attempt: u32,
    /// The size of the next piece, from the last one's speed.
    piece_bytes: u64,
    /// When the server last answered an upload request (short retries while recent).
    last_answer_ms: Option<f64>,
    wake: Option<oneshot::Sender<()>>,
    stopped: bool,
    /// This tab runs the queue: it is the leader of the user's tabs (or alone).
    leading: bool,
    on_change: Callback<()>,
    /// Told when a file's record on the device changed (added, removed, its state), for the
    /// other tabs.
    on_files_changed: Callback<()>,
    /// Told of the bytes the server has of the file being sent (the leader tells its
    /// followers: those bytes are not written to the device until the file is done).
    on_progress: Callback<(String, u64)>,
    /// Told of every answer of the server (the replica's connection loop).
    on_server_answer: Callback<()>,
}

/// The handle the replica and the UI hold. Never keep a borrow across an `.await`.
#[derive(Clone)]
pub struct Uploads(Rc<RefCell<Inner>>);

impl Uploads {
    /// Reads the files and the last settings from the device and starts the upload loop,
    /// which uploads nothing until [`Uploads::lead`].
    pub async fn start(
        store: Rc<LocalStore>,
        token: String,
        on_change: Callback<()>,
    ) -> Result<Uploads, StoreError> {
        let files: Vec<DeviceFile> = store.load_files().await?;
        let settings = store.get(SETTINGS_KEY).await?.unwrap_or_default();
        let files = files
            .into_iter()
            .map(|file| (file.sha256.clone(), file))
            .collect();
        let uploads = Uploads(Rc::new(RefCell::new(Inner {
            store,
            token,
            files,
            settings,
            settings_asked: false,
            documents_in_sync: false,
            active: None,
            attempt: 0,
            piece_bytes: link::FIRST_PIECE_BYTES,
            last_answer_ms: None,
            wake: None,
            stopped: false,
            leading: false,
            on_change,
            on_files_changed: Callback::noop(),
            on_progress: Callback::noop(),
            on_server_answer: Callback::noop(),
        })));
        let running = uploads.clone();
        wasm_bindgen_futures::spawn_local(async move { running.run().await });
        Ok(uploads)
    }

    /// Who to tell when the server answers an upload request (the replica, to reconnect).
    pub fn on_server_answer(&self, callback: Callback<()>) {
        self.0.borrow_mut().on_server_answer = callback;
    }

    /// Who to tell when a file's record on the device changed (the replica tells the other
    /// tabs).
    pub fn on_files_changed(&self, callback: Callback<()>) {
        self.0.borrow_mut().on_files_changed = callback;
    }

    /// Who to tell of the bytes the server has of the file being sent.
    pub fn on_progress(&self, callback: Callback<(String, u64)>) {
        self.0.borrow_mut().on_progress = callback;
    }

    /// The leading tab says the server has `received` bytes of the file it sends: a
    /// follower shows it uploading, that far.
    pub fn show_progress(&self, sha256: &str, received: u64) {
        {
            let mut inner = self.0.borrow_mut();
            if inner.leading {
                return;
            }
            let Some(file) = inner.files.get_mut(sha256) else {
                return;
            };
            file.received = received;
            inner.active = Some(sha256.to_owned());
        }
        self.notify();
    }

    /// This tab runs the queue from now on (it leads the user's tabs, or is alone).
    pub fn lead(&self) {
        self.0.borrow_mut().leading = true;
        self.wake();
    }

    /// Reads the files' records again from the device, where another tab changed them: a
    /// follower takes every record as stored (the leader's upload states); the leader takes
    /// new files (queued in a follower) and drops those removed there, keeping its own
    /// states, as it is the one writing them.
    pub async fn reload(&self) {
        let store = Rc::clone(&self.0.borrow().store);
        let Ok(stored) = store.load_files::<DeviceFile>().await else {
            return;
        };
        {
            let mut inner = self.0.borrow_mut();
            let on_disk: std::collections::BTreeSet<String> =
                stored.iter().map(|f| f.sha256.clone()).collect();
            let leading = inner.leading;
            if !leading {
                // Sent again by the leader while it uploads (see `show_progress`).
                inner.active = None;
            }
            let active = inner.active.clone();
            inner
                .files
                .retain(|sha, _| on_disk.contains(sha) || active.as_ref() == Some(sha));
            for file in stored {
                if !leading || !inner.files.contains_key(&file.sha256) {
                    inner.files.insert(file.sha256.clone(), file);
                }
            }
        }
        self.notify();
        self.wake();
    }

    /// Whether a file is being sent now and the server answered its last requests lately:
    /// uploads are getting through (whatever the sync connection does).
    pub fn getting_through(&self) -> bool {
        let inner = self.0.borrow();
        let answered_lately = inner
            .last_answer_ms
            .is_some_and(|at| js_sys::Date::now() - at < GETTING_THROUGH_MS);
        inner.active.is_some() && answered_lately
    }

    /// Of the files not uploaded yet (queued, uploading or paused): the bytes the server has
    /// and their total size.
    pub fn bytes_waiting(&self) -> (u64, u64) {
        self.0
            .borrow()
            .files
            .values()
            .filter(|f| matches!(f.upload, UploadState::Queued | UploadState::Paused))
            .fold((0, 0), |(received, total), f| {
                (received + f.received.min(f.size), total + f.size)
            })
    }

    pub fn stop(&self) {
        self.0.borrow_mut().stopped = true;
        self.wake();
    }

    /// The server's limits (the last ones it told us, or the defaults).
    pub fn settings(&self) -> FileSettings {
        self.0.borrow().settings.clone()
    }

    pub fn progress(&self, sha256: &str) -> Progress {
        let inner = self.0.borrow();
        let Some(file) = inner.files.get(sha256) else {
            return Progress::Remote;
        };
        let received = file.received;
        match &file.upload {
            UploadState::Queued if inner.active.as_deref() == Some(sha256) => {
                Progress::Uploading { received }
            }
            UploadState::Queued => Progress::Queued { received },
            UploadState::Paused => Progress::Paused { received },
            UploadState::Done => Progress::Done,
            UploadState::Failed(reason) => Progress::Failed(reason.clone()),
        }
    }

    /// Files not uploaded yet and not refused (queued, uploading or paused).
    pub fn waiting(&self) -> usize {
        self.0
            .borrow()
            .files
            .values()
            .filter(|f| matches!(f.upload, UploadState::Queued | UploadState::Paused))
            .count()
    }

    pub fn is_on_device(&self, sha256: &str) -> bool {
        self.0.borrow().files.contains_key(sha256)
    }

    /// Stores a new file and queues it; a file already here keeps its record and state.
    /// Returns whether it was new. The caller adds the reference right after, without an
    /// `.await` in between, so the loop never sees a queued file the documents do not know.
    pub async fn store(&self, file: DeviceFile, blob: &Blob) -> Result<bool, StoreError> {
        let store = Rc::clone(&self.0.borrow().store);
        let new = store.add_file(&file.sha256, &file, blob).await?;
        if new {
            self.0.borrow_mut().files.insert(file.sha256.clone(), file);
            self.files_changed();
        }
        Ok(new)
    }

    /// Removes a file that is not on the server yet from the device and the queue (its last
    /// reference is gone). An uploaded file stays, to show and open offline.
    pub async fn discard_unfinished(&self, sha256: &str) {
        let store = {
            let mut inner = self.0.borrow_mut();
            match inner.files.get(sha256) {
                Some(file) if file.upload != UploadState::Done => {
                    inner.files.remove(sha256);
                }
                _ => return,
            }
            Rc::clone(&inner.store)
        };
        let _ = store.forget_file(sha256).await;
        self.files_changed();
        self.notify();
    }

    pub fn pause(&self, sha256: &str) {
        self.set_state(sha256, UploadState::Paused);
    }

    /// Resumes a paused file, or tries a refused one again (the quota may have grown).
    pub fn resume(&self, sha256: &str) {
        self.set_state(sha256, UploadState::Queued);
        self.wake();
    }

    /// Called by the replica whenever it changes.
    pub fn set_documents_in_sync(&self, in_sync: bool) {
        let was = std::mem::replace(&mut self.0.borrow_mut().documents_in_sync, in_sync);
        if in_sync && !was {
            self.wake();
        }
    }

    /// Try now: the browser came online, or there is new work.
    pub fn wake(&self) {
        let mut inner = self.0.borrow_mut();
        inner.attempt = 0;
        if let Some(wake) = inner.wake.take() {
            let _ = wake.send(());
        }
    }

    /// The browser came online: the limits may have changed while we were away.
    pub fn came_online(&self) {
        self.0.borrow_mut().settings_asked = false;
        self.wake();
    }

    /// The file's bytes: this device's copy, else the server's (`thumbnail`: its small JPEG,
    /// images only).
    pub async fn blob(&self, sha256: &str, thumbnail: bool) -> Result<Blob, ApiFailure> {
        let (store, token) = {
            let inner = self.0.borrow();
            (Rc::clone(&inner.store), inner.token.clone())
        };
        if let Ok(Some(blob)) = store.file_blob(sha256).await {
            return Ok(blob);
        }
        api::file(&token, sha256, thumbnail).await
    }

    fn notify(&self) {
        let callback = self.0.borrow().on_change.clone();
        callback.emit(());
    }

    fn files_changed(&self) {
        let callback = self.0.borrow().on_files_changed.clone();
        callback.emit(());
    }

    /// Pause and resume: shown at once, on disk soon after.
    fn set_state(&self, sha256: &str, state: UploadState) {
        let Some((store, file)) = self.change_state(sha256, state) else {
            return;
        };
        self.notify();
        let uploads = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = store.update_file(&file.sha256, &file).await;
            uploads.files_changed();
        });
    }

    /// The new state in memory, and what to write to the device (`None`: the file is gone).
    fn change_state(
        &self,
        sha256: &str,
        state: UploadState,
    ) -> Option<(Rc<LocalStore>, DeviceFile)> {
        let inner = &mut *self.0.borrow_mut();
        let file = inner.files.get_mut(sha256)?;
        file.upload = state;
        Some((Rc::clone(&inner.store), file.clone()))
    }

    async fn run(&self) {
        loop {
            if self.0.borrow().stopped {
                return;
            }
            if !self.ready() {
                self.wait(None).await;
                continue;
            }
            if !std::mem::replace(&mut self.0.borrow_mut().settings_asked, true) {
                self.refresh_settings().await;
            }
            let Some(file) = self.next_file() else {
                self.wait(None).await;
                continue;
            };
            self.0.borrow_mut().active = Some(file.sha256.clone());
            self.notify();
            let outcome = self.upload(&file).await;
            self.0.borrow_mut().active = None;
            self.notify();
            match outcome {
                Ok(()) => {}
                Err(Halt::Retry) => {
                    let (attempt, recent) = {
                        let mut inner = self.0.borrow_mut();
                        inner.attempt += 1;
                        (inner.attempt, super::is_recent(inner.last_answer_ms))
                    };
                    self.wait(Some(super::retry_ms(attempt, recent))).await;
                }
                Err(Halt::Unauthorized) => {
                    self.0.borrow_mut().stopped = true;
                    return;
                }
            }
        }
    }

    /// Leading, online, logged in and the documents in sync.
    fn ready(&self) -> bool {
        let inner = self.0.borrow();
        !inner.stopped
            && inner.leading
            && inner.documents_in_sync
            && gloo::utils::window().navigator().on_line()
    }

    /// The oldest queued file.
    fn next_file(&self) -> Option<DeviceFile> {
        let inner = self.0.borrow();
        inner
            .files
            .values()
            .filter(|f| f.upload == UploadState::Queued)
            .min_by(|a, b| a.added_at_ms.total_cmp(&b.added_at_ms))
            .cloned()
    }

    /// Sends one file until the server has it all, refuses it, or it should stop (paused,
    /// removed, documents changed, offline).
    async fn upload(&self, file: &DeviceFile) -> Result<(), Halt> {
        let (store, token) = {
            let inner = self.0.borrow();
            (Rc::clone(&inner.store), inner.token.clone())
        };
        let Ok(Some(blob)) = store.file_blob(&file.sha256).await else {
            // Only if the browser lost its data; the reason says so instead of retrying forever.
            self.finish(
                &file.sha256,
                UploadState::Failed(Reason::Said(Said::new(
                    "本设备上没有这个文件的副本",
                    "no copy on this device",
                ))),
            )
            .await;
            return Ok(());
        };
        let request = UploadRequest {
            sha256: file.sha256.clone(),
            size: file.size,
            name: file.name.clone(),
        };
        let mut conflicts = 0;
        let mut finishing = false;
        let mut answer = api::start_upload(&token, &request).await;
        loop {
            let status = match answer {
                Ok(status) => status,
                // The server has a different offset, or dropped the partial upload: ask again.
                Err(ApiFailure::Refused {
                    status: 404 | 409, ..
                }) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    answer = api::start_upload(&token, &request).await;
                    continue;
                }
                Err(failure) => return self.failed(&file.sha256, failure).await,
            };
            self.received(&file.sha256, &status);
            if status.complete {
                self.finish(&file.sha256, UploadState::Done).await;
                self.0.borrow_mut().settings_asked = false; // the quota use changed
                return Ok(());
            }
            if status.received >= file.size {
                // Every byte arrived, but the request that carried the last ones ended (cut,
                // given up, a failed write) before the server stored the file: an empty
                // `PATCH` at the end asks it to check and store it. Once per try; if that
                // answer is lost too, back off and ask again.
                if std::mem::replace(&mut finishing, true) {
                    return Err(Halt::Retry);
                }
            }
            if !self.still_wanted(&file.sha256) {
                return Ok(());
            }
            let piece = self.0.borrow().piece_bytes;
            let end = (status.received + piece).min(file.size);
            let Ok(chunk) = blob.slice_with_f64_and_f64(status.received as f64, end as f64) else {
                return Err(Halt::Retry);
            };
            let started = js_sys::Date::now();
            answer = api::send_chunk(&token, &file.sha256, status.received, chunk).await;
            if let Ok(status_after) = &answer {
                conflicts = 0;
                // A whole piece is a measurement of the link; a file's short tail is not.
                let sent = status_after.received.saturating_sub(status.received);
                if sent == piece {
                    let next = link::next_piece_bytes(sent, js_sys::Date::now() - started);
                    self.0.borrow_mut().piece_bytes = next;
                }
            }
        }
    }

    /// What a failed request means for the file: only a refusal (400, 413, 422…) stops it.
    async fn failed(&self, sha256: &str, failure: ApiFailure) -> Result<(), Halt> {
        match failure {
            ApiFailure::Refused { status: 401, .. } => Err(Halt::Unauthorized),
            ApiFailure::Refused {
                status,
                message,
                message_zh,
            } if (400..500).contains(&status) && !matches!(status, 404 | 408 | 409 | 429) => {
                let en = if message.is_empty() {
                    format!("HTTP {status}")
                } else {
                    message
                };
                let zh = if message_zh.is_empty() {
                    en.clone()
                } else {
                    message_zh
                };
                let reason = Reason::Said(Said::new(zh, en));
                self.finish(sha256, UploadState::Failed(reason)).await;
                Ok(())
            }
            _ => Err(Halt::Retry),
        }
    }

    fn received(&self, sha256: &str, status: &UploadStatus) {
        let (on_server_answer, on_progress) = {
            let mut inner = self.0.borrow_mut();
            inner.attempt = 0; // the server answers: whatever failed before works now
            inner.last_answer_ms = Some(js_sys::Date::now());
            if let Some(file) = inner.files.get_mut(sha256) {
                file.received = status.received;
            }
            (inner.on_server_answer.clone(), inner.on_progress.clone())
        };
        on_server_answer.emit(());
        on_progress.emit((sha256.to_owned(), status.received));
        self.notify();
    }

    fn still_wanted(&self, sha256: &str) -> bool {
        let queued = self
            .0
            .borrow()
            .files
            .get(sha256)
            .is_some_and(|f| f.upload == UploadState::Queued);
        queued && self.ready()
    }

    /// Done or refused: on disk, then shown.
    async fn finish(&self, sha256: &str, state: UploadState) {
        if let Some((store, file)) = self.change_state(sha256, state) {
            let _ = store.update_file(sha256, &file).await;
            self.files_changed();
            self.notify();
        }
    }

    async fn refresh_settings(&self) {
        let (store, token) = {
            let inner = self.0.borrow();
            (Rc::clone(&inner.store), inner.token.clone())
        };
        if let Ok(settings) = api::file_settings(&token).await {
            let _ = store.put(SETTINGS_KEY, &settings).await;
            self.0.borrow_mut().settings = settings;
            self.notify();
        }
    }

    /// Waits for `ms` milliseconds, or until woken (new work, online, in sync, log out).
    async fn wait(&self, ms: Option<u32>) {
        let (wake, woken) = oneshot::channel::<()>();
        self.0.borrow_mut().wake = Some(wake);
        super::sleep_unless_woken(woken, ms).await;
    }
}
