//! Reading a [`CaseSnapshot`]: fields, tags, SLA metrics, escalations.
//!
//! Values people type are messy, so readers treat a field that is blank (empty or only
//! whitespace) the same as a missing one, trim what they return, and parse times with
//! [`crate::date::parse_timestamp`].

use crate::date::parse_timestamp;
use crate::{CaseSnapshot, SlaMetric, Status};

/// The name [`crate::Action::RequireField`] uses for the payment's rail reference.
pub const TXN_REF: &str = "payment.txn-ref";

impl CaseSnapshot {
    /// The trimmed value of field `name`, or `None` if it is missing or blank.
    ///
    /// # Example
    /// ```
    /// use dossier_plugin_sdk::testing::snapshot;
    /// let case = snapshot("IN-UPI").field("txn_type", " P2M ").field("rrn", "").build();
    /// assert_eq!(case.field("txn_type"), Some("P2M"));
    /// assert_eq!(case.field("rrn"), None);
    /// ```
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of field `name` lowercased, for comparing codes such as `p2m` or `fraud`.
    pub fn field_lower(&self, name: &str) -> Option<String> {
        self.field(name).map(str::to_ascii_lowercase)
    }

    /// Whether field `name` has a non-blank value.
    pub fn has_field(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    /// Field `name` read as a time: epoch milliseconds, `YYYY-MM-DD` or an RFC 3339 time.
    /// `Some(Err(value))` when the field is set but unreadable, so the plugin can say so.
    pub fn field_time(&self, name: &str) -> Option<Result<i64, &str>> {
        self.field(name).map(|v| parse_timestamp(v).ok_or(v))
    }

    /// The payment's rail reference (UPI RRN, Pix EndToEndId), trimmed, if not blank.
    pub fn txn_ref(&self) -> Option<&str> {
        self.payment
            .txn_ref
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Whether the case has what [`crate::Action::RequireField`] `name` asks for: a field, or
    /// the payment reference for [`TXN_REF`].
    pub fn has_required(&self, name: &str) -> bool {
        if name == TXN_REF {
            self.txn_ref().is_some()
        } else {
            self.has_field(name)
        }
    }

    /// Whether the case has tag `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether the case has any of `tags`.
    pub fn has_any_tag(&self, tags: &[&str]) -> bool {
        tags.iter().any(|t| self.has_tag(t))
    }

    /// The SLA metric called `name`, if the case has one.
    pub fn sla(&self, name: &str) -> Option<&SlaMetric> {
        self.sla.iter().find(|m| m.name == name)
    }

    /// Whether the case was ever escalated to `team`.
    pub fn was_escalated_to(&self, team: &str) -> bool {
        self.escalated_to.iter().any(|t| t == team)
    }

    /// Whether the case is solved or closed.
    pub fn is_resolved(&self) -> bool {
        matches!(self.status, Status::Solved | Status::Closed)
    }

    /// Whether the case's market is one of `markets`.
    pub fn in_market(&self, markets: &[&str]) -> bool {
        markets.contains(&self.market.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, snapshot};

    #[test]
    fn blank_fields_read_as_missing() {
        let case = snapshot("ES").field("a", "  ").field("b", " x ").build();
        assert!(!case.has_field("a") && !case.has_field("zzz"));
        assert_eq!(case.field("b"), Some("x"));
    }

    #[test]
    fn field_time_tells_missing_from_unreadable() {
        let case = snapshot("ES")
            .field("ok", "2025-03-14T10:00:00Z")
            .field("bad", "last tuesday")
            .build();
        assert_eq!(case.field_time("ok"), Some(Ok(at("2025-03-14T10:00:00Z"))));
        assert_eq!(case.field_time("bad"), Some(Err("last tuesday")));
        assert_eq!(case.field_time("none"), None);
    }

    #[test]
    fn required_payment_reference_reads_the_payment() {
        let case = snapshot("IN-UPI").txn_ref(" ").build();
        assert!(!case.has_required(TXN_REF));
        let case = snapshot("IN-UPI").txn_ref("412345678901").build();
        assert!(case.has_required(TXN_REF));
        assert_eq!(case.txn_ref(), Some("412345678901"));
    }

    #[test]
    fn tags_sla_and_escalations_are_found() {
        let case = snapshot("IN-UPI")
            .tag("npci")
            .sla("reversal", 5, None)
            .escalated_to("psp_bank")
            .build();
        assert!(case.has_tag("npci") && case.has_any_tag(&["x", "npci"]));
        assert_eq!(case.sla("reversal").map(|m| m.due_at), Some(5));
        assert!(case.was_escalated_to("psp_bank") && !case.was_escalated_to("risk"));
        assert!(case.in_market(&["IN-UPI"]));
    }
}
