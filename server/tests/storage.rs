//! The storage conformance suite: what every backend must do, written only against the traits
//! (`Arc<dyn Storage>`, `Box<dyn Backup>`). Each test runs once per backend, named
//! `<backend>::<test>` (`cargo nextest run -p rectify-server --test storage`).
//!
//! A backend joins with a function that makes a fresh, empty database of its kind (like
//! [`sqlite`]) and one line in [`suite!`] at the end of this file.
//!
//! PostgreSQL runs on the test server (`storage::scratch::test_server_url`:
//! `RECTIFY_TEST_DATABASE_URL`, else the local server at 127.0.0.1:5432; `cargo xtask test`
//! provides one), in a database of its own per test, dropped afterwards. Without a server the
//! PostgreSQL tests fail and say how to get one; they never skip.

use anyhow::{Context, Result};
use rectify_server::storage::PartAppended;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{
    self, AuditQuery, BlobRecord, CampaignRecord, ChangeArrival, DocumentRecord, ItemRecord,
    LoginAttempt, NewAudit, QuarantineRecord, SessionRecord, Storage, StorageError, StorageUrl,
    UnitRecord, UnitWorkRecord, UploadRecord, UserRecord, Write,
};
use rectify_shared::evidence::FileKind;
use rectify_shared::ids::{DocumentId, SessionId, UnitId, Username};
use rectify_shared::policy::Role;
use rectify_shared::status::PublicStatus;
use std::collections::HashMap;
use std::sync::Arc;

// ── Backends ────────────────────────────────────────────────────────────────────────────

/// A fresh, empty database of one backend, and what must live as long as it (a temporary
/// directory, a scratch database dropped with it).
struct Place {
    url: StorageUrl,
    _keep: Box<dyn std::any::Any>,
}

/// Makes a [`Place`]; one per backend.
type NewPlace = fn() -> Result<Place>;

/// SQLite: a file in a new temporary directory, named by its URL.
fn sqlite() -> Result<Place> {
    let dir = tempfile::tempdir()?;
    let url = StorageUrl::for_data_dir(dir.path());
    Ok(Place {
        url,
        _keep: Box::new(dir),
    })
}

/// PostgreSQL: a new database on the test server, dropped with the place.
fn postgres() -> Result<Place> {
    let database = ScratchDatabase::create()?;
    Ok(Place {
        url: database.storage_url(),
        _keep: Box::new(database),
    })
}

/// A new place of the backend and its storage, opened through the URL.
async fn fresh(new: NewPlace) -> Result<(Place, Arc<dyn Storage>)> {
    let place = new()?;
    let storage = storage::open(&place.url).await?;
    Ok((place, storage))
}

// ── Records ─────────────────────────────────────────────────────────────────────────────

fn doc(n: u8) -> DocumentId {
    DocumentId([n; 16])
}

fn name(username: &str) -> Username {
    Username::new(username)
}

fn user(username: &str) -> UserRecord {
    UserRecord {
        username: name(username),
        display_name: format!("{username}'s name"),
        role: Role::Office,
        unit: None,
        password_hash: format!("$argon2id$hash-of-{username}"),
        disabled: false,
        created_at_ms: 1_000,
    }
}

fn session(token_hash: &str, username: &str, expires_at_ms: i64) -> SessionRecord {
    SessionRecord {
        token_hash: token_hash.to_owned(),
        id: SessionId::new(format!("id-{token_hash}")),
        username: name(username),
        device: String::new(),
        created_at_ms: 10,
        last_seen_ms: 10,
        expires_at_ms,
        revoked: false,
    }
}

fn unit(id: &str, name: &str, kind: &str) -> UnitRecord {
    UnitRecord {
        id: UnitId::new(id),
        name: name.to_owned(),
        kind: kind.to_owned(),
    }
}

fn new_document(id: DocumentId) -> Write {
    Write::NewDocument {
        id,
        kind: "item".to_owned(),
        created_at_ms: 1,
    }
}

fn chunk(document: DocumentId, data: &[u8]) -> Write {
    Write::AppendChunk {
        document,
        data: data.to_vec(),
        created_at_ms: 2,
        expect_version: None,
    }
}

fn campaign(id: DocumentId, natural_key: &str, created_at_ms: i64) -> CampaignRecord {
    CampaignRecord {
        id,
        natural_key: natural_key.to_owned(),
        name: format!("campaign {natural_key}"),
        created_at_ms,
    }
}

fn item(id: DocumentId, campaign_id: DocumentId, key: &str, evidence: &[&str]) -> ItemRecord {
    ItemRecord {
        id,
        campaign_id,
        key: key.to_owned(),
        title: format!("item {key}"),
        status: PublicStatus::InProgress,
        units: vec!["pszx1".to_owned(), "pssz".to_owned()],
        department: Some("djg".to_owned()),
        deadline: Some("2025-06-30".to_owned()),
        updated_at_ms: 5,
        evidence: evidence.iter().map(|&s| s.to_owned()).collect(),
    }
}

fn quarantine(document: DocumentId, reason: &str, received_at_ms: i64) -> QuarantineRecord {
    QuarantineRecord {
        document,
        username: name("school1"),
        reason: reason.to_owned(),
        change_bytes: vec![0x85, 0x6f, 0x4a, 0x83],
        received_at_ms,
    }
}

fn arrived(document: DocumentId, hashes: &[&str], received_at_ms: i64) -> Write {
    arrived_from(document, hashes, received_at_ms, Some("school1"))
}

fn arrived_from(
    document: DocumentId,
    hashes: &[&str],
    received_at_ms: i64,
    sent_by: Option<&str>,
) -> Write {
    Write::ChangesArrived {
        document,
        hashes: hashes.iter().map(|&h| h.to_owned()).collect(),
        received_at_ms,
        sent_by: sent_by.map(name),
    }
}

fn blob(sha256: &str, uploaded_by: &str, size: u64) -> BlobRecord {
    BlobRecord {
        sha256: sha256.to_owned(),
        size,
        kind: FileKind::Jpeg,
        name: format!("{sha256}.jpg"),
        uploaded_by: name(uploaded_by),
        has_thumbnail: true,
        created_at_ms: 7,
    }
}

fn upload(username: &str, sha256: &str, size: u64, touched_at_ms: i64) -> UploadRecord {
    UploadRecord {
        id: 0,
        username: name(username),
        sha256: sha256.to_owned(),
        size,
        name: "photo.jpg".to_owned(),
        created_at_ms: touched_at_ms,
        touched_at_ms,
    }
}

/// Asserts that `result` failed as a conflict (not as anything transient).
#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(err @ StorageError::Conflict(_)) => assert!(!err.is_transient(), "{what}"),
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

// ── Accounts, sessions, units ───────────────────────────────────────────────────────────

async fn users(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    assert_eq!(db.user(&name("office")).await?, None);
    assert!(db.users().await?.is_empty());

    let school = UserRecord {
        role: Role::Unit,
        unit: Some(UnitId::new("pszx1")),
        ..user("school1")
    };
    let office = user("office");
    db.create_user(&school).await?;
    db.create_user(&office).await?;
    assert_eq!(db.user(&name("school1")).await?, Some(school.clone()));
    assert_eq!(db.users().await?, vec![office.clone(), school.clone()]);

    // A taken username keeps its first record.
    let again = UserRecord {
        display_name: "an impostor".to_owned(),
        ..office.clone()
    };
    match db.create_user(&again).await {
        Err(StorageError::UserExists(taken)) => assert_eq!(taken, office.username),
        other => panic!("a taken username: {other:?}"),
    }
    assert_eq!(db.user(&office.username).await?, Some(office.clone()));

    db.set_password_hash(&office.username, "$argon2id$new")
        .await?;
    db.set_disabled(&office.username, true).await?;
    db.set_display_name(&office.username, "领导小组办公室")
        .await?;
    let changed = UserRecord {
        password_hash: "$argon2id$new".to_owned(),
        disabled: true,
        display_name: "领导小组办公室".to_owned(),
        ..office.clone()
    };
    assert_eq!(db.user(&office.username).await?, Some(changed.clone()));
    db.set_disabled(&office.username, false).await?;
    assert!(!db.user(&office.username).await?.unwrap().disabled);
    assert_eq!(db.user(&school.username).await?, Some(school), "untouched");

    let ghost = name("ghost");
    let unknown = [
        ("password", db.set_password_hash(&ghost, "h").await),
        ("disabled", db.set_disabled(&ghost, true).await),
        ("display name", db.set_display_name(&ghost, "Ghost").await),
    ];
    for (what, result) in unknown {
        match result {
            Err(StorageError::NoSuchUser(who)) => assert_eq!(who, ghost, "{what}"),
            other => panic!("{what} of an unknown user: {other:?}"),
        }
    }
    assert_eq!(db.user(&ghost).await?, None);
    Ok(())
}

/// Session management (#20): a session's public id, device and last use; the list of an
/// account's active sessions.
async fn session_devices(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    db.create_user(&user("alice")).await?;
    db.create_user(&user("bob")).await?;
    let phone = SessionRecord {
        device: "Chrome · Android".to_owned(),
        ..session("p1", "alice", 1_000)
    };
    db.create_session(&phone).await?;
    db.create_session(&session("p2", "alice", 1_000)).await?;
    db.create_session(&session("p3", "alice", 50)).await?;
    db.create_session(&session("b1", "bob", 1_000)).await?;
    assert_eq!(db.session("p1").await?, Some(phone.clone()));
    assert_eq!(
        db.session_by_id(&SessionId::new("id-p1")).await?,
        Some(phone.clone())
    );
    assert_eq!(
        db.session_by_id(&SessionId::new("p1")).await?,
        None,
        "not by hash"
    );
    assert_conflict(
        db.create_session(&SessionRecord {
            token_hash: "p9".to_owned(),
            ..phone.clone()
        })
        .await,
        "a public id that is taken",
    );

    // Last seen and expiry only go forward; an unknown token changes nothing.
    db.touch_session("p2", 40, 2_000).await?;
    db.touch_session("p2", 30, 1_500).await?;
    db.touch_session("nope", 99, 99).await?;
    let p2 = db.session("p2").await?.unwrap();
    assert_eq!((p2.last_seen_ms, p2.expires_at_ms), (40, 2_000));

    // Active ones (p3 expired at 60), most recently used first; nobody else's.
    let ids = |list: Vec<SessionRecord>| list.into_iter().map(|s| s.id.0).collect::<Vec<_>>();
    assert_eq!(
        ids(db.user_sessions(&name("alice"), 60).await?),
        ["id-p2", "id-p1"]
    );
    assert_eq!(
        ids(db.user_sessions(&name("alice"), 50).await?),
        ["id-p2", "id-p1", "id-p3"]
    );
    assert!(db.revoke_session("p2").await?);
    assert_eq!(ids(db.user_sessions(&name("alice"), 60).await?), ["id-p1"]);
    assert_eq!(ids(db.user_sessions(&name("bob"), 60).await?), ["id-b1"]);
    assert!(db.user_sessions(&name("ghost"), 60).await?.is_empty());
    Ok(())
}

async fn sessions(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    db.create_user(&user("alice")).await?;
    db.create_user(&user("bob")).await?;
    let a1 = session("a1", "alice", 100);
    for s in [
        &a1,
        &session("a2", "alice", 200),
        &session("b1", "bob", 150),
    ] {
        db.create_session(s).await?;
    }
    assert_eq!(db.session("a1").await?, Some(a1.clone()));
    assert_eq!(db.session("nope").await?, None);
    assert_conflict(
        db.create_session(&session("a1", "bob", 999)).await,
        "a token hash that is taken",
    );
    assert_conflict(
        db.create_session(&session("g1", "ghost", 999)).await,
        "a session of an account that does not exist",
    );
    assert_eq!(db.session("a1").await?, Some(a1.clone()));

    // Extending never shortens; an unknown token changes nothing.
    db.touch_session("a1", 0, 300).await?;
    db.touch_session("a1", 0, 50).await?;
    db.touch_session("nope", 0, 500).await?;
    assert_eq!(db.session("a1").await?.unwrap().expires_at_ms, 300);
    assert_eq!(db.session("nope").await?, None);

    // Sessions expiring at `now` still count.
    let counts = |pairs: &[(&str, u32)]| -> HashMap<Username, u32> {
        pairs.iter().map(|&(u, n)| (name(u), n)).collect()
    };
    let expected = [
        (100, counts(&[("alice", 2), ("bob", 1)])),
        (150, counts(&[("alice", 2), ("bob", 1)])),
        (151, counts(&[("alice", 2)])),
        (250, counts(&[("alice", 1)])),
        (301, counts(&[])),
    ];
    for (now, counts) in expected {
        assert_eq!(db.active_sessions(now).await?, counts, "at {now}");
    }

    // One session (logging out on one device).
    db.create_session(&session("a3", "alice", 300)).await?;
    assert!(db.revoke_session("a3").await?);
    assert!(!db.revoke_session("a3").await?, "already revoked");
    assert!(!db.revoke_session("nope").await?);
    assert!(db.session("a3").await?.unwrap().revoked);
    assert_eq!(
        db.active_sessions(100).await?,
        counts(&[("alice", 2), ("bob", 1)])
    );

    assert_eq!(db.revoke_sessions(&name("alice")).await?, 2);
    assert_eq!(
        db.revoke_sessions(&name("alice")).await?,
        0,
        "already revoked"
    );
    assert_eq!(db.revoke_sessions(&name("ghost")).await?, 0);
    assert!(db.session("a1").await?.unwrap().revoked);
    assert!(!db.session("b1").await?.unwrap().revoked);
    assert_eq!(db.active_sessions(100).await?, counts(&[("bob", 1)]));
    Ok(())
}

/// The login throttle's counts: counted up to the limit, refused at it (nothing counted),
/// a window that has passed starts over, refunds and clearing, expiry by the housekeeping.
async fn login_attempts(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let window = 1_000;
    let attempt = |key: &'static str, now: i64| {
        let db = Arc::clone(&db);
        async move { db.count_login_attempt(key, 3, window, now).await }
    };
    for n in 1..=3 {
        assert_eq!(
            attempt("account:alice", 100 + i64::from(n)).await?,
            LoginAttempt::Counted { count: n }
        );
    }
    // At the limit: refused, counted nothing, the window still the first attempt's.
    for now in [200, 1_100] {
        assert_eq!(
            attempt("account:alice", now).await?,
            LoginAttempt::Refused { since_ms: 101 },
            "at {now}"
        );
    }
    // Other keys count on their own.
    assert_eq!(
        attempt("address:10.0.0.1", 200).await?,
        LoginAttempt::Counted { count: 1 }
    );
    // A refund lets one more in; refunds never go below 0.
    db.refund_login_attempt("account:alice").await?;
    assert_eq!(
        attempt("account:alice", 300).await?,
        LoginAttempt::Counted { count: 3 }
    );
    assert!(matches!(
        attempt("account:alice", 300).await?,
        LoginAttempt::Refused { .. }
    ));
    db.refund_login_attempt("address:10.0.0.1").await?;
    db.refund_login_attempt("address:10.0.0.1").await?;
    db.refund_login_attempt("account:nobody").await?;
    assert_eq!(
        attempt("address:10.0.0.1", 300).await?,
        LoginAttempt::Counted { count: 1 }
    );
    // The window has passed (`window` after its start): it starts over.
    assert_eq!(
        attempt("account:alice", 101 + window).await?,
        LoginAttempt::Counted { count: 1 }
    );
    for n in 2..=3 {
        assert_eq!(
            attempt("account:alice", 1_200).await?,
            LoginAttempt::Counted { count: n }
        );
    }
    // A right password clears the key.
    db.clear_login_attempts("account:alice").await?;
    db.clear_login_attempts("account:nobody").await?;
    assert_eq!(
        attempt("account:alice", 1_300).await?,
        LoginAttempt::Counted { count: 1 }
    );
    // Expiry deletes the windows that started at or before the time given, and only those.
    assert_eq!(
        attempt("account:bob", 2_000).await?,
        LoginAttempt::Counted { count: 1 }
    );
    assert_eq!(
        db.expire_login_attempts(1_300).await?,
        2,
        "alice's and the address's"
    );
    assert_eq!(db.expire_login_attempts(1_300).await?, 0);
    assert_eq!(
        attempt("account:bob", 2_001).await?,
        LoginAttempt::Counted { count: 2 },
        "bob's window is kept"
    );
    assert_eq!(
        attempt("address:10.0.0.1", 2_001).await?,
        LoginAttempt::Counted { count: 1 },
        "the address starts over"
    );
    Ok(())
}

/// Parallel attempts on one key: exactly `limit` are counted, however they race (the #20
/// hole: guesses sent at once must not all pass before the first is counted).
async fn login_attempts_in_parallel(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    for round in 0..3 {
        let now = 10_000 * (round + 1);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let db = Arc::clone(&db);
            tasks
                .spawn(async move { db.count_login_attempt("account:alice", 5, 1_000, now).await });
        }
        let mut counted = Vec::new();
        let mut refused = 0;
        while let Some(result) = tasks.join_next().await {
            match result?? {
                LoginAttempt::Counted { count } => counted.push(count),
                LoginAttempt::Refused { since_ms } => {
                    assert_eq!(since_ms, now);
                    refused += 1;
                }
            }
        }
        counted.sort_unstable();
        assert_eq!(counted, [1, 2, 3, 4, 5], "round {round}");
        assert_eq!(refused, 15, "round {round}");
    }
    Ok(())
}

/// The lists `rectify migrate` copies a database by: every session, document, evidence
/// file and quarantined document, in their orders; empty on a new database.
async fn everything_is_listed(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    assert!(db.all_sessions().await?.is_empty());
    assert!(db.documents().await?.is_empty());
    assert!(db.all_blobs().await?.is_empty());
    assert!(db.quarantined_documents().await?.is_empty());
    db.create_user(&user("alice")).await?;
    let mut revoked = session("b2", "alice", 50);
    revoked.revoked = true;
    for s in [
        &session("c3", "alice", 300),
        &revoked,
        &session("a1", "alice", 10),
    ] {
        db.create_session(s).await?;
    }
    assert_eq!(
        db.all_sessions().await?,
        [
            session("a1", "alice", 10),
            revoked,
            session("c3", "alice", 300)
        ]
    );
    let (d1, d2, d3) = (doc(1), doc(2), doc(3));
    db.write(vec![
        new_document(d2),
        chunk(d2, b"x"),
        Write::EnsureDocument {
            id: d1,
            kind: "campaign".to_owned(),
            created_at_ms: 9,
        },
    ])
    .await?;
    let listed = db.documents().await?;
    let mut expected = vec![
        DocumentRecord {
            id: d1,
            kind: "campaign".to_owned(),
            created_at_ms: 9,
        },
        DocumentRecord {
            id: d2,
            kind: "item".to_owned(),
            created_at_ms: 1,
        },
    ];
    expected.sort_by_key(|d| d.id.to_string());
    assert_eq!(listed, expected);
    let (b, a) = (
        blob(&"b".repeat(64), "alice", 3),
        blob(&"a".repeat(64), "alice", 5),
    );
    db.insert_blob(&b, None).await?;
    db.insert_blob(&a, None).await?;
    assert_eq!(db.all_blobs().await?, [a, b]);
    // A refused change of a document that is not stored counts too.
    db.write(vec![
        Write::Quarantine(quarantine(d3, "one", 1)),
        Write::Quarantine(quarantine(d2, "two", 2)),
        Write::Quarantine(quarantine(d3, "three", 3)),
    ])
    .await?;
    let mut expected = vec![d2, d3];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(db.quarantined_documents().await?, expected);
    Ok(())
}

async fn units(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    assert!(db.units().await?.is_empty());
    let school = unit("pszx1", "彭山一中", "school");
    let kindergarten = unit("psyey", "彭山幼儿园", "kindergarten");
    let department = unit("djg", "党建股", "department");
    for u in [&school, &kindergarten, &department] {
        db.upsert_unit(u).await?;
    }
    assert_eq!(
        db.units().await?,
        vec![department.clone(), kindergarten.clone(), school.clone()],
        "by id"
    );

    let renamed = unit("pszx1", "彭山区第一中学", "other");
    db.upsert_unit(&renamed).await?;
    assert_eq!(
        db.units().await?,
        vec![department, kindergarten, renamed.clone()]
    );
    assert_conflict(
        db.upsert_unit(&unit("x", "X", "castle")).await,
        "a kind that is not school, kindergarten, department or other",
    );
    assert_eq!(db.units().await?.len(), 3);
    Ok(())
}

// ── Documents ───────────────────────────────────────────────────────────────────────────

async fn documents_and_chunks(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (d1, d2, d3) = (doc(1), doc(2), doc(3));
    assert_eq!(db.document_chunks(&d1).await?, None);
    assert!(db.numbered_chunks(&d1).await?.is_empty());

    db.write(vec![new_document(d1), chunk(d1, b"a"), chunk(d1, b"b")])
        .await?;
    db.write(vec![chunk(d1, b"c")]).await?;
    let abc = Some(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(db.document_chunks(&d1).await?, abc);

    // EnsureDocument leaves an existing document alone and makes a missing one, empty.
    let ensure = |id| Write::EnsureDocument {
        id,
        kind: "item".to_owned(),
        created_at_ms: 9,
    };
    db.write(vec![ensure(d1), ensure(d2)]).await?;
    assert_eq!(db.document_chunks(&d1).await?, abc);
    assert_eq!(db.document_chunks(&d2).await?, Some(vec![]));

    db.write(vec![chunk(d2, b"x")]).await?;
    db.write(vec![new_document(d3), chunk(d3, b"p"), chunk(d3, b"q")])
        .await?;
    let numbered = db.numbered_chunks(&d1).await?;
    let data: Vec<&[u8]> = numbered.iter().map(|c| c.data.as_slice()).collect();
    assert_eq!(data, [b"a", b"b", b"c"]);
    assert!(numbered.windows(2).all(|w| w[0].seq < w[1].seq));
    let later = db.numbered_chunks(&d3).await?;
    assert!(
        later[0].seq > numbered[2].seq,
        "sequence numbers grow across documents"
    );

    // Candidates for compaction: at least `chunks` chunks, the most first, at most `limit`.
    let cases = [
        ((1, 10), vec![d1, d3, d2]),
        ((2, 10), vec![d1, d3]),
        ((2, 1), vec![d1]),
        ((3, 10), vec![d1]),
        ((4, 10), vec![]),
    ];
    for ((chunks, limit), expected) in cases {
        assert_eq!(
            db.documents_to_compact(chunks, limit).await?,
            expected,
            "at least {chunks}, at most {limit}"
        );
    }
    Ok(())
}

/// A batch whose last write fails leaves nothing of the batch behind, whatever the writes
/// before it were, and says it was a conflict.
async fn a_batch_is_all_or_nothing(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c1, i1) = (doc(1), doc(2));
    db.write(vec![
        Write::NewDocument {
            id: c1,
            kind: "campaign".to_owned(),
            created_at_ms: 1,
        },
        chunk(c1, b"campaign"),
        Write::Campaign(campaign(c1, "k1", 1)),
        new_document(i1),
        chunk(i1, b"item"),
        Write::Item(item(i1, c1, "1.1", &["aa"])),
    ])
    .await?;
    let before = Everything::read(db.as_ref(), &[c1, i1]).await?;

    let (c2, i2, i3, i4) = (doc(10), doc(11), doc(12), doc(13));
    // One write of every kind, all fine on their own.
    let everything_fine = || {
        vec![
            new_document(c2),
            chunk(c2, b"new campaign"),
            arrived(c2, &["h1"], 100),
            Write::Campaign(campaign(c2, "k2", 2)),
            Write::EnsureDocument {
                id: i2,
                kind: "item".to_owned(),
                created_at_ms: 3,
            },
            chunk(i2, b"new item"),
            Write::Item(item(i2, c2, "1.1", &["bb"])),
            new_document(i3),
            Write::Quarantine(quarantine(c2, "refused", 4)),
        ]
    };
    let failing = [
        ("a document id that is taken", new_document(c1)),
        (
            "another campaign's natural key",
            Write::Campaign(campaign(i3, "k1", 5)),
        ),
        (
            "an item key taken in its campaign",
            Write::Item(item(i3, c1, "1.1", &[])),
        ),
        ("a chunk of a document not stored", chunk(i4, b"orphan")),
        ("arrivals of a document not stored", arrived(i4, &["h2"], 6)),
    ];
    for (what, last) in failing {
        let mut batch = everything_fine();
        batch.push(last);
        assert_conflict(db.write(batch).await, what);
        assert_eq!(
            Everything::read(db.as_ref(), &[c1, i1]).await?,
            before,
            "{what}: what was stored changed"
        );
        for id in [c2, i2, i3] {
            assert_eq!(db.document_chunks(&id).await?, None, "{what}: {id}");
            assert!(db.change_arrivals(&id).await?.is_empty(), "{what}: {id}");
            assert!(db.quarantined(&id).await?.is_empty(), "{what}: {id}");
        }
        assert_eq!(db.item(&i2).await?, None, "{what}");
        assert!(db.items_referencing("bb").await?.is_empty(), "{what}");
    }

    // The same writes without the failing one all land.
    db.write(everything_fine()).await?;
    assert_eq!(db.campaigns().await?.len(), 2);
    assert_eq!(db.item(&i2).await?, Some(item(i2, c2, "1.1", &["bb"])));
    assert_eq!(db.document_chunks(&i3).await?, Some(vec![]));
    Ok(())
}

/// A group of batches: each all or nothing on its own, one result per batch in order; the
/// failing batch changes nothing and the others land.
async fn a_group_fails_batch_by_batch(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c1, d1, d2, d3) = (doc(1), doc(2), doc(3), doc(4));
    db.write(vec![
        new_document(c1),
        Write::Campaign(campaign(c1, "k1", 1)),
    ])
    .await?;
    let results = db
        .write_group(vec![
            vec![new_document(d1), chunk(d1, b"first")],
            vec![
                new_document(d2),
                chunk(d2, b"second"),
                // Taken: the whole second batch goes, the others stay.
                new_document(c1),
            ],
            vec![],
            vec![
                new_document(d3),
                chunk(d3, b"third"),
                arrived(d3, &["h"], 7),
            ],
        ])
        .await;
    assert_eq!(results.len(), 4, "one result per batch");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert_conflict(
        results[1].clone(),
        "a document id that is taken, in a group",
    );
    assert!(results[2].is_ok(), "an empty batch: {:?}", results[2]);
    assert!(results[3].is_ok(), "{:?}", results[3]);
    assert_eq!(
        db.document_chunks(&d1).await?,
        Some(vec![b"first".to_vec()])
    );
    assert_eq!(
        db.document_chunks(&d2).await?,
        None,
        "the failed batch left nothing"
    );
    assert_eq!(
        db.document_chunks(&d3).await?,
        Some(vec![b"third".to_vec()])
    );
    assert_eq!(db.change_arrivals(&d3).await?.len(), 1);
    assert!(db.write_group(vec![]).await.is_empty());
    Ok(())
}

/// `EnsureCampaign` adds a campaign's row once and never replaces it; another campaign's
/// natural key is still a conflict.
/// Two servers on one database (replicas, issue #18) commit groups whose batches append to
/// the same documents in opposite orders. Each group must lock the documents' rows in one
/// order, or PostgreSQL aborts one with "deadlock detected" and its schools are told to send
/// again (the bench's three replicas saw it every run).
async fn groups_in_opposite_orders_do_not_deadlock(new: NewPlace) -> Result<()> {
    let (place, a) = fresh(new).await?;
    let b = storage::open(&place.url).await?;
    let docs: Vec<DocumentId> = (1..=8).map(doc).collect();
    a.write(docs.iter().map(|d| new_document(*d)).collect())
        .await?;
    let rounds = 20;
    for round in 0..rounds {
        let forward = docs.iter().map(|d| vec![chunk(*d, b"a")]).collect();
        let backward = docs.iter().rev().map(|d| vec![chunk(*d, b"b")]).collect();
        let (ra, rb) = tokio::join!(a.write_group(forward), b.write_group(backward));
        for result in ra.iter().chain(&rb) {
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
    }
    let versions = a.document_versions(&docs).await?;
    for d in &docs {
        assert_eq!(versions[d], 2 * rounds, "{d}");
    }
    b.close().await;
    Ok(())
}

async fn ensure_campaign(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c1, c2) = (doc(1), doc(2));
    let first = campaign(c1, "k1", 100);
    db.write(vec![new_document(c1), Write::EnsureCampaign(first.clone())])
        .await?;
    db.write(vec![Write::EnsureCampaign(CampaignRecord {
        name: "renamed".to_owned(),
        natural_key: "k1-new".to_owned(),
        created_at_ms: 999,
        ..first.clone()
    })])
    .await?;
    assert_eq!(db.campaigns().await?, vec![first], "the first row stays");
    assert_conflict(
        db.write(vec![
            new_document(c2),
            Write::EnsureCampaign(campaign(c2, "k1", 5)),
        ])
        .await,
        "another campaign's natural key",
    );
    assert_eq!(db.document_chunks(&c2).await?, None);
    Ok(())
}

/// Versions (issue #18): each chunk appended raises its document's version by one; a chunk
/// appended on top of a version the document is no longer at is refused as outdated and
/// nothing of its batch is written; the chunks above a version are what another server reads
/// to catch up, and a compacted chunk counts at the highest version it merged.
async fn document_versions(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (d1, d2, d3) = (doc(1), doc(2), doc(3));
    db.write(vec![
        new_document(d1),
        chunk(d1, b"a"),
        chunk(d1, b"b"),
        chunk(d1, b"c"),
        new_document(d2),
    ])
    .await?;
    let versions = db.document_versions(&[d1, d2, d3]).await?;
    assert_eq!(
        versions,
        HashMap::from([(d1, 3), (d2, 0)]),
        "d3 is not stored"
    );
    assert_eq!(
        db.chunks_after(&d1, 1).await?,
        vec![b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(db.chunks_after(&d1, 3).await?, Vec::<Vec<u8>>::new());
    assert_eq!(db.chunks_after(&d3, 0).await?, Vec::<Vec<u8>>::new());

    let on_top = |version, data: &[u8]| Write::AppendChunk {
        document: d1,
        data: data.to_vec(),
        created_at_ms: 3,
        expect_version: Some(version),
    };
    db.write(vec![on_top(3, b"d")]).await?;
    // Written from a copy at version 3, but the document is at 4 now: refused, all of it.
    let stale = db.write(vec![new_document(d3), on_top(3, b"stale")]).await;
    assert!(matches!(stale, Err(StorageError::Outdated(_))), "{stale:?}");
    assert_eq!(
        db.document_versions(&[d1, d3]).await?,
        HashMap::from([(d1, 4)])
    );
    assert_eq!(db.chunks_after(&d1, 3).await?, vec![b"d".to_vec()]);

    let seqs: Vec<i64> = db
        .numbered_chunks(&d1)
        .await?
        .iter()
        .map(|c| c.seq)
        .collect();
    assert!(db.replace_chunks(&d1, &seqs, b"abcd".to_vec()).await?);
    assert_eq!(
        db.document_versions(&[d1]).await?[&d1],
        4,
        "compaction adds no version"
    );
    assert_eq!(db.chunks_after(&d1, 2).await?, vec![b"abcd".to_vec()]);
    assert_eq!(db.chunks_after(&d1, 4).await?, Vec::<Vec<u8>>::new());
    db.write(vec![on_top(4, b"e")]).await?;
    assert_eq!(db.chunks_after(&d1, 4).await?, vec![b"e".to_vec()]);
    Ok(())
}

async fn replace_chunks(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (d1, d2) = (doc(1), doc(2));
    db.write(vec![
        new_document(d1),
        chunk(d1, b"a"),
        chunk(d1, b"b"),
        chunk(d1, b"c"),
        new_document(d2),
        chunk(d2, b"other"),
    ])
    .await?;
    let seqs: Vec<i64> = db
        .numbered_chunks(&d1)
        .await?
        .iter()
        .map(|c| c.seq)
        .collect();
    let other: Vec<i64> = db
        .numbered_chunks(&d2)
        .await?
        .iter()
        .map(|c| c.seq)
        .collect();
    // A sync write lands between reading the chunks and replacing them.
    db.write(vec![chunk(d1, b"d")]).await?;

    assert!(db.replace_chunks(&d1, &seqs, b"abc".to_vec()).await?);
    let merged = Some(vec![b"abc".to_vec(), b"d".to_vec()]);
    assert_eq!(
        db.document_chunks(&d1).await?,
        merged,
        "appended since stays after"
    );
    let numbered = db.numbered_chunks(&d1).await?;
    assert!(numbered[0].seq < numbered[1].seq);

    // Nothing changes when any chunk is gone (compacted meanwhile) or not the document's.
    let now: Vec<i64> = numbered.iter().map(|c| c.seq).collect();
    let refused: [(&str, &[i64], DocumentId); 5] = [
        ("compacted meanwhile", &seqs, d1),
        ("one of them gone", &[now[0], seqs[1]], d1),
        ("no chunks at all", &[], d1),
        ("another document's chunks", &other, d1),
        ("chunks of another document", &now, d2),
    ];
    for (what, seqs, id) in refused {
        assert!(
            !db.replace_chunks(&id, seqs, b"lost".to_vec()).await?,
            "{what}"
        );
        assert_eq!(db.document_chunks(&d1).await?, merged, "{what}");
        assert_eq!(
            db.document_chunks(&d2).await?,
            Some(vec![b"other".to_vec()]),
            "{what}"
        );
    }
    Ok(())
}

// ── The index ───────────────────────────────────────────────────────────────────────────

async fn campaigns_and_items(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c1, c2, c3) = (doc(1), doc(2), doc(3));
    let (i1, i2, i3) = (doc(11), doc(12), doc(13));
    let mut batch: Vec<Write> = [c1, c2, c3, i1, i2, i3]
        .into_iter()
        .map(new_document)
        .collect();
    let newest = campaign(c2, "k2", 200);
    let tied = campaign(c3, "k3", 200);
    let oldest = campaign(c1, "k1", 100);
    batch.extend([&newest, &tied, &oldest].map(|c| Write::Campaign(c.clone())));
    batch.extend([
        Write::Item(item(i1, c1, "2.1", &[])),
        Write::Item(item(i2, c1, "1.1", &["bb", "aa"])),
        Write::Item(item(i3, c2, "1.1", &[])),
    ]);
    db.write(batch).await?;

    let mut expected = vec![oldest.clone(), newest.clone(), tied.clone()];
    expected[1..].sort_by_key(|c| c.id.to_string());
    assert_eq!(db.campaigns().await?, expected, "oldest first, then by id");

    // A campaign row is replaced except when it was made.
    db.write(vec![Write::Campaign(CampaignRecord {
        name: "renamed".to_owned(),
        natural_key: "k1-new".to_owned(),
        created_at_ms: 999,
        ..oldest.clone()
    })])
    .await?;
    assert_eq!(
        db.campaigns().await?[0],
        CampaignRecord {
            name: "renamed".to_owned(),
            natural_key: "k1-new".to_owned(),
            ..oldest
        }
    );

    let sorted = |list: &[&str]| {
        let mut list: Vec<String> = list.iter().map(|&s| s.to_owned()).collect();
        list.sort();
        list
    };
    let i2_row = ItemRecord {
        evidence: sorted(&["bb", "aa"]),
        ..item(i2, c1, "1.1", &[])
    };
    assert_eq!(
        db.items(&c1).await?,
        vec![i2_row.clone(), item(i1, c1, "2.1", &[])],
        "by key, evidence sorted"
    );
    assert_eq!(db.items(&c2).await?, vec![item(i3, c2, "1.1", &[])]);
    assert!(db.items(&doc(99)).await?.is_empty());
    assert_eq!(db.item(&i2).await?, Some(i2_row));
    assert_eq!(db.item(&doc(99)).await?, None);

    // An item row is replaced with its evidence list, and stays in its campaign.
    let edited = ItemRecord {
        title: "改过的标题".to_owned(),
        status: PublicStatus::DoneLongTerm,
        units: vec![],
        department: None,
        deadline: None,
        updated_at_ms: 50,
        evidence: vec!["cc".to_owned()],
        ..item(i2, c1, "1.2", &[])
    };
    db.write(vec![Write::Item(ItemRecord {
        campaign_id: c2,
        ..edited.clone()
    })])
    .await?;
    assert_eq!(db.item(&i2).await?, Some(edited));
    assert!(db.items_referencing("aa").await?.is_empty());
    Ok(())
}

/// Schema version 2's unit-work index (issue #21): rows by item, by unit or department and
/// by campaign, replaced (with their evidence list) except for whose work they are; a
/// migrated item's row removed with its evidence.
async fn unit_work_index(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c1, i1, i2) = (doc(1), doc(11), doc(12));
    let work = |id: u8, item: DocumentId, unit: &str, assigned: bool, department: Option<&str>| {
        UnitWorkRecord {
            id: doc(id),
            item_id: item,
            unit: unit.to_owned(),
            assigned,
            department: department.map(str::to_owned),
            evidence: Vec::new(),
        }
    };
    let w1 = UnitWorkRecord {
        evidence: vec!["aa".to_owned(), "bb".to_owned()],
        ..work(21, i1, "s1", true, Some("jcg"))
    };
    let w2 = work(22, i1, "s2", false, Some("jcg"));
    let w3 = work(23, i2, "jcg", true, None);
    let w4 = work(24, i2, "s1", true, Some("rsg"));
    let mut batch: Vec<Write> = [c1, i1, i2, doc(21), doc(22), doc(23), doc(24), doc(25)]
        .into_iter()
        .map(new_document)
        .collect();
    batch.push(Write::Campaign(campaign(c1, "k1", 100)));
    batch.push(Write::Item(item(i1, c1, "1.1", &["aa"])));
    batch.extend([&w1, &w2, &w3, &w4].map(|w| Write::UnitWork(w.clone())));
    db.write(batch).await?;

    let by_item_then_unit = |mut rows: Vec<UnitWorkRecord>| {
        rows.sort_by_key(|w| (w.item_id.to_string(), w.unit.clone()));
        rows
    };
    assert_eq!(db.unit_works(&i1).await?, vec![w1.clone(), w2.clone()]);
    assert_eq!(db.unit_works(&i2).await?, vec![w3.clone(), w4.clone()]);
    assert!(db.unit_works(&doc(99)).await?.is_empty());
    for work in [&w1, &w2, &w3, &w4] {
        assert_eq!(db.unit_work(&work.id).await?.as_ref(), Some(work));
    }
    assert_eq!(
        db.unit_work(&i1).await?,
        None,
        "an item is not a unit's work"
    );
    assert_eq!(
        db.unit_works_of("s1").await?,
        by_item_then_unit(vec![w1.clone(), w4.clone()])
    );
    assert_eq!(
        db.unit_works_of("jcg").await?,
        by_item_then_unit(vec![w1.clone(), w2.clone(), w3.clone()]),
        "its own work and the work on items it is the department of"
    );
    assert!(db.unit_works_of("nobody").await?.is_empty());
    // By campaign: the works of the items it lists (i2 is listed in none).
    assert_eq!(
        db.campaign_unit_works(&c1).await?,
        vec![w1.clone(), w2.clone()]
    );
    assert!(db.campaign_unit_works(&doc(99)).await?.is_empty());

    // Replaced: assignment and department; never whose work it is or on which item.
    db.write(vec![Write::UnitWork(UnitWorkRecord {
        item_id: i2,
        unit: "s9".to_owned(),
        evidence: vec!["cc".to_owned()],
        ..work(22, i1, "s2", true, None)
    })])
    .await?;
    let w2 = UnitWorkRecord {
        evidence: vec!["cc".to_owned()],
        ..work(22, i1, "s2", true, None)
    };
    assert_eq!(db.unit_works(&i1).await?, vec![w1.clone(), w2.clone()]);

    // A second document for one unit's work on one item is a conflict, and nothing of its
    // batch is written.
    let twin = work(25, i1, "s1", true, None);
    let failed = db
        .write(vec![
            Write::UnitWork(work(23, i2, "jcg", false, None)),
            Write::UnitWork(twin),
        ])
        .await;
    assert_conflict(failed, "two documents for s1's work on i1");
    assert_eq!(db.unit_works(&i2).await?, vec![w3, w4]);

    // A migrated item leaves the list with its evidence; its document stays.
    db.write(vec![chunk(i1, b"v1"), Write::RemoveItem(i1)])
        .await?;
    assert_eq!(db.item(&i1).await?, None);
    assert!(db.items(&c1).await?.is_empty());
    assert!(db.items_referencing("aa").await?.is_empty());
    assert_eq!(db.document_chunks(&i1).await?, Some(vec![b"v1".to_vec()]));
    assert_eq!(
        db.unit_works(&i1).await?,
        vec![w1.clone(), w2],
        "unit work stays"
    );
    assert_eq!(
        db.unit_works_referencing("aa").await?,
        vec![w1],
        "and its files"
    );
    Ok(())
}

async fn change_arrivals(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (d1, d2) = (doc(1), doc(2));
    db.write(vec![new_document(d1), new_document(d2)]).await?;
    db.write(vec![chunk(d1, b"1"), arrived(d1, &["h1", "h2"], 100)])
        .await?;
    db.write(vec![
        chunk(d1, b"2"),
        arrived_from(d1, &["h2", "h3"], 200, Some("office")),
    ])
    .await?;
    db.write(vec![arrived_from(d2, &["h1"], 300, None)]).await?;

    // (hash, time, sender)
    let times = |rows: &[(&str, i64, Option<&str>)]| -> HashMap<String, ChangeArrival> {
        rows.iter()
            .map(|&(h, t, by)| {
                let arrival = ChangeArrival {
                    received_at_ms: t,
                    sent_by: by.map(name),
                };
                (h.to_owned(), arrival)
            })
            .collect()
    };
    assert_eq!(
        db.change_arrivals(&d1).await?,
        times(&[
            ("h1", 100, Some("school1")),
            ("h2", 100, Some("school1")),
            ("h3", 200, Some("office")),
        ]),
        "the first arrival wins, with its sender"
    );
    assert_eq!(db.change_arrivals(&d2).await?, times(&[("h1", 300, None)]));
    assert!(db.change_arrivals(&doc(9)).await?.is_empty());

    // Compaction rewrites chunks, never arrivals.
    let seqs: Vec<i64> = db
        .numbered_chunks(&d1)
        .await?
        .iter()
        .map(|c| c.seq)
        .collect();
    assert!(db.replace_chunks(&d1, &seqs, b"12".to_vec()).await?);
    assert_eq!(db.change_arrivals(&d1).await?.len(), 3);
    Ok(())
}

/// Issue #20: account changes in a write batch (with their audit entry): done together, or
/// not at all when anything in the batch fails; a taken username and an unknown account fail
/// the batch as `create_user` and `set_password_hash` do.
async fn account_writes_in_a_batch(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let entry = |action: &str, target: &str| {
        Write::Audit(NewAudit {
            at_ms: 5,
            account: name("office"),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: String::new(),
        })
    };
    let all = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    db.write(vec![
        Write::NewUser(user("alice")),
        entry("account_created", "alice"),
    ])
    .await?;
    assert_eq!(db.user(&name("alice")).await?, Some(user("alice")));
    db.create_session(&session("a1", "alice", 300)).await?;
    db.create_session(&session("a2", "alice", 300)).await?;

    // Something later in the batch fails: nothing of it is kept, the entry neither.
    let missing = DocumentId([9; 16]);
    let failing = Write::AppendChunk {
        document: missing,
        data: vec![1],
        created_at_ms: 5,
        expect_version: None,
    };
    let batches = [
        vec![Write::NewUser(user("bob")), entry("account_created", "bob")],
        vec![
            Write::PasswordHash {
                username: name("alice"),
                hash: "new".to_owned(),
            },
            Write::EndSessions(name("alice")),
        ],
        vec![Write::Disabled {
            username: name("alice"),
            disabled: true,
        }],
        vec![Write::EndSession {
            token_hash: "a1".to_owned(),
        }],
    ];
    for mut batch in batches {
        batch.push(failing.clone());
        assert!(db.write(batch).await.is_err());
    }
    assert_eq!(db.user(&name("bob")).await?, None);
    assert_eq!(db.user(&name("alice")).await?, Some(user("alice")));
    assert!(!db.session("a1").await?.unwrap().revoked);
    assert!(!db.session("a2").await?.unwrap().revoked);
    assert_eq!(db.audit_log(&all).await?.len(), 1);

    // Refusals of their own.
    let taken = db
        .write(vec![
            Write::NewUser(user("alice")),
            entry("account_created", "alice"),
        ])
        .await;
    assert!(
        matches!(taken, Err(StorageError::UserExists(_))),
        "{taken:?}"
    );
    for write in [
        Write::PasswordHash {
            username: name("ghost"),
            hash: "x".to_owned(),
        },
        Write::Disabled {
            username: name("ghost"),
            disabled: true,
        },
    ] {
        let result = db
            .write(vec![write, entry("password_reset", "ghost")])
            .await;
        assert!(
            matches!(result, Err(StorageError::NoSuchUser(_))),
            "{result:?}"
        );
    }
    assert_eq!(db.audit_log(&all).await?.len(), 1);

    // And done when nothing fails.
    db.write(vec![
        Write::PasswordHash {
            username: name("alice"),
            hash: "new".to_owned(),
        },
        Write::Disabled {
            username: name("alice"),
            disabled: true,
        },
        Write::EndSession {
            token_hash: "a1".to_owned(),
        },
        entry("password_reset", "alice"),
    ])
    .await?;
    let alice = db.user(&name("alice")).await?.unwrap();
    assert_eq!(
        (alice.password_hash.as_str(), alice.disabled),
        ("new", true)
    );
    assert!(db.session("a1").await?.unwrap().revoked);
    assert!(!db.session("a2").await?.unwrap().revoked);
    db.write(vec![Write::EndSessions(name("alice"))]).await?;
    assert!(db.session("a2").await?.unwrap().revoked);
    assert_eq!(db.audit_log(&all).await?.len(), 2);
    Ok(())
}

/// Issue #20: the audit log is appended to (in a batch with anything else) and read newest
/// first, filtered and paged; the trait has no way to change or remove an entry.
async fn audit_log(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let entry = |at_ms: i64, account: &str, action: &str, target: &str| {
        Write::Audit(NewAudit {
            at_ms,
            account: name(account),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: format!("{action} {target}"),
        })
    };
    db.write(vec![entry(100, "office", "account_created", "school9")])
        .await?;
    db.write(vec![
        entry(200, "office", "signed_off", "d1"),
        entry(200, "office", "item_replanned", "d1"),
    ])
    .await?;
    db.write(vec![entry(300, "viewer", "file_downloaded", "aa")])
        .await?;
    // A batch that fails appends nothing.
    let failed = db
        .write(vec![
            entry(400, "office", "import", "c1"),
            chunk(doc(9), b"no such document"),
        ])
        .await;
    assert!(failed.is_err());

    let read = |query: AuditQuery| {
        let db = &db;
        async move {
            let rows = db.audit_log(&query).await?;
            anyhow::Ok(
                rows.iter()
                    .map(|r| format!("{} {} {} {}", r.at_ms, r.account, r.action, r.target))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let all = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(
        read(all.clone()).await?,
        [
            "300 viewer file_downloaded aa",
            "200 office item_replanned d1",
            "200 office signed_off d1",
            "100 office account_created school9",
        ]
    );
    let rows = db.audit_log(&all).await?;
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "ids rise");
    assert_eq!(rows[0].detail, "file_downloaded aa");
    let by = |account: &str| AuditQuery {
        account: Some(name(account)),
        ..all.clone()
    };
    assert_eq!(read(by("viewer")).await?, ["300 viewer file_downloaded aa"]);
    assert!(read(by("nobody")).await?.is_empty());
    let action = AuditQuery {
        action: Some("signed_off".into()),
        ..all.clone()
    };
    assert_eq!(read(action).await?, ["200 office signed_off d1"]);
    let window = AuditQuery {
        from_ms: Some(200),
        to_ms: Some(300),
        ..all.clone()
    };
    assert_eq!(read(window).await?.len(), 2, "from inclusive, to exclusive");
    // Paging: two at a time, then the rest below the last id.
    let first = db
        .audit_log(&AuditQuery {
            limit: 2,
            ..all.clone()
        })
        .await?;
    assert_eq!(first.len(), 2);
    let rest = read(AuditQuery {
        before_id: Some(first[1].id),
        ..all.clone()
    })
    .await?;
    assert_eq!(
        rest,
        [
            "200 office signed_off d1",
            "100 office account_created school9"
        ]
    );
    Ok(())
}

async fn quarantined_changes(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (d1, d2) = (doc(1), doc(2));
    db.write(vec![new_document(d1)]).await?;
    let first = quarantine(d1, "a school may not sign off", 100);
    let second = quarantine(d1, "written in another's name", 200);
    // A refused change of a document the server does not have is kept too.
    let unknown = quarantine(d2, "may not create documents", 300);
    db.write(vec![Write::Quarantine(first.clone())]).await?;
    db.write(vec![
        Write::Quarantine(second.clone()),
        Write::Quarantine(unknown.clone()),
    ])
    .await?;
    assert_eq!(
        db.quarantined(&d1).await?,
        vec![second, first],
        "newest first"
    );
    assert_eq!(db.quarantined(&d2).await?, vec![unknown]);
    assert!(db.quarantined(&doc(9)).await?.is_empty());
    Ok(())
}

async fn server_settings(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    assert_eq!(db.meta("peer_id").await?, None);
    assert_eq!(db.init_meta("peer_id", "first").await?, "first");
    assert_eq!(db.init_meta("peer_id", "second").await?, "first", "kept");
    assert_eq!(db.meta("peer_id").await?.as_deref(), Some("first"));
    assert_eq!(db.init_meta("storage_id", "s").await?, "s");
    assert_eq!(db.meta("storage_id").await?.as_deref(), Some("s"));
    Ok(())
}

// ── Evidence ────────────────────────────────────────────────────────────────────────────

async fn uploads_blobs_and_quota(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    assert_eq!(db.blob("aa").await?, None);
    assert_eq!(db.upload(&name("alice"), "aa").await?, None);
    assert_eq!(db.quota_used(&name("alice")).await?, 0);

    let alices = db.create_upload(&upload("alice", "aa", 100, 10)).await?;
    assert_eq!(
        alices,
        UploadRecord {
            id: alices.id,
            ..upload("alice", "aa", 100, 10)
        }
    );
    let again = db.create_upload(&upload("alice", "aa", 5, 20)).await?;
    assert_eq!(again, alices, "one upload per user and file");
    let bobs = db.create_upload(&upload("bob", "aa", 100, 10)).await?;
    assert_ne!(bobs.id, alices.id);
    let bobs_other = db.create_upload(&upload("bob", "bb", 40, 30)).await?;
    assert_eq!(db.upload(&name("alice"), "aa").await?, Some(alices.clone()));
    assert_eq!(db.quota_used(&name("alice")).await?, 100);
    assert_eq!(db.quota_used(&name("bob")).await?, 140);

    db.touch_upload(alices.id, 500).await?;
    db.touch_upload(9_999, 500).await?;
    let mut all = vec![alices.id, bobs.id, bobs_other.id];
    all.sort_unstable();
    let cases = [(501, all), (30, vec![bobs.id]), (10, vec![])];
    for (before, expected) in cases {
        let stale: Vec<i64> = db
            .stale_uploads(before)
            .await?
            .iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(stale, expected, "untouched since {before}, by id");
    }

    // The last byte arrives: the file is recorded and the upload ends, together.
    let first = blob("aa", "alice", 100);
    db.insert_blob(&first, Some(alices.id)).await?;
    assert_eq!(db.blob("aa").await?, Some(first.clone()));
    assert_eq!(db.upload(&name("alice"), "aa").await?, None);
    assert_eq!(db.quota_used(&name("alice")).await?, 100, "the file now");

    // The same bytes from bob keep the first record (and alice pays for them).
    db.insert_blob(&blob("aa", "bob", 100), Some(bobs.id))
        .await?;
    assert_eq!(db.blob("aa").await?, Some(first));
    assert_eq!(db.quota_used(&name("bob")).await?, 40);

    db.delete_upload(bobs_other.id).await?;
    db.delete_upload(9_999).await?;
    assert_eq!(db.upload(&name("bob"), "bb").await?, None);
    assert_eq!(db.quota_used(&name("bob")).await?, 0);
    assert!(db.stale_uploads(i64::MAX).await?.is_empty());
    Ok(())
}

/// Unfinished uploads staged as parts: appended in order by the one writer, read back whole,
/// gone with the upload (#18: any server process sharing the database resumes an upload).
async fn upload_parts(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let up = db.create_upload(&upload("alice", "aa", 10, 1)).await?;
    assert_eq!(db.upload_received(up.id).await?, 0);
    assert_eq!(db.upload_bytes(up.id).await?, b"");
    assert_eq!(db.take_upload_writer(9_999).await?, None, "no such upload");

    let first = db.take_upload_writer(up.id).await?.context("a writer")?;
    assert_eq!(
        db.append_upload_part(up.id, first, 0, b"abcd").await?,
        PartAppended::Stored { received: 4 }
    );
    assert_eq!(
        db.append_upload_part(up.id, first, 0, b"abcd").await?,
        PartAppended::WrongOffset { received: 4 },
        "a part at an offset that is taken is refused"
    );
    assert_eq!(
        db.append_upload_part(up.id, first, 6, b"gh").await?,
        PartAppended::WrongOffset { received: 4 },
        "no gap"
    );
    // A newer request takes over: the older one's next part is refused, the newer one's
    // continues where the parts end.
    let second = db.take_upload_writer(up.id).await?.context("a writer")?;
    assert_ne!(second, first);
    assert_eq!(
        db.append_upload_part(up.id, first, 4, b"ef").await?,
        PartAppended::TakenOver
    );
    assert_eq!(
        db.append_upload_part(up.id, second, 4, b"ef").await?,
        PartAppended::Stored { received: 6 }
    );
    assert_eq!(
        db.append_upload_part(up.id, second, 6, b"ghij").await?,
        PartAppended::Stored { received: 10 }
    );
    assert_eq!(db.upload_received(up.id).await?, 10);
    assert_eq!(db.upload_bytes(up.id).await?, b"abcdefghij");

    // Another user's upload of the same file has parts of its own.
    let bobs = db.create_upload(&upload("bob", "aa", 10, 1)).await?;
    assert_eq!(db.upload_received(bobs.id).await?, 0);

    // Finishing the upload drops its parts; a later append finds no upload.
    db.insert_blob(&blob("aa", "alice", 10), Some(up.id))
        .await?;
    assert_eq!(db.upload_received(up.id).await?, 0);
    assert_eq!(db.upload_bytes(up.id).await?, b"");
    assert_eq!(
        db.append_upload_part(up.id, second, 0, b"x").await?,
        PartAppended::NoUpload
    );

    // Deleting an upload drops its parts too.
    let writer = db.take_upload_writer(bobs.id).await?.context("a writer")?;
    db.append_upload_part(bobs.id, writer, 0, b"abc").await?;
    db.delete_upload(bobs.id).await?;
    assert_eq!(db.upload_received(bobs.id).await?, 0);
    assert_eq!(db.upload_bytes(bobs.id).await?, b"");
    Ok(())
}

async fn references_and_orphans(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c, i1, i2) = (doc(1), doc(2), doc(3));
    db.write(vec![
        new_document(c),
        new_document(i1),
        new_document(i2),
        Write::Campaign(campaign(c, "k", 1)),
        Write::Item(item(i1, c, "1.1", &["aa"])),
        Write::Item(item(i2, c, "1.2", &["aa", "bb"])),
    ])
    .await?;
    for sha in ["aa", "bb", "cc"] {
        db.insert_blob(&blob(sha, "alice", 10), None).await?;
    }
    let mut both = vec![
        item(i1, c, "1.1", &["aa"]),
        item(i2, c, "1.2", &["aa", "bb"]),
    ];
    both.sort_by_key(|i| i.id.to_string());
    assert_eq!(db.items_referencing("aa").await?, both, "by id");
    assert_eq!(
        db.items_referencing("bb").await?,
        vec![item(i2, c, "1.2", &["aa", "bb"])]
    );
    assert!(db.items_referencing("cc").await?.is_empty());

    // Unreferenced from the first look; collected only once it has been so since before.
    assert!(db.orphaned_blobs(100, 100).await?.is_empty());
    assert_eq!(db.orphaned_blobs(200, 150).await?, vec!["cc"]);

    // A reference arrives: the mark goes.
    db.write(vec![Write::Item(item(i1, c, "1.1", &["cc"]))])
        .await?;
    assert!(!db.delete_orphan("cc", 150).await?, "referenced again");
    assert!(db.orphaned_blobs(300, 301).await?.is_empty());
    assert!(db.blob("cc").await?.is_some());

    // The references go: aa and bb are orphans from 400.
    db.write(vec![Write::Item(item(i2, c, "1.2", &[]))]).await?;
    assert!(db.orphaned_blobs(400, 400).await?.is_empty());
    assert_eq!(db.orphaned_blobs(500, 450).await?, vec!["aa", "bb"]);
    assert!(
        !db.delete_orphan("aa", 400).await?,
        "not orphaned long enough"
    );
    assert!(db.delete_orphan("aa", 450).await?);
    assert!(!db.delete_orphan("aa", 450).await?, "already gone");
    assert_eq!(db.blob("aa").await?, None);
    assert!(db.blob("bb").await?.is_some());
    Ok(())
}

/// Schema version 2 (issue #21): the files a unit-work document references, by its index
/// row. They are never collected while referenced: after `rectify migrate-schema` no item
/// names a unit's files, only its work document.
async fn unit_work_references_and_orphans(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    let (c, i, w1, w2) = (doc(1), doc(2), doc(3), doc(4));
    let work = |id: DocumentId, unit: &str, evidence: &[&str]| UnitWorkRecord {
        id,
        item_id: i,
        unit: unit.to_owned(),
        assigned: true,
        department: Some("jcg".to_owned()),
        evidence: evidence.iter().map(|&s| s.to_owned()).collect(),
    };
    let mut batch: Vec<Write> = [c, i, w1, w2].into_iter().map(new_document).collect();
    batch.extend([
        Write::Campaign(campaign(c, "k", 1)),
        Write::Item(item(i, c, "1.1", &[])),
        Write::UnitWork(work(w1, "s1", &["aa", "bb"])),
        Write::UnitWork(work(w2, "s2", &["bb"])),
    ]);
    db.write(batch).await?;
    for sha in ["aa", "bb", "cc"] {
        db.insert_blob(&blob(sha, "alice", 10), None).await?;
    }
    assert_eq!(
        db.unit_works_referencing("bb").await?,
        vec![work(w1, "s1", &["aa", "bb"]), work(w2, "s2", &["bb"])],
        "by id"
    );
    assert_eq!(
        db.unit_works_referencing("aa").await?,
        vec![work(w1, "s1", &["aa", "bb"])]
    );
    assert!(db.unit_works_referencing("cc").await?.is_empty());
    assert!(
        db.items_referencing("aa").await?.is_empty(),
        "no item names it"
    );

    // Only cc is unreferenced.
    assert!(db.orphaned_blobs(100, 100).await?.is_empty());
    assert_eq!(db.orphaned_blobs(200, 150).await?, vec!["cc"]);
    // A unit-work reference arrives: the mark goes, and the file stays.
    db.write(vec![Write::UnitWork(work(w2, "s2", &["bb", "cc"]))])
        .await?;
    assert!(!db.delete_orphan("cc", 150).await?, "referenced again");
    assert!(db.orphaned_blobs(300, 301).await?.is_empty());
    // s1 drops aa: an orphan from 400, collected after.
    db.write(vec![Write::UnitWork(work(w1, "s1", &[]))]).await?;
    assert!(db.orphaned_blobs(400, 400).await?.is_empty());
    assert_eq!(db.orphaned_blobs(500, 450).await?, vec!["aa"]);
    assert!(!db.delete_orphan("bb", 450).await?, "still referenced");
    assert!(db.delete_orphan("aa", 450).await?);
    assert_eq!(db.blob("aa").await?, None);
    assert!(db.blob("bb").await?.is_some() && db.blob("cc").await?.is_some());
    Ok(())
}

// ── Backups and the storage's end ───────────────────────────────────────────────────────

/// Everything a storage holds about the given documents and the fixed names below, to compare
/// two storages.
#[derive(Debug, PartialEq)]
struct Everything {
    users: Vec<UserRecord>,
    sessions: Vec<Option<SessionRecord>>,
    units: Vec<UnitRecord>,
    campaigns: Vec<CampaignRecord>,
    items: Vec<Vec<ItemRecord>>,
    chunks: Vec<Option<Vec<Vec<u8>>>>,
    arrivals: Vec<HashMap<String, ChangeArrival>>,
    quarantined: Vec<Vec<QuarantineRecord>>,
    meta: Option<String>,
    blob: Option<BlobRecord>,
    upload: Option<UploadRecord>,
}

impl Everything {
    async fn read(db: &dyn Storage, docs: &[DocumentId]) -> Result<Everything> {
        let mut all = Everything {
            users: db.users().await?,
            sessions: vec![db.session("t1").await?, db.session("t2").await?],
            units: db.units().await?,
            campaigns: db.campaigns().await?,
            items: vec![],
            chunks: vec![],
            arrivals: vec![],
            quarantined: vec![],
            meta: db.meta("peer_id").await?,
            blob: db.blob("aa").await?,
            upload: db.upload(&name("alice"), "bb").await?,
        };
        for id in docs {
            all.items.push(db.items(id).await?);
            all.chunks.push(db.document_chunks(id).await?);
            all.arrivals.push(db.change_arrivals(id).await?);
            all.quarantined.push(db.quarantined(id).await?);
        }
        Ok(all)
    }
}

/// One of everything.
async fn fill(db: &dyn Storage) -> Result<Vec<DocumentId>> {
    db.create_user(&user("alice")).await?;
    db.create_session(&SessionRecord {
        device: "Safari · iOS".to_owned(),
        last_seen_ms: 50,
        ..session("t1", "alice", 100)
    })
    .await?;
    db.upsert_unit(&unit("pszx1", "彭山一中", "school")).await?;
    let (c, i) = (doc(1), doc(2));
    db.write(vec![
        new_document(c),
        chunk(c, b"campaign bytes"),
        Write::Campaign(campaign(c, "k", 1)),
        new_document(i),
        chunk(i, b"item bytes"),
        chunk(i, &[0, 255, 7]),
        arrived(i, &["h1", "h2"], 3),
        Write::Item(item(i, c, "1.1", &["aa"])),
        Write::Quarantine(quarantine(i, "refused", 4)),
    ])
    .await?;
    db.init_meta("peer_id", "server-peer").await?;
    db.insert_blob(&blob("aa", "alice", 10), None).await?;
    db.create_upload(&upload("alice", "bb", 20, 5)).await?;
    Ok(vec![c, i])
}

async fn backup_and_restore(new: NewPlace) -> Result<()> {
    let (source, db) = fresh(new).await?;
    if let StorageUrl::Postgres(_) = source.url {
        return backups_are_pg_dumps(&source, db).await;
    }
    let docs = fill(db.as_ref()).await?;
    let original = Everything::read(db.as_ref(), &docs).await?;
    let scratch = tempfile::tempdir()?;
    let out = scratch.path().join("backup");
    std::fs::create_dir(&out)?;
    let copy = storage::backup_for(&source.url).backup_to(&out).await?;
    let copy_bytes = std::fs::read(&copy)?;
    // The server goes on writing after the backup.
    db.create_user(&user("late")).await?;
    storage::backup_for(&source.url).check().await?;

    let target = new()?;
    let restorer = storage::backup_for(&target.url);
    assert_eq!(restorer.find_copy(&out).as_ref(), Some(&copy));
    assert_eq!(restorer.find_copy(&copy).as_ref(), Some(&copy));
    assert_eq!(restorer.find_copy(scratch.path()), None);
    assert_eq!(restorer.find_copy(&scratch.path().join("missing")), None);

    // Into a new place: nothing to move aside.
    let aside = scratch.path().join("aside");
    assert!(!restorer.restore_from(&copy, &aside).await?);
    let restored = storage::open(&target.url).await?;
    assert_eq!(Everything::read(restored.as_ref(), &docs).await?, original);
    assert_eq!(restored.user(&name("late")).await?, None);
    restorer.check().await?;

    // Over a database with other data: that moves aside, the backup's data is back.
    restored.create_user(&user("newcomer")).await?;
    restored.close().await;
    assert!(restorer.restore_from(&copy, &aside).await?);
    assert!(aside.exists());
    let restored = storage::open(&target.url).await?;
    assert_eq!(Everything::read(restored.as_ref(), &docs).await?, original);
    assert_eq!(restored.user(&name("newcomer")).await?, None);

    // A copy that is not one is refused, and nothing changes.
    restored.close().await;
    let garbage = scratch.path().join("garbage");
    std::fs::write(&garbage, b"this is not a database".repeat(200))?;
    let refused_aside = scratch.path().join("aside-2");
    let refused = restorer.restore_from(&garbage, &refused_aside).await;
    assert!(
        matches!(refused, Err(StorageError::Corrupt(_))),
        "{refused:?}"
    );
    assert!(!refused_aside.exists());
    let restored = storage::open(&target.url).await?;
    assert_eq!(Everything::read(restored.as_ref(), &docs).await?, original);
    assert!(
        std::fs::read(&copy)? == copy_bytes,
        "restoring never changes the backup itself"
    );
    Ok(())
}

/// PostgreSQL's backups are its own tools' job: `rectify backup` and `restore` refuse and say
/// which tools to use, and change nothing; the check works.
async fn backups_are_pg_dumps(place: &Place, db: Arc<dyn Storage>) -> Result<()> {
    let docs = fill(db.as_ref()).await?;
    let original = Everything::read(db.as_ref(), &docs).await?;
    let backup = storage::backup_for(&place.url);
    backup.check().await?;
    let scratch = tempfile::tempdir()?;
    let out = scratch.path().join("backup");
    std::fs::create_dir(&out)?;
    match backup.backup_to(&out).await {
        Err(err @ StorageError::Unsupported(_)) => {
            let text = err.to_string();
            assert!(text.contains("pg_dump"), "{text}");
            assert!(!err.is_transient());
        }
        other => panic!("a PostgreSQL backup: {other:?}"),
    }
    assert_eq!(std::fs::read_dir(&out)?.count(), 0, "nothing written");
    assert_eq!(backup.find_copy(&out), None);
    let aside = scratch.path().join("aside");
    match backup.restore_from(&out, &aside).await {
        Err(err @ StorageError::Unsupported(_)) => {
            assert!(err.to_string().contains("pg_restore"), "{err}");
        }
        other => panic!("a PostgreSQL restore: {other:?}"),
    }
    assert!(!aside.exists());
    assert_eq!(Everything::read(db.as_ref(), &docs).await?, original);
    Ok(())
}

/// After `close`, calls fail, and a failure is never taken for absence.
async fn closed_storage_fails_transiently(new: NewPlace) -> Result<()> {
    let (_place, db) = fresh(new).await?;
    fill(db.as_ref()).await?;
    db.close().await;
    let user = db.user(&name("alice")).await;
    let chunks = db.document_chunks(&doc(1)).await;
    let written = db.write(vec![new_document(doc(5))]).await;
    for (what, err) in [
        ("user", user.err()),
        ("document_chunks", chunks.err()),
        ("write", written.err()),
    ] {
        let err = err.with_context(|| format!("{what} after close succeeded"))?;
        assert!(err.is_transient(), "{what}: {err:?}");
    }
    Ok(())
}

// ── The suite, per backend ──────────────────────────────────────────────────────────────

/// Every test above for one backend, as `mod <backend>`.
macro_rules! backend {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() -> anyhow::Result<()> {
                    super::$test(super::$backend).await
                }
            )*
        }
    };
}

/// The suite: every test, for every backend.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        backend!(sqlite: $($test),*);
        backend!(postgres: $($test),*);
    };
}

suite![
    users,
    sessions,
    login_attempts,
    login_attempts_in_parallel,
    everything_is_listed,
    session_devices,
    units,
    documents_and_chunks,
    a_batch_is_all_or_nothing,
    a_group_fails_batch_by_batch,
    groups_in_opposite_orders_do_not_deadlock,
    ensure_campaign,
    replace_chunks,
    document_versions,
    campaigns_and_items,
    unit_work_index,
    unit_work_references_and_orphans,
    change_arrivals,
    audit_log,
    account_writes_in_a_batch,
    quarantined_changes,
    server_settings,
    uploads_blobs_and_quota,
    upload_parts,
    references_and_orphans,
    backup_and_restore,
    closed_storage_fails_transiently,
];
