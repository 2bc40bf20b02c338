//! The campaign's figures on `GET /metrics` (the endpoint, the RPC counts
//! and the database pool are the platform's, `platform::server::metrics`):
//! draws, prizes won and left of each running wheel, and the prize outbox,
//! read from the database at each scrape.

use std::fmt::Write as _;

use crate::store::{Store, db::Db};

/// The outbox's and the running wheels' figures, read now, as exposition
/// text.
pub async fn render<D: Db>(store: &Store<D>) -> String {
    let mut out = String::new();
    match store.delivery_counts().await {
        Ok((waiting, delivered)) => {
            let _ = writeln!(
                out,
                "# HELP campaign_outbox_waiting Won coupon and top-up prizes not yet delivered.\n\
                 # TYPE campaign_outbox_waiting gauge\ncampaign_outbox_waiting {waiting}\n\
                 # TYPE campaign_outbox_delivered_total counter\n\
                 campaign_outbox_delivered_total {delivered}"
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the outbox"),
    }
    match store.prize_gauges().await {
        Ok(rows) => {
            out.push_str(
                "# HELP campaign_draws_total Draws of each running campaign.\n\
                 # TYPE campaign_draws_total counter\n",
            );
            let mut seen = std::collections::BTreeSet::new();
            for r in &rows {
                if seen.insert(r.campaign_id.as_str()) {
                    let _ = writeln!(
                        out,
                        "campaign_draws_total{{campaign=\"{}\"}} {}",
                        r.campaign_id, r.draws
                    );
                }
            }
            out.push_str(
                "# HELP campaign_prize_won_total Units of each prize won.\n\
                 # TYPE campaign_prize_won_total counter\n",
            );
            for r in &rows {
                let _ = writeln!(
                    out,
                    "campaign_prize_won_total{{campaign=\"{}\",slot=\"{}\"}} {}",
                    r.campaign_id, r.slot_index, r.won
                );
            }
            out.push_str(
                "# HELP campaign_prize_remaining Units of each prize left.\n\
                 # TYPE campaign_prize_remaining gauge\n",
            );
            for r in &rows {
                let _ = writeln!(
                    out,
                    "campaign_prize_remaining{{campaign=\"{}\",slot=\"{}\"}} {}",
                    r.campaign_id, r.slot_index, r.remaining
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading prize stock"),
    }
    out
}
