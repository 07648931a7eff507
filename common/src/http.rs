//! The operational HTTP endpoints every service exposes: `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive) and `/readyz` (its dependencies are reachable and it is doing
//! its job; 503 with the reason otherwise).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::shutdown::Shutdown;

/// Shared readiness: `None` when ready, otherwise why not.
#[derive(Clone, Debug)]
pub struct Readiness {
    not_ready_because: Arc<Mutex<Option<String>>>,
}

impl Readiness {
    /// Starts not ready, with the given reason.
    pub fn new(initial_reason: &str) -> Self {
        Self { not_ready_because: Arc::new(Mutex::new(Some(initial_reason.to_owned()))) }
    }

    /// Marks the service ready.
    pub fn set_ready(&self) {
        if let Ok(mut state) = self.not_ready_because.lock() {
            *state = None;
        }
    }

    /// Marks the service not ready, saying why.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut state) = self.not_ready_because.lock() {
            *state = Some(reason.into());
        }
    }

    /// `None` when ready, else the reason.
    pub fn reason(&self) -> Option<String> {
        self.not_ready_because.lock().map(|s| s.clone()).unwrap_or_else(|_| Some("state poisoned".into()))
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
    registry: Registry,
    readiness: Readiness,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
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
