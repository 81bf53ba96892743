//! The automerge-repo WebSocket messages.
//!
//! Every binary WebSocket frame is one CBOR map with text keys and a `type` key. The shapes
//! follow `@automerge/automerge-repo` 2.x (`network/messages.d.ts`); see
//! `../shared/notes/automerge-repo-protocol.md` for what bites in practice:
//!
//! - `data` is a CBOR byte string (`serde_bytes`), never an array of integers;
//! - cbor-x writes 16-bit map lengths even for small maps, and a missing `storageId` as CBOR
//!   `undefined` (read as `None` here);
//! - numbers above 2³² arrive as float64, so every number that is not an id is read leniently
//!   ([`Number`]), and the messages we only relay or ignore keep their unknown parts as raw
//!   CBOR values;
//! - unknown message types decode to [`Message::Unknown`] rather than failing, so a newer client
//!   does not break the connection.
//!
//! [`decode`] never panics and refuses frames over [`MAX_FRAME_BYTES`].

use ciborium::Value;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::DocumentId;

/// The largest frame [`decode`] accepts. A full save of the largest item document with years of
/// history is far below this; anything bigger is a mistake or an attack.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// The protocol version this implementation speaks (the only one automerge-repo defines).
pub const PROTOCOL_VERSION: &str = "1";

/// The WebSocket close code with which the server ends an account's sync connections when
/// its sessions end (disabled, logged out everywhere, a new password, logged out): "log in
/// again". The client then asks for a login and keeps its local data.
pub const CLOSE_LOG_IN_AGAIN: u16 = 4401;

/// CBOR nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 64;

crate::ids::string_id!(
    /// A repo's peer id: random per automerge-repo `Repo` instance (per page load). Only the
    /// server's own peer id is stable.
    PeerId
);
crate::ids::string_id!(
    /// A repo's storage id: a UUID a peer with storage keeps for good. Clients key their saved
    /// sync state by the server's storage id, so the server's must survive restarts.
    StorageId
);

/// What a peer says about itself in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerMetadata {
    /// Absent for peers without storage; cbor-x may write it as `undefined`.
    #[serde(rename = "storageId", default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<StorageId>,
    #[serde(rename = "isEphemeral", default)]
    pub is_ephemeral: bool,
    /// Our extension: the version of the batched sync ([`super::batch`]) the sender speaks.
    /// Stock peers neither send nor read it, so with them nothing changes.
    #[serde(
        rename = "rectifyBatch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rectify_batch: Option<u32>,
    /// Our extension: the version of the idle-reconnect digest (`rectify-digest`,
    /// [`super::batch::SetDigest`]) the sender speaks, on top of `rectifyBatch`. A peer that
    /// does not send it (an older build) gets the per-document `rectify-heads` instead.
    #[serde(
        rename = "rectifyDigest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rectify_digest: Option<u32>,
}

/// A JavaScript number: an integer or a float64 (cbor-x writes integers above 2³² as floats).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written back as an integer when it is one, as cbor-x does for small values.
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        if self.0.fract() == 0.0 && self.0.abs() < EXACT {
            #[allow(clippy::cast_possible_truncation)] // integral and within ±2^53
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        // serde's f64 visitor also accepts every integer type.
        f64::deserialize(deserializer).map(Number)
    }
}

/// One automerge-repo message. Field names on the wire are camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// The first message from a client.
    #[serde(rename = "join")]
    Join {
        #[serde(rename = "senderId")]
        sender_id: PeerId,
        #[serde(rename = "peerMetadata", default)]
        peer_metadata: PeerMetadata,
        #[serde(rename = "supportedProtocolVersions", default)]
        supported_protocol_versions: Vec<String>,
    },
    /// The server's answer to `join`.
    #[serde(rename = "peer")]
    Peer {
        #[serde(rename = "senderId")]
        sender_id: PeerId,
        #[serde(rename = "peerMetadata", default)]
        peer_metadata: PeerMetadata,
        #[serde(rename = "selectedProtocolVersion")]
        selected_protocol_version: String,
        #[serde(rename = "targetId")]
        target_id: PeerId,
    },
    /// A sync message from a peer that does not have the document yet.
    #[serde(rename = "request")]
    Request(SyncData),
    /// An Automerge sync message for one document.
    #[serde(rename = "sync")]
    Sync(SyncData),
    /// The answer to a `request` or `sync` for a document the sender may not have (or that
    /// does not exist: the two are indistinguishable on purpose).
    #[serde(rename = "doc-unavailable")]
    DocUnavailable {
        #[serde(rename = "senderId")]
        sender_id: PeerId,
        #[serde(rename = "targetId")]
        target_id: PeerId,
        #[serde(rename = "documentId")]
        document_id: DocumentId,
    },
    /// Something went wrong. The stock JS client only logs it.
    #[serde(rename = "error")]
    Error {
        #[serde(rename = "senderId")]
        sender_id: PeerId,
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        target_id: Option<PeerId>,
        message: String,
        /// Our extension: the document a refused change was for, so that our client can
        /// recover it. Stock clients ignore unknown keys.
        #[serde(
            rename = "documentId",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        document_id: Option<DocumentId>,
        /// Our extension: the server's own trouble (it could not read or store the document
        /// just now), not a verdict on what was sent: keep everything and try again later.
        /// Absent (false) on a refusal.
        #[serde(
            rename = "rectifyRetry",
            default,
            skip_serializing_if = "std::ops::Not::not"
        )]
        retry: bool,
        /// Our extension: why the policy refused the change, as data (JSON of
        /// [`crate::model::ChangeRefusal`]) for our client to say in the user's language. A
        /// string rather than a CBOR map, so that a refusal this client does not know still
        /// decodes (the client falls back to `message`).
        #[serde(
            rename = "rectifyRefusal",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        refusal: Option<String>,
        /// Our extension: this client is too old for the document (a version-1 item migrated
        /// to schema version 2): reload the app to update it. Whatever changes it sent were
        /// carried over to the new documents or kept for the office. Absent (false) otherwise.
        #[serde(
            rename = "rectifyUpdate",
            default,
            skip_serializing_if = "std::ops::Not::not"
        )]
        update: bool,
    },
    /// Presence and similar data, relayed to the other peers of a document and never stored.
    #[serde(rename = "ephemeral")]
    Ephemeral {
        #[serde(rename = "senderId")]
        sender_id: PeerId,
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        target_id: Option<PeerId>,
        #[serde(rename = "documentId")]
        document_id: DocumentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<Number>,
        #[serde(rename = "sessionId", default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(with = "serde_bytes", default)]
        data: Vec<u8>,
    },
    /// A peer's interest in other peers' heads (by storage id). Parsed leniently; may be ignored.
    #[serde(rename = "remote-subscription-change")]
    RemoteSubscriptionChange {
        #[serde(rename = "senderId", default, skip_serializing_if = "Option::is_none")]
        sender_id: Option<PeerId>,
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        target_id: Option<PeerId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        add: Option<Vec<StorageId>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remove: Option<Vec<StorageId>>,
    },
    /// Heads a peer saw at another storage. Parsed leniently (timestamps are float64); may be
    /// ignored.
    #[serde(rename = "remote-heads-changed")]
    RemoteHeadsChanged {
        #[serde(rename = "senderId", default, skip_serializing_if = "Option::is_none")]
        sender_id: Option<PeerId>,
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        target_id: Option<PeerId>,
        #[serde(
            rename = "documentId",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        document_id: Option<String>,
        /// `{storageId: {heads: [..], timestamp: number}}`, kept as raw CBOR.
        #[serde(rename = "newHeads", default, skip_serializing_if = "Option::is_none")]
        new_heads: Option<Value>,
    },
    /// Our extension ([`super::batch`]), only between peers that both offered it in
    /// `join`/`peer`: the heads of many documents in one frame, packed
    /// ([`super::batch::Summary`]).
    #[serde(rename = "rectify-heads")]
    RectifyHeads {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: the server's answer to `rectify-heads` ([`super::batch::SummaryReply`]).
    #[serde(rename = "rectify-heads-reply")]
    RectifyHeadsReply {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: one digest per bucket of the documents the client last confirmed with
    /// this server, instead of a `rectify-heads` list ([`super::batch::SetDigest`]).
    #[serde(rename = "rectify-digest")]
    RectifyDigest {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: the server's answer to `rectify-digest`, the buckets that differ
    /// ([`super::batch::DigestReply`]).
    #[serde(rename = "rectify-digest-reply")]
    RectifyDigestReply {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: new changes of many documents, each as one bundle
    /// ([`super::batch::ChangeBatch`]).
    #[serde(rename = "rectify-changes")]
    RectifyChanges {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: the documents of a `rectify-changes` the server now has exactly as sent
    /// ([`super::batch::Applied`]).
    #[serde(rename = "rectify-applied")]
    RectifyApplied {
        #[serde(with = "serde_bytes")]
        docs: Vec<u8>,
    },
    /// Our extension: the server tells a peer that the documents it may read changed (an item
    /// was created, or assigned to its unit or department) so it asks for its list again
    /// (`GET /api/items`) instead of waiting for its next reconnect. Carries no ids: the list
    /// is read over HTTP, under the same rules as always.
    #[serde(rename = "rectify-list-changed")]
    RectifyListChanged {},
    /// A message type this implementation does not know; `raw` is the whole map, so that it can
    /// be logged or relayed unchanged.
    #[serde(skip)]
    Unknown { type_name: String, raw: Value },
}

/// The body of `request` and `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncData {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// An encoded `automerge::sync::Message` (not parsed here).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl Message {
    /// The wire name of this message's type.
    pub fn type_name(&self) -> &str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Request(_) => "request",
            Message::Sync(_) => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Error { .. } => "error",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
            Message::RectifyHeads { .. } => "rectify-heads",
            Message::RectifyHeadsReply { .. } => "rectify-heads-reply",
            Message::RectifyDigest { .. } => "rectify-digest",
            Message::RectifyDigestReply { .. } => "rectify-digest-reply",
            Message::RectifyChanges { .. } => "rectify-changes",
            Message::RectifyApplied { .. } => "rectify-applied",
            Message::RectifyListChanged {} => "rectify-list-changed",
            Message::Unknown { type_name, .. } => type_name,
        }
    }
}

/// Why a frame could not be decoded. The texts are sent back to the peer in `error` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {size} bytes is larger than the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("frame is not valid CBOR: {0}")]
    InvalidCbor(String),
    #[error("frame is not a CBOR map with a text 'type' key")]
    NotAMessage,
    #[error("'{type_name}' message has missing or wrongly typed fields: {detail}")]
    WrongTypes { type_name: String, detail: String },
}

/// The types [`decode`] parses into their own variant; anything else is [`Message::Unknown`].
const KNOWN_TYPES: &[&str] = &[
    "join",
    "peer",
    "request",
    "sync",
    "doc-unavailable",
    "error",
    "ephemeral",
    "remote-subscription-change",
    "remote-heads-changed",
    "rectify-heads",
    "rectify-heads-reply",
    "rectify-digest",
    "rectify-digest-reply",
    "rectify-changes",
    "rectify-applied",
    "rectify-list-changed",
];

/// Decodes one frame. Never panics; garbage of any kind is a [`WireError`].
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    // Two steps: a generic value first, so that unknown types can be recognised (serde's
    // internally tagged enums can't keep the tag of an unknown variant).
    let value: Value = ciborium::de::from_reader_with_recursion_limit(bytes, MAX_NESTING)
        .map_err(|e| WireError::InvalidCbor(cbor_error(&e)))?;
    let type_name = value
        .as_map()
        .and_then(|entries| {
            entries
                .iter()
                .find(|(key, _)| key.as_text() == Some("type"))
        })
        .and_then(|(_, value)| value.as_text())
        .ok_or(WireError::NotAMessage)?
        .to_owned();
    if !KNOWN_TYPES.contains(&type_name.as_str()) {
        return Ok(Message::Unknown {
            type_name,
            raw: value,
        });
    }
    value
        .deserialized::<Message>()
        .map_err(|e| WireError::WrongTypes {
            type_name,
            detail: match e {
                ciborium::value::Error::Custom(detail) => detail,
            },
        })
}

/// A CBOR decoding error in words for the peer (ciborium's own `Display` is its `Debug`).
fn cbor_error<T>(error: &ciborium::de::Error<T>) -> String {
    use ciborium::de::Error;
    match error {
        Error::Io(_) => "the frame ends in the middle of a value".to_owned(),
        Error::Syntax(offset) => format!("not CBOR at byte {offset}"),
        Error::Semantic(Some(offset), detail) => format!("{detail} (at byte {offset})"),
        Error::Semantic(None, detail) => detail.clone(),
        Error::RecursionLimitExceeded => {
            format!("values nested more than {MAX_NESTING} levels deep")
        }
    }
}

/// Encodes one frame.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut bytes = Vec::new();
    let written = match message {
        Message::Unknown { raw, .. } => ciborium::ser::into_writer(raw, &mut bytes),
        known => ciborium::ser::into_writer(known, &mut bytes),
    };
    // Writing into a Vec cannot fail, and every field serialises to plain CBOR.
    written.expect("encoding a message into memory cannot fail");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_id() -> DocumentId {
        DocumentId([3; 16])
    }

    fn peer(name: &str) -> PeerId {
        PeerId::new(name)
    }

    #[test]
    fn every_known_message_round_trips() {
        let messages = vec![
            Message::Join {
                sender_id: peer("client"),
                peer_metadata: PeerMetadata {
                    storage_id: Some(StorageId::new("3f9c…")),
                    is_ephemeral: false,
                    rectify_batch: None,
                    rectify_digest: None,
                },
                supported_protocol_versions: vec!["1".into()],
            },
            Message::Peer {
                sender_id: peer("server"),
                peer_metadata: PeerMetadata::default(),
                selected_protocol_version: "1".into(),
                target_id: peer("client"),
            },
            Message::Peer {
                sender_id: peer("server"),
                peer_metadata: PeerMetadata {
                    storage_id: None,
                    is_ephemeral: false,
                    rectify_batch: Some(1),
                    rectify_digest: Some(1),
                },
                selected_protocol_version: "1".into(),
                target_id: peer("client"),
            },
            Message::RectifyDigest { docs: vec![0, 1] },
            Message::RectifyDigestReply { docs: vec![1] },
            Message::Request(SyncData {
                sender_id: peer("client"),
                target_id: peer("server"),
                document_id: doc_id(),
                data: vec![0x42, 0, 1, 2],
            }),
            Message::Sync(SyncData {
                sender_id: peer("client"),
                target_id: peer("server"),
                document_id: doc_id(),
                data: vec![0x43; 40],
            }),
            Message::DocUnavailable {
                sender_id: peer("server"),
                target_id: peer("client"),
                document_id: doc_id(),
            },
            Message::Error {
                sender_id: peer("server"),
                target_id: Some(peer("client")),
                message: "no".into(),
                document_id: Some(doc_id()),
                retry: false,
                refusal: Some(r#"{"code":"feedback_rewritten"}"#.into()),
                update: false,
            },
            Message::Error {
                sender_id: peer("server"),
                target_id: Some(peer("client")),
                message: "try later".into(),
                document_id: Some(doc_id()),
                retry: true,
                refusal: None,
                update: false,
            },
            Message::Error {
                sender_id: peer("server"),
                target_id: Some(peer("client")),
                message: "this app is out of date: reload to update".into(),
                document_id: Some(doc_id()),
                retry: false,
                refusal: None,
                update: true,
            },
            Message::Ephemeral {
                sender_id: peer("a"),
                target_id: Some(peer("b")),
                document_id: doc_id(),
                count: Some(Number(7.0)),
                session_id: Some("s".into()),
                data: vec![1, 2, 3],
            },
            Message::RemoteSubscriptionChange {
                sender_id: Some(peer("a")),
                target_id: Some(peer("b")),
                add: Some(vec![StorageId::new("x")]),
                remove: None,
            },
        ];
        for message in messages {
            let bytes = encode(&message);
            assert_eq!(
                decode(&bytes),
                Ok(message.clone()),
                "{}",
                message.type_name()
            );
        }
    }

    #[test]
    fn sync_data_is_a_byte_string() {
        let bytes = encode(&Message::Sync(SyncData {
            sender_id: peer("c"),
            target_id: peer("s"),
            document_id: doc_id(),
            data: vec![9; 3],
        }));
        // A byte string of length 3 (major type 2) followed by the bytes, not an array.
        assert!(bytes.windows(4).any(|w| w == [0x43, 9, 9, 9]));
    }

    /// Writes a CBOR text string (short lengths only, enough for these tests).
    fn text(out: &mut Vec<u8>, s: &str) {
        let len = u8::try_from(s.len()).expect("short test string");
        if len < 24 {
            out.push(0x60 | len);
        } else {
            out.extend([0x78, len]);
        }
        out.extend(s.as_bytes());
    }

    /// A `join` as cbor-x writes it: a 16-bit map length, `undefined` for the storage id.
    #[test]
    fn reads_a_join_as_cbor_x_writes_it() {
        let mut b = vec![0xb9, 0x00, 0x04];
        text(&mut b, "type");
        text(&mut b, "join");
        text(&mut b, "senderId");
        text(&mut b, "peer-1");
        text(&mut b, "peerMetadata");
        b.extend([0xb9, 0x00, 0x02]);
        text(&mut b, "storageId");
        b.push(0xf7); // undefined
        text(&mut b, "isEphemeral");
        b.push(0xf4); // false
        text(&mut b, "supportedProtocolVersions");
        b.push(0x81);
        text(&mut b, "1");
        assert_eq!(
            decode(&b),
            Ok(Message::Join {
                sender_id: peer("peer-1"),
                peer_metadata: PeerMetadata {
                    storage_id: None,
                    is_ephemeral: false,
                    rectify_batch: None,
                    rectify_digest: None,
                },
                supported_protocol_versions: vec!["1".into()],
            })
        );
    }

    #[test]
    fn float_timestamps_and_extra_keys_are_accepted() {
        let id = doc_id().to_string();
        let mut b = vec![0xb9, 0x00, 0x05];
        text(&mut b, "type");
        text(&mut b, "remote-heads-changed");
        text(&mut b, "senderId");
        text(&mut b, "p");
        text(&mut b, "documentId");
        text(&mut b, &id);
        text(&mut b, "newHeads");
        b.push(0xa1);
        text(&mut b, "storage");
        b.push(0xa2);
        text(&mut b, "heads");
        b.push(0x80);
        text(&mut b, "timestamp");
        b.push(0xfb);
        b.extend(1_717_000_000_123.0_f64.to_be_bytes());
        text(&mut b, "somethingNew");
        b.push(0xf5);
        let Ok(Message::RemoteHeadsChanged {
            document_id,
            new_heads,
            ..
        }) = decode(&b)
        else {
            panic!("not parsed: {:?}", decode(&b));
        };
        assert_eq!(document_id.as_deref(), Some(id.as_str()));
        assert!(new_heads.is_some());

        // An ephemeral count written as float64 is read as a number, not refused.
        let mut b = vec![0xb9, 0x00, 0x05];
        text(&mut b, "type");
        text(&mut b, "ephemeral");
        text(&mut b, "senderId");
        text(&mut b, "p");
        text(&mut b, "documentId");
        text(&mut b, &id);
        text(&mut b, "count");
        b.push(0xfb);
        b.extend(5_000_000_000.0_f64.to_be_bytes());
        text(&mut b, "data");
        b.extend([0x41, 7]);
        assert!(matches!(
            decode(&b),
            Ok(Message::Ephemeral { count: Some(Number(n)), ref data, .. })
                if n == 5_000_000_000.0 && data == &[7]
        ));
    }

    #[test]
    fn unknown_types_are_kept_and_re_encoded() {
        let mut b = vec![0xb9, 0x00, 0x02];
        text(&mut b, "type");
        text(&mut b, "brand-new");
        text(&mut b, "x");
        b.push(0x01);
        let message = decode(&b).expect("unknown types decode");
        assert_eq!(message.type_name(), "brand-new");
        assert_eq!(decode(&encode(&message)), Ok(message));
    }

    #[test]
    fn clear_errors_for_bad_frames() {
        assert!(matches!(
            decode(&[0xff, 0x00]),
            Err(WireError::InvalidCbor(_))
        ));
        assert!(matches!(decode(&[]), Err(WireError::InvalidCbor(_))));
        // A CBOR integer, and a map without a type.
        assert_eq!(decode(&[0x01]), Err(WireError::NotAMessage));
        assert_eq!(decode(&[0xa0]), Err(WireError::NotAMessage));
        // A sync whose data is a number, and one with a bad document id. (serde_bytes accepts
        // text and integer arrays as bytes; the Automerge decoder judges their content.)
        let mut b = vec![0xa5];
        text(&mut b, "type");
        text(&mut b, "sync");
        text(&mut b, "senderId");
        text(&mut b, "p");
        text(&mut b, "targetId");
        text(&mut b, "s");
        text(&mut b, "documentId");
        text(&mut b, &doc_id().to_string());
        text(&mut b, "data");
        b.push(0x07);
        assert!(matches!(decode(&b), Err(WireError::WrongTypes { .. })));
        let mut b = vec![0xa5];
        text(&mut b, "type");
        text(&mut b, "sync");
        text(&mut b, "senderId");
        text(&mut b, "p");
        text(&mut b, "targetId");
        text(&mut b, "s");
        text(&mut b, "documentId");
        text(&mut b, "not-an-id");
        text(&mut b, "data");
        b.push(0x40);
        let err = decode(&b).expect_err("bad id");
        assert!(err.to_string().contains("not a document id"), "{err}");
        let huge = vec![0; MAX_FRAME_BYTES + 1];
        assert!(matches!(decode(&huge), Err(WireError::TooLarge { .. })));
        // Deep nesting is refused, not a stack overflow.
        let deep = vec![0x81; 100_000];
        assert!(decode(&deep).is_err());
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn prefixed_garbage_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            // Starts like a real message so that the fuzzing reaches past the first byte.
            let mut b = vec![0xb9, 0x00, 0x05];
            text(&mut b, "type");
            text(&mut b, "sync");
            b.extend(tail);
            let _ = decode(&b);
        }
    }
}
