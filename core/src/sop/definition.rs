//! The plain Rust value of an SOP decision tree and its JSON import format.
//!
//! The store keeps an SOP as an Automerge document and maps it to and from [`SopDefinition`];
//! everything else in `sop` (validation, walking) works on this value alone, so it can be tested
//! and fuzzed without storage. JSON is how people write SOPs by hand (`dossier sop import`), so
//! [`parse_json`] accepts a few shorthands (a plain string for single-locale text, `next` for
//! `default_next`, answer ids derived from labels) and reports every mistake with its JSON path,
//! while [`to_json`] writes the canonical, fully explicit form that parses back to the same value.
//! The derived `serde` impls on the public types read and write only that canonical form: use
//! [`parse_json`], not `serde_json::from_str`, for anything a person wrote.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Longest node or answer id accepted, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// One SOP decision tree, independent of how it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SopDefinition {
    /// Human title, e.g. "UPI money debited, not credited".
    pub title: String,
    /// Markets the SOP applies to, e.g. `["IN-UPI"]` or `["ES", "EU"]`.
    pub markets: Vec<String>,
    /// Locale every node must have text in (`en`, `es`, `pt-BR`).
    pub master_locale: String,
    /// Id of the node the walk starts at.
    pub entry: String,
    /// Nodes keyed by stable node id.
    pub nodes: BTreeMap<String, Node>,
    /// The tree's own test fixtures, run by `validate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<Fixture>,
}

/// One node of the tree; which fields matter depends on [`Node::kind`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// What the node does when the walk reaches it.
    pub kind: NodeKind,
    /// Text shown to the agent, by locale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub text: BTreeMap<String, String>,
    /// Answers of a question node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Answer>,
    /// Rules of a logic node, evaluated in order; the first true one wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Where a logic node goes when no rule is true; the `next` of content and action nodes.
    #[serde(default, alias = "next", skip_serializing_if = "Option::is_none")]
    pub default_next: Option<String>,
    /// What an action node asks the agent (or the case) to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// How an end node closes the walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// The kind of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Asks the agent a question; each answer leads somewhere.
    Question,
    /// Shows text, then goes to `default_next`.
    Content,
    /// Decides by rules over case variables.
    Logic,
    /// Asks for an action (escalate, require a field...), then goes to `default_next`.
    Action,
    /// Ends the walk with an outcome.
    End,
}

/// One answer of a question node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Stable id, unique within the node.
    pub id: String,
    /// Label by locale.
    pub label: BTreeMap<String, String>,
    /// Node this answer leads to.
    pub next: String,
}

/// One rule of a logic node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Condition, e.g. `days_since_txn <= 1 and rail == "upi"`.
    pub when: String,
    /// Node to go to when the condition is true.
    pub next: String,
}

/// What an action node asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Action type (JSON key `type`): `require_field`, `escalate`, `set_field`, `add_tag`,
    /// `add_note`, `route`... The set is open: plugins may define more.
    #[serde(rename = "type")]
    pub kind: String,
    /// Parameters of the action; JSON numbers and booleans are read as their text.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub params: BTreeMap<String, String>,
}

/// How an end node closes the walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Short label recorded with the SOP run, e.g. "Escalated to PSP".
    pub label: String,
    /// Whether the customer's problem is solved.
    pub result: OutcomeResult,
}

/// Result of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeResult {
    /// The problem is solved.
    Success,
    /// The problem cannot be solved.
    Failure,
    /// Not known yet (escalated, waiting).
    Unknown,
}

/// A test the tree carries: these answers must lead to this end node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Name shown when the fixture fails.
    pub name: String,
    /// Inputs as for `walk`: answers (id or label) and `name=value` bindings.
    pub answers: Vec<String>,
    /// Id of the end node the walk must reach.
    pub expect_end: String,
    /// Exact node path expected, entry and end included, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_path: Option<Vec<String>>,
}

/// Error of [`NodeKind::from_str`] and [`OutcomeResult::from_str`]: the text given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariant(pub String);

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown variant {:?}", self.0)
    }
}

impl std::error::Error for UnknownVariant {}

impl NodeKind {
    /// Every kind, in declaration order.
    pub const ALL: [NodeKind; 5] = [
        NodeKind::Question,
        NodeKind::Content,
        NodeKind::Logic,
        NodeKind::Action,
        NodeKind::End,
    ];

    /// The lowercase name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Question => "question",
            NodeKind::Content => "content",
            NodeKind::Logic => "logic",
            NodeKind::Action => "action",
            NodeKind::End => "end",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeKind {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

impl OutcomeResult {
    /// Every result, in declaration order.
    pub const ALL: [OutcomeResult; 3] = [
        OutcomeResult::Success,
        OutcomeResult::Failure,
        OutcomeResult::Unknown,
    ];

    /// The lowercase name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeResult::Success => "success",
            OutcomeResult::Failure => "failure",
            OutcomeResult::Unknown => "unknown",
        }
    }
}

impl fmt::Display for OutcomeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutcomeResult {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutcomeResult::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// How a walk can leave a node: which answer, which rule, or the plain next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// The answer with this id.
    Answer(&'a str),
    /// The rule at this index (0-based) with this condition.
    Rule(usize, &'a str),
    /// `default_next` of a logic node.
    Default,
    /// `next` of a content or action node.
    Next,
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Answer(id) => write!(f, "answer {id:?}"),
            Via::Rule(i, when) => write!(f, "rule {} {when:?}", i + 1),
            Via::Default => f.write_str("default_next"),
            Via::Next => f.write_str("next"),
        }
    }
}

/// One edge out of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge<'a> {
    /// What takes the walk along this edge.
    pub via: Via<'a>,
    /// Target node id (may not exist).
    pub to: &'a str,
}

impl Node {
    /// An empty node of this kind.
    pub fn new(kind: NodeKind) -> Self {
        Node {
            kind,
            text: BTreeMap::new(),
            answers: Vec::new(),
            rules: Vec::new(),
            default_next: None,
            action: None,
            outcome: None,
        }
    }

    /// The edges a walk can take out of this node, given its kind; fields the kind does not
    /// use (a `next` on an end node, say) are ignored here and reported by `validate`.
    pub fn edges(&self) -> Vec<Edge<'_>> {
        match self.kind {
            NodeKind::Question => self
                .answers
                .iter()
                .map(|a| Edge {
                    via: Via::Answer(&a.id),
                    to: &a.next,
                })
                .collect(),
            NodeKind::Logic => {
                let rules = self.rules.iter().enumerate().map(|(i, r)| Edge {
                    via: Via::Rule(i, &r.when),
                    to: &r.next,
                });
                let default = self.default_next.as_deref().map(|to| Edge {
                    via: Via::Default,
                    to,
                });
                rules.chain(default).collect()
            }
            NodeKind::Content | NodeKind::Action => self
                .default_next
                .as_deref()
                .map(|to| Edge { via: Via::Next, to })
                .into_iter()
                .collect(),
            NodeKind::End => Vec::new(),
        }
    }

    /// Text in `locale`, falling back to `master_locale`; `None` when neither has text.
    pub fn text_for<'a>(&'a self, locale: &str, master_locale: &str) -> Option<&'a str> {
        localized(&self.text, locale, master_locale)
    }
}

impl Answer {
    /// Label in `locale`, falling back to `master_locale`, then to the id.
    pub fn label_for<'a>(&'a self, locale: &str, master_locale: &str) -> &'a str {
        localized(&self.label, locale, master_locale).unwrap_or(&self.id)
    }
}

fn localized<'a>(map: &'a BTreeMap<String, String>, locale: &str, master: &str) -> Option<&'a str> {
    [locale, master]
        .into_iter()
        .filter_map(|l| map.get(l))
        .map(String::as_str)
        .find(|t| !t.trim().is_empty())
}

/// Checks a node or answer id: non-empty, no whitespace, at most [`MAX_ID_CHARS`] characters.
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        Err(IdError::Empty)
    } else if id.chars().any(char::is_whitespace) {
        Err(IdError::Whitespace)
    } else if id.chars().count() > MAX_ID_CHARS {
        Err(IdError::TooLong)
    } else {
        Ok(())
    }
}

/// Why an id was refused by [`check_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty.
    Empty,
    /// The id contains whitespace.
    Whitespace,
    /// The id is longer than [`MAX_ID_CHARS`].
    TooLong,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => f.write_str("id is empty"),
            IdError::Whitespace => f.write_str("id contains whitespace"),
            IdError::TooLong => write!(f, "id is longer than {MAX_ID_CHARS} characters"),
        }
    }
}

impl std::error::Error for IdError {}

/// A JSON import error, located by JSON path and (when known) line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// JSON path of the offending value, e.g. `nodes.start.answers[1].next`; empty for the
    /// document itself.
    pub path: String,
    /// 1-based line, 0 when unknown (errors found after parsing).
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "top level"
        } else {
            &self.path
        };
        if self.line > 0 {
            write!(
                f,
                "at {path} (line {}, column {}): {}",
                self.line, self.column, self.message
            )
        } else {
            write!(f, "at {path}: {}", self.message)
        }
    }
}

impl std::error::Error for ImportError {}

/// Parses an SOP written as JSON, with shorthands, into its canonical value.
///
/// Shorthands: `text` and answer `label` may be a plain string (the master locale's text) or a
/// map locale → text; `next` is accepted for `default_next`; an answer without `id` gets a slug
/// of its master-locale label (`"Sí, pero…"` → `si_pero`); action params may be numbers or
/// booleans. Unknown fields and duplicate keys are errors. Node and answer ids are checked with
/// [`check_id`]. Missing text, dangling `next`s and the like are left to `validate`.
pub fn parse_json(input: &str) -> Result<SopDefinition, ImportError> {
    let mut de = serde_json::Deserializer::from_str(input);
    let raw: RawDefinition = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(if path == "." { String::new() } else { path }, e.inner())
    })?;
    de.end().map_err(|e| json_error(String::new(), &e))?;
    raw.normalize()
}

/// Writes the canonical pretty JSON of a definition; [`parse_json`] reads it back unchanged.
pub fn to_json(def: &SopDefinition) -> String {
    // Cannot fail: every map is keyed by strings and no type has a fallible Serialize.
    serde_json::to_string_pretty(def).unwrap_or_default()
}

fn json_error(mut path: String, err: &serde_json::Error) -> ImportError {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    // Point at a missing field itself, not at its parent object (serde_path_to_error already
    // includes the key of an unknown field).
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(field);
    }
    ImportError {
        path,
        line,
        column,
        message,
    }
}

/// Lowercases, strips accents, and collapses whitespace: the form answers are matched in.
pub(crate) fn fold_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // combining diacritical marks (decomposed input)
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match fold_char(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' | 'ĝ' | 'ġ' | 'ģ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ñ' | 'ń' | 'ň' | 'ņ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'ŕ' | 'ř' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ť' | 'ţ' | 'ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    })
}

/// Slug of a label for an answer id: folded, letters and digits kept, the rest as `_`.
fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in fold_text(label).chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    out.chars()
        .take(MAX_ID_CHARS)
        .collect::<String>()
        .trim_end_matches('_')
        .to_owned()
}

// ---- raw (import) form -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    title: String,
    markets: Vec<String>,
    master_locale: String,
    entry: String,
    nodes: UniqueMap<RawNode>,
    #[serde(default)]
    tests: Vec<Fixture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    kind: NodeKind,
    #[serde(default)]
    text: Option<RawText>,
    #[serde(default)]
    answers: Vec<RawAnswer>,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default, alias = "next")]
    default_next: Option<String>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    outcome: Option<Outcome>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    id: Option<String>,
    label: RawText,
    next: String,
}

/// Text or label as written: a plain string (master locale) or a map locale → text.
enum RawText {
    Plain(String),
    Map(BTreeMap<String, String>),
}

impl RawText {
    fn into_map(self, master_locale: &str) -> BTreeMap<String, String> {
        match self {
            RawText::Plain(s) => BTreeMap::from([(master_locale.to_owned(), s)]),
            RawText::Map(m) => m,
        }
    }
}

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a map of locale to string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
                Ok(RawText::Plain(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawText, E> {
                Ok(RawText::Plain(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawText, A::Error> {
                unique_entries(map, "locale").map(RawText::Map)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object whose duplicate keys are an error instead of "last one wins".
struct UniqueMap<T>(BTreeMap<String, T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for UniqueMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = UniqueMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of node id to node")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UniqueMap<T>, A::Error> {
                unique_entries(map, "node id").map(UniqueMap)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn unique_entries<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
    what: &str,
) -> Result<BTreeMap<String, T>, A::Error> {
    let mut out = BTreeMap::new();
    while let Some(key) = map.next_key::<String>()? {
        let value = map.next_value::<T>()?;
        if out.contains_key(&key) {
            return Err(de::Error::custom(format!("duplicate {what} {key:?}")));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Action params: string values, with numbers and booleans taken as their JSON text.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Scalar(String);
    impl<'de> Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Scalar;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string, number or boolean")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_owned()))
                }
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
            }
            d.deserialize_any(V)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of parameter name to value")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let m: BTreeMap<String, Scalar> = unique_entries(map, "parameter")?;
            Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
        }
    }
    d.deserialize_map(V)
}

impl RawDefinition {
    fn normalize(self) -> Result<SopDefinition, ImportError> {
        let master = self.master_locale;
        let mut nodes = BTreeMap::new();
        for (id, raw) in self.nodes.0 {
            let at = |suffix: &str| format!("nodes.{id}{suffix}");
            check_id(&id)
                .map_err(|e| post_error(at(""), format!("invalid node id {id:?}: {e}")))?;
            let mut answers = Vec::with_capacity(raw.answers.len());
            for (i, a) in raw.answers.into_iter().enumerate() {
                let label = a.label.into_map(&master);
                let answer_id = match a.id {
                    Some(given) => given,
                    None => {
                        let source = label.get(&master).or_else(|| label.values().next());
                        let derived = source.map(|l| slug(l)).unwrap_or_default();
                        if derived.is_empty() {
                            let msg = "answer has no id and none can be derived from its label; \
                                       give it an \"id\"";
                            return Err(post_error(at(&format!(".answers[{i}].id")), msg.into()));
                        }
                        derived
                    }
                };
                check_id(&answer_id).map_err(|e| {
                    let msg = format!("invalid answer id {answer_id:?}: {e}");
                    post_error(at(&format!(".answers[{i}].id")), msg)
                })?;
                answers.push(Answer {
                    id: answer_id,
                    label,
                    next: a.next,
                });
            }
            let node = Node {
                kind: raw.kind,
                text: raw.text.map(|t| t.into_map(&master)).unwrap_or_default(),
                answers,
                rules: raw.rules,
                default_next: raw.default_next,
                action: raw.action,
                outcome: raw.outcome,
            };
            nodes.insert(id, node);
        }
        Ok(SopDefinition {
            title: self.title,
            markets: self.markets,
            master_locale: master,
            entry: self.entry,
            nodes,
            tests: self.tests,
        })
    }
}

fn post_error(path: String, message: String) -> ImportError {
    ImportError {
        path,
        line: 0,
        column: 0,
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// The UPI sample SOP, as shipped in `testdata/`.
    pub(crate) const UPI: &str = include_str!("testdata/upi_debited_not_credited.json");
    /// The card dispute sample SOP, as shipped in `testdata/`.
    pub(crate) const CARD: &str = include_str!("testdata/card_dispute_intake.json");

    pub(crate) fn upi() -> SopDefinition {
        match parse_json(UPI) {
            Ok(d) => d,
            Err(e) => panic!("upi sample does not parse: {e}"),
        }
    }

    pub(crate) fn card() -> SopDefinition {
        match parse_json(CARD) {
            Ok(d) => d,
            Err(e) => panic!("card sample does not parse: {e}"),
        }
    }

    fn err(input: &str) -> ImportError {
        match parse_json(input) {
            Ok(d) => panic!("expected an error, parsed {d:?}"),
            Err(e) => e,
        }
    }

    /// The UPI sample with one edit applied to its JSON value.
    fn upi_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(UPI).unwrap();
        edit(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    }

    #[test]
    fn both_samples_parse_with_shorthands_normalised() {
        let upi = upi();
        assert_eq!(upi.master_locale, "en");
        assert_eq!(upi.entry, "start");
        let start = &upi.nodes["start"];
        assert_eq!(start.kind, NodeKind::Question);
        assert_eq!(start.text["en"], "Was the customer's account debited?");
        let ids: Vec<&str> = start.answers.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["yes", "no"]);
        assert_eq!(start.answers[0].label["en"], "Yes");
        assert_eq!(
            upi.nodes["collect_rrn"].default_next.as_deref(),
            Some("raise_psp")
        );
        let action = upi.nodes["collect_rrn"].action.as_ref().unwrap();
        assert_eq!(action.kind, "require_field");
        assert_eq!(action.params["field"], "rrn");
        assert_eq!(upi.tests.len(), 3);

        let card = card();
        assert_eq!(card.markets, ["ES", "EU"]);
        assert_eq!(
            card.nodes["inicio"].text["en"],
            "Does the customer recognise the purchase?"
        );
        assert_eq!(
            card.nodes["no_recibido"].action.as_ref().unwrap().params["value"],
            "13.1"
        );
    }

    #[test]
    fn to_json_round_trips_through_parse_json() {
        for def in [upi(), card()] {
            let json = to_json(&def);
            assert_eq!(parse_json(&json).unwrap(), def);
            // The canonical form is also what the derived serde impls read.
            assert_eq!(serde_json::from_str::<SopDefinition>(&json).unwrap(), def);
        }
    }

    #[test]
    fn a_wrong_node_kind_is_reported_with_its_path_line_and_column() {
        let e = err(&UPI.replacen("\"kind\": \"question\"", "\"kind\": \"quest\"", 1));
        assert_eq!(e.path, "nodes.start.kind");
        assert!(e.line > 1 && e.column > 1, "{e:?}");
        assert!(
            e.message.starts_with("unknown variant `quest`"),
            "{}",
            e.message
        );
        let shown = e.to_string();
        assert!(shown.starts_with("at nodes.start.kind (line "), "{shown}");
    }

    #[test]
    fn an_unknown_field_is_reported_with_its_path() {
        let e = err(&upi_with(|v| {
            v["nodes"]["type"]["answers"][1]["nxt"] = "x".into();
        }));
        assert_eq!(e.path, "nodes.type.answers[1].nxt");
        assert!(e.message.contains("unknown field `nxt`"), "{}", e.message);
    }

    #[test]
    fn a_missing_entry_field_is_reported_at_the_top_level() {
        let e = err(&upi_with(|v| {
            v.as_object_mut().unwrap().remove("entry");
        }));
        assert_eq!(e.path, "entry");
        assert!(e.message.contains("missing field `entry`"), "{}", e.message);
    }

    #[test]
    fn a_missing_answer_next_is_reported_at_the_field() {
        let e = err(&upi_with(|v| {
            v["nodes"]["start"]["answers"][1]
                .as_object_mut()
                .unwrap()
                .remove("next");
        }));
        assert_eq!(e.path, "nodes.start.answers[1].next");
    }

    #[test]
    fn a_wrong_type_deep_inside_is_reported_with_its_path() {
        let e = err(&upi_with(|v| {
            v["nodes"]["p2p_age"]["rules"][0]["when"] = 5.into();
        }));
        assert_eq!(e.path, "nodes.p2p_age.rules[0].when");
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = err(&upi_with(|v| {
            v["nodes"]["start"]["text"] = serde_json::json!(["a"]);
        }));
        assert_eq!(e.path, "nodes.start.text");
        assert!(e.message.contains("a string or a map"), "{}", e.message);
        let e = err(&upi_with(|v| {
            v["nodes"]["end_no_debit"]["outcome"]["result"] = "won".into();
        }));
        assert_eq!(e.path, "nodes.end_no_debit.outcome.result");
    }

    #[test]
    fn bad_node_and_answer_ids_are_reported_with_their_path() {
        let e = err(&upi_with(|v| {
            let node = v["nodes"]["start"].clone();
            v["nodes"]["bad id"] = node;
        }));
        assert_eq!(e.path, "nodes.bad id");
        assert!(e.message.contains("whitespace"), "{}", e.message);
        let e = err(&upi_with(|v| {
            v["nodes"]["type"]["answers"][0]["id"] = "x".repeat(65).into();
        }));
        assert_eq!(e.path, "nodes.type.answers[0].id");
        assert!(e.message.contains("longer than 64"), "{}", e.message);
        let e = err(&upi_with(|v| {
            v["nodes"]["start"]["answers"][0]["label"] = "¿?".into();
        }));
        assert_eq!(e.path, "nodes.start.answers[0].id");
    }

    #[test]
    fn duplicate_node_ids_and_trailing_garbage_are_errors() {
        let dup = UPI.replacen("\"type\": {", "\"start\": {", 1);
        let e = err(&dup);
        assert!(e.message.contains("duplicate node id \"start\""), "{e}");
        assert_eq!(e.path, "nodes");
        let e = err(&format!("{UPI} x"));
        assert!(e.message.contains("trailing"), "{e}");
        assert!(e.line > 0);
    }

    #[test]
    fn missing_text_is_allowed_at_parse_time() {
        let def = parse_json(&upi_with(|v| {
            v["nodes"]["type"].as_object_mut().unwrap().remove("text");
        }))
        .unwrap();
        assert!(def.nodes["type"].text.is_empty());
    }

    #[test]
    fn action_params_accept_numbers_and_booleans_as_text() {
        let def = parse_json(&upi_with(|v| {
            v["nodes"]["collect_rrn"]["action"]["params"] =
                serde_json::json!({"digits": 12, "strict": true, "ratio": 0.5});
        }))
        .unwrap();
        let params = &def.nodes["collect_rrn"].action.as_ref().unwrap().params;
        assert_eq!(params["digits"], "12");
        assert_eq!(params["strict"], "true");
        assert_eq!(params["ratio"], "0.5");
    }

    #[test]
    fn answer_ids_are_slugs_of_the_master_label() {
        assert_eq!(slug("Sí, pero hay un problema"), "si_pero_hay_un_problema");
        assert_eq!(slug("  P2P  "), "p2p");
        assert_eq!(slug("¿?"), "");
        assert_eq!(slug(&"ab ".repeat(40)).chars().count(), 64);
        assert_eq!(slug(&"abc ".repeat(40)).chars().count(), 63); // no trailing `_`
        assert_eq!(
            fold_text("  Cancelación   de SUSCRIPCIÓN "),
            "cancelacion de suscripcion"
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        let e = err(&"[".repeat(100_000));
        assert!(e.line > 0, "{e}");
        let e = err(&format!("{{\"nodes\": {}", "{\"a\":".repeat(100_000)));
        assert!(e.line > 0, "{e}");
    }

    #[test]
    fn text_falls_back_to_the_master_locale() {
        let card = card();
        let inicio = &card.nodes["inicio"];
        assert_eq!(
            inicio.text_for("en", "es"),
            Some("Does the customer recognise the purchase?")
        );
        assert_eq!(
            inicio.text_for("pt-BR", "es"),
            Some("¿El cliente reconoce la compra?")
        );
        assert_eq!(
            inicio.answers[1].label_for("en", "es"),
            "Yes, but there is a problem"
        );
        assert_eq!(Node::new(NodeKind::Content).text_for("en", "en"), None);
    }

    #[test]
    fn kinds_and_results_round_trip_through_their_names() {
        for k in NodeKind::ALL {
            assert_eq!(k.as_str().parse::<NodeKind>(), Ok(k));
        }
        for r in OutcomeResult::ALL {
            assert_eq!(r.as_str().parse::<OutcomeResult>(), Ok(r));
        }
        assert_eq!(
            "Question".parse::<NodeKind>(),
            Err(UnknownVariant("Question".into()))
        );
    }
}
