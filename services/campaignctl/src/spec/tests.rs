use super::*;

const GOOD: &str = r#"
key = "autumn-2026"
name = "Autumn wheel"
starts_at = 2026-11-25T12:00:00+08:00
ends_at = "2026-12-26T12:00:00+08:00"
draws_per_day = 3
draws_total = 10
fallback = "Thanks"

[[prizes]]
name = "Tea set"
kind = "physical"
weight = 10
stock = 5
daily_cap = 2

[[prizes]]
name = "10 points"
kind = "points"
weight = 30
stock = 1000
points = 10

[[prizes]]
name = "Coupon"
kind = "coupon"
weight = 5
stock = 100
per_user_cap = 1
coupon_template = "6F9619FF-8B86-D011-B42D-00C04FC964FF"

[[prizes]]
name = "Thanks"
kind = "thanks"
weight = 55
"#;

fn errors(text: &str) -> Vec<String> {
    match WheelSpec::parse(text) {
        Err(ParseError::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[test]
fn a_good_file_parses_into_the_engine_requests() {
    let s = WheelSpec::parse(GOOD).expect("valid");
    assert_eq!(s.key, "autumn-2026");
    assert_eq!(s.starts_at_ms, 1_795_665_600_000 - 86_400_000);
    assert_eq!(s.time_zone, "Asia/Shanghai");
    assert_eq!(s.fallback, 3);
    assert_eq!(s.slots.len(), 4);
    assert_eq!(
        s.slots[0].claim_days, 7,
        "the engine's default, made explicit"
    );
    assert_eq!(s.slots[0].daily_cap, 2);
    assert_eq!(s.slots[1].amount, 10);
    assert_eq!(
        s.slots[2].reference, "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "UUIDs in the engine's lower-case form"
    );
    assert_eq!(s.slots[2].per_user_cap, 1);
    assert_eq!(s.slots[3].kind, pb::PrizeKind::Thanks as i32);
    assert_eq!(s.slots[3].stock, 0);
}

#[test]
fn the_checked_in_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wheel.toml");
    let s = WheelSpec::load(&path).expect("examples/wheel.toml is valid");
    assert!(s.share.is_some() && s.votes.is_some() && s.chances.is_some());
}

#[test]
fn bad_values_are_named_by_their_field() {
    let bad = GOOD
        .replace("weight = 30", "weight = 0")
        .replace("stock = 5\n", "stock = -1\n")
        .replace("points = 10", "points = 10\ncents = 5")
        .replace("draws_total = 10", "draws_total = 2")
        .replace(r#"fallback = "Thanks""#, r#"fallback = "Tea set""#);
    let e = errors(&bad);
    for want in [
        "prizes[1].weight: must be > 0",
        "prizes[0].stock: must be between 1",
        "prizes[1].cents: only \"cash\" prizes take it",
        "draws_total: must be between draws_per_day",
        "fallback: \"Tea set\" must be a prize of kind \"thanks\"",
    ] {
        assert!(
            e.iter().any(|m| m.starts_with(want)),
            "{want} not in {e:#?}"
        );
    }
}

#[test]
fn kind_specific_fields_are_required_and_checked() {
    let e = errors(&GOOD.replace(
        "coupon_template = \"6F9619FF-8B86-D011-B42D-00C04FC964FF\"",
        "",
    ));
    assert_eq!(
        e,
        ["prizes[2].coupon_template: is required for \"coupon\" prizes"]
    );
    let e = errors(&GOOD.replace("6F9619FF-8B86-D011-B42D-00C04FC964FF", "nope"));
    assert_eq!(e, ["prizes[2].coupon_template: must be a UUID"]);
    let e = errors(&GOOD.replace("weight = 55", "weight = 55\nstock = 3\ndaily_cap = 1"));
    assert_eq!(
        e,
        [
            "prizes[3].stock: a \"thanks\" prize has no stock",
            "prizes[3].daily_cap: a \"thanks\" prize has no caps"
        ]
    );
}

#[test]
fn the_fallback_alone_may_have_weight_zero() {
    assert!(WheelSpec::parse(&GOOD.replace("weight = 55", "weight = 0")).is_ok());
}

#[test]
fn instants_need_an_offset_and_an_order() {
    let e = errors(&GOOD.replace(
        "starts_at = 2026-11-25T12:00:00+08:00",
        "starts_at = 2026-11-25T12:00:00",
    ));
    assert!(
        e[0].starts_with("starts_at: must be an RFC 3339 instant"),
        "{e:?}"
    );
    let e = errors(&GOOD.replace("2026-12-26T12:00:00+08:00", "2026-11-01T00:00:00Z"));
    assert_eq!(e, ["ends_at: must be after starts_at"]);
    let e = errors(&GOOD.replace(
        "starts_at = 2026-11-25T12:00:00+08:00",
        "starts_at = 1969-12-31T00:00:00Z",
    ));
    assert_eq!(e, ["starts_at: must be after 1970-01-01T00:00:00Z"]);
}

#[test]
fn unknown_fields_and_duplicate_names_are_refused() {
    let Err(ParseError::Syntax(m)) = WheelSpec::parse(&GOOD.replace("weight = 10", "wieght = 10"))
    else {
        panic!("an unknown field must be refused")
    };
    assert!(m.contains("unknown field `wieght`"), "{m}");
    let e = errors(&GOOD.replace("name = \"Coupon\"", "name = \"Tea set\""));
    assert!(
        e[0].starts_with("prizes[2].name: \"Tea set\" is used twice"),
        "{e:?}"
    );
}

#[test]
fn tiers_have_no_odds_and_rules_are_checked() {
    let text = format!(
        "{GOOD}\n[share]\nenabled = true\n[[share.tiers]]\nmetric = \"viewers\"\nthreshold = 0\n\
         prize = {{ name = \"Mug\", kind = \"physical\", stock = 3, weight = 1 }}\n\
         [votes]\nvotes_per_day = 5\nvotes_per_candidate_per_day = 6\nvotes_total = 3\n"
    );
    let e = errors(&text);
    assert_eq!(
        e,
        [
            "share.tiers[0].prize.weight: tiers have no odds or caps: remove it",
            "share.tiers[0].threshold: must be between 1 and 1000000",
            "votes.votes_per_candidate_per_day: cannot exceed votes_per_day",
            "votes.votes_per_day: cannot exceed votes_total",
        ]
    );
}
