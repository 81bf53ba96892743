//! Phase `single-doc`: the workload issue #17 measured Hocuspocus 4.7 (Yjs) on — 40 clients,
//! each with a document of its own, 25 sequential edits each (make an edit, send it, wait for
//! the server's acknowledgement, next) — on our server, with our Rust sync client
//! (`SyncTestClient`, the core the browser runs). Hocuspocus itself is not run here: its
//! figures are the issue's, measured elsewhere, and the table shows them as fixed numbers.

use crate::latency::{self, Latency};
use crate::procfs::CpuTicks;
use anyhow::{Context, Result, ensure};
use rectify_shared::ids::UnitId;
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_tests::SyncTestClient;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hocuspocus 4.7 on the same workload, from issue #17 (measured elsewhere, not by this
/// bench): server CPU per acknowledged edit and acknowledgement p99, in memory …
pub const HOCUSPOCUS_CPU_MS: f64 = 0.28;
pub const HOCUSPOCUS_P99_MS: f64 = 24.0;
/// … and with its SQLite extension (which writes seconds later).
pub const HOCUSPOCUS_SQLITE_CPU_MS: f64 = 0.35;
pub const HOCUSPOCUS_SQLITE_P99_MS: f64 = 32.0;
/// Issue #17's aim for Rectify on this workload (it acknowledges only after the disk).
pub const CPU_MS_TARGET: f64 = 0.5;
pub const P99_MS_TARGET: f64 = 50.0;

/// Each edit is acknowledged within this, or its client stops.
const ACK_LIMIT: Duration = Duration::from_secs(30);
/// After the last acknowledgement, before the server's CPU is read again.
const QUIET: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Default)]
pub struct SingleDoc {
    pub clients: usize,
    pub edits: usize,
    pub acked: usize,
    /// Clients that stopped early, with why (the first few).
    pub failures: Vec<String>,
    /// From the start (every client connected, its document fetched) to the last
    /// acknowledgement.
    pub wall_s: f64,
    /// Per acknowledged edit: sent → the server's heads include it.
    pub ack_ms: Vec<f64>,
    /// Server CPU from the start until 300 ms after the last acknowledgement.
    pub cpu_s: f64,
    /// Server CPU over 1 s of doing nothing just before the start (all clients connected).
    pub idle_cpu_s: f64,
    /// `rectify_sync_changes_applied_total` over the same span.
    pub applied_metric: Option<f64>,
}

impl SingleDoc {
    pub fn cpu_ms_per_edit(&self) -> Option<f64> {
        latency::cpu_ms_per_change(self.cpu_s, self.acked)
    }

    pub fn ack(&self) -> Option<Latency> {
        Latency::of(&self.ack_ms)
    }

    pub fn edits_per_s(&self) -> Option<f64> {
        latency::per_second(self.acked, self.wall_s)
    }
}

/// A fresh data directory with `clients` schools, one item each (assigned to it alone), our
/// server on it, and every school's `edits` edits.
pub async fn run(rectify: PathBuf, clients: usize, edits: usize) -> Result<SingleDoc> {
    ensure!(clients > 0 && edits > 0, "nothing to measure");
    let (mut server, fixture) = crate::setup::prepare(rectify, clients, 1, 0).await?;
    server.start().await?;
    let result = measure(&server, &fixture, edits).await;
    let result = result.with_context(|| format!("server log:\n{}", server.log_tail()));
    let _ = server.terminate(Duration::from_secs(20)).await;
    result
}

async fn measure(
    server: &rectify_tests::ServerProcess,
    fixture: &crate::setup::Fixture,
    edits: usize,
) -> Result<SingleDoc> {
    let pid = server.pid().context("the server is not running")?;
    let base = server.ws_base();
    let mut connecting = tokio::task::JoinSet::new();
    for school in fixture.schools.clone() {
        let base = base.clone();
        connecting.spawn(async move {
            let doc = school
                .docs
                .first()
                .context("a school without a document")?
                .id;
            let mut sync = SyncTestClient::connect(&base, &school.token).await?;
            sync.fetch(doc, ACK_LIMIT).await?;
            anyhow::Ok((school, doc, sync))
        });
    }
    let mut connected = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        connected.push(joined??);
    }
    eprintln!(
        "    {} clients connected, each with its document; {edits} edits each",
        connected.len()
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(connected.len() + 1));
    let mut workers = tokio::task::JoinSet::new();
    for (school, doc, mut sync) in connected {
        let barrier = Arc::clone(&barrier);
        workers.spawn(async move {
            barrier.wait().await;
            let mut acks = Vec::with_capacity(edits);
            let outcome = edit_loop(&school, doc, &mut sync, edits, &mut acks).await;
            let _ = sync.close().await;
            (
                acks,
                outcome.err().map(|e| format!("{}: {e:#}", school.username)),
            )
        });
    }
    let metric = "rectify_sync_changes_applied_total";
    let applied_before = crate::server_metrics(server.port())
        .await
        .get(metric)
        .copied();
    let idle = CpuTicks::of(pid)?;
    tokio::time::sleep(crate::stock::IDLE).await;
    let before = CpuTicks::of(pid)?;
    barrier.wait().await;
    let started = Instant::now();
    let mut result = SingleDoc {
        clients: fixture.schools.len(),
        edits,
        idle_cpu_s: idle.seconds_until(before),
        ..SingleDoc::default()
    };
    while let Some(joined) = workers.join_next().await {
        let (acks, failure) = joined?;
        result.acked += acks.len();
        result.ack_ms.extend(acks);
        result.failures.extend(failure);
    }
    result.wall_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(QUIET).await;
    result.cpu_s = before.seconds_until(CpuTicks::of(pid)?);
    let applied_after = crate::server_metrics(server.port())
        .await
        .get(metric)
        .copied();
    result.applied_metric = applied_before.zip(applied_after).map(|(b, a)| a - b);
    eprintln!(
        "    acknowledged {} of {} edits in {:.2} s; server CPU {:.3} s{}",
        result.acked,
        result.clients * edits,
        result.wall_s,
        result.cpu_s,
        if result.failures.is_empty() {
            String::new()
        } else {
            format!("; FAILED: {}", result.failures.join("; "))
        }
    );
    Ok(result)
}

/// `edits` edits to the school's item, each as the app makes it (`ItemEdit::UnitNarrative`
/// through `model::apply`: a sentence appended to its progress text, one Automerge change),
/// each sent and waited for until the server's heads include it.
async fn edit_loop(
    school: &crate::setup::School,
    doc: rectify_shared::ids::DocumentId,
    sync: &mut SyncTestClient,
    edits: usize,
    acks: &mut Vec<f64>,
) -> Result<()> {
    let mut narrative = ItemDoc::load(sync.document_mut(&doc)?)?
        .progress
        .get(&school.unit)
        .map(|p| p.narrative.as_str().to_owned())
        .unwrap_or_default();
    for k in 1..=edits {
        narrative.push_str(&format!("第{k}次进展：{}已落实整改措施。", school.username));
        let ctx = EditContext {
            actor: Actor {
                role: Role::Unit,
                unit: Some(UnitId::new(&school.unit)),
            },
            user: school.username.clone(),
            now_ms: rectify_server::clock::now_ms(),
        };
        let edit = ItemEdit::UnitNarrative {
            unit: school.unit.clone(),
            text: narrative.clone(),
        };
        model::apply(sync.document_mut(&doc)?, &ctx, edit).with_context(|| format!("edit {k}"))?;
        let sent = Instant::now();
        sync.sync_until_acknowledged(&doc, ACK_LIMIT)
            .await
            .with_context(|| format!("edit {k}"))?;
        acks.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_edit_and_rate() {
        let run = SingleDoc {
            clients: 2,
            edits: 2,
            acked: 4,
            wall_s: 0.2,
            ack_ms: vec![4.0, 5.0, 6.0, 60.0],
            cpu_s: 0.002,
            ..SingleDoc::default()
        };
        assert!((run.cpu_ms_per_edit().expect("acked") - 0.5).abs() < 1e-12);
        assert_eq!(run.edits_per_s(), Some(20.0));
        let ack = run.ack().expect("times");
        assert_eq!((ack.p50, ack.p99), (5.0, 60.0));
        assert_eq!(SingleDoc::default().cpu_ms_per_edit(), None);
    }
}
