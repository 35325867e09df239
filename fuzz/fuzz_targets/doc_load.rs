#![no_main]
//! See `dossier_fuzz::checks::doc_load`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dossier_fuzz::checks::doc_load(data));
