//! One writer for the sync hub, with group commit.
//!
//! Every sync write waits for the disk (nothing is acknowledged before it is durable), and a
//! sync to disk costs milliseconds whatever it carries. So writes are queued to one task,
//! which takes whatever has queued while the previous commit ran and writes it all with
//! [`Storage::write_group`]: one commit, one sync to disk, one result per batch. Under load
//! the groups grow by themselves; an idle server commits each batch at once. One writer also
//! means SQLite never has two sync writers waiting on each other's lock.

use super::{Storage, StorageError, StorageResult, Write};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A queued batch and where its result goes.
type Queued = (Vec<Write>, oneshot::Sender<StorageResult<()>>);

/// The handle to the writer task; cheap to clone. The task stops when every handle is gone.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::Sender<Queued>,
}

impl Committer {
    /// Starts the writer. `max_group` bounds how many batches share one commit (a group that
    /// large still commits in a few milliseconds); `queue` bounds the batches waiting, after
    /// which writers wait for room.
    pub fn start(storage: Arc<dyn Storage>, max_group: usize, queue: usize) -> Committer {
        let (sender, mut receiver) = mpsc::channel::<Queued>(queue.max(1));
        let max_group = max_group.max(1);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut group = vec![first];
                while group.len() < max_group {
                    match receiver.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                let (batches, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                let results = storage.write_group(batches).await;
                debug_assert_eq!(results.len(), replies.len());
                for (reply, result) in replies.into_iter().zip(results) {
                    // The writer may have gone (its connection closed): the write stands.
                    let _ = reply.send(result);
                }
            }
        });
        Committer { queue: sender }
    }

    /// Writes one batch, all or nothing, durably, together with whatever else is queued.
    pub async fn write(&self, batch: Vec<Write>) -> StorageResult<()> {
        let stopped = || StorageError::Unavailable("the database writer has stopped".to_owned());
        let (reply, result) = oneshot::channel();
        self.queue
            .send((batch, reply))
            .await
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}
