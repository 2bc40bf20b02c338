//! Shipping many physical prizes at once (issue 24): the rows of a
//! courier's file, checked, and what became of each. Applying the same file
//! twice ships nothing twice: a row whose prize is already shipped with
//! the same tracking number is reported as such, not refused and not
//! changed.

use super::InvalidField;

/// Rows one BulkShipPrizes call takes.
pub const MAX_ROWS: usize = 1000;
/// The longest tracking number, in characters.
pub const MAX_TRACKING: usize = 64;

/// One row of the file: this prize went out with this tracking number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipRow {
    pub award_id: String,
    pub tracking_number: String,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// CLAIMED -> SHIPPED by this call.
    Shipped,
    /// Already SHIPPED with this tracking number (the file applied before).
    AlreadyShipped,
    /// Not applied, and why.
    Refused(RowRefusal),
}

/// Why a row was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRefusal {
    /// No prize of this campaign has this id (or it is another merchant's).
    NotFound,
    /// Not a physical prize: nothing to ship.
    NotPhysical,
    /// Not claimed yet (no shipping details), or expired unclaimed.
    NotClaimed,
    /// Shipped before with another tracking number.
    OtherTracking,
    /// The same prize appears on an earlier row of this file.
    Repeated,
}

impl RowRefusal {
    /// The reason a client keys on (`BulkShipRowResult.reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NotPhysical => "not_physical",
            Self::NotClaimed => "not_claimed",
            Self::OtherTracking => "other_tracking_number",
            Self::Repeated => "repeated_row",
        }
    }
}

/// The rows, checked: 1 to `MAX_ROWS`, each with a tracking number of 1 to
/// `MAX_TRACKING` printable characters (`rows[3].tracking_number`).
pub fn check_rows(rows: &[ShipRow]) -> Result<(), InvalidField> {
    if rows.is_empty() || rows.len() > MAX_ROWS {
        return Err(InvalidField::new(
            "rows",
            format!("1 to {MAX_ROWS} rows a call"),
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let n = r.tracking_number.chars().count();
        if n == 0 || n > MAX_TRACKING || r.tracking_number.chars().any(char::is_control) {
            return Err(InvalidField::new(
                "rows.tracking_number",
                format!("row {i}: 1 to {MAX_TRACKING} printable characters"),
            ));
        }
        if r.award_id.trim().is_empty() {
            return Err(InvalidField::new(
                "rows.award_id",
                format!("row {i}: required"),
            ));
        }
    }
    Ok(())
}

/// The outcome of a row whose guarded update changed nothing, from the
/// prize as it stands: `(kind is physical, stored status, tracking)`.
pub fn explain(physical: bool, status: &str, tracking: Option<&str>, wanted: &str) -> RowOutcome {
    match (physical, status) {
        (false, _) => RowOutcome::Refused(RowRefusal::NotPhysical),
        (true, "shipped") if tracking == Some(wanted) => RowOutcome::AlreadyShipped,
        (true, "shipped") => RowOutcome::Refused(RowRefusal::OtherTracking),
        (true, _) => RowOutcome::Refused(RowRefusal::NotClaimed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, t: &str) -> ShipRow {
        ShipRow {
            award_id: id.into(),
            tracking_number: t.into(),
        }
    }

    #[test]
    fn rows_are_checked() {
        assert!(check_rows(&[row("a", "SF123")]).is_ok());
        assert_eq!(check_rows(&[]).expect_err("empty").field, "rows");
        let many = vec![row("a", "t"); MAX_ROWS + 1];
        assert_eq!(check_rows(&many).expect_err("many").field, "rows");
        let e = check_rows(&[row("a", "t"), row("b", "")]).expect_err("blank");
        assert_eq!(e.field, "rows.tracking_number");
        assert!(e.reason.starts_with("row 1"));
        let long = "9".repeat(MAX_TRACKING + 1);
        assert!(check_rows(&[row("a", &long)]).is_err());
        assert!(check_rows(&[row("a", "SF\n1")]).is_err());
        assert_eq!(
            check_rows(&[row(" ", "t")]).expect_err("id").field,
            "rows.award_id"
        );
        assert!(check_rows(&[row("a", "顺丰SF1234567890")]).is_ok());
    }

    #[test]
    fn a_row_that_changed_nothing_says_why() {
        assert_eq!(
            explain(false, "granted", None, "t"),
            RowOutcome::Refused(RowRefusal::NotPhysical)
        );
        assert_eq!(
            explain(true, "shipped", Some("t"), "t"),
            RowOutcome::AlreadyShipped
        );
        assert_eq!(
            explain(true, "shipped", Some("u"), "t"),
            RowOutcome::Refused(RowRefusal::OtherTracking)
        );
        for status in ["won", "expired"] {
            assert_eq!(
                explain(true, status, None, "t"),
                RowOutcome::Refused(RowRefusal::NotClaimed)
            );
        }
    }
}
