//! Import formats every front end shares: cases as JSON Lines, articles as JSON.
//!
//! They live here, not in the CLI, so a binding or a host app imports the same files with the
//! same checks, and so a failure says where it is as a [`Location`] (a line, a JSON path with
//! its line and column, a record of a batch) that a front end can point at, never as text to
//! parse back. Either everything in a file is stored or nothing is.

use crate::article::NewArticle;
use crate::case::NewCase;
use crate::error::{Error, Location, Result};
use crate::id::DocId;
use crate::store::Store;

/// A serde_json message without its " at line L column C" suffix (the location is a field), and
/// with anything that looks like card data masked: serde quotes the offending value.
pub fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
    crate::redact::redact(msg).text
}

/// Where a serde_path_to_error failure is: its path inside the value, and its place in the text
/// (`line_offset` is added to the line, for one JSON value per line of a bigger file).
fn json_location(path: String, e: &serde_json::Error, line_offset: usize) -> Location {
    let path = if path == "." { String::new() } else { path };
    let line = (e.line() > 0).then(|| (e.line() + line_offset) as u64);
    Location::JsonPath {
        path,
        line,
        column: line.map(|_| e.column() as u64),
    }
}

fn import_error(source_name: &str, location: Location, reason: String) -> Error {
    Error::Import {
        source_name: crate::redact::redact(source_name).text,
        location,
        reason,
    }
}

/// Parses JSON Lines of [`NewCase`]s (blank lines skipped), returning the cases and the 1-based
/// line of each.
///
/// # Errors
/// [`Error::Import`] at the first line that is not a case: [`Location::JsonPath`] with its line
/// and column.
pub fn parse_cases_jsonl(text: &str, source_name: &str) -> Result<(Vec<NewCase>, Vec<u64>)> {
    let mut cases = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let case = serde_path_to_error::deserialize::<_, NewCase>(&mut de).map_err(|e| {
            let location = json_location(e.path().to_string(), e.inner(), i);
            import_error(source_name, location, json_message(e.inner()))
        })?;
        de.end().map_err(|e| {
            import_error(
                source_name,
                json_location(String::new(), &e, i),
                json_message(&e),
            )
        })?;
        cases.push(case);
        lines.push(i as u64 + 1);
    }
    Ok((cases, lines))
}

/// Parses one [`NewArticle`] or a JSON array of them. The flag says whether it was an array.
///
/// # Errors
/// [`Error::Import`] with the [`Location::JsonPath`] of the first problem.
pub fn parse_articles_json(text: &str, source_name: &str) -> Result<(Vec<NewArticle>, bool)> {
    let is_array = text.trim_start().starts_with('[');
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = if is_array {
        serde_path_to_error::deserialize::<_, Vec<NewArticle>>(&mut de)
    } else {
        serde_path_to_error::deserialize::<_, NewArticle>(&mut de).map(|a| vec![a])
    };
    let articles = parsed.map_err(|e| {
        let location = json_location(e.path().to_string(), e.inner(), 0);
        import_error(source_name, location, json_message(e.inner()))
    })?;
    de.end().map_err(|e| {
        import_error(
            source_name,
            json_location(String::new(), &e, 0),
            json_message(&e),
        )
    })?;
    Ok((articles, is_array))
}

impl Store {
    /// Imports cases from JSON Lines (one [`NewCase`] per line): all or none.
    ///
    /// # Errors
    /// [`Error::Import`] naming the first bad line: [`Location::JsonPath`] (with line and
    /// column) when a line is not a case, [`Location::Line`] when a case is invalid.
    pub fn import_cases_jsonl(&self, text: &str, source_name: &str) -> Result<Vec<DocId>> {
        let (cases, lines) = parse_cases_jsonl(text, source_name)?;
        self.create_cases(&cases).map_err(|e| match e {
            // The store names the batch's record; say which line of the file that was.
            Error::Import {
                location: Location::Record { index },
                reason,
                ..
            } => {
                let location = match lines.get(index) {
                    Some(&line) => Location::Line { line, column: None },
                    None => Location::Record { index },
                };
                import_error(source_name, location, reason)
            }
            other => other,
        })
    }

    /// Imports one article or a JSON array of them (the format of [`NewArticle`]): all or none.
    ///
    /// # Errors
    /// [`Error::Import`] with the [`Location::JsonPath`] of the first problem (`[i]` for the
    /// i-th article of an array, the top level for a single one).
    pub fn import_articles_json(&self, text: &str, source_name: &str) -> Result<Vec<DocId>> {
        let (articles, is_array) = parse_articles_json(text, source_name)?;
        self.create_articles(&articles).map_err(|e| match e {
            Error::Import {
                location: Location::Record { index },
                reason,
                ..
            } => {
                let path = if is_array {
                    format!("[{index}]")
                } else {
                    String::new()
                };
                let location = Location::JsonPath {
                    path,
                    line: None,
                    column: None,
                };
                import_error(source_name, location, reason)
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(
            dir.join("s.dossier"),
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn an_invalid_case_is_located_by_its_line_in_the_file_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let text = concat!(
            r#"{"market": "ES", "category": "refund", "subject": "uno"}"#,
            "\n\n",
            r#"{"market": "in upi", "category": "refund", "subject": "dos"}"#,
            "\n"
        );
        let e = s.import_cases_jsonl(text, "cases.jsonl").unwrap_err();
        match e {
            Error::Import {
                source_name,
                location,
                reason,
            } => {
                assert_eq!(source_name, "cases.jsonl");
                assert_eq!(
                    location,
                    Location::Line {
                        line: 3,
                        column: None
                    }
                );
                assert!(reason.starts_with("invalid market"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.documents().unwrap().is_empty());
    }

    #[test]
    fn a_wrong_value_is_located_by_json_path_line_and_column_without_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let text = "{\"market\": \"ES\", \"category\": \"refund\", \"subject\": \"a\"}\n\
                    {\"market\": \"ES\", \"category\": \"refund\", \"subject\": \"b\", \
                    \"payment\": {\"amount_minor\": \"4111111111111111\"}}\n";
        let e = s.import_cases_jsonl(text, "c.jsonl").unwrap_err();
        let Error::Import {
            location, reason, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        let Location::JsonPath { path, line, column } = location else {
            panic!("{location:?}")
        };
        assert_eq!(path, "payment.amount_minor");
        assert_eq!(*line, Some(2));
        assert!(column.is_some_and(|c| c > 60), "{column:?}");
        assert!(!reason.contains("4111111111111111"), "{reason}");
        assert!(!e.to_string().contains("4111111111111111"), "{e}");
    }

    #[test]
    fn an_invalid_article_of_an_array_is_located_by_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let text = r#"[{"title": {"es": "Uno"}, "body": {}}, {"title": {"es": "  "}, "body": {}}]"#;
        let e = s.import_articles_json(text, "kb.json").unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Import { location: Location::JsonPath { path, line: None, column: None }, .. }
                    if path == "[1]"
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "kb.json: [1]: invalid title.es: must not be empty"
        );
        let e = s
            .import_articles_json(r#"{"title": {"es": "Uno"}, "body": {}} x"#, "one.json")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("one.json: top level (line 1, column"),
            "{e}"
        );
    }
}
