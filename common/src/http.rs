//! The operational HTTP endpoints every service exposes: `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive) and `/readyz` (its dependencies are reachable and it is doing
//! its job; 503 with the reason otherwise).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::shutdown::Shutdown;

/// Shared readiness: ready when no condition holds the service back. Each part of a service that can
/// stop making progress (the warehouse, the dead-letter topic, the partition assignment, the
/// watchlist index, ...) blocks its own named condition and clears it when it recovers, so one part's
/// recovery never hides another's failure. Every condition is also a metric,
/// `sightline_not_ready{condition}` (1 while it blocks), registered by [`serve`].
#[derive(Clone, Debug)]
pub struct Readiness {
    blocked: Arc<Mutex<BTreeMap<&'static str, String>>>,
    gauges: Family<ConditionLabel, Gauge>,
}

/// The condition a `sightline_not_ready` series is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabel {
    condition: String,
}

/// The condition of [`Readiness::set_ready`] and [`Readiness::set_not_ready`]: the service's own
/// lifecycle (starting, running, stopped).
pub const LIFECYCLE: &str = "lifecycle";

impl Readiness {
    /// Starts not ready, with the given reason (condition [`LIFECYCLE`]).
    pub fn new(initial_reason: &str) -> Self {
        let readiness = Self { blocked: Arc::default(), gauges: Family::default() };
        readiness.block(LIFECYCLE, initial_reason);
        readiness
    }

    /// Clears [`LIFECYCLE`]: the service has started.
    pub fn set_ready(&self) {
        self.clear(LIFECYCLE);
    }

    /// Blocks [`LIFECYCLE`], saying why.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.block(LIFECYCLE, reason);
    }

    /// `condition` keeps the service from being ready, for `reason`.
    pub fn block(&self, condition: &'static str, reason: impl Into<String>) {
        if let Ok(mut blocked) = self.blocked.lock() {
            blocked.insert(condition, reason.into());
        }
        self.gauges.get_or_create(&ConditionLabel { condition: condition.into() }).set(1);
    }

    /// `condition` no longer keeps the service from being ready.
    pub fn clear(&self, condition: &'static str) {
        if let Ok(mut blocked) = self.blocked.lock() {
            blocked.remove(condition);
        }
        self.gauges.get_or_create(&ConditionLabel { condition: condition.into() }).set(0);
    }

    /// `None` when ready, else every blocking condition with its reason.
    pub fn reason(&self) -> Option<String> {
        let Ok(blocked) = self.blocked.lock() else { return Some("state poisoned".into()) };
        if blocked.is_empty() {
            return None;
        }
        Some(blocked.iter().map(|(condition, reason)| format!("{condition}: {reason}")).collect::<Vec<_>>().join("; "))
    }

    /// Registers `sightline_not_ready{condition}` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sightline_not_ready",
            "1 while the named condition keeps the service from being ready (see /readyz for why)",
            self.gauges.clone(),
        );
    }
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// Serves the operational endpoints on `addr` until `shutdown`; returns the bound address (port 0
/// picks a free one).
pub async fn serve(
    addr: SocketAddr,
    mut registry: Registry,
    readiness: Readiness,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    readiness.register(&mut registry);
    let state = AppState { registry: Arc::new(registry), readiness };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state);
    let (bound, server) = serve_router(addr, app, shutdown).await?;
    tokio::spawn(async move {
        if let Ok(Err(error)) = server.await {
            tracing::error!(%error, "operational HTTP server stopped");
        }
    });
    Ok(bound)
}

/// Serves `app` on `addr` until `shutdown`, letting requests in flight finish; returns the bound
/// address and the server's task, which ends once it has drained.
pub async fn serve_router(
    addr: impl tokio::net::ToSocketAddrs,
    app: Router,
    mut shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.requested().await }).await
    });
    Ok((bound, server))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {error}\n")).into_response(),
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.readiness.reason() {
        None => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response(),
    }
}
