//! uniffi's code generator, built from the same uniffi version as the library so the two always
//! agree. `cargo xtask test` runs it in library mode on the built cdylib:
//! `uniffi-bindgen generate --library target/debug/libdossier_ffi.so --language python ...`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
