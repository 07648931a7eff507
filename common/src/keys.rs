//! Data keys of tracks and the sealing of biometric fields (docs/privacy.md, section 3).
//!
//! Every track gets random 256-bit data keys ([`DataKey`]): ingest one for its best shots
//! ([`KeyClass::Image`]), enrich one for its descriptors and identities ([`KeyClass::Template`]).
//! They are stored in PostgreSQL `track_keys`, wrapped with AES-256-GCM by the deployment's
//! key-encryption key ([`Kek`]), which never enters the database. Producers seal with a [`Sealer`];
//! consumers open with a [`KeyRing`], which tells a destroyed key (the data is erased or expired:
//! [`Opened::Erased`]) from one it could not look up (retry later).

use prometheus_client::metrics::counter::Counter;
use prost::Message as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use sightline_schemas::v1::{ProtectedFields, SealedFields};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::http::Readiness;
use crate::retry::Backoff;
use crate::shutdown::Shutdown;

/// Why a key could not be made, stored, fetched or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// PostgreSQL failed.
    #[error("track keys in postgres: {0}")]
    Store(#[from] sqlx::Error),
    /// The system's random source failed.
    #[error("the system's random source failed")]
    Random,
    /// Encryption or decryption failed (a wrong key, or altered bytes).
    #[error("{0}")]
    Crypto(&'static str),
}

/// One day in `track_keys`: days since the Unix epoch (UTC) of `time_ms`.
pub fn key_day(time_ms: i64) -> u32 {
    u32::try_from(time_ms.div_euclid(86_400_000)).unwrap_or(0)
}

/// The name of the partition of `track_keys` holding `day`, e.g. `track_keys_20261206`.
pub fn partition_name(day: u32) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(i64::from(day));
    format!("track_keys_{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day())
}

/// The associated data of a track's sealed fields: a ciphertext moved to another track does not open.
pub fn track_aad(stream_id: &str, track_id: &str) -> Vec<u8> {
    format!("{stream_id}/{track_id}").into_bytes()
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Random)?;
    Ok(bytes)
}

fn aes_key(bytes: &[u8; 32]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, bytes).map(LessSafeKey::new).map_err(|_| KeyError::Crypto("bad key length"))
}

/// `plain` sealed under `key`: a random nonce and the ciphertext with its tag.
fn seal_bytes(key: &LessSafeKey, mut plain: Vec<u8>, aad: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), KeyError> {
    let nonce = random::<NONCE_LEN>()?;
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut plain)
        .map_err(|_| KeyError::Crypto("sealing failed"))?;
    Ok((nonce, plain))
}

fn open_bytes(key: &LessSafeKey, nonce: &[u8], mut sealed: Vec<u8>, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Crypto("the nonce is not 12 bytes"))?;
    let length = key
        .open_in_place(nonce, Aad::from(aad), &mut sealed)
        .map_err(|_| KeyError::Crypto("the sealed fields do not open with their key (altered or moved)"))?
        .len();
    sealed.truncate(length);
    Ok(sealed)
}

/// The deployment's key-encryption key: wraps and unwraps data keys.
pub struct Kek {
    key: LessSafeKey,
    id: String,
}

impl Kek {
    /// The key from its 32 bytes ([`crate::privacy::PrivacySettings::kek_bytes`]).
    pub fn new(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { key: aes_key(bytes)?, id })
    }

    /// The key's id as stored beside what it wrapped (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key_id: Uuid, dek: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        let (nonce, mut sealed) = seal_bytes(&self.key, dek.to_vec(), key_id.as_bytes())?;
        let mut wrapped = nonce.to_vec();
        wrapped.append(&mut sealed);
        Ok(wrapped)
    }

    fn unwrap(&self, key_id: Uuid, wrapped: &[u8]) -> Result<[u8; 32], KeyError> {
        if wrapped.len() < NONCE_LEN {
            return Err(KeyError::Crypto("a wrapped key is too short"));
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let plain = open_bytes(&self.key, nonce, sealed.to_vec(), key_id.as_bytes())?;
        plain.try_into().map_err(|_| KeyError::Crypto("a wrapped key is not 32 bytes"))
    }
}

/// What a data key seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Best shots (ingest).
    Image,
    /// Descriptors and identities (enrich; alerts reuse the key of the event that raised them).
    Template,
}

impl KeyClass {
    /// Its name in `track_keys.class`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyClass::Image => "image",
            KeyClass::Template => "template",
        }
    }
}

/// A track's data key, unwrapped.
#[derive(Clone)]
pub struct DataKey {
    /// Its id in `track_keys`.
    pub id: Uuid,
    /// Its partition's day.
    pub day: u32,
    key: Arc<LessSafeKey>,
}

impl DataKey {
    /// `fields` sealed for the track whose associated data is `aad` ([`track_aad`]).
    pub fn seal(&self, fields: &ProtectedFields, aad: &[u8]) -> Result<SealedFields, KeyError> {
        let (nonce, ciphertext) = seal_bytes(&self.key, fields.encode_to_vec(), aad)?;
        Ok(SealedFields { key_id: self.id.to_string(), key_day: self.day, nonce: nonce.to_vec(), ciphertext })
    }

    /// The fields of `sealed`, opened for the track whose associated data is `aad`.
    pub(crate) fn open(&self, sealed: &SealedFields, aad: &[u8]) -> Result<ProtectedFields, String> {
        let plain = open_bytes(&self.key, &sealed.nonce, sealed.ciphertext.clone(), aad).map_err(|e| e.to_string())?;
        ProtectedFields::decode(plain.as_slice()).map_err(|e| format!("the sealed fields do not decode: {e}"))
    }
}

/// `track_keys` in PostgreSQL, through the deployment's key-encryption key.
pub struct KeyStore {
    pool: PgPool,
    kek: Kek,
    /// Days whose partition is known to exist.
    partitions: Mutex<HashSet<u32>>,
}

impl KeyStore {
    /// The store on `pool` (migrated) with `kek`.
    pub fn new(pool: PgPool, kek: Kek) -> Self {
        Self { pool, kek, partitions: Mutex::new(HashSet::new()) }
    }

    /// A new key of `class` for the track, stored (wrapped) before it is returned: a field sealed
    /// with it can always be opened until the key is destroyed.
    pub async fn create(
        &self,
        stream_id: &str,
        track_id: &str,
        class: KeyClass,
        day: u32,
    ) -> Result<DataKey, KeyError> {
        let mut keys = self.create_many(&[(stream_id, track_id, day)], class).await?;
        keys.pop().ok_or(KeyError::Crypto("no key was made"))
    }

    /// New keys of `class` for `tracks` (stream id, track id, day), in their order, stored (wrapped)
    /// in one statement, one commit, before they are returned.
    pub async fn create_many(&self, tracks: &[(&str, &str, u32)], class: KeyClass) -> Result<Vec<DataKey>, KeyError> {
        if tracks.is_empty() {
            return Ok(Vec::new());
        }
        let (mut keys, mut wrapped) = (Vec::with_capacity(tracks.len()), Vec::with_capacity(tracks.len()));
        for &(_, _, day) in tracks {
            let id = Uuid::new_v4();
            let dek = random::<32>()?;
            wrapped.push(self.kek.wrap(id, &dek)?);
            keys.push(DataKey { id, day, key: Arc::new(aes_key(&dek)?) });
        }
        let days: Vec<i32> = keys.iter().map(|k| k.day as i32).collect();
        let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
        let streams: Vec<&str> = tracks.iter().map(|t| t.0).collect();
        let track_ids: Vec<&str> = tracks.iter().map(|t| t.1).collect();
        let partition_days: HashSet<u32> = keys.iter().map(|k| k.day).collect();
        for attempt in 0..2 {
            for &day in &partition_days {
                self.ensure_partition(day).await?;
            }
            let inserted = sqlx::query(
                "INSERT INTO track_keys (day, key_id, stream_id, track_id, class, wrapped_dek, kek_id) \
                 SELECT day, key_id, stream_id, track_id, $5, wrapped_dek, $6 \
                 FROM unnest($1::int[], $2::uuid[], $3::text[], $4::text[], $7::bytea[]) \
                   AS new(day, key_id, stream_id, track_id, wrapped_dek)",
            )
            .bind(&days)
            .bind(&ids)
            .bind(&streams)
            .bind(&track_ids)
            .bind(class.as_str())
            .bind(self.kek.id())
            .bind(&wrapped)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => break,
                // A partition dropped (by retention) since it was seen: make it again, once.
                Err(sqlx::Error::Database(e)) if attempt == 0 && e.code().as_deref() == Some("23514") => {
                    if let Ok(mut known) = self.partitions.lock() {
                        known.retain(|day| !partition_days.contains(day));
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(keys)
    }

    async fn ensure_partition(&self, day: u32) -> Result<(), KeyError> {
        if self.partitions.lock().is_ok_and(|known| known.contains(&day)) {
            return Ok(());
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF track_keys FOR VALUES FROM ({day}) TO ({})",
            partition_name(day),
            u64::from(day) + 1
        );
        match sqlx::query(&sql).execute(&self.pool).await {
            Ok(_) => {}
            // Another service created it at the same moment.
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P07" | "23505")) => {}
            Err(error) => return Err(error.into()),
        }
        if let Ok(mut known) = self.partitions.lock() {
            known.insert(day);
        }
        Ok(())
    }

    /// Marks the keys of `tracks` (stream id, track id) as of tracks that matched a watchlist (kept
    /// for the matched periods), in one statement.
    pub async fn mark_matched(&self, tracks: &[(&str, &str)]) -> Result<(), KeyError> {
        if tracks.is_empty() {
            return Ok(());
        }
        let streams: Vec<&str> = tracks.iter().map(|t| t.0).collect();
        let track_ids: Vec<&str> = tracks.iter().map(|t| t.1).collect();
        sqlx::query(
            "UPDATE track_keys k SET matched = true FROM unnest($1::text[], $2::text[]) AS m(stream_id, track_id) \
             WHERE k.stream_id = m.stream_id AND k.track_id = m.track_id AND NOT k.matched",
        )
        .bind(&streams)
        .bind(&track_ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Destroys `track`'s keys when none of them is marked matched; how many went.
    pub async fn destroy_unmatched(&self, stream_id: &str, track_id: &str) -> Result<u64, KeyError> {
        let deleted = sqlx::query(
            "DELETE FROM track_keys WHERE stream_id = $1 AND track_id = $2 AND NOT EXISTS \
             (SELECT 1 FROM track_keys m WHERE m.stream_id = $1 AND m.track_id = $2 AND m.matched)",
        )
        .bind(stream_id)
        .bind(track_id)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    /// The keys of `wanted` (day, id) that exist, unwrapped.
    pub async fn fetch(&self, wanted: &[(u32, Uuid)]) -> Result<HashMap<Uuid, DataKey>, KeyError> {
        let days: Vec<i32> = wanted.iter().map(|(day, _)| *day as i32).collect();
        let ids: Vec<Uuid> = wanted.iter().map(|(_, id)| *id).collect();
        let rows: Vec<(i32, Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT k.day, k.key_id, k.wrapped_dek FROM track_keys k \
             JOIN unnest($1::int[], $2::uuid[]) AS w(day, key_id) ON k.day = w.day AND k.key_id = w.key_id",
        )
        .bind(&days)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut keys = HashMap::with_capacity(rows.len());
        for (day, id, wrapped) in rows {
            let dek = self.kek.unwrap(id, &wrapped)?;
            keys.insert(id, DataKey { id, day: day as u32, key: Arc::new(aes_key(&dek)?) });
        }
        Ok(keys)
    }
}

/// A track some events of a batch are sealed for ([`Sealer::prepare`]).
#[derive(Debug, Clone, Copy)]
pub struct TrackToSeal<'a> {
    /// Its stream.
    pub stream_id: &'a str,
    /// The track.
    pub track_id: &'a str,
    /// The body track it is part of, or empty.
    pub parent_track_id: &'a str,
    /// When it was first seen, ms: chooses its key's day.
    pub first_seen_ms: i64,
    /// Whether it matched a watchlist (its keys, and its parent's, are then kept longer).
    pub matched: bool,
}

/// A producer's keys of the tracks it is reporting, created on a track's first sealed field.
pub struct Sealer {
    store: Arc<KeyStore>,
    class: KeyClass,
    /// Each live track's key, and whether the track is marked matched.
    live: Mutex<HashMap<(String, String), (DataKey, bool)>>,
}

/// Live tracks a [`Sealer`] keeps keys for at most; beyond, it forgets them all (a track seen again
/// gets a new key, which is as erasable as the first).
const LIVE_TRACKS_MAX: usize = 100_000;

impl Sealer {
    /// A sealer of `class` keys in `store`.
    pub fn new(store: Arc<KeyStore>, class: KeyClass) -> Self {
        Self { store, class, live: Mutex::new(HashMap::new()) }
    }

    /// The track's key, created (and stored) on its first use. `first_seen_ms` chooses its day.
    pub async fn key(&self, stream_id: &str, track_id: &str, first_seen_ms: i64) -> Result<DataKey, KeyError> {
        let track = (stream_id.to_owned(), track_id.to_owned());
        if let Some((key, _)) = self.live.lock().ok().and_then(|live| live.get(&track).cloned()) {
            return Ok(key);
        }
        let key = self.store.create(stream_id, track_id, self.class, key_day(first_seen_ms)).await?;
        if let Ok(mut live) = self.live.lock() {
            if live.len() >= LIVE_TRACKS_MAX {
                live.clear();
            }
            live.insert(track, (key.clone(), false));
        }
        Ok(key)
    }

    /// Marks the track (and the body it is part of, `parent_track_id` when not empty) matched, once
    /// per track: its keys are then kept for the matched periods. Call after [`Self::key`].
    pub async fn mark_matched(&self, stream_id: &str, track_id: &str, parent_track_id: &str) -> Result<(), KeyError> {
        let track = (stream_id.to_owned(), track_id.to_owned());
        if self.live.lock().ok().and_then(|live| live.get(&track).map(|(_, matched)| *matched)).unwrap_or(false) {
            return Ok(());
        }
        let tracks: Vec<(&str, &str)> =
            [track_id, parent_track_id].into_iter().filter(|t| !t.is_empty()).map(|t| (stream_id, t)).collect();
        self.store.mark_matched(&tracks).await?;
        if let Ok(mut live) = self.live.lock()
            && let Some(entry) = live.get_mut(&track)
        {
            entry.1 = true;
        }
        Ok(())
    }

    /// Makes ready what sealing the events of `tracks` needs, in two statements at most instead of
    /// one or two per track: the keys of the tracks that have none yet, made in one (a batch of
    /// reports of new tracks costs one commit), and the marks of the matched ones not yet marked in
    /// one more. [`Self::key`] and [`Self::mark_matched`] then find them done.
    pub async fn prepare(&self, tracks: &[TrackToSeal<'_>]) -> Result<(), KeyError> {
        let (mut new, mut to_mark) = (Vec::new(), Vec::new());
        {
            let Ok(live) = self.live.lock() else { return Ok(()) };
            let mut seen = HashSet::new();
            for track in tracks {
                if !seen.insert((track.stream_id, track.track_id)) {
                    continue;
                }
                let held = live.get(&(track.stream_id.to_owned(), track.track_id.to_owned()));
                if held.is_none() {
                    new.push((track.stream_id, track.track_id, key_day(track.first_seen_ms)));
                }
                if track.matched && !held.is_some_and(|(_, marked)| *marked) {
                    to_mark.push(*track);
                }
            }
        }
        let made = self.store.create_many(&new, self.class).await?;
        if let Ok(mut live) = self.live.lock() {
            if live.len() + made.len() > LIVE_TRACKS_MAX {
                live.clear();
            }
            for ((stream_id, track_id, _), key) in new.into_iter().zip(made) {
                live.insert((stream_id.to_owned(), track_id.to_owned()), (key, false));
            }
        }
        let marks: Vec<(&str, &str)> = to_mark
            .iter()
            .flat_map(|t| {
                [t.track_id, t.parent_track_id].into_iter().filter(|id| !id.is_empty()).map(|id| (t.stream_id, id))
            })
            .collect();
        self.store.mark_matched(&marks).await?;
        if let Ok(mut live) = self.live.lock() {
            for track in to_mark {
                if let Some(entry) = live.get_mut(&(track.stream_id.to_owned(), track.track_id.to_owned())) {
                    entry.1 = true;
                }
            }
        }
        Ok(())
    }

    /// Forgets the track's key (its last report is sealed).
    pub fn forget(&self, stream_id: &str, track_id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&(stream_id.to_owned(), track_id.to_owned()));
        }
    }

    /// Destroys every key (any class) of a track that ended without matching a watchlist, unless a
    /// key of it is marked matched: privacy by default, where a stream keeps such faces as counts
    /// only. How many keys went.
    pub async fn destroy_unmatched(&self, stream_id: &str, track_id: &str) -> Result<u64, KeyError> {
        self.forget(stream_id, track_id);
        self.store.destroy_unmatched(stream_id, track_id).await
    }
}

/// What opening sealed fields gave.
#[derive(Debug)]
pub enum Opened {
    /// The fields in clear.
    Clear(Box<ProtectedFields>),
    /// The key is destroyed: the fields are erased or expired, for good.
    Erased,
    /// The bytes do not open with their key or do not decode: a poison message.
    Invalid(String),
    /// The key was not loaded ([`KeyRing::load`] first): try again.
    Unavailable,
}

/// The state of a sealed part's key in a [`KeyRing`] ([`KeyRing::state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// Loaded: the part opens (unless altered).
    Held,
    /// Destroyed (erased or expired): the part never opens again.
    Destroyed,
    /// Not loaded: load it first (never take the part for erased).
    Unavailable,
    /// The part names no valid key.
    Invalid(String),
}

struct Cached {
    key: Option<DataKey>,
    at: Instant,
}

/// A consumer's keys: loaded in one query per batch, kept for a short while.
pub struct KeyRing {
    store: Arc<KeyStore>,
    ttl: Duration,
    cache: Mutex<HashMap<Uuid, Cached>>,
}

/// The keys `(day, id)` that `sealed` name (a malformed id names none: opening says why).
fn key_ids<'a>(sealed: impl IntoIterator<Item = &'a SealedFields>) -> impl Iterator<Item = (u32, Uuid)> {
    sealed.into_iter().filter_map(|s| Uuid::parse_str(&s.key_id).ok().map(|id| (s.key_day, id)))
}

/// The readiness condition of a service that cannot read track keys.
pub const TRACK_KEYS: &str = "track_keys";

/// Runs `operation` on track keys until it succeeds, with backoff (PostgreSQL down: data is never
/// taken for erased, nothing is produced unsealed), each failure counted in `errors` and, with
/// `readiness`, the service not ready meanwhile (condition [`TRACK_KEYS`]); `None` on shutdown first.
pub async fn until_done<T, F, Fut>(
    shutdown: &Shutdown,
    readiness: Option<&Readiness>,
    errors: &Counter,
    mut operation: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, KeyError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut shutdown = shutdown.clone();
    loop {
        match operation().await {
            Ok(value) => {
                if let Some(readiness) = readiness {
                    readiness.clear(TRACK_KEYS);
                }
                return Some(value);
            }
            Err(error) => {
                errors.inc();
                if let Some(readiness) = readiness {
                    readiness.block(TRACK_KEYS, format!("cannot read track keys: {error}"));
                }
                tracing::warn!(%error, "track keys unavailable; retrying");
            }
        }
        if !backoff.pause(&mut shutdown).await {
            return None;
        }
    }
}

/// Keys a [`KeyRing`] keeps at most.
const RING_MAX: usize = 200_000;

impl KeyRing {
    /// A ring over `store` keeping keys (and their absence) for `ttl`.
    pub fn new(store: Arc<KeyStore>, ttl: Duration) -> Self {
        Self { store, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// Loads the keys of `sealed` not held (or held too long) in one query. An error leaves them
    /// unavailable: the caller retries, it never takes the data for erased.
    pub async fn load<'a>(&self, sealed: impl IntoIterator<Item = &'a SealedFields>) -> Result<(), KeyError> {
        self.load_ids(key_ids(sealed)).await
    }

    /// Loads the keys `(day, id)` not held (or held too long) in one query.
    async fn load_ids(&self, ids: impl IntoIterator<Item = (u32, Uuid)>) -> Result<(), KeyError> {
        let now = Instant::now();
        let mut wanted: Vec<(u32, Uuid)> = {
            let Ok(cache) = self.cache.lock() else { return Ok(()) };
            ids.into_iter()
                .filter(|(_, id)| cache.get(id).is_none_or(|c| now.duration_since(c.at) > self.ttl))
                .collect()
        };
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut found = self.store.fetch(&wanted).await?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() + wanted.len() > RING_MAX {
                cache.retain(|_, c| now.duration_since(c.at) <= self.ttl);
                if cache.len() + wanted.len() > RING_MAX {
                    cache.clear();
                }
            }
            for (_, id) in wanted {
                cache.insert(id, Cached { key: found.remove(&id), at: now });
            }
        }
        Ok(())
    }

    /// [`Self::load`], retried by [`until_done`] with `readiness`; `false` on shutdown first.
    pub async fn load_until_done<'a>(
        &self,
        sealed: impl IntoIterator<Item = &'a SealedFields>,
        shutdown: &Shutdown,
        readiness: &Readiness,
        errors: &Counter,
    ) -> bool {
        let ids: Vec<(u32, Uuid)> = key_ids(sealed).collect();
        until_done(shutdown, Some(readiness), errors, || self.load_ids(ids.iter().copied())).await.is_some()
    }

    /// The ring's entry for the key of `sealed`: `None` when not loaded, `Some(None)` when destroyed;
    /// an error when `sealed` names no valid key.
    fn cached(&self, sealed: &SealedFields) -> Result<Option<Option<DataKey>>, String> {
        let id = Uuid::parse_str(&sealed.key_id)
            .map_err(|_| format!("sealed fields name key {:?}, not a UUID", sealed.key_id))?;
        Ok(self.cache.lock().ok().and_then(|cache| cache.get(&id).map(|cached| cached.key.clone())))
    }

    /// Opens `sealed` (of the track whose associated data is `aad`) with a loaded key.
    pub fn open(&self, sealed: &SealedFields, aad: &[u8]) -> Opened {
        match self.cached(sealed) {
            Err(reason) => Opened::Invalid(reason),
            Ok(None) => Opened::Unavailable,
            Ok(Some(None)) => Opened::Erased,
            Ok(Some(Some(key))) => match key.open(sealed, aad) {
                Ok(fields) => Opened::Clear(Box::new(fields)),
                Err(reason) => Opened::Invalid(reason),
            },
        }
    }

    /// Whether the key of `sealed` is held, destroyed or not loaded, without opening anything: a
    /// consumer that passes sealed fields on as they are (the writer lands best shots sealed) checks
    /// only that they can still be opened.
    pub fn state(&self, sealed: &SealedFields) -> KeyState {
        match self.cached(sealed) {
            Err(reason) => KeyState::Invalid(reason),
            Ok(None) => KeyState::Unavailable,
            Ok(Some(None)) => KeyState::Destroyed,
            Ok(Some(Some(_))) => KeyState::Held,
        }
    }

    /// The key `id` of `day`, to seal more fields of its track (an alert with the key of the event
    /// that raised it): loaded if needed, `None` when it is destroyed.
    pub async fn key(&self, day: u32, id: Uuid) -> Result<Option<DataKey>, KeyError> {
        self.load_ids([(day, id)]).await?;
        Ok(self.cache.lock().ok().and_then(|cache| cache.get(&id).and_then(|c| c.key.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_wrap_and_fields_seal_for_their_track_only() {
        let kek = Kek::new(&[7; 32]).expect("kek");
        let id = Uuid::new_v4();
        let dek = [9u8; 32];
        let wrapped = kek.wrap(id, &dek).expect("wrap");
        assert_eq!(kek.unwrap(id, &wrapped).expect("unwrap"), dek);
        assert!(kek.unwrap(Uuid::new_v4(), &wrapped).is_err(), "a wrapped key moved to another id");
        assert!(Kek::new(&[8; 32]).expect("kek").unwrap(id, &wrapped).is_err(), "another KEK");

        let key = DataKey { id, day: 20_000, key: Arc::new(aes_key(&dek).expect("key")) };
        let fields = ProtectedFields { best_shot_jpeg: Some(vec![0xff, 0xd8, 0xff, 1, 2, 3]), ..Default::default() };
        let sealed = key.seal(&fields, &track_aad("cam", "t1")).expect("seal");
        assert!(!sealed.ciphertext.windows(3).any(|w| w == [0xff, 0xd8, 0xff]));
        assert_eq!(key.open(&sealed, &track_aad("cam", "t1")).expect("open"), fields);
        assert!(key.open(&sealed, &track_aad("cam", "t2")).is_err(), "moved to another track");
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(key.open(&altered, &track_aad("cam", "t1")).is_err());
    }

    #[test]
    fn days_and_partitions() {
        assert_eq!(key_day(0), 0);
        assert_eq!(key_day(86_400_000 * 3 + 5), 3);
        assert_eq!(key_day(-5), 0);
        assert_eq!(partition_name(key_day(1_796_601_600_000)), "track_keys_20261207");
    }
}
