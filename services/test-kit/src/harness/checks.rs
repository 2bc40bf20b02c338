//! Invariant checks read straight from the tables: money conservation,
//! stock, and the digest of every row a refused call must not touch.

use super::*;

/// Invariant checkers shared by the behavioural and fault suites.
impl TestDb {
    /// Invariant 3 over every budget and packet, from the tables and the
    /// ledger: conservation, no negative balance, every movement balanced,
    /// every counter equal to its ledger balance.
    pub async fn assert_money_balances(&self) {
        let q = |sql: &'static str| self.scalar(sql, "");
        // Every movement's entries sum to zero, and so does the whole ledger.
        assert_eq!(
            q(
                "SELECT COUNT(*) FROM (SELECT movement_id FROM ledger_entry WHERE $1 = $1 \
               GROUP BY movement_id HAVING SUM(amount) <> 0 OR COUNT(*) <> 2) x"
            )
            .await,
            0,
            "an unbalanced movement"
        );
        assert_eq!(
            q("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entry WHERE $1 = $1")
                .await,
            0
        );
        // Budgets: funded == available + reserved + granted + refunded, each
        // counter equal to the balance of its accounts.
        assert_eq!(
            q("SELECT COUNT(*) FROM budget b WHERE $1 = $1 AND ( \
                 b.funded <> b.available + b.reserved + b.granted + b.refunded \
                 OR b.available < 0 OR b.reserved < 0 \
                 OR b.available <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     WHERE e.account = 'budget:' || b.campaign_id) \
                 OR b.reserved <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     JOIN red_packet p ON e.account = 'packet:' || p.packet_id \
                     WHERE p.campaign_id = b.campaign_id) \
                     + (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     WHERE e.account = 'prizes:' || b.campaign_id) \
                 OR b.granted <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     WHERE e.account LIKE 'player:' || b.campaign_id || ':%') \
                 OR b.refunded <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     WHERE e.account = 'refunded:' || b.campaign_id) \
                 OR b.funded <> (SELECT COALESCE(SUM(m.amount), 0) FROM money_movement m \
                     WHERE m.campaign_id = b.campaign_id AND m.kind = 'fund'))")
            .await,
            0,
            "a budget whose counters disagree with its ledger"
        );
        // Group packets: total == granted + released + remaining; the parts sum
        // to the total, each at least a cent; grabs match the counters.
        assert_eq!(
            q("SELECT COUNT(*) FROM red_packet p WHERE p.kind = 'group' AND $1 = $1 AND ( \
                 p.total <> p.granted + p.released + p.remaining OR p.remaining < 0 \
                 OR p.total <> (SELECT SUM(amount) FROM packet_part x WHERE x.packet_id = p.packet_id) \
                 OR p.parts <> (SELECT COUNT(*) FROM packet_part x WHERE x.packet_id = p.packet_id) \
                 OR EXISTS (SELECT 1 FROM packet_part x WHERE x.packet_id = p.packet_id AND x.amount < 1) \
                 OR p.remaining <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entry e \
                     WHERE e.account = 'packet:' || p.packet_id))")
            .await,
            0,
            "a group packet that does not balance"
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM red_packet p WHERE $1 = $1 AND ( \
                 p.granted <> (SELECT COALESCE(SUM(amount), 0) FROM packet_grab g \
                     WHERE g.packet_id = p.packet_id) \
                 OR p.grabbed <> (SELECT COUNT(*) FROM packet_grab g WHERE g.packet_id = p.packet_id) \
                 OR (p.kind = 'group' AND EXISTS (SELECT 1 FROM packet_grab g \
                     JOIN packet_part x ON x.packet_id = g.packet_id AND x.part_index = g.grab_seq - 1 \
                     WHERE g.packet_id = p.packet_id AND x.amount <> g.amount)))",)
            .await,
            0,
            "grabs that disagree with their packet"
        );
        assert_eq!(
            q(
                "SELECT COUNT(*) FROM (SELECT packet_id FROM money_movement WHERE kind = 'release' \
               AND $1 = $1 GROUP BY packet_id HAVING COUNT(*) > 1) x"
            )
            .await,
            0,
            "a packet released twice"
        );
        self.assert_events_match_effects().await;
    }

    /// Issue 25 from the tables: every effect a merchant's systems act on
    /// has exactly one event, written with it (the counts agree however
    /// the effects raced or crashed), and the numbered events have no gap
    /// per merchant or per campaign.
    pub async fn assert_events_match_effects(&self) {
        let q = |sql: &'static str| self.scalar(sql, "");
        let pairs: [(&str, &'static str); 14] = [
            (
                "draw.won.v1",
                "SELECT COUNT(*) FROM prize_award WHERE draw_id IS NOT NULL AND $1 = $1",
            ),
            (
                "tier.reached.v1",
                "SELECT COUNT(*) FROM prize_award WHERE tier_index IS NOT NULL AND $1 = $1",
            ),
            (
                "raffle.won.v1",
                "SELECT COUNT(*) FROM prize_award WHERE raffle_id IS NOT NULL AND $1 = $1",
            ),
            (
                "prize.claimed.v1",
                "SELECT COUNT(*) FROM prize_award WHERE status IN ('claimed', 'shipped') AND $1 = $1",
            ),
            (
                "prize.shipped.v1",
                "SELECT COUNT(*) FROM prize_award WHERE status = 'shipped' AND $1 = $1",
            ),
            (
                "prize.expired.v1",
                "SELECT COUNT(*) FROM prize_award WHERE status = 'expired' AND $1 = $1",
            ),
            ("vote.cast.v1", "SELECT COUNT(*) FROM vote WHERE $1 = $1"),
            (
                "packet.granted.v1",
                "SELECT COUNT(*) FROM packet_grab WHERE $1 = $1",
            ),
            (
                "packet.expired.v1",
                "SELECT COUNT(*) FROM red_packet WHERE state = 'expired' AND $1 = $1",
            ),
            (
                "budget.funded.v1",
                "SELECT COUNT(*) FROM money_movement WHERE kind = 'fund' AND $1 = $1",
            ),
            (
                "budget.refunded.v1",
                "SELECT COUNT(*) FROM money_movement WHERE kind = 'refund' AND $1 = $1",
            ),
            (
                "coupon.issued.v1",
                "SELECT COUNT(*) FROM coupon WHERE player_id IS NOT NULL AND $1 = $1",
            ),
            (
                "coupon.redeemed.v1",
                "SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1",
            ),
            (
                "coupon.reversed.v1",
                "SELECT COUNT(*) FROM coupon_redemption WHERE reversed_at IS NOT NULL AND $1 = $1",
            ),
        ];
        for (event, effects) in pairs {
            let events = self
                .scalar("SELECT COUNT(*) FROM event WHERE event_type = $1", event)
                .await;
            assert_eq!(events, q(effects).await, "{event} events != effects");
        }
        assert_eq!(
            q(
                "SELECT COUNT(*) FROM (SELECT merchant_id FROM event WHERE position IS NOT NULL \
               AND $1 = $1 GROUP BY merchant_id HAVING COUNT(*) <> MAX(position)) x"
            )
            .await,
            0,
            "a gap in a merchant's positions"
        );
        assert_eq!(
            q(
                "SELECT COUNT(*) FROM (SELECT campaign_id FROM event WHERE seq IS NOT NULL \
               AND $1 = $1 GROUP BY merchant_id, campaign_id HAVING COUNT(*) <> MAX(seq)) x"
            )
            .await,
            0,
            "a gap in a campaign's seq"
        );
    }

    /// Invariant 5 from the tables: every candidate's counter equals its
    /// accepted votes.
    pub async fn assert_leaderboard_matches_votes(&self) {
        let off = self
            .scalar(
                "SELECT COUNT(*) FROM candidate k WHERE $1 = $1 AND k.votes <> \
                 (SELECT COUNT(*) FROM vote v WHERE v.candidate_id = k.candidate_id \
                  AND v.status = 'accepted')",
                "",
            )
            .await;
        assert_eq!(
            off, 0,
            "a leaderboard count differs from its accepted votes"
        );
        self.assert_events_match_effects().await;
    }

    /// Tier stock and fan counters against the records.
    pub async fn assert_sharing_balances(&self) {
        let stock = self
            .scalar(
                "SELECT COUNT(*) FROM share_tier t WHERE $1 = $1 AND (t.remaining < 0 \
                 OR t.initial_stock <> t.remaining + (SELECT COUNT(*) FROM prize_award a \
                   WHERE a.campaign_id = t.campaign_id AND a.tier_index = t.tier_index))",
                "",
            )
            .await;
        assert_eq!(stock, 0, "a tier whose granted + remaining != stock");
        let twice = self
            .scalar(
                "SELECT COUNT(*) FROM (SELECT campaign_id FROM prize_award WHERE tier_index IS NOT NULL \
                 AND $1 = $1 GROUP BY campaign_id, tier_index, player_id HAVING COUNT(*) > 1) x",
                "",
            )
            .await;
        assert_eq!(twice, 0, "a tier granted twice to one fan");
        let counters = self
            .scalar(
                "SELECT COUNT(*) FROM fan_stats f WHERE $1 = $1 AND ( \
                   f.shares <> (SELECT COUNT(*) FROM share s WHERE s.campaign_id = f.campaign_id \
                     AND s.sharer_id = f.player_id) \
                   OR f.viewers <> (SELECT COUNT(*) FROM fan_viewer v WHERE v.campaign_id = f.campaign_id \
                     AND v.sharer_id = f.player_id) \
                   OR f.forwards <> (SELECT COUNT(*) FROM share_forward w JOIN share p \
                     ON p.token = w.parent_token WHERE p.campaign_id = f.campaign_id \
                     AND p.sharer_id = f.player_id))",
                "",
            )
            .await;
        assert_eq!(counters, 0, "fan counters differ from the records");
        let self_views = self
            .scalar(
                "SELECT COUNT(*) FROM share_view v JOIN share s ON s.token = v.token \
                 WHERE v.viewer_id = s.sharer_id AND $1 = $1",
                "",
            )
            .await;
        assert_eq!(self_views, 0, "a sharer's own view was counted");
        self.assert_events_match_effects().await;
    }
}

/// Row counts of every table a refused or invalid call must not touch.
pub async fn state_digest(db: &TestDb) -> Vec<i64> {
    let mut v = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM campaign WHERE $1 = $1",
        "SELECT COUNT(*) FROM prize_slot WHERE $1 = $1",
        "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM prize_slot WHERE $1 = $1",
        "SELECT COUNT(*) FROM draw WHERE $1 = $1",
        "SELECT COUNT(*) FROM prize_award WHERE $1 = $1",
        "SELECT COUNT(*) FROM api_key WHERE revoked_at IS NULL AND $1 = $1",
        "SELECT COUNT(*) FROM idempotency WHERE $1 = $1",
        "SELECT COUNT(*) FROM merchant WHERE token_issuer IS NOT NULL AND $1 = $1",
        "SELECT COUNT(*) FROM player_token_key WHERE $1 = $1",
        "SELECT COUNT(*) FROM prize_award WHERE status <> 'won' AND $1 = $1",
        "SELECT COUNT(*) FROM event WHERE $1 = $1",
    ] {
        v.push(db.scalar(sql, "x").await);
    }
    v.push(
        db.scalar(
            "SELECT COUNT(*) FROM campaign WHERE status = 'published' AND $1 = $1",
            "x",
        )
        .await,
    );
    v
}
