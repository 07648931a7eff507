//! The watchlists REST API of the enrich service.
//!
//! - `GET /v1/watchlists`, `POST /v1/watchlists` (`{"name", "purpose", "threshold", "top_k",
//!   "stream_ids"}`), `PATCH /v1/watchlists/{id}` (the fields it names), `DELETE /v1/watchlists/{id}`;
//! - `POST /v1/watchlists/faces` with a photo as the body: the faces detected in it (boxes in photo
//!   pixels, each with the reason it cannot be enrolled, if any) and `refusal`, why enrolment would
//!   refuse the photo (null: it would take it). Nothing is stored: a form shows it back first;
//! - `POST /v1/watchlists/{id}/persons?display_name=…&external_id=…` with a JPEG or PNG photo as the
//!   body: the face is detected, aligned and described on the server (a photo with no face or with
//!   several gets a 422 saying so); `POST /v1/watchlists/{id}/persons/{person_id}/faces` adds
//!   another photo of the person. A picture of each face (at most 256 pixels a side) is kept:
//!   `GET /v1/watchlists/{id}/persons/{person_id}/picture` is the first one, JPEG;
//! - `GET /v1/watchlists/{id}/persons?q=…` lists or searches (display name or external id) people;
//!   `DELETE /v1/watchlists/{id}/persons/{person_id}`.
//!
//! Every request needs a bearer token (`api_tokens`): reads analyst or above (names and faces), changes
//! admin or operator. Errors are JSON
//! `{"error": "..."}`. Every change reaches the running matchers through `sightline_watchlists`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sightline_common::api::{ApiError, Caller, Manages, SeesPeople, check_text};
use sightline_vision::photo::{DescribedFace, PhotoDescriber, PhotoError};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

use crate::watchlists::{self, IndexSpec, NewList, NewPerson};

/// Largest photo accepted for enrolment.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub pool: PgPool,
    /// Describes the face of enrolment photos (its describer shared with the pipeline).
    pub photos: Arc<PhotoDescriber>,
    /// The model whose descriptors are stored.
    pub spec: IndexSpec,
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/watchlists", get(lists).post(create_list))
        .route("/v1/watchlists/faces", post(examine_photo))
        .route("/v1/watchlists/{id}", patch(change_list).delete(delete_list))
        .route("/v1/watchlists/{id}/persons", get(persons).post(add_person))
        .route("/v1/watchlists/{id}/persons/{person}", delete(delete_person))
        .route("/v1/watchlists/{id}/persons/{person}/faces", post(add_face))
        .route("/v1/watchlists/{id}/persons/{person}/picture", get(picture))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PHOTO_BYTES))
        .with_state(state)
}

/// A list as the API shows it.
#[derive(Debug, Serialize)]
struct ListView {
    id: Uuid,
    name: String,
    purpose: String,
    threshold: f32,
    top_k: i32,
    stream_ids: Vec<String>,
    persons: i64,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for ListView {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            purpose: row.try_get("purpose")?,
            threshold: row.try_get("threshold")?,
            top_k: row.try_get("top_k")?,
            stream_ids: row.try_get("stream_ids")?,
            persons: row.try_get("persons")?,
        })
    }
}

/// A list to create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListInput {
    name: String,
    #[serde(default)]
    purpose: String,
    #[serde(default = "default_threshold")]
    threshold: f32,
    #[serde(default = "default_top_k")]
    top_k: i32,
    #[serde(default)]
    stream_ids: Vec<String>,
}

/// Changes to a list: the fields named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListPatch {
    name: Option<String>,
    purpose: Option<String>,
    threshold: Option<f32>,
    top_k: Option<i32>,
    stream_ids: Option<Vec<String>>,
}

impl ListInput {
    /// The list to store, or a 400 naming the field that is wrong.
    fn validated(self) -> Result<NewList, ApiError> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(ApiError::bad_request("name must be 1 to 200 characters"));
        }
        check_text("name", &self.name, 200).map_err(ApiError::bad_request)?;
        check_text("purpose", &self.purpose, 1000).map_err(ApiError::bad_request)?;
        if self.stream_ids.len() > 1000 {
            return Err(ApiError::bad_request("stream_ids: at most 1000 streams"));
        }
        for stream in &self.stream_ids {
            check_text("stream_ids", stream, 256).map_err(ApiError::bad_request)?;
        }
        if !(self.threshold > -1.0 && self.threshold <= 1.0) {
            return Err(ApiError::bad_request(format!("threshold {} is not in (-1, 1]", self.threshold)));
        }
        if !(1..=100).contains(&self.top_k) {
            return Err(ApiError::bad_request(format!("top_k {} is not in 1..=100", self.top_k)));
        }
        Ok(NewList {
            name: self.name.trim().to_owned(),
            purpose: self.purpose,
            threshold: self.threshold,
            top_k: self.top_k,
            stream_ids: self.stream_ids,
        })
    }
}

/// A 409 for a taken list name, else the database error.
fn list_conflict(error: sqlx::Error, name: &str) -> ApiError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict(format!("a list named {name:?} exists"))
        }
        _ => ApiError::from(error),
    }
}

fn default_threshold() -> f32 {
    0.5
}

fn default_top_k() -> i32 {
    1
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_request(format!("{id:?} is not a {what} id")))
}

const LIST_VIEW: &str = "SELECT w.id, w.name, w.purpose, w.threshold, w.top_k, w.stream_ids, \
     (SELECT count(*) FROM watchlist_persons p WHERE p.list_id = w.id) AS persons FROM watchlists w";

async fn lists(State(state): State<ApiState>, _caller: Caller<SeesPeople>) -> Result<Json<Vec<ListView>>, ApiError> {
    let lists = sqlx::query_as(&format!("{LIST_VIEW} ORDER BY w.name")).fetch_all(&state.pool).await?;
    Ok(Json(lists))
}

async fn create_list(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    body: Result<Json<ListInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ListView>), ApiError> {
    let Json(input) = body.map_err(ApiError::invalid_json)?;
    let list = input.validated()?;
    let id = watchlists::create_list(&state.pool, &list).await.map_err(|e| list_conflict(e, &list.name))?;
    let view = sqlx::query_as(&format!("{LIST_VIEW} WHERE w.id = $1")).bind(id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn change_list(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
    body: Result<Json<ListPatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ListView>, ApiError> {
    let id = parse_id(&id, "list")?;
    let Json(patch) = body.map_err(ApiError::invalid_json)?;
    let stored: Option<ListView> =
        sqlx::query_as(&format!("{LIST_VIEW} WHERE w.id = $1")).bind(id).fetch_optional(&state.pool).await?;
    let stored = stored.ok_or_else(|| ApiError::not_found(format!("no list {id}")))?;
    let list = ListInput {
        name: patch.name.unwrap_or(stored.name),
        purpose: patch.purpose.unwrap_or(stored.purpose),
        threshold: patch.threshold.unwrap_or(stored.threshold),
        top_k: patch.top_k.unwrap_or(stored.top_k),
        stream_ids: patch.stream_ids.unwrap_or(stored.stream_ids),
    }
    .validated()?;
    if !watchlists::update_list(&state.pool, id, &list).await.map_err(|e| list_conflict(e, &list.name))? {
        return Err(ApiError::not_found(format!("no list {id}")));
    }
    let view = sqlx::query_as(&format!("{LIST_VIEW} WHERE w.id = $1")).bind(id).fetch_one(&state.pool).await?;
    Ok(Json(view))
}

async fn delete_list(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "list")?;
    let deleted = sqlx::query("DELETE FROM watchlists WHERE id = $1").bind(id).execute(&state.pool).await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("no list {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A listed person as the API shows them.
#[derive(Debug, Serialize)]
struct PersonView {
    id: Uuid,
    list_id: Uuid,
    external_id: String,
    display_name: String,
    metadata: serde_json::Value,
    descriptors: i64,
    /// Faces with a picture (`GET .../picture` answers when there is one).
    pictures: i64,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for PersonView {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            list_id: row.try_get("list_id")?,
            external_id: row.try_get("external_id")?,
            display_name: row.try_get("display_name")?,
            metadata: row.try_get("metadata")?,
            descriptors: row.try_get("descriptors")?,
            pictures: row.try_get("pictures")?,
        })
    }
}

const PERSON_VIEW: &str = "SELECT p.id, p.list_id, p.external_id, p.display_name, p.metadata, \
     (SELECT count(*) FROM person_descriptors d WHERE d.person_id = p.id) AS descriptors, \
     (SELECT count(*) FROM person_descriptors d WHERE d.person_id = p.id AND d.picture_jpeg IS NOT NULL) AS pictures \
     FROM watchlist_persons p";

#[derive(Debug, Deserialize)]
struct PersonQuery {
    /// Part of the display name or external id (case-insensitive).
    q: Option<String>,
}

async fn persons(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
    Query(query): Query<PersonQuery>,
) -> Result<Json<Vec<PersonView>>, ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let pattern =
        format!("%{}%", query.q.unwrap_or_default().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let persons = sqlx::query_as(&format!(
        "{PERSON_VIEW} WHERE p.list_id = $1 AND (p.display_name ILIKE $2 OR p.external_id ILIKE $2) \
         ORDER BY p.display_name, p.id"
    ))
    .bind(list_id)
    .bind(pattern)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(persons))
}

#[derive(Debug, Deserialize)]
struct NewPersonQuery {
    display_name: Option<String>,
    #[serde(default)]
    external_id: String,
}

async fn add_person(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
    Query(query): Query<NewPersonQuery>,
    photo: Bytes,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let display_name = query.display_name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if display_name.is_empty() || display_name.len() > 200 {
        return Err(ApiError::bad_request("display_name (query parameter) must be 1 to 200 characters"));
    }
    check_text("display_name", &display_name, 200).map_err(ApiError::bad_request)?;
    check_text("external_id", &query.external_id, 200).map_err(ApiError::bad_request)?;
    let face = describe_photo(&state.photos, photo).await?;
    let person = NewPerson { external_id: query.external_id, display_name, metadata: serde_json::json!({}) };
    let person_id = watchlists::enrol(&state.pool, list_id, &person, &[face], &state.spec).await?;
    let view = sqlx::query_as(&format!("{PERSON_VIEW} WHERE p.id = $1")).bind(person_id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The one face in `photo`, described: a 422 saying why when the photo cannot be used.
async fn describe_photo(photos: &Arc<PhotoDescriber>, photo: Bytes) -> Result<DescribedFace, ApiError> {
    if photo.is_empty() {
        return Err(ApiError::bad_request("the body must be the person's photo (JPEG or PNG)"));
    }
    photos.off_runtime(photo, PhotoDescriber::describe_face).await.map_err(photo_error)
}

fn photo_error(error: PhotoError) -> ApiError {
    match error {
        PhotoError::Unusable(reason) => ApiError::unprocessable(reason),
        PhotoError::Internal(_) => {
            tracing::error!(%error, "describing a photo failed");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        }
    }
}

/// The faces in a photo as enrolment sees them, nothing stored.
async fn examine_photo(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    photo: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if photo.is_empty() {
        return Err(ApiError::bad_request("the body must be a photo (JPEG or PNG)"));
    }
    let examined = state.photos.off_runtime(photo, PhotoDescriber::examine).await.map_err(photo_error)?;
    let faces: Vec<serde_json::Value> = examined
        .faces
        .iter()
        .map(|face| {
            let b = &face.bbox;
            serde_json::json!({"x": b.x, "y": b.y, "width": b.width, "height": b.height, "score": face.score,
                               "problem": face.problem})
        })
        .collect();
    Ok(Json(serde_json::json!({
        "width": examined.image.width,
        "height": examined.image.height,
        "faces": faces,
        "refusal": examined.usable_face().err(),
    })))
}

/// Adds another photo's face to a listed person.
async fn add_face(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path((id, person)): Path<(String, String)>,
    photo: Bytes,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let face = describe_photo(&state.photos, photo).await?;
    if !watchlists::add_face(&state.pool, list_id, person, &face, &state.spec).await? {
        return Err(ApiError::not_found(format!("no person {person} in list {list_id}")));
    }
    let view = sqlx::query_as(&format!("{PERSON_VIEW} WHERE p.id = $1")).bind(person).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The picture of a listed person's first enrolled face.
async fn picture(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path((id, person)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let picture: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT picture_jpeg FROM person_descriptors WHERE person_id = $1 AND list_id = $2 \
         AND picture_jpeg IS NOT NULL ORDER BY created_at, id LIMIT 1",
    )
    .bind(person)
    .bind(list_id)
    .fetch_optional(&state.pool)
    .await?;
    let picture =
        picture.ok_or_else(|| ApiError::not_found(format!("no picture of person {person} in list {list_id}")))?;
    Ok(sightline_common::api::jpeg(picture, "private, max-age=3600"))
}

async fn delete_person(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path((id, person)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let deleted = sqlx::query("DELETE FROM watchlist_persons WHERE id = $1 AND list_id = $2")
        .bind(person)
        .bind(list_id)
        .execute(&state.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("no person {person} in list {list_id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn existing_list(pool: &PgPool, id: &str) -> Result<Uuid, ApiError> {
    let id = parse_id(id, "list")?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM watchlists WHERE id = $1").bind(id).fetch_optional(pool).await?;
    found.ok_or_else(|| ApiError::not_found(format!("no list {id}")))
}
