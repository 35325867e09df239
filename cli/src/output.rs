//! Printing: JSON for scripts, aligned text for people, and the time formats both use.
//!
//! The store counts time in milliseconds since the Unix epoch. JSON output keeps those raw
//! numbers (scripts compare them); human output shows RFC 3339 UTC, with the calendar arithmetic of
//! `dossier::time`. Everything is written to a caller-supplied `Write` so a closed pipe
//! (`dossier case list | head`) is an I/O error handled in `main`, not a panic in `println!`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use dossier::time::DAY_MS as MS_PER_DAY;

/// Writes `value` as pretty JSON followed by a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).context("cannot write JSON output")?;
    writeln!(out)?;
    Ok(())
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC, to the second.
pub fn time(ms: i64) -> String {
    dossier::time::format_rfc3339(ms)
}

/// Formats a moment for a person, to the minute and relative to `now`:
/// `2026-12-07 17:45 UTC (3 min ago)`.
pub fn human_time(ms: i64, now: i64) -> String {
    let rfc = time(ms);
    // `2026-12-07T17:45:12Z` -> `2026-12-07 17:45`
    let minute = rfc.get(..16).unwrap_or(&rfc).replacen('T', " ", 1);
    format!("{minute} UTC ({})", ago(now.saturating_sub(ms)))
}

/// `just now`, `3 min ago`, `5 h ago`, `12 days ago`, or `in 3 min` for a time ahead of `now`.
fn ago(delta_ms: i64) -> String {
    let (future, d) = (delta_ms < 0, delta_ms.unsigned_abs() / 60_000);
    let span = match d {
        0 => return "just now".to_string(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => plural((m / (24 * 60)) as usize, "day", "days"),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// Formats an optional time, `-` when absent.
pub fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), time)
}

/// Parses a point in time given on the command line: RFC 3339 (`2026-11-22T16:40:00Z`,
/// `2026-11-22T18:40:00+02:00`), a plain date (`2026-11-22`, midnight UTC), or a time relative to
/// `now`: `+30m`, `+4h`, `+2d`, `+1w`.
pub fn parse_when(input: &str, now: i64) -> Result<i64> {
    let s = input.trim();
    if let Some(rel) = s.strip_prefix('+') {
        return parse_relative(rel).map(|d| now.saturating_add(d));
    }
    // A deadline in the past is legitimate (back-dated imports, tests): `-2h` is two hours ago.
    if let Some(rel) = s.strip_prefix('-') {
        return parse_relative(rel).map(|d| now.saturating_sub(d));
    }
    dossier::time::parse_rfc3339(s).with_context(|| {
        format!(
            "invalid time {s:?}: use RFC 3339 (2026-11-22T16:40:00Z) or relative \
             (+30m, +4h, +2d, +1w; -2h for the past)"
        )
    })
}

fn parse_relative(rel: &str) -> Result<i64> {
    let unit_at = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
    let (digits, unit) = rel.split_at(unit_at);
    let n: i64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => bail!("invalid relative time +{rel}: use +30m, +4h, +2d or +1w"),
    };
    let unit_ms: i64 = match unit {
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => MS_PER_DAY,
        "w" => 7 * MS_PER_DAY,
        _ => bail!("invalid relative time +{rel}: the unit must be m, h, d or w"),
    };
    n.checked_mul(unit_ms)
        .with_context(|| format!("relative time +{rel} is too far away"))
}

/// The messages of an error and of each of its causes, outermost first, each on one line.
///
/// A cause is left out when a message before it already contains its text: the store's errors
/// carry their source's text in their own message (`i/o error: No such file or directory`) and
/// also name it as their source, and saying it twice helps nobody.
pub fn error_chain(e: &anyhow::Error) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string().replace(['\n', '\r'], " ");
        let text = text.trim();
        if text.is_empty() || chain.iter().any(|m| m.contains(text)) {
            continue;
        }
        chain.push(text.to_string());
    }
    chain
}

/// Writes `e` for a person (`error: outer: cause: root cause`, one line) or, with `json`, as
/// one line of JSON: `{"error":{"message":..,"causes":[..],"exit_code":N}}`, where `message` is
/// the same one-line chain and `causes` its parts, outermost first. An import error adds
/// `"import": {"source", "location": {"kind": "line" | "json_path" | "record", ..}, "reason"}`,
/// so a tool can point at the place without parsing the message.
pub fn error(out: &mut dyn Write, e: &anyhow::Error, exit_code: u8, json: bool) -> Result<()> {
    let causes = error_chain(e);
    let message = causes.join(": ");
    if json {
        let mut value = serde_json::json!({
            "error": { "message": message, "causes": causes, "exit_code": exit_code }
        });
        let import = e
            .chain()
            .find_map(|c| match c.downcast_ref::<dossier::Error>() {
                Some(dossier::Error::Import {
                    source_name,
                    location,
                    reason,
                }) => Some(serde_json::json!({
                    "source": source_name, "location": location, "reason": reason
                })),
                _ => None,
            });
        if let Some(import) = import {
            value["error"]["import"] = import;
        }
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "error: {message}")?;
    }
    Ok(())
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Writes rows as left-aligned columns separated by two spaces; the first row is the header.
pub fn table(out: &mut dyn Write, rows: &[Vec<String>]) -> Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `text` indented by `indent`, one output line per line of text.
pub fn indented(out: &mut dyn Write, indent: &str, text: &str) -> Result<()> {
    for line in text.lines() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}

/// `1 case`, `2 cases`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates_format_as_rfc3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_795_365_600_000), "2026-11-22T16:40:00Z");
        assert_eq!(time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(time(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(time(1_795_365_600_999), "2026-11-22T16:40:00Z");
    }

    #[test]
    fn rfc3339_parses_back_to_the_same_milliseconds() {
        for ms in [
            0,
            1_795_365_600_000,
            951_782_400_000,
            4_102_444_800_000,
            -86_400_000,
        ] {
            assert_eq!(parse_when(&time(ms), 0).ok(), Some(ms), "{}", time(ms));
        }
        assert_eq!(
            parse_when("2026-11-22T18:40:00+02:00", 0).ok(),
            Some(1_795_365_600_000)
        );
        assert_eq!(
            parse_when("2026-11-22T16:40:00.250Z", 0).ok(),
            Some(1_795_365_600_250)
        );
        assert_eq!(parse_when("2026-11-22", 0).ok(), Some(1_795_305_600_000));
    }

    #[test]
    fn relative_times_are_added_to_now() {
        assert_eq!(parse_when("+30m", 1000).ok(), Some(1000 + 30 * 60_000));
        assert_eq!(parse_when("+4h", 0).ok(), Some(4 * 3_600_000));
        assert_eq!(parse_when("+2d", 0).ok(), Some(2 * MS_PER_DAY));
        assert_eq!(parse_when("+1w", 0).ok(), Some(7 * MS_PER_DAY));
    }

    #[test]
    fn relative_times_with_a_minus_sign_are_in_the_past() {
        let now = 10 * MS_PER_DAY;
        assert_eq!(parse_when("-2h", now).ok(), Some(now - 2 * 3_600_000));
        assert_eq!(parse_when("-1d", now).ok(), Some(now - MS_PER_DAY));
        assert!(parse_when("-", now).is_err());
        assert!(parse_when("-2y", now).is_err());
    }

    #[test]
    fn malformed_times_are_errors_not_panics() {
        for bad in [
            "",
            "+",
            "+h",
            "+4y",
            "+99999999999999999999d",
            "2026-13-01",
            "2026-02-30",
            "2026-11-22T25:00:00Z",
            "2026-11-22T16:40:00",
            "2026-11-22T16:40:00+2",
            "yesterday",
            "2026-11-22T16:40:00.Z",
            "é026-11-22",
        ] {
            assert!(parse_when(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn human_times_are_to_the_minute_with_how_long_ago() {
        let t = 1_796_665_500_000; // 2026-12-07T17:45:00Z
        assert_eq!(
            human_time(t, t + 3 * 60_000),
            "2026-12-07 17:45 UTC (3 min ago)"
        );
        assert_eq!(human_time(t, t + 20_000), "2026-12-07 17:45 UTC (just now)");
        assert_eq!(
            human_time(t, t + 5 * 3_600_000),
            "2026-12-07 17:45 UTC (5 h ago)"
        );
        assert_eq!(
            human_time(t, t + 12 * MS_PER_DAY),
            "2026-12-07 17:45 UTC (12 days ago)"
        );
        assert_eq!(
            human_time(t, t - 3 * 60_000),
            "2026-12-07 17:45 UTC (in 3 min)"
        );
        assert!(human_time(t, i64::MIN).ends_with("days)"));
    }

    #[test]
    fn an_error_is_printed_with_its_whole_cause_chain_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file\nor directory");
        let e = anyhow::Error::new(io).context("cannot read cut.bundle");
        let mut text = Vec::new();
        error(&mut text, &e, 1, false).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "error: cannot read cut.bundle: No such file or directory\n"
        );
        let mut json = Vec::new();
        error(&mut json, &e, 1, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            v["error"]["message"],
            "cannot read cut.bundle: No such file or directory"
        );
        assert_eq!(v["error"]["causes"][1], "No such file or directory");
        assert_eq!(v["error"]["exit_code"], 1);
    }

    #[test]
    fn a_cause_already_quoted_by_the_message_before_it_is_not_repeated() {
        let store = dossier::Error::from(std::io::Error::other("disk on fire"));
        let e = anyhow::Error::new(store).context("bundle x refused");
        assert_eq!(
            error_chain(&e),
            ["bundle x refused", "i/o error: disk on fire"]
        );
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("Pix enviado e não recebido", 10), "Pix envia…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a\nb", 10), "a b");
    }
}
