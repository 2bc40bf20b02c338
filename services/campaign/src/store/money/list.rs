//! ListRedPackets (issue 24): a campaign's packets, a keyset page at a
//! time, newest first by the campaign's packet number (`packet_seq`,
//! UNIQUE per campaign and growing with creation, so the UNIQUE
//! (campaign_id, packet_seq) index answers a page with one range read;
//! one kind's, `red_packet_campaign_kind`). Filters are parameters; the
//! state filter matches the state each row shows (`packet_state_sql!`).

use super::*;
use crate::{
    domain::{
        list::{PacketCursor, PacketFilter},
        paging::split_page,
    },
    store::list::Page,
};

/// One page of a campaign's packets (one row more than asked): `$3` is
/// the cursor, exclusive (`i64::MAX` on the first page, so the index
/// range is bounded by it on both backends), `$2` the instant states are
/// shown at, `$4` the states wanted (`status_set`), `$5` the rows to read;
/// with `$6`, one kind's, read from `red_packet_campaign_kind`.
macro_rules! packets_page_sql {
    ($kind:literal) => {
        concat!(
            "SELECT ",
            packet_columns_sql!("$2"),
            " FROM red_packet p JOIN budget b ON b.campaign_id = p.campaign_id \
             WHERE p.campaign_id = $1 ",
            $kind,
            " AND p.packet_seq < $3 \
             AND ($4 = '' OR $4 LIKE ('%,' || ",
            packet_state_sql!("$2"),
            " || ',%')) \
             ORDER BY p.packet_seq DESC LIMIT $5"
        )
    };
}
const PACKETS_PAGE: &str = packets_page_sql!("");
const KIND_PACKETS_PAGE: &str = packets_page_sql!("AND p.kind = $6");

impl<D: Db> Store<D> {
    /// Up to `size` red packets of a campaign of this merchant matching
    /// `filter`, newest first, after `after` when continuing; each as
    /// shown at `now`. The campaign must hold the red-packet activity.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn list_packets(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        filter: &PacketFilter,
        after: Option<&PacketCursor>,
        size: u32,
        now: Millis,
    ) -> Result<Page<PacketRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign_id, now)
            .await?
            .require(Activity::Packet)?;
        let (id, at, states, limit) = (
            campaign_id.to_string(),
            after.map_or(i64::MAX, |c| c.packet_seq),
            filter.state_set(),
            i64::from(size) + 1,
        );
        let rows = match filter.kind {
            None => {
                tx.fetch_all(PACKETS_PAGE, args![id, now, at, states, limit])
                    .await?
            }
            Some(kind) => {
                tx.fetch_all(KIND_PACKETS_PAGE, args![id, now, at, states, limit, kind])
                    .await?
            }
        };
        let (rows, more) = split_page(rows, size);
        let packets = rows
            .iter()
            .map(packet_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((packets, more))
    }
}
