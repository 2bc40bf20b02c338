//! The browser side of the gRPC listener. One listener answers HTTP/2 gRPC
//! and HTTP/1.1 for browsers:
//!
//! - gRPC-Web (`application/grpc-web[-text][+proto]`, tonic-web) on every
//!   gRPC path, translated to gRPC before the services and the metrics
//!   layer see it, so a browser call is authenticated, validated, limited
//!   and counted exactly like a native one;
//! - a CORS allow-list in front of everything (`cors_allowed_origins`):
//!   exact origins only, none by default;
//! - the modules' own HTTP routes (`Installed::router`: the campaign's
//!   pages and its development token issuer).
//!
//! A request that is not one of these routes goes to the gRPC routes when
//! its content type is gRPC or gRPC-Web (`application/grpc…`); anything
//! else (a browser's `/favicon.ico` of old, a crawler's `/robots.txt`) is
//! 404 ([`not_found`]).

use std::{sync::Arc, time::Duration};

use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, header};
use tonic::service::Routes;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_layer::Layer;

use super::metrics::{RpcLayer, RpcMetrics};

/// Request headers a gRPC-Web client (and the pages) may send cross-origin.
const ALLOWED_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];

/// Response headers a cross-origin page may read: the call's status when it
/// comes without a body (a refusal), in the headers.
const EXPOSED_RESPONSE_HEADERS: [&str; 3] =
    ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// The CORS policy: only `origins` (exact matches) get
/// `access-control-allow-origin`; any other origin gets no CORS headers, so
/// its browser refuses to hand the answer to the page. Credentials travel in
/// `authorization`, never in cookies, so none are allowed.
pub fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::GET])
        .allow_headers(ALLOWED_REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_RESPONSE_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(600))
}

/// The whole listener's service: the modules' HTTP routes (`pages`), gRPC
/// (native and gRPC-Web, counted by the metrics layer) for everything
/// else, all behind the CORS allow-list.
pub fn app(
    grpc: Routes,
    rpc_metrics: Arc<RpcMetrics>,
    origins: Vec<HeaderValue>,
    pages: axum::Router,
) -> axum::Router {
    let grpc = tonic_web::GrpcWebLayer::new().layer(RpcLayer(rpc_metrics).layer(grpc.prepare()));
    let fallback = move |req: axum::extract::Request| {
        let mut grpc = grpc.clone();
        async move {
            if !is_grpc(req.headers()) {
                return not_found();
            }
            use tower_service::Service;
            // The gRPC stack's error type is Infallible: failures are statuses.
            let Ok(()) = futures_util::future::poll_fn(|cx| {
                Service::<axum::extract::Request>::poll_ready(&mut grpc, cx)
            })
            .await;
            let Ok(resp) = grpc.call(req).await;
            resp.map(axum::body::Body::new)
        }
    };
    pages.fallback(fallback).layer(cors(origins))
}

/// gRPC (`application/grpc`, `+proto`, …) or gRPC-Web
/// (`application/grpc-web…`), by the request's content type.
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"))
}

/// What a browser or a crawler asking for a path that is not a page and
/// not gRPC gets: 404, not a gRPC error in HTTP/1.1 clothing.
pub fn not_found() -> Response {
    (
        http::StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "404 未找到 / not found: this path is neither a page (/console/, /h5/) nor a gRPC method\n",
    )
        .into_response()
}
