//! What the servers sharing one database tell each other ([`ChangeFeed`]): a document's
//! stored version went up, an account's or a session's sync connections must close, and "the
//! feed was cut, events may be lost" ([`FeedEvent::Resumed`]).
//!
//! Events carry no data, only what to look up: a server that hears that a document is at
//! version V reads the chunks above the version it holds from storage
//! ([`crate::sync_ws::SyncHub::catch_up`]). So a lost event only delays: the hub also compares
//! the versions of its loaded documents with storage after [`FeedEvent::Resumed`] and every
//! [`crate::sync_ws::SyncSettings::catch_up_every`].
//!
//! Two implementations: [`NoFeed`] for SQLite (one server per data directory: nobody to tell)
//! and PostgreSQL's LISTEN/NOTIFY ([`crate::storage::change_feed`]), which needs no other
//! service. A message bus (NATS JetStream, say) would be a third, behind the same trait.

use async_trait::async_trait;
use rectify_shared::ids::{DocumentId, Username};
use tokio::sync::mpsc;

/// One thing another server (or this one) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A document's stored version is now `version` (or more).
    Document { doc: DocumentId, version: i64 },
    /// Every session of this account ended (disabled, a new password, logged out everywhere).
    AccountEnded(Username),
    /// One session ended (logged out on a device), by its token's hash.
    SessionEnded(String),
    /// The feed was cut and is listening again: events may have been lost meanwhile.
    Resumed,
}

/// How the servers on one database hear of each other's writes and logouts.
#[async_trait]
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// Whether other servers may write the same database: then the hub also compares its
    /// documents' versions with storage now and then, for events that were lost.
    fn shared(&self) -> bool;

    /// Tells every server on the database, this one included, that sessions ended. (Document
    /// versions are told by the write itself: PostgreSQL's `NOTIFY` in the transaction that
    /// appends the chunk, delivered only once it commits.)
    async fn publish(&self, event: &FeedEvent) -> anyhow::Result<()>;

    /// Every event from now on, until the feed is dropped; called once, by the hub.
    fn subscribe(&self) -> mpsc::Receiver<FeedEvent>;
}

/// The feed of a server that is alone on its database (SQLite): nothing to say or hear.
#[derive(Debug, Default)]
pub struct NoFeed;

#[async_trait]
impl ChangeFeed for NoFeed {
    fn shared(&self) -> bool {
        false
    }

    async fn publish(&self, _event: &FeedEvent) -> anyhow::Result<()> {
        Ok(())
    }

    fn subscribe(&self) -> mpsc::Receiver<FeedEvent> {
        // Closed at once: the hub's listener ends.
        mpsc::channel(1).1
    }
}

/// The text of an event on the wire (PostgreSQL NOTIFY payloads: short, no data), and back.
/// `None` for a payload this build does not know (a newer server's): ignored.
pub fn encode(event: &FeedEvent) -> Option<String> {
    match event {
        FeedEvent::Document { doc, version } => Some(format!("{doc} {version}")),
        FeedEvent::AccountEnded(username) => Some(format!("account {username}")),
        FeedEvent::SessionEnded(token_hash) => Some(format!("session {token_hash}")),
        FeedEvent::Resumed => None,
    }
}

/// A document event's payload (`DOCUMENT_ID VERSION`).
pub fn decode_document(payload: &str) -> Option<FeedEvent> {
    let (doc, version) = payload.split_once(' ')?;
    Some(FeedEvent::Document {
        doc: doc.parse().ok()?,
        version: version.parse().ok()?,
    })
}

/// A session event's payload (`account NAME` or `session HASH`).
pub fn decode_session(payload: &str) -> Option<FeedEvent> {
    match payload.split_once(' ')? {
        ("account", name) => Some(FeedEvent::AccountEnded(Username::new(name))),
        ("session", hash) => Some(FeedEvent::SessionEnded(hash.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_wire_and_unknown_payloads_are_ignored() {
        let doc = DocumentId([7; 16]);
        let event = FeedEvent::Document { doc, version: 42 };
        assert_eq!(decode_document(&encode(&event).unwrap()), Some(event));
        for event in [
            FeedEvent::AccountEnded(Username::new("school1")),
            FeedEvent::SessionEnded("abc123".to_owned()),
        ] {
            assert_eq!(decode_session(&encode(&event).unwrap()), Some(event));
        }
        assert_eq!(decode_document("nonsense"), None);
        assert_eq!(decode_document(&format!("{doc} many")), None);
        assert_eq!(decode_session("reboot now"), None);
    }
}
