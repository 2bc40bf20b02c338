//! Stores' rules, pure: what a store code, name, city, address and geo
//! point may be, the status, the list's filter and cursor, and what the
//! registry refuses.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{InvalidField, Millis, paging::PageLimits};

/// `ListStores`: 100 a page by default, at most 1000.
pub const STORE_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// Characters of a store code, a name, a city and an address.
pub const MAX_CODE: usize = 64;
pub const MAX_NAME: usize = 100;
pub const MAX_CITY: usize = 50;
pub const MAX_ADDRESS: usize = 200;

/// Whether a store can take new POS keys and new templates' coupons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreStatus {
    Open,
    /// Closed: its POS keys were revoked when it closed; no new key or
    /// template may name it. Reopening it takes new keys.
    Closed,
}

impl StoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Closed => "CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OPEN" => Some(Self::Open),
            "CLOSED" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A point on the map, in millionths of a degree (about 0.1 m): exact
/// and the same on both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeoPoint {
    pub lat_e6: i64,
    pub lng_e6: i64,
}

impl GeoPoint {
    /// From degrees (WGS-84 as a map shows them; GCJ-02 if that is what
    /// the merchant's map gives: the engine only keeps the numbers).
    pub fn from_degrees(lat: f64, lng: f64) -> Result<Self, InvalidField> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidField::new(
                "location.latitude",
                "degrees in -90..=90",
            ));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(InvalidField::new(
                "location.longitude",
                "degrees in -180..=180",
            ));
        }
        // In range, so the rounded products fit an i64 exactly.
        Ok(Self {
            lat_e6: (lat * 1e6).round() as i64,
            lng_e6: (lng * 1e6).round() as i64,
        })
    }

    pub fn latitude(self) -> f64 {
        self.lat_e6 as f64 / 1e6
    }

    pub fn longitude(self) -> f64 {
        self.lng_e6 as f64 / 1e6
    }
}

/// What a merchant says about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub name: String,
    pub city: String,
    pub address: String,
    pub location: Option<GeoPoint>,
}

/// A registered store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRecord {
    pub merchant_id: String,
    pub store_id: String,
    pub spec: StoreSpec,
    pub status: StoreStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A store code as POS keys, templates and redemptions carry it: the
/// merchant's own code, 1..=64 printable ASCII characters, no spaces.
pub fn store_code(field: &'static str, raw: &str) -> Result<String, InvalidField> {
    let s = raw.trim();
    if s.is_empty() || s.len() > MAX_CODE || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidField::new(
            field,
            format!("a store code is 1..={MAX_CODE} printable ASCII characters without spaces"),
        ));
    }
    Ok(s.to_owned())
}

fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    required: bool,
) -> Result<String, InvalidField> {
    let s = raw.trim();
    if required && s.is_empty() {
        return Err(InvalidField::new(field, "required"));
    }
    if s.chars().count() > max {
        return Err(InvalidField::new(
            field,
            format!("at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(InvalidField::new(field, "no control characters"));
    }
    Ok(s.to_owned())
}

impl StoreSpec {
    /// A store's details as sent: a name (required), city and address
    /// (may be empty), a location or none.
    pub fn parse(
        name: &str,
        city: &str,
        address: &str,
        location: Option<(f64, f64)>,
    ) -> Result<Self, InvalidField> {
        Ok(Self {
            name: text("name", name, MAX_NAME, true)?,
            city: text("city", city, MAX_CITY, false)?,
            address: text("address", address, MAX_ADDRESS, false)?,
            location: location
                .map(|(lat, lng)| GeoPoint::from_degrees(lat, lng))
                .transpose()?,
        })
    }
}

/// Which of a merchant's stores to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFilter {
    pub status: Option<StoreStatus>,
    /// Exactly this city; empty: any.
    pub city: String,
}

impl StoreFilter {
    pub fn new(status: Option<StoreStatus>, city: &str) -> Result<Self, InvalidField> {
        Ok(Self {
            status,
            city: text("city", city, MAX_CITY, false)?,
        })
    }

    /// The page token's scope: the merchant and the filter.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([merchant_id, self.status.map(StoreStatus::as_str), self.city])
            .to_string()
    }
}

/// Where a page of stores continues: after this store code (the list is
/// in code order, and a code is unique within a merchant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCursor {
    pub store_id: String,
}

/// What the registry refuses of a well-formed request. The field is the
/// request's (`store_id` of a POS key, `store_ids` of a template).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreRefusal {
    #[error("store_id: the store {0:?} is already registered")]
    Exists(String),
    /// Not a store of this merchant (another merchant's code is answered
    /// the same way).
    #[error(
        "{0}: the store {1:?} is not registered; register it first (StoreAdminService.CreateStore)"
    )]
    Unknown(&'static str, String),
    #[error("{0}: the store {1:?} is closed")]
    Closed(&'static str, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(store_code("store_id", " SH-001 ").expect("ok"), "SH-001");
        for bad in ["", " ", "a b", "门店1", &"x".repeat(65), "a\tb"] {
            let e = store_code("store_id", bad).expect_err(bad);
            assert_eq!(e.field, "store_id");
        }
        assert!(store_code("store_id", &"x".repeat(64)).is_ok());
    }

    #[test]
    fn specs() {
        let s = StoreSpec::parse(
            " 徐汇店 ",
            "上海",
            "漕溪北路 1 号",
            Some((31.1886, 121.4365)),
        )
        .expect("ok");
        assert_eq!(s.name, "徐汇店");
        assert_eq!(
            s.location,
            Some(GeoPoint {
                lat_e6: 31_188_600,
                lng_e6: 121_436_500
            })
        );
        let field = |r: Result<StoreSpec, InvalidField>| r.expect_err("refused").field;
        assert_eq!(field(StoreSpec::parse("", "", "", None)), "name");
        assert_eq!(
            field(StoreSpec::parse(&"店".repeat(101), "", "", None)),
            "name"
        );
        assert!(StoreSpec::parse(&"店".repeat(100), "", "", None).is_ok());
        assert_eq!(
            field(StoreSpec::parse("a", &"c".repeat(51), "", None)),
            "city"
        );
        assert_eq!(
            field(StoreSpec::parse("a", "", &"d".repeat(201), None)),
            "address"
        );
        assert_eq!(field(StoreSpec::parse("a\u{7}b", "", "", None)), "name");
        assert_eq!(
            field(StoreSpec::parse("a", "", "", Some((90.5, 0.0)))),
            "location.latitude"
        );
        assert_eq!(
            field(StoreSpec::parse("a", "", "", Some((f64::NAN, 0.0)))),
            "location.latitude"
        );
        assert_eq!(
            field(StoreSpec::parse("a", "", "", Some((0.0, -180.1)))),
            "location.longitude"
        );
        let edge = StoreSpec::parse("a", "", "", Some((-90.0, 180.0))).expect("edges");
        let p = edge.location.expect("point");
        assert_eq!((p.lat_e6, p.lng_e6), (-90_000_000, 180_000_000));
        assert_eq!((p.latitude(), p.longitude()), (-90.0, 180.0));
    }

    #[test]
    fn statuses_and_scopes() {
        for s in [StoreStatus::Open, StoreStatus::Closed] {
            assert_eq!(StoreStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(StoreStatus::parse("open"), None);
        let a = StoreFilter::new(Some(StoreStatus::Open), "上海").expect("ok");
        let b = StoreFilter::new(None, "上海").expect("ok");
        assert_ne!(a.scope("m"), b.scope("m"));
        assert_ne!(a.scope("m"), a.scope("n"));
    }
}
