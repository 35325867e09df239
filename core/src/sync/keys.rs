//! The site's ed25519 identity: the signing key kept in the store, public keys, signatures and
//! nonces.
//!
//! A site proves who it is by signing the other side's fresh nonce, so a recorded session cannot
//! be replayed. The signing key is made when the site is initialised (32 bytes from the
//! operating system's generator, through `getrandom`) and stored in the `meta` table: a store
//! file therefore holds a private key and must be protected like one. Older stores get their key
//! the first time it is asked for.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::store::{Origin, Store};

const META_KEY: &str = "sync.signing_key";

/// A site's public key: 32 bytes, shown as a base58check string.
///
/// # Example
/// ```
/// use dossier::sync::PublicKey;
/// let mut bytes = [0x66; 32];
/// bytes[0] = 0x58; // the ed25519 base point, a valid public key
/// let key = PublicKey::from_bytes(bytes);
/// let shown = key.to_string();
/// assert_eq!(shown.parse::<PublicKey>()?, key);
/// # Ok::<(), dossier::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short name for the key in logs: the first 8 bytes of the SHA-256 of its 32 bytes, in
    /// lowercase hex (16 characters). Public data only, so it is safe in any log line.
    ///
    /// # Example
    /// ```
    /// use dossier::sync::PublicKey;
    /// let fp = PublicKey::from_bytes([7; 32]).fingerprint();
    /// assert_eq!(fp.len(), 16);
    /// assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
    /// ```
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.0)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is this key's signature of `message` (strict RFC 8032 checks, so
    /// malleated signatures and weak keys are refused).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes = bs58::decode(s.trim())
            .with_check(None)
            .into_vec()
            .map_err(|_| Error::invalid("public key", "not a base58check public key"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("public key", "a public key has 32 bytes"))?;
        if VerifyingKey::from_bytes(&bytes).is_err() {
            return Err(Error::invalid(
                "public key",
                "not a valid ed25519 public key",
            ));
        }
        Ok(PublicKey(bytes))
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `N` bytes from the operating system's random generator.
pub(crate) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| Error::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Creates the site's signing key unless it has one. Called when a store is initialised.
pub(crate) fn create_site_key(conn: &Connection) -> Result<()> {
    let seed = random::<32>()?;
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
        [META_KEY, &hex(&seed)],
    )?;
    Ok(())
}

impl Store {
    /// This site's signing key, created on first use for stores initialised before sync existed.
    pub(crate) fn signing_key(&self) -> Result<SigningKey> {
        let stored: Option<String> = self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [META_KEY], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        let text = match stored {
            Some(t) => t,
            None => self.write("sync.key", Origin::Local, |w| {
                create_site_key(w.tx)?;
                Ok(w.tx
                    .query_row("SELECT value FROM meta WHERE key = ?1", [META_KEY], |r| {
                        r.get(0)
                    })?)
            })?,
        };
        let seed = unhex(&text).ok_or_else(|| Error::Corrupt("the site key is damaged".into()))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// This site's public key, to give to the operators of its peers (`dossier peer add`).
    ///
    /// # Errors
    /// Storage errors; [`Error::Corrupt`] if the stored key is damaged.
    pub fn public_key(&self) -> Result<PublicKey> {
        Ok(PublicKey(self.signing_key()?.verifying_key().to_bytes()))
    }
}

/// Signs `message` with `key`.
pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_signs_and_only_its_public_key_verifies() {
        let a = SigningKey::from_bytes(&[1; 32]);
        let b = SigningKey::from_bytes(&[2; 32]);
        let sig = sign(&a, b"nonce");
        let pa = PublicKey(a.verifying_key().to_bytes());
        let pb = PublicKey(b.verifying_key().to_bytes());
        assert!(pa.verify(b"nonce", &sig));
        assert!(!pa.verify(b"other", &sig));
        assert!(!pb.verify(b"nonce", &sig));
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0xab; 32];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"é".repeat(32)), None);
    }

    #[test]
    fn a_mistyped_public_key_is_refused() {
        let key = PublicKey(SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes());
        let mut s = key.to_string();
        let last = s.pop().unwrap();
        s.push(if last == 'a' { 'b' } else { 'a' });
        assert!(s.parse::<PublicKey>().is_err());
        assert!("".parse::<PublicKey>().is_err());
    }
}
