//! Document ids.
//!
//! A [`DocId`] is a 16-byte UUIDv7, so ids sort roughly by creation time and can be minted at any
//! site without coordination. It is shown as a base58check string, the format automerge-repo uses
//! for its `DocumentId`, so `automerge:<id>` URLs work in other Automerge tools.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The identity of one document (case, SOP, article or plugin).
///
/// # Example
/// ```
/// use dossier::DocId;
/// let id = DocId::new();
/// let parsed: DocId = id.to_string().parse().unwrap();
/// assert_eq!(id, parsed);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId([u8; 16]);

impl DocId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        DocId(*uuid::Uuid::now_v7().as_bytes())
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Builds an id from its 16 raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DocId(bytes)
    }

    /// The `automerge:<id>` URL of this document.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl Default for DocId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl FromStr for DocId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| Error::invalid("document id", "not a base58check document id"))?;
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| Error::invalid("document id", "a document id has 16 bytes"))?;
        Ok(DocId(arr))
    }
}

impl serde::Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_its_string_and_url() {
        let id = DocId::new();
        assert_eq!(id.to_string().parse::<DocId>().unwrap(), id);
        assert_eq!(id.url().parse::<DocId>().unwrap(), id);
    }

    #[test]
    fn a_mistyped_id_fails_its_checksum() {
        let mut s = DocId::new().to_string();
        let last = s.pop().unwrap();
        s.push(if last == '2' { '3' } else { '2' });
        assert!(s.parse::<DocId>().is_err());
        assert!("not-an-id".parse::<DocId>().is_err());
    }

    #[test]
    fn ids_minted_later_sort_later() {
        let a = DocId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = DocId::new();
        assert!(a < b);
    }
}
