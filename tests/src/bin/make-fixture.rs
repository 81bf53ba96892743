//! Writes the upgrade fixture of this release (issue #23): a data directory as real use
//! leaves it, for `tests/tests/upgrade.rs` and every later release to open.
//!
//! `cargo run -p rectify-tests --bin make-fixture -- tests/fixtures/data-v<version>` makes
//! the directory (it must not exist): the demo data (`rectify demo`), then through a server
//! on loopback: school1's progress narrative and an evidence photo (uploaded, and referenced
//! through sync), a second office account made through the office API, and a session of
//! school2 logged out. The server is stopped and the database closed, so it is one
//! checkpointed `rectify.db` with `blobs/`. `expected.json` lists what the test checks.

use anyhow::{Context, Result, ensure};
use rectify_server::http::app;
use rectify_server::state::AppState;
use rectify_server::storage;
use rectify_server::web::WebClient;
use rectify_shared::api::{ItemSummary, LoginResponse};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, EvidenceRef, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::SyncTestClient;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The password of every account in the fixture.
const PASSWORD: &str = "fixture-password";

#[tokio::main]
async fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).context("usage: make-fixture DIR")?);
    ensure!(
        !out.exists(),
        "{} exists; give a new directory",
        out.display()
    );
    let storage = storage::open_data_dir(&out).await?;
    rectify_server::demo::create_demo(storage.as_ref(), PASSWORD).await?;
    let state = AppState::new(Arc::clone(&storage), WebClient::Missing, &out).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let http = reqwest::Client::builder().no_proxy().build()?;
    let login = |username: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response: LoginResponse = http
                .post(format!("{base}/api/login"))
                .json(&serde_json::json!({"username": username, "password": PASSWORD}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok(response)
        }
    };

    // school1: a narrative and a photo on its first item, through sync and the upload API.
    let school1 = login("school1").await?;
    let unit: UnitId = school1.unit.clone().context("school1 has a unit")?;
    let items: Vec<ItemSummary> = http
        .get(format!("{base}/api/items"))
        .bearer_auth(&school1.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let photo = rectify_tests::photos::phone_photo(320, 240, 23);
    let sha256 = sha256_hex(&photo);
    rectify_tests::uploader::upload(&base, &school1.token, "ledger.jpg", &photo, 1 << 20, 0)
        .await?;
    let narrative = "升级样本：已建立签到台账，每周检查一次。";
    let ws = base.replacen("http", "ws", 1);
    let mut sync = SyncTestClient::connect(&ws, &school1.token).await?;
    let limit = Duration::from_secs(30);
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(unit.clone()),
        },
        user: "school1".into(),
        now_ms: rectify_server::clock::now_ms(),
    };
    let unit_key = unit.as_str().to_owned();
    // The first of its items it may still change (some of the demo's are signed off).
    let mut open = None;
    for item in items.iter().filter(|i| i.units.contains(&unit)) {
        let id: DocumentId = item.id.parse()?;
        sync.fetch(id, limit).await?;
        let edit = ItemEdit::UnitNarrative {
            unit: unit_key.clone(),
            text: narrative.to_owned(),
        };
        if model::apply(sync.document_mut(&id)?, &ctx, edit).is_ok() {
            open = Some(id);
            break;
        }
    }
    let id = open.context("school1 has an item it may change")?;
    for edit in [
        ItemEdit::UnitNarrative {
            unit: unit_key.clone(),
            text: narrative.to_owned(),
        },
        ItemEdit::AddEvidence {
            unit: unit_key.clone(),
            evidence: EvidenceRef {
                sha256: sha256.clone(),
                name: "ledger.jpg".into(),
                mime: "image/jpeg".into(),
                size: photo.len() as u64,
                caption: "签到台账".into(),
                added_by: "school1".into(),
                added_at_ms: ctx.now_ms,
            },
        },
    ] {
        model::apply(sync.document_mut(&id)?, &ctx, edit)?;
    }
    sync.sync_until_acknowledged(&id, limit).await?;
    sync.close().await?;

    // A second office account, through the office API.
    let office = login("office").await?;
    http.post(format!("{base}/api/accounts"))
        .bearer_auth(&office.token)
        .json(&serde_json::json!({
            "username": "office2",
            "display_name": "办公室二",
            "role": "office",
            "unit": null,
            "password": PASSWORD,
        }))
        .send()
        .await?
        .error_for_status()?;
    // A session logged out: its token must stay refused.
    let school2 = login("school2").await?;
    http.post(format!("{base}/api/logout"))
        .bearer_auth(&school2.token)
        .send()
        .await?
        .error_for_status()?;

    let _ = stop.send(());
    server.await??;
    let users: Vec<String> = storage
        .users()
        .await?
        .iter()
        .map(|u| u.username.to_string())
        .collect();
    let campaigns = storage.campaigns().await?;
    let mut item_count = 0;
    for campaign in &campaigns {
        item_count += storage.items(&campaign.id).await?.len();
    }
    storage.close().await;
    ensure!(
        !out.join("rectify.db-wal").exists(),
        "the database was not checkpointed"
    );
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let expected = serde_json::json!({
        "version": storage::VERSION,
        "made_at_commit": commit,
        "password": PASSWORD,
        "users": users,
        "campaigns": campaigns.len(),
        "items": item_count,
        "narrative": {"item": id.to_string(), "unit": unit_key, "text": narrative},
        "evidence": [sha256],
        "revoked_token": school2.token,
    });
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_string_pretty(&expected)? + "\n",
    )?;
    println!("{}", serde_json::to_string_pretty(&expected)?);
    Ok(())
}
