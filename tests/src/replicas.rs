//! Helpers for several servers on one PostgreSQL database (issue #18): [`LossyFeed`], a
//! change feed that loses document notifications on command, so a test can show that a lost
//! notification only delays a change.

use async_trait::async_trait;
use rectify_server::feed::{ChangeFeed, FeedEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Wraps a [`ChangeFeed`]; while [`LossyFeed::lose`] is on, every
/// [`FeedEvent::Document`] it hears is dropped (counted in [`LossyFeed::lost`]). Other
/// events (ended sessions, [`FeedEvent::Resumed`]) pass.
#[derive(Debug)]
pub struct LossyFeed {
    inner: Arc<dyn ChangeFeed>,
    losing: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
}

impl LossyFeed {
    pub fn new(inner: Arc<dyn ChangeFeed>) -> Arc<LossyFeed> {
        Arc::new(LossyFeed {
            inner,
            losing: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Loses document notifications from now on (`true`) or no more (`false`).
    pub fn lose(&self, losing: bool) {
        self.losing.store(losing, Ordering::SeqCst);
    }

    /// Document notifications lost so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ChangeFeed for LossyFeed {
    fn shared(&self) -> bool {
        self.inner.shared()
    }

    async fn publish(&self, event: &FeedEvent) -> anyhow::Result<()> {
        self.inner.publish(event).await
    }

    fn subscribe(&self) -> mpsc::Receiver<FeedEvent> {
        let mut heard = self.inner.subscribe();
        let (passed, received) = mpsc::channel(1024);
        let losing = Arc::clone(&self.losing);
        let lost = Arc::clone(&self.lost);
        tokio::spawn(async move {
            while let Some(event) = heard.recv().await {
                if matches!(event, FeedEvent::Document { .. }) && losing.load(Ordering::SeqCst) {
                    lost.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                if passed.send(event).await.is_err() {
                    return;
                }
            }
        });
        received
    }
}
