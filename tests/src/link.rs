//! A userspace link emulator on loopback (this kernel has no netem): a TCP proxy between a
//! browser and the server that behaves like a poor rural link (issue #24).
//!
//! - **Bandwidth** per direction, shared by all connections like one radio link: each
//!   direction is a queue that lets `rate` bytes a second leave (a token bucket with no
//!   burst), and a reader waits for its bytes to leave before reading more (backpressure).
//! - **Latency**: every byte arrives half the round trip after it left, pipelined.
//! - **Cuts**: each connection lives a random time drawn from a seeded range, then both
//!   sides are closed; bytes still in flight are lost.
//! - **Outages** ([`LinkEmulator::begin_outage`]): every open connection is cut, and new
//!   ones are refused at once ([`Outage::Refuse`]) or accepted and left silent until the
//!   outage ends, then closed ([`Outage::Blackhole`], a link that swallows packets).
//!
//! The shape can change while connections run ([`LinkEmulator::set_shape`]): a test loads the
//! app over a clear link, then makes it poor. Bytes are counted as they arrive.

use crate::proxy::{Counters, Rng};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a link does to the bytes. Rates in bytes a second, 0 for no limit.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkShape {
    /// Server → client.
    pub down_bytes_per_sec: u64,
    /// Client → server.
    pub up_bytes_per_sec: u64,
    pub round_trip: Duration,
    /// Each new connection is cut after a lifetime drawn uniformly from this range; `None`
    /// lets connections run.
    pub cut_after: Option<(Duration, Duration)>,
}

impl LinkShape {
    /// Loopback as it is: no limit, no delay, no cuts.
    pub fn clear() -> LinkShape {
        LinkShape {
            down_bytes_per_sec: 0,
            up_bytes_per_sec: 0,
            round_trip: Duration::ZERO,
            cut_after: None,
        }
    }

    /// The rural link of issue #24: 48 KB/s down, 16 KB/s up, 500 ms round trip, every
    /// connection cut after 5–25 s.
    pub fn rural() -> LinkShape {
        LinkShape {
            down_bytes_per_sec: 48_000,
            up_bytes_per_sec: 16_000,
            round_trip: Duration::from_millis(500),
            cut_after: Some((Duration::from_secs(5), Duration::from_secs(25))),
        }
    }
}

/// How the link treats new connections during an outage (open ones are cut either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Closed as soon as they are accepted (a router that answers "unreachable").
    Refuse,
    /// Accepted and left silent until the outage ends, then closed (packets swallowed).
    Blackhole,
}

/// See the module documentation.
#[derive(Debug)]
pub struct LinkEmulator {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    link: Arc<Link>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// The state every connection shares.
#[derive(Debug)]
struct Link {
    shape: Mutex<LinkShape>,
    rng: Mutex<Rng>,
    /// When each direction's queue is free again.
    up_free: Mutex<Instant>,
    down_free: Mutex<Instant>,
    outage: watch::Sender<Option<Outage>>,
    counters: Arc<Counters>,
}

impl LinkEmulator {
    /// An emulator in front of `upstream`, shaped as `shape`, its cuts drawn from `seed`.
    pub async fn start(
        upstream: SocketAddr,
        shape: LinkShape,
        seed: u64,
    ) -> anyhow::Result<LinkEmulator> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let now = Instant::now();
        let link = Arc::new(Link {
            shape: Mutex::new(shape),
            rng: Mutex::new(Rng::new(seed)),
            up_free: Mutex::new(now),
            down_free: Mutex::new(now),
            outage: watch::channel(None).0,
            counters: Arc::clone(&counters),
        });
        let shared = Arc::clone(&link);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                let link = Arc::clone(&shared);
                tokio::spawn(async move { link.carry(client, upstream).await });
            }
        });
        Ok(LinkEmulator {
            addr,
            counters,
            link,
            task,
        })
    }

    /// `http://ADDR/path` through the link.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The link from now on (rates at once, cuts for new connections).
    pub fn set_shape(&self, shape: LinkShape) {
        *self.link.shape.lock().expect("the shape lock") = shape;
    }

    /// Takes the link down: every open connection is cut, new ones meet `outage`.
    pub fn begin_outage(&self, outage: Outage) {
        self.link.outage.send_replace(Some(outage));
    }

    /// Brings the link back.
    pub fn end_outage(&self) {
        self.link.outage.send_replace(None);
    }

    pub fn up(&self) -> u64 {
        self.counters.up.load(Ordering::Relaxed)
    }

    pub fn down(&self) -> u64 {
        self.counters.down.load(Ordering::Relaxed)
    }

    /// Connections cut by a lifetime or an outage.
    pub fn cuts(&self) -> u64 {
        self.counters.cuts.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }
}

impl Drop for LinkEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// One connection from accept to close.
    async fn carry(self: Arc<Link>, client: TcpStream, upstream: SocketAddr) {
        let mut outage = self.outage.subscribe();
        let during_outage = *outage.borrow_and_update();
        match during_outage {
            Some(Outage::Refuse) => return, // dropping the socket closes it
            Some(Outage::Blackhole) => {
                // Silent until the link is back, then closed: the client's own deadline
                // should have given up long before.
                let _ = outage.wait_for(Option::is_none).await;
                return;
            }
            None => {}
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            return;
        };
        // Relay each write at once (browsers disable Nagle too).
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let lifetime = self.lifetime();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let relay = async {
            tokio::join!(
                self.pipe(client_read, server_write, Direction::Up),
                self.pipe(server_read, client_write, Direction::Down),
            )
        };
        let cut = async {
            match lifetime {
                Some(lifetime) => tokio::time::sleep(lifetime).await,
                None => std::future::pending().await,
            }
        };
        let outage_begins = outage.wait_for(Option::is_some);
        tokio::select! {
            _ = relay => {}
            () = cut => {
                self.counters.cuts.fetch_add(1, Ordering::Relaxed);
            }
            _ = outage_begins => {
                self.counters.cuts.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Dropping the halves (and the bytes in flight) closes both connections.
    }

    /// A new connection's lifetime, from the seeded generator.
    fn lifetime(&self) -> Option<Duration> {
        let (low, high) = self.shape.lock().expect("the shape lock").cut_after?;
        let ms = self
            .rng
            .lock()
            .expect("the generator lock")
            .range(low.as_millis() as u64, high.as_millis() as u64 + 1);
        Some(Duration::from_millis(ms))
    }

    /// One direction of a connection: read, wait for the bytes to leave the queue, deliver
    /// them half a round trip later. The end of the stream is passed on the same way.
    async fn pipe(&self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf, direction: Direction) {
        let (arrivals, mut arriving) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
        let reading = async move {
            loop {
                let mut buf = vec![0u8; self.read_size(direction)];
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                if n == 0 {
                    let _ = arrivals.send((Instant::now() + self.one_way(), None));
                    return;
                }
                buf.truncate(n);
                let left = self.leave(direction, n);
                if arrivals.send((left + self.one_way(), Some(buf))).is_err() {
                    return;
                }
                tokio::time::sleep_until(left).await;
            }
        };
        let writing = async move {
            while let Some((at, bytes)) = arriving.recv().await {
                tokio::time::sleep_until(at).await;
                let Some(bytes) = bytes else {
                    let _ = to.shutdown().await;
                    return;
                };
                if to.write_all(&bytes).await.is_err() {
                    return;
                }
                let counter = match direction {
                    Direction::Up => &self.counters.up,
                    Direction::Down => &self.counters.down,
                };
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        };
        tokio::join!(reading, writing);
    }

    fn rate(&self, direction: Direction) -> u64 {
        let shape = self.shape.lock().expect("the shape lock");
        match direction {
            Direction::Up => shape.up_bytes_per_sec,
            Direction::Down => shape.down_bytes_per_sec,
        }
    }

    fn one_way(&self) -> Duration {
        self.shape.lock().expect("the shape lock").round_trip / 2
    }

    /// Bytes read at once: at most 50 ms of the link's time, so connections sharing it take
    /// turns finely, between 512 bytes and 16 KiB.
    fn read_size(&self, direction: Direction) -> usize {
        match self.rate(direction) {
            0 => 16 * 1024,
            rate => (rate / 20).clamp(512, 16 * 1024) as usize,
        }
    }

    /// When `n` bytes sent now have left the direction's queue (now, with no limit).
    fn leave(&self, direction: Direction, n: usize) -> Instant {
        let now = Instant::now();
        let rate = self.rate(direction);
        if rate == 0 {
            return now;
        }
        let free = match direction {
            Direction::Up => &self.up_free,
            Direction::Down => &self.down_free,
        };
        let mut free = free.lock().expect("the queue lock");
        let start = (*free).max(now);
        *free = start + Duration::from_secs_f64(n as f64 / rate as f64);
        *free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    /// Sends `len` bytes through `link` and reads them back; how long it took.
    async fn round(link: &LinkEmulator, len: usize) -> std::io::Result<Duration> {
        let started = std::time::Instant::now();
        let mut socket = TcpStream::connect(link.addr).await?;
        let sent = vec![7u8; len];
        socket.write_all(&sent).await?;
        let mut back = vec![0u8; len];
        socket.read_exact(&mut back).await?;
        assert_eq!(back, sent);
        Ok(started.elapsed())
    }

    #[tokio::test]
    async fn bandwidth_and_latency_hold() {
        let shape = LinkShape {
            down_bytes_per_sec: 100_000,
            up_bytes_per_sec: 50_000,
            round_trip: Duration::from_millis(200),
            cut_after: None,
        };
        let link = LinkEmulator::start(echo().await, shape, 1).await.unwrap();
        // 25 KB up at 50 KB/s (0.5 s), down at 100 KB/s (overlapping), plus the round trip:
        // never faster than the link allows (the upper bound leaves room for a busy machine).
        let took = round(&link, 25_000).await.unwrap();
        assert!(
            (Duration::from_millis(650)..Duration::from_millis(2_000)).contains(&took),
            "{took:?}"
        );
        assert_eq!((link.up(), link.down()), (25_000, 25_000));
        // A clear link is fast.
        link.set_shape(LinkShape::clear());
        let took = round(&link, 25_000).await.unwrap();
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn connections_are_cut_after_their_lifetime() {
        let shape = LinkShape {
            cut_after: Some((Duration::from_millis(100), Duration::from_millis(300))),
            ..LinkShape::clear()
        };
        let link = LinkEmulator::start(echo().await, shape, 2).await.unwrap();
        let mut socket = TcpStream::connect(link.addr).await.unwrap();
        socket.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        socket.read_exact(&mut buf).await.unwrap();
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await; // ends when cut
        assert!(started.elapsed() < Duration::from_secs(2), "never cut");
        assert_eq!(link.cuts(), 1);
    }

    #[tokio::test]
    async fn an_outage_cuts_open_connections_and_refuses_or_swallows_new_ones() {
        let link = LinkEmulator::start(echo().await, LinkShape::clear(), 3)
            .await
            .unwrap();
        let mut open = TcpStream::connect(link.addr).await.unwrap();
        open.write_all(b"x").await.unwrap();
        open.read_exact(&mut [0u8; 1]).await.unwrap();

        link.begin_outage(Outage::Refuse);
        let mut rest = Vec::new();
        let _ = open.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "the open connection was cut");
        assert!(round(&link, 10).await.is_err(), "a new one is refused");

        link.begin_outage(Outage::Blackhole);
        let swallowed = tokio::time::timeout(Duration::from_millis(300), round(&link, 10)).await;
        assert!(
            swallowed.is_err(),
            "no answer while swallowed: {swallowed:?}"
        );

        link.end_outage();
        round(&link, 10).await.expect("the link is back");
        assert_eq!(link.cuts(), 1);
    }
}
