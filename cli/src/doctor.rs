//! `dossier doctor`: is this store healthy, and does it hold card data from before redaction
//! covered everything?
//!
//! It runs the store's integrity check and its card-data scan (every change of every document,
//! and the raw bytes of the file and its WAL) and prints where each finding is — document, case
//! number or title, change, field, or file offset and page — never the value. Exit code 1 when
//! anything was found, so a script or a cron job can alert on it.

use std::io::Write;

use anyhow::{Result, bail};
use dossier::Store;
use dossier::doctor::{CardDataFinding, CardDataPlace};

use crate::output;

pub fn run(store: &Store, json: bool, out: &mut dyn Write) -> Result<()> {
    let problems = store.check_integrity()?;
    let scan = store.scan_card_data()?;
    if json {
        output::json(
            out,
            &serde_json::json!({
                "integrity": problems,
                "card_data": scan,
            }),
        )?;
    } else {
        writeln!(
            out,
            "read {} documents, {} changes and {} bytes of {}",
            scan.documents,
            scan.changes,
            scan.file_bytes,
            store.path().display()
        )?;
        if problems.is_empty() {
            writeln!(out, "integrity: ok")?;
        }
        for p in &problems {
            writeln!(out, "integrity: {p}")?;
        }
        if scan.is_clean() {
            writeln!(out, "card data: none found")?;
        }
        for f in &scan.findings {
            writeln!(out, "card data: {}", describe(f))?;
        }
    }
    if !problems.is_empty() || !scan.is_clean() {
        bail!(
            "{} integrity problem(s) and {} place(s) with card data found",
            problems.len(),
            scan.findings.len()
        );
    }
    Ok(())
}

fn describe(f: &CardDataFinding) -> String {
    let what = match &f.brand {
        Some(b) => format!("{} ({b})", f.kind),
        None => f.kind.clone(),
    };
    match &f.place {
        CardDataPlace::History {
            doc,
            kind,
            label,
            change,
            field,
        } => format!(
            "{what} in the history of {}, change {}, field {field}",
            match label {
                Some(label) => format!("{label} ({doc})"),
                None => format!("{} {doc}", kind.as_str()),
            },
            &change[..change.len().min(12)],
        ),
        CardDataPlace::File { file, offset, page } => format!(
            "{what} in the bytes of {} at offset {offset} (page {page})",
            file.display()
        ),
    }
}
