//! Who owns each register of a document, and how concurrent values of it merge (DESIGN §4).
//!
//! Automerge keeps every concurrent value of a register. Some registers belong to a person (an
//! assignee, a subject, a node's next step): when two sites set them at once the document
//! shows Automerge's deterministic winner and [`Store::conflicts`](crate::Store::conflicts)
//! lists the values, so a person can choose. Others are the code's own bookkeeping (since when
//! SLA clocks are paused, when a case was solved): nobody could settle them by hand, so each
//! has a deterministic policy, applied wherever the register is read, and is never reported.
//! A few person-owned registers also have a policy (status by rank, priority by maximum).
//!
//! [`REGISTERS`] is the one list of both. A register it does not name is person-owned: a
//! new field is reported until someone decides otherwise here, rather than hidden.

use automerge::{ObjId, ReadDoc, ScalarValue, Value};

use crate::doc::Reader;
use crate::store::DocKind;

/// How concurrent values of a register resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// A person's field: Automerge's winner is shown and the values are reported as a conflict.
    Person,
    /// A person's field resolved by rank (case status: closed > solved > … > new).
    Rank,
    /// The largest value (case priority by rank; paused time).
    Max,
    /// The earliest time: the first site to do it did it then.
    Earliest,
    /// The latest time.
    Latest,
    /// Bookkeeping where any one value will do, the same on every replica: Automerge's winner.
    Winner,
}

impl Policy {
    /// Whether concurrent values are a conflict for a person to settle.
    pub(crate) fn is_reported(self) -> bool {
        self == Policy::Person
    }
}

/// One register (or family of registers: `*` stands for any one map key) and its policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Register {
    pub kind: DocKind,
    pub path: &'static str,
    pub policy: Policy,
}

const fn reg(kind: DocKind, path: &'static str, policy: Policy) -> Register {
    Register { kind, path, policy }
}

use DocKind::{Article, Case, Plugin, Sop};
use Policy::*;

/// Every register the code writes, by kind, with its policy. Paths are map keys joined by `.`
/// (lists are not registers: their items are only appended).
pub(crate) const REGISTERS: &[Register] = &[
    // Every kind: written once, when the document is created.
    reg(Case, "kind", Winner),
    reg(Case, "schema", Winner),
    reg(Case, "created_at", Winner),
    reg(Sop, "kind", Winner),
    reg(Sop, "schema", Winner),
    reg(Sop, "created_at", Winner),
    reg(Article, "kind", Winner),
    reg(Article, "schema", Winner),
    reg(Article, "created_at", Winner),
    reg(Plugin, "kind", Winner),
    reg(Plugin, "schema", Winner),
    reg(Plugin, "created_at", Winner),
    // Case: a person's fields.
    reg(Case, "status", Rank),
    reg(Case, "priority", Max),
    reg(Case, "assignee", Person),
    reg(Case, "market", Person),
    reg(Case, "locale", Person),
    reg(Case, "channel", Person),
    reg(Case, "category", Person),
    reg(Case, "subcategory", Person),
    reg(Case, "root_cause", Person),
    reg(Case, "subject", Person),
    reg(Case, "description", Person),
    reg(Case, "problem", Person),
    reg(Case, "payment.*", Person),
    reg(Case, "payment.card.*", Person),
    reg(Case, "dispute.*", Person),
    reg(Case, "fields.*", Person),
    reg(Case, "tags.*", Person),
    reg(Case, "sla.*.due_at", Person),
    reg(Case, "qa.*", Person),
    // Case: bookkeeping.
    reg(Case, "number", Winner),
    reg(Case, "site", Winner),
    reg(Case, "paused_since", Earliest),
    reg(Case, "solved_at", Earliest),
    reg(Case, "closed_at", Earliest),
    reg(Case, "inherited_root_cause", Winner),
    reg(Case, "sla.*.paused_ms", Max),
    reg(Case, "sla.*.met_at", Earliest),
    reg(Case, "required.*", Winner),
    // SOP: the tree is the authors'.
    reg(Sop, "title", Person),
    reg(Sop, "markets", Person),
    reg(Sop, "master_locale", Person),
    reg(Sop, "entry", Person),
    reg(Sop, "nodes.*", Person),
    reg(Sop, "nodes.*.*", Person),
    reg(Sop, "nodes.*.text.*", Person),
    reg(Sop, "nodes.*.action.*", Person),
    reg(Sop, "nodes.*.action.params.*", Person),
    reg(Sop, "nodes.*.outcome.*", Person),
    reg(Sop, "tests", Person),
    // SOP and article workflow state, set by code on a person's action; published versions are
    // recorded in the append-only `versions` list, so no approval is lost whichever shows.
    reg(Sop, "status", Winner),
    reg(Article, "status", Winner),
    // Article.
    reg(Article, "title", Person),
    reg(Article, "title.*", Person),
    reg(Article, "body", Person),
    reg(Article, "body.*", Person),
    reg(Article, "markets", Person),
    reg(Article, "categories", Person),
    reg(Article, "related_sops", Person),
    reg(Article, "visibility", Person),
    reg(Article, "verification.interval_days", Person),
    reg(Article, "verification.last_verified_at", Latest),
    reg(Article, "verification.verifier", Winner),
    // Plugin packages are written whole by their publisher.
    reg(Plugin, "*", Person),
    reg(Plugin, "tables.*", Person),
];

fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('.');
    let mut f = path.split('.');
    loop {
        match (p.next(), f.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == "*" || a == b => {}
            _ => return false,
        }
    }
}

/// The policy of the register at `path` (map keys joined by `.`) in a document of `kind`:
/// the most specific listed pattern (fewest `*`), [`Policy::Person`] when none is listed.
pub(crate) fn policy(kind: DocKind, path: &str) -> Policy {
    REGISTERS
        .iter()
        .filter(|r| r.kind == kind && matches(r.path, path))
        .min_by_key(|r| r.path.matches('*').count())
        .map_or(Person, |r| r.policy)
}

/// Whether a pattern of [`REGISTERS`] names the register (a test keeps the list complete).
#[cfg(test)]
fn is_listed(kind: DocKind, path: &str) -> bool {
    REGISTERS
        .iter()
        .any(|r| r.kind == kind && matches(r.path, path))
}

/// Every concurrent integer value of a register.
fn ints(r: &Reader<'_, impl ReadDoc>, obj: &ObjId, prop: &str) -> Vec<i64> {
    r.all(obj, prop)
        .into_iter()
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Int(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                ScalarValue::Timestamp(t) => Some(*t),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The earliest of a time register's concurrent values.
pub(crate) fn earliest(r: &Reader<'_, impl ReadDoc>, obj: &ObjId, prop: &str) -> Option<i64> {
    ints(r, obj, prop).into_iter().min()
}

/// The latest of a time register's concurrent values.
pub(crate) fn latest(r: &Reader<'_, impl ReadDoc>, obj: &ObjId, prop: &str) -> Option<i64> {
    ints(r, obj, prop).into_iter().max()
}

/// The largest of a register's concurrent integer values.
pub(crate) fn max(r: &Reader<'_, impl ReadDoc>, obj: &ObjId, prop: &str) -> Option<i64> {
    latest(r, obj, prop)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn internal_case_registers_have_a_policy_and_person_fields_are_reported() {
        for path in [
            "paused_since",
            "solved_at",
            "closed_at",
            "sla.first_reply.paused_ms",
        ] {
            assert!(!policy(Case, path).is_reported(), "{path}");
        }
        assert_eq!(policy(Case, "paused_since"), Earliest);
        assert_eq!(policy(Case, "sla.resolution.paused_ms"), Max);
        assert_eq!(policy(Case, "sla.resolution.met_at"), Earliest);
        for path in [
            "assignee",
            "root_cause",
            "fields.order",
            "sla.first_reply.due_at",
        ] {
            assert!(policy(Case, path).is_reported(), "{path}");
        }
    }

    #[test]
    fn an_unlisted_register_is_a_person_s_and_reported() {
        assert_eq!(policy(Case, "something_new"), Person);
        assert_eq!(policy(Case, "sla.first_reply.something_new"), Person);
        assert_eq!(policy(Sop, "paused_since"), Person);
    }

    /// Paths of every scalar or text register under `obj`, through nested maps (list items
    /// are appended once and never rewritten, so they are not registers).
    fn register_paths(
        r: &Reader<'_, automerge::Automerge>,
        obj: &ObjId,
        path: &str,
    ) -> Vec<String> {
        use automerge::ObjType;
        let mut out = Vec::new();
        for key in r.keys(obj) {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match r.get(obj, key.as_str()) {
                Some((Value::Object(ObjType::Map), id)) => {
                    out.extend(register_paths(r, &id, &field));
                }
                Some((Value::Object(ObjType::List), _)) => {}
                Some(_) => out.push(field),
                None => {}
            }
        }
        out
    }

    #[test]
    fn every_register_the_code_writes_is_listed_as_a_person_s_or_with_a_policy() {
        use crate::case::{Card, CaseUpdate, Category, Dispute, NewCase, Payment, Status};
        use crate::{NewArticle, Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path().join("s.db"),
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let problem = store
            .create_case(NewCase::new("ES", Category::Refund, "Outage"))
            .unwrap();
        let mut new = NewCase::new("ES", Category::ChargebackDispute, "Unknown charge");
        new.locale = Some("es".into());
        new.channel = Some("chat".into());
        new.assignee = Some("lucia".into());
        new.subcategory = Some("duplicate".into());
        new.description = Some("Two charges".into());
        new.tags = vec!["vip".into()];
        new.fields = [("order".to_string(), "A-1".to_string())].into();
        new.payment = Some(Payment {
            rail: Some("card".into()),
            amount_minor: Some(100),
            currency: Some("EUR".into()),
            txn_at: Some(1),
            txn_ref: Some("T1".into()),
            network_ref: Some("N1".into()),
            card: Some(Card {
                brand: Some("visa".into()),
                bin: Some("411111".into()),
                last4: Some("1111".into()),
            }),
        });
        new.dispute = Some(Dispute {
            network: Some("visa".into()),
            reason_code: Some("10.4".into()),
            stage: Some("first_chargeback".into()),
            evidence_due_at: Some(2),
        });
        new.problem = Some(problem.number.clone());
        let case = store.create_case(new).unwrap();
        store.set_sla(&case.number, "first_reply", 5).unwrap();
        store.mark_sla_met(&case.number, "first_reply").unwrap();
        store.set_sla(&case.number, "resolution", 9).unwrap();
        for s in [Status::Pending, Status::Open] {
            let update = CaseUpdate {
                status: Some(s),
                ..Default::default()
            };
            store.update_case(&case.number, update).unwrap();
        }
        let solve = CaseUpdate {
            status: Some(Status::Solved),
            root_cause: Some("psp_outage".into()),
            priority: Some(crate::case::Priority::High),
            ..Default::default()
        };
        store.update_case(&problem.number, solve).unwrap();
        let close = CaseUpdate {
            status: Some(Status::Closed),
            ..Default::default()
        };
        store.update_case(&case.number, close).unwrap();

        let sop = store
            .import_sop_json(crate::sop::definition::tests::UPI, "upi.json")
            .unwrap();
        let article = store
            .create_article(NewArticle {
                title: [("es".to_string(), "Reembolsos".to_string())].into(),
                body: [("es".to_string(), "Cómo".to_string())].into(),
                ..Default::default()
            })
            .unwrap();
        store.verify_article(&article.id).unwrap();

        let docs = [
            (case.id, Case),
            (problem.id, Case),
            (sop.id, Sop),
            (article.id, Article),
        ];
        for (id, kind) in docs {
            let (doc, _) = store.load(&id).unwrap();
            let r = Reader::new(&*doc, None);
            let paths = register_paths(&r, &ObjId::Root, "");
            assert!(paths.len() > 3, "{paths:?}");
            for path in paths {
                assert!(
                    is_listed(kind, &path),
                    "{kind:?} register {path} is not in REGISTERS"
                );
            }
        }
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        assert_eq!(policy(Sop, "nodes.start.kind"), Person);
        assert_eq!(policy(Plugin, "kind"), Winner);
        assert_eq!(policy(Plugin, "name"), Person);
    }
}
