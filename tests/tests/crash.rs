//! Crash tests with the real `rectify` process: clients write in bursts over real WebSockets
//! while the server is killed with SIGKILL at moments drawn from a seed, and restarted.
//! Afterwards every change the server acknowledged is there, and SQLite's
//! `PRAGMA integrity_check` passes. Needs the binary (see [`ServerProcess::test_binary`]).

use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::proxy::Rng;
use rectify_tests::{ServerProcess, SyncTestClient};
use std::time::Duration;

const KILLS: usize = 6;
const WRITERS: &[(&str, &str)] = &[
    ("school1", "pszx1"),
    ("school1", "pszx1"),
    ("school2", "pszx3"),
];

/// An item both schools work on.
async fn shared_item(server: &ServerProcess, token: &str) -> anyhow::Result<DocumentId> {
    let items = server.items(token).await?;
    let item = items
        .iter()
        .find(|i| {
            // Open: the demo signs off the units of done items, which locks their entries.
            i.units.iter().any(|u| u.as_str() == "pszx1")
                && i.units.iter().any(|u| u.as_str() == "pszx3")
                && !i.status.is_done()
        })
        .ok_or_else(|| anyhow::anyhow!("no item of both schools"))?;
    Ok(item.id.parse()?)
}

struct Writer {
    client: SyncTestClient,
    username: &'static str,
    unit: &'static str,
    name: String,
    written: usize,
}

impl Writer {
    /// Appends tokens to its unit's narrative, one change each, until a write is not
    /// acknowledged (the server died). Returns the tokens the server acknowledged.
    async fn burst(&mut self, id: DocumentId) -> Vec<String> {
        let mut acknowledged = Vec::new();
        loop {
            self.written += 1;
            let token = format!("〔{}-{}〕", self.name, self.written);
            let ctx = EditContext {
                actor: Actor {
                    role: Role::Unit,
                    unit: Some(UnitId::new(self.unit)),
                },
                user: self.username.into(),
                now_ms: 1,
            };
            let Ok(doc) = self.client.document_mut(&id) else {
                return acknowledged;
            };
            let Ok(item) = model::ItemDoc::load(doc) else {
                return acknowledged;
            };
            let text = format!("{}{token}", item.progress[self.unit].narrative.as_str());
            let edit = ItemEdit::UnitNarrative {
                unit: self.unit.into(),
                text,
            };
            if model::apply(doc, &ctx, edit).is_err() {
                return acknowledged;
            }
            match self
                .client
                .sync_until_acknowledged(&id, Duration::from_secs(5))
                .await
            {
                Ok(()) => acknowledged.push(token),
                Err(_) => return acknowledged,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_changes_survive_sigkill_at_random_moments() -> anyhow::Result<()> {
    let mut rng = Rng::new(2026);
    let mut server = ServerProcess::start_for_tests().await?;
    let office_token = server.token("office").await?;
    let id = shared_item(&server, &office_token).await?;
    let mut writers = Vec::new();
    for (n, &(username, unit)) in WRITERS.iter().enumerate() {
        let token = server.token(username).await?;
        let mut client = SyncTestClient::connect(&server.ws_base(), &token).await?;
        client.fetch(id, Duration::from_secs(10)).await?;
        writers.push((
            token,
            Writer {
                client,
                username,
                unit,
                name: format!("w{n}"),
                written: 0,
            },
        ));
    }
    let mut acknowledged: Vec<String> = Vec::new();
    for kill in 0..KILLS {
        let tasks: Vec<_> = writers
            .drain(..)
            .map(|(token, mut writer)| {
                tokio::spawn(async move {
                    let acked = writer.burst(id).await;
                    (token, writer, acked)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.range(50, 600))).await;
        server.kill()?;
        for task in tasks {
            let (token, writer, acked) = task.await?;
            acknowledged.extend(acked);
            writers.push((token, writer));
        }
        server.restart().await?;
        for (token, writer) in &mut writers {
            writer.client.reconnect(&server.ws_base(), token).await?;
            writer.client.fetch(id, Duration::from_secs(10)).await?;
        }
        let seen = narratives_seen_by_a_new_office(&server, id).await?;
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|t| !seen.contains(t.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "after kill {kill}: acknowledged but gone: {missing:?}"
        );
    }
    eprintln!(
        "{KILLS} kills survived; {} acknowledged changes all present",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= KILLS,
        "the writers got changes through"
    );

    // SQLite's own check of the file after all that.
    server.terminate(Duration::from_secs(10)).await?;
    rectify_server::data_dir::check(&server.data_dir()).await?;
    Ok(())
}

/// Both schools' narratives, as a fresh office client sees them after the restart.
async fn narratives_seen_by_a_new_office(
    server: &ServerProcess,
    id: DocumentId,
) -> anyhow::Result<String> {
    let token = server.token("office").await?;
    let mut office = SyncTestClient::connect(&server.ws_base(), &token).await?;
    office.fetch(id, Duration::from_secs(10)).await?;
    let item = office.item(&id);
    Ok(["pszx1", "pszx3"]
        .iter()
        .map(|u| item.progress[*u].narrative.as_str().to_owned())
        .collect::<Vec<_>>()
        .join("|"))
}
