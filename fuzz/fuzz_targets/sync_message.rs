#![no_main]
//! See `dossier_fuzz::checks::sync_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dossier_fuzz::checks::sync_message(data));
