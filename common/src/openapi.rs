//! The OpenAPI documents of the services' REST APIs, generated from the handlers themselves: each
//! handler carries `#[utoipa::path]` and the services build their routers from those annotations
//! (`utoipa_axum::routes!`), so a route cannot be served without being documented, nor documented
//! without being served.
//!
//! Every service serves its document at `GET /openapi.json` (no credentials needed: it describes
//! the open-source API, not any data); the web app's proxy serves them at
//! `/api/openapi/{service}.json` and the app's "API" screen shows them. The documents are also kept
//! in `schemas/openapi/`, where the web app's API client takes its types from (a unit test of each
//! service fails while the kept one differs from what the code generates; `make openapi` writes them).

use std::path::PathBuf;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::accounts::SESSION_COOKIE;

/// The answer to every refused request (any 4xx or 5xx): what was wrong, in words a person can act
/// on. Validation messages begin with the field they are about (`analysis_fps 0 must be ...`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What was wrong.
    pub error: String,
}

/// The header a session's changes carry its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Finishes a service's document: its title and description, how callers authenticate (a bearer
/// token, or the web app's session cookie with the CSRF header on changes), and the error answers
/// any operation can give besides those its annotation names: 401 and 500 always, 403 where a role
/// or the CSRF token can refuse, 400 where the request carries a body or parameters, 404 where the
/// path names something.
pub fn finish(mut document: OpenApi, title: &str, description: &str) -> OpenApi {
    document.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .license(Some(utoipa::openapi::License::new("Apache-2.0")))
        .build();
    let components = document.components.take().unwrap_or_default();
    let mut components = ComponentsBuilder::from(components)
        .schema(ErrorBody::name(), ErrorBody::schema())
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                &format!("The web app's session (POST /v1/auth/login); changes also need the {CSRF_HEADER} header."),
            ))),
        )
        .build();
    document.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
    ]);
    for (name, _, description) in ERRORS {
        components.responses.insert(name.to_owned(), error_response(description));
    }
    document.components = Some(components);
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let open = operation.security.as_ref().is_some_and(|requirements| {
                requirements.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            let takes_input =
                operation.request_body.is_some() || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for (name, status, _) in ERRORS {
                let applies = match status {
                    "401" | "403" => !open,
                    "400" => takes_input,
                    "404" => path.contains('{'),
                    _ => true,
                };
                if applies {
                    let reference = RefOr::Ref(Ref::new(format!("#/components/responses/{name}")));
                    operation.responses.responses.entry(status.to_owned()).or_insert(reference);
                }
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    let done = match status.as_str() {
                        "201" => "created",
                        "202" => "accepted: it runs shortly",
                        "204" => "done",
                        _ => "the answer",
                    };
                    response.description = done.to_owned();
                }
            }
        }
    }
    document
}

/// The error answers of [`finish`]: their name in `components/responses`, status and meaning.
const ERRORS: [(&str, &str, &str); 5] = [
    ("BadRequest", "400", "the request is invalid: the error says which field and why"),
    ("Unauthorized", "401", "no valid credentials (a bearer token, or a session cookie)"),
    ("Forbidden", "403", "the caller's role may not do this, or a session's change lacks its CSRF token"),
    ("NotFound", "404", "nothing has that id"),
    ("ServerError", "500", "the service failed; try again later"),
];

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// `GET /openapi.json`: `document` as JSON, for any caller.
pub fn route<S: Clone + Send + Sync + 'static>(document: &OpenApi) -> Router<S> {
    let json = document.to_json().unwrap_or_else(|error| format!(r#"{{"error":"{error}"}}"#));
    Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json).into_response() }
        }),
    )
}

/// Where the document of `service` is kept: `schemas/openapi/{service}.json`.
pub fn kept_path(service: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi").join(format!("{service}.json"))
}

/// Compares `document` with the kept one of `service`; with `SIGHTLINE_WRITE_OPENAPI=1` in the
/// environment writes it there instead. Errors: how they differ, and how to bring the kept one up to
/// date.
pub fn check_kept(document: &OpenApi, service: &str) -> Result<(), String> {
    let path = kept_path(service);
    let generated = document.to_pretty_json().map_err(|e| e.to_string())? + "\n";
    if std::env::var_os("SIGHTLINE_WRITE_OPENAPI").is_some_and(|v| v == "1") {
        return std::fs::write(&path, generated).map_err(|e| format!("writing {}: {e}", path.display()));
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    if kept == generated {
        return Ok(());
    }
    let first_difference = kept.lines().zip(generated.lines()).enumerate().find(|(_, (a, b))| a != b).map_or_else(
        || format!("one is longer ({} lines kept, {} generated)", kept.lines().count(), generated.lines().count()),
        |(n, (a, b))| format!("line {}: kept {a:?}, generated {b:?}", n + 1),
    );
    Err(format!(
        "{} is not the document the code generates ({first_difference}); run `make openapi` and commit it",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, PathItem};
    use utoipa::openapi::{HttpMethod, PathsBuilder};

    fn document_with(path: &str, method: HttpMethod) -> OpenApi {
        let paths = PathsBuilder::new().path(path, PathItem::new(method, OperationBuilder::new().build())).build();
        finish(OpenApi::new(InfoBuilder::new().build(), paths), "Test", "A test API.")
    }

    fn statuses(document: &OpenApi, path: &str) -> Vec<String> {
        let value = serde_json::to_value(document).expect("serialises");
        let operation = value["paths"][path].as_object().and_then(|item| item.values().next()).cloned();
        let responses = operation.and_then(|op| op["responses"].as_object().cloned()).unwrap_or_default();
        responses.keys().cloned().collect()
    }

    #[test]
    fn operations_get_the_errors_they_can_give() {
        let named = document_with("/v1/things/{id}", HttpMethod::Delete);
        assert_eq!(statuses(&named, "/v1/things/{id}"), ["401", "403", "404", "500"]);
        let listed = document_with("/v1/things", HttpMethod::Get);
        assert_eq!(statuses(&listed, "/v1/things"), ["401", "403", "500"]);
        let value = serde_json::to_value(&listed).expect("serialises");
        assert_eq!(value["components"]["schemas"]["Error"]["required"], serde_json::json!(["error"]));
        assert_eq!(value["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(value["info"]["title"], "Test");
    }

    #[tokio::test]
    async fn the_document_is_served_to_anyone() {
        use tower::ServiceExt;
        let document = document_with("/v1/things", HttpMethod::Get);
        let request = axum::http::Request::get("/openapi.json").body(axum::body::Body::empty()).expect("request");
        let response = route::<()>(&document).oneshot(request).await.expect("answer");
        assert_eq!(response.status(), 200);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        let served: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(served, serde_json::to_value(&document).expect("serialises"));
    }
}
