//! The streams REST API on real PostgreSQL and a real socket: auth and roles, validation with JSON
//! 4xx errors, CRUD, live state, and change notifications for running services.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sightline_ingest::api::{ApiState, StatusBoard, router};
use sqlx::postgres::PgListener;
use sqlx::{Connection, Executor, PgConnection};
use std::io::{Read, Write};
use std::time::Duration;

fn postgres_url() -> String {
    std::env::var("SIGHTLINE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://sightline:sightline@localhost:5432/sightline".into())
}

/// One HTTP/1.1 request with `Connection: close`: (status, JSON body or Null).
fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let payload = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_api_end_to_end() -> anyhow::Result<()> {
    let admin_url = postgres_url();
    let database = format!("test_streams_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await?;
    let url = format!("{}/{database}", admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin_url));
    let pool = sightline_common::relational::migrate(&url).await?;
    for (token, role) in [("admin-secret", "admin"), ("viewer-secret", "viewer")] {
        sqlx::query("INSERT INTO api_tokens (name, token_sha256, role) VALUES ($1, $2, $3)")
            .bind(role)
            .bind(Sha256::digest(token.as_bytes()).to_vec())
            .bind(role)
            .execute(&pool)
            .await?;
    }
    let mut listener = PgListener::connect(&url).await?;
    listener.listen("sightline_streams").await?;

    let state = ApiState { pool: pool.clone(), statuses: StatusBoard::default() };
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = server.local_addr()?.port();
    tokio::spawn(async move { axum::serve(server, router(state)).await });
    let call = move |method: &'static str, path: String, token: Option<&'static str>, body: Option<String>| {
        tokio::task::spawn_blocking(move || request(port, method, &path, token, body.as_deref()))
    };
    let admin_token = Some("admin-secret");

    // Auth and roles.
    let (status, body) = call("GET", "/v1/streams".into(), None, None).await?;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("token")), "{body}");
    assert_eq!(call("GET", "/v1/streams".into(), Some("wrong"), None).await?.0, 401);
    let camera = json!({"name": "Lobby", "source_url": "rtsp://10.0.0.5/stream1", "site": "hq", "analysis_fps": 5});
    assert_eq!(call("POST", "/v1/streams".into(), Some("viewer-secret"), Some(camera.to_string())).await?.0, 403);

    // Validation: 400 with a message naming the problem.
    for (bad, expected) in [
        (json!({"name": "x", "source_url": "rtsp://a/b", "analysis_fps": 0}), "analysis_fps"),
        (json!({"name": "x", "source_url": "ftp://a/b"}), "source_url"),
        (json!({"name": "", "source_url": "rtsp://a/b"}), "name"),
        (
            json!({"name": "x", "source_url": "rtsp://a/b", "roi": {"x": 0.5, "y": 0.1, "width": 0.8, "height": 0.2}}),
            "roi",
        ),
        (json!({"name": "x", "source_url": "rtsp://a/b", "colour": "red"}), "colour"),
    ] {
        let (status, body) = call("POST", "/v1/streams".into(), admin_token, Some(bad.to_string())).await?;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(expected)), "{bad}: {body}");
    }
    let (status, body) = call("POST", "/v1/streams".into(), admin_token, Some("{not json".into())).await?;
    assert_eq!(status, 400, "{body}");

    // Create, read, list.
    let (status, created) = call("POST", "/v1/streams".into(), admin_token, Some(camera.to_string())).await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!((created["analysis_fps"].as_i64(), created["face_min_score"].as_f64()), (Some(5), Some(0.8)));
    assert_eq!(created["state"]["phase"], "pending");
    let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await??;
    assert_eq!(notification.payload(), id, "the change is announced to running services");
    let (status, listed) = call("GET", "/v1/streams".into(), Some("viewer-secret"), None).await?;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(call("GET", format!("/v1/streams/{id}"), Some("viewer-secret"), None).await?.1["name"], "Lobby");
    assert_eq!(call("GET", "/v1/streams/not-an-id".into(), admin_token, None).await?.0, 400);
    assert_eq!(call("GET", format!("/v1/streams/{}", uuid::Uuid::new_v4()), admin_token, None).await?.0, 404);

    // Update (disable, change rate and region), announced again.
    let update = json!({"name": "Lobby", "source_url": "rtsp://10.0.0.5/stream1", "site": "hq", "analysis_fps": 10,
                        "enabled": false, "roi": {"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}});
    let (status, updated) = call("PUT", format!("/v1/streams/{id}"), admin_token, Some(update.to_string())).await?;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["analysis_fps"].as_i64(), updated["enabled"].as_bool()), (Some(10), Some(false)));
    assert_eq!(updated["roi"]["width"], 0.5);
    assert_eq!(updated["state"]["phase"], "disabled");
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), listener.recv()).await??.payload(), id);

    // Delete.
    assert_eq!(call("DELETE", format!("/v1/streams/{id}"), admin_token, None).await?.0, 204);
    assert_eq!(call("GET", format!("/v1/streams/{id}"), admin_token, None).await?.0, 404);
    assert_eq!(call("DELETE", format!("/v1/streams/{id}"), admin_token, None).await?.0, 404);

    drop(listener);
    pool.close().await;
    admin.execute(format!("DROP DATABASE {database} WITH (FORCE)").as_str()).await?;
    Ok(())
}
