//! Logins under attack, against the real query service on PostgreSQL: simultaneous guesses at one
//! account check no more passwords than the lockout allows, and a flood of wrong logins from many
//! addresses leaves the service's memory flat (password work runs on one thread per core, and a
//! login that cannot get one in time is a 503), after which a correct login still succeeds.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;
use sightline_common::accounts::{self, AccountSettings};
use sightline_common::auth::Role;
use sightline_testkit::stack::{self, Isolation, PeakMemory, ServiceProcess, TestDatabase, http_exchange_with, rss_mb};
use sightline_testkit::web::wait_for_port;
use std::collections::BTreeMap;

const PASSWORD: &str = "correct horse battery staple";

/// How much the query service's resident memory may grow during the flood. One argon2id
/// computation takes 19 MiB, and two run at once on this machine's two cores; the rest is headroom
/// for 200 requests' buffers. Before the bound, 100 wrong logins took the service up by 1.8 GB.
const FLOOD_GROWTH_LIMIT_MB: u64 = 160;

/// One login with `X-Real-IP: client`, as the proxy forwards it: the status.
fn login(port: u16, username: &str, password: &str, client: &str) -> u16 {
    let body = json!({"username": username, "password": password}).to_string();
    let headers = [("X-Real-IP", client)];
    http_exchange_with(port, "POST", "/v1/auth/login", &headers, "application/json", body.as_bytes())
        .map_or(0, |answer| answer.status)
}

/// The statuses of `attempts` (username, password, client) sent at once, counted by status.
fn at_once(port: u16, attempts: &[(String, String, String)]) -> BTreeMap<u16, usize> {
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = attempts
            .iter()
            .map(|(user, password, client)| scope.spawn(move || login(port, user, password, client)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let mut counted = BTreeMap::new();
    for status in statuses {
        *counted.entry(status).or_default() += 1;
    }
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_bounded_in_count_and_memory() -> anyhow::Result<()> {
    let iso = Isolation::new("logins", 1).await?;
    let db = TestDatabase::create("test_logins").await?;
    accounts::create_user(&db.pool, "ada", PASSWORD, Role::Admin).await?;
    accounts::create_user(&db.pool, "bob", PASSWORD, Role::Analyst).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    sightline_common::warehouse::migrate(&clickhouse).await?;
    let port = stack::free_port()?;
    let settings = stack::api_settings(port, &db.url, &clickhouse);
    let mut query = ServiceProcess::start("sightline-query", "QUERY", "METRICS_ADDR", &[], &settings, &iso.group)?;
    wait_for_port(port).await?;
    let limit = AccountSettings::default().max_failures_per_user as usize;

    // Sixteen wrong passwords for one account at once: only the lockout's allowance is checked.
    let guesses: Vec<_> =
        (0..16).map(|i| ("ada".to_owned(), format!("wrong guess {i}"), "198.51.100.7".to_owned())).collect();
    let answered = tokio::task::spawn_blocking(move || at_once(port, &guesses)).await?;
    assert_eq!(answered.get(&401).copied().unwrap_or(0), limit, "{answered:?}");
    assert_eq!(answered.get(&429).copied().unwrap_or(0), 16 - limit, "{answered:?}");
    assert_eq!(login(port, "ada", PASSWORD, "203.0.113.9"), 429, "the account is locked, right password or not");
    let failures: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE username = 'ada'").fetch_one(&db.pool).await?;
    assert_eq!(failures, limit as i64, "refused attempts leave no record");
    // The window passes.
    sqlx::query("DELETE FROM login_failures").execute(&db.pool).await?;

    // 200 wrong logins at once from 200 addresses, for names that exist and names that do not.
    let pid = query.pid();
    let before = rss_mb(pid);
    let watch = PeakMemory::watch(pid);
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let user = if i % 2 == 0 { "bob".to_owned() } else { format!("guess{i}") };
            (user, format!("flood {i}"), format!("10.77.{}.{}", i / 100, i % 100))
        })
        .collect();
    let answered = tokio::task::spawn_blocking(move || at_once(port, &flood)).await?;
    let (peak, after) = (watch.stop(), rss_mb(pid));
    println!("query service memory: {before} MiB before, {peak} MiB at most during 200 logins, {after} MiB after");
    println!("answers: {answered:?}");
    assert_eq!(answered.values().sum::<usize>(), 200);
    assert!(
        answered.keys().all(|status| [401, 429, 503].contains(status)),
        "every login is refused as wrong, throttled or busy: {answered:?}"
    );
    assert!(answered.get(&401).is_some_and(|n| *n >= 2), "some passwords were checked: {answered:?}");
    assert!(
        peak.saturating_sub(before) <= FLOOD_GROWTH_LIMIT_MB,
        "memory grew from {before} to {peak} MiB (limit +{FLOOD_GROWTH_LIMIT_MB})"
    );
    assert!(after.saturating_sub(before) <= FLOOD_GROWTH_LIMIT_MB, "memory stays: {before} -> {after} MiB");

    // Right after, a correct login succeeds.
    assert_eq!(login(port, "ada", PASSWORD, "192.0.2.44"), 200);
    assert!(query.is_running(), "the query service survived");
    drop(query);
    db.remove().await?;
    Ok(())
}
