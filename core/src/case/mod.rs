//! Cases: customer complaint tickets about payments.
//!
//! A case is one Automerge document. Registers that two sites may set concurrently are resolved
//! at read time by the merge policies of DESIGN §4 — `status` by rank (closed, solved, on_hold,
//! pending, open, new: highest wins), `priority` by maximum — so every replica shows the same case without
//! > anyone writing a resolution. Tags are a map used as an add-wins set; events, escalations and
//! > SOP runs are append-only lists, so concurrent appends are all kept.
//!
//! Status rules: `closed` is terminal, every status change is an event, and while a case is
//! `pending` or `on_hold` its SLA clocks are paused (the paused time is added to each unmet
//! metric when the case resumes).

use crate::plugin::Trigger;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use automerge::{ChangeHash, ObjId, ReadDoc, ScalarValue, Value};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::doc::{DocTx, Reader};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::merge;
use crate::store::{DocKind, Origin, Store, Write};

mod api;
mod edit;
mod materialize;
mod model;
pub(crate) mod projection;

pub(crate) use edit::*;
pub(crate) use materialize::*;
pub use model::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_wit_contract_and_nothing_else() {
        for ok in [
            "upi_vpa",
            "txn-type",
            "br.pix.key",
            "a",
            "x9",
            &"a".repeat(MAX_FIELD_NAME),
        ] {
            assert!(check_field_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Status",
            "não-ascii",
            "a/b:c",
            "../../etc/passwd",
            "with space",
            "tab\t",
            "ÿ",
            &"a".repeat(MAX_FIELD_NAME + 1),
        ] {
            let e = check_field_name(bad).unwrap_err();
            assert!(
                e.to_string().contains("lowercase ASCII letters"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn the_case_own_properties_are_reserved_as_field_names() {
        for reserved in [
            "status",
            "market",
            "priority",
            "payment.txn_ref",
            "tags.x",
            "required",
        ] {
            let e = check_field_name(reserved).unwrap_err();
            assert!(
                e.to_string().contains("is a property of the case itself"),
                "{reserved}: {e}"
            );
        }
        // A reserved word inside a name is fine; only the name or its first segment is taken.
        for ok in ["status_code", "bank.status", "marketplace"] {
            assert!(check_field_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn creating_or_updating_a_case_checks_field_names_and_writes_nothing_when_bad() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(
            dir.path().join("MX1.db"),
            crate::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let mut new = NewCase::new("IN-UPI", Category::FailedPayment, "Debited");
        new.fields.insert("Status".into(), "closed".into());
        assert!(matches!(store.create_case(new), Err(Error::Invalid { .. })));
        let mut new = NewCase::new("IN-UPI", Category::FailedPayment, "Debited");
        new.fields.insert("status".into(), "closed".into());
        assert!(store.create_case(new).is_err());
        assert!(store.case("MX1-1").is_err(), "a refused case was written");

        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        let update = CaseUpdate {
            fields: BTreeMap::from([("priority".to_string(), Some("urgent".to_string()))]),
            ..Default::default()
        };
        assert!(store.update_case(&case.number, update).is_err());
        assert_eq!(store.case(&case.number).unwrap().fields, BTreeMap::new());
    }

    fn store_at(dir: &std::path::Path, now: i64) -> crate::Store {
        crate::Store::open(
            dir.join("MX1.db"),
            crate::StoreOptions {
                site: Some("MX1".into()),
                clock: Some(std::sync::Arc::new(move || now)),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn an_update_with_status_note_escalation_and_sla_is_one_change_and_returns_what_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(dir.path(), 1_800_000_000_000);
        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        let before = store.history(&case.id).unwrap().len();
        let update = CaseUpdate {
            status: Some(Status::Open),
            priority: Some(Priority::High),
            add_tags: vec!["npci".into()],
            note: Some("Called the bank; refund initiated.".into()),
            public_note: true,
            escalate: Some(EscalateTo {
                to: "psp_bank".into(),
                reason: "no reversal after T+1".into(),
            }),
            sla_due: BTreeMap::from([("resolution".to_string(), 1_800_000_600_000)]),
            ..Default::default()
        };
        let returned = store.update_case(&case.number, update).unwrap();
        let history = store.history(&case.id).unwrap();
        assert_eq!(history.len(), before + 1, "one call, one change");
        assert_eq!(history.last().unwrap().action, "case.update");
        // What the call returns is the case as stored, not a guess.
        assert_eq!(returned, store.case_by_id(&case.id).unwrap());
        assert_eq!(returned.status, Status::Open);
        assert_eq!(returned.escalations.len(), 1);
        assert_eq!(returned.sla["resolution"].due_at, 1_800_000_600_000);
        let kinds: Vec<&str> = returned.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "created",
                "status_changed",
                "priority_changed",
                "escalated",
                "sla_set",
                "note"
            ]
        );
        let note = returned.events.last().unwrap();
        assert_eq!(note.visibility, "public");
        // The projection saw the same change.
        let listed = store
            .list_cases(&CaseFilter {
                tag: Some("npci".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sla_due_at, Some(1_800_000_600_000));
    }

    #[test]
    fn a_bad_part_of_an_update_writes_no_part_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(dir.path(), 1_800_000_000_000);
        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        let before = store.case(&case.number).unwrap();
        // A metric never set cannot be met: the status and the note go with it.
        let update = CaseUpdate {
            status: Some(Status::Open),
            note: Some("should not be stored".into()),
            sla_met: vec!["first_reply".into()],
            ..Default::default()
        };
        assert!(matches!(
            store.update_case(&case.number, update),
            Err(Error::NotFound { .. })
        ));
        // An empty note is refused before anything is read.
        let update = CaseUpdate {
            status: Some(Status::Open),
            note: Some("  ".into()),
            ..Default::default()
        };
        assert!(matches!(
            store.update_case(&case.number, update),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(store.case(&case.number).unwrap(), before);
        assert_eq!(store.history(&case.id).unwrap().len(), 1);
    }

    #[test]
    fn a_closed_case_is_refused_by_every_kind_of_edit() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(dir.path(), 1_800_000_000_000);
        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        store
            .update_case(
                &case.number,
                CaseUpdate {
                    status: Some(Status::Closed),
                    ..Default::default()
                },
            )
            .unwrap();
        let closed = |r: Result<Case>| matches!(r, Err(Error::CaseClosed { .. }));
        assert!(closed(store.add_note(&case.number, "late", false)));
        assert!(closed(store.escalate(&case.number, "risk", "late")));
        assert!(closed(store.set_sla(&case.number, "resolution", 1)));
        assert!(closed(store.update_case(
            &case.number,
            CaseUpdate {
                priority: Some(Priority::Urgent),
                ..Default::default()
            }
        )));
    }
}
