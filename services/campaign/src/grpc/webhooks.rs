//! WebhookAdminService: a merchant's webhook endpoints over
//! `store::webhooks` (rules in `domain::webhook`; delivery in
//! `crate::webhooks`). No SQL here.

use std::sync::Arc;

use engine_proto::campaign::v1::{self as pb, webhook_admin_service_server::WebhookAdminService};
use platform::{
    domain::{
        events::TypeFilter,
        paging::{PageLimits, split_page},
    },
    grpc::{respond, traced},
};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{idempotency, uuid_field},
    error::invalid,
};
use crate::domain::{
    InvalidField,
    webhook::{Answer, answer_of, check_secret, check_url, new_secret},
};
use crate::store::{
    db::Db,
    events::EventQuery,
    webhooks::{CreatedEndpoint, EndpointChange, EndpointRecord, delivery::DeliveryRecord},
};

const DELIVERIES: &str = "webhook deliveries";
const DELIVERY_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

#[derive(Serialize, Deserialize)]
struct DeliveryCursor {
    position: i64,
}

pub struct WebhookApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> WebhookApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn status_of(s: &str) -> pb::WebhookStatus {
    match s {
        "enabled" => pb::WebhookStatus::Enabled,
        "disabled" => pb::WebhookStatus::Disabled,
        "failing" => pb::WebhookStatus::Failing,
        _ => pb::WebhookStatus::Unspecified,
    }
}

fn state_of(s: &str) -> pb::DeliveryState {
    match s {
        "pending" => pb::DeliveryState::Pending,
        "delivered" => pb::DeliveryState::Delivered,
        "failed" => pb::DeliveryState::Failed,
        _ => pb::DeliveryState::Unspecified,
    }
}

fn types_of(param: &str) -> Vec<String> {
    let names: Vec<String> = param
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        vec!["*".to_owned()]
    } else {
        names
    }
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub fn endpoint_to_proto(e: &EndpointRecord) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        endpoint_id: e.endpoint_id.clone(),
        url: e.url.clone(),
        description: e.description.clone(),
        event_types: types_of(&e.event_types),
        status: status_of(&e.status) as i32,
        disabled_reason: e.disabled_reason.clone(),
        created_at_ms: e.created_at,
        updated_at_ms: e.updated_at,
        pending: u64_of(e.health.pending),
        delivered: u64_of(e.health.delivered),
        failed: u64_of(e.health.failed),
        oldest_pending_at_ms: e.health.oldest_pending_at.unwrap_or(0),
        last_success_at_ms: e.last_success_at.unwrap_or(0),
        last_failure_at_ms: e.last_failure_at.unwrap_or(0),
        last_status: e
            .last_status
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0),
        last_error: e.last_error.clone(),
    }
}

fn delivery_to_proto(d: &DeliveryRecord) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        position: u64_of(d.position),
        state: state_of(&d.state) as i32,
        attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: d.next_attempt_at,
        delivered_at_ms: d.delivered_at.unwrap_or(0),
        last_status: d
            .last_status
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0),
        last_error: d.last_error.clone(),
    }
}

/// The stored types parameter of a request's names (`types` field).
fn types_param(field: &'static str, names: &[String]) -> Result<String, Status> {
    let filter =
        TypeFilter::parse(names).map_err(|e| invalid(InvalidField::new(field, e.to_string())))?;
    Ok(if filter.is_all() {
        String::new()
    } else {
        EventQuery::types_param(&filter.names())
    })
}

fn checked_url(url: &str) -> Result<String, Status> {
    let url = url.trim();
    check_url(url).map_err(invalid)?;
    Ok(url.to_owned())
}

fn checked_description(d: &str) -> Result<String, Status> {
    let d = d.trim();
    if d.chars().count() > 200 {
        return Err(invalid(InvalidField::new(
            "description",
            "at most 200 characters",
        )));
    }
    Ok(d.to_owned())
}

#[tonic::async_trait]
impl<D: Db> WebhookAdminService for WebhookApi<D> {
    #[tracing::instrument(name = "CreateWebhookEndpoint", skip_all, fields(outcome))]
    async fn create_webhook_endpoint(
        &self,
        request: Request<pb::CreateWebhookEndpointRequest>,
    ) -> Result<Response<pb::CreateWebhookEndpointResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let url = checked_url(&req.url)?;
                let description = checked_description(&req.description)?;
                let types = types_param("event_types", &req.event_types)?;
                let secret = if req.secret.is_empty() {
                    let mut random = [0u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
                    new_secret(&random)
                } else {
                    check_secret(&req.secret).map_err(invalid)?;
                    req.secret.clone()
                };
                let idem = idempotency(&who, "CreateWebhookEndpoint", req)?;
                let convert = |c: &CreatedEndpoint| pb::CreateWebhookEndpointResponse {
                    endpoint: Some(endpoint_to_proto(&c.record)),
                    secret: c.secret.clone(),
                };
                let out = s
                    .store
                    .create_webhook_endpoint(
                        merchant,
                        &url,
                        &description,
                        &types,
                        &secret,
                        s.clock.now_ms(),
                        &idem,
                        // The secret never rests in a stored answer.
                        |c| {
                            pb::CreateWebhookEndpointResponse {
                                secret: String::new(),
                                ..convert(c)
                            }
                            .encode_to_vec()
                        },
                    )
                    .await?;
                respond(out, convert)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListWebhookEndpoints", skip_all, fields(outcome))]
    async fn list_webhook_endpoints(
        &self,
        request: Request<pb::ListWebhookEndpointsRequest>,
    ) -> Result<Response<pb::ListWebhookEndpointsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let all = s.store.list_webhook_endpoints(merchant).await?;
                Ok(Response::new(pb::ListWebhookEndpointsResponse {
                    endpoints: all.iter().map(endpoint_to_proto).collect(),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "UpdateWebhookEndpoint", skip_all, fields(outcome))]
    async fn update_webhook_endpoint(
        &self,
        request: Request<pb::UpdateWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpoint>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("endpoint_id", &req.endpoint_id)?.to_string();
                let enabled = match pb::WebhookStatus::try_from(req.status) {
                    Ok(pb::WebhookStatus::Unspecified) => None,
                    Ok(pb::WebhookStatus::Enabled) => Some(true),
                    Ok(pb::WebhookStatus::Disabled) => Some(false),
                    _ => {
                        return Err(invalid(InvalidField::new(
                            "status",
                            "may be set to ENABLED or DISABLED",
                        )));
                    }
                };
                let change = EndpointChange {
                    url: (!req.url.trim().is_empty())
                        .then(|| checked_url(&req.url))
                        .transpose()?,
                    description: req
                        .update_description
                        .then(|| checked_description(&req.description))
                        .transpose()?,
                    event_types: (!req.event_types.is_empty())
                        .then(|| types_param("event_types", &req.event_types))
                        .transpose()?,
                    enabled,
                };
                let idem = idempotency(&who, "UpdateWebhookEndpoint", req)?;
                let out = s
                    .store
                    .update_webhook_endpoint(merchant, &id, &change, s.clock.now_ms(), &idem, |e| {
                        endpoint_to_proto(e).encode_to_vec()
                    })
                    .await?;
                respond(out, endpoint_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "DeleteWebhookEndpoint", skip_all, fields(outcome))]
    async fn delete_webhook_endpoint(
        &self,
        request: Request<pb::DeleteWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpoint>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("endpoint_id", &req.endpoint_id)?.to_string();
                let idem = idempotency(&who, "DeleteWebhookEndpoint", req)?;
                let out = s
                    .store
                    .delete_webhook_endpoint(merchant, &id, s.clock.now_ms(), &idem, |e| {
                        endpoint_to_proto(e).encode_to_vec()
                    })
                    .await?;
                respond(out, endpoint_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "TestWebhookEndpoint", skip_all, fields(outcome))]
    async fn test_webhook_endpoint(
        &self,
        request: Request<pb::TestWebhookEndpointRequest>,
    ) -> Result<Response<pb::TestWebhookEndpointResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let id = uuid_field("endpoint_id", &request.get_ref().endpoint_id)?.to_string();
                let (url, secret) = s.store.webhook_target(merchant, &id).await?;
                let (posted, latency_ms) =
                    crate::webhooks::ping(&s.webhooks, &url, &secret, merchant, &id).await;
                let (status, error) = match posted {
                    Ok(code) => (u32::from(code), String::new()),
                    Err(why) => (0, why),
                };
                let delivered = u16::try_from(status)
                    .map(|c| answer_of(c) == Answer::Delivered)
                    .unwrap_or(false);
                let error = if delivered || !error.is_empty() {
                    error
                } else {
                    format!("HTTP {status}")
                };
                Ok(Response::new(pb::TestWebhookEndpointResponse {
                    status,
                    delivered,
                    error,
                    latency_ms,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListWebhookDeliveries", skip_all, fields(outcome))]
    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let id = uuid_field("endpoint_id", &req.endpoint_id)?.to_string();
                let state = match pb::DeliveryState::try_from(req.state) {
                    Ok(pb::DeliveryState::Unspecified) => "",
                    Ok(pb::DeliveryState::Pending) => "pending",
                    Ok(pb::DeliveryState::Delivered) => "delivered",
                    Ok(pb::DeliveryState::Failed) => "failed",
                    Err(_) => {
                        return Err(invalid(InvalidField::new("state", "is not a state")));
                    }
                };
                let size = DELIVERY_PAGES.size(req.page_size).map_err(invalid)?;
                let tokens = s.store.page_tokens();
                let scope = format!("{merchant}/{id}/{state}");
                let after: Option<DeliveryCursor> = tokens
                    .open(DELIVERIES, &scope, &req.page_token)
                    .map_err(invalid)?;
                let rows = s
                    .store
                    .list_deliveries(
                        merchant,
                        &id,
                        state,
                        after.map_or(0, |c| c.position),
                        i64::from(size) + 1,
                    )
                    .await?;
                let (rows, more) = split_page(rows, size);
                let next_page_token = match rows.last() {
                    Some(last) if more => tokens.seal(
                        DELIVERIES,
                        &scope,
                        &DeliveryCursor {
                            position: last.position,
                        },
                    ),
                    _ => String::new(),
                };
                Ok(Response::new(pb::ListWebhookDeliveriesResponse {
                    deliveries: rows.iter().map(delivery_to_proto).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RedeliverEvent", skip_all, fields(outcome))]
    async fn redeliver_event(
        &self,
        request: Request<pb::RedeliverEventRequest>,
    ) -> Result<Response<pb::WebhookDelivery>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let endpoint = uuid_field("endpoint_id", &req.endpoint_id)?.to_string();
                let event = uuid_field("event_id", &req.event_id)?.to_string();
                let idem = idempotency(&who, "RedeliverEvent", req)?;
                let out = s
                    .store
                    .redeliver_event(merchant, &endpoint, &event, s.clock.now_ms(), &idem, |d| {
                        delivery_to_proto(d).encode_to_vec()
                    })
                    .await?;
                respond(out, delivery_to_proto)
            }
            .await,
        )
    }
}
