//! Cross-replica delivery latency (issue #18), measured, not asserted: two `rectify serve`
//! processes (the `rectify` binary beside this one) on a fresh PostgreSQL database of the test
//! server ([`ScratchDatabase`]). A school writes on replica A; the office reads on replica B.
//! Each change is timed from the writer sending it until the reader holds it, one change at a
//! time, for a reader on B and, at the same time, one on A (one server's delivery).
//!
//! `cargo build -p rectify -p rectify-tests --bin rectify --bin replica-latency`, then
//! `target/debug/replica-latency [CHANGES]` (200 by default; use `--release` builds for
//! figures to publish).

use anyhow::{Context, Result, bail};
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::sync_client::Received;
use rectify_tests::{ServerProcess, SyncTestClient};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<()> {
    let changes: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("CHANGES must be a number")?,
        None => 200,
    };
    let binary = std::env::current_exe()?
        .parent()
        .context("no directory")?
        .join("rectify");
    let database = ScratchDatabase::create()?;
    let mut a = ServerProcess::replica(binary.clone(), database.url(), true).await?;
    a.start().await?;
    let mut b = ServerProcess::replica(binary, database.url(), false).await?;
    b.start().await?;

    let school = a.token("school1").await?;
    let office = a.token("office").await?;
    let items = a.items(&office).await?;
    let id: DocumentId = items
        .iter()
        .find(|i| i.units.iter().any(|u| u.as_str() == "pszx1") && !i.status.is_done())
        .context("an open item of school1")?
        .id
        .parse()?;
    let mut writer = SyncTestClient::connect(&a.ws_base(), &school).await?;
    writer.fetch(id, Duration::from_secs(10)).await?;

    // Two readers at once, one per replica, timed on the same changes: the document grows
    // as the run goes on, so both see the same sizes.
    let mut on_b = SyncTestClient::connect(&b.ws_base(), &office).await?;
    on_b.fetch(id, Duration::from_secs(10)).await?;
    let mut on_a = SyncTestClient::connect(&a.ws_base(), &office).await?;
    on_a.fetch(id, Duration::from_secs(10)).await?;
    let (mut across, mut alone) = (Vec::new(), Vec::new());
    for n in 0..changes {
        let token = format!("〔{n}〕");
        edit(&mut writer, id, &token)?;
        let frames = writer.core.poll();
        let sent = Instant::now();
        writer.send(frames).await?;
        let (b_time, a_time) = tokio::join!(
            arrival(&mut on_b, id, &token, sent),
            arrival(&mut on_a, id, &token, sent)
        );
        across.push(b_time?);
        alone.push(a_time?);
        writer
            .sync_until_acknowledged(&id, Duration::from_secs(10))
            .await?;
    }
    report("A → B (reader on another replica)", &mut across);
    report("A → A (reader on the same server)", &mut alone);
    Ok(())
}

/// Answers the server until the reader holds `token`; the time since `sent`.
async fn arrival(
    reader: &mut SyncTestClient,
    id: DocumentId,
    token: &str,
    sent: Instant,
) -> Result<Duration> {
    while !narrative(reader, &id).contains(token) {
        if sent.elapsed() > Duration::from_secs(10) {
            bail!("{token} did not arrive within 10 s");
        }
        if let Received::Closed = reader.receive(Duration::from_secs(10)).await? {
            bail!("the reader's connection closed");
        }
    }
    Ok(sent.elapsed())
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{what}: {} changes, delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(times[times.len() - 1])
    );
}

/// Appends `token` to school1's narrative as one change (not sent yet).
fn edit(client: &mut SyncTestClient, id: DocumentId, token: &str) -> Result<()> {
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: 1,
    };
    let doc = client.document_mut(&id)?;
    let text = format!(
        "{}{token}",
        ItemDoc::load(doc)?.progress["pszx1"].narrative.as_str()
    );
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text,
    };
    model::apply(doc, &ctx, edit)?;
    Ok(())
}

fn narrative(client: &SyncTestClient, id: &DocumentId) -> String {
    client.item(id).progress["pszx1"]
        .narrative
        .as_str()
        .to_owned()
}
