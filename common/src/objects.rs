//! Objects in an S3-compatible store (feature `objects`): the one module every service stores
//! images and clips through. Any S3 endpoint works: path-style (Garage, MinIO, the local stack) or
//! virtual-host style (AWS), plain HTTP on loopback or TLS (rustls, the system's CAs). The secret
//! key comes from the environment, never from a file.
//!
//! Writes are retried with the shared backoff ([`crate::retry`]) while the store is unreachable or
//! answers 5xx/429, for up to `retry_for_secs`: a store that is down for seconds loses nothing.
//! Reads are retried briefly and then fail as [`ObjectError::Unavailable`], so an API can answer
//! 503 at once. Keys are laid out by kind and day ([`media_key`]: `<kind>/<yyyy-mm-dd>/<stream>/<id>`)
//! so that retention deletes a whole day of one kind at once ([`ObjectStore::expire_days_before`]).
//! Every key is stored under the settings' `prefix`, so deployments (or tests) can share a bucket;
//! callers, and the keys the warehouse keeps, never see it.

use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rusty_s3::actions::{ListObjectsV2, S3Action as _};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use serde::{Deserialize, Serialize};

use sightline_schemas::v1::DetectionEvent;

use crate::config::Deployment;
use crate::http::Readiness;
use crate::retry::Backoff;
use crate::shutdown::Shutdown;

/// How long a signed request stays valid: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// The local stack's development secret (published: it protects nothing; production refuses it).
pub const DEVELOPMENT_SECRET: &str = "5c1a6e0b2f4d8c93a7e1b6d0f2c4a8e9b3d7f1a5c9e2b6d0a4f8c3e7b1d5a9f2";

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
    /// Prepended to every key (empty, or ending with `/`): several deployments, or tests, can share
    /// one bucket.
    pub prefix: String,
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
            prefix: String::new(),
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
    prefix: String,
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
        if !settings.prefix.is_empty() && !settings.prefix.ends_with('/') {
            return Err(ObjectError::Settings(format!("prefix {:?}: end it with '/'", settings.prefix)));
        }
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
            prefix: settings.prefix.clone(),
        })
    }

    /// `key` as stored, under the settings' prefix.
    fn stored(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// [`Self::new`], with [`watch`] keeping `readiness` in step with the store (as `need` says)
    /// until `shutdown`: how a service opens its store.
    pub fn watched(
        settings: &ObjectStoreSettings,
        deployment: Deployment,
        need: StoreNeed,
        readiness: &Readiness,
        shutdown: &Shutdown,
    ) -> Result<Self, ObjectError> {
        let store = Self::new(settings, deployment)?;
        tokio::spawn(watch(store.clone(), need, readiness.clone(), shutdown.clone()));
        Ok(store)
    }

    /// Stores `bytes` under `key`, replacing what was there; retried while the store is
    /// unavailable, for up to `retry_for_secs`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        let body = bytes::Bytes::from(bytes);
        let key = &self.stored(key);
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
        let key = &self.stored(key);
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
        let key = &self.stored(key);
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

    /// The clip stored in `folder` (docs/media.md) as one fragmented MP4: its init segment, then its
    /// media segments in order. `None` when the folder holds no init segment (no clip, or gone).
    /// A clip still being written reads as far as it is stored.
    pub async fn read_clip(&self, folder: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let Some(layout) = self.clip_layout(folder).await? else { return Ok(None) };
        match layout.len().checked_sub(1) {
            Some(last) => self.read_clip_range(&layout, 0, last).await,
            None => Ok(Some(Vec::new())),
        }
    }

    /// Where the pieces of the clip in `folder` are in its fragmented MP4, from one listing (no
    /// object is read). `None` when the folder holds no init segment.
    pub async fn clip_layout(&self, folder: &str) -> Result<Option<ClipLayout>, ObjectError> {
        let folder = folder.trim_end_matches('/');
        let listed = self.list_under(&format!("{folder}/"), None).await?.0;
        let init = format!("{folder}/{CLIP_INIT_SEGMENT}");
        let Some(init_size) = listed.iter().find(|(key, _)| key == &init).map(|(_, size)| *size) else {
            return Ok(None);
        };
        let mut segments: Vec<(String, u64)> = listed.into_iter().filter(|(key, _)| key.ends_with(".m4s")).collect();
        segments.sort();
        // A gap (a segment not stored yet, or lost): the ones after it cannot follow.
        let expected = (1..).map(|sequence| format!("{folder}/{}", clip_segment_name(sequence)));
        let segments = segments.into_iter().zip(expected).take_while(|((key, _), expected)| key == expected);
        let mut pieces = vec![(init, 0, init_size)];
        let mut offset = init_size;
        for ((key, size), _) in segments {
            pieces.push((key, offset, size));
            offset += size;
        }
        Ok(Some(ClipLayout { pieces }))
    }

    /// Bytes `first..=last` of the clip laid out as `layout`, reading only the pieces they cover.
    /// `None` when a piece is gone or changed since it was listed (the clip was deleted, or its
    /// init segment stored again when it was completed): list it again.
    pub async fn read_clip_range(
        &self,
        layout: &ClipLayout,
        first: u64,
        last: u64,
    ) -> Result<Option<Vec<u8>>, ObjectError> {
        let mut bytes = Vec::with_capacity(usize::try_from(last.saturating_sub(first) + 1).unwrap_or(0));
        for (key, offset, size) in &layout.pieces {
            let end = offset + size;
            if end <= first || *offset > last {
                continue;
            }
            let piece = match self.get(key).await? {
                Some(piece) if piece.len() as u64 == *size => piece,
                _ => return Ok(None),
            };
            let from = first.saturating_sub(*offset) as usize;
            let to = (last.min(end - 1) - offset) as usize;
            bytes.extend_from_slice(&piece[from..=to]);
        }
        Ok(Some(bytes))
    }

    /// Every key that starts with `prefix`, in the store's order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        Ok(self.list_under(prefix, None).await?.0.into_iter().map(|(key, _)| key).collect())
    }

    /// The folders right under `prefix` (which ends with `/`): each `prefix<name>/`, in the store's
    /// order.
    pub async fn folders(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        Ok(self.list_under(prefix, Some("/")).await?.1)
    }

    /// The keys under `prefix` with their sizes and, with a `delimiter`, the common prefixes
    /// (folders) too; both without the settings' prefix.
    async fn list_under(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<(Vec<(String, u64)>, Vec<String>), ObjectError> {
        let stored_prefix = self.stored(prefix);
        let (mut keys, mut folders) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retried("listing objects", READ_RETRY_FOR, || async {
                    let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
                    action.with_prefix(stored_prefix.as_str());
                    if let Some(delimiter) = delimiter {
                        action.with_delimiter(delimiter);
                    }
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
                            Err(error) => {
                                Attempt::Fail(listing_refused(format!("an answer that is not a listing: {error}")))
                            }
                        },
                        Err(error) => Attempt::Again(transport(error)),
                    }
                })
                .await?;
            // Listings come URL-encoded (`encoding-type=url`): keys are given back as stored.
            for object in page.contents {
                keys.push((self.unstored(&object.key)?, object.size));
            }
            for folder in page.common_prefixes {
                folders.push(self.unstored(&folder.prefix)?);
            }
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok((keys, folders)),
            }
        }
    }

    /// A key of a listing (URL-encoded, under the settings' prefix) as callers know it.
    fn unstored(&self, listed: &str) -> Result<String, ObjectError> {
        let key = percent_encoding::percent_decode_str(listed)
            .decode_utf8()
            .map_err(|e| listing_refused(format!("a key that is not UTF-8: {e}")))?;
        Ok(key.strip_prefix(self.prefix.as_str()).unwrap_or(&key).to_owned())
    }

    /// Deletes every key that starts with `prefix` (retention expires whole prefixes); how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, ObjectError> {
        let keys = self.list(prefix).await?;
        self.delete_all(&keys).await?;
        Ok(keys.len() as u64)
    }

    /// The days of `kind` the store holds objects of, oldest first.
    pub async fn days(&self, kind: MediaKind) -> Result<Vec<(time::Date, String)>, ObjectError> {
        let mut days: Vec<(time::Date, String)> = self
            .folders(&format!("{}/", kind.folder()))
            .await?
            .into_iter()
            .filter_map(|folder| {
                let day = folder.trim_end_matches('/').rsplit('/').next()?;
                Some((parse_day_folder(day)?, folder))
            })
            .collect();
        days.sort();
        Ok(days)
    }

    /// Deletes every object of `kind` of the days before `first_kept` (retention); how many.
    pub async fn expire_days_before(&self, kind: MediaKind, first_kept: time::Date) -> Result<u64, ObjectError> {
        let mut deleted = 0;
        for (day, folder) in self.days(kind).await? {
            if day >= first_kept {
                break;
            }
            deleted += self.delete_prefix(&folder).await?;
        }
        Ok(deleted)
    }

    /// Deletes `keys`, up to [`CONCURRENT_REQUESTS`] at a time.
    pub async fn delete_all(&self, keys: &[String]) -> Result<(), ObjectError> {
        use futures::{StreamExt as _, TryStreamExt as _};
        // The futures made beforehand: a stream that makes them in a closure is not `Send` for
        // every lifetime (rust-lang/rust#102211).
        let deletions: Vec<_> = keys.iter().map(|key| self.delete(key)).collect();
        futures::stream::iter(deletions).buffer_unordered(CONCURRENT_REQUESTS).try_collect().await
    }

    /// Whether the bucket answers (for `/readyz`).
    pub async fn check(&self) -> Result<(), ObjectError> {
        let url = self.bucket.head_bucket(Some(&self.credentials)).sign(SIGNED_FOR);
        let request = self.client.head(url).timeout(CHECK_TIMEOUT);
        let response = request.send().await.map_err(|e| ObjectError::Unavailable(transport(e)))?;
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

/// Requests a batch of writes or deletions sends at once.
pub const CONCURRENT_REQUESTS: usize = 16;

/// A listing that cannot be understood.
fn listing_refused(detail: String) -> ObjectError {
    ObjectError::Refused { action: "listing objects", status: 200, detail }
}

/// What an object is: the first part of its key, so each kind has its own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A report's best shot (the warehouse keeps its key).
    BestShot,
    /// A track's video clip.
    Clip,
    /// A watchlist person's enrolment picture.
    Picture,
    /// An alert's scene: the analysed frame when the alert was raised.
    Scene,
}

impl MediaKind {
    /// The folder its keys start with.
    pub fn folder(self) -> &'static str {
        match self {
            MediaKind::BestShot => "best-shots",
            MediaKind::Clip => "clips",
            MediaKind::Picture => "pictures",
            MediaKind::Scene => "scenes",
        }
    }
}

/// `day` as the folder of a key: `yyyy-mm-dd`.
pub fn day_folder(day: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// The day a folder of [`day_folder`] names.
fn parse_day_folder(folder: &str) -> Option<time::Date> {
    let mut parts = folder.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year, month, parts.next()?.parse().ok()?).ok()
}

/// What a stream id keeps as it is in a key: letters, digits, `-`, `_` and `.` (anything else,
/// `/` above all, is percent-encoded, so a stream is always one folder).
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The key of an object of `kind` about `stream_id`, captured at `capture_ms` (ms since the epoch,
/// UTC), named `name` (an id that is the same on every replay, so storing it again replaces it):
/// `<kind>/<yyyy-mm-dd>/<stream>/<name>`.
pub fn media_key(kind: MediaKind, capture_ms: i64, stream_id: &str, name: &str) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(capture_ms.div_euclid(1000))
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!("{}/{}/{}/{name}", kind.folder(), day_folder(day), utf8_percent_encode(stream_id, KEY_SEGMENT))
}

/// The object a report's best shot is stored as, and whether it is sealed: the detection's sealed
/// fields, encoded, as ingest sealed them, else its JPEG in clear (an event in clear). The writer
/// and the notifier store these same bytes under the same key ([`best_shot_key`]).
pub fn best_shot_object(detection: &DetectionEvent) -> Option<(Vec<u8>, bool)> {
    match (&detection.sealed, &detection.best_shot_jpeg) {
        (Some(sealed), _) => Some((prost::Message::encode_to_vec(sealed), true)),
        (None, Some(jpeg)) => Some((jpeg.clone(), false)),
        (None, None) => None,
    }
}

/// The content type a best shot is stored with: sealed fields are bytes, a JPEG in clear a JPEG.
pub fn best_shot_content_type(sealed: bool) -> &'static str {
    if sealed { "application/octet-stream" } else { "image/jpeg" }
}

/// The key of `detection`'s best shot: `best-shots/<day>/<stream>/<track>-<capture ms>`. Every
/// report of a track that carries the same best shot (the contract: the same capture time) names the
/// same object, so it is stored once however many reports repeat it (each report's copy is sealed
/// with a nonce of its own, and every copy opens to the same JPEG with the track's key).
pub fn best_shot_key(detection: &DetectionEvent) -> String {
    let name = format!("{}-{}", detection.track_id, detection.capture_time_ms);
    media_key(MediaKind::BestShot, detection.capture_time_ms, &detection.stream_id, &name)
}

/// Name of a clip's init segment in its folder (`DetectionEvent.clip_key`).
pub const CLIP_INIT_SEGMENT: &str = "init.mp4";

/// Name of a clip's box paths in its folder: each of its tracks' box in each analysed frame, as JSON
/// (`{"tracks": {"<track id>": [[t_ms, x, y, width, height], …]}}`, times from the clip's time 0,
/// boxes as fractions of the frame), stored when the clip is complete.
pub const CLIP_BOXES: &str = "boxes.json";

/// Where each piece of a stored clip sits in its fragmented MP4 ([`ObjectStore::clip_layout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipLayout {
    /// Each piece's key, first byte and size: the init segment, then the media segments in order.
    pieces: Vec<(String, u64, u64)>,
}

impl ClipLayout {
    /// The clip's length, bytes.
    pub fn len(&self) -> u64 {
        self.pieces.last().map_or(0, |(_, offset, size)| offset + size)
    }

    /// Whether the clip has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Name of a clip's media segment `sequence` (from 1) in its folder: `00001.m4s`…, so that the names
/// sort in the segments' order.
pub fn clip_segment_name(sequence: u32) -> String {
    format!("{sequence:05}.m4s")
}

/// The folder of a watchlist person's enrolment pictures (deleted with the person), or of a whole
/// list's without `person_id`: `pictures/<list>/[<person>/]`.
pub fn pictures_folder(list_id: uuid::Uuid, person_id: Option<uuid::Uuid>) -> String {
    match person_id {
        Some(person) => format!("{}/{list_id}/{person}/", MediaKind::Picture.folder()),
        None => format!("{}/{list_id}/", MediaKind::Picture.folder()),
    }
}

/// The readiness condition, or limitation, of [`watch`].
pub const STORE_CONDITION: &str = "object store";

/// How long a check waits for the store: a store that answers slower than this is not serving.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How often [`watch`] checks the bucket.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What the service cannot do while the store is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreNeed {
    /// It cannot make progress (a writer): not ready.
    Blocking,
    /// Only some answers need it (images of an API): ready, with the limitation named.
    Feature,
}

/// Keeps `readiness` in step with the store until `shutdown`: every [`CHECK_EVERY`] it checks the
/// bucket and, while that fails, says so under [`STORE_CONDITION`] as `need` says.
pub async fn watch(store: ObjectStore, need: StoreNeed, readiness: Readiness, mut shutdown: Shutdown) {
    loop {
        match (store.check().await, need) {
            (Ok(()), StoreNeed::Blocking) => readiness.clear(STORE_CONDITION),
            (Ok(()), StoreNeed::Feature) => readiness.available(STORE_CONDITION),
            (Err(error), StoreNeed::Blocking) => readiness.block(STORE_CONDITION, error.to_string()),
            (Err(error), StoreNeed::Feature) => readiness.unavailable(STORE_CONDITION, error.to_string()),
        }
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_by_kind_day_and_stream() {
        let key = media_key(MediaKind::BestShot, 1_765_065_600_123, "lobby/door 2", "e1");
        assert_eq!(key, "best-shots/2025-12-07/lobby%2Fdoor%202/e1");
        assert_eq!(media_key(MediaKind::Clip, 0, "cam-1_a.b", "t"), "clips/1970-01-01/cam-1_a.b/t");
        let day = time::Date::from_calendar_date(2026, time::Month::March, 4).expect("a day");
        assert_eq!(parse_day_folder(&day_folder(day)), Some(day));
        assert_eq!(parse_day_folder("2026-13-01"), None);
        assert_eq!(parse_day_folder("latest"), None);
    }

    #[test]
    fn reports_repeating_a_best_shot_name_one_object() {
        let report = |capture_time_ms: i64, report_sequence: u32| DetectionEvent {
            stream_id: "cam-1".into(),
            track_id: "t-1".into(),
            capture_time_ms,
            report_sequence,
            ..Default::default()
        };
        assert_eq!(best_shot_key(&report(1_765_065_600_123, 0)), "best-shots/2025-12-07/cam-1/t-1-1765065600123");
        assert_eq!(best_shot_key(&report(1_765_065_600_123, 0)), best_shot_key(&report(1_765_065_600_123, 3)));
        assert_ne!(best_shot_key(&report(1_765_065_600_123, 0)), best_shot_key(&report(1_765_065_601_000, 3)));
    }
}
