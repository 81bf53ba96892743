//! `sync-load`: measures a real `rectify serve` process under sync load.
//!
//! - `throughput`: many unit accounts edit their items at once while the office watches;
//!   reports accepted changes per second and how long a change takes to reach the office.
//!   With `--replicas N` (issue #18) it runs N `rectify serve` processes on one PostgreSQL
//!   database: the clients spread over them round-robin, the office on the last, so a change
//!   made on another replica is timed across replicas and one made on the office's own apart.
//! - `memory`: the server's resident memory idle, with N documents sent to a client, and
//!   after that client left and idle documents had time to be evicted.
//!
//! Every wait is bounded; the whole run fails after `--timeout-secs`.

use anyhow::{Context, Result, bail, ensure};
use automerge::sync::SyncDoc;
use automerge::{AutoCommit, ChangeHash};
use clap::{Parser, Subcommand};
use rectify_server::storage::scratch::ScratchDatabase;
use rectify_server::storage::{ItemRecord, Write};
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::sync::client::ClientEvent;
use rectify_shared::sync::wire::{self, Message, SyncData};
use rectify_tests::process::Memory;
use rectify_tests::sync_client::{Received, Refused};
use rectify_tests::{ServerProcess, SyncTestClient, TEST_PASSWORD};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "sync-load",
    about = "Load and memory measurements of a real rectify server"
)]
struct Cli {
    /// The `rectify` binary; by default the one next to this tool (same target directory).
    #[arg(long, global = true)]
    rectify: Option<PathBuf>,
    /// An extra argument for `rectify serve` (repeat it),
    /// e.g. `--serve-arg=--idle-document-secs=30`.
    #[arg(long = "serve-arg", allow_hyphen_values = true, global = true)]
    serve_args: Vec<String>,
    /// Copy the server's log (standard error) here at the end.
    #[arg(long, global = true)]
    keep_log: Option<PathBuf>,
    /// The whole run fails after this long.
    #[arg(long, default_value_t = 900, global = true)]
    timeout_secs: u64,
    /// Serve from this many `rectify serve` processes sharing one PostgreSQL database
    /// (`--database`, else a fresh database on the test server); 0: one server on SQLite.
    #[arg(long, default_value_t = 0, global = true)]
    replicas: usize,
    /// The PostgreSQL database for `--replicas` (it must be empty).
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Concurrent unit clients editing their items while one office client watches them all.
    Throughput {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 40)]
        changes_per_client: usize,
        /// Items each client opens and edits in turn (all assigned to its unit).
        #[arg(long, default_value_t = 1)]
        items_per_client: usize,
    },
    /// The server's memory with N documents requested by a client, and after eviction.
    Memory {
        #[arg(long, default_value_t = 10_000)]
        documents: usize,
        /// Documents requested at once (the client keeps only these in memory).
        #[arg(long, default_value_t = 200)]
        batch: usize,
        /// How long to wait after the client left, for idle documents to be evicted.
        #[arg(long, default_value_t = 70)]
        settle_secs: u64,
        /// Then fetch everything again on a new connection: memory that grows again past the
        /// first peak is held, not just kept by the allocator.
        #[arg(long)]
        refetch: bool,
    },
}

/// Each change is acknowledged within this, or the run fails.
const ACK_LIMIT: Duration = Duration::from_secs(60);

fn main() -> Result<()> {
    let cli = Cli::parse();
    let binary = match cli.rectify {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("the tool has no directory")?
            .join("rectify"),
    };
    ensure!(
        binary.is_file(),
        "{} is missing: build it with `cargo build -p rectify` (add --release for a \
         release measurement) or pass --rectify PATH",
        binary.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let limit = Duration::from_secs(cli.timeout_secs);
    runtime.block_on(async move {
        // Replicas share a PostgreSQL database: the one given, else a scratch one dropped at
        // the end (kept alive by `_scratch` until then).
        let (mut servers, _scratch, database) = if cli.replicas == 0 {
            let mut server = ServerProcess::prepare(binary).await?;
            server.set_serve_args(cli.serve_args);
            (vec![server], None, None)
        } else {
            ensure!(
                matches!(cli.command, Mode::Throughput { .. }),
                "--replicas applies to throughput only"
            );
            let scratch = match &cli.database {
                Some(_) => None,
                None => Some(ScratchDatabase::create()?),
            };
            let url = match (&cli.database, &scratch) {
                (Some(url), _) => url.clone(),
                (None, Some(scratch)) => scratch.url().to_owned(),
                (None, None) => unreachable!("made above"),
            };
            let mut servers = Vec::new();
            for n in 0..cli.replicas {
                // The first one writes the demo into the database.
                let mut server = ServerProcess::replica(binary.clone(), &url, n == 0).await?;
                let args = ["--database".to_owned(), url.clone()];
                server.set_serve_args([&args[..], &cli.serve_args].concat());
                servers.push(server);
            }
            (servers, scratch, Some(url))
        };
        let run = async {
            match cli.command {
                Mode::Throughput {
                    clients,
                    changes_per_client,
                    items_per_client,
                } => {
                    let load = Load {
                        clients,
                        changes_per_client,
                        items_per_client,
                    };
                    throughput(&mut servers, database.as_deref(), load).await
                }
                Mode::Memory {
                    documents,
                    batch,
                    settle_secs,
                    refetch,
                } => memory(&mut servers[0], documents, batch, settle_secs, refetch).await,
            }
        };
        let result = tokio::time::timeout(limit, run).await;
        for server in &servers {
            report_log_problems(server);
        }
        if let Some(path) = &cli.keep_log {
            std::fs::copy(servers[0].log_path(), path)
                .with_context(|| format!("copying the server log to {}", path.display()))?;
        }
        let tails = || {
            servers
                .iter()
                .map(ServerProcess::log_tail)
                .collect::<Vec<_>>()
                .join("\n---\n")
        };
        match result {
            Ok(result) => result.with_context(|| format!("server log:\n{}", tails())),
            Err(_) => bail!("the run took over {limit:?}; server log:\n{}", tails()),
        }
    })
}

/// Warnings and errors the server logged, so that odd behaviour under load is not missed.
fn report_log_problems(server: &ServerProcess) {
    let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
    let problems: Vec<String> = log
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    println!("server log: {} warning/error line(s)", problems.len());
    for line in problems.iter().take(10) {
        println!("  {line}");
    }
}

/// The log without colour codes (tracing colours its output even into a file).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// throughput

/// Stored items, read before the server starts.
async fn stored_items(server: &ServerProcess, database: Option<&str>) -> Result<Vec<ItemRecord>> {
    let storage = match database {
        Some(url) => rectify_server::storage::open(&url.parse()?).await?,
        None => rectify_server::storage::open_data_dir(&server.data_dir()).await?,
    };
    let mut items = Vec::new();
    for campaign in storage.campaigns().await? {
        items.extend(storage.items(&campaign.id).await?);
    }
    Ok(items)
}

struct LoadClient {
    username: String,
    unit: String,
    role: Role,
    items: Vec<DocumentId>,
}

/// Changes sent but not yet seen by the observer: document → (change, when sent, whether it
/// was sent to another replica than the observer's).
type Pending = Arc<Mutex<HashMap<DocumentId, Vec<(ChangeHash, Instant, bool)>>>>;

/// When the observer saw each change: sent to its own server, and sent to another replica.
#[derive(Debug, Default)]
struct Seen {
    same: Vec<Duration>,
    across: Vec<Duration>,
}

/// The throughput run's shape.
struct Load {
    clients: usize,
    changes_per_client: usize,
    items_per_client: usize,
}

async fn throughput(
    servers: &mut [ServerProcess],
    database: Option<&str>,
    load: Load,
) -> Result<()> {
    let Load {
        clients,
        changes_per_client,
        items_per_client,
    } = load;
    let replicas = servers.len();
    let observer_at = replicas - 1;
    ensure!(
        clients > 0 && changes_per_client > 0 && items_per_client > 0,
        "nothing to do"
    );
    // Units that have items, with their items; clients are spread over them round-robin.
    let records = stored_items(&servers[0], database).await?;
    let mut by_unit: BTreeMap<&str, Vec<DocumentId>> = BTreeMap::new();
    // Open items only: the demo signs off the units of done items, and a signed-off entry is
    // locked for its unit.
    for record in records.iter().filter(|r| !r.status.is_done()) {
        for unit in &record.units {
            by_unit.entry(unit.as_str()).or_default().push(record.id);
        }
    }
    let units: Vec<(&str, Role)> = rectify_server::demo::DEMO_UNITS
        .iter()
        .filter(|(id, _, _)| by_unit.contains_key(id))
        .map(|(id, _, kind)| {
            let role = if *kind == "department" {
                Role::Department
            } else {
                Role::Unit
            };
            (*id, role)
        })
        .collect();
    ensure!(!units.is_empty(), "no demo unit has items");
    // Each client takes its unit's least used items, so edits spread over as many documents
    // as the demo allows (items shared by several units still get concurrent writers).
    let mut plan = Vec::new();
    let mut used: HashMap<DocumentId, usize> = HashMap::new();
    for c in 0..clients {
        let (unit, role) = units[c % units.len()];
        let mut own = by_unit[unit].clone();
        own.sort_by_key(|id| used.get(id).copied().unwrap_or(0));
        let items: Vec<DocumentId> = own.into_iter().take(items_per_client).collect();
        for id in &items {
            *used.entry(*id).or_default() += 1;
        }
        plan.push(LoadClient {
            username: format!("load{c}"),
            unit: unit.to_owned(),
            role,
            items,
        });
    }
    let distinct: std::collections::BTreeSet<DocumentId> =
        plan.iter().flat_map(|c| c.items.iter().copied()).collect();
    println!(
        "Preparing {clients} accounts over {} units; {} distinct items ({} items in the demo).",
        units.len(),
        distinct.len(),
        records.len()
    );
    let data = servers[0].data_dir();
    let data = data.to_str().context("a non-UTF-8 path")?.to_owned();
    let storage_args: Vec<&str> = match database {
        Some(url) => vec!["--data", &data, "--database", url],
        None => vec!["--data", &data],
    };
    for client in &plan {
        let role = if client.role == Role::Department {
            "department"
        } else {
            "unit"
        };
        let args = [
            &["user", "add"][..],
            &storage_args,
            &[&client.username, "--role", role, "--unit", &client.unit],
        ]
        .concat();
        servers[0]
            .cli(&args, Some(&format!("{TEST_PASSWORD}\n")))
            .await?;
    }
    for server in servers.iter_mut() {
        server.start().await?;
        println!(
            "rectify serve (pid {}) on {}",
            server.pid().unwrap_or_default(),
            server.http_base()
        );
    }

    // The observer: the office with every edited item open, on the last replica.
    let watching = &servers[observer_at];
    let mut observer =
        SyncTestClient::connect(&watching.ws_base(), &watching.token("office").await?).await?;
    for id in &distinct {
        observer.core.open_document(*id);
    }
    observer.settle().await?;
    for id in &distinct {
        ensure!(
            observer
                .core
                .document(id)
                .is_some_and(|d| ItemDoc::load(d).is_ok()),
            "the observer did not receive {id}"
        );
    }

    // Connect every client (logins in parallel), each with its items open, on the replicas
    // in turn.
    let mut connecting = tokio::task::JoinSet::new();
    for (n, client) in plan.into_iter().enumerate() {
        let server = &servers[n % replicas];
        let token = server.login(&client.username, TEST_PASSWORD).await?;
        let base = server.ws_base();
        let across = n % replicas != observer_at;
        connecting.spawn(async move {
            let mut sync = SyncTestClient::connect(&base, &token).await?;
            for id in &client.items {
                sync.fetch(*id, ACK_LIMIT).await?;
            }
            anyhow::Ok((n, client, sync, across, (base, token)))
        });
    }
    let mut connected = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        connected.push(joined??);
    }
    connected.sort_by_key(|(n, ..)| *n);
    println!(
        "{} clients connected over {replicas} replica(s); starting.",
        connected.len()
    );

    let pending: Pending = Arc::default();
    let latencies: Arc<Mutex<Seen>> = Arc::default();
    let sending_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer_task = {
        let pending = Arc::clone(&pending);
        let latencies = Arc::clone(&latencies);
        let sending_done = Arc::clone(&sending_done);
        tokio::spawn(async move {
            observe(&mut observer, &pending, &latencies, &sending_done).await?;
            anyhow::Ok(observer)
        })
    };

    let barrier = Arc::new(tokio::sync::Barrier::new(connected.len() + 1));
    let mut workers = tokio::task::JoinSet::new();
    for (n, client, mut sync, across, (base, token)) in connected {
        let barrier = Arc::clone(&barrier);
        let pending = Arc::clone(&pending);
        workers.spawn(async move {
            barrier.wait().await;
            let mut outcome = Outcome::default();
            if let Err(err) = edit_loop(
                &client,
                (&base, &token),
                &mut sync,
                &pending,
                changes_per_client,
                across,
                &mut outcome,
            )
            .await
            {
                outcome.error = Some(format!("client {n}: {err:#}"));
            }
            let _ = sync.close().await;
            outcome
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut acks = Vec::new();
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    let mut reconnects = 0;
    while let Some(joined) = workers.join_next().await {
        let outcome = joined?;
        acks.extend(outcome.acks);
        refused.extend(outcome.refused);
        reconnects += outcome.reconnects;
        failures.extend(outcome.error);
    }
    let wall = started.elapsed();
    sending_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut observer = observer_task.await??;
    let _ = observer.close().await;
    let missing: usize = pending
        .lock()
        .expect("pending")
        .values()
        .map(Vec::len)
        .sum();
    let (mut same, mut across) = {
        let seen = latencies.lock().expect("latencies");
        (seen.same.clone(), seen.across.clone())
    };
    let mut all: Vec<Duration> = same.iter().chain(&across).copied().collect();
    let seen_count = all.len();

    let accepted = acks.len();
    let rate = accepted as f64 / wall.as_secs_f64();
    let seen = Stats::of(&mut all);
    let seen_same = Stats::of(&mut same);
    let seen_across = Stats::of(&mut across);
    let ack = Stats::of(&mut acks);
    // Summed over the replicas.
    let total = |name: &'static str| {
        let servers = &*servers;
        async move {
            let mut sum = None;
            for server in servers {
                if let Some(value) = metric(server, name).await {
                    *sum.get_or_insert(0.0) += value;
                }
            }
            sum
        }
    };
    let applied = total("rectify_sync_changes_applied_total").await;
    println!();
    println!("throughput: {clients} clients × {changes_per_client} changes, {replicas} replica(s)");
    println!(
        "  accepted changes      {accepted} of {} ({} refused)",
        clients * changes_per_client,
        refused.len()
    );
    println!("  reconnects            {reconnects} (closed before the acknowledgement)");
    println!("  wall time             {:.2} s", wall.as_secs_f64());
    println!("  changes per second    {rate:.1}");
    println!("  acknowledged (client) {ack}");
    println!("  seen by the office    {seen}  ({seen_count} seen, {missing} never)");
    if replicas > 1 {
        println!("  … sent to its replica {seen_same}");
        println!("  … across replicas     {seen_across}");
    }
    let frames = total("rectify_sync_latency_seconds_count").await;
    let busy = total("rectify_sync_latency_seconds_sum").await;
    if let (Some(applied), Some(frames), Some(busy)) = (applied, frames, busy) {
        println!(
            "  server (/metrics)     {applied} changes applied; {frames} frames handled, \
             {:.1} ms each on average, {:.1} s in all",
            busy * 1000.0 / frames.max(1.0),
            busy
        );
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for message in &refused {
        *reasons.entry(message.as_str()).or_default() += 1;
    }
    for (message, count) in reasons.iter().take(5) {
        println!("  REFUSED ×{count}: {message}");
    }
    for failure in failures.iter().take(5) {
        println!("  FAILED: {failure}");
    }
    let json = serde_json::json!({
        "mode": "throughput",
        "clients": clients,
        "changes_per_client": changes_per_client,
        "accepted": accepted,
        "refused": refused.len(),
        "failed_clients": failures.len(),
        "wall_s": wall.as_secs_f64(),
        "changes_per_s": rate,
        "ack_ms": ack.json(),
        "latency_ms": seen.json(),
        "replicas": replicas,
        "latency_same_replica_ms": seen_same.json(),
        "latency_across_replicas_ms": seen_across.json(),
        "seen": seen_count,
        "reconnects": reconnects,
        "never_seen": missing,
        "server_changes_applied": applied,
        "server_frames": frames,
        "server_frame_seconds": busy,
    });
    println!("{json}");
    ensure!(failures.is_empty(), "{} client(s) failed", failures.len());
    ensure!(missing == 0, "{missing} change(s) never reached the office");
    Ok(())
}

/// What one client did.
#[derive(Debug, Default)]
struct Outcome {
    /// From sending each accepted change to the server's acknowledgement.
    acks: Vec<Duration>,
    /// The server's messages for refused changes.
    refused: Vec<String>,
    /// Times the server closed the connection before acknowledging ("try again later": the
    /// write lost a race with another replica's) and the client reconnected to send it again.
    reconnects: usize,
    error: Option<String>,
}

/// Makes `changes` edits, each synced until the server acknowledges it. A refused change is
/// recovered from as a real client does: drop our copy, fetch the server's, go on.
async fn edit_loop(
    client: &LoadClient,
    (base, token): (&str, &str),
    sync: &mut SyncTestClient,
    pending: &Pending,
    changes: usize,
    across: bool,
    outcome: &mut Outcome,
) -> Result<()> {
    for seq in 0..changes {
        let id = client.items[seq % client.items.len()];
        let ctx = EditContext {
            actor: Actor {
                role: client.role,
                unit: Some(UnitId::new(&client.unit)),
            },
            user: client.username.clone(),
            now_ms: rectify_server::clock::now_ms(),
        };
        let edit = ItemEdit::UnitNarrative {
            unit: client.unit.clone(),
            text: format!("第{seq}次进展：{}已落实整改措施。", client.username),
        };
        let doc = sync.document_mut(&id)?;
        model::apply(doc, &ctx, edit).with_context(|| format!("edit {seq}"))?;
        let hash = doc
            .get_last_local_change()
            .context("the edit made no change")?
            .hash();
        let sent = Instant::now();
        pending
            .lock()
            .expect("pending")
            .entry(id)
            .or_default()
            .push((hash, sent, across));
        let mut synced = sync.sync_until_acknowledged(&id, ACK_LIMIT).await;
        // Closed before the acknowledgement (1013 "try again later": on several replicas, a
        // write that lost a race): reconnect and send it again, as the app does.
        let mut tries = 0;
        let closed = |r: &Result<()>, sync: &SyncTestClient| {
            r.as_ref()
                .is_err_and(|e| e.downcast_ref::<Refused>().is_none() && !sync.is_open())
        };
        while closed(&synced, sync) && tries < 10 {
            tries += 1;
            outcome.reconnects += 1;
            synced = match sync.reconnect(base, token).await {
                Ok(()) => sync.sync_until_acknowledged(&id, ACK_LIMIT).await,
                Err(err) => Err(err),
            };
        }
        match synced {
            Ok(()) => outcome.acks.push(sent.elapsed()),
            Err(err) => {
                let Some(refused) = err.downcast_ref::<Refused>() else {
                    return Err(err.context(format!("change {seq}")));
                };
                outcome.refused.push(refused.message.clone());
                if let Some(waiting) = pending.lock().expect("pending").get_mut(&id) {
                    waiting.retain(|(h, _, _)| *h != hash);
                }
                sync.core.reset_document(id);
                sync.fetch(id, ACK_LIMIT).await?;
            }
        }
    }
    Ok(())
}

/// Reads the observer's frames and times every pending change when it arrives; stops when the
/// senders are done and nothing is pending, or 30 s after the senders are done.
async fn observe(
    observer: &mut SyncTestClient,
    pending: &Pending,
    latencies: &Mutex<Seen>,
    sending_done: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let mut done_at: Option<Instant> = None;
    loop {
        if sending_done.load(std::sync::atomic::Ordering::SeqCst) {
            let since = *done_at.get_or_insert_with(Instant::now);
            let empty = pending.lock().expect("pending").values().all(Vec::is_empty);
            if empty || since.elapsed() > Duration::from_secs(30) {
                return Ok(());
            }
        }
        let events = match observer.receive(Duration::from_millis(100)).await? {
            Received::Frame(events) => events,
            Received::Quiet => continue,
            Received::Closed => bail!("the server closed the observer's connection"),
        };
        let now = Instant::now();
        for event in events {
            let ClientEvent::Changed(id) = event else {
                continue;
            };
            let mut pending = pending.lock().expect("pending");
            let Some(waiting) = pending.get_mut(&id) else {
                continue;
            };
            let doc = observer.document_mut(&id)?;
            waiting.retain(|(hash, sent, across)| {
                if doc.get_change_by_hash(hash).is_some() {
                    let mut seen = latencies.lock().expect("latencies");
                    let into = if *across {
                        &mut seen.across
                    } else {
                        &mut seen.same
                    };
                    into.push(now - *sent);
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// p50/p95/p99/max of some durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(durations: &mut [Duration]) -> Stats {
        if durations.is_empty() {
            return Stats::default();
        }
        durations.sort();
        let at = |p: f64| {
            let rank = ((p * durations.len() as f64).ceil() as usize).clamp(1, durations.len());
            durations[rank - 1].as_secs_f64() * 1000.0
        };
        Stats {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    fn json(self) -> serde_json::Value {
        serde_json::json!({ "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max })
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.p50, self.p95, self.p99, self.max
        )
    }
}

/// One value from `GET /metrics`, when the server has it.
async fn metric(server: &ServerProcess, name: &str) -> Option<f64> {
    let text = server.get_text("/metrics").await.ok()??;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// memory

/// Adds `count` item documents to the demo campaign, copies of the demo items (with their
/// history) under new keys `900+.p.s`, written in batches.
async fn seed_items(server: &ServerProcess, count: usize) -> Result<()> {
    let storage = rectify_server::storage::open_data_dir(&server.data_dir()).await?;
    let campaign = storage
        .campaigns()
        .await?
        .into_iter()
        .next()
        .context("no demo campaign")?;
    let mut templates = Vec::new();
    for record in storage.items(&campaign.id).await? {
        let doc = rectify_server::campaigns::load_document(storage.as_ref(), &record.id)
            .await?
            .context("a demo item without its document")?;
        templates.push(doc);
    }
    ensure!(!templates.is_empty(), "the demo campaign has no items");
    let now = rectify_server::clock::now_ms();
    let mut batch = Vec::new();
    for n in 0..count {
        let count = templates.len();
        let mut doc = templates[n % count].fork();
        let mut item = ItemDoc::load(&doc)?;
        let (area, problem, sub) = (900 + n / 1000, (n % 1000) / 10 + 1, n % 10 + 1);
        item.key = format!("{area}.{problem}.{sub}");
        item.area_no = u32::try_from(area)?;
        item.problem_no = u32::try_from(problem)?;
        item.sub_no = Some(u32::try_from(sub)?);
        model::update_document(&mut doc, &item, "office", "import", now)?;
        let id = rectify_server::campaigns::new_document_id();
        batch.push(Write::NewDocument {
            id,
            kind: "item".to_owned(),
            created_at_ms: now,
        });
        batch.push(Write::AppendChunk {
            document: id,
            data: doc.save(),
            created_at_ms: now,
            expect_version: None,
        });
        batch.push(Write::Item(rectify_server::campaigns::item_record(
            id,
            campaign.id,
            &item,
            now,
        )));
        if batch.len() >= 3 * 500 {
            storage.write(std::mem::take(&mut batch)).await?;
        }
    }
    storage.write(batch).await?;
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn memory(
    server: &mut ServerProcess,
    documents: usize,
    batch: usize,
    settle_secs: u64,
    refetch: bool,
) -> Result<()> {
    ensure!(batch > 0, "--batch must be at least 1");
    let seeding = Instant::now();
    seed_items(server, documents).await?;
    println!(
        "Seeded {documents} item documents in {:.1} s.",
        seeding.elapsed().as_secs_f64()
    );
    server.start().await?;
    let pid = server.pid().context("not running")?;
    println!("rectify serve (pid {pid}) on {}", server.http_base());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = Memory::of(pid)?;
    let loaded_idle = metric(server, "rectify_documents_loaded").await;

    let token = server.token("office").await?;
    let all: Vec<DocumentId> = server
        .items(&token)
        .await?
        .iter()
        .map(|i| i.id.parse())
        .collect::<Result<_, _>>()?;
    let mut client = SyncTestClient::connect(&server.ws_base(), &token).await?;
    let fetching = Instant::now();
    let mut bytes = 0usize;
    for chunk in all.chunks(batch) {
        bytes += fetch_batch(&mut client, chunk).await?;
    }
    let fetch_time = fetching.elapsed();
    let loaded = Memory::of(pid)?;
    let loaded_docs = metric(server, "rectify_documents_loaded").await;
    client.close().await?;
    let settle_start = Instant::now();
    let settle = Duration::from_secs(settle_secs);
    while settle_start.elapsed() < settle {
        tokio::time::sleep(Duration::from_secs(10).min(settle - settle_start.elapsed())).await;
        if let Some(n) = metric(server, "rectify_documents_loaded").await {
            eprintln!(
                "  {:>3} s after the client left: {n} documents loaded, RSS {:.1} MiB",
                settle_start.elapsed().as_secs(),
                mib(Memory::of(pid)?.rss_kib)
            );
        }
    }
    let after = Memory::of(pid)?;
    let loaded_after = metric(server, "rectify_documents_loaded").await;
    let again = if refetch {
        let mut client = SyncTestClient::connect(&server.ws_base(), &token).await?;
        for chunk in all.chunks(batch) {
            fetch_batch(&mut client, chunk).await?;
        }
        let again = Memory::of(pid)?;
        client.close().await?;
        Some((again, metric(server, "rectify_documents_loaded").await))
    } else {
        None
    };

    println!();
    println!(
        "memory: {} documents readable by the office ({documents} seeded + the demo's), \
         fetched in batches of {batch} in {:.1} s ({:.1} MiB of sync messages)",
        all.len(),
        fetch_time.as_secs_f64(),
        bytes as f64 / 1024.0 / 1024.0
    );
    let settled = format!("{settle_secs} s after disconnect");
    let mut stages = vec![
        ("idle after start", idle, loaded_idle),
        ("all documents sent", loaded, loaded_docs),
        (settled.as_str(), after, loaded_after),
    ];
    if let Some((memory, documents)) = again {
        stages.push(("all sent again", memory, documents));
    }
    for (label, memory, documents) in stages {
        let documents = documents.map_or("?".to_owned(), |n| n.to_string());
        println!(
            "  {label:<26} RSS {:>8.1} MiB  HWM {:>8.1} MiB  documents loaded {documents}",
            mib(memory.rss_kib),
            mib(memory.hwm_kib),
        );
    }
    let stage = |memory: Memory, documents: Option<f64>| {
        serde_json::json!({
            "rss_kib": memory.rss_kib,
            "hwm_kib": memory.hwm_kib,
            "documents_loaded": documents,
        })
    };
    let json = serde_json::json!({
        "mode": "memory",
        "documents": all.len(),
        "seeded": documents,
        "fetch_s": fetch_time.as_secs_f64(),
        "sync_bytes": bytes,
        "settle_s": settle_secs,
        "idle": stage(idle, loaded_idle),
        "loaded": stage(loaded, loaded_docs),
        "after_settle": stage(after, loaded_after),
        "refetched": again.map(|(memory, documents)| stage(memory, documents)),
    });
    println!("{json}");
    Ok(())
}

/// Requests `ids` and syncs each until we hold the server's heads; keeps only this batch in
/// memory. Returns the bytes of sync messages received.
async fn fetch_batch(client: &mut SyncTestClient, ids: &[DocumentId]) -> Result<usize> {
    let me = client.core.peer_id().clone();
    let server = client.server_peer().context("not joined")?;
    let mut docs: HashMap<DocumentId, (AutoCommit, automerge::sync::State)> = HashMap::new();
    let mut frames = Vec::new();
    for &id in ids {
        let mut doc = model::new_automerge();
        let mut state = automerge::sync::State::new();
        let message = doc
            .sync()
            .generate_sync_message(&mut state)
            .context("no first sync message")?;
        frames.push(wire::encode(&Message::Request(SyncData {
            sender_id: me.clone(),
            target_id: server.clone(),
            document_id: id,
            data: message.encode(),
        })));
        docs.insert(id, (doc, state));
    }
    client.send(frames).await?;
    let mut bytes = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !docs.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "{} documents never arrived", docs.len());
        let Some(frame) = client.receive_raw(left).await? else {
            continue;
        };
        bytes += frame.len();
        let data = match wire::decode(&frame)? {
            Message::Sync(data) | Message::Request(data) => data,
            Message::DocUnavailable { document_id, .. } => {
                bail!("the server says {document_id} is unavailable to the office")
            }
            Message::Error { message, .. } => bail!("the server sent an error: {message}"),
            _ => continue,
        };
        let Some((doc, state)) = docs.get_mut(&data.document_id) else {
            continue;
        };
        let message = automerge::sync::Message::decode(&data.data)?;
        let theirs = message.heads.clone();
        doc.sync().receive_sync_message(state, message)?;
        if !theirs.is_empty() && doc.get_heads() == theirs {
            docs.remove(&data.document_id); // complete: let it go
            continue;
        }
        if let Some(reply) = doc.sync().generate_sync_message(state) {
            let frame = wire::encode(&Message::Sync(SyncData {
                sender_id: me.clone(),
                target_id: server.clone(),
                document_id: data.document_id,
                data: reply.encode(),
            }));
            client.send(vec![frame]).await?;
        }
    }
    Ok(bytes)
}
