//! The engine's own web pages, embedded at compile time from `web/` at the
//! repository root (plain HTML, CSS and JavaScript; no build step):
//!
//! - `/console/`: the marketing console (an admin API key, then wheels);
//! - `/h5/?campaign=<id>`: the H5 demo wheel (player tokens from the
//!   development issuer, when it is on);
//! - `/web/grpc-web.js`: the small gRPC-Web client and protobuf codec both
//!   use;
//! - `/favicon.ico`: the pages' icon.
//!
//! Any other path that is not a gRPC request (by its content type) is 404
//! (`platform::server::web::not_found`).
//!
//! The pages call the engine through gRPC-Web on this same origin. They are
//! served with a content security policy that allows scripts, styles and
//! calls to this origin only.

use axum::{
    Router,
    http::{HeaderValue, Uri, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Scripts, styles and connections to this origin only; no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// One embedded file: every answer carries its type, no caching beyond a
/// revalidation (the pages change with the engine), and the CSP.
fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `/console` -> `/console/`, keeping the query.
fn with_slash(base: &'static str, uri: &Uri) -> Redirect {
    match uri.query() {
        Some(q) => Redirect::to(&format!("{base}?{q}")),
        None => Redirect::to(base),
    }
}

macro_rules! file {
    ($ty:expr, $path:literal) => {
        get(|| async { asset($ty, include_str!(concat!("../../../../web/", $path))) })
    };
}

/// The page routes; everything else on the listener is gRPC.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console",
            get(|uri: Uri| async move { with_slash("/console/", &uri) }),
        )
        .route("/console/", file!(HTML, "console/index.html"))
        .route("/console/console.js", file!(JS, "console/console.js"))
        .route("/console/webhooks.js", file!(JS, "console/webhooks.js"))
        .route("/console/console.css", file!(CSS, "console/console.css"))
        .route(
            "/h5",
            get(|uri: Uri| async move { with_slash("/h5/", &uri) }),
        )
        .route("/h5/", file!(HTML, "h5/index.html"))
        .route("/h5/h5.js", file!(JS, "h5/h5.js"))
        .route("/h5/h5.css", file!(CSS, "h5/h5.css"))
        .route("/web/grpc-web.js", file!(JS, "lib/grpc-web.js"))
        .route(
            "/favicon.ico",
            get(|| async {
                asset(
                    "image/x-icon",
                    &include_bytes!("../../../../web/favicon.ico")[..],
                )
            }),
        )
}
