//! The streams REST API on real PostgreSQL and a real socket: auth and roles, validation with JSON
//! 4xx errors, CRUD, live state, and change notifications for running services.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{fresh_database, request};
use serde_json::json;
use sightline_ingest::api::{ApiState, SourcePolicy, StatusBoard, router};
use sightline_ingest::snapshot::{Snapshot, SnapshotBoard, SnapshotBox};
use sightline_testkit::stack::http_exchange;
use sqlx::postgres::PgListener;
use std::time::Duration;

#[test]
fn source_urls_follow_the_policy() {
    let policy = SourcePolicy { hosts: vec!["10.0.0.5".into(), ".cams.example".into()], ..Default::default() };
    for allowed in
        ["rtsp://10.0.0.5/s", "rtsp://u:p@10.0.0.5:554/s", "https://door.cams.example/v.mjpg", "rtsp://cams.example/x"]
    {
        assert_eq!(policy.check(allowed), Ok(()), "{allowed}");
    }
    for (refused, why) in [
        ("rtsp://10.0.0.6/s", "host"),
        ("rtsp://evil.example/s", "host"),
        ("rtsp://xcams.example/s", "host"),
        ("http://127.0.0.1:5432/", "host"),
        ("gopher://10.0.0.5/", "scheme"),
        ("/etc/passwd", "allow_local_files"),
        ("rtsp:///nohost", "no host"),
    ] {
        let error = policy.check(refused).expect_err(refused);
        assert!(error.contains(why), "{refused}: {error}");
    }
    let files = SourcePolicy { allow_local_files: true, ..Default::default() };
    assert_eq!(files.check("file:///videos/door.mp4"), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_api_end_to_end() -> anyhow::Result<()> {
    let database = fresh_database(
        "test_streams",
        &[("admin-secret", "admin"), ("operator-secret", "operator"), ("viewer-secret", "viewer")],
    )
    .await?;
    let mut listener = PgListener::connect(&database.url).await?;
    listener.listen("sightline_streams").await?;

    let snapshots = SnapshotBoard::default();
    let state = ApiState {
        instance: "test".into(),
        peers: sightline_ingest::api::peer_client(),
        pool: database.pool.clone(),
        statuses: StatusBoard::default(),
        snapshots: snapshots.clone(),
        live: Default::default(),
        sources: Default::default(),
    };
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
        // Local files and devices are off unless an operator enables them.
        (json!({"name": "x", "source_url": "file:///etc/passwd"}), "allow_local_files"),
        (json!({"name": "x", "source_url": "/var/video.mp4"}), "allow_local_files"),
        (json!({"name": "x", "source_url": "v4l2:///dev/video0"}), "allow_devices"),
        // NUL (which PostgreSQL refuses) and other control characters are a 400, not a 500.
        (json!({"name": "a\u{0}b", "source_url": "rtsp://a/b"}), "U+0000"),
        (json!({"name": "x", "site": "hq\r\nforged", "source_url": "rtsp://a/b"}), "site"),
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

    // Patch: the named fields change, the others stay; null clears the region; errors name the field.
    let patch = |body: serde_json::Value, token| {
        call("PATCH", format!("/v1/streams/{id}"), Some(token), Some(body.to_string()))
    };
    let (status, patched) = patch(json!({"enabled": true, "roi": null}), "admin-secret").await?;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["enabled"].as_bool(), patched["analysis_fps"].as_i64()), (Some(true), Some(10)));
    assert_eq!((patched["roi"].is_null(), patched["name"].as_str()), (true, Some("Lobby")));
    for (bad, field) in [
        (json!({"analysis_fps": 31}), "analysis_fps"),
        (json!({"face_min_score": 0}), "face_min_score"),
        (json!({"colour": "red"}), "colour"),
        (json!({"source_url": "ftp://x/y"}), "source_url"),
    ] {
        let (status, body) = patch(bad.clone(), "admin-secret").await?;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(field)), "{bad}: {body}");
    }
    assert_eq!(patch(json!({"enabled": false}), "viewer-secret").await?.0, 403);
    assert_eq!(
        call("PATCH", format!("/v1/streams/{}", uuid::Uuid::new_v4()), admin_token, Some("{}".into())).await?.0,
        404
    );

    // An operator sees the URL's credentials masked; sending it back as shown keeps the stored URL.
    let secret_url = "rtsp://cam:hunter2@10.0.0.5/stream1";
    assert_eq!(patch(json!({"source_url": secret_url}), "admin-secret").await?.0, 200);
    let (_, shown) = call("GET", format!("/v1/streams/{id}"), Some("operator-secret"), None).await?;
    assert_eq!(shown["source_url"], "rtsp://***@10.0.0.5/stream1");
    let (status, edited) =
        patch(json!({"source_url": shown["source_url"], "name": "Lobby east"}), "operator-secret").await?;
    assert_eq!((status, edited["name"].as_str()), (200, Some("Lobby east")), "{edited}");
    let mut whole = shown.clone();
    for key in ["id", "owner", "state", "finished_ms"] {
        whole.as_object_mut().expect("object").remove(key);
    }
    let (status, replaced) =
        call("PUT", format!("/v1/streams/{id}"), Some("operator-secret"), Some(whole.to_string())).await?;
    assert_eq!(status, 200, "{replaced}");
    let (_, stored) = call("GET", format!("/v1/streams/{id}"), admin_token, None).await?;
    assert_eq!(stored["source_url"], secret_url, "the stored credentials are kept");

    // The snapshot: none before a frame; then the JPEG with its capture time, for analysts and up.
    let snapshot_path = format!("/v1/streams/{id}/snapshot");
    let get_snapshot = |token: &'static str| {
        let path = snapshot_path.clone();
        tokio::task::spawn_blocking(move || http_exchange(port, "GET", &path, Some(token), "", b""))
    };
    let missing = get_snapshot("admin-secret").await??;
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("no analysed frame yet"), "{missing:?}");
    let jpeg: Vec<u8> = vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9];
    let stream_id = uuid::Uuid::parse_str(&id)?;
    let face = SnapshotBox {
        kind: "face".into(),
        track_id: uuid::Uuid::new_v4(),
        x: 0.25,
        y: 0.5,
        width: 0.125,
        height: 0.25,
    };
    let taken = Snapshot {
        jpeg: jpeg.clone().into(),
        blurred_jpeg: None,
        capture_ms: 1_700_000_000_123,
        faces: 1,
        bodies: 0,
        width: 640,
        height: 480,
        boxes: vec![face.clone()],
    };
    snapshots.write().expect("board").insert(stream_id, taken);
    let served = get_snapshot("operator-secret").await??;
    assert_eq!((served.status, served.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(
        (served.header("x-capture-ms"), served.header("cache-control")),
        (Some("1700000000123"), Some("no-store"))
    );
    assert_eq!(served.body, jpeg);
    assert_eq!(get_snapshot("viewer-secret").await??.status, 403, "viewers see no faces");
    let (_, listed) = call("GET", format!("/v1/streams/{id}"), Some("viewer-secret"), None).await?;
    assert_eq!(listed["state"]["snapshot"], json!({"capture_ms": 1_700_000_000_123i64, "faces": 1, "bodies": 0}));
    // The frame with its boxes, for the camera wall: the same JPEG, each box with its track.
    let (status, frame) = call("GET", format!("/v1/streams/{id}/frame"), Some("operator-secret"), None).await?;
    assert_eq!(status, 200, "{frame}");
    use base64::Engine as _;
    let framed = base64::engine::general_purpose::STANDARD.decode(frame["jpeg"].as_str().unwrap_or_default())?;
    assert_eq!(framed, jpeg, "the frame's JPEG is the snapshot's");
    assert_eq!((frame["capture_ms"].as_i64(), frame["width"].as_u64()), (Some(1_700_000_000_123), Some(640)));
    assert_eq!(frame["boxes"], json!([face]), "{frame}");
    let (status, refused) = call("GET", format!("/v1/streams/{id}/frame"), Some("viewer-secret"), None).await?;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("blur_faces_for_viewers")), "{refused}");

    // A stream that shows viewers its frames with faces blurred: viewers get only the blurred copy,
    // whatever they ask; analysts and up get it when they ask for it. Only looks at whole faces are
    // audited.
    let (status, changed) = patch(json!({"blur_faces_for_viewers": true}), "operator-secret").await?;
    assert_eq!((status, &changed["blur_faces_for_viewers"]), (200, &json!(true)), "{changed}");
    let blurred: Vec<u8> = vec![0xff, 0xd8, 0xff, 0xe0, 9, 9, 9, 0xff, 0xd9];
    let with_blurred =
        Snapshot { blurred_jpeg: Some(blurred.clone().into()), ..snapshots.read().expect("board")[&stream_id].clone() };
    snapshots.write().expect("board").insert(stream_id, with_blurred);
    let seen = |path: String, token: &'static str| {
        tokio::task::spawn_blocking(move || http_exchange(port, "GET", &path, Some(token), "", b""))
    };
    for path in [snapshot_path.clone(), format!("{snapshot_path}?faces=whole")] {
        let served = seen(path, "viewer-secret").await??;
        assert_eq!((served.status, &served.body), (200, &blurred), "a viewer sees the blurred copy only");
    }
    let (status, frame) = call("GET", format!("/v1/streams/{id}/frame"), Some("viewer-secret"), None).await?;
    assert_eq!((status, &frame["faces_blurred"]), (200, &json!(true)), "{frame}");
    let framed = base64::engine::general_purpose::STANDARD.decode(frame["jpeg"].as_str().unwrap_or_default())?;
    assert_eq!(framed, blurred);
    assert_eq!(seen(format!("{snapshot_path}?faces=blurred"), "operator-secret").await??.body, blurred);
    assert_eq!(seen(snapshot_path.clone(), "operator-secret").await??.body, jpeg, "whole unless asked");
    let bogus = seen(format!("{snapshot_path}?faces=some"), "operator-secret").await??;
    assert!(bogus.status == 400 && String::from_utf8_lossy(&bogus.body).contains("faces"), "{bogus:?}");
    let looks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT role, count FROM audit_log WHERE action = 'image.snapshot' AND subject = $1 ORDER BY id",
    )
    .bind(&id)
    .fetch_all(&database.pool)
    .await?;
    assert_eq!(looks, vec![("operator".to_owned(), 1)], "only looks at whole faces are recorded");

    let other = format!("/v1/streams/{}/snapshot", uuid::Uuid::new_v4());
    let unknown =
        tokio::task::spawn_blocking(move || http_exchange(port, "GET", &other, Some("admin-secret"), "", b""))
            .await??;
    assert!(unknown.status == 404 && String::from_utf8_lossy(&unknown.body).contains("no stream"), "{unknown:?}");

    // Delete.
    assert_eq!(call("DELETE", format!("/v1/streams/{id}"), admin_token, None).await?.0, 204);
    assert_eq!(call("GET", format!("/v1/streams/{id}"), admin_token, None).await?.0, 404);
    assert_eq!(call("DELETE", format!("/v1/streams/{id}"), admin_token, None).await?.0, 404);

    drop(listener);
    database.remove().await?;
    Ok(())
}
