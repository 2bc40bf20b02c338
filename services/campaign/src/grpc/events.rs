//! EventService: a merchant's events listed page by page or streamed live
//! over `store::events`. No SQL here.
//!
//! A stream reads the backlog page by page (each page its own short read),
//! then waits for the sequencer's tick (or polls every second, for events
//! numbered by another process) and reads what is new. It holds no
//! connection while the client reads. A client that reads nothing for
//! `stream_stall_secs` is cut; at most [`STREAMS_PER_MERCHANT`] streams of
//! a merchant and [`MAX_STREAMS`] in all are open at once.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use engine_proto::campaign::v1::{self as pb, event_service_server::EventService};
use platform::{
    access::auth::Principal,
    domain::{
        events::TypeFilter,
        paging::{PageLimits, split_page},
    },
    grpc::traced,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::uuid_field,
    error::invalid,
    export::{ItemStream, stall_verdict},
};
use crate::domain::InvalidField;
use crate::store::{
    db::Db,
    events::{EventQuery, EventRecord},
};

/// Streams of one merchant open at once.
pub const STREAMS_PER_MERCHANT: usize = 4;
/// Streams open at once in this process.
pub const MAX_STREAMS: usize = 64;
/// Events a stream reads at a time.
const STREAM_PAGE: i64 = 500;
/// How often a caught-up stream looks for events numbered elsewhere.
const STREAM_POLL: Duration = Duration::from_secs(1);

const EVENTS: &str = "events";
const EVENT_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

#[derive(Serialize, Deserialize)]
struct EventCursor {
    position: i64,
}

/// The streams open now, in all and per merchant.
#[derive(Default)]
pub struct StreamBudget {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// A stream's place in the budget, given back when dropped.
pub struct StreamPermit {
    merchant: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.merchant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.merchant);
            }
        }
    }
}

impl StreamBudget {
    pub fn try_acquire(&self, merchant: &str) -> Result<StreamPermit, Status> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let all: usize = open.values().sum();
        let mine = open.get(merchant).copied().unwrap_or(0);
        if mine >= STREAMS_PER_MERCHANT {
            return Err(Status::resource_exhausted(format!(
                "event streams busy (reason: merchant): {STREAMS_PER_MERCHANT} streams of this \
                 merchant are open; close one"
            )));
        }
        if all >= MAX_STREAMS {
            return Err(Status::resource_exhausted(format!(
                "event streams busy (reason: engine): {MAX_STREAMS} streams are open; retry later"
            )));
        }
        open.insert(merchant.to_owned(), mine + 1);
        Ok(StreamPermit {
            merchant: merchant.to_owned(),
            open: self.open.clone(),
        })
    }
}

pub struct EventApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> EventApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }

    /// The query of a request's filters, its cursor resolved; the
    /// campaign checked to be the merchant's.
    async fn query(
        &self,
        merchant: &str,
        after_position: u64,
        after_event_id: &str,
        campaign_id: &str,
        types: &[String],
    ) -> Result<EventQuery, Status> {
        let filter = TypeFilter::parse(types)
            .map_err(|e| invalid(InvalidField::new("types", e.to_string())))?;
        let campaign = if campaign_id.trim().is_empty() {
            None
        } else {
            let id = uuid_field("campaign_id", campaign_id)?.to_string();
            self.shared
                .store
                .check_campaign_owner(merchant, &id)
                .await?;
            Some(id)
        };
        let after = if after_event_id.trim().is_empty() {
            i64::try_from(after_position)
                .map_err(|_| invalid(InvalidField::new("after_position", "is out of range")))?
        } else {
            let id = uuid_field("after_event_id", after_event_id)?.to_string();
            self.shared.store.event_position(merchant, &id).await?
        };
        Ok(EventQuery {
            after,
            campaign,
            types: if filter.is_all() {
                String::new()
            } else {
                EventQuery::types_param(&filter.names())
            },
        })
    }
}

/// An event as a caller sees it; the openid for admins only.
pub fn event_to_proto(e: EventRecord, admin: bool) -> pb::Event {
    pb::Event {
        event_id: e.event_id,
        r#type: e.event_type,
        merchant_id: e.merchant_id,
        campaign_id: e.campaign_id,
        position: u64::try_from(e.position).unwrap_or(0),
        seq: u64::try_from(e.seq).unwrap_or(0),
        occurred_at_ms: e.occurred_at,
        player_pseudonym: e.pseudonym,
        player_id: if admin { e.player_id } else { String::new() },
        payload_json: e.payload,
    }
}

fn is_admin(who: &Principal) -> bool {
    matches!(who, Principal::Admin { .. })
}

#[tonic::async_trait]
impl<D: Db> EventService for EventApi<D> {
    #[tracing::instrument(name = "ListEvents", skip_all, fields(outcome))]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let size = EVENT_PAGES.size(req.page_size).map_err(invalid)?;
                let mut q = self
                    .query(
                        merchant,
                        req.after_position,
                        &req.after_event_id,
                        &req.campaign_id,
                        &req.types,
                    )
                    .await?;
                let tokens = s.store.page_tokens();
                let scope = format!(
                    "{merchant}/{}/{}",
                    q.campaign.as_deref().unwrap_or(""),
                    q.types
                );
                let after: Option<EventCursor> = tokens
                    .open(EVENTS, &scope, &req.page_token)
                    .map_err(invalid)?;
                if let Some(c) = after {
                    q.after = c.position;
                }
                let head = s.store.event_head(merchant).await?;
                let rows = s
                    .store
                    .list_events(merchant, &q, i64::from(size) + 1)
                    .await?;
                let (rows, more) = split_page(rows, size);
                let next_page_token = match rows.last() {
                    Some(last) if more => tokens.seal(
                        EVENTS,
                        &scope,
                        &EventCursor {
                            position: last.position,
                        },
                    ),
                    _ => String::new(),
                };
                let admin = is_admin(&who);
                Ok(Response::new(pb::ListEventsResponse {
                    events: rows.into_iter().map(|e| event_to_proto(e, admin)).collect(),
                    next_page_token,
                    head_position: u64::try_from(head).unwrap_or(0),
                }))
            }
            .await,
        )
    }

    type SubscribeEventsStream = ItemStream<pb::Event>;

    #[tracing::instrument(name = "SubscribeEvents", skip_all, fields(outcome))]
    async fn subscribe_events(
        &self,
        request: Request<pb::SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?.to_owned();
                let req = request.get_ref();
                let mut q = self
                    .query(
                        &merchant,
                        req.after_position,
                        &req.after_event_id,
                        &req.campaign_id,
                        &req.types,
                    )
                    .await?;
                if req.from_now {
                    q.after = s.store.event_head(&merchant).await?;
                }
                let permit = s.event_streams.try_acquire(&merchant)?;
                let stream = tail(
                    s.store.clone(),
                    merchant,
                    q,
                    is_admin(&who),
                    s.stall,
                    permit,
                );
                Ok(Response::new(stream))
            }
            .await,
        )
    }
}

/// Streams the merchant's events after `q.after` for as long as the client
/// reads.
fn tail<D: Db>(
    store: crate::store::Store<D>,
    merchant: String,
    mut q: EventQuery,
    admin: bool,
    stall: Duration,
    permit: StreamPermit,
) -> ItemStream<pb::Event> {
    let (tx, rx) = mpsc::channel::<Result<pb::Event, Status>>(64);
    let cut = Arc::new(AtomicBool::new(false));
    let cut_by_sender = cut.clone();
    let mut ticks = store.event_ticks();
    tokio::spawn(async move {
        let _permit = permit;
        loop {
            // Marked seen before reading: a tick during the read wakes the
            // wait below at once.
            ticks.borrow_and_update();
            let page = match store.list_events(&merchant, &q, STREAM_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    return;
                }
            };
            let full = i64::try_from(page.len()).unwrap_or(0) >= STREAM_PAGE;
            for e in page {
                q.after = e.position;
                match tokio::time::timeout(stall, tx.send(Ok(event_to_proto(e, admin)))).await {
                    Ok(Ok(())) => {}
                    // The client went away.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        cut_by_sender.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = ticks.changed() => {}
                _ = tokio::time::sleep(STREAM_POLL) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(rx).chain(stall_verdict(cut, stall)))
}
