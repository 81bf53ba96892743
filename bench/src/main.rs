//! `bench`: sync efficiency and capacity of Rectify, side by side with the reference
//! automerge-repo sync server (issue #9). `cargo xtask bench` builds everything in release and
//! runs it; see `bench/RESULTS.md` for the figures and how each is taken.
//!
//! Phases (`--only reconnect,idle,capacity,client,stock,single-doc,scale-out`):
//! 1. `reconnect`: S schools × D documents × K offline edits reconnect at once, against both
//!    servers: time until the office has every edit, bytes each way at byte-counting proxies
//!    and over the floor, messages and round trips, server CPU and peak RSS.
//! 2. `idle`: a school with N documents and nothing new reconnects, against both servers.
//! 3. `capacity`: idle connections held and RSS (both servers); changes per second and
//!    memory with many stored documents (ours, through `sync-load`).
//! 4. `client`: the bundle's size; the time to open a school's 200 documents from IndexedDB
//!    in headless Chromium, offline (`browser.rs`).
//! 5. `stock`: the stock automerge-repo JS clients (2.5.6, `bench/reference/stock-load.mjs`:
//!    C Repos in one Node.js process) drive the throughput workload against both servers —
//!    each client edits its own document (a school's item on ours, the same document imported
//!    on the reference), one change at a time, each waited for until the server's sync
//!    message has heads that include it: changes per second, acknowledgement p50/p99/max and
//!    server CPU per acknowledged change, ours ÷ the reference's (`stock.rs`). A stock client
//!    sends a document's changes at most every 100 ms, so the clients cap the rate near
//!    10 × clients per second for both servers: CPU per change and latency are what compare.
//! 6. `single-doc`: the workload issue #17 measured Hocuspocus 4.7 on — 40 clients, each its
//!    own document, 25 sequential edits (edit, wait for the acknowledgement, next) — on our
//!    server with our Rust client: server CPU per acknowledged edit and acknowledgement
//!    p50/p99, beside Hocuspocus's figures from the issue (fixed numbers, measured elsewhere)
//!    and the target (`single_doc.rs`).
//! 7. `scale-out` (issue #18): phase 3's changes-per-second load on 1, 2 and 3 `rectify serve`
//!    replicas sharing one PostgreSQL database (`sync-load throughput --replicas N`): changes
//!    per second, acknowledgement and delivery to the office on the last replica, apart for
//!    changes sent to its replica and to another, and the reconnects of writes that lost the
//!    race with another replica's sixteen times in a row; then `replica-latency`: delivery
//!    across two replicas one change at a time, judged against the target (p99 under
//!    150 ms, at most twice one server's). On 2 cores the replicas share the CPU with the
//!    clients.
//!
//! Every phase is bounded by a timeout; a failed phase is reported and the others still run.

mod browser;
mod bundle;
mod capacity;
mod client;
mod latency;
mod procfs;
mod reconnect;
mod reference;
mod results;
mod setup;
mod single_doc;
mod stock;
mod table;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use reconnect::{Kind, Target};
use reference::ReferenceServer;
use results::{Params, Results, RunInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Reconnect,
    Idle,
    Capacity,
    Client,
    Stock,
    SingleDoc,
    /// Issue #18: `sync-load throughput` with 1, 2 and 3 replicas on one PostgreSQL database.
    ScaleOut,
}

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Sync efficiency and capacity, side by side with automerge-repo (issue #9)"
)]
struct Cli {
    /// Phases to run (default: all), e.g. `--only reconnect,idle`.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Phase>,
    /// Shrink every size for a quick check (explicit sizes still win).
    #[arg(long)]
    quick: bool,
    /// Phase 1: schools (100; quick 10).
    #[arg(long)]
    schools: Option<usize>,
    /// Phase 1: documents per school (6; quick 3).
    #[arg(long)]
    docs: Option<usize>,
    /// Phase 1: offline edits per document (20; quick 5).
    #[arg(long)]
    edits: Option<usize>,
    /// Phase 2: the school's documents (60; quick 20).
    #[arg(long)]
    idle_docs: Option<usize>,
    /// Phase 2: the office's documents for its idle reconnect (5000; quick 500).
    #[arg(long)]
    idle_office_docs: Option<usize>,
    /// Phase 3: idle connection levels (1000,10000; quick 200,1000).
    #[arg(long, value_delimiter = ',')]
    connections: Vec<usize>,
    /// Phase 3: skip the reference server's idle connections.
    #[arg(long)]
    no_reference_connections: bool,
    /// Phase 3: sync-load throughput clients (50; quick 10) …
    #[arg(long)]
    load_clients: Option<usize>,
    /// … and changes per client (40; quick 10).
    #[arg(long)]
    load_changes: Option<usize>,
    /// Phase 7: changes timed one at a time across two replicas (200; quick 50).
    #[arg(long)]
    moderate_changes: Option<usize>,
    /// Phase 3: stored documents for the memory figure (100000; quick 2000) …
    #[arg(long)]
    stored_docs: Option<usize>,
    /// … and how many of them a client fetches (5000; quick 500).
    #[arg(long)]
    stored_subset: Option<usize>,
    /// The `rectify` binary (release); by default next to this one.
    #[arg(long)]
    rectify: Option<PathBuf>,
    /// The `sync-load` binary (release); by default next to this one.
    #[arg(long)]
    sync_load: Option<PathBuf>,
    /// The `replica-latency` binary (release); by default next to this one.
    #[arg(long)]
    replica_latency: Option<PathBuf>,
    /// The reference server's directory (server.mjs, node_modules).
    #[arg(long)]
    reference_dir: Option<PathBuf>,
    /// The built client bundle (`cargo xtask build`).
    #[arg(long)]
    web_dir: Option<PathBuf>,
    /// Phase 4: the school's documents opened from IndexedDB (200, at most 200; quick 50) …
    #[arg(long)]
    open_docs: Option<usize>,
    /// … and the offline reloads measured (7; quick 3).
    #[arg(long)]
    open_reloads: Option<usize>,
    /// Phase 5: stock automerge-repo clients, each its own document (50; quick 10) …
    #[arg(long)]
    stock_clients: Option<usize>,
    /// … and changes per client, each acknowledged before the next (40; quick 10).
    #[arg(long)]
    stock_changes: Option<usize>,
    /// Phase 6: clients, each its own document (40; quick 10) …
    #[arg(long)]
    single_doc_clients: Option<usize>,
    /// … and sequential edits per client (25; quick 10).
    #[arg(long)]
    single_doc_edits: Option<usize>,
    /// Write the results as Markdown here (e.g. bench/RESULTS.md).
    #[arg(long)]
    results: Option<PathBuf>,
    /// A command that prepared this run, for RESULTS.md (repeat it; the bench adds its own).
    #[arg(long = "ran")]
    ran: Vec<String>,
    /// Skip the reference server in phases 1, 2 and 5 (and 3).
    #[arg(long)]
    no_reference: bool,
    /// Skip our server in phases 1, 2 and 5 (to look at the reference alone).
    #[arg(long)]
    no_ours: bool,
    /// Phase 1: runs against each server (fresh data each time); the table shows the run with
    /// the median convergence time, and every run's time and CPU (3; quick 1).
    #[arg(long)]
    repeat: Option<usize>,
    /// Phase 1 against each server fails after this many seconds.
    #[arg(long, default_value_t = 300)]
    reconnect_timeout_secs: u64,
}

/// The workspace root (the parent of `bench/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench lives in the workspace")
        .to_owned()
}

fn next_to_me(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

struct Run {
    cli: Cli,
    params: Params,
    rectify: PathBuf,
    notes: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn pick(explicit: Option<usize>, quick: bool, quick_value: usize, default: usize) -> usize {
    explicit.unwrap_or(if quick { quick_value } else { default })
}

/// Runs the phases; `Ok(false)` when one failed (the results are still written).
async fn run(cli: Cli) -> Result<bool> {
    let started = Instant::now();
    let open_files = procfs::raise_open_files_limit()?;
    eprintln!(
        "bench: open files limit {} (hard {})",
        open_files.0, open_files.1
    );
    let q = cli.quick;
    let connection_levels = if cli.connections.is_empty() {
        if q {
            vec![200, 1000]
        } else {
            vec![1000, 10_000]
        }
    } else {
        cli.connections.clone()
    };
    let max_level = connection_levels.iter().copied().max().unwrap_or(0);
    let params = Params {
        schools: pick(cli.schools, q, 10, 100),
        docs: pick(cli.docs, q, 3, 6),
        edits: pick(cli.edits, q, 5, 20),
        repeat: pick(cli.repeat, q, 1, 3),
        idle_docs: pick(cli.idle_docs, q, 20, 60),
        idle_office_docs: pick(cli.idle_office_docs, q, 500, 5000),
        connection_accounts: max_level.div_ceil(10).max(1),
        max_connections_flag: (max_level + 1000).max(2000),
        connection_levels,
        load_clients: pick(cli.load_clients, q, 10, 50),
        load_changes: pick(cli.load_changes, q, 10, 40),
        moderate_changes: pick(cli.moderate_changes, q, 50, 200),
        stored_docs: pick(cli.stored_docs, q, 2000, 100_000),
        stored_subset: pick(cli.stored_subset, q, 500, 5000),
        open_docs: pick(cli.open_docs, q, 50, 200),
        open_reloads: pick(cli.open_reloads, q, 3, 7),
        stock_clients: pick(cli.stock_clients, q, 10, 50),
        stock_changes: pick(cli.stock_changes, q, 10, 40),
        single_doc_clients: pick(cli.single_doc_clients, q, 10, 40),
        single_doc_edits: pick(cli.single_doc_edits, q, 10, 25),
    };
    let rectify = cli.rectify.clone().unwrap_or_else(|| next_to_me("rectify"));
    anyhow::ensure!(
        rectify.is_file(),
        "{} is missing: build it with `cargo build --release -p rectify` or pass --rectify",
        rectify.display()
    );
    let phases: Vec<Phase> = if cli.only.is_empty() {
        vec![
            Phase::Reconnect,
            Phase::Idle,
            Phase::Capacity,
            Phase::Client,
            Phase::Stock,
            Phase::SingleDoc,
            Phase::ScaleOut,
        ]
    } else {
        cli.only.clone()
    };
    let mut results = Results {
        params: params.clone(),
        ..Results::default()
    };
    let mut run = Run {
        cli,
        params,
        rectify,
        notes: Vec::new(),
    };
    for phase in phases {
        let t = Instant::now();
        eprintln!("\n==> phase {phase:?}");
        match phase {
            Phase::Reconnect => phase_reconnect(&mut run, &mut results).await,
            Phase::Idle => phase_idle(&mut run, &mut results).await,
            Phase::Capacity => phase_capacity(&mut run, &mut results).await,
            Phase::Client => phase_client(&run, &mut results).await,
            Phase::Stock => phase_stock(&run, &mut results).await,
            Phase::SingleDoc => phase_single_doc(&run, &mut results).await,
            Phase::ScaleOut => phase_scale_out(&run, &mut results).await,
        }
        eprintln!(
            "    phase {phase:?} took {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    let lines = results.lines();
    println!("\n{}", table::plain(&lines));
    for (what, figure, met) in results.targets() {
        let mark = match met {
            Some(true) => "MET    ",
            Some(false) => "NOT MET",
            None => "?      ",
        };
        println!("  {mark} {what}: {figure}");
    }
    for failure in &results.failures {
        println!("  FAILED {failure}");
    }
    let took = started.elapsed().as_secs_f64();
    println!("\nbench: {:.1} minutes", took / 60.0);
    if let Some(path) = &run.cli.results {
        let mut commands = run.cli.ran.clone();
        commands.push(own_command_line());
        let info = RunInfo {
            machine: procfs::Machine::describe(),
            date: utc_now(),
            commands,
            took_s: took,
            quick: run.cli.quick,
            open_files,
            notes: run.notes.clone(),
        };
        std::fs::write(path, results::document(&results, &info))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("bench: wrote {}", path.display());
    }
    Ok(results.failures.is_empty())
}

/// This process's command line as one could type it again, without the `--ran` notes.
fn own_command_line() -> String {
    let mut args: Vec<String> = Vec::new();
    let mut all = std::env::args();
    while let Some(arg) = all.next() {
        if arg == "--ran" {
            all.next();
        } else if !arg.starts_with("--ran=") {
            args.push(if arg.contains(' ') {
                format!("'{arg}'")
            } else {
                arg
            });
        }
    }
    if let Some(first) = args.first_mut()
        && let Ok(root) = workspace_root().canonicalize()
        && let Some(rel) = Path::new(first.as_str())
            .canonicalize()
            .ok()
            .and_then(|p| p.strip_prefix(&root).ok().map(Path::to_path_buf))
    {
        *first = rel.display().to_string();
    }
    args.join(" ")
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let ms = rectify_server::clock::now_ms();
    let date = rectify_shared::date::Date::from_unix_millis(ms);
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!("{date} {:02}:{:02} UTC", minutes / 60, minutes % 60)
}

/// A run bounded by `limit`, with what to call it in a failure.
async fn bounded<T>(what: &str, limit: Duration, f: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(result) => result.with_context(|| what.to_owned()),
        Err(_) => bail!("{what}: timed out after {} s", limit.as_secs()),
    }
}

/// `GET /metrics` of our server, as name → value (unlabelled series only).
async fn server_metrics(port: u16) -> BTreeMap<String, f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await?;
        anyhow::Ok(body)
    };
    let Ok(Ok(text)) = tokio::time::timeout(Duration::from_secs(5), fetch).await else {
        return BTreeMap::new();
    };
    parse_metrics(&text)
}

fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("rectify_") && !l.contains('{'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

async fn phase_reconnect(run: &mut Run, results: &mut Results) {
    let p = run.params.clone();
    let repeat = p.repeat.max(1);
    let mut ours_runs = Vec::new();
    let mut reference_runs = Vec::new();
    for rep in 1..=repeat {
        let t = Instant::now();
        eprintln!(
            "  run {rep} of {repeat}: preparing {} schools × {} documents × {} offline edits",
            p.schools, p.docs, p.edits
        );
        let prepared = bounded(
            "reconnect: preparing the data",
            Duration::from_secs(300),
            setup::prepare(run.rectify.clone(), p.schools, p.docs, p.edits),
        )
        .await;
        let (server, fixture) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                results.failures.push(format!("{err:#}"));
                return;
            }
        };
        eprintln!(
            "  prepared in {:.1} s; floor {} bytes",
            t.elapsed().as_secs_f64(),
            fixture.floor_bytes()
        );
        // Alternate which server goes first, so that a drift in the machine's load does not
        // always favour the same one.
        let ours_first = rep % 2 == 1;
        let mut server = Some(server);
        for turn in 0..2 {
            if (turn == 0) == ours_first {
                if let Some(server) = server.take()
                    && !run.cli.no_ours
                {
                    match reconnect_ours(run, server, &fixture).await {
                        Ok(r) => ours_runs.push(r),
                        Err(err) => results.failures.push(format!("{err:#}")),
                    }
                }
            } else if !run.cli.no_reference {
                match reconnect_reference(run, &fixture).await {
                    Ok(r) => reference_runs.push(r),
                    Err(err) => results.failures.push(format!("{err:#}")),
                }
            }
        }
    }
    results.reconnect_runs_ours = ours_runs.iter().map(|(r, _)| r.clone()).collect();
    results.reconnect_runs_reference = reference_runs.clone();
    if let Some((r, metrics)) = median_run(ours_runs, |(r, _)| r.converged) {
        results.reconnect_ours = Some(r);
        results.reconnect_metrics = metrics;
    }
    results.reconnect_reference = median_run(reference_runs, |r| r.converged);
}

/// The run in the middle by `key` (the lower middle for an even count).
fn median_run<T>(mut runs: Vec<T>, key: impl Fn(&T) -> Duration) -> Option<T> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by_key(&key);
    let middle = (runs.len() - 1) / 2;
    Some(runs.swap_remove(middle))
}

/// Phase 1 on our server (started here on the prepared data, stopped after), with what its
/// `/metrics` counted during the reconnect.
async fn reconnect_ours(
    run: &Run,
    mut server: rectify_tests::ServerProcess,
    fixture: &setup::Fixture,
) -> Result<(reconnect::Reconnect, BTreeMap<String, f64>)> {
    let limit = Duration::from_secs(run.cli.reconnect_timeout_secs);
    let ours = async {
        server.start().await?;
        let target = Target::new(Kind::Ours, server.port(), server.pid().unwrap_or(0));
        let before = server_metrics(server.port()).await;
        let result = reconnect::reconnect(target, fixture, limit).await;
        let after = server_metrics(server.port()).await;
        let delta: BTreeMap<String, f64> = after
            .iter()
            .filter_map(|(k, v)| {
                let d = v - before.get(k).copied().unwrap_or(0.0);
                (d != 0.0).then(|| (k.clone(), (d * 1000.0).round() / 1000.0))
            })
            .collect();
        result.map(|r| (r, delta))
    };
    let result = bounded("reconnect (Rectify)", limit + Duration::from_secs(30), ours)
        .await
        .map_err(|err| err.context(format!("server log:\n{}", server.log_tail())));
    let _ = server.terminate(Duration::from_secs(20)).await;
    result
}

/// Phase 1 on a fresh reference server.
async fn reconnect_reference(run: &Run, fixture: &setup::Fixture) -> Result<reconnect::Reconnect> {
    let limit = Duration::from_secs(run.cli.reconnect_timeout_secs);
    let reference_dir = reference_dir(run);
    let theirs = async {
        let mut reference = ReferenceServer::start(&reference_dir).await?;
        let target = Target::new(Kind::Reference, reference.port(), reference.pid());
        let result = reconnect::reconnect(target, fixture, limit)
            .await
            .with_context(|| format!("reference log:\n{}", reference.log_tail()));
        let stopped = reference.stop().await;
        let result = result?;
        stopped?;
        anyhow::Ok(result)
    };
    bounded(
        "reconnect (reference)",
        limit + Duration::from_secs(30),
        theirs,
    )
    .await
}

fn reference_dir(run: &Run) -> PathBuf {
    run.cli
        .reference_dir
        .clone()
        .unwrap_or_else(|| workspace_root().join("bench/reference"))
}

async fn phase_idle(run: &mut Run, results: &mut Results) {
    let docs = run.params.idle_docs;
    let limit = Duration::from_secs(120);
    let prepared = bounded(
        "idle: preparing the data",
        limit,
        setup::prepare(run.rectify.clone(), 1, docs, 0),
    )
    .await;
    let (mut server, fixture) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => {
            results.failures.push(format!("{err:#}"));
            return;
        }
    };
    if !run.cli.no_ours {
        let ours = async {
            server.start().await?;
            let target = Target::new(Kind::Ours, server.port(), server.pid().unwrap_or(0));
            reconnect::idle(target, &fixture, limit).await
        };
        match bounded("idle (Rectify)", limit, ours).await {
            Ok(r) => {
                if !r.by_heads {
                    run.notes.push(
                        "Idle reconnect (Rectify): the client never saw the server's heads for \
                         every document; up to date was decided by 2 s of silence."
                            .to_owned(),
                    );
                }
                results.idle_ours = Some(r);
            }
            Err(err) => results
                .failures
                .push(format!("{err:#}\nserver log:\n{}", server.log_tail())),
        }
        let _ = server.terminate(Duration::from_secs(20)).await;
    }
    drop(server);
    if !run.cli.no_ours {
        phase_idle_office(run, results).await;
    }
    if run.cli.no_reference {
        return;
    }
    let reference_dir = reference_dir(run);
    let theirs = async {
        let mut reference = ReferenceServer::start(&reference_dir).await?;
        let target = Target::new(Kind::Reference, reference.port(), reference.pid());
        let result = reconnect::idle(target, &fixture, limit).await;
        let _ = reference.stop().await;
        result
    };
    match bounded("idle (reference)", limit, theirs).await {
        Ok(r) => {
            if !r.by_heads {
                run.notes.push(
                    "Idle reconnect (reference): the client never saw the server's heads for \
                     every document; up to date was decided by 2 s of silence."
                        .to_owned(),
                );
            }
            results.idle_reference = Some(r);
        }
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

/// The office's idle reconnect with many documents (ours only: the reference has no accounts).
async fn phase_idle_office(run: &mut Run, results: &mut Results) {
    let docs = run.params.idle_office_docs;
    let limit = Duration::from_secs(600);
    let measured = async {
        let (mut server, fixture) = setup::prepare(run.rectify.clone(), 1, docs, 0).await?;
        server.start().await?;
        let ids = setup::readable_by(&server, &fixture.office_token).await?;
        let target = Target::new(Kind::Ours, server.port(), server.pid().unwrap_or(0));
        let result = reconnect::idle_office(target, &fixture, &ids, limit).await;
        let _ = server.terminate(Duration::from_secs(20)).await;
        result
    };
    match bounded("idle (the office, Rectify)", limit, measured).await {
        Ok(r) => results.idle_office = Some(r),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

async fn phase_client(run: &Run, results: &mut Results) {
    let web = run
        .cli
        .web_dir
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/web"));
    match bundle::measure(&web) {
        Ok(b) => results.bundle = Some(b),
        Err(err) => results.failures.push(format!("client: {err:#}")),
    }
    let (docs, reloads) = (run.params.open_docs, run.params.open_reloads);
    eprintln!(
        "  opening a school's {docs} documents from IndexedDB in headless Chromium, \
         {reloads} offline reloads"
    );
    match bounded(
        &format!("client: opening {docs} documents from IndexedDB in headless Chromium"),
        Duration::from_secs(600),
        browser::open_from_device(&web, docs, reloads),
    )
    .await
    {
        Ok(open) => results.open_from_device = Some(open),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

async fn phase_capacity(run: &mut Run, results: &mut Results) {
    let p = run.params.clone();
    // Idle connections, ours.
    let ours = async {
        let mut server = rectify_tests::ServerProcess::prepare(run.rectify.clone()).await?;
        let storage = rectify_server::storage::open_data_dir(&server.data_dir()).await?;
        let accounts = setup::unit_accounts(storage.as_ref(), "idle", p.connection_accounts).await;
        storage.close().await;
        drop(storage);
        let tokens: Vec<String> = accounts?.into_iter().map(|(_, _, t)| t).collect();
        server.set_serve_args(vec![
            "--max-connections".to_owned(),
            p.max_connections_flag.to_string(),
        ]);
        server.start().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!("  Rectify: idle connections over {} accounts", tokens.len());
        let result = capacity::idle_connections(
            &server.ws_base(),
            server.pid().unwrap_or(0),
            &tokens,
            &p.connection_levels,
            Duration::from_secs(240),
        )
        .await;
        let _ = server.terminate(Duration::from_secs(30)).await;
        result
    };
    match bounded(
        "capacity: idle connections (Rectify)",
        Duration::from_secs(300),
        ours,
    )
    .await
    {
        Ok(c) => results.connections_ours = Some(c),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
    if !run.cli.no_reference_connections && !run.cli.no_reference {
        let reference_dir = reference_dir(run);
        let theirs = async {
            let mut reference = ReferenceServer::start(&reference_dir).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprintln!("  reference: idle connections");
            let result = capacity::idle_connections(
                &reference.ws_base(),
                reference.pid(),
                &["reference".to_owned()],
                &p.connection_levels,
                Duration::from_secs(240),
            )
            .await;
            let _ = reference.stop().await;
            result
        };
        match bounded(
            "capacity: idle connections (reference)",
            Duration::from_secs(300),
            theirs,
        )
        .await
        {
            Ok(c) => results.connections_reference = Some(c),
            Err(err) => results.failures.push(format!("{err:#}")),
        }
    }

    let sync_load = run
        .cli
        .sync_load
        .clone()
        .unwrap_or_else(|| next_to_me("sync-load"));
    eprintln!("  Rectify: applied changes per second (sync-load throughput)");
    let args = throughput_args(&p, None);
    match capacity::sync_load(&sync_load, &run.rectify, &args, Duration::from_secs(240)).await {
        Ok(json) => results.throughput = Some(json),
        Err(err) => results
            .failures
            .push(format!("capacity: sync-load throughput: {err:#}")),
    }
    eprintln!(
        "  Rectify: memory with {} stored documents, {} of them fetched",
        p.stored_docs, p.stored_subset
    );
    match bounded(
        "capacity: stored documents",
        Duration::from_secs(300),
        capacity::stored_documents(&run.rectify, p.stored_docs, p.stored_subset),
    )
    .await
    {
        Ok(stored) => results.stored = Some(stored),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

/// Phase 7: the capacity phase's applied-changes load on 1, 2 and 3 replicas sharing one
/// PostgreSQL database (`sync-load throughput --replicas N`; the database is the test
/// server's, as `cargo xtask bench` provides it). The clients are spread over the replicas and
/// the office watches on the last, so delivery across replicas is timed apart.
async fn phase_scale_out(run: &Run, results: &mut Results) {
    let p = &run.params;
    let sync_load = run
        .cli
        .sync_load
        .clone()
        .unwrap_or_else(|| next_to_me("sync-load"));
    for replicas in 1..=3usize {
        eprintln!("  Rectify: applied changes per second, {replicas} replica(s) on PostgreSQL");
        let args = throughput_args(p, Some(replicas));
        match capacity::sync_load(&sync_load, &run.rectify, &args, Duration::from_secs(240)).await {
            Ok(json) => results.scale_out.push((replicas, json)),
            Err(err) => results
                .failures
                .push(format!("scale-out: {replicas} replica(s): {err:#}")),
        }
    }
    // The load above saturates the two cores, so its delivery times are mostly queueing;
    // one change at a time shows the fan-out's own latency.
    eprintln!("  Rectify: delivery across two replicas at a moderate rate (replica-latency)");
    let replica_latency = run
        .cli
        .replica_latency
        .clone()
        .unwrap_or_else(|| next_to_me("replica-latency"));
    let args = vec![
        "--changes".to_owned(),
        p.moderate_changes.to_string(),
        "--json".to_owned(),
    ];
    match capacity::tool_json(
        "replica-latency",
        &replica_latency,
        &run.rectify,
        &args,
        Duration::from_secs(300),
    )
    .await
    {
        Ok(json) => results.scale_out_moderate = Some(json),
        Err(err) => results
            .failures
            .push(format!("scale-out: moderate rate: {err:#}")),
    }
}

/// `sync-load throughput` with phase 3's load, on one SQLite server (`None`) or on
/// `replicas` sharing PostgreSQL.
fn throughput_args(p: &Params, replicas: Option<usize>) -> Vec<String> {
    let mut args = vec!["throughput".to_owned()];
    if let Some(replicas) = replicas {
        args.extend(["--replicas".to_owned(), replicas.to_string()]);
    }
    args.extend([
        "--clients".to_owned(),
        p.load_clients.to_string(),
        "--changes-per-client".to_owned(),
        p.load_changes.to_string(),
    ]);
    args
}

/// Phase 5: the stock JS clients, first on our server, then on the reference.
async fn phase_stock(run: &Run, results: &mut Results) {
    let (clients, changes) = (run.params.stock_clients, run.params.stock_changes);
    // The driver's own timeout; every change is waited for at most 30 s.
    let limit = Duration::from_secs(240);
    let prepared = bounded(
        "stock: preparing the data",
        Duration::from_secs(300),
        setup::prepare(run.rectify.clone(), clients, 1, 0),
    )
    .await;
    let (mut server, fixture) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => {
            results.failures.push(format!("{err:#}"));
            return;
        }
    };
    let dir = reference_dir(run);
    if !run.cli.no_ours {
        eprintln!("  Rectify: {clients} stock clients × {changes} changes");
        let ours = async {
            server.start().await?;
            let pid = server.pid().context("not running")?;
            let metric = "rectify_sync_changes_applied_total";
            let before = server_metrics(server.port()).await.get(metric).copied();
            let mut r =
                stock::drive(&dir, &server.ws_base(), pid, &fixture, true, changes, limit).await?;
            let after = server_metrics(server.port()).await.get(metric).copied();
            r.applied_metric = before.zip(after).map(|(b, a)| a - b);
            anyhow::Ok(r)
        };
        match bounded("stock (Rectify)", limit + Duration::from_secs(120), ours).await {
            Ok(r) => results.stock_ours = Some(r),
            Err(err) => results
                .failures
                .push(format!("{err:#}\nserver log:\n{}", server.log_tail())),
        }
        let _ = server.terminate(Duration::from_secs(20)).await;
    }
    drop(server);
    if run.cli.no_reference {
        return;
    }
    eprintln!("  reference: {clients} stock clients × {changes} changes");
    let theirs = async {
        let mut reference = ReferenceServer::start(&dir).await?;
        let result = stock::drive(
            &dir,
            &reference.ws_base(),
            reference.pid(),
            &fixture,
            false,
            changes,
            limit,
        )
        .await
        .with_context(|| format!("reference log:\n{}", reference.log_tail()));
        let _ = reference.stop().await;
        result
    };
    match bounded(
        "stock (reference)",
        limit + Duration::from_secs(120),
        theirs,
    )
    .await
    {
        Ok(r) => results.stock_reference = Some(r),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

/// Phase 6: the Hocuspocus-shaped workload on our server.
async fn phase_single_doc(run: &Run, results: &mut Results) {
    let (clients, edits) = (run.params.single_doc_clients, run.params.single_doc_edits);
    eprintln!("  Rectify: {clients} clients, each its own document, {edits} sequential edits");
    match bounded(
        "single-doc (Rectify)",
        Duration::from_secs(300),
        single_doc::run(run.rectify.clone(), clients, edits),
    )
    .await
    {
        Ok(r) => results.single_doc = Some(r),
        Err(err) => results.failures.push(format!("{err:#}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_lines_without_labels() {
        let text = "HTTP/1.0 200 OK\r\n\r\n# HELP x\nrectify_sync_changes_applied_total 12\n\
                    rectify_sync_latency_seconds_bucket{le=\"0.1\"} 3\nrectify_documents_loaded 7\n";
        let m = super::parse_metrics(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m["rectify_sync_changes_applied_total"], 12.0);
    }

    #[test]
    fn explicit_sizes_win_over_quick() {
        assert_eq!(super::pick(Some(7), true, 10, 100), 7);
        assert_eq!(super::pick(None, true, 10, 100), 10);
        assert_eq!(super::pick(None, false, 10, 100), 100);
    }
}
