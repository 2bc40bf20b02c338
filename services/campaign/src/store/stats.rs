//! Campaign statistics by (campaign day, channel), counted from the records
//! in one read snapshot: each metric is one grouped query over its own
//! table (draws, awards, shares, views, forwards, votes, grabs), merged
//! here. Prize coupons and their redemptions are the coupon service's: the
//! campaign says where each came from ([`PrizeCouponSources`]) and counts
//! what the coupon service tells of them ([`count_prize_coupons`]).
//! Participation comes from a
//! roll-up written in the same transaction as each activity
//! ([`note_activity`]), so it too equals the records without a scan of all
//! of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args},
    wheel::own_campaign,
};
use crate::domain::{Millis, wheel::campaign_day};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRow {
    pub participants: i64,
    pub new_players: i64,
    pub draws: i64,
    pub wins: i64,
    pub wins_by_prize: BTreeMap<String, i64>,
    pub shares: i64,
    pub views: i64,
    pub forwards: i64,
    pub votes: i64,
    pub coupon_prizes: i64,
    pub coupon_redemptions: i64,
    pub packet_grabs: i64,
    pub money_paid: i64,
}

impl StatsRow {
    fn add(&mut self, o: &StatsRow) {
        self.participants += o.participants;
        self.new_players += o.new_players;
        self.draws += o.draws;
        self.wins += o.wins;
        for (k, v) in &o.wins_by_prize {
            *self.wins_by_prize.entry(k.clone()).or_default() += v;
        }
        self.shares += o.shares;
        self.views += o.views;
        self.forwards += o.forwards;
        self.votes += o.votes;
        self.coupon_prizes += o.coupon_prizes;
        self.coupon_redemptions += o.coupon_redemptions;
        self.packet_grabs += o.packet_grabs;
        self.money_paid += o.money_paid;
    }
}

/// `(day, channel) -> row`, plus the totals (whose participants are the
/// distinct players of the whole campaign, not a sum).
pub type Stats = (BTreeMap<(String, String), StatsRow>, StatsRow);

/// The (day, channel) of a grouped row.
fn key(r: &impl DbRow, at: usize) -> Result<(String, String), StoreError> {
    Ok((r.text(at)?, r.text(at + 1)?))
}

// The participation roll-up's inserts, written once for note_activity and
// for the draw's single PostgreSQL statement (store/wheel.rs `count_draw`).
macro_rules! sql_note_day {
    ($values:literal) => {
        concat!(
            "INSERT INTO participant_day (campaign_id, day, channel, player_id) VALUES (",
            $values,
            ") ON CONFLICT DO NOTHING"
        )
    };
}
macro_rules! sql_note_first {
    ($values:literal) => {
        concat!(
            "INSERT INTO participant (campaign_id, player_id, first_at, first_day, \
             first_channel) VALUES (",
            $values,
            ") ON CONFLICT DO NOTHING"
        )
    };
}
pub(super) use {sql_note_day, sql_note_first};

/// Notes that `player` took part on `day` through `channel`, in the
/// transaction of the activity (draw, vote, share, counted view, grab):
/// the participation roll-up the statistics count. Insert-if-absent, so a
/// player's first row is their first recorded activity.
pub(super) async fn note_activity<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    day: &str,
    channel: Option<&str>,
    at: crate::domain::Millis,
) -> Result<(), StoreError> {
    let channel = channel.unwrap_or("");
    tx.execute(
        sql_note_day!("$1, $2, $3, $4"),
        args![campaign, day, channel, player],
    )
    .await?;
    tx.execute(
        sql_note_first!("$1, $2, $3, $4, $5"),
        args![campaign, player, at, day, channel],
    )
    .await?;
    Ok(())
}

impl<D: Db> Store<D> {
    /// The campaign's numbers by day and channel, and in total, but for
    /// its prize coupons: where each came from, to count them with
    /// [`count_prize_coupons`] once the coupon service has told of them.
    pub async fn campaign_stats(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<(Stats, PrizeCouponSources), StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_read().await?;
        let c = own_campaign(&mut tx, merchant_id, campaign_id, 0).await?;
        let mut rows = Rows::new();
        add_counts(&mut tx, &campaign, &mut rows).await?;
        add_wins_by_prize(&mut tx, &campaign, &mut rows).await?;
        add_participation(&mut tx, &campaign, &mut rows).await?;
        let sources = prize_coupon_sources(&mut tx, &campaign, &c.rules.time_zone).await?;
        let mut totals = StatsRow::default();
        for r in rows.values() {
            totals.add(r);
        }
        // Every player has exactly one first activity.
        totals.participants = totals.new_players;
        Ok(((rows, totals), sources))
    }
}

/// The rows by (day, channel) being counted.
type Rows = BTreeMap<(String, String), StatsRow>;

/// The plain counts and sums: one grouped query per metric.
async fn add_counts<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    rows: &mut Rows,
) -> Result<(), StoreError> {
    // (sql, which field): every query returns day, channel, count.
    type Field = fn(&mut StatsRow) -> &mut i64;
    let counts: [(&'static str, Field); 9] = [
        (
            "SELECT day, COALESCE(channel, ''), COUNT(*) FROM draw WHERE campaign_id = $1 \
             GROUP BY day, COALESCE(channel, '')",
            |r| &mut r.draws,
        ),
        (
            "SELECT d.day, COALESCE(d.channel, ''), COUNT(*) FROM prize_award a \
             JOIN draw d ON d.draw_id = a.draw_id WHERE a.campaign_id = $1 \
             GROUP BY d.day, COALESCE(d.channel, '')",
            |r| &mut r.wins,
        ),
        (
            "SELECT day, COALESCE(channel, ''), COUNT(*) FROM share WHERE campaign_id = $1 \
             GROUP BY day, COALESCE(channel, '')",
            |r| &mut r.shares,
        ),
        (
            "SELECT v.day, COALESCE(v.channel, ''), COUNT(*) FROM share_view v \
             JOIN share s ON s.token = v.token WHERE s.campaign_id = $1 \
             GROUP BY v.day, COALESCE(v.channel, '')",
            |r| &mut r.views,
        ),
        (
            "SELECT s.day, COALESCE(s.channel, ''), COUNT(*) FROM share_forward f \
             JOIN share s ON s.token = f.child_token WHERE s.campaign_id = $1 \
             GROUP BY s.day, COALESCE(s.channel, '')",
            |r| &mut r.forwards,
        ),
        (
            "SELECT day, COALESCE(channel, ''), COUNT(*) FROM vote \
             WHERE campaign_id = $1 AND status = 'accepted' \
             GROUP BY day, COALESCE(channel, '')",
            |r| &mut r.votes,
        ),
        (
            "SELECT COALESCE(g.day, ''), COALESCE(g.channel, ''), COUNT(*) FROM packet_grab g \
             JOIN red_packet r ON r.packet_id = g.packet_id WHERE r.campaign_id = $1 \
             GROUP BY COALESCE(g.day, ''), COALESCE(g.channel, '')",
            |r| &mut r.packet_grabs,
        ),
        (
            "SELECT COALESCE(g.day, ''), COALESCE(g.channel, ''), \
             CAST(COALESCE(SUM(g.amount), 0) AS BIGINT) FROM packet_grab g \
             JOIN red_packet r ON r.packet_id = g.packet_id WHERE r.campaign_id = $1 \
             GROUP BY COALESCE(g.day, ''), COALESCE(g.channel, '')",
            |r| &mut r.money_paid,
        ),
        (
            "SELECT d.day, COALESCE(d.channel, ''), CAST(COALESCE(SUM(m.amount), 0) AS BIGINT) \
             FROM money_movement m JOIN draw d ON d.draw_id = m.draw_id \
             WHERE m.campaign_id = $1 AND m.kind = 'grant' \
             GROUP BY d.day, COALESCE(d.channel, '')",
            |r| &mut r.money_paid,
        ),
    ];
    for (sql, field) in counts {
        for r in tx.fetch_all(sql, args![campaign]).await? {
            *field(rows.entry(key(&r, 0)?).or_default()) += r.int(2)?;
        }
    }
    Ok(())
}

/// Wins by prize (the slot's name).
async fn add_wins_by_prize<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    rows: &mut Rows,
) -> Result<(), StoreError> {
    for r in tx
        .fetch_all(
            "SELECT d.day, COALESCE(d.channel, ''), a.prize_name, COUNT(*) FROM prize_award a \
             JOIN draw d ON d.draw_id = a.draw_id WHERE a.campaign_id = $1 \
             GROUP BY d.day, COALESCE(d.channel, ''), a.prize_name",
            args![campaign],
        )
        .await?
    {
        let row = rows.entry(key(&r, 0)?).or_default();
        *row.wins_by_prize.entry(r.text(2)?).or_default() += r.int(3)?;
    }
    Ok(())
}

/// Participation, from the roll-up written with each activity: distinct
/// players per (day, channel), and where each player first took part.
async fn add_participation<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    rows: &mut Rows,
) -> Result<(), StoreError> {
    for r in tx
        .fetch_all(
            "SELECT day, channel, COUNT(*) FROM participant_day WHERE campaign_id = $1 \
             GROUP BY day, channel",
            args![campaign],
        )
        .await?
    {
        rows.entry(key(&r, 0)?).or_default().participants += r.int(2)?;
    }
    for r in tx
        .fetch_all(
            "SELECT first_day, first_channel, COUNT(*) FROM participant \
             WHERE campaign_id = $1 GROUP BY first_day, first_channel",
            args![campaign],
        )
        .await?
    {
        rows.entry(key(&r, 0)?).or_default().new_players += r.int(2)?;
    }
    Ok(())
}

/// Where each prize coupon of a campaign came from: its source id (the
/// draw, or the tier award) -> the (day, channel) it is counted under
/// (`""` day for a tier award, which has no draw). The coupons themselves
/// and their redemptions are the coupon service's: asked over its API
/// (`ListCampaignPrizeCoupons`), never read from its tables.
#[derive(Debug, Clone, Default)]
pub struct PrizeCouponSources {
    pub time_zone: String,
    pub by_source: HashMap<String, (String, String)>,
}

async fn prize_coupon_sources<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    time_zone: &str,
) -> Result<PrizeCouponSources, StoreError> {
    let mut by_source = HashMap::new();
    for r in tx
        .fetch_all(
            "SELECT a.award_id, a.draw_id, d.day, COALESCE(d.channel, '') FROM prize_award a \
             LEFT JOIN draw d ON d.draw_id = a.draw_id \
             WHERE a.campaign_id = $1 AND a.kind = 'coupon'",
            args![campaign],
        )
        .await?
    {
        let at = (r.opt_text(2)?.unwrap_or_default(), r.text(3)?);
        // A drawn prize is delivered under its draw id, a tier's under its
        // award id.
        let source = r.opt_text(1)?.map_or_else(|| r.text(0), Ok)?;
        by_source.insert(source, at);
    }
    Ok(PrizeCouponSources {
        time_zone: time_zone.to_owned(),
        by_source,
    })
}

/// One prize coupon as the coupon service tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrizeCouponFacts {
    pub source_id: String,
    pub redeemed_at: Vec<Millis>,
}

/// Counts the campaign's prize coupons and their redemptions into `stats`:
/// a coupon under its draw's (day, channel), a redemption under the
/// campaign day of its instant and the same channel. Coupons of sources
/// the campaign does not know are not its own and are skipped.
pub fn count_prize_coupons(
    stats: &mut Stats,
    sources: &PrizeCouponSources,
    coupons: &[PrizeCouponFacts],
) -> Result<(), StoreError> {
    let (rows, totals) = stats;
    for c in coupons {
        let Some((day, channel)) = sources.by_source.get(&c.source_id) else {
            continue;
        };
        rows.entry((day.clone(), channel.clone()))
            .or_default()
            .coupon_prizes += 1;
        totals.coupon_prizes += 1;
        for at in &c.redeemed_at {
            let day = campaign_day(*at, &sources.time_zone)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            rows.entry((day, channel.clone()))
                .or_default()
                .coupon_redemptions += 1;
            totals.coupon_redemptions += 1;
        }
    }
    Ok(())
}

/// The rows as CSV: a header, one line per (day, channel), then `total`.
pub fn stats_csv(stats: &Stats) -> String {
    let (rows, totals) = stats;
    let prizes: BTreeSet<&String> = totals.wins_by_prize.keys().collect();
    let mut out = String::from(
        "day,channel,participants,new_players,draws,wins,shares,views,forwards,votes,\
         coupon_prizes,coupon_redemptions,packet_grabs,money_paid_cents",
    );
    for p in &prizes {
        out.push_str(&format!(",wins:{}", crate::domain::csv::field(p)));
    }
    out.push('\n');
    let line = |day: &str, channel: &str, r: &StatsRow| {
        let mut l = format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            crate::domain::csv::field(day),
            crate::domain::csv::field(channel),
            r.participants,
            r.new_players,
            r.draws,
            r.wins,
            r.shares,
            r.views,
            r.forwards,
            r.votes,
            r.coupon_prizes,
            r.coupon_redemptions,
            r.packet_grabs,
            r.money_paid
        );
        for p in &prizes {
            l.push_str(&format!(
                ",{}",
                r.wins_by_prize.get(*p).copied().unwrap_or(0)
            ));
        }
        l.push('\n');
        l
    };
    for ((day, channel), r) in rows {
        out.push_str(&line(day, channel, r));
    }
    out.push_str(&line("total", "*", totals));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses() {
        let mut rows = BTreeMap::new();
        let mut r = StatsRow {
            draws: 3,
            ..StatsRow::default()
        };
        r.wins_by_prize.insert("Cup".into(), 2);
        rows.insert(("2026-11-26".to_owned(), "qr".to_owned()), r.clone());
        let csv = stats_csv(&(rows, r));
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with(",wins:Cup"));
        assert!(lines[1].starts_with("2026-11-26,qr,0,0,3,"));
        assert!(lines[2].starts_with("total,*,"));
        assert!(lines[2].ends_with(",2"));
    }
}
