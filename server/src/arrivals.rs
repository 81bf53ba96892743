//! When the server first stored each Automerge change: the item history shows it next to the
//! device's own timestamp (which may be wrong, or days old when the device was offline).
//!
//! It also keeps who sent each change: the authenticated account whose sync connection
//! delivered it, or whose API call made it. A change's commit message names a user too, but
//! the sending client writes that; the history shows this record and flags the difference.
//!
//! Every write that appends a chunk also records the hashes of the changes the chunk carries,
//! in the same [`Storage::write`](crate::storage::Storage::write) batch, so the record and the
//! changes become durable together ([`Write::ChangesArrived`]). The hashes come from the
//! bytes actually stored: [`hashes_in`] reads them from the chunk's headers, without loading
//! the document. Compaction rewrites chunks but never this record.

use crate::storage::Write;
use anyhow::{Context, Result, bail, ensure};
use automerge::{Change, ChangeHash};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::model;

/// The first bytes of every Automerge storage chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT_CHUNK: u8 = 0;
const CHANGE_CHUNK: u8 = 1;
const COMPRESSED_CHANGE_CHUNK: u8 = 2;

/// The hashes of the changes in stored Automerge bytes: change chunks one after another (what
/// `save_after` and `save_incremental` write, and the sync core's `Persist` carries), or a
/// full save. Change chunks are only split and hashed (by automerge, from their bytes); a full
/// save is loaded, which only happens for documents made on the server.
pub fn hashes_in(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    let mut hashes = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        ensure!(
            rest.len() > 9 && rest[..4] == MAGIC,
            "not an Automerge chunk at byte {}",
            bytes.len() - rest.len()
        );
        let chunk_type = rest[8];
        let (len, len_bytes) = uleb128(&rest[9..]).context("a chunk length does not parse")?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(9 + len_bytes))
            .filter(|&end| end <= rest.len())
            .context("a chunk is cut short")?;
        let (chunk, after) = rest.split_at(end);
        match chunk_type {
            CHANGE_CHUNK | COMPRESSED_CHANGE_CHUNK => {
                let change = Change::try_from(chunk).context("a change does not parse")?;
                hashes.push(change.hash());
            }
            DOCUMENT_CHUNK => {
                let mut doc = model::load_automerge(chunk).context("a save does not load")?;
                hashes.extend(doc.get_changes_meta(&[]).iter().map(|c| c.hash));
            }
            other => bail!("unknown Automerge chunk type {other}"),
        }
        rest = after;
    }
    Ok(hashes)
}

/// An unsigned LEB128 number and how many bytes it took.
fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The write recording that `hashes` of `document` arrived at `now_ms`, sent by `sent_by`
/// (the authenticated account; `None` when the server cannot say).
pub fn arrived(
    document: DocumentId,
    hashes: &[ChangeHash],
    now_ms: i64,
    sent_by: Option<&Username>,
) -> Write {
    Write::ChangesArrived {
        document,
        hashes: hashes.iter().map(ToString::to_string).collect(),
        received_at_ms: now_ms,
        sent_by: sent_by.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn doc_with_changes(n: usize) -> automerge::AutoCommit {
        let mut doc = model::new_automerge();
        for i in 0..n {
            doc.put(automerge::ROOT, "n", i as i64).unwrap();
            doc.commit();
        }
        doc
    }

    #[test]
    fn finds_the_changes_of_incremental_chunks_and_of_a_full_save() {
        let mut doc = doc_with_changes(3);
        let all: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(Change::hash).collect();
        assert_eq!(hashes_in(&doc.save()).unwrap(), all);
        assert_eq!(hashes_in(&doc.save_after(&[])).unwrap(), all);
        let first = [all[0]];
        assert_eq!(hashes_in(&doc.save_after(&first)).unwrap(), &all[1..]);
        let heads = doc.get_heads();
        assert!(hashes_in(&doc.save_after(&heads)).unwrap().is_empty());
        // A save followed by incremental chunks, as documents are stored.
        let mut stored = doc.save();
        doc.put(automerge::ROOT, "n", 99).unwrap();
        doc.commit();
        let heads = doc.get_heads();
        stored.extend(doc.save_after(&all[2..]));
        let mut expected = all;
        expected.extend(heads);
        assert_eq!(hashes_in(&stored).unwrap(), expected);
    }

    #[test]
    fn refuses_what_is_not_automerge() {
        let doc = doc_with_changes(1).save_after(&[]);
        assert!(hashes_in(b"not automerge at all").is_err());
        assert!(hashes_in(&doc[..doc.len() - 1]).is_err());
        let mut trailing = doc;
        trailing.push(0x85);
        assert!(hashes_in(&trailing).is_err());
    }
}
