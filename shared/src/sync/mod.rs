//! Syncing Automerge documents between our client, stock automerge-repo clients and the server.
//!
//! The protocol is automerge-repo's WebSocket protocol (see `docs/sync-protocol.md` for the
//! documents and `../shared/notes/automerge-repo-protocol.md` for what was learned building it):
//! a `join`/`peer` handshake, then Automerge sync messages per document in `request`/`sync`
//! frames, `doc-unavailable` for what a peer may not read, and `error`.
//!
//! - [`wire`]: the frames as a Rust enum, their CBOR codec and its limits.
//! - [`core`]: [`core::SyncServer`], the server's sans-IO state machine: frames and loaded
//!   documents in, [`core::Effect`]s (send, persist, load, quarantine, close) out, with
//!   authorization through the driver's [`core::Gate`].
//! - [`client`]: [`client::SyncClient`], the client side of the same protocol, without IO.
//! - [`batch`]: our extension, negotiated in `join`/`peer`: many documents' heads and changes
//!   in a few frames, and changes as compressed bundles (stock peers never see it).
//! - [`replicas`]: for servers sharing one storage, the documents a frame carries changes
//!   for, whose copies the driver brings up to storage before the core judges the frame.
//!
//! Nothing here does IO or reads a clock, so it runs in the browser and on the server alike,
//! and the same inputs always give the same outputs (the basis of the simulation tests).

pub mod batch;
pub mod client;
pub mod core;
pub mod replicas;
pub mod wire;
