//! Our extension to the automerge-repo protocol: syncing many documents in a few frames.
//!
//! With the stock protocol every document costs at least one sync message each way on every
//! connection, each with the sender's and the target's peer ids, the document id, the heads
//! and a Bloom filter: about 450 bytes a document for a school that has nothing new, and a
//! whole saved document whenever more than a third of its changes are new. Rural schools pay
//! for every byte, so peers that both speak this extension do better:
//!
//! 1. **Negotiated** in `join`/`peer` (`peerMetadata.rectifyBatch` = [`VERSION`]). Stock
//!    peers never offer it and never see these messages; with them nothing changes.
//! 2. **`rectify-digest`** (when both also offer `peerMetadata.rectifyDigest` =
//!    [`DIGEST_VERSION`]): right after `peer`, the client sends one [`SetDigest`]: the
//!    documents whose heads it last confirmed with this server (the `shared_heads` of the sync
//!    states it keeps on disk), split into [`buckets_for`] buckets by the first byte of their
//!    id, one 8-byte digest a bucket. The server computes the same over the documents the user
//!    may read, with their heads as it has them (the driver reads those from storage, without
//!    loading the documents), and answers **`rectify-digest-reply`** ([`DigestReply`]): which
//!    buckets differ. Every document of an equal bucket is in sync as of the confirmed heads
//!    (both sides set [`synced_state`]; a client's edits beyond them then go as usual). For
//!    the documents of the differing buckets the client carries on with step 3. An idle
//!    reconnect is `join`/`peer` and this exchange whatever the number of documents: two
//!    round trips, under a kilobyte.
//! 3. **`rectify-heads`**: right after `peer` (or for the documents of the buckets that
//!    differ), the client sends one frame with a [`Summary`]: for every document it holds,
//!    the id and an 8-byte digest of its heads (24 bytes a document).
//! 4. **`rectify-heads-reply`**: the server answers once, with a [`SummaryReply`] naming only
//!    the documents whose heads differ (with the server's heads) or that the client may not
//!    read. Every other document is in sync: both sides set their sync state for it as if a
//!    sync round had just ended ([`synced_state`]), and the server subscribes the connection to
//!    it.
//! 5. **`rectify-changes`**: for a document where the server's heads are all in the client's
//!    history (the client only has more), the client sends exactly the missing changes as one
//!    compressed bundle, in one frame for all such documents ([`ChangeBatch`]). The server
//!    checks and stores them as it does changes in sync messages, and answers with
//!    **`rectify-applied`** ([`Applied`]) for the documents it now has exactly as the client.
//!    Anything else (the server also has changes, a refusal, a document being created) falls
//!    back to the stock per-document sync messages, which always converge.
//! 6. Stock sync messages between two such peers carry their changes as one bundle when that
//!    is smaller ([`generate`]): never the whole document when the peer already has part of it.
//!
//! Bundles are an Automerge 0.12 format marked experimental. Both ends are built from this
//! workspace, but a browser may run an older cached client after a server upgrade: **bump
//! [`VERSION`] whenever the automerge dependency changes**, so that differing peers fall back
//! to the stock protocol instead of misreading each other.
//!
//! The packed formats are little binary records (ids are the 16 raw bytes of a
//! [`DocumentId`], hashes their 32 bytes, counts and lengths LEB128). Every decoder checks
//! every length and never panics.

use automerge::sync::{self, BloomFilter, Capability, Have, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use sha2::{Digest as _, Sha256};

use crate::ids::DocumentId;

/// The version of this extension. Bump it with every change of the automerge dependency (see
/// the module documentation).
pub const VERSION: u32 = 1;

/// The version of the idle-reconnect digest (`rectify-digest`), negotiated beside
/// [`VERSION`] so that a peer of either side that lacks it keeps the per-document summary.
pub const DIGEST_VERSION: u32 = 1;

/// About how many documents share a bucket of a [`SetDigest`]: a bucket that differs costs
/// the client a [`Summary`] of its documents (24 bytes each), the digest 8 bytes a bucket.
const DOCS_PER_BUCKET: usize = 128;

/// The most buckets a [`SetDigest`] has: they are told apart by the first byte of an id.
pub const MAX_BUCKETS: usize = 256;

/// How many buckets a [`SetDigest`] over `count` documents has: a power of two, one for a
/// school's few dozen documents, 64 for an office's 5,000.
pub fn buckets_for(count: usize) -> usize {
    count
        .div_ceil(DOCS_PER_BUCKET)
        .next_power_of_two()
        .clamp(1, MAX_BUCKETS)
}

/// The bucket of `doc` among `buckets` (a power of two up to [`MAX_BUCKETS`]). Ids are random,
/// so buckets are about even.
pub fn bucket_of(doc: &DocumentId, buckets: usize) -> usize {
    usize::from(doc.0[0]) % buckets.max(1)
}

/// `rectify-digest`: per bucket, an 8-byte digest of its (document, heads) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDigest(pub Vec<HeadsDigest>);

impl SetDigest {
    /// The digest of `entries` (documents with their heads) in `buckets` buckets. Documents
    /// without heads are left out on both sides: neither can confirm them.
    pub fn of<'a>(
        entries: impl IntoIterator<Item = (DocumentId, &'a [ChangeHash])>,
        buckets: usize,
    ) -> SetDigest {
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let mut sorted: Vec<Vec<(DocumentId, HeadsDigest)>> = vec![Vec::new(); buckets];
        for (doc, heads) in entries {
            if !heads.is_empty() {
                sorted[bucket_of(&doc, buckets)].push((doc, digest(heads)));
            }
        }
        SetDigest(
            sorted
                .into_iter()
                .map(|mut bucket| {
                    bucket.sort_unstable();
                    let mut hasher = Sha256::new();
                    for (doc, heads) in &bucket {
                        hasher.update(doc.0);
                        hasher.update(heads);
                    }
                    let mut out = [0; 8];
                    out.copy_from_slice(&hasher.finalize()[..8]);
                    out
                })
                .collect(),
        )
    }

    /// The buckets where `self` and `other` differ (all of them when their sizes do).
    pub fn differing(&self, other: &SetDigest) -> DigestReply {
        if self.0.len() != other.0.len() {
            return DigestReply(vec![true; self.0.len()]);
        }
        DigestReply(self.0.iter().zip(&other.0).map(|(a, b)| a != b).collect())
    }

    /// One byte, the number of buckets as a power of two, then 8 bytes a bucket.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 * self.0.len());
        out.push(self.0.len().max(1).trailing_zeros() as u8);
        for bucket in &self.0 {
            out.extend_from_slice(bucket);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<SetDigest, PackError> {
        let mut reader = Reader::new(bytes, "rectify-digest");
        let power = reader.array::<1>()?[0];
        if usize::from(power) > MAX_BUCKETS.trailing_zeros() as usize {
            return Err(reader.error("more buckets than ids tell apart"));
        }
        let buckets = (0..1usize << power)
            .map(|_| reader.array::<8>())
            .collect::<Result<_, _>>()?;
        if !reader.done() {
            return Err(reader.error("bytes after the last bucket"));
        }
        Ok(SetDigest(buckets))
    }
}

/// `rectify-digest-reply`: for each bucket of the client's [`SetDigest`], whether the server's
/// differs. A bitmap, bucket 0 in the lowest bit of the first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestReply(pub Vec<bool>);

impl DigestReply {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.0.len().div_ceil(8)];
        for (i, _) in self.0.iter().enumerate().filter(|(_, differs)| **differs) {
            out[i / 8] |= 1 << (i % 8);
        }
        out
    }

    /// Decodes the answer to a digest of `buckets` buckets.
    pub fn decode(bytes: &[u8], buckets: usize) -> Result<DigestReply, PackError> {
        if bytes.len() != buckets.div_ceil(8) {
            return Err(PackError {
                message: "rectify-digest-reply",
                detail: "not one bit per bucket",
            });
        }
        Ok(DigestReply(
            (0..buckets)
                .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
                .collect(),
        ))
    }
}

/// A short digest of a document's heads: equal heads give equal digests; different heads
/// collide with a chance of 2⁻⁶⁴.
pub type HeadsDigest = [u8; 8];

/// The digest of `heads` (in any order).
pub fn digest(heads: &[ChangeHash]) -> HeadsDigest {
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for head in &sorted {
        hasher.update(head.0);
    }
    let full = hasher.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&full[..8]);
    out
}

/// A sync state saying both sides have exactly `heads`, as a sync round that just ended would
/// leave it: nothing is sent until the document changes, and then only the new changes.
pub fn synced_state(heads: &[ChangeHash]) -> sync::State {
    let mut heads = heads.to_vec();
    heads.sort_unstable();
    let mut state = sync::State::new();
    state.shared_heads.clone_from(&heads);
    state.last_sent_heads.clone_from(&heads);
    state.their_heads = Some(heads.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: heads,
        bloom: BloomFilter::default(),
    }]);
    state.have_responded = true;
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    state
}

/// `doc.generate_sync_message(state)`, but for a peer that speaks this extension (`bundles`)
/// the changes go as one compressed bundle whenever that is smaller: in particular instead of
/// the whole saved document Automerge sends when more than a third of the changes are new.
pub fn generate(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    bundles: bool,
) -> Option<sync::Message> {
    if !bundles {
        return doc.sync().generate_sync_message(state);
    }
    let sent_before = state.sent_hashes.clone();
    let they_have_nothing = state.their_heads.as_ref().is_none_or(Vec::is_empty);
    let last_sync: Vec<ChangeHash> = state
        .their_have
        .iter()
        .flatten()
        .flat_map(|have| have.last_sync.iter().copied())
        .collect();
    let mut message = doc.sync().generate_sync_message(state)?;
    if message.changes.is_empty() {
        return Some(message);
    }
    let sent: usize = message.changes.iter().map(<[u8]>::len).sum();
    let whole_document = message.changes.iter().any(is_document_chunk);
    let hashes: Vec<ChangeHash> = if whole_document {
        if they_have_nothing || last_sync.is_empty() {
            // A peer with nothing gets the document: that is the compact form of everything.
            return Some(message);
        }
        // Everything after what they last said they had: perhaps a few changes they have
        // already (their Bloom filter is not consulted), which they ignore.
        doc.get_changes(&last_sync)
            .iter()
            .map(automerge::Change::hash)
            .collect()
    } else {
        state
            .sent_hashes
            .difference(&sent_before)
            .copied()
            .collect()
    };
    if let Ok(bundle) = doc.bundle(hashes)
        && bundle.bytes().len() < sent
    {
        message.changes = bundle.bytes().to_vec().into();
    }
    Some(message)
}

/// Whether a storage chunk is a whole saved document (chunk type 0 after the 4-byte magic and
/// the 4-byte checksum).
fn is_document_chunk(chunk: &[u8]) -> bool {
    chunk.get(8) == Some(&0)
}

/// The bundle of the changes `doc` has after `base` (heads all in `doc`), or `None` when there
/// are none.
pub fn bundle_after(doc: &mut AutoCommit, base: &[ChangeHash]) -> Option<Vec<u8>> {
    let hashes: Vec<ChangeHash> = doc
        .get_changes(base)
        .iter()
        .map(automerge::Change::hash)
        .collect();
    if hashes.is_empty() {
        return None;
    }
    doc.bundle(hashes)
        .ok()
        .map(|bundle| bundle.bytes().to_vec())
}

/// Why a packed record did not decode. The text goes back to the peer in an `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed '{message}' record: {detail}")]
pub struct PackError {
    message: &'static str,
    detail: &'static str,
}

/// `rectify-heads`: the documents a client holds, each with the digest of its heads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary(pub Vec<(DocumentId, HeadsDigest)>);

/// What the server says of one document in a [`Summary`] that is not in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Differs {
    /// The server's heads (empty: the server does not have it, or could not load it).
    Heads(Vec<ChangeHash>),
    /// The client may not read it (or it does not exist): as `doc-unavailable`.
    Unavailable,
}

/// `rectify-heads-reply`: the documents of a [`Summary`] that are not in sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryReply(pub Vec<(DocumentId, Differs)>);

/// `rectify-changes`: for each document, the sender's heads after the changes and the changes
/// as one bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeBatch(pub Vec<ChangeEntry>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEntry {
    pub doc: DocumentId,
    pub heads: Vec<ChangeHash>,
    pub bundle: Vec<u8>,
}

/// `rectify-applied`: the documents the server now has exactly at the heads the client sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied(pub Vec<DocumentId>);

impl Summary {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 24);
        for (doc, digest) in &self.0 {
            out.extend_from_slice(&doc.0);
            out.extend_from_slice(digest);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Summary, PackError> {
        let mut reader = Reader::new(bytes, "rectify-heads");
        let mut entries = Vec::new();
        while !reader.done() {
            entries.push((reader.doc()?, reader.array::<8>()?));
        }
        Ok(Summary(entries))
    }
}

impl SummaryReply {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (doc, differs) in &self.0 {
            out.extend_from_slice(&doc.0);
            match differs {
                Differs::Heads(heads) => {
                    out.push(0);
                    write_hashes(&mut out, heads);
                }
                Differs::Unavailable => out.push(1),
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<SummaryReply, PackError> {
        let mut reader = Reader::new(bytes, "rectify-heads-reply");
        let mut entries = Vec::new();
        while !reader.done() {
            let doc = reader.doc()?;
            let differs = match reader.array::<1>()?[0] {
                0 => Differs::Heads(reader.hashes()?),
                1 => Differs::Unavailable,
                _ => return Err(reader.error("unknown entry kind")),
            };
            entries.push((doc, differs));
        }
        Ok(SummaryReply(entries))
    }
}

impl ChangeBatch {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.0 {
            out.extend_from_slice(&entry.doc.0);
            write_hashes(&mut out, &entry.heads);
            leb128::write::unsigned(&mut out, entry.bundle.len() as u64)
                .expect("writing into memory cannot fail");
            out.extend_from_slice(&entry.bundle);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ChangeBatch, PackError> {
        let mut reader = Reader::new(bytes, "rectify-changes");
        let mut entries = Vec::new();
        while !reader.done() {
            let doc = reader.doc()?;
            let heads = reader.hashes()?;
            let len = reader.count()?;
            let bundle = reader.take(len)?.to_vec();
            entries.push(ChangeEntry { doc, heads, bundle });
        }
        Ok(ChangeBatch(entries))
    }
}

impl Applied {
    pub fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|doc| doc.0).collect()
    }

    pub fn decode(bytes: &[u8]) -> Result<Applied, PackError> {
        let mut reader = Reader::new(bytes, "rectify-applied");
        let mut docs = Vec::new();
        while !reader.done() {
            docs.push(reader.doc()?);
        }
        Ok(Applied(docs))
    }
}

fn write_hashes(out: &mut Vec<u8>, hashes: &[ChangeHash]) {
    leb128::write::unsigned(out, hashes.len() as u64).expect("writing into memory cannot fail");
    for hash in hashes {
        out.extend_from_slice(&hash.0);
    }
}

/// A bounds-checked cursor over a packed record.
struct Reader<'a> {
    bytes: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], message: &'static str) -> Self {
        Reader { bytes, message }
    }

    fn done(&self) -> bool {
        self.bytes.is_empty()
    }

    fn error(&self, detail: &'static str) -> PackError {
        PackError {
            message: self.message,
            detail,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PackError> {
        if self.bytes.len() < n {
            return Err(self.error("ends in the middle of an entry"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PackError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn doc(&mut self) -> Result<DocumentId, PackError> {
        self.array::<16>().map(DocumentId)
    }

    fn count(&mut self) -> Result<usize, PackError> {
        let mut slice = self.bytes;
        let value = leb128::read::unsigned(&mut slice).map_err(|_| self.error("bad length"))?;
        self.bytes = slice;
        // Anything longer than what is left is a lie; checking here keeps allocations honest.
        usize::try_from(value)
            .ok()
            .filter(|n| *n <= self.bytes.len())
            .ok_or_else(|| self.error("length past the end"))
    }

    fn hashes(&mut self) -> Result<Vec<ChangeHash>, PackError> {
        let n = self.count()?;
        (0..n).map(|_| self.array::<32>().map(ChangeHash)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};

    fn id(n: u8) -> DocumentId {
        DocumentId([n; 16])
    }

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn records_round_trip() {
        let summary = Summary(vec![(id(1), [1; 8]), (id(2), [2; 8])]);
        assert_eq!(summary.encode().len(), 48);
        assert_eq!(Summary::decode(&summary.encode()), Ok(summary));

        let reply = SummaryReply(vec![
            (id(1), Differs::Heads(vec![hash(1), hash(2)])),
            (id(2), Differs::Unavailable),
            (id(3), Differs::Heads(Vec::new())),
        ]);
        assert_eq!(SummaryReply::decode(&reply.encode()), Ok(reply));

        let batch = ChangeBatch(vec![ChangeEntry {
            doc: id(4),
            heads: vec![hash(9)],
            bundle: vec![1, 2, 3],
        }]);
        assert_eq!(ChangeBatch::decode(&batch.encode()), Ok(batch));

        let applied = Applied(vec![id(5), id(6)]);
        assert_eq!(Applied::decode(&applied.encode()), Ok(applied));
    }

    #[test]
    fn truncated_and_lying_records_are_refused() {
        let summary = Summary(vec![(id(1), [1; 8])]).encode();
        assert!(Summary::decode(&summary[..23]).is_err());
        let batch = ChangeBatch(vec![ChangeEntry {
            doc: id(4),
            heads: vec![hash(9)],
            bundle: vec![1, 2, 3],
        }])
        .encode();
        for cut in 0..batch.len() {
            assert!(ChangeBatch::decode(&batch[..cut]).is_err() || cut == 0);
        }
        // A hash count of 2⁶⁰ must not allocate.
        let mut lying = id(1).0.to_vec();
        leb128::write::unsigned(&mut lying, 1 << 60).unwrap();
        assert!(ChangeBatch::decode(&lying).is_err());
        assert!(
            SummaryReply::decode(&[0; 16].iter().copied().chain([7]).collect::<Vec<_>>()).is_err()
        );
    }

    #[test]
    fn set_digests_round_trip_and_bad_ones_are_refused() {
        let digest = SetDigest(vec![[1; 8], [2; 8], [3; 8], [4; 8]]);
        let bytes = digest.encode();
        assert_eq!(bytes.len(), 1 + 32);
        assert_eq!(SetDigest::decode(&bytes), Ok(digest));
        for cut in 0..bytes.len() {
            assert!(SetDigest::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes;
        longer.push(0);
        assert!(SetDigest::decode(&longer).is_err());
        // 2⁹ buckets: more than the first byte of an id tells apart (and no allocation).
        assert!(SetDigest::decode(&[9]).is_err());

        let reply = DigestReply(vec![
            false, true, false, false, false, false, false, false, true,
        ]);
        assert_eq!(reply.encode(), [0b10, 0b1]);
        assert_eq!(DigestReply::decode(&reply.encode(), 9), Ok(reply));
        assert!(DigestReply::decode(&[0b10], 9).is_err());
    }

    #[test]
    fn set_digests_tell_every_difference_apart_bucket_by_bucket() {
        let docs: Vec<(DocumentId, Vec<ChangeHash>)> = (0..=255u8)
            .map(|n| (DocumentId([n; 16]), vec![hash(n)]))
            .collect();
        let of = |docs: &[(DocumentId, Vec<ChangeHash>)]| {
            SetDigest::of(docs.iter().map(|(d, h)| (*d, h.as_slice())), 4)
        };
        let base = of(&docs);
        // The order documents come in does not matter; documents without heads do not count.
        let mut shuffled = docs.clone();
        shuffled.reverse();
        shuffled.push((DocumentId([7; 16]), Vec::new()));
        assert_eq!(of(&shuffled), base);
        // Each kind of difference shows in exactly the bucket of the document concerned.
        let mut other_heads = docs.clone();
        other_heads[5].1 = vec![hash(1), hash(2)];
        let mut missing = docs.clone();
        missing.remove(6);
        let mut extra = docs;
        extra.push((
            DocumentId([6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            vec![hash(0)],
        ));
        for (changed, bucket) in [(other_heads, 1), (missing, 2), (extra, 2)] {
            let differs = of(&changed).differing(&base);
            let expected: Vec<bool> = (0..4).map(|b| b == bucket).collect();
            assert_eq!(differs.0, expected);
        }
        // Digests of different sizes differ everywhere.
        assert_eq!(SetDigest(vec![[0; 8]]).differing(&base).0, [true]);
    }

    #[test]
    fn buckets_grow_with_the_set_in_powers_of_two() {
        assert_eq!(buckets_for(0), 1);
        assert_eq!(buckets_for(60), 1);
        assert_eq!(buckets_for(129), 2);
        assert_eq!(buckets_for(5_000), 64);
        assert_eq!(buckets_for(10_000_000), MAX_BUCKETS);
    }

    #[test]
    fn digest_ignores_order_and_tells_heads_apart() {
        assert_eq!(digest(&[hash(1), hash(2)]), digest(&[hash(2), hash(1)]));
        assert_ne!(digest(&[hash(1)]), digest(&[hash(1), hash(2)]));
        assert_ne!(digest(&[]), digest(&[hash(1)]));
    }

    fn doc_with(n: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
            doc.commit();
        }
        doc
    }

    #[test]
    fn synced_states_stay_quiet_until_a_change_then_send_only_it() {
        let mut ours = doc_with(5);
        let mut theirs = ours.fork();
        let heads = ours.get_heads();
        let mut our_state = synced_state(&heads);
        let mut their_state = synced_state(&heads);
        assert!(ours.sync().generate_sync_message(&mut our_state).is_none());

        ours.put(ROOT, "new", 1).unwrap();
        ours.commit();
        let message = ours.sync().generate_sync_message(&mut our_state).unwrap();
        let sent: usize = message.changes.iter().map(<[u8]>::len).sum();
        assert!(sent > 0 && sent < 200, "only the new change: {sent} bytes");
        theirs
            .sync()
            .receive_sync_message(&mut their_state, message)
            .unwrap();
        assert_eq!(theirs.get_heads(), ours.get_heads());
        assert!(theirs.get(ROOT, "new").unwrap().is_some());
    }

    #[test]
    fn bundles_replace_whole_documents_for_a_peer_with_part_of_it() {
        // Twenty new changes on a document of five: Automerge would send the whole document.
        let mut old = doc_with(5);
        let base = old.get_heads();
        let mut peer = old.fork();
        for i in 0..20 {
            old.put(ROOT, "counter", i).unwrap();
            old.commit();
        }
        let mut stock_state = synced_state(&base);
        let stock = old.sync().generate_sync_message(&mut stock_state).unwrap();
        assert!(stock.changes.iter().any(is_document_chunk));

        let mut state = synced_state(&base);
        let message = generate(&mut old, &mut state, true).unwrap();
        assert!(!message.changes.iter().any(is_document_chunk));
        let stock_len: usize = stock.changes.iter().map(<[u8]>::len).sum();
        let ours_len: usize = message.changes.iter().map(<[u8]>::len).sum();
        assert!(ours_len < stock_len, "{ours_len} < {stock_len}");

        let mut peer_state = synced_state(&base);
        peer.sync()
            .receive_sync_message(&mut peer_state, message)
            .unwrap();
        assert_eq!(peer.get_heads(), old.get_heads());
    }

    #[test]
    fn bundle_after_carries_exactly_the_missing_changes() {
        let mut doc = doc_with(3);
        let base = doc.get_heads();
        let mut server = doc.fork();
        assert_eq!(bundle_after(&mut doc, &base), None);
        for i in 0..4 {
            doc.put(ROOT, "x", i).unwrap();
            doc.commit();
        }
        let bundle = bundle_after(&mut doc, &base).unwrap();
        server.load_incremental(&bundle).unwrap();
        assert_eq!(server.get_heads(), doc.get_heads());
    }
}
