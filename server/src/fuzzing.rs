//! Entry points for the fuzzers (`fuzz/`, run by `cargo xtask fuzz`) and for their regression
//! tests (`tests/tests/fuzz_regressions.rs`). Each takes arbitrary bytes, must not panic, and
//! asserts what must hold whatever the input.

use crate::http::app;
use crate::state::AppState;
use crate::storage::{self, Storage};
use rectify_shared::evidence::{UPLOAD_OFFSET, sha256_hex};
use rectify_shared::gate::{Peer, PolicyGate};
use rectify_shared::ids::{DocumentId, UnitId, Username};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::sync::client::SyncClient;
use rectify_shared::sync::core::{ConnId, Effect, SyncServer};
use rectify_shared::sync::wire::{self, PeerId, StorageId};
use std::sync::{Arc, OnceLock};

/// The wire decoder: whatever decodes keeps its kind through an encode and decode, and the
/// encoding is stable from the second round on. (Not always from the first: CBOR a peer
/// sends inside an unknown message is kept as a generic value, and ciborium reads a bignum
/// tag as a plain integer once it has been re-encoded with a definite length. Equal values,
/// different bytes; found by this target, `fuzz/regressions/wire_decode/`.)
pub fn wire_decode(data: &[u8]) {
    if let Ok(message) = wire::decode(data) {
        let encoded = wire::encode(&message);
        let again = wire::decode(&encoded).expect("what we encode decodes");
        assert_eq!(again.type_name(), message.type_name(), "the kind survives");
        let second = wire::encode(&again);
        let third = wire::encode(&wire::decode(&second).expect("what we encode decodes"));
        assert_eq!(third, second, "encoding is stable from the second round");
    }
}

/// The report importer, as text in any encoding and as `.docx`.
pub fn import_report(data: &[u8]) {
    if let Ok(imported) = rectify_shared::import::import_bytes(data) {
        assert!(
            !imported.report.areas.is_empty(),
            "an accepted report has items"
        );
    }
    if data.starts_with(b"PK")
        && let Ok(text) = crate::office_files::docx::extract_text(data)
    {
        let _ = rectify_shared::import::parse(&text);
    }
}

/// The server's sync core with the real policy, fed a school's frames: `data` is cut into
/// frames (two length bytes, then the frame). The school first joins and syncs a real item,
/// so mutated frames reach deep into the sync and the policy. Whatever is persisted must be
/// a change the school was allowed to make.
pub fn server_frames(data: &[u8]) {
    let setup = sync_setup();
    let mut server = SyncServer::new(
        PeerId::new("server"),
        StorageId::new("server-storage"),
        PolicyGate::default(),
    );
    let conn = ConnId(1);
    server.connect(conn, setup.school.clone());
    let mut stored = setup.stored.clone();
    let mut frames: Vec<Vec<u8>> = setup.opening.clone();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        frames.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    for frame in frames {
        let mut effects = server.receive(conn, &frame);
        while !effects.is_empty() {
            let mut next = Vec::new();
            for effect in effects {
                match effect {
                    Effect::LoadDocument { doc } => {
                        next.extend(server.document_loaded(doc, Some(&stored)));
                    }
                    Effect::Persist { doc, chunk, .. } => {
                        let before = model::load_automerge(&stored).expect("the stored item loads");
                        stored.extend_from_slice(&chunk);
                        let after = model::load_automerge(&stored)
                            .expect("what the server persisted loads");
                        model::check_change(&setup.school.actor, &before, &after)
                            .expect("the server persisted a change the policy forbids");
                        next.extend(server.persisted(doc, true));
                    }
                    // The school may read the one item (id as in `sync_setup`).
                    Effect::ReadableHeads { conn } => {
                        let heads = model::load_automerge(&stored)
                            .expect("the stored item loads")
                            .get_heads();
                        let readable = vec![(DocumentId([7; 16]), heads)];
                        next.extend(server.readable_heads(conn, Some(readable)));
                    }
                    _ => {}
                }
            }
            effects = next;
        }
    }
}

struct SyncSetup {
    school: Peer,
    stored: Vec<u8>,
    /// `join` and the first sync of the item, as our client sends them.
    opening: Vec<Vec<u8>>,
}

fn sync_setup() -> &'static SyncSetup {
    static SETUP: OnceLock<SyncSetup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let office = EditContext {
            actor: Actor {
                role: Role::Office,
                unit: None,
            },
            user: "office".into(),
            now_ms: 0,
        };
        let item = ItemDoc::new("campaign", "1.1", "食堂管理不规范。");
        let mut doc = model::create_document(&item, "office", 0).expect("an item");
        let plan = ItemPlan {
            units: vec!["s1".into(), "s2".into()],
            ..ItemPlan::default()
        };
        model::apply(&mut doc, &office, ItemEdit::Plan(plan)).expect("a plan");
        let stored = doc.save();
        let id = DocumentId([7; 16]);
        let mut client = SyncClient::new(PeerId::new("school"), Some(StorageId::new("s")));
        let mut opening = vec![client.connect()];
        // The server's `peer` answer, so the client starts syncing.
        let peer = wire::encode(&wire::Message::Peer {
            sender_id: PeerId::new("server"),
            target_id: PeerId::new("school"),
            peer_metadata: wire::PeerMetadata::default(),
            selected_protocol_version: wire::PROTOCOL_VERSION.to_owned(),
        });
        let mut copy = model::load_automerge(&stored).expect("loads");
        let school = EditContext {
            actor: Actor {
                role: Role::Unit,
                unit: Some(UnitId::new("s1")),
            },
            user: "school1".into(),
            now_ms: 1,
        };
        model::apply(
            &mut copy,
            &school,
            ItemEdit::UnitNarrative {
                unit: "s1".into(),
                text: "已整改".into(),
            },
        )
        .expect("an edit");
        client.add_document(id, copy);
        let (frames, _) = client.receive(&peer);
        opening.extend(frames);
        SyncSetup {
            school: Peer {
                username: Username::new("school1"),
                actor: school.actor,
            },
            stored,
            opening,
        }
    })
}

/// The upload protocol through the real router: `data` is a script of requests (start,
/// append at an offset, read back) by a school. Whatever happens, no request fails with a
/// server error, and every stored file is exactly the bytes of its name.
pub fn upload_protocol(data: &[u8]) {
    let setup = upload_setup();
    setup.runtime.block_on(async {
        use axum::body::Body;
        use axum::http::{Method, Request};
        use tower::ServiceExt;
        let mut ops = data.chunks(9);
        // The file this script uploads: its bytes come from the script too.
        let content: Vec<u8> = [b"%PDF-1.7\n".as_slice(), data.get(..64).unwrap_or(data)].concat();
        let sha = sha256_hex(&content);
        for op in ops.by_ref() {
            let kind = op.first().copied().unwrap_or(0) % 4;
            let number = |i: usize| u64::from(op.get(i).copied().unwrap_or(0));
            let (method, uri, body, offset) = match kind {
                0 => {
                    let size = if number(1) % 4 == 0 {
                        number(2)
                    } else {
                        content.len() as u64
                    };
                    let body = format!(r#"{{"sha256":"{sha}","size":{size},"name":"证明.pdf"}}"#);
                    (
                        Method::POST,
                        "/api/uploads".to_owned(),
                        body.into_bytes(),
                        None,
                    )
                }
                1 => {
                    let from = (number(1) as usize).min(content.len());
                    let to = (from + number(2) as usize).min(content.len());
                    let offset = if number(3) % 3 == 0 {
                        number(4)
                    } else {
                        from as u64
                    };
                    (
                        Method::PATCH,
                        format!("/api/uploads/{sha}"),
                        content[from..to].to_vec(),
                        Some(offset),
                    )
                }
                2 => (Method::GET, format!("/api/files/{sha}"), Vec::new(), None),
                _ => (Method::GET, "/api/files".to_owned(), Vec::new(), None),
            };
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {}", setup.token))
                .header("content-type", "application/json");
            if let Some(offset) = offset {
                request = request.header(UPLOAD_OFFSET, offset.to_string());
            }
            let response = app(setup.state.clone())
                .oneshot(request.body(Body::from(body)).expect("a request"))
                .await
                .expect("the router answers");
            assert!(
                !response.status().is_server_error(),
                "{} for {op:?}",
                response.status()
            );
        }
        if let Some(bytes) = setup
            .state
            .files
            .store
            .get(&sha, crate::blobs::Variant::Original)
            .await
            .expect("the store reads")
        {
            assert_eq!(sha256_hex(&bytes), sha, "a stored file is its hash");
            assert_eq!(bytes, content);
        }
    });
}

struct UploadSetup {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    token: String,
    _data: tempfile::TempDir,
}

fn upload_setup() -> &'static UploadSetup {
    static SETUP: OnceLock<UploadSetup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let data = tempfile::tempdir().expect("a temporary directory");
        let (state, token) = runtime.block_on(async {
            let storage: Arc<dyn Storage> =
                storage::open_data_dir(data.path()).await.expect("storage");
            crate::demo::create_demo(storage.as_ref(), "fuzz-password")
                .await
                .expect("demo accounts");
            let login = crate::accounts::login(
                storage.as_ref(),
                rectify_shared::api::LoginRequest {
                    username: "school1".into(),
                    password: "fuzz-password".into(),
                },
                "",
            )
            .await
            .expect("login");
            let state = AppState::new(storage, crate::web::WebClient::Missing, data.path())
                .await
                .expect("state");
            (state, login.token)
        });
        UploadSetup {
            runtime,
            state,
            token,
            _data: data,
        }
    })
}

/// A fuzz target: arbitrary bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every fuzz target by name, for the regression tests and `cargo xtask fuzz`.
pub const TARGETS: &[(&str, Target)] = &[
    ("wire_decode", wire_decode),
    ("import_report", import_report),
    ("server_frames", server_frames),
    ("upload_protocol", upload_protocol),
];

/// Starting inputs for a target: valid ones, so mutations start deep inside.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let setup = sync_setup();
    let framed = |frames: &[Vec<u8>]| {
        frames
            .iter()
            .flat_map(|f| {
                let len = u16::try_from(f.len()).unwrap_or(u16::MAX);
                len.to_le_bytes()
                    .into_iter()
                    .chain(f.iter().copied().take(usize::from(len)))
            })
            .collect::<Vec<u8>>()
    };
    match target {
        "wire_decode" => setup.opening.clone(),
        "import_report" => vec![
            crate::demo::DEMO_REPORT.as_bytes().to_vec(),
            crate::demo::DEMO_REPORT
                .lines()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        ],
        "server_frames" => vec![Vec::new(), framed(&setup.opening[1..])],
        "upload_protocol" => vec![
            vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 255, 1, 0, 0, 0, 0, 0, 2],
            vec![0; 27],
        ],
        _ => Vec::new(),
    }
}
