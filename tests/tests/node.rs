//! Stock `@automerge/automerge-repo` clients from npm (versions locked in
//! `tests/node/package-lock.json`, installed by `cargo xtask test`) against our `/sync`.

use rectify_tests::TestServer;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn stock_automerge_repo_clients_sync_through_the_server() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    anyhow::ensure!(
        dir.join("node_modules/@automerge/automerge-repo").is_dir(),
        "the npm packages are missing in {}: run the tests with `cargo xtask test` (it runs `npm ci` there)",
        dir.display()
    );
    let server = TestServer::start(None).await?;
    let campaign = server.storage.campaigns().await?.remove(0);
    let items = server.storage.items(&campaign.id).await?;
    let mine = |r: &&rectify_server::storage::ItemRecord| r.units.iter().any(|u| u == "pszx1");
    // One of school1's items that the office has not signed off for it yet.
    let mut shared = None;
    for record in items.iter().filter(mine) {
        let doc = rectify_server::campaigns::load_document(server.storage.as_ref(), &record.id)
            .await?
            .expect("stored");
        let item = rectify_shared::model::ItemDoc::load(&doc)?;
        if item.progress["pszx1"].status != rectify_shared::workflow::UnitStatus::SignedOff {
            shared = Some(record);
            break;
        }
    }
    let shared = shared.expect("an item school1 still works on");
    let other = items.iter().find(|r| !mine(r)).expect("an item of others");

    let mut node = Command::new("node");
    node.arg("--test")
        .arg("--test-reporter=spec")
        // A test that hangs fails after a minute instead of holding up the run.
        .arg("--test-timeout=60000")
        .arg("sync.test.mjs")
        .current_dir(&dir)
        .env("RECTIFY_WS", format!("ws://{}/sync", server.addr))
        .env("TOKEN_OFFICE", server.token("office").await?)
        .env("TOKEN_SCHOOL1", server.token("school1").await?)
        .env("SCHOOL1_UNIT", "pszx1")
        .env("DOC_SHARED", shared.id.to_string())
        .env("DOC_OTHER", other.id.to_string());
    // Run node off the async runtime: the server it talks to lives on this runtime.
    let output = tokio::task::spawn_blocking(move || node.output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node --test failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("pass 5"),
        "five node tests passed:\n{stdout}"
    );
    Ok(())
}

/// The real server process is stopped (SIGKILL) while a stock client has the item open; the
/// client edits offline; after the restart its change reaches a fresh office client.
#[tokio::test(flavor = "multi_thread")]
async fn a_stock_clients_change_made_while_the_server_was_down_arrives() -> anyhow::Result<()> {
    use rectify_tests::ServerProcess;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    let mut server = ServerProcess::start_for_tests().await?;
    let school = server.token("school1").await?;
    let office = server.token("office").await?;
    let item = server
        .items(&school)
        .await?
        .into_iter()
        // Open: the demo signs off the units of done items, and that locks their entries.
        .find(|i| i.units.iter().any(|u| u.as_str() == "pszx1") && !i.status.is_done())
        .expect("an item of school1");
    let id = item.url.trim_start_matches("automerge:").to_owned();

    let mut node = tokio::process::Command::new("node")
        .arg("restart.mjs")
        .current_dir(&dir)
        .env("RECTIFY_WS", format!("{}/sync", server.ws_base()))
        .env("TOKEN_OFFICE", office)
        .env("TOKEN_SCHOOL1", school)
        .env("SCHOOL1_UNIT", "pszx1")
        .env("DOC_SHARED", &id)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = node.stdin.take().expect("piped");
    let mut lines = BufReader::new(node.stdout.take().expect("piped")).lines();
    let mut said = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await? {
            said.push(line.clone());
            match line.as_str() {
                "RECTIFY:stop" => server.kill()?,
                "RECTIFY:start" => server.start().await?,
                _ => continue,
            }
            stdin.write_all(b"done\n").await?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(90), run).await??;
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), node.wait()).await??;
    assert!(
        status.success() && said.iter().any(|l| l == "RECTIFY:ok"),
        "node said {said:?}; server log:\n{}",
        server.log_tail()
    );
    Ok(())
}
