//! Erasure of a person or of tracks (docs/privacy.md, section 3): admins name a watchlist person,
//! tracks (`stream_id/track_id`, e.g. those a face search by photo found), or both; a preview counts
//! what would go, per store; the erasure then
//!
//! 1. destroys the tracks' keys in `track_keys` (every copy of their best shots, descriptors and
//!    matches on the Kafka topics, the dead-letter topic and any replay becomes unreadable, and a
//!    `writer rebuild` lands them without those fields);
//! 2. deletes the copies: the best shots' objects in the object store, in ClickHouse the rows of
//!    best shots, descriptors, matches and identifications (mutations; the reports and tracks stay,
//!    emptied of them, so counts stay right), in PostgreSQL the alerts of those tracks or of the person (deliveries, desk log and
//!    scenes with them) and the person's enrolment (pictures and descriptors);
//! 3. records the receipt in the audit log, and runs the ClickHouse mutations once more after
//!    `privacy.key_cache_secs`, for what a service that still held a key landed meanwhile.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use sightline_common::audit::{self, Entry};
use sightline_common::auth::Principal;
use sightline_common::objects::{ObjectError, ObjectStore, pictures_folder};
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError};
use sightline_schemas::queries;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// What to erase. At least one of the two.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// A watchlist person: their enrolment, their alerts, and every track they were matched on with
    /// the body tracks those faces were part of.
    #[serde(default)]
    pub person_id: Option<Uuid>,
    /// Tracks as `stream_id/track_id` (a face search's tracks, for a person on no watchlist).
    #[serde(default)]
    pub tracks: Vec<String>,
    /// Why (the request's reference, e.g. a data subject's request number); required to erase.
    #[serde(default)]
    pub reason: Option<String>,
}

/// How many items an erasure removes, per store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasureCounts {
    /// Tracks covered (their reports stay, emptied of biometrics).
    pub tracks: u64,
    /// Their reports in the warehouse.
    pub events: u64,
    /// Reports with a descriptor (ClickHouse `events`, `face_descriptors`, `face_sketches`).
    pub descriptors: u64,
    /// Best-shot images (ClickHouse `best_shot_jpegs`).
    pub best_shots: u64,
    /// Watchlist matches (ClickHouse `matches`, `identified_tracks`).
    pub matches: u64,
    /// Alerts with their deliveries, desk log and scenes (PostgreSQL).
    pub alerts: u64,
    /// Enrolments: the person with their pictures and descriptors (PostgreSQL).
    pub enrolments: u64,
    /// Track keys destroyed (PostgreSQL `track_keys`): what makes the Kafka copies unreadable.
    pub keys: u64,
}

/// A preview or a receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    /// The receipt's id in the audit log (none for a preview).
    pub receipt_id: Option<i64>,
    /// Counts per store.
    pub counts: ErasureCounts,
    /// The tracks covered, `stream_id/track_id`.
    pub tracks: Vec<String>,
}

/// Why an erasure could not be previewed or run.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The request names nothing or is malformed.
    #[error("{0}")]
    Invalid(String),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// ClickHouse failed.
    #[error("warehouse: {0}")]
    Warehouse(#[from] WarehouseError),
    /// The object store failed.
    #[error("object store: {0}")]
    Objects(#[from] ObjectError),
}

impl From<clickhouse::error::Error> for ErasureError {
    fn from(source: clickhouse::error::Error) -> Self {
        ErasureError::Warehouse(WarehouseError::Query { action: "erasure".into(), source })
    }
}

/// Most tracks one erasure covers (a person's tracks over the retention period fit many times).
pub const MAX_TRACKS: usize = 100_000;

/// Where erasures act.
#[derive(Clone)]
pub struct Eraser {
    /// Keys, alerts, enrolments, the audit log.
    pub pool: PgPool,
    /// The warehouse, with a user allowed to mutate it.
    pub clickhouse: ClickHouseSettings,
    /// How long services keep keys in memory: the mutations run again after it.
    pub key_cache: Duration,
    /// Where the best shots are stored.
    pub objects: ObjectStore,
}

/// `stream_id/track_id` split; `None` when it is not one.
fn split_track(track: &str) -> Option<(&str, &str)> {
    track.split_once('/').filter(|(stream, track)| !stream.is_empty() && !track.is_empty())
}

impl Eraser {
    /// The tracks `request` covers, checked.
    async fn tracks(&self, request: &ErasureRequest) -> Result<Vec<String>, ErasureError> {
        if request.person_id.is_none() && request.tracks.is_empty() {
            return Err(ErasureError::Invalid("name a person_id, tracks, or both".into()));
        }
        let mut tracks: BTreeSet<String> = BTreeSet::new();
        for track in &request.tracks {
            if split_track(track).is_none() || track.len() > 512 {
                return Err(ErasureError::Invalid(format!("tracks: {track:?} is not stream_id/track_id")));
            }
            tracks.insert(track.clone());
        }
        if let Some(person) = request.person_id {
            let person = person.to_string();
            let client = self.clickhouse.read_client();
            let found: Vec<String> =
                client.query(queries::ERASURE_PERSON_TRACKS).bind(&person).bind(&person).fetch_all().await?;
            tracks.extend(found);
            let alerted: Vec<(String, String)> =
                sqlx::query_as("SELECT DISTINCT stream_id, track_id FROM alerts WHERE person_id = $1")
                    .bind(request.person_id)
                    .fetch_all(&self.pool)
                    .await?;
            tracks.extend(alerted.into_iter().map(|(stream, track)| format!("{stream}/{track}")));
        }
        if tracks.len() > MAX_TRACKS {
            return Err(ErasureError::Invalid(format!("{} tracks; erase at most {MAX_TRACKS} at once", tracks.len())));
        }
        Ok(tracks.into_iter().collect())
    }

    /// The tracks as two arrays for `unnest`.
    fn columns(tracks: &[String]) -> (Vec<String>, Vec<String>) {
        tracks.iter().filter_map(|t| split_track(t)).map(|(s, t)| (s.to_owned(), t.to_owned())).unzip()
    }

    /// What erasing `request` would remove, per store.
    pub async fn preview(&self, request: &ErasureRequest) -> Result<ErasureReport, ErasureError> {
        let tracks = self.tracks(request).await?;
        let targets = self.list(&tracks).await?;
        let mut counts = self.warehouse_counts(&targets).await?;
        let (streams, ids) = Self::columns(&tracks);
        counts.keys = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM track_keys WHERE (stream_id, track_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )
        .bind(&streams)
        .bind(&ids)
        .fetch_one(&self.pool)
        .await? as u64;
        counts.alerts = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM alerts WHERE person_id = $3 \
             OR (stream_id, track_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )
        .bind(&streams)
        .bind(&ids)
        .bind(request.person_id)
        .fetch_one(&self.pool)
        .await? as u64;
        counts.enrolments = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM watchlist_persons WHERE id = $1")
            .bind(request.person_id)
            .fetch_one(&self.pool)
            .await? as u64;
        Ok(ErasureReport { receipt_id: None, counts, tracks })
    }

    /// Lists `tracks` and their reports in the warehouse's `erasure_targets` under a new id: every
    /// later step finds their rows through it.
    pub(crate) async fn list(&self, tracks: &[String]) -> Result<Targets, ErasureError> {
        let targets = Targets { id: Uuid::new_v4().to_string(), tracks: tracks.len(), keeps_shared_clips: false };
        if tracks.is_empty() {
            return Ok(targets);
        }
        let client = self.clickhouse.every_replica_client().await?;
        let listed = u32::try_from(sightline_common::clock::now_ms() / 1000).unwrap_or(u32::MAX);
        let mut insert = client.insert::<TargetRow>("erasure_targets").await?;
        for (stream_id, track_id) in tracks.iter().filter_map(|t| split_track(t)) {
            let row = TargetRow {
                erasure_id: targets.id.clone(),
                listed,
                stream_id: stream_id.to_owned(),
                track_id: track_id.to_owned(),
                event_id: Uuid::nil(),
            };
            insert.write(&row).await?;
        }
        insert.end().await?;
        self.list_events(&client, &targets).await?;
        Ok(targets)
    }

    /// Adds the listed tracks' reports in `events` to the list (again: what landed since), through
    /// `client` ([`ClickHouseSettings::every_replica_client`]).
    async fn list_events(&self, client: &Client, targets: &Targets) -> Result<(), ErasureError> {
        client.query(queries::ERASURE_LIST_EVENTS).bind(&targets.id).bind(&targets.id).execute().await?;
        Ok(())
    }

    async fn warehouse_counts(&self, targets: &Targets) -> Result<ErasureCounts, ErasureError> {
        if targets.tracks == 0 {
            return Ok(ErasureCounts::default());
        }
        let mut query = self.clickhouse.read_client().query(queries::ERASURE_COUNTS);
        for _ in 0..4 {
            query = query.bind(&targets.id);
        }
        let (events, descriptors, best_shots, matches) = query.fetch_one::<(u64, u64, u64, u64)>().await?;
        Ok(ErasureCounts {
            tracks: targets.tracks as u64,
            events,
            descriptors,
            best_shots,
            matches,
            ..Default::default()
        })
    }

    /// Erases what `request` covers on behalf of `caller`: keys first, then the clear copies; the
    /// receipt is recorded in the audit log.
    pub async fn erase(&self, request: &ErasureRequest, caller: &Principal) -> Result<ErasureReport, ErasureError> {
        let reason = request.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let Some(reason) = reason else {
            return Err(ErasureError::Invalid("reason: say why (e.g. the data subject's request)".into()));
        };
        if reason.chars().count() > 500 {
            return Err(ErasureError::Invalid("reason: at most 500 characters".into()));
        }
        // PostgreSQL's counts are what the deletions below remove, not counted beforehand.
        let tracks = self.tracks(request).await?;
        let targets = self.list(&tracks).await?;
        let mut counts = self.warehouse_counts(&targets).await?;
        let (streams, ids) = Self::columns(&tracks);
        let mut transaction = self.pool.begin().await?;
        counts.keys = sqlx::query(
            "DELETE FROM track_keys WHERE (stream_id, track_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )
        .bind(&streams)
        .bind(&ids)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        // The alerts go with the images of theirs the object store holds (their best shots, which
        // are the reports' objects, and their scenes): the statement sees the scenes before the
        // cascade removes them, and the objects are deleted once the rows that name them are.
        let (alerts, alert_images): (i64, Vec<String>) = sqlx::query_as(
            "WITH gone AS (DELETE FROM alerts WHERE person_id = $3 \
                 OR (stream_id, track_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
                 RETURNING id, best_shot_key) \
             SELECT (SELECT count(*) FROM gone), \
                    ARRAY(SELECT best_shot_key FROM gone WHERE best_shot_key IS NOT NULL \
                          UNION ALL SELECT s.object_key FROM alert_scenes s JOIN gone ON gone.id = s.alert_id \
                          WHERE s.object_key IS NOT NULL)",
        )
        .bind(&streams)
        .bind(&ids)
        .bind(request.person_id)
        .fetch_one(&mut *transaction)
        .await?;
        counts.alerts = alerts as u64;
        let enrolments: Vec<(Uuid, Uuid)> =
            sqlx::query_as("DELETE FROM watchlist_persons WHERE id = $1 RETURNING list_id, id")
                .bind(request.person_id)
                .fetch_all(&mut *transaction)
                .await?;
        counts.enrolments = enrolments.len() as u64;
        transaction.commit().await?;
        self.objects.delete_all(&alert_images).await?;
        for (list_id, person_id) in enrolments {
            self.objects.delete_prefix(&pictures_folder(list_id, Some(person_id))).await?;
        }
        self.mutate(&targets).await?;
        let subject = request.person_id.map_or_else(|| "tracks".to_owned(), |p| format!("person {p}"));
        let detail = serde_json::json!({ "reason": reason, "counts": counts, "tracks": tracks });
        let entry = Entry { action: "privacy.erasure", subject, count: Some(counts.tracks as i64), detail };
        let receipt_id = audit::record(&self.pool, caller, crate::SERVICE, entry).await?;
        self.look_again_later(targets, format!("receipt {receipt_id}"));
        Ok(ErasureReport { receipt_id: Some(receipt_id), counts, tracks })
    }

    /// Deletes the listed tracks' copies: their best shots' objects and their clips, then their rows in ClickHouse
    /// (mutations, run in the background by the server; running them again changes nothing).
    pub(crate) async fn mutate(&self, targets: &Targets) -> Result<(), ErasureError> {
        if targets.tracks == 0 {
            return Ok(());
        }
        let client = self.clickhouse.read_client();
        let objects: Vec<String> = client.query(queries::ERASURE_OBJECTS).bind(&targets.id).fetch_all().await?;
        self.objects.delete_all(&objects).await?;
        let clips: Vec<String> = match targets.keeps_shared_clips {
            true => client.query(queries::RETENTION_CLIPS).bind(&targets.id).bind(&targets.id).bind(&targets.id),
            false => client.query(queries::ERASURE_CLIPS).bind(&targets.id),
        }
        .fetch_all()
        .await?;
        for clip in clips {
            self.objects.delete_prefix(&format!("{clip}/")).await?;
        }
        for statement in sightline_schemas::statements(queries::ERASE_TRACKS) {
            let statement = self.clickhouse.maintenance(&statement)?;
            let mut query = client.query(&statement);
            for _ in 0..statement.matches('?').count() {
                query = query.bind(&targets.id);
            }
            query.execute().await?;
        }
        Ok(())
    }

    /// How many of the erasure's mutations the warehouse has not finished.
    async fn pending(&self, targets: &Targets) -> Result<u64, ErasureError> {
        let client = self.clickhouse.read_client();
        let query = match self.clickhouse.cluster_replicas(&client).await? {
            None => client.query(queries::ERASURE_PENDING),
            Some(replicas) => {
                client.query(queries::ERASURE_PENDING_CLUSTER).bind(replicas).bind(&self.clickhouse.database)
            }
        };
        Ok(query.bind(&targets.id).fetch_one().await?)
    }

    /// After the key cache's life, and once the first mutations are done: lists the tracks' reports
    /// again and, if any biometric copy landed meanwhile (a service still held a key), runs the
    /// mutations again. `what` names the erasure in the log.
    pub(crate) fn look_again_later(&self, targets: Targets, what: String) {
        if targets.tracks == 0 {
            return;
        }
        let eraser = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(eraser.key_cache + Duration::from_secs(5)).await;
            if let Err(error) = eraser.look_again(&targets).await {
                tracing::error!(%error, erasure = %what, "looking again at an erasure's tracks failed");
            }
        });
    }

    async fn look_again(&self, targets: &Targets) -> Result<(), ErasureError> {
        let started = std::time::Instant::now();
        while self.pending(targets).await? > 0 {
            if started.elapsed() > LONGEST_MUTATION {
                let waited = LONGEST_MUTATION.as_secs();
                tracing::error!(erasure = %targets.id, waited, "the erasure's mutations are not done; not looking again");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.list_events(&self.clickhouse.every_replica_client().await?, targets).await?;
        let left = self.warehouse_counts(targets).await?;
        if left.descriptors + left.best_shots + left.matches > 0 {
            tracing::info!(
                erasure = %targets.id,
                descriptors = left.descriptors,
                best_shots = left.best_shots,
                matches = left.matches,
                "biometric copies landed after an erasure; erasing them too"
            );
            self.mutate(targets).await?;
        }
        Ok(())
    }
}

/// Tracks listed for an erasure in the warehouse (`erasure_targets`).
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    /// The list's id (in every mutation's command).
    id: String,
    /// How many tracks it names.
    tracks: usize,
    /// Their clips are deleted only when no other track names them (retention: a clip shared by a
    /// face and its body is kept for the longer kept); an erasure deletes every clip of its tracks.
    keeps_shared_clips: bool,
}

impl Targets {
    /// The same tracks, as a retention run lists them: their clips that other tracks share stay.
    pub(crate) fn keeping_shared_clips(self) -> Self {
        Self { keeps_shared_clips: true, ..self }
    }
}

/// A row of `erasure_targets`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
struct TargetRow {
    erasure_id: String,
    listed: u32,
    stream_id: String,
    track_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
}

/// How long the second look waits for the first mutations before it gives up (and says so).
const LONGEST_MUTATION: Duration = Duration::from_secs(3600);
