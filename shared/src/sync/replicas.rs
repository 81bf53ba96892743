//! What a server replica sharing its storage with others must check before its core judges a
//! frame (issue #18).
//!
//! A client may send a replica changes it received from *another* replica: automerge's sync
//! sends whatever the other side lacks, and a device that moved from an up-to-date replica to
//! one whose copy is behind (a lost or late notification) lacks nothing the lagging replica
//! has. Judged against the lagging copy, another account's change looks like the sender's own
//! and is refused (a school "changing" another school's progress), and the honest device is
//! told its work was refused. Anything a client can pass on was stored before it reached the
//! client (a server relays only durable changes), so bringing the replica's copy up to
//! storage before the core judges the frame is enough: the driver compares the stored version
//! of each document the frame carries changes for ([`changed_documents`]) and catches up
//! those behind first. Frames without changes (most of them) cost nothing.

use crate::ids::DocumentId;
use crate::sync::batch::ChangeBatch;
use crate::sync::wire::{self, Message};

/// The documents a frame carries changes for: a `sync` or `request` whose Automerge message
/// has changes, every entry of a `rectify-changes`. Nothing for other frames or for bytes that
/// do not decode (the core reports those).
pub fn changed_documents(frame: &[u8]) -> Vec<DocumentId> {
    match wire::decode(frame) {
        Ok(Message::Sync(data) | Message::Request(data)) => {
            match automerge::sync::Message::decode(&data.data) {
                Ok(message) if !message.changes.is_empty() => vec![data.document_id],
                _ => Vec::new(),
            }
        }
        Ok(Message::RectifyChanges { docs }) => ChangeBatch::decode(&docs)
            .map(|batch| batch.0.into_iter().map(|entry| entry.doc).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::batch::ChangeEntry;
    use crate::sync::wire::{PeerId, SyncData};
    use automerge::transaction::Transactable;

    fn sync_frame(doc: DocumentId, changes: Vec<Vec<u8>>) -> Vec<u8> {
        let message = automerge::sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: changes.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V2,
        };
        wire::encode(&Message::Sync(SyncData {
            sender_id: PeerId::new("client"),
            target_id: PeerId::new("server"),
            document_id: doc,
            data: message.encode(),
        }))
    }

    #[test]
    fn names_the_documents_a_frame_carries_changes_for() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", 1).expect("a change");
        let change = doc
            .get_last_local_change()
            .expect("made")
            .raw_bytes()
            .to_vec();
        let (a, b) = (DocumentId([1; 16]), DocumentId([2; 16]));
        let batch = ChangeBatch(vec![
            ChangeEntry {
                doc: a,
                heads: Vec::new(),
                bundle: Vec::new(),
            },
            ChangeEntry {
                doc: b,
                heads: Vec::new(),
                bundle: Vec::new(),
            },
        ]);
        let cases: Vec<(&str, Vec<u8>, Vec<DocumentId>)> = vec![
            ("sync with a change", sync_frame(a, vec![change]), vec![a]),
            ("sync without changes", sync_frame(a, Vec::new()), vec![]),
            (
                "rectify-changes",
                wire::encode(&Message::RectifyChanges {
                    docs: batch.encode(),
                }),
                vec![a, b],
            ),
            ("not a frame", b"\xff\x00".to_vec(), vec![]),
        ];
        for (name, frame, expected) in cases {
            assert_eq!(changed_documents(&frame), expected, "{name}");
        }
    }
}
