//! Voting rules: caps per player per day, per candidate per day and in
//! total, and what a candidate looks like. Pure; the store guards the caps
//! in SQL.

use super::InvalidField;

/// Largest value of any cap.
pub const MAX_VOTES: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteRules {
    pub per_day: i64,
    pub per_candidate_per_day: i64,
    pub total: i64,
    pub player_registration: bool,
}

impl VoteRules {
    pub fn validate(
        per_day: i64,
        per_candidate_per_day: i64,
        total: i64,
        player_registration: bool,
    ) -> Result<Self, InvalidField> {
        for (field, v) in [
            ("votes_per_day", per_day),
            ("votes_per_candidate_per_day", per_candidate_per_day),
            ("votes_total", total),
        ] {
            if !(1..=MAX_VOTES).contains(&v) {
                return Err(InvalidField::new(field, format!("must be 1..={MAX_VOTES}")));
            }
        }
        if per_candidate_per_day > per_day {
            return Err(InvalidField::new(
                "votes_per_candidate_per_day",
                "cannot exceed votes_per_day",
            ));
        }
        if per_day > total {
            return Err(InvalidField::new(
                "votes_per_day",
                "cannot exceed votes_total",
            ));
        }
        Ok(Self {
            per_day,
            per_candidate_per_day,
            total,
            player_registration,
        })
    }
}

/// A candidate's name (1..=64 characters) and description (at most 500).
pub fn candidate_text(name: &str, description: &str) -> Result<(String, String), InvalidField> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(InvalidField::new("name", "1..=64 characters"));
    }
    if description.chars().count() > 500 {
        return Err(InvalidField::new("description", "at most 500 characters"));
    }
    Ok((name.to_owned(), description.trim().to_owned()))
}

/// Which cap refused a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteCap {
    Total,
    Day,
    CandidateDay,
}

impl VoteCap {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Total => "no votes left in this campaign",
            Self::Day => "no votes left today",
            Self::CandidateDay => "no votes left today for this candidate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_the_bad_field() {
        assert!(VoteRules::validate(3, 1, 10, true).is_ok());
        assert_eq!(
            VoteRules::validate(0, 1, 10, false).expect_err("").field,
            "votes_per_day"
        );
        assert_eq!(
            VoteRules::validate(3, 0, 10, false).expect_err("").field,
            "votes_per_candidate_per_day"
        );
        assert_eq!(
            VoteRules::validate(3, 1, 0, false).expect_err("").field,
            "votes_total"
        );
        assert_eq!(
            VoteRules::validate(3, 4, 10, false).expect_err("").field,
            "votes_per_candidate_per_day"
        );
        assert_eq!(
            VoteRules::validate(11, 1, 10, false).expect_err("").field,
            "votes_per_day"
        );
        assert_eq!(
            VoteRules::validate(MAX_VOTES + 1, 1, 10, false)
                .expect_err("")
                .field,
            "votes_per_day"
        );
    }

    #[test]
    fn candidate_text_is_trimmed_and_bounded() {
        assert_eq!(
            candidate_text("  Ann ", " hi "),
            Ok(("Ann".to_owned(), "hi".to_owned()))
        );
        assert_eq!(candidate_text(" ", "").expect_err("").field, "name");
        assert_eq!(
            candidate_text(&"x".repeat(65), "").expect_err("").field,
            "name"
        );
        assert_eq!(
            candidate_text("Ann", &"x".repeat(501)).expect_err("").field,
            "description"
        );
        assert!(VoteCap::Day.describe().contains("today"));
    }
}
