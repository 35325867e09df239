//! Generates the C header from `src/c_api.rs` with cbindgen.
//!
//! The header is written to `OUT_DIR`, never into the source tree during a build; a unit test in
//! `c_api.rs` compares it with the checked-in `include/dossier.h`, so a stale header fails
//! `cargo test` (and therefore `cargo xtask test`) instead of silently shipping.

fn main() {
    println!("cargo::rerun-if-changed=src/c_api.rs");
    println!("cargo::rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let config = match cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => panic!("ffi/cbindgen.toml: {e}"),
    };
    match cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{dir}/src/c_api.rs"))
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(format!("{out}/dossier.h"));
        }
        Err(e) => panic!("cbindgen cannot read src/c_api.rs: {e}"),
    }
}
