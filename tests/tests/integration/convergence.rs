//! Convergence: replicas that edit concurrently and exchange changes in any order end up
//! identical, and the merge policies of DESIGN §4 hold on what they end up with.
//!
//! Two tests:
//!
//! - `replicas_converge_whatever_the_edits_and_sync_order` is a proptest (24 cases of 10–40
//!   operations on 3–5 replicas, `pull_from` between random pairs): afterwards every replica has
//!   the same materialized views, heads and conflicts, and a clean integrity check. It shrinks a
//!   failure to a short list of operations.
//! - `partitioned_replicas_heal_to_one_state_with_every_merge_policy_intact` is the same property
//!   at scale, deterministic from a seed: five replicas, thousands of cases. In each round the
//!   replicas are split into random groups (say {A,B} {C,D,E}, drawn again every round) that sync
//!   only within their group — by `pull_from` or by a real sync session run in memory
//!   (`sync_pair`) — while every replica creates cases (in batches), changes status (racing on a
//!   few hot cases), priority, tags and assignee, adds notes and escalations, edits SOP node text
//!   and rules, adds and removes an SOP node, and edits an article. Then everyone syncs with
//!   everyone in random order until a whole pass moves nothing. Every replica must then agree on
//!   views, heads, conflicts, SOP violations (draft view, `validate_sop` and the SOP list), and
//!   pass `check_integrity`. Syncs between disjoint pairs of replicas run on two threads (the
//!   result does not depend on the timing, since no store is in two of them), as do the final
//!   read-backs; it prints one summary line (cases, operations, syncs, documents delivered,
//!   races the policies decided, time).
//!
//! The scale test also checks the result against a causal model kept while generating the
//! operations. Each replica's knowledge is a version vector (syncs are whole-store, so a replica
//! that has a write has every earlier write of its author); each register write records the
//! writes it overwrote, exactly as Automerge does (the ones the writer could see). The generator
//! never re-puts a value that is one of several concurrent values — the one write whose effect
//! depends on Automerge's actor order — so the model is exact, and it asserts:
//! - `status`: the highest-ranked of the concurrent values (the rank policy);
//! - `priority`: the maximum of the concurrent values (not of every value ever set: a later,
//!   lower priority replaces an earlier one);
//! - tags: present exactly when some add is not overwritten — an add concurrent with a remove
//!   survives (add-wins), a remove that saw every add takes the tag away;
//! - `assignee`: one of the concurrent values, and `Store::conflicts` lists exactly those values
//!   when they differ (and never lists `status` or `priority`, which policies resolve);
//! - the timeline and escalations: exactly the acknowledged entries, each once;
//! - SOP node text and article body (insertions only): every inserted character, once.
//!
//! Each operation's result is also checked against the model on the replica that made it, so a
//! divergence is reported at the operation that shows it.
//!
//! Environment knobs of the scale test:
//! - `DOSSIER_CONVERGENCE_SEED` (default `0xD0551E2026110209`, decimal or `0x` hex): the seed; a
//!   failure names it, and `DOSSIER_CONVERGENCE_SEED=<seed> cargo test -p dossier-tests --test
//!   integration partitioned` replays it.
//! - `DOSSIER_CONVERGENCE_CASES` (default 2000, at least 420): cases created across the
//!   replicas, 400 per round; rounds and operations grow with it, for a soak run.
//!
//! The operations are a function of the seed. Automerge actor ids are random per store handle,
//! so which of two concurrent assignees is shown, or how concurrent insertions interleave, can
//! differ between runs; nothing asserted depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use dossier::sync::{Scope, SessionConfig, sync_pair};
use dossier::{
    CaseUpdate, Category, DocId, DocKind, Error, NewArticle, NewCase, Priority, Status, Store,
};
use dossier_tests::{TestClock, UPI_SOP, open_site};
use proptest::prelude::*;

/// Site ids of the replicas, in replica order.
const SITES: [&str; 5] = ["MXA", "BLRB", "SAOC", "MADD", "HUBE"];

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
const NODES: [&str; 4] = ["start", "collect_rrn", "raise_psp", "end_escalated"];

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
        sites in 3usize..=5,
        ops in proptest::collection::vec(op(5), 10..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let names = SITES;
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

// ---------------------------------------------------------------------------------------------
// At scale: partitions, heal, and the merge policies checked against a causal model.

const REPLICAS: usize = SITES.len();
const DEFAULT_SEED: u64 = 0xD055_1E20_2611_0209;
const DEFAULT_CASES: u64 = 2_000;
/// Cases created per partitioned round; the number of rounds follows from the case count.
const CASES_PER_ROUND: usize = 400;
/// Other operations per round, across all replicas.
const OPS_PER_ROUND: usize = 300;
/// Cases of a round that get a large share of its edits, so that replicas race on them.
const HOT_CASES: usize = 6;
/// Cases replica 0 opens before the first round (they count towards the total).
const SEED_CASES: usize = 20;
const TEAMS: &[&str] = &["risk", "psp_bank", "engineering"];
const CATEGORIES: &[Category] = &[
    Category::Refund,
    Category::FailedPayment,
    Category::ChargebackDispute,
    Category::Other,
];

/// SplitMix64: a few lines of deterministic randomness, so that a seed means the same operations
/// on every machine and with every version of the dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn knob(name: &str, default: u64) -> u64 {
    let Ok(v) = std::env::var(name) else {
        return default;
    };
    let v = v.trim().replace('_', "");
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{name}={v}: expected a number (decimal or 0x hex)"))
}

/// How many writes of each replica a replica holds (a version vector). Syncs move whole stores,
/// so holding a replica's n-th write means holding all its earlier ones.
type Seen = [u64; REPLICAS];

/// The `seq`-th operation of replica `site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    site: usize,
    seq: u64,
}

impl Stamp {
    fn seen_in(self, seen: &Seen) -> bool {
        seen[self.site] >= self.seq
    }
}

/// One write to a register: a value (`None` deletes) and the writes it overwrote.
#[derive(Debug)]
struct Put<V> {
    at: Stamp,
    /// What the writer held when it wrote.
    ctx: Seen,
    value: Option<V>,
    pred: Vec<usize>,
}

/// A map key as Automerge keeps it: a write overwrites the writes its author could see, and the
/// values shown are the writes nobody known has overwritten.
#[derive(Debug)]
struct Register<V>(Vec<Put<V>>);

impl<V: Copy + PartialEq> Register<V> {
    fn new() -> Self {
        Register(Vec::new())
    }

    fn live(&self, seen: &Seen) -> Vec<usize> {
        (0..self.0.len())
            .filter(|&i| {
                let p = &self.0[i];
                p.at.seen_in(seen)
                    && p.value.is_some()
                    && !self
                        .0
                        .iter()
                        .any(|o| o.at.seen_in(seen) && o.pred.contains(&i))
            })
            .collect()
    }

    fn values(&self, seen: &Seen) -> Vec<V> {
        self.live(seen)
            .into_iter()
            .filter_map(|i| self.0[i].value)
            .collect()
    }

    fn put(&mut self, at: Stamp, ctx: &Seen, value: Option<V>) {
        let pred = self.live(ctx);
        self.0.push(Put {
            at,
            ctx: *ctx,
            value,
            pred,
        });
    }

    /// Whether a surviving write is concurrent with a deletion: the case add-wins decides.
    fn add_beat_a_remove(&self, seen: &Seen) -> bool {
        self.live(seen).into_iter().any(|i| {
            let add = &self.0[i];
            self.0
                .iter()
                .any(|d| d.value.is_none() && !d.at.seen_in(&add.ctx) && !add.at.seen_in(&d.ctx))
        })
    }
}

/// A timeline entry: at, kind, body, visibility, by.
type EventRow = (i64, String, String, String, String);
/// An escalation: at, to, reason, by.
type EscalationRow = (i64, String, String, String);

/// What the model knows of one case.
struct CaseModel {
    id: DocId,
    created: Stamp,
    status: Register<Status>,
    priority: Register<Priority>,
    assignee: Register<&'static str>,
    tags: Vec<Register<()>>,
    events: Vec<(Stamp, EventRow)>,
    escalations: Vec<(Stamp, EscalationRow)>,
}

impl CaseModel {
    fn status(&self, seen: &Seen) -> Status {
        self.status
            .values(seen)
            .into_iter()
            .max()
            .unwrap_or(Status::New)
    }

    fn priority(&self, seen: &Seen) -> Priority {
        self.priority
            .values(seen)
            .into_iter()
            .max()
            .unwrap_or(Priority::Normal)
    }

    fn tags(&self, seen: &Seen) -> Vec<String> {
        let mut t: Vec<String> = (0..TAGS.len())
            .filter(|&i| !self.tags[i].live(seen).is_empty())
            .map(|i| TAGS[i].to_string())
            .collect();
        t.sort();
        t
    }

    fn events(&self, seen: &Seen) -> Vec<EventRow> {
        let mut e: Vec<EventRow> = self
            .events
            .iter()
            .filter(|(at, _)| at.seen_in(seen))
            .map(|(_, e)| e.clone())
            .collect();
        e.sort();
        e
    }

    fn escalations(&self, seen: &Seen) -> Vec<EscalationRow> {
        let mut e: Vec<EscalationRow> = self
            .escalations
            .iter()
            .filter(|(at, _)| at.seen_in(seen))
            .map(|(_, e)| e.clone())
            .collect();
        e.sort();
        e
    }
}

fn event_rows(c: &dossier::Case) -> Vec<EventRow> {
    let mut e: Vec<EventRow> = c
        .events
        .iter()
        .map(|e| {
            (
                e.at,
                e.kind.clone(),
                e.body.clone(),
                e.visibility.clone(),
                e.by.clone(),
            )
        })
        .collect();
    e.sort();
    e
}

fn escalation_rows(c: &dossier::Case) -> Vec<EscalationRow> {
    let mut e: Vec<EscalationRow> = c
        .escalations
        .iter()
        .map(|e| (e.at, e.to.clone(), e.reason.clone(), e.by.clone()))
        .collect();
    e.sort();
    e
}

/// Counters for the summary line.
#[derive(Default)]
struct Stats {
    cases: usize,
    ops: usize,
    refused_closed: usize,
    pulls: usize,
    sessions: usize,
    rounds: usize,
    heal_passes: usize,
    /// Documents that received changes in a sync.
    delivered: usize,
    sop_edits_with_violations: usize,
}

/// Five replicas, the model of what they hold, and the generator.
struct World {
    seed: u64,
    clock: TestClock,
    stores: Vec<Store>,
    seen: [Seen; REPLICAS],
    cases: Vec<CaseModel>,
    hot: Vec<usize>,
    sop: DocId,
    article: DocId,
    /// Characters of each SOP text node (NODES) and of the article body before any edit, and
    /// characters inserted since.
    sop_chars: [usize; 4],
    sop_inserted: [usize; 4],
    article_chars: usize,
    article_inserted: usize,
    rng: Rng,
    n: usize,
    stats: Stats,
}

impl World {
    fn new(dir: &std::path::Path, seed: u64) -> World {
        let clock = TestClock::new();
        let stores: Vec<Store> = (0..REPLICAS)
            .map(|i| open_site(dir, SITES[i], PEOPLE[i % PEOPLE.len()], &clock))
            .collect();
        for (i, a) in stores.iter().enumerate() {
            for (j, b) in stores.iter().enumerate() {
                if i != j {
                    a.add_peer(SITES[j], b.public_key().unwrap(), vec![Scope::everything()])
                        .unwrap();
                }
            }
        }
        let sop = stores[0].import_sop_json(UPI_SOP, "upi.json").unwrap();
        let article = stores[0]
            .create_article(NewArticle {
                title: [("es".to_string(), "Reembolsos".to_string())].into(),
                body: [("es".to_string(), "Texto base.".to_string())].into(),
                ..Default::default()
            })
            .unwrap();
        let sop_chars = NODES.map(|n| sop.definition.nodes[n].text["en"].chars().count());
        let mut w = World {
            seed,
            clock,
            stores,
            seen: [[0; REPLICAS]; REPLICAS],
            cases: Vec::new(),
            hot: Vec::new(),
            sop: sop.id,
            article: article.id,
            sop_chars,
            sop_inserted: [0; 4],
            article_chars: article.body["es"].chars().count(),
            article_inserted: 0,
            rng: Rng(seed),
            n: 0,
            stats: Stats::default(),
        };
        w.create_cases(0, SEED_CASES);
        let seeding = (1..REPLICAS)
            .map(|a| Sync {
                a,
                b: 0,
                session: false,
            })
            .collect();
        w.run(vec![seeding]);
        w
    }

    /// Starts an operation of replica `r`: its stamp and what `r` holds before it.
    fn begin(&mut self, r: usize) -> (Stamp, Seen) {
        self.clock.advance(1_000);
        self.n += 1;
        self.stats.ops += 1;
        let ctx = self.seen[r];
        self.seen[r][r] += 1;
        (
            Stamp {
                site: r,
                seq: ctx[r] + 1,
            },
            ctx,
        )
    }

    fn context(&self, r: usize, k: usize, what: &str) -> String {
        format!(
            "seed {:#x}, operation {}: {what} on case {} at replica {}",
            self.seed, self.n, self.cases[k].id, SITES[r]
        )
    }

    fn create_cases(&mut self, r: usize, count: usize) {
        let (at, ctx) = self.begin(r);
        let now = self.clock.now();
        let mut batch = Vec::new();
        let mut initial = Vec::new();
        for i in 0..count {
            let mut c = NewCase::new(
                self.rng.pick(MARKETS),
                self.rng.pick(CATEGORIES),
                &format!("case {}.{i}", self.n),
            );
            let priority = self
                .rng
                .percent(30)
                .then(|| Priority::ALL[self.rng.below(Priority::ALL.len())]);
            let assignee = self.rng.percent(50).then(|| self.rng.pick(PEOPLE));
            let tags: Vec<usize> = (0..TAGS.len()).filter(|_| self.rng.percent(15)).collect();
            c.priority = priority;
            c.assignee = assignee.map(str::to_string);
            c.tags = tags.iter().map(|&t| TAGS[t].to_string()).collect();
            batch.push(c);
            initial.push((priority, assignee, tags));
        }
        let ids = self.stores[r].create_cases(&batch).unwrap();
        let store = &self.stores[r];
        for (id, (priority, assignee, tags)) in ids.into_iter().zip(initial) {
            let mut m = CaseModel {
                id,
                created: at,
                status: Register::new(),
                priority: Register::new(),
                assignee: Register::new(),
                tags: (0..TAGS.len()).map(|_| Register::new()).collect(),
                events: vec![(
                    at,
                    (
                        now,
                        "created".into(),
                        format!("opened at site {}", SITES[r]),
                        "internal".into(),
                        store.author().into(),
                    ),
                )],
                escalations: Vec::new(),
            };
            m.status.put(at, &ctx, Some(Status::New));
            m.priority
                .put(at, &ctx, Some(priority.unwrap_or(Priority::Normal)));
            if let Some(a) = assignee {
                m.assignee.put(at, &ctx, Some(a));
            }
            for t in tags {
                m.tags[t].put(at, &ctx, Some(()));
            }
            self.cases.push(m);
        }
        self.stats.cases += count;
    }

    /// A case replica `r` holds: often a hot one, so that replicas race.
    fn pick_case(&mut self, r: usize) -> usize {
        let seen = self.seen[r];
        if self.rng.percent(50) {
            let hot: Vec<usize> = self
                .hot
                .iter()
                .copied()
                .filter(|&k| self.cases[k].created.seen_in(&seen))
                .collect();
            if !hot.is_empty() {
                return self.rng.pick(&hot);
            }
        }
        loop {
            let k = self.rng.below(self.cases.len());
            if self.cases[k].created.seen_in(&seen) {
                return k;
            }
        }
    }

    /// One random edit of a case by replica `r`, checked against the model on `r`.
    fn edit_case(&mut self, r: usize) {
        let k = self.pick_case(r);
        let hot = self.hot.contains(&k);
        let seen = self.seen[r];
        let by = self.stores[r].author().to_string();
        let m = &self.cases[k];
        let closed = m.status(&seen) == Status::Closed;
        let id = m.id.to_string();
        let roll = self.rng.below(100);
        let (at, ctx) = self.begin(r);
        let now = self.clock.now();
        let store = &self.stores[r];
        let m = &mut self.cases[k];
        let event = |m: &mut CaseModel, kind: &str, body: String, vis: &str| {
            m.events
                .push((at, (now, kind.into(), body, vis.into(), by.clone())));
        };
        let (what, result) = if roll < 22 {
            // Status, including Closed now and then; never re-putting one of several concurrent
            // values (see the module docs).
            let live = m.status.values(&ctx);
            let cur = m.status(&ctx);
            let mut to = if self.rng.percent(4) {
                Status::Closed
            } else {
                Status::ALL[self.rng.below(Status::ALL.len() - 1)]
            };
            if to != cur && live.contains(&to) {
                to = cur;
            }
            let res = store.update_case(
                &id,
                CaseUpdate {
                    status: Some(to),
                    ..Default::default()
                },
            );
            if res.is_ok() && to != cur {
                m.status.put(at, &ctx, Some(to));
                event(m, "status_changed", format!("{cur} -> {to}"), "internal");
            }
            ("status", res)
        } else if roll < 32 {
            let live = m.priority.values(&ctx);
            let cur = m.priority(&ctx);
            let mut p = Priority::ALL[self.rng.below(Priority::ALL.len())];
            if p != cur && live.contains(&p) {
                p = cur;
            }
            let res = store.update_case(
                &id,
                CaseUpdate {
                    priority: Some(p),
                    ..Default::default()
                },
            );
            if res.is_ok() && p != cur {
                m.priority.put(at, &ctx, Some(p));
                event(m, "priority_changed", format!("{cur} -> {p}"), "internal");
            }
            ("priority", res)
        } else if roll < 56 {
            // Hot cases race on two tags, so that adds and removes meet.
            let t = self.rng.below(if hot { 2 } else { TAGS.len() });
            let add = self.rng.percent(55);
            let tag = vec![TAGS[t].to_string()];
            let update = if add {
                CaseUpdate {
                    add_tags: tag,
                    ..Default::default()
                }
            } else {
                CaseUpdate {
                    remove_tags: tag,
                    ..Default::default()
                }
            };
            let res = store.update_case(&id, update);
            // Adding rewrites the tag even when present (a fresh write, so that it wins over a
            // concurrent remove); removing writes only when the tag is there.
            if res.is_ok() && (add || !m.tags[t].live(&ctx).is_empty()) {
                m.tags[t].put(at, &ctx, add.then_some(()));
            }
            (if add { "tag add" } else { "tag remove" }, res)
        } else if roll < 68 {
            let live = m.assignee.values(&ctx);
            let mut who = self.rng.pick(PEOPLE);
            if live.len() > 1 && live.contains(&who) {
                who = PEOPLE
                    .iter()
                    .copied()
                    .find(|p| !live.contains(p))
                    .unwrap_or("nadia");
            }
            let res = store.update_case(
                &id,
                CaseUpdate {
                    assignee: Some(Some(who.into())),
                    ..Default::default()
                },
            );
            if res.is_ok() {
                // Automerge skips a put of the value already there (and alone).
                if live != [who] {
                    m.assignee.put(at, &ctx, Some(who));
                }
                event(m, "assigned", who.into(), "internal");
            }
            ("assign", res)
        } else if roll < 86 {
            let body = format!("note {} from {}", self.n, SITES[r]);
            let public = self.rng.percent(30);
            let res = store.add_note(&id, &body, public);
            if res.is_ok() {
                event(m, "note", body, if public { "public" } else { "internal" });
            }
            ("note", res)
        } else {
            let to = self.rng.pick(TEAMS);
            let reason = format!("reason {} from {}", self.n, SITES[r]);
            let res = store.escalate(&id, to, &reason);
            if res.is_ok() {
                m.escalations
                    .push((at, (now, to.into(), reason.clone(), by.clone())));
                event(m, "escalated", format!("to {to}: {reason}"), "internal");
            }
            ("escalate", res)
        };
        let seen = self.seen[r];
        let m = &self.cases[k];
        match result {
            Err(Error::CaseClosed { .. }) if closed => self.stats.refused_closed += 1,
            Ok(c) if !closed => {
                let cx = || self.context(r, k, what);
                assert_eq!(c.status, m.status(&seen), "status: {}", cx());
                assert_eq!(c.priority, m.priority(&seen), "priority: {}", cx());
                assert_eq!(c.tags, m.tags(&seen), "tags: {}", cx());
                let assignees = m.assignee.values(&seen);
                assert!(
                    match &c.assignee {
                        Some(a) => assignees.contains(&a.as_str()),
                        None => assignees.is_empty(),
                    },
                    "assignee {:?} not among {assignees:?}: {}",
                    c.assignee,
                    cx()
                );
                assert_eq!(event_rows(&c), m.events(&seen), "timeline: {}", cx());
                assert_eq!(
                    escalation_rows(&c),
                    m.escalations(&seen),
                    "escalations: {}",
                    cx()
                );
            }
            other => panic!(
                "{}: expected {}, got {other:?}",
                self.context(r, k, what),
                if closed { "CaseClosed" } else { "success" }
            ),
        }
    }

    fn edit_sop_text(&mut self, r: usize) {
        self.begin(r);
        let s = &self.stores[r];
        let node = self.rng.below(NODES.len());
        let cur = s.sop(&self.sop).unwrap().definition.nodes[NODES[node]].text["en"].clone();
        let chars: Vec<char> = cur.chars().collect();
        let at = self.rng.below(chars.len() + 1);
        let token = format!(" e{}", self.n);
        let mut next: String = chars[..at].iter().collect();
        next.push_str(&token);
        next.extend(&chars[at..]);
        let sop = s.set_sop_text(&self.sop, NODES[node], "en", &next).unwrap();
        self.sop_inserted[node] += token.chars().count();
        self.note_violations(&sop);
    }

    /// Rewrites the p2m_age rule: another threshold, sometimes one that breaks a fixture, a
    /// condition that does not parse, or a jump to the node that comes and goes.
    fn edit_sop_rule(&mut self, r: usize) {
        self.begin(r);
        let s = &self.stores[r];
        let mut node = s.sop(&self.sop).unwrap().definition.nodes["p2m_age"].clone();
        let when = if self.rng.percent(10) {
            "days_since_txn <=".to_string()
        } else {
            format!("days_since_txn <= {}", self.rng.below(10))
        };
        let next = if self.rng.percent(15) {
            "ghost"
        } else {
            "end_wait_p2m"
        };
        match node.rules.first_mut() {
            Some(rule) => {
                rule.when = when;
                rule.next = next.into();
            }
            None => node.rules.push(dossier::sop::definition::Rule {
                when,
                next: next.into(),
            }),
        }
        let sop = s.upsert_sop_node(&self.sop, "p2m_age", &node).unwrap();
        self.note_violations(&sop);
    }

    /// Adds the `ghost` end node, or removes it when present.
    fn toggle_sop_node(&mut self, r: usize) {
        self.begin(r);
        let s = &self.stores[r];
        let def = s.sop(&self.sop).unwrap().definition;
        let sop = if def.nodes.contains_key("ghost") {
            s.remove_sop_node(&self.sop, "ghost").unwrap()
        } else {
            let mut ghost = def.nodes["end_wait_p2m"].clone();
            ghost.text = [("en".to_string(), format!("Ghost ending {}", self.n))].into();
            s.upsert_sop_node(&self.sop, "ghost", &ghost).unwrap()
        };
        self.note_violations(&sop);
    }

    fn note_violations(&mut self, sop: &dossier::Sop) {
        if !sop.violations.is_empty() {
            self.stats.sop_edits_with_violations += 1;
        }
    }

    fn edit_article(&mut self, r: usize) {
        self.begin(r);
        let s = &self.stores[r];
        let cur = s.article(&self.article).unwrap().body["es"].clone();
        let chars: Vec<char> = cur.chars().collect();
        let at = self.rng.below(chars.len() + 1);
        let token = format!(" ñ{}", self.n);
        let mut next: String = chars[..at].iter().collect();
        next.push_str(&token);
        next.extend(&chars[at..]);
        s.edit_article(&self.article, "es", None, Some(&next))
            .unwrap();
        self.article_inserted += token.chars().count();
    }

    /// Runs syncs: each job in order, the jobs at the same time (they touch disjoint replicas,
    /// so the result does not depend on the timing). Returns whether anything moved.
    fn run(&mut self, jobs: Vec<Vec<Sync>>) -> bool {
        let stores = &self.stores;
        let received: Vec<Vec<usize>> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|job| scope.spawn(move || job.iter().map(|s| s.run(stores)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for s in jobs.iter().flatten() {
            let (a, b) = (s.a, s.b);
            for i in 0..REPLICAS {
                let m = self.seen[a][i].max(self.seen[b][i]);
                self.seen[a][i] = m;
                if s.session {
                    self.seen[b][i] = m;
                }
            }
            if s.session {
                self.stats.sessions += 1;
            } else {
                self.stats.pulls += 1;
            }
        }
        let n: usize = received.iter().flatten().sum();
        self.stats.delivered += n;
        n > 0
    }

    /// A sync between `a` and `b`, by a session (20%) or by `a` pulling from `b`.
    fn link(&mut self, a: usize, b: usize) -> Sync {
        Sync {
            a,
            b,
            session: self.rng.percent(20),
        }
    }

    /// Every replica of each group syncs with a random mate, in a random order; the groups at
    /// the same time.
    fn catch_up(&mut self, group: &[usize; REPLICAS]) {
        let mut order: Vec<usize> = (0..REPLICAS).collect();
        self.rng.shuffle(&mut order);
        let mut jobs: BTreeMap<usize, Vec<Sync>> = BTreeMap::new();
        for r in order {
            let mates: Vec<usize> = (0..REPLICAS)
                .filter(|&o| o != r && group[o] == group[r])
                .collect();
            if !mates.is_empty() {
                let o = self.rng.pick(&mates);
                let s = self.link(r, o);
                jobs.entry(group[r]).or_default().push(s);
            }
        }
        self.run(jobs.into_values().collect());
    }

    /// One partitioned round: random groups that only sync among themselves.
    fn round(&mut self, cases: usize) {
        self.stats.rounds += 1;
        let mut group = [0usize; REPLICAS];
        let groups = 2 + self.rng.below(2);
        for g in &mut group {
            *g = self.rng.below(groups);
        }
        if group.iter().all(|&g| g == group[0]) {
            let i = self.rng.below(REPLICAS);
            group[i] = (group[i] + 1) % groups;
        }
        self.hot = (0..HOT_CASES)
            .map(|_| self.rng.below(self.cases.len()))
            .collect();
        let mut to_create = cases;
        let steps = OPS_PER_ROUND + cases / 4;
        let mid_round_sync = self.rng.percent(35);
        for step in 0..steps {
            let r = self.rng.below(REPLICAS);
            let left = steps - step;
            let create = to_create > 0 && (self.rng.percent(25) || to_create >= left * 8);
            let roll = self.rng.below(100);
            if create {
                let n = (1 + self.rng.below(8)).min(to_create);
                to_create -= n;
                self.create_cases(r, n);
            } else if roll < 5 {
                self.edit_sop_text(r);
            } else if roll < 7 {
                self.edit_sop_rule(r);
            } else if roll < 8 {
                self.toggle_sop_node(r);
            } else if roll < 11 {
                self.edit_article(r);
            } else {
                self.edit_case(r);
            }
            if step == steps / 2 && mid_round_sync {
                self.catch_up(&group);
            }
        }
        if to_create > 0 {
            let r = self.rng.below(REPLICAS);
            self.create_cases(r, to_create);
        }
        self.catch_up(&group);
    }

    /// Everyone syncs with everyone, in a random order, until a whole pass moves nothing. Two
    /// disjoint pairs at a time.
    fn heal(&mut self) {
        let mut pairs: Vec<(usize, usize)> = (0..REPLICAS)
            .flat_map(|a| (0..REPLICAS).map(move |b| (a, b)))
            .filter(|(a, b)| a != b)
            .collect();
        loop {
            self.stats.heal_passes += 1;
            assert!(
                self.stats.heal_passes <= 6,
                "seed {:#x}: still not quiet after 5 passes of everyone syncing with everyone",
                self.seed
            );
            self.rng.shuffle(&mut pairs);
            let mut left = pairs.clone();
            let mut moved = false;
            while !left.is_empty() {
                let mut busy = [false; REPLICAS];
                let mut jobs = Vec::new();
                left.retain(|&(a, b)| {
                    if busy[a] || busy[b] {
                        return true;
                    }
                    busy[a] = true;
                    busy[b] = true;
                    jobs.push((a, b));
                    false
                });
                let jobs = jobs
                    .into_iter()
                    .map(|(a, b)| vec![self.link(a, b)])
                    .collect();
                moved |= self.run(jobs);
            }
            if !moved {
                break;
            }
        }
        let all = self.seen[0];
        assert!(
            self.seen.iter().all(|s| *s == all),
            "the model did not heal"
        );
    }
}

/// One sync between two replicas: a session `a` opens to `b`, or `a` pulling from `b`.
#[derive(Debug, Clone, Copy)]
struct Sync {
    a: usize,
    b: usize,
    session: bool,
}

impl Sync {
    /// Runs it; returns how many documents received changes.
    fn run(&self, stores: &[Store]) -> usize {
        let (a, b) = (&stores[self.a], &stores[self.b]);
        if !self.session {
            return a.pull_from(b).unwrap();
        }
        let (ra, rb) = sync_pair(a, b, &SessionConfig::default())
            .unwrap_or_else(|e| panic!("session {} -> {}: {e}", a.site(), b.site()));
        assert!(ra.completed && rb.completed, "{ra:?} {rb:?}");
        assert!(
            ra.rejected.is_empty() && rb.rejected.is_empty(),
            "{ra:?} {rb:?}"
        );
        ra.docs_received + rb.docs_received
    }
}

/// Compares every replica's snapshot with replica 0's; on a difference, names the documents and
/// shows both sides.
fn assert_same_snapshots(w: &World, snapshots: &[BTreeMap<String, String>]) {
    let first = &snapshots[0];
    for (i, other) in snapshots.iter().enumerate().skip(1) {
        let ids: BTreeSet<&String> = first.keys().chain(other.keys()).collect();
        let differing: Vec<String> = ids
            .into_iter()
            .filter(|id| first.get(*id) != other.get(*id))
            .take(3)
            .map(|id| {
                format!(
                    "document {id}\n  {}: {:?}\n  {}: {:?}",
                    SITES[0],
                    first.get(id),
                    SITES[i],
                    other.get(id)
                )
            })
            .collect();
        assert!(
            differing.is_empty(),
            "seed {:#x}: {} and {} differ after healing:\n{}",
            w.seed,
            SITES[0],
            SITES[i],
            differing.join("\n")
        );
    }
}

/// Counts of the policy decisions the model saw, for the summary line.
#[derive(Default)]
struct Decided {
    status_races: usize,
    priority_races: usize,
    add_wins: usize,
    assignee_conflicts: usize,
}

/// Checks every case on replica 0 (the others are identical by then) against the model.
fn assert_merge_policies(w: &World) -> Decided {
    let seen = w.seen[0];
    let s = &w.stores[0];
    let mut d = Decided::default();
    for m in &w.cases {
        let c = s.case_by_id(&m.id).unwrap();
        let cx = format!("seed {:#x}, case {} ({})", w.seed, m.id, c.number);
        let statuses: BTreeSet<Status> = m.status.values(&seen).into_iter().collect();
        assert_eq!(
            Some(&c.status),
            statuses.last(),
            "status is the highest-ranked of the concurrent values {statuses:?}: {cx}"
        );
        d.status_races += usize::from(statuses.len() > 1);
        let priorities: BTreeSet<Priority> = m.priority.values(&seen).into_iter().collect();
        assert_eq!(
            Some(&c.priority),
            priorities.last(),
            "priority is the maximum of the concurrent values {priorities:?}: {cx}"
        );
        d.priority_races += usize::from(priorities.len() > 1);
        assert_eq!(c.tags, m.tags(&seen), "tags (add-wins): {cx}");
        d.add_wins += m.tags.iter().filter(|t| t.add_beat_a_remove(&seen)).count();
        let assignees: BTreeSet<&str> = m.assignee.values(&seen).into_iter().collect();
        assert!(
            match &c.assignee {
                Some(a) => assignees.contains(a.as_str()),
                None => assignees.is_empty(),
            },
            "assignee {:?} is one of the concurrent values {assignees:?}: {cx}",
            c.assignee
        );
        let conflicts = s.conflicts(&m.id).unwrap();
        assert!(
            !conflicts
                .iter()
                .any(|c| c.field == "status" || c.field == "priority"),
            "status and priority are resolved by policy, not listed as conflicts: {cx}"
        );
        let listed = conflicts.iter().find(|c| c.field == "assignee");
        if assignees.len() > 1 {
            let listed = listed.unwrap_or_else(|| panic!("assignee conflict not listed: {cx}"));
            let values: BTreeSet<&str> = listed.values.iter().map(String::as_str).collect();
            assert_eq!(values, assignees, "listed assignee conflict: {cx}");
            assert_eq!(Some(&listed.winner), c.assignee.as_ref(), "{cx}");
            d.assignee_conflicts += 1;
        } else {
            assert!(listed.is_none(), "no assignee conflict to list: {cx}");
        }
        assert_eq!(
            event_rows(&c),
            m.events(&seen),
            "timeline: every acknowledged entry, once: {cx}"
        );
        assert_eq!(
            escalation_rows(&c),
            m.escalations(&seen),
            "escalations: every acknowledged one, once: {cx}"
        );
    }
    d
}

/// Every replica reports the same SOP invariant violations, the same way in every place.
fn assert_sop_reported_alike(w: &World) {
    let first = w.stores[0].validate_sop(&w.sop).unwrap();
    let list = w.stores[0].list_sops().unwrap();
    for s in &w.stores {
        let v = s.validate_sop(&w.sop).unwrap();
        assert_eq!(v, first, "seed {:#x}: validate_sop differs", w.seed);
        let sop = s.sop(&w.sop).unwrap();
        let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(sop.violations, lines, "seed {:#x}", w.seed);
        let summaries = s.list_sops().unwrap();
        assert_eq!(summaries, list, "seed {:#x}: list_sops differs", w.seed);
        assert_eq!(summaries[0].violations, lines.len() as i64);
        for (i, node) in NODES.iter().enumerate() {
            assert_eq!(
                sop.definition.nodes[*node].text["en"].chars().count(),
                w.sop_chars[i] + w.sop_inserted[i],
                "seed {:#x}: node {node}: every inserted character, once",
                w.seed
            );
        }
        assert_eq!(
            s.article(&w.article).unwrap().body["es"].chars().count(),
            w.article_chars + w.article_inserted,
            "seed {:#x}: article body: every inserted character, once",
            w.seed
        );
    }
}

#[test]
fn partitioned_replicas_heal_to_one_state_with_every_merge_policy_intact() {
    let started = Instant::now();
    let seed = knob("DOSSIER_CONVERGENCE_SEED", DEFAULT_SEED);
    let total = usize::try_from(knob("DOSSIER_CONVERGENCE_CASES", DEFAULT_CASES))
        .unwrap()
        .max(SEED_CASES + CASES_PER_ROUND);
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path(), seed);
    let rounds = (total - SEED_CASES).div_ceil(CASES_PER_ROUND);
    for i in 0..rounds {
        let left = total - w.stats.cases;
        w.round(left / (rounds - i));
    }
    w.heal();
    assert_eq!(w.stats.cases, total);
    // Reading back every document of every replica is most of the checking time: one thread
    // per replica.
    let (snapshots, problems): (Vec<_>, Vec<_>) = std::thread::scope(|scope| {
        let handles: Vec<_> = w
            .stores
            .iter()
            .map(|s| scope.spawn(move || (snapshot(s), s.check_integrity().unwrap())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    assert_same_snapshots(&w, &snapshots);
    for (s, problems) in w.stores.iter().zip(&problems) {
        assert!(
            problems.is_empty(),
            "seed {seed:#x}: integrity of {}: {problems:?}",
            s.site()
        );
    }
    assert_sop_reported_alike(&w);
    let d = assert_merge_policies(&w);
    let st = &w.stats;
    eprintln!(
        "convergence: seed {seed:#x}, {REPLICAS} replicas, {} cases, {} operations ({} refused \
         on closed cases), {} partitioned rounds, {} syncs ({} sessions, {} pulls) delivering \
         {} documents, healed in {} passes; decided by policy: {} status races, {} priority \
         races, {} adds over concurrent removes, {} assignee conflicts listed; {} SOP edits \
         left violations; {:.1?}",
        st.cases,
        st.ops,
        st.refused_closed,
        st.rounds,
        st.sessions + st.pulls,
        st.sessions,
        st.pulls,
        st.delivered,
        st.heal_passes,
        d.status_races,
        d.priority_races,
        d.add_wins,
        d.assignee_conflicts,
        st.sop_edits_with_violations,
        started.elapsed()
    );
}
