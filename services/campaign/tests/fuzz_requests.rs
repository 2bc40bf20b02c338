//! Property-based fuzzing of everything a caller controls before the store
//! sees it: arbitrary bytes decoded as every request message, then the
//! handlers' validation and conversion (field checks, slot specs, rules,
//! shipping details, idempotency keys and fingerprints), and arbitrary
//! credentials through the API-key parser and the player-token verifier.
//! Nothing may panic; bad input is always an error value.

use campaign::{
    domain::{
        credential::{GatewayKey, parse_api_key, token_issuer, verify_player_token},
        wheel::WheelRules,
    },
    grpc::{
        auth::Principal,
        convert::{
            idempotency, required, role_from_proto, shipping_from_proto, slot_from_proto,
            uuid_field,
        },
    },
};
use engine_proto::campaign::v1 as pb;
use proptest::prelude::*;
use prost::Message;

fn player() -> Principal {
    Principal::Player {
        merchant_id: "m".into(),
        player_id: "p".into(),
    }
}

/// Bytes that are often valid protobuf: random field tags, varints and
/// length-delimited runs, so the decoders get past the first byte.
fn protobuf_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(
            (1u8..16, 0u8..3, prop::collection::vec(any::<u8>(), 0..40)).prop_map(
                |(field, wire, body)| {
                    let mut v = vec![(field << 3) | if wire == 1 { 2 } else { 0 }];
                    if wire == 1 {
                        v.push(body.len() as u8);
                    }
                    v.extend(body);
                    v
                }
            ),
            0..12,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_request_decodes_and_validates_without_panic(bytes in protobuf_like()) {
        if let Ok(r) = pb::CreateWheelRequest::decode(bytes.as_slice()) {
            let _ = WheelRules::parse(&r.name, r.starts_at_ms, r.ends_at_ms, &r.time_zone, r.draws_per_day, r.draws_total);
            let _ = idempotency(&player(), "CreateWheel", &r);
        }
        if let Ok(r) = pb::AddPrizeSlotRequest::decode(bytes.as_slice()) {
            let _ = uuid_field("campaign_id", &r.campaign_id);
            let _ = slot_from_proto(r.slot.clone());
            let _ = idempotency(&player(), "AddPrizeSlot", &r);
        }
        if let Ok(r) = pb::ReviseWheelRequest::decode(bytes.as_slice()) {
            for s in &r.slots {
                let _ = slot_from_proto(Some(s.clone()));
            }
        }
        if let Ok(r) = pb::UpdatePrizeSlotRequest::decode(bytes.as_slice()) {
            let _ = slot_from_proto(r.slot.clone());
        }
        if let Ok(r) = pb::CreateApiKeyRequest::decode(bytes.as_slice()) {
            let _ = role_from_proto(r.role);
            let _ = required("store_id", &r.store_id, 64);
        }
        if let Ok(r) = pb::DrawRequest::decode(bytes.as_slice()) {
            let _ = uuid_field("campaign_id", &r.campaign_id);
            let _ = idempotency(&player(), "Draw", &r);
        }
        if let Ok(r) = pb::ClaimPrizeRequest::decode(bytes.as_slice()) {
            let _ = uuid_field("award_id", &r.award_id);
            let _ = shipping_from_proto(r.shipping.clone());
        }
        for decoded in [
            pb::SetPlayerTokenKeyRequest::decode(bytes.as_slice()).is_ok(),
            pb::CampaignTransitionRequest::decode(bytes.as_slice()).is_ok(),
            pb::ShipPrizeRequest::decode(bytes.as_slice()).is_ok(),
            pb::SimulateWheelRequest::decode(bytes.as_slice()).is_ok(),
            pb::ListWinnersRequest::decode(bytes.as_slice()).is_ok(),
            pb::ExportCampaignRequest::decode(bytes.as_slice()).is_ok(),
        ] {
            let _ = decoded;
        }
    }

    #[test]
    fn credentials_never_panic(s in ".{0,300}", secret in prop::collection::vec(any::<u8>(), 0..64), now in any::<i64>()) {
        let _ = parse_api_key(&s);
        let _ = token_issuer(&s);
        let keys = [
            GatewayKey { kid: "k2".into(), secret: secret.clone() },
            GatewayKey { kid: String::new(), secret },
        ];
        let _ = verify_player_token(&s, &keys, "iss", "campaign-engine", now);
        // Three dot-separated base64url-looking parts get past the splitter.
        let jwtish = format!("{s}.{s}.{s}");
        let _ = verify_player_token(&jwtish, &keys, "iss", "campaign-engine", now);
    }
}
