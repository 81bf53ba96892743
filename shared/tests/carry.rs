//! Schema version 2, wiring step 2 (issue #21, `docs/schema-v2.md`): an old client's offline
//! work on a version-1 item, synced after the server migrated the item, is carried over by
//! the sync core ([`Effect::CarryOver`]) and a driver that does what the server's does
//! (`server/src/sync_ws.rs`: the version-2 documents read, [`carry_changes`] as the sender,
//! one all-or-nothing write, [`SyncServer::carried`], the copies in memory caught up). The
//! core runs with the real [`PolicyGate`]; storage is a map.
//!
//! Data-driven: each row of [`NARRATIVE`] is one offline edit and where it must end up: in
//! the school's own work document, made as the school, or kept back in the quarantine with
//! its reason. Run over the stock protocol and the batched one.

use automerge::{AutoCommit, Change};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::gate::{Peer, PolicyGate};
use rectify_shared::ids::{DocumentId, UnitId, Username};
use rectify_shared::model::v2::carry::{Carry, ItemDocs, KeptReason, carry_changes};
use rectify_shared::model::v2::migrate::{CarryRefusal, mark_migrated, migrate, migrated_to};
use rectify_shared::model::v2::{self, ItemDocV2, UnitWorkDoc};
use rectify_shared::model::{
    self, EditContext, EvidenceRef, ItemDoc, ItemEdit, ItemPlan, MeasureText,
};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::core::{ConnId, Effect, SyncServer};
use rectify_shared::sync::wire::{self, Message, PeerId, StorageId, SyncData};
use rectify_shared::workflow::UnitStatus;
use std::collections::{BTreeMap, VecDeque};

const V1: DocumentId = DocumentId([1; 16]);
const NOW: i64 = 1_700_000_000_000;
const LIMIT: usize = 400;

fn peer(role: Role, unit: Option<&str>, user: &str) -> Peer {
    Peer {
        username: Username::new(user),
        actor: Actor {
            role,
            unit: unit.map(UnitId::new),
        },
    }
}

fn school(unit: &str) -> Peer {
    peer(Role::Unit, Some(unit), &format!("school-{unit}"))
}

fn office() -> Peer {
    peer(Role::Office, None, "office")
}

fn ctx(who: &Peer, now_ms: i64) -> EditContext {
    EditContext {
        actor: who.actor.clone(),
        user: who.username.as_str().to_owned(),
        now_ms,
    }
}

/// How a storage operation of the driver goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Reading the version-2 documents fails.
    Read,
    /// The one write of the carry over fails.
    Write,
}

enum Hop {
    ToServer(ConnId, Vec<u8>),
    ToClient(usize, Vec<u8>),
    Close(usize, ConnId),
}

struct Client {
    sync: SyncClient,
    who: Peer,
    conn: ConnId,
    connected: bool,
    events: Vec<ClientEvent>,
}

struct Network {
    server: SyncServer<PolicyGate>,
    storage: BTreeMap<DocumentId, Vec<u8>>,
    /// Refused changes: (document, user, reason).
    quarantine: Vec<(DocumentId, String, String)>,
    /// Edits kept back by a carry over: (document, user, reason).
    kept: Vec<(DocumentId, String, KeptReason)>,
    clients: Vec<Client>,
    queue: VecDeque<Hop>,
    loads: VecDeque<DocumentId>,
    next_conn: u64,
    fault: Fault,
    /// Carry overs the driver carried out (whatever their outcome).
    carries: usize,
}

fn new_server() -> SyncServer<PolicyGate> {
    SyncServer::new(
        PeerId::new("server"),
        StorageId::new("server-storage"),
        PolicyGate::default(),
    )
}

impl Network {
    fn new() -> Network {
        Network {
            server: new_server(),
            storage: BTreeMap::new(),
            quarantine: Vec::new(),
            kept: Vec::new(),
            clients: Vec::new(),
            queue: VecDeque::new(),
            loads: VecDeque::new(),
            next_conn: 0,
            fault: Fault::None,
            carries: 0,
        }
    }

    fn add_client(&mut self, who: Peer, stock: bool) -> usize {
        let sync = SyncClient::new(
            PeerId::new(format!("{}-{}", who.username, self.clients.len())),
            None,
        );
        self.clients.push(Client {
            sync: if stock { sync.stock() } else { sync },
            who,
            conn: ConnId(u64::MAX),
            connected: false,
            events: Vec::new(),
        });
        let index = self.clients.len() - 1;
        self.connect(index);
        index
    }

    fn connect(&mut self, index: usize) {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let client = &mut self.clients[index];
        client.conn = conn;
        client.connected = true;
        self.server.connect(conn, client.who.clone());
        let join = client.sync.connect();
        self.queue.push_back(Hop::ToServer(conn, join));
    }

    fn disconnect(&mut self, index: usize) {
        let client = &mut self.clients[index];
        client.connected = false;
        client.sync.disconnect();
        self.server.disconnect(client.conn);
        let conn = client.conn;
        self.queue.retain(|hop| match hop {
            Hop::ToServer(c, _) => *c != conn,
            Hop::ToClient(i, _) | Hop::Close(i, _) => *i != index,
        });
    }

    /// A restarted server (what the migration runner needs: nothing of version 1 in memory).
    fn restart_server(&mut self) {
        for index in 0..self.clients.len() {
            if self.clients[index].connected {
                self.disconnect(index);
            }
        }
        self.server = new_server();
        self.loads.clear();
    }

    fn open(&mut self, index: usize, doc: DocumentId) {
        self.clients[index].sync.open_document(doc);
        self.poll(index);
    }

    fn poll(&mut self, index: usize) {
        let client = &mut self.clients[index];
        for frame in client.sync.poll() {
            self.queue.push_back(Hop::ToServer(client.conn, frame));
        }
    }

    fn stored(&self, doc: &DocumentId) -> AutoCommit {
        model::load_automerge(&self.storage[doc]).expect("stored document loads")
    }

    /// The version-2 documents of the migrated item `v1` as stored.
    fn item_docs(&self, v1: &AutoCommit) -> ItemDocs {
        let item_id = migrated_to(v1).expect("migrated");
        let item = self.stored(&item_id);
        let works = (ItemDocV2::load(&item).unwrap().unit_work.into_iter())
            .map(|(unit, id)| {
                let id: DocumentId = id.parse().unwrap();
                (unit, (id, self.stored(&id)))
            })
            .collect();
        ItemDocs {
            item_id,
            item,
            works,
        }
    }

    /// [`Effect::CarryOver`], as the server's driver carries it out.
    fn carry_over(&mut self, doc: DocumentId, chunk: &[u8]) -> Vec<Effect> {
        self.carries += 1;
        let mut before = self.server.document(&doc).expect("loaded").clone();
        let mut after = self
            .server
            .document_being_written(&doc)
            .expect("pending")
            .clone();
        let changes: Vec<Change> = after.get_changes(&before.get_heads());
        let who = self.server.peer_writing(&doc).expect("the sender").clone();
        if self.fault == Fault::Read {
            return self.server.carried(doc, false);
        }
        let docs = self.item_docs(&before);
        let user = who.username.as_str();
        let carried = carry_changes(&before, &changes, &who.actor, user, &docs, &|_| None)
            .expect("the changes read as item edits");
        if self.fault == Fault::Write {
            return self.server.carried(doc, false);
        }
        // One write: the carried edits, the original changes, the kept-back edits.
        for written in &carried.written {
            self.storage
                .get_mut(&written.id)
                .expect("stored")
                .extend(&written.chunk);
        }
        self.storage.get_mut(&doc).expect("stored").extend(chunk);
        for kept in &carried.kept {
            self.kept.push((doc, user.to_owned(), kept.reason.clone()));
        }
        let mut effects = self.server.carried(doc, true);
        // The driver then catches up the copies in memory (their readers get the edits).
        for written in &carried.written {
            if let Some(more) = self.server.apply_stored(written.id, &written.chunk) {
                effects.extend(more);
            }
        }
        effects
    }

    fn execute(&mut self, effects: Vec<Effect>) {
        let mut effects: VecDeque<Effect> = effects.into();
        while let Some(effect) = effects.pop_front() {
            let more = match effect {
                Effect::Send { conn, bytes } => {
                    if let Some(index) =
                        (self.clients.iter()).position(|c| c.conn == conn && c.connected)
                    {
                        self.queue.push_back(Hop::ToClient(index, bytes));
                    }
                    continue;
                }
                Effect::Close { conn, .. } => {
                    if let Some(index) = self.clients.iter().position(|c| c.conn == conn) {
                        self.queue.push_back(Hop::Close(index, conn));
                    }
                    continue;
                }
                Effect::LoadDocument { doc } => {
                    self.loads.push_back(doc);
                    continue;
                }
                Effect::Persist { doc, chunk, .. } => {
                    self.storage.entry(doc).or_default().extend(chunk);
                    self.server.persisted(doc, true)
                }
                Effect::CarryOver { doc, chunk, .. } => self.carry_over(doc, &chunk),
                Effect::Quarantine {
                    conn,
                    doc,
                    reason,
                    then_send,
                    ..
                } => {
                    let user = (self.clients.iter().find(|c| c.conn == conn))
                        .map(|c| c.who.username.as_str().to_owned())
                        .unwrap_or_default();
                    self.quarantine.push((doc, user, reason));
                    vec![Effect::Send {
                        conn,
                        bytes: then_send,
                    }]
                }
                Effect::ReadableHeads { conn } => self.server.readable_heads(conn, None),
            };
            for more in more.into_iter().rev() {
                effects.push_front(more);
            }
        }
    }

    fn run(&mut self) {
        let mut delivered = 0;
        loop {
            let Some(hop) = self.queue.pop_front() else {
                let Some(doc) = self.loads.pop_front() else {
                    assert_eq!(self.server.busy_documents(), 0, "storage work left");
                    return;
                };
                let stored = self.storage.get(&doc).cloned();
                let effects = self.server.document_loaded(doc, stored.as_deref());
                if let Some(current) = self.server.document(&doc) {
                    self.server.gate().note_v2(&doc, current);
                }
                self.execute(effects);
                continue;
            };
            delivered += 1;
            assert!(delivered <= LIMIT, "no quiescence after {LIMIT} frames");
            match hop {
                Hop::ToServer(conn, bytes) => {
                    let effects = self.server.receive(conn, &bytes);
                    self.execute(effects);
                }
                Hop::Close(index, conn) => {
                    if self.clients[index].connected && self.clients[index].conn == conn {
                        self.disconnect(index);
                    }
                }
                Hop::ToClient(index, bytes) => {
                    let client = &mut self.clients[index];
                    let (frames, events) = client.sync.receive(&bytes);
                    client.events.extend(events);
                    for frame in frames {
                        self.queue.push_back(Hop::ToServer(client.conn, frame));
                    }
                }
            }
        }
    }
}

/// Measures A, B, C; s1 and s2 assigned; each has written a line.
fn v1_item() -> AutoCommit {
    let mut item = ItemDoc::new("campaign", "1.1", "问题");
    item.measures = ["A 建立台账", "B 修订制度", "C 专项检查"]
        .iter()
        .enumerate()
        .map(|(i, text)| model::Measure {
            id: format!("m{}", i + 1),
            text: (*text).into(),
        })
        .collect();
    let mut doc = model::create_document(&item, "office", 0).unwrap();
    let plan = ItemEdit::Plan(ItemPlan {
        responsible_leader: "张副局长".into(),
        responsible_department: Some("jcg".into()),
        units: vec!["s1".into(), "s2".into()],
        deadline: None,
        timing: None,
    });
    model::apply(&mut doc, &ctx(&office(), 1), plan).unwrap();
    for unit in ["s1", "s2"] {
        let edit = ItemEdit::UnitNarrative {
            unit: unit.into(),
            text: format!("{unit}：已建立台账"),
        };
        model::apply(&mut doc, &ctx(&school(unit), 2), edit).unwrap();
    }
    doc
}

fn photo() -> EvidenceRef {
    EvidenceRef {
        sha256: sha256_hex(b"s1 offline photo"),
        name: "陪餐记录.jpg".into(),
        mime: "image/jpeg".into(),
        size: 2048,
        caption: "食堂陪餐记录".into(),
        added_by: "school-s1".into(),
        added_at_ms: NOW,
    }
}

/// Where an offline edit must end up.
enum Expect {
    /// Made on s1's work document as school-s1: what must hold there.
    Made(fn(&UnitWorkDoc) -> bool),
    /// Kept back in the quarantine, the reason matching.
    Kept(fn(&KeptReason) -> bool),
}

struct Row {
    name: &'static str,
    edit: fn() -> ItemEdit,
    expect: Expect,
}

const FEEDBACK: &str = "措施C已按要求完成，请指导";

/// The old client's offline work, in order, and where each edit must land.
const NARRATIVE: &[Row] = &[
    Row {
        name: "narrative",
        edit: || ItemEdit::UnitNarrative {
            unit: "s1".into(),
            text: "s1：已建立台账，并完成专项检查".into(),
        },
        expect: Expect::Made(|w| {
            w.narrative.as_str() == "s1：已建立台账，并完成专项检查" && w.updated_by == "school-s1"
        }),
    },
    Row {
        name: "tick on a measure that still exists (A)",
        edit: || ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m1".into(),
            done: true,
        },
        expect: Expect::Made(|w| w.measures_done.get("m1") == Some(&true)),
    },
    Row {
        name: "tick on a measure the office removed (C)",
        edit: || ItemEdit::TickMeasure {
            unit: "s1".into(),
            measure: "m3".into(),
            done: true,
        },
        expect: Expect::Kept(|reason| {
            matches!(reason, KeptReason::Carry(CarryRefusal::MeasureRemoved { measure, text })
                if measure == "m3" && text == "C 专项检查")
        }),
    },
    Row {
        name: "evidence",
        edit: || ItemEdit::AddEvidence {
            unit: "s1".into(),
            evidence: photo(),
        },
        expect: Expect::Made(|w| {
            (w.evidence.iter()).any(|e| e.sha256 == photo().sha256 && e.added_by == "school-s1")
        }),
    },
    Row {
        name: "request for sign-off",
        edit: || ItemEdit::UnitStatus {
            unit: "s1".into(),
            to: UnitStatus::Submitted,
            reason: None,
        },
        expect: Expect::Made(|w| w.status == UnitStatus::Submitted),
    },
    Row {
        name: "feedback",
        edit: || ItemEdit::AddFeedback {
            id: "fb-s1-offline".into(),
            unit: Some("s1".into()),
            text: FEEDBACK.into(),
        },
        expect: Expect::Made(|w| {
            (w.feedback.iter()).any(|f| f.text == FEEDBACK && f.author == "school-s1")
        }),
    },
];

/// The world of the narrative: the version-1 item synced to the old client of s1, which
/// goes offline; the office removes measure C; the server migrates the item.
struct World {
    net: Network,
    /// The old client of school s1 (holding version 1), offline.
    old: usize,
    item_id: DocumentId,
    s1_work: DocumentId,
    s2_work: DocumentId,
}

fn world(stock: bool) -> World {
    let mut net = Network::new();
    net.storage.insert(V1, v1_item().save());
    let old = net.add_client(school("s1"), stock);
    net.run();
    net.open(old, V1);
    net.run();
    assert!(
        net.clients[old].sync.in_sync(&V1),
        "{:?}",
        net.clients[old].events
    );
    net.disconnect(old);
    // Offline, one change per edit.
    for (i, row) in NARRATIVE.iter().enumerate() {
        let doc = net.clients[old].sync.document_mut(&V1).unwrap();
        model::apply(doc, &ctx(&school("s1"), NOW + i as i64), (row.edit)())
            .unwrap_or_else(|e| panic!("{}: {e}", row.name));
    }
    // Meanwhile the office removes C, and the server migrates the item.
    let mut v1 = net.stored(&V1);
    let define = ItemEdit::Define {
        title: "问题".into(),
        measures: vec![
            MeasureText::existing("m1", "A 建立台账"),
            MeasureText::existing("m2", "B 修订制度"),
        ],
        narrative: String::new(),
    };
    model::apply(&mut v1, &ctx(&office(), 3), define).unwrap();
    net.restart_server();
    let migrated = migrate(&V1, &mut v1).unwrap();
    mark_migrated(&mut v1, &V1, &migrated.v1_heads).unwrap();
    net.storage.insert(V1, v1.save());
    let mut item = migrated.item;
    net.storage.insert(migrated.item_id, item.save());
    for (_, (id, mut doc)) in migrated.units {
        net.storage.insert(id, doc.save());
    }
    World {
        net,
        old,
        item_id: migrated.item_id,
        s1_work: v2::unit_work_id(&migrated.item_id, "s1"),
        s2_work: v2::unit_work_id(&migrated.item_id, "s2"),
    }
}

fn work(net: &Network, id: &DocumentId) -> UnitWorkDoc {
    UnitWorkDoc::load(&net.stored(id)).unwrap()
}

/// Every user a change of `doc` after `since` names in its commit message.
fn users_since(doc: &AutoCommit, since: &[automerge::ChangeHash]) -> Vec<String> {
    (doc.clone().get_changes(since).iter())
        .map(|c| {
            let message = model::read_commit_message(c.message().unwrap_or(""));
            message
                .and_then(|m| m["user"].as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn an_old_clients_offline_work_is_carried_over_as_its_own() {
    for stock in [true, false] {
        let World {
            mut net,
            old,
            item_id,
            s1_work,
            s2_work,
        } = world(stock);
        let before = net.storage.clone();
        let s1_heads = net.stored(&s1_work).get_heads();
        // s1 on an updated device has its work document open; s2 its own.
        let s1_new = net.add_client(school("s1"), stock);
        let s2 = net.add_client(school("s2"), stock);
        net.run();
        net.open(s1_new, s1_work);
        net.open(s2, s2_work);
        net.run();
        // The old client comes back.
        net.connect(old);
        net.run();
        net.poll(old);
        net.run();
        let case = if stock { "stock" } else { "batched" };
        assert_eq!(net.carries, 1, "{case}: one carry over");

        // Each edit where its row says: made on s1's work, or kept back (by school-s1, on
        // the version-1 document, with why), and nothing else kept.
        let own = work(&net, &s1_work);
        let mut kept = net.kept.clone();
        for row in NARRATIVE {
            match &row.expect {
                Expect::Made(holds) => assert!(holds(&own), "{case}: {}: {own:?}", row.name),
                Expect::Kept(matches) => {
                    let at = kept.iter().position(|(_, _, reason)| matches(reason));
                    let at =
                        at.unwrap_or_else(|| panic!("{case}: {} not kept: {kept:?}", row.name));
                    let (doc, user, _) = kept.remove(at);
                    assert_eq!((doc, user.as_str()), (V1, "school-s1"), "{case}");
                }
            }
        }
        assert!(kept.is_empty(), "{case}: kept besides: {kept:?}");
        assert!(
            net.quarantine.is_empty(),
            "{case}: nothing refused: {:?}",
            net.quarantine
        );
        assert!(
            !own.measures_done.contains_key("m3"),
            "{case}: never re-pointed"
        );
        let old_doc = net.clients[old].sync.document(&V1).unwrap().clone();
        // Made as school-s1: every new change of its work names it.
        let users = users_since(&net.stored(&s1_work), &s1_heads);
        assert!(
            !users.is_empty() && users.iter().all(|u| u == "school-s1"),
            "{case}: {users:?}"
        );
        // Nothing else changed: s2's work and the item.
        for unchanged in [s2_work, item_id] {
            assert_eq!(
                net.storage[&unchanged], before[&unchanged],
                "{case}: {unchanged}"
            );
        }
        // The version-1 document keeps the original changes (the device's heads are in it).
        let mut stored_v1 = net.stored(&V1);
        for head in old_doc.clone().get_heads() {
            assert!(stored_v1.get_change_by_hash(&head).is_some(), "{case}");
        }
        // The old client is told to update, then that the document is unavailable; it
        // received nothing of version 1 after the migration (the mark) nor of s2's work.
        let events = &net.clients[old].events;
        let update = events
            .iter()
            .position(|e| matches!(e, ClientEvent::Update { doc: Some(d), message } if *d == V1 && message.contains("reload")));
        let gone = (events.iter()).position(|e| *e == ClientEvent::Unavailable(V1));
        assert!(
            matches!((update, gone), (Some(u), Some(g)) if u < g),
            "{case}: {events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::Error { .. } | ClientEvent::Retry { .. })),
            "{case}: {events:?}"
        );
        assert!(migrated_to(net.clients[old].sync.document(&V1).unwrap()).is_none());
        // Its sync state counts its changes as on the server: nothing pending.
        assert_eq!(net.clients[old].sync.unsynced_changes(&V1), 0, "{case}");
        // The updated device got the carried edits; s2's holds nothing of s1's.
        let s1_copy = UnitWorkDoc::load(net.clients[s1_new].sync.document(&s1_work).unwrap());
        assert_eq!(s1_copy.unwrap(), own, "{case}");
        let s2_copy = net.clients[s2]
            .sync
            .document(&s2_work)
            .unwrap()
            .clone()
            .save();
        let text = String::from_utf8_lossy(&s2_copy);
        assert!(
            !text.contains("专项检查") && !text.contains(FEEDBACK),
            "{case}"
        );
        assert!(net.clients[s2].sync.document(&s1_work).is_none());
    }
}

/// The old client's changes arrive again (say, from a second old device holding the same
/// changes, or after a reconnect): the version-1 document has them, so nothing is carried
/// twice; the client is told to update straight away.
#[test]
fn changes_already_carried_are_not_carried_again() {
    let World {
        mut net,
        old,
        s1_work,
        ..
    } = world(true);
    net.connect(old);
    net.run();
    net.poll(old);
    net.run();
    assert_eq!(net.carries, 1);
    let after_first = net.storage.clone();
    let events = net.clients[old].events.len();
    // A new connection, whose sync state starts afresh.
    net.disconnect(old);
    net.connect(old);
    net.run();
    net.clients[old].sync.open_document(V1);
    net.poll(old);
    net.run();
    assert_eq!(net.carries, 1, "nothing carried twice");
    assert_eq!(net.storage, after_first);
    let _ = s1_work;
    assert!(
        net.clients[old].events[events..]
            .iter()
            .any(|e| matches!(e, ClientEvent::Update { .. })),
        "{:?}",
        &net.clients[old].events[events..]
    );
}

/// A storage fault while carrying over (the version-2 documents cannot be read, or the one
/// write fails): nothing is written anywhere, the sender is told to retry later (not told
/// to update, not refused) and closed, keeping its changes; once storage is back, its
/// reconnect carries everything over.
#[test]
fn a_storage_fault_during_a_carry_over_loses_nothing_and_writes_nothing() {
    for fault in [Fault::Read, Fault::Write] {
        let World {
            mut net,
            old,
            s1_work,
            ..
        } = world(true);
        let before = net.storage.clone();
        net.fault = fault;
        net.connect(old);
        net.run();
        net.poll(old);
        net.run();
        assert_eq!(net.carries, 1, "{fault:?}");
        assert_eq!(net.storage, before, "{fault:?}: nothing half-written");
        assert!(
            net.quarantine.is_empty() && net.kept.is_empty(),
            "{fault:?}"
        );
        let events = &net.clients[old].events;
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::Retry { doc: Some(d), .. } if *d == V1)),
            "{fault:?}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(
                e,
                ClientEvent::Update { .. }
                    | ClientEvent::Error { .. }
                    | ClientEvent::Unavailable(_)
            )),
            "{fault:?}: {events:?}"
        );
        assert!(
            !net.clients[old].connected,
            "{fault:?}: closed, to come back later"
        );
        // Storage is back: the reconnect sends the changes again, and they are carried.
        net.fault = Fault::None;
        net.connect(old);
        net.run();
        net.poll(old);
        net.run();
        assert_eq!(net.carries, 2, "{fault:?}");
        let own = work(&net, &s1_work);
        for row in NARRATIVE {
            if let Expect::Made(holds) = &row.expect {
                assert!(holds(&own), "{fault:?}: {}", row.name);
            }
        }
        assert_eq!(net.kept.len(), 1, "{fault:?}");
    }
}

/// A change whose parents the server lacks waits, as any does: carried over only with its
/// parents, in causal order.
#[test]
fn a_change_whose_parents_are_missing_waits_for_them() {
    let World {
        mut net,
        old,
        s1_work,
        ..
    } = world(true);
    // The device's offline changes, sent by hand on a connection of school-s1: the last one
    // first, alone.
    let mut device = net.clients[old].sync.document(&V1).unwrap().clone();
    let mut server_v1 = net.stored(&V1);
    let missing: Vec<Change> = (device.get_changes(&[]).into_iter())
        .filter(|c| server_v1.get_change_by_hash(&c.hash()).is_none())
        .collect();
    assert_eq!(missing.len(), NARRATIVE.len());
    let conn = ConnId(999);
    net.server.connect(conn, school("s1"));
    let join = SyncClient::new(PeerId::new("by-hand"), None)
        .stock()
        .connect();
    net.queue.push_back(Hop::ToServer(conn, join));
    net.run();
    let heads = device.get_heads();
    let frame = |changes: &[Change]| {
        let message = automerge::sync::Message {
            heads: heads.clone(),
            need: Vec::new(),
            have: Vec::new(),
            changes: (changes.iter())
                .map(|c| c.raw_bytes().to_vec())
                .collect::<Vec<_>>()
                .into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        wire::encode(&Message::Sync(SyncData {
            sender_id: PeerId::new("by-hand"),
            target_id: PeerId::new("server"),
            document_id: V1,
            data: message.encode(),
        }))
    };
    let (last, first) = missing.split_last().unwrap();
    net.queue
        .push_back(Hop::ToServer(conn, frame(std::slice::from_ref(last))));
    net.run();
    assert_eq!(net.carries, 0, "waits for its parents");
    assert!(net.stored(&V1).get_change_by_hash(&last.hash()).is_none());
    net.queue.push_back(Hop::ToServer(conn, frame(first)));
    net.run();
    assert_eq!(net.carries, 1, "all of them at once, in causal order");
    let own = work(&net, &s1_work);
    for row in NARRATIVE {
        if let Expect::Made(holds) = &row.expect {
            assert!(holds(&own), "{}", row.name);
        }
    }
    assert!(net.stored(&V1).get_change_by_hash(&last.hash()).is_some());
}

/// Judged as a new edit of the sender's: the office signed s1's entry off after the
/// migration, so the old device's work on it is kept back (the entry stays as signed off),
/// not written behind the office's back; its feedback, which a signed-off entry still
/// takes, is carried.
#[test]
fn an_old_change_cannot_write_after_sign_off() {
    let World {
        mut net,
        old,
        item_id,
        s1_work,
        ..
    } = world(true);
    let item = ItemDocV2::load(&net.stored(&item_id)).unwrap();
    let mut doc = net.stored(&s1_work);
    for (who, to) in [
        (school("s1"), UnitStatus::Submitted),
        (office(), UnitStatus::SignedOff),
    ] {
        let edit = ItemEdit::UnitStatus {
            unit: "s1".into(),
            to,
            reason: None,
        };
        v2::apply_unit_work(&mut doc, &item, &ctx(&who, 5), edit).unwrap();
    }
    net.storage.insert(s1_work, doc.save());
    net.connect(old);
    net.run();
    net.poll(old);
    net.run();
    assert_eq!(net.carries, 1);
    let own = work(&net, &s1_work);
    assert_eq!(own.status, UnitStatus::SignedOff);
    assert_eq!(own.narrative.as_str(), "s1：已建立台账");
    assert!(
        own.measures_done.is_empty() && own.evidence.is_empty(),
        "{own:?}"
    );
    assert!(own.feedback.iter().any(|f| f.text == FEEDBACK));
    let refused: Vec<&str> = (net.kept.iter())
        .filter_map(|(_, _, reason)| match reason {
            KeptReason::Refused(text) => Some(text.as_str()),
            KeptReason::Carry(_) => None,
        })
        .collect();
    // The narrative, the kept measure's tick, the evidence and the request.
    assert_eq!(refused.len(), 4, "{:?}", net.kept);
    assert!(
        (net.clients[old].events.iter()).any(|e| matches!(e, ClientEvent::Update { .. })),
        "the device is told to update: its work is kept for the office"
    );
}

/// Two servers carrying the same changes over onto the same documents make the very same
/// changes (actors derived from the document and the version-1 change, times the change's
/// own), so their copies could only ever merge into one.
#[test]
fn carrying_the_same_changes_twice_makes_the_same_bytes() {
    let World { net, old, .. } = world(true);
    let mut v1 = net.stored(&V1);
    let mut device = net.clients[old].sync.document(&V1).unwrap().clone();
    let changes: Vec<Change> = (device.get_changes(&[]).into_iter())
        .filter(|c| v1.get_change_by_hash(&c.hash()).is_none())
        .collect();
    let who = school("s1");
    // Each server reads the documents itself (a copy loaded with an actor of its own).
    let carry = || {
        let docs = net.item_docs(&v1);
        carry_changes(&v1, &changes, &who.actor, "school-s1", &docs, &|_| None).unwrap()
    };
    let (a, b) = (carry(), carry());
    assert!(!a.written.is_empty());
    let bytes = |carry: &Carry| {
        (carry.written.iter())
            .map(|w| (w.id, w.chunk.clone(), w.hashes.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&a), bytes(&b));
}
