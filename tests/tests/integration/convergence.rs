//! Convergence property: replicas that make random concurrent edits and exchange changes in
//! random orders end up identical — same materialized views, same heads, same SOP violations.

use std::collections::BTreeMap;

use dossier::{CaseUpdate, Category, DocId, DocKind, NewArticle, NewCase, Priority, Status, Store};
use dossier_tests::{TestClock, UPI_SOP, open_site};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    NewCase {
        site: usize,
        market: usize,
    },
    Status {
        site: usize,
        case: usize,
        status: usize,
    },
    Priority {
        site: usize,
        case: usize,
        priority: usize,
    },
    Tag {
        site: usize,
        case: usize,
        tag: usize,
        add: bool,
    },
    Assign {
        site: usize,
        case: usize,
        who: usize,
    },
    Note {
        site: usize,
        case: usize,
    },
    Escalate {
        site: usize,
        case: usize,
    },
    SopText {
        site: usize,
        node: usize,
        edit: usize,
    },
    SopRule {
        site: usize,
        days: u8,
    },
    ArticleBody {
        site: usize,
        edit: usize,
    },
    Pull {
        to: usize,
        from: usize,
    },
}

const MARKETS: &[&str] = &["IN-UPI", "BR-PIX", "ES", "EU"];
const TAGS: &[&str] = &["vip", "npci", "chargeback", "pix-med"];
const PEOPLE: &[&str] = &["lucia", "priya", "joao"];
const NODES: &[&str] = &["start", "collect_rrn", "raise_psp", "end_escalated"];

fn op(sites: usize) -> impl Strategy<Value = Op> {
    let s = 0..sites;
    prop_oneof![
        2 => (s.clone(), 0..MARKETS.len()).prop_map(|(site, market)| Op::NewCase { site, market }),
        2 => (s.clone(), 0..8usize, 0..Status::ALL.len() - 1)
            .prop_map(|(site, case, status)| Op::Status { site, case, status }),
        1 => (s.clone(), 0..8usize, 0..4usize)
            .prop_map(|(site, case, priority)| Op::Priority { site, case, priority }),
        2 => (s.clone(), 0..8usize, 0..TAGS.len(), any::<bool>())
            .prop_map(|(site, case, tag, add)| Op::Tag { site, case, tag, add }),
        1 => (s.clone(), 0..8usize, 0..PEOPLE.len()).prop_map(|(site, case, who)| Op::Assign { site, case, who }),
        2 => (s.clone(), 0..8usize).prop_map(|(site, case)| Op::Note { site, case }),
        1 => (s.clone(), 0..8usize).prop_map(|(site, case)| Op::Escalate { site, case }),
        2 => (s.clone(), 0..NODES.len(), 0..1000usize).prop_map(|(site, node, edit)| Op::SopText { site, node, edit }),
        1 => (s.clone(), 0..10u8).prop_map(|(site, days)| Op::SopRule { site, days }),
        1 => (s.clone(), 0..1000usize).prop_map(|(site, edit)| Op::ArticleBody { site, edit }),
        3 => (s.clone(), s).prop_map(|(to, from)| Op::Pull { to, from }),
    ]
}

/// Cases a replica knows, in a stable order.
fn known_cases(s: &Store) -> Vec<DocId> {
    s.documents()
        .unwrap()
        .into_iter()
        .filter(|(_, k)| *k == DocKind::Case)
        .map(|(id, _)| id)
        .collect()
}

fn apply(stores: &[Store], sop: &DocId, article: &DocId, op: &Op, n: usize) {
    let pick = |site: usize, case: usize| -> Option<String> {
        let cases = known_cases(&stores[site]);
        (!cases.is_empty()).then(|| cases[case % cases.len()].to_string())
    };
    // Edits may legitimately fail (a closed case); what matters is that replicas agree.
    let _ = match op {
        Op::NewCase { site, market } => stores[*site]
            .create_case(NewCase::new(
                MARKETS[*market],
                Category::Other,
                &format!("case {n}"),
            ))
            .map(|_| ()),
        Op::Status { site, case, status } => match pick(*site, *case) {
            Some(c) => stores[*site]
                .update_case(
                    &c,
                    CaseUpdate {
                        status: Some(Status::ALL[*status]),
                        ..Default::default()
                    },
                )
                .map(|_| ()),
            None => Ok(()),
        },
        Op::Priority {
            site,
            case,
            priority,
        } => match pick(*site, *case) {
            Some(c) => stores[*site]
                .update_case(
                    &c,
                    CaseUpdate {
                        priority: Some(Priority::ALL[*priority]),
                        ..Default::default()
                    },
                )
                .map(|_| ()),
            None => Ok(()),
        },
        Op::Tag {
            site,
            case,
            tag,
            add,
        } => match pick(*site, *case) {
            Some(c) => {
                let t = vec![TAGS[*tag].to_string()];
                let u = if *add {
                    CaseUpdate {
                        add_tags: t,
                        ..Default::default()
                    }
                } else {
                    CaseUpdate {
                        remove_tags: t,
                        ..Default::default()
                    }
                };
                stores[*site].update_case(&c, u).map(|_| ())
            }
            None => Ok(()),
        },
        Op::Assign { site, case, who } => match pick(*site, *case) {
            Some(c) => stores[*site]
                .update_case(
                    &c,
                    CaseUpdate {
                        assignee: Some(Some(PEOPLE[*who].into())),
                        ..Default::default()
                    },
                )
                .map(|_| ()),
            None => Ok(()),
        },
        Op::Note { site, case } => match pick(*site, *case) {
            Some(c) => stores[*site]
                .add_note(&c, &format!("note {n}"), false)
                .map(|_| ()),
            None => Ok(()),
        },
        Op::Escalate { site, case } => match pick(*site, *case) {
            Some(c) => stores[*site]
                .escalate(&c, "risk", &format!("reason {n}"))
                .map(|_| ()),
            None => Ok(()),
        },
        Op::SopText { site, node, edit } => {
            let s = &stores[*site];
            let cur = s
                .sop(sop)
                .unwrap()
                .definition
                .nodes
                .get(NODES[*node])
                .and_then(|n| n.text.get("en").cloned());
            match cur {
                Some(t) => {
                    let chars: Vec<char> = t.chars().collect();
                    let at = edit % (chars.len() + 1);
                    let mut next: String = chars[..at].iter().collect();
                    next.push_str(&format!(" e{n}"));
                    next.extend(&chars[at..]);
                    s.set_sop_text(sop, NODES[*node], "en", &next).map(|_| ())
                }
                None => Ok(()),
            }
        }
        Op::SopRule { site, days } => {
            let s = &stores[*site];
            let mut node = s.sop(sop).unwrap().definition.nodes["p2m_age"].clone();
            node.rules[0].when = format!("days_since_txn <= {days}");
            s.upsert_sop_node(sop, "p2m_age", &node).map(|_| ())
        }
        Op::ArticleBody { site, edit } => {
            let s = &stores[*site];
            let cur = s
                .article(article)
                .unwrap()
                .body
                .get("es")
                .cloned()
                .unwrap_or_default();
            let chars: Vec<char> = cur.chars().collect();
            let at = edit % (chars.len() + 1);
            let mut next: String = chars[..at].iter().collect();
            next.push_str(&format!(" ñ{n}"));
            next.extend(&chars[at..]);
            s.edit_article(article, "es", None, Some(&next)).map(|_| ())
        }
        Op::Pull { to, from } if to != from => stores[*to].pull_from(&stores[*from]).map(|_| ()),
        Op::Pull { .. } => Ok(()),
    };
}

fn snapshot(s: &Store) -> BTreeMap<String, String> {
    s.documents()
        .unwrap()
        .into_iter()
        .map(|(id, kind)| {
            let view = match kind {
                DocKind::Case => serde_json::to_string(&s.case_by_id(&id).unwrap()).unwrap(),
                DocKind::Sop => serde_json::to_string(&s.sop(&id).unwrap()).unwrap(),
                DocKind::Article => serde_json::to_string(&s.article(&id).unwrap()).unwrap(),
                DocKind::Plugin => String::new(),
            };
            let heads = format!("{:?}", s.heads(&id).unwrap());
            let conflicts = serde_json::to_string(&s.conflicts(&id).unwrap()).unwrap();
            (id.to_string(), format!("{view}|{heads}|{conflicts}"))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_edits_and_sync_order(
        sites in 3usize..=4,
        ops in proptest::collection::vec(op(4), 10..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let names = ["MXA", "BLRB", "SAOC", "MADD"];
        let stores: Vec<Store> = (0..sites)
            .map(|i| open_site(dir.path(), names[i], PEOPLE[i % PEOPLE.len()], &clock))
            .collect();
        let sop = stores[0].import_sop_json(UPI_SOP, "upi.json").unwrap().id;
        let article = stores[0]
            .create_article(NewArticle {
                title: [("es".to_string(), "Reembolsos".to_string())].into(),
                body: [("es".to_string(), "Texto base.".to_string())].into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        for s in &stores[1..] {
            s.pull_from(&stores[0]).unwrap();
        }
        for (n, op) in ops.iter().enumerate() {
            let op = match op.clone() {
                Op::Pull { to, from } => Op::Pull { to: to % sites, from: from % sites },
                Op::NewCase { site, market } => Op::NewCase { site: site % sites, market },
                other => other,
            };
            let op = reindex(op, sites);
            clock.advance(1000);
            apply(&stores, &sop, &article, &op, n);
        }
        // Everyone talks to everyone until quiet.
        for _ in 0..2 {
            for i in 0..sites {
                for j in 0..sites {
                    if i != j {
                        stores[i].pull_from(&stores[j]).unwrap();
                    }
                }
            }
        }
        let first = snapshot(&stores[0]);
        for s in &stores[1..] {
            prop_assert_eq!(&snapshot(s), &first);
        }
        for s in &stores {
            prop_assert_eq!(s.check_integrity().unwrap(), Vec::<String>::new());
        }
    }
}

fn reindex(op: Op, sites: usize) -> Op {
    match op {
        Op::Status { site, case, status } => Op::Status {
            site: site % sites,
            case,
            status,
        },
        Op::Priority {
            site,
            case,
            priority,
        } => Op::Priority {
            site: site % sites,
            case,
            priority,
        },
        Op::Tag {
            site,
            case,
            tag,
            add,
        } => Op::Tag {
            site: site % sites,
            case,
            tag,
            add,
        },
        Op::Assign { site, case, who } => Op::Assign {
            site: site % sites,
            case,
            who,
        },
        Op::Note { site, case } => Op::Note {
            site: site % sites,
            case,
        },
        Op::Escalate { site, case } => Op::Escalate {
            site: site % sites,
            case,
        },
        Op::SopText { site, node, edit } => Op::SopText {
            site: site % sites,
            node,
            edit,
        },
        Op::SopRule { site, days } => Op::SopRule {
            site: site % sites,
            days,
        },
        Op::ArticleBody { site, edit } => Op::ArticleBody {
            site: site % sites,
            edit,
        },
        other => other,
    }
}
