//! Reading and writing Automerge documents, with redaction on the only write path.
//!
//! Every string that enters a document goes through [`DocTx`], which runs the redactor first
//! (DESIGN §5). There is no other way for the rest of the crate to put a value into a document:
//! the Automerge transaction is private to this module. Reads go through [`Reader`], which can
//! read the current state or the state at any earlier heads with the same code.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::{self, FindingKind};

/// Who made a change and why, stored as the Automerge change message (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChangeMeta {
    pub site: String,
    pub author: String,
    /// What kind of change: `case.create`, `case.update`, `sop.edit`, ...
    pub op: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

impl ChangeMeta {
    pub fn parse(message: Option<&str>) -> Option<ChangeMeta> {
        message.and_then(|m| serde_json::from_str(m).ok())
    }
}

/// A write in progress on one document. Dropping it without [`DocTx::commit`] rolls it back.
pub(crate) struct DocTx<'a> {
    tx: Transaction<'a>,
    redactions: Vec<(String, FindingKind)>,
    pub meta: ChangeMeta,
}

impl<'a> DocTx<'a> {
    pub fn new(doc: &'a mut automerge::Automerge, meta: ChangeMeta) -> Self {
        DocTx {
            tx: doc.transaction(),
            redactions: Vec::new(),
            meta,
        }
    }

    /// Reads the document as this transaction sees it.
    pub fn read(&self) -> Reader<'_, Transaction<'a>> {
        Reader::new(&self.tx, None)
    }

    /// The document as this transaction sees it, for whole-document views.
    pub fn doc(&self) -> &Transaction<'a> {
        &self.tx
    }

    fn clean<'s>(&mut self, path: &str, value: &'s str) -> Cow<'s, str> {
        let r = redact::redact(value);
        if r.findings.is_empty() {
            return Cow::Borrowed(value);
        }
        for f in r.findings {
            self.redactions.push((path.to_string(), f.kind));
        }
        Cow::Owned(r.text)
    }

    /// A map key that came from a user (a tag, a field name) is redacted like a value.
    ///
    /// Every method below that takes a map key redacts it itself, so no caller can store a key
    /// unredacted; this is for callers that need the stored form of the key back (to read it
    /// or to name it in an event).
    pub fn key(&mut self, path: &str, key: &str) -> String {
        self.clean(path, key).into_owned()
    }

    /// A property as it may be stored: map keys pass the redactor (a card number pasted as an
    /// SLA metric, a field name or a tag is history for ever, exactly like a value); list
    /// positions are numbers and pass as they are.
    fn prop(&mut self, path: &str, prop: impl Into<Prop>) -> Prop {
        match prop.into() {
            Prop::Map(k) => match self.clean(path, &k) {
                Cow::Borrowed(_) => Prop::Map(k),
                Cow::Owned(clean) => Prop::Map(clean),
            },
            seq => seq,
        }
    }

    pub fn put_str(
        &mut self,
        obj: &ObjId,
        prop: impl Into<Prop>,
        path: &str,
        v: &str,
    ) -> Result<()> {
        let prop = self.prop(path, prop);
        let v = self.clean(path, v);
        self.tx.put(obj, prop, v.as_ref())?;
        Ok(())
    }

    /// Puts a payment reference, kept verbatim when it has the rail's own format (a UPI RRN, a
    /// Pix EndToEndId) even if its digits happen to pass Luhn; redacted like any text otherwise.
    pub fn put_payment_ref(
        &mut self,
        obj: &ObjId,
        prop: &str,
        rail: Option<&str>,
        path: &str,
        v: &str,
    ) -> Result<()> {
        if redact::is_payment_reference(rail, v) {
            let prop = self.prop(path, prop);
            self.tx.put(obj, prop, v)?;
            Ok(())
        } else {
            self.put_str(obj, prop, path, v)
        }
    }

    pub fn put_opt_str(
        &mut self,
        obj: &ObjId,
        prop: &str,
        path: &str,
        v: Option<&str>,
    ) -> Result<()> {
        match v {
            Some(v) => self.put_str(obj, prop, path, v),
            None => self.put(obj, prop, ScalarValue::Null),
        }
    }

    /// Puts a value that is not free text (numbers, booleans, enum names chosen by code).
    pub fn put(
        &mut self,
        obj: &ObjId,
        prop: impl Into<Prop>,
        v: impl Into<ScalarValue>,
    ) -> Result<()> {
        let v = v.into();
        if let ScalarValue::Str(s) = &v {
            // Even code-chosen strings pass the redactor: it is cheap, and "no bypass" must hold
            // without having to audit every caller.
            let s = s.to_string();
            return self.put_str(obj, prop, "value", &s);
        }
        let prop = self.prop("key", prop);
        self.tx.put(obj, prop, v)?;
        Ok(())
    }

    pub fn delete(&mut self, obj: &ObjId, prop: impl Into<Prop>) -> Result<()> {
        // A delete op names its key in the change, so the key is redacted too (and thereby
        // deletes the entry that was stored under the redacted key).
        let prop = self.prop("key", prop);
        self.tx.delete(obj, prop)?;
        Ok(())
    }

    /// Sets collaborative text, creating the Text object when absent. Only the difference is
    /// written, so concurrent edits elsewhere in the same text merge character by character.
    pub fn text(&mut self, obj: &ObjId, prop: &str, path: &str, v: &str) -> Result<()> {
        let prop = self.prop(path, prop);
        let v = self.clean(path, v).into_owned();
        let existing = match self.tx.get(obj, prop.clone())? {
            Some((Value::Object(ObjType::Text), id)) => Some(id),
            _ => None,
        };
        let id = match existing {
            Some(id) => id,
            None => self.tx.put_object(obj, prop, ObjType::Text)?,
        };
        self.tx.update_text(&id, v)?;
        Ok(())
    }

    /// Inserts and deletes characters at `pos` of the collaborative text at `prop` as one
    /// Automerge splice, creating the Text object when absent (a plain string left by an older
    /// version becomes Text first). Positions and counts are Unicode scalar values (`char`s),
    /// which is what Automerge 0.12 counts in without its `utf8-indexing`/`utf16-indexing`
    /// features.
    ///
    /// Redaction without reading the whole text: the inserted text is judged together with the
    /// characters around the splice (see [`splice_window`]), so a card number typed one
    /// character at a time is caught by the keystroke that completes it, whether the earlier
    /// digits sit before or after it. When that window holds card data the splice still
    /// happens, but with the window as the redactor returns it: the offending run is masked in
    /// place (the digits typed earlier are deleted, the completing digit is never written) and
    /// the usual `redaction` event names the kind and `path`. This is what [`DocTx::text`] does
    /// to whole values, and keeps a collaborative editor's edit flowing; the caller learns it
    /// from [`Spliced::redacted`] and re-reads the text.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `pos` or `pos + delete` is past the end of the text, or when
    /// `prop` holds something other than text.
    pub fn splice_text(
        &mut self,
        obj: &ObjId,
        prop: &str,
        path: &str,
        splice: &Splice,
    ) -> Result<Spliced> {
        Ok(self
            .splice_text_unless_redacted(obj, prop, path, splice, false)?
            .unwrap_or(Spliced {
                len: 0,
                redacted: true,
            }))
    }

    /// [`DocTx::splice_text`], but with `refuse_redaction` a splice that would have to be
    /// redacted writes nothing and returns `None`, so a batch can end its change first: the
    /// digits typed earlier in the same change would otherwise sit in one change next to
    /// the mask, where a peer's ingress check joins single-character inserts and finds a card.
    pub fn splice_text_unless_redacted(
        &mut self,
        obj: &ObjId,
        prop: &str,
        path: &str,
        splice: &Splice,
        refuse_redaction: bool,
    ) -> Result<Option<Spliced>> {
        let prop = self.prop(path, prop);
        let existing = match self.tx.get(obj, prop.clone())? {
            Some((Value::Object(ObjType::Text), id)) => Some(id),
            Some((Value::Scalar(s), _)) => match s.into_owned() {
                ScalarValue::Str(old) => {
                    let old = self.clean(path, &old).into_owned();
                    let id = self.tx.put_object(obj, prop.clone(), ObjType::Text)?;
                    self.tx.splice_text(&id, 0, 0, &old)?;
                    Some(id)
                }
                ScalarValue::Null => None,
                _ => return Err(Error::invalid(path, "holds a value that is not text")),
            },
            Some(_) => return Err(Error::invalid(path, "holds an object that is not text")),
            None => None,
        };
        let len = existing.as_ref().map_or(0, |id| self.tx.length(id));
        let Splice {
            pos,
            delete,
            ref insert,
        } = *splice;
        if pos > len {
            return Err(Error::invalid(
                "position",
                format!("{pos} is past the end of the text ({len} characters)"),
            ));
        }
        let end = pos
            .checked_add(delete)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                Error::invalid(
                    "delete",
                    format!(
                        "{delete} characters from position {pos} go past the end of the text \
                     ({len} characters)"
                    ),
                )
            })?;
        if delete == 0 && insert.is_empty() {
            return Ok(Some(Spliced {
                len,
                redacted: false,
            }));
        }
        let id = match existing {
            Some(id) => id,
            None => self.tx.put_object(obj, prop, ObjType::Text)?,
        };
        let (start, before, stop, after) = splice_context(&self.tx, &id, pos, end, len);
        let window = format!("{before}{insert}{after}");
        let r = redact::redact(&window);
        if r.findings.is_empty() {
            // `delete` fits in isize: it is at most the text's length.
            self.tx.splice_text(&id, pos, delete as isize, insert)?;
            return Ok(Some(Spliced {
                len: len - delete + insert.chars().count(),
                redacted: false,
            }));
        }
        if refuse_redaction {
            return Ok(None);
        }
        for f in r.findings {
            self.redactions.push((path.to_string(), f.kind));
        }
        // Replace the stored window [start, stop) by the redacted window, keeping the
        // characters the two share at either end (so a concurrent edit next to the card
        // survives, and the digits typed earlier are the ones deleted).
        let old: Vec<char> = before
            .chars()
            .chain(splice_chars(&self.tx, &id, pos, end))
            .chain(after.chars())
            .collect();
        let new: Vec<char> = r.text.chars().collect();
        let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
        let suffix = old[prefix..]
            .iter()
            .rev()
            .zip(new[prefix..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let replacement: String = new[prefix..new.len() - suffix].iter().collect();
        let removed = old.len() - prefix - suffix;
        self.tx
            .splice_text(&id, start + prefix, removed as isize, &replacement)?;
        debug_assert_eq!(stop - start, old.len());
        Ok(Some(Spliced {
            len: len - removed + (new.len() - prefix - suffix),
            redacted: true,
        }))
    }

    /// The map at `prop`, created when absent.
    pub fn map(&mut self, obj: &ObjId, prop: &str) -> Result<ObjId> {
        self.object(obj, prop, ObjType::Map)
    }

    /// The list at `prop`, created when absent.
    pub fn list(&mut self, obj: &ObjId, prop: &str) -> Result<ObjId> {
        self.object(obj, prop, ObjType::List)
    }

    /// A new empty map or list at `prop`, replacing whatever was there.
    pub fn new_object(&mut self, obj: &ObjId, prop: impl Into<Prop>, t: ObjType) -> Result<ObjId> {
        let prop = self.prop("key", prop);
        Ok(self.tx.put_object(obj, prop, t)?)
    }

    fn object(&mut self, obj: &ObjId, prop: &str, t: ObjType) -> Result<ObjId> {
        let prop = self.prop("key", prop);
        match self.tx.get(obj, prop.clone())? {
            Some((Value::Object(found), id)) if found == t => Ok(id),
            _ => Ok(self.tx.put_object(obj, prop, t)?),
        }
    }

    /// Appends a new map to an append-only list.
    pub fn push_map(&mut self, list: &ObjId) -> Result<ObjId> {
        let len = self.tx.length(list);
        Ok(self.tx.insert_object(list, len, ObjType::Map)?)
    }

    /// Appends a string to a list.
    pub fn push_str(&mut self, list: &ObjId, path: &str, v: &str) -> Result<()> {
        let v = self.clean(path, v).into_owned();
        let len = self.tx.length(list);
        self.tx.insert(list, len, v)?;
        Ok(())
    }

    /// Appends raw bytes to a list.
    pub fn push_bytes(&mut self, list: &ObjId, v: Vec<u8>) -> Result<()> {
        let len = self.tx.length(list);
        self.tx.insert(list, len, ScalarValue::Bytes(v))?;
        Ok(())
    }

    /// Replaces a list of strings whole.
    pub fn set_str_list(
        &mut self,
        obj: &ObjId,
        prop: &str,
        path: &str,
        items: &[String],
    ) -> Result<()> {
        let list = self.new_object(obj, prop, ObjType::List)?;
        for item in items {
            self.push_str(&list, path, item)?;
        }
        Ok(())
    }

    /// Appends an event to the document's `events` list.
    pub fn event(&mut self, kind: &str, body: &str, visibility: &str) -> Result<()> {
        let events = self.list(&ObjId::Root, "events")?;
        let ev = self.push_map(&events)?;
        let (by, at) = (self.meta.author.clone(), self.meta.at);
        self.put(&ev, "kind", kind)?;
        self.put_str(&ev, "body", "events.body", body)?;
        self.put(&ev, "visibility", visibility)?;
        self.put(&ev, "by", by.as_str())?;
        self.put(&ev, "at", at)?;
        Ok(())
    }

    /// Records one `redaction` event per redacted value (kind and place, never the value), then
    /// commits. Returns the new change's hash, or `None` when nothing changed.
    pub fn commit(mut self) -> Result<Option<ChangeHash>> {
        // The change message is part of the document's history too: the author is whatever a
        // host or `--author` said, and the op names a plugin. They pass the redactor like values.
        let meta = ChangeMeta {
            site: self.clean("site", &self.meta.site.clone()).into_owned(),
            author: self.clean("author", &self.meta.author.clone()).into_owned(),
            op: self.clean("op", &self.meta.op.clone()).into_owned(),
            at: self.meta.at,
        };
        let redactions = std::mem::take(&mut self.redactions);
        for (path, kind) in &redactions {
            let body = format!("{} removed from {}", kind.as_str(), path);
            self.event("redaction", &body, "internal")?;
        }
        let message = serde_json::to_string(&meta)
            .map_err(|e| Error::invalid("change message", e.to_string()))?;
        let (hash, _) = self.tx.commit_with(
            CommitOptions::default()
                .with_message(message)
                .with_time(self.meta.at / 1000),
        );
        Ok(hash)
    }
}

/// One edit of a text: delete `delete` characters at `pos`, then insert `insert` there.
/// Positions and counts are Unicode scalar values (Rust `char`s), not bytes or UTF-16 units.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Splice {
    /// Where the edit starts, in characters from the start of the text.
    pub pos: usize,
    /// How many characters to delete at `pos`.
    pub delete: usize,
    /// The text to insert at `pos` (redacted first, with the characters around it).
    pub insert: String,
}

/// What a text splice left behind: enough for an editor to carry on without re-reading the
/// document (which is the point of splicing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextEdit {
    /// The text's length afterwards, in Unicode scalar values.
    pub length: u64,
    /// Whether card data was masked: the stored text then differs from what the splices
    /// asked for, and an editor showing it must re-read it.
    pub redacted: bool,
    /// The document's heads after the change.
    pub heads: Vec<ChangeHash>,
}

/// What [`DocTx::splice_text`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spliced {
    /// The text's length afterwards, in characters.
    pub len: usize,
    /// Whether card data had to be masked: the text differs from a plain splice, so an
    /// editor showing it must re-read it.
    pub redacted: bool,
}

/// Characters of context read on each side of a splice before looking for a token boundary:
/// the longest card number the redactor knows, 19 digits in groups with 18 separators, is 37
/// characters, and a security-code keyword ("código de segurança") with its code fits too.
const SPLICE_CONTEXT: usize = 40;
/// Past this, the window stops growing even inside one long token (a pasted base64 blob), so a
/// keystroke's cost stays bounded. Digit runs longer than 19 are never cards, so a card can
/// only be missed inside a run of non-space characters longer than this.
const SPLICE_CONTEXT_MAX: usize = 320;
/// How far the window grows at a time while looking for whitespace.
const SPLICE_CONTEXT_STEP: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Before,
    After,
}

/// The characters in `[from, to)` of a text object.
fn splice_chars(
    doc: &impl ReadDoc,
    id: &ObjId,
    from: usize,
    to: usize,
) -> impl Iterator<Item = char> {
    let mut s = String::new();
    if from < to {
        for item in doc.list_range(id, from..to) {
            if let automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(c)) = item.value {
                s.push_str(&c);
            }
        }
    }
    s.chars().collect::<Vec<_>>().into_iter()
}

/// Both sides of a splice's context (see [`splice_window`]) with one read of the text in the
/// usual case, where whitespace lies a little past the minimum on each side: Automerge seeks
/// to a position once per read, and that seek is what a keystroke mostly costs. Returns the
/// window's start, the characters before `pos`, the window's end and the characters after
/// `end`.
fn splice_context(
    doc: &impl ReadDoc,
    id: &ObjId,
    pos: usize,
    end: usize,
    len: usize,
) -> (usize, String, usize, String) {
    let reach = SPLICE_CONTEXT + SPLICE_CONTEXT_STEP;
    let lo = pos.saturating_sub(reach);
    let hi = end.saturating_add(reach).min(len);
    let chars: Vec<char> = splice_chars(doc, id, lo, hi).collect();
    if chars.len() != hi - lo {
        // Not one char per element: let the slow path count for itself.
        let (start, before) = splice_window(doc, id, pos, len, Side::Before);
        let (stop, after) = splice_window(doc, id, end, len, Side::After);
        return (start, before, stop, after);
    }
    let (head, rest) = chars.split_at(pos - lo);
    let tail = &rest[end - pos..];
    let before = if lo == 0 {
        Some((0, head.iter().collect::<String>()))
    } else {
        let outer = head.len().saturating_sub(SPLICE_CONTEXT);
        head[..outer]
            .iter()
            .rposition(|c| c.is_whitespace())
            .map(|i| (lo + i + 1, head[i + 1..].iter().collect::<String>()))
    };
    let after = if hi == len {
        Some((len, tail.iter().collect::<String>()))
    } else {
        tail.iter()
            .skip(SPLICE_CONTEXT)
            .position(|c| c.is_whitespace())
            .map(|i| {
                let cut = SPLICE_CONTEXT + i;
                (end + cut, tail[..cut].iter().collect::<String>())
            })
    };
    let (start, before) = before.unwrap_or_else(|| splice_window(doc, id, pos, len, Side::Before));
    let (stop, after) = after.unwrap_or_else(|| splice_window(doc, id, end, len, Side::After));
    (start, before, stop, after)
}

/// The context a splice at `at` is judged with, on one side: at least [`SPLICE_CONTEXT`]
/// characters (or up to the text's edge), grown until it begins (or ends) just after
/// (before) whitespace, so that it never cuts a digit run, a URL or a `+` phone prefix in
/// two — the redactor judges those whole — but never past [`SPLICE_CONTEXT_MAX`]. Returns
/// where the window starts (for `Before`) or ends (for `After`), and its characters.
fn splice_window(
    doc: &impl ReadDoc,
    id: &ObjId,
    at: usize,
    len: usize,
    side: Side,
) -> (usize, String) {
    let mut chars: Vec<char> = Vec::new();
    let mut step = SPLICE_CONTEXT;
    loop {
        let read = chars.len();
        let (from, to) = match side {
            Side::Before => (at.saturating_sub(read + step), at - read),
            Side::After => (at + read, (at + read + step).min(len)),
        };
        let chunk: Vec<char> = splice_chars(doc, id, from, to).collect();
        let at_edge = match side {
            Side::Before => from == 0,
            Side::After => to == len,
        };
        let grown = read + chunk.len();
        // Once past the minimum, cut at the whitespace nearest the minimum that the new
        // chunk holds.
        let cut = if read >= SPLICE_CONTEXT || grown >= SPLICE_CONTEXT {
            let skip = SPLICE_CONTEXT.saturating_sub(read);
            match side {
                Side::Before => chunk
                    .iter()
                    .rev()
                    .skip(skip)
                    .position(|c| c.is_whitespace())
                    .map(|i| chunk.len() - skip - i - 1),
                Side::After => chunk
                    .iter()
                    .skip(skip)
                    .position(|c| c.is_whitespace())
                    .map(|i| skip + i),
            }
        } else {
            None
        };
        match side {
            Side::Before => {
                let keep = cut.map_or(0, |c| c + 1);
                let mut joined = chunk[keep..].to_vec();
                joined.extend_from_slice(&chars);
                chars = joined;
            }
            Side::After => chars.extend_from_slice(&chunk[..cut.unwrap_or(chunk.len())]),
        }
        if cut.is_some() || at_edge || chars.len() >= SPLICE_CONTEXT_MAX {
            break;
        }
        step = SPLICE_CONTEXT_STEP;
    }
    let bound = match side {
        Side::Before => at - chars.len(),
        Side::After => at + chars.len(),
    };
    (bound, chars.into_iter().collect())
}

/// Read access to a document, now or at earlier heads.
///
/// Reads are lenient: a missing field or a value of an unexpected type reads as absent, because
/// a document may come from another replica running another version; what is required is
/// checked by the kind-specific code that materializes views.
///
/// **Maps made at two sites at once are read as one.** A nested map made on first use
/// (`payment`, `dispute`, `sla.<metric>`, `required`…) can be made concurrently by two sites,
/// each writing its own detail into its own copy. Automerge then keeps both maps under the key
/// and shows one; read naively, what the other site wrote would be lost without a trace. So
/// when a key holds several maps, the reader remembers the ones the winner hides and looks
/// through them: `keys` is their union, and `get` and `all` fall back to them for a field the
/// winner lacks. A field that both maps hold reads as the winner's, as any later write does
/// (telling a concurrent value there from one the winner's writer had seen needs the change
/// graph, and is not done yet). Nothing is written to do this, so every replica reads the same.
pub(crate) struct Reader<'a, D: ReadDoc> {
    doc: &'a D,
    heads: Option<&'a [ChangeHash]>,
    /// For a map that won its key over maps made concurrently, the maps it hides, in
    /// Automerge's order (the winner would come last).
    hidden: RefCell<HashMap<ObjId, Vec<ObjId>>>,
    /// Maps read whole in one pass ([`Reader::prefetch`]).
    whole: RefCell<HashMap<ObjId, WholeMap>>,
}

/// A map read in one pass: every key, and the value of each key that has exactly one.
///
/// Automerge 0.12 finds a map key by seeking through the object's operation columns; a view
/// that reads most keys of a map (a case's root, an event) pays that seek per key. One
/// `map_range` pass reads them all for about the price of two seeks. A key with concurrent
/// values is listed but not kept: reading it asks the document, as without the pass.
#[derive(Default)]
struct WholeMap {
    keys: Vec<String>,
    single: HashMap<String, (Value<'static>, ObjId)>,
}

impl<'a, D: ReadDoc> Reader<'a, D> {
    pub fn new(doc: &'a D, heads: Option<&'a [ChangeHash]>) -> Self {
        Reader {
            doc,
            heads,
            hidden: RefCell::default(),
            whole: RefCell::default(),
        }
    }

    /// Reads map `obj` whole, in one pass, for the reads of its keys that follow. For a view
    /// that reads most of a map's keys; a read of one or two keys is cheaper without.
    pub fn prefetch(&self, obj: &ObjId) {
        if self.whole.borrow().contains_key(obj) {
            return;
        }
        let range = match self.heads {
            Some(h) => self.doc.map_range_at(obj, .., h),
            None => self.doc.map_range(obj, ..),
        };
        let mut whole = WholeMap::default();
        for item in range {
            let key = item.key.to_string();
            if !item.conflict {
                let id = item.id();
                whole
                    .single
                    .insert(key.clone(), (item.value.into_value(), id));
            }
            whole.keys.push(key);
        }
        self.whole.borrow_mut().insert(obj.clone(), whole);
    }

    /// What a [`Reader::prefetch`] pass knows of `obj[key]`: `Some(Some(v))` its one value,
    /// `Some(None)` no value at all, `None` not known (not read whole, or concurrent values).
    fn prefetched(&self, obj: &ObjId, prop: &Prop) -> Option<Option<(Value<'a>, ObjId)>> {
        let Prop::Map(key) = prop else {
            return None;
        };
        let whole = self.whole.borrow();
        let map = whole.get(obj)?;
        if let Some(v) = map.single.get(key) {
            return Some(Some(v.clone()));
        }
        if map.keys.iter().any(|k| k == key) {
            return None;
        }
        Some(None)
    }

    fn own_get(&self, obj: &ObjId, prop: Prop) -> Option<(Value<'a>, ObjId)> {
        if let Some(known) = self.prefetched(obj, &prop) {
            return known;
        }
        let r = match self.heads {
            Some(h) => self.doc.get_at(obj, prop, h),
            None => self.doc.get(obj, prop),
        };
        r.ok().flatten()
    }

    fn own_all(&self, obj: &ObjId, prop: Prop) -> Vec<(Value<'a>, ObjId)> {
        if let Some(known) = self.prefetched(obj, &prop) {
            return known.into_iter().collect();
        }
        let r = match self.heads {
            Some(h) => self.doc.get_all_at(obj, prop, h),
            None => self.doc.get_all(obj, prop),
        };
        r.unwrap_or_default()
    }

    fn hidden_behind(&self, obj: &ObjId) -> Vec<ObjId> {
        self.hidden.borrow().get(obj).cloned().unwrap_or_default()
    }

    /// The value at `prop`: the map's own, else the latest of the maps it hides.
    pub fn get(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<(Value<'a>, ObjId)> {
        let prop = prop.into();
        let found = self.own_get(obj, prop.clone()).or_else(|| {
            self.hidden_behind(obj)
                .iter()
                .rev()
                .find_map(|h| self.own_get(h, prop.clone()))
        });
        if let Some((Value::Object(ObjType::Map), id)) = &found {
            self.note_hidden(obj, &prop, id);
        }
        found
    }

    /// Remembers the maps that `winner` hides at `obj[prop]`.
    fn note_hidden(&self, obj: &ObjId, prop: &Prop, winner: &ObjId) {
        if self.hidden.borrow().contains_key(winner) {
            return;
        }
        let maps: Vec<ObjId> = self
            .all(obj, prop.clone())
            .into_iter()
            .filter(|(v, id)| matches!(v, Value::Object(ObjType::Map)) && id != winner)
            .map(|(_, id)| id)
            .collect();
        if !maps.is_empty() {
            self.hidden.borrow_mut().insert(winner.clone(), maps);
        }
    }

    /// Every concurrent value of a register (more than one means a conflict). For a field
    /// the map itself lacks, the values of the latest hidden map that has it.
    pub fn all(&self, obj: &ObjId, prop: impl Into<Prop>) -> Vec<(Value<'a>, ObjId)> {
        let prop = prop.into();
        let own = self.own_all(obj, prop.clone());
        if !own.is_empty() {
            return own;
        }
        self.hidden_behind(obj)
            .iter()
            .rev()
            .map(|h| self.own_all(h, prop.clone()))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    pub fn text_of(&self, obj: &ObjId) -> Option<String> {
        match self.heads {
            Some(h) => self.doc.text_at(obj, h).ok(),
            None => self.doc.text(obj).ok(),
        }
    }

    /// The characters of a text object, read lazily, for checks that can stop early.
    pub fn text_chars(&self, obj: &ObjId) -> impl Iterator<Item = char> + 'a {
        let items = match self.heads {
            Some(h) => self.doc.list_range_at(obj, .., h),
            None => self.doc.list_range(obj, ..),
        };
        items.flat_map(|item| match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => {
                s.chars().collect::<Vec<_>>()
            }
            _ => Vec::new(),
        })
    }

    /// A string field, whether stored as a scalar or as collaborative text.
    pub fn str(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<String> {
        match self.get(obj, prop)? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            (Value::Object(ObjType::Text), id) => self.text_of(&id),
            _ => None,
        }
    }

    pub fn i64(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<i64> {
        match self.get(obj, prop)? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Int(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                ScalarValue::Timestamp(t) => Some(*t),
                ScalarValue::Counter(c) => Some(i64::from(c)),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn bool(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<bool> {
        match self.get(obj, prop)? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Boolean(b) => Some(*b),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn obj(&self, obj: &ObjId, prop: impl Into<Prop>, t: ObjType) -> Option<ObjId> {
        match self.get(obj, prop)? {
            (Value::Object(found), id) if found == t => Some(id),
            _ => None,
        }
    }

    pub fn map(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<ObjId> {
        self.obj(obj, prop, ObjType::Map)
    }

    pub fn list(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<ObjId> {
        self.obj(obj, prop, ObjType::List)
    }

    /// The keys of a map, with those of the maps it hides, in key order.
    pub fn keys(&self, obj: &ObjId) -> Vec<String> {
        let own = |o: &ObjId| -> Vec<String> {
            if let Some(map) = self.whole.borrow().get(o) {
                return map.keys.clone();
            }
            match self.heads {
                Some(h) => self.doc.keys_at(o, h).collect(),
                None => self.doc.keys(o).collect(),
            }
        };
        let mut keys = own(obj);
        let hidden = self.hidden_behind(obj);
        if !hidden.is_empty() {
            for h in &hidden {
                keys.extend(own(h));
            }
            keys.sort();
            keys.dedup();
        }
        keys
    }

    pub fn len(&self, obj: &ObjId) -> usize {
        match self.heads {
            Some(h) => self.doc.length_at(obj, h),
            None => self.doc.length(obj),
        }
    }

    /// The maps of a list, in order, each read whole ([`Reader::prefetch`]): every caller
    /// reads the records it lists.
    pub fn list_maps(&self, obj: &ObjId, prop: &str) -> Vec<ObjId> {
        let Some(list) = self.list(obj, prop) else {
            return Vec::new();
        };
        let range = match self.heads {
            Some(h) => self.doc.list_range_at(&list, .., h),
            None => self.doc.list_range(&list, ..),
        };
        let maps: Vec<ObjId> = range
            .filter_map(|item| match item.value {
                // Concurrent values at one position: the winner, and the maps it hides.
                _ if item.conflict => self.map(&list, item.index),
                automerge::ValueRef::Object(ObjType::Map) => Some(item.id()),
                _ => None,
            })
            .collect();
        for m in &maps {
            self.prefetch(m);
        }
        maps
    }

    /// The strings of a list, in order.
    pub fn list_strs(&self, obj: &ObjId, prop: &str) -> Vec<String> {
        let Some(list) = self.list(obj, prop) else {
            return Vec::new();
        };
        (0..self.len(&list))
            .filter_map(|i| self.str(&list, i))
            .collect()
    }

    /// The byte values of a list, in order.
    pub fn list_bytes(&self, obj: &ObjId, prop: &str) -> Vec<Vec<u8>> {
        let Some(list) = self.list(obj, prop) else {
            return Vec::new();
        };
        (0..self.len(&list))
            .filter_map(|i| match self.get(&list, i)? {
                (Value::Scalar(s), _) => match s.as_ref() {
                    ScalarValue::Bytes(b) => Some(b.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// A map of strings (e.g. locale → text), in key order.
    pub fn str_map(&self, obj: &ObjId, prop: &str) -> std::collections::BTreeMap<String, String> {
        let Some(map) = self.map(obj, prop) else {
            return Default::default();
        };
        self.prefetch(&map);
        self.keys(&map)
            .into_iter()
            .filter_map(|k| self.str(&map, k.as_str()).map(|v| (k, v)))
            .collect()
    }
}

/// Renders a register value for a conflict report.
pub(crate) fn display_value(r: &Reader<'_, impl ReadDoc>, v: &Value<'_>, id: &ObjId) -> String {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            ScalarValue::Null => "null".into(),
            other => other.to_string(),
        },
        Value::Object(ObjType::Text) => r.text_of(id).unwrap_or_default(),
        Value::Object(t) => format!("<{t}>"),
    }
}

/// Every string a change writes, in op order, each with the map key it is written under (if
/// any). Consecutive single-character text insertions are joined, so a card number typed one
/// character at a time is still seen whole.
pub(crate) fn change_strings(change: &automerge::Change) -> Vec<(Option<String>, String)> {
    use automerge::legacy::{Key, OpType};
    let expanded = change.decode();
    let mut out = Vec::new();
    let mut run = String::new();
    for op in &expanded.operations {
        let key = match &op.key {
            Key::Map(k) => {
                out.push((None, k.to_string()));
                Some(k.to_string())
            }
            _ => None,
        };
        match &op.action {
            OpType::Put(ScalarValue::Str(s)) if op.insert && s.chars().count() == 1 => {
                run.push_str(s);
                continue;
            }
            OpType::Put(ScalarValue::Str(s)) => out.push((key, s.to_string())),
            _ => {}
        }
        if !run.is_empty() {
            out.push((None, std::mem::take(&mut run)));
        }
    }
    if !run.is_empty() {
        out.push((None, run));
    }
    if let Some(m) = expanded.message {
        out.push((None, m));
    }
    out
}

/// The fields that hold a payment rail's own reference, kept verbatim when well-formed.
pub(crate) const REFERENCE_FIELDS: &[&str] = &["txn_ref", "network_ref"];

/// Whether a string written under `key` is sensitive. A rail reference (UPI RRN, Pix
/// EndToEndId) in a reference field is not, even when its digits pass Luhn.
pub(crate) fn is_sensitive(key: Option<&str>, value: &str, rail: Option<&str>) -> bool {
    if key.is_some_and(|k| REFERENCE_FIELDS.contains(&k)) {
        let rails: &[Option<&str>] = match rail {
            Some(_) => &[rail],
            None => &[Some("upi"), Some("pix")],
        };
        if rails
            .iter()
            .any(|r| redact::is_payment_reference(*r, value))
        {
            return false;
        }
    }
    redact::contains_sensitive(value)
}
