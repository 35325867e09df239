//! The sync protocol's messages and their compact binary encoding.
//!
//! Hand-written rather than serde-derived because every byte here comes from an unauthenticated
//! network peer: the decoder checks every length against what is left *before* allocating, and
//! a message that does not decode is a typed [`SyncFailure`], never a panic. The encoding is
//! small on purpose — a session between two nearly identical stores should cost a few bytes per
//! changed document.
//!
//! Every message is `0xD5`, the protocol version `u8`, the message type `u8`, then its body.
//! Integers are unsigned LEB128 unless said otherwise; strings and byte strings are a length
//! then the bytes; ids, keys, nonces and signatures have fixed sizes (16, 32, 32, 64).
//!
//! | type | message | body |
//! |---|---|---|
//! | 1 | `Hello` | site, public key, nonce |
//! | 2 | `Welcome` | site, public key, nonce, signature over the hello's nonce |
//! | 3 | `Auth` | signature over the welcome's nonce |
//! | 4 | `Have` | `last` flag `u8`, count, then per document: id, 8-byte heads digest |
//! | 5 | `Doc` | id, Automerge sync message (byte string) |
//! | 6 | `Rejected` | id, reason code `u8` |
//! | 7 | `Quiet` | messages sent, messages received, `idle` flag `u8` |
//! | 8 | `Done` | — |
//! | 9 | `Fail` | failure code `u8`, detail |

use super::{RejectCode, SyncFailure};
use crate::id::DocId;

/// The sync protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// The oldest protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u8 = 1;

const MAGIC: u8 = 0xD5;
/// Longest site id on the wire (site ids are at most 16 characters).
const MAX_SITE: usize = 16;

/// A heads digest: the first 8 bytes of SHA-256 over the sorted heads.
pub(crate) type Digest = [u8; 8];

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    Hello {
        site: String,
        key: [u8; 32],
        nonce: [u8; 32],
    },
    Welcome {
        site: String,
        key: [u8; 32],
        nonce: [u8; 32],
        sig: [u8; 64],
    },
    Auth {
        sig: [u8; 64],
    },
    Have {
        entries: Vec<(DocId, Digest)>,
        last: bool,
    },
    Doc {
        id: DocId,
        sync: Vec<u8>,
    },
    Rejected {
        id: DocId,
        code: RejectCode,
    },
    Quiet {
        sent: u64,
        received: u64,
        idle: bool,
    },
    Done,
    Fail {
        failure: SyncFailure,
    },
}

/// Bytes needed by one `Have` entry.
pub(crate) const HAVE_ENTRY_BYTES: usize = 16 + 8;

fn malformed(reason: &'static str) -> SyncFailure {
    SyncFailure::Malformed { reason }
}

/// Appends `v` as unsigned LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over untrusted bytes.
pub(crate) struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Input { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn u8(&mut self) -> Result<u8, SyncFailure> {
        let (&b, rest) = self.rest.split_first().ok_or(malformed("truncated"))?;
        self.rest = rest;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64, SyncFailure> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(malformed("integer overflow"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("integer overflow"))
    }

    /// A length that must fit in what is left, each unit weighing `unit` bytes.
    pub fn count(&mut self, unit: usize) -> Result<usize, SyncFailure> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| malformed("length too large"))?;
        if n.saturating_mul(unit.max(1)) > self.rest.len() {
            return Err(malformed("length beyond the end of the message"));
        }
        Ok(n)
    }

    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], SyncFailure> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(malformed("truncated"))?;
        self.rest = rest;
        Ok(*head)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], SyncFailure> {
        if n > self.rest.len() {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], SyncFailure> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub fn site(&mut self) -> Result<String, SyncFailure> {
        let n = self.count(1)?;
        if n > MAX_SITE {
            return Err(malformed("site id too long"));
        }
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| malformed("site id is not utf-8"))?;
        if crate::store::validate_site(s).is_err() {
            return Err(malformed("invalid site id"));
        }
        Ok(s.to_string())
    }

    pub fn doc_id(&mut self) -> Result<DocId, SyncFailure> {
        Ok(DocId::from_bytes(self.fixed::<16>()?))
    }

    pub fn flag(&mut self) -> Result<bool, SyncFailure> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(malformed("bad flag")),
        }
    }
}

fn failure_code(f: &SyncFailure) -> (u8, u64) {
    match f {
        SyncFailure::UnsupportedVersion { theirs } => (1, u64::from(*theirs)),
        SyncFailure::UnknownPeer => (2, 0),
        SyncFailure::UnknownKey => (3, 0),
        SyncFailure::BadSignature => (4, 0),
        SyncFailure::ReplayedNonce => (5, 0),
        SyncFailure::Malformed { .. } => (6, 0),
        SyncFailure::TooLarge { limit } => (7, *limit),
        SyncFailure::Protocol { .. } => (8, 0),
        SyncFailure::Truncated => (9, 0),
        SyncFailure::NotForThisSite => (10, 0),
        SyncFailure::Internal => (11, 0),
    }
}

fn failure_from(code: u8, detail: u64) -> SyncFailure {
    match code {
        1 => SyncFailure::UnsupportedVersion {
            theirs: u8::try_from(detail).unwrap_or(u8::MAX),
        },
        2 => SyncFailure::UnknownPeer,
        3 => SyncFailure::UnknownKey,
        4 => SyncFailure::BadSignature,
        5 => SyncFailure::ReplayedNonce,
        6 => malformed("the peer could not decode a message"),
        7 => SyncFailure::TooLarge { limit: detail },
        9 => SyncFailure::Truncated,
        10 => SyncFailure::NotForThisSite,
        11 => SyncFailure::Internal,
        _ => SyncFailure::Protocol {
            reason: "the peer reported a protocol violation",
        },
    }
}

impl Msg {
    pub fn type_code(&self) -> u8 {
        match self {
            Msg::Hello { .. } => 1,
            Msg::Welcome { .. } => 2,
            Msg::Auth { .. } => 3,
            Msg::Have { .. } => 4,
            Msg::Doc { .. } => 5,
            Msg::Rejected { .. } => 6,
            Msg::Quiet { .. } => 7,
            Msg::Done => 8,
            Msg::Fail { .. } => 9,
        }
    }

    /// Whether the message counts towards the quiet/done handshake (data, not control).
    pub fn is_data(&self) -> bool {
        matches!(
            self,
            Msg::Have { .. } | Msg::Doc { .. } | Msg::Rejected { .. }
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_version(PROTOCOL_VERSION)
    }

    pub fn encode_with_version(&self, version: u8) -> Vec<u8> {
        let mut out = vec![MAGIC, version, self.type_code()];
        match self {
            Msg::Hello { site, key, nonce } => {
                put_bytes(&mut out, site.as_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(nonce);
            }
            Msg::Welcome {
                site,
                key,
                nonce,
                sig,
            } => {
                put_bytes(&mut out, site.as_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(nonce);
                out.extend_from_slice(sig);
            }
            Msg::Auth { sig } => out.extend_from_slice(sig),
            Msg::Have { entries, last } => {
                out.push(u8::from(*last));
                put_varint(&mut out, entries.len() as u64);
                for (id, digest) in entries {
                    out.extend_from_slice(id.as_bytes());
                    out.extend_from_slice(digest);
                }
            }
            Msg::Doc { id, sync } => {
                out.extend_from_slice(id.as_bytes());
                put_bytes(&mut out, sync);
            }
            Msg::Rejected { id, code } => {
                out.extend_from_slice(id.as_bytes());
                out.push(code.code());
            }
            Msg::Quiet {
                sent,
                received,
                idle,
            } => {
                put_varint(&mut out, *sent);
                put_varint(&mut out, *received);
                out.push(u8::from(*idle));
            }
            Msg::Done => {}
            Msg::Fail { failure } => {
                let (code, detail) = failure_code(failure);
                out.push(code);
                put_varint(&mut out, detail);
            }
        }
        out
    }

    /// Decodes one message, refusing anything larger than `limit` bytes, of another protocol
    /// version, or malformed in any way.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Msg, SyncFailure> {
        if bytes.len() > limit {
            return Err(SyncFailure::TooLarge {
                limit: limit as u64,
            });
        }
        let mut i = Input::new(bytes);
        if i.u8()? != MAGIC {
            return Err(malformed("not a dossier sync message"));
        }
        let version = i.u8()?;
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
            return Err(SyncFailure::UnsupportedVersion { theirs: version });
        }
        let msg = match i.u8()? {
            1 => Msg::Hello {
                site: i.site()?,
                key: i.fixed()?,
                nonce: i.fixed()?,
            },
            2 => Msg::Welcome {
                site: i.site()?,
                key: i.fixed()?,
                nonce: i.fixed()?,
                sig: i.fixed()?,
            },
            3 => Msg::Auth { sig: i.fixed()? },
            4 => {
                let last = i.flag()?;
                let n = i.count(HAVE_ENTRY_BYTES)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((i.doc_id()?, i.fixed()?));
                }
                Msg::Have { entries, last }
            }
            5 => Msg::Doc {
                id: i.doc_id()?,
                sync: i.bytes()?.to_vec(),
            },
            6 => {
                let id = i.doc_id()?;
                let code = RejectCode::from_code(i.u8()?).ok_or(malformed("unknown reason"))?;
                Msg::Rejected { id, code }
            }
            7 => Msg::Quiet {
                sent: i.varint()?,
                received: i.varint()?,
                idle: i.flag()?,
            },
            8 => Msg::Done,
            9 => {
                let code = i.u8()?;
                let detail = i.varint()?;
                Msg::Fail {
                    failure: failure_from(code, detail),
                }
            }
            _ => return Err(malformed("unknown message type")),
        };
        if !i.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(msg)
    }
}

/// The digest of a document's heads, for cheap comparison during reconciliation.
pub(crate) fn digest(heads: &[automerge::ChangeHash]) -> Digest {
    use sha2::{Digest as _, Sha256};
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    for head in &sorted {
        h.update(head.0);
    }
    let full = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_msg() -> impl Strategy<Value = Msg> {
        let site = "[A-Z][A-Z0-9]{0,15}";
        let id = any::<[u8; 16]>().prop_map(DocId::from_bytes);
        prop_oneof![
            (site, any::<[u8; 32]>(), any::<[u8; 32]>())
                .prop_map(|(site, key, nonce)| Msg::Hello { site, key, nonce }),
            (
                site,
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                any::<[u8; 32]>()
            )
                .prop_map(|(site, key, nonce, s)| {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(&s);
                    Msg::Welcome {
                        site,
                        key,
                        nonce,
                        sig,
                    }
                }),
            proptest::collection::vec((id.clone(), any::<[u8; 8]>()), 0..20).prop_flat_map(
                |entries| any::<bool>().prop_map(move |last| Msg::Have {
                    entries: entries.clone(),
                    last
                })
            ),
            (id.clone(), proptest::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(id, sync)| Msg::Doc { id, sync }),
            (id, 1u8..=6).prop_map(|(id, c)| Msg::Rejected {
                id,
                code: RejectCode::from_code(c).unwrap()
            }),
            (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(sent, received, idle)| {
                Msg::Quiet {
                    sent,
                    received,
                    idle,
                }
            }),
            Just(Msg::Done),
            Just(Msg::Fail {
                failure: SyncFailure::BadSignature
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn every_message_round_trips_through_its_encoding(msg in arb_msg()) {
            let bytes = msg.encode();
            prop_assert_eq!(Msg::decode(&bytes, 1 << 20).unwrap(), msg);
        }

        #[test]
        fn every_truncation_of_a_message_is_refused_not_panicking(msg in arb_msg()) {
            let bytes = msg.encode();
            for cut in 0..bytes.len() {
                prop_assert!(Msg::decode(&bytes[..cut], 1 << 20).is_err());
            }
        }

        #[test]
        fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Msg::decode(&bytes, 1 << 20);
        }
    }

    #[test]
    fn the_encoding_is_stable() {
        // Golden bytes: changing the wire format needs a new protocol version.
        let id = DocId::from_bytes([0x11; 16]);
        assert_eq!(
            Msg::Rejected {
                id,
                code: RejectCode::CardData
            }
            .encode(),
            [&[0xD5, 1, 6][..], &[0x11; 16], &[3]].concat()
        );
        assert_eq!(
            Msg::Quiet {
                sent: 300,
                received: 1,
                idle: true
            }
            .encode(),
            vec![0xD5, 1, 7, 0xAC, 0x02, 1, 1]
        );
        assert_eq!(Msg::Done.encode(), vec![0xD5, 1, 8]);
        let hello = Msg::Hello {
            site: "MX1".into(),
            key: [2; 32],
            nonce: [3; 32],
        }
        .encode();
        assert_eq!(&hello[..7], &[0xD5, 1, 1, 3, b'M', b'X', b'1']);
        assert_eq!(hello.len(), 7 + 64);
    }

    #[test]
    fn an_old_protocol_version_is_named_in_the_error() {
        let bytes = Msg::Done.encode_with_version(0);
        assert_eq!(
            Msg::decode(&bytes, 100),
            Err(SyncFailure::UnsupportedVersion { theirs: 0 })
        );
    }

    #[test]
    fn a_message_over_the_limit_is_refused_before_decoding() {
        let bytes = Msg::Doc {
            id: DocId::new(),
            sync: vec![0; 100],
        }
        .encode();
        assert_eq!(
            Msg::decode(&bytes, 50),
            Err(SyncFailure::TooLarge { limit: 50 })
        );
    }

    #[test]
    fn a_have_count_beyond_the_message_is_refused_before_allocating() {
        let mut bytes = vec![0xD5, 1, 4, 1];
        put_varint(&mut bytes, u64::MAX >> 1);
        assert!(matches!(
            Msg::decode(&bytes, 100),
            Err(SyncFailure::Malformed { .. })
        ));
    }

    #[test]
    fn digests_ignore_head_order() {
        let a = automerge::ChangeHash([1; 32]);
        let b = automerge::ChangeHash([2; 32]);
        assert_eq!(digest(&[a, b]), digest(&[b, a]));
        assert_ne!(digest(&[a]), digest(&[a, b]));
    }
}
