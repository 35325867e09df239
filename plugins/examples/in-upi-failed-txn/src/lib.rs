//! Failed UPI transactions in India: the RBI turnaround time (TAT) for reversals.
//!
//! RBI circular DPSS.CO.PD No.629/02.01.014/2019-20 (20 Sep 2019): a P2P transfer debited but
//! not credited is reversed by T+1, a P2M payment by T+5 (T = the calendar day of the
//! transaction); past that, ₹100 per day of delay is due to the customer. The RBI Integrated
//! Ombudsman Scheme 2021 opens when the entity has not resolved the complaint in 30 days.
//! Fields, tags and the reading of "T" are in the README.

use dossier_plugin_sdk::case::TXN_REF;
use dossier_plugin_sdk::date::{CivilDate, Zone, days_between, parse_timestamp};
use dossier_plugin_sdk::{
    Action, CaseSnapshot, Env, Plan, Priority, Step, StepError, StepInfo, Trigger,
};

/// Compensation per day of delay past the TAT, in rupees.
pub const COMPENSATION_PER_DAY_INR: i64 = 100;
/// Days after the complaint after which the case goes to the ombudsman team.
pub const OMBUDSMAN_AFTER_DAYS: i64 = 30;
/// The SLA metric this plugin sets.
pub const METRIC: &str = "reversal";
/// Tag marking that the compensation note was added.
pub const TAG_COMPENSATION: &str = "upi-compensation-due";

/// The plugin.
pub struct UpiFailedTxn;

/// P2P or P2M, which decides the TAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnType {
    /// Person to person: T+1.
    P2p,
    /// Person to merchant: T+5.
    P2m,
}

impl TxnType {
    /// Calendar days after T within which the reversal is due.
    pub fn tat_days(self) -> i64 {
        match self {
            TxnType::P2p => 1,
            TxnType::P2m => 5,
        }
    }
}

/// The reversal due date (T + TAT) for a debit on IST day `t`.
pub fn reversal_due_date(t: CivilDate, kind: TxnType) -> CivilDate {
    t.add_days(kind.tat_days())
}

/// Days of delay past `due` when the reversal happened (or is still pending) on `until`.
pub fn days_late(due: CivilDate, until: CivilDate) -> i64 {
    due.days_until(until).max(0)
}

/// A date field typed either as an IST calendar date or as a time.
fn ist_date(case: &CaseSnapshot, name: &str) -> Option<Result<CivilDate, String>> {
    let v = case.field(name)?;
    Some(
        CivilDate::parse(v)
            .or_else(|| parse_timestamp(v).map(|ms| Zone::IST.date_of(ms)))
            .ok_or_else(|| v.to_owned()),
    )
}

impl Step for UpiFailedTxn {
    fn describe() -> StepInfo {
        StepInfo::new(
            "in-upi-failed-txn",
            env!("CARGO_PKG_VERSION"),
            "UPI failed transactions: T+1/T+5 reversal deadline, RRN, ₹100/day compensation, ombudsman at 30 days (RBI TAT circular 2019).",
        )
        .markets(["IN-UPI"])
        .triggers([
            Trigger::CaseCreated,
            Trigger::CaseUpdated,
            Trigger::SlaCheck,
            Trigger::BeforeSolve,
        ])
    }

    fn evaluate(
        trigger: Trigger,
        case: &CaseSnapshot,
        env: &dyn Env,
    ) -> Result<Vec<Action>, StepError> {
        let mut plan = Plan::new(case);
        if case.category != "failed_payment" {
            return plan.finish();
        }

        // The RRN: the payment reference, or an `rrn` field typed by the agent.
        let rrn = case.txn_ref().or_else(|| case.field("rrn"));
        match rrn {
            None => {
                plan.require_field(
                    TXN_REF,
                    "the UPI RRN identifies the transaction to NPCI and the banks",
                );
            }
            Some(r) if r.len() != 12 || !r.bytes().all(|b| b.is_ascii_digit()) => {
                plan.note_once(
                    "upi-rrn-unverified",
                    format!("The RRN {r:?} is not 12 digits; check it against the bank statement."),
                );
            }
            Some(_) => {}
        }

        let kind = match case
            .field_lower("txn_type")
            .or_else(|| case.field_lower("p2x"))
        {
            Some(t) if t == "p2p" => Some(TxnType::P2p),
            Some(t) if t == "p2m" => Some(TxnType::P2m),
            Some(other) => {
                plan.note_once("upi-bad-txn-type", format!("txn_type {other:?} is neither p2p nor p2m; the reversal deadline needs one of them."));
                None
            }
            None => {
                plan.require_field("txn_type", "p2p (reversal by T+1) or p2m (T+5)");
                None
            }
        };

        // T: the IST day of the debit.
        let debit = match ist_date(case, "debit_date") {
            Some(Ok(d)) => Some(d),
            Some(Err(v)) => {
                return Err(StepError::new(
                    "bad-field",
                    format!("debit_date {v:?} is not a date (YYYY-MM-DD) or a time"),
                ));
            }
            None => case.payment.txn_at.map(|ms| Zone::IST.date_of(ms)),
        };
        if debit.is_none() {
            plan.require_field(
                "debit_date",
                "the debit date (T) starts the reversal clock; payment.txn_at is not set",
            );
        }

        let today = Zone::IST.date_of(case.now);
        if let (Some(t), Some(kind)) = (debit, kind) {
            let due = reversal_due_date(t, kind);
            plan.deadline(METRIC, Zone::IST.end_of_day(due));

            let reversed = match ist_date(case, "reversed_on") {
                Some(Ok(d)) => Some(d),
                Some(Err(v)) => {
                    env.warn(&format!(
                        "reversed_on {v:?} is not a date; treating the reversal as pending"
                    ));
                    None
                }
                None => case
                    .sla(METRIC)
                    .and_then(|m| m.met_at)
                    .map(|ms| Zone::IST.date_of(ms)),
            };
            let late = days_late(due, reversed.unwrap_or(today));
            if late > 0 {
                let amount = late * COMPENSATION_PER_DAY_INR;
                let so_far = if reversed.is_some() {
                    "in total"
                } else {
                    "so far"
                };
                plan.set_field("compensation_inr", amount.to_string());
                plan.note_once(TAG_COMPENSATION, format!(
                    "Reversal TAT breached: due by end of {due} IST (T={t}, T+{}). Compensation of ₹{COMPENSATION_PER_DAY_INR}/day is owed to the customer: ₹{amount} {so_far} ({late} day(s)). The amount is kept in the compensation_inr field.",
                    kind.tat_days()
                ));
                plan.raise_priority(Priority::High);
                if trigger == Trigger::BeforeSolve && !case.has_field("compensation_paid") {
                    plan.refuse_solve(format!(
                        "₹{amount} TAT compensation is due; record compensation_paid before solving"
                    ));
                }
            }
        }

        if !case.is_resolved()
            && days_between(case.created_at, case.now, Zone::IST) >= OMBUDSMAN_AFTER_DAYS
        {
            plan.escalate("ombudsman", format!("unresolved {OMBUDSMAN_AFTER_DAYS} days after the complaint: the customer may go to the RBI Integrated Ombudsman"));
        }
        plan.finish()
    }
}

dossier_plugin_sdk::export_step!(UpiFailedTxn);

#[cfg(test)]
mod tests {
    use super::*;
    use dossier_plugin_sdk::Status;
    use dossier_plugin_sdk::testing::{TestEnv, at, snapshot};

    fn eval(trigger: Trigger, case: &CaseSnapshot) -> Vec<Action> {
        UpiFailedTxn::evaluate(trigger, case, &TestEnv::new()).unwrap()
    }

    fn upi() -> dossier_plugin_sdk::testing::SnapshotBuilder {
        snapshot("IN-UPI")
            .category("failed_payment")
            .rail("upi")
            .txn_ref("412345678901")
    }

    fn deadline_of(actions: &[Action]) -> Option<i64> {
        actions.iter().find_map(|a| match a {
            Action::SetSlaDeadline { metric, due_at } if metric == METRIC => Some(*due_at),
            _ => None,
        })
    }

    #[test]
    fn p2p_debit_late_evening_ist_is_due_end_of_next_ist_day() {
        // 20:00 UTC on Friday 14 March is 01:30 IST on Saturday 15 March: T is the 15th,
        // and T+1 is Sunday the 16th — calendar days, weekends count.
        let case = upi()
            .field("txn_type", "p2p")
            .txn_at(at("2025-03-14T20:00:00Z"))
            .created_at(at("2025-03-15T04:00:00Z"))
            .build();
        let actions = eval(Trigger::CaseCreated, &case);
        assert_eq!(
            deadline_of(&actions),
            Some(at("2025-03-16T23:59:59.999+05:30"))
        );
        assert_eq!(actions.len(), 1, "{actions:?}");
    }

    #[test]
    fn p2m_is_t_plus_five_across_the_year_end() {
        let case = upi()
            .field("p2x", "P2M")
            .txn_at(at("2025-12-29T10:00:00+05:30"))
            .build();
        let actions = eval(Trigger::CaseCreated, &case);
        assert_eq!(
            deadline_of(&actions),
            Some(at("2026-01-03T23:59:59.999+05:30"))
        );
    }

    #[test]
    fn missing_rrn_type_and_debit_date_are_required() {
        let case = snapshot("IN-UPI").category("failed_payment").build();
        let actions = eval(Trigger::BeforeSolve, &case);
        let required: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::RequireField { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(required, [TXN_REF, "txn_type", "debit_date"]);
        assert_eq!(deadline_of(&actions), None);
    }

    #[test]
    fn rrn_typed_as_a_field_is_accepted_but_a_malformed_one_is_flagged() {
        let case = snapshot("IN-UPI")
            .category("failed_payment")
            .field("rrn", "412345678901")
            .field("txn_type", "p2p")
            .field("debit_date", "2025-03-14")
            .build();
        assert!(
            !eval(Trigger::CaseCreated, &case)
                .iter()
                .any(|a| matches!(a, Action::RequireField { .. }))
        );
        let case = upi().txn_ref("41234").build();
        assert!(eval(Trigger::CaseCreated, &case).contains(&Action::add_tag("upi-rrn-unverified")));
    }

    #[test]
    fn overdue_reversal_notes_compensation_once_and_updates_the_amount() {
        // P2P debited 1 March; due end of 2 March; on 6 March (IST) 4 days late → ₹400.
        let base = upi()
            .field("txn_type", "p2p")
            .txn_at(at("2025-03-01T12:00:00+05:30"))
            .created_at(at("2025-03-01T13:00:00+05:30"))
            .sla(METRIC, at("2025-03-02T23:59:59.999+05:30"), None);
        let case = base.clone().now(at("2025-03-06T09:00:00+05:30")).build();
        let actions = eval(Trigger::SlaCheck, &case);
        assert_eq!(actions[0], Action::set_field("compensation_inr", "400"));
        assert!(
            matches!(&actions[1], Action::AddNote { body, public: false } if body.contains("₹400 so far") && body.contains("4 day(s)"))
        );
        assert_eq!(actions[2], Action::add_tag(TAG_COMPENSATION));
        assert_eq!(actions[3], Action::SetPriority(Priority::High));

        // The next day: the amount moves, the note is not repeated.
        let case = base
            .tag(TAG_COMPENSATION)
            .field("compensation_inr", "400")
            .priority(Priority::High)
            .now(at("2025-03-07T09:00:00+05:30"))
            .build();
        assert_eq!(
            eval(Trigger::SlaCheck, &case),
            [Action::set_field("compensation_inr", "500")]
        );
    }

    #[test]
    fn compensation_stops_at_the_reversal_day() {
        let case = upi()
            .field("txn_type", "p2m")
            .field("debit_date", "2025-03-01")
            .field("reversed_on", "2025-03-08")
            .now(at("2025-03-20T09:00:00+05:30"))
            .build();
        let actions = eval(Trigger::SlaCheck, &case);
        // Due 6 March, reversed 8 March: two days, ₹200 in total.
        assert!(actions.contains(&Action::set_field("compensation_inr", "200")));
    }

    #[test]
    fn on_time_reversal_owes_nothing() {
        let case = upi()
            .field("txn_type", "p2p")
            .txn_at(at("2025-03-01T12:00:00+05:30"))
            .sla(
                METRIC,
                at("2025-03-02T23:59:59.999+05:30"),
                Some(at("2025-03-02T10:00:00+05:30")),
            )
            .created_at(at("2025-03-01T13:00:00+05:30"))
            .now(at("2025-03-10T09:00:00+05:30"))
            .build();
        assert!(eval(Trigger::SlaCheck, &case).is_empty());
    }

    #[test]
    fn solve_is_refused_until_compensation_is_recorded() {
        let base = upi()
            .field("txn_type", "p2p")
            .field("debit_date", "2025-03-01")
            .tag(TAG_COMPENSATION)
            .field("compensation_inr", "300")
            .priority(Priority::High)
            .sla(METRIC, at("2025-03-02T23:59:59.999+05:30"), None)
            .created_at(at("2025-03-01T13:00:00+05:30"))
            .now(at("2025-03-05T09:00:00+05:30"));
        let actions = eval(Trigger::BeforeSolve, &base.clone().build());
        assert!(matches!(&actions[..], [Action::RefuseSolve(r)] if r.contains("₹300")));
        let paid = base.field("compensation_paid", "2025-03-05").build();
        assert!(eval(Trigger::BeforeSolve, &paid).is_empty());
    }

    #[test]
    fn thirty_days_unresolved_escalates_to_the_ombudsman_once() {
        let base = upi()
            .field("txn_type", "p2p")
            .field("debit_date", "2025-03-01")
            .field("reversed_on", "2025-03-02")
            .sla(METRIC, at("2025-03-02T23:59:59.999+05:30"), None)
            .created_at(at("2025-03-01T12:00:00+05:30"));
        let day29 = base.clone().now(at("2025-03-30T12:00:00+05:30")).build();
        assert!(eval(Trigger::SlaCheck, &day29).is_empty());
        let day30 = base.clone().now(at("2025-03-31T12:00:00+05:30")).build();
        assert!(
            matches!(&eval(Trigger::SlaCheck, &day30)[..], [Action::Escalate { to, .. }] if to == "ombudsman")
        );
        let done = base
            .clone()
            .escalated_to("ombudsman")
            .now(at("2025-04-30T12:00:00+05:30"))
            .build();
        assert!(eval(Trigger::SlaCheck, &done).is_empty());
        let solved = base
            .status(Status::Solved)
            .now(at("2025-04-30T12:00:00+05:30"))
            .build();
        assert!(eval(Trigger::SlaCheck, &solved).is_empty());
    }

    #[test]
    fn other_categories_and_bad_dates() {
        let refund = upi().category("refund").build();
        assert!(eval(Trigger::CaseCreated, &refund).is_empty());
        let bad = upi()
            .field("txn_type", "p2p")
            .field("debit_date", "yesterday")
            .build();
        let err = UpiFailedTxn::evaluate(Trigger::CaseCreated, &bad, &TestEnv::new()).unwrap_err();
        assert_eq!(err.code, "bad-field");
        let odd = upi()
            .field("txn_type", "p2b")
            .field("debit_date", "2025-03-01")
            .build();
        let actions = eval(Trigger::CaseCreated, &odd);
        assert!(actions.contains(&Action::add_tag("upi-bad-txn-type")));
        assert_eq!(deadline_of(&actions), None);
    }

    #[test]
    fn describe_declares_the_market_and_triggers() {
        let info = UpiFailedTxn::describe();
        assert_eq!(info.name, "in-upi-failed-txn");
        assert_eq!(info.markets, ["IN-UPI"]);
        assert!(info.triggers.contains(&Trigger::BeforeSolve));
    }
}
