//! Targeted issue (issue 24): a template's coupons issued to a list of
//! openids as one job. What a list may hold (each openid exactly as a
//! player token's `sub`, duplicates counted once), the job's and a
//! target's states, why a target is refused, and the report's paging.
//! Pure; the store runs the job (`store::target`).

use std::collections::HashSet;

use platform::domain::{InvalidField, Millis, paging::PageLimits};
use serde::{Deserialize, Serialize};

use super::template::Validity;

/// Distinct openids a job holds at most, and openids one call may send.
pub const MAX_TARGETS: usize = 100_000;
/// The longest openid, in bytes: a player token's `sub` is 1..=128 bytes.
pub const MAX_OPENID_BYTES: usize = 128;

/// ListTargetedIssueResults: 100 a page unless asked, at most 1,000.
pub const RESULT_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// An openid list as sent: its entries checked, its duplicates removed
/// (first occurrence kept, so the order is the upload's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenidList<'a> {
    /// The distinct openids, in the order first sent.
    pub distinct: Vec<&'a str>,
    /// Entries sent, duplicates included.
    pub received: i64,
}

impl<'a> OpenidList<'a> {
    /// Checks every entry: 1..=`MAX_TARGETS` of them, each 1..=128 bytes
    /// with no whitespace or control character (the coupon's owner is the
    /// openid verbatim, as a token's `sub`; a stray `\r` or space would
    /// name a fan who does not exist). The first bad entry is named by its
    /// position.
    pub fn parse(openids: &'a [String]) -> Result<Self, InvalidField> {
        if openids.is_empty() || openids.len() > MAX_TARGETS {
            return Err(InvalidField::new(
                "openids",
                format!("1..={MAX_TARGETS} openids per call"),
            ));
        }
        let mut seen = HashSet::with_capacity(openids.len());
        let mut distinct = Vec::with_capacity(openids.len());
        for (i, o) in openids.iter().enumerate() {
            if o.is_empty()
                || o.len() > MAX_OPENID_BYTES
                || o.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(InvalidField::new(
                    "openids",
                    format!(
                        "entry {i}: an openid is 1..={MAX_OPENID_BYTES} bytes without \
                         whitespace or control characters"
                    ),
                ));
            }
            if seen.insert(o.as_str()) {
                distinct.push(o.as_str());
            }
        }
        Ok(Self {
            distinct,
            // At most MAX_TARGETS: fits.
            received: i64::try_from(openids.len()).unwrap_or(i64::MAX),
        })
    }
}

/// A targeted issue job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetJobState {
    /// Openids may be appended.
    Open,
    /// Started: the worker decides its targets.
    Running,
    Done,
    Failed,
}

impl TargetJobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Running => "RUNNING",
            Self::Done => "DONE",
            Self::Failed => "FAILED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

/// One target's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOutcome {
    Pending,
    Issued,
    Refused,
}

impl TargetOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Issued => "ISSUED",
            Self::Refused => "REFUSED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Issued, Self::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// Why a target got no coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRefusal {
    /// The openid already held the template's per-user limit.
    PerUserLimit,
    /// The template's supply was used up.
    SupplyExhausted,
    /// The template's fixed validity had ended.
    TemplateExpired,
}

impl TargetRefusal {
    pub const ALL: [Self; 3] = [
        Self::PerUserLimit,
        Self::SupplyExhausted,
        Self::TemplateExpired,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerUserLimit => "per_user_limit",
            Self::SupplyExhausted => "supply_exhausted",
            Self::TemplateExpired => "template_expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Whether a template with this validity may no longer issue at `now` (a
/// fixed window that has ended; as a claim is refused).
pub fn template_ended(validity: Validity, now: Millis) -> bool {
    matches!(validity, Validity::Fixed { until, .. } if now >= until)
}

/// Where a report page continues: after this target (UUIDv7, append
/// order). Carries no openid, so a token shows an auditor nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCursor {
    pub target_id: String,
}

/// The report token's scope: the merchant, the job and the filter.
pub fn results_scope(merchant_id: &str, job_id: &str, outcome: Option<TargetOutcome>) -> String {
    serde_json::json!([merchant_id, job_id, outcome.map(TargetOutcome::as_str)]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn duplicates_count_once_in_upload_order() {
        let sent = list(&["o-b", "o-a", "o-b", "o-c", "o-a"]);
        let l = OpenidList::parse(&sent).expect("valid");
        assert_eq!(l.distinct, vec!["o-b", "o-a", "o-c"]);
        assert_eq!(l.received, 5);
    }

    #[test]
    fn bad_entries_are_named_by_position() {
        for bad in ["", "a b", "abc\r", "tab\there", &"x".repeat(129)] {
            let sent = list(&["fine", bad]);
            let e = OpenidList::parse(&sent).expect_err("refused");
            assert_eq!(e.field, "openids");
            assert!(e.reason.starts_with("entry 1:"), "{}", e.reason);
        }
        assert!(OpenidList::parse(&list(&[&"x".repeat(128), "微信用户"])).is_ok());
        assert_eq!(OpenidList::parse(&[]).expect_err("empty").field, "openids");
        let too_many = vec!["o".to_owned(); MAX_TARGETS + 1];
        assert_eq!(
            OpenidList::parse(&too_many).expect_err("too many").field,
            "openids"
        );
    }

    #[test]
    fn names_round_trip() {
        for r in TargetRefusal::ALL {
            assert_eq!(TargetRefusal::parse(r.as_str()), Some(r));
        }
        for s in ["OPEN", "RUNNING", "DONE", "FAILED"] {
            assert_eq!(
                TargetJobState::parse(s).map(TargetJobState::as_str),
                Some(s)
            );
        }
        for s in ["PENDING", "ISSUED", "REFUSED"] {
            assert_eq!(TargetOutcome::parse(s).map(TargetOutcome::as_str), Some(s));
        }
        assert_eq!(TargetOutcome::parse("pending"), None);
    }

    #[test]
    fn only_a_fixed_window_ends() {
        let fixed = Validity::Fixed {
            from: 0,
            until: 100,
        };
        assert!(!template_ended(fixed, 99));
        assert!(template_ended(fixed, 100));
        assert!(!template_ended(Validity::DaysFromIssue(30), i64::MAX));
    }

    #[test]
    fn scopes_differ_by_job_and_filter() {
        let a = results_scope("m", "j", None);
        assert_ne!(a, results_scope("m", "k", None));
        assert_ne!(a, results_scope("m", "j", Some(TargetOutcome::Issued)));
        assert_ne!(a, results_scope("n", "j", None));
    }
}
