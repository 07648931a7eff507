//! The web app in a real browser: Debian's Chromium driven by Playwright (`web/e2e/`), against every
//! service behind the project's nginx. Screenshots are kept in `.data/test-artifacts/web/`.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;
use sightline_common::auth::Role;
use sightline_testkit::stack::{self, Isolation, TestDatabase, call, repo_root};
use sightline_testkit::web::{ApiServices, Proxy};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the app (`infra/web build`, a no-op when nothing changed): its directory.
fn built_app() -> PathBuf {
    let output = Command::new(repo_root().join("infra/web")).arg("build").output().expect("infra/web build");
    assert!(output.status.success(), "infra/web build: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// One browser test's world: the built app behind nginx, every service on a database of its own with
/// `users`, and where screenshots go.
struct WebApp {
    db: TestDatabase,
    services: ApiServices,
    proxy: Proxy,
    shots: PathBuf,
}

impl WebApp {
    /// Starts it all for test `name`, with `users` (name, password, role) able to log in.
    async fn start(name: &str, users: &[(&str, &str, Role)]) -> anyhow::Result<Self> {
        let app = built_app();
        let iso = Isolation::new(name, 1).await?;
        let db = TestDatabase::create(&format!("test_{name}")).await?;
        for (user, password, role) in users {
            sightline_common::accounts::create_user(&db.pool, user, password, *role).await?;
        }
        let services = ApiServices::start(&iso, &db).await?;
        let proxy = Proxy::start(&iso.group, &app, &services).await?;
        Ok(Self { db, services, proxy, shots: stack::data_dir().join("test-artifacts/web") })
    }

    /// The settings every script reads, for `user` with `password`, and `extra` ones.
    fn settings(&self, user: &str, password: &str, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("SIGHTLINE_WEB_URL", format!("http://localhost:{}", self.proxy.port)),
            ("SIGHTLINE_E2E_USER", user.to_owned()),
            ("SIGHTLINE_E2E_PASSWORD", password.to_owned()),
            ("SIGHTLINE_E2E_SHOTS", self.shots.display().to_string()),
        ];
        settings.extend_from_slice(extra);
        settings
    }

    /// Checks that the run left screenshots `names`, then stops everything and drops the database.
    async fn finish(self, names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            assert!(is_png(&self.shots.join(format!("{name}.png"))), "screenshot {name}");
        }
        let Self { db, services, proxy, .. } = self;
        drop(proxy);
        drop(services);
        db.remove().await
    }
}

/// A photo of two people, Obama on the left and Biden on the right, written into the test's run
/// directory.
fn pair_photo(web: &WebApp) -> anyhow::Result<PathBuf> {
    let photos = photos_dir()?;
    let photo = |name: &str| {
        sightline_vision::frame::RgbFrame::decode(&std::fs::read(photos.join(name))?).map_err(anyhow::Error::from)
    };
    let pair = web.proxy.run_dir.join("pair.jpg");
    let (left, right) = (photo("obama.jpg")?, photo("biden.jpg")?);
    let two = sightline_testkit::pipeline::side_by_side(
        (left.width, left.height, &left.data),
        (right.width, right.height, &right.data),
    )?;
    std::fs::write(&pair, two)?;
    Ok(pair)
}

/// The models' sample photos (`infra/models`).
fn photos_dir() -> anyhow::Result<PathBuf> {
    Ok(PathBuf::from(std::env::var("SIGHTLINE_MODELS_DIR")?).join("images"))
}

/// A watchlist "Door" (threshold 0.45, as the pipeline tests use) holding Barack Obama, enrolled
/// through enrich's API from `obama2.jpg`, another photo than the test video's.
async fn list_obama_at_the_door(web: &WebApp) -> anyhow::Result<()> {
    sightline_common::auth::register(&web.db.pool, "setup", "setup-token", Role::Operator).await?;
    let list = json!({"name": "Door", "threshold": 0.45, "top_k": 1});
    let (status, list) = call(web.services.enrich, "POST", "/v1/watchlists", "setup-token", Some(list))?;
    assert_eq!(status, 201, "{list}");
    let enrol = format!("/v1/watchlists/{}/persons?display_name=Barack%20Obama", list["id"].as_str().unwrap());
    let photo = std::fs::read(photos_dir()?.join("obama2.jpg"))?;
    let (status, body) =
        stack::http_request(web.services.enrich, "POST", &enrol, Some("setup-token"), "image/jpeg", &photo)?;
    assert_eq!(status, 201, "{body}");
    Ok(())
}

/// Runs `web/e2e/<script> [mode]` with `settings`; fails the test with its output when it fails.
fn drive(script: &str, mode: &str, settings: &[(&str, String)]) {
    let output = Command::new("node")
        .arg(repo_root().join("web/e2e").join(script))
        .args((!mode.is_empty()).then_some(mode))
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node");
    assert!(
        output.status.success(),
        "{script} {mode} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 2000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_the_browser_logs_in_sees_streams_expires_and_logs_out() -> anyhow::Result<()> {
    let password = "a browser's password";
    let web = WebApp::start("browser", &[("olga", password, Role::Operator)]).await?;
    sightline_common::auth::register(&web.db.pool, "setup", "setup-token", Role::Admin).await?;
    let stream = json!({"name": "Front door", "source_url": "rtsp://127.0.0.1:9/door", "site": "hq"});
    let (status, created) = call(web.services.ingest, "POST", "/v1/streams", "setup-token", Some(stream))?;
    assert_eq!(status, 201, "{created}");
    let state = web.proxy.run_dir.join("browser-state.json");
    let settings = web.settings(
        "olga",
        password,
        &[("SIGHTLINE_E2E_STREAM", "Front door".to_owned()), ("SIGHTLINE_E2E_STATE", state.display().to_string())],
    );
    drive("session.mjs", "login", &settings);
    // Thirty idle minutes pass for the session the browser holds.
    let ended = sqlx::query("UPDATE sessions SET idle_expires_at = now() - interval '1 second' WHERE ended_at IS NULL")
        .execute(&web.db.pool)
        .await?;
    assert_eq!(ended.rows_affected(), 1, "the browser's one session");
    drive("session.mjs", "expired", &settings);
    web.finish(&["01-login", "02-streams", "03-session-ended", "04-logged-out"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_makes_users_and_tokens_on_screen() -> anyhow::Result<()> {
    let password = "the admin's password";
    let web = WebApp::start("browser_admin", &[("ada", password, Role::Admin)]).await?;
    // A watchlist person for the admin to erase.
    let (list, person): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "WITH list AS (INSERT INTO watchlists (name) VALUES ('Visitors') RETURNING id) \
         INSERT INTO watchlist_persons (list_id, display_name, external_id) SELECT id, 'Erin Example', 'V-17' FROM list \
         RETURNING list_id, id",
    )
    .fetch_one(&web.db.pool)
    .await?;
    let people = [("SIGHTLINE_E2E_LIST", list.to_string()), ("SIGHTLINE_E2E_PERSON", person.to_string())];
    drive("admin.mjs", "", &web.settings("ada", password, &people));
    // The erasure as stored: the person gone, the receipt in the audit log with the reason.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM watchlist_persons WHERE id = $1")
        .bind(person)
        .fetch_one(&web.db.pool)
        .await?;
    assert_eq!(left, 0, "the person erased");
    let receipt: (String, String, serde_json::Value) =
        sqlx::query_as("SELECT principal_name, subject, detail FROM audit_log WHERE action = 'privacy.erasure'")
            .fetch_one(&web.db.pool)
            .await?;
    assert_eq!((receipt.0.as_str(), receipt.1), ("ada", format!("person {person}")));
    assert_eq!(receipt.2["reason"], "request DSR-2026-117");
    assert_eq!(receipt.2["counts"]["enrolments"], 1);
    // What the screen did, as stored.
    let vera: (String, bool) =
        sqlx::query_as("SELECT role, disabled_at IS NOT NULL FROM users WHERE username = 'vera'")
            .fetch_one(&web.db.pool)
            .await?;
    assert_eq!(vera, ("analyst".to_owned(), true));
    let token: (String, bool) =
        sqlx::query_as("SELECT role, revoked_at IS NOT NULL FROM api_tokens WHERE name = 'nightly-export'")
            .fetch_one(&web.db.pool)
            .await?;
    assert_eq!(token, ("analyst".to_owned(), true));
    web.finish(&[
        "05-admin",
        "06-admin-revoked",
        "32-privacy",
        "33-erasure-preview",
        "34-erasure-receipt",
        "phone-privacy",
        "phone-admin",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_the_test_video_and_sees_it_analysed() -> anyhow::Result<()> {
    let (video, _) = sightline_testkit::pipeline::test_video()?;
    let camera = sightline_testkit::pipeline::RtspVideo::serve(&video)?;
    let (operator, viewer) = (("otto", "the operator's password"), ("vic", "the viewer's password"));
    let users = [(operator.0, operator.1, Role::Operator), (viewer.0, viewer.1, Role::Viewer)];
    let web = WebApp::start("browser_streams", &users).await?;
    let video_url = [("SIGHTLINE_E2E_VIDEO_URL", camera.url.clone())];
    drive("streams.mjs", "add", &web.settings(operator.0, operator.1, &video_url));
    drive("streams.mjs", "viewer", &web.settings(viewer.0, viewer.1, &video_url));
    drive("streams.mjs", "blur", &web.settings(operator.0, operator.1, &video_url));
    drive("streams.mjs", "blurred", &web.settings(viewer.0, viewer.1, &video_url));
    // The viewer's looks were at blurred faces: none is in the audit log; the operator's are.
    let looks: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT role FROM audit_log WHERE action = 'image.snapshot' ORDER BY role")
            .fetch_all(&web.db.pool)
            .await?;
    assert_eq!(looks, ["operator"], "only looks at whole faces are audited");
    drive("streams.mjs", "change", &web.settings(operator.0, operator.1, &video_url));
    // What the screens did, as stored: the URL as typed, the rate after the refusal, the new name.
    let stored: (String, String, i32, bool) =
        sqlx::query_as("SELECT name, source_url, analysis_fps, enabled FROM streams").fetch_one(&web.db.pool).await?;
    assert_eq!(stored, ("Lobby east".to_owned(), camera.url.clone(), 5, false));
    // The region drawn with the mouse: 10 % to 90 % across, 20 % to 80 % down.
    let roi: serde_json::Value =
        sqlx::query_scalar("SELECT to_jsonb(roi) FROM streams").fetch_one(&web.db.pool).await?;
    let near = |key: &str, expected: f64| roi[key].as_f64().is_some_and(|v| (v - expected).abs() < 0.01);
    assert!(near("x", 0.1) && near("y", 0.2) && near("width", 0.8) && near("height", 0.6), "{roi}");
    let shots = [
        "07-stream-refused",
        "08-stream-running",
        "09-stream-disabled",
        "10-streams-viewer",
        "11-wall-viewer-blurred",
        "phone-wall-viewer-blurred",
        "24-stream-health",
        "28-stream-roi-drawn",
    ];
    web.finish(&shots).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_enrols_people_by_dropping_photos() -> anyhow::Result<()> {
    let password = "the operator's password";
    let web = WebApp::start("browser_lists", &[("otto", password, Role::Operator)]).await?;
    let photos = photos_dir()?;
    let pair = pair_photo(&web)?;
    let settings =
        [("SIGHTLINE_E2E_PHOTOS", photos.display().to_string()), ("SIGHTLINE_E2E_PAIR", pair.display().to_string())];
    drive("watchlists.mjs", "", &web.settings("otto", password, &settings));
    // What the screen did, as stored: the list's threshold after the refusal, Obama (renamed on his
    // page) with a descriptor and a picture from each of the two usable photos (not the cup), Biden
    // from the face chosen in the photo of two, the astronaut removed and enrolled again in bulk.
    let list: (String, f32, String) =
        sqlx::query_as("SELECT name, threshold, purpose FROM watchlists").fetch_one(&web.db.pool).await?;
    assert_eq!(list, ("Door".to_owned(), 0.5, "staff expected at the door".to_owned()));
    let people: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT p.display_name, p.external_id, count(d.id), count(d.picture_key) FROM watchlist_persons p \
         LEFT JOIN person_descriptors d ON d.person_id = p.id GROUP BY p.id ORDER BY p.display_name",
    )
    .fetch_all(&web.db.pool)
    .await?;
    assert_eq!(
        people,
        vec![
            ("Astronaut".to_owned(), "staff-3".to_owned(), 1, 1),
            ("Barack H. Obama".to_owned(), "staff-1".to_owned(), 2, 2),
            ("Joe Biden".to_owned(), String::new(), 1, 1)
        ]
    );
    // The face chosen in the photo of two is not Obama's.
    let closest: f64 = sqlx::query_scalar(
        "SELECT max((SELECT sum(x * y) FROM unnest(b.descriptor, o.descriptor) AS t (x, y)))::float8 \
         FROM person_descriptors b JOIN watchlist_persons pb ON pb.id = b.person_id AND pb.display_name = 'Joe Biden', \
         person_descriptors o JOIN watchlist_persons po ON po.id = o.person_id AND po.display_name = 'Barack H. Obama'",
    )
    .fetch_one(&web.db.pool)
    .await?;
    assert!(closest < 0.4, "Joe Biden's face is Obama's? similarity {closest}");
    web.finish(&["11-enrol-confirm", "12-watchlist", "20-enrol-choose-face", "29-person-page", "30-bulk-enrolment"])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_listed_person_alerted_live() -> anyhow::Result<()> {
    let (video, _) = sightline_testkit::pipeline::test_video()?;
    let camera = sightline_testkit::pipeline::RtspVideo::serve(&video)?;
    let password = "the operator's password";
    let web = WebApp::start("browser_alerts", &[("otto", password, Role::Operator)]).await?;
    // The list the rule watches, with Obama enrolled from another photo than the video's.
    list_obama_at_the_door(&web).await?;
    drive("alerts.mjs", "", &web.settings("otto", password, &[("SIGHTLINE_E2E_VIDEO_URL", camera.url.clone())]));
    // What the screen did, as stored: the rule on the list, live and webhook, the alert it raised,
    // resolved by otto with the note, and the desk's log of it.
    let rule: (String, Vec<uuid::Uuid>, serde_json::Value) =
        sqlx::query_as("SELECT name, list_ids, channels FROM alert_rules").fetch_one(&web.db.pool).await?;
    assert_eq!((rule.0.as_str(), rule.1.len(), &rule.2["live"]), ("Door staff", 1, &json!(true)));
    assert!(rule.2["webhook"]["url"].as_str().is_some_and(|url| url.starts_with("http://127.0.0.1:")), "{:?}", rule.2);
    let alerted: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT person_display_name, state, handled_by, note FROM alerts")
            .fetch_all(&web.db.pool)
            .await?;
    let resolved = ("Barack Obama".into(), "resolved".into(), "otto".into(), "Visitor, let in by reception".into());
    assert_eq!(alerted, vec![resolved]);
    let log: Vec<(String, String)> =
        sqlx::query_as("SELECT action, by_name FROM alert_actions ORDER BY id").fetch_all(&web.db.pool).await?;
    let steps = [("retried", "otto"), ("acknowledged", "otto"), ("resolved", "otto")];
    assert_eq!(log, steps.map(|(a, b)| (a.to_owned(), b.to_owned())));
    // Its scene: a frame of the camera no older than the report, with Obama's track among its boxes.
    let (scene_ms, report_ms, boxes): (i64, i64, serde_json::Value) = sqlx::query_as(
        "SELECT s.capture_ms, a.capture_time_ms, s.boxes FROM alert_scenes s JOIN alerts a ON a.id = s.alert_id",
    )
    .fetch_one(&web.db.pool)
    .await?;
    let track: String = sqlx::query_scalar("SELECT track_id FROM alerts").fetch_one(&web.db.pool).await?;
    assert!(scene_ms >= report_ms, "the scene {scene_ms} is not older than the report {report_ms}");
    assert!(boxes.as_array().into_iter().flatten().any(|b| b["track_id"] == track.as_str()), "{boxes}");
    let shots = ["13-alert-live", "14-rule-refused", "26-alert-desk", "27-camera-wall", "31-person-sightings"];
    let phone = ["phone-alert-desk", "phone-camera-wall-live", "phone-alert", "phone-person-page", "phone-rule-form"];
    let phone = phone.iter().chain(&["phone-stream-form"]);
    let shots: Vec<&str> = shots.iter().chain(phone).copied().collect();
    web.finish(&shots).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_counts_finds_and_downloads_what_the_video_shows() -> anyhow::Result<()> {
    let (video, truth) = sightline_testkit::pipeline::test_video()?;
    let password = "the analyst's password";
    let web = WebApp::start("browser_analyst", &[("ana", password, Role::Analyst)]).await?;
    list_obama_at_the_door(&web).await?;
    let photos = photos_dir()?;
    // The video analysed once as a file, taken a minute ago.
    let stream = json!({"name": "Lobby file", "source_url": video.display().to_string(), "site": "hq",
                        "media_start_ms": sightline_common::clock::now_ms() - 60_000});
    let (status, stream) = call(web.services.ingest, "POST", "/v1/streams", "setup-token", Some(stream))?;
    assert_eq!(status, 201, "{stream}");
    let people = truth.people.len() as u64;
    stack::eventually(std::time::Duration::from_secs(120), "the video's people in the warehouse", || async {
        let (_, body) = call(web.services.query, "GET", "/v1/stats/streams", "setup-token", None)?;
        Ok(body["streams"][0]["faces"].as_u64().filter(|faces| *faces >= people))
    })
    .await?;
    let settings = web.settings(
        "ana",
        password,
        &[
            ("SIGHTLINE_E2E_PEOPLE", people.to_string()),
            ("SIGHTLINE_E2E_PHOTOS", photos.display().to_string()),
            ("SIGHTLINE_E2E_PAIR", pair_photo(&web)?.display().to_string()),
        ],
    );
    drive("analyst.mjs", "", &settings);
    // The search was recorded for the audit trail, as the analyst's, from their session.
    let audit: (String, String) =
        sqlx::query_as("SELECT principal_name, via FROM audit_log WHERE action = 'search.face'")
            .fetch_one(&web.db.pool)
            .await?;
    assert_eq!(audit, ("ana".to_owned(), "session".to_owned()));
    // The same screens on a phone.
    drive("phone.mjs", "", &settings);
    let phone =
        ["tracks", "track", "camera-wall", "streams", "alerts", "search-by-face", "analytics", "reports", "watchlists"];
    let phone = phone.iter().chain(&["api", "menu"]);
    let phone: Vec<String> = phone.map(|screen| format!("phone-{screen}")).collect();
    let mut shots = vec![
        "15-analytics",
        "21-analytics-zone-typed",
        "16-track",
        "26-track-clip",
        "17-search",
        "25-search-choose-face",
    ];
    shots.extend(phone.iter().map(String::as_str));
    web.finish(&shots).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_schedules_a_report_in_a_time_zone_and_sends_it_now() -> anyhow::Result<()> {
    let password = "the operator's password";
    let web = WebApp::start("browser_reports", &[("otto", password, Role::Operator)]).await?;
    let recipient = format!("morning-{}@example.com", uuid::Uuid::new_v4().simple());
    drive("reports.mjs", "", &web.settings("otto", password, &[("SIGHTLINE_E2E_MAIL", recipient.clone())]));
    // What the screen did: the schedule in Berlin time, its next run at 07:00 there on a weekday.
    let (tz, berlin_time): (String, String) = sqlx::query_as(
        "SELECT tz, to_char(next_run_at AT TIME ZONE 'Europe/Berlin', 'HH24:MI') FROM report_schedules \
         WHERE name = 'Morning summary'",
    )
    .fetch_one(&web.db.pool)
    .await?;
    assert_eq!((tz.as_str(), berlin_time.as_str()), ("Europe/Berlin", "07:00"));
    let mails = sightline_testkit::mail::mails_to(&recipient)?;
    assert_eq!(mails.len(), 1, "the report sent now arrived once");
    assert!(mails[0].contains("Subject: Morning summary"), "{}", &mails[0][..mails[0].len().min(2000)]);
    web.finish(&["18-reports"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_browses_the_apis_each_service_documents() -> anyhow::Result<()> {
    let password = "the viewer's password";
    let web = WebApp::start("browser_reference", &[("vic", password, Role::Viewer)]).await?;
    // Each service serves, through the entry point and to anyone, the document kept for the app's client.
    for service in ["query", "ingest", "enrich", "notifier", "scheduler"] {
        let path = format!("/api/openapi/{service}.json");
        let (status, served) = stack::http_request(web.proxy.port, "GET", &path, None, "application/json", b"")?;
        assert_eq!(status, 200, "{path}: {served}");
        let kept = std::fs::read_to_string(sightline_common::openapi::kept_path(service))?;
        let served: serde_json::Value = serde_json::from_str(&served)?;
        assert_eq!(served, serde_json::from_str::<serde_json::Value>(&kept)?, "{path} is the kept document");
    }
    drive("reference.mjs", "", &web.settings("vic", password, &[]));
    web.finish(&["19-api-reference", "22-not-for-role"]).await
}
