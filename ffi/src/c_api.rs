//! The C ABI: for desktop hosts in C or C++, and anything else that can call C.
//!
//! uniffi serves Kotlin, Swift and Python; C gets a small hand-written surface whose rules are
//! easy to follow from the header alone:
//!
//! - a store is an opaque `DossierStore *` from [`dossier_open`], released by [`dossier_close`];
//!   it may be used from several threads at once, but not after (or while) it is closed;
//! - strings are NUL-terminated UTF-8; records go in and come out as JSON — the same JSON as the
//!   `serde` form of `dossier`'s views (`Case`, `Sop`, `SearchHit`...);
//! - every fallible function returns a [`DossierStatus`]; on failure
//!   [`dossier_last_error`] gives a one-line message (never a case's content) for this thread;
//! - every string or byte buffer the library returns belongs to the caller, who frees it with
//!   [`dossier_string_free`] / [`dossier_bytes_free`]; output pointers are set to NULL on
//!   failure, so freeing them unconditionally is safe;
//! - nothing panics across the boundary: every function runs inside `catch_unwind`, and a caught
//!   panic is reported as [`DossierStatus::Internal`].
//!
//! Sites merge through a hub ([`dossier_sync_with_hub`]) or signed bundle files
//! ([`dossier_export_bundle`], [`dossier_import_bundle`]) once each has provisioned the other's
//! public key ([`dossier_public_key`], [`dossier_add_peer`]); change packs
//! ([`dossier_changes_since`], [`dossier_apply_changes`], [`dossier_pull_from`]) merge two open
//! stores directly. Workflow plugins are installed ([`dossier_install_plugin`]), listed
//! ([`dossier_plugins()`]), trusted by publisher ([`dossier_trust_publisher`]) and dry-run on a case
//! ([`dossier_plugin_dry_run`]); every store opened here runs them on case triggers.
//!
//! `ffi/include/dossier.h` is generated from this file by cbindgen (see `build.rs`); a unit test
//! below fails when the checked-in header is stale.

// Raw pointers from C must be dereferenced somewhere. The workspace denies `unsafe_code`; this
// module is the one place it is allowed, and every `unsafe` block here only reads or writes
// pointers whose validity the caller promised in the function's `# Safety` section.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;

use crate::error::DossierError;
use crate::records::{
    CaseFilter, CaseUpdate, DocRef, ExportedBundle, MergeReport, SopWalk, WalkResult,
};
use crate::{plugins, sync_io};

/// The outcome of a call. `DOSSIER_STATUS_OK` is 0; every other value names the kind of
/// failure, and `dossier_last_error()` says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DossierStatus {
    /// Success.
    Ok = 0,
    /// The file is not a Dossier store, or it is damaged.
    Corrupt = 1,
    /// The file was written by a newer Dossier.
    SchemaTooNew = 2,
    /// A new store was opened without a site id.
    NotInitialized = 3,
    /// The store belongs to another site.
    SiteMismatch = 4,
    /// A bad argument: NULL, not UTF-8, malformed JSON, a value `dossier` refuses.
    Invalid = 5,
    /// No such document or case.
    NotFound = 6,
    /// The document is of another kind.
    WrongKind = 7,
    /// The case is closed.
    CaseClosed = 8,
    /// A status change the workflow does not allow.
    Transition = 9,
    /// The SOP breaks an invariant.
    SopInvalid = 10,
    /// The approver authored changes being published.
    FourEyes = 11,
    /// An import is malformed; nothing was stored.
    Import = 12,
    /// A change pack was refused; nothing was stored.
    Rejected = 13,
    /// An SOP walk could not proceed.
    Walk = 14,
    /// A stored document cannot be decoded.
    Document = 15,
    /// SQLite or the file system failed.
    Storage = 16,
    /// The store is closed.
    Closed = 17,
    /// A bug in Dossier (a caught panic); please report it.
    Internal = 18,
    /// The peer or a bundle's signer could not be authenticated: not provisioned, another key,
    /// a signature that does not verify (a tampered bundle), a replayed hello. Nothing stored.
    Auth = 19,
    /// This side refused a sync session or bundle: malformed, truncated, too large, made for
    /// another site, an unsupported version. Nothing of it stored.
    SyncFailed = 20,
    /// The hub ended the sync session and said why.
    SyncRefused = 21,
    /// The hub could not be reached or the connection failed; try again later.
    Network = 22,
    /// A plugin package's signature does not verify: it was changed after signing.
    PluginSignature = 23,
    /// A plugin asked for an action the case does not allow; none of its actions was applied.
    InvalidAction = 24,
    /// A before-solve plugin refused the solve; the message names the plugin and its reason.
    SolveRefused = 25,
    /// Not a plugin component this library can run (not a component, another world, an
    /// unsupported plugin API version).
    PluginIncompatible = 26,
    /// A plugin failed while running (fuel, time, memory, output, a trap, its own error), or
    /// the plugin engine cannot run on this machine.
    PluginFailed = 27,
    /// The disk is full: the write was not stored; everything stored before it is intact.
    DiskFull = 28,
    /// The store file can be written by other users; it was not opened (see the message).
    InsecureFile = 29,
    /// The SOP does not cover the case's market (pass `any_market` to override).
    SopMarket = 30,
}

/// `durability` for `dossier_open`: a commit survives a process crash (the default).
pub const DOSSIER_DURABILITY_NORMAL: i32 = 0;
/// `durability` for `dossier_open`: a commit survives power loss too (an fsync per commit).
pub const DOSSIER_DURABILITY_FULL: i32 = 1;

/// An open store. Opaque: create it with `dossier_open`, release it with `dossier_close`.
pub struct DossierStore {
    store: dossier::Store,
}

type Result<T, E = DossierError> = std::result::Result<T, E>;

impl From<&DossierError> for DossierStatus {
    fn from(e: &DossierError) -> Self {
        match e {
            DossierError::Corrupt(_) => DossierStatus::Corrupt,
            DossierError::SchemaTooNew(_) => DossierStatus::SchemaTooNew,
            DossierError::NotInitialized(_) => DossierStatus::NotInitialized,
            DossierError::SiteMismatch(_) => DossierStatus::SiteMismatch,
            DossierError::Invalid(_) => DossierStatus::Invalid,
            DossierError::NotFound(_) => DossierStatus::NotFound,
            DossierError::WrongKind(_) => DossierStatus::WrongKind,
            DossierError::CaseClosed(_) => DossierStatus::CaseClosed,
            DossierError::Transition(_) => DossierStatus::Transition,
            DossierError::SopInvalid(_) => DossierStatus::SopInvalid,
            DossierError::FourEyes(_) => DossierStatus::FourEyes,
            DossierError::Import(_) => DossierStatus::Import,
            DossierError::Rejected(_) => DossierStatus::Rejected,
            DossierError::Walk(_) => DossierStatus::Walk,
            DossierError::Document(_) => DossierStatus::Document,
            DossierError::Storage(_) => DossierStatus::Storage,
            DossierError::Closed(_) => DossierStatus::Closed,
            DossierError::Internal(_) => DossierStatus::Internal,
            DossierError::Auth(_) => DossierStatus::Auth,
            DossierError::SyncFailed(_) => DossierStatus::SyncFailed,
            DossierError::SyncRefused(_) => DossierStatus::SyncRefused,
            DossierError::Network(_) => DossierStatus::Network,
            DossierError::PluginSignature(_) => DossierStatus::PluginSignature,
            DossierError::InvalidAction(_) => DossierStatus::InvalidAction,
            DossierError::SolveRefused(_) => DossierStatus::SolveRefused,
            DossierError::PluginIncompatible(_) => DossierStatus::PluginIncompatible,
            DossierError::PluginFailed(_) => DossierStatus::PluginFailed,
            DossierError::DiskFull(_) => DossierStatus::DiskFull,
            DossierError::InsecureFile(_) => DossierStatus::InsecureFile,
            DossierError::SopMarket(_) => DossierStatus::SopMarket,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: Option<String>) {
    let message = message.map(|m| {
        // A message never holds NUL, but if it did, C would see it cut short rather than fail.
        CString::new(m.replace('\0', " ")).unwrap_or_default()
    });
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

/// Runs one C call: catches panics, records the error message for this thread, and turns the
/// outcome into a status.
fn call(f: impl FnOnce() -> Result<()>) -> DossierStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_last_error(None);
            DossierStatus::Ok
        }
        Ok(Err(e)) => {
            let status = DossierStatus::from(&e);
            set_last_error(Some(e.to_string()));
            status
        }
        Err(_) => {
            set_last_error(Some("internal error: a bug in dossier was caught".into()));
            DossierStatus::Internal
        }
    }
}

/// Reads a required C string argument.
///
/// # Safety
/// `p` is NULL or a valid NUL-terminated string that outlives `'a`.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(DossierError::invalid(what, "is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| DossierError::invalid(what, "is not UTF-8"))
}

/// Reads an optional C string argument (NULL means none).
///
/// # Safety
/// As [`text`].
unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { text(p, what) }.map(Some)
    }
}

/// Borrows the store behind a handle.
///
/// # Safety
/// `p` is NULL or a live handle from `dossier_open`.
unsafe fn store<'a>(p: *const DossierStore) -> Result<&'a dossier::Store> {
    // SAFETY: a live handle per the caller's contract.
    unsafe { p.as_ref() }
        .map(|h| &h.store)
        .ok_or_else(|| DossierError::invalid("store", "is NULL"))
}

/// Parses JSON input. serde's messages quote the offending value (`invalid type: string "..."`,
/// ``integer `4111...` ``), which may be a customer's text or a card number, so quoted values are
/// blanked; a back-quoted name that looks like an identifier (an unknown field or variant) is
/// kept, because it is what tells the caller which key to fix.
fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| {
        let raw = e.to_string();
        let mut message = String::with_capacity(raw.len());
        let mut quote: Option<(char, String)> = None;
        for c in raw.chars() {
            match &mut quote {
                None if c == '"' || c == '`' => quote = Some((c, String::new())),
                None => message.push(c),
                Some((q, inner)) if c == *q => {
                    let identifier = inner.len() <= 64
                        && inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let shown = if *q == '`' && identifier {
                        inner
                    } else {
                        "…"
                    };
                    message.push_str(&format!("{q}{shown}{q}"));
                    quote = None;
                }
                Some((_, inner)) => inner.push(c),
            }
        }
        DossierError::invalid(&format!("{what} JSON"), message)
    })
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|_| DossierError::Internal("internal error: a result did not encode".into()))
}

/// Clears an output pointer on entry, so it is NULL whenever the call fails.
///
/// # Safety
/// `out` is NULL or valid for a write.
unsafe fn clear<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: valid for writes per the caller's contract.
        unsafe { *out = std::ptr::null_mut() };
    }
}

/// Runs one C call whose result is JSON handed to C through `out`. The output pointer is
/// checked before anything is done, so a call with a NULL `out` has no effect.
///
/// # Safety
/// `out` is NULL or valid for a write.
unsafe fn call_json(out: *mut *mut c_char, f: impl FnOnce() -> Result<String>) -> DossierStatus {
    // SAFETY: forwarded contract.
    unsafe { clear(out) };
    call(|| {
        if out.is_null() {
            return Err(DossierError::invalid("output pointer", "is NULL"));
        }
        let json = CString::new(f()?)
            .map_err(|_| DossierError::Internal("internal error: NUL in JSON".into()))?;
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { *out = json.into_raw() };
        Ok(())
    })
}

/// The library version, e.g. `"0.1.0"`. Never fails.
///
/// # Safety
/// Always safe. The string is static: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn dossier_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The message of the last failed call on this thread, or NULL if the last call succeeded.
///
/// # Safety
/// Always safe. The string belongs to the library and stays valid until the next `dossier_*`
/// call on this thread: copy it if you need it longer, and do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn dossier_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |m| m.as_ptr()))
}

/// Frees a string returned by the library. NULL is ignored.
///
/// # Safety
/// `s` is NULL or a string returned through an output parameter of a `dossier_*` function, not
/// freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in `call_json`, per the caller's contract.
        let _ = catch_unwind(|| drop(unsafe { CString::from_raw(s) }));
    }
}

/// Frees a byte buffer returned by the library (a change pack). NULL is ignored.
///
/// # Safety
/// `bytes` and `len` are exactly as returned by `dossier_changes_since`, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_bytes_free(bytes: *mut u8, len: usize) {
    if !bytes.is_null() {
        // SAFETY: the pointer and length of a boxed slice leaked by `dossier_changes_since`.
        let slice = std::ptr::slice_from_raw_parts_mut(bytes, len);
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(slice) }));
    }
}

/// Opens (creating if needed) the store at `path` and stores its handle in `*out`.
///
/// `site` (e.g. `"MX1"`) is required the first time a file is opened and checked afterwards;
/// NULL keeps the stored one. `author` is who makes changes through this handle (NULL: the
/// site id). `durability` is `DOSSIER_DURABILITY_NORMAL` or `DOSSIER_DURABILITY_FULL`.
///
/// # Safety
/// `path` is a valid string; `site` and `author` are NULL or valid strings; `out` is valid for a
/// write. Release the handle with `dossier_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_open(
    path: *const c_char,
    site: *const c_char,
    author: *const c_char,
    durability: i32,
    out: *mut *mut DossierStore,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe { clear(out) };
    call(|| {
        if out.is_null() {
            return Err(DossierError::invalid("output pointer", "is NULL"));
        }
        let durability = match durability {
            DOSSIER_DURABILITY_NORMAL => dossier::Durability::Normal,
            DOSSIER_DURABILITY_FULL => dossier::Durability::Full,
            _ => {
                return Err(DossierError::invalid(
                    "durability",
                    "use 0 (normal) or 1 (full)",
                ));
            }
        };
        // SAFETY: as above.
        let (path, site, author) = unsafe {
            (
                text(path, "path")?,
                opt_text(site, "site")?,
                opt_text(author, "author")?,
            )
        };
        let options = dossier::StoreOptions {
            site: site.map(str::to_string),
            author: author.map(str::to_string),
            durability,
            ..Default::default()
        };
        let store = plugins::with_plugins(dossier::Store::open(path, options)?);
        // SAFETY: `out` is non-NULL and valid for a write.
        unsafe { *out = Box::into_raw(Box::new(DossierStore { store })) };
        Ok(())
    })
}

/// Closes a store and frees its handle. NULL is ignored.
///
/// # Safety
/// `store` is NULL or a handle from `dossier_open` that is not closed yet, and no other thread
/// is using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_close(store: *mut DossierStore) {
    if !store.is_null() {
        // SAFETY: a handle from `Box::into_raw` in `dossier_open`, per the caller's contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(store) })));
    }
}

/// Opens a case from JSON (`{"market": "IN-UPI", "category": "failed_payment", "subject":
/// "..."}` plus optional fields) and returns the new case as JSON in `*out_case`.
///
/// # Safety
/// `store` is a live handle; `new_case_json` a valid string; `out_case` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_case_create(
    store: *const DossierStore,
    new_case_json: *const c_char,
    out_case: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_case, || {
            let new: dossier::NewCase = from_json("new case", text(new_case_json, "new case")?)?;
            to_json(&self::store(store)?.create_case(new)?)
        })
    }
}

/// The case with number (`"MX1-1"`) or id `key`, as JSON in `*out_case`.
///
/// # Safety
/// `store` is a live handle; `key` a valid string; `out_case` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_case_get(
    store: *const DossierStore,
    key: *const c_char,
    out_case: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_case, || {
            to_json(&self::store(store)?.case(text(key, "case key")?)?)
        })
    }
}

/// Updates a case from JSON (`{"status": "solved", "add_tags": ["upi"], ...}`, the fields of
/// the `CaseUpdate` record) and returns the updated case as JSON in `*out_case`.
///
/// # Safety
/// `store` is a live handle; `key` and `update_json` valid strings; `out_case` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_case_update(
    store: *const DossierStore,
    key: *const c_char,
    update_json: *const c_char,
    out_case: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_case, || {
            let update: CaseUpdate = from_json("case update", text(update_json, "case update")?)?;
            let case =
                self::store(store)?.update_case(text(key, "case key")?, update.try_into()?)?;
            to_json(&case)
        })
    }
}

/// Adds a note to a case (`public` non-zero: visible to the customer); returns the case as JSON.
///
/// # Safety
/// `store` is a live handle; `key` and `body` valid strings; `out_case` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_case_note(
    store: *const DossierStore,
    key: *const c_char,
    body: *const c_char,
    public: bool,
    out_case: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_case, || {
            let case = self::store(store)?.add_note(
                text(key, "case key")?,
                text(body, "note")?,
                public,
            )?;
            to_json(&case)
        })
    }
}

/// Finds card data the store already holds, in any document's history or in the raw bytes
/// of its file and WAL: a JSON object `{documents, changes, file_bytes, findings: [{kind,
/// brand, place: {in: "history", doc, kind, label, change, field} | {in: "file", file,
/// offset, page}}]}`. A finding says where, never the value. Reads everything.
///
/// # Safety
/// `store` is a live handle; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_scan_card_data(
    store: *const DossierStore,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe { call_json(out_json, || to_json(&self::store(store)?.scan_card_data()?)) }
}

/// Lists cases as a JSON array of summaries. `filter_json` is NULL (the newest 100) or the
/// fields of the `CaseFilter` record, e.g. `{"status": "open", "market": "IN-UPI"}`.
///
/// # Safety
/// `store` is a live handle; `filter_json` NULL or a valid string; `out_cases` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_case_list(
    store: *const DossierStore,
    filter_json: *const c_char,
    out_cases: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_cases, || {
            let filter: CaseFilter = match opt_text(filter_json, "case filter")? {
                Some(json) => from_json("case filter", json)?,
                None => CaseFilter::default(),
            };
            to_json(&self::store(store)?.list_cases(&filter.into())?)
        })
    }
}

/// Creates a draft SOP from its JSON form; returns the SOP (with its `id`) as JSON.
///
/// # Safety
/// `store` is a live handle; `sop_json` a valid string; `out_sop` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_import(
    store: *const DossierStore,
    sop_json: *const c_char,
    out_sop: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_sop, || {
            let sop = self::store(store)?.import_sop_json(text(sop_json, "sop JSON")?, "sop")?;
            to_json(&sop)
        })
    }
}

/// One broken SOP invariant, as the C ABI writes it.
#[derive(Serialize)]
struct ViolationJson {
    node: Option<String>,
    kind: &'static str,
    message: String,
}

/// Checks an SOP draft; `*out_violations` is a JSON array of `{node, kind, message}`, empty when
/// the SOP is valid.
///
/// # Safety
/// `store` is a live handle; `sop_id` a valid string; `out_violations` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_validate(
    store: *const DossierStore,
    sop_id: *const c_char,
    out_violations: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_violations, || {
            let id = text(sop_id, "sop id")?.parse()?;
            let violations: Vec<ViolationJson> = self::store(store)?
                .validate_sop(&id)?
                .into_iter()
                .map(|v| ViolationJson {
                    node: v.node,
                    kind: v.kind.as_str(),
                    message: v.message,
                })
                .collect();
            to_json(&violations)
        })
    }
}

/// Sends an SOP draft for review; returns the SOP as JSON.
///
/// # Safety
/// `store` is a live handle; `sop_id` a valid string; `out_sop` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_submit(
    store: *const DossierStore,
    sop_id: *const c_char,
    out_sop: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_sop, || {
            let id = text(sop_id, "sop id")?.parse()?;
            to_json(&self::store(store)?.submit_sop(&id)?)
        })
    }
}

/// Publishes a reviewed SOP, approved by this handle's author (who must not have written any of
/// the changes: four eyes); returns the SOP as JSON.
///
/// # Safety
/// `store` is a live handle; `sop_id` a valid string; `out_sop` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_publish(
    store: *const DossierStore,
    sop_id: *const c_char,
    out_sop: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_sop, || {
            let id = text(sop_id, "sop id")?.parse()?;
            to_json(&self::store(store)?.publish_sop(&id)?)
        })
    }
}

/// Splices one SOP node's text in one locale: deletes `delete` characters at `pos`, then inserts
/// `insert` there, as one change (a keystroke). Positions count Unicode scalar values, not
/// bytes. `*out_edit` is `{"length": n, "redacted": bool, "heads": ["hex", ...]}`; `redacted`
/// says card data the edit completed was masked, so the text must be re-read.
///
/// # Safety
/// `store` is a live handle; `sop_id`, `node`, `locale` and `insert` valid strings (`insert`
/// may be empty); `out_edit` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_splice(
    store: *const DossierStore,
    sop_id: *const c_char,
    node: *const c_char,
    locale: *const c_char,
    pos: u64,
    delete: u64,
    insert: *const c_char,
    out_edit: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_edit, || {
            let id = text(sop_id, "sop id")?.parse()?;
            let edit = self::store(store)?.splice_sop_text(
                &id,
                text(node, "node")?,
                text(locale, "locale")?,
                crate::store::index("pos", pos)?,
                crate::store::index("delete", delete)?,
                text(insert, "insert")?,
            )?;
            to_json(&edit)
        })
    }
}

/// Splices an article's `field` (`"title"` or `"body"`) in one locale, like
/// [`dossier_sop_splice`]; `*out_edit` has the same shape.
///
/// # Safety
/// `store` is a live handle; `article_id`, `field`, `locale` and `insert` valid strings;
/// `out_edit` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_article_splice(
    store: *const DossierStore,
    article_id: *const c_char,
    field: *const c_char,
    locale: *const c_char,
    pos: u64,
    delete: u64,
    insert: *const c_char,
    out_edit: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_edit, || {
            let id = text(article_id, "article id")?.parse()?;
            let field = dossier::ArticleField::parse(text(field, "field")?)?;
            let edit = self::store(store)?.splice_article_text(
                &id,
                field,
                text(locale, "locale")?,
                crate::store::index("pos", pos)?,
                crate::store::index("delete", delete)?,
                text(insert, "insert")?,
            )?;
            to_json(&edit)
        })
    }
}

/// Walks the latest published version of an SOP with `inputs_json`, a JSON array of answers
/// and `name=value` bindings (`["Yes", "P2M", "days_since_txn=9"]`). `*out_walk` is
/// `{"version": n, "result": {"path": [...], "end": ..., "pending": ..., ...}}`.
///
/// # Safety
/// `store` is a live handle; `sop_id` and `inputs_json` valid strings; `out_walk` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sop_walk(
    store: *const DossierStore,
    sop_id: *const c_char,
    inputs_json: *const c_char,
    out_walk: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_walk, || {
            let id = text(sop_id, "sop id")?.parse()?;
            let inputs: Vec<String> = from_json("walk inputs", text(inputs_json, "walk inputs")?)?;
            let (version, result) = self::store(store)?.walk_sop(&id, None, &inputs)?;
            to_json(&SopWalk {
                version,
                result: WalkResult::from(result),
            })
        })
    }
}

/// Creates a draft article from JSON (`{"title": {"es": "..."}, "body": {"es": "..."}}`);
/// returns the article as JSON.
///
/// # Safety
/// `store` is a live handle; `article_json` a valid string; `out_article` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_article_create(
    store: *const DossierStore,
    article_json: *const c_char,
    out_article: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_article, || {
            let new: dossier::NewArticle = from_json("article", text(article_json, "article")?)?;
            to_json(&self::store(store)?.create_article(new)?)
        })
    }
}

/// Full-text article search with accents folded; `locale` NULL searches every locale.
/// `*out_hits` is a JSON array of `{id, locale, title, snippet, status, rank}`, best first.
///
/// # Safety
/// `store` is a live handle; `query` a valid string; `locale` NULL or a valid string;
/// `out_hits` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_article_search(
    store: *const DossierStore,
    query: *const c_char,
    locale: *const c_char,
    limit: u32,
    out_hits: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_hits, || {
            let hits = self::store(store)?.search_articles(
                text(query, "query")?,
                opt_text(locale, "locale")?,
                limit as usize,
            )?;
            to_json(&hits)
        })
    }
}

/// Every document of the store as a JSON array of `{id, kind}`.
///
/// # Safety
/// `store` is a live handle; `out_docs` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_documents(
    store: *const DossierStore,
    out_docs: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_docs, || {
            let docs: Vec<DocRef> = self::store(store)?
                .documents()?
                .into_iter()
                .map(|(id, kind)| DocRef { id, kind })
                .collect();
            to_json(&docs)
        })
    }
}

/// The heads of a document as a JSON array of hex hashes: what to pass to the other store's
/// `dossier_changes_since`.
///
/// # Safety
/// `store` is a live handle; `doc_id` a valid string; `out_heads` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_heads(
    store: *const DossierStore,
    doc_id: *const c_char,
    out_heads: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_heads, || {
            let id = text(doc_id, "document id")?.parse()?;
            let heads: Vec<String> = self::store(store)?
                .heads(&id)?
                .iter()
                .map(ToString::to_string)
                .collect();
            to_json(&heads)
        })
    }
}

/// Packs the changes of a document that are not ancestors of `heads_json` (a JSON array of hex
/// hashes from the receiving store's `dossier_heads`; NULL or `[]` packs every change). The pack
/// is returned in `*out_pack` / `*out_len`; free it with `dossier_bytes_free`.
///
/// # Safety
/// `store` is a live handle; `doc_id` a valid string; `heads_json` NULL or a valid string;
/// `out_pack` and `out_len` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_changes_since(
    store: *const DossierStore,
    doc_id: *const c_char,
    heads_json: *const c_char,
    out_pack: *mut *mut u8,
    out_len: *mut usize,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        clear(out_pack);
        if !out_len.is_null() {
            *out_len = 0;
        }
    }
    call(|| unsafe {
        if out_pack.is_null() || out_len.is_null() {
            return Err(DossierError::invalid("output pointer", "is NULL"));
        }
        let id = text(doc_id, "document id")?.parse()?;
        let hex: Vec<String> = match opt_text(heads_json, "heads")? {
            Some(json) => from_json("heads", json)?,
            None => Vec::new(),
        };
        let heads = hex
            .iter()
            .map(|h| h.parse())
            .collect::<Result<Vec<dossier::ChangeHash>, _>>()
            .map_err(|_| DossierError::invalid("heads", "not a 64-digit hex change hash"))?;
        let pack = self::store(store)?
            .changes_since(&id, &heads)?
            .into_boxed_slice();
        *out_len = pack.len();
        *out_pack = Box::into_raw(pack).cast::<u8>();
        Ok(())
    })
}

/// Verifies and applies a change pack from another store in one transaction (applying it twice
/// is harmless). `*out_applied` is `{"doc": id, "kind": ..., "new_changes": n}`; a refused pack
/// (`DOSSIER_STATUS_REJECTED`) stores nothing.
///
/// # Safety
/// `store` is a live handle; `pack` points to `len` readable bytes (it may be NULL when `len` is
/// 0); `out_applied` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_apply_changes(
    store: *const DossierStore,
    pack: *const u8,
    len: usize,
    out_applied: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_applied, || {
            let bytes: &[u8] = if len == 0 {
                &[]
            } else if pack.is_null() {
                return Err(DossierError::invalid("change pack", "is NULL"));
            } else {
                std::slice::from_raw_parts(pack, len)
            };
            to_json(&self::store(store)?.apply_changes(bytes)?)
        })
    }
}

/// Merge via change packs: pulls every change `other` has and `store` lacks. `*out_updated` is
/// the number of documents that received changes.
///
/// # Safety
/// `store` and `other` are live handles; `out_updated` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_pull_from(
    store: *const DossierStore,
    other: *const DossierStore,
    out_updated: *mut u64,
) -> DossierStatus {
    call(|| unsafe {
        let out = out_updated
            .as_mut()
            .ok_or_else(|| DossierError::invalid("output pointer", "is NULL"))?;
        *out = 0;
        let updated = self::store(store)?.pull_from(self::store(other)?)?;
        let report = MergeReport {
            documents_updated: updated as u64,
        };
        *out = report.documents_updated;
        Ok(())
    })
}

/// This site's public key (base58check) in `*out_key`: give it to the hub or a peer, which
/// provisions this site with it (`dossier_add_peer`). Free it with `dossier_string_free`.
///
/// # Safety
/// `store` is a live handle; `out_key` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_public_key(
    store: *const DossierStore,
    out_key: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_key, || {
            Ok(self::store(store)?.public_key()?.to_string())
        })
    }
}

/// Provisions (or re-provisions) a peer: its site id, the public key it signs with (from its
/// `dossier_public_key`) and `scopes_json`, a JSON array of the scopes it may read and write
/// here: `["IN-UPI", "*/sop:ro"]`, `["*"]` for everything.
///
/// # Safety
/// `store` is a live handle; `site`, `public_key` and `scopes_json` valid strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_add_peer(
    store: *const DossierStore,
    site: *const c_char,
    public_key: *const c_char,
    scopes_json: *const c_char,
) -> DossierStatus {
    call(|| unsafe {
        let key = text(public_key, "public key")?.parse()?;
        let scopes: Vec<String> = from_json("scopes", text(scopes_json, "scopes")?)?;
        let scopes = scopes
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<dossier::sync::Scope>, dossier::Error>>()?;
        self::store(store)?.add_peer(text(site, "site")?, key, scopes)?;
        Ok(())
    })
}

/// Every provisioned peer as a JSON array of `{site, key, scopes, last_sync_at}`, by site id.
///
/// # Safety
/// `store` is a live handle; `out_peers` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_peers(
    store: *const DossierStore,
    out_peers: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe { call_json(out_peers, || to_json(&self::store(store)?.peers()?)) }
}

/// Forgets a peer and everything remembered about syncing with it
/// (`DOSSIER_STATUS_NOT_FOUND` when it is not provisioned).
///
/// # Safety
/// `store` is a live handle; `site` a valid string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_remove_peer(
    store: *const DossierStore,
    site: *const c_char,
) -> DossierStatus {
    call(|| unsafe { Ok(self::store(store)?.remove_peer(text(site, "site")?)?) })
}

/// Writes every change `for_site` (a provisioned peer) is not known to have into one signed
/// bundle file at `path`, for a site with no network; `*out_json` is `{"docs": n, "changes": n,
/// "bytes": n}`.
///
/// # Safety
/// `store` is a live handle; `path` and `for_site` valid strings; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_export_bundle(
    store: *const DossierStore,
    path: *const c_char,
    for_site: *const c_char,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_json, || {
            let path = text(path, "path")?;
            sync_io::check_bundle_path(path)?;
            let bundle = self::store(store)?.export_bundle(text(for_site, "site")?)?;
            sync_io::write_bundle(path, &bundle.bytes)?;
            to_json(&ExportedBundle::from(&bundle))
        })
    }
}

/// Verifies the bundle file at `path` and applies it. `*out_json` is `{"from": site, "docs": n,
/// "docs_updated": n, "new_changes": n, "rejected": [{"doc", "reason", "by"}]}`. A file that is
/// tampered with or signed by an unknown key (`DOSSIER_STATUS_AUTH`), truncated, malformed or
/// made for another site (`DOSSIER_STATUS_SYNC_FAILED`) stores nothing. Importing twice is
/// harmless.
///
/// # Safety
/// `store` is a live handle; `path` a valid string; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_import_bundle(
    store: *const DossierStore,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_json, || {
            let store = self::store(store)?;
            let bytes = sync_io::read_bundle(text(path, "path")?)?;
            to_json(&store.import_bundle(&bytes)?)
        })
    }
}

/// Syncs with the hub at `url` (`ws://HOST:PORT`), blocking until the session ends; the hub
/// and this store must have provisioned each other. `*out_json` is `{"peer": site,
/// "docs_sent": n, "docs_received": n, "rejected": [...], "messages_sent": n,
/// "messages_received": n, "bytes_sent": n, "bytes_received": n, "completed": bool}`. Failures:
/// `DOSSIER_STATUS_INVALID` (URL), `DOSSIER_STATUS_NETWORK`, `DOSSIER_STATUS_AUTH`,
/// `DOSSIER_STATUS_SYNC_REFUSED`, `DOSSIER_STATUS_SYNC_FAILED`.
///
/// # Safety
/// `store` is a live handle; `url` a valid string; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_sync_with_hub(
    store: *const DossierStore,
    url: *const c_char,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_json, || {
            let report = sync_io::sync_with_hub(self::store(store)?, text(url, "hub URL")?)?;
            to_json(&report)
        })
    }
}

/// Installs a workflow plugin from the component's bytes (`wasm`, `wasm_len` bytes of a
/// WebAssembly component built for `dossier:workflow@0.1.0`). `markets_json` is a JSON array of
/// the markets it runs for (`[]` or NULL: the markets it describes); `publisher_key` is a
/// publisher key's secret text form (`dossier-publisher-key:...`) to sign with, or NULL to sign
/// with this site's key. `*out_json` is the installed plugin: `{"id", "name", "version", "api",
/// "markets", "triggers", "description", "sha256", "publisher", "signature_ok", "trusted",
/// "active"}`. Not a plugin component: `DOSSIER_STATUS_PLUGIN_INCOMPATIBLE`.
///
/// # Safety
/// `store` is a live handle; `wasm` points to `wasm_len` readable bytes; `markets_json` and
/// `publisher_key` are NULL or valid strings; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_install_plugin(
    store: *const DossierStore,
    wasm: *const u8,
    wasm_len: usize,
    markets_json: *const c_char,
    publisher_key: *const c_char,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_json, || {
            if wasm.is_null() {
                return Err(DossierError::invalid("plugin wasm", "is NULL"));
            }
            let bytes = std::slice::from_raw_parts(wasm, wasm_len).to_vec();
            let markets: Vec<String> = match opt_text(markets_json, "markets")? {
                Some(json) => from_json("markets", json)?,
                None => Vec::new(),
            };
            let key = opt_text(publisher_key, "publisher key")?;
            to_json(&plugins::install(self::store(store)?, bytes, markets, key)?)
        })
    }
}

/// Every installed plugin as a JSON array (objects as `dossier_install_plugin` returns), by name
/// then version (newest first).
///
/// # Safety
/// `store` is a live handle; `out_json` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_plugins(
    store: *const DossierStore,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe { call_json(out_json, || to_json(&self::store(store)?.plugins()?)) }
}

/// Runs plugins signed by the publisher with this public key (base58check) from now on.
///
/// # Safety
/// `store` is a live handle; `public_key` a valid string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_trust_publisher(
    store: *const DossierStore,
    public_key: *const c_char,
) -> DossierStatus {
    call(|| unsafe {
        let key = text(public_key, "public key")?.parse()?;
        Ok(self::store(store)?.trust_publisher(&key)?)
    })
}

/// Stops running plugins signed by the publisher with this public key here.
///
/// # Safety
/// `store` is a live handle; `public_key` a valid string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_untrust_publisher(
    store: *const DossierStore,
    public_key: *const c_char,
) -> DossierStatus {
    call(|| unsafe {
        let key = text(public_key, "public key")?.parse()?;
        Ok(self::store(store)?.untrust_publisher(&key)?)
    })
}

/// Evaluates the active version of plugin `name` on a case (number or id) for `trigger`
/// (`case-created`, `case-updated`, `status-changed`, `before-solve`, `sla-check`) and changes
/// nothing. `*out_json` is `{"plugin": {"name", "version"}, "trigger", "actions": [{"action":
/// "add-tag", "tag": ...}, ...], "invalid": reason or null, "logs": [...]}`.
///
/// # Safety
/// `store` is a live handle; `name`, `case_key` and `trigger` valid strings; `out_json` valid for
/// a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dossier_plugin_dry_run(
    store: *const DossierStore,
    name: *const c_char,
    case_key: *const c_char,
    trigger: *const c_char,
    out_json: *mut *mut c_char,
) -> DossierStatus {
    // SAFETY: every pointer is valid per this function's contract.
    unsafe {
        call_json(out_json, || {
            let trigger = text(trigger, "trigger")?.parse()?;
            let (name, case_key) = (text(name, "plugin")?, text(case_key, "case")?);
            to_json(&plugins::dry_run(
                self::store(store)?,
                name,
                case_key,
                trigger,
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    /// Takes a JSON string this module returned, frees it, and parses it.
    fn take(p: *mut c_char) -> serde_json::Value {
        // SAFETY: a string this module returned, freed once.
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        unsafe { dossier_string_free(p) };
        serde_json::from_str(&s).unwrap()
    }

    /// A store of site `site` in a fresh folder; close it with `dossier_close`.
    fn open_temp(site: &str) -> (tempfile::TempDir, *mut DossierStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = c(&dir.path().join("c.db").display().to_string());
        let site = c(site);
        let mut store: *mut DossierStore = std::ptr::null_mut();
        // SAFETY: valid strings and output pointer.
        let status = unsafe {
            dossier_open(
                path.as_ptr(),
                site.as_ptr(),
                std::ptr::null(),
                0,
                &raw mut store,
            )
        };
        assert_eq!(status, DossierStatus::Ok);
        (dir, store)
    }

    #[test]
    fn the_checked_in_header_is_current() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/dossier.h"));
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/dossier.h");
        if std::env::var_os("DOSSIER_UPDATE_HEADER").is_some() {
            std::fs::write(path, generated).expect("cannot write ffi/include/dossier.h");
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "ffi/include/dossier.h is stale: run `DOSSIER_UPDATE_HEADER=1 cargo test -p \
             dossier-ffi --lib` and commit the header"
        );
    }

    #[test]
    fn a_panic_inside_a_call_becomes_an_internal_status_and_a_message() {
        let status = call(|| panic!("boom"));
        assert_eq!(status, DossierStatus::Internal);
        assert!(!dossier_last_error().is_null());
    }

    #[test]
    fn null_arguments_are_refused_with_invalid_not_a_crash() {
        let mut out: *mut c_char = std::ptr::null_mut();
        // SAFETY: NULL store and key are allowed inputs that must be refused.
        let status = unsafe { dossier_case_get(std::ptr::null(), std::ptr::null(), &raw mut out) };
        assert_eq!(status, DossierStatus::Invalid);
        assert!(out.is_null());
    }

    #[test]
    fn sop_and_article_splices_go_through_the_c_abi_with_typed_errors() {
        let (_dir, store) = open_temp("IN1");
        // SAFETY: valid strings and output pointers; the handle is closed at the end.
        unsafe {
            let json = c(include_str!(
                "../../core/src/sop/testdata/upi_debited_not_credited.json"
            ));
            let mut out: *mut c_char = std::ptr::null_mut();
            assert_eq!(
                dossier_sop_import(store, json.as_ptr(), &raw mut out),
                DossierStatus::Ok
            );
            let sop = take(out);
            let id = c(sop["id"].as_str().unwrap());
            let (node, en, insert) = (c("start"), c("en"), c("So: "));
            let status = dossier_sop_splice(
                store,
                id.as_ptr(),
                node.as_ptr(),
                en.as_ptr(),
                0,
                0,
                insert.as_ptr(),
                &raw mut out,
            );
            assert_eq!(status, DossierStatus::Ok);
            let edit = take(out);
            let text = "So: Was the customer's account debited?";
            assert_eq!(edit["length"], text.chars().count());
            assert_eq!(edit["redacted"], false);
            assert_eq!(edit["heads"].as_array().unwrap().len(), 1);
            let status = dossier_sop_splice(
                store,
                id.as_ptr(),
                node.as_ptr(),
                en.as_ptr(),
                10_000,
                0,
                insert.as_ptr(),
                &raw mut out,
            );
            assert_eq!(status, DossierStatus::Invalid);
            assert!(out.is_null());

            let article = c(r#"{"title": {"es": "Reembolsos"}, "body": {"es": "Texto"}}"#);
            assert_eq!(
                dossier_article_create(store, article.as_ptr(), &raw mut out),
                DossierStatus::Ok
            );
            let a = take(out);
            let aid = c(a["id"].as_str().unwrap());
            let (body, es, card) = (c("body"), c("es"), c(" 4111 1111 1111 1111"));
            let status = dossier_article_splice(
                store,
                aid.as_ptr(),
                body.as_ptr(),
                es.as_ptr(),
                5,
                0,
                card.as_ptr(),
                &raw mut out,
            );
            assert_eq!(status, DossierStatus::Ok);
            let edit = take(out);
            assert_eq!(edit["redacted"], true);
            assert_eq!(edit["length"], "Texto 411111******1111".chars().count());
            let bad = c("summary");
            let status = dossier_article_splice(
                store,
                aid.as_ptr(),
                bad.as_ptr(),
                es.as_ptr(),
                0,
                0,
                card.as_ptr(),
                &raw mut out,
            );
            assert_eq!(status, DossierStatus::Invalid);
            dossier_close(store);
        }
    }

    #[test]
    fn a_case_update_with_a_note_an_escalation_and_an_sla_is_one_change_through_the_c_abi() {
        let (_dir, store) = open_temp("MX1");
        // SAFETY: valid strings and output pointers; the handle is closed at the end.
        unsafe {
            let new =
                c(r#"{"market": "IN-UPI", "category": "failed_payment", "subject": "Debited"}"#);
            let mut out: *mut c_char = std::ptr::null_mut();
            assert_eq!(
                dossier_case_create(store, new.as_ptr(), &raw mut out),
                DossierStatus::Ok
            );
            let number = c(take(out)["number"].as_str().unwrap());
            let update = c(
                r#"{"status": "open", "note": "Called the bank", "escalate_to": "risk",
                "escalation_reason": "second debit", "sla_due": {"resolution": 4102444800000}}"#,
            );
            assert_eq!(
                dossier_case_update(store, number.as_ptr(), update.as_ptr(), &raw mut out),
                DossierStatus::Ok
            );
            let case = take(out);
            assert_eq!(case["status"], "open");
            assert_eq!(case["escalations"][0]["to"], "risk");
            assert_eq!(case["sla"]["resolution"]["due_at"], 4_102_444_800_000_i64);
            let kinds: Vec<&str> = case["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap())
                .collect();
            assert_eq!(
                kinds,
                ["created", "status_changed", "escalated", "sla_set", "note"]
            );
            // An escalation without its reason is refused, and nothing is written.
            let half = c(r#"{"note": "x", "escalate_to": "risk"}"#);
            assert_eq!(
                dossier_case_update(store, number.as_ptr(), half.as_ptr(), &raw mut out),
                DossierStatus::Invalid
            );
            dossier_close(store);
        }
    }

    #[test]
    fn json_errors_do_not_echo_the_values_that_were_sent() {
        let Err(e) = from_json::<dossier::NewCase>("new case", r#"{"market": 4111111111111111}"#)
        else {
            panic!("accepted");
        };
        assert!(!e.to_string().contains("4111"), "{e}");
        let Err(e) = from_json::<CaseFilter>("case filter", r#"{"status": "Juan Perez was here"}"#)
        else {
            panic!("accepted");
        };
        assert!(!e.to_string().contains("Juan"), "{e}");
    }
}
