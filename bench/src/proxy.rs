//! A loopback TCP proxy that counts the bytes each way, like `rectify_tests::proxy::CutProxy`
//! with an empty cut plan, but with `TCP_NODELAY` on both of its sockets.
//!
//! Why not `CutProxy` itself: it leaves Nagle's algorithm on, so when one side writes twice in
//! a row (a sync message, then the next), the second write waits for the first one's ACK,
//! which the other side's kernel delays by up to 40 ms. That adds tens of milliseconds to
//! round trips that a browser (which sets `TCP_NODELAY`) never sees, and it distorts the wall
//! times the bench compares; the bytes would be the same.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct CountingProxy {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counters = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        relay(client, server, &counters).await;
                    }
                });
            }
        });
        Ok(CountingProxy {
            addr,
            counters,
            task,
        })
    }

    /// Client → server bytes so far.
    pub fn up(&self) -> u64 {
        self.counters.up.load(Ordering::Relaxed)
    }

    /// Server → client bytes so far.
    pub fn down(&self) -> u64 {
        self.counters.down.load(Ordering::Relaxed)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, counters: &Counters) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
            counters.up.fetch_add(n as u64, Ordering::Relaxed);
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
        () = up => {}
        () = down => {}
    }
}

/// The proxy in front of a server: ours (the default) or `CutProxy` from the tests, with an
/// empty cut plan (`--cut-proxy`), for comparison.
#[derive(Debug)]
pub enum Proxy {
    Counting(CountingProxy),
    Cut(rectify_tests::proxy::CutProxy),
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, cut_proxy: bool) -> anyhow::Result<Proxy> {
        Ok(if cut_proxy {
            Proxy::Cut(rectify_tests::proxy::CutProxy::start(upstream, Vec::new()).await?)
        } else {
            Proxy::Counting(CountingProxy::start(upstream).await?)
        })
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Proxy::Counting(p) => p.addr,
            Proxy::Cut(p) => p.addr,
        }
    }

    pub fn up(&self) -> u64 {
        match self {
            Proxy::Counting(p) => p.up(),
            Proxy::Cut(p) => p.up(),
        }
    }

    pub fn down(&self) -> u64 {
        match self {
            Proxy::Counting(p) => p.down(),
            Proxy::Cut(p) => p.down(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CountingProxy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_ways() {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"hello, world").await.unwrap();
        });
        let proxy = CountingProxy::start(upstream).await.unwrap();
        let mut c = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(b"12345").await.unwrap();
        let mut back = [0u8; 12];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello, world");
        assert_eq!((proxy.up(), proxy.down()), (5, 12));
    }
}
