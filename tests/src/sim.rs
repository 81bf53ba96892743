//! Deterministic simulation: the server's sync core with the real policy
//! ([`PolicyGate`]) and its storage, and clients (our [`SyncClient`] with a local store) on a
//! simulated network, all in one thread and driven by one seed.
//!
//! The network loses, duplicates, delays and reorders frames; clients go offline (some for
//! long), restart from their local store, and one of them (`mallory`, a school) and the viewer
//! try changes the policy forbids. The server restarts from its storage and evicts idle
//! documents. Its storage fails writes (the driver answers `persisted(doc, false)` and stores
//! nothing) and reads (`document_load_failed`), and is slow: a write completes some steps
//! later, while other frames are processed (the core holds frames for that document until
//! then); a restart cuts a slow write short, before or after it reached the disk. After the
//! run everything heals: every client reconnects on a clean network with working storage and
//! the world runs until nothing moves. Then the invariants are checked:
//!
//! - all replicas of every document are identical (same heads as the server's stored copy);
//! - every edit an honest client made is in the server's stored copy, and so is every change
//!   it made;
//! - every change a client counts as acknowledged (in the heads its sync state says the server
//!   has) is in storage: checked at every server restart, after every failed write, at the end;
//! - no change is written to storage twice;
//! - no forbidden change is in the server's storage or any replica.
//!
//! And while it runs: a server-side fault never makes a client drop or reset a local change.
//! No honest client is ever refused, and no client is told that a document it may read is
//! unavailable; a `Retry` (counted apart) comes only for a document whose read or write failed.
//!
//! **Several replicas** ([`Config::replicas`] above 1, issue #18): that many servers, each a
//! sync core with its own memory, over one shared storage, as `rectify serve` processes on
//! one PostgreSQL database. Every stored document has a gap-free version (one per chunk
//! appended); a replica appends only on top of the version its copy holds and is otherwise
//! refused as outdated (the copy catches up at once and the frame is judged again). A
//! successful write notifies the other replicas (document id + version) over the simulated
//! network, which loses, delays and reorders notifications. A replica hearing a version above
//! its own reads the chunks above it and hands the raw changes to its core
//! ([`SyncServer::apply_stored`]), or loads the document afresh for peers that have it open
//! ([`SyncServer::refresh`]); and now and then it compares every loaded document's version with
//! storage (the sweep that covers lost notifications). This is the decision logic of the
//! server's driver (`server/src/sync_ws.rs`: `catch_up`, `catch_up_all`, the `Outdated`
//! write), mirrored here step by step. Replicas crash (their slow writes cut short) and stay
//! down a few steps; a client connects to a random replica that is up, so it moves between
//! replicas as it reconnects. The same invariants hold, and after healing every replica's
//! loaded copy of a document is the stored one.
//!
//! Automerge actor ids and document ids come from the seed, so a seed replays a run exactly.

use crate::proxy::Rng;
use automerge::{ActorId, AutoCommit, ChangeHash};
use rectify_shared::gate::{Peer, PolicyGate};
use rectify_shared::ids::{DocumentId, UnitId, Username};
use rectify_shared::model::{self, EditContext, Feedback, ItemDoc, ItemEdit, ItemPlan, Measure};
use rectify_shared::policy::{Actor, Role, can_read_item};
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::core::{ConnId, Effect, Gate, SyncServer};
use rectify_shared::sync::replicas;
use rectify_shared::sync::wire::{PeerId, StorageId};
use rectify_shared::workflow::UnitStatus;
use std::collections::{BTreeMap, BTreeSet};

/// How hostile the world is. Probabilities are per mille, per client and step.
#[derive(Debug, Clone)]
pub struct Config {
    pub steps: u64,
    pub edit: u64,
    pub loss: u64,
    pub duplicate: u64,
    /// Frames are delayed by up to this many steps (so they overtake each other).
    pub max_delay: u64,
    pub go_offline: u64,
    /// Of the times a client goes offline, how many (per mille) it stays away for long.
    pub long_offline: u64,
    pub client_restart: u64,
    /// Per step, for the whole server.
    pub server_restart: u64,
    pub evict: u64,
    pub forbidden: u64,
    /// Per write (`Persist`): it fails, nothing is stored.
    pub write_fail: u64,
    /// Per load (`LoadDocument`): it fails.
    pub read_fail: u64,
    /// Per write: it completes 1..=`max_delay` steps later (and may still fail).
    pub slow_write: u64,
    /// Server replicas over the one storage; 1 is a single server (no notifications).
    pub replicas: usize,
    /// Per notification from one replica to another: it is lost.
    pub notify_loss: u64,
    /// Per replica and step: it compares its loaded documents' versions with storage.
    pub sweep: u64,
}

impl Config {
    /// Several replicas over one storage, with notifications often lost.
    pub fn replicas(replicas: usize) -> Config {
        Config {
            replicas,
            notify_loss: 250,
            sweep: 60,
            // Crashes are what several replicas are for: several per run, so that a few seeds
            // cover them whatever path the protocol takes.
            server_restart: 60,
            ..Config::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            steps: 150,
            edit: 120,
            loss: 20,
            duplicate: 20,
            max_delay: 3,
            go_offline: 15,
            long_offline: 200,
            client_restart: 5,
            server_restart: 8,
            evict: 40,
            forbidden: 60,
            write_fail: 40,
            read_fail: 40,
            slow_write: 150,
            replicas: 1,
            notify_loss: 0,
            sweep: 0,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub frames: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delayed: u64,
    pub partitions: u64,
    pub long_offline: u64,
    pub client_restarts: u64,
    pub server_restarts: u64,
    pub evictions: u64,
    pub edits_made: u64,
    pub edits_checked: u64,
    pub edits_lost: u64,
    pub forbidden_attempted: u64,
    pub forbidden_accepted: u64,
    /// Acknowledged changes checked to be in storage (at every restart, after every failed
    /// write and at the end).
    pub acknowledged_checked: u64,
    pub acknowledged_lost: u64,
    /// Every change an honest client made, checked to be in storage at the end.
    pub changes_checked: u64,
    /// Storage faults: failed writes, failed reads, slow writes, and slow writes a server
    /// restart cut short (each then reached the disk or not, at random; nobody was told).
    pub writes_failed: u64,
    pub reads_failed: u64,
    pub slow_writes: u64,
    pub writes_cut: u64,
    /// `Retry` events clients received (the server's trouble: keep everything, try later).
    pub retries: u64,
    /// Times a client was given cause to drop or reset local work it was entitled to: an
    /// honest change refused, or `doc-unavailable` for a document it may read (on which the
    /// app removes the item from the device). Zero, or the run fails there.
    pub dropped_by_fault: u64,
    /// Several replicas: notifications sent and lost, writes refused as outdated (another
    /// replica wrote first), copies caught up from storage, sweeps, and reconnects that
    /// landed on another replica than before.
    pub notifications: u64,
    pub notifications_lost: u64,
    pub writes_outdated: u64,
    pub caught_up: u64,
    pub sweeps: u64,
    pub replica_moves: u64,
}

impl Report {
    /// Adds another run's counts (for totals over seeds).
    pub fn add(&mut self, r: &Report) {
        self.frames += r.frames;
        self.lost += r.lost;
        self.duplicated += r.duplicated;
        self.delayed += r.delayed;
        self.partitions += r.partitions;
        self.long_offline += r.long_offline;
        self.client_restarts += r.client_restarts;
        self.server_restarts += r.server_restarts;
        self.evictions += r.evictions;
        self.edits_made += r.edits_made;
        self.edits_checked += r.edits_checked;
        self.edits_lost += r.edits_lost;
        self.forbidden_attempted += r.forbidden_attempted;
        self.forbidden_accepted += r.forbidden_accepted;
        self.acknowledged_checked += r.acknowledged_checked;
        self.acknowledged_lost += r.acknowledged_lost;
        self.changes_checked += r.changes_checked;
        self.writes_failed += r.writes_failed;
        self.reads_failed += r.reads_failed;
        self.slow_writes += r.slow_writes;
        self.writes_cut += r.writes_cut;
        self.retries += r.retries;
        self.dropped_by_fault += r.dropped_by_fault;
        self.notifications += r.notifications;
        self.notifications_lost += r.notifications_lost;
        self.writes_outdated += r.writes_outdated;
        self.caught_up += r.caught_up;
        self.sweeps += r.sweeps;
        self.replica_moves += r.replica_moves;
    }

    pub fn faults(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.delayed
            + self.partitions
            + self.client_restarts
            + self.server_restarts
            + self.evictions
            + self.notifications_lost
            + self.storage_faults()
    }

    /// Failed writes, failed reads and slow writes.
    pub fn storage_faults(&self) -> u64 {
        self.writes_failed + self.reads_failed + self.slow_writes
    }
}

/// A broken invariant, with the seed that reproduces it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub step: u64,
    pub what: String,
    pub report: Box<Report>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} failed at step {}: {} (replay: cargo xtask soak --seed {})",
            self.seed, self.step, self.what, self.seed
        )
    }
}

/// An edit an honest client made, to look for at the end.
#[derive(Debug, Clone)]
enum Expect {
    Narrative {
        doc: DocumentId,
        unit: String,
        token: String,
    },
    Feedback {
        doc: DocumentId,
        id: String,
    },
}

struct Client {
    name: &'static str,
    peer: Peer,
    honest: bool,
    sync: SyncClient,
    conn: Option<ConnId>,
    offline_until: u64,
    /// The local store: each document's bytes and sync state, written after every change.
    store: BTreeMap<DocumentId, (Vec<u8>, Vec<u8>)>,
    saved_heads: BTreeMap<DocumentId, Vec<ChangeHash>>,
    readable: Vec<DocumentId>,
    /// Bumped on every restart and reset, so a new life writes with a new actor.
    incarnation: u64,
    edits: u64,
    /// The replica it was last connected to.
    replica: Option<usize>,
}

enum Hop {
    ToServer(ConnId, Vec<u8>),
    ToClient(usize, ConnId, Vec<u8>),
    /// The server closed the connection: the client learns it after the frames sent before.
    Close(usize, ConnId),
    /// A replica hears that a document's stored version is now this.
    Notify {
        replica: usize,
        doc: DocumentId,
        version: i64,
    },
}

struct Flight {
    at: u64,
    seq: u64,
    hop: Hop,
}

struct World {
    seed: u64,
    config: Config,
    rng: Rng,
    now: u64,
    clean: bool,
    replicas: Vec<Replica>,
    /// The shared storage: each document's chunks, its version being how many there are.
    storage: BTreeMap<DocumentId, Vec<Vec<u8>>>,
    /// The changes in `storage`, to catch a change written twice.
    stored: BTreeMap<DocumentId, BTreeSet<ChangeHash>>,
    /// Documents a read or write of failed (or a write found outdated): a `Retry` may name
    /// only these.
    faulted: BTreeSet<DocumentId>,
    /// Connections a server closed: the driver sends nothing more on them.
    closed: BTreeSet<ConnId>,
    /// Which replica each open connection is on.
    conns: BTreeMap<ConnId, usize>,
    flights: Vec<Flight>,
    seq: u64,
    next_conn: u64,
    clients: Vec<Client>,
    docs: Vec<(DocumentId, Vec<String>)>,
    expected: Vec<Expect>,
    forbidden: Vec<(DocumentId, ChangeHash)>,
    acknowledged: BTreeSet<(DocumentId, ChangeHash)>,
    /// Every change an honest client made.
    honest_changes: BTreeSet<(DocumentId, ChangeHash)>,
    report: Report,
}

struct SlowWrite {
    at: u64,
    doc: DocumentId,
    chunk: Vec<u8>,
    hashes: Vec<ChangeHash>,
    /// The stored version the chunk goes on top of (else the write is outdated).
    expect: i64,
}

/// One server: its sync core, and what its driver keeps beside it.
struct Replica {
    core: SyncServer<PolicyGate>,
    /// The stored version each loaded document's bytes are at (the driver's `versions`).
    versions: BTreeMap<DocumentId, i64>,
    /// Loads under way: when each completes, the document, and the version read first (the
    /// chunks, read at completion, hold at least that version).
    loads: Vec<(u64, DocumentId, i64)>,
    /// Slow writes under way.
    writes: Vec<SlowWrite>,
    /// Catch-up reads under way: when each completes, and what it read.
    catch_ups: Vec<CatchUp>,
    eviction_mark: u64,
    /// Crashed: down (no connections, notifications lost) until this step.
    down_until: u64,
}

impl Replica {
    fn new(down_until: u64) -> Replica {
        Replica {
            core: new_server(),
            versions: BTreeMap::new(),
            loads: Vec::new(),
            writes: Vec::new(),
            catch_ups: Vec::new(),
            eviction_mark: 0,
            down_until,
        }
    }

    fn idle(&self) -> bool {
        self.loads.is_empty() && self.writes.is_empty() && self.catch_ups.is_empty()
    }
}

/// The chunks above `held` a replica read to catch up, and the version they bring it to.
struct CatchUp {
    at: u64,
    doc: DocumentId,
    held: i64,
    version: i64,
    bytes: Vec<u8>,
}

/// The cast: (name, username, role, unit, honest).
const CAST: &[(&str, &str, Role, Option<&str>, bool)] = &[
    ("school1", "school1", Role::Unit, Some("s1"), true),
    ("school1-phone", "school1b", Role::Unit, Some("s1"), true),
    ("school2", "school2", Role::Unit, Some("s2"), true),
    ("office", "office", Role::Office, None, true),
    ("viewer", "viewer", Role::Viewer, None, false),
    ("mallory", "mallory", Role::Unit, Some("s3"), false),
];

/// The items and their units.
const ITEMS: &[&[&str]] = &[&["s1", "s2"], &["s1"], &["s2"], &["s3"], &["s1", "s3"]];

fn actor_of(peer: &Peer) -> EditContext {
    EditContext {
        actor: peer.actor.clone(),
        user: peer.username.as_str().to_owned(),
        now_ms: 0,
    }
}

/// Runs one seed; `Err` names the first broken invariant.
pub fn run(seed: u64, config: &Config) -> Result<Report, Failure> {
    let mut world = World::new(seed, config.clone());
    world.run()?;
    world.heal()?;
    world.check()?;
    Ok(world.report)
}

impl World {
    fn new(seed: u64, config: Config) -> World {
        let mut rng = Rng::new(seed);
        let mut storage = BTreeMap::new();
        let mut stored = BTreeMap::new();
        let mut docs = Vec::new();
        let office = crate::office_edit(0);
        for (n, units) in ITEMS.iter().enumerate() {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            id[8..].copy_from_slice(&(n as u64).to_le_bytes());
            let mut item = ItemDoc::new("campaign", &format!("1.{}", n + 1), &format!("问题{n}"));
            item.measures = (1..=2)
                .map(|m| Measure {
                    id: format!("m{m}"),
                    text: format!("措施{m}").as_str().into(),
                })
                .collect();
            // As `model::create_document`, but with an actor from the seed.
            let mut doc = model::new_automerge().with_actor(ActorId::from(id.as_slice()));
            model::update_document(&mut doc, &item, "office", "create", 0).expect("a new item");
            let plan = ItemPlan {
                units: units.iter().map(|u| (*u).to_owned()).collect(),
                ..ItemPlan::default()
            };
            model::apply(&mut doc, &office, ItemEdit::Plan(plan)).expect("planning an item");
            storage.insert(DocumentId(id), vec![doc.save()]);
            let hashes = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
            stored.insert(DocumentId(id), hashes);
            docs.push((
                DocumentId(id),
                units.iter().map(|u| (*u).to_owned()).collect(),
            ));
        }
        let replicas = (0..config.replicas.max(1))
            .map(|_| Replica::new(0))
            .collect();
        let mut world = World {
            seed,
            config,
            rng,
            now: 0,
            clean: false,
            replicas,
            storage,
            stored,
            faulted: BTreeSet::new(),
            closed: BTreeSet::new(),
            conns: BTreeMap::new(),
            flights: Vec::new(),
            seq: 0,
            next_conn: 0,
            clients: Vec::new(),
            docs,
            expected: Vec::new(),
            forbidden: Vec::new(),
            acknowledged: BTreeSet::new(),
            honest_changes: BTreeSet::new(),
            report: Report {
                seed,
                ..Report::default()
            },
        };
        for &(name, username, role, unit, honest) in CAST {
            let peer = Peer {
                username: Username::new(username),
                actor: Actor {
                    role,
                    unit: unit.map(UnitId::new),
                },
            };
            let readable = world
                .docs
                .iter()
                .filter(|(_, units)| can_read_item(&peer.actor, units, None))
                .map(|(id, _)| *id)
                .collect();
            let mut client = Client {
                name,
                peer,
                honest,
                sync: new_client(name, 0),
                conn: None,
                offline_until: 0,
                store: BTreeMap::new(),
                saved_heads: BTreeMap::new(),
                readable,
                incarnation: 0,
                edits: 0,
                replica: None,
            };
            // Like the app after `/api/items`: ask for every item it may read; mallory also
            // asks for the others.
            let ask: Vec<DocumentId> = if honest {
                client.readable.clone()
            } else {
                world.docs.iter().map(|(id, _)| *id).collect()
            };
            for id in ask {
                client.sync.open_document(id);
            }
            world.clients.push(client);
        }
        world
    }

    fn fail(&self, what: impl Into<String>) -> Failure {
        Failure {
            seed: self.seed,
            step: self.now,
            what: what.into(),
            report: Box::new(self.report.clone()),
        }
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.range(0, 1000) < per_mille
    }

    fn run(&mut self) -> Result<(), Failure> {
        for step in 0..self.config.steps {
            self.now = step;
            for index in 0..self.clients.len() {
                self.client_step(index)?;
            }
            if self.chance(self.config.server_restart) {
                let r = self.pick_replica();
                self.restart_server(r)?;
            }
            if self.chance(self.config.evict) {
                let r = self.pick_replica();
                self.evict(r);
            }
            for r in 0..self.replicas.len() {
                if self.replicas.len() > 1 && self.chance(self.config.sweep) {
                    self.sweep(r)?;
                }
            }
            self.deliver_due()?;
        }
        Ok(())
    }

    fn client_step(&mut self, index: usize) -> Result<(), Failure> {
        let online = self.clients[index].conn.is_some();
        if online && self.chance(self.config.go_offline) {
            let long = self.chance(self.config.long_offline);
            let away = if long {
                self.report.long_offline += 1;
                self.rng.range(40, 120)
            } else {
                self.rng.range(2, 15)
            };
            self.report.partitions += 1;
            self.disconnect(index);
            self.clients[index].offline_until = self.now + away;
        } else if !online && self.now >= self.clients[index].offline_until {
            self.connect(index);
        }
        if self.chance(self.config.client_restart) {
            self.restart_client(index);
        }
        let honest = self.clients[index].honest;
        if honest && self.chance(self.config.edit) {
            self.honest_edit(index)?;
        } else if !honest && self.chance(self.config.forbidden) {
            self.forbidden_edit(index);
        }
        self.send_pending(index);
        Ok(())
    }

    /// Any replica (the one server when there is one: no random draw then, so a single
    /// server's runs are what they were before replicas).
    fn pick_replica(&mut self) -> usize {
        match self.replicas.len() {
            1 => 0,
            n => self.rng.range(0, n as u64) as usize,
        }
    }

    /// Connects to a random replica that is up (as behind a load balancer); with none up the
    /// client tries again next step.
    fn connect(&mut self, index: usize) {
        let up: Vec<usize> = (0..self.replicas.len())
            .filter(|r| self.replicas[*r].down_until <= self.now)
            .collect();
        let replica = match up.len() {
            0 => {
                self.clients[index].offline_until = self.now + 1;
                return;
            }
            1 => up[0],
            n => up[self.rng.range(0, n as u64) as usize],
        };
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.conns.insert(conn, replica);
        let client = &mut self.clients[index];
        if client.replica.is_some_and(|r| r != replica) {
            self.report.replica_moves += 1;
        }
        client.replica = Some(replica);
        client.conn = Some(conn);
        self.replicas[replica]
            .core
            .connect(conn, client.peer.clone());
        let join = client.sync.connect();
        self.send(Hop::ToServer(conn, join));
    }

    fn disconnect(&mut self, index: usize) {
        let client = &mut self.clients[index];
        if let Some(conn) = client.conn.take() {
            client.sync.disconnect();
            if let Some(r) = self.conns.remove(&conn) {
                self.replicas[r].core.disconnect(conn);
            }
        }
    }

    /// Drops idle documents from a replica's memory, and their versions with them.
    fn evict(&mut self, r: usize) {
        let replica = &mut self.replicas[r];
        let evicted = replica.core.evict_idle(replica.eviction_mark);
        self.report.evictions += evicted as u64;
        replica.eviction_mark = replica.core.clock();
        // Kept for the documents peers still have open, so that the sweep finds them.
        let open: BTreeSet<DocumentId> = replica.core.open_documents().copied().collect();
        replica.versions.retain(|doc, _| open.contains(doc));
    }

    /// The server's close frame arrives: the client is offline and reconnects at the next step.
    fn closed_by_server(&mut self, index: usize, conn: ConnId) {
        let client = &mut self.clients[index];
        if client.conn == Some(conn) {
            client.conn = None;
            client.sync.disconnect();
            client.offline_until = self.now + 1;
        }
    }

    /// The client process dies and starts again from its local store.
    fn restart_client(&mut self, index: usize) {
        self.report.client_restarts += 1;
        self.disconnect(index);
        let client = &mut self.clients[index];
        client.incarnation += 1;
        client.sync = new_client(client.name, client.incarnation);
        let ask: Vec<DocumentId> = if client.honest {
            client.readable.clone()
        } else {
            self.docs.iter().map(|(id, _)| *id).collect()
        };
        for id in ask {
            match client.store.get(&id) {
                Some((bytes, state)) => {
                    let doc = model::load_automerge(bytes).expect("a stored document loads");
                    client.sync.add_document_with_state(id, doc, state);
                }
                None => client.sync.open_document(id),
            }
        }
        client.offline_until = self.now + 1;
    }

    /// A server process dies; it restarts from storage (among several replicas, after a few
    /// steps down). Everything acknowledged must be there.
    fn restart_server(&mut self, r: usize) -> Result<(), Failure> {
        self.report.server_restarts += 1;
        for index in 0..self.clients.len() {
            let on_it = self.clients[index]
                .conn
                .is_some_and(|conn| self.conns.get(&conn) == Some(&r));
            if on_it {
                self.disconnect(index);
                self.clients[index].offline_until = self.now + 1;
            }
        }
        let down = if self.replicas.len() > 1 {
            self.rng.range(0, 6)
        } else {
            0
        };
        let old = std::mem::replace(&mut self.replicas[r], Replica::new(self.now + down));
        // The process died in the middle of its slow writes: each reached the disk or did not,
        // and nobody was told (but the other replicas are notified of what reached it).
        for write in old.writes {
            self.report.writes_cut += 1;
            if self.chance(500) && self.stored_version(write.doc) == write.expect {
                self.store(write.doc, &write.chunk, &write.hashes)?;
                self.notify(r, write.doc);
            }
        }
        self.check_acknowledged()
    }

    /// A document's stored version: how many chunks it has (0: none).
    fn stored_version(&self, doc: DocumentId) -> i64 {
        self.storage
            .get(&doc)
            .map_or(0, |chunks| chunks.len() as i64)
    }

    /// A document's chunks above `version`, concatenated; `None` when it has none.
    fn stored_above(&self, doc: DocumentId, version: i64) -> Option<Vec<u8>> {
        let chunks = self.storage.get(&doc)?;
        Some(
            chunks
                .iter()
                .skip(version.max(0) as usize)
                .flatten()
                .copied()
                .collect(),
        )
    }

    /// Tells every other replica that is up that `doc` was written (its new version), over
    /// the network, which may lose, delay and reorder it.
    fn notify(&mut self, from: usize, doc: DocumentId) {
        let version = self.stored_version(doc);
        for replica in 0..self.replicas.len() {
            if replica == from || self.replicas[replica].down_until > self.now {
                continue;
            }
            self.report.notifications += 1;
            if !self.clean && self.chance(self.config.notify_loss) {
                self.report.notifications_lost += 1;
                continue;
            }
            let delay = if self.clean {
                0
            } else {
                self.rng.range(0, self.config.max_delay + 1)
            };
            self.seq += 1;
            self.flights.push(Flight {
                at: self.now + delay,
                seq: self.seq,
                hop: Hop::Notify {
                    replica,
                    doc,
                    version,
                },
            });
        }
    }

    /// The driver's `catch_up`: `doc` was written by another replica (`heard`: the version a
    /// notification named, or `None` from a sweep). Not loaded here: loaded afresh for peers
    /// that have it open. Loaded and behind: the chunks above the version held are read (the
    /// read completes later, or fails), then handed to the core.
    fn catch_up(&mut self, r: usize, doc: DocumentId, heard: Option<i64>) -> Result<(), Failure> {
        if self.replicas[r].core.document(&doc).is_none() {
            let effects = self.replicas[r].core.refresh(doc);
            return self.execute(r, effects);
        }
        let held = self.replicas[r].versions.get(&doc).copied().unwrap_or(0);
        let version = self.stored_version(doc);
        if heard.is_some_and(|heard| heard <= held) || version <= held {
            return Ok(());
        }
        if !self.clean && self.chance(self.config.read_fail) {
            // The next notification or sweep tries again; nobody is told.
            self.report.reads_failed += 1;
            return Ok(());
        }
        let bytes = self.stored_above(doc, held).unwrap_or_default();
        let at = self.now + self.storage_delay();
        self.replicas[r].catch_ups.push(CatchUp {
            at,
            doc,
            held,
            version,
            bytes,
        });
        Ok(())
    }

    /// A catch-up read completes: applied unless the copy moved meanwhile (written or caught up
    /// since) or has a write of its own in flight (`apply_stored` says `None`; the write will
    /// be found outdated, or the next sweep catches up).
    fn caught_up(&mut self, r: usize, read: &CatchUp) -> Result<(), Failure> {
        let replica = &mut self.replicas[r];
        if replica.versions.get(&read.doc).copied().unwrap_or(0) != read.held {
            return Ok(());
        }
        let Some(effects) = replica.core.apply_stored(read.doc, &read.bytes) else {
            return Ok(());
        };
        replica.versions.insert(read.doc, read.version);
        self.report.caught_up += 1;
        self.execute(r, effects)
    }

    /// The driver's check before a frame with changes reaches the core
    /// ([`replicas::changed_documents`]): each loaded copy behind storage catches up first, so
    /// that changes a client passes on from another replica are not judged as its own.
    fn fresh_before_judging(&mut self, r: usize, frame: &[u8]) -> Result<(), Failure> {
        for doc in replicas::changed_documents(frame) {
            let held = self.replicas[r].versions.get(&doc).copied().unwrap_or(0);
            let version = self.stored_version(doc);
            if self.replicas[r].core.document(&doc).is_none() || version <= held {
                continue;
            }
            let bytes = self.stored_above(doc, held).unwrap_or_default();
            let replica = &mut self.replicas[r];
            if let Some(effects) = replica.core.apply_stored(doc, &bytes) {
                replica.versions.insert(doc, version);
                self.report.caught_up += 1;
                self.execute(r, effects)?;
            }
        }
        Ok(())
    }

    /// The driver's `catch_up_all`: every loaded document's version compared with storage.
    fn sweep(&mut self, r: usize) -> Result<(), Failure> {
        self.report.sweeps += 1;
        let held: Vec<(DocumentId, i64)> = self.replicas[r]
            .versions
            .iter()
            .map(|(doc, version)| (*doc, *version))
            .collect();
        for (doc, version) in held {
            if self.stored_version(doc) > version {
                self.catch_up(r, doc, None)?;
            }
        }
        Ok(())
    }

    /// How many steps a read takes: 0 on a clean network, else up to `max_delay`.
    fn storage_delay(&mut self) -> u64 {
        if self.clean {
            0
        } else {
            self.rng.range(0, self.config.max_delay + 1)
        }
    }

    /// Appends a durable write to storage; a change stored twice is a broken invariant (the
    /// core writes only changes the stored document lacks).
    fn store(
        &mut self,
        doc: DocumentId,
        chunk: &[u8],
        hashes: &[ChangeHash],
    ) -> Result<(), Failure> {
        let stored = self.stored.entry(doc).or_default();
        if let Some(twice) = hashes.iter().find(|h| stored.contains(h)) {
            return Err(self.fail(format!("change {twice} of {doc} was written twice")));
        }
        stored.extend(hashes.iter().copied());
        self.storage.entry(doc).or_default().push(chunk.to_vec());
        Ok(())
    }

    fn check_acknowledged(&mut self) -> Result<(), Failure> {
        let mut stored: BTreeMap<DocumentId, AutoCommit> = BTreeMap::new();
        for &(doc, hash) in &self.acknowledged {
            let copy = stored.entry(doc).or_insert_with(|| {
                let bytes = self.stored_above(doc, 0).unwrap_or_default();
                model::load_automerge(&bytes).expect("stored chunks load")
            });
            self.report.acknowledged_checked += 1;
            if copy.get_change_by_hash(&hash).is_none() {
                self.report.acknowledged_lost += 1;
                return Err(self.fail(format!(
                    "change {hash} of {doc} was acknowledged but is not in storage"
                )));
            }
        }
        Ok(())
    }

    fn send_pending(&mut self, index: usize) {
        let Some(conn) = self.clients[index].conn else {
            return;
        };
        for frame in self.clients[index].sync.poll() {
            self.send(Hop::ToServer(conn, frame));
        }
    }

    /// Puts a frame on the network, which may lose, duplicate or delay it.
    fn send(&mut self, hop: Hop) {
        if self.clean {
            self.seq += 1;
            self.flights.push(Flight {
                at: self.now,
                seq: self.seq,
                hop,
            });
            return;
        }
        if self.chance(self.config.loss) {
            self.report.lost += 1;
            return;
        }
        let copies = if self.chance(self.config.duplicate) {
            self.report.duplicated += 1;
            2
        } else {
            1
        };
        let mut hops = vec![hop];
        if copies == 2 {
            hops.push(hop_clone(&hops[0]));
        }
        for hop in hops {
            let delay = self.rng.range(0, self.config.max_delay + 1);
            if delay > 0 {
                self.report.delayed += 1;
            }
            self.seq += 1;
            self.flights.push(Flight {
                at: self.now + delay,
                seq: self.seq,
                hop,
            });
        }
    }

    /// Delivers every frame and notification due by now, in time order (then sending order),
    /// and finishes the storage operations that are due. Returns how many frames moved.
    fn deliver_due(&mut self) -> Result<u64, Failure> {
        let mut moved = 0;
        loop {
            let due = self
                .flights
                .iter()
                .enumerate()
                .filter(|(_, f)| f.at <= self.now)
                .min_by_key(|(_, f)| (f.at, f.seq))
                .map(|(i, _)| i);
            let Some(i) = due else {
                break;
            };
            let flight = self.flights.swap_remove(i);
            moved += 1;
            self.report.frames += 1;
            match flight.hop {
                Hop::ToServer(conn, bytes) => {
                    // A connection to a replica that crashed meanwhile is gone.
                    if let Some(&r) = self.conns.get(&conn) {
                        if self.replicas.len() > 1 {
                            self.fresh_before_judging(r, &bytes)?;
                        }
                        let effects = self.replicas[r].core.receive(conn, &bytes);
                        self.execute(r, effects)?;
                    }
                }
                Hop::ToClient(index, conn, bytes) => {
                    if self.clients[index].conn == Some(conn) {
                        self.client_receives(index, conn, &bytes)?;
                    }
                }
                Hop::Close(index, conn) => self.closed_by_server(index, conn),
                Hop::Notify {
                    replica,
                    doc,
                    version,
                } => {
                    if self.replicas[replica].down_until <= self.now {
                        self.catch_up(replica, doc, Some(version))?;
                    }
                }
            }
            self.finish_storage()?;
        }
        self.finish_storage()?;
        Ok(moved)
    }

    /// Finishes the loads, slow writes and catch-up reads that are due, oldest first.
    fn finish_storage(&mut self) -> Result<(), Failure> {
        let now = self.now;
        loop {
            let due = |at: u64| at <= now;
            if let Some((r, i)) =
                self.find_due(|replica| replica.loads.iter().position(|(at, _, _)| due(*at)))
            {
                let (_, doc, version) = self.replicas[r].loads.remove(i);
                let effects = if !self.clean && self.chance(self.config.read_fail) {
                    self.report.reads_failed += 1;
                    self.faulted.insert(doc);
                    self.replicas[r].core.document_load_failed(doc)
                } else {
                    // The version was read first; the chunks hold at least that version.
                    let stored = self.stored_above(doc, 0);
                    self.replicas[r].versions.insert(doc, version);
                    self.replicas[r]
                        .core
                        .document_loaded(doc, stored.as_deref())
                };
                self.execute(r, effects)?;
            } else if let Some((r, i)) =
                self.find_due(|replica| replica.writes.iter().position(|w| due(w.at)))
            {
                let write = self.replicas[r].writes.remove(i);
                let effects = self.complete_write(r, &write)?;
                self.execute(r, effects)?;
            } else if let Some((r, i)) =
                self.find_due(|replica| replica.catch_ups.iter().position(|c| due(c.at)))
            {
                let read = self.replicas[r].catch_ups.remove(i);
                self.caught_up(r, &read)?;
            } else {
                return Ok(());
            }
        }
    }

    /// The first replica (and position) `find` finds something in.
    fn find_due(&self, find: impl Fn(&Replica) -> Option<usize>) -> Option<(usize, usize)> {
        self.replicas
            .iter()
            .enumerate()
            .find_map(|(r, replica)| find(replica).map(|i| (r, i)))
    }

    /// A write reaches the disk, or fails (then nothing is stored), or is refused as outdated
    /// (another replica appended since this copy was read: nothing is stored, and the copy
    /// catches up at once, as the driver does); the core is told which.
    fn complete_write(&mut self, r: usize, write: &SlowWrite) -> Result<Vec<Effect>, Failure> {
        let doc = write.doc;
        if !self.clean && self.chance(self.config.write_fail) {
            self.report.writes_failed += 1;
            self.faulted.insert(doc);
            let effects = self.replicas[r].core.persisted(doc, false);
            // Nothing a client counts as acknowledged may depend on the failed write.
            self.check_acknowledged()?;
            return Ok(effects);
        }
        let version = self.stored_version(doc);
        if version != write.expect {
            self.report.writes_outdated += 1;
            // The copy catches up and the frame is judged again; after a few such refusals in
            // a row the sender is told to retry (the server's trouble, not a refusal).
            self.faulted.insert(doc);
            let newer = self.stored_above(doc, write.expect).unwrap_or_default();
            let replica = &mut self.replicas[r];
            let effects = match replica.core.persisted_outdated(doc, &newer) {
                Some(effects) => {
                    replica.versions.insert(doc, version);
                    self.report.caught_up += 1;
                    effects
                }
                None => Vec::new(),
            };
            self.check_acknowledged()?;
            return Ok(effects);
        }
        self.store(doc, &write.chunk, &write.hashes)?;
        self.replicas[r].versions.insert(doc, write.expect + 1);
        self.notify(r, doc);
        Ok(self.replicas[r].core.persisted(doc, true))
    }

    fn execute(&mut self, r: usize, effects: Vec<Effect>) -> Result<(), Failure> {
        let mut effects: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::Send { conn, bytes } => {
                    if self.closed.contains(&conn) {
                        continue;
                    }
                    if let Some(index) = self.clients.iter().position(|c| c.conn == Some(conn)) {
                        self.send(Hop::ToClient(index, conn, bytes));
                    }
                }
                Effect::Close { conn, .. } => {
                    // The driver sends nothing more on it and tells the core; the close frame
                    // reaches the client after what was sent before it (TCP keeps the order).
                    self.closed.insert(conn);
                    self.replicas[r].core.disconnect(conn);
                    self.conns.remove(&conn);
                    if let Some(index) = self.clients.iter().position(|c| c.conn == Some(conn)) {
                        let at = self
                            .flights
                            .iter()
                            .filter(|f| matches!(f.hop, Hop::ToClient(i, c, _) if i == index && c == conn))
                            .map(|f| f.at)
                            .max()
                            .unwrap_or(self.now)
                            .max(self.now);
                        self.seq += 1;
                        self.flights.push(Flight {
                            at,
                            seq: self.seq,
                            hop: Hop::Close(index, conn),
                        });
                    }
                }
                Effect::LoadDocument { doc } => {
                    let version = self.stored_version(doc);
                    let at = self.now + self.storage_delay();
                    self.replicas[r].loads.push((at, doc, version));
                }
                Effect::Persist { doc, chunk, hashes } => {
                    // Appended only on top of the version this copy holds (0: new).
                    let expect = self.replicas[r].versions.get(&doc).copied().unwrap_or(0);
                    let write = SlowWrite {
                        at: self.now,
                        doc,
                        chunk,
                        hashes,
                        expect,
                    };
                    if !self.clean && self.chance(self.config.slow_write) {
                        // Completes later (`finish_storage`); frames keep being processed.
                        self.report.slow_writes += 1;
                        let at = self.now + self.rng.range(1, self.config.max_delay.max(1) + 1);
                        self.replicas[r].writes.push(SlowWrite { at, ..write });
                        continue;
                    }
                    let more = self.complete_write(r, &write)?;
                    // What the write makes possible comes next, before what followed it.
                    for more in more.into_iter().rev() {
                        effects.push_front(more);
                    }
                }
                // The simulation migrates nothing to schema version 2.
                Effect::CarryOver { .. } => unreachable!("nothing is carried over here"),
                // Kept (the sim's storage keeps no quarantine), then the sender is told.
                Effect::Quarantine {
                    conn, then_send, ..
                } => effects.push_front(Effect::Send {
                    conn,
                    bytes: then_send,
                }),
                Effect::ReadableHeads { conn } => {
                    let readable = if !self.clean && self.chance(self.config.read_fail) {
                        self.report.reads_failed += 1;
                        None
                    } else {
                        Some(self.readable_heads(r, conn))
                    };
                    let listed: Vec<DocumentId> =
                        readable.iter().flatten().map(|(doc, _)| *doc).collect();
                    let more = self.replicas[r].core.readable_heads(conn, readable);
                    // The driver sweeps a document the digest subscribed the peer to without
                    // loading it from the version its heads were read at.
                    for doc in listed {
                        if self.replicas[r].core.is_open(&doc) {
                            let version = self.stored_version(doc);
                            self.replicas[r].versions.entry(doc).or_insert(version);
                        }
                    }
                    for more in more.into_iter().rev() {
                        effects.push_front(more);
                    }
                }
            }
        }
        Ok(())
    }

    /// What the server's driver lists for `rectify-digest`: every stored document the
    /// connection's account may read, with its stored heads (the gate decides on the stored
    /// document, which the server's index mirrors).
    fn readable_heads(&self, r: usize, conn: ConnId) -> Vec<(DocumentId, Vec<ChangeHash>)> {
        let core = &self.replicas[r].core;
        let Some(who) = core.peer_info(conn) else {
            return Vec::new();
        };
        self.storage
            .keys()
            .filter_map(|id| {
                let bytes = self.stored_above(*id, 0)?;
                let mut doc = model::load_automerge(&bytes).ok()?;
                core.gate()
                    .may_read(who, id, &doc)
                    .then(|| (*id, doc.get_heads()))
            })
            .collect()
    }

    fn client_receives(&mut self, index: usize, conn: ConnId, bytes: &[u8]) -> Result<(), Failure> {
        let (frames, events) = self.clients[index].sync.receive(bytes);
        for frame in frames {
            self.send(Hop::ToServer(conn, frame));
        }
        for event in events {
            match event {
                // A connection-level error (a frame overtook `join`): the connection closes
                // and the client reconnects.
                ClientEvent::Error { doc: None, .. } => {}
                ClientEvent::Error { doc, message, .. } => {
                    if self.clients[index].honest {
                        // What it would reset is its own, allowed work.
                        self.report.dropped_by_fault += 1;
                        return Err(self.fail(format!(
                            "the server refused {}'s change to {doc:?}: {message}",
                            self.clients[index].name
                        )));
                    }
                    // What the app does: drop the refused copy and fetch the server's.
                    if let Some(doc) = doc {
                        let client = &mut self.clients[index];
                        client.incarnation += 1;
                        client.sync.reset_document(doc);
                        client.store.remove(&doc);
                        client.saved_heads.remove(&doc);
                    }
                }
                // The server's trouble, not a verdict: the app keeps its copy and every pending
                // change (nothing to do here). Only after a fault, and only about its document.
                ClientEvent::Retry { doc, message } => {
                    self.report.retries += 1;
                    if doc.is_some_and(|d| !self.faulted.contains(&d)) || self.faulted.is_empty() {
                        return Err(self.fail(format!(
                            "{} was told to retry {doc:?} without a storage fault: {message}",
                            self.clients[index].name
                        )));
                    }
                }
                // The app removes an unavailable item from the device, edits and all: never
                // for one it may read (a failed read is not absence).
                ClientEvent::Unavailable(doc) if self.clients[index].readable.contains(&doc) => {
                    self.report.dropped_by_fault += 1;
                    return Err(self.fail(format!(
                        "{} was told {doc}, which it may read, is unavailable",
                        self.clients[index].name
                    )));
                }
                ClientEvent::BadFrame(message) if self.clients[index].honest => {
                    return Err(self.fail(format!(
                        "{} could not read a frame: {message}",
                        self.clients[index].name
                    )));
                }
                _ => {}
            }
        }
        self.save(index);
        Ok(())
    }

    /// Writes the client's documents to its local store and notes what the server has
    /// acknowledged: the heads its sync state says both sides have (`shared_heads`), and all
    /// its heads when nothing is unsynced.
    fn save(&mut self, index: usize) {
        let client = &mut self.clients[index];
        let ids: Vec<DocumentId> = client.sync.document_ids().copied().collect();
        for id in ids {
            let Some(state) = client.sync.sync_state(&id) else {
                continue;
            };
            let unsynced = client.sync.unsynced_changes(&id);
            let doc = client.sync.document_mut(&id).expect("an open document");
            let heads = doc.get_heads();
            if heads.is_empty() {
                continue;
            }
            // Rewrite the stored copy only when something moved (saving is the slow part).
            let moved = client.saved_heads.get(&id) != Some(&heads)
                || client
                    .store
                    .get(&id)
                    .is_none_or(|(_, saved)| *saved != state);
            if let Ok(decoded) = automerge::sync::State::decode(&state) {
                for hash in decoded.shared_heads {
                    self.acknowledged.insert((id, hash));
                }
            }
            if moved {
                client.store.insert(id, (doc.save(), state));
                client.saved_heads.insert(id, heads.clone());
            }
            if unsynced == 0 && client.conn.is_some() {
                for hash in heads {
                    self.acknowledged.insert((id, hash));
                }
            }
        }
    }

    fn actor(&self, index: usize) -> ActorId {
        let client = &self.clients[index];
        let tag = format!("{}-{}-{}", self.seed, client.name, client.incarnation);
        let hash = rectify_shared::evidence::sha256_hex(tag.as_bytes());
        ActorId::from(&hash.as_bytes()[..16])
    }

    /// An edit the policy allows: a token in the unit's narrative, a feedback message, a tick.
    fn honest_edit(&mut self, index: usize) -> Result<(), Failure> {
        let actor = self.actor(index);
        let client = &self.clients[index];
        let unit = client
            .peer
            .actor
            .unit
            .as_ref()
            .map(|u| u.as_str().to_owned());
        let candidates: Vec<DocumentId> = self
            .docs
            .iter()
            .filter(|(id, units)| {
                client.readable.contains(id) && unit.as_ref().is_none_or(|u| units.contains(u))
            })
            .map(|(id, _)| *id)
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let doc_id = candidates[self.rng.range(0, candidates.len() as u64) as usize];
        let kind = self.rng.range(0, 4);
        let pick = self.rng.next_u64();
        let client = &mut self.clients[index];
        client.edits += 1;
        let n = client.edits;
        let name = client.name;
        let mut ctx = actor_of(&client.peer);
        ctx.now_ms = self.now as i64;
        let Some(doc) = client.sync.document_mut(&doc_id) else {
            return Ok(());
        };
        let Ok(item) = ItemDoc::load(doc) else {
            return Ok(()); // not received yet
        };
        doc.set_actor(actor);
        let (edit, expect) = match (&unit, kind) {
            (Some(unit), 0 | 1) => {
                let current = item.progress[unit].narrative.as_str().to_owned();
                let mut boundaries = vec![0];
                boundaries.extend(current.match_indices('〕').map(|(i, s)| i + s.len()));
                let at = boundaries[(pick % boundaries.len() as u64) as usize];
                let token = format!("〔{name}{n}〕");
                let text = format!("{}{token}{}", &current[..at], &current[at..]);
                let expect = Expect::Narrative {
                    doc: doc_id,
                    unit: unit.clone(),
                    token,
                };
                (
                    ItemEdit::UnitNarrative {
                        unit: unit.clone(),
                        text,
                    },
                    Some(expect),
                )
            }
            (Some(unit), 2) => (
                ItemEdit::TickMeasure {
                    unit: unit.clone(),
                    measure: format!("m{}", pick % 2 + 1),
                    done: !pick.is_multiple_of(3),
                },
                None,
            ),
            _ => {
                let id = format!("{name}-{n}");
                (
                    ItemEdit::AddFeedback {
                        id: id.clone(),
                        unit: unit.clone(),
                        text: format!("消息{n}"),
                    },
                    Some(Expect::Feedback { doc: doc_id, id }),
                )
            }
        };
        if let Err(err) = model::apply(doc, &ctx, edit.clone()) {
            return Err(self.fail(format!("{name} could not make {edit:?}: {err}")));
        }
        if let Some(change) = doc.get_last_local_change() {
            self.honest_changes.insert((doc_id, change.hash()));
        }
        if let Some(expect) = expect {
            self.expected.push(expect);
            self.report.edits_made += 1;
        }
        self.save(index);
        Ok(())
    }

    /// A change the policy forbids, written straight into the document as a modified client
    /// would (bypassing `model::apply`).
    fn forbidden_edit(&mut self, index: usize) {
        let actor = self.actor(index);
        let kind = self.rng.range(0, 5);
        let client = &mut self.clients[index];
        let user = client.peer.username.as_str().to_owned();
        let own_unit = client
            .peer
            .actor
            .unit
            .as_ref()
            .map(|u| u.as_str().to_owned());
        let ids: Vec<DocumentId> = client.sync.document_ids().copied().collect();
        let Some(&doc_id) = ids.iter().find(|id| {
            client
                .sync
                .document(id)
                .is_some_and(|d| ItemDoc::load(d).is_ok())
        }) else {
            return;
        };
        let doc = client.sync.document_mut(&doc_id).expect("listed");
        let mut item = ItemDoc::load(doc).expect("checked");
        doc.set_actor(actor);
        match (kind, &own_unit) {
            (0, _) => item.title = format!("{}（改）", item.title.as_str()).as_str().into(),
            (1, Some(unit)) => {
                if let Some(p) = item.progress.get_mut(unit) {
                    p.status = UnitStatus::SignedOff;
                }
            }
            (2, _) => {
                // Someone else's progress: every unit on the item but our own.
                for (unit, p) in &mut item.progress {
                    if Some(unit) != own_unit.as_ref() {
                        p.narrative = "篡改".into();
                    }
                }
            }
            (3, _) => item.feedback.push(Feedback {
                id: format!("forged-{}", self.now),
                unit: own_unit.clone(),
                author: "office".into(),
                text: "冒名".into(),
                at_ms: 0,
            }),
            _ => item.units.push("s9".into()),
        }
        if model::update_document(doc, &item, &user, "forbidden", self.now as i64).is_err() {
            return;
        }
        if let Some(change) = doc.get_last_local_change() {
            let hash = change.hash();
            if !self.forbidden.iter().any(|(_, h)| *h == hash) {
                self.forbidden.push((doc_id, hash));
                self.report.forbidden_attempted += 1;
            }
        }
        self.save(index);
    }

    /// Everyone reconnects on a clean network, every replica up and sweeping each round (the
    /// notifications in flight are lost with the rest); the world runs until nothing moves.
    fn heal(&mut self) -> Result<(), Failure> {
        self.clean = true;
        self.now = self.config.steps;
        for index in 0..self.clients.len() {
            self.disconnect(index);
        }
        self.flights.clear();
        for replica in &mut self.replicas {
            replica.down_until = replica.down_until.min(self.now);
        }
        for index in 0..self.clients.len() {
            self.connect(index);
        }
        let mut quiet_rounds = 0;
        for _ in 0..2000 {
            self.now += 1;
            for replica in &mut self.replicas {
                for (at, _, _) in &mut replica.loads {
                    *at = (*at).min(self.now);
                }
                for write in &mut replica.writes {
                    write.at = write.at.min(self.now);
                }
                for read in &mut replica.catch_ups {
                    read.at = read.at.min(self.now);
                }
            }
            if self.replicas.len() > 1 {
                for r in 0..self.replicas.len() {
                    self.sweep(r)?;
                }
            }
            for index in 0..self.clients.len() {
                // A client whose mallory-ish reset left it without a connection comes back.
                if self.clients[index].conn.is_none() {
                    self.connect(index);
                }
                self.send_pending(index);
            }
            let moved = self.deliver_due()?;
            if moved == 0 && self.replicas.iter().all(Replica::idle) {
                quiet_rounds += 1;
                if quiet_rounds == 3 {
                    if self.replicas.iter().any(|r| r.core.busy_documents() != 0) {
                        return Err(self.fail("quiet, but a core still waits for storage"));
                    }
                    return Ok(());
                }
            } else {
                quiet_rounds = 0;
            }
        }
        Err(self.fail("no quiescence after 2000 rounds on a clean network"))
    }

    fn check(&mut self) -> Result<(), Failure> {
        self.check_acknowledged()?;
        let mut stored: BTreeMap<DocumentId, AutoCommit> = BTreeMap::new();
        for (id, _) in &self.docs {
            let bytes = self.stored_above(*id, 0).unwrap_or_default();
            let doc = model::load_automerge(&bytes).expect("stored chunks load");
            stored.insert(*id, doc);
        }
        // Every replica's loaded copy is the stored one (none was left behind by a lost
        // notification).
        for r in 0..self.replicas.len() {
            for (id, _) in &self.docs {
                let Some(copy) = self.replicas[r].core.document(id) else {
                    continue;
                };
                let heads = sorted(copy.clone().get_heads());
                if heads != sorted(stored.get_mut(id).expect("stored").get_heads()) {
                    return Err(self.fail(format!(
                        "replica {r}'s copy of {id} differs from storage after healing"
                    )));
                }
            }
        }
        // Replicas are identical.
        for index in 0..self.clients.len() {
            let readable = self.clients[index].readable.clone();
            for id in readable {
                let server_heads = sorted(stored.get_mut(&id).expect("stored").get_heads());
                let client = &mut self.clients[index];
                let heads = client
                    .sync
                    .document_mut(&id)
                    .map(|d| sorted(d.get_heads()))
                    .unwrap_or_default();
                if heads != server_heads {
                    let name = client.name;
                    return Err(self.fail(format!(
                        "{name}'s copy of {id} differs from the server's after healing"
                    )));
                }
            }
        }
        // Every honest edit is stored.
        for expect in self.expected.clone() {
            self.report.edits_checked += 1;
            let (doc, found) = match &expect {
                Expect::Narrative { doc, unit, token } => {
                    let item = ItemDoc::load(&stored[doc]).expect("an item");
                    (
                        doc,
                        item.progress[unit]
                            .narrative
                            .as_str()
                            .contains(token.as_str()),
                    )
                }
                Expect::Feedback { doc, id } => {
                    let item = ItemDoc::load(&stored[doc]).expect("an item");
                    (doc, item.feedback.iter().any(|f| &f.id == id))
                }
            };
            if !found {
                self.report.edits_lost += 1;
                return Err(self.fail(format!("{expect:?} is missing from {doc}")));
            }
        }
        // Every change an honest client made is stored: none was dropped on the way.
        for (doc, hash) in self.honest_changes.clone() {
            self.report.changes_checked += 1;
            if stored
                .get_mut(&doc)
                .is_none_or(|d| d.get_change_by_hash(&hash).is_none())
            {
                return Err(self.fail(format!("honest change {hash} of {doc} is not stored")));
            }
        }
        // No forbidden change anywhere.
        for (doc, hash) in self.forbidden.clone() {
            let mut holders = Vec::new();
            if stored
                .get_mut(&doc)
                .is_some_and(|d| d.get_change_by_hash(&hash).is_some())
            {
                holders.push("the server".to_owned());
            }
            for client in &mut self.clients {
                if client
                    .sync
                    .document_mut(&doc)
                    .is_some_and(|d| d.get_change_by_hash(&hash).is_some())
                {
                    holders.push(client.name.to_owned());
                }
            }
            if !holders.is_empty() {
                self.report.forbidden_accepted += 1;
                return Err(self.fail(format!(
                    "forbidden change {hash} of {doc} is held by {}",
                    holders.join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn hop_clone(hop: &Hop) -> Hop {
    match hop {
        Hop::ToServer(conn, bytes) => Hop::ToServer(*conn, bytes.clone()),
        Hop::ToClient(index, conn, bytes) => Hop::ToClient(*index, *conn, bytes.clone()),
        Hop::Close(index, conn) => Hop::Close(*index, *conn),
        Hop::Notify {
            replica,
            doc,
            version,
        } => Hop::Notify {
            replica: *replica,
            doc: *doc,
            version: *version,
        },
    }
}

fn new_server() -> SyncServer<PolicyGate> {
    SyncServer::new(
        PeerId::new("server"),
        StorageId::new("server-storage"),
        PolicyGate::default(),
    )
}

/// Every other incarnation of a client speaks only the stock protocol, so the simulation
/// covers the batched sync, the stock one, and a device switching between them (an old cached
/// client after an upgrade) with its stored sync states.
fn new_client(name: &str, incarnation: u64) -> SyncClient {
    let client = SyncClient::new(
        PeerId::new(format!("{name}-{incarnation}")),
        Some(StorageId::new(name)),
    );
    if incarnation % 2 == 1 {
        client.stock()
    } else {
        client
    }
}
