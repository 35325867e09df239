//! SOPs: standard operating procedures as decision trees, edited offline by several sites.
//!
//! The tree's shape and text live in one Automerge document: node text per locale is `Text`
//! (merged character by character when two team leads edit the same sentence), the rest are
//! registers. The pure logic — the JSON format, invariants and walking — lives in the
//! submodules and works on a plain [`SopDefinition`]; this module maps documents to and from
//! it and implements change control:
//!
//! - `draft` → `in_review` ([`Store::submit_sop`]) → `published` ([`Store::publish_sop`]), and
//!   any edit sends the SOP back to `draft`;
//! - publishing needs a valid tree and an approver who authored none of the changes since the
//!   last published version (four eyes), and records the document's heads, so agents walk the
//!   published version while authors keep editing;
//! - invariants are re-checked after every change, merges included: a merge that breaks one is
//!   kept (nothing is lost) but the SOP reports the violations and cannot be published.

pub mod definition;
mod rules;
pub mod validate;
pub mod walk;

use std::collections::BTreeMap;

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc};
use rusqlite::params;
use serde::Serialize;

pub use definition::{
    Action, Answer, Fixture, Node, NodeKind, Outcome, OutcomeResult, SopDefinition, parse_json,
    to_json,
};
pub use validate::{Violation, ViolationKind};
pub use walk::WalkResult;

use crate::case::{check_market, edit_open_case};
use crate::doc::{DocTx, Reader, Splice, Spliced, TextEdit};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{DocKind, Origin, Store};
use crate::version::{self, PublishedVersion};

/// Version of the SOP document layout.
pub const SOP_SCHEMA: i64 = 1;

/// Change kinds that do not author content, for the four-eyes rule.
const NON_AUTHORING_OPS: &[&str] = &["sop.submit", "sop.publish", "sop.retire"];

/// The change-control state of an SOP's draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SopStatus {
    /// Being edited.
    Draft,
    /// Waiting for an approver.
    InReview,
    /// The draft is the latest published version.
    Published,
    /// No longer used.
    Retired,
}

impl SopStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SopStatus::Draft => "draft",
            SopStatus::InReview => "in_review",
            SopStatus::Published => "published",
            SopStatus::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<SopStatus> {
        Some(match s {
            "draft" => SopStatus::Draft,
            "in_review" => SopStatus::InReview,
            "published" => SopStatus::Published,
            "retired" => SopStatus::Retired,
            _ => return None,
        })
    }
}

/// An SOP as every replica sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sop {
    /// Document id.
    pub id: DocId,
    /// Status of the draft.
    pub status: SopStatus,
    /// The current draft.
    pub definition: SopDefinition,
    /// Published versions, oldest first.
    pub versions: Vec<PublishedVersion>,
    /// Broken invariants of the draft, one line each naming the node; empty when valid.
    pub violations: Vec<String>,
}

impl Sop {
    /// The latest published version number.
    pub fn published_version(&self) -> Option<i64> {
        self.versions.last().map(|v| v.version)
    }
}

/// A row of the SOP list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SopSummary {
    /// Document id.
    pub id: DocId,
    /// Title.
    pub title: String,
    /// Status of the draft.
    pub status: String,
    /// Latest published version.
    pub published_version: Option<i64>,
    /// Number of broken invariants in the draft.
    pub violations: i64,
}

fn read_definition(r: &Reader<'_, impl ReadDoc>) -> SopDefinition {
    let root = ObjId::Root;
    let mut nodes = BTreeMap::new();
    if let Some(nmap) = r.map(&root, "nodes") {
        for id in r.keys(&nmap) {
            let Some(n) = r.map(&nmap, id.as_str()) else {
                continue;
            };
            let Some(kind) = r.str(&n, "kind").and_then(|k| k.parse::<NodeKind>().ok()) else {
                continue;
            };
            let answers = r
                .list_maps(&n, "answers")
                .into_iter()
                .map(|a| Answer {
                    id: r.str(&a, "id").unwrap_or_default(),
                    label: r.str_map(&a, "label"),
                    next: r.str(&a, "next").unwrap_or_default(),
                })
                .collect();
            let rules = r
                .list_maps(&n, "rules")
                .into_iter()
                .map(|x| definition::Rule {
                    when: r.str(&x, "when").unwrap_or_default(),
                    next: r.str(&x, "next").unwrap_or_default(),
                })
                .collect();
            let action = r.map(&n, "action").map(|a| Action {
                kind: r.str(&a, "type").unwrap_or_default(),
                params: r.str_map(&a, "params"),
            });
            let outcome = r.map(&n, "outcome").map(|o| Outcome {
                label: r.str(&o, "label").unwrap_or_default(),
                result: r
                    .str(&o, "result")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(OutcomeResult::Unknown),
            });
            nodes.insert(
                id,
                Node {
                    kind,
                    text: r.str_map(&n, "text"),
                    answers,
                    rules,
                    default_next: r.str(&n, "default_next"),
                    action,
                    outcome,
                },
            );
        }
    }
    let tests = r
        .list_maps(&root, "tests")
        .into_iter()
        .map(|t| Fixture {
            name: r.str(&t, "name").unwrap_or_default(),
            answers: r.list_strs(&t, "answers"),
            expect_end: r.str(&t, "expect_end").unwrap_or_default(),
            expect_path: r
                .list(&t, "expect_path")
                .map(|_| r.list_strs(&t, "expect_path")),
        })
        .collect();
    SopDefinition {
        title: r.str(&root, "title").unwrap_or_default(),
        markets: r.list_strs(&root, "markets"),
        master_locale: r.str(&root, "master_locale").unwrap_or_default(),
        entry: r.str(&root, "entry").unwrap_or_default(),
        nodes,
        tests,
    }
}

fn materialize(id: DocId, doc: &impl ReadDoc, heads: Option<&[ChangeHash]>) -> Sop {
    let r = Reader::new(doc, heads);
    let definition = read_definition(&r);
    let violations = validate::validate(&definition)
        .iter()
        .map(ToString::to_string)
        .collect();
    Sop {
        id,
        status: r
            .str(&ObjId::Root, "status")
            .and_then(|s| SopStatus::parse(&s))
            .unwrap_or(SopStatus::Draft),
        definition,
        versions: version::read_versions(&r),
        violations,
    }
}

/// Puts a string only when it differs, so re-importing an unchanged tree writes nothing and
/// creates no spurious concurrent values.
fn put_changed(dt: &mut DocTx<'_>, obj: &ObjId, prop: &str, path: &str, v: &str) -> Result<()> {
    if dt.read().str(obj, prop).as_deref() != Some(v) {
        dt.put_str(obj, prop, path, v)?;
    }
    Ok(())
}

fn put_str_map(
    dt: &mut DocTx<'_>,
    obj: &ObjId,
    prop: &str,
    path: &str,
    m: &BTreeMap<String, String>,
) -> Result<()> {
    let map = dt.map(obj, prop)?;
    let existing = dt.read().keys(&map);
    for k in existing {
        if !m.contains_key(&k) {
            dt.delete(&map, k.as_str())?;
        }
    }
    for (k, v) in m {
        put_changed(dt, &map, k, &format!("{path}.{k}"), v)?;
    }
    Ok(())
}

/// Writes one node, touching only what differs from the document.
fn write_node(dt: &mut DocTx<'_>, nodes: &ObjId, id: &str, node: &Node) -> Result<()> {
    definition::check_id(id).map_err(|e| Error::invalid("node id", e.to_string()))?;
    let path = format!("nodes.{id}");
    let n = dt.map(nodes, id)?;
    put_changed(dt, &n, "kind", &path, node.kind.as_str())?;
    let text = dt.map(&n, "text")?;
    for locale in dt.read().keys(&text) {
        if !node.text.contains_key(&locale) {
            dt.delete(&text, locale.as_str())?;
        }
    }
    for (locale, t) in &node.text {
        if dt.read().str(&text, locale.as_str()).as_deref() != Some(t.as_str()) {
            dt.text(&text, locale, &format!("{path}.text.{locale}"), t)?;
        }
    }
    write_list(
        dt,
        &n,
        "answers",
        &node.answers,
        |dt, m, a: &Answer| {
            put_changed(dt, m, "id", "answers.id", &a.id)?;
            put_str_map(dt, m, "label", "answers.label", &a.label)?;
            put_changed(dt, m, "next", "answers.next", &a.next)
        },
        |a| a.id.clone(),
    )?;
    write_list(
        dt,
        &n,
        "rules",
        &node.rules,
        |dt, m, x: &definition::Rule| {
            put_changed(dt, m, "when", "rules.when", &x.when)?;
            put_changed(dt, m, "next", "rules.next", &x.next)
        },
        |x| format!("{}\u{0}{}", x.when, x.next),
    )?;
    match &node.default_next {
        Some(next) => put_changed(dt, &n, "default_next", &path, next)?,
        None if dt.read().get(&n, "default_next").is_some() => dt.delete(&n, "default_next")?,
        None => {}
    }
    match &node.action {
        Some(a) => {
            let m = dt.map(&n, "action")?;
            put_changed(dt, &m, "type", "action.type", &a.kind)?;
            put_str_map(dt, &m, "params", "action.params", &a.params)?;
        }
        None if dt.read().get(&n, "action").is_some() => dt.delete(&n, "action")?,
        None => {}
    }
    match &node.outcome {
        Some(o) => {
            let m = dt.map(&n, "outcome")?;
            put_changed(dt, &m, "label", "outcome.label", &o.label)?;
            put_changed(dt, &m, "result", "outcome.result", o.result.as_str())?;
        }
        None if dt.read().get(&n, "outcome").is_some() => dt.delete(&n, "outcome")?,
        None => {}
    }
    Ok(())
}

/// Updates a list of maps in place: elements whose identity is unchanged are edited field by
/// field (so a concurrent edit of another field survives), others replaced, extras deleted.
fn write_list<T>(
    dt: &mut DocTx<'_>,
    parent: &ObjId,
    prop: &str,
    items: &[T],
    mut write: impl FnMut(&mut DocTx<'_>, &ObjId, &T) -> Result<()>,
    identity: impl Fn(&T) -> String,
) -> Result<()> {
    let list = dt.list(parent, prop)?;
    let existing = dt.read().len(&list);
    for (i, item) in items.iter().enumerate() {
        let current = dt.read().map(&list, i);
        let same = current.as_ref().is_some_and(|m| {
            let r = dt.read();
            let id = identity(item);
            // Identity of the stored element, computed the same way from its fields.
            let stored = match prop {
                "answers" => r.str(m, "id").unwrap_or_default(),
                _ => format!(
                    "{}\u{0}{}",
                    r.str(m, "when").unwrap_or_default(),
                    r.str(m, "next").unwrap_or_default()
                ),
            };
            stored == id
        });
        let m = match (current, same) {
            (Some(m), true) => m,
            _ if i < existing => dt.new_object(&list, i, ObjType::Map)?,
            _ => dt.push_map(&list)?,
        };
        write(dt, &m, item)?;
    }
    for i in (items.len()..existing).rev() {
        dt.delete(&list, i)?;
    }
    Ok(())
}

fn write_definition(dt: &mut DocTx<'_>, def: &SopDefinition) -> Result<()> {
    let root = ObjId::Root;
    for m in &def.markets {
        check_market(m)?;
    }
    if def.title.trim().is_empty() {
        return Err(Error::invalid("title", "must not be empty"));
    }
    if dt.read().str(&root, "title").as_deref() != Some(def.title.as_str()) {
        dt.text(&root, "title", "title", &def.title)?;
    }
    if dt.read().list_strs(&root, "markets") != def.markets {
        dt.set_str_list(&root, "markets", "markets", &def.markets)?;
    }
    put_changed(
        dt,
        &root,
        "master_locale",
        "master_locale",
        &def.master_locale,
    )?;
    put_changed(dt, &root, "entry", "entry", &def.entry)?;
    let nodes = dt.map(&root, "nodes")?;
    for id in dt.read().keys(&nodes) {
        if !def.nodes.contains_key(&id) {
            dt.delete(&nodes, id.as_str())?;
        }
    }
    for (id, node) in &def.nodes {
        write_node(dt, &nodes, id, node)?;
    }
    let current_tests = read_definition(&dt.read()).tests;
    if current_tests != def.tests {
        let tests = dt.new_object(&root, "tests", ObjType::List)?;
        for t in &def.tests {
            let m = dt.push_map(&tests)?;
            dt.put_str(&m, "name", "tests.name", &t.name)?;
            dt.set_str_list(&m, "answers", "tests.answers", &t.answers)?;
            dt.put_str(&m, "expect_end", "tests.expect_end", &t.expect_end)?;
            if let Some(p) = &t.expect_path {
                dt.set_str_list(&m, "expect_path", "tests.expect_path", p)?;
            }
        }
    }
    Ok(())
}

/// Whether a node's text in `locale` is missing or blank, as the missing-text invariant sees
/// it; reads only up to the first non-blank character.
fn node_text_blank(r: &Reader<'_, impl ReadDoc>, text: Option<&ObjId>, locale: &str) -> bool {
    let Some(text) = text else {
        return true;
    };
    match r.get(text, locale) {
        Some((automerge::Value::Object(ObjType::Text), t)) => {
            !r.text_chars(&t).any(|c| !c.is_whitespace())
        }
        Some(_) => r.str(text, locale).is_none_or(|s| s.trim().is_empty()),
        None => true,
    }
}

/// After a content edit, a reviewed or published draft goes back to `draft`.
fn back_to_draft(dt: &mut DocTx<'_>) -> Result<()> {
    let status = dt.read().str(&ObjId::Root, "status");
    if matches!(status.as_deref(), Some("in_review") | Some("published")) {
        dt.put(&ObjId::Root, "status", SopStatus::Draft.as_str())?;
    }
    Ok(())
}

impl Store {
    /// Creates a draft SOP from a definition. Invalid trees are accepted (they are drafts) and
    /// report their violations; they cannot be published until fixed.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad market, node id or empty title.
    pub fn create_sop(&self, def: &SopDefinition) -> Result<Sop> {
        let (id, ()) = self.write("sop.create", Origin::Local, |w| {
            w.create(DocKind::Sop, SOP_SCHEMA, |dt, _| {
                write_definition(dt, def)?;
                dt.put(&ObjId::Root, "status", SopStatus::Draft.as_str())?;
                dt.list(&ObjId::Root, "versions")?;
                dt.event("created", "sop created", "internal")
            })
        })?;
        self.sop(&id)
    }

    /// Parses SOP JSON (see [`definition::parse_json`]) and creates a draft from it.
    ///
    /// # Errors
    /// [`Error::Import`] naming the JSON path of the first problem; nothing is stored then.
    pub fn import_sop_json(&self, json: &str, source_name: &str) -> Result<Sop> {
        let def = parse_json(json).map_err(|e| Error::Import {
            source_name: source_name.into(),
            location: crate::error::Location::JsonPath {
                path: e.path.clone(),
                line: (e.line > 0).then_some(e.line as u64),
                column: (e.line > 0).then_some(e.column as u64),
            },
            reason: e.message,
        })?;
        self.create_sop(&def)
    }

    /// The current draft of an SOP with its status, versions and violations.
    ///
    /// # Errors
    /// [`Error::NotFound`] or [`Error::WrongKind`].
    pub fn sop(&self, id: &DocId) -> Result<Sop> {
        let doc = self.load_kind(id, DocKind::Sop)?;
        Ok(materialize(*id, &*doc, None))
    }

    /// The tree as published in `version` (the latest when `None`).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the SOP has no such published version.
    pub fn sop_version(&self, id: &DocId, version: Option<i64>) -> Result<(i64, SopDefinition)> {
        let doc = self.load_kind(id, DocKind::Sop)?;
        let sop = materialize(*id, &*doc, None);
        let v = match version {
            Some(n) => sop.versions.iter().find(|v| v.version == n),
            None => sop.versions.last(),
        }
        .ok_or_else(|| {
            Error::not_found(
                "published sop version",
                version.map_or_else(|| format!("{id} (never published)"), |n| n.to_string()),
            )
        })?;
        let heads = v.change_hashes()?;
        Ok((
            v.version,
            read_definition(&Reader::new(&*doc, Some(&heads))),
        ))
    }

    /// The whole SOP as it was at `heads`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `heads` are not in the document.
    pub fn sop_at(&self, id: &DocId, heads: &[ChangeHash]) -> Result<Sop> {
        let doc = self.load_kind(id, DocKind::Sop)?;
        crate::history::check_heads(&doc, heads)?;
        Ok(materialize(*id, &*doc, Some(heads)))
    }

    /// Replaces the draft with `def`, writing only what differs (text by character), so
    /// concurrent edits of other nodes or other sentences survive the merge.
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad ids or markets; [`Error::Transition`] for a retired SOP.
    pub fn update_sop(&self, id: &DocId, def: &SopDefinition) -> Result<Sop> {
        self.edit_sop(id, "sop.edit", |dt| write_definition(dt, def))
    }

    /// Sets the text of one node in one locale (character-level merge).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown node; [`Error::Invalid`] for empty text.
    pub fn set_sop_text(&self, id: &DocId, node: &str, locale: &str, text: &str) -> Result<Sop> {
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "must not be empty"));
        }
        if locale.is_empty() || locale.len() > 16 {
            return Err(Error::invalid(
                "locale",
                "use a language tag such as es or pt-BR",
            ));
        }
        self.edit_sop(id, "sop.edit", |dt| {
            let nodes = dt.map(&ObjId::Root, "nodes")?;
            let n = dt
                .read()
                .map(&nodes, node)
                .ok_or_else(|| Error::not_found("sop node", node))?;
            let t = dt.map(&n, "text")?;
            dt.text(&t, locale, &format!("nodes.{node}.text.{locale}"), text)
        })
    }

    /// Splices the text of one node in one locale: deletes `delete` characters at `pos`, then
    /// inserts `insert` there, as one Automerge change (a keystroke). Positions count Unicode
    /// scalar values. See [`Store::splice_sop_text_batch`].
    ///
    /// # Errors
    /// As [`Store::splice_sop_text_batch`].
    pub fn splice_sop_text(
        &self,
        id: &DocId,
        node: &str,
        locale: &str,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<TextEdit> {
        let splice = Splice {
            pos,
            delete,
            insert: insert.to_string(),
        };
        self.splice_sop_text_batch(id, node, locale, std::slice::from_ref(&splice))
    }

    /// Applies `splices` in order to the text of one node in one locale, as one Automerge
    /// change and one write: an editor that persists every N keystrokes sends them here.
    ///
    /// A keystroke costs the window the redactor reads around it plus one change, whatever the
    /// text's length: the text is never read whole, the SOP is not materialized or re-validated,
    /// and its projection row is rewritten only when the edit can change it (a reviewed or
    /// published SOP going back to `draft`, or the master-locale text becoming blank or
    /// non-blank); otherwise only the row's `updated_at` moves. Card data typed into the text
    /// is masked in place (see the returned [`TextEdit::redacted`]). The text may become empty.
    /// Use [`Store::set_sop_text`] to replace a text whole.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown SOP or node; [`Error::Invalid`] for a bad locale or a
    /// position or deletion past the end of the text (nothing is written then);
    /// [`Error::Transition`] for a retired SOP.
    pub fn splice_sop_text_batch(
        &self,
        id: &DocId,
        node: &str,
        locale: &str,
        splices: &[Splice],
    ) -> Result<TextEdit> {
        if locale.is_empty() || locale.len() > 16 {
            return Err(Error::invalid(
                "locale",
                "use a language tag such as es or pt-BR",
            ));
        }
        self.write("sop.edit", Origin::Local, |w| {
            let (node_map, before) = {
                let doc = w.get(id, DocKind::Sop)?;
                let r = Reader::new(doc, None);
                let status = r
                    .str(&ObjId::Root, "status")
                    .and_then(|s| SopStatus::parse(&s))
                    .unwrap_or(SopStatus::Draft);
                if status == SopStatus::Retired {
                    return Err(Error::Transition {
                        what: format!("sop {id}"),
                        from: "retired".into(),
                        to: "draft".into(),
                        reason: "a retired sop cannot be edited".into(),
                    });
                }
                let n = r
                    .map(&ObjId::Root, "nodes")
                    .and_then(|nodes| r.map(&nodes, node))
                    .ok_or_else(|| Error::not_found("sop node", node))?;
                let master = r.str(&ObjId::Root, "master_locale").unwrap_or_default();
                let text = r.map(&n, "text");
                let blank = (master == locale).then(|| node_text_blank(&r, text.as_ref(), locale));
                (n, (status, blank))
            };
            let path = format!("nodes.{node}.text.{locale}");
            // One change for the batch, except that a splice the redactor has to rewrite
            // starts a change of its own (see `DocTx::splice_text_unless_redacted`).
            let mut done = 0;
            let mut out = Spliced {
                len: 0,
                redacted: false,
            };
            let mut after;
            loop {
                let (next, last, blank) = w.edit(id, DocKind::Sop, |dt| {
                    let t = dt.map(&node_map, "text")?;
                    let mut last = None;
                    let mut i = done;
                    while let Some(s) = splices.get(i) {
                        match dt.splice_text_unless_redacted(&t, locale, &path, s, i > done)? {
                            Some(one) => last = Some(one),
                            None => break,
                        }
                        i += 1;
                    }
                    if splices.is_empty() {
                        let len = dt
                            .read()
                            .get(&t, locale)
                            .map_or(0, |(_, o)| dt.doc().length(&o));
                        last = Some(Spliced {
                            len,
                            redacted: false,
                        });
                    }
                    back_to_draft(dt)?;
                    let r = dt.read();
                    let blank = before.1.map(|_| node_text_blank(&r, Some(&t), locale));
                    Ok((i, last, blank))
                })?;
                if let Some(last) = last {
                    out = Spliced {
                        len: last.len,
                        redacted: out.redacted || last.redacted,
                    };
                }
                after = blank;
                if next >= splices.len() {
                    break;
                }
                done = next;
            }
            let (len, redacted) = (out.len, out.redacted);
            // Only the status and the master-locale text's blankness (a violation) reach the
            // projection row from a node text; when neither moved, the row keeps its values.
            if before.0 == SopStatus::Draft && before.1 == after {
                w.keep_projection(id);
            }
            let heads = w.held(id)?.0.get_heads();
            Ok(TextEdit {
                length: len as u64,
                redacted,
                heads,
            })
        })
    }

    /// Adds or replaces one node (kind, text, answers, rules, next, action, outcome).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad node id.
    pub fn upsert_sop_node(&self, id: &DocId, node_id: &str, node: &Node) -> Result<Sop> {
        self.edit_sop(id, "sop.edit", |dt| {
            let nodes = dt.map(&ObjId::Root, "nodes")?;
            write_node(dt, &nodes, node_id, node)
        })
    }

    /// Removes a node. Links to it become dangling and are reported until fixed.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown node.
    pub fn remove_sop_node(&self, id: &DocId, node_id: &str) -> Result<Sop> {
        self.edit_sop(id, "sop.edit", |dt| {
            let nodes = dt.map(&ObjId::Root, "nodes")?;
            if dt.read().get(&nodes, node_id).is_none() {
                return Err(Error::not_found("sop node", node_id));
            }
            dt.delete(&nodes, node_id)
        })
    }

    fn edit_sop(
        &self,
        id: &DocId,
        op: &str,
        f: impl FnOnce(&mut DocTx<'_>) -> Result<()>,
    ) -> Result<Sop> {
        self.write(op, Origin::Local, |w| {
            let status = materialize(*id, w.get(id, DocKind::Sop)?, None).status;
            if status == SopStatus::Retired {
                return Err(Error::Transition {
                    what: format!("sop {id}"),
                    from: "retired".into(),
                    to: "draft".into(),
                    reason: "a retired sop cannot be edited".into(),
                });
            }
            w.edit(id, DocKind::Sop, |dt| {
                f(dt)?;
                back_to_draft(dt)
            })
        })?;
        self.sop(id)
    }

    /// Checks the draft's invariants, including its own test fixtures.
    ///
    /// # Errors
    /// [`Error::NotFound`] or [`Error::WrongKind`].
    pub fn validate_sop(&self, id: &DocId) -> Result<Vec<Violation>> {
        let doc = self.load_kind(id, DocKind::Sop)?;
        Ok(validate::validate(&read_definition(&Reader::new(
            &*doc, None,
        ))))
    }

    /// Sends a draft for review.
    ///
    /// # Errors
    /// [`Error::Transition`] unless the SOP is a draft.
    pub fn submit_sop(&self, id: &DocId) -> Result<Sop> {
        self.set_sop_status(id, "sop.submit", SopStatus::InReview, &[SopStatus::Draft])
    }

    /// Retires an SOP: it stays readable but can no longer be edited or walked as current.
    ///
    /// # Errors
    /// [`Error::Transition`] if already retired.
    pub fn retire_sop(&self, id: &DocId) -> Result<Sop> {
        self.set_sop_status(
            id,
            "sop.retire",
            SopStatus::Retired,
            &[SopStatus::Draft, SopStatus::InReview, SopStatus::Published],
        )
    }

    fn set_sop_status(
        &self,
        id: &DocId,
        op: &str,
        to: SopStatus,
        from: &[SopStatus],
    ) -> Result<Sop> {
        self.write(op, Origin::Local, |w| {
            let current = materialize(*id, w.get(id, DocKind::Sop)?, None).status;
            if !from.contains(&current) {
                return Err(Error::Transition {
                    what: format!("sop {id}"),
                    from: current.as_str().into(),
                    to: to.as_str().into(),
                    reason: format!(
                        "only from {}",
                        from.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                });
            }
            w.edit(id, DocKind::Sop, |dt| {
                dt.put(&ObjId::Root, "status", to.as_str())?;
                dt.event(
                    "status_changed",
                    &format!("{} -> {}", current.as_str(), to.as_str()),
                    "internal",
                )
            })
        })?;
        self.sop(id)
    }

    /// Publishes the reviewed draft as a new version, approved by this store's author.
    ///
    /// # Errors
    /// [`Error::Transition`] unless `in_review`; [`Error::SopInvalid`] when an invariant is
    /// broken (each violation names its node); [`Error::FourEyes`] when the approver authored
    /// any change since the last published version.
    pub fn publish_sop(&self, id: &DocId) -> Result<Sop> {
        let approver = self.author().to_string();
        self.write("sop.publish", Origin::Local, |w| {
            let doc = w.get(id, DocKind::Sop)?;
            let sop = materialize(*id, doc, None);
            if sop.status != SopStatus::InReview {
                return Err(Error::Transition {
                    what: format!("sop {id}"),
                    from: sop.status.as_str().into(),
                    to: "published".into(),
                    reason: "submit it for review first (dossier sop submit)".into(),
                });
            }
            if !sop.violations.is_empty() {
                return Err(Error::SopInvalid {
                    id: *id,
                    violations: sop.violations,
                });
            }
            let since = match sop.versions.last() {
                Some(v) => v.change_hashes()?,
                None => Vec::new(),
            };
            let authors = Store::authors_since(doc, &since, NON_AUTHORING_OPS);
            if authors.contains_key(&approver) {
                return Err(Error::FourEyes { approver });
            }
            let heads = doc.get_heads();
            let next = sop.versions.len() as i64 + 1;
            w.edit(id, DocKind::Sop, |dt| {
                version::publish(dt, &heads, next)?;
                dt.put(&ObjId::Root, "status", SopStatus::Published.as_str())?;
                dt.event("published", &format!("version {next}"), "internal")
            })
        })?;
        self.sop(id)
    }

    /// Walks a published version (the latest when `version` is `None`) with `inputs`: answers
    /// (by id or label, any locale) and `name=value` bindings for logic rules.
    ///
    /// # Errors
    /// [`Error::NotFound`] when never published; [`Error::Walk`] when an input matches no answer.
    pub fn walk_sop(
        &self,
        id: &DocId,
        version: Option<i64>,
        inputs: &[String],
    ) -> Result<(i64, WalkResult)> {
        let (v, def) = self.sop_version(id, version)?;
        let r = walk::walk(&def, inputs).map_err(|e| Error::Walk(e.to_string()))?;
        Ok((v, r))
    }

    /// Walks the latest published version for a case and records the run (path, exit node,
    /// outcome — `incomplete` when the inputs ran out) on the case, for drop-off reports.
    /// Refuses a case of a market the SOP does not cover; see [`Store::record_sop_run_with`].
    ///
    /// # Errors
    /// As [`Store::record_sop_run_with`] with the default options.
    pub fn record_sop_run(&self, case: &str, sop: &DocId, inputs: &[String]) -> Result<WalkResult> {
        self.record_sop_run_with(case, sop, inputs, SopRunOptions::default())
    }

    /// As [`Store::record_sop_run`], with options. An SOP with no markets covers every market.
    /// With `any_market`, a run on a case of another market is recorded, and the run and its
    /// event say so (`market_override`).
    ///
    /// # Errors
    /// As [`Store::walk_sop`], plus [`Error::CaseClosed`], and [`Error::SopMarket`] when the
    /// published version does not cover the case's market and `any_market` is not set.
    pub fn record_sop_run_with(
        &self,
        case: &str,
        sop: &DocId,
        inputs: &[String],
        options: SopRunOptions,
    ) -> Result<WalkResult> {
        let case_id = self.resolve_case(case)?;
        let (version, def) = self.sop_version(sop, None)?;
        let result = walk::walk(&def, inputs).map_err(|e| Error::Walk(e.to_string()))?;
        let exit = result
            .end
            .clone()
            .or_else(|| result.pending.clone())
            .or_else(|| result.path.last().cloned())
            .unwrap_or_default();
        let outcome = match (&result.end, &result.outcome) {
            (Some(_), Some(o)) => o.result.as_str().to_string(),
            (Some(_), None) => "unknown".into(),
            (None, _) => "incomplete".into(),
        };
        self.write("case.sop_run", Origin::Local, |w| {
            edit_open_case(w, &case_id, |dt, case| {
                let covered = def.markets.is_empty() || def.markets.contains(&case.market);
                if !covered && !options.any_market {
                    return Err(Error::SopMarket {
                        title: def.title.clone(),
                        markets: def.markets.clone(),
                        case: case.number.clone(),
                        market: case.market.clone(),
                    });
                }
                let list = dt.list(&ObjId::Root, "sop_runs")?;
                let m = dt.push_map(&list)?;
                let (by, at) = (dt.meta.author.clone(), dt.meta.at);
                dt.put(&m, "sop", sop.to_string().as_str())?;
                dt.put(&m, "version", version)?;
                let p = dt.list(&m, "path")?;
                for n in &result.path {
                    dt.push_str(&p, "sop_runs.path", n)?;
                }
                dt.put_str(&m, "exit_node", "sop_runs.exit_node", &exit)?;
                dt.put(&m, "outcome", outcome.as_str())?;
                dt.put(&m, "at", at)?;
                dt.put(&m, "by", by.as_str())?;
                let mut body = format!("sop v{version} ended at {exit} ({outcome})");
                if !covered {
                    // The override is part of the record: a report can tell runs an agent
                    // forced onto another market from ordinary ones.
                    dt.put(&m, "market_override", case.market.as_str())?;
                    body.push_str(&format!(
                        "; market {} not covered by the sop ({}), recorded by override",
                        case.market,
                        def.markets.join(", ")
                    ));
                }
                dt.event("sop_run", &body, "internal")
            })
        })?;
        Ok(result)
    }

    /// SOPs from the projection, by title, without loading documents.
    ///
    /// # Errors
    /// Storage errors only.
    pub fn list_sops(&self) -> Result<Vec<SopSummary>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, title, status, published_version, violations FROM sops ORDER BY title, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, title, status, published_version, violations) = row?;
                out.push(SopSummary {
                    id: id.parse()?,
                    title,
                    status,
                    published_version,
                    violations,
                });
            }
            Ok(out)
        })
    }
}

/// Options of [`Store::record_sop_run_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SopRunOptions {
    /// Record the run even when the SOP does not cover the case's market.
    pub any_market: bool,
}

impl SopRunOptions {
    /// Options that record a run whatever the case's market.
    pub fn any_market() -> Self {
        SopRunOptions { any_market: true }
    }
}

/// Rewrites an SOP's projection row.
pub(crate) fn project(
    tx: &rusqlite::Transaction<'_>,
    id: &DocId,
    doc: &automerge::Automerge,
    updated_at: i64,
) -> Result<()> {
    let s = materialize(*id, doc, None);
    tx.execute(
        "INSERT OR REPLACE INTO sops(id, title, status, master_locale, markets, node_count, \
         published_version, violations, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id.to_string(),
            s.definition.title,
            s.status.as_str(),
            s.definition.master_locale,
            s.definition.markets.join(","),
            s.definition.nodes.len() as i64,
            s.published_version(),
            s.violations.len() as i64,
            updated_at,
        ],
    )?;
    Ok(())
}

/// The SOP kind's [`crate::projection::Projector`].
pub(crate) struct SopProjector;

impl crate::projection::Projector for SopProjector {
    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[("sops", "id")]
    }

    fn project(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &DocId,
        doc: &automerge::Automerge,
        updated_at: i64,
    ) -> Result<Option<crate::projection::View>> {
        project(tx, id, doc, updated_at).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    const SOP: &str = include_str!("sop/testdata/upi_debited_not_credited.json");

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(
            dir.path().join("t.db"),
            StoreOptions {
                site: Some("IN1".into()),
                author: Some("priya".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn node_text(s: &Store, id: &DocId, node: &str, locale: &str) -> String {
        s.sop(id).unwrap().definition.nodes[node].text[locale].clone()
    }

    fn projection_row(s: &Store, id: &DocId) -> (String, i64, i64) {
        s.read(|c| {
            Ok(c.query_row(
                "SELECT status, violations, updated_at FROM sops WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap()
    }

    #[test]
    fn splice_inserts_and_deletes_at_a_character_position() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        let before = node_text(&s, &sop.id, "start", "en");
        let at = before.find("debited").unwrap();
        let edit = s
            .splice_sop_text(&sop.id, "start", "en", at, 7, "charged")
            .unwrap();
        let after = node_text(&s, &sop.id, "start", "en");
        assert_eq!(after, before.replace("debited", "charged"));
        assert_eq!(edit.length, after.chars().count() as u64);
        assert!(!edit.redacted);
        assert_eq!(edit.heads, s.heads(&sop.id).unwrap());
    }

    #[test]
    fn splice_positions_count_unicode_scalar_values_not_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        s.set_sop_text(&sop.id, "start", "hi", "₹10 मुआवज़ा 🙂 दें")
            .unwrap();
        // After "₹10 " (4 chars, 6 bytes) and before the emoji (one char, four bytes).
        s.splice_sop_text(&sop.id, "start", "hi", 4, 0, "«")
            .unwrap();
        let edit = s
            .splice_sop_text(&sop.id, "start", "hi", 13, 1, "😀")
            .unwrap();
        let text = node_text(&s, &sop.id, "start", "hi");
        assert_eq!(text, "₹10 «मुआवज़ा 😀 दें");
        assert_eq!(edit.length, text.chars().count() as u64);
    }

    #[test]
    fn splice_past_the_end_is_a_typed_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        let heads = s.heads(&sop.id).unwrap();
        let len = node_text(&s, &sop.id, "start", "en").chars().count();
        for (pos, delete) in [
            (len + 1, 0),
            (len, 1),
            (0, len + 1),
            (usize::MAX, 0),
            (1, usize::MAX),
        ] {
            let e = s
                .splice_sop_text(&sop.id, "start", "en", pos, delete, "x")
                .unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{pos} {delete}: {e}");
        }
        let e = s
            .splice_sop_text(&sop.id, "nowhere", "en", 0, 0, "x")
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        assert_eq!(s.heads(&sop.id).unwrap(), heads);
    }

    #[test]
    fn splice_may_empty_a_text_and_type_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        let len = node_text(&s, &sop.id, "start", "en").chars().count();
        let edit = s
            .splice_sop_text(&sop.id, "start", "en", 0, len, "")
            .unwrap();
        assert_eq!(edit.length, 0);
        let empty = s.sop(&sop.id).unwrap();
        assert!(
            empty.violations.iter().any(|v| v.contains("start")),
            "{:?}",
            empty.violations
        );
        // The projection counts the new violation although the splice skipped nothing it shows.
        assert_eq!(projection_row(&s, &sop.id).1, empty.violations.len() as i64);
        for (i, c) in "Debited?".chars().enumerate() {
            s.splice_sop_text(&sop.id, "start", "en", i, 0, &c.to_string())
                .unwrap();
        }
        assert_eq!(node_text(&s, &sop.id, "start", "en"), "Debited?");
        assert_eq!(projection_row(&s, &sop.id).1, 0);
        assert!(s.check_integrity().unwrap().is_empty());
    }

    #[test]
    fn a_splice_into_a_new_locale_creates_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        s.splice_sop_text(&sop.id, "start", "pt-BR", 0, 0, "Foi debitado?")
            .unwrap();
        assert_eq!(node_text(&s, &sop.id, "start", "pt-BR"), "Foi debitado?");
    }

    #[test]
    fn a_splice_keeps_the_projection_true_and_sends_a_reviewed_sop_back_to_draft() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        s.submit_sop(&sop.id).unwrap();
        s.splice_sop_text(&sop.id, "start", "en", 0, 0, "¿")
            .unwrap();
        assert_eq!(projection_row(&s, &sop.id).0, "draft");
        assert_eq!(s.sop(&sop.id).unwrap().status, SopStatus::Draft);
        let (_, _, at) = projection_row(&s, &sop.id);
        s.splice_sop_text(&sop.id, "start", "en", 1, 0, "x")
            .unwrap();
        let updated: i64 = s
            .read(|c| {
                Ok(c.query_row(
                    "SELECT updated_at FROM docs WHERE id = ?1",
                    [sop.id.to_string()],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert!(projection_row(&s, &sop.id).2 >= at);
        assert_eq!(projection_row(&s, &sop.id).2, updated);
        assert!(s.check_integrity().unwrap().is_empty());
    }

    #[test]
    fn a_retired_sop_refuses_splices() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        s.retire_sop(&sop.id).unwrap();
        let e = s
            .splice_sop_text(&sop.id, "start", "en", 0, 0, "x")
            .unwrap_err();
        assert!(matches!(e, Error::Transition { .. }), "{e}");
    }

    #[test]
    fn a_card_number_typed_one_key_at_a_time_is_masked_by_the_key_that_completes_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        s.set_sop_text(&sop.id, "start", "en", "Card  was debited?")
            .unwrap();
        let mut redacted = false;
        for (i, c) in "4111 1111 1111 1111".chars().enumerate() {
            let e = s
                .splice_sop_text(&sop.id, "start", "en", 5 + i, 0, &c.to_string())
                .unwrap();
            redacted |= e.redacted;
        }
        assert!(redacted);
        let text = node_text(&s, &sop.id, "start", "en");
        assert_eq!(text, "Card 411111******1111 was debited?");
        let doc = s.load(&sop.id).unwrap().0;
        let r = Reader::new(&*doc, None);
        let events: Vec<String> = r
            .list_maps(&ObjId::Root, "events")
            .iter()
            .filter_map(|m| r.str(m, "body"))
            .collect();
        assert!(
            events
                .iter()
                .any(|b| b == "card_number removed from nodes.start.text.en"),
            "{events:?}"
        );
    }

    #[test]
    fn batch_splices_make_one_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let sop = s.import_sop_json(SOP, "upi.json").unwrap();
        let before = s.heads(&sop.id).unwrap();
        let splices: Vec<Splice> = "Yes"
            .chars()
            .enumerate()
            .map(|(i, c)| Splice {
                pos: i,
                delete: 0,
                insert: c.to_string(),
            })
            .collect();
        let edit = s
            .splice_sop_text_batch(&sop.id, "start", "en", &splices)
            .unwrap();
        let doc = s.load(&sop.id).unwrap().0;
        assert_eq!(doc.get_changes(&before).len(), 1);
        assert!(node_text(&s, &sop.id, "start", "en").starts_with("YesWas"));
        assert_eq!(edit.heads, doc.get_heads());
    }
}
