//! The invariants of an SOP tree (DESIGN §3), checked after every merge and before publishing.
//!
//! A merge may combine two valid edits into an invalid tree (one author deletes a node the
//! other links to), and nothing is lost by merging, so validity is a report, not a gate on
//! storage: [`validate`] lists every violation, each naming the node and what is wrong, in a
//! deterministic order so the report is stable across sites. Graph checks are iterative (no
//! recursion on the tree's depth) and linear in its size, so 10k-node trees and long chains are
//! fine.
//!
//! Decisions: edges are the ones the walk can take for each node's kind (see
//! `Node::edges`); fields a kind does not use are reported as [`ViolationKind::BadNodeShape`]
//! instead of followed. Reachability is only checked when the entry exists. Fixtures run only
//! when no `MissingEntry`, `DanglingNext`, `Cycle` or `BadRule` violation was found (walking
//! would just repeat those); otherwise one tree-level `FixtureFailed` says they were not run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::definition::{Node, NodeKind, SopDefinition, check_id, fold_text};
use super::rules;
use super::walk::walk;

/// What kind of invariant a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// `entry` is empty or names no node.
    MissingEntry,
    /// An answer, rule or `next` points to a node that does not exist.
    DanglingNext,
    /// A node cannot be reached from the entry.
    Unreachable,
    /// A node can be reached from itself.
    Cycle,
    /// A non-end node has no way out.
    DeadEnd,
    /// A node (or answer) has no text in the master locale.
    MissingText,
    /// A rule's condition does not parse.
    BadRule,
    /// A node has fields its kind does not use, or lacks one it needs, or a bad/duplicate id.
    BadNodeShape,
    /// One of the tree's own fixtures does not pass (or could not be run).
    FixtureFailed,
}

impl ViolationKind {
    /// Snake-case name, for reports and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::MissingEntry => "missing_entry",
            ViolationKind::DanglingNext => "dangling_next",
            ViolationKind::Unreachable => "unreachable",
            ViolationKind::Cycle => "cycle",
            ViolationKind::DeadEnd => "dead_end",
            ViolationKind::MissingText => "missing_text",
            ViolationKind::BadRule => "bad_rule",
            ViolationKind::BadNodeShape => "bad_node_shape",
            ViolationKind::FixtureFailed => "fixture_failed",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Violation {
    /// The node it is about; `None` for the tree as a whole.
    pub node: Option<String>,
    /// Which invariant.
    pub kind: ViolationKind,
    /// What is wrong, without the node id (Display adds it).
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "node {node:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Checks every invariant; an empty list means the tree is valid.
///
/// Sorted by node (tree-level first), then kind, then message; duplicates removed.
pub fn validate(def: &SopDefinition) -> Vec<Violation> {
    let mut out = Report(Vec::new());
    let entry_ok = def.nodes.contains_key(&def.entry);
    if !entry_ok {
        let msg = if def.entry.is_empty() {
            "the tree has no entry node".to_owned()
        } else {
            format!("entry {:?} does not exist", def.entry)
        };
        out.push(None, ViolationKind::MissingEntry, msg);
    }
    for (id, node) in &def.nodes {
        check_node(def, id, node, &mut out);
    }
    let graph = Graph::new(def);
    if entry_ok {
        graph.check_reachable(&mut out);
    }
    graph.check_cycles(&mut out);
    check_fixtures(def, &mut out);
    let mut v = out.0;
    v.sort();
    v.dedup();
    v
}

struct Report(Vec<Violation>);

impl Report {
    fn push(&mut self, node: Option<&str>, kind: ViolationKind, message: String) {
        self.0.push(Violation {
            node: node.map(str::to_owned),
            kind,
            message,
        });
    }

    fn has(&self, kinds: &[ViolationKind]) -> bool {
        self.0.iter().any(|v| kinds.contains(&v.kind))
    }
}

fn check_node(def: &SopDefinition, id: &str, node: &Node, out: &mut Report) {
    use ViolationKind::*;
    let at = Some(id);
    let master = &def.master_locale;
    let kind = node.kind;
    if let Err(e) = check_id(id) {
        out.push(at, BadNodeShape, format!("node id is not valid: {e}"));
    }
    if node.text.get(master).is_none_or(|t| t.trim().is_empty()) {
        out.push(
            at,
            MissingText,
            format!("no text in master locale {master:?}"),
        );
    }

    // Fields the kind needs.
    match kind {
        NodeKind::Question if node.answers.is_empty() => {
            out.push(at, DeadEnd, "question has no answers".into());
        }
        NodeKind::Logic if node.default_next.is_none() => {
            let msg = "logic node has no default_next for when no rule holds";
            out.push(at, DeadEnd, msg.into());
        }
        NodeKind::Content | NodeKind::Action if node.default_next.is_none() => {
            out.push(at, DeadEnd, format!("{kind} node has no next"));
        }
        NodeKind::End if node.outcome.is_none() => {
            out.push(at, BadNodeShape, "end node has no outcome".into());
        }
        _ => {}
    }
    if kind == NodeKind::Action {
        match &node.action {
            None => out.push(at, BadNodeShape, "action node has no action".into()),
            Some(a) if a.kind.trim().is_empty() => {
                out.push(at, BadNodeShape, "action has no type".into());
            }
            Some(_) => {}
        }
    }

    // Fields the kind does not use: the walk would silently ignore them.
    let unused = [
        (
            "answers",
            !node.answers.is_empty() && kind != NodeKind::Question,
        ),
        ("rules", !node.rules.is_empty() && kind != NodeKind::Logic),
        (
            "next",
            node.default_next.is_some() && matches!(kind, NodeKind::Question | NodeKind::End),
        ),
        (
            "an action",
            node.action.is_some() && kind != NodeKind::Action,
        ),
        (
            "an outcome",
            node.outcome.is_some() && kind != NodeKind::End,
        ),
    ];
    for (what, present) in unused {
        if present {
            out.push(
                at,
                BadNodeShape,
                format!("{kind} node has {what}, which it does not use"),
            );
        }
    }

    if kind == NodeKind::Question {
        let mut seen = HashSet::new();
        for (i, a) in node.answers.iter().enumerate() {
            if let Err(e) = check_id(&a.id) {
                out.push(
                    at,
                    BadNodeShape,
                    format!("answer {} has an invalid id: {e}", i + 1),
                );
            }
            if !seen.insert(a.id.as_str()) {
                out.push(
                    at,
                    BadNodeShape,
                    format!("answer id {:?} is used twice", a.id),
                );
            }
            if a.label.get(master).is_none_or(|t| t.trim().is_empty()) {
                let msg = format!("answer {:?} has no label in master locale {master:?}", a.id);
                out.push(at, MissingText, msg);
            }
        }
        check_ambiguous_answers(id, node, out);
    }
    if kind == NodeKind::Logic {
        for (i, r) in node.rules.iter().enumerate() {
            if let Err(e) = rules::parse(&r.when) {
                let msg = format!("rule {} {:?} does not parse: {e}", i + 1, r.when);
                out.push(at, BadRule, msg);
            }
        }
    }
    for edge in node.edges() {
        if !def.nodes.contains_key(edge.to) {
            let msg = format!("next {:?} does not exist ({})", edge.to, edge.via);
            out.push(at, DanglingNext, msg);
        }
    }
}

/// Answers the walk cannot tell apart. The walk matches an input against every answer's id and
/// its label in every locale after folding case, accents and spaces (`Sí` = `si` = `SI`), and
/// takes the first match; so two answers with spellings equal after folding — in the same
/// locale or across locales — make the later one unreachable by that spelling.
fn check_ambiguous_answers(id: &str, node: &Node, out: &mut Report) {
    let spellings: Vec<Vec<(String, &str, String)>> = node
        .answers
        .iter()
        .map(|a| {
            std::iter::once(("id".to_owned(), a.id.as_str()))
                .chain(
                    a.label
                        .iter()
                        .map(|(l, t)| (format!("{l} label"), t.as_str())),
                )
                .map(|(what, text)| (what, text, fold_text(text)))
                .filter(|(_, _, folded)| !folded.is_empty())
                .collect()
        })
        .collect();
    for (i, a) in node.answers.iter().enumerate() {
        for (j, b) in node.answers.iter().enumerate().skip(i + 1) {
            if a.id == b.id {
                continue; // reported as a duplicate id
            }
            let clash = spellings[i].iter().find_map(|(wa, ta, fa)| {
                spellings[j]
                    .iter()
                    .find(|(_, _, fb)| fb == fa)
                    .map(|(wb, tb, _)| (wa, ta, wb, tb))
            });
            if let Some((wa, ta, wb, tb)) = clash {
                let msg = format!(
                    "answers {:?} ({wa} {ta:?}) and {:?} ({wb} {tb:?}) are the same once case \
                     and accents are ignored, so the walk cannot tell them apart",
                    a.id, b.id
                );
                out.push(Some(id), ViolationKind::BadNodeShape, msg);
            }
        }
    }
}

/// Nodes as indices with their existing out-edges, for the graph checks.
struct Graph<'a> {
    entry: &'a str,
    ids: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
    adj: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(def: &'a SopDefinition) -> Self {
        let ids: Vec<&str> = def.nodes.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let adj = def
            .nodes
            .values()
            .map(|node| {
                let mut seen = HashSet::new();
                let targets = node
                    .edges()
                    .into_iter()
                    .filter_map(|e| index.get(e.to).copied());
                targets.filter(|&t| seen.insert(t)).collect()
            })
            .collect();
        Graph {
            entry: &def.entry,
            ids,
            index,
            adj,
        }
    }

    fn check_reachable(&self, out: &mut Report) {
        let entry = self.entry;
        let Some(&start) = self.index.get(entry) else {
            return;
        };
        let mut seen = vec![false; self.ids.len()];
        seen[start] = true;
        let mut queue = vec![start];
        while let Some(u) = queue.pop() {
            for &v in &self.adj[u] {
                if !seen[v] {
                    seen[v] = true;
                    queue.push(v);
                }
            }
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached {
                let msg = format!("not reachable from entry {entry:?}");
                out.push(Some(self.ids[i]), ViolationKind::Unreachable, msg);
            }
        }
    }

    /// Iterative DFS, from the entry first, then from every node not yet seen. Every back edge
    /// closes a cycle, reported at the node it returns to: each cyclic part of the graph is
    /// reported at least once, though not every cycle through it is listed.
    fn check_cycles(&self, out: &mut Report) {
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let n = self.ids.len();
        let mut color = vec![WHITE; n];
        let mut depth_of = vec![0usize; n];
        // From the entry first, so cycles are reported where a walk would meet them.
        let entry = self.index.get(self.entry).copied();
        for root in entry.into_iter().chain(0..n) {
            if color[root] != WHITE {
                continue;
            }
            color[root] = GRAY;
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(top) = stack.last_mut() {
                let (u, i) = *top;
                let Some(&v) = self.adj[u].get(i) else {
                    color[u] = BLACK;
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                match color[v] {
                    WHITE => {
                        color[v] = GRAY;
                        depth_of[v] = stack.len();
                        stack.push((v, 0));
                    }
                    GRAY => {
                        let cycle: Vec<&str> = stack[depth_of[v]..]
                            .iter()
                            .map(|&(w, _)| self.ids[w])
                            .chain([self.ids[v]])
                            .collect();
                        let msg = format!("cycle: {}", show_path(&cycle));
                        out.push(Some(self.ids[v]), ViolationKind::Cycle, msg);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `a -> b -> c`, with the middle elided when long.
fn show_path(path: &[&str]) -> String {
    const HEAD: usize = 8;
    const TAIL: usize = 4;
    if path.len() <= HEAD + TAIL + 1 {
        return path.join(" -> ");
    }
    let hidden = path.len() - HEAD - TAIL;
    format!(
        "{} -> ({hidden} more) -> {}",
        path[..HEAD].join(" -> "),
        path[path.len() - TAIL..].join(" -> ")
    )
}

fn check_fixtures(def: &SopDefinition, out: &mut Report) {
    use ViolationKind::*;
    if def.tests.is_empty() {
        return;
    }
    if out.has(&[MissingEntry, DanglingNext, Cycle, BadRule]) {
        let msg = format!(
            "{} fixture(s) not run: fix the missing entry, dangling next, cycle or bad rule first",
            def.tests.len()
        );
        out.push(None, FixtureFailed, msg);
        return;
    }
    for fx in &def.tests {
        let name = &fx.name;
        let result = match walk(def, &fx.answers) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("fixture {name:?}: walk failed: {e}");
                out.push(Some(e.node()), FixtureFailed, msg);
                continue;
            }
        };
        let last = result.path.last().map(String::as_str);
        match (&result.end, &result.pending) {
            (Some(end), _) if *end != fx.expect_end => {
                let msg = format!(
                    "fixture {name:?}: ended at {end:?}, expected {:?} (path {})",
                    fx.expect_end,
                    show_path(&strs(&result.path))
                );
                out.push(Some(end), FixtureFailed, msg);
            }
            (None, pending) => {
                let waiting = pending.as_deref().or(last).unwrap_or_default();
                let msg = format!(
                    "fixture {name:?}: stopped at question {waiting:?} waiting for an answer, \
                     expected to end at {:?}",
                    fx.expect_end
                );
                out.push(Some(waiting), FixtureFailed, msg);
            }
            _ => {}
        }
        if let Some(expected) = &fx.expect_path
            && *expected != result.path
        {
            let diverge = result.path.iter().zip(expected).position(|(a, b)| a != b);
            let i = diverge.unwrap_or(result.path.len().min(expected.len()));
            let at = result
                .path
                .get(i)
                .or(result.path.last())
                .map(String::as_str);
            let msg = format!(
                "fixture {name:?}: path was {}, expected {}",
                show_path(&strs(&result.path)),
                show_path(&strs(expected))
            );
            out.push(at, FixtureFailed, msg);
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Violations grouped by node id, tree-level ones under `""`: handy for UIs.
pub fn by_node(violations: &[Violation]) -> BTreeMap<&str, Vec<&Violation>> {
    let mut map: BTreeMap<&str, Vec<&Violation>> = BTreeMap::new();
    for v in violations {
        map.entry(v.node.as_deref().unwrap_or_default())
            .or_default()
            .push(v);
    }
    map
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::definition::tests::{CARD, UPI, card, upi};
    use super::super::definition::{
        Action, Answer, Fixture, Node, Outcome, OutcomeResult, Rule, parse_json, to_json,
    };
    use super::*;
    use ViolationKind::*;
    use proptest::prelude::*;

    /// The violations of `def` as (node, kind) pairs.
    fn found(def: &SopDefinition) -> Vec<(Option<String>, ViolationKind)> {
        validate(def)
            .into_iter()
            .map(|v| (v.node, v.kind))
            .collect()
    }

    fn at(node: &str, kind: ViolationKind) -> (Option<String>, ViolationKind) {
        (Some(node.to_owned()), kind)
    }

    fn node_mut<'a>(def: &'a mut SopDefinition, id: &str) -> &'a mut Node {
        def.nodes.get_mut(id).unwrap()
    }

    #[test]
    fn both_sample_sops_are_valid_and_their_fixtures_pass() {
        assert_eq!(validate(&upi()), []);
        assert_eq!(validate(&card()), []);
        assert_eq!(card().tests.len(), 4);
    }

    #[test]
    fn a_dangling_next_names_the_node_the_answer_and_the_missing_target() {
        let mut def = upi();
        node_mut(&mut def, "type").answers[1].next = "p2m_agee".into();
        let v = validate(&def);
        assert!(v.contains(&Violation {
            node: Some("type".into()),
            kind: DanglingNext,
            message: "next \"p2m_agee\" does not exist (answer \"p2m\")".into(),
        }));
        assert!(found(&def).contains(&at("p2m_age", Unreachable)));
        // Fixtures are not run on a structurally broken tree, and the report says so.
        assert!(
            v.iter()
                .any(|v| v.node.is_none() && v.kind == FixtureFailed)
        );

        let mut def = upi();
        node_mut(&mut def, "collect_rrn").default_next = Some("raise_pps".into());
        let shown: Vec<String> = validate(&def).iter().map(ToString::to_string).collect();
        assert!(
            shown
                .contains(&"node \"collect_rrn\": next \"raise_pps\" does not exist (next)".into())
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_path() {
        let mut def = upi();
        node_mut(&mut def, "raise_psp").default_next = Some("type".into());
        let v = validate(&def);
        let cycle: Vec<&Violation> = v.iter().filter(|v| v.kind == Cycle).collect();
        assert_eq!(cycle.len(), 1, "{v:#?}");
        assert_eq!(cycle[0].node.as_deref(), Some("type"));
        assert_eq!(
            cycle[0].message,
            "cycle: type -> p2p_age -> collect_rrn -> raise_psp -> type"
        );
        assert!(found(&def).contains(&at("end_escalated", Unreachable)));
    }

    #[test]
    fn an_unreachable_node_is_reported() {
        let mut def = upi();
        let mut orphan = Node::new(NodeKind::Content);
        orphan.text.insert("en".into(), "Nobody links here".into());
        orphan.default_next = Some("end_no_debit".into());
        def.nodes.insert("orphan".into(), orphan);
        assert_eq!(found(&def), [at("orphan", Unreachable)]);
    }

    #[test]
    fn dead_ends_are_reported_for_each_kind() {
        let mut def = upi();
        node_mut(&mut def, "collect_rrn").default_next = None;
        node_mut(&mut def, "p2p_age").default_next = None;
        node_mut(&mut def, "start").answers.clear();
        let f = found(&def);
        for node in ["collect_rrn", "p2p_age", "start"] {
            assert!(f.contains(&at(node, DeadEnd)), "{node}: {f:?}");
        }
    }

    #[test]
    fn missing_master_locale_text_is_reported_even_with_translations() {
        let mut def = card();
        node_mut(&mut def, "problema").text.remove("es");
        node_mut(&mut def, "inicio").answers[0]
            .label
            .insert("es".into(), " ".into());
        assert_eq!(
            found(&def),
            [at("inicio", MissingText), at("problema", MissingText)]
        );
        let v = validate(&def);
        assert_eq!(
            v[1].to_string(),
            "node \"problema\": no text in master locale \"es\""
        );
    }

    #[test]
    fn a_rule_that_does_not_parse_is_reported_with_its_error() {
        let mut def = upi();
        node_mut(&mut def, "p2m_age").rules[0].when = "days_since_txn <= five".into();
        let v = validate(&def);
        let bad: Vec<&Violation> = v.iter().filter(|v| v.kind == BadRule).collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].node.as_deref(), Some("p2m_age"));
        assert!(
            bad[0].message.contains("\"five\" is not a number"),
            "{}",
            bad[0].message
        );
    }

    #[test]
    fn a_failing_fixture_names_the_fixture_and_what_happened() {
        let mut def = upi();
        def.tests[0].expect_end = "end_escalated".into();
        def.tests[1].expect_path =
            Some(vec!["start".into(), "type".into(), "end_escalated".into()]);
        def.tests[2].answers = vec!["Maybe".into()];
        def.tests.push(Fixture {
            name: "stops early".into(),
            answers: vec!["Yes".into()],
            expect_end: "end_wait_p2p".into(),
            expect_path: None,
        });
        let v = validate(&def);
        assert!(v.iter().all(|v| v.kind == FixtureFailed), "{v:#?}");
        let msgs: BTreeMap<&str, &str> = v
            .iter()
            .map(|v| (v.node.as_deref().unwrap(), v.message.as_str()))
            .collect();
        assert_eq!(msgs.len(), 4, "{v:#?}");
        assert!(
            msgs["end_wait_p2p"].contains("ended at \"end_wait_p2p\", expected \"end_escalated\"")
        );
        assert!(
            msgs["p2m_age"].contains("path was start -> type -> p2m_age"),
            "{msgs:?}"
        );
        assert!(msgs["start"].contains("no answer of question \"start\" matches \"Maybe\""));
        assert!(msgs["type"].contains("stopped at question \"type\""));
    }

    #[test]
    fn bad_shapes_are_reported() {
        let mut def = upi();
        node_mut(&mut def, "end_no_debit").default_next = Some("start".into());
        node_mut(&mut def, "end_wait_p2p").outcome = None;
        node_mut(&mut def, "raise_psp").action = None;
        let dup = node_mut(&mut def, "type").answers[0].clone();
        node_mut(&mut def, "type").answers.push(dup);
        node_mut(&mut def, "start").rules.push(Rule {
            when: "a == 1".into(),
            next: "type".into(),
        });
        let f = found(&def);
        for node in ["end_no_debit", "end_wait_p2p", "raise_psp", "type", "start"] {
            assert!(f.contains(&at(node, BadNodeShape)), "{node}: {f:?}");
        }
        // A stray next on an end node is not followed: no cycle through it.
        assert!(!f.iter().any(|(_, k)| *k == Cycle));
    }

    #[test]
    fn answers_equal_once_case_and_accents_are_folded_are_a_violation_naming_both() {
        let mut def = upi();
        let q = node_mut(&mut def, "start");
        let first = q.answers[0].clone();
        q.answers[0].label.insert("es".into(), "Sí".into());
        q.answers[1].label.insert("es".into(), "SI".into());
        let v: Vec<String> = validate(&def)
            .iter()
            .filter(|v| v.kind == BadNodeShape)
            .map(ToString::to_string)
            .collect();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("node \"start\": answers"), "{v:?}");
        for want in [first.id.as_str(), "\"Sí\"", "\"SI\"", "es label"] {
            assert!(v[0].contains(want), "{want} missing from {v:?}");
        }

        // Across locales too: a pt label of one answer equal to the es label of another.
        let mut def = upi();
        let q = node_mut(&mut def, "start");
        q.answers[0].label.insert("es".into(), "Não sei".into());
        q.answers[1].label.insert("pt".into(), "nao  SEI".into());
        assert!(found(&def).contains(&at("start", BadNodeShape)));

        // And an answer id equal to another answer's label.
        let mut def = upi();
        let q = node_mut(&mut def, "start");
        let other = q.answers[0].id.clone();
        q.answers[1].label.insert("en".into(), other.to_uppercase());
        assert!(found(&def).contains(&at("start", BadNodeShape)));
    }

    #[test]
    fn a_missing_entry_is_a_tree_level_violation_and_skips_reachability() {
        let mut def = upi();
        def.entry = "begin".into();
        let v = validate(&def);
        assert_eq!(v[0].node, None);
        assert_eq!(v[0].kind, MissingEntry);
        assert_eq!(v[0].to_string(), "entry \"begin\" does not exist");
        assert!(!v.iter().any(|v| v.kind == Unreachable));
    }

    #[test]
    fn violations_group_by_node() {
        let mut def = upi();
        def.entry = String::new();
        node_mut(&mut def, "type").text.clear();
        let v = validate(&def);
        let groups = by_node(&v);
        assert_eq!(groups[""].len(), 2); // missing entry + fixtures not run
        assert_eq!(groups["type"][0].kind, MissingText);
    }

    fn chain(n: usize, back_edge: bool) -> SopDefinition {
        let mut def = upi();
        def.tests.clear();
        def.nodes.clear();
        for i in 0..n {
            let mut node = Node::new(NodeKind::Question);
            node.text.insert("en".into(), format!("step {i}?"));
            let next = if i + 1 == n {
                "end".into()
            } else {
                format!("n{}", i + 1)
            };
            let label = BTreeMap::from([("en".to_string(), "Next".to_string())]);
            node.answers.push(Answer {
                id: "next".into(),
                label,
                next,
            });
            if back_edge && i + 1 == n {
                node.answers.push(Answer {
                    id: "again".into(),
                    label: BTreeMap::from([("en".to_string(), "Again".to_string())]),
                    next: "n0".into(),
                });
            }
            def.nodes.insert(format!("n{i}"), node);
        }
        let mut end = Node::new(NodeKind::End);
        end.text.insert("en".into(), "Done".into());
        end.outcome = Some(Outcome {
            label: "done".into(),
            result: OutcomeResult::Success,
        });
        def.nodes.insert("end".into(), end);
        def.entry = "n0".into();
        def
    }

    #[test]
    fn a_ten_thousand_node_chain_validates_without_recursion() {
        let mut def = chain(10_000, false);
        assert_eq!(validate(&def), []);
        def.tests.push(Fixture {
            name: "all the way".into(),
            answers: vec!["next".into(); 10_000],
            expect_end: "end".into(),
            expect_path: None,
        });
        assert_eq!(validate(&def), []);
        let v = validate(&chain(10_000, true));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].node.as_deref(), Some("n0"));
        assert!(v[0].message.contains("(9989 more)"), "{}", v[0].message);
    }

    // ---- property tests -------------------------------------------------------------------

    fn ids() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "n[0-7]",
            1 => Just("end".to_string()),
            1 => "[a-z ]{0,3}",
        ]
    }

    fn when() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("x <= 1".to_string()),
            Just("x == a or y > 2".to_string()),
            Just("(x != 3".to_string()),
            "\\PC{0,12}",
        ]
    }

    prop_compose! {
        fn node()(
            kind in proptest::sample::select(NodeKind::ALL.to_vec()),
            text in proptest::option::of("\\PC{0,6}"),
            answers in proptest::collection::vec(("[a-c]{0,2}", "\\PC{0,4}", ids()), 0..3),
            rules in proptest::collection::vec((when(), ids()), 0..3),
            default_next in proptest::option::of(ids()),
            action in proptest::option::of("[a-z_]{0,8}"),
            outcome in proptest::option::of(Just(OutcomeResult::Success)),
        ) -> Node {
            Node {
                kind,
                text: text.into_iter().map(|t| ("en".to_string(), t)).collect(),
                answers: answers
                    .into_iter()
                    .map(|(id, l, next)| Answer {
                        id,
                        label: BTreeMap::from([("en".to_string(), l)]),
                        next,
                    })
                    .collect(),
                rules: rules.into_iter().map(|(when, next)| Rule { when, next }).collect(),
                default_next,
                action: action.map(|kind| Action { kind, params: BTreeMap::new() }),
                outcome: outcome.map(|result| Outcome { label: "x".into(), result }),
            }
        }
    }

    fn inputs() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(
            prop_oneof![
                "[a-c]{0,2}",
                "\\PC{0,4}",
                Just("x=0".to_string()),
                Just("y=a".to_string())
            ],
            0..6,
        )
    }

    prop_compose! {
        fn definition()(
            nodes in proptest::collection::btree_map(ids(), node(), 0..10),
            entry in ids(),
            tests in proptest::collection::vec((inputs(), ids()), 0..3),
        ) -> SopDefinition {
            SopDefinition {
                title: "random".into(),
                markets: vec!["ES".into()],
                master_locale: "en".into(),
                entry,
                nodes,
                tests: tests
                    .into_iter()
                    .enumerate()
                    .map(|(i, (answers, expect_end))| Fixture {
                        name: format!("f{i}"),
                        answers,
                        expect_end,
                        expect_path: None,
                    })
                    .collect(),
            }
        }
    }

    /// Applies byte-level edits to a sample, keeping it valid UTF-8.
    fn mutate(src: &str, edits: &[(usize, u8, String)]) -> String {
        let mut s = src.to_string();
        for (pos, op, text) in edits {
            let mut i = pos % (s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + 1 + (*pos % 7)).min(s.len());
            while !s.is_char_boundary(j) {
                j -= 1;
            }
            match op % 4 {
                0 => s.insert_str(i, text),
                1 => s.replace_range(i..j, ""),
                2 => s.replace_range(i..j, text),
                _ => {
                    let piece = s[i..j].to_string();
                    s.insert_str(j, &piece);
                }
            }
        }
        s
    }

    proptest! {

        #[test]
        fn parse_json_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            let _ = parse_json(&s);
        }

        #[test]
        fn parse_json_never_panics_on_mutated_samples(
            which in any::<bool>(),
            edits in proptest::collection::vec(
                (any::<usize>(), any::<u8>(), prop_oneof![
                    Just("{".to_string()), Just("}".to_string()), Just("\"".to_string()),
                    Just(",".to_string()), Just("[]".to_string()), Just("null".to_string()),
                    Just("\"next\": \"x\",".to_string()), Just("é".to_string()),
                    "\\PC{0,4}",
                ]),
                1..6,
            ),
        ) {
            let src = mutate(if which { UPI } else { CARD }, &edits);
            if let Ok(def) = parse_json(&src) {
                let _ = validate(&def);
                for fx in &def.tests {
                    let _ = walk(&def, &fx.answers);
                }
            }
        }

        #[test]
        fn validate_and_walk_never_panic_on_random_trees(def in definition(), input in inputs()) {
            let v = validate(&def);
            prop_assert_eq!(&v, &validate(&def));
            let mut sorted = v.clone();
            sorted.sort();
            prop_assert_eq!(&v, &sorted);
            let _ = walk(&def, &input);
            for v in &v {
                let _ = v.to_string();
            }
        }

        #[test]
        fn valid_ids_round_trip_through_json(def in definition()) {
            let ok = def.nodes.keys().all(|id| check_id(id).is_ok())
                && def.nodes.values().flat_map(|n| &n.answers).all(|a| check_id(&a.id).is_ok());
            let parsed = parse_json(&to_json(&def));
            if ok {
                prop_assert_eq!(parsed.ok(), Some(def));
            } else {
                prop_assert!(parsed.is_err());
            }
        }
    }
}
