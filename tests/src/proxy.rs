//! A TCP proxy on loopback between a client and a server that counts the bytes each way
//! and can drop connections: the bad link of a rural school, made repeatable.
//!
//! Each new connection takes the next entry of the cut plan: `Some(n)` closes both sides
//! after `n` bytes went from the client to the server; `None` (or an exhausted plan) lets it
//! run. Plans come from a seed, so a failing run repeats exactly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes counted by a [`CutProxy`].
#[derive(Debug, Default)]
pub struct Counters {
    /// Client → server.
    pub up: AtomicU64,
    /// Server → client.
    pub down: AtomicU64,
    /// Connections dropped by the plan.
    pub cuts: AtomicU64,
    pub connections: AtomicU64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct CutProxy {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// A proxy to `upstream` that cuts connection *i* after `plan[i]` client bytes.
    pub async fn start(upstream: SocketAddr, plan: Vec<Option<u64>>) -> anyhow::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            let mut plan = plan.into_iter();
            while let Ok((client, _)) = listener.accept().await {
                let cut_after = plan.next().flatten();
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let counters = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        // Relay each write at once (browsers and our clients disable Nagle
                        // too); the byte counts are the same either way.
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        relay(client, server, cut_after, &counters).await;
                    }
                });
            }
        });
        Ok(CutProxy {
            addr,
            counters,
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn up(&self) -> u64 {
        self.counters.up.load(Ordering::Relaxed)
    }

    pub fn down(&self) -> u64 {
        self.counters.down.load(Ordering::Relaxed)
    }

    pub fn cuts(&self) -> u64 {
        self.counters.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, cut_after: Option<u64>, counters: &Counters) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut budget = cut_after.unwrap_or(u64::MAX);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let pass = (n as u64).min(budget) as usize;
            if pass > 0 && server_write.write_all(&buf[..pass]).await.is_err() {
                return false;
            }
            counters.up.fetch_add(pass as u64, Ordering::Relaxed);
            budget -= pass as u64;
            if budget == 0 {
                // Cut here. What crossed reaches the server (then the end of the stream);
                // the client sees its connection drop.
                let _ = server_write.shutdown().await;
                return true;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
            counters.down.fetch_add(n as u64, Ordering::Relaxed);
        }
    };
    tokio::select! {
        cut = up => {
            if cut {
                counters.cuts.fetch_add(1, Ordering::Relaxed);
            }
        }
        () = down => {}
    }
    // Dropping the halves closes both connections.
}

/// A small deterministic random generator (xorshift64*), so a seed replays a run exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }
}
