//! Provable fairness: the canonical prize table, its hash, the commitment
//! to the seed, and player pseudonyms. `FAIRNESS.md` specifies every byte;
//! `tools/verify_fairness.py` recomputes all of it without this code.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::activity::Activity;
use super::wheel::{SlotSpec, WheelRules};

// The audit chain's hash lives in the platform crate (the chain is
// access's, not an activity's); re-exported under its old path.
pub use platform::domain::audit::{AuditEntry, audit_entry_hash};

/// Canonical JSON of the rules a seed is committed to: UTF-8, keys sorted,
/// no white space, integers only (the same bytes as Python's
/// `json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
pub fn canonical_prize_table(
    campaign_id: Uuid,
    version: u32,
    rules: &WheelRules,
    slots: &[(u32, &SlotSpec)],
    fallback_slot: u32,
) -> String {
    let slots: Vec<Value> = slots
        .iter()
        .map(|(index, s)| {
            let m: BTreeMap<&str, Value> = BTreeMap::from([
                ("amount", s.amount.into()),
                ("claim_days", s.claim_days.into()),
                ("daily_cap", s.daily_cap.unwrap_or(0).into()),
                ("index", (*index).into()),
                ("kind", s.kind.as_str().into()),
                ("name", s.name.clone().into()),
                ("per_user_cap", s.per_user_cap.unwrap_or(0).into()),
                ("reference", s.reference.clone().unwrap_or_default().into()),
                ("stock", s.stock.into()),
                ("weight", s.weight.into()),
            ]);
            serde_json::to_value(m).unwrap_or(Value::Null)
        })
        .collect();
    let table: BTreeMap<&str, Value> = BTreeMap::from([
        ("campaign_id", campaign_id.to_string().into()),
        ("draws_per_day", rules.draws_per_day.into()),
        ("draws_total", rules.draws_total.into()),
        ("ends_at_ms", rules.ends_at.into()),
        ("fallback_slot", fallback_slot.into()),
        ("format", "prize-table/v1".into()),
        ("name", rules.name.clone().into()),
        ("slots", Value::Array(slots)),
        ("starts_at_ms", rules.starts_at.into()),
        ("time_zone", rules.time_zone.clone().into()),
        ("version", version.into()),
    ]);
    serde_json::to_string(&table).unwrap_or_default()
}

/// Canonical JSON a campaign without a wheel commits its seed to (the seed
/// still splits its red packets): its window, zone and activities, in the
/// same canonical form as the prize table (FAIRNESS.md §3).
pub fn canonical_campaign_table(
    campaign_id: Uuid,
    version: u32,
    rules: &WheelRules,
    activities: &[Activity],
) -> String {
    let table: BTreeMap<&str, Value> = BTreeMap::from([
        (
            "activities",
            activities.iter().map(|a| Value::from(a.as_str())).collect(),
        ),
        ("campaign_id", campaign_id.to_string().into()),
        ("ends_at_ms", rules.ends_at.into()),
        ("format", "campaign-table/v1".into()),
        ("name", rules.name.clone().into()),
        ("starts_at_ms", rules.starts_at.into()),
        ("time_zone", rules.time_zone.clone().into()),
        ("version", version.into()),
    ]);
    serde_json::to_string(&table).unwrap_or_default()
}

/// SHA-256 of the canonical table's UTF-8 bytes.
pub fn prize_table_hash(canonical: &str) -> Vec<u8> {
    Sha256::digest(canonical.as_bytes()).to_vec()
}

/// SHA-256("wheel-commit/v1" || seed || prize_table_hash): binds the seed
/// to one exact prize table.
pub fn seed_commitment(seed: &[u8], table_hash: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"wheel-commit/v1");
    h.update(seed);
    h.update(table_hash);
    h.finalize().to_vec()
}

// The player's name in the ledger and in the roll lives in the platform
// crate (events carry it too, coupon events among them).
pub use platform::domain::pseudonym::player_pseudonym;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::wheel::PrizeKind;

    fn table() -> String {
        let rules = WheelRules {
            name: "Autumn \u{8f6c}\u{76d8}".into(),
            starts_at: 1000,
            ends_at: 2000,
            time_zone: "Asia/Shanghai".into(),
            draws_per_day: 3,
            draws_total: 10,
        };
        let cup = SlotSpec {
            name: "Cup \"blue\"".into(),
            kind: PrizeKind::Physical,
            weight: 10,
            stock: 5,
            daily_cap: Some(2),
            per_user_cap: None,
            reference: None,
            amount: 0,
            claim_days: 7,
        };
        let thanks = SlotSpec {
            name: "Thanks".into(),
            kind: PrizeKind::Thanks,
            weight: 90,
            stock: 0,
            daily_cap: None,
            per_user_cap: None,
            reference: None,
            amount: 0,
            claim_days: 0,
        };
        canonical_prize_table(Uuid::from_u128(7), 1, &rules, &[(0, &cup), (1, &thanks)], 1)
    }

    #[test]
    fn canonical_table_is_sorted_compact_utf8() {
        let t = table();
        assert!(t.starts_with(
            r#"{"campaign_id":"00000000-0000-0000-0000-000000000007","draws_per_day":3,"#
        ));
        assert!(t.contains(r#""name":"Autumn 转盘""#));
        assert!(t.contains(r#""name":"Cup \"blue\"""#));
    }

    #[test]
    fn known_answers_match_the_python_verifier() {
        // Computed with Python's hashlib/json from the same inputs.
        assert_eq!(hex::encode(prize_table_hash(&table())), KNOWN_TABLE_HASH);
        assert_eq!(
            hex::encode(seed_commitment(&[1u8; 32], &prize_table_hash(&table()))),
            KNOWN_COMMITMENT
        );
        assert_eq!(
            player_pseudonym(Uuid::from_u128(7), "openid-1"),
            KNOWN_PSEUDONYM
        );
    }

    #[test]
    fn a_campaign_without_a_wheel_commits_to_its_window_and_activities() {
        let rules = WheelRules {
            name: "Autumn \u{6295}\u{7968}".into(),
            starts_at: 1000,
            ends_at: 2000,
            time_zone: "Asia/Shanghai".into(),
            draws_per_day: 1,
            draws_total: 1,
        };
        let t = canonical_campaign_table(
            Uuid::from_u128(7),
            1,
            &rules,
            &[Activity::Vote, Activity::Packet],
        );
        // The wheel's placeholder limits are not committed to.
        assert!(!t.contains("draws_per_day"));
        // Computed with Python's json/hashlib from the same inputs.
        assert_eq!(t, KNOWN_CAMPAIGN_TABLE);
        assert_eq!(hex::encode(prize_table_hash(&t)), KNOWN_CAMPAIGN_TABLE_HASH);
    }

    const KNOWN_CAMPAIGN_TABLE: &str = r#"{"activities":["vote","packet"],"campaign_id":"00000000-0000-0000-0000-000000000007","ends_at_ms":2000,"format":"campaign-table/v1","name":"Autumn 投票","starts_at_ms":1000,"time_zone":"Asia/Shanghai","version":1}"#;
    const KNOWN_CAMPAIGN_TABLE_HASH: &str =
        "e5ac0fc0b46fb767b6ae9b98f147a95e7262ab76d0c705ea501349235fae23dc";

    const KNOWN_TABLE_HASH: &str =
        "300731bbdb7e83469a34cb5064566c5321b6832877253807738d997cc3bd5587";
    const KNOWN_COMMITMENT: &str =
        "9350d9b5e51ab08152a9942e571ed0f60a6ecb7d7f607e88768b38d9906eeb70";
    const KNOWN_PSEUDONYM: &str = "73ce4b8f13797041515bd5f3e062ae8c";
}
