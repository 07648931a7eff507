//! The watchlists REST API of the enrich service.
//!
//! - `GET /v1/watchlists`, `POST /v1/watchlists` (`{"name", "purpose", "threshold", "top_k",
//!   "stream_ids"}`), `PATCH /v1/watchlists/{id}` (the fields it names), `DELETE /v1/watchlists/{id}`;
//! - `POST /v1/watchlists/faces` with a photo as the body: the faces detected in it (boxes in photo
//!   pixels, each with the reason it cannot be enrolled, if any) and `refusal`, why enrolment would
//!   refuse the photo (null: it would take it). Nothing is stored: a form shows it back first;
//! - `POST /v1/watchlists/{id}/persons?display_name=…&external_id=…` with a JPEG or PNG photo as the
//!   body: the face is detected, aligned and described on the server (a photo with no face, or with
//!   several and no `face=N` choosing one of those the examination listed, gets a 422 saying so);
//!   `POST /v1/watchlists/{id}/persons/{person_id}/faces[?face=N]` adds another photo of the person. A picture of each face (at most 256 pixels a side) is kept:
//!   `GET /v1/watchlists/{id}/persons/{person_id}/picture` is the first one, JPEG;
//! - `GET /v1/watchlists/{id}/persons?q=…` lists or searches (display name or external id) people;
//!   `DELETE /v1/watchlists/{id}/persons/{person_id}`.
//!
//! Every request needs a bearer token (`api_tokens`): reads analyst or above (names and faces), changes
//! admin or operator. Errors are JSON
//! `{"error": "..."}`. Every change reaches the running matchers through `sightline_watchlists`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sightline_common::api::{ApiError, Caller, Manages, SeesPeople, check_text};
use sightline_common::audit::Entry;
use sightline_common::objects::{ObjectStore, pictures_folder};
use sightline_common::openapi::{self, ErrorBody};
use sightline_vision::photo::{DescribedFace, ExaminedPhotoView, PhotoDescriber, PhotoError};
use sqlx::PgPool;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
    /// Where enrolment pictures are stored.
    pub objects: ObjectStore,
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().with_state(state).split_for_parts();
    router.layer(axum::extract::DefaultBodyLimit::max(MAX_PHOTO_BYTES)).merge(openapi::route(&openapi()))
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(lists, create_list))
        .routes(routes!(examine_photo))
        .routes(routes!(change_list, delete_list))
        .routes(routes!(persons, add_person))
        .routes(routes!(one_person, change_person, delete_person))
        .routes(routes!(add_face))
        .routes(routes!(picture))
}

/// The API's OpenAPI document (`GET /openapi.json`, kept in `schemas/openapi/enrich.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(
        routes().into_openapi(),
        "Sightline watchlists API",
        "The watchlists enrich matches faces against: lists with their threshold and top-k, the people on \
         them and their enrolled faces. Reading needs an analyst or above (names and faces); changes need \
         an operator or admin. Every change reaches the running matchers at once.",
    )
}

/// A list as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
struct ListView {
    /// Its id.
    id: Uuid,
    /// Its name, unique.
    name: String,
    /// What it is for.
    purpose: String,
    /// Lowest similarity (cosine, -1 to 1) that counts as a match.
    threshold: f32,
    /// The most matches an event gets on this list.
    top_k: i32,
    /// The streams it applies to; empty: every stream.
    stream_ids: Vec<String>,
    /// People on it.
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ListInput {
    /// Its name, unique, 1 to 200 characters.
    name: String,
    /// What it is for.
    #[serde(default)]
    purpose: String,
    /// Lowest similarity that counts as a match, in (-1, 1]; default 0.5.
    #[serde(default = "default_threshold")]
    threshold: f32,
    /// The most matches an event gets on this list, 1 to 100; default 1.
    #[serde(default = "default_top_k")]
    top_k: i32,
    /// The streams it applies to; empty or absent: every stream.
    #[serde(default)]
    stream_ids: Vec<String>,
}

/// Changes to a list: the fields named.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ListPatch {
    /// New name.
    name: Option<String>,
    /// New purpose.
    purpose: Option<String>,
    /// New threshold.
    threshold: Option<f32>,
    /// New top-k.
    top_k: Option<i32>,
    /// New streams (empty: every stream).
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

/// Lists the watchlists by name (analysts and up).
#[utoipa::path(get, path = "/v1/watchlists", tag = "watchlists", responses((status = 200, body = Vec<ListView>)))]
async fn lists(State(state): State<ApiState>, _caller: Caller<SeesPeople>) -> Result<Json<Vec<ListView>>, ApiError> {
    let lists = sqlx::query_as(&format!("{LIST_VIEW} ORDER BY w.name")).fetch_all(&state.pool).await?;
    Ok(Json(lists))
}

/// Creates a watchlist (operators and admins).
#[utoipa::path(post, path = "/v1/watchlists", tag = "watchlists", request_body = ListInput,
    responses((status = 201, body = ListView), (status = 409, body = ErrorBody, description = "the name is taken")))]
async fn create_list(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    body: Result<Json<ListInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ListView>), ApiError> {
    let Json(input) = body.map_err(ApiError::invalid_json)?;
    let list = input.validated()?;
    let id = watchlists::create_list(&state.pool, &list).await.map_err(|e| list_conflict(e, &list.name))?;
    let view = sqlx::query_as(&format!("{LIST_VIEW} WHERE w.id = $1")).bind(id).fetch_one(&state.pool).await?;
    audit(&state, &caller, Entry::new("watchlist.create", id.to_string())).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Changes the fields it names of a watchlist (operators and admins).
#[utoipa::path(patch, path = "/v1/watchlists/{id}", tag = "watchlists", params(("id" = Uuid, Path, description = "The list.")), request_body = ListPatch,
    responses((status = 200, body = ListView), (status = 409, body = ErrorBody, description = "the name is taken")))]
async fn change_list(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
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
    audit(&state, &caller, Entry::new("watchlist.change", id.to_string())).await?;
    Ok(Json(view))
}

/// Deletes a watchlist with its people and faces (operators and admins).
#[utoipa::path(delete, path = "/v1/watchlists/{id}", tag = "watchlists", params(("id" = Uuid, Path, description = "The list.")), responses((status = 204, description = "deleted")))]
async fn delete_list(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "list")?;
    let deleted = sqlx::query("DELETE FROM watchlists WHERE id = $1").bind(id).execute(&state.pool).await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("no list {id}")));
    }
    state.objects.delete_prefix(&pictures_folder(id, None)).await?;
    audit(&state, &caller, Entry::new("watchlist.delete", id.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A listed person as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
struct PersonView {
    /// Their id.
    id: Uuid,
    /// Their list.
    list_id: Uuid,
    /// An id of the person elsewhere (a badge, a case number); may be empty.
    external_id: String,
    /// The name shown in alerts and reports.
    display_name: String,
    /// Further facts about them.
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// Enrolled faces.
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
     (SELECT count(*) FROM person_descriptors d WHERE d.person_id = p.id \
      AND (d.picture_jpeg IS NOT NULL OR d.picture_key IS NOT NULL)) AS pictures \
     FROM watchlist_persons p";

/// The query of `GET /v1/watchlists/{id}/persons`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PersonQuery {
    /// Part of the display name or external id (case-insensitive).
    q: Option<String>,
}

/// Lists or searches the people on a watchlist, by name (analysts and up).
#[utoipa::path(get, path = "/v1/watchlists/{id}/persons", tag = "persons", params(("id" = Uuid, Path, description = "The list."), PersonQuery),
    responses((status = 200, body = Vec<PersonView>)))]
async fn persons(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
    Query(query): Query<PersonQuery>,
) -> Result<Json<Vec<PersonView>>, ApiError> {
    let q = query.q.unwrap_or_default();
    check_text("q", &q, 200).map_err(ApiError::bad_request)?;
    let list_id = existing_list(&state.pool, &id).await?;
    let pattern = sightline_common::api::contains_pattern(&q);
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

/// The query of `POST /v1/watchlists/{id}/persons`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NewPersonQuery {
    /// The name shown in alerts and reports, 1 to 200 characters (required).
    display_name: Option<String>,
    /// An id of the person elsewhere.
    #[serde(default)]
    external_id: String,
    /// Which face of a photo with several to enrol: its index in the answer of
    /// `POST /v1/watchlists/faces`; absent: the photo's one face.
    face: Option<usize>,
}

/// The query of `POST /v1/watchlists/{id}/persons/{person}/faces`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FaceChoice {
    /// Which face of a photo with several to add: its index in the answer of
    /// `POST /v1/watchlists/faces`; absent: the photo's one face.
    face: Option<usize>,
}

/// Enrols a person from a photo of their face (operators and admins).
///
/// The face is detected, aligned and described on the server; a photo with no usable face, or
/// with several and no `face` chosen, is a 422 saying so.
#[utoipa::path(post, path = "/v1/watchlists/{id}/persons", tag = "persons", params(("id" = Uuid, Path, description = "The list."), NewPersonQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A photo (JPEG or PNG, at most 10 MiB)."), responses((status = 201, body = PersonView), (status = 422, body = ErrorBody, description = "the photo has no usable face, or several")))]
async fn add_person(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
    query: Result<Query<NewPersonQuery>, QueryRejection>,
    photo: Bytes,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    let Query(query) = query.map_err(ApiError::invalid_query)?;
    let list_id = existing_list(&state.pool, &id).await?;
    let display_name = query.display_name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if display_name.is_empty() || display_name.len() > 200 {
        return Err(ApiError::bad_request("display_name (query parameter) must be 1 to 200 characters"));
    }
    check_text("display_name", &display_name, 200).map_err(ApiError::bad_request)?;
    check_text("external_id", &query.external_id, 200).map_err(ApiError::bad_request)?;
    let face = describe_photo(&state.photos, photo, query.face).await?;
    let person = NewPerson { external_id: query.external_id, display_name, metadata: serde_json::json!({}) };
    let person_id = Uuid::new_v4();
    let face = watchlists::store_picture(&state.objects, list_id, person_id, face).await?;
    watchlists::enrol(&state.pool, list_id, person_id, &person, &[face], &state.spec).await?;
    let view = sqlx::query_as(&format!("{PERSON_VIEW} WHERE p.id = $1")).bind(person_id).fetch_one(&state.pool).await?;
    audit(&state, &caller, Entry::new("watchlist.person.enrol", format!("{list_id}/{person_id}")).counting(1)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Face `choice` of `photo` (without a choice, its one face), described: a 422 saying why when the
/// photo cannot be used.
async fn describe_photo(
    photos: &Arc<PhotoDescriber>,
    photo: Bytes,
    choice: Option<usize>,
) -> Result<DescribedFace, ApiError> {
    if photo.is_empty() {
        return Err(ApiError::bad_request("the body must be the person's photo (JPEG or PNG)"));
    }
    photos
        .off_runtime(photo, move |describer, photo| describer.describe_chosen_face(photo, choice))
        .await
        .map_err(photo_error)
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

/// The faces in a photo as enrolment sees them; nothing is stored (operators and admins). A photo
/// with several faces can be enrolled by choosing one (`face`, its index here).
#[utoipa::path(post, path = "/v1/watchlists/faces", tag = "persons", request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A photo (JPEG or PNG, at most 10 MiB)."), responses((status = 200, body = ExaminedPhotoView)))]
async fn examine_photo(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    photo: Bytes,
) -> Result<Json<ExaminedPhotoView>, ApiError> {
    if photo.is_empty() {
        return Err(ApiError::bad_request("the body must be a photo (JPEG or PNG)"));
    }
    let examined = state.photos.off_runtime(photo, PhotoDescriber::examine).await.map_err(photo_error)?;
    Ok(Json(ExaminedPhotoView::from(&examined)))
}

/// Adds another photo's face to a listed person (operators and admins).
#[utoipa::path(post, path = "/v1/watchlists/{id}/persons/{person}/faces", tag = "persons", params(("id" = Uuid, Path, description = "The list."), ("person" = Uuid, Path, description = "The person."), FaceChoice),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A photo (JPEG or PNG, at most 10 MiB)."), responses((status = 201, body = PersonView), (status = 422, body = ErrorBody, description = "the photo has no usable face, or several")))]
async fn add_face(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path((id, person)): Path<(String, String)>,
    choice: Result<Query<FaceChoice>, QueryRejection>,
    photo: Bytes,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    let Query(choice) = choice.map_err(ApiError::invalid_query)?;
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let face = describe_photo(&state.photos, photo, choice.face).await?;
    let face = watchlists::store_picture(&state.objects, list_id, person, face).await?;
    if !watchlists::add_face(&state.pool, list_id, person, &face, &state.spec).await? {
        if let Some(key) = &face.picture_key {
            state.objects.delete(key).await?;
        }
        return Err(ApiError::not_found(format!("no person {person} in list {list_id}")));
    }
    let view = sqlx::query_as(&format!("{PERSON_VIEW} WHERE p.id = $1")).bind(person).fetch_one(&state.pool).await?;
    audit(&state, &caller, Entry::new("watchlist.person.add_face", format!("{list_id}/{person}")).counting(1)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Which of a person's pictures (`GET .../picture`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PictureChoice {
    /// The picture's number, 0 for the first enrolled (the default) up to `pictures` - 1.
    n: Option<i64>,
}

/// The picture of one of a listed person's enrolled faces (the first unless `n`), JPEG, at most
/// 256 pixels a side (analysts and up).
#[utoipa::path(get, path = "/v1/watchlists/{id}/persons/{person}/picture", tag = "persons", params(("id" = Uuid, Path, description = "The list."), ("person" = Uuid, Path, description = "The person."), PictureChoice),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the picture")))]
async fn picture(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    Path((id, person)): Path<(String, String)>,
    choice: Result<Query<PictureChoice>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(choice) = choice.map_err(ApiError::invalid_query)?;
    let n = choice.n.unwrap_or(0);
    if n < 0 {
        return Err(ApiError::bad_request(format!("n {n} is negative")));
    }
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let stored: Option<(Option<Vec<u8>>, Option<String>)> = sqlx::query_as(
        "SELECT picture_jpeg, picture_key FROM person_descriptors WHERE person_id = $1 AND list_id = $2 \
         AND (picture_jpeg IS NOT NULL OR picture_key IS NOT NULL) ORDER BY created_at, id OFFSET $3 LIMIT 1",
    )
    .bind(person)
    .bind(list_id)
    .bind(n)
    .fetch_optional(&state.pool)
    .await?;
    let picture = match stored {
        Some((_, Some(key))) => state.objects.get(&key).await?,
        Some((jpeg, None)) => jpeg,
        None => None,
    };
    let picture =
        picture.ok_or_else(|| ApiError::not_found(format!("no picture of person {person} in list {list_id}")))?;
    let subject = format!("{list_id}/{person}/{n}");
    sightline_common::audit::record_view(&state.pool, &caller.principal, "enrich", "image.enrolment", subject).await?;
    Ok(sightline_common::api::jpeg(picture, "private, max-age=3600"))
}

/// Where else a person is listed: another list's entry with the same external id.
#[derive(Debug, Serialize, ToSchema)]
struct Listing {
    /// The list.
    list_id: Uuid,
    /// Its name.
    list_name: String,
    /// The person's entry on it.
    person_id: Uuid,
    /// The name it gives them.
    display_name: String,
}

/// A listed person with their list's name and the other lists that have them.
#[derive(Debug, Serialize, ToSchema)]
struct PersonDetail {
    /// The person.
    #[serde(flatten)]
    person: PersonView,
    /// Their list's name.
    list_name: String,
    /// Other lists' entries with the same external id (none without one).
    also_on: Vec<Listing>,
}

/// A listed person on `list_id`, with their list's name and the other lists that have them; 404
/// if there is none.
async fn person_detail(pool: &PgPool, list_id: Uuid, person: Uuid) -> Result<PersonDetail, ApiError> {
    let view: PersonView = sqlx::query_as(&format!("{PERSON_VIEW} WHERE p.id = $1 AND p.list_id = $2"))
        .bind(person)
        .bind(list_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no person {person} in list {list_id}")))?;
    let list_name: String =
        sqlx::query_scalar("SELECT name FROM watchlists WHERE id = $1").bind(list_id).fetch_one(pool).await?;
    let also_on = sqlx::query_as::<_, (Uuid, String, Uuid, String)>(
        "SELECT l.id, l.name, p.id, p.display_name FROM watchlist_persons p JOIN watchlists l ON l.id = p.list_id \
         WHERE p.external_id = $1 AND $1 <> '' AND p.id <> $2 ORDER BY l.name, p.id",
    )
    .bind(&view.external_id)
    .bind(person)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(list_id, list_name, person_id, display_name)| Listing { list_id, list_name, person_id, display_name })
    .collect();
    Ok(PersonDetail { person: view, list_name, also_on })
}

/// One listed person, with their list's name and the other lists that have them (by external id)
/// (analysts and up).
#[utoipa::path(get, path = "/v1/watchlists/{id}/persons/{person}", tag = "persons", params(("id" = Uuid, Path, description = "The list."), ("person" = Uuid, Path, description = "The person.")),
    responses((status = 200, body = PersonDetail)))]
async fn one_person(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path((id, person)): Path<(String, String)>,
) -> Result<Json<PersonDetail>, ApiError> {
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    Ok(Json(person_detail(&state.pool, list_id, person).await?))
}

/// `PATCH /v1/watchlists/{id}/persons/{person}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PersonPatch {
    /// The name shown in alerts and reports, 1 to 200 characters.
    display_name: Option<String>,
    /// An id of the person elsewhere; empty for none.
    external_id: Option<String>,
}

/// Renames a listed person or changes their external id (operators and admins). Matches from now on
/// carry the new name (every enrich reloads the list at once); alerts and tracks already recorded
/// keep the name they were made with.
#[utoipa::path(patch, path = "/v1/watchlists/{id}/persons/{person}", tag = "persons", params(("id" = Uuid, Path, description = "The list."), ("person" = Uuid, Path, description = "The person.")),
    request_body = PersonPatch, responses((status = 200, body = PersonDetail)))]
async fn change_person(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path((id, person)): Path<(String, String)>,
    body: Result<Json<PersonPatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PersonDetail>, ApiError> {
    let Json(patch) = body.map_err(ApiError::invalid_json)?;
    let list_id = existing_list(&state.pool, &id).await?;
    let person = parse_id(&person, "person")?;
    let display_name = patch.display_name.map(|name| name.trim().to_owned());
    if let Some(name) = &display_name {
        if name.is_empty() || name.len() > 200 {
            return Err(ApiError::bad_request("display_name must be 1 to 200 characters"));
        }
        check_text("display_name", name, 200).map_err(ApiError::bad_request)?;
    }
    let external_id = patch.external_id.map(|id| id.trim().to_owned());
    if let Some(external_id) = &external_id {
        check_text("external_id", external_id, 200).map_err(ApiError::bad_request)?;
    }
    let changed = sqlx::query(
        "UPDATE watchlist_persons SET display_name = COALESCE($3, display_name), external_id = COALESCE($4, external_id) \
         WHERE id = $1 AND list_id = $2",
    )
    .bind(person)
    .bind(list_id)
    .bind(display_name)
    .bind(external_id)
    .execute(&state.pool)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("no person {person} in list {list_id}")));
    }
    audit(&state, &caller, Entry::new("watchlist.person.change", format!("{list_id}/{person}"))).await?;
    Ok(Json(person_detail(&state.pool, list_id, person).await?))
}

/// Removes a person and their faces from a watchlist (operators and admins).
#[utoipa::path(delete, path = "/v1/watchlists/{id}/persons/{person}", tag = "persons", params(("id" = Uuid, Path, description = "The list."), ("person" = Uuid, Path, description = "The person.")),
    responses((status = 204, description = "deleted")))]
async fn delete_person(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
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
    state.objects.delete_prefix(&pictures_folder(list_id, Some(person))).await?;
    audit(&state, &caller, Entry::new("watchlist.person.delete", format!("{list_id}/{person}"))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a change of a watchlist in the audit log, as the caller's.
async fn audit(state: &ApiState, caller: &Caller<Manages>, entry: Entry) -> Result<(), ApiError> {
    sightline_common::audit::record(&state.pool, &caller.principal, "enrich", entry).await?;
    Ok(())
}

async fn existing_list(pool: &PgPool, id: &str) -> Result<Uuid, ApiError> {
    let id = parse_id(id, "list")?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM watchlists WHERE id = $1").bind(id).fetch_optional(pool).await?;
    found.ok_or_else(|| ApiError::not_found(format!("no list {id}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_openapi_document_is_the_one_the_code_generates() {
        if let Err(difference) = sightline_common::openapi::check_kept(&super::openapi(), "enrich") {
            panic!("{difference}");
        }
    }
}
