//! The player's name in the ledger, the roll and the events: hex of the
//! first 16 bytes of SHA-256("player-pseudonym/v1" || campaign uuid (16
//! bytes) || openid) (FAIRNESS.md §2). Exports never carry the openid.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The pseudonym of `openid` in campaign `campaign_id`.
pub fn player_pseudonym(campaign_id: Uuid, openid: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"player-pseudonym/v1");
    h.update(campaign_id.as_bytes());
    h.update(openid.as_bytes());
    hex::encode(&h.finalize()[..16])
}
