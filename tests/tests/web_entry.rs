//! The web app's one origin: nginx with the project's configuration in front of every service,
//! users logging in with passwords (argon2) into cookie sessions guarded by a CSRF token, throttled
//! guessing, sessions that end (logout, idle, disabled user), and bearer tokens for programs with
//! expiry, listing and revocation, over the API and in `sightline-admin`.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;
use sightline_testkit::stack::{self, Isolation, TestDatabase, http_exchange};
use sightline_testkit::web::{ApiServices, Browser, Proxy, json};
use std::io::Write;
use std::process::{Command, Stdio};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Runs `sightline-admin` on the test's database with `stdin` as its input: its standard output.
fn admin(db: &TestDatabase, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(stack::binary("sightline-admin").unwrap())
        .args(args)
        .env("SIGHTLINE_ADMIN__POSTGRES_URL", &db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sightline-admin {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

fn error_of(response: &stack::HttpResponse) -> String {
    json(response).unwrap()["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_origin_with_sessions_and_tokens() -> anyhow::Result<()> {
    let iso = Isolation::new("web", 1).await?;
    let db = TestDatabase::create("test_web").await?;
    let created =
        admin(&db, &["user", "create", "--username", "ada", "--role", "admin"], &format!("{ADMIN_PASSWORD}\n"));
    assert!(created.contains("user ada (admin) created"), "{created}");
    let mut services = ApiServices::start(&iso, &db).await?;
    let web_root = stack::data_dir().join(format!("run/web-root-{}", iso.group));
    std::fs::create_dir_all(&web_root)?;
    std::fs::write(web_root.join("index.html"), "<!doctype html><title>Sightline</title><p>app shell")?;
    let proxy = Proxy::start(&iso.group, &web_root, &services).await?;
    let mut ada = Browser::new(proxy.port);

    // The app and the APIs on one origin, with the security headers on every answer.
    for path in ["/", "/watchlists/some-list"] {
        let page = ada.request("GET", path, None)?;
        assert_eq!(page.status, 200, "{path}");
        assert!(String::from_utf8_lossy(&page.body).contains("app shell"), "{path} serves the app");
    }
    let anonymous = ada.request("GET", "/api/v1/streams", None)?;
    assert_eq!(anonymous.status, 401);
    assert!(error_of(&anonymous).contains("missing bearer token or session"));
    for answer in [ada.request("GET", "/", None)?, anonymous] {
        let csp = answer.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    }

    // Login: one message for a wrong password and an unknown user; then a cookie a script cannot
    // read, sent to this site only, over HTTPS (browsers treat localhost as secure).
    for (user, password) in [("ada", "wrong password!"), ("nobody", ADMIN_PASSWORD)] {
        let refused = ada.login(user, password)?;
        assert_eq!(refused.status, 401, "{user}");
        assert_eq!(error_of(&refused), "wrong username or password");
    }
    let login = ada.login("ada", ADMIN_PASSWORD)?;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let cookie = login.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert_eq!(json(&login)?["role"], "admin");
    let me = json(&ada.request("GET", "/api/v1/auth/session", None)?)?;
    assert_eq!((me["name"].as_str(), me["via"].as_str()), (Some("ada"), Some("session")));

    // Every service answers the session through the one origin.
    for path in ["/api/v1/streams", "/api/v1/watchlists", "/api/v1/alert-rules", "/api/v1/schedules", "/api/v1/users"] {
        let answer = ada.request("GET", path, None)?;
        assert_eq!(answer.status, 200, "{path}: {}", String::from_utf8_lossy(&answer.body));
        json(&answer)?;
    }
    let timeline = ada.request("GET", "/api/v1/stats/timeline?from=0&to=3600000", None)?;
    assert_eq!(timeline.status, 200, "{}", String::from_utf8_lossy(&timeline.body));

    // A change needs the session's CSRF token: a page elsewhere that makes the browser post (with
    // its cookie) cannot read it.
    let csrf = ada.csrf_token.take();
    let forged = ada.request("POST", "/api/v1/watchlists", Some(json!({"name": "forged"})))?;
    assert_eq!(forged.status, 403);
    assert!(error_of(&forged).contains("X-CSRF-Token"));
    ada.csrf_token = csrf;
    let list = ada.request("POST", "/api/v1/watchlists", Some(json!({"name": "door"})))?;
    assert_eq!(list.status, 201, "{}", String::from_utf8_lossy(&list.body));

    // The admin makes a viewer over the API; the viewer sees aggregates, not people or accounts.
    let viewer_password = "viewer password 1";
    let created = ada.request(
        "POST",
        "/api/v1/users",
        Some(json!({"username": "vic", "password": viewer_password, "role": "viewer"})),
    )?;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let vic_id = json(&created)?["id"].as_str().unwrap().to_owned();
    let short =
        ada.request("POST", "/api/v1/users", Some(json!({"username": "x", "password": "short", "role": "viewer"})))?;
    assert_eq!(short.status, 400);
    assert!(error_of(&short).contains("at least 10 characters"));
    let mut vic = Browser::new(proxy.port);
    assert_eq!(vic.login("vic", viewer_password)?.status, 200);
    assert_eq!(vic.request("GET", "/api/v1/stats/timeline?from=0&to=3600000", None)?.status, 200);
    for path in ["/api/v1/events?from=0&to=3600000", "/api/v1/users", "/api/v1/tokens"] {
        assert_eq!(vic.request("GET", path, None)?.status, 403, "{path}");
    }

    // An idle session ends: its deadline is moved to the past, as 30 minutes without a request would.
    sqlx::query(
        "UPDATE sessions s SET idle_expires_at = now() - interval '1 second' FROM users u \
                 WHERE u.id = s.user_id AND u.username = 'vic'",
    )
    .execute(&db.pool)
    .await?;
    let idle = vic.request("GET", "/api/v1/stats/timeline?from=0&to=3600000", None)?;
    assert_eq!(idle.status, 401);
    assert_eq!(error_of(&idle), "session ended; log in again");

    // Disabling a user ends their sessions and refuses their logins.
    assert_eq!(vic.login("vic", viewer_password)?.status, 200);
    let disable = ada.request("PATCH", &format!("/api/v1/users/{vic_id}"), Some(json!({"disabled": true})))?;
    assert_eq!(disable.status, 204, "{}", String::from_utf8_lossy(&disable.body));
    assert_eq!(vic.request("GET", "/api/v1/auth/session", None)?.status, 401);
    assert_eq!(vic.login("vic", viewer_password)?.status, 401);

    // Guessing is throttled per username: after 5 failures even the right password is refused. A
    // failure from before the 15-minute window does not count, and is dropped.
    sqlx::query(
        "INSERT INTO login_failures (username, client, failed_at) VALUES ('ada', '', now() - interval '20 minutes')",
    )
    .execute(&db.pool)
    .await?;
    for attempt in 0..5 {
        assert_eq!(Browser::new(proxy.port).login("ada", &format!("guess {attempt}"))?.status, 401);
    }
    let throttled = Browser::new(proxy.port).login("ada", ADMIN_PASSWORD)?;
    assert_eq!(throttled.status, 429);
    assert!(error_of(&throttled).contains("too many failed logins for this username"));
    let stale: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE failed_at < now() - interval '15 minutes'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(stale, 0, "failures older than the window are dropped");

    // Tokens for programs: issued with an expiry, listed without their secret, revoked.
    let issued = ada.request(
        "POST",
        "/api/v1/tokens",
        Some(json!({"name": "exporter", "role": "analyst", "expires_in_days": 30})),
    )?;
    assert_eq!(issued.status, 201, "{}", String::from_utf8_lossy(&issued.body));
    let issued = json(&issued)?;
    let (token, token_id) = (issued["token"].as_str().unwrap().to_owned(), issued["id"].as_str().unwrap().to_owned());
    let events = "/api/v1/events?from=0&to=3600000";
    assert_eq!(http_exchange(proxy.port, "GET", events, Some(&token), "", &[])?.status, 200);
    let listed = json(&ada.request("GET", "/api/v1/tokens", None)?)?;
    let row = listed["tokens"].as_array().unwrap().iter().find(|t| t["id"] == token_id.as_str()).unwrap().clone();
    assert_eq!((row["state"].as_str(), row["name"].as_str()), (Some("active"), Some("exporter")));
    assert!(!listed.to_string().contains(&token), "a listing never shows a secret");
    // Thirty days pass for the token.
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(&token_id)
        .execute(&db.pool)
        .await?;
    let expired = http_exchange(proxy.port, "GET", events, Some(&token), "", &[])?;
    assert_eq!((expired.status, error_of(&expired)), (401, "token expired".to_owned()));
    let cli_token = admin(&db, &["token", "create", "--name", "cron", "--role", "viewer"], "").trim().to_owned();
    assert_eq!(http_exchange(proxy.port, "GET", "/api/v1/streams", Some(&cli_token), "", &[])?.status, 200);
    let cli_id = admin(&db, &["token", "list"], "")
        .lines()
        .find(|line| line.ends_with(" cron"))
        .and_then(|line| line.split_whitespace().next())
        .expect("the cron token listed")
        .to_owned();
    assert_eq!(ada.request("DELETE", &format!("/api/v1/tokens/{cli_id}"), None)?.status, 204);
    let revoked = http_exchange(proxy.port, "GET", "/api/v1/streams", Some(&cli_token), "", &[])?;
    assert_eq!((revoked.status, error_of(&revoked)), (401, "unknown or revoked token".to_owned()));
    let states = admin(&db, &["token", "list"], "");
    assert!(states.lines().any(|l| l.contains(" revoked ") && l.ends_with(" cron")), "{states}");
    assert!(states.lines().any(|l| l.contains(" expired ") && l.ends_with(" exporter")), "{states}");

    // No credential travels in a URL: the proxy refuses a token in the query string before any log
    // line could hold it, and logs other credential-like values as ***.
    let in_url = http_exchange(proxy.port, "GET", &format!("/api/v1/alerts/live?access_token={token}"), None, "", &[])?;
    assert_eq!(in_url.status, 400);
    assert!(error_of(&in_url).contains("Authorization header"), "{}", error_of(&in_url));
    let ticket_url = "/api/v1/alerts/live?ticket=tk_a_spent_ticket_value";
    assert_eq!(http_exchange(proxy.port, "GET", ticket_url, None, "", &[])?.status, 401, "an unknown ticket");
    let log = stack::eventually(std::time::Duration::from_secs(10), "the proxy's access log", || async {
        let log = std::fs::read_to_string(proxy.run_dir.join("access.log")).unwrap_or_default();
        Ok(log.contains("ticket=***").then_some(log))
    })
    .await?;
    assert!(!log.contains(&token) && !log.contains("tk_a_spent_ticket_value"), "no credential in the access log");
    assert!(log.contains("access_token=***"), "the refused request is logged, masked");

    // Logging out ends the session: the cookie is cleared, and the old one no longer works.
    let old_cookie = ada.cookie.clone();
    let logout = ada.request("POST", "/api/v1/auth/logout", None)?;
    assert_eq!(logout.status, 204);
    assert!(logout.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(ada.cookie, None);
    ada.cookie = old_cookie;
    assert_eq!(ada.request("GET", "/api/v1/auth/session", None)?.status, 401);

    assert!(services.all_running(), "no service died");
    drop(proxy);
    drop(services);
    db.remove().await?;
    Ok(())
}
