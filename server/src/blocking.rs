//! Heavy work off the async runtime, with bounded concurrency.
//!
//! The runtime's worker threads run every connection's frames; a password hash (argon2: about
//! a tenth of a second and ~19 MiB), a compaction or an image decode on them stalls every
//! school's sync for as long. So such work goes to tokio's blocking pool through one of two
//! gates:
//!
//! - [`password`]: argon2, at most one hash per core at a time. A flood of logins waits its
//!   turn instead of allocating 19 MiB per request; past [`PASSWORD_QUEUE`] waiting, a login
//!   is refused at once with "busy, try again" rather than queued without bound.
//! - [`cpu`]: Automerge loads and saves for compaction and reports, thumbnails: at most one
//!   task per core, the rest wait.

use crate::error::{ApiError, Said};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Logins (or password changes) allowed to wait for a hashing slot before more are refused.
pub const PASSWORD_QUEUE: usize = 256;

/// A bound on concurrent blocking work, and on how many may wait for it.
#[derive(Debug)]
pub struct Gate {
    running: Semaphore,
    waiting: AtomicUsize,
    queue_limit: usize,
    what: &'static str,
}

impl Gate {
    pub fn new(concurrency: usize, queue_limit: usize, what: &'static str) -> Gate {
        Gate {
            running: Semaphore::new(concurrency.max(1)),
            waiting: AtomicUsize::new(0),
            queue_limit,
            what,
        }
    }

    /// Runs `work` on the blocking pool once a slot is free. Refuses (503, retry) when
    /// `queue_limit` callers are already waiting.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        // Take a place in the queue only while there is one (no transient overcount).
        let admitted = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.queue_limit).then_some(n + 1)
            })
            .is_ok();
        let permit = if admitted {
            // Leaves the queue however the wait ends, a caller that gave up included.
            let _place = Place(&self.waiting);
            self.running.acquire().await.ok()
        } else {
            None
        };
        let Some(_permit) = permit else {
            return Err(ApiError::Unavailable(Said::new(
                "服务器正忙，请过几秒再试",
                format!(
                    "the server is busy with {}; try again in a few seconds",
                    self.what
                ),
            )));
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| ApiError::Internal(anyhow::Error::from(err)))
    }
}

/// A place in a [`Gate`]'s queue, given back when dropped.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

static PASSWORDS: LazyLock<Gate> = LazyLock::new(|| Gate::new(cores(), PASSWORD_QUEUE, "logins"));
static CPU: LazyLock<Gate> = LazyLock::new(|| Gate::new(cores(), usize::MAX, "other work"));

/// Password hashing and checking (argon2).
pub async fn password<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    PASSWORDS.run(work).await
}

/// Other CPU-heavy work: Automerge loads and saves outside the sync hub, image decoding.
pub async fn cpu<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    CPU.run(work).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_at_once_than_the_bound_and_the_queue_is_bounded() {
        let gate = Arc::new(Gate::new(2, 8, "tests"));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (gate, running, most, release) =
                    (gate.clone(), running.clone(), most.clone(), release.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        while !release.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        // Hold the work until two run and eight wait: the other ten must be refused then.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running.load(Ordering::SeqCst) < 2 || gate.waiting.load(Ordering::SeqCst) < 8 {
            assert!(
                std::time::Instant::now() < deadline,
                "the gate never filled"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let finished_early = tasks.iter().filter(|t| t.is_finished()).count();
        release.store(true, Ordering::SeqCst);
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => {}
                Err(ApiError::Unavailable(message)) => {
                    assert!(message.en.contains("busy with tests"), "{message}");
                    refused += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two ran at once");
        assert_eq!(
            refused, 10,
            "2 running + 8 waiting accepted, the rest refused"
        );
        assert!(finished_early <= 10);
    }
}
