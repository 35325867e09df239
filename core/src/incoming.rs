//! Checks on Automerge data that comes from outside this store — change packs, bundles, sync
//! messages — made before `automerge` is asked to apply it.
//!
//! `automerge` 0.12 trusts its input more than a store exposed to other sites can:
//!
//! - [`Change::from_bytes`] does not verify the checksum in a change chunk's header (only
//!   `Automerge::load` does), so a corrupted change decodes as a different, valid-looking one;
//! - applying a change whose operations are impossible for the object they target (an
//!   `insert` at a map key, a map key on a list) corrupts the operation set: in debug builds
//!   an assertion panics, in release builds the document silently stops being well formed.
//!
//! Fuzzing the change-pack import found the second with a pack whose bytes had been mutated
//! (`fuzz/regressions/doc_load/`). [`check_changes`] refuses both, and [`contain`] turns any
//! panic still left inside `automerge` on hostile input into an error, so the caller can drop
//! the document it was applying to instead of unwinding through the store.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{ElementId, Key, ObjectId, OpType};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc};

/// Whether the checksum in a change chunk's header matches the change: the first four bytes
/// of its hash (the same rule `Automerge::load` applies to stored chunks). `raw` is the chunk
/// as received, `change` what [`Change::from_bytes`] made of it.
pub(crate) fn checksum_ok(raw: &[u8], change: &Change) -> bool {
    raw.get(4..8) == Some(&change.hash().0[..4])
}

/// Refuses changes whose operations cannot be applied to `doc` as they stand: every operation
/// must target the root, an object one of `changes` makes, or an object `doc` holds, with a key
/// of the object's kind (map keys on maps, list positions on lists and text), inserts only into
/// lists and text, and overwrites only of an existing list element.
///
/// Returns the reason for the first operation that fails.
pub(crate) fn check_changes(doc: &Automerge, changes: &[Change]) -> Result<(), String> {
    let expanded: Vec<_> = changes.iter().map(Change::decode).collect();
    let mut made: HashMap<(u64, ActorId), ObjType> = HashMap::new();
    for change in &expanded {
        for (i, op) in change.operations.iter().enumerate() {
            if let OpType::Make(kind) = op.action {
                made.insert(
                    (change.start_op.get() + i as u64, change.actor_id.clone()),
                    kind,
                );
            }
        }
    }
    for change in &expanded {
        for (i, op) in change.operations.iter().enumerate() {
            let at = || {
                format!(
                    "operation {} of change {}@{}",
                    change.start_op.get() + i as u64,
                    change.seq,
                    change.actor_id
                )
            };
            let kind = match &op.obj {
                ObjectId::Root => ObjType::Map,
                ObjectId::Id(id) => {
                    let known = made.get(&(id.counter(), id.actor().clone())).copied();
                    let held = || {
                        doc.object_type(automerge::ObjId::Id(
                            id.counter(),
                            id.actor().clone(),
                            usize::MAX,
                        ))
                        .ok()
                    };
                    match known.or_else(held) {
                        Some(kind) => kind,
                        None => {
                            return Err(format!("{} targets an object that does not exist", at()));
                        }
                    }
                }
            };
            let fits = match (kind, &op.key) {
                (ObjType::Map | ObjType::Table, Key::Map(_)) => !op.insert,
                (ObjType::List | ObjType::Text, Key::Seq(elem)) => {
                    op.insert || !matches!(elem, ElementId::Head)
                }
                _ => false,
            };
            if !fits {
                return Err(format!(
                    "{} uses a {} on a {kind:?}",
                    at(),
                    match (&op.key, op.insert) {
                        (Key::Map(_), true) => "map key as an insert position",
                        (Key::Map(_), false) => "map key",
                        (Key::Seq(_), true) => "list insert",
                        (Key::Seq(_), false) => "list position",
                    }
                ));
            }
        }
    }
    Ok(())
}

/// Runs `f`, which feeds outside data to `automerge`, and turns a panic into `Err` with the
/// panic's message. The value `f` was working on may be half-changed afterwards: the caller
/// must drop it.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("automerge could not apply it ({why})")
    })
}
