//! AuditService: the export an outside verifier checks (FAIRNESS.md).

use std::{collections::BTreeMap, pin::Pin, sync::Arc};

use engine_proto::campaign::v1::{self as pb, audit_service_server::AuditService};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::uuid_field,
    export::{Page, PageFuture, Reads, paged, stall_verdict},
    traced,
};
use crate::store::{
    audit::AuditRecord,
    db::Db,
    money::PacketKind,
    raffle::RaffleRecord,
    wheel::{ExportItem, LedgerDraw},
};

pub const EXPORT_FORMAT: &str = "campaign-export/v1";

/// Audit entries per page of `ExportAuditLog`.
const AUDIT_PAGE: i64 = 500;

pub struct AuditApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> AuditApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

/// A raffle's export line (FAIRNESS.md §9): its definition, and once
/// drawn its winners (pseudonymous only) and how many `raffle_entrants`
/// lines with its entrants follow.
fn raffle_json(r: &RaffleRecord, entrant_lines: usize) -> Value {
    let s = &r.spec;
    let d = r.drawn.as_ref();
    json!({
        "type": "raffle",
        "raffle_id": r.raffle_id,
        "raffle_seq": r.raffle_seq,
        "name": s.name,
        "source": s.source.as_str(),
        "candidate_id": s.candidate_id.clone().unwrap_or_default(),
        "tickets": s.tickets,
        "from_ms": s.from,
        "until_ms": s.until,
        "winners": s.winners,
        "prize": {"kind": s.prize.kind.as_str(), "name": s.prize.name, "amount": s.prize.amount},
        "status": if d.is_some() { "drawn" } else { "open" },
        "drawn_at_ms": d.map(|d| d.drawn_at),
        "entrant_count": d.map_or(0, |d| d.entrant_count),
        "ticket_count": d.map_or(0, |d| d.ticket_count),
        "entrants_hash": d.map(|d| hex::encode(&d.entrants_hash)),
        "entrant_lines": entrant_lines,
        "drawn": d.map_or_else(Vec::new, |d| d.winners.iter().map(|w| json!({
            "rank": w.rank,
            "position": w.position,
            "entrant": w.entrant,
            "owner": w.owner,
        })).collect::<Vec<_>>()),
    })
}

/// One export item as one JSON line (documented in FAIRNESS.md).
pub fn export_line(item: &ExportItem) -> String {
    let v = match item {
        ExportItem::Campaign(c, versions) => {
            let f = c.fairness.as_ref();
            json!({
                "type": "campaign",
                "format": EXPORT_FORMAT,
                "campaign_id": c.id.to_string(),
                "status": c.shown_status().as_str(),
                "published_at_ms": f.map(|f| f.published_at),
                "seed": f.and_then(|f| f.revealed_seed.as_ref()).map(hex::encode),
                "activities": c.activities.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "versions": versions.iter().map(|v| json!({
                    "version": v.version,
                    "prize_table_json": v.prize_table,
                    "prize_table_hash": hex::encode(&v.prize_table_hash),
                    "seed_commitment": hex::encode(&v.seed_commitment),
                    "first_ledger_seq": v.first_ledger_seq,
                })).collect::<Vec<_>>(),
            })
        }
        ExportItem::Draw(d) => draw_json(d),
        ExportItem::Chance(player, day, granted) => json!({
            "type": "chance",
            "player_pseudonym": player,
            "day": day,
            "granted": granted,
        }),
        ExportItem::Packet(p) => {
            let k = &p.packet;
            json!({
                "type": "packet",
                "packet_id": k.packet_id,
                "packet_seq": k.packet_seq,
                "kind": match k.kind {
                    PacketKind::Group => "group",
                    PacketKind::Campaign => "campaign",
                },
                "split_mode": k.split_mode.map(|m| m.as_str()),
                "total_cents": k.total,
                "parts": k.parts,
                "min_cents": k.min_cents,
                "max_cents": k.max_cents,
                "granted_cents": k.granted,
                "released_cents": k.released,
                "remaining_cents": k.remaining,
                "parts_cents": p.parts,
                "grabs": p.grabs.iter().map(|(seq, who, amount)| json!({
                    "grab_seq": seq,
                    "player_pseudonym": who,
                    "amount_cents": amount,
                })).collect::<Vec<_>>(),
            })
        }
        ExportItem::Raffle(r, lines) => raffle_json(r, *lines),
        ExportItem::RaffleEntrants(seq, part, entrants) => json!({
            "type": "raffle_entrants",
            "raffle_seq": seq,
            "part": part,
            "entrants": entrants,
        }),
        ExportItem::Stock { draws, remaining } => json!({
            "type": "stock",
            "draws": draws,
            "slots": remaining
                .iter()
                .map(|(i, r)| json!({"index": i, "remaining": r}))
                .collect::<Vec<_>>(),
        }),
    };
    v.to_string()
}

fn draw_json(d: &LedgerDraw) -> Value {
    let m: BTreeMap<&str, Value> = BTreeMap::from([
        ("type", "draw".into()),
        ("ledger_seq", d.ledger_seq.into()),
        ("draw_id", d.draw_id.clone().into()),
        ("player", d.player_pseudonym.clone().into()),
        ("draw_seq", d.draw_sequence.into()),
        ("day", d.day.clone().into()),
        ("drawn_at_ms", d.drawn_at.into()),
        ("roll", d.roll.into()),
        ("rolled_slot", d.rolled_slot.into()),
        ("awarded_slot", d.awarded_slot.into()),
        ("fallback_reason", d.fallback.clone().into()),
        ("table_version", d.table_version.into()),
    ]);
    serde_json::to_value(m).unwrap_or(Value::Null)
}

type LineStream = Pin<Box<dyn Stream<Item = Result<pb::ExportLine, Status>> + Send>>;

/// One audit entry as one JSON line.
pub fn audit_line(e: &AuditRecord) -> String {
    json!({
        "type": "audit",
        "seq": e.seq,
        "at_ms": e.at,
        "actor": e.actor,
        "action": e.action,
        "campaign_id": e.campaign_id,
        "detail": e.detail,
        "prev_hash": hex::encode(&e.prev_hash),
        "entry_hash": hex::encode(&e.entry_hash),
    })
    .to_string()
}

#[tonic::async_trait]
impl<D: Db> AuditService for AuditApi<D> {
    type ExportCampaignStream = LineStream;
    type ExportAuditLogStream = LineStream;

    #[tracing::instrument(name = "ExportAuditLog", skip_all, fields(outcome))]
    async fn export_audit_log(
        &self,
        request: Request<pb::ExportAuditLogRequest>,
    ) -> Result<Response<Self::ExportAuditLogStream>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?.to_owned();
                let permit = s.exports.try_acquire(&merchant, Reads::Paged)?;
                // The head is fixed first; the entries up to it follow, a
                // page at a time, and the head closes the stream.
                let (upto, hash) = s.store.audit_head(&merchant).await?;
                let head =
                    json!({"type": "audit_head", "seq": upto, "hash": hash.map(hex::encode)});
                let store = s.store.clone();
                let fetch = move |after: Option<i64>| -> PageFuture<pb::ExportLine, i64> {
                    let (store, merchant, head) = (store.clone(), merchant.clone(), head.clone());
                    Box::pin(async move {
                        let after = after.unwrap_or(0);
                        let entries = store.audit_page(&merchant, after, upto, AUDIT_PAGE).await?;
                        let last = entries.last().map_or(after, |e| e.seq);
                        let mut items: Vec<pb::ExportLine> = entries
                            .iter()
                            .map(|e| pb::ExportLine {
                                json: audit_line(e),
                            })
                            .collect();
                        let next =
                            (entries.len() as i64 == AUDIT_PAGE && last < upto).then_some(last);
                        if next.is_none() {
                            items.push(pb::ExportLine {
                                json: head.to_string(),
                            });
                        }
                        Ok(Page { items, next })
                    })
                };
                Ok(Response::new(paged(permit, s.stall, fetch).await?))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ExportCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn export_campaign(
        &self,
        request: Request<pb::ExportCampaignRequest>,
    ) -> Result<Response<Self::ExportCampaignStream>, Status> {
        traced(
            async {
                let s = self.shared.clone();
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?.to_owned();
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let now = s.clock.now_ms();
                let permit = s.exports.try_acquire(&merchant, Reads::Snapshot)?;
                let stall = s.stall;
                let (items_tx, mut items_rx) = mpsc::channel::<ExportItem>(256);
                let (lines_tx, lines_rx) = mpsc::channel::<Result<pb::ExportLine, Status>>(256);
                let store = s.store.clone();
                let export = tokio::spawn(async move {
                    let done = store.export(&merchant, id, now, items_tx, stall).await;
                    drop(permit);
                    done
                });
                // The first item tells whether the export can start at all,
                // so refusals are a plain status, not a broken stream.
                let first = match items_rx.recv().await {
                    Some(item) => item,
                    None => {
                        return Err(match export.await {
                            Ok(Err(e)) => e.into(),
                            Ok(Ok(())) => Status::internal("internal error"),
                            Err(e) => super::error::internal(&e),
                        });
                    }
                };
                // Set when the client is cut for not reading: the stream then
                // ends with DEADLINE_EXCEEDED after what was already queued,
                // never with OK on a truncated export.
                let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let cut_by_forwarder = cut.clone();
                tokio::spawn(async move {
                    let mut item = Some(first);
                    while let Some(i) = item {
                        let line = Ok(pb::ExportLine {
                            json: export_line(&i),
                        });
                        // A client that reads nothing for `stall` is cut
                        // here too: the stream ends, its buffers go.
                        match tokio::time::timeout(stall, lines_tx.send(line)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => return,
                            Err(_) => {
                                cut_by_forwarder.store(true, std::sync::atomic::Ordering::SeqCst);
                                return;
                            }
                        }
                        item = items_rx.recv().await;
                    }
                    if let Ok(Err(e)) = export.await {
                        let _ = lines_tx.send(Err(e.into())).await;
                    }
                });
                Ok(Response::new(Box::pin(
                    ReceiverStream::new(lines_rx).chain(stall_verdict(cut, stall)),
                ) as LineStream))
            }
            .await,
        )
    }
}
