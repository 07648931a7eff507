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
    let app = built_app();
    let iso = Isolation::new("browser", 1).await?;
    let db = TestDatabase::create("test_browser").await?;
    let password = "a browser's password";
    sightline_common::accounts::create_user(&db.pool, "olga", password, Role::Operator).await?;
    sightline_common::auth::register(&db.pool, "setup", "setup-token", Role::Admin).await?;
    let services = ApiServices::start(&iso, &db).await?;
    let stream = json!({"name": "Front door", "source_url": "rtsp://127.0.0.1:9/door", "site": "hq"});
    let (status, created) = call(services.ingest, "POST", "/v1/streams", "setup-token", Some(stream))?;
    assert_eq!(status, 201, "{created}");
    let proxy = Proxy::start(&iso.group, &app, &services).await?;

    let shots = stack::data_dir().join("test-artifacts/web");
    let state = proxy.run_dir.join("browser-state.json");
    let settings = [
        ("SIGHTLINE_WEB_URL", format!("http://localhost:{}", proxy.port)),
        ("SIGHTLINE_E2E_USER", "olga".to_owned()),
        ("SIGHTLINE_E2E_PASSWORD", password.to_owned()),
        ("SIGHTLINE_E2E_STREAM", "Front door".to_owned()),
        ("SIGHTLINE_E2E_STATE", state.display().to_string()),
        ("SIGHTLINE_E2E_SHOTS", shots.display().to_string()),
    ];
    drive("session.mjs", "login", &settings);
    // Thirty idle minutes pass for the session the browser holds.
    let ended = sqlx::query("UPDATE sessions SET idle_expires_at = now() - interval '1 second' WHERE ended_at IS NULL")
        .execute(&db.pool)
        .await?;
    assert_eq!(ended.rows_affected(), 1, "the browser's one session");
    drive("session.mjs", "expired", &settings);
    for name in ["01-login", "02-streams", "03-session-ended", "04-logged-out"] {
        assert!(is_png(&shots.join(format!("{name}.png"))), "screenshot {name}");
    }
    drop(proxy);
    drop(services);
    db.remove().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_makes_users_and_tokens_on_screen() -> anyhow::Result<()> {
    let app = built_app();
    let iso = Isolation::new("browser_admin", 1).await?;
    let db = TestDatabase::create("test_browser_admin").await?;
    let password = "the admin's password";
    sightline_common::accounts::create_user(&db.pool, "ada", password, Role::Admin).await?;
    let services = ApiServices::start(&iso, &db).await?;
    let proxy = Proxy::start(&iso.group, &app, &services).await?;
    let shots = stack::data_dir().join("test-artifacts/web");
    let settings = [
        ("SIGHTLINE_WEB_URL", format!("http://localhost:{}", proxy.port)),
        ("SIGHTLINE_E2E_USER", "ada".to_owned()),
        ("SIGHTLINE_E2E_PASSWORD", password.to_owned()),
        ("SIGHTLINE_E2E_SHOTS", shots.display().to_string()),
    ];
    drive("admin.mjs", "", &settings);
    // What the screen did, as stored.
    let vera: (String, bool) =
        sqlx::query_as("SELECT role, disabled_at IS NOT NULL FROM users WHERE username = 'vera'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(vera, ("analyst".to_owned(), true));
    let token: (String, bool) =
        sqlx::query_as("SELECT role, revoked_at IS NOT NULL FROM api_tokens WHERE name = 'nightly-export'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(token, ("analyst".to_owned(), true));
    for name in ["05-admin", "06-admin-revoked"] {
        assert!(is_png(&shots.join(format!("{name}.png"))), "screenshot {name}");
    }
    drop(proxy);
    drop(services);
    db.remove().await?;
    Ok(())
}
