//! The deterministic simulation (`rectify_tests::sim`) over a fixed set of seeds. A failing
//! seed is printed with the command that replays it; `cargo xtask soak --seeds N` runs many.

use rectify_tests::sim::{self, Config, Report};

/// Seeds run in every `cargo xtask test`.
const SEEDS: std::ops::Range<u64> = 1..25;

#[test]
fn nothing_is_lost_and_nothing_forbidden_gets_in_across_seeds() {
    let config = Config::default();
    let mut total = Report::default();
    for seed in SEEDS {
        let report = sim::run(seed, &config).unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(report.edits_lost, 0);
        assert_eq!(report.forbidden_accepted, 0);
        assert_eq!(report.acknowledged_lost, 0);
        assert_eq!(report.dropped_by_fault, 0);
        total.add(&report);
    }
    eprintln!("{} seeds: {total:?}", SEEDS.end - SEEDS.start);
    // The runs did what they claim: faults happened, edits were made and checked, the
    // hostile clients tried.
    assert!(total.server_restarts > 0 && total.client_restarts > 0 && total.long_offline > 0);
    assert!(total.lost > 0 && total.duplicated > 0 && total.delayed > 0);
    assert!(total.edits_checked > 100 && total.forbidden_attempted > 10);
    assert!(total.acknowledged_checked > 100 && total.changes_checked > 100);
    // Storage failed and was slow, and clients were told to retry (not refused).
    assert!(total.writes_failed > 10 && total.reads_failed > 10 && total.slow_writes > 10);
    assert!(total.retries > 10);
}

/// Seeds of the multi-replica mode (issue #18) run in every `cargo xtask test`. Seed 6 is one
/// the mode failed on before the driver caught a copy up before judging a frame's changes
/// (`sync::replicas`): a school passed on another school's change to a lagging replica and
/// was refused. `cargo xtask soak --replicas 3` runs many.
const REPLICA_SEEDS: std::ops::Range<u64> = 2..7;

/// Three replicas over one storage, their notifications lost, delayed and reordered, crashing
/// and restarting; clients move between them as they reconnect. The same invariants, and every
/// replica's loaded copy ends as the stored one.
#[test]
fn three_replicas_over_one_storage_lose_nothing_and_converge() {
    let config = Config::replicas(3);
    let mut total = Report::default();
    for seed in REPLICA_SEEDS {
        let report = sim::run(seed, &config).unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(report.edits_lost, 0);
        assert_eq!(report.forbidden_accepted, 0);
        assert_eq!(report.acknowledged_lost, 0);
        assert_eq!(report.dropped_by_fault, 0);
        total.add(&report);
    }
    eprintln!(
        "{} seeds, 3 replicas: {total:?}",
        REPLICA_SEEDS.end - REPLICA_SEEDS.start
    );
    // The runs did what they claim: notifications were lost and copies caught up anyway,
    // replicas crashed, and clients moved between them.
    assert!(total.notifications > 100 && total.notifications_lost > 10);
    assert!(total.caught_up > 10 && total.sweeps > 10);
    assert!(total.server_restarts > 5 && total.replica_moves > 20);
    assert!(total.edits_checked > 100 && total.forbidden_attempted > 10);
    assert!(total.acknowledged_checked > 100 && total.changes_checked > 100);
}

#[test]
fn a_seed_replays_exactly() {
    let config = Config::default();
    let first = sim::run(7, &config).unwrap_or_else(|failure| panic!("{failure}"));
    let second = sim::run(7, &config).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(first, second);
    let replicas = Config {
        steps: 60,
        ..Config::replicas(3)
    };
    let first = sim::run(7, &replicas).unwrap_or_else(|failure| panic!("{failure}"));
    let second = sim::run(7, &replicas).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(first, second);
}

/// Found by the soak (seeds 1162 and 1295 of `--seeds 300`; 1746 before the storage faults
/// were added): the client's batched sync matches a `rectify-heads-reply` against whatever
/// summary it sent last. A duplicated `peer` frame (the simulated network duplicates frames)
/// makes the client send a second summary on the same connection; a document edited between
/// the two is then marked in sync with heads the server never saw, when the reply to the
/// *first* summary (which found it in sync) arrives. The client counts the edit as
/// acknowledged (`unsynced_changes` is 0, the app would say "all synced") although the server
/// never had it; it is sent only after a reconnect or a later change from the server.
///
/// Over one WebSocket nothing duplicates a frame and the server sends `peer` once per `join`,
/// so production clients should not meet it; the client now ignores a second `peer` on one
/// connection.
#[test]
fn a_duplicated_peer_frame_does_not_acknowledge_an_unsent_edit() {
    use rectify_shared::gate::{Peer, PolicyGate};
    use rectify_shared::ids::{DocumentId, UnitId, Username};
    use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan};
    use rectify_shared::policy::{Actor, Role};
    use rectify_shared::sync::client::SyncClient;
    use rectify_shared::sync::core::{ConnId, Effect, SyncServer};
    use rectify_shared::sync::wire::{PeerId, StorageId};

    // An item of unit s1, stored; the school has the same copy.
    let office = rectify_tests::office_edit(0);
    let mut doc =
        model::create_document(&ItemDoc::new("c", "1.1", "问题"), "office", 0).expect("an item");
    let plan = ItemPlan {
        units: vec!["s1".into()],
        ..ItemPlan::default()
    };
    model::apply(&mut doc, &office, ItemEdit::Plan(plan)).expect("planned");
    let stored = doc.save();
    let id = DocumentId([7; 16]);
    let school = Peer {
        username: Username::new("school1"),
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("s1")),
        },
    };
    let mut server = SyncServer::new(
        PeerId::new("server"),
        StorageId::new("s"),
        PolicyGate::default(),
    );
    // Without the idle-reconnect digest: a device without confirmed heads sends none anyway,
    // and this is about the `rectify-heads` summary.
    let mut client =
        SyncClient::new(PeerId::new("school1"), Some(StorageId::new("school1"))).without_digest();
    client.add_document(id, model::load_automerge(&stored).expect("loads"));

    // A frame to the server, and its frames back, loading the document from `stored`.
    let conn = ConnId(1);
    let answer = |server: &mut SyncServer<PolicyGate>, frame: &[u8]| {
        let mut frames = Vec::new();
        let mut queue: std::collections::VecDeque<Effect> = server.receive(conn, frame).into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Send { bytes, .. } => frames.push(bytes),
                Effect::LoadDocument { doc } => {
                    queue.extend(server.document_loaded(doc, Some(&stored)));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        frames
    };
    server.connect(conn, school);
    let join = client.connect();
    let peer = answer(&mut server, &join);
    assert_eq!(peer.len(), 1);

    // The `peer` frame arrives twice; the school edits between the two.
    let (first_summary, _) = client.receive(&peer[0]);
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("s1")),
        },
        user: "school1".into(),
        now_ms: 1,
    };
    let edit = ItemEdit::UnitNarrative {
        unit: "s1".into(),
        text: "已整改".into(),
    };
    model::apply(client.document_mut(&id).expect("open"), &ctx, edit).expect("allowed");
    let _ = client.receive(&peer[0]);
    assert!(client.unsynced_changes(&id) > 0);

    // The server answers the first summary: the document was in sync *then*.
    let mut replies = Vec::new();
    for frame in &first_summary {
        replies.extend(answer(&mut server, frame));
    }
    for reply in &replies {
        let _ = client.receive(reply);
    }
    let ours = client.document_mut(&id).expect("open").get_heads();
    let theirs = server.document(&id).map(|d| d.clone().get_heads());
    assert_ne!(theirs, Some(ours), "the server never received the edit");
    assert!(
        client.unsynced_changes(&id) > 0,
        "the school counts an edit the server never received as acknowledged"
    );
}
