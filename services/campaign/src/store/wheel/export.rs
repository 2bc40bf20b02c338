//! A published campaign's audit export, read from one snapshot.

use super::*;

impl<D: Db> Store<D> {
    /// Streams a published campaign's audit export into `sink`, all read
    /// from one snapshot so the closing stock matches the draws. Stops early
    /// (Ok) if the receiver goes away, and with `StoreError::Stalled` if it
    /// takes nothing for `stall`: a client that does not read cannot hold
    /// the snapshot (and its connection, and SQLite's checkpoint) longer.
    pub async fn export(
        &self,
        merchant_id: &str,
        id: Uuid,
        now: Millis,
        sink: tokio::sync::mpsc::Sender<ExportItem>,
        stall: std::time::Duration,
    ) -> Result<(), StoreError> {
        let sink = StallingSink { sink, stall };
        const PAGE: i64 = 1000;
        let mut tx = self.db.begin_read().await?;
        let c = own_campaign(&mut tx, merchant_id, id, now).await?;
        if c.fairness.is_none() {
            return Err(Rejection::NotPublished.into());
        }
        let remaining: Vec<(u32, i64)> = c.slots.iter().map(|s| (s.index, s.remaining)).collect();
        let versions = tx
            .fetch_all(
                "SELECT version, prize_table, prize_table_hash, seed_commitment, first_ledger_seq \
                 FROM prize_table_version WHERE campaign_id = $1 ORDER BY version",
                args![id.to_string()],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(TableVersion {
                    version: r.int(0)?,
                    prize_table: r.text(1)?,
                    prize_table_hash: r.bytes(2)?,
                    seed_commitment: r.bytes(3)?,
                    first_ledger_seq: r.int(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if !sink
            .send(ExportItem::Campaign(Box::new(c), versions))
            .await?
        {
            return Ok(());
        }
        let (mut after, mut draws) = (0i64, 0i64);
        loop {
            let rows = tx
                .fetch_all(
                    "SELECT ledger_seq, draw_id, player_pseudonym, draw_seq, day, drawn_at, roll, \
                     rolled_slot, awarded_slot, fallback_reason, table_version FROM draw \
                     WHERE campaign_id = $1 AND ledger_seq > $2 ORDER BY ledger_seq LIMIT $3",
                    args![id.to_string(), after, PAGE],
                )
                .await?;
            let n = rows.len() as i64;
            for r in rows {
                let d = LedgerDraw {
                    ledger_seq: r.int(0)?,
                    draw_id: r.text(1)?,
                    player_pseudonym: r.text(2)?,
                    draw_sequence: r.int(3)?,
                    day: r.text(4)?,
                    drawn_at: r.int(5)?,
                    roll: r.int(6)?,
                    rolled_slot: index_of(r.int(7)?)?,
                    awarded_slot: index_of(r.int(8)?)?,
                    fallback: r.text(9)?,
                    table_version: r.int(10)?,
                };
                after = d.ledger_seq;
                draws += 1;
                if !sink.send(ExportItem::Draw(d)).await? {
                    return Ok(());
                }
            }
            if n < PAGE {
                break;
            }
        }
        if !sink.send(ExportItem::Stock { draws, remaining }).await? {
            return Ok(());
        }
        for (player, day, granted) in crate::store::chance::all_chances(&mut tx, id).await? {
            let item = ExportItem::Chance(player_pseudonym(id, &player), day, granted);
            if !sink.send(item).await? {
                return Ok(());
            }
        }
        for p in crate::store::money::export_packets(&mut tx, id).await? {
            if !sink.send(ExportItem::Packet(Box::new(p))).await? {
                return Ok(());
            }
        }
        for (r, entrants) in crate::store::raffle::export_raffles(&mut tx, id).await? {
            let entrants: Vec<serde_json::Value> = serde_json::from_str(&entrants)
                .map_err(|e| StoreError::Corrupt(format!("raffle entrants: {e}")))?;
            let seq = r.raffle_seq;
            let parts: Vec<&[serde_json::Value]> = entrants.chunks(ENTRANTS_PER_LINE).collect();
            if !sink
                .send(ExportItem::Raffle(Box::new(r), parts.len()))
                .await?
            {
                return Ok(());
            }
            for (i, part) in parts.into_iter().enumerate() {
                let item = ExportItem::RaffleEntrants(seq, i + 1, part.to_vec());
                if !sink.send(item).await? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The export's sink: a send that the reader does not take within `stall`
/// ends the export (`StoreError::Stalled`).
struct StallingSink {
    sink: tokio::sync::mpsc::Sender<ExportItem>,
    stall: std::time::Duration,
}

impl StallingSink {
    /// Ok(false): the reader went away.
    async fn send(&self, item: ExportItem) -> Result<bool, StoreError> {
        match tokio::time::timeout(self.stall, self.sink.send(item)).await {
            Ok(sent) => Ok(sent.is_ok()),
            Err(_) => Err(StoreError::Stalled(self.stall.as_secs())),
        }
    }
}
