//! The coupon service as the campaign service alone sees it: a stand-in
//! peer on 127.0.0.1 that knows one template / pool id
//! (`KNOWN_REFERENCE`, the one `slot()` uses) for every merchant and
//! delivers nothing (prizes wait in the outbox, as before), so it has no
//! prize coupons to list. The real
//! coupon service answers these checks in the coupon suite.

use engine_proto::coupon::v1::{
    self as cpb,
    coupon_delivery_service_server::{CouponDeliveryService, CouponDeliveryServiceServer},
};
use tonic::{Request, Response, Status};

/// The one template (and pool) id the stand-in knows.
pub const KNOWN_REFERENCE: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

struct Peer;

#[tonic::async_trait]
impl CouponDeliveryService for Peer {
    async fn deliver_prize(
        &self,
        _: Request<cpb::DeliverPrizeRequest>,
    ) -> Result<Response<cpb::DeliverPrizeResponse>, Status> {
        Err(Status::unavailable(
            "the stand-in coupon peer delivers nothing",
        ))
    }

    async fn list_campaign_prize_coupons(
        &self,
        _: Request<cpb::ListCampaignPrizeCouponsRequest>,
    ) -> Result<Response<cpb::ListCampaignPrizeCouponsResponse>, Status> {
        Ok(Response::new(cpb::ListCampaignPrizeCouponsResponse {
            coupons: Vec::new(),
            done: true,
        }))
    }

    async fn check_prize_reference(
        &self,
        request: Request<cpb::CheckPrizeReferenceRequest>,
    ) -> Result<Response<cpb::CheckPrizeReferenceResponse>, Status> {
        let found = request.get_ref().reference == KNOWN_REFERENCE;
        Ok(Response::new(cpb::CheckPrizeReferenceResponse {
            found,
            name: if found { "5 off".into() } else { String::new() },
        }))
    }
}

/// Starts the stand-in; returns its endpoint URL.
pub async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the coupon peer");
    let addr = listener.local_addr().expect("peer address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CouponDeliveryServiceServer::new(Peer))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    format!("http://{addr}")
}
