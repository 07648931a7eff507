//! Objects in an S3-compatible store (feature `objects`): the one module every service stores
//! images and clips through. Any S3 endpoint works: path-style (Garage, MinIO, the local stack) or
//! virtual-host style (AWS), plain HTTP on loopback or TLS (rustls, the system's CAs). The secret
//! key comes from the environment, never from a file.
//!
//! Writes are retried with the shared backoff ([`crate::retry`]) while the store is unreachable or
//! answers 5xx/429, for up to `retry_for_secs`: a store that is down for seconds loses nothing.
//! Reads are retried briefly and then fail as [`ObjectError::Unavailable`], so an API can answer
//! 503 at once. Keys are laid out by the callers so that retention can delete whole prefixes
//! ([`ObjectStore::delete_prefix`]).

use std::time::{Duration, Instant};

use rusty_s3::actions::{ListObjectsV2, S3Action as _};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use serde::{Deserialize, Serialize};

use crate::config::Deployment;
use crate::retry::Backoff;

/// How long a signed request stays valid: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// The local stack's development secret (published: it protects nothing; production refuses it).
const DEVELOPMENT_SECRET: &str = "5c1a6e0b2f4d8c93a7e1b6d0f2c4a8e9b3d7f1a5c9e2b6d0a4f8c3e7b1d5a9f2";

/// `[objects]`: where images and clips are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreSettings {
    /// The S3 endpoint: the local stack's Garage (`http://127.0.0.1:3900`), or for example
    /// `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// The region requests are signed for (`garage` for the local stack).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Path-style URLs (`endpoint/bucket/key`: Garage, MinIO) rather than virtual-host style
    /// (`bucket.endpoint/key`: AWS).
    pub path_style: bool,
    /// The access key id.
    pub access_key_id: String,
    /// The environment variable that holds the secret access key. Unset in development, the local
    /// stack's published development secret is used. Production refuses to start without it.
    pub secret_access_key_env: String,
    /// Longest wait for one request, ms.
    pub timeout_ms: u64,
    /// How long a write keeps retrying while the store cannot take it, seconds.
    pub retry_for_secs: u64,
}

impl Default for ObjectStoreSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            bucket: "sightline".into(),
            path_style: true,
            access_key_id: "GK5e1a7c0d9b3f2e4a6c8d0b1f".into(),
            secret_access_key_env: "SIGHTLINE_S3_SECRET_ACCESS_KEY".into(),
            timeout_ms: 10_000,
            retry_for_secs: 120,
        }
    }
}

/// Why an object could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The settings cannot work (a bad endpoint, a missing secret in production).
    #[error("object store settings: {0}")]
    Settings(String),
    /// The store did not answer, or answered 5xx or 429, for as long as the request was retried.
    #[error("the object store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (4xx other than 404 and 429): retrying will not help.
    #[error("the object store refused {action}: HTTP {status}: {detail}")]
    Refused {
        /// What was asked.
        action: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the store's answer.
        detail: String,
    },
}

/// A bucket of an S3-compatible store.
#[derive(Clone)]
pub struct ObjectStore {
    bucket: Bucket,
    credentials: Credentials,
    client: reqwest::Client,
    retry_for: Duration,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore").field("bucket", &self.bucket.name()).finish_non_exhaustive()
    }
}

/// One attempt's outcome: done, worth another try, or not.
enum Attempt<T> {
    Done(T),
    Again(String),
    Fail(ObjectError),
}

impl ObjectStore {
    /// The store `settings` name. In `deployment` production the secret key must be set in the
    /// environment.
    pub fn new(settings: &ObjectStoreSettings, deployment: Deployment) -> Result<Self, ObjectError> {
        let endpoint = settings
            .endpoint
            .parse()
            .map_err(|e| ObjectError::Settings(format!("endpoint {:?}: {e}", settings.endpoint)))?;
        let style = if settings.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, settings.bucket.clone(), settings.region.clone())
            .map_err(|e| ObjectError::Settings(format!("bucket {:?}: {e}", settings.bucket)))?;
        let secret = match std::env::var(&settings.secret_access_key_env) {
            Ok(secret) if !secret.is_empty() => secret,
            _ if deployment == Deployment::Production => {
                return Err(ObjectError::Settings(format!(
                    "the secret access key: set {} (production never uses the development secret)",
                    settings.secret_access_key_env
                )));
            }
            _ => DEVELOPMENT_SECRET.to_owned(),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build()
            .map_err(|e| ObjectError::Settings(format!("the HTTP client: {e}")))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(settings.access_key_id.clone(), secret),
            client,
            retry_for: Duration::from_secs(settings.retry_for_secs),
        })
    }

    /// Stores `bytes` under `key`, replacing what was there; retried while the store is
    /// unavailable, for up to `retry_for_secs`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        let body = bytes::Bytes::from(bytes);
        self.retried("storing an object", self.retry_for, || async {
            let url = self.bucket.put_object(Some(&self.credentials), key).sign(SIGNED_FOR);
            let sent = self.client.put(url).header("content-type", content_type).body(body.clone()).send().await;
            match sent {
                Ok(response) => match classify("storing an object", response).await {
                    Ok(_) => Attempt::Done(()),
                    Err(failure) => failure.into(),
                },
                Err(error) => Attempt::Again(transport(error)),
            }
        })
        .await
    }

    /// The bytes stored under `key`, `None` if there are none. Retried for a few seconds at most.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        self.retried("reading an object", READ_RETRY_FOR, || async {
            let url = self.bucket.get_object(Some(&self.credentials), key).sign(SIGNED_FOR);
            let response = match self.client.get(url).send().await {
                Ok(response) => response,
                Err(error) => return Attempt::Again(transport(error)),
            };
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Attempt::Done(None);
            }
            match classify("reading an object", response).await {
                Ok(response) => match response.bytes().await {
                    Ok(bytes) => Attempt::Done(Some(bytes.to_vec())),
                    Err(error) => Attempt::Again(transport(error)),
                },
                Err(failure) => failure.into(),
            }
        })
        .await
    }

    /// Deletes `key` (nothing happens if it is not there); retried like [`Self::put`].
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.retried("deleting an object", self.retry_for, || async {
            let url = self.bucket.delete_object(Some(&self.credentials), key).sign(SIGNED_FOR);
            match self.client.delete(url).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => Attempt::Done(()),
                Ok(response) => match classify("deleting an object", response).await {
                    Ok(_) => Attempt::Done(()),
                    Err(failure) => failure.into(),
                },
                Err(error) => Attempt::Again(transport(error)),
            }
        })
        .await
    }

    /// Every key that starts with `prefix`, in the store's order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retried("listing objects", READ_RETRY_FOR, || async {
                    let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
                    action.with_prefix(prefix);
                    if let Some(token) = &token {
                        action.with_continuation_token(token.clone());
                    }
                    let response = match self.client.get(action.sign(SIGNED_FOR)).send().await {
                        Ok(response) => response,
                        Err(error) => return Attempt::Again(transport(error)),
                    };
                    let response = match classify("listing objects", response).await {
                        Ok(response) => response,
                        Err(failure) => return failure.into(),
                    };
                    match response.text().await {
                        Ok(text) => match ListObjectsV2::parse_response(&text) {
                            Ok(page) => Attempt::Done(page),
                            Err(error) => Attempt::Fail(ObjectError::Refused {
                                action: "listing objects",
                                status: 200,
                                detail: format!("an answer that is not a listing: {error}"),
                            }),
                        },
                        Err(error) => Attempt::Again(transport(error)),
                    }
                })
                .await?;
            // Listings come URL-encoded (`encoding-type=url`): keys are given back as stored.
            for object in page.contents {
                let key = percent_encoding::percent_decode_str(&object.key).decode_utf8().map_err(|e| {
                    ObjectError::Refused {
                        action: "listing objects",
                        status: 200,
                        detail: format!("a key that is not UTF-8: {e}"),
                    }
                })?;
                keys.push(key.into_owned());
            }
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Deletes every key that starts with `prefix` (retention expires whole prefixes); how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, ObjectError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len() as u64)
    }

    /// Whether the bucket answers (for `/readyz`).
    pub async fn check(&self) -> Result<(), ObjectError> {
        let url = self.bucket.head_bucket(Some(&self.credentials)).sign(SIGNED_FOR);
        let response = self.client.head(url).send().await.map_err(|e| ObjectError::Unavailable(transport(e)))?;
        match classify("checking the bucket", response).await {
            Ok(_) => Ok(()),
            Err(Failure::Fail(error)) => Err(error),
            Err(Failure::Again(reason)) => Err(ObjectError::Unavailable(reason)),
        }
    }

    /// Runs `attempt` until it is done or fails for good, retrying with the shared backoff for up
    /// to `limit`.
    async fn retried<T, F, Fut>(&self, action: &'static str, limit: Duration, mut attempt: F) -> Result<T, ObjectError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let deadline = Instant::now() + limit;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match attempt().await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Again(reason) => {
                    let delay = backoff.next_delay();
                    if Instant::now() + delay > deadline {
                        return Err(ObjectError::Unavailable(format!("{action}: {reason}")));
                    }
                    tracing::warn!(action, %reason, "the object store did not take the request; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// A transport error in words, without the request's URL (a signed URL grants access while valid).
fn transport(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

/// How long reads are retried: an API answers 503 rather than keeping a person waiting.
const READ_RETRY_FOR: Duration = Duration::from_secs(3);

/// A response that is not a success: worth another try, or not.
enum Failure {
    Again(String),
    Fail(ObjectError),
}

impl<T> From<Failure> for Attempt<T> {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Again(reason) => Attempt::Again(reason),
            Failure::Fail(error) => Attempt::Fail(error),
        }
    }
}

/// A success as the response; a 5xx or 429 as worth another try; any other status as a failure.
async fn classify(action: &'static str, response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let detail: String = response.text().await.unwrap_or_default().chars().take(300).collect();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::Again(format!("HTTP {status}: {detail}")));
    }
    Err(Failure::Fail(ObjectError::Refused { action, status: status.as_u16(), detail }))
}
