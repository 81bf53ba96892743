//! The real `rectify` process killed, stopped and restarted under connected sync clients:
//! nothing acknowledged or made offline is lost, and SIGTERM does not hang on open sockets.
//! Needs the binary: `cargo build -p rectify` (see [`ServerProcess::test_binary`]).

use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::{ServerProcess, SyncTestClient};
use std::time::{Duration, Instant};

const ACK: Duration = Duration::from_secs(10);

/// The first item assigned to school1's unit, from `GET /api/items`.
async fn school1_item(server: &ServerProcess, token: &str) -> anyhow::Result<DocumentId> {
    let items = server.items(token).await?;
    let item = items
        .iter()
        // Open: the demo signs off the units of done items, and that locks their entries.
        .find(|i| i.units.iter().any(|u| u.as_str() == "pszx1") && !i.status.is_done())
        .ok_or_else(|| anyhow::anyhow!("no item assigned to pszx1 among {} items", items.len()))?;
    let id = item
        .url
        .strip_prefix("automerge:")
        .ok_or_else(|| anyhow::anyhow!("not an automerge URL: {}", item.url))?;
    Ok(id.parse()?)
}

/// `client` with `id` open and received.
async fn open(
    server: &ServerProcess,
    token: &str,
    id: DocumentId,
) -> anyhow::Result<SyncTestClient> {
    let mut client = SyncTestClient::connect(&server.ws_base(), token).await?;
    client.core.open_document(id);
    client.settle().await?;
    anyhow::ensure!(
        !client.item(&id).title.as_str().is_empty(),
        "the item arrived: {:?}",
        client.events
    );
    Ok(client)
}

fn write_narrative(client: &mut SyncTestClient, id: &DocumentId, text: &str) -> anyhow::Result<()> {
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: 1,
    };
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: text.into(),
    };
    model::apply(client.document_mut(id)?, &ctx, edit)?;
    Ok(())
}

/// What a fresh office client, connected now, sees as school1's narrative.
async fn narrative_seen_by_a_new_office(
    server: &ServerProcess,
    id: DocumentId,
) -> anyhow::Result<String> {
    let token = server.token("office").await?;
    let office = open(server, &token, id).await?;
    Ok(office.item(&id).progress["pszx1"]
        .narrative
        .as_str()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_while_the_server_was_down_arrives_when_it_is_back() -> anyhow::Result<()> {
    let mut server = ServerProcess::start_for_tests().await?;
    let school_token = server.token("school1").await?;
    let office_token = server.token("office").await?;
    let id = school1_item(&server, &school_token).await?;
    let _office = open(&server, &office_token, id).await?;
    let mut school = open(&server, &school_token, id).await?;

    server.kill()?;
    school.disconnect();
    write_narrative(&mut school, &id, "断网时填写：已完成食堂台账整改。")?;

    server.restart().await?;
    // The token survives the restart: sessions are stored.
    school.reconnect(&server.ws_base(), &school_token).await?;
    school.sync_until_acknowledged(&id, ACK).await?;

    assert_eq!(
        narrative_seen_by_a_new_office(&server, id).await?,
        "断网时填写：已完成食堂台账整改。"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_change_survives_sigkill() -> anyhow::Result<()> {
    let mut server = ServerProcess::start_for_tests().await?;
    let school_token = server.token("school1").await?;
    let id = school1_item(&server, &school_token).await?;
    let mut school = open(&server, &school_token, id).await?;

    write_narrative(&mut school, &id, "已确认的修改。")?;
    school.sync_until_acknowledged(&id, ACK).await?;
    server.kill()?;

    server.restart().await?;
    assert_eq!(
        narrative_seen_by_a_new_office(&server, id).await?,
        "已确认的修改。"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_promptly_with_a_client_connected() -> anyhow::Result<()> {
    let mut server = ServerProcess::start_for_tests().await?;
    let school_token = server.token("school1").await?;
    let id = school1_item(&server, &school_token).await?;
    let mut school = open(&server, &school_token, id).await?;

    let started = Instant::now();
    let status = server.terminate(Duration::from_secs(10)).await?;
    assert!(
        status.success(),
        "rectify serve exited with {status} after SIGTERM:\n{}",
        server.log_tail()
    );
    eprintln!("stopped {:?} after SIGTERM", started.elapsed());
    // The client learns the connection is gone rather than hanging on it.
    school.settle().await?;
    assert!(!school.is_open(), "the connection was closed");
    Ok(())
}
