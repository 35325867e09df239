#![no_main]
//! See `dossier_fuzz::checks::bundle_import`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dossier_fuzz::checks::bundle_import(data, Some(dossier_fuzz::sign))
});
