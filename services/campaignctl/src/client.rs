//! The connection to the engine: one channel, the API key on every call
//! (never printed), and calls retried with the same request, idempotency
//! key included, while the engine answers UNAVAILABLE or ABORTED.

use std::{future::Future, path::Path, time::Duration};

use engine_proto::campaign::v1::{
    admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    share_admin_service_client::ShareAdminServiceClient, stats_service_client::StatsServiceClient,
    vote_admin_service_client::VoteAdminServiceClient,
};
use tonic::{
    Code, Request, Response, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::error::CtlError;

pub const KEY_ENV: &str = "CAMPAIGN_API_KEY";

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub struct Auth(MetadataValue<Ascii>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Auth>;

/// The API key: from `key_file` if given, else `$CAMPAIGN_API_KEY`.
pub fn api_key(key_file: Option<&Path>) -> Result<String, CtlError> {
    let key = match key_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(CtlError::io(format!("read the key file {}", p.display())))?,
        None => std::env::var(KEY_ENV).map_err(|_| {
            CtlError::Credential(format!("no API key: pass --key-file PATH or set {KEY_ENV}"))
        })?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(CtlError::Credential("the API key is empty".into()));
    }
    Ok(key)
}

#[derive(Clone)]
pub struct Engine {
    channel: Channel,
    auth: Auth,
}

impl Engine {
    pub async fn connect(endpoint: &str, key: &str) -> Result<Self, CtlError> {
        let fail = |message: String| CtlError::Connect {
            endpoint: endpoint.to_owned(),
            message,
        };
        // The key is never part of a message: only whether it parses.
        let auth = format!("Bearer {key}")
            .parse::<MetadataValue<Ascii>>()
            .map_err(|_| {
                CtlError::Credential("the API key has characters a header cannot carry".into())
            })?;
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| fail(e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg = format!("{msg}: {s}");
                    src = s.source();
                }
                fail(msg)
            })?;
        Ok(Self {
            channel,
            auth: Auth(auth),
        })
    }

    pub fn admin(&self) -> AdminServiceClient<Svc> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<Svc> {
        AuditServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn stats(&self) -> StatsServiceClient<Svc> {
        StatsServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn share(&self) -> ShareAdminServiceClient<Svc> {
        ShareAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn votes(&self) -> VoteAdminServiceClient<Svc> {
        VoteAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }
}

/// Runs `call` (which must send the same request each time) until it is
/// answered, retrying UNAVAILABLE and ABORTED a few times with backoff.
pub async fn call<T, F, Fut>(what: &str, mut call: F) -> Result<T, CtlError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(r) => return Ok(r.into_inner()),
            // Both say "retry with the same idempotency key": the database
            // was busy, or a concurrent copy of this request was in flight.
            Err(s) if matches!(s.code(), Code::Unavailable | Code::Aborted) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(s) => return Err(rpc_error(what, &s)),
        }
    }
}

pub fn rpc_error(what: &str, s: &Status) -> CtlError {
    CtlError::Rpc {
        what: what.to_owned(),
        code: s.code(),
        message: s.message().to_owned(),
    }
}
