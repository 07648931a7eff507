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

use crate::api::ApiError;
use crate::shutdown::Shutdown;

/// Shared readiness: ready when no condition holds the service back. Each part of a service that can
/// stop making progress (the warehouse, the dead-letter topic, the partition assignment, the
/// watchlist index, ...) blocks its own named condition and clears it when it recovers, so one part's
/// recovery never hides another's failure. Every condition is also a metric,
/// `sightline_not_ready{condition}` (1 while it blocks), registered by [`serve`].
#[derive(Clone, Debug)]
pub struct Readiness {
    blocked: Arc<Mutex<BTreeMap<&'static str, String>>>,
    unavailable: Arc<Mutex<BTreeMap<&'static str, String>>>,
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
        let readiness = Self { blocked: Arc::default(), unavailable: Arc::default(), gauges: Family::default() };
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

    /// `feature` is unavailable, for `reason`, while the service is otherwise ready: `/readyz` still
    /// answers 200, and says so (e.g. searches by photo without the face models).
    pub fn unavailable(&self, feature: &'static str, reason: impl Into<String>) {
        if let Ok(mut unavailable) = self.unavailable.lock() {
            unavailable.insert(feature, reason.into());
        }
    }

    /// `feature` works again.
    pub fn available(&self, feature: &'static str) {
        if let Ok(mut unavailable) = self.unavailable.lock() {
            unavailable.remove(feature);
        }
    }

    /// The features that are unavailable, with their reasons; `None` when every one works.
    pub fn limitations(&self) -> Option<String> {
        let Ok(unavailable) = self.unavailable.lock() else { return Some("state poisoned".into()) };
        if unavailable.is_empty() {
            return None;
        }
        Some(unavailable.iter().map(|(feature, reason)| format!("{feature}: {reason}")).collect::<Vec<_>>().join("; "))
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

/// What every service starts the same way before its own work: a shutdown token triggered by
/// SIGTERM or SIGINT, readiness (not ready, saying `starting`), and `/metrics`, `/healthz` and
/// `/readyz` on `addr`.
pub struct Ops {
    /// Triggered by SIGTERM or SIGINT.
    pub shutdown: Shutdown,
    /// The service's readiness, served on `/readyz`.
    pub readiness: Readiness,
    /// Where the endpoints listen (the port chosen when `addr` asked for 0).
    pub addr: SocketAddr,
}

/// Errors starting [`Ops`].
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The endpoints' address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Starts [`Ops`] with the metrics `register` adds to a fresh registry; returns them with those
/// metrics.
pub async fn start_ops<M>(
    addr: SocketAddr,
    starting: &str,
    register: impl FnOnce(&mut Registry) -> M,
) -> Result<(Ops, M), OpsError> {
    let shutdown = Shutdown::on_signals().map_err(OpsError::Signals)?;
    let mut registry = Registry::default();
    let metrics = register(&mut registry);
    let readiness = Readiness::new(starting);
    let bound = serve(addr, registry, readiness.clone(), shutdown.clone())
        .await
        .map_err(|source| OpsError::Bind { addr, source })?;
    tracing::info!(addr = %bound, "metrics and health endpoints listening");
    Ok((Ops { shutdown, readiness, addr: bound }, metrics))
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

/// Limits every HTTP server applies before a request reaches its routes (and so before any token is
/// looked up).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// A request whose `Content-Length` exceeds this is answered 413 at once, bytes. (Bodies without
    /// a length are bounded where they are read, by axum's `DefaultBodyLimit`.)
    pub max_body_bytes: u64,
    /// Requests handled at once; more are answered 503 (retry later) instead of queueing without
    /// bound.
    pub max_in_flight: usize,
}

impl Default for HttpLimits {
    /// 16 MiB (an enrolment photo is at most 10 MiB) and 256 requests in flight.
    fn default() -> Self {
        Self { max_body_bytes: 16 * 1024 * 1024, max_in_flight: 256 }
    }
}

/// Longest wait for the next piece of a request body; a client that stops sending mid-body gets an
/// error instead of holding a connection and a request slot (a slow upload that keeps sending is fine).
pub const BODY_READ_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A request body that fails when no data arrives for `idle`.
struct IdleTimeoutBody {
    inner: axum::body::Body,
    idle: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for IdleTimeoutBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.timer = None;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let idle = self.idle;
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(format!(
                        "no request body data for {} s",
                        idle.as_secs()
                    ))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// `app` behind [`HttpLimits`]: oversized bodies refused by their declared length, concurrency capped.
pub fn limited(app: Router, limits: HttpLimits) -> Router {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight));
    app.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
        let permits = permits.clone();
        async move {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > limits.max_body_bytes) {
                let message = format!("the request body is larger than {} bytes", limits.max_body_bytes);
                return ApiError(StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
            }
            let Ok(_permit) = permits.try_acquire_owned() else {
                let message = "too many requests in flight; retry later".to_owned();
                return ApiError(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
            };
            let (parts, body) = request.into_parts();
            let body =
                axum::body::Body::new(IdleTimeoutBody { inner: body, idle: BODY_READ_IDLE_TIMEOUT, timer: None });
            next.run(axum::extract::Request::from_parts(parts, body)).await
        }
    }))
}

/// How long a client may take to send a request's headers; a slower one is disconnected, so idle
/// or trickling connections cannot pin the server's connections (slowloris).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` on `addr` until `shutdown`, behind the default [`HttpLimits`] and
/// [`HEADER_READ_TIMEOUT`], letting requests in flight finish; returns the bound address and the
/// server's task, which ends once it has drained.
pub async fn serve_router(
    addr: impl tokio::net::ToSocketAddrs,
    app: Router,
    mut shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let app = limited(app, HttpLimits::default());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        loop {
            let stream = tokio::select! {
                _ = shutdown.requested() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little instead of spinning.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
        }
        graceful.shutdown().await;
        Ok(())
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
        None => match state.readiness.limitations() {
            None => (StatusCode::OK, "ready\n".to_owned()).into_response(),
            Some(limitations) => (StatusCode::OK, format!("ready; unavailable: {limitations}\n")).into_response(),
        },
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends `head` (a request without its body) and returns the status line.
    async fn status_of(addr: SocketAddr, head: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
        stream.write_all(head.as_bytes()).await.expect("writes");
        let mut answer = vec![0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("answered before the body was sent")
            .expect("reads");
        String::from_utf8_lossy(&answer[..read]).lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        let (_trigger, shutdown) = crate::shutdown::channel();
        let app = Router::new().route("/", get(|| async { "ok" }));
        let (addr, _server) = serve_router("127.0.0.1:0", app, shutdown).await.expect("serves");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
        stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.expect("writes");
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "still connected after {:?}", started.elapsed());
        assert!(started.elapsed() >= HEADER_READ_TIMEOUT / 2, "closed early: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_client_that_stops_sending_its_body_gets_an_answer_instead_of_a_hung_request() {
        let (_trigger, shutdown) = crate::shutdown::channel();
        let app = Router::new()
            .route("/upload", axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }));
        let (addr, _server) = serve_router("127.0.0.1:0", app, shutdown).await.expect("serves");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
        stream
            .write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
            .await
            .expect("writes");
        let started = std::time::Instant::now();
        let mut answer = vec![0u8; 512];
        let read = tokio::time::timeout(BODY_READ_IDLE_TIMEOUT * 2, stream.read(&mut answer))
            .await
            .expect("answered before twice the idle timeout")
            .expect("reads");
        let status = String::from_utf8_lossy(&answer[..read]).lines().next().unwrap_or_default().to_owned();
        assert!(status.contains(" 4"), "a client error: {status}");
        assert!(started.elapsed() >= BODY_READ_IDLE_TIMEOUT / 2, "answered early: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_declared_oversized_body_is_refused_before_the_route_runs() {
        let (_trigger, shutdown) = crate::shutdown::channel();
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        let app = Router::new().route(
            "/upload",
            axum::routing::post(move || {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                async { "ok" }
            }),
        );
        let (addr, _server) = serve_router("127.0.0.1:0", app, shutdown).await.expect("serves");
        let huge = "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 999999999\r\n\r\n";
        assert!(status_of(addr, huge).await.contains("413"));
        assert!(!reached.load(std::sync::atomic::Ordering::SeqCst), "the route never ran");
        let small = "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
        assert!(status_of(addr, small).await.contains("200"));
    }
}
