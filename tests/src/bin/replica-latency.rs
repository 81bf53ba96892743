//! Cross-replica delivery latency (issue #18), measured, not asserted: two `rectify serve`
//! processes (the `rectify` binary beside this one) on a fresh PostgreSQL database of the test
//! server ([`ScratchDatabase`]). A school writes on replica A; the office reads on replica B.
//! Each change is timed from the writer sending it until the reader holds it, one change at a
//! time, for a reader on B and, at the same time, one on A (one server's delivery).
//!
//! This is delivery at a moderate rate (the next change waits for the last one's
//! acknowledgement), where latency is the fan-out's own and not queueing; `sync-load
//! throughput --replicas N` gives it under a saturating load. `cargo xtask bench --only
//! scale-out` runs both.
//!
//! `cargo build -p rectify -p rectify-tests --bin rectify --bin replica-latency`, then
//! `target/debug/replica-latency [--changes 200] [--json]` (use `--release` builds for figures
//! to publish).

use anyhow::{Context, Result, bail};
use clap::Parser;
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::sync_client::Received;
use rectify_tests::{ServerProcess, SyncTestClient};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Cross-replica delivery latency at a moderate rate (issue #18)")]
struct Cli {
    /// Changes to time, one at a time.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// The `rectify` binary to run (default: the one beside this tool).
    #[arg(long)]
    rectify: Option<std::path::PathBuf>,
    /// Print one JSON object (for `cargo xtask bench`) instead of two lines of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let changes = cli.changes;
    anyhow::ensure!(changes > 0, "--changes must be at least 1");
    let binary = match cli.rectify {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("rectify"),
    };
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
    let (across, alone) = (Figures::of(&mut across), Figures::of(&mut alone));
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "changes": changes,
                "across_replicas_ms": across.json(),
                "same_replica_ms": alone.json(),
            })
        );
    } else {
        println!(
            "A → B (reader on another replica): {}",
            across.show(changes)
        );
        println!("A → A (reader on the same server): {}", alone.show(changes));
    }
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

/// Delivery times in milliseconds: p50, p99 and the slowest.
struct Figures {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Figures {
    /// Of at least one time.
    fn of(times: &mut [Duration]) -> Figures {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        Figures {
            p50: ms(at(0.50)),
            p99: ms(at(0.99)),
            max: ms(times[times.len() - 1]),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"p50": self.p50, "p99": self.p99, "max": self.max})
    }

    fn show(&self, changes: usize) -> String {
        format!(
            "{changes} changes, delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.p50, self.p99, self.max
        )
    }
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
