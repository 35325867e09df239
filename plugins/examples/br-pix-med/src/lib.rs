//! Pix MED (Mecanismo Especial de Devolução) in Brazil: eligibility, required data, clocks.
//!
//! Resolução BCB 103/2021 as summarised by payment providers (secondary sources): MED covers
//! fraud and operational failures only; the payer reports within 80 days of the transfer; the
//! receiving PSP analyses in 7 days; after acceptance the payer's PSP requests the return in
//! 72 hours and the receiving PSP returns the funds in 24 hours. Fields and tags are in the
//! README.

use dossier_plugin_sdk::case::TXN_REF;
use dossier_plugin_sdk::date::{MS_PER_DAY, MS_PER_HOUR, Zone, days_between, format_timestamp};
use dossier_plugin_sdk::{
    Action, CaseSnapshot, Env, Plan, Priority, Step, StepError, StepInfo, Trigger,
};

/// Days after the transfer within which MED must be requested.
pub const REPORT_WINDOW_DAYS: i64 = 80;
/// Tag for cases MED does not cover.
pub const TAG_INELIGIBLE: &str = "med-ineligible";
/// Tag for a MED clock that ran out.
pub const TAG_OVERDUE: &str = "med-overdue";

/// The plugin.
pub struct PixMed;

/// One MED clock: the SLA metric, when it started, how long it runs, and the field that stops
/// it.
struct Clock {
    metric: &'static str,
    start_field: &'static str,
    length_ms: i64,
    done_fields: &'static [&'static str],
    what: &'static str,
}

/// The clocks in order; the active one is the last whose start field is set.
const CLOCKS: [Clock; 3] = [
    Clock {
        metric: "med-analysis",
        start_field: "med_reported_at",
        length_ms: 7 * MS_PER_DAY,
        done_fields: &["med_accepted_at", "med_rejected_at"],
        what: "the receiving PSP's 7-day analysis",
    },
    Clock {
        metric: "med-return-request",
        start_field: "med_accepted_at",
        length_ms: 72 * MS_PER_HOUR,
        done_fields: &["med_return_requested_at"],
        what: "the payer's PSP's 72 hours to request the return",
    },
    Clock {
        metric: "med-return",
        start_field: "med_return_requested_at",
        length_ms: 24 * MS_PER_HOUR,
        done_fields: &["med_returned_at"],
        what: "the receiving PSP's 24 hours to return the funds",
    },
];

/// Whether `id` looks like a Pix EndToEndId: `E`, the 8-digit ISPB of the payer's PSP, the
/// `yyyyMMddHHmm` of the transfer, 11 alphanumerics (32 characters).
pub fn is_end_to_end_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 32
        && b[0] == b'E'
        && b[1..21].iter().all(u8::is_ascii_digit)
        && b[21..].iter().all(u8::is_ascii_alphanumeric)
}

/// A time field; a value that does not parse is a [`StepError`], since every clock hangs on it.
fn time_field(case: &CaseSnapshot, name: &str) -> Result<Option<i64>, StepError> {
    match case.field_time(name) {
        None => Ok(None),
        Some(Ok(ms)) => Ok(Some(ms)),
        Some(Err(v)) => Err(StepError::new(
            "bad-field",
            format!("{name} {v:?} is not a time (e.g. 2025-03-14T10:00:00-03:00)"),
        )),
    }
}

impl Step for PixMed {
    fn describe() -> StepInfo {
        StepInfo::new(
            "br-pix-med",
            env!("CARGO_PKG_VERSION"),
            "Pix MED: fraud/operational-failure eligibility, EndToEndId and police report, 80-day window, 7-day/72-hour/24-hour clocks.",
        )
        .markets(["BR-PIX"])
        .triggers([
            Trigger::CaseCreated,
            Trigger::CaseUpdated,
            Trigger::SlaCheck,
            Trigger::BeforeSolve,
        ])
    }

    fn evaluate(
        _trigger: Trigger,
        case: &CaseSnapshot,
        env: &dyn Env,
    ) -> Result<Vec<Action>, StepError> {
        let mut plan = Plan::new(case);
        let is_med = case.has_field("med_type")
            || matches!(
                case.category.as_str(),
                "fraud" | "refund" | "failed_payment"
            );
        if !is_med || case.has_tag(TAG_INELIGIBLE) {
            return plan.finish();
        }

        match case.txn_ref() {
            None => {
                plan.require_field(
                    TXN_REF,
                    "the EndToEndId of the Pix transfer identifies it in the MED request",
                );
            }
            Some(id) if !is_end_to_end_id(id) => {
                plan.note_once("med-bad-end-to-end-id", format!("{id:?} is not a Pix EndToEndId (E + ISPB + yyyyMMddHHmm + 11 characters, 32 in all); check it before filing MED."));
            }
            Some(_) => {}
        }

        let Some(kind) = case.field_lower("med_type") else {
            plan.require_field(
                "med_type",
                "fraud or operational_failure: MED covers nothing else",
            );
            return plan.finish();
        };
        match kind.as_str() {
            "fraud" => {
                plan.require_field(
                    "police_report",
                    "MED for fraud needs the police report (boletim de ocorrência)",
                );
            }
            "operational_failure" => {}
            other => {
                plan.note_once(TAG_INELIGIBLE, format!("Not eligible for MED: med_type {other:?}. MED (Res. BCB 103/2021) covers only fraud and operational failures of a PSP, not commercial disputes or a wrongly typed key; the customer should contact the receiver."));
                return plan.finish();
            }
        }

        // The 80-day window, on Brasília calendar days from the transfer.
        let txn_at = match case.payment.txn_at {
            Some(ms) => Some(ms),
            None => time_field(case, "txn_date")?,
        };
        let Some(txn_at) = txn_at else {
            plan.require_field(
                "txn_date",
                "the transfer's date starts the 80-day MED window; payment.txn_at is not set",
            );
            return plan.finish();
        };
        let reported = time_field(case, "med_reported_at")?;
        let days = days_between(txn_at, reported.unwrap_or(case.now), Zone::BRT);
        if days > REPORT_WINDOW_DAYS {
            plan.note_once(TAG_INELIGIBLE, format!("Not eligible for MED: {} {days} days after the transfer; the window is {REPORT_WINDOW_DAYS} days.", if reported.is_some() { "reported" } else { "now" }));
            return plan.finish();
        }
        if reported.is_none() {
            let last_day = Zone::BRT.date_of(txn_at).add_days(REPORT_WINDOW_DAYS);
            plan.deadline("med-report", Zone::BRT.end_of_day(last_day));
        }

        // The active clock is the latest one started.
        let mut active = None;
        for clock in &CLOCKS {
            if let Some(start) = time_field(case, clock.start_field)? {
                let due = start + clock.length_ms;
                plan.deadline(clock.metric, due);
                active = Some((clock, due));
            }
        }
        if let Some((clock, due)) = active {
            let done = clock.done_fields.iter().any(|f| case.has_field(f));
            if !done && case.now > due {
                env.info(&format!("{} overdue", clock.metric));
                plan.note_once(
                    TAG_OVERDUE,
                    format!(
                        "MED clock overdue: {} ended {}.",
                        clock.what,
                        format_timestamp(due, Zone::BRT)
                    ),
                );
                plan.raise_priority(Priority::High);
            }
        }
        plan.finish()
    }
}

dossier_plugin_sdk::export_step!(PixMed);

#[cfg(test)]
mod tests {
    use super::*;
    use dossier_plugin_sdk::testing::{SnapshotBuilder, TestEnv, at, snapshot};

    const E2E: &str = "E1234567820250314130012345678901";

    fn eval(case: &CaseSnapshot) -> Vec<Action> {
        PixMed::evaluate(Trigger::CaseUpdated, case, &TestEnv::new()).unwrap()
    }

    fn med(kind: &str) -> SnapshotBuilder {
        snapshot("BR-PIX")
            .category("fraud")
            .rail("pix")
            .txn_ref(E2E)
            .txn_at(at("2025-03-14T10:00:00-03:00"))
            .field("med_type", kind)
            .field("police_report", "BO 1234/2025")
            .created_at(at("2025-03-15T09:00:00-03:00"))
    }

    fn required(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::RequireField { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn end_to_end_ids_are_checked() {
        assert!(is_end_to_end_id(E2E));
        assert!(!is_end_to_end_id("E123"));
        assert!(!is_end_to_end_id("D1234567820250314130012345678901"));
        assert!(!is_end_to_end_id("E12345678202503141300123456789-1"));
    }

    #[test]
    fn fraud_needs_police_report_and_end_to_end_id() {
        let mut case = med("fraud").build();
        case.fields.remove("police_report");
        case.payment.txn_ref = None;
        assert_eq!(required(&eval(&case)), [TXN_REF, "police_report"]);
        let failure = med("operational_failure").build();
        assert!(required(&eval(&failure)).is_empty());
    }

    #[test]
    fn missing_med_type_is_required_before_anything_else() {
        let case = snapshot("BR-PIX").category("fraud").txn_ref(E2E).build();
        assert_eq!(required(&eval(&case)), ["med_type"]);
        // A BR-PIX case about something else is left alone.
        let other = snapshot("BR-PIX").category("account").build();
        assert!(eval(&other).is_empty());
    }

    #[test]
    fn commercial_dispute_is_ineligible_once() {
        let case = med("commercial_dispute").build();
        let actions = eval(&case);
        assert!(
            matches!(&actions[0], Action::AddNote { body, .. } if body.contains("Not eligible"))
        );
        assert_eq!(actions[1], Action::add_tag(TAG_INELIGIBLE));
        assert_eq!(actions.len(), 2);
        let again = med("commercial_dispute").tag(TAG_INELIGIBLE).build();
        assert!(eval(&again).is_empty());
    }

    #[test]
    fn report_window_is_eighty_brasilia_days() {
        // Transfer 14 March 10:00 BRT; day 80 is 2 June.
        let base = med("fraud");
        let day80 = base
            .clone()
            .field("med_reported_at", "2025-06-02T23:00:00-03:00")
            .build();
        assert!(!eval(&day80).contains(&Action::add_tag(TAG_INELIGIBLE)));
        let day81 = base
            .clone()
            .field("med_reported_at", "2025-06-03T00:30:00-03:00")
            .build();
        assert!(eval(&day81).contains(&Action::add_tag(TAG_INELIGIBLE)));
        // Not yet reported: a deadline to report by the end of day 80, until it passes.
        let open = base.clone().now(at("2025-03-20T12:00:00-03:00")).build();
        assert_eq!(
            eval(&open),
            [Action::deadline(
                "med-report",
                at("2025-06-02T23:59:59.999-03:00")
            )]
        );
        let late = base.now(at("2025-06-03T08:00:00-03:00")).build();
        assert!(eval(&late).contains(&Action::add_tag(TAG_INELIGIBLE)));
    }

    #[test]
    fn clocks_follow_the_stage() {
        let reported = med("fraud").field("med_reported_at", "2025-03-15T09:00:00-03:00");
        assert_eq!(
            eval(&reported.clone().build()),
            [Action::deadline(
                "med-analysis",
                at("2025-03-22T09:00:00-03:00")
            )]
        );
        let accepted = reported
            .sla("med-analysis", at("2025-03-22T09:00:00-03:00"), None)
            .field("med_accepted_at", "2025-03-20T16:00:00-03:00");
        assert_eq!(
            eval(&accepted.clone().build()),
            [Action::deadline(
                "med-return-request",
                at("2025-03-23T16:00:00-03:00")
            )]
        );
        let requested = accepted
            .sla("med-return-request", at("2025-03-23T16:00:00-03:00"), None)
            .field("med_return_requested_at", "2025-03-21T10:00:00-03:00");
        assert_eq!(
            eval(&requested.build()),
            [Action::deadline(
                "med-return",
                at("2025-03-22T10:00:00-03:00")
            )]
        );
    }

    #[test]
    fn overdue_analysis_is_flagged_once_and_raises_priority() {
        let base = med("fraud")
            .field("med_reported_at", "2025-03-15T09:00:00-03:00")
            .sla("med-analysis", at("2025-03-22T09:00:00-03:00"), None)
            .now(at("2025-03-22T09:00:01-03:00"));
        let actions = eval(&base.clone().build());
        assert!(
            matches!(&actions[0], Action::AddNote { body, .. } if body.contains("7-day analysis") && body.contains("2025-03-22 09:00 (UTC-03:00)"))
        );
        assert_eq!(
            actions[1..],
            [
                Action::add_tag(TAG_OVERDUE),
                Action::SetPriority(Priority::High)
            ]
        );
        let rejected = base.field("med_rejected_at", "2025-03-21").build();
        assert!(eval(&rejected).is_empty());
    }

    #[test]
    fn unreadable_times_are_a_step_error() {
        let case = med("fraud").field("med_reported_at", "ontem").build();
        let err = PixMed::evaluate(Trigger::CaseUpdated, &case, &TestEnv::new()).unwrap_err();
        assert_eq!(err.code, "bad-field");
        assert!(err.message.contains("med_reported_at"));
    }
}
