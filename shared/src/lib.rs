//! Rectify's shared core: everything the client and the server must agree on.
//!
//! This crate has no IO. It compiles for native targets and for `wasm32-unknown-unknown`,
//! so the browser client and the sync server run the very same model, workflow,
//! permission policy, importer and report builder and cannot disagree about them.
//!
//! - [`api`]: JSON bodies of the HTTP API (login, item lists, errors).
//! - [`burst`]: a typing burst held until the field is quiet, then made one change.
//! - [`dashboard`]: the office's numbers: totals, matrix, per unit, overdue, the chase list.
//! - [`ids`]: newtypes for every identifier.
//! - [`date`]: calendar dates (deadlines, inspection periods).
//! - [`status`]: the public status wording and the workflow.
//! - [`workflow`]: who may move a unit's progress or an item from where to where.
//! - [`model`]: the campaign and item documents (Automerge, via autosurgeon) and their edits.
//! - [`report`]: the report as a plain tree, and the text and HTML builders.
//! - [`policy`]: roles and the permission rules.
//! - [`gate`]: the policy as the sync core asks for it (who may read, create, change a
//!   synced document); the server and the simulation run it.
//! - [`ledger`]: the ledger (台账) rows and their CSV form.
//! - [`sync`]: the automerge-repo wire messages and the sans-IO sync core.
//! - [`evidence`]: evidence files: identity (SHA-256), accepted kinds, safe names, the upload
//!   protocol's bodies.
//! - [`history`]: an item's timeline (who changed what, when), read from its changes.
//! - [`link`]: pacing on a poor link: the retry delay after losing the server, the size of
//!   an upload piece.
//! - [`import`]: parses a published rectification report (text) into a [`report::Report`].

pub mod api;
pub mod burst;
pub mod dashboard;
pub mod date;
pub mod evidence;
pub mod gate;
pub mod history;
pub mod ids;
pub mod import;
pub mod ledger;
pub mod link;
pub mod model;
pub mod policy;
pub mod report;
pub mod said;
pub mod status;
pub mod sync;
pub mod text;
pub mod workflow;
