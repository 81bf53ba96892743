//! Upgrades (issue #23): every committed data directory of a release
//! (`tests/fixtures/data-v<version>/`, made by `make-fixture`) opens with this build, is
//! migrated (copied to `DIR/backups/` first when it had migrations to apply), and keeps every
//! account, document and evidence file it had; a session logged out then stays logged out.

use anyhow::{Context, Result};
use rectify_server::http::app;
use rectify_server::state::AppState;
use rectify_server::storage;
use rectify_server::web::WebClient;
use rectify_shared::api::{ItemSummary, LoginResponse};
use rectify_shared::evidence::sha256_hex;
use rectify_shared::model::ItemDoc;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn fixtures() -> Result<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    found.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("data-v"))
    });
    found.sort();
    Ok(found)
}

#[test]
fn there_is_a_fixture_of_this_release() -> Result<()> {
    let this = format!("data-v{}", storage::VERSION);
    assert!(
        fixtures()?.iter().any(|p| p.ends_with(&this)),
        "no tests/fixtures/{this}: make it with `cargo run -p rectify-tests --bin make-fixture \
         -- tests/fixtures/{this}` (one fixture per release, ARCHITECTURE.md)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_release_fixture_opens_migrated_with_everything_in_it() -> Result<()> {
    for fixture in fixtures()? {
        check(&fixture)
            .await
            .with_context(|| format!("fixture {}", fixture.display()))?;
    }
    Ok(())
}

async fn check(fixture: &Path) -> Result<()> {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("expected.json"))?)?;
    assert!(
        !fixture.join("rectify.db-wal").exists(),
        "a fixture is one checkpointed file"
    );
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    copy_dir(fixture, &data)?;
    let before = std::fs::read(data.join("rectify.db"))?;

    let storage = storage::open_data_dir(&data).await?;
    assert_eq!(
        storage.meta(storage::VERSION_KEY).await?.as_deref(),
        Some(storage::VERSION),
        "opened by this version"
    );
    // A copy was taken only if the schema changed, and it is the file as it was.
    if let Ok(backups) = std::fs::read_dir(data.join("backups")) {
        let backups: Vec<PathBuf> = backups
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert!(std::fs::read(&backups[0])?.len() > before.len() / 4);
    }

    // Accounts.
    let mut users: Vec<String> = storage
        .users()
        .await?
        .iter()
        .map(|u| u.username.to_string())
        .collect();
    users.sort();
    let mut wanted: Vec<String> = serde_json::from_value(expected["users"].clone())?;
    wanted.sort();
    assert_eq!(users, wanted);

    // Documents: the campaigns, every item, and one item's text.
    let campaigns = storage.campaigns().await?;
    assert_eq!(
        campaigns.len() as u64,
        expected["campaigns"].as_u64().unwrap()
    );
    let mut items = 0;
    for campaign in &campaigns {
        for item in storage.items(&campaign.id).await? {
            let doc = rectify_server::campaigns::load_document(storage.as_ref(), &item.id)
                .await?
                .with_context(|| format!("item {} has no document", item.id))?;
            ItemDoc::load(&doc).with_context(|| format!("item {} does not load", item.id))?;
            items += 1;
        }
    }
    assert_eq!(items, expected["items"].as_u64().unwrap());
    let narrative = &expected["narrative"];
    let id = narrative["item"].as_str().unwrap().parse()?;
    let doc = rectify_server::campaigns::load_document(storage.as_ref(), &id)
        .await?
        .context("the edited item")?;
    let item = ItemDoc::load(&doc)?;
    assert_eq!(
        item.progress[narrative["unit"].as_str().unwrap()]
            .narrative
            .as_str(),
        narrative["text"].as_str().unwrap()
    );

    // Through a server on it: logging in, the item list, the evidence files, a logged-out
    // session.
    let state = AppState::new(Arc::clone(&storage), WebClient::Missing, &data).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let http = reqwest::Client::builder().no_proxy().build()?;
    let office: LoginResponse = http
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "office", "password": expected["password"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let listed: Vec<ItemSummary> = http
        .get(format!("{base}/api/items"))
        .bearer_auth(&office.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(listed.len() as u64, items);
    for sha in expected["evidence"].as_array().unwrap() {
        let sha = sha.as_str().unwrap();
        assert!(storage.blob(sha).await?.is_some(), "{sha} recorded");
        let bytes = http
            .get(format!("{base}/api/files/{sha}"))
            .bearer_auth(&office.token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        assert_eq!(sha256_hex(&bytes), sha);
    }
    let revoked = http
        .get(format!("{base}/api/me"))
        .bearer_auth(expected["revoked_token"].as_str().unwrap())
        .send()
        .await?;
    assert_eq!(
        revoked.status(),
        401,
        "a logged-out session stays logged out"
    );
    server.abort();
    Ok(())
}
