//! Watchlists in PostgreSQL (`schemas/postgres/0003_watchlists.sql`): creating lists, enrolling people
//! with their descriptors, and keeping the in-memory [`WatchlistIndex`] current (loaded at start,
//! then each list reloaded when `sightline_watchlists` announces a change to it).

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

use crate::index::{ListIndex, ListInfo, PersonInfo, WatchlistIndex};
use sightline_common::shutdown::Shutdown;

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

/// Enrols `person` in `list_id` with `descriptors` (of the model in `spec`), in one transaction;
/// returns the person's id.
pub async fn enrol(
    pool: &PgPool,
    list_id: Uuid,
    person: &NewPerson,
    descriptors: &[Vec<f32>],
    spec: &IndexSpec,
) -> Result<Uuid, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let person_id: Uuid = sqlx::query_scalar(
        "INSERT INTO watchlist_persons (list_id, external_id, display_name, metadata) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(list_id)
    .bind(&person.external_id)
    .bind(&person.display_name)
    .bind(&person.metadata)
    .fetch_one(&mut *transaction)
    .await?;
    for descriptor in descriptors {
        sqlx::query(
            "INSERT INTO person_descriptors (person_id, list_id, model_name, model_version, descriptor) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(person_id)
        .bind(list_id)
        .bind(&spec.model_name)
        .bind(&spec.model_version)
        .bind(descriptor)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(person_id)
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
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Reloads each list announced on `listener` into `index` until `shutdown`. A lost notification
/// connection reloads everything once it is back, so no change is missed.
pub async fn keep_current(
    mut listener: PgListener,
    pool: PgPool,
    index: SharedIndex,
    spec: IndexSpec,
    mut shutdown: Shutdown,
) -> Result<(), sqlx::Error> {
    loop {
        let notification = tokio::select! {
            _ = shutdown.requested() => return Ok(()),
            notification = listener.try_recv() => notification?,
        };
        match notification {
            // The connection dropped and was re-established: changes may have been missed.
            None => replace_all(&pool, &index, &spec).await?,
            Some(notification) => {
                let Ok(list_id) = Uuid::parse_str(notification.payload()) else { continue };
                let list = load_list(&pool, list_id, &spec).await?;
                let Ok(mut index) = index.write() else { continue };
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
            }
        }
    }
}

async fn replace_all(pool: &PgPool, index: &SharedIndex, spec: &IndexSpec) -> Result<(), sqlx::Error> {
    let fresh = load_all(pool, spec).await?;
    tracing::info!(lists = fresh.list_count(), descriptors = fresh.descriptor_count(), "watchlists loaded");
    if let Ok(mut index) = index.write() {
        *index = fresh;
    }
    Ok(())
}
