//! The connection to the engine: one channel, TLS for an https://
//! endpoint (never plaintext), the API key on every call (never printed),
//! and calls retried with the same request, idempotency key included,
//! while the engine answers UNAVAILABLE or ABORTED.

use std::{future::Future, net::IpAddr, path::Path, time::Duration};

use engine_proto::campaign::v1::{
    admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    raffle_admin_service_client::RaffleAdminServiceClient,
    share_admin_service_client::ShareAdminServiceClient, stats_service_client::StatsServiceClient,
    store_admin_service_client::StoreAdminServiceClient,
    vote_admin_service_client::VoteAdminServiceClient,
    webhook_admin_service_client::WebhookAdminServiceClient,
};
use tonic::{
    Code, Request, Response, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
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

/// An error and its causes, on one line (a cause already in the text of
/// the one before it is not repeated).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let cause = s.to_string();
        if !msg.contains(&cause) {
            msg = format!("{msg}: {cause}");
        }
        src = s.source();
    }
    msg
}

/// Warns on stderr when `endpoint` is plain http:// to a host that is not
/// loopback: the API key would cross the network in the clear.
pub fn warn_if_in_the_clear(endpoint: &str) {
    if let Some(rest) = endpoint.strip_prefix("http://")
        && !is_loopback(host_of(rest))
    {
        eprintln!(
            "campaignctl: warning: {endpoint} is plaintext and not loopback: the API key \
             crosses the network in the clear; use an https:// endpoint"
        );
    }
}

/// The host of `host[:port][/path]` (an IPv6 address without brackets).
fn host_of(authority_and_path: &str) -> &str {
    let authority = authority_and_path
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost`.
fn is_loopback(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
        Err(_) => {
            let name = host.strip_suffix('.').unwrap_or(host);
            name.eq_ignore_ascii_case("localhost")
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    channel: Channel,
    auth: Auth,
}

impl Engine {
    /// Connects to `endpoint`: over TLS for https://, verified against the
    /// CA certificates in `ca_file` if given, else the system's roots.
    pub async fn connect(
        endpoint: &str,
        ca_file: Option<&Path>,
        key: &str,
    ) -> Result<Self, CtlError> {
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
        let mut target = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| fail(e.to_string()))?
            .connect_timeout(Duration::from_secs(10));
        if endpoint.starts_with("https://") {
            let tls = match ca_file {
                Some(p) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
                    std::fs::read(p)
                        .map_err(CtlError::io(format!("read the CA file {}", p.display())))?,
                )),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            target = target.tls_config(tls).map_err(|e| fail(error_chain(&e)))?;
        }
        let channel = target.connect().await.map_err(|e| {
            let mut msg = error_chain(&e);
            if msg.contains("certificate") {
                msg.push_str(if ca_file.is_some() {
                    " (the server's certificate is not signed by a CA in --ca-file)"
                } else {
                    " (verified against the system's roots; a private CA needs --ca-file PATH)"
                });
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

    pub fn stores(&self) -> StoreAdminServiceClient<Svc> {
        StoreAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn raffles(&self) -> RaffleAdminServiceClient<Svc> {
        RaffleAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn webhooks(&self) -> WebhookAdminServiceClient<Svc> {
        WebhookAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_counts_as_local() {
        for local in [
            "127.0.0.1:50051",
            "127.8.9.10",
            "[::1]:50051",
            "[::ffff:127.0.0.1]:1",
            "localhost:50051/",
            "LocalHost.:1",
            "user@127.0.0.1:1",
        ] {
            assert!(is_loopback(host_of(local)), "{local}");
        }
        for remote in [
            "10.0.0.5:50051",
            "192.168.1.2",
            "[2001:db8::1]:50051",
            "engine.example.com:443",
            "localhost.example.com",
            "0.0.0.0:50051",
            "127.0.0.1.example.com",
        ] {
            assert!(!is_loopback(host_of(remote)), "{remote}");
        }
    }
}
