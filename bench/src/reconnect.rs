//! Phases 1 and 2: schools reconnecting after offline work, and a school reconnecting with
//! nothing new, against either server, driven by the same clients.

use crate::client::{BenchClient, RoundTrips, Traffic, check_events};
use crate::procfs::CpuTicks;
use crate::setup::{Fixture, School};
use anyhow::{Context, Result, bail, ensure};
use automerge::ChangeHash;
use rectify_shared::ids::DocumentId;
use rectify_shared::sync::client::{ClientEvent, SyncClient};
use rectify_shared::sync::wire::PeerId;
use rectify_tests::SyncTestClient;
use rectify_tests::process::Memory;
use rectify_tests::proxy::CutProxy;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client is done when it is in sync and nothing came for this long.
pub const QUIET: Duration = Duration::from_millis(300);
/// A client whose server never says it has our heads (the reference does not answer a sync
/// message when it has nothing to send) calls itself up to date after this much silence.
pub const SILENCE: Duration = Duration::from_secs(2);
/// Once every school is done, the office gets this long to receive what is still missing.
const AFTER_SCHOOLS: Duration = Duration::from_secs(30);
/// Each document fetched or acknowledged during the setup within this.
const SETUP_LIMIT: Duration = Duration::from_secs(60);
/// Clients set up at once.
const SETUP_CONCURRENCY: usize = 25;

/// Which server the clients talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `rectify serve`: the documents are on the server; the clients fetch them.
    Ours,
    /// The automerge-repo server: it starts empty; the schools put their documents on it.
    Reference,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "Rectify",
            Kind::Reference => "reference",
        }
    }
}

/// A running server: where it listens and its process.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Target {
    pub fn new(kind: Kind, port: u16, pid: u32) -> Target {
        Target {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid,
        }
    }

    fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

fn proxy_base(proxy: &CutProxy) -> String {
    format!("ws://{}", proxy.addr)
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// The core of a set-up client, disconnected (its sync states keep only what survives a
/// connection, as in a real client's storage).
fn take_core(mut client: SyncTestClient) -> SyncClient {
    client.disconnect();
    std::mem::replace(
        &mut client.core,
        SyncClient::new(PeerId::new("spent"), None),
    )
}

/// Connects each school directly and gives it its documents: fetched from our server, or put
/// on the reference server (each acknowledged).
async fn setup_schools(target: Target, schools: &[School]) -> Result<Vec<SyncTestClient>> {
    let base = target.ws_base();
    let gate = Arc::new(tokio::sync::Semaphore::new(SETUP_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (n, school) in schools.iter().cloned().enumerate() {
        let (base, gate) = (base.clone(), Arc::clone(&gate));
        set.spawn(async move {
            let _permit = gate.acquire().await?;
            let mut client = SyncTestClient::connect(&base, &school.token).await?;
            match target.kind {
                Kind::Ours => {
                    for doc in &school.docs {
                        client.fetch(doc.id, SETUP_LIMIT).await?;
                    }
                }
                Kind::Reference => {
                    for doc in &school.docs {
                        let am = rectify_shared::model::load_automerge(&doc.base)?;
                        client.core.add_document(doc.id, am);
                    }
                    for doc in &school.docs {
                        client.sync_until_acknowledged(&doc.id, SETUP_LIMIT).await?;
                    }
                }
            }
            anyhow::Ok((n, client))
        });
    }
    let mut clients = Vec::new();
    while let Some(joined) = set.join_next().await {
        clients.push(joined?.context("setting up a school")?);
    }
    clients.sort_by_key(|(n, _)| *n);
    Ok(clients.into_iter().map(|(_, c)| c).collect())
}

/// The office, through `proxy`, with every document: fetched with a `SyncTestClient`, then
/// moved to a counting client that has reconnected and is in sync.
async fn setup_office(proxy: &CutProxy, token: &str, ids: &[DocumentId]) -> Result<BenchClient> {
    let base = proxy_base(proxy);
    let mut office = SyncTestClient::connect(&base, token).await?;
    // Ask for every document at once (one request after the other is slow: the test client
    // leaves Nagle's algorithm on), then make sure each arrived.
    for id in ids {
        office.core.open_document(*id);
    }
    for id in ids {
        office
            .fetch(*id, SETUP_LIMIT)
            .await
            .with_context(|| format!("the office fetching {id}"))?;
    }
    let mut office = BenchClient::connect(&base, token, take_core(office)).await?;
    office
        .drive(
            |c| c.in_sync_or_silent(SILENCE).is_some(),
            QUIET,
            Instant::now() + SETUP_LIMIT,
        )
        .await
        .context("the office reconnecting before the measurement")?;
    office.traffic = Traffic::default();
    office.rounds = RoundTrips::default();
    Ok(office)
}

/// What phase 1 measured on one server.
#[derive(Debug, Clone)]
pub struct Reconnect {
    /// From the reconnect until the office has every edit.
    pub converged: Duration,
    /// From the reconnect until the last school knew the server had all its changes.
    pub schools_synced: Duration,
    /// Schools → server and server → schools, at the proxy (WebSocket upgrade included).
    pub up: u64,
    pub down: u64,
    /// Server → office and office → server during the phase, at its proxy.
    pub office_down: u64,
    pub office_up: u64,
    /// The new changes as one bundle per document, summed.
    pub floor: u64,
    /// `save_after(heads before)` per document, summed: the changes one by one, uncompressed.
    pub save_after: u64,
    /// Every document saved whole after the edits, summed.
    pub full_save: u64,
    pub schools_traffic: Traffic,
    pub office_traffic: Traffic,
    /// Each school's round trips (critical path), and over every document.
    pub round_trips: Vec<u32>,
    pub round_trips_total: Vec<u32>,
    pub cpu_s: f64,
    /// The part of it until the office had every edit.
    pub cpu_until_converged_s: f64,
    /// RSS just before the reconnect (after the setup).
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_end_kib: u64,
}

impl Reconnect {
    pub fn round_trips_max(&self) -> u32 {
        self.round_trips.iter().copied().max().unwrap_or(0)
    }

    pub fn round_trips_median(&self) -> u32 {
        let mut all = self.round_trips.clone();
        all.sort_unstable();
        all.get(all.len() / 2).copied().unwrap_or(0)
    }
}

/// Phase 1 on one server: the clients' setup, then the measured reconnect.
pub async fn reconnect(target: Target, fixture: &Fixture, limit: Duration) -> Result<Reconnect> {
    let deadline = Instant::now() + limit;
    let ids: Vec<DocumentId> = fixture
        .schools
        .iter()
        .flat_map(|s| s.docs.iter().map(|d| d.id))
        .collect();
    let started = Instant::now();
    let clients = setup_schools(target, &fixture.schools).await?;
    eprintln!(
        "  {}: {} schools have their {} documents ({:.1} s)",
        target.kind.name(),
        fixture.schools.len(),
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    let office_proxy = CutProxy::start(target.addr, Vec::new()).await?;
    let started = Instant::now();
    let office = setup_office(&office_proxy, &fixture.office_token, &ids).await?;
    eprintln!(
        "  {}: the office has all {} documents ({:.1} s)",
        target.kind.name(),
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // Offline: every school drops its connection and makes its edits.
    let mut cores = Vec::new();
    for (client, school) in clients.into_iter().zip(&fixture.schools) {
        let mut core = take_core(client);
        for doc in &school.docs {
            let am = core
                .document_mut(&doc.id)
                .with_context(|| format!("{} lost {}", school.username, doc.id))?;
            if !doc.changes.is_empty() {
                am.load_incremental(&doc.changes)?;
            }
            ensure!(
                sorted(am.get_heads()) == sorted(doc.new_heads.clone()),
                "{}'s copy of {} is not the fixture's",
                school.username,
                doc.id
            );
        }
        cores.push(core);
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the server sees them go

    let school_proxy = CutProxy::start(target.addr, Vec::new()).await?;
    let expected: HashMap<DocumentId, Vec<ChangeHash>> = fixture
        .schools
        .iter()
        .flat_map(|s| &s.docs)
        .map(|d| (d.id, sorted(d.new_heads.clone())))
        .collect();
    let cpu_before = CpuTicks::of(target.pid)?;
    let memory_before = Memory::of(target.pid)?;
    let (office_up0, office_down0) = (office_proxy.up(), office_proxy.down());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let office_task = tokio::spawn(watch_office(
        office, expected, stopped, deadline, target.pid,
    ));

    eprintln!(
        "  {}: {} schools reconnect at once, each with {} offline edits to each of its documents",
        target.kind.name(),
        fixture.schools.len(),
        fixture.edits,
    );
    let perf = start_perf(target);
    let t0 = Instant::now();
    let base = proxy_base(&school_proxy);
    let mut set = tokio::task::JoinSet::new();
    for (n, (core, school)) in cores.into_iter().zip(&fixture.schools).enumerate() {
        let (base, token) = (base.clone(), school.token.clone());
        set.spawn(async move {
            let run = async {
                let mut client = BenchClient::connect(&base, &token, core).await?;
                // Both servers answer changes with their new heads; waiting for silence
                // instead would let a school leave a busy server in the middle of a sync.
                let at = client
                    .drive(BenchClient::all_in_sync, QUIET, deadline)
                    .await?;
                anyhow::Ok((at, client.traffic, client.rounds))
            };
            (n, run.await)
        });
    }
    let mut schools_traffic = Traffic::default();
    let mut round_trips = Vec::new();
    let mut round_trips_total = Vec::new();
    let mut last_synced = t0;
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (n, outcome) = joined?;
        match outcome {
            Ok((at, traffic, rounds)) => {
                last_synced = last_synced.max(at);
                schools_traffic.add(&traffic);
                round_trips.push(rounds.critical_path());
                round_trips_total.push(rounds.total());
            }
            Err(err) => failures.push(format!("school {n}: {err:#}")),
        }
    }
    let _ = stop.send(true);
    let office_outcome = office_task.await?;
    if let Some(first) = failures.first() {
        bail!("{} school(s) failed; the first: {first}", failures.len());
    }
    let (office, converged_at, cpu_at_convergence) = office_outcome.map_err(|err| {
        let owners: Vec<&str> = fixture
            .schools
            .iter()
            .filter(|s| {
                s.docs
                    .iter()
                    .any(|d| err.to_string().contains(&d.id.to_string()))
            })
            .map(|s| s.username.as_str())
            .collect();
        err.context(format!(
            "every school was told the server has its changes, yet the office misses some; \
             the missing documents belong to {owners:?}"
        ))
    })?;
    let cpu_after = CpuTicks::of(target.pid)?;
    let memory = Memory::of(target.pid)?;
    stop_perf(perf);
    let result = Reconnect {
        converged: converged_at.saturating_duration_since(t0),
        schools_synced: last_synced.saturating_duration_since(t0),
        up: school_proxy.up(),
        down: school_proxy.down(),
        office_down: office_proxy.down() - office_down0,
        office_up: office_proxy.up() - office_up0,
        floor: fixture.floor_bytes(),
        save_after: fixture.save_after_bytes(),
        full_save: fixture.full_save_bytes(),
        schools_traffic,
        office_traffic: office.traffic,
        round_trips,
        round_trips_total,
        cpu_s: cpu_before.seconds_until(cpu_after),
        cpu_until_converged_s: cpu_before.seconds_until(cpu_at_convergence),
        rss_before_kib: memory_before.rss_kib,
        rss_peak_kib: memory.hwm_kib,
        rss_end_kib: memory.rss_kib,
    };
    eprintln!(
        "  {}: converged in {:.2} s; up {} B, down {} B, office down {} B; server CPU {:.2} s",
        target.kind.name(),
        result.converged.as_secs_f64(),
        result.up,
        result.down,
        result.office_down,
        result.cpu_s
    );
    Ok(result)
}

/// Reads the office's frames until it has every document at its expected heads, then until
/// `stop` and a quiet [`QUIET`]. Returns the client, when it had everything and the server's
/// CPU time then.
async fn watch_office(
    mut office: BenchClient,
    mut pending: HashMap<DocumentId, Vec<ChangeHash>>,
    stop: tokio::sync::watch::Receiver<bool>,
    deadline: Instant,
    pid: u32,
) -> Result<(BenchClient, Instant, CpuTicks)> {
    let mut converged = None;
    let mut deadline = deadline;
    let mut stopping = false;
    loop {
        if converged.is_none() && pending.is_empty() {
            converged = Some((Instant::now(), CpuTicks::of(pid)?));
        }
        if !stopping && *stop.borrow() {
            // Every school is done: what has not arrived within this will not arrive.
            stopping = true;
            deadline = deadline.min(Instant::now() + AFTER_SCHOOLS);
        }
        if let Some((at, cpu)) = converged
            && stopping
            && office.last_frame.elapsed() >= QUIET
        {
            return Ok((office, at, cpu));
        }
        let now = Instant::now();
        if now >= deadline {
            let mut missing: Vec<String> = pending.keys().map(ToString::to_string).collect();
            missing.sort();
            missing.truncate(12);
            bail!(
                "the office still misses edits to {} document(s) ({}{})",
                pending.len(),
                missing.join(", "),
                if pending.len() > 12 { ", …" } else { "" }
            );
        }
        let wait = Duration::from_millis(50).min(deadline - now);
        match office.step(wait).await? {
            crate::client::Step::Frame(events) => {
                check_events(&events)?;
                for event in events {
                    let ClientEvent::Changed(id) = event else {
                        continue;
                    };
                    let Some(want) = pending.get(&id) else {
                        continue;
                    };
                    let have = office.core.document_mut(&id).map(|d| sorted(d.get_heads()));
                    if have.as_ref() == Some(want) {
                        pending.remove(&id);
                    }
                }
            }
            crate::client::Step::Quiet => {}
            crate::client::Step::Closed => bail!("the server closed the office's connection"),
        }
    }
}

/// What phase 2 measured on one server.
#[derive(Debug, Clone)]
pub struct Idle {
    pub documents: usize,
    /// At the proxy, WebSocket upgrade included, until the client knew it was up to date.
    pub up: u64,
    pub down: u64,
    /// The same after a further quiet second (anything the server sent late).
    pub up_total: u64,
    pub down_total: u64,
    pub round_trips: u32,
    pub round_trips_total: u32,
    pub traffic: Traffic,
    /// Until the client knew it was up to date (or, when the server never said so, until
    /// its last frame).
    pub time: Duration,
    /// `false` when the client never saw the server's heads for every document and
    /// "up to date" was decided by a quiet period instead.
    pub by_heads: bool,
}

/// Phase 2 on one server: a school with every document up to date reconnects.
pub async fn idle(target: Target, fixture: &Fixture, limit: Duration) -> Result<Idle> {
    let deadline = Instant::now() + limit;
    let school = fixture.schools.first().context("no school")?;
    let client = setup_schools(target, std::slice::from_ref(school))
        .await?
        .pop()
        .context("no client")?;
    let core = take_core(client);
    let result = measure_idle(target, &school.token, core, school.docs.len(), deadline).await?;
    eprintln!(
        "  {}: idle reconnect of {} documents: {} B up, {} B down, {} round trip(s), {:.0} ms",
        target.kind.name(),
        result.documents,
        result.up,
        result.down,
        result.round_trips,
        result.time.as_secs_f64() * 1000.0
    );
    Ok(result)
}

/// Phase 2 on our server, the office's side (issue #24): the office, with every document it
/// may read up to date, reconnects.
///
/// `ids`: every document the office may read (the fixture's and the demo's), as the app holds
/// them: a document it lacks makes its bucket of the digest differ and costs the summary of
/// that bucket's documents.
pub async fn idle_office(
    target: Target,
    fixture: &Fixture,
    ids: &[DocumentId],
    limit: Duration,
) -> Result<Idle> {
    let deadline = Instant::now() + limit;
    let setup_proxy = CutProxy::start(target.addr, Vec::new()).await?;
    let mut office = setup_office(&setup_proxy, &fixture.office_token, ids).await?;
    office.core.disconnect();
    let core = std::mem::replace(
        &mut office.core,
        SyncClient::new(PeerId::new("spent"), None),
    );
    drop(office);
    let result = measure_idle(target, &fixture.office_token, core, ids.len(), deadline).await?;
    eprintln!(
        "  {}: the office's idle reconnect of {} documents: {} B up, {} B down, {} round \
         trip(s), {:.0} ms",
        target.kind.name(),
        result.documents,
        result.up,
        result.down,
        result.round_trips,
        result.time.as_secs_f64() * 1000.0
    );
    Ok(result)
}

/// Reconnects `core` (disconnected, every one of its `documents` up to date) through a fresh
/// counting proxy and measures until it knows it is up to date.
async fn measure_idle(
    target: Target,
    token: &str,
    core: SyncClient,
    documents: usize,
    deadline: Instant,
) -> Result<Idle> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let proxy = CutProxy::start(target.addr, Vec::new()).await?;
    let t0 = Instant::now();
    let mut client = BenchClient::connect(&proxy_base(&proxy), token, core).await?;
    let mut by_heads = true;
    let done = client
        .drive(
            |c| match c.in_sync_or_silent(SILENCE) {
                Some(heads) => {
                    by_heads = heads;
                    true
                }
                None => false,
            },
            Duration::ZERO,
            deadline,
        )
        .await?;
    let (up, down) = (proxy.up(), proxy.down());
    let last_frame = client.last_frame;
    let round_trips = client.rounds.critical_path();
    let round_trips_total = client.rounds.total();
    client
        .drive(|_| true, Duration::from_secs(1), deadline)
        .await?;
    Ok(Idle {
        documents,
        up,
        down,
        up_total: proxy.up(),
        down_total: proxy.down(),
        round_trips,
        round_trips_total,
        traffic: client.traffic.clone(),
        time: if by_heads {
            done.saturating_duration_since(t0)
        } else {
            last_frame.saturating_duration_since(t0)
        },
        by_heads,
    })
}

/// With `BENCH_PERF=DIR`, `perf record -g` of the server for the measured reconnect, into
/// `DIR/<server>-<pid>.data` (for looking inside; the figures do not depend on it).
fn start_perf(target: Target) -> Option<std::process::Child> {
    let dir = std::env::var_os("BENCH_PERF")?;
    let out = std::path::Path::new(&dir).join(format!(
        "{}-{}.data",
        target.kind.name().to_lowercase(),
        target.pid
    ));
    let child = std::process::Command::new("perf")
        .args([
            "record",
            "-g",
            "-F",
            "499",
            "-p",
            &target.pid.to_string(),
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(child) => {
            eprintln!("  perf record into {}", out.display());
            Some(child)
        }
        Err(err) => {
            eprintln!("  BENCH_PERF: cannot start perf: {err}");
            None
        }
    }
}

fn stop_perf(perf: Option<std::process::Child>) {
    if let Some(mut child) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}
