//! A campaign is a container; activities are what fans do in it: spin the
//! wheel, vote, grab red packets, forward to Moments. A campaign holds any
//! set of them (at least one); a call of an activity the campaign does not
//! hold is refused. `CreateWheel` makes a campaign holding all four, as
//! every campaign did before activities could be chosen.

use super::InvalidField;

/// One kind of activity a campaign can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Activity {
    Wheel,
    Vote,
    Packet,
    Share,
}

impl Activity {
    /// Every activity, in the order campaigns list them.
    pub const ALL: [Activity; 4] = [
        Activity::Wheel,
        Activity::Vote,
        Activity::Packet,
        Activity::Share,
    ];

    /// The stored name (`campaign_activity.activity`).
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Wheel => "wheel",
            Activity::Vote => "vote",
            Activity::Packet => "packet",
            Activity::Share => "share",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The activities of a new campaign: at least one, each once (a repeat is
/// a caller's slip, refused rather than guessed at), kept in `ALL` order.
/// `field` names the request field for the refusal.
pub fn activity_set(
    field: &'static str,
    wanted: impl IntoIterator<Item = Activity>,
) -> Result<Vec<Activity>, InvalidField> {
    let mut set: Vec<Activity> = Vec::new();
    for a in wanted {
        if set.contains(&a) {
            return Err(InvalidField::new(
                field,
                format!("{} is listed twice", a.as_str()),
            ));
        }
        set.push(a);
    }
    if set.is_empty() {
        return Err(InvalidField::new(
            field,
            "a campaign needs at least one activity",
        ));
    }
    set.sort();
    Ok(set)
}

/// A wheel's limits per player: draws per campaign day and in total.
pub fn check_draw_limits(draws_per_day: i64, draws_total: i64) -> Result<(), InvalidField> {
    if !(1..=10_000).contains(&draws_per_day) {
        return Err(InvalidField::new(
            "draws_per_day",
            "must be between 1 and 10000",
        ));
    }
    if !(draws_per_day..=1_000_000).contains(&draws_total) {
        return Err(InvalidField::new(
            "draws_total",
            "must be between draws_per_day and 1000000",
        ));
    }
    Ok(())
}

/// What a campaign without a wheel stores in the wheel's limit columns
/// (their CHECKs need a value); never shown, replaced when a wheel is
/// attached.
pub const NO_WHEEL_LIMITS: (i64, i64) = (1, 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for a in Activity::ALL {
            assert_eq!(Activity::parse(a.as_str()), Some(a));
        }
        assert_eq!(Activity::parse("raffle"), None);
        assert_eq!(Activity::parse("Wheel"), None);
    }

    #[test]
    fn a_set_is_sorted_non_empty_and_without_repeats() {
        let set = activity_set("activities", [Activity::Share, Activity::Vote]);
        assert_eq!(set, Ok(vec![Activity::Vote, Activity::Share]));
        let empty = activity_set("activities", []);
        assert_eq!(empty.map_err(|e| e.field), Err("activities"));
        let twice = activity_set("activities", [Activity::Vote, Activity::Vote]);
        assert!(twice.is_err_and(|e| e.reason.contains("vote")));
    }

    #[test]
    fn draw_limits_are_bounded_and_ordered() {
        assert!(check_draw_limits(1, 1).is_ok());
        assert!(check_draw_limits(10_000, 1_000_000).is_ok());
        assert_eq!(
            check_draw_limits(0, 5).map_err(|e| e.field),
            Err("draws_per_day")
        );
        assert_eq!(
            check_draw_limits(10_001, 20_000).map_err(|e| e.field),
            Err("draws_per_day")
        );
        assert_eq!(
            check_draw_limits(3, 2).map_err(|e| e.field),
            Err("draws_total")
        );
        assert_eq!(
            check_draw_limits(3, 1_000_001).map_err(|e| e.field),
            Err("draws_total")
        );
    }
}
