//! What the campaign service asks of the coupon service, its named
//! interface to it besides delivery (`delivery.rs`): whether a prize's
//! reference exists, and which prize coupons a campaign gave and when they
//! were redeemed (for its statistics, `ListCampaignPrizeCoupons`). Neither
//! service reads the other's tables; both calls work the same whether the
//! coupon service runs in this process or apart.
//!
//! Checks that a coupon or top-up-code prize names something the coupon
//! service can deliver: a coupon template (COUPON) or a code pool
//! (TOPUP_CODE) of the same merchant. Asked over gRPC
//! (`CouponDeliveryService.CheckPrizeReference`, with the delivery secret)
//! of the coupon service the outbox delivers to (`coupon_endpoint`; "self"
//! is this process), before such a prize is added to a wheel or a share
//! tier, revised, or published. Without it, a campaign would publish, fans
//! would "win" the prize, and the coupons would wait in the outbox forever.
//!
//! With `coupon_endpoint = "none"` there is no coupon service, so such
//! prizes are refused; when the service cannot be reached the change is
//! refused as UNAVAILABLE (retry), never made blind.

use std::time::Duration;

use engine_proto::coupon::v1::{
    CheckPrizeReferenceRequest, ListCampaignPrizeCouponsRequest,
    coupon_delivery_service_client::CouponDeliveryServiceClient,
};
use tonic::{
    Code, Request, Status,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};

use crate::domain::{
    Millis,
    activity::Activity,
    wheel::{PrizeKind, SlotSpec},
};
use crate::store::{Store, StoreError, db::Db, stats::PrizeCouponFacts};

/// How long a check may take before the change is refused as UNAVAILABLE.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a prize's reference was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{field}: {what} {reference} does not exist at this merchant")]
    Missing {
        field: String,
        what: &'static str,
        reference: String,
    },
    #[error(
        "{field}: coupon and top-up prizes need a coupon service, and this engine has none (coupon_endpoint = \"none\")"
    )]
    NoCouponService { field: String },
    #[error(
        "{field}: the coupon service could not be asked whether the prize exists ({cause}); retry"
    )]
    Unreachable { field: String, cause: String },
}

impl From<ReferenceError> for Status {
    fn from(e: ReferenceError) -> Self {
        match e {
            ReferenceError::Unreachable { .. } => {
                tracing::warn!(error = %e, "prize reference check failed");
                Status::unavailable(e.to_string())
            }
            _ => Status::failed_precondition(e.to_string()),
        }
    }
}

/// Why a campaign's prizes could not be checked before its publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

impl From<PublishCheckError> for Status {
    fn from(e: PublishCheckError) -> Self {
        match e {
            PublishCheckError::Store(e) => e.into(),
            PublishCheckError::Reference(e) => e.into(),
        }
    }
}

/// Before a campaign is published (by `PublishCampaign` or by its
/// schedule): every coupon and top-up prize of its wheel and of its share
/// tiers (when it holds sharing) names a template or pool of the merchant.
pub async fn check_campaign<D: Db>(
    refs: &PrizeReferences,
    store: &Store<D>,
    merchant: &str,
    id: uuid::Uuid,
    now: Millis,
) -> Result<(), PublishCheckError> {
    let c = store.get_campaign(merchant, id, now).await?;
    for slot in &c.slots {
        let field = format!("slots[{}]", slot.index);
        refs.check_slot(merchant, &slot.spec, &field).await?;
    }
    if !c.holds(Activity::Share) {
        return Ok(());
    }
    let rules = store.get_share_rules(merchant, id).await?;
    for (i, (tier, _)) in rules.tiers.iter().enumerate() {
        let field = format!("tiers[{i}].prize");
        refs.check_slot(merchant, &tier.prize, &field).await?;
    }
    Ok(())
}

/// The coupon service's answers about prize references.
pub struct PrizeReferences {
    peer: Peer,
}

enum Peer {
    /// `coupon_endpoint = "none"`.
    None,
    /// An endpoint or secret that cannot be used: every check is
    /// UNAVAILABLE, as the delivery worker cannot deliver either.
    Broken(String),
    Client(CouponDeliveryServiceClient<Channel>, MetadataValue<Ascii>),
}

impl PrizeReferences {
    /// `endpoint`: the coupon service (None: there is none).
    pub fn new(endpoint: Option<&str>, secret: &[u8]) -> Self {
        let peer = match endpoint {
            None => Peer::None,
            Some(e) => match (
                Endpoint::from_shared(e.to_owned()),
                MetadataValue::try_from(format!("Bearer {}", String::from_utf8_lossy(secret))),
            ) {
                (Ok(endpoint), Ok(auth)) => Peer::Client(
                    CouponDeliveryServiceClient::new(
                        endpoint
                            .connect_timeout(Duration::from_secs(2))
                            .timeout(CHECK_TIMEOUT)
                            .connect_lazy(),
                    ),
                    auth,
                ),
                (Err(e), _) => Peer::Broken(format!("invalid coupon_endpoint: {e}")),
                (_, Err(_)) => Peer::Broken("delivery_secret is not a valid header value".into()),
            },
        };
        Self { peer }
    }

    /// Checks a slot that names a template or pool (other kinds pass);
    /// `field` is where the slot sits in the request (`slot`, `slots[2]`,
    /// `tiers[0].prize`).
    pub async fn check_slot(
        &self,
        merchant_id: &str,
        slot: &SlotSpec,
        field: &str,
    ) -> Result<(), ReferenceError> {
        let (kind, what) = match slot.kind {
            PrizeKind::Coupon => ("COUPON", "coupon template"),
            PrizeKind::TopupCode => ("TOPUP_CODE", "top-up code pool"),
            _ => return Ok(()),
        };
        let field = format!("{field}.reference");
        let reference = slot.reference.clone().unwrap_or_default();
        let (client, auth) = match &self.peer {
            Peer::None => return Err(ReferenceError::NoCouponService { field }),
            Peer::Broken(cause) => {
                return Err(ReferenceError::Unreachable {
                    field,
                    cause: cause.clone(),
                });
            }
            Peer::Client(client, auth) => (client, auth),
        };
        let mut req = Request::new(CheckPrizeReferenceRequest {
            merchant_id: merchant_id.to_owned(),
            prize_kind: kind.to_owned(),
            reference: reference.clone(),
        });
        req.set_timeout(CHECK_TIMEOUT);
        req.metadata_mut().insert("authorization", auth.clone());
        let missing = || ReferenceError::Missing {
            field: field.clone(),
            what,
            reference: reference.clone(),
        };
        match client.clone().check_prize_reference(req).await {
            Ok(r) if r.get_ref().found => Ok(()),
            Ok(_) => Err(missing()),
            Err(s) if s.code() == Code::InvalidArgument => Err(missing()),
            Err(s) => Err(ReferenceError::Unreachable {
                field,
                cause: format!("{:?}: {}", s.code(), s.message()),
            }),
        }
    }

    /// Every prize coupon the coupon service delivered for `campaign_id`,
    /// with its redemptions, page by page. Without a coupon service there
    /// are none; when it cannot be asked, UNAVAILABLE (statistics are
    /// exact or not given).
    pub async fn campaign_prize_coupons(
        &self,
        merchant_id: &str,
        campaign_id: &str,
    ) -> Result<Vec<PrizeCouponFacts>, tonic::Status> {
        let unavailable = |cause: String| {
            tracing::warn!(%cause, "prize coupons could not be counted");
            tonic::Status::unavailable(format!(
                "the coupon service could not be asked for the campaign's prize coupons ({cause}); retry"
            ))
        };
        let (client, auth) = match &self.peer {
            Peer::None => return Ok(Vec::new()),
            Peer::Broken(cause) => return Err(unavailable(cause.clone())),
            Peer::Client(client, auth) => (client, auth),
        };
        let mut out: Vec<PrizeCouponFacts> = Vec::new();
        loop {
            let mut req = Request::new(ListCampaignPrizeCouponsRequest {
                merchant_id: merchant_id.to_owned(),
                campaign_id: campaign_id.to_owned(),
                after_source_id: out.last().map(|c| c.source_id.clone()).unwrap_or_default(),
                page_size: 0,
            });
            req.set_timeout(CHECK_TIMEOUT);
            req.metadata_mut().insert("authorization", auth.clone());
            let page = client
                .clone()
                .list_campaign_prize_coupons(req)
                .await
                .map_err(|s| unavailable(format!("{:?}: {}", s.code(), s.message())))?
                .into_inner();
            let before = out.len();
            out.extend(page.coupons.into_iter().map(|c| PrizeCouponFacts {
                source_id: c.source_id,
                redeemed_at: c.redeemed_at_ms,
            }));
            // An empty page ends it too, whatever `done` says: no loop.
            if page.done || out.len() == before {
                return Ok(out);
            }
        }
    }
}
