//! End-to-end test of the query API on the real stack: generated events go through Kafka and the
//! writer into ClickHouse (18.16), then `sightline-query` (a real process) must answer every read
//! exactly as the generator's own copy of the events says, enforce token roles, and reject bad
//! requests with JSON errors; while its warehouse is down it answers 503 and is not ready.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;
use sightline_common::auth::Role;
use sightline_schemas::v1::EnrichedEvent;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile};
use sightline_testkit::stack::{
    self, PrivateClickHouse, ServiceProcess, TestDatabase, eventually, http_exchange, http_request,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const EVENTS: u64 = 300;
const ANALYST: &str = "analyst-secret";
const VIEWER: &str = "viewer-secret";

/// GETs `path` with `token`: (status, JSON body).
fn get(port: u16, path: &str, token: Option<&str>) -> anyhow::Result<(u16, Value)> {
    let (status, body) = http_request(port, "GET", path, token, "", b"")?;
    let json = serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("{path}: {e}: {body}"))?;
    Ok((status, json))
}

/// Every event of `GET /v1/events?{query}`, following `next_cursor` with pages of `page` events;
/// returns the ids in the order served and the number of pages.
fn all_events(port: u16, query: &str, page: u32) -> anyhow::Result<(Vec<Value>, usize)> {
    let (mut events, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, body) = get(port, &format!("/v1/events?{query}&limit={page}{after}"), Some(ANALYST))?;
        anyhow::ensure!(status == 200, "events page: {status} {body}");
        pages += 1;
        events.extend(body["events"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok((events, pages)),
        }
        anyhow::ensure!(pages < 100, "pagination does not end");
    }
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events.iter().filter_map(|e| e["id"].as_str().map(str::to_owned)).collect()
}

fn expected_ids(events: &[EnrichedEvent], keep: impl Fn(&EnrichedEvent) -> bool) -> BTreeSet<String> {
    events.iter().filter(|e| keep(e)).map(|e| e.event_id.clone()).collect()
}

fn detection(event: &EnrichedEvent) -> &sightline_schemas::v1::DetectionEvent {
    event.detection.as_ref().expect("generated events carry their detection")
}

#[tokio::test]
async fn the_query_api_answers_from_the_warehouse() -> anyhow::Result<()> {
    // Events land through the real pipeline tail: Kafka, the writer, ClickHouse.
    let generator = EventGenerator::new(LoadProfile { seed: 21, ..Default::default() });
    let (iso, events) = stack::landed_events("query", &generator, EVENTS).await?;
    let clickhouse = stack::clickhouse(&iso.database);

    let db = TestDatabase::create("test_query").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    sightline_common::auth::register(&db.pool, "viewer", VIEWER, Role::Viewer).await?;
    let (query, port) = ServiceProcess::query_api(&db.url, &clickhouse, &iso.group).await?;

    let first_ms = events.iter().map(|e| detection(e).capture_time_ms).min().unwrap_or(0);
    let last_ms = events.iter().map(|e| detection(e).capture_time_ms).max().unwrap_or(0);
    let range = format!("from={first_ms}&to={}", last_ms + 1);

    // Every event, once, newest first, across pages.
    let (served, pages) = all_events(port, &range, 70)?;
    assert_eq!(pages, 5, "300 events in pages of 70");
    assert_eq!(served.len() as u64, EVENTS, "no event twice");
    assert_eq!(ids(&served), expected_ids(&events, |_| true));
    let times: Vec<i64> = served.iter().filter_map(|e| e["capture_ms"].as_i64()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Filters, each against the generator's own copy.
    let (faces_b, _) = all_events(port, &format!("{range}&site=site-b&kind=face"), 1000)?;
    assert_eq!(ids(&faces_b), expected_ids(&events, |e| detection(e).site == "site-b" && detection(e).kind == 1));
    let matched = expected_ids(&events, |e| !e.matches.is_empty());
    assert!(!matched.is_empty(), "the generator matches some faces");
    assert_eq!(ids(&all_events(port, &format!("{range}&matched=true"), 1000)?.0), matched);
    let some_match = events.iter().flat_map(|e| &e.matches).next().expect("a match").clone();
    let in_list = expected_ids(&events, |e| e.matches.iter().any(|m| m.list_id == some_match.list_id));
    assert_eq!(ids(&all_events(port, &format!("{range}&list={}", some_match.list_id), 1000)?.0), in_list);
    let of_person = expected_ids(&events, |e| e.matches.iter().any(|m| m.person_id == some_match.person_id));
    assert_eq!(ids(&all_events(port, &format!("{range}&person={}", some_match.person_id), 1000)?.0), of_person);

    // One event, with its matches and best shot.
    let sample = events.iter().find(|e| e.matches.len() > 1).expect("an event with several matches");
    let (status, one) = get(port, &format!("/v1/events/{}", sample.event_id), Some(ANALYST))?;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["stream_id"], detection(sample).stream_id.as_str());
    assert_eq!(one["capture_ms"], detection(sample).capture_time_ms);
    assert!(one["capture_time"].as_str().is_some_and(|t| t.ends_with('Z')), "RFC 3339: {}", one["capture_time"]);
    let served_matches: Vec<(String, u64)> = one["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| (m["person_id"].as_str().unwrap_or("").to_owned(), m["rank"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let mut want: Vec<(String, u64)> =
        sample.matches.iter().map(|m| (m.person_id.clone(), u64::from(m.rank))).collect();
    want.sort_by_key(|(_, rank)| *rank);
    assert_eq!(served_matches, want);
    let shot_url = one["best_shot_url"].as_str().expect("a best-shot link").to_owned();
    let shot = http_exchange(port, "GET", &shot_url, Some(ANALYST), "", b"")?;
    assert_eq!((shot.status, shot.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(Some(&shot.body), detection(sample).best_shot_jpeg.as_ref(), "the stored JPEG, byte for byte");

    // Aggregates.
    let (status, timeline) = get(port, &format!("/v1/stats/timeline?{range}&bucket=minute"), Some(VIEWER))?;
    assert_eq!(status, 200, "{timeline}");
    let mut per_kind: BTreeMap<String, u64> = BTreeMap::new();
    for bucket in timeline["buckets"].as_array().cloned().unwrap_or_default() {
        assert_eq!(bucket["bucket_ms"].as_i64().unwrap_or(-1) % 60_000, 0, "minute buckets");
        *per_kind.entry(bucket["kind"].as_str().unwrap_or("").to_owned()).or_default() +=
            bucket["tracks"].as_u64().unwrap_or(0);
    }
    let faces = events.iter().filter(|e| detection(e).kind == 1).count() as u64;
    assert_eq!(per_kind, BTreeMap::from([("body".to_owned(), EVENTS - faces), ("face".to_owned(), faces)]));

    let (status, streams) = get(port, &format!("/v1/stats/streams?{range}"), Some(VIEWER))?;
    assert_eq!(status, 200, "{streams}");
    let served_streams: BTreeMap<String, (u64, u64)> = streams["streams"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|s| {
                    (
                        s["stream_id"].as_str().unwrap_or("").to_owned(),
                        (s["faces"].as_u64().unwrap_or(0), s["bodies"].as_u64().unwrap_or(0)),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut want_streams: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for event in &events {
        let entry = want_streams.entry(detection(event).stream_id.clone()).or_default();
        if detection(event).kind == 1 { entry.0 += 1 } else { entry.1 += 1 }
    }
    assert_eq!(served_streams, want_streams);

    let (status, persons) = get(port, &format!("/v1/stats/persons?{range}&limit=1000"), Some(ANALYST))?;
    assert_eq!(status, 200, "{persons}");
    let served_persons: BTreeMap<(String, String), u64> = persons["persons"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|p| {
                    let key = (
                        p["list_id"].as_str().unwrap_or("").to_owned(),
                        p["person_id"].as_str().unwrap_or("").to_owned(),
                    );
                    (key, p["sightings"].as_u64().unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default();
    // A person is sighted once per track whose best match they are.
    let mut want_persons: BTreeMap<(String, String), u64> = BTreeMap::new();
    for m in events.iter().filter_map(|e| e.matches.iter().max_by(|a, b| a.similarity.total_cmp(&b.similarity))) {
        *want_persons.entry((m.list_id.clone(), m.person_id.clone())).or_default() += 1;
    }
    assert_eq!(served_persons, want_persons);
    // One person's sightings: the person filter answers their row alone.
    let (_, person) = want_persons.keys().next().expect("a matched person");
    let (status, one) = get(port, &format!("/v1/stats/persons?{range}&person={person}"), Some(ANALYST))?;
    assert_eq!(status, 200, "{one}");
    let rows = one["persons"].as_array().cloned().unwrap_or_default();
    let listed: u64 = want_persons.iter().filter(|((_, p), _)| p == person).map(|(_, n)| n).sum();
    assert_eq!(rows.len(), want_persons.keys().filter(|(_, p)| p == person).count(), "{one}");
    assert!(rows.iter().all(|r| r["person_id"] == person.as_str()), "{one}");
    assert_eq!(rows.iter().map(|r| r["sightings"].as_u64().unwrap_or(0)).sum::<u64>(), listed, "{one}");

    // Reports: every selected event as CSV; a PDF for people with the latest events' best shots.
    let csv = http_exchange(
        port,
        "GET",
        &format!("/v1/reports/events.csv?{range}&site=site-b&kind=face"),
        Some(ANALYST),
        "",
        b"",
    )?;
    assert_eq!((csv.status, csv.header("content-type")), (200, Some("text/csv; charset=utf-8")));
    let csv = String::from_utf8(csv.body)?;
    let mut lines = csv.lines();
    assert!(lines.next().is_some_and(|header| header.starts_with("event_id,capture_time,")), "{csv}");
    let csv_ids: BTreeSet<String> = lines.filter_map(|l| l.split(',').next().map(str::to_owned)).collect();
    assert_eq!(csv_ids, ids(&faces_b), "the CSV holds exactly the selected events");
    let pdf = http_exchange(
        port,
        "GET",
        &format!("/v1/reports/summary.pdf?{range}&matched=true&limit=10"),
        Some(ANALYST),
        "",
        b"",
    )?;
    assert_eq!((pdf.status, pdf.header("content-type")), (200, Some("application/pdf")));
    let contents = sightline_exporter::read_pdf(&pdf.body).map_err(anyhow::Error::msg)?;
    assert_eq!(contents.images, 10, "the ten latest matched events, each with its best shot");
    let newest_matched =
        events.iter().filter(|e| !e.matches.is_empty()).max_by_key(|e| detection(e).capture_time_ms).expect("a match");
    let matched = events.iter().filter(|e| !e.matches.is_empty()).count();
    for needle in [
        format!("Seen on these streams: {faces} faces, {} bodies", EVENTS - faces),
        "Filters: matched = true".to_owned(),
        format!("10 of the {matched} events these filters select are shown here"),
        newest_matched.matches[0].person_display_name.clone(),
        detection(newest_matched).stream_id.clone(),
    ] {
        assert!(contents.text.contains(&needle), "{needle:?} missing from the PDF: {}", contents.text);
    }
    let (status, _) = get(port, &format!("/v1/reports/summary.pdf?{range}"), Some(VIEWER))?;
    assert_eq!(status, 403, "viewers get no faces in reports either");

    // The PDF as people read it, rendered by poppler: every person's name in its own script (the
    // generator's names are Latin, Cyrillic, CJK, Greek and Arabic), times in the zone asked for.
    let tokyo_pdf = format!("/v1/reports/summary.pdf?{range}&matched=true&limit=10&tz=Asia/Tokyo");
    let tokyo = http_exchange(port, "GET", &tokyo_pdf, Some(ANALYST), "", b"")?;
    assert_eq!(tokyo.status, 200, "{}", String::from_utf8_lossy(&tokyo.body));
    let rendered = sightline_testkit::pdf::render(&tokyo.body, "query-summary-tokyo")?;
    assert!(!rendered.pages.is_empty(), "poppler rendered no page");
    let mut newest_matched: Vec<&EnrichedEvent> = events.iter().filter(|e| !e.matches.is_empty()).collect();
    newest_matched.sort_by_key(|e| std::cmp::Reverse(detection(e).capture_time_ms));
    let shown: BTreeSet<String> =
        newest_matched.iter().take(10).flat_map(|e| &e.matches).map(|m| m.person_display_name.clone()).collect();
    let in_script = |range: std::ops::RangeInclusive<char>| shown.iter().any(|n| n.chars().any(|c| range.contains(&c)));
    assert!(in_script('\u{0400}'..='\u{04FF}') && in_script('\u{4E00}'..='\u{9FFF}'), "{shown:?}");
    // pdftotext marks right-to-left text with bidi controls; a reader copying it gets the name.
    let text: String =
        rendered.text.chars().filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')).collect();
    for name in &shown {
        // "محمد علي 19" reads right to left, so its number stands at the left of the line.
        let (words, number) = name.rsplit_once(' ').expect("a name and a number");
        let on_a_line = text.lines().any(|line| line.contains(words) && line.contains(&format!("{number} ")));
        let on_a_line = on_a_line || text.lines().any(|line| line.contains(&format!("{words} {number}")));
        assert!(on_a_line, "{name:?} missing from the rendered PDF: {text}");
    }
    let tokyo_time = |ms: i64| {
        let utc = sightline_common::clock::format_time(ms.div_euclid(1000) * 1000 + 9 * 3_600_000);
        format!("{} +09:00", utc[..19].replace('T', " "))
    };
    let header = format!("From {} to {} (Asia/Tokyo)", tokyo_time(first_ms), tokyo_time(last_ms + 1));
    assert!(text.contains(&header), "{header:?} missing from the rendered PDF: {text}");
    let (status, body) = get(port, &format!("/v1/reports/summary.pdf?{range}&tz=Mars/Olympus"), Some(ANALYST))?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("tz")), "{body}");
    let (status, body) = get(port, &format!("/v1/events?{range}&tz=Asia/Tokyo"), Some(ANALYST))?;
    assert_eq!(status, 400, "only the PDF takes a time zone: {body}");

    // Every export made is in the audit log, newest first, with who, the filters and how many
    // events; refused ones (the viewer's, the unknown zone) are not. Admins read it.
    sightline_common::auth::register(&db.pool, "auditor", "auditor-secret", Role::Admin).await?;
    let (status, log) = get(port, "/v1/audit?action=export", Some("auditor-secret"))?;
    assert_eq!(status, 200, "{log}");
    let records: Vec<(String, String, String, i64)> = log["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let (action, who) = (r["action"].as_str().unwrap_or(""), r["who"].as_str().unwrap_or(""));
            let subject = r["subject"].as_str().unwrap_or("");
            (action.to_owned(), who.to_owned(), subject.to_owned(), r["count"].as_i64().unwrap_or(-1))
        })
        .collect();
    let faces_b_count = i64::try_from(ids(&faces_b).len())?;
    assert_eq!(
        records,
        [
            ("export.pdf".to_owned(), "analyst".to_owned(), format!("{range}&matched=true&limit=10&tz=Asia/Tokyo"), 10),
            ("export.pdf".to_owned(), "analyst".to_owned(), format!("{range}&matched=true&limit=10"), 10),
            ("export.csv".to_owned(), "analyst".to_owned(), format!("{range}&site=site-b&kind=face"), faces_b_count),
        ],
        "{log}"
    );
    assert_eq!(get(port, "/v1/audit", Some(ANALYST))?.0, 403, "the audit log is for admins");
    let csv = http_exchange(port, "GET", "/v1/audit.csv?action=export", Some("auditor-secret"), "", b"")?;
    assert_eq!((csv.status, csv.header("content-type")), (200, Some("text/csv; charset=utf-8")));
    let csv = String::from_utf8(csv.body)?;
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("id,at,who,role,via,service,action,subject,count"), "{csv}");
    assert_eq!(rows.len(), 4, "the header and the three exports: {csv}");
    assert!(rows[3].contains(",analyst,analyst,token,query,export.csv,") && rows[3].contains("site=site-b"), "{csv}");
    let refused = sqlx::query("UPDATE audit_log SET principal_name = 'someone else'").execute(&db.pool).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("append-only")), "records cannot be changed");
    let refused = sqlx::query("DELETE FROM audit_log").execute(&db.pool).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("append-only")), "records cannot be deleted");

    // Roles: viewers see aggregates only; no token, no answer.
    let (status, body) = get(port, &format!("/v1/events?{range}"), Some(VIEWER))?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(http_exchange(port, "GET", &shot_url, Some(VIEWER), "", b"")?.status, 403);
    let (status, body) = get(port, &format!("/v1/stats/streams?{range}"), None)?;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string());
    let (status, _) = get(port, "/v1/stats/streams", Some("not-a-token"))?;
    assert_eq!(status, 401);

    // Bad requests: a 400 naming the parameter; unknown things: 404. All JSON.
    for (path, names) in [
        ("/v1/events?kind=car", "kind"),
        ("/v1/events?limit=0", "limit"),
        ("/v1/events?from=yesterday", "from"),
        ("/v1/events?cursor=garbage", "cursor"),
        ("/v1/events?colour=red", "colour"),
        ("/v1/stats/timeline?bucket=week", "bucket"),
        ("/v1/events/not-a-uuid", "not-a-uuid"),
    ] {
        let (status, body) = get(port, path, Some(ANALYST))?;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(names)), "{path}: {body}");
    }
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(get(port, &format!("/v1/events/{unknown}"), Some(ANALYST))?.0, 404);
    assert_eq!(get(port, &format!("/v1/events/{unknown}/best-shot"), Some(ANALYST))?.0, 404);
    assert_eq!(get(port, "/v1/nothing", Some(ANALYST))?.0, 404);

    // The metrics of all the above.
    assert!(query.metric("sightline_query_requests_total")? >= 20.0);

    assert!(query.terminate(Duration::from_secs(10)), "SIGTERM gives a clean exit");
    db.remove().await?;
    Ok(())
}

#[tokio::test]
async fn a_warehouse_outage_is_a_503_and_not_ready_until_it_returns() -> anyhow::Result<()> {
    let mut server = PrivateClickHouse::start().await?;
    let clickhouse = server.settings("query_outage");
    sightline_common::warehouse::migrate(&clickhouse).await?;
    let db = TestDatabase::create("test_query_outage").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    let (query, port) = ServiceProcess::query_api(&db.url, &clickhouse, "query-outage").await?;
    assert_eq!(get(port, "/v1/stats/streams", Some(ANALYST))?.0, 200);

    server.stop()?;
    let (status, body) = get(port, "/v1/events", Some(ANALYST))?;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("warehouse")), "{body}");
    eventually(Duration::from_secs(20), "/readyz to report the outage", || async {
        Ok(query.get("/readyz").ok().filter(|(status, _)| *status == 503).map(|_| ()))
    })
    .await?;

    server.resume().await?;
    eventually(Duration::from_secs(30), "answers once the warehouse is back", || async {
        Ok((get(port, "/v1/events", Some(ANALYST))?.0 == 200).then_some(()))
    })
    .await?;
    query.wait_ready(Duration::from_secs(20), "/readyz to recover").await?;
    db.remove().await?;
    Ok(())
}

/// The README's `sightline-query --config query/query.toml` starts with the shipped file, whose
/// face-model folder does not exist here: the service runs, `/readyz` is 200 and says searches by
/// photo are unavailable and why, and such a search is a 503 with the reason.
#[tokio::test]
async fn the_shipped_configuration_starts_without_the_face_models() -> anyhow::Result<()> {
    let clickhouse = stack::clickhouse("query_no_models");
    sightline_common::warehouse::migrate(&clickhouse).await?;
    let db = TestDatabase::create("test_query_no_models").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    let port = stack::free_port()?;
    let settings = stack::api_settings(port, &db.url, &clickhouse);
    let config = stack::repo_root().join("query/query.toml");
    let config = config.to_string_lossy();
    let mut query = ServiceProcess::start(
        "sightline-query",
        "QUERY",
        "METRICS_ADDR",
        &["--config", &config],
        &settings,
        "query-no-models",
    )?;
    let readiness = eventually(Duration::from_secs(30), "the query service to be ready", || async {
        Ok(query.get("/readyz").ok().filter(|(status, _)| *status == 200).map(|(_, body)| body))
    })
    .await?;
    assert!(readiness.contains("unavailable: search by photo"), "{readiness}");
    let search = http_exchange(port, "POST", "/v1/search/faces", Some(ANALYST), "image/png", b"\x89PNG not decoded")?;
    let body = String::from_utf8_lossy(&search.body);
    assert_eq!(search.status, 503, "{body}");
    assert!(body.contains("search by photo is unavailable"), "{body}");
    assert_eq!(get(port, "/v1/stats/streams", Some(ANALYST))?.0, 200, "everything else works");
    assert!(query.is_running());
    drop(query);
    db.remove().await?;
    Ok(())
}

/// Tracks reported several times (first, improved, ended): every list and every count of the API,
/// the CSV and the PDF has one entry per track, never one per report; `every_report=true` lists the
/// history.
#[tokio::test]
async fn lists_and_counts_are_one_per_track() -> anyhow::Result<()> {
    const REPORTS: u64 = 90; // 30 tracks of three reports each
    let generator = EventGenerator::new(LoadProfile { seed: 23, reports_per_track: 3, ..Default::default() });
    let (iso, events) = stack::landed_events("tracks", &generator, REPORTS).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let db = TestDatabase::create("test_query_tracks").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    let (_query, port) = ServiceProcess::query_api(&db.url, &clickhouse, &iso.group).await?;
    let first_ms = events.iter().map(|e| detection(e).capture_time_ms).min().unwrap_or(0);
    let last_ms = events.iter().map(|e| detection(e).capture_time_ms).max().unwrap_or(0);
    let range = format!("from={first_ms}&to={}", last_ms + 1);
    let tracks: Vec<&EnrichedEvent> = events.iter().filter(|e| detection(e).track_ended).collect();
    assert_eq!(tracks.len(), 30);
    let track_ids: BTreeSet<String> = tracks.iter().map(|e| e.event_id.clone()).collect();

    // Lists: one row per track, its last report; the history on request.
    assert_eq!(ids(&all_events(port, &range, 1000)?.0), track_ids, "one row per track, its latest report");
    let history = all_events(port, &format!("{range}&every_report=true"), 1000)?.0;
    assert_eq!(ids(&history), expected_ids(&events, |_| true), "every report on request");
    let matched: BTreeSet<String> =
        tracks.iter().filter(|e| !e.matches.is_empty()).map(|e| e.event_id.clone()).collect();
    assert!(!matched.is_empty());
    assert_eq!(ids(&all_events(port, &format!("{range}&matched=true"), 1000)?.0), matched);

    // Counts: people, not reports.
    let faces = tracks.iter().filter(|e| detection(e).kind == 1).count() as u64;
    let (_, streams) = get(port, &format!("/v1/stats/streams?{range}"), Some(ANALYST))?;
    let counted: u64 = streams["streams"]
        .as_array()
        .map(|rows| rows.iter().map(|s| s["faces"].as_u64().unwrap_or(0) + s["bodies"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(counted, 30, "{streams}");
    let (_, timeline) = get(port, &format!("/v1/stats/timeline?{range}&bucket=minute"), Some(ANALYST))?;
    let in_buckets: u64 = timeline["buckets"]
        .as_array()
        .map(|rows| rows.iter().map(|b| b["tracks"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(in_buckets, 30, "{timeline}");
    let (_, persons) = get(port, &format!("/v1/stats/persons?{range}&limit=1000"), Some(ANALYST))?;
    let sightings: u64 = persons["persons"]
        .as_array()
        .map(|rows| rows.iter().map(|p| p["sightings"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(sightings, matched.len() as u64, "one sighting per identified track: {persons}");

    // Exports: the CSV has one row per track, the PDF counts tracks.
    let csv = http_exchange(port, "GET", &format!("/v1/reports/events.csv?{range}"), Some(ANALYST), "", b"")?;
    let csv = String::from_utf8(csv.body)?;
    let csv_ids: BTreeSet<String> =
        csv.lines().skip(1).filter_map(|l| l.split(',').next().map(str::to_owned)).collect();
    assert_eq!(csv_ids, track_ids, "the CSV holds one row per track");
    // How long each person stayed: the track's dwell, from its last report.
    let dwell: BTreeMap<String, String> = tracks
        .iter()
        .map(|e| {
            let d = detection(e);
            (e.event_id.clone(), format!("{:.1}", (d.last_seen_ms - d.first_seen_ms) as f64 / 1000.0))
        })
        .collect();
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.last().copied(), dwell.get(cells[0]).map(String::as_str), "dwell_s of {line}");
    }
    let pdf = http_exchange(port, "GET", &format!("/v1/reports/summary.pdf?{range}"), Some(ANALYST), "", b"")?;
    let contents = sightline_exporter::read_pdf(&pdf.body).map_err(anyhow::Error::msg)?;
    let needle = format!("Seen on these streams: {faces} faces, {} bodies", 30 - faces);
    assert!(contents.text.contains(&needle), "{needle:?} missing from the PDF: {}", contents.text);
    db.remove().await?;
    Ok(())
}
