//! Who sees what: every route of every REST API (ingest, enrich, query, notifier, scheduler), called
//! without a token and with each role's token. No token is a 401; a role below the route's need is a
//! 403; above it, the route answers (whatever its answer). The routes are checked against the APIs'
//! OpenAPI documents (`schemas/openapi/`): an operation a document names and this table lacks fails
//! the test. Then the field-level rules: a stream's source
//! URL is whole for admins only, with its credentials masked for operators and analysts, and absent
//! for viewers, and no role but admin ever reads the password, in the URL or in an error that echoes it.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;
use sightline_common::auth::Role;
use sightline_testkit::stack::{self, Isolation, TestDatabase, call, eventually, http_request};
use sightline_testkit::web::ApiServices;
use std::time::Duration;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// Any valid token (aggregates).
    Any,
    /// Analyst and above (faces, names, watchlists, recipients).
    People,
    /// Operator and above (changes).
    Manage,
    /// Admins only (the audit trail).
    Admin,
}

fn allowed(role: Role, need: Need) -> bool {
    match need {
        Need::Any => true,
        Need::People => role.can_see_people(),
        Need::Manage => role.can_manage(),
        Need::Admin => role == Role::Admin,
    }
}

/// Whether `path` (with a query string, perhaps) is an instance of `template` (`/v1/streams/{id}`).
fn instance_of(path: &str, template: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let (parts, wanted): (Vec<_>, Vec<_>) = (path.split('/').collect(), template.split('/').collect());
    parts.len() == wanted.len()
        && parts.iter().zip(&wanted).all(|(part, want)| part == want || (want.starts_with('{') && want.ends_with('}')))
}

/// The operations of the kept OpenAPI document of `service` (method, path template), but those of
/// `skipped` tags.
fn documented(service: &str, skipped: &[&str]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(sightline_common::openapi::kept_path(service)).expect("kept document");
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            if !skipped.contains(&tag) {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

const ROLES: [(Role, &str); 4] = [
    (Role::Viewer, "viewer-token"),
    (Role::Analyst, "analyst-token"),
    (Role::Operator, "operator-token"),
    (Role::Admin, "admin-token"),
];

/// The stream's source URL, with credentials that only admins may read.
const SECRET_URL: &str = "rtsp://cam-user:s3cret-pass@127.0.0.1:9/live";

struct Route {
    port: u16,
    method: &'static str,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    need: Need,
}

fn route(port: u16, method: &'static str, path: impl Into<String>, need: Need) -> Route {
    Route { port, method, path: path.into(), content_type: "", body: Vec::new(), need }
}

fn with_json(mut route: Route, body: Value) -> Route {
    route.content_type = "application/json";
    route.body = body.to_string().into_bytes();
    route
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_every_role() -> anyhow::Result<()> {
    let iso = Isolation::new("roles", 1).await?;
    let db = TestDatabase::create("test_roles").await?;
    for (role, token) in ROLES {
        sightline_common::auth::register(&db.pool, role.as_str(), token, role).await?;
    }
    let services = ApiServices::start(&iso, &db).await?;
    let (ingest_port, enrich_port, query_port, notifier_port, scheduler_port) =
        (services.ingest, services.enrich, services.query, services.notifier, services.scheduler);
    let models = std::env::var("SIGHTLINE_MODELS_DIR").expect("SIGHTLINE_MODELS_DIR (run `make models`)");

    // What the routes read: a stream whose URL carries credentials (it fails: nothing listens on
    // port 9), a watchlist with one person, a schedule with a recipient.
    let admin = "admin-token";
    // An erasure of a track no one saw: nothing to erase, but every step runs.
    let erasure = serde_json::json!({"tracks": ["nowhere/nobody"], "reason": "roles test"});
    let stream = serde_json::json!({"name": "door", "source_url": SECRET_URL, "site": "hq"});
    let (status, created) = call(ingest_port, "POST", "/v1/streams", admin, Some(stream.clone()))?;
    assert_eq!(status, 201, "{created}");
    let stream_id = created["id"].as_str().expect("stream id").to_owned();
    let (status, spare) = call(
        ingest_port,
        "POST",
        "/v1/streams",
        admin,
        Some(serde_json::json!({"name": "spare", "source_url": "rtsp://127.0.0.1:9/x"})),
    )?;
    assert_eq!(status, 201, "{spare}");
    let spare_id = spare["id"].as_str().expect("stream id").to_owned();
    let (status, list) = call(enrich_port, "POST", "/v1/watchlists", admin, Some(serde_json::json!({"name": "vip"})))?;
    assert_eq!(status, 201, "{list}");
    let list_id = list["id"].as_str().expect("list id").to_owned();
    let photo = std::fs::read(std::path::Path::new(&models).join("images/obama.jpg"))?;
    let (status, person) = http_request(
        enrich_port,
        "POST",
        &format!("/v1/watchlists/{list_id}/persons?display_name=Obama"),
        Some(admin),
        "image/jpeg",
        &photo,
    )?;
    assert_eq!(status, 201, "{person}");
    let schedule = serde_json::json!({
        "name": "daily", "cron": "0 0 7 * * *", "format": "csv", "range_hours": 24,
        "recipients": ["security@example.com"],
    });
    let (status, created) = call(scheduler_port, "POST", "/v1/schedules", admin, Some(schedule))?;
    assert_eq!(status, 201, "{created}");
    let schedule_id = created["id"].as_str().expect("schedule id").to_owned();
    let rule = serde_json::json!({"name": "door", "channels": {"kafka": true}});
    let (status, created) = call(notifier_port, "POST", "/v1/alert-rules", admin, Some(rule.clone()))?;
    assert_eq!(status, 201, "{created}");
    let rule_id = created["id"].as_str().expect("rule id").to_owned();
    let nobody = uuid::Uuid::new_v4();

    let routes = vec![
        route(ingest_port, "GET", "/v1/streams", Need::Any),
        route(ingest_port, "GET", format!("/v1/streams/{stream_id}"), Need::Any),
        with_json(
            route(ingest_port, "POST", "/v1/streams", Need::Manage),
            serde_json::json!({"name": "x", "source_url": "rtsp://127.0.0.1:9/y", "enabled": false}),
        ),
        with_json(
            route(ingest_port, "PUT", format!("/v1/streams/{spare_id}"), Need::Manage),
            serde_json::json!({"name": "spare", "source_url": "rtsp://127.0.0.1:9/x", "enabled": false}),
        ),
        route(ingest_port, "POST", format!("/v1/streams/{spare_id}/restart"), Need::Manage),
        with_json(
            route(ingest_port, "PATCH", format!("/v1/streams/{spare_id}"), Need::Manage),
            serde_json::json!({"enabled": false}),
        ),
        route(ingest_port, "GET", format!("/v1/streams/{stream_id}/snapshot"), Need::People),
        route(ingest_port, "GET", format!("/v1/streams/{stream_id}/frame"), Need::People),
        route(ingest_port, "GET", format!("/v1/streams/{stream_id}/live"), Need::People),
        route(ingest_port, "DELETE", format!("/v1/streams/{nobody}"), Need::Manage),
        route(enrich_port, "GET", "/v1/watchlists", Need::People),
        with_json(route(enrich_port, "POST", "/v1/watchlists", Need::Manage), serde_json::json!({"name": "vip"})),
        route(enrich_port, "DELETE", format!("/v1/watchlists/{nobody}"), Need::Manage),
        route(enrich_port, "GET", format!("/v1/watchlists/{list_id}/persons"), Need::People),
        route(enrich_port, "POST", format!("/v1/watchlists/{list_id}/persons?display_name=X"), Need::Manage),
        route(enrich_port, "DELETE", format!("/v1/watchlists/{list_id}/persons/{nobody}"), Need::Manage),
        route(enrich_port, "GET", format!("/v1/watchlists/{list_id}/persons/{nobody}"), Need::People),
        with_json(
            route(enrich_port, "PATCH", format!("/v1/watchlists/{list_id}/persons/{nobody}"), Need::Manage),
            serde_json::json!({"display_name": "X"}),
        ),
        with_json(route(enrich_port, "PATCH", format!("/v1/watchlists/{nobody}"), Need::Manage), serde_json::json!({})),
        route(enrich_port, "POST", "/v1/watchlists/faces", Need::Manage),
        route(enrich_port, "POST", format!("/v1/watchlists/{list_id}/persons/{nobody}/faces"), Need::Manage),
        route(enrich_port, "GET", format!("/v1/watchlists/{list_id}/persons/{nobody}/picture"), Need::People),
        route(query_port, "GET", "/v1/events", Need::People),
        route(query_port, "GET", format!("/v1/events/{nobody}"), Need::People),
        route(query_port, "GET", format!("/v1/events/{nobody}/best-shot"), Need::People),
        route(query_port, "GET", format!("/v1/events/{nobody}/clip"), Need::People),
        route(query_port, "GET", format!("/v1/events/{nobody}/clip/boxes"), Need::People),
        route(query_port, "GET", "/v1/stats/timeline", Need::Any),
        route(query_port, "GET", "/v1/stats/streams", Need::Any),
        route(query_port, "GET", "/v1/stats/persons", Need::People),
        route(query_port, "GET", "/v1/stats/identified", Need::Any),
        route(query_port, "GET", "/v1/stats/dwell", Need::Any),
        route(query_port, "GET", "/v1/stats/heatmap", Need::Any),
        route(query_port, "GET", "/v1/stats/visits", Need::People),
        route(query_port, "POST", format!("/v1/search/faces?event={nobody}"), Need::People),
        route(query_port, "POST", "/v1/search/faces/examine", Need::People),
        route(query_port, "GET", "/v1/audit/face-searches", Need::Admin),
        route(query_port, "GET", "/v1/audit", Need::Admin),
        route(query_port, "GET", "/v1/audit.csv", Need::Admin),
        route(query_port, "GET", "/v1/privacy/settings", Need::Admin),
        route(query_port, "GET", "/v1/privacy/records-of-processing", Need::Admin),
        route(query_port, "GET", "/v1/privacy/retention-runs", Need::Admin),
        route(query_port, "POST", "/v1/privacy/retention-runs", Need::Admin),
        with_json(route(query_port, "POST", "/v1/privacy/erasures/preview", Need::Admin), erasure.clone()),
        with_json(route(query_port, "POST", "/v1/privacy/erasures", Need::Admin), erasure),
        route(notifier_port, "GET", "/v1/alert-rules", Need::People),
        with_json(route(notifier_port, "POST", "/v1/alert-rules", Need::Manage), rule.clone()),
        route(notifier_port, "GET", format!("/v1/alert-rules/{rule_id}"), Need::People),
        with_json(route(notifier_port, "PUT", format!("/v1/alert-rules/{rule_id}"), Need::Manage), rule),
        route(notifier_port, "DELETE", format!("/v1/alert-rules/{nobody}"), Need::Manage),
        route(notifier_port, "GET", "/v1/alerts", Need::People),
        route(notifier_port, "GET", format!("/v1/alerts/{nobody}"), Need::People),
        route(notifier_port, "GET", format!("/v1/alerts/{nobody}/best-shot"), Need::People),
        route(notifier_port, "GET", "/v1/alerts/counts", Need::People),
        route(notifier_port, "GET", format!("/v1/alerts/{nobody}/scene"), Need::People),
        with_json(
            route(notifier_port, "POST", format!("/v1/alerts/{nobody}/actions"), Need::People),
            serde_json::json!({"action": "acknowledge"}),
        ),
        route(notifier_port, "POST", format!("/v1/alerts/{nobody}/deliveries/webhook/retry"), Need::People),
        route(notifier_port, "POST", "/v1/alerts/live/ticket", Need::People),
        route(query_port, "GET", "/v1/reports/events.csv", Need::People),
        route(query_port, "GET", "/v1/reports/summary.pdf", Need::People),
        route(scheduler_port, "GET", "/v1/schedules", Need::People),
        with_json(
            route(scheduler_port, "POST", "/v1/schedules", Need::Manage),
            serde_json::json!({"name": "daily", "cron": "0 0 7 * * *", "format": "csv", "recipients": ["a@example.com"]}),
        ),
        route(scheduler_port, "GET", format!("/v1/schedules/{schedule_id}"), Need::People),
        route(scheduler_port, "DELETE", format!("/v1/schedules/{nobody}"), Need::Manage),
        route(scheduler_port, "POST", format!("/v1/schedules/{schedule_id}/run"), Need::Manage),
        route(scheduler_port, "GET", format!("/v1/schedules/{schedule_id}/deliveries"), Need::People),
    ];
    // Every documented operation is in the table. Left out: the accounts routes (login, session,
    // logout, users and tokens: tests/tests/web_entry.rs checks who may call them) and
    // the live feed, which answers an allowed caller with a stream that does not end (notifier.rs
    // checks it refuses callers without a token and viewers).
    let services = [
        ("ingest", ingest_port),
        ("enrich", enrich_port),
        ("query", query_port),
        ("notifier", notifier_port),
        ("scheduler", scheduler_port),
    ];
    for (service, port) in services {
        for (method, template) in documented(service, &["accounts"]) {
            if template == "/v1/alerts/live" {
                continue;
            }
            let covered =
                routes.iter().any(|r| r.port == port && r.method == method && instance_of(&r.path, &template));
            assert!(covered, "{method} {template} of {service} is documented but not checked here");
        }
    }
    let mut checked = 0;
    for route in &routes {
        let what = format!("{} {} on :{}", route.method, route.path, route.port);
        let (status, body) =
            http_request(route.port, route.method, &route.path, None, route.content_type, &route.body)?;
        assert_eq!(status, 401, "{what} without a token: {body}");
        for (role, token) in ROLES {
            let (status, body) =
                http_request(route.port, route.method, &route.path, Some(token), route.content_type, &route.body)?;
            if allowed(role, route.need) {
                assert!(![401, 403].contains(&status), "{what} as {}: {status} {body}", role.as_str());
            } else {
                assert_eq!(status, 403, "{what} as {}: {body}", role.as_str());
            }
            if role != Role::Admin {
                assert!(!body.contains("s3cret-pass"), "{what} as {} reveals the password: {body}", role.as_str());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * ROLES.len());

    // Field-level rules on the stream, once its failure is known (it may echo the URL).
    let path = format!("/v1/streams/{stream_id}");
    eventually(Duration::from_secs(30), "the stream's failure to be reported", || async {
        let (_, view) = call(ingest_port, "GET", &path, admin, None)?;
        Ok(view["state"]["last_error"].as_str().map(|_| ()))
    })
    .await?;
    for (role, token) in ROLES {
        let (status, view) = call(ingest_port, "GET", &path, token, None)?;
        assert_eq!(status, 200, "{view}");
        let url = view["source_url"].as_str().expect("source_url");
        let error = view["state"]["last_error"].as_str().unwrap_or_default();
        match role {
            Role::Admin => assert_eq!(url, SECRET_URL),
            Role::Operator | Role::Analyst => {
                assert_eq!(url, "rtsp://***@127.0.0.1:9/live", "{}", role.as_str());
                assert!(!error.contains("s3cret") && !error.contains("cam-user"), "{error}");
            }
            Role::Viewer => {
                assert_eq!(url, "", "viewers get no URL");
                assert!(
                    !error.contains("rtsp") && !error.contains("127.0.0.1"),
                    "viewers get no error details: {error}"
                );
            }
        }
    }
    // The password is in no log line or thread name of ingest.
    let ingest_log =
        std::fs::read_to_string(stack::data_dir().join(format!("logs/test-services/{}-ingest.log", iso.group)))?;
    assert!(ingest_log.contains("rtsp://***@127.0.0.1:9/live"), "the stream's start is logged, masked");
    assert!(!ingest_log.contains("s3cret-pass"), "ingest's log reveals the password");
    db.remove().await?;
    Ok(())
}
