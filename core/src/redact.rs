//! Redaction of card data before any string enters a document.
//!
//! # Why
//!
//! Dossier keeps support cases in Automerge documents whose change history is immutable and
//! replicated to every peer: once a value has been written it can be hidden, never erased. PCI
//! DSS therefore has to be met *before* the write, not afterwards:
//!
//! - **Requirement 3.3.1**: sensitive authentication data (here: CVV2/CVC2/CID security codes)
//!   is never stored after authorization, not even encrypted. A customer who types "cvv 123"
//!   into a chat must not leave that code in any change, on any peer, forever.
//! - **Requirement 3.4.1**: a PAN shown to support staff reveals at most the BIN (first six
//!   digits) and the last four. We never hold the full PAN, so the masked form is the only form.
//!
//! So every string passes [`redact`] first, and changes arriving by sync are refused when
//! [`contains_sensitive`] finds something a well-behaved peer would already have removed.
//!
//! # What is removed
//!
//! - **Card numbers**: 12–19 ASCII digits, written plain or as groups separated by one space
//!   or one dash (also one no-break space, thin space or en dash, as pasted from apps), that
//!   have a known IIN prefix, a length valid for that brand and a passing Luhn check. They
//!   become `BIN******last4` with the separators dropped.
//! - **Security codes**: a 3–4 digit value after an English, Spanish or Portuguese keyword
//!   ("cvv", "código de seguridad", "código de segurança", ...), matched without regard to case
//!   or accents. The value becomes `[removed]`; the keyword stays so the agent keeps context.
//!
//! # Decisions the rest of the store relies on
//!
//! - Digits glued to letters or punctuation are still judged, because customers paste
//!   "card:4111111111111111" and "Nº4111111111111111"; we would rather mask a stray look-alike
//!   than store a PAN. Digits glued to other digits form one run, which is judged whole: a run
//!   of more than 19 digits (order numbers, ARNs, Pix ids) is never a card.
//! - When digit groups go on past 19 digits, every contiguous window of whole groups totalling
//!   12–19 digits is tried, and overlapping hits are masked as one span, so a PAN cannot hide
//!   behind a neighbouring number.
//! - A grouped number right after `+` is a phone number and stays, but only while it is no
//!   longer than E.164's 15 digits and the `+` does not follow a letter or digit.
//! - Tokens beginning with `http://`, `https://` or `www.` are left alone up to the next
//!   whitespace, for card numbers only: a security code in a URL (`?cvv=123`) is still removed.
//! - Text already shaped like our own mask (six digits with a known prefix, two or more `*`,
//!   four digits) counts as masked and never joins neighbouring digit groups; this is what
//!   makes [`redact`] idempotent.
//! - Free text cannot tell a UPI RRN from a 12-digit Maestro number, so a Luhn-valid RRN that
//!   starts with 50 or 56–69 is masked there. Values the caller knows to be payment-rail
//!   references go through [`redact_reference`] / [`is_payment_reference`] instead.
//!
//! # Example
//!
//! ```
//! use dossier::redact::redact;
//!
//! let r = redact("Tarjeta 4111-1111-1111-1111, cvv 123, llamar al +34 612 345 678");
//! assert_eq!(r.text, "Tarjeta 411111******1111, cvv [removed], llamar al +34 612 345 678");
//! assert_eq!(r.findings.len(), 2);
//! assert_eq!(r.findings[0].kind.as_str(), "card_number");
//! ```

use std::ops::Range;

/// Card network recognised from the issuer identification number (IIN) prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// Visa: prefix 4; 13, 16 or 19 digits.
    Visa,
    /// Mastercard: 51–55 and 2221–2720; 16 digits.
    Mastercard,
    /// American Express: 34 and 37; 15 digits.
    Amex,
    /// Discover: 6011, 622126–622925, 644–649, 65; 16–19 digits.
    Discover,
    /// JCB: 3528–3589; 16–19 digits.
    Jcb,
    /// Maestro: 50 and 56–69; 12–19 digits. The widest net, so it names a card only when no
    /// more specific brand does.
    Maestro,
    /// Diners Club: 300–305, 3095, 36, 38–39; 14–19 digits.
    DinersClub,
    /// UnionPay: 62; 16–19 digits.
    UnionPay,
    /// RuPay: 60, 508, 6521–6522, 81, 82; 16 digits.
    RuPay,
    /// Elo (Brazil): a list of six-digit BIN ranges; 16 digits.
    Elo,
    /// Hipercard (Brazil): 606282 and 384100/384140/384160; 13, 16 or 19 digits.
    Hipercard,
    /// Mir (Russia): 2200–2204; 16–19 digits.
    Mir,
    /// Troy (Türkiye): 9792; 16 digits.
    Troy,
}

impl CardBrand {
    /// Stable lower-case name for logs, metrics and the findings table.
    pub fn as_str(&self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::Maestro => "maestro",
            CardBrand::DinersClub => "diners_club",
            CardBrand::UnionPay => "unionpay",
            CardBrand::RuPay => "rupay",
            CardBrand::Elo => "elo",
            CardBrand::Hipercard => "hipercard",
            CardBrand::Mir => "mir",
            CardBrand::Troy => "troy",
        }
    }
}

/// What a redaction removed. Never contains the removed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// A card number, replaced by its masked form.
    CardNumber {
        /// Brand of the most specific matching IIN prefix.
        brand: CardBrand,
    },
    /// A card security code (CVV2/CVC2/CID), replaced by `[removed]`.
    SecurityCode,
}

impl FindingKind {
    /// Stable name: `"card_number"` or `"security_code"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FindingKind::CardNumber { .. } => "card_number",
            FindingKind::SecurityCode => "security_code",
        }
    }
}

/// One removed value; deliberately carries no position or digits so it can be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was removed.
    pub kind: FindingKind,
}

/// Result of [`redact`]: the text safe to store and what had to be removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The input with card numbers masked and security codes replaced.
    pub text: String,
    /// One entry per removed value, in order of appearance.
    pub findings: Vec<Finding>,
}

impl Redaction {
    /// True when nothing had to be removed, i.e. `text` equals the input.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Replacement for a removed security code.
pub const REMOVED: &str = "[removed]";

/// Redacts free text: masks card numbers to BIN + last four and replaces security codes with
/// [`REMOVED`]. Never panics, and `redact(&redact(x).text)` finds nothing new.
pub fn redact(input: &str) -> Redaction {
    let edits = analyze(input);
    let mut text = String::with_capacity(input.len());
    let mut findings = Vec::with_capacity(edits.len());
    let mut copied = 0;
    for edit in edits {
        // Edit bounds sit on ASCII digits, hence on char boundaries; `get` keeps a logic slip
        // from ever turning into a panic.
        text.push_str(input.get(copied..edit.span.start).unwrap_or_default());
        text.push_str(&edit.replacement);
        findings.push(Finding { kind: edit.kind });
        copied = edit.span.end;
    }
    text.push_str(input.get(copied..).unwrap_or_default());
    Redaction { text, findings }
}

/// True when `input` holds an unmasked card number or a security code that [`redact`] would
/// remove. Sync uses it to refuse changes from peers that skipped redaction.
pub fn contains_sensitive(input: &str) -> bool {
    !analyze(input).is_empty()
}

/// Where [`redact`] would mask a card number in `input`: byte ranges and brands. For tools that
/// must say *where* card data sits without repeating it (`Store::scan_card_data`).
pub(crate) fn card_number_spans(input: &str) -> Vec<(Range<usize>, FindingKind)> {
    analyze(input)
        .into_iter()
        .filter(|e| matches!(e.kind, FindingKind::CardNumber { .. }))
        .map(|e| (e.span, e.kind))
        .collect()
}

/// True when `value` has the payment rail's own reference format and must be kept verbatim
/// even if its digits pass Luhn.
///
/// - `"upi"`: a UPI RRN, exactly 12 ASCII digits.
/// - `"pix"`: a Pix EndToEndId, see [`is_pix_end_to_end_id`].
///
/// `rail` is matched case-insensitively. With `None` or an unknown rail only the Pix format is
/// accepted: it cannot be mistaken for a PAN (20 contiguous digits plus letters), whereas a
/// bare 12-digit RRN can be a Luhn-valid Maestro number and must not be waved through on a
/// guess.
pub fn is_payment_reference(rail: Option<&str>, value: &str) -> bool {
    match rail {
        Some(r) if r.eq_ignore_ascii_case("upi") => is_upi_rrn(value),
        _ => is_pix_end_to_end_id(value),
    }
}

/// True for a UPI retrieval reference number: exactly 12 ASCII digits, nothing else.
pub fn is_upi_rrn(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// True for a Pix EndToEndId: 32 ASCII characters, `E` (or `D` for a return), the payer's
/// 8-digit ISPB, a 12-digit `yyyyMMddHHmm` timestamp with plausible month, day, hour and
/// minute, then 11 alphanumerics.
pub fn is_pix_end_to_end_id(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 32 || !matches!(b.first(), Some(b'E' | b'D')) {
        return false;
    }
    let (Some(ispb), Some(stamp), Some(tail)) = (b.get(1..9), b.get(9..21), b.get(21..32)) else {
        return false;
    };
    if !ispb.iter().chain(stamp).all(u8::is_ascii_digit)
        || !tail.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let field = |r: Range<usize>| stamp.get(r).and_then(number);
    matches!(
        (field(4..6), field(6..8), field(8..10), field(10..12)),
        (Some(1..=12), Some(1..=31), Some(0..=23), Some(0..=59))
    )
}

/// Keeps `value` verbatim when [`is_payment_reference`] says it is a rail reference, and
/// [`redact`]s it otherwise. Use it for fields that are known to hold a transaction reference.
pub fn redact_reference(rail: Option<&str>, value: &str) -> Redaction {
    if is_payment_reference(rail, value) {
        Redaction {
            text: value.to_owned(),
            findings: Vec::new(),
        }
    } else {
        redact(value)
    }
}

/// Luhn (mod 10) check over ASCII digits. False for an empty slice or any non-digit byte, so a
/// caller cannot mistake garbage for a valid number.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let d = u32::from(b - b'0');
        let d = if i % 2 == 1 {
            (d * 2) % 10 + (d * 2) / 10
        } else {
            d
        };
        // Reducing as we go keeps arbitrarily long input from overflowing.
        sum = (sum + d) % 10;
    }
    sum == 0
}

// ---------------------------------------------------------------------------------------------
// Brand table
// ---------------------------------------------------------------------------------------------

/// One IIN range: the first `width` digits, read as a number, lie in `lo..=hi`, and the card
/// length `n` is allowed when bit `n` of `lengths` is set.
struct Iin {
    brand: CardBrand,
    lo: u32,
    hi: u32,
    width: u8,
    lengths: u32,
}

const fn lens(min: u32, max: u32) -> u32 {
    let mut mask = 0;
    let mut n = min;
    while n <= max {
        mask |= 1 << n;
        n += 1;
    }
    mask
}

const L13_16_19: u32 = (1 << 13) | (1 << 16) | (1 << 19);
const L15: u32 = 1 << 15;
const L16: u32 = 1 << 16;
const L16_19: u32 = lens(16, 19);
const L14_19: u32 = lens(14, 19);
const L12_19: u32 = lens(12, 19);

const fn iin(brand: CardBrand, lo: u32, hi: u32, width: u8, lengths: u32) -> Iin {
    Iin {
        brand,
        lo,
        hi,
        width,
        lengths,
    }
}

const fn elo(lo: u32, hi: u32) -> Iin {
    iin(CardBrand::Elo, lo, hi, 6, L16)
}

/// Longer prefixes win over shorter ones; on equal width the earlier row wins, which is why
/// the catch-all Maestro rows come last (60 is RuPay, 62 UnionPay, 65 Discover).
const IINS: &[Iin] = &[
    iin(CardBrand::Visa, 4, 4, 1, L13_16_19),
    iin(CardBrand::Mastercard, 51, 55, 2, L16),
    iin(CardBrand::Mastercard, 2221, 2720, 4, L16),
    iin(CardBrand::Amex, 34, 34, 2, L15),
    iin(CardBrand::Amex, 37, 37, 2, L15),
    iin(CardBrand::Discover, 6011, 6011, 4, L16_19),
    iin(CardBrand::Discover, 644, 649, 3, L16_19),
    iin(CardBrand::Discover, 65, 65, 2, L16_19),
    iin(CardBrand::Discover, 622126, 622925, 6, L16_19),
    iin(CardBrand::Jcb, 3528, 3589, 4, L16_19),
    iin(CardBrand::DinersClub, 36, 36, 2, L14_19),
    iin(CardBrand::DinersClub, 300, 305, 3, L14_19),
    iin(CardBrand::DinersClub, 3095, 3095, 4, L14_19),
    iin(CardBrand::DinersClub, 38, 39, 2, L14_19),
    iin(CardBrand::UnionPay, 62, 62, 2, L16_19),
    iin(CardBrand::RuPay, 60, 60, 2, L16),
    iin(CardBrand::RuPay, 6521, 6522, 4, L16),
    iin(CardBrand::RuPay, 81, 82, 2, L16),
    iin(CardBrand::RuPay, 508, 508, 3, L16),
    elo(401178, 401179),
    elo(431274, 431274),
    elo(438935, 438935),
    elo(451416, 451416),
    elo(457393, 457393),
    elo(457631, 457632),
    elo(504175, 504175),
    elo(506699, 506778),
    elo(509000, 509999),
    elo(627780, 627780),
    elo(636297, 636297),
    elo(636368, 636368),
    elo(650031, 650033),
    elo(650035, 650051),
    elo(650405, 650439),
    elo(650485, 650538),
    elo(650541, 650598),
    elo(650700, 650718),
    elo(650720, 650727),
    elo(650901, 650978),
    elo(651652, 651679),
    elo(655000, 655019),
    elo(655021, 655058),
    iin(CardBrand::Hipercard, 606282, 606282, 6, L13_16_19),
    iin(CardBrand::Hipercard, 384100, 384100, 6, L13_16_19),
    iin(CardBrand::Hipercard, 384140, 384140, 6, L13_16_19),
    iin(CardBrand::Hipercard, 384160, 384160, 6, L13_16_19),
    iin(CardBrand::Mir, 2200, 2204, 4, L16_19),
    iin(CardBrand::Troy, 9792, 9792, 4, L16),
    iin(CardBrand::Maestro, 50, 50, 2, L12_19),
    iin(CardBrand::Maestro, 56, 69, 2, L12_19),
];

/// Reads ASCII digits as a number; `None` on a non-digit or overflow.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then_some(())?;
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// Whether the first `entry.width` digits, given as the number `head6` formed by the first
/// six digits, fall in the entry's range. Reading six digits once keeps the table scan cheap.
fn prefix_matches(entry: &Iin, head6: u32) -> bool {
    let scale = 10u32.pow(6u32.saturating_sub(u32::from(entry.width)));
    (entry.lo..=entry.hi).contains(&(head6 / scale))
}

/// Brand of a whole card number given as ASCII digits without separators, or `None` unless it
/// has a known prefix, a length valid for that brand and a passing Luhn check. This is the
/// test [`redact`] applies to each candidate.
pub fn card_brand(digits: &[u8]) -> Option<CardBrand> {
    if !luhn_valid(digits) {
        return None;
    }
    brand_for(digits.get(..6).and_then(number)?, digits.len())
}

/// Brand of the most specific row whose prefix matches `head6` and whose lengths allow `len`.
fn brand_for(head6: u32, len: usize) -> Option<CardBrand> {
    if !(12..=19).contains(&len) {
        return None;
    }
    let mut best: Option<&Iin> = None;
    for entry in IINS {
        if entry.lengths & (1 << len) != 0
            && prefix_matches(entry, head6)
            && best.is_none_or(|b| entry.width > b.width)
        {
            best = Some(entry);
        }
    }
    best.map(|entry| entry.brand)
}

/// A window growing digit by digit with its Luhn sum kept up to date, so extending a window
/// by one group costs the group, not the whole window: long runs of short groups stay linear.
#[derive(Default)]
struct Running {
    len: usize,
    head6: u32,
    /// `sums[p]`: Luhn sum mod 10 if the digits at positions of parity `p`, counted from the
    /// left, are the doubled ones. Which parity applies is known only once the length is.
    sums: [u32; 2],
}

impl Running {
    fn push(&mut self, d: u8) {
        let v = u32::from(d.wrapping_sub(b'0')) % 10;
        if self.len < 6 {
            self.head6 = self.head6 * 10 + v;
        }
        let doubled = (v * 2) % 10 + (v * 2) / 10;
        let p = self.len % 2;
        self.sums[p] = (self.sums[p] + doubled) % 10;
        self.sums[1 - p] = (self.sums[1 - p] + v) % 10;
        self.len += 1;
    }

    fn brand(&self) -> Option<CardBrand> {
        // The rightmost digit is never doubled, so the doubled positions share the parity of
        // the length.
        if self.sums[self.len % 2] != 0 {
            return None;
        }
        brand_for(self.head6, self.len)
    }
}

/// For six leading digits: whether any brand uses them, whatever the length.
fn has_known_prefix(digits: &[u8]) -> bool {
    digits
        .get(..6)
        .and_then(number)
        .is_some_and(|head6| IINS.iter().any(|entry| prefix_matches(entry, head6)))
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

/// A replacement of `span` (byte range of the input) by `replacement`.
struct Edit {
    span: Range<usize>,
    replacement: String,
    kind: FindingKind,
}

/// A maximal run of ASCII digits, by byte range. `eligible` is false for runs that may never
/// be part of a card: inside a URL, part of an existing mask, too long, or a security code.
struct Group {
    start: usize,
    end: usize,
    eligible: bool,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn digits<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.start..self.end).unwrap_or_default()
    }
}

/// Every edit `redact` would make, sorted by position and non-overlapping.
fn analyze(text: &str) -> Vec<Edit> {
    let bytes = text.as_bytes();
    let folded = Folded::new(text);
    let keywords = scan_keywords(bytes, &folded);
    let mut groups = tokenize(bytes, &keywords.keyword_digits);
    mark_ineligible(text, &mut groups);

    let mut edits = Vec::new();
    for value in keywords.values {
        let Ok(g) = groups.binary_search_by_key(&value.start, |g| g.start) else {
            continue;
        };
        if groups[g].eligible && starts_a_card(text, &groups, g) {
            continue;
        }
        groups[g].eligible = false;
        edits.push(Edit {
            span: value,
            replacement: REMOVED.to_owned(),
            kind: FindingKind::SecurityCode,
        });
    }

    for seq in sequences(text, &groups) {
        if is_phone_number(text, &groups, seq.clone()) {
            continue;
        }
        for (first, last, brand) in card_spans(bytes, &groups, seq) {
            let (Some(a), Some(b)) = (groups.get(first), groups.get(last)) else {
                continue;
            };
            let digits: Vec<u8> = groups[first..=last]
                .iter()
                .flat_map(|g| g.digits(bytes).iter().copied())
                .collect();
            edits.push(Edit {
                span: a.start..b.end,
                replacement: mask(&digits),
                kind: FindingKind::CardNumber { brand },
            });
        }
    }
    edits.sort_by_key(|e| e.span.start);
    edits
}

/// BIN + stars + last four; callers guarantee at least 12 digits, so at least two stars.
fn mask(digits: &[u8]) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n);
    for (i, &d) in digits.iter().enumerate() {
        out.push(if i < 6 || i + 4 >= n {
            char::from(d)
        } else {
            '*'
        });
    }
    out
}

/// Separators allowed between digit groups of one number; the typographic ones arrive when
/// customers paste from banking apps.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '\u{00A0}' | '\u{2009}' | '\u{202F}' | '\u{2010}' | '\u{2011}' | '\u{2013}'
    )
}

fn tokenize(bytes: &[u8], keyword_digits: &[usize]) -> Vec<Group> {
    let is_digit = |i: usize| {
        bytes.get(i).is_some_and(u8::is_ascii_digit) && keyword_digits.binary_search(&i).is_err()
    };
    let mut groups = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if is_digit(i) {
            let start = i;
            while is_digit(i) {
                i += 1;
            }
            groups.push(Group {
                start,
                end: i,
                eligible: true,
            });
        } else {
            i += 1;
        }
    }
    groups
}

fn mark_ineligible(text: &str, groups: &mut [Group]) {
    let bytes = text.as_bytes();
    let urls = url_spans(text);
    for g in groups.iter_mut() {
        // Spans are sorted and disjoint; groups hold no whitespace, so one starting inside a
        // URL lies wholly inside it.
        let before = urls.partition_point(|u| u.start <= g.start);
        let in_url = before > 0 && urls.get(before - 1).is_some_and(|u| u.contains(&g.start));
        if g.len() > 19 || in_url {
            g.eligible = false;
        }
    }
    for i in 1..groups.len() {
        let (head, tail) = (&groups[i - 1], &groups[i]);
        let gap = bytes.get(head.end..tail.start).unwrap_or_default();
        let is_mask = head.len() == 6
            && tail.len() == 4
            && gap.len() >= 2
            && gap.iter().all(|&b| b == b'*')
            && has_known_prefix(head.digits(bytes));
        if is_mask {
            groups[i - 1].eligible = false;
            groups[i].eligible = false;
        }
    }
}

/// Byte ranges of tokens starting with `http://`, `https://` or `www.` (not glued to a
/// preceding letter or digit), up to the next whitespace.
fn url_spans(text: &str) -> Vec<Range<usize>> {
    const STARTS: [&[u8]; 3] = [b"http://", b"https://", b"www."];
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut prev_alnum = false;
    let mut i = 0;
    while let Some(c) = text.get(i..).and_then(|s| s.chars().next()) {
        let starts_url = !prev_alnum
            && STARTS.iter().any(|p| {
                bytes
                    .get(i..i + p.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(p))
            });
        if starts_url {
            let end = text
                .get(i..)
                .and_then(|s| s.find(char::is_whitespace))
                .map_or(text.len(), |offset| i + offset);
            spans.push(i..end);
            prev_alnum = false;
            i = end;
            continue;
        }
        prev_alnum = c.is_alphanumeric();
        i += c.len_utf8();
    }
    spans
}

fn joined(text: &str, a: &Group, b: &Group) -> bool {
    let mut gap = text.get(a.end..b.start).unwrap_or_default().chars();
    matches!((gap.next(), gap.next()), (Some(c), None) if is_separator(c))
}

/// Maximal runs of eligible groups joined by single separators, as ranges of group indices.
fn sequences(text: &str, groups: &[Group]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < groups.len() {
        if !groups[i].eligible {
            i += 1;
            continue;
        }
        let start = i;
        while groups
            .get(i + 1)
            .is_some_and(|next| next.eligible && joined(text, &groups[i], next))
        {
            i += 1;
        }
        out.push(start..i + 1);
        i += 1;
    }
    out
}

/// A grouped run right after a free-standing `+`, no longer than E.164 allows.
fn is_phone_number(text: &str, groups: &[Group], seq: Range<usize>) -> bool {
    let Some(first) = groups.get(seq.start) else {
        return false;
    };
    let Some(plus) = first.start.checked_sub(1) else {
        return false;
    };
    if text.as_bytes().get(plus) != Some(&b'+') {
        return false;
    }
    let glued = text
        .get(..plus)
        .and_then(|s| s.chars().next_back())
        .is_some_and(char::is_alphanumeric);
    let digits: usize = groups
        .get(seq)
        .unwrap_or_default()
        .iter()
        .map(Group::len)
        .sum();
    !glued && digits <= 15
}

/// A card-valid window of whole groups `first..=last` (indices into the group list).
struct Window {
    first: usize,
    last: usize,
    digits: usize,
    brand: CardBrand,
}

/// Every card-valid window of 12–19 digits inside `seq`, ordered by first group.
fn windows(bytes: &[u8], groups: &[Group], seq: Range<usize>) -> Vec<Window> {
    let mut found = Vec::new();
    for first in seq.clone() {
        // No brand starts with 0, 1 or 7, so those groups never start a window.
        let lead = groups.get(first).and_then(|g| g.digits(bytes).first());
        if !lead.is_some_and(|d| matches!(d, b'2'..=b'6' | b'8' | b'9')) {
            continue;
        }
        let mut window = Running::default();
        for last in first..seq.end {
            let Some(g) = groups.get(last) else { break };
            g.digits(bytes).iter().for_each(|&d| window.push(d));
            if window.len > 19 {
                break;
            }
            if let Some(brand) = window.brand() {
                found.push(Window {
                    first,
                    last,
                    digits: window.len,
                    brand,
                });
            }
        }
    }
    found
}

/// Card spans in `seq`: overlapping windows merge so no part of a PAN stays readable next to
/// a mask; the brand is that of the longest window (earliest on a tie).
fn card_spans(bytes: &[u8], groups: &[Group], seq: Range<usize>) -> Vec<(usize, usize, CardBrand)> {
    let mut spans: Vec<(usize, usize, CardBrand)> = Vec::new();
    let mut best_len = 0;
    for w in windows(bytes, groups, seq) {
        match spans.last_mut() {
            Some((_, last, brand)) if w.first <= *last => {
                *last = (*last).max(w.last);
                if w.digits > best_len {
                    best_len = w.digits;
                    *brand = w.brand;
                }
            }
            _ => {
                best_len = w.digits;
                spans.push((w.first, w.last, w.brand));
            }
        }
    }
    spans
}

/// Whether the security-code candidate at group `g` is really the first group of a card
/// ("cvv: 4111 1111 1111 1111" is a pasted card, not a code). If the groups after it hold a
/// card on their own, the candidate is a code written before the card and is removed.
fn starts_a_card(text: &str, groups: &[Group], g: usize) -> bool {
    let bytes = text.as_bytes();
    let mut end = g + 1;
    while let (Some(prev), Some(next)) = (groups.get(end - 1), groups.get(end)) {
        if !next.eligible || !joined(text, prev, next) {
            break;
        }
        end += 1;
    }
    let from_g = windows(bytes, groups, g..end).iter().any(|w| w.first == g);
    from_g && windows(bytes, groups, g + 1..end).is_empty()
}

// ---------------------------------------------------------------------------------------------
// Security-code keywords
// ---------------------------------------------------------------------------------------------

/// Keywords after case and accent folding; a space matches any run of whitespace. Longer
/// variants come first so "cvv2 123" is read as keyword "cvv2", value "123".
const KEYWORDS: &[&str] = &[
    "codigo de verificacion",
    "codigo de verificacao",
    "codigo de seguridad",
    "codigo de seguranca",
    "card verification",
    "codigo verificador",
    "cod. de seguranca",
    "cod de seguranca",
    "security code",
    "cvv2",
    "cvc2",
    "cvv",
    "cvc",
    "cid",
    "csc",
];

/// Punctuation that may sit between keyword and value ("cvv: 123", "cvv#123", "cvv=123").
const CONNECTOR_PUNCT: &[char] = &[
    ':', '=', '-', '#', '.', '(', '"', '\'', '\u{2013}', '\u{2014}', '\u{201C}', '\u{AB}',
];

/// Whole words that may sit between keyword and value: the spec's "is", "es", "é"/"e", "era",
/// plus the fillers real messages use ("código de segurança do cartão é 123", "cvv number
/// 123", "security code of my card: 123").
const CONNECTOR_WORDS: &[&str] = &[
    "is", "es", "e", "era", "was", "eh", "code", "number", "numero", "num", "no", "value", "valor",
    "de", "do", "da", "del", "la", "el", "the", "of", "on", "my", "mi", "tu", "su", "meu", "minha",
    "seu", "sua", "card", "tarjeta", "cartao",
];

/// Bounds the connector walk so "cvv" followed by a whole paragraph cannot reach a number.
const MAX_CONNECTOR_STEPS: usize = 12;

/// The input folded for keyword matching: lower case, Latin accents stripped, combining marks
/// dropped, each kept char remembering the byte offset it came from.
struct Folded {
    chars: Vec<char>,
    offsets: Vec<usize>,
}

impl Folded {
    fn new(text: &str) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut offsets = Vec::with_capacity(text.len());
        for (offset, c) in text.char_indices() {
            if let Some(f) = fold(c) {
                chars.push(f);
                offsets.push(offset);
            }
        }
        Folded { chars, offsets }
    }

    fn at(&self, k: usize) -> Option<char> {
        self.chars.get(k).copied()
    }

    /// Matches `pattern` at `k`, returning the index just past it.
    fn match_at(&self, mut k: usize, pattern: &str) -> Option<usize> {
        for p in pattern.chars() {
            if p == ' ' {
                let start = k;
                while self.at(k).is_some_and(char::is_whitespace) {
                    k += 1;
                }
                if k == start {
                    return None;
                }
            } else if self.at(k)? == p {
                k += 1;
            } else {
                return None;
            }
        }
        Some(k)
    }

    /// Like `match_at`, but the match must not run on into a letter.
    fn match_word(&self, k: usize, word: &str) -> Option<usize> {
        let end = self.match_at(k, word)?;
        (!self.at(end).is_some_and(char::is_alphabetic)).then_some(end)
    }
}

/// `None` for combining marks, so "código" typed with a combining acute still matches.
fn fold(c: char) -> Option<char> {
    if ('\u{0300}'..='\u{036F}').contains(&c) {
        return None;
    }
    let mut lower = c.to_lowercase();
    let l = match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    };
    Some(match l {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        other => other,
    })
}

struct KeywordScan {
    /// Byte offsets of digits that belong to a keyword (the "2" of "cvv2"), sorted; they must
    /// not be read as part of a number.
    keyword_digits: Vec<usize>,
    /// Byte ranges of security-code values, in order.
    values: Vec<Range<usize>>,
}

fn scan_keywords(bytes: &[u8], f: &Folded) -> KeywordScan {
    let mut scan = KeywordScan {
        keyword_digits: Vec::new(),
        values: Vec::new(),
    };
    let mut k = 0;
    while let Some(c) = f.at(k) {
        let left_ok = k == 0 || !f.at(k - 1).is_some_and(char::is_alphabetic);
        if !left_ok || !matches!(c, 'c' | 's') {
            k += 1;
            continue;
        }
        let mut next = k + 1;
        let mut keyword: Option<usize> = None;
        for kw in KEYWORDS {
            let Some(end) = f.match_word(k, kw) else {
                continue;
            };
            if let Some((value, resume)) = parse_value(bytes, f, end) {
                keyword = Some(end);
                scan.values.push(value);
                next = resume;
                break;
            }
            // "cvv2" directly followed by digits is ambiguous ("cvv24111..."); only claim the
            // "2" when a value proves the reading, so a glued PAN is still judged whole.
            let glued_digit = kw.ends_with(|c: char| c.is_ascii_digit())
                && f.at(end).is_some_and(|c| c.is_ascii_digit());
            if keyword.is_none() && !glued_digit {
                keyword = Some(end);
            }
        }
        if let Some(end) = keyword {
            for i in k..end {
                if f.at(i).is_some_and(|c| c.is_ascii_digit()) {
                    scan.keyword_digits.extend(f.offsets.get(i));
                }
            }
        }
        k = next;
    }
    scan
}

/// Walks connectors after a keyword to a 3–4 digit value; returns its byte range and the
/// folded index after it. A longer run or a decimal ("123,45") is some other number.
fn parse_value(bytes: &[u8], f: &Folded, mut k: usize) -> Option<(Range<usize>, usize)> {
    for _ in 0..MAX_CONNECTOR_STEPS {
        let c = f.at(k)?;
        if c.is_ascii_digit() {
            let start = *f.offsets.get(k)?;
            let len = bytes
                .get(start..)?
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = start + len;
            let decimal = matches!(bytes.get(end), Some(b'.' | b','))
                && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
            return ((3..=4).contains(&len) && !decimal).then_some((start..end, k + len));
        }
        if c.is_whitespace() {
            while f.at(k).is_some_and(char::is_whitespace) {
                k += 1;
            }
        } else if CONNECTOR_PUNCT.contains(&c) {
            k += 1;
        } else {
            k = CONNECTOR_WORDS.iter().find_map(|w| f.match_word(k, w))?;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (PAN, brand, grouping used when writing it with separators)
    const TEST_PANS: &[(&str, CardBrand, &[usize])] = &[
        ("4111111111111111", CardBrand::Visa, &[4, 4, 4, 4]),
        ("4012888888881881", CardBrand::Visa, &[4, 4, 4, 4]),
        ("4222222222222", CardBrand::Visa, &[4, 4, 5]),
        ("4111111111111111110", CardBrand::Visa, &[4, 4, 4, 4, 3]),
        ("5555555555554444", CardBrand::Mastercard, &[4, 4, 4, 4]),
        ("2223003122003222", CardBrand::Mastercard, &[4, 4, 4, 4]),
        ("378282246310005", CardBrand::Amex, &[4, 6, 5]),
        ("371449635398431", CardBrand::Amex, &[4, 6, 5]),
        ("6011111111111117", CardBrand::Discover, &[4, 4, 4, 4]),
        ("3530111333300000", CardBrand::Jcb, &[4, 4, 4, 4]),
        ("6759649826438453", CardBrand::Maestro, &[4, 4, 4, 4]),
        ("6759649826438453011", CardBrand::Maestro, &[4, 4, 4, 4, 3]),
        ("501812345673", CardBrand::Maestro, &[4, 4, 4]),
        ("36227206271667", CardBrand::DinersClub, &[4, 6, 4]),
        ("6200000000000005", CardBrand::UnionPay, &[4, 4, 4, 4]),
        ("6522123456789011", CardBrand::RuPay, &[4, 4, 4, 4]),
        ("5090123456789015", CardBrand::Elo, &[4, 4, 4, 4]),
        ("6062821234567890", CardBrand::Hipercard, &[4, 4, 4, 4]),
        ("2200123456789019", CardBrand::Mir, &[4, 4, 4, 4]),
        ("9792123456789018", CardBrand::Troy, &[4, 4, 4, 4]),
    ];

    fn grouped(pan: &str, sizes: &[usize], sep: char) -> String {
        let mut out = String::new();
        let mut rest = pan;
        for &size in sizes {
            if !out.is_empty() {
                out.push(sep);
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            out.push_str(head);
            rest = tail;
        }
        out
    }

    fn expected_mask(pan: &str) -> String {
        format!(
            "{}{}{}",
            &pan[..6],
            "*".repeat(pan.len() - 10),
            &pan[pan.len() - 4..]
        )
    }

    fn card(brand: CardBrand) -> Finding {
        Finding {
            kind: FindingKind::CardNumber { brand },
        }
    }

    fn code() -> Finding {
        Finding {
            kind: FindingKind::SecurityCode,
        }
    }

    fn assert_untouched(input: &str) {
        let r = redact(input);
        assert_eq!(r.text, input);
        assert!(
            r.is_clean(),
            "unexpected findings {:?} in {input:?}",
            r.findings
        );
        assert!(!contains_sensitive(input));
    }

    #[test]
    fn every_test_pan_passes_luhn() {
        for (pan, _, _) in TEST_PANS {
            assert!(luhn_valid(pan.as_bytes()), "{pan}");
        }
    }

    #[test]
    fn every_brand_is_masked_plain_with_spaces_and_with_dashes() {
        for &(pan, brand, sizes) in TEST_PANS {
            for written in [
                pan.to_owned(),
                grouped(pan, sizes, ' '),
                grouped(pan, sizes, '-'),
            ] {
                let r = redact(&format!("card {written} ok"));
                assert_eq!(
                    r.text,
                    format!("card {} ok", expected_mask(pan)),
                    "{written}"
                );
                assert_eq!(r.findings, vec![card(brand)], "{written}");
            }
        }
    }

    #[test]
    fn visa_with_spaces_is_masked_to_bin_and_last4() {
        assert_eq!(redact("4111 1111 1111 1111").text, "411111******1111");
    }

    #[test]
    fn amex_in_4_6_5_grouping_is_masked_to_bin_and_last4() {
        assert_eq!(redact("3782 822463 10005").text, "378282*****0005");
        assert_eq!(redact("378282246310005").text, "378282*****0005");
    }

    #[test]
    fn most_specific_prefix_names_the_brand() {
        let brand = |pan: &str| card_brand(pan.as_bytes());
        assert_eq!(brand("6011111111111117"), Some(CardBrand::Discover));
        assert_eq!(brand("6522123456789011"), Some(CardBrand::RuPay));
        assert_eq!(brand("6200000000000005"), Some(CardBrand::UnionPay));
        // 12 digits is too short for every 6x brand but Maestro.
        assert_eq!(brand("612345678900"), Some(CardBrand::Maestro));
    }

    #[test]
    fn sequence_longer_than_19_digits_still_masks_the_card_inside() {
        let r = redact("ref 4111 1111 1111 1111 1234");
        assert_eq!(r.text, "ref 411111******1111 1234");
        assert_eq!(r.findings, vec![card(CardBrand::Visa)]);
        let r = redact("qty 7 5555-5555-5555-4444");
        assert_eq!(r.text, "qty 7 555555******4444");
    }

    #[test]
    fn two_adjacent_cards_are_masked_separately() {
        let r = redact("4111 1111 1111 1111 5555 5555 5555 4444");
        assert_eq!(r.text, "411111******1111 555555******4444");
        assert_eq!(
            r.findings,
            vec![card(CardBrand::Visa), card(CardBrand::Mastercard)]
        );
    }

    #[test]
    fn card_glued_to_letters_or_punctuation_is_masked() {
        assert_eq!(
            redact("card:4111111111111111").text,
            "card:411111******1111"
        );
        assert_eq!(
            redact("ABC4111111111111111XYZ").text,
            "ABC411111******1111XYZ"
        );
        assert_eq!(redact("(4111-1111-1111-1111).").text, "(411111******1111).");
    }

    #[test]
    fn card_glued_to_other_digits_is_judged_as_one_number() {
        assert_untouched("124111111111111111");
    }

    #[test]
    fn phone_numbers_with_plus_are_untouched() {
        assert_untouched("ligar +55 11 91234-5678 amanhã");
        assert_untouched("call +91 98765 43210");
        assert_untouched("+34 612 345 678");
        assert_untouched("+44 20 7946 0958");
    }

    #[test]
    fn plus_does_not_shield_a_run_longer_than_e164_or_glued_to_a_word() {
        assert_eq!(redact("+4111111111111111").text, "+411111******1111");
        assert_eq!(
            redact("+55 11 91234-5678 4111 1111 1111 1111")
                .findings
                .len(),
            1
        );
        assert_eq!(redact("card+378282246310005").text, "card+378282*****0005");
    }

    #[test]
    fn long_digit_runs_inside_urls_are_untouched() {
        assert_untouched("see https://pay.example.com/r/4111111111111111 now");
        assert_untouched("HTTP://x.example/4111-1111-1111-1111");
        assert_untouched("www.example.com/4111111111111111");
    }

    #[test]
    fn url_ends_at_whitespace_so_a_card_after_it_is_masked() {
        let r = redact("https://x.example/a 4111111111111111");
        assert_eq!(r.text, "https://x.example/a 411111******1111");
    }

    #[test]
    fn luhn_failing_runs_are_untouched() {
        assert_untouched("4111111111111112");
        assert_untouched("4111 1111 1111 1112");
    }

    #[test]
    fn runs_without_a_known_prefix_or_length_are_untouched() {
        assert_untouched("0000000000000000");
        assert_untouched("1234567812345670");
        // Luhn-valid Amex prefix, but 16 digits.
        assert_untouched("3782822463100052");
    }

    #[test]
    fn order_numbers_of_twenty_or_more_digits_are_untouched() {
        assert_untouched("pedido 41111111111111111111");
        assert_untouched("ARN 74987654321098765432109");
    }

    #[test]
    fn upi_rrn_is_a_payment_reference_only_on_the_upi_rail() {
        assert!(is_payment_reference(Some("upi"), "412345678901"));
        assert!(is_payment_reference(Some("UPI"), "612345678900"));
        assert!(!is_payment_reference(None, "612345678900"));
        assert!(!is_payment_reference(Some("card"), "412345678901"));
        assert!(!is_payment_reference(Some("upi"), "41234567890"));
        assert!(!is_payment_reference(Some("upi"), "4123456789012"));
        assert!(!is_payment_reference(Some("upi"), "41234567890a"));
        assert_untouched("RRN 412345678901");
    }

    #[test]
    fn pix_end_to_end_id_is_a_payment_reference_on_any_rail() {
        let id = "E12345678202406151230abcDEF12345";
        assert_eq!(id.len(), 32);
        assert!(is_payment_reference(Some("pix"), id));
        assert!(is_payment_reference(Some("PIX"), id));
        assert!(is_payment_reference(None, id));
        assert!(is_payment_reference(Some("boleto"), id));
        assert!(!is_payment_reference(Some("upi"), id));
        assert!(is_pix_end_to_end_id("D12345678202406151230abcDEF12345"));
        assert!(!is_pix_end_to_end_id("X12345678202406151230abcDEF12345"));
        assert!(!is_pix_end_to_end_id("E12345678202413151230abcDEF12345"));
        assert!(!is_pix_end_to_end_id("E12345678202406151260abcDEF12345"));
        assert!(!is_pix_end_to_end_id("E12345678202406151230abcDEF1234"));
        assert!(!is_pix_end_to_end_id("E12345678202406151230abcDEF1234é"));
        assert_untouched(id);
    }

    #[test]
    fn redact_reference_keeps_rail_references_verbatim() {
        let r = redact_reference(Some("upi"), "612345678900");
        assert_eq!(r.text, "612345678900");
        assert!(r.is_clean());
        assert_eq!(redact_reference(None, "612345678900").text, "612345**8900");
    }

    #[test]
    fn cvv_in_english_is_removed_and_keyword_kept() {
        let r = redact("CVV: 123");
        assert_eq!(r.text, "CVV: [removed]");
        assert_eq!(r.findings, vec![code()]);
        assert_eq!(redact("my cvv2 is 4567").text, "my cvv2 is [removed]");
        assert_eq!(redact("security code=321").text, "security code=[removed]");
        assert_eq!(redact("CVC#999 thanks").text, "CVC#[removed] thanks");
        assert_eq!(
            redact("card verification value 123").text,
            "card verification value [removed]"
        );
    }

    #[test]
    fn cvv_in_spanish_is_removed() {
        assert_eq!(
            redact("mi código de seguridad es 456").text,
            "mi código de seguridad es [removed]"
        );
        assert_eq!(redact("el cvv es 789").text, "el cvv es [removed]");
        assert_eq!(
            redact("CODIGO DE VERIFICACIÓN: 1234").text,
            "CODIGO DE VERIFICACIÓN: [removed]"
        );
    }

    #[test]
    fn cvv_in_portuguese_is_removed() {
        assert_eq!(
            redact("código de segurança 7890").text,
            "código de segurança [removed]"
        );
        assert_eq!(
            redact("o cód. de segurança do cartão é 123").text,
            "o cód. de segurança do cartão é [removed]"
        );
        assert_eq!(
            redact("código verificador: 555").text,
            "código verificador: [removed]"
        );
    }

    #[test]
    fn keyword_matching_ignores_case_and_combining_accents() {
        let decomposed = "co\u{301}digo de seguranc\u{327}a: 246";
        assert_eq!(
            redact(decomposed).text,
            "co\u{301}digo de seguranc\u{327}a: [removed]"
        );
        assert_eq!(
            redact("CÓDIGO DE SEGURANÇA 246").text,
            "CÓDIGO DE SEGURANÇA [removed]"
        );
    }

    #[test]
    fn keyword_without_a_value_is_untouched() {
        assert_untouched("cvv");
        assert_untouched("what is a CVV?");
        assert_untouched("cvv2");
        assert_untouched("cvv 12");
        assert_untouched("decidir 123");
    }

    #[test]
    fn security_code_that_starts_a_longer_number_is_kept() {
        assert_untouched("cvv 12345");
        assert_untouched("cvv 123,45");
    }

    #[test]
    fn keyword_before_a_card_masks_the_card_instead() {
        let r = redact("cvv: 4111 1111 1111 1111");
        assert_eq!(r.text, "cvv: 411111******1111");
        assert_eq!(r.findings, vec![card(CardBrand::Visa)]);
    }

    #[test]
    fn code_written_before_a_card_is_removed_and_card_masked() {
        let r = redact("cvv 401 4111 1111 1111 1111");
        assert_eq!(r.text, "cvv [removed] 411111******1111");
        assert_eq!(r.findings, vec![code(), card(CardBrand::Visa)]);
    }

    #[test]
    fn cvv_inside_a_url_query_is_still_removed() {
        let r = redact("https://pay.example.com/?cvv=123&n=4111111111111111");
        assert_eq!(
            r.text,
            "https://pay.example.com/?cvv=[removed]&n=4111111111111111"
        );
    }

    #[test]
    fn mixed_spanish_complaint_masks_card_removes_cvv_and_keeps_phone() {
        let r = redact(
            "Me cobraron dos veces en la tarjeta 4111-1111-1111-1111, cvv 123, llamar al +34 612 345 678",
        );
        assert_eq!(
            r.text,
            "Me cobraron dos veces en la tarjeta 411111******1111, cvv [removed], llamar al +34 612 345 678"
        );
        assert_eq!(r.findings, vec![card(CardBrand::Visa), code()]);
    }

    #[test]
    fn multibyte_text_around_numbers_is_preserved() {
        let r = redact("₹500 कार्ड 4111111111111111 😀 cvv é 123 ações");
        assert_eq!(
            r.text,
            "₹500 कार्ड 411111******1111 😀 cvv é [removed] ações"
        );
        let r = redact("é4111111111111111₹");
        assert_eq!(r.text, "é411111******1111₹");
        assert_untouched("नमस्ते ₹ 1234 😀😀 ç");
    }

    #[test]
    fn findings_are_in_order_and_never_hold_digits() {
        let r = redact("cvv 999 then 378282246310005 then CVC 1234 then 5555555555554444");
        assert_eq!(
            r.findings,
            vec![
                code(),
                card(CardBrand::Amex),
                code(),
                card(CardBrand::Mastercard)
            ]
        );
        assert!(
            !format!("{:?}", r.findings)
                .chars()
                .any(|c| c.is_ascii_digit())
        );
    }

    #[test]
    fn redacting_masked_output_finds_nothing() {
        let once = redact("4111 1111 1111 1111 1234 5678 cvv 321 3782 822463 10005");
        let twice = redact(&once.text);
        assert_eq!(twice.text, once.text);
        assert!(twice.is_clean());
        assert!(!contains_sensitive(&once.text));
    }

    #[test]
    fn contains_sensitive_flags_cards_and_codes_only() {
        assert!(contains_sensitive("4111111111111111"));
        assert!(contains_sensitive("cvv 123"));
        assert!(!contains_sensitive("411111******1111"));
        assert!(!contains_sensitive("cvv [removed]"));
        assert!(!contains_sensitive(""));
    }

    #[test]
    fn luhn_valid_rejects_empty_and_non_digits() {
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"4111 1111 1111 1111"));
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(CardBrand::DinersClub.as_str(), "diners_club");
        assert_eq!(CardBrand::RuPay.as_str(), "rupay");
        assert_eq!(FindingKind::SecurityCode.as_str(), "security_code");
        assert_eq!(
            FindingKind::CardNumber {
                brand: CardBrand::Visa
            }
            .as_str(),
            "card_number"
        );
    }

    /// A random Luhn-valid PAN drawn from a random IIN row, as its digit string.
    fn pan_strategy() -> impl Strategy<Value = String> {
        (
            0..IINS.len(),
            any::<u64>(),
            prop::collection::vec(0u8..10, 19),
        )
            .prop_map(|(row, pick, body)| {
                let entry = &IINS[row];
                let allowed: Vec<usize> = (12..=19)
                    .filter(|n| entry.lengths & (1 << n) != 0)
                    .collect();
                let len = allowed[(pick as usize) % allowed.len()];
                let span = u64::from(entry.hi - entry.lo) + 1;
                let prefix = format!(
                    "{:0width$}",
                    u64::from(entry.lo) + (pick >> 8) % span,
                    width = usize::from(entry.width)
                );
                let mut digits = prefix.into_bytes();
                digits.extend(body.iter().map(|d| b'0' + d).take(len - digits.len() - 1));
                digits.push(b'0');
                for c in b'0'..=b'9' {
                    if let Some(last) = digits.last_mut() {
                        *last = c;
                    }
                    if luhn_valid(&digits) {
                        break;
                    }
                }
                String::from_utf8(digits).unwrap_or_default()
            })
    }

    /// Writes a PAN plain, in fours with spaces or dashes, or in random chunks with mixed
    /// single separators.
    fn formatted(pan: &str, style: u8, chunks: &[(usize, bool)]) -> String {
        match style % 4 {
            0 => pan.to_owned(),
            1 => grouped(pan, &[4, 4, 4, 4, 4], ' '),
            2 => grouped(pan, &[4, 4, 4, 4, 4], '-'),
            _ => {
                let mut out = String::new();
                let mut rest = pan;
                for &(size, dash) in chunks.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    if !out.is_empty() {
                        out.push(if dash { '-' } else { ' ' });
                    }
                    let (head, tail) = rest.split_at(size.min(rest.len()));
                    out.push_str(head);
                    rest = tail;
                }
                out
            }
        }
    }

    /// Surrounding text: letters, digits, separators, punctuation and multibyte characters,
    /// but no `+` (a phone marker) and no `*` (mask syntax).
    fn surrounding() -> impl Strategy<Value = String> {
        let chars: Vec<char> = "abcvxyzABC0123456789 -.,:;!?()/éçãñ₹€😀नक\u{301}\u{a0}\n"
            .chars()
            .collect();
        prop::collection::vec(prop::sample::select(chars), 0..24)
            .prop_map(|cs| cs.into_iter().collect())
    }

    /// Strings rich in the things the redactor reacts to.
    fn soup() -> impl Strategy<Value = String> {
        let parts = prop_oneof![
            Just("4111".to_owned()),
            Just("1111".to_owned()),
            Just("4111111111111111".to_owned()),
            Just("378282246310005".to_owned()),
            Just("411111******1111".to_owned()),
            Just(" ".to_owned()),
            Just("-".to_owned()),
            Just("+".to_owned()),
            Just("*".to_owned()),
            Just("cvv".to_owned()),
            Just("CVV2".to_owned()),
            Just(": ".to_owned()),
            Just("código de segurança ".to_owned()),
            Just("https://".to_owned()),
            Just("www.".to_owned()),
            Just("[removed]".to_owned()),
            Just("é₹😀न".to_owned()),
            "[0-9]{1,20}",
            "[a-z]{1,5}",
            pan_strategy(),
        ];
        prop::collection::vec(parts, 0..16).prop_map(|ps| ps.concat())
    }

    fn assert_idempotent(s: &str) -> Result<(), TestCaseError> {
        let once = redact(s);
        let twice = redact(&once.text);
        prop_assert_eq!(&twice.text, &once.text);
        prop_assert!(twice.is_clean(), "{:?} -> {:?}", s, once.text);
        prop_assert!(!contains_sensitive(&once.text));
        prop_assert_eq!(contains_sensitive(s), !once.is_clean());
        Ok(())
    }

    proptest! {
        #[test]
        fn redact_never_panics_and_is_idempotent_on_any_string(s in any::<String>()) {
            assert_idempotent(&s)?;
        }

        #[test]
        fn redact_is_idempotent_on_card_and_keyword_soup(s in soup()) {
            assert_idempotent(&s)?;
        }

        #[test]
        fn running_window_agrees_with_whole_number_check(digits in "[0-9]{12,19}") {
            let mut window = Running::default();
            digits.bytes().for_each(|d| window.push(d));
            prop_assert_eq!(window.brand(), card_brand(digits.as_bytes()));
            prop_assert_eq!(window.sums[window.len % 2] == 0, luhn_valid(digits.as_bytes()));
        }

        #[test]
        fn embedded_card_never_survives_redaction(
            pan in pan_strategy(),
            style in any::<u8>(),
            chunks in prop::collection::vec((1usize..7, any::<bool>()), 1..6),
            before in surrounding(),
            after in surrounding(),
            left in prop::sample::select(vec![' ', ':', 'x', 'é', '(', '-', '\n']),
            right in prop::sample::select(vec![' ', ',', 'y', '😀', ')', '-', '.']),
        ) {
            let last_token = before.split_whitespace().last().unwrap_or_default().to_lowercase();
            prop_assume!(!["http://", "https://", "www."].iter().any(|u| last_token.contains(u)));
            let written = formatted(&pan, style, &chunks);
            let input = format!("{before}{left}{written}{right}{after}");
            let out = redact(&input).text;
            prop_assert!(!contains_sensitive(&out), "{:?} -> {:?}", input, out);
            prop_assert!(!out.contains(&pan), "{:?} -> {:?}", input, out);
            prop_assert!(!out.contains(&written), "{:?} -> {:?}", input, out);
        }
    }
}
