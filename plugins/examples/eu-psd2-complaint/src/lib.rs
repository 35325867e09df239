//! The PSD2 complaint clock (Directive (EU) 2015/2366, Art. 101(2)) on the member state's
//! business days.
//!
//! A payment service provider replies within 15 business days of receiving a complaint; in
//! exceptional situations it sends a holding reply giving the reasons, and the final reply is
//! due within 35 business days. Spain transposes this in RDL 19/2018 art. 69 (15 días hábiles).
//! Business days come from the `holidays-<CC>` table of the member state. Fields and tags are
//! in the README.

use dossier_plugin_sdk::date::{Zone, format_timestamp};
use dossier_plugin_sdk::{
    Action, COVERAGE_TO, Calendar, CaseSnapshot, Env, Plan, Priority, Step, StepError, StepInfo,
    Trigger,
};

/// Business days for the reply.
pub const REPLY_DAYS: i64 = 15;
/// Business days for the final reply after a holding reply.
pub const HOLDING_REPLY_DAYS: i64 = 35;
/// The SLA metric this plugin sets.
pub const METRIC: &str = "psd2-reply";
/// Tag (or field `holding_reply_at`) saying a holding reply was sent.
pub const TAG_HOLDING: &str = "holding-reply";
/// Tag for a reply deadline that passed.
pub const TAG_OVERDUE: &str = "psd2-overdue";

/// The plugin.
pub struct Psd2Complaint;

/// The local zone of a member state (mainland; the Canaries, Azores and Madeira differ).
pub fn zone_of(member_state: &str) -> Option<Zone> {
    match member_state {
        "PT" | "IE" => Some(Zone::EuSummerTime(0)),
        "BG" | "CY" | "EE" | "FI" | "GR" | "LT" | "LV" | "RO" => Some(Zone::EuSummerTime(120)),
        "AT" | "BE" | "CZ" | "DE" | "DK" | "ES" | "FR" | "HR" | "HU" | "IT" | "LU" | "MT"
        | "NL" | "PL" | "SE" | "SI" | "SK" => Some(Zone::CET),
        _ => None,
    }
}

impl Step for Psd2Complaint {
    fn describe() -> StepInfo {
        StepInfo::new(
            "eu-psd2-complaint",
            env!("CARGO_PKG_VERSION"),
            "PSD2 Art. 101 complaint clock: 15 business days, 35 after a holding reply, on the member state's holiday calendar.",
        )
        .markets(["EU", "ES", "DE", "FR"])
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
        let member_state = match case.field("member_state") {
            Some(ms) => ms.to_ascii_uppercase(),
            None if case.market.len() == 2 && case.market != "EU" => case.market.clone(),
            None => {
                plan.require_field("member_state", "the member state (ES, DE, FR, ...) decides the business-day calendar of the PSD2 reply deadline");
                return plan.finish();
            }
        };
        let Some(zone) = zone_of(&member_state) else {
            return Err(StepError::new(
                "bad-field",
                format!("member_state {member_state:?} is not an EU member state code"),
            ));
        };
        let calendar = Calendar::new(&format!("holidays-{member_state}")).with_zone(zone);
        if env.lookup(calendar.holiday_table(), COVERAGE_TO).is_none() {
            plan.note_once("psd2-calendar-missing", format!("No holiday calendar is installed for {member_state} ({}): the reply deadline counts weekends only and may be earlier than the legal one.", calendar.holiday_table()));
        }

        let received = match case.field_time("received_at") {
            None => case.created_at,
            Some(Ok(ms)) => ms,
            Some(Err(v)) => {
                return Err(StepError::new(
                    "bad-field",
                    format!("received_at {v:?} is not a time"),
                ));
            }
        };
        let holding = match case.field_time("holding_reply_at") {
            None => None,
            Some(Ok(ms)) => Some(ms),
            Some(Err(v)) => {
                return Err(StepError::new(
                    "bad-field",
                    format!("holding_reply_at {v:?} is not a time"),
                ));
            }
        };
        let first_due = calendar.business_day_deadline(received, REPLY_DAYS, env);
        let due = if holding.is_some() || case.has_tag(TAG_HOLDING) {
            if holding.is_some_and(|h| h > first_due) {
                plan.note_once("psd2-holding-reply-late", format!("The holding reply was sent after the 15-business-day deadline ({}); Art. 101(2) expects it within that time.", format_timestamp(first_due, zone)));
            }
            calendar.business_day_deadline(received, HOLDING_REPLY_DAYS, env)
        } else {
            first_due
        };
        plan.deadline(METRIC, due);

        let replied = case.has_field("final_reply_at")
            || case.sla(METRIC).is_some_and(|m| m.met_at.is_some());
        if !replied && !case.is_resolved() && case.now > due {
            let escalation = if member_state == "ES" {
                " The customer may now complain to the Banco de España."
            } else {
                " The customer may now go to the national competent authority or ADR body."
            };
            plan.note_once(
                TAG_OVERDUE,
                format!(
                    "PSD2 reply deadline passed at {}.{escalation}",
                    format_timestamp(due, zone)
                ),
            );
            plan.raise_priority(Priority::Urgent);
        }
        if trigger == Trigger::BeforeSolve && !replied {
            plan.require_field(
                "final_reply_at",
                "PSD2 Art. 101: record when the final reply was sent to the customer",
            );
        }
        plan.finish()
    }
}

dossier_plugin_sdk::export_step!(Psd2Complaint);

#[cfg(test)]
mod tests {
    use super::*;
    use dossier_plugin_sdk::testing::{SnapshotBuilder, TestEnv, at, snapshot};

    fn env() -> TestEnv {
        TestEnv::new()
            .load_tables(concat!(env!("CARGO_MANIFEST_DIR"), "/tables"))
            .unwrap()
    }

    fn eval(trigger: Trigger, case: &CaseSnapshot) -> Vec<Action> {
        Psd2Complaint::evaluate(trigger, case, &env()).unwrap()
    }

    fn complaint(market: &str, received: &str) -> SnapshotBuilder {
        snapshot(market).category("refund").created_at(at(received))
    }

    fn deadline(actions: &[Action]) -> Option<i64> {
        actions.iter().find_map(|a| match a {
            Action::SetSlaDeadline { metric, due_at } if metric == METRIC => Some(*due_at),
            _ => None,
        })
    }

    #[test]
    fn tables_ship_for_every_declared_member_state() {
        let env = env();
        assert_eq!(
            env.table_names(),
            ["holidays-DE", "holidays-ES", "holidays-FR"]
        );
        assert_eq!(
            env.lookup("holidays-ES", "2026-12-25").as_deref(),
            Some("Natividad del Señor")
        );
        assert_eq!(
            env.lookup("holidays-DE", "2027-03-29").as_deref(),
            Some("Ostermontag")
        );
        assert_eq!(
            env.lookup("holidays-FR", "2026-05-25").as_deref(),
            Some("Lundi de Pentecôte")
        );
    }

    #[test]
    fn spain_counts_fifteen_business_days_across_christmas_and_epiphany() {
        // Received Friday 19 Dec 2025 in Madrid. Skipped: weekends, 25 Dec, 1 Jan, 6 Jan.
        // Day 1 = 22 Dec ... day 15 = 14 Jan 2026.
        let case = complaint("ES", "2025-12-19T11:00:00+01:00").build();
        let actions = eval(Trigger::CaseCreated, &case);
        assert_eq!(
            deadline(&actions),
            Some(at("2026-01-14T23:59:59.999+01:00"))
        );
        assert_eq!(actions.len(), 1, "{actions:?}");
    }

    #[test]
    fn germany_and_france_use_their_own_calendars_via_member_state() {
        // Received Thursday 2 April 2026. Germany skips Good Friday (3 April) and Easter
        // Monday (6 April); France only Easter Monday.
        let de = complaint("EU", "2026-04-02T10:00:00+02:00")
            .field("member_state", "de")
            .build();
        assert_eq!(
            deadline(&eval(Trigger::CaseCreated, &de)),
            Some(at("2026-04-27T23:59:59.999+02:00"))
        );
        let fr = complaint("EU", "2026-04-02T10:00:00+02:00")
            .field("member_state", "FR")
            .build();
        assert_eq!(
            deadline(&eval(Trigger::CaseCreated, &fr)),
            Some(at("2026-04-24T23:59:59.999+02:00"))
        );
    }

    #[test]
    fn a_complaint_received_late_evening_utc_counts_from_the_local_day() {
        // 23:30 UTC on Friday 27 June 2025 is Saturday 28 June in Madrid: day 1 is Monday
        // 30 June, day 15 is Friday 18 July.
        let case = complaint("ES", "2025-06-27T23:30:00Z").build();
        assert_eq!(
            deadline(&eval(Trigger::CaseCreated, &case)),
            Some(at("2025-07-18T23:59:59.999+02:00"))
        );
    }

    #[test]
    fn a_holding_reply_moves_the_deadline_to_thirty_five_business_days() {
        let base = complaint("ES", "2025-03-03T09:00:00+01:00");
        let first = at("2025-03-24T23:59:59.999+01:00");
        assert_eq!(
            deadline(&eval(Trigger::CaseCreated, &base.clone().build())),
            Some(first)
        );
        // 35 business days from Monday 3 March 2025, Good Friday 18 April skipped → 22 April.
        let held = base
            .clone()
            .sla(METRIC, first, None)
            .tag(TAG_HOLDING)
            .build();
        assert_eq!(
            eval(Trigger::CaseUpdated, &held),
            [Action::deadline(
                METRIC,
                at("2025-04-22T23:59:59.999+02:00")
            )]
        );
        let late = base
            .field("holding_reply_at", "2025-03-26T10:00:00+01:00")
            .build();
        let actions = eval(Trigger::CaseUpdated, &late);
        assert!(actions.contains(&Action::add_tag("psd2-holding-reply-late")));
        assert_eq!(
            deadline(&actions),
            Some(at("2025-04-22T23:59:59.999+02:00"))
        );
    }

    #[test]
    fn eu_market_needs_a_member_state() {
        let case = complaint("EU", "2025-03-03T09:00:00Z").build();
        let actions = eval(Trigger::CaseCreated, &case);
        assert!(
            matches!(&actions[..], [Action::RequireField { name, .. }] if name == "member_state")
        );
        let bad = complaint("EU", "2025-03-03T09:00:00Z")
            .field("member_state", "XX")
            .build();
        let err = Psd2Complaint::evaluate(Trigger::CaseCreated, &bad, &env()).unwrap_err();
        assert_eq!(err.code, "bad-field");
    }

    #[test]
    fn a_member_state_without_a_table_gets_a_weekends_only_deadline_and_a_note() {
        let case = complaint("EU", "2025-12-19T10:00:00+01:00")
            .field("member_state", "IT")
            .build();
        let env = env();
        let actions = Psd2Complaint::evaluate(Trigger::CaseCreated, &case, &env).unwrap();
        assert!(actions.contains(&Action::add_tag("psd2-calendar-missing")));
        // Weekends only: day 15 is 9 January 2026.
        assert_eq!(
            deadline(&actions),
            Some(at("2026-01-09T23:59:59.999+01:00"))
        );
        assert!(env.logs().iter().any(|(_, m)| m.contains("holidays-IT")));
    }

    #[test]
    fn overdue_complaints_are_flagged_once_and_solving_needs_the_final_reply() {
        let due = at("2025-03-24T23:59:59.999+01:00");
        let base = complaint("ES", "2025-03-03T09:00:00+01:00").sla(METRIC, due, None);
        let late = base.clone().now(due + 1).build();
        let actions = eval(Trigger::SlaCheck, &late);
        assert!(
            matches!(&actions[0], Action::AddNote { body, .. } if body.contains("Banco de España"))
        );
        assert_eq!(
            actions[1..],
            [
                Action::add_tag(TAG_OVERDUE),
                Action::SetPriority(Priority::Urgent)
            ]
        );
        let solving = base.clone().build();
        assert!(
            matches!(&eval(Trigger::BeforeSolve, &solving)[..], [Action::RequireField { name, .. }] if name == "final_reply_at")
        );
        let answered = base
            .field("final_reply_at", "2025-03-20")
            .now(due + 1)
            .build();
        assert!(eval(Trigger::BeforeSolve, &answered).is_empty());
    }

    #[test]
    fn received_at_overrides_the_case_creation_time() {
        let case = complaint("ES", "2025-03-10T09:00:00+01:00")
            .field("received_at", "2025-03-03T09:00:00+01:00")
            .build();
        assert_eq!(
            deadline(&eval(Trigger::CaseCreated, &case)),
            Some(at("2025-03-24T23:59:59.999+01:00"))
        );
    }
}
