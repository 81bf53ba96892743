//! Phase 3: idle connections held and the server's memory with them; changes per second and
//! memory with many stored documents, measured by `sync-load` (tests/src/bin/sync-load.rs).

use anyhow::{Context, Result, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use rectify_shared::sync::client::SyncClient;
use rectify_shared::sync::wire::{self, Message, PeerId};
use rectify_tests::process::Memory;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Connections being opened at once.
const OPEN_CONCURRENCY: usize = 64;
/// How long to let the server settle before reading its memory.
const SETTLE: Duration = Duration::from_secs(2);

/// One level of the ramp.
#[derive(Debug, Clone)]
pub struct ConnectionLevel {
    pub wanted: usize,
    /// Joined connections still open after the settle.
    pub held: usize,
    pub rss_kib: u64,
    /// To open the connections of this level (from the previous level).
    pub open_s: f64,
}

#[derive(Debug, Clone)]
pub struct Connections {
    /// The server's RSS before the first connection.
    pub before_kib: u64,
    pub levels: Vec<ConnectionLevel>,
    /// Why the ramp stopped early, if it did.
    pub stopped: Option<String>,
}

/// Opens one connection and waits for the server's `peer` answer to `join`.
async fn open_one(url: &str, n: usize) -> Result<crate::client::Ws> {
    // Small buffers: the bench holds thousands of these (the server's side is what is measured).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .context("the WebSocket upgrade took over 20 s")??;
    let join = SyncClient::new(
        PeerId::new(format!("idle-{}-{n}", std::process::id())),
        None,
    )
    .connect();
    ws.send(WsMessage::Binary(join.into())).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => bail!("no answer to join within 20 s"),
            Ok(Some(Ok(WsMessage::Binary(bytes)))) => {
                ensure!(
                    matches!(wire::decode(&bytes), Ok(Message::Peer { .. })),
                    "the answer to join was not `peer`"
                );
                return Ok(ws);
            }
            Ok(Some(Ok(WsMessage::Close(frame)))) => bail!("closed by the server: {frame:?}"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(err))) => return Err(err.into()),
            Ok(None) => bail!("the connection ended"),
        }
    }
}

/// Opens joined, idle connections to `base` (one `token` after the other) up to each of
/// `levels`, and reads the memory of `pid` at each. Every connection keeps reading (so pings
/// are answered) until the end. Bounded by `limit` overall.
pub async fn idle_connections(
    base: &str,
    pid: u32,
    tokens: &[String],
    levels: &[usize],
    limit: Duration,
) -> Result<Connections> {
    ensure!(!tokens.is_empty(), "no tokens");
    let deadline = Instant::now() + limit;
    let before = Memory::of(pid)?;
    let alive = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut holders = tokio::task::JoinSet::new();
    let mut result = Connections {
        before_kib: before.rss_kib,
        levels: Vec::new(),
        stopped: None,
    };
    let mut opened = 0usize;
    'levels: for &wanted in levels {
        let started = Instant::now();
        let mut opening = tokio::task::JoinSet::new();
        while opened < wanted || !opening.is_empty() {
            while opened < wanted && opening.len() < OPEN_CONCURRENCY {
                let url = format!("{base}/sync?token={}", tokens[opened % tokens.len()]);
                let n = opened;
                opening.spawn(async move { open_one(&url, n).await });
                opened += 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some(joined)) = tokio::time::timeout(left, opening.join_next()).await else {
                result.stopped = Some(format!(
                    "out of time after {} connections",
                    alive.load(Ordering::SeqCst)
                ));
                break 'levels;
            };
            match joined? {
                Ok(mut ws) => {
                    alive.fetch_add(1, Ordering::SeqCst);
                    let alive = Arc::clone(&alive);
                    let mut stopped = stopped.clone();
                    holders.spawn(async move {
                        loop {
                            tokio::select! {
                                message = ws.next() => match message {
                                    Some(Ok(_)) => {}
                                    _ => break,
                                },
                                _ = stopped.changed() => break,
                            }
                        }
                        alive.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Err(err) => {
                    result.stopped = Some(format!(
                        "connection {} of {wanted} failed with {} open: {err:#}",
                        opened,
                        alive.load(Ordering::SeqCst)
                    ));
                    opening.abort_all();
                    break 'levels;
                }
            }
            if alive.load(Ordering::SeqCst).is_multiple_of(1000) {
                eprintln!("    {} connections open", alive.load(Ordering::SeqCst));
            }
        }
        let open_s = started.elapsed().as_secs_f64();
        tokio::time::sleep(SETTLE).await;
        let memory = Memory::of(pid)?;
        let held = alive.load(Ordering::SeqCst);
        eprintln!(
            "    {held} of {wanted} connections held: server RSS {:.1} MB",
            memory.rss_kib as f64 * 1024.0 / 1e6
        );
        result.levels.push(ConnectionLevel {
            wanted,
            held,
            rss_kib: memory.rss_kib,
            open_s,
        });
        if held < wanted {
            result.stopped = Some(format!(
                "only {held} of {wanted} connections stayed open (the server closed the others)"
            ));
            break;
        }
    }
    let _ = stop.send(true);
    let closing = async { while holders.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), closing)
        .await
        .is_err()
    {
        eprintln!("    (some connections did not close within 30 s)");
    }
    Ok(result)
}

/// Runs `sync-load ARGS` against `rectify` (a release build) and returns the JSON line it
/// prints last. Its own `--timeout-secs` bounds it; this gives up a minute later.
pub async fn sync_load(
    sync_load: &Path,
    rectify: &Path,
    args: &[String],
    limit: Duration,
) -> Result<serde_json::Value> {
    let mut all = vec!["--timeout-secs".to_owned(), limit.as_secs().to_string()];
    all.extend_from_slice(args);
    tool_json(
        "sync-load",
        sync_load,
        rectify,
        &all,
        limit + Duration::from_secs(60),
    )
    .await
}

/// Runs the load tool `name` (`sync-load`, `replica-latency`: `tool` is its path) with
/// `--rectify RECTIFY ARGS`, killed after `limit`, and returns the JSON line it prints last.
pub async fn tool_json(
    name: &str,
    tool: &Path,
    rectify: &Path,
    args: &[String],
    limit: Duration,
) -> Result<serde_json::Value> {
    ensure!(
        tool.is_file(),
        "{} is missing: build it with `cargo build --release -p rectify-tests --bin {name}` \
         (`cargo xtask bench` does)",
        tool.display()
    );
    let mut command = tokio::process::Command::new(tool);
    command
        .arg("--rectify")
        .arg(rectify)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    eprintln!("    running {name} {}", args.join(" "));
    let child = command
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{name} did not stop within {} s", limit.as_secs()))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        eprintln!("    | {line}");
    }
    ensure!(output.status.success(), "{name} failed ({})", output.status);
    last_json_line(&stdout).with_context(|| format!("{name} printed no JSON summary"))
}

/// The last line of `text` that is a JSON object.
pub fn last_json_line(text: &str) -> Option<serde_json::Value> {
    text.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_summary_line() {
        let out = "throughput: 1 client\n{\"mode\":\"throughput\",\"changes_per_s\":12.5}\nbye\n";
        let json = super::last_json_line(out).expect("a line");
        assert_eq!(json["changes_per_s"], 12.5);
        assert!(super::last_json_line("no json\n{broken").is_none());
    }
}

/// What the stored-documents measurement found.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Item documents in the storage (the seeded ones and the demo's).
    pub documents: usize,
    pub seed_s: f64,
    /// RSS 2 s after the start, nothing loaded.
    pub idle_kib: u64,
    /// Documents the office then fetched, and the RSS after.
    pub fetched: usize,
    pub fetch_s: f64,
    pub loaded_kib: u64,
    /// `rectify_documents_loaded` after the fetch.
    pub loaded_metric: Option<f64>,
}

impl Stored {
    /// RSS each loaded document added.
    pub fn per_loaded_kib(&self) -> f64 {
        self.loaded_kib.saturating_sub(self.idle_kib) as f64 / self.fetched.max(1) as f64
    }
}

/// `count` item documents in a fresh data directory, then the server's memory idle and after
/// the office fetched `subset` of them. The documents are byte-for-byte copies of the demo's
/// items, each under a new id with an index row of its own (key `900+.p.s`), written straight
/// into the storage in batches: seeding 100,000 this way takes seconds, where rewriting each
/// one (as `sync-load memory` does) takes minutes.
pub async fn stored_documents(binary: &Path, count: usize, subset: usize) -> Result<Stored> {
    use rectify_server::campaigns;
    use rectify_server::storage::Write;
    use rectify_shared::model::ItemDoc;
    let mut server = rectify_tests::ServerProcess::prepare(binary.to_owned()).await?;
    let started = Instant::now();
    let storage = rectify_server::storage::open_data_dir(&server.data_dir()).await?;
    let seeded = async {
        let campaign = storage
            .campaigns()
            .await?
            .into_iter()
            .next()
            .context("no demo campaign")?;
        let mut templates = Vec::new();
        for record in storage.items(&campaign.id).await? {
            let mut doc = campaigns::load_document(storage.as_ref(), &record.id)
                .await?
                .context("a demo item without its document")?;
            templates.push((ItemDoc::load(&doc)?, doc.save()));
        }
        ensure!(!templates.is_empty(), "the demo campaign has no items");
        let token = crate::setup::session(storage.as_ref(), "office", "stored").await?;
        let now = rectify_server::clock::now_ms();
        let mut ids = Vec::with_capacity(count);
        let mut batch = Vec::new();
        for n in 0..count {
            let (template, bytes) = &templates[n % templates.len()];
            let mut item = template.clone();
            item.key = format!("{}.{}.{}", 900 + n / 1000, (n % 1000) / 10 + 1, n % 10 + 1);
            let id = campaigns::new_document_id();
            batch.push(Write::NewDocument {
                id,
                kind: "item".to_owned(),
                created_at_ms: now,
            });
            batch.push(Write::AppendChunk {
                document: id,
                data: bytes.clone(),
                created_at_ms: now,
                expect_version: None,
            });
            batch.push(Write::Item(campaigns::item_record(
                id,
                campaign.id,
                &item,
                now,
            )));
            ids.push(id);
            if batch.len() >= 3 * 1000 {
                storage.write(std::mem::take(&mut batch)).await?;
            }
        }
        storage.write(batch).await?;
        anyhow::Ok((ids, token, templates.len()))
    }
    .await;
    storage.close().await;
    drop(storage);
    let (ids, token, demo) = seeded?;
    let seed_s = started.elapsed().as_secs_f64();
    eprintln!("    seeded {count} documents in {seed_s:.1} s");
    server.start().await?;
    let pid = server.pid().context("not running")?;
    tokio::time::sleep(SETTLE).await;
    let idle = Memory::of(pid)?;
    eprintln!(
        "    idle with {} stored documents: RSS {:.1} MB",
        count + demo,
        idle.rss_kib as f64 * 1024.0 / 1e6
    );
    let fetching = Instant::now();
    let mut office = rectify_tests::SyncTestClient::connect(&server.ws_base(), &token).await?;
    let wanted: Vec<_> = ids
        .iter()
        .step_by((count / subset.max(1)).max(1))
        .take(subset)
        .copied()
        .collect();
    // In batches, all of a batch asked for at once (the first `fetch` sends every request);
    // the client keeps only one batch.
    for batch in wanted.chunks(500) {
        for id in batch {
            office.core.open_document(*id);
        }
        for id in batch {
            office.fetch(*id, Duration::from_secs(60)).await?;
        }
        for id in batch {
            office.core.remove_document(id);
        }
    }
    let fetch_s = fetching.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let loaded = Memory::of(pid)?;
    let loaded_metric = server
        .get_text("/metrics")
        .await
        .ok()
        .flatten()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("rectify_documents_loaded "))
                .and_then(|v| v.trim().parse().ok())
        });
    let _ = office.close().await;
    let _ = server.terminate(Duration::from_secs(30)).await;
    Ok(Stored {
        documents: count + demo,
        seed_s,
        idle_kib: idle.rss_kib,
        fetched: wanted.len(),
        fetch_s,
        loaded_kib: loaded.rss_kib,
        loaded_metric,
    })
}
