#![no_main]
//! See `dossier_fuzz::checks::redact`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dossier_fuzz::checks::redact(data));
