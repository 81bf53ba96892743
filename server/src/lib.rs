//! Rectify's server: the HTTP API, the static client bundle and Automerge sync, on top of
//! one storage trait.
//!
//! - [`cli`]: the `rectify` command line (`serve`, `demo`, `user` …).
//! - [`http`]: [`http::app`] builds the axum router from a [`state::AppState`]; tests call it
//!   directly. It holds the routes and the `/sync` upgrade; each other handler lives beside
//!   its resource.
//! - [`state`]: [`state::AppState`], what every handler can reach, and [`state::ServerSettings`].
//! - [`auth`]: login, `GET /api/me` and the [`auth::CurrentUser`] extractor.
//! - [`items`]: `GET /api/items`, the items the caller may read.
//! - [`sync_ws`]: the sync hub: the automerge-repo WebSocket protocol for the sans-IO sync
//!   core, with the policy of [`rectify_shared::gate`].
//! - [`web`]: serving the built client (content types, cache headers, pre-compressed files).
//! - [`storage`]: the [`storage::Storage`] and [`storage::Backup`] traits, the backend chosen
//!   from a [`storage::StorageUrl`] (SQLite today).
//! - [`evidence`]: evidence files over HTTP: resumable uploads, serving, thumbnails; the file
//!   service under it ([`evidence::files`]): limits, staging, collection.
//! - [`blobs`]: the [`blobs::BlobStore`] trait (evidence bytes by SHA-256) and the local directory.
//! - [`campaigns`]: importing a report into documents, adding and editing items; loading them
//!   for the ledger and report files (one builder for the command line and the HTTP API).
//! - [`office`]: the office's HTTP API: units, accounts, campaigns and their files, import,
//!   items added by hand, an item's history; `require` checks the caller against
//!   [`rectify_shared::policy::Need`].
//! - [`arrivals`]: when the server first stored each change, written with the chunk.
//! - [`accounts`]: password hashing, login, bearer tokens.
//! - [`blocking`]: heavy work (argon2, Automerge saves, image decoding) off the async
//!   runtime, with bounded concurrency.
//! - [`clock`]: the wall clock in Unix milliseconds ([`clock::now_ms`]).
//! - [`demo`]: the demo campaign, units and accounts.
//! - [`office_files`]: `.docx` in and out, the `.xlsx` ledger.
//! - [`error`]: the one place where errors become HTTP responses.
//! - [`feed`]: the [`feed::ChangeFeed`] trait: what servers sharing one PostgreSQL database tell
//!   each other (a document's new version, ended sessions).
//! - [`metrics`]: the Prometheus registry (served at `GET /metrics` by [`http`]).
//! - [`maintenance`]: background eviction of idle documents, compaction of stored ones,
//!   collection of evidence files.
//! - `fuzzing` (feature `fuzzing`): the fuzz targets, shared by `fuzz/` and the regression tests.
//! - [`data_dir`]: the data directory's lock, backup and restore.
//! - [`migrate`]: `rectify migrate`, a SQLite data directory copied into PostgreSQL and checked.
//! - [`config`]: the config file (`rectify.toml`) under the command line's flags.

pub mod accounts;
pub mod arrivals;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod blocking;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod config;
pub mod data_dir;
pub mod demo;
pub mod drain;
pub mod error;
pub mod evidence;
pub mod feed;
pub mod file_access;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod items;
pub mod json;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod office;
pub mod office_files;
pub mod proxy;
pub mod schema_v2;
pub mod state;
pub mod storage;
pub mod sync_ws;
pub mod web;
