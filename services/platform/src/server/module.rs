//! What a service brings to the server: a [`Module`] (the campaign
//! service's, the coupon service's) is installed on the shared listener,
//! database, credentials and clock. Two modules compose as a pair, so the
//! whole engine is `(CampaignModule, CouponModule)`.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tonic::service::RoutesBuilder;

use super::metrics::{CounterSource, ScrapeSource};
use crate::{
    access::{AccessStore, auth::Authenticator},
    clock::Clock,
    domain::{credential::DevIssuer, seal::SealKey},
    settings::Settings,
    store::{StoreError, db::Db},
};

/// A service's part of the server: its gRPC services, background tasks,
/// metrics and HTTP routes, installed on the listener, database,
/// credentials and clock every module shares (`server::run_with`).
pub trait Module: Send + Sync + 'static {
    /// The settings sections the module reads (`[coupon]`); any other
    /// section in the file is logged as not read by this process.
    fn sections(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Brings the module's data up to date before anything serves (for
    /// example sealing values a database from before sealing holds in the
    /// clear); a failure stops the start. Nothing by default.
    fn prepare<D: Db>(
        &self,
        ctx: &ModuleContext<'_, D>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Adds the module's services to `routes`, starts its background tasks
    /// (aborted when the server stops), and says what it installed.
    fn install<D: Db>(self, ctx: &ModuleContext<'_, D>, routes: &mut RoutesBuilder) -> Installed;
}

/// Two modules on one server: each prepared, then each installed, the
/// first before the second.
impl<A: Module, B: Module> Module for (A, B) {
    fn sections(&self) -> Vec<&'static str> {
        let mut sections = self.0.sections();
        sections.extend(self.1.sections());
        sections
    }

    async fn prepare<D: Db>(&self, ctx: &ModuleContext<'_, D>) -> Result<(), StoreError> {
        self.0.prepare(ctx).await?;
        self.1.prepare(ctx).await
    }

    fn install<D: Db>(self, ctx: &ModuleContext<'_, D>, routes: &mut RoutesBuilder) -> Installed {
        let first = self.0.install(ctx, routes);
        first.and(self.1.install(ctx, routes))
    }
}

/// What a module gets to build its services from.
pub struct ModuleContext<'a, D: Db> {
    pub db: &'a D,
    /// The access store over the same database, sealing with the server's
    /// key: merchants, keys and token keys for a module's authenticator.
    pub access: AccessStore<D>,
    pub settings: &'a Settings,
    pub clock: Arc<dyn Clock>,
    /// The secret the outbox worker presents to DeliverPrize: the
    /// configured `delivery_secret`, or random for this process.
    pub delivery_secret: Arc<[u8]>,
    /// The development token issuer, when `dev_token_issuer` is on: a
    /// module's authenticator accepts its player tokens too.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    /// The key secrets at rest are sealed with (`seal_key_file`).
    pub seal_key: Arc<SealKey>,
    /// The listener's address (its IP unspecified when bound to all), for
    /// a module that calls a service on this same server.
    pub local_addr: Option<SocketAddr>,
}

impl<D: Db> ModuleContext<'_, D> {
    /// Who is calling, for a module's handlers: API keys and player tokens
    /// (the `player_token_audience`; the development issuer's too, when
    /// on).
    pub fn authenticator(&self) -> Authenticator<D> {
        let auth = Authenticator::new(
            self.access.clone(),
            self.settings.player_token_audience.clone(),
            self.clock.clone(),
        );
        match &self.dev_issuer {
            Some(dev) => auth.with_dev_issuer(dev.clone()),
            None => auth,
        }
    }
}

/// What a module installed.
#[derive(Default)]
pub struct Installed {
    /// The gRPC services health reports SERVING (and NOT_SERVING while the
    /// database does not answer).
    pub serving: Vec<&'static str>,
    /// Background tasks, aborted when the server stops.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Counters the module adds to `GET /metrics`, read at each scrape.
    pub counters: Vec<CounterSource>,
    /// Figures the module reads from the database at each scrape.
    pub scrapes: Vec<ScrapeSource>,
    /// The encoded file descriptor sets of its services, for reflection and
    /// the metrics' method labels (the same set from two modules counts
    /// once).
    pub descriptor_sets: Vec<&'static [u8]>,
    /// HTTP routes beside gRPC on the listener (pages, JSON endpoints); no
    /// two modules may route the same path.
    pub router: axum::Router,
}

impl Installed {
    /// Both modules' parts, this one's first.
    pub fn and(mut self, other: Installed) -> Installed {
        self.serving.extend(other.serving);
        self.tasks.extend(other.tasks);
        self.counters.extend(other.counters);
        self.scrapes.extend(other.scrapes);
        self.descriptor_sets.extend(other.descriptor_sets);
        self.router = self.router.merge(other.router);
        self
    }
}
