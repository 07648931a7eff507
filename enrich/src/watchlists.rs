//! Watchlists in PostgreSQL (`schemas/postgres/0003_watchlists.sql`): creating lists, enrolling people
//! with their descriptors, and keeping the in-memory [`WatchlistIndex`] current (loaded at start,
//! then each list reloaded when `sightline_watchlists` announces a change to it).

use sightline_common::objects::{ObjectError, ObjectStore, pictures_folder};
use sightline_vision::photo::DescribedFace;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

use crate::index::{ListIndex, ListInfo, PersonInfo, WatchlistIndex};
use crate::metrics::EnrichMetrics;
use sightline_common::http::Readiness;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use std::time::{Duration, Instant};

/// The change channel.
pub const CHANNEL: &str = "sightline_watchlists";

/// Which descriptors the index holds: only those of the model enrich runs are comparable.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Model name.
    pub model_name: String,
    /// Model version.
    pub model_version: String,
    /// Descriptor length.
    pub dim: usize,
    /// Threads per list scan.
    pub threads: usize,
}

/// A new list's settings.
#[derive(Debug, Clone)]
pub struct NewList {
    /// Unique name.
    pub name: String,
    /// Why the list exists.
    pub purpose: String,
    /// Minimum similarity of a match.
    pub threshold: f32,
    /// Candidates per face at most.
    pub top_k: i32,
    /// Streams it applies to (empty: all).
    pub stream_ids: Vec<String>,
}

/// Creates a list; returns its id.
pub async fn create_list(pool: &PgPool, list: &NewList) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO watchlists (name, purpose, threshold, top_k, stream_ids) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&list.name)
    .bind(&list.purpose)
    .bind(list.threshold)
    .bind(list.top_k)
    .bind(&list.stream_ids)
    .fetch_one(pool)
    .await
}

/// A person to enrol.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Id in the system of record.
    pub external_id: String,
    /// Display name.
    pub display_name: String,
    /// Free-form metadata.
    pub metadata: serde_json::Value,
}

/// Changes list `id`'s settings; false if there is no such list.
pub async fn update_list(pool: &PgPool, id: Uuid, list: &NewList) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE watchlists SET name = $2, purpose = $3, threshold = $4, top_k = $5, stream_ids = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(&list.name)
    .bind(&list.purpose)
    .bind(list.threshold)
    .bind(list.top_k)
    .bind(&list.stream_ids)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// A face to enrol: its id, its descriptor, and the key of its picture, stored beforehand
/// ([`store_picture`]).
#[derive(Debug, Clone)]
pub struct EnrolledFace {
    /// The face's id (its row's, and the last part of its picture's key).
    pub id: Uuid,
    /// L2-normalised descriptor.
    pub descriptor: Vec<f32>,
    /// Its picture's key in the object store (none when no picture could be made).
    pub picture_key: Option<String>,
}

/// Stores `face`'s picture (if it has one) under `pictures/<list>/<person>/<face id>`, before the
/// face's row names it: the face to enrol.
pub async fn store_picture(
    objects: &ObjectStore,
    list_id: Uuid,
    person_id: Uuid,
    face: DescribedFace,
) -> Result<EnrolledFace, ObjectError> {
    let id = Uuid::new_v4();
    let picture_key = match face.picture {
        Some(jpeg) => {
            let key = format!("{}{id}", pictures_folder(list_id, Some(person_id)));
            objects.put(&key, jpeg, "image/jpeg").await?;
            Some(key)
        }
        None => None,
    };
    Ok(EnrolledFace { id, descriptor: face.descriptor, picture_key })
}

/// Enrols `person` as `person_id` in `list_id` with `faces` (described by the model in `spec`), in
/// one transaction.
pub async fn enrol(
    pool: &PgPool,
    list_id: Uuid,
    person_id: Uuid,
    person: &NewPerson,
    faces: &[EnrolledFace],
    spec: &IndexSpec,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query(
        "INSERT INTO watchlist_persons (id, list_id, external_id, display_name, metadata) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(person_id)
    .bind(list_id)
    .bind(&person.external_id)
    .bind(&person.display_name)
    .bind(&person.metadata)
    .execute(&mut *transaction)
    .await?;
    for face in faces {
        insert_face(&mut transaction, list_id, person_id, face, spec).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Adds `face` to person `person_id` of `list_id`; false if the list holds no such person.
pub async fn add_face(
    pool: &PgPool,
    list_id: Uuid,
    person_id: Uuid,
    face: &EnrolledFace,
    spec: &IndexSpec,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let listed: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM watchlist_persons WHERE id = $1 AND list_id = $2 FOR UPDATE")
            .bind(person_id)
            .bind(list_id)
            .fetch_optional(&mut *transaction)
            .await?;
    if listed.is_none() {
        return Ok(false);
    }
    insert_face(&mut transaction, list_id, person_id, face, spec).await?;
    transaction.commit().await?;
    Ok(true)
}

async fn insert_face(
    transaction: &mut sqlx::PgTransaction<'_>,
    list_id: Uuid,
    person_id: Uuid,
    face: &EnrolledFace,
    spec: &IndexSpec,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO person_descriptors (id, person_id, list_id, model_name, model_version, descriptor, picture_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(face.id)
    .bind(person_id)
    .bind(list_id)
    .bind(&spec.model_name)
    .bind(&spec.model_version)
    .bind(&face.descriptor)
    .bind(&face.picture_key)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// One list with its people and descriptors of `spec`'s model; `None` if the list does not exist.
pub async fn load_list(pool: &PgPool, list_id: Uuid, spec: &IndexSpec) -> Result<Option<ListIndex>, sqlx::Error> {
    let row: Option<(Uuid, String, f32, i32, Vec<String>)> =
        sqlx::query_as("SELECT id, name, threshold, top_k, stream_ids FROM watchlists WHERE id = $1")
            .bind(list_id)
            .fetch_optional(pool)
            .await?;
    let Some((id, name, threshold, top_k, stream_ids)) = row else { return Ok(None) };
    let persons: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, external_id, display_name FROM watchlist_persons WHERE list_id = $1 ORDER BY id")
            .bind(list_id)
            .fetch_all(pool)
            .await?;
    let descriptors: Vec<(Uuid, Vec<f32>)> = sqlx::query_as(
        "SELECT person_id, descriptor FROM person_descriptors \
         WHERE list_id = $1 AND model_name = $2 AND model_version = $3 ORDER BY id",
    )
    .bind(list_id)
    .bind(&spec.model_name)
    .bind(&spec.model_version)
    .fetch_all(pool)
    .await?;
    let list = ListInfo { id, name, threshold, top_k: top_k.max(1) as usize, stream_ids };
    let persons = persons
        .into_iter()
        .map(|(id, external_id, display_name)| PersonInfo { id, external_id, display_name })
        .collect();
    Ok(Some(ListIndex::build(list, persons, descriptors, spec.dim, spec.threads)))
}

/// Every list.
pub async fn load_all(pool: &PgPool, spec: &IndexSpec) -> Result<WatchlistIndex, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM watchlists").fetch_all(pool).await?;
    let mut index = WatchlistIndex::default();
    for id in ids {
        if let Some(list) = load_list(pool, id, spec).await? {
            index.insert(list);
        }
    }
    Ok(index)
}

/// The shared index the matcher reads.
pub type SharedIndex = Arc<RwLock<WatchlistIndex>>;

/// A connection listening on [`CHANNEL`]. Open it before loading the index ([`load_all`]), so that no
/// change made during the load is missed; then hand it to [`keep_current`].
pub async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    sightline_common::relational::listen(pool, CHANNEL).await
}

/// What the follower reports its state to.
#[derive(Clone)]
pub struct FollowerReport {
    /// Blocked (condition `watchlists`) while the index may be stale.
    pub readiness: Readiness,
    /// Reload outcomes and the index's age.
    pub metrics: EnrichMetrics,
}

/// First delay after a failed reload or listen; doubles up to [`RETRY_MAX`].
const RETRY_INITIAL: Duration = Duration::from_millis(200);
/// Longest delay between attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Keeps `index` current until `shutdown`: each list announced on the listener is reloaded. It never
/// gives up: when the listener or a reload fails, the index may be stale (a change may have been
/// missed), so it reconnects with capped backoff and reloads every list once it can. While the
/// index may be stale, `report.readiness` is blocked with its age, and `report.metrics` counts
/// every reload by outcome and exports the age.
pub async fn keep_current(
    listener: PgListener,
    pool: PgPool,
    index: SharedIndex,
    spec: IndexSpec,
    report: FollowerReport,
    mut shutdown: Shutdown,
) {
    let mut listener = Some(listener);
    let mut stale = Staleness::default();
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut reload_all = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        if listener.is_none() {
            match listen(&pool).await {
                Ok(fresh) => listener = Some(fresh),
                Err(error) => {
                    stale.failed(&report, &format!("listening for watchlist changes: {error}"));
                    if !stale.wait(&mut backoff, &report, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
        }
        if reload_all {
            match replace_all(&pool, &index, &spec).await {
                Ok(()) => {
                    report.metrics.watchlist_reload(true);
                    reload_all = false;
                    backoff.reset();
                    stale.current(&report);
                }
                Err(error) => {
                    report.metrics.watchlist_reload(false);
                    stale.failed(&report, &format!("reloading watchlists: {error}"));
                    if !stale.wait(&mut backoff, &report, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(active) = listener.as_mut() else { continue };
        let notification = tokio::select! {
            _ = shutdown.requested() => return,
            _ = ticker.tick() => {
                stale.report_age(&report);
                continue;
            }
            notification = active.try_recv() => notification,
        };
        match notification {
            Err(error) => {
                // The connection is gone and could not be re-established: start over.
                listener = None;
                reload_all = true;
                stale.failed(&report, &format!("watchlist notifications: {error}"));
            }
            // The connection dropped: changes may have been missed. Listen again on a fresh
            // connection before reloading everything, so no change falls between the two.
            Ok(None) => {
                listener = None;
                reload_all = true;
            }
            Ok(Some(notification)) => {
                let Ok(list_id) = Uuid::parse_str(notification.payload()) else { continue };
                match reload_list(&pool, &index, &spec, list_id).await {
                    Ok(()) => report.metrics.watchlist_reload(true),
                    Err(error) => {
                        report.metrics.watchlist_reload(false);
                        stale.failed(&report, &format!("reloading watchlist {list_id}: {error}"));
                        reload_all = true;
                    }
                }
            }
        }
    }
}

/// Since when the index may be stale, and why.
#[derive(Default)]
struct Staleness {
    since: Option<(Instant, String)>,
}

impl Staleness {
    fn failed(&mut self, report: &FollowerReport, why: &str) {
        tracing::warn!(error = why, "watchlist index may be stale; retrying");
        let since = self.since.get_or_insert_with(|| (Instant::now(), String::new()));
        since.1 = why.to_owned();
        self.report_age(report);
    }

    fn current(&mut self, report: &FollowerReport) {
        if self.since.take().is_some() {
            tracing::info!("watchlist index current again");
        }
        self.report_age(report);
    }

    /// Waits the backoff's next delay, reporting the age every second; `false` on shutdown.
    async fn wait(&self, backoff: &mut Backoff, report: &FollowerReport, shutdown: &mut Shutdown) -> bool {
        let until = Instant::now() + backoff.next_delay();
        loop {
            self.report_age(report);
            let now = Instant::now();
            if now >= until {
                return true;
            }
            tokio::select! {
                _ = shutdown.requested() => return false,
                _ = tokio::time::sleep((until - now).min(Duration::from_secs(1))) => {}
            }
        }
    }

    fn report_age(&self, report: &FollowerReport) {
        match &self.since {
            None => {
                report.metrics.watchlist_index_age_seconds.set(0);
                report.readiness.clear("watchlists");
            }
            Some((since, why)) => {
                let age = since.elapsed().as_secs();
                report.metrics.watchlist_index_age_seconds.set(age as i64);
                report.readiness.block("watchlists", format!("the watchlist index may be {age} s stale ({why})"));
            }
        }
    }
}

async fn reload_list(pool: &PgPool, index: &SharedIndex, spec: &IndexSpec, list_id: Uuid) -> Result<(), sqlx::Error> {
    let list = load_list(pool, list_id, spec).await?;
    let Ok(mut index) = index.write() else { return Ok(()) };
    match list {
        Some(list) => {
            tracing::info!(list = %list_id, descriptors = list.len(), "watchlist reloaded");
            index.insert(list);
        }
        None => {
            tracing::info!(list = %list_id, "watchlist removed");
            index.remove(&list_id);
        }
    }
    Ok(())
}

async fn replace_all(pool: &PgPool, index: &SharedIndex, spec: &IndexSpec) -> Result<(), sqlx::Error> {
    let fresh = load_all(pool, spec).await?;
    tracing::info!(lists = fresh.list_count(), descriptors = fresh.descriptor_count(), "watchlists loaded");
    if let Ok(mut index) = index.write() {
        *index = fresh;
    }
    Ok(())
}
