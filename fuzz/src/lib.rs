//! Fuzz targets for Dossier's untrusted inputs. The targets in `fuzz_targets/` are one line
//! each; what they check lives in [`checks`], which the stable regression replay
//! (`tests/tests/integration/fuzz_regressions.rs`) includes too.

pub mod checks;

/// Signs `message` with the ed25519 key whose seed is `seed`: the [`checks::Signer`] that lets
/// bundle inputs past the signature check.
pub fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer as _;
    ed25519_dalek::SigningKey::from_bytes(seed)
        .sign(message)
        .to_bytes()
}
