//! The money ledger as an auditor reads it: every movement with its
//! entries, page by page, and the packets of a campaign's export.

use super::*;

/// Every packet of a campaign with its parts and grabs, for the export.
pub(in crate::store) async fn export_packets<T: DbTx>(
    tx: &mut T,
    campaign: Uuid,
) -> Result<Vec<PacketExport>, StoreError> {
    let rows = tx
        .fetch_all(
            // The export shows no state: the stored one stands in.
            "SELECT packet_id, campaign_id, kind, packet_seq, split_mode, total, parts, \
             min_cents, max_cents, grabbed, granted, released, remaining, state, expires_at, \
             created_at, state FROM red_packet WHERE campaign_id = $1 ORDER BY packet_seq",
            args![campaign.to_string()],
        )
        .await?;
    let packets = rows
        .iter()
        .map(packet_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(packets.len());
    for packet in packets {
        let parts = tx
            .fetch_all(
                "SELECT amount FROM packet_part WHERE packet_id = $1 ORDER BY part_index",
                args![&packet.packet_id],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_, _>>()?;
        let grabs = tx
            .fetch_all(
                "SELECT grab_seq, player_id, amount FROM packet_grab WHERE packet_id = $1 \
                 ORDER BY grab_seq",
                args![&packet.packet_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.int(0)?,
                    player_pseudonym(campaign, &r.text(1)?),
                    r.int(2)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        out.push(PacketExport {
            packet,
            parts,
            grabs,
        });
    }
    Ok(out)
}

impl<D: Db> Store<D> {
    /// The last movement of a campaign's money now (`None`: none yet): an
    /// export pages up to it. Checks the campaign is the merchant's.
    pub async fn ledger_bound(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_read().await?;
        own_budget(&mut tx, merchant_id, &campaign).await?;
        tx.fetch_optional(
            "SELECT MAX(movement_id) FROM money_movement WHERE campaign_id = $1",
            args![&campaign],
        )
        .await?
        .map(|r| r.opt_text(0))
        .transpose()
        .map(Option::flatten)
    }

    /// Up to `limit` movements of a campaign's money with `after <
    /// movement_id <= upto`, in order, with their entries; read in a
    /// transaction of their own.
    pub async fn ledger_page(
        &self,
        campaign_id: Uuid,
        after: &str,
        upto: &str,
        limit: i64,
    ) -> Result<Vec<MovementRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT m.movement_id, m.kind, m.amount, m.packet_id, m.player_id, m.created_at, \
                 e.account, e.amount FROM ( \
                   SELECT movement_id, kind, amount, packet_id, player_id, created_at \
                   FROM money_movement WHERE campaign_id = $1 \
                   AND movement_id > $2 AND movement_id <= $3 ORDER BY movement_id LIMIT $4 \
                 ) m JOIN ledger_entry e ON e.movement_id = m.movement_id \
                 ORDER BY m.movement_id, e.amount",
                args![campaign_id.to_string(), after, upto, limit],
            )
            .await?;
        let mut out: Vec<MovementRecord> = Vec::new();
        for r in &rows {
            let id = r.text(0)?;
            let entry = (r.text(6)?, r.int(7)?);
            match out.last_mut() {
                Some(m) if m.movement_id == id => m.entries.push(entry),
                _ => out.push(MovementRecord {
                    movement_id: id,
                    kind: r.text(1)?,
                    amount: r.int(2)?,
                    packet_id: r.opt_text(3)?,
                    player_id: r.opt_text(4)?,
                    at: r.int(5)?,
                    entries: vec![entry],
                }),
            }
        }
        Ok(out)
    }
}
