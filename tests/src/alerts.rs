//! What tests and benchmarks use to watch alerts arrive: a real webhook receiver (HTTP, signature
//! checked, answers set per path) and a live-feed subscriber (Server-Sent Events over TCP, as a
//! browser reads it); mail is read with [`crate::mail`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sightline_common::clock::now_ms;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The receiver's name for it (the last part of `/hooks/{name}`).
    pub name: String,
    /// When it arrived, ms since the epoch.
    pub received_ms: i64,
    /// Its `Idempotency-Key` (the alert id).
    pub idempotency_key: String,
    /// Whether `X-Sightline-Signature` is the HMAC-SHA256 of timestamp and body under the secret.
    pub signature_valid: bool,
    /// The JSON body.
    pub body: Value,
    /// The status it was answered.
    pub status: u16,
}

/// An HTTP receiver of webhooks at `/hooks/{name}`: records every request and answers the status
/// set for its name (200 unless told otherwise). It can be stopped (connections refused) and served
/// again on the same port.
#[derive(Clone)]
pub struct WebhookReceiver {
    secret: Arc<String>,
    hooks: Arc<Mutex<Vec<Hook>>>,
    answers: Arc<Mutex<BTreeMap<String, u16>>>,
}

impl WebhookReceiver {
    /// A receiver checking signatures with `secret`.
    pub fn new(secret: &str) -> Self {
        Self { secret: Arc::new(secret.to_owned()), hooks: Arc::default(), answers: Arc::default() }
    }

    /// Serves on 127.0.0.1:`port` until the returned task is aborted.
    pub async fn serve(&self, port: u16) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let app = axum::Router::new().route("/hooks/{name}", axum::routing::post(receive)).with_state(self.clone());
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }))
    }

    /// From now on, answers `status` at `name`.
    pub fn answer(&self, name: &str, status: u16) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(name.to_owned(), status);
        }
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<Hook> {
        self.hooks.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The requests at `name` so far.
    pub fn hooks(&self, name: &str) -> Vec<Hook> {
        self.all().into_iter().filter(|h| h.name == name).collect()
    }

    /// The alert ids delivered (answered 2xx) at `name`.
    pub fn delivered(&self, name: &str) -> BTreeSet<String> {
        self.hooks(name).into_iter().filter(|h| h.status < 300).map(|h| h.idempotency_key).collect()
    }
}

async fn receive(
    State(receiver): State<WebhookReceiver>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let received_ms = now_ms();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let timestamp: i64 = header("x-sightline-timestamp").parse().unwrap_or_default();
    let expected = sightline_notifier::channels::webhook::signature(receiver.secret.as_bytes(), timestamp, &body);
    let status = receiver.answers.lock().ok().and_then(|a| a.get(&name).copied()).unwrap_or(200);
    if let Ok(mut hooks) = receiver.hooks.lock() {
        hooks.push(Hook {
            name,
            received_ms,
            idempotency_key: header("idempotency-key"),
            signature_valid: header("x-sightline-signature") == expected,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status,
        });
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// The alert documents a live-feed subscription received, in order.
pub type LiveFeed = Arc<Mutex<Vec<Value>>>;

/// A live-feed subscription read in the background, as a browser's `EventSource` reads it.
pub struct LiveSubscription {
    /// The alert documents received, in order.
    pub alerts: LiveFeed,
    /// The data of every `changed` event (an alert acknowledged, resolved, reopened, a delivery
    /// sent again), in order.
    pub changed: LiveFeed,
    /// The data of the `ended` event, once the notifier sent it.
    pub ended: Arc<Mutex<Option<Value>>>,
    /// Whether the notifier closed the connection.
    pub closed: Arc<AtomicBool>,
}

/// A single-use ticket for the live feed, asked with `headers` (a bearer token, or a session's
/// cookie and CSRF token), as `POST /v1/alerts/live/ticket` answers it.
pub fn live_ticket(port: u16, headers: &[(&str, &str)]) -> anyhow::Result<String> {
    let answer = crate::stack::http_exchange_with(port, "POST", "/v1/alerts/live/ticket", headers, "", b"")?;
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    anyhow::ensure!(answer.status == 201, "the ticket was refused: {} {body}", answer.status);
    body["ticket"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no ticket in {body}"))
}

/// Subscribes to the notifier's live feed on `port` with a ticket asked with `token`, as a
/// browser's `EventSource` does, and collects the alerts that arrive in the background.
pub async fn subscribe_live(port: u16, token: &str) -> anyhow::Result<LiveFeed> {
    let ticket = live_ticket(port, &[("Authorization", &format!("Bearer {token}"))])?;
    Ok(open_live(port, &format!("/v1/alerts/live?ticket={ticket}"), &[]).await?.alerts)
}

/// Opens the live feed at `path` (its query included) with `headers`, and reads it in the
/// background: an error unless the notifier answers 200.
pub async fn open_live(port: u16, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<LiveSubscription> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    // HTTP/1.0: the event stream comes unchunked, one `data:` line per event.
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut lines = tokio::io::BufReader::new(stream).lines();
    let status = lines.next_line().await?.unwrap_or_default();
    anyhow::ensure!(status.contains(" 200 "), "live feed answered {status}");
    let subscription = LiveSubscription {
        alerts: Arc::default(),
        changed: Arc::default(),
        ended: Arc::default(),
        closed: Arc::default(),
    };
    let (alerts, changed, ended, closed) = (
        subscription.alerts.clone(),
        subscription.changed.clone(),
        subscription.ended.clone(),
        subscription.closed.clone(),
    );
    tokio::spawn(async move {
        let mut event = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ")
                && let Ok(document) = serde_json::from_str::<Value>(data)
            {
                match event.as_str() {
                    "alert" => alerts.lock().iter_mut().for_each(|alerts| alerts.push(document.clone())),
                    "changed" => changed.lock().iter_mut().for_each(|changed| changed.push(document.clone())),
                    "ended" => ended.lock().iter_mut().for_each(|ended| **ended = Some(document.clone())),
                    _ => {}
                }
            }
        }
        closed.store(true, Ordering::SeqCst);
    });
    Ok(subscription)
}
