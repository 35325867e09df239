//! Finding card data that a store already holds.
//!
//! Redaction happens before anything is stored, so a store written by this version holds no card
//! number. A store written by an earlier version may: the SLA metric names, for one, went into
//! documents unredacted. Automerge history cannot be rewritten in place, so an operator first
//! needs to know *whether* and *where*: [`Store::scan_card_data`] decodes every change of every
//! document (each string value, each map key, each change message) with the same rules sync
//! ingress uses, then reads the raw bytes of the database and its WAL for card-number digit runs
//! (free pages and old WAL frames keep bytes that no table shows any more).
//!
//! A finding says where — document, its label (case number or title), change hash, field, or file, byte
//! offset and page — and what kind (card number of which brand, or security code), never the
//! value.
//!
//! In raw file bytes, a digit run glued to an ASCII letter is not reported: file bytes are full
//! of hex hashes, hex keys and base58 ids whose digit runs pass Luhn by chance, while free text
//! stored by a document is also seen, with the redactor's full rules, in the history scan.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use automerge::ObjId;
use serde::Serialize;

use crate::doc::{Reader, change_strings, is_sensitive};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::redact::{self, FindingKind};
use crate::store::{DocKind, Store};

/// Where card data was found. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum CardDataPlace {
    /// In a change of a document's history.
    History {
        /// The document.
        doc: DocId,
        /// Its kind.
        kind: DocKind,
        /// What a person knows it by (`case MX1-7`, `sop "…"`, `article "…"`, `plugin NAME`;
        /// redacted), when known.
        label: Option<String>,
        /// The change (hex hash).
        change: String,
        /// The map key the value was written under, `key` when the key itself is the card
        /// number, `message` for the change message, or `text` for collaborative text.
        field: String,
    },
    /// In the raw bytes of a file of the store.
    File {
        /// The database file, or its `-wal`.
        file: PathBuf,
        /// Byte offset of the first digit.
        offset: u64,
        /// The database page holding it (1-based), or the WAL frame (1-based).
        page: u64,
    },
}

/// One place where card data was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardDataFinding {
    /// `card_number` or `security_code`.
    pub kind: String,
    /// The card brand, for card numbers.
    pub brand: Option<String>,
    /// Where.
    pub place: CardDataPlace,
}

/// What [`Store::scan_card_data`] read and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardDataScan {
    /// Documents whose full history was decoded.
    pub documents: usize,
    /// Changes decoded.
    pub changes: usize,
    /// Bytes of the database and WAL files read.
    pub file_bytes: u64,
    /// Every finding, history first (in document order), then file bytes (in offset order).
    pub findings: Vec<CardDataFinding>,
}

impl CardDataScan {
    /// True when no card data was found anywhere.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl Store {
    /// Scans every document's full history and the raw bytes of the database file and its WAL
    /// for card numbers and security codes, and says where each one is without repeating it.
    /// Reads everything: for operators and audits, not for every open.
    ///
    /// # Errors
    /// Storage errors; [`Error::Io`] when a file cannot be read. A document that cannot be
    /// loaded is not an error: it is skipped (`check_integrity` reports it).
    pub fn scan_card_data(&self) -> Result<CardDataScan> {
        let mut scan = CardDataScan {
            documents: 0,
            changes: 0,
            file_bytes: 0,
            findings: Vec::new(),
        };
        // Rail references (UPI RRNs, Pix ids) are kept verbatim by design; remember them so
        // the file scan does not report them as card numbers.
        let mut references = BTreeSet::new();
        for (id, kind) in self.documents()? {
            let Ok((doc, _)) = self.load(&id) else {
                continue;
            };
            scan.documents += 1;
            let r = Reader::new(doc.as_ref(), None);
            let payment = r.map(&ObjId::Root, "payment");
            let rail = payment.as_ref().and_then(|p| r.str(p, "rail"));
            for field in crate::doc::REFERENCE_FIELDS {
                if let Some(v) = payment.as_ref().and_then(|p| r.str(p, *field))
                    && redact::is_payment_reference(rail.as_deref(), &v)
                {
                    references.insert(digits_of(&v));
                }
            }
            let label = crate::sync::label_of(self, &id, None);
            for change in &doc.get_changes(&[]) {
                scan.changes += 1;
                let message = change.message().map(str::to_string);
                for (key, value) in change_strings(change) {
                    if !is_sensitive(key.as_deref(), &value, rail.as_deref()) {
                        continue;
                    }
                    let field = match (&key, message.as_deref() == Some(value.as_str())) {
                        (_, true) => "message".to_string(),
                        (Some(k), _) => redact::redact(k).text,
                        (None, _) if is_map_key(change, &value) => "key".to_string(),
                        (None, _) => "text".to_string(),
                    };
                    for f in redact::redact(&value).findings {
                        scan.findings.push(CardDataFinding {
                            kind: f.kind.as_str().to_string(),
                            brand: brand_of(&f.kind),
                            place: CardDataPlace::History {
                                doc: id,
                                kind,
                                label: label.clone(),
                                change: change.hash().to_string(),
                                field: field.clone(),
                            },
                        });
                    }
                }
            }
        }
        let path = self.path().to_path_buf();
        let page_size: u64 =
            self.read(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?))? as u64;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        for (file, wal) in [(path.clone(), false), (PathBuf::from(wal), true)] {
            if !file.is_file() {
                continue;
            }
            let (bytes, found) = scan_file(&file, &references)?;
            scan.file_bytes += bytes;
            for (offset, kind) in found {
                // A WAL file is a 32-byte header, then frames of a 24-byte header and a page.
                let page = if wal {
                    offset.saturating_sub(32) / (24 + page_size.max(1)) + 1
                } else {
                    offset / page_size.max(1) + 1
                };
                scan.findings.push(CardDataFinding {
                    kind: kind.as_str().to_string(),
                    brand: brand_of(&kind),
                    place: CardDataPlace::File {
                        file: file.clone(),
                        offset,
                        page,
                    },
                });
            }
        }
        Ok(scan)
    }
}

fn brand_of(kind: &FindingKind) -> Option<String> {
    match kind {
        FindingKind::CardNumber { brand } => Some(brand.as_str().to_string()),
        FindingKind::SecurityCode => None,
    }
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `value` is used as a map key by an operation of `change`.
fn is_map_key(change: &automerge::Change, value: &str) -> bool {
    use automerge::legacy::Key;
    change
        .decode()
        .operations
        .iter()
        .any(|op| matches!(&op.key, Key::Map(k) if k.as_str() == value))
}

/// How many bytes of context are kept between chunks: longer than any card number written
/// with separators (19 digits and 18 separators) plus the byte on either side.
const OVERLAP: usize = 64;
const CHUNK: usize = 1 << 20;

/// Card-number spans in the raw bytes of `path`, by offset, skipping rail references and digit
/// runs glued to letters (see the module docs). Reads the file in chunks, so memory stays
/// bounded whatever the file's size.
fn scan_file(path: &Path, references: &BTreeSet<String>) -> Result<(u64, Vec<(u64, FindingKind)>)> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut found = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + OVERLAP);
    // Absolute offset of buf[0], and the offset up to which spans were already judged.
    let (mut base, mut judged) = (0u64, 0u64);
    let mut total = 0u64;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut chunk).map_err(|e| io_error(path, e))?;
        total += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        let eof = n == 0;
        // Judge only spans that end before the overlap, unless the file is over: a number cut
        // by the chunk boundary is judged whole in the next round.
        let limit = if eof {
            buf.len()
        } else {
            buf.len().saturating_sub(OVERLAP)
        };
        for (start, end, kind) in printable_card_spans(&buf) {
            let abs = base + start as u64;
            if abs < judged || end > limit {
                continue;
            }
            if references.contains(&digits_of(&String::from_utf8_lossy(&buf[start..end]))) {
                continue;
            }
            found.push((abs, kind));
        }
        if eof {
            break;
        }
        judged = base + limit as u64;
        let keep = buf.len() - limit;
        buf.drain(..limit);
        base += limit as u64;
        debug_assert_eq!(buf.len(), keep);
    }
    found.sort_by_key(|(o, _)| *o);
    found.dedup_by_key(|(o, _)| *o);
    Ok((total, found))
}

/// Card spans inside runs of printable ASCII, as (start, end, kind) byte offsets into `bytes`.
fn printable_card_spans(bytes: &[u8]) -> Vec<(usize, usize, FindingKind)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_text_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_text_byte(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        if run.iter().filter(|b| b.is_ascii_digit()).count() < 12 {
            continue;
        }
        // Printable ASCII is valid UTF-8.
        let Ok(text) = std::str::from_utf8(run) else {
            continue;
        };
        for (span, kind) in redact::card_number_spans(text) {
            let before = span.start.checked_sub(1).map(|b| run[b]);
            let after = run.get(span.end).copied();
            if before.is_some_and(|b| b.is_ascii_alphabetic())
                || after.is_some_and(|b| b.is_ascii_alphabetic())
            {
                continue;
            }
            out.push((start + span.start, start + span.end, kind));
        }
    }
    out
}

fn is_text_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("cannot read {}: {e}", path.display()),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_spans_skip_hex_glued_runs_and_find_plain_ones() {
        let bytes = b"\x00\x01ab4111111111111111cd\x02 card 4111 1111 1111 1111.\xff";
        let spans = printable_card_spans(bytes);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(&bytes[spans[0].0..spans[0].1], b"4111 1111 1111 1111");
    }

    #[test]
    fn a_number_across_a_chunk_boundary_is_found_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut bytes = vec![0u8; CHUNK - 8];
        bytes.extend_from_slice(b" 5555555555554444 ");
        bytes.extend(vec![0u8; 100]);
        bytes.extend_from_slice(b" 4111111111111111");
        std::fs::write(&path, &bytes).unwrap();
        let (total, found) = scan_file(&path, &BTreeSet::new()).unwrap();
        assert_eq!(total, bytes.len() as u64);
        let offsets: Vec<u64> = found.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            vec![(CHUNK - 7) as u64, (bytes.len() - 16) as u64],
            "{found:?}"
        );
    }

    #[test]
    fn rail_references_in_file_bytes_are_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b" 4111111111111111 ").unwrap();
        let refs = BTreeSet::from(["4111111111111111".to_string()]);
        assert!(scan_file(&path, &refs).unwrap().1.is_empty());
    }
}
