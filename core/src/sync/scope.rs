//! Scopes: which documents a peer may read, and which it may change.
//!
//! A scope is a market (or every market) × a set of document kinds (or every kind) × an access
//! level. They are provisioned per peer and checked on this side for every document offered to
//! the peer and every change received from it, so a hub's scopes are the hub's policy whatever
//! the site believes. Rules, chosen to fail closed:
//! - a document is **readable** when one scope of its kind covers *any* of its markets;
//! - it is **writable** when read-write scopes of its kind cover *every* one of its markets (an
//!   SOP for `IN-UPI` and `BR-PIX` cannot be rewritten by a site that only owns `IN-UPI`);
//! - a document with no market at all (say, a global article) is covered only by `*` scopes.
//!
//! Text form, as on the command line: `MARKET[/KIND[,KIND...]][:ro|:rw]`, for example `IN-UPI`
//! (every kind, read-write), `*/sop,plugin:ro`, `BR-PIX/case`.

use std::fmt;
use std::str::FromStr;

use automerge::{Automerge, ObjId};
use serde::Serialize;

use crate::doc::Reader;
use crate::error::Error;
use crate::store::DocKind;

/// What a scope allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The peer receives these documents but its changes to them are refused.
    Read,
    /// The peer receives these documents and may change them.
    ReadWrite,
}

/// One scope: a market (or all) × kinds (or all) × access.
///
/// # Example
/// ```
/// use dossier::sync::{Access, Scope};
/// let s: Scope = "*/sop,plugin:ro".parse()?;
/// assert_eq!(s.market, None);
/// assert_eq!(s.access, Access::Read);
/// assert_eq!(s.to_string(), "*/sop,plugin:ro");
/// # Ok::<(), dossier::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Scope {
    /// The market (`IN-UPI`), or `None` for every market.
    pub market: Option<String>,
    /// The kinds covered; empty means every kind.
    pub kinds: Vec<DocKind>,
    /// Read, or read-write.
    pub access: Access,
}

impl Scope {
    /// Every document, read-write: what a site usually grants its hub.
    pub fn everything() -> Scope {
        Scope {
            market: None,
            kinds: Vec::new(),
            access: Access::ReadWrite,
        }
    }

    fn covers(&self, kind: DocKind, market: Option<&str>) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.contains(&kind);
        let market_ok = match (&self.market, market) {
            (None, _) => true,
            (Some(mine), Some(m)) => mine == m,
            (Some(_), None) => false,
        };
        kind_ok && market_ok
    }
}

fn valid_market(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 32
        && m.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
        // Scopes are stored in `sync_peers`, outside any document and its redactor.
        && !crate::redact::contains_sensitive(m)
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| Error::invalid("scope", why.to_string());
        let (rest, access) = match s.rsplit_once(':') {
            Some((rest, "ro")) => (rest, Access::Read),
            Some((rest, "rw")) => (rest, Access::ReadWrite),
            Some(_) => return Err(bad("the access suffix is :ro or :rw")),
            None => (s, Access::ReadWrite),
        };
        let (market, kinds) = match rest.split_once('/') {
            Some((m, k)) => (m, Some(k)),
            None => (rest, None),
        };
        let market = match market {
            "*" => None,
            m if valid_market(m) => Some(m.to_string()),
            _ => {
                return Err(bad(
                    "use MARKET[/KIND,...][:ro], MARKET being * or uppercase letters, digits and dashes",
                ));
            }
        };
        let mut parsed = Vec::new();
        if let Some(kinds) = kinds {
            for k in kinds.split(',') {
                let kind = DocKind::parse(k)
                    .ok_or_else(|| bad("kinds are case, sop, article and plugin"))?;
                if !parsed.contains(&kind) {
                    parsed.push(kind);
                }
            }
        }
        parsed.sort();
        Ok(Scope {
            market,
            kinds: parsed,
            access,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.market.as_deref().unwrap_or("*"))?;
        if !self.kinds.is_empty() {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            write!(f, "/{}", kinds.join(","))?;
        }
        if self.access == Access::Read {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

/// Whether `scopes` let the peer receive a document of `kind` in `markets`.
pub(crate) fn can_read(scopes: &[Scope], kind: DocKind, markets: &[String]) -> bool {
    if markets.is_empty() {
        return scopes.iter().any(|s| s.covers(kind, None));
    }
    markets
        .iter()
        .any(|m| scopes.iter().any(|s| s.covers(kind, Some(m))))
}

/// Whether `scopes` let the peer change a document of `kind` in `markets`.
pub(crate) fn can_write(scopes: &[Scope], kind: DocKind, markets: &[String]) -> bool {
    let rw = |m: Option<&str>| {
        scopes
            .iter()
            .any(|s| s.access == Access::ReadWrite && s.covers(kind, m))
    };
    if markets.is_empty() {
        return rw(None);
    }
    markets.iter().all(|m| rw(Some(m)))
}

/// The markets a document belongs to: a case's `market`, or the `markets` list of the others.
pub(crate) fn markets_of(doc: &Automerge, kind: DocKind) -> Vec<String> {
    let r = Reader::new(doc, None);
    match kind {
        DocKind::Case => r.str(&ObjId::Root, "market").into_iter().collect(),
        DocKind::Sop | DocKind::Article | DocKind::Plugin => r.list_strs(&ObjId::Root, "markets"),
    }
}

/// The text form of a list of scopes, as stored in `sync_peers.scopes`.
pub(crate) fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses what [`join`] wrote.
pub(crate) fn split(text: &str) -> crate::Result<Vec<Scope>> {
    text.split_whitespace().map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<Scope> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn scopes_round_trip_through_their_text_form() {
        for s in ["IN-UPI", "IN-UPI:ro", "*", "*/sop,plugin:ro", "BR-PIX/case"] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        assert_eq!(
            "ES/plugin,sop:rw".parse::<Scope>().unwrap().to_string(),
            "ES/sop,plugin"
        );
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for s in ["", "in-upi", "IN-UPI:rx", "IN-UPI/ticket", "IN UPI", "*/"] {
            assert!(s.parse::<Scope>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn a_market_scope_reads_only_its_market() {
        let s = scopes(&["IN-UPI"]);
        assert!(can_read(&s, DocKind::Case, &["IN-UPI".into()]));
        assert!(!can_read(&s, DocKind::Case, &["BR-PIX".into()]));
        assert!(!can_read(&s, DocKind::Article, &[]));
        assert!(can_write(&s, DocKind::Case, &["IN-UPI".into()]));
    }

    #[test]
    fn read_only_scopes_allow_reading_but_not_writing() {
        let s = scopes(&["IN-UPI/case", "*/sop:ro"]);
        let sop_markets = vec!["IN-UPI".to_string(), "BR-PIX".to_string()];
        assert!(can_read(&s, DocKind::Sop, &sop_markets));
        assert!(!can_write(&s, DocKind::Sop, &sop_markets));
        assert!(!can_read(&s, DocKind::Article, &["IN-UPI".into()]));
    }

    #[test]
    fn writing_a_multi_market_document_needs_every_market() {
        let s = scopes(&["IN-UPI"]);
        let both = vec!["IN-UPI".to_string(), "BR-PIX".to_string()];
        assert!(can_read(&s, DocKind::Sop, &both));
        assert!(!can_write(&s, DocKind::Sop, &both));
        assert!(can_write(
            &scopes(&["IN-UPI", "BR-PIX"]),
            DocKind::Sop,
            &both
        ));
    }
}
