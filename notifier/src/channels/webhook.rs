//! Webhook channel: `POST` of the alert's JSON document to the rule's URL.
//!
//! Every request carries `Idempotency-Key: <alert id>` (the same on every retry, so a receiver
//! that saw it already can answer 2xx without acting twice), `X-Sightline-Timestamp: <ms>` and
//! `X-Sightline-Signature: sha256=<hex>`, the HMAC-SHA256 under the rule's secret of
//! `"<timestamp>.<body>"`. A 2xx answer delivers it; 5xx, 408, 429, a timeout or no connection are
//! retried; any other answer fails it at once.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

use super::Attempt;
use crate::targets::TargetPolicy;

/// Header with the alert id.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Header with the signing time, ms since the epoch.
pub const TIMESTAMP_HEADER: &str = "X-Sightline-Timestamp";
/// Header with the signature.
pub const SIGNATURE_HEADER: &str = "X-Sightline-Signature";

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under secret>`.
pub fn signature(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Calls webhooks through a client whose resolver applies the target policy.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    policy: TargetPolicy,
    timeout: Duration,
}

impl WebhookChannel {
    /// A channel with `timeout` per request.
    pub fn new(policy: TargetPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(policy.resolver())
            .user_agent("sightline-notifier")
            .build()?;
        Ok(Self { client, policy, timeout })
    }

    /// One attempt to deliver `body` (the alert's JSON) for `alert_id` to `url`, signed with `secret`.
    pub async fn send(&self, url: &str, secret: &str, alert_id: &str, body: Vec<u8>) -> Attempt {
        if let Err(error) = self.policy.check_url(url) {
            return Attempt::Fail { status_code: 0, error };
        }
        let timestamp = sightline_common::clock::now_ms();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(IDEMPOTENCY_HEADER, alert_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(secret.as_bytes(), timestamp, &body))
            .body(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let code = status.as_u16();
                if status.is_success() {
                    Attempt::Delivered { status_code: code }
                } else if status.is_server_error() || code == 408 || code == 429 {
                    let error =
                        format!("the receiver answered {status}: it could not take the alert now; it is sent again");
                    Attempt::Retry { status_code: code, error }
                } else {
                    Attempt::Fail { status_code: code, error: refusal(status) }
                }
            }
            Err(error) => Attempt::Retry { status_code: 0, error: unreachable(&error, url, self.timeout) },
        }
    }
}

/// A receiver's refusal (a 4xx other than 408 and 429) in words a person can act on; not retried.
fn refusal(status: reqwest::StatusCode) -> String {
    let advice = match status.as_u16() {
        401 | 403 => "check the credentials or the secret the receiver expects",
        404 | 405 => "check the rule's webhook URL",
        _ => "check what the receiver accepts",
    };
    format!("the receiver refused the alert ({status}); it is not sent again on its own: {advice}")
}

/// Why a webhook could not be reached, in words that stay the same on every retry: a refused
/// connection, no answer in time, an address that cannot be found, a failed TLS handshake; the
/// error's own text otherwise.
fn unreachable(error: &reqwest::Error, url: &str, timeout: Duration) -> String {
    let place = reqwest::Url::parse(url)
        .ok()
        .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?)))
        .unwrap_or_else(|| "the receiver".to_owned());
    let chain = error_chain(error);
    let io_kind = io_error_kind(error);
    if error.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        format!("no answer from {place} within {} s; it is sent again", timeout.as_secs())
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        format!("connection refused by {place} (nothing listens on that port); it is sent again")
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        let host = place.rsplit_once(':').map_or(place.as_str(), |(host, _)| host);
        format!("the address {host} could not be found (name resolution failed); it is sent again")
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
        format!("the TLS handshake with {place} failed ({}); it is sent again", last_cause(error))
    } else {
        format!("{place} could not be reached: {}; it is sent again", last_cause(error))
    }
}

/// `error` and its causes, outermost first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// The kind of the I/O error among `error`'s causes, if there is one.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    causes(error).find_map(|cause| cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
}

/// The innermost cause of `error` (the one that says what happened).
fn last_cause(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error).last().map(ToString::to_string).unwrap_or_default()
}

/// An error with its causes, e.g. "error sending request: connection refused".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_timestamp_and_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let signed = signature(b"Jefe", 0, b"");
        assert_ne!(signed, signature(b"Jefe", 1, b""), "the timestamp is signed");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signed.starts_with("sha256=") && signed.len() == 7 + 64);
    }
}
