//! Card chargebacks: Visa and Mastercard reason code → category, queue and evidence deadline.
//!
//! Reason codes are looked up in the `card-reason-codes` table (`visa:10.4` →
//! `fraud|Other Fraud - Card-Absent Environment`); fraud codes (Visa 10.x, Mastercard 4837,
//! 4863 and the other Mastercard fraud codes) go to the risk team; evidence windows come from
//! the `card-deadlines` table (Mastercard 45 days; Visa 30 days, unsourced and configurable).
//! Fields, tags and the choices made are in the README.

use dossier_plugin_sdk::date::{Zone, civil_date, format_timestamp};
use dossier_plugin_sdk::{
    Action, CaseSnapshot, Env, Plan, Priority, Step, StepError, StepInfo, Trigger,
};

/// Table of reason codes: `<network>:<code>` → `<category>|<label>`.
pub const CODES_TABLE: &str = "card-reason-codes";
/// Table of evidence windows: `<network>[.<stage>].evidence_days` → days.
pub const DEADLINES_TABLE: &str = "card-deadlines";
/// The SLA metric this plugin sets.
pub const METRIC: &str = "evidence";
/// Tag for a reason code the table does not know.
pub const TAG_UNKNOWN: &str = "unknown-reason-code";
/// Tag for a dispute without network or reason code.
pub const TAG_MISSING: &str = "missing-reason-code";
/// Queue for disputes nobody could classify.
pub const TRIAGE_QUEUE: &str = "disputes-triage";

/// Stages this plugin knows (Mastercard's names, then Visa's).
pub const STAGES: [&str; 6] = [
    "first_chargeback",
    "second_presentment",
    "pre_arbitration",
    "arbitration",
    "dispute",
    "dispute_response",
];

/// The plugin.
pub struct CardDisputeRouter;

/// The network's canonical name: `visa`, `mastercard`, or the input lowercased.
pub fn network_name(raw: &str) -> String {
    let n = raw.trim().to_ascii_lowercase().replace([' ', '-', '_'], "");
    match n.as_str() {
        "mc" | "mastercard" => "mastercard".into(),
        "visa" => "visa".into(),
        _ => n,
    }
}

/// Evidence window in days for `network` at `stage`, from the table or the built-in default
/// (Mastercard 45, Visa 30).
///
/// # Errors
/// `bad-table` when the table holds something other than a whole number of days.
pub fn evidence_days(network: &str, stage: &str, env: &dyn Env) -> Result<Option<i64>, StepError> {
    let keys = [
        format!("{network}.{stage}.evidence_days"),
        format!("{network}.evidence_days"),
    ];
    for key in &keys {
        if let Some(v) = env.lookup(DEADLINES_TABLE, key) {
            return match v.trim().parse::<i64>() {
                Ok(days) if (1..=365).contains(&days) => Ok(Some(days)),
                _ => Err(StepError::new(
                    "bad-table",
                    format!("{DEADLINES_TABLE} {key} = {v:?} is not a number of days (1-365)"),
                )),
            };
        }
    }
    Ok(match network {
        "mastercard" => Some(45),
        "visa" => Some(30),
        _ => None,
    })
}

impl Step for CardDisputeRouter {
    fn describe() -> StepInfo {
        StepInfo::new(
            "card-dispute-router",
            env!("CARGO_PKG_VERSION"),
            "Card chargebacks: Visa/Mastercard reason code to category and queue, fraud to risk, evidence deadline.",
        )
        .markets(["CARD"])
        .triggers([Trigger::CaseCreated, Trigger::CaseUpdated, Trigger::SlaCheck])
    }

    fn evaluate(
        _trigger: Trigger,
        case: &CaseSnapshot,
        env: &dyn Env,
    ) -> Result<Vec<Action>, StepError> {
        let mut plan = Plan::new(case);
        if case.category != "chargeback_dispute" && case.dispute.is_none() {
            return plan.finish();
        }
        if env.lookup(CODES_TABLE, "_source").is_none() {
            return Err(StepError::new(
                "missing-table",
                format!("the {CODES_TABLE} table is not installed with this plugin"),
            ));
        }
        let dispute = case.dispute.clone().unwrap_or_default();
        let network = dispute
            .network
            .as_deref()
            .or(case.payment.card_brand.as_deref())
            .map(network_name);
        let code = dispute
            .reason_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let stage = dispute
            .stage
            .as_deref()
            .map(str::trim)
            .unwrap_or("first_chargeback")
            .to_ascii_lowercase();

        let (Some(network), Some(code)) = (network, code) else {
            plan.note_once(TAG_MISSING, "The dispute has no card network or no reason code; it cannot be classified or given a deadline.");
            plan.route(TRIAGE_QUEUE);
            return plan.finish();
        };
        plan.remove_tag(TAG_MISSING);

        match env.lookup(CODES_TABLE, &format!("{network}:{code}")) {
            None => {
                plan.note_once(TAG_UNKNOWN, format!("Reason code {code} is not a known {network} code; classify the dispute by hand."));
                plan.route(TRIAGE_QUEUE);
            }
            Some(entry) => {
                let (category, label) = entry.split_once('|').unwrap_or((entry.as_str(), ""));
                plan.remove_tag(TAG_UNKNOWN);
                plan.set_field("dispute_category", category);
                if network == "visa" {
                    let allocation = code.starts_with("10.") || code.starts_with("11.");
                    plan.set_field(
                        "dispute_workflow",
                        if allocation {
                            "allocation"
                        } else {
                            "collaboration"
                        },
                    );
                }
                if category == "fraud" {
                    plan.route("risk");
                    plan.escalate(
                        "risk",
                        format!("{network} fraud reason code {code} ({label})"),
                    );
                } else {
                    plan.route("disputes");
                }
            }
        }

        if !STAGES.contains(&stage.as_str()) {
            env.warn(&format!(
                "unknown dispute stage {stage:?}; using the network's default evidence window"
            ));
        }
        if matches!(stage.as_str(), "pre_arbitration" | "arbitration") {
            plan.raise_priority(Priority::High);
        }

        // The network's own date wins; otherwise the window from the start of the stage.
        let due = match dispute.evidence_due_at {
            Some(due) => Some(due),
            None => {
                let start = match case.field_time("stage_started_at") {
                    None => case.created_at,
                    Some(Ok(ms)) => ms,
                    Some(Err(v)) => {
                        return Err(StepError::new(
                            "bad-field",
                            format!("stage_started_at {v:?} is not a time"),
                        ));
                    }
                };
                evidence_days(&network, &stage, env)?
                    .map(|days| Zone::UTC.end_of_day(civil_date(start).add_days(days)))
            }
        };
        if let Some(due) = due {
            plan.deadline(METRIC, due);
            if case.now > due && !case.has_field("evidence_submitted_at") && !case.is_resolved() {
                plan.note_once(
                    "evidence-overdue",
                    format!(
                        "The {network} evidence deadline passed at {}.",
                        format_timestamp(due, Zone::UTC)
                    ),
                );
                plan.raise_priority(Priority::Urgent);
            }
        }
        plan.finish()
    }
}

dossier_plugin_sdk::export_step!(CardDisputeRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use dossier_plugin_sdk::testing::{SnapshotBuilder, TestEnv, at, snapshot};

    fn env() -> TestEnv {
        TestEnv::new()
            .load_tables(concat!(env!("CARGO_MANIFEST_DIR"), "/tables"))
            .unwrap()
    }

    fn eval(case: &CaseSnapshot) -> Vec<Action> {
        CardDisputeRouter::evaluate(Trigger::CaseUpdated, case, &env()).unwrap()
    }

    fn chargeback(network: &str, code: &str, stage: &str) -> SnapshotBuilder {
        snapshot("CARD")
            .category("chargeback_dispute")
            .dispute(network, code, stage)
            .created_at(at("2025-03-14T10:00:00Z"))
    }

    #[test]
    fn visa_card_absent_fraud_goes_to_risk_with_a_thirty_day_deadline() {
        let actions = eval(&chargeback("Visa", "10.4", "dispute").build());
        assert_eq!(
            actions,
            [
                Action::set_field("dispute_category", "fraud"),
                Action::set_field("dispute_workflow", "allocation"),
                Action::route("risk"),
                Action::escalate(
                    "risk",
                    "visa fraud reason code 10.4 (Other Fraud - Card-Absent Environment)"
                ),
                Action::deadline(METRIC, at("2025-04-13T23:59:59.999Z")),
            ]
        );
    }

    #[test]
    fn mastercard_fraud_codes_go_to_risk_and_others_to_disputes() {
        for code in ["4837", "4863"] {
            let actions = eval(&chargeback("mastercard", code, "first_chargeback").build());
            assert!(actions.contains(&Action::route("risk")), "{code}");
            assert!(actions.contains(&Action::deadline(METRIC, at("2025-04-28T23:59:59.999Z"))));
        }
        let actions = eval(&chargeback("MC", "4855", "first_chargeback").build());
        assert!(actions.contains(&Action::set_field("dispute_category", "consumer_dispute")));
        assert!(actions.contains(&Action::route("disputes")));
        assert!(!actions.iter().any(|a| matches!(a, Action::Escalate { .. })));
    }

    #[test]
    fn visa_processing_errors_use_the_collaboration_workflow() {
        let actions = eval(&chargeback("visa", "12.6.1", "dispute").build());
        assert!(actions.contains(&Action::set_field("dispute_category", "processing_error")));
        assert!(actions.contains(&Action::set_field("dispute_workflow", "collaboration")));
    }

    #[test]
    fn unknown_codes_get_a_note_a_tag_and_triage_once() {
        let actions = eval(&chargeback("visa", "99.9", "dispute").build());
        assert!(matches!(&actions[0], Action::AddNote { body, .. } if body.contains("99.9")));
        assert_eq!(
            actions[1..3],
            [Action::add_tag(TAG_UNKNOWN), Action::route(TRIAGE_QUEUE)]
        );
        let again = chargeback("visa", "99.9", "dispute")
            .tag(TAG_UNKNOWN)
            .field("queue", TRIAGE_QUEUE)
            .sla(METRIC, at("2025-04-13T23:59:59.999Z"), None)
            .build();
        assert!(eval(&again).is_empty());
        // Once corrected, the tag goes.
        let fixed = chargeback("visa", "13.1", "dispute")
            .tag(TAG_UNKNOWN)
            .build();
        assert!(eval(&fixed).contains(&Action::remove_tag(TAG_UNKNOWN)));
        // An unsupported network is unknown too.
        let amex = chargeback("amex", "C08", "first_chargeback").build();
        assert!(eval(&amex).contains(&Action::add_tag(TAG_UNKNOWN)));
    }

    #[test]
    fn missing_reason_code_goes_to_triage() {
        let case = snapshot("CARD")
            .category("chargeback_dispute")
            .card_brand("visa")
            .build();
        let actions = eval(&case);
        assert_eq!(
            actions[1..],
            [Action::add_tag(TAG_MISSING), Action::route(TRIAGE_QUEUE)]
        );
    }

    #[test]
    fn network_deadline_wins_and_later_stages_raise_priority() {
        let case = chargeback("mastercard", "4853", "pre_arbitration")
            .evidence_due_at(at("2025-03-30T00:00:00Z"))
            .build();
        let actions = eval(&case);
        assert!(actions.contains(&Action::SetPriority(Priority::High)));
        assert!(actions.contains(&Action::deadline(METRIC, at("2025-03-30T00:00:00Z"))));
    }

    #[test]
    fn visa_window_is_configurable_per_stage() {
        let env = env()
            .with_table_json(
                DEADLINES_TABLE,
                r#"{"visa.evidence_days": "20", "visa.pre_arbitration.evidence_days": "10"}"#,
            )
            .unwrap();
        let case = chargeback("visa", "13.1", "pre_arbitration")
            .field("stage_started_at", "2025-03-20")
            .build();
        let actions = CardDisputeRouter::evaluate(Trigger::CaseUpdated, &case, &env).unwrap();
        assert!(actions.contains(&Action::deadline(METRIC, at("2025-03-30T23:59:59.999Z"))));
        let bad = TestEnv::new()
            .load_tables(concat!(env!("CARGO_MANIFEST_DIR"), "/tables"))
            .unwrap()
            .with_table_json(DEADLINES_TABLE, r#"{"visa.evidence_days": "thirty"}"#)
            .unwrap();
        let err = CardDisputeRouter::evaluate(Trigger::CaseUpdated, &case, &bad).unwrap_err();
        assert_eq!(err.code, "bad-table");
    }

    #[test]
    fn overdue_evidence_is_flagged_once_unless_submitted() {
        let base = chargeback("mastercard", "4855", "first_chargeback")
            .field("dispute_category", "consumer_dispute")
            .field("queue", "disputes")
            .sla(METRIC, at("2025-04-28T23:59:59.999Z"), None)
            .now(at("2025-04-29T08:00:00Z"));
        let actions = eval(&base.clone().build());
        assert_eq!(
            actions[1..],
            [
                Action::add_tag("evidence-overdue"),
                Action::SetPriority(Priority::Urgent)
            ]
        );
        assert!(eval(&base.field("evidence_submitted_at", "2025-04-20").build()).is_empty());
    }

    #[test]
    fn other_cases_are_ignored_and_a_missing_table_is_an_error() {
        assert!(eval(&snapshot("CARD").category("refund").build()).is_empty());
        let err = CardDisputeRouter::evaluate(
            Trigger::CaseCreated,
            &chargeback("visa", "10.4", "dispute").build(),
            &TestEnv::new(),
        )
        .unwrap_err();
        assert_eq!(err.code, "missing-table");
    }
}
