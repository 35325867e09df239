//! The small condition language of logic nodes (`days_since_txn <= 1 and rail == "upi"`).
//!
//! SOP authors write these by hand and they arrive through merges, so the language is kept tiny
//! and total: a comparison is always `variable OP literal`; `and`/`&&`, `or`/`||`, `not`/`!`
//! and parentheses combine them (`and` binds tighter than `or`). A literal is a number, a quoted
//! string, or a bare word (`network == visa`, `has_police_report == true`). Numbers compare
//! numerically when both sides are numbers; everything else compares as case-sensitive text
//! with surrounding quotes trimmed. `<`, `<=`, `>`, `>=` need a numeric literal (checked when
//! parsing) and a numeric variable (checked when evaluating). Evaluation short-circuits, so a
//! variable the decision does not need may stay unbound. Input is bounded (1 KiB, nesting 32) so
//! hostile text cannot exhaust the stack.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// Longest rule accepted, in bytes.
pub(crate) const MAX_RULE_BYTES: usize = 1024;
/// Deepest nesting of parentheses and `not` accepted.
pub(crate) const MAX_RULE_DEPTH: usize = 32;

/// Why a rule could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// The rule is not well formed.
    Syntax {
        /// 1-based character column where the problem was found.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The rule needs a variable that was not bound.
    UnknownVariable(String),
    /// An ordering comparison met a variable whose value is not a number.
    NotANumber {
        /// Variable name.
        name: String,
        /// Its bound value.
        value: String,
    },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Syntax { column, message } => {
                write!(f, "syntax error at column {column}: {message}")
            }
            RuleError::UnknownVariable(name) => write!(f, "variable {name:?} is not bound"),
            RuleError::NotANumber { name, value } => {
                write!(f, "variable {name:?} is {value:?}, not a number")
            }
        }
    }
}

impl std::error::Error for RuleError {}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn is_ordering(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn parse(s: &str) -> Option<Num> {
        let first = s.chars().next()?;
        let plausible = (first.is_ascii_digit() || matches!(first, '-' | '+' | '.'))
            && s.chars().any(|c| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        if !plausible {
            return None;
        }
        if let Ok(i) = s.parse::<i64>() {
            return Some(Num::Int(i));
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Num::Float)
    }

    fn cmp(self, other: Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    text: String,
    num: Option<Num>,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `var op literal`.
    Cmp { var: String, op: Op, lit: Literal },
    /// `not e`.
    Not(Box<Expr>),
    /// All must hold (short-circuit, in order).
    And(Vec<Expr>),
    /// One must hold (short-circuit, in order).
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates the rule against bound variables.
    pub(crate) fn eval(&self, vars: &BTreeMap<String, String>) -> Result<bool, RuleError> {
        match self {
            Expr::Cmp { var, op, lit } => {
                let raw = vars
                    .get(var)
                    .ok_or_else(|| RuleError::UnknownVariable(var.clone()))?;
                let value = unquote(raw.trim());
                let num = Num::parse(value);
                if op.is_ordering() {
                    let (Some(v), Some(l)) = (num, lit.num) else {
                        return Err(RuleError::NotANumber {
                            name: var.clone(),
                            value: raw.clone(),
                        });
                    };
                    return Ok(op.holds(v.cmp(l)));
                }
                let ord = match (num, lit.num) {
                    (Some(v), Some(l)) => v.cmp(l),
                    _ => value.cmp(lit.text.as_str()),
                };
                Ok(op.holds(ord))
            }
            Expr::Not(e) => Ok(!e.eval(vars)?),
            Expr::And(es) => {
                for e in es {
                    if !e.eval(vars)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::Or(es) => {
                for e in es {
                    if e.eval(vars)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Op(Op),
    And,
    Or,
    Not,
    Word(String),
    Quoted(String),
}

fn syntax(src: &str, at: usize, message: impl Into<String>) -> RuleError {
    let column = src.get(..at).map_or(at, |s| s.chars().count()) + 1;
    RuleError::Syntax {
        column,
        message: message.into(),
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '(' | ')' | '<' | '>' | '=' | '!' | '&' | '|' | '"' | '\''
        )
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, RuleError> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some((at, c)) = it.next() {
        let next_is = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, want: char| {
            it.next_if(|&(_, n)| n == want).is_some()
        };
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '<' if next_is(&mut it, '=') => Tok::Op(Op::Le),
            '<' => Tok::Op(Op::Lt),
            '>' if next_is(&mut it, '=') => Tok::Op(Op::Ge),
            '>' => Tok::Op(Op::Gt),
            '=' => {
                next_is(&mut it, '=');
                Tok::Op(Op::Eq)
            }
            '!' if next_is(&mut it, '=') => Tok::Op(Op::Ne),
            '!' => Tok::Not,
            '&' if next_is(&mut it, '&') => Tok::And,
            '|' if next_is(&mut it, '|') => Tok::Or,
            '&' | '|' => return Err(syntax(src, at, format!("use {c}{c} or a word"))),
            '"' | '\'' => {
                let start = at + 1;
                let mut end = None;
                for (i, n) in it.by_ref() {
                    if n == c {
                        end = Some(i);
                        break;
                    }
                }
                let end = end.ok_or_else(|| syntax(src, at, "unterminated quoted string"))?;
                Tok::Quoted(src.get(start..end).unwrap_or_default().to_owned())
            }
            _ => {
                let mut end = at + c.len_utf8();
                while let Some((i, n)) = it.next_if(|&(_, n)| is_word_char(n)) {
                    end = i + n.len_utf8();
                }
                let word = src.get(at..end).unwrap_or_default();
                match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word(word.to_owned()),
                }
            }
        };
        out.push((at, tok));
    }
    Ok(out)
}

/// Whether `s` is a variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn here(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.src.len(), |(at, _)| *at)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn err(&self, message: impl Into<String>) -> RuleError {
        syntax(self.src, self.here(), message)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, RuleError> {
        match self.peek() {
            Some(Tok::Not | Tok::LParen) if depth >= MAX_RULE_DEPTH => {
                Err(self.err(format!("nested deeper than {MAX_RULE_DEPTH} levels")))
            }
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err("expected `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let var = match self.bump() {
            Some(Tok::Word(w)) if is_variable_name(&w) => w,
            Some(Tok::Word(w)) => {
                self.pos -= 1;
                return Err(self.err(format!("{w:?} is not a variable name")));
            }
            None => return Err(self.err("expected a comparison, found the end of the rule")),
            Some(_) => {
                self.pos -= 1;
                return Err(self.err("expected a variable name"));
            }
        };
        let op = match self.bump() {
            Some(Tok::Op(op)) => op,
            _ => {
                self.pos -= 1;
                return Err(self.err(format!("expected <, <=, >, >=, == or != after {var:?}")));
            }
        };
        let lit_at = self.here();
        let lit = match self.bump() {
            Some(Tok::Word(w)) => Literal {
                num: Num::parse(&w),
                text: w,
            },
            Some(Tok::Quoted(q)) => Literal { text: q, num: None },
            _ => {
                self.pos -= 1;
                return Err(self.err("expected a value (number, word or quoted text)"));
            }
        };
        if op.is_ordering() && lit.num.is_none() {
            return Err(syntax(
                self.src,
                lit_at,
                format!("{:?} is not a number", lit.text),
            ));
        }
        Ok(Expr::Cmp { var, op, lit })
    }
}

/// Parses a rule's `when` text.
pub(crate) fn parse(expr: &str) -> Result<Expr, RuleError> {
    if expr.len() > MAX_RULE_BYTES {
        return Err(RuleError::Syntax {
            column: 1,
            message: format!("rule is longer than {MAX_RULE_BYTES} bytes"),
        });
    }
    let toks = tokenize(expr)?;
    let mut p = Parser {
        src: expr,
        toks,
        pos: 0,
    };
    let e = p.or(0)?;
    if p.pos < p.toks.len() {
        return Err(p.err("expected `and`, `or` or the end of the rule"));
    }
    Ok(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn eval(expr: &str, pairs: &[(&str, &str)]) -> Result<bool, RuleError> {
        parse(expr).and_then(|e| e.eval(&vars(pairs)))
    }

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(
            eval("days_since_txn <= 1", &[("days_since_txn", "0")]),
            Ok(true)
        );
        assert_eq!(
            eval("days_since_txn <= 1", &[("days_since_txn", "9")]),
            Ok(false)
        );
        assert_eq!(
            eval("amount_minor > 500000", &[("amount_minor", "500000.5")]),
            Ok(true)
        );
        assert_eq!(
            eval("amount_minor > 500000", &[("amount_minor", "99999")]),
            Ok(false)
        );
        assert_eq!(eval("x == 1", &[("x", "1.0")]), Ok(true));
        assert_eq!(eval("x >= -2.5", &[("x", "-2")]), Ok(true));
        assert_eq!(eval("x != 3", &[("x", "3")]), Ok(false));
        assert_eq!(eval("x < 10", &[("x", "9")]), Ok(true));
    }

    #[test]
    fn text_and_booleans_compare_as_case_sensitive_text_without_quotes() {
        assert_eq!(eval("rail == \"upi\"", &[("rail", "upi")]), Ok(true));
        assert_eq!(eval("rail == 'upi'", &[("rail", "\"upi\"")]), Ok(true));
        assert_eq!(eval("rail == \"upi\"", &[("rail", "UPI")]), Ok(false));
        assert_eq!(eval("network == visa", &[("network", " visa ")]), Ok(true));
        assert_eq!(
            eval(
                "has_police_report == true",
                &[("has_police_report", "true")]
            ),
            Ok(true)
        );
        assert_eq!(eval("market = IN-UPI", &[("market", "IN-UPI")]), Ok(true));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let v = [("a", "1"), ("b", "0"), ("c", "1")];
        assert_eq!(eval("a == 1 or b == 1 and c == 0", &v), Ok(true));
        assert_eq!(eval("(a == 1 or b == 1) and c == 0", &v), Ok(false));
        assert_eq!(eval("a == 1 && (b == 1 || c == 1)", &v), Ok(true));
        assert_eq!(eval("not a == 1 or !(b == 0)", &v), Ok(false));
        assert_eq!(eval("a == 1 AND c == 1", &v), Ok(true));
    }

    #[test]
    fn evaluation_short_circuits_past_unbound_variables() {
        assert_eq!(eval("a == 1 or missing == 2", &[("a", "1")]), Ok(true));
        assert_eq!(eval("a == 2 and missing == 2", &[("a", "1")]), Ok(false));
        assert_eq!(
            eval("a == 2 or missing == 2", &[("a", "1")]),
            Err(RuleError::UnknownVariable("missing".into()))
        );
    }

    #[test]
    fn ordering_against_a_non_number_is_an_error() {
        assert!(matches!(
            eval("rail < upi", &[]),
            Err(RuleError::Syntax { .. })
        ));
        assert_eq!(
            eval("days < 3", &[("days", "three")]),
            Err(RuleError::NotANumber {
                name: "days".into(),
                value: "three".into()
            })
        );
    }

    #[test]
    fn syntax_errors_name_a_column() {
        for (bad, col) in [
            ("", 1),
            ("days <=", 8),
            ("days 1", 6),
            ("(a == 1", 8),
            ("a == 1 b", 8),
            ("1x == 2", 1),
            ("a == \"open", 6),
            ("a & b", 3),
            ("a == 1 or", 10),
            ("== 1", 1),
        ] {
            match parse(bad) {
                Err(RuleError::Syntax { column, .. }) => assert_eq!(column, col, "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_nesting_and_length_are_refused_without_overflow() {
        let deep = format!("{}a == 1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).is_err());
        let nots = format!("{}a == 1", "not ".repeat(200));
        assert!(parse(&nots).is_err());
        let ok = format!("{}a == 1{}", "(".repeat(31), ")".repeat(31));
        assert!(parse(&ok).is_ok());
        let long = vec!["a == 1"; 200].join(" or ");
        assert!(matches!(
            parse(&long),
            Err(RuleError::Syntax { column: 1, .. })
        ));
        let wide = vec!["a == 1"; 100].join(" or ");
        assert_eq!(eval(&wide, &[("a", "1")]), Ok(true));
    }

    #[test]
    fn numbers_are_recognised_strictly() {
        assert_eq!(Num::parse("12"), Some(Num::Int(12)));
        assert_eq!(Num::parse("1e3"), Some(Num::Float(1000.0)));
        for not_num in ["inf", "NaN", "1-2", "", "e5", "12a", "1e999"] {
            assert_eq!(Num::parse(not_num), None, "{not_num}");
        }
        assert_eq!(eval("x == inf", &[("x", "inf")]), Ok(true));
    }

    proptest! {
        #[test]
        fn parse_and_eval_never_panic(s in "\\PC{0,80}", v in "\\PC{0,8}") {
            if let Ok(e) = parse(&s) {
                let _ = e.eval(&vars(&[("a", &v), ("days", &v)]));
            }
        }

        #[test]
        fn parse_never_panics_on_rule_shaped_text(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("("), Just(")"), Just("a"), Just("=="), Just("<="), Just("1"),
                    Just("and"), Just("or"), Just("not"), Just("'x'"), Just("\""), Just("!"),
                ],
                0..60,
            )
        ) {
            let s = parts.join(" ");
            if let Ok(e) = parse(&s) {
                let _ = e.eval(&vars(&[("a", "1")]));
            }
        }
    }
}
