//! The device's own copy of everything, in IndexedDB: each document as a list of chunks
//! (incremental saves, compacted into one when they pile up), its sync state, small records
//! (the session, refused edits) and evidence files with their upload state. One database for
//! the origin; every key starts with the user's name, so two people sharing a school computer
//! never see each other's copy.

use idb::{Database, Factory, KeyRange, ObjectStoreParams, Query, Transaction, TransactionMode};
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use rectify_shared::ids::DocumentId;
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, IdbDatabase, IdbTransaction};

const DB_NAME: &str = "rectify";
/// 2 added the `files` store.
const DB_VERSION: u32 = 2;
/// Document chunks: `user ␁ doc ␁ stamp` → bytes.
const CHUNKS: &str = "chunks";
/// Sync states: `user ␁ doc` → bytes.
const SYNC: &str = "sync";
/// Small records as JSON: `user ␁ name` → string (and `session`, which has no user yet).
const KV: &str = "kv";
/// Evidence files: `user ␁ sha256` → `{meta: JSON string, blob: Blob}`.
const FILES: &str = "files";
const SEP: char = '\u{1}';
/// After this many chunks a document is rewritten as one.
pub const COMPACT_AFTER: usize = 24;

/// Why the device store failed (quota, private mode, a browser without IndexedDB).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl From<idb::Error> for StoreError {
    fn from(err: idb::Error) -> Self {
        StoreError(err.to_string())
    }
}

/// A document as stored: its chunks (to load in any order) and its sync state.
pub struct StoredDoc {
    pub id: DocumentId,
    pub chunks: Vec<(String, Vec<u8>)>,
    pub sync_state: Option<Vec<u8>>,
}

/// The database as idb's wrapper (reads, requests) and as the browser's object, for what idb
/// cannot say: a transaction's durability.
struct Db {
    idb: Database,
    raw: IdbDatabase,
}

impl std::ops::Deref for Db {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.idb
    }
}

impl Db {
    /// A read-write transaction that is done only once the browser has flushed it to disk
    /// (`durability: "strict"`). The default ("relaxed" in Chromium, Firefox and Safari)
    /// completes when the data reaches the operating system's buffers, so an edit the app
    /// already counts could vanish in a power cut, which rural schools know well. A browser
    /// that does not know the option ignores it.
    fn write(&self, stores: &[&str]) -> Result<Transaction, StoreError> {
        let names: Array = stores.iter().map(|s| JsValue::from(*s)).collect();
        let options = Object::new();
        let js = |e: JsValue| StoreError(format!("{e:?}"));
        Reflect::set(&options, &"durability".into(), &"strict".into()).map_err(js)?;
        let transaction: Function = Reflect::get(&self.raw, &"transaction".into())
            .map_err(js)?
            .dyn_into()
            .map_err(js)?;
        let tx = transaction
            .call3(&self.raw, &names, &"readwrite".into(), &options)
            .map_err(js)?;
        Ok(Transaction::from(
            tx.dyn_into::<IdbTransaction>().map_err(js)?,
        ))
    }
}

async fn open() -> Result<Db, StoreError> {
    let factory = Factory::new()?;
    let mut request = factory.open(DB_NAME, Some(DB_VERSION))?;
    request.on_upgrade_needed(|event| {
        use idb::event::DatabaseEvent;
        let Ok(db) = event.database() else { return };
        for name in [CHUNKS, SYNC, KV, FILES] {
            if !db.store_names().iter().any(|n| n == name) {
                let _ = db.create_object_store(name, ObjectStoreParams::new());
            }
        }
    });
    let mut db = request.await?;
    // A newer version of the app in another tab wants to upgrade the database: let it (an
    // open connection would block it), and reload to become that version too. Every edit is
    // on disk before it counts, so nothing is lost.
    db.on_version_change(|event| {
        if let Some(db) = event
            .target()
            .and_then(|t| t.dyn_into::<IdbDatabase>().ok())
        {
            db.close();
        }
        let _ = gloo::utils::window().location().reload();
    });
    db.forget_callbacks();
    let raw: IdbDatabase = db.into();
    Ok(Db {
        idb: Database::from(raw.clone()),
        raw,
    })
}

fn bytes(value: &[u8]) -> JsValue {
    Uint8Array::from(value).into()
}

/// Everything whose key starts with `prefix`, which ends with the separator: up to the
/// same prefix with the separator's successor.
fn prefix_range(prefix: &str) -> Result<Query, StoreError> {
    let upper = format!("{}\u{2}", prefix.strip_suffix(SEP).unwrap_or(prefix));
    let range = KeyRange::bound(&prefix.into(), &upper.into(), None, Some(true))?;
    Ok(Query::KeyRange(range))
}

/// One user's part of the device store.
pub struct LocalStore {
    db: Db,
    user: String,
}

impl LocalStore {
    pub async fn open(user: &str) -> Result<LocalStore, StoreError> {
        Ok(LocalStore {
            db: open().await?,
            user: user.to_owned(),
        })
    }

    fn doc_prefix(&self, id: &DocumentId) -> String {
        format!("{}{SEP}{id}{SEP}", self.user)
    }

    fn sync_key(&self, id: &DocumentId) -> String {
        format!("{}{SEP}{id}", self.user)
    }

    /// Every document of this user, with its chunks and sync state.
    pub async fn load_documents(&self) -> Result<Vec<StoredDoc>, StoreError> {
        let tx = self
            .db
            .transaction(&[CHUNKS, SYNC], TransactionMode::ReadOnly)?;
        let chunks = tx.object_store(CHUNKS)?;
        let user_prefix = format!("{}{SEP}", self.user);
        let keys = chunks
            .get_all_keys(Some(prefix_range(&user_prefix)?), None)?
            .await?;
        let values = chunks
            .get_all(Some(prefix_range(&user_prefix)?), None)?
            .await?;
        let sync = tx.object_store(SYNC)?;
        let sync_keys = sync
            .get_all_keys(Some(prefix_range(&user_prefix)?), None)?
            .await?;
        let sync_values = sync
            .get_all(Some(prefix_range(&user_prefix)?), None)?
            .await?;
        let mut docs: Vec<StoredDoc> = Vec::new();
        for (key, value) in keys.into_iter().zip(values) {
            let Some(key) = key.as_string() else { continue };
            let mut parts = key.split(SEP).skip(1);
            let Some(id) = parts.next().and_then(|id| id.parse::<DocumentId>().ok()) else {
                continue;
            };
            let data = Uint8Array::new(&value).to_vec();
            match docs.last_mut() {
                Some(doc) if doc.id == id => doc.chunks.push((key, data)),
                _ => docs.push(StoredDoc {
                    id,
                    chunks: vec![(key, data)],
                    sync_state: None,
                }),
            }
        }
        for (key, value) in sync_keys.into_iter().zip(sync_values) {
            let id = key.as_string().and_then(|k| {
                k.split(SEP)
                    .nth(1)
                    .and_then(|id| id.parse::<DocumentId>().ok())
            });
            if let Some(doc) = docs.iter_mut().find(|d| Some(d.id) == id) {
                doc.sync_state = Some(Uint8Array::new(&value).to_vec());
            }
        }
        Ok(docs)
    }

    /// One document's chunks, with their keys (what another tab of this user wrote too).
    pub async fn load_chunks(&self, id: &DocumentId) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tx = self.db.transaction(&[CHUNKS], TransactionMode::ReadOnly)?;
        let chunks = tx.object_store(CHUNKS)?;
        let prefix = self.doc_prefix(id);
        let keys = chunks
            .get_all_keys(Some(prefix_range(&prefix)?), None)?
            .await?;
        let values = chunks.get_all(Some(prefix_range(&prefix)?), None)?.await?;
        Ok(keys
            .into_iter()
            .zip(values)
            .filter_map(|(key, value)| Some((key.as_string()?, Uint8Array::new(&value).to_vec())))
            .collect())
    }

    /// Appends a chunk (when there is one) and replaces the sync state (when given: a tab
    /// that does not sync leaves the syncing tab's alone), in one transaction: done when this
    /// returns.
    pub async fn append(
        &self,
        id: &DocumentId,
        chunk: Option<&[u8]>,
        sync_state: Option<&[u8]>,
        stamp: &str,
    ) -> Result<Option<String>, StoreError> {
        let tx = self.db.write(&[CHUNKS, SYNC])?;
        let mut written = None;
        if let Some(chunk) = chunk {
            let key = format!("{}{stamp}", self.doc_prefix(id));
            tx.object_store(CHUNKS)?
                .put(&bytes(chunk), Some(&key.clone().into()))?;
            written = Some(key);
        }
        if let Some(sync_state) = sync_state {
            tx.object_store(SYNC)?
                .put(&bytes(sync_state), Some(&self.sync_key(id).into()))?;
        }
        tx.commit()?.await?;
        Ok(written)
    }

    /// Replaces the chunks `old` by the one chunk `whole` (a full save), in one transaction.
    pub async fn compact(
        &self,
        id: &DocumentId,
        whole: &[u8],
        old: &[String],
        stamp: &str,
    ) -> Result<String, StoreError> {
        let tx = self.db.write(&[CHUNKS])?;
        let store = tx.object_store(CHUNKS)?;
        for key in old {
            store.delete(Query::Key(key.into()))?;
        }
        let key = format!("{}{stamp}", self.doc_prefix(id));
        store.put(&bytes(whole), Some(&key.clone().into()))?;
        tx.commit()?.await?;
        Ok(key)
    }

    /// Removes a document and its sync state (it is no longer this user's).
    pub async fn forget(&self, id: &DocumentId) -> Result<(), StoreError> {
        let tx = self.db.write(&[CHUNKS, SYNC])?;
        tx.object_store(CHUNKS)?
            .delete(prefix_range(&self.doc_prefix(id))?)?;
        tx.object_store(SYNC)?
            .delete(Query::Key(self.sync_key(id).into()))?;
        tx.commit()?.await?;
        Ok(())
    }

    fn file_key(&self, sha256: &str) -> JsValue {
        format!("{}{SEP}{sha256}", self.user).into()
    }

    /// The records of every evidence file on the device (the bytes stay on disk).
    pub async fn load_files<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let tx = self.db.transaction(&[FILES], TransactionMode::ReadOnly)?;
        let values = tx
            .object_store(FILES)?
            .get_all(Some(prefix_range(&format!("{}{SEP}", self.user))?), None)?
            .await?;
        Ok(values.iter().filter_map(file_meta).collect())
    }

    /// Stores a file's bytes with its record, unless the file is already here (then its
    /// record, with its upload state, is left alone). Returns whether it was written.
    pub async fn add_file<T: Serialize>(
        &self,
        sha256: &str,
        meta: &T,
        blob: &Blob,
    ) -> Result<bool, StoreError> {
        let tx = self.db.write(&[FILES])?;
        let store = tx.object_store(FILES)?;
        let key = self.file_key(sha256);
        if store.get(Query::Key(key.clone()))?.await?.is_some() {
            return Ok(false);
        }
        store.put(&file_value(meta, blob)?, Some(&key))?;
        tx.commit()?.await?;
        Ok(true)
    }

    /// Replaces a stored file's record (its upload state); nothing when the file is gone.
    pub async fn update_file<T: Serialize>(
        &self,
        sha256: &str,
        meta: &T,
    ) -> Result<(), StoreError> {
        let tx = self.db.write(&[FILES])?;
        let store = tx.object_store(FILES)?;
        let key = self.file_key(sha256);
        let Some(blob) = store
            .get(Query::Key(key.clone()))?
            .await?
            .as_ref()
            .and_then(file_blob)
        else {
            return Ok(());
        };
        store.put(&file_value(meta, &blob)?, Some(&key))?;
        tx.commit()?.await?;
        Ok(())
    }

    /// A stored file's bytes, as a blob (read from disk only when used).
    pub async fn file_blob(&self, sha256: &str) -> Result<Option<Blob>, StoreError> {
        let tx = self.db.transaction(&[FILES], TransactionMode::ReadOnly)?;
        let value = tx
            .object_store(FILES)?
            .get(Query::Key(self.file_key(sha256)))?
            .await?;
        Ok(value.as_ref().and_then(file_blob))
    }

    pub async fn forget_file(&self, sha256: &str) -> Result<(), StoreError> {
        let tx = self.db.write(&[FILES])?;
        tx.object_store(FILES)?
            .delete(Query::Key(self.file_key(sha256)))?;
        tx.commit()?.await?;
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        get_json(&self.db, &format!("{}{SEP}{name}", self.user)).await
    }

    pub async fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        put_json(&self.db, &format!("{}{SEP}{name}", self.user), Some(value)).await
    }
}

fn file_value<T: Serialize>(meta: &T, blob: &Blob) -> Result<JsValue, StoreError> {
    let json = serde_json::to_string(meta).map_err(|e| StoreError(e.to_string()))?;
    let value = Object::new();
    let set = |name: &str, v: &JsValue| Reflect::set(&value, &name.into(), v);
    set("meta", &json.into())
        .and_then(|_| set("blob", blob))
        .map_err(|_| StoreError("cannot build the file record".to_owned()))?;
    Ok(value.into())
}

fn file_meta<T: DeserializeOwned>(value: &JsValue) -> Option<T> {
    let json = Reflect::get(value, &"meta".into()).ok()?.as_string()?;
    serde_json::from_str(&json).ok()
}

fn file_blob(value: &JsValue) -> Option<Blob> {
    Reflect::get(value, &"blob".into()).ok()?.dyn_into().ok()
}

async fn get_json<T: DeserializeOwned>(db: &Db, key: &str) -> Result<Option<T>, StoreError> {
    let tx = db.transaction(&[KV], TransactionMode::ReadOnly)?;
    let value = tx.object_store(KV)?.get(Query::Key(key.into()))?.await?;
    Ok(value
        .and_then(|v| v.as_string())
        .and_then(|json| serde_json::from_str(&json).ok()))
}

async fn put_json<T: Serialize>(db: &Db, key: &str, value: Option<&T>) -> Result<(), StoreError> {
    let tx = db.write(&[KV])?;
    let store = tx.object_store(KV)?;
    match value {
        Some(value) => {
            let json = serde_json::to_string(value).map_err(|e| StoreError(e.to_string()))?;
            store.put(&json.into(), Some(&key.into()))?;
        }
        None => {
            store.delete(Query::Key(key.into()))?;
        }
    }
    tx.commit()?.await?;
    Ok(())
}

/// The logged-in session, kept across reloads and browser restarts (the app starts offline).
pub async fn load_session<T: DeserializeOwned>() -> Option<T> {
    let db = open().await.ok()?;
    get_json(&db, "session").await.ok().flatten()
}

pub async fn save_session<T: Serialize>(session: Option<&T>) -> Result<(), StoreError> {
    let db = open().await?;
    put_json(&db, "session", session).await
}

/// Work a user left on this device when they logged out before it reached the server: it
/// stays in their part of the store and syncs when they log in here again; meanwhile the
/// login page and whoever logs in next are told (a shared school computer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LeftWork {
    pub changes: usize,
    pub files: usize,
    pub at_ms: f64,
}

/// The device-wide record of [`LeftWork`], by username (no user prefix: it is for everyone).
const LEFT_WORK: &str = "left-work";

pub async fn left_work() -> std::collections::BTreeMap<String, LeftWork> {
    let Ok(db) = open().await else {
        return Default::default();
    };
    get_json(&db, LEFT_WORK)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Records (`Some`) or clears (`None`) what `user` left unsynced on this device.
pub async fn note_left_work(user: &str, work: Option<LeftWork>) -> Result<(), StoreError> {
    let db = open().await?;
    let mut all: std::collections::BTreeMap<String, LeftWork> =
        get_json(&db, LEFT_WORK).await?.unwrap_or_default();
    let changed = match work {
        Some(work) => all.insert(user.to_owned(), work.clone()) != Some(work),
        None => all.remove(user).is_some(),
    };
    if changed {
        put_json(&db, LEFT_WORK, Some(&all)).await?;
    }
    Ok(())
}

/// Deletes everything of `user` on this device: documents, sync states, records and files
/// ("log out and clear this device"). The caller checks first that all of it is on the
/// server.
pub async fn clear_user(user: &str) -> Result<(), StoreError> {
    let db = open().await?;
    let tx = db.write(&[CHUNKS, SYNC, KV, FILES])?;
    let prefix = format!("{user}{SEP}");
    for name in [CHUNKS, SYNC, KV, FILES] {
        tx.object_store(name)?.delete(prefix_range(&prefix)?)?;
    }
    tx.commit()?.await?;
    Ok(())
}

/// Asks the browser not to evict our data under storage pressure. Best effort: browsers
/// decide by their own rules (an installed app usually gets it).
pub fn ask_for_persistent_storage() {
    let storage = gloo::utils::window().navigator().storage();
    let _promise = storage.persist();
}
