//! Convergence over real WebSocket sessions: three sites and a hub on loopback, random edits
//! while sites are disconnected, syncs in random orders; at the end every replica is identical
//! (materialized views and Automerge heads).

use std::collections::BTreeMap;

use dossier::{CaseUpdate, Category, DocId, DocKind, NewCase, Status, Store};
use dossier_net::{HubConfig, NetConfig, sync_with_hub};
use proptest::prelude::*;

use crate::support::*;

const UPI_SOP: &str = include_str!("../../../core/src/sop/testdata/upi_debited_not_credited.json");
const MARKETS: &[&str] = &["IN-UPI", "BR-PIX", "ES"];
const TAGS: &[&str] = &["vip", "npci", "pix-med"];
const NODES: &[&str] = &["start", "collect_rrn", "raise_psp"];

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
    Tag {
        site: usize,
        case: usize,
        tag: usize,
    },
    Note {
        site: usize,
        case: usize,
    },
    SopText {
        site: usize,
        node: usize,
        at: usize,
    },
    Sync {
        site: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..3usize;
    prop_oneof![
        2 => (s.clone(), 0..MARKETS.len()).prop_map(|(site, market)| Op::NewCase { site, market }),
        2 => (s.clone(), 0..8usize, 0..Status::ALL.len() - 1)
            .prop_map(|(site, case, status)| Op::Status { site, case, status }),
        1 => (s.clone(), 0..8usize, 0..TAGS.len()).prop_map(|(site, case, tag)| Op::Tag { site, case, tag }),
        2 => (s.clone(), 0..8usize).prop_map(|(site, case)| Op::Note { site, case }),
        2 => (s.clone(), 0..NODES.len(), 0..500usize).prop_map(|(site, node, at)| Op::SopText { site, node, at }),
        3 => s.prop_map(|site| Op::Sync { site }),
    ]
}

fn pick(s: &Store, case: usize) -> Option<String> {
    let cases: Vec<DocId> = s
        .documents()
        .unwrap()
        .into_iter()
        .filter(|(_, k)| *k == DocKind::Case)
        .map(|(id, _)| id)
        .collect();
    (!cases.is_empty()).then(|| cases[case % cases.len()].to_string())
}

fn edit(s: &Store, sop: &DocId, op: &Op, n: usize) {
    // Edits may legitimately fail (a closed case); what matters is that replicas agree.
    let _ = match op {
        Op::NewCase { market, .. } => s
            .create_case(NewCase::new(
                MARKETS[*market],
                Category::Other,
                &format!("case {n}"),
            ))
            .map(|_| ()),
        Op::Status { case, status, .. } => match pick(s, *case) {
            Some(c) => s
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
        Op::Tag { case, tag, .. } => match pick(s, *case) {
            Some(c) => s
                .update_case(
                    &c,
                    CaseUpdate {
                        add_tags: vec![TAGS[*tag].to_string()],
                        ..Default::default()
                    },
                )
                .map(|_| ()),
            None => Ok(()),
        },
        Op::Note { case, .. } => match pick(s, *case) {
            Some(c) => s.add_note(&c, &format!("note {n}"), false).map(|_| ()),
            None => Ok(()),
        },
        Op::SopText { node, at, .. } => {
            let text = s.sop(sop).unwrap().definition.nodes[NODES[*node]].text["en"].clone();
            let chars: Vec<char> = text.chars().collect();
            let at = at % (chars.len() + 1);
            let mut next: String = chars[..at].iter().collect();
            next.push_str(&format!(" e{n}"));
            next.extend(&chars[at..]);
            s.set_sop_text(sop, NODES[*node], "en", &next).map(|_| ())
        }
        Op::Sync { .. } => Ok(()),
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
                _ => String::new(),
            };
            (
                id.to_string(),
                format!("{view}|{:?}", s.heads(&id).unwrap()),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn three_sites_and_a_hub_converge_whatever_the_edits_and_sync_order(
        ops in proptest::collection::vec(op(), 8..30),
        final_order in Just([0usize, 1, 2]).prop_shuffle(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let hub = open(dir.path(), "HUB");
        let sites: Vec<Store> = ["MXA", "BLRB", "SAOC"]
            .iter()
            .map(|s| open(dir.path(), s))
            .collect();
        for s in &sites {
            provision(&hub, s, &["*"]);
        }
        let sop = hub.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (server, url, _) = start_hub(&hub, HubConfig::default()).await;
            let net = NetConfig::default();
            for s in &sites {
                sync_with_hub(s, &url, &net).await.unwrap();
            }
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Sync { site } => {
                        sync_with_hub(&sites[*site], &url, &net).await.unwrap();
                    }
                    Op::NewCase { site, .. }
                    | Op::Status { site, .. }
                    | Op::Tag { site, .. }
                    | Op::Note { site, .. }
                    | Op::SopText { site, .. } => edit(&sites[*site], &sop, op, n),
                }
            }
            for _ in 0..2 {
                for &i in &final_order {
                    let r = sync_with_hub(&sites[i], &url, &net).await.unwrap();
                    assert!(r.completed && r.rejected.is_empty(), "{r:?}");
                }
            }
            server.shutdown().await;
        });
        let expected = snapshot(&hub);
        for s in &sites {
            prop_assert_eq!(&snapshot(s), &expected);
            prop_assert_eq!(s.check_integrity().unwrap(), Vec::<String>::new());
        }
        prop_assert_eq!(hub.check_integrity().unwrap(), Vec::<String>::new());
    }
}
