//! A child process for the crash-kill test: writes to a store as fast as it can and prints one
//! line per acknowledged write (`ack <kind> <key> <marker>`), flushing after each, so the parent
//! knows exactly which writes returned before it sends SIGKILL.
//!
//! Usage: `crash_writer DB SITE SEED`

use std::io::Write;

use anyhow::{Context, Result};
use dossier::{CaseUpdate, Category, NewCase, Status, Store, StoreOptions};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (db, site, seed) = match args.as_slice() {
        [_, db, site, seed] => (db, site, seed.parse::<u64>().context("seed")?),
        _ => anyhow::bail!("usage: crash_writer DB SITE SEED"),
    };
    let store = Store::open(
        db,
        StoreOptions {
            site: Some(site.clone()),
            ..Default::default()
        },
    )?;
    let sop = match store.list_sops()?.first() {
        Some(s) => s.id,
        None => {
            store
                .import_sop_json(dossier_tests::UPI_SOP, "upi.json")?
                .id
        }
    };
    let mut out = std::io::stdout().lock();
    let mut rng = seed;
    let mut next = move || {
        // xorshift: the parent only needs variety, not quality.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut cases: Vec<String> = Vec::new();
    for i in 0u64.. {
        // Short digit runs only: a long run could look like a card number and be redacted.
        let marker = format!("w{}k{i}", seed % 100_000_000);
        match next() % 4 {
            0 | 1 if !cases.is_empty() && next() % 2 == 0 => {
                let case = &cases[(next() as usize) % cases.len()];
                store.add_note(case, &marker, false)?;
                writeln!(out, "ack note {case} {marker}")?;
            }
            0 | 1 => {
                let c =
                    store.create_case(NewCase::new("IN-UPI", Category::FailedPayment, &marker))?;
                writeln!(out, "ack case {} {marker}", c.number)?;
                cases.push(c.number);
            }
            2 if !cases.is_empty() => {
                let case = &cases[(next() as usize) % cases.len()];
                store.update_case(
                    case,
                    CaseUpdate {
                        status: Some(Status::Pending),
                        add_tags: vec![marker.clone()],
                        ..Default::default()
                    },
                )?;
                writeln!(out, "ack tag {case} {marker}")?;
            }
            _ => {
                store.set_sop_text(
                    &sop,
                    "end_no_debit",
                    "en",
                    &format!("No money left the account ({marker})."),
                )?;
                writeln!(out, "ack sop {sop} {marker}")?;
            }
        }
        out.flush()?;
    }
    Ok(())
}
