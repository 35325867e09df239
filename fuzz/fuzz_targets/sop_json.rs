#![no_main]
//! See `dossier_fuzz::checks::sop_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dossier_fuzz::checks::sop_json(data));
