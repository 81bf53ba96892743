//! The [`ChangeFeed`] of servers sharing one PostgreSQL database: LISTEN/NOTIFY.
//!
//! Document versions come from the write transactions themselves (`NOTIFY` on
//! [`DOCUMENTS_CHANNEL`] in [`super::postgres`], delivered only after commit); ended sessions
//! are published here on [`SESSIONS_CHANNEL`]. One listening connection per server (named
//! [`LISTENER_NAME`] in `pg_stat_activity`): when it drops, it is made again and the hub is
//! told [`FeedEvent::Resumed`], since notifications sent meanwhile are lost.

use super::postgres::{DOCUMENTS_CHANNEL, connect_options};
use super::{StorageError, StorageResult};
use crate::feed::{self, ChangeFeed, FeedEvent};
use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel of ended sessions (`account NAME`, `session HASH`).
pub const SESSIONS_CHANNEL: &str = "rectify_sessions";

/// The `application_name` of the listening connection.
pub const LISTENER_NAME: &str = "rectify-listener";

/// Events waiting for the hub before the listener waits for it (a burst of notifications).
const QUEUE: usize = 4096;

/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// LISTEN/NOTIFY on one PostgreSQL database.
#[derive(Debug)]
pub struct PgFeed {
    /// For publishing (one connection, made when first needed).
    publisher: PgPool,
    /// For listening: its own connection, so its name tells it apart.
    listener: PgPool,
}

impl PgFeed {
    /// The feed of the database at `url` (nothing connects until it is used).
    pub fn new(url: &str) -> StorageResult<PgFeed> {
        let options = connect_options(url)?;
        let pool = |name: &str| {
            PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options.clone().application_name(name))
        };
        Ok(PgFeed {
            publisher: pool("rectify"),
            listener: pool(LISTENER_NAME),
        })
    }
}

#[async_trait]
impl ChangeFeed for PgFeed {
    fn shared(&self) -> bool {
        true
    }

    async fn publish(&self, event: &FeedEvent) -> anyhow::Result<()> {
        let channel = match event {
            FeedEvent::AccountEnded(_) | FeedEvent::SessionEnded(_) => SESSIONS_CHANNEL,
            FeedEvent::Document { .. } => DOCUMENTS_CHANNEL,
            FeedEvent::Resumed => return Ok(()),
        };
        let Some(payload) = feed::encode(event) else {
            return Ok(());
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.publisher)
            .await
            .map_err(|err| StorageError::Unavailable(err.to_string()))?;
        Ok(())
    }

    fn subscribe(&self) -> mpsc::Receiver<FeedEvent> {
        let (events, received) = mpsc::channel(QUEUE);
        let pool = self.listener.clone();
        tokio::spawn(async move {
            // Until the hub stops listening.
            while !events.is_closed() {
                match listen(&pool, &events).await {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "the change feed's connection failed; connecting again");
                        tokio::time::sleep(RECONNECT_AFTER).await;
                    }
                }
            }
        });
        received
    }
}

/// Listens on one connection until it drops (`Err`) or the hub has gone (`Ok`).
async fn listen(pool: &PgPool, events: &mpsc::Sender<FeedEvent>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([DOCUMENTS_CHANNEL, SESSIONS_CHANNEL])
        .await?;
    // Listening now: whatever was sent while it was not is looked up instead.
    if events.send(FeedEvent::Resumed).await.is_err() {
        return Ok(());
    }
    loop {
        // `None`: the connection was lost, and sqlx has connected and listens again.
        let Some(notification) = listener.try_recv().await? else {
            tracing::warn!("the change feed's connection dropped; listening again");
            if events.send(FeedEvent::Resumed).await.is_err() {
                return Ok(());
            }
            continue;
        };
        let payload = notification.payload();
        let event = match notification.channel() {
            DOCUMENTS_CHANNEL => feed::decode_document(payload),
            SESSIONS_CHANNEL => feed::decode_session(payload),
            _ => None,
        };
        if let Some(event) = event
            && events.send(event).await.is_err()
        {
            return Ok(());
        }
    }
}
