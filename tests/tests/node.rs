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

/// Issue #20: knowing the SHA-256 of another school's file is not the right to read it. School1
/// uploads a photo; school2, through a stock client, puts a reference to that hash (in its own
/// name, in its own progress, on its own item) into the item. The server refuses the change
/// like any other forbidden one (kept in quarantine, never stored), and neither school2 nor
/// the department on its item can then read the file.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_reference_to_another_units_file_by_its_hash_is_refused() -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    let server = TestServer::start(None).await?;
    let school1 = server.token("school1").await?;
    let school2 = server.token("school2").await?;
    let photo = rectify_tests::photos::phone_photo(640, 480, 20);
    let sha = rectify_shared::evidence::sha256_hex(&photo);
    rectify_tests::uploader::upload(&server.url(""), &school1, "ledger.png", &photo, 1 << 20, 0)
        .await?;

    // An item of school2's (pszx3) that school1 (pszx1) does not work on.
    let campaign = server.storage.campaigns().await?.remove(0);
    let items = server.storage.items(&campaign.id).await?;
    // Open: the demo signs off the units of done items, and that locks their entries.
    let open = |r: &&rectify_server::storage::ItemRecord| !r.status.is_done();
    let own = items
        .iter()
        .filter(open)
        .find(|r| r.units.iter().any(|u| u == "pszx3") && !r.units.iter().any(|u| u == "pszx1"))
        .or_else(|| {
            items
                .iter()
                .filter(open)
                .find(|r| r.units.iter().any(|u| u == "pszx3"))
        })
        .expect("an open item of school2");
    let department = own.department.clone().expect("a responsible department");
    let doc = own.id.to_string();

    let mut node = tokio::process::Command::new("node")
        .arg("attach.mjs")
        .current_dir(&dir)
        .env("RECTIFY_WS", format!("{}/sync", server.ws_base()))
        .env("TOKEN", &school2)
        .env("DOC", &doc)
        .env("UNIT", "pszx3")
        .env("SHA", &sha)
        .env("SIZE", photo.len().to_string())
        .env("ADDED_BY", "school2")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = node.stdin.take().expect("piped");
    let mut lines = BufReader::new(node.stdout.take().expect("piped")).lines();
    let sent = async {
        while let Some(line) = lines.next_line().await? {
            if line == "RECTIFY:sent" {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("node ended before it made the change")
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), sent).await??;
    // The server either stores the change (and the item then references the file) or
    // refuses it (and keeps it in quarantine): wait for one of the two.
    let references = |item: &rectify_shared::model::ItemDoc| {
        item.progress["pszx3"]
            .evidence
            .iter()
            .any(|e| e.sha256 == sha)
    };
    let decided = async {
        loop {
            if !server.storage.quarantined(&own.id).await?.is_empty()
                || references(&server.item(&doc).await?)
            {
                return anyhow::Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), decided).await??;
    stdin.write_all(b"done\n").await?;
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), node.wait()).await??;
    assert!(status.success(), "node failed");

    assert!(
        !references(&server.item(&doc).await?),
        "the reference to school1's file was stored in school2's progress"
    );
    let quarantined = server.storage.quarantined(&own.id).await?;
    assert!(
        quarantined[0].reason.contains(&sha) && quarantined[0].username.as_str() == "school2",
        "{quarantined:?}"
    );
    let http = reqwest::Client::new();
    let department = server.token(&format!("dept-{department}")).await?;
    for (who, token) in [("school2", &school2), ("the department", &department)] {
        for path in [
            format!("/api/files/{sha}"),
            format!("/api/files/{sha}/thumbnail"),
        ] {
            let status = http
                .get(server.url(&path))
                .bearer_auth(token)
                .send()
                .await?
                .status();
            assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{who} GET {path}");
        }
    }
    // The uploader still reads it.
    let status = http
        .get(server.url(&format!("/api/files/{sha}")))
        .bearer_auth(&school1)
        .send()
        .await?
        .status();
    assert_eq!(status, reqwest::StatusCode::OK);
    Ok(())
}

/// A stock client running `authorship.mjs` in one `MODE`, as `username` on `doc`.
struct StockLiar {
    node: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl StockLiar {
    /// Starts it and waits until it made its change.
    async fn start(
        server: &TestServer,
        username: &str,
        unit: &str,
        doc: &str,
        mode: &str,
    ) -> anyhow::Result<Self> {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
        let mut node = tokio::process::Command::new("node")
            .arg("authorship.mjs")
            .current_dir(&dir)
            .env("RECTIFY_WS", format!("{}/sync", server.ws_base()))
            .env("TOKEN", server.token(username).await?)
            .env("USERNAME", username)
            .env("DOC", doc)
            .env("UNIT", unit)
            .env("MODE", mode)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = node.stdin.take().expect("piped");
        let mut lines = BufReader::new(node.stdout.take().expect("piped")).lines();
        let sent = async {
            while let Some(line) = lines.next_line().await? {
                if line == "RECTIFY:sent" {
                    return anyhow::Ok(());
                }
            }
            anyhow::bail!("node ended before it made the change ({mode})")
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), sent).await??;
        Ok(StockLiar { node, stdin, lines })
    }

    /// The next error message the server sent it.
    async fn error(&mut self) -> anyhow::Result<String> {
        let next = async {
            while let Some(line) = self.lines.next_line().await? {
                if let Some(message) = line.strip_prefix("RECTIFY:error ") {
                    return anyhow::Ok(message.to_owned());
                }
            }
            anyhow::bail!("node ended without an error from the server")
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), next)
            .await
            .map_err(|_| anyhow::anyhow!("no error message from the server in 30 s"))?
    }

    async fn finish(mut self) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(b"done\n").await?;
        let status =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.node.wait()).await??;
        anyhow::ensure!(status.success(), "node failed");
        Ok(())
    }
}

/// Issue #20 (finding 5) through a stock automerge-repo client: school1 makes an allowed edit
/// to its own progress but commits it with the message `{"user":"office",…}`. The server
/// stores it with school1 as its sender (`change_arrivals`), and the history names school1,
/// verified, and flags the office as only claimed. Rewriting who added evidence already in
/// the entry (even to school1's own name) and setting `updated_by` to "" are refused: the
/// stock client gets an error message, the change is quarantined, nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_stock_client_cannot_lie_about_who_made_a_change() -> anyhow::Result<()> {
    use rectify_shared::api::ItemHistory;
    use rectify_shared::model::{EditContext, EvidenceRef, ItemEdit};
    use rectify_shared::policy::{Actor, Role};
    let server = TestServer::start(None).await?;
    let campaign = server.storage.campaigns().await?.remove(0);
    let record = server
        .storage
        .items(&campaign.id)
        .await?
        .into_iter()
        // Open: the demo signs off the units of done items, and that locks their entries.
        .find(|r| r.units.iter().any(|u| u == "pszx1") && !r.status.is_done())
        .expect("an open item of school1");
    let doc = record.id.to_string();
    // Evidence added to school1's entry by a colleague who had the unit's account before.
    let colleague = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(rectify_shared::ids::UnitId::new("pszx1")),
        },
        user: "school1-old".into(),
        now_ms: 1_700_000_000_000,
    };
    let sha = rectify_shared::evidence::sha256_hex(b"sign-in sheet");
    let add = ItemEdit::AddEvidence {
        unit: "pszx1".into(),
        evidence: EvidenceRef {
            sha256: sha.clone(),
            name: "签到表.jpg".into(),
            mime: "image/jpeg".into(),
            size: 13,
            caption: String::new(),
            added_by: "school1-old".into(),
            added_at_ms: colleague.now_ms,
        },
    };
    rectify_server::campaigns::edit_item(server.storage.as_ref(), &record, &colleague, add).await?;

    // The refused lies: each gets an error and changes nothing.
    for (mode, refusal) in [
        ("rewrite_added_by", "school1-old"),
        ("blank_updated_by", "updated_by"),
    ] {
        let before = server.storage.document_chunks(&record.id).await?;
        let quarantined = server.storage.quarantined(&record.id).await?.len();
        let mut liar = StockLiar::start(&server, "school1", "pszx1", &doc, mode).await?;
        let error = liar.error().await?;
        assert!(error.contains(refusal), "{mode}: {error}");
        liar.finish().await?;
        assert_eq!(
            server.storage.document_chunks(&record.id).await?,
            before,
            "{mode}: something was stored"
        );
        let now = server.storage.quarantined(&record.id).await?;
        assert_eq!(now.len(), quarantined + 1, "{mode}: {now:?}");
        // Newest first.
        assert_eq!(now[0].username.as_str(), "school1", "{mode}");
    }
    let item = server.item(&doc).await?;
    assert_eq!(item.progress["pszx1"].evidence[0].added_by, "school1-old");
    assert!(!item.progress["pszx1"].narrative.as_str().contains("无名氏"));

    // The allowed edit under a forged message: stored, and told as school1's.
    let liar = StockLiar::start(&server, "school1", "pszx1", &doc, "forged_message").await?;
    let stored = async {
        loop {
            let item = server.item(&doc).await?;
            if item.progress["pszx1"]
                .narrative
                .as_str()
                .contains("署名是伪造的")
            {
                return anyhow::Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), stored).await??;
    liar.finish().await?;
    let response = reqwest::Client::new()
        .get(server.url(&format!("/api/items/{doc}/history")))
        .bearer_auth(server.token("office").await?)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let history: ItemHistory = response.json().await?;
    let forged: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.op == "item_status")
        .filter(|e| e.claimed_user.is_some() || e.user.as_deref() == Some("office"))
        .collect();
    assert_eq!(forged.len(), 1, "{history:?}");
    assert_eq!(forged[0].user.as_deref(), Some("school1"), "{forged:?}");
    assert!(forged[0].verified, "{forged:?}");
    assert_eq!(
        forged[0].claimed_user.as_deref(),
        Some("office"),
        "{forged:?}"
    );
    // The server's record of it: school1 sent it.
    let mut stored = rectify_server::campaigns::load_document(server.storage.as_ref(), &record.id)
        .await?
        .expect("stored");
    let heads = stored.get_heads();
    assert_eq!(heads.len(), 1, "the forged change is the last one");
    let arrivals = server.storage.change_arrivals(&record.id).await?;
    let arrival = &arrivals[&heads[0].to_string()];
    assert_eq!(
        arrival.sent_by.as_ref().map(|u| u.as_str()),
        Some("school1"),
        "{arrival:?}"
    );
    Ok(())
}
