//! StoreAdminService: the merchant's stores (register, describe, close,
//! list) over `platform::stores`, served beside AdminService, where POS
//! keys are made for them. Per-store figures are the coupon service's
//! (`CouponAdminService.GetStoreFigures`). No SQL here.

use std::sync::Arc;

use engine_proto::campaign::v1::{self as pb, store_admin_service_server::StoreAdminService};
use platform::{
    domain::InvalidField,
    grpc::{invalid, respond, traced},
    store::db::Db,
    stores::{
        StoreRecord, StoreRegistry, StoreSpec, StoreStatus, UpdatedStore,
        domain::{STORE_PAGES, StoreCursor, StoreFilter, store_code},
    },
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{Shared, convert::idempotency};

/// The list name page tokens are bound to.
const STORES: &str = "stores";

pub struct StoresApi<D: Db> {
    shared: Arc<Shared<D>>,
    stores: StoreRegistry<D>,
}

impl<D: Db> StoresApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        let stores = StoreRegistry::new(shared.store.db().clone());
        Self { shared, stores }
    }
}

fn status_to_proto(s: StoreStatus) -> pb::StoreStatus {
    match s {
        StoreStatus::Open => pb::StoreStatus::Open,
        StoreStatus::Closed => pb::StoreStatus::Closed,
    }
}

/// A status sent by a caller: UNSPECIFIED is none.
fn status_from_proto(v: i32) -> Result<Option<StoreStatus>, Status> {
    match pb::StoreStatus::try_from(v) {
        Ok(pb::StoreStatus::Unspecified) => Ok(None),
        Ok(pb::StoreStatus::Open) => Ok(Some(StoreStatus::Open)),
        Ok(pb::StoreStatus::Closed) => Ok(Some(StoreStatus::Closed)),
        Err(_) => Err(invalid(InvalidField::new(
            "status",
            format!("{v} is not a store status (OPEN, CLOSED)"),
        ))),
    }
}

pub fn store_to_proto(s: &StoreRecord) -> pb::Store {
    pb::Store {
        store_id: s.store_id.clone(),
        name: s.spec.name.clone(),
        city: s.spec.city.clone(),
        address: s.spec.address.clone(),
        location: s.spec.location.map(|p| pb::GeoPoint {
            latitude: p.latitude(),
            longitude: p.longitude(),
        }),
        status: status_to_proto(s.status).into(),
        created_at_ms: s.created_at,
        updated_at_ms: s.updated_at,
    }
}

fn spec(
    name: &str,
    city: &str,
    address: &str,
    location: Option<&pb::GeoPoint>,
) -> Result<StoreSpec, Status> {
    StoreSpec::parse(
        name,
        city,
        address,
        location.map(|p| (p.latitude, p.longitude)),
    )
    .map_err(invalid)
}

fn updated_to_proto(u: &UpdatedStore) -> pb::UpdateStoreResponse {
    pb::UpdateStoreResponse {
        store: Some(store_to_proto(&u.store)),
        revoked_key_ids: u.revoked_key_ids.clone(),
    }
}

#[tonic::async_trait]
impl<D: Db> StoreAdminService for StoresApi<D> {
    #[tracing::instrument(name = "CreateStore", skip_all, fields(outcome, store.id = %request.get_ref().store_id.trim()))]
    async fn create_store(
        &self,
        request: Request<pb::CreateStoreRequest>,
    ) -> Result<Response<pb::Store>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let code = store_code("store_id", &req.store_id).map_err(invalid)?;
                let spec = spec(&req.name, &req.city, &req.address, req.location.as_ref())?;
                let idem = idempotency(&who, "CreateStore", req)?;
                let out = self
                    .stores
                    .create_store(merchant, &code, spec, s.clock.now_ms(), &idem, |st| {
                        store_to_proto(st).encode_to_vec()
                    })
                    .await?;
                respond(out, store_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "UpdateStore", skip_all, fields(outcome, store.id = %request.get_ref().store_id.trim()))]
    async fn update_store(
        &self,
        request: Request<pb::UpdateStoreRequest>,
    ) -> Result<Response<pb::UpdateStoreResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let code = store_code("store_id", &req.store_id).map_err(invalid)?;
                let spec = spec(&req.name, &req.city, &req.address, req.location.as_ref())?;
                let status = status_from_proto(req.status)?;
                let idem = idempotency(&who, "UpdateStore", req)?;
                let out = self
                    .stores
                    .update_store(
                        merchant,
                        &code,
                        spec,
                        status,
                        s.clock.now_ms(),
                        &idem,
                        |u| updated_to_proto(u).encode_to_vec(),
                    )
                    .await?;
                // The revoked keys are refused from the next call on, not
                // after the authenticator's cache expires.
                if let platform::store::Outcome::Fresh(u) = &out {
                    for k in &u.revoked_key_ids {
                        s.auth.forget_api_key(k);
                    }
                }
                respond(out, updated_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetStore", skip_all, fields(outcome, store.id = %request.get_ref().store_id.trim()))]
    async fn get_store(
        &self,
        request: Request<pb::GetStoreRequest>,
    ) -> Result<Response<pb::Store>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let code = store_code("store_id", &request.get_ref().store_id).map_err(invalid)?;
                let store = self.stores.get_store(merchant, &code).await?;
                Ok(Response::new(store_to_proto(&store)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListStores", skip_all, fields(outcome))]
    async fn list_stores(
        &self,
        request: Request<pb::ListStoresRequest>,
    ) -> Result<Response<pb::ListStoresResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let size = STORE_PAGES.size(req.page_size).map_err(invalid)?;
                let filter =
                    StoreFilter::new(status_from_proto(req.status)?, &req.city).map_err(invalid)?;
                let tokens = s.store.page_tokens();
                let scope = filter.scope(merchant);
                let after: Option<StoreCursor> = tokens
                    .open(STORES, &scope, &req.page_token)
                    .map_err(invalid)?;
                let (stores, more) = self
                    .stores
                    .list_stores(merchant, &filter, after.as_ref(), size)
                    .await?;
                let next_page_token = match stores.last() {
                    Some(last) if more => tokens.seal(
                        STORES,
                        &scope,
                        &StoreCursor {
                            store_id: last.store_id.clone(),
                        },
                    ),
                    _ => String::new(),
                };
                Ok(Response::new(pb::ListStoresResponse {
                    stores: stores.iter().map(store_to_proto).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }
}
