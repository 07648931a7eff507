//! `make bench-query`: how fast the analysts' answers come at realistic volumes.
//!
//! For each size N (`BENCH_TRACKS`, comma-separated, default `1000000,10000000`) a warehouse of N
//! generated tracks over 30 days is written straight into its own ClickHouse database
//! (`sightline_bench_query_<N>`, kept between runs and made again only when the generator changes;
//! see `sightline_testkit::warehouse_load`). Then every endpoint the dashboard and the reports use
//! is timed through a release build of `sightline-query` (HTTP on a kept-alive connection, as nginx
//! and browsers hold them, auth, JSON) and as the same warehouse
//! reads run straight against ClickHouse (the service's own store code, no HTTP), alternating the two
//! in each round (`BENCH_SAMPLES` samples per endpoint and path, default 40, parameters varied;
//! `BENCH_ONLY=name,...` measures only the endpoints named).
//!
//! Prints one line per endpoint (p50/p95 of both paths, their ratio, and the uncounted first
//! sample's times, service/raw), then `query_p95_max_ms=`
//! (the slowest interactive endpoint through the service), `query_vs_clickhouse_p95=` (the largest
//! service/raw ratio of p95), `dashboard_first_load_ms=` (what a browser fetches on first load: the
//! four API calls at once, then every thumbnail of the first page, six at a time), the 24-hour PDF,
//! the 30-day search by face (from stored faces: matched ones and any) and the CSV export's rows per
//! second.

// A benchmark: a failed expectation ends it with a message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use anyhow::Context as _;
use sightline_common::auth::Role;
use sightline_common::keys::KeyRing;
use sightline_query::params::{
    BreakdownQuery, EventsQuery, FaceSearchQuery, IdentifiedQuery, PersonsQuery, RangeQuery, TimelineQuery, VisitsQuery,
};
use sightline_query::store::Warehouse;
use sightline_testkit::rounds::{env_number, median, quantile};
use sightline_testkit::stack::{self, HttpConnection, ServiceProcess, TestDatabase};
use sightline_testkit::warehouse_load::{PERSONS, WarehouseLoad, person_id};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-query-analyst";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A query string as the API takes it, parsed into the service's own request type.
fn parse<T: serde::de::DeserializeOwned>(query: &str) -> T {
    let uri: axum::http::Uri = format!("/x?{query}").parse().expect("uri");
    axum::extract::Query::<T>::try_from_uri(&uri).expect("query").0
}

type RawRead<'a> = Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send + 'a>>;

/// Which goal an endpoint is held to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Dashboard reads: p95 <= 1 s (`query_p95_max_ms`).
    Interactive,
    /// The 24-hour PDF: <= 5 s.
    Report,
    /// Search by face over 30 days: p95 <= 2 s.
    Search,
}

/// One endpoint: its path for sample `i` (the raw path reads what the handler reads for it).
struct Endpoint {
    name: &'static str,
    goal: Goal,
    path: Box<dyn Fn(usize) -> String>,
}

/// GETs `path` through the service on `connection` (POSTs searches); the body. A status other than
/// 200 ends the endpoint's measurement.
fn fetch(connection: &mut HttpConnection, path: &str) -> anyhow::Result<Vec<u8>> {
    let method = if path.starts_with("/v1/search/") { "POST" } else { "GET" };
    let response = connection.exchange(method, path, Some(TOKEN))?;
    anyhow::ensure!(
        response.status == 200,
        "{path}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
    );
    Ok(response.body)
}

/// The warehouse reads the service makes for `path` (the handler's calls, without HTTP and JSON):
/// rows read.
fn raw_read<'a>(warehouse: &'a Warehouse, keys: &'a KeyRing, path: &'a str, now_ms: i64) -> RawRead<'a> {
    Box::pin(async move {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let rows = match route {
            "/v1/events" => {
                let request = parse::<EventsQuery>(query).validate(now_ms)?;
                let rows = warehouse.events(&request).await?;
                let matches = warehouse.matches_by_event(&rows).await?;
                (rows.len() + matches.len()) as u64
            }
            "/v1/stats/timeline" => {
                warehouse.timeline(&parse::<TimelineQuery>(query).validate(now_ms)?).await?.len() as u64
            }
            "/v1/stats/streams" => warehouse.streams(&parse::<RangeQuery>(query).validate(now_ms)?).await?.len() as u64,
            "/v1/stats/persons" => {
                warehouse.persons(&parse::<PersonsQuery>(query).validate(now_ms)?).await?.len() as u64
            }
            "/v1/stats/identified" => {
                let (range, site, zone) = parse::<IdentifiedQuery>(query).validate(now_ms)?;
                warehouse.knows_time_zone(&zone).await?;
                warehouse.identified(&range, &site, &zone).await?.by_site.len() as u64
            }
            "/v1/stats/dwell" => {
                let (scope, _) = parse::<BreakdownQuery>(query).validate(now_ms)?;
                warehouse.dwell(&scope).await?.tracks
            }
            "/v1/stats/heatmap" => {
                let (scope, zone) = parse::<BreakdownQuery>(query).validate(now_ms)?;
                warehouse.knows_time_zone(&zone).await?;
                warehouse.heatmap(&scope, &zone).await?.len() as u64
            }
            "/v1/stats/visits" => warehouse.visits(&parse::<VisitsQuery>(query).validate(now_ms)?).await?.len() as u64,
            "/v1/reports/summary.pdf" => {
                let request = parse::<EventsQuery>(query).validate_limited(
                    now_ms,
                    sightline_query::params::DEFAULT_REPORT_EVENTS,
                    sightline_query::params::MAX_REPORT_EVENTS,
                )?;
                let clock = sightline_exporter::ReportClock::utc();
                sightline_query::reports::summary(warehouse, keys, &request, "bench", now_ms, clock).await?.events.len()
                    as u64
            }
            "/v1/search/faces" => {
                let request = parse::<FaceSearchQuery>(query).validate(now_ms)?;
                let id = request.event.context("searches in the bench start from an event")?;
                let face = warehouse.face_of_event(id).await?.context("the event has a face")?;
                warehouse.search_faces(&face, &request).await?.len() as u64
            }
            other if other.ends_with("/best-shot") => {
                let id = other.trim_start_matches("/v1/events/").trim_end_matches("/best-shot").parse()?;
                warehouse.best_shot(id, keys).await?.map_or(0, |jpeg| jpeg.len() as u64)
            }
            other => {
                let id = other.trim_start_matches("/v1/events/").parse()?;
                let row = warehouse.event(id).await?;
                let matches = warehouse.matches_by_event(&row.into_iter().collect::<Vec<_>>()).await?;
                1 + matches.len() as u64
            }
        };
        Ok(rows)
    })
}

/// GETs `path` through the service reading the body as it streams (chunked), 64 KB at a time:
/// (status, rows of the CSV body without its header).
fn download_csv(port: u16, path: &str) -> anyhow::Result<(u16, u64)> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        chunked |= line.to_ascii_lowercase().starts_with("transfer-encoding: chunked");
    }
    let mut newlines = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)?;
            if size == 0 {
                break;
            }
            let mut left = size;
            while left > 0 {
                let n = reader.read(&mut buffer[..left.min(1 << 16)])?;
                anyhow::ensure!(n > 0, "the download ended inside a chunk");
                newlines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
                left -= n;
            }
            line.clear();
            reader.read_line(&mut line)?; // the chunk's CRLF
        }
    } else {
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            newlines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    Ok((status, newlines.saturating_sub(1)))
}

/// Peak resident memory of process `pid` so far, MB (VmHWM).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Ids of events to read one by one: the newest `count` with a best shot, and as many of any age.
async fn sample_ids(
    settings: &sightline_common::warehouse::ClickHouseSettings,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let client = settings.read_client();
    let with_shots: Vec<String> = client
        .query("SELECT toString(event_id) FROM events WHERE has_best_shot = 1 ORDER BY cityHash64(toString(event_id)) LIMIT ?")
        .bind(count as u64)
        .fetch_all()
        .await
        .expect("ids with best shots");
    let any: Vec<String> = client
        .query("SELECT toString(event_id) FROM events ORDER BY cityHash64(toString(event_id)) LIMIT ?")
        .bind(count as u64)
        .fetch_all()
        .await
        .expect("ids");
    (with_shots, any)
}

/// Events whose faces to search for: alternately a matched face (persons sighted often and rarely,
/// as the generator skews them) and any face.
async fn sample_faces(settings: &sightline_common::warehouse::ClickHouseSettings, count: usize) -> Vec<String> {
    let client = settings.read_client();
    let sample = |sql: &'static str| {
        let client = client.clone();
        async move { client.query(sql).bind(count as u64).fetch_all::<String>().await.expect("face ids") }
    };
    let matched =
        sample("SELECT toString(event_id) FROM matches ORDER BY cityHash64(toString(event_id)) LIMIT ?").await;
    let any =
        sample("SELECT toString(event_id) FROM face_sketches ORDER BY cityHash64(toString(event_id)) LIMIT ?").await;
    matched.into_iter().zip(any).flat_map(|(m, a)| [m, a]).collect()
}

/// Every thumbnail-bearing call a browser makes on the dashboard's first load, `parallel` at a time
/// (browsers open six connections per origin): the four API calls, then each best shot of the page.
fn dashboard_first_load(port: u16, range: &str) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let calls = [
        format!("/v1/stats/timeline?{range}"),
        format!("/v1/stats/streams?{range}"),
        format!("/v1/stats/persons?{range}"),
        format!("/v1/events?{range}"),
    ];
    let bodies: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            calls.iter().map(|path| scope.spawn(move || fetch(&mut HttpConnection::new(port), path))).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect::<anyhow::Result<_>>()
    })?;
    let page: serde_json::Value = serde_json::from_slice(&bodies[3])?;
    let shots: Vec<String> = page["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["best_shot_url"].as_str().map(str::to_owned))
        .collect();
    let parallel = 6;
    std::thread::scope(|scope| {
        let handles: Vec<_> = shots
            .chunks(shots.len().div_ceil(parallel).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    let mut connection = HttpConnection::new(port);
                    chunk.iter().try_for_each(|path| fetch(&mut connection, path).map(|_| ()))
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().expect("thread"))
    })?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, shots.len()))
}

async fn bench(tracks: u64, samples: usize) -> anyhow::Result<()> {
    let settings = stack::clickhouse(&format!("sightline_bench_query_{tracks}"));
    let day_start = sightline_common::clock::now_ms().div_euclid(DAY_MS) * DAY_MS;
    let load = WarehouseLoad { tracks, end_ms: day_start, days: 30, best_shots: 100_000, duplicate_every: 50 };
    let started = Instant::now();
    let dataset = load.ensure(&settings).await?;
    println!(
        "dataset: {} tracks ({} event rows with duplicates) over {} days, ready in {:.0} s",
        dataset.tracks,
        dataset.event_rows,
        dataset.days,
        started.elapsed().as_secs_f64()
    );

    let db = TestDatabase::create("bench_query").await?;
    sightline_common::auth::register(&db.pool, "bench-analyst", TOKEN, Role::Analyst).await?;
    let port = stack::free_port()?;
    let service_settings = stack::api_settings(port, &db.url, &settings);
    let query =
        ServiceProcess::start("sightline-query", "QUERY", "METRICS_ADDR", &[], &service_settings, "bench-query")?;
    query.wait_ready(Duration::from_secs(30), "the query service to be ready").await?;

    let end = dataset.end_ms;
    let (shot_ids, any_ids) = sample_ids(&settings, samples).await;
    let face_ids = sample_faces(&settings, samples).await;
    let range = move |days: i64, i: usize| {
        // Each sample ends at a different hour of the last day, so no two read the same rows.
        let to = end - (i as i64 % 24) * HOUR_MS;
        format!("from={}&to={to}", to - days * DAY_MS)
    };
    // Persons from the most sighted (the generator skews to low numbers) to rarer ones.
    let person = |i: usize| person_id((i as u64 * 7) % PERSONS);
    let endpoints: Vec<Endpoint> = vec![
        Endpoint {
            name: "events_24h",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/events?{}", range(1, i))),
        },
        Endpoint {
            name: "events_site_face_7d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/events?{}&site=site-b&kind=face", range(7, i))),
        },
        Endpoint {
            name: "events_matched_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/events?{}&matched=true", range(30, i))),
        },
        Endpoint {
            name: "events_person_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/events?{}&person={}", range(30, i), person(i))),
        },
        Endpoint {
            name: "event_by_id",
            goal: Goal::Interactive,
            path: {
                let ids = any_ids.clone();
                Box::new(move |i| format!("/v1/events/{}", ids[i % ids.len()]))
            },
        },
        Endpoint {
            name: "best_shot",
            goal: Goal::Interactive,
            path: {
                let ids = shot_ids.clone();
                Box::new(move |i| format!("/v1/events/{}/best-shot", ids[i % ids.len()]))
            },
        },
        Endpoint {
            name: "timeline_24h",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/timeline?{}", range(1, i))),
        },
        Endpoint {
            name: "timeline_30d_daily",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/timeline?{}&bucket=day", range(30, i))),
        },
        Endpoint {
            name: "timeline_site_7d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/timeline?{}&site=site-c", range(7, i))),
        },
        Endpoint {
            name: "streams_24h",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/streams?{}", range(1, i))),
        },
        Endpoint {
            name: "streams_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/streams?{}", range(30, i))),
        },
        Endpoint {
            name: "persons_24h",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/persons?{}", range(1, i))),
        },
        Endpoint {
            name: "persons_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/persons?{}", range(30, i))),
        },
        Endpoint {
            name: "identified_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/identified?{}&tz=Asia/Kolkata", range(30, i))),
        },
        Endpoint {
            name: "dwell_7d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/dwell?{}&site=site-a", range(7, i))),
        },
        Endpoint {
            name: "heatmap_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/heatmap?{}&tz=Asia/Tokyo", range(30, i))),
        },
        Endpoint {
            name: "visits_30d",
            goal: Goal::Interactive,
            path: Box::new(move |i| format!("/v1/stats/visits?{}", range(30, i))),
        },
        Endpoint {
            name: "face_search_30d",
            goal: Goal::Search,
            path: {
                let ids = face_ids.clone();
                Box::new(move |i| format!("/v1/search/faces?{}&event={}", range(30, i), ids[i % ids.len()]))
            },
        },
        Endpoint {
            name: "summary_pdf_24h",
            goal: Goal::Report,
            path: Box::new(move |i| format!("/v1/reports/summary.pdf?{}", range(1, i))),
        },
    ];
    // BENCH_ONLY=name,name... measures just those endpoints (to reproduce one figure).
    let only: Vec<String> = std::env::var("BENCH_ONLY")
        .map(|names| names.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    let endpoints: Vec<Endpoint> =
        endpoints.into_iter().filter(|e| only.is_empty() || only.iter().any(|n| n == e.name)).collect();

    let warehouse = Warehouse::new(&settings, stack::object_store(&settings.database)?);
    let privacy = sightline_common::privacy::PrivacySettings::default();
    let keys = privacy.key_ring(privacy.key_store(Default::default(), db.pool.clone())?);
    let now_ms = end;
    let mut worst_p95 = 0.0f64;
    let mut worst_ratio = 0.0f64;
    let mut pdf_p95 = f64::NAN;
    let mut search_p95 = f64::NAN;
    // The service is called on one kept-alive connection, as nginx (`keepalive` upstreams) and
    // browsers call it; a new connection per request added about 0.8 ms to a 3 ms best shot.
    let mut connection = HttpConnection::new(port);
    for endpoint in &endpoints {
        let (mut service, mut raw) = (Vec::new(), Vec::new());
        let (mut first_ms, mut raw_first_ms) = (0.0, 0.0);
        // Sample 0 warms both paths up and is not counted. Its times are printed as `first`: the raw
        // path's store starts with no hourly counts cached (a cold service), while the service has
        // computed the last month's at start-up. The two paths read the same rows, so
        // whichever runs second finds them cached: they take turns going first.
        'samples: for i in 0..=samples {
            let path = (endpoint.path)(i);
            let (mut service_ms, mut raw_ms) = (0.0, 0.0);
            for service_turn in if i % 2 == 0 { [true, false] } else { [false, true] } {
                let started = Instant::now();
                if service_turn {
                    let served = tokio::task::block_in_place(|| fetch(&mut connection, &path));
                    service_ms = started.elapsed().as_secs_f64() * 1000.0;
                    if let Err(error) = served {
                        println!("{:<22} FAILED: {error:#}", endpoint.name);
                        worst_p95 = f64::INFINITY;
                        service.clear();
                        break 'samples;
                    }
                } else {
                    raw_read(&warehouse, &keys, &path, now_ms).await?;
                    raw_ms = started.elapsed().as_secs_f64() * 1000.0;
                }
            }
            if i == 0 {
                (first_ms, raw_first_ms) = (service_ms, raw_ms);
            } else {
                service.push(service_ms);
                raw.push(raw_ms);
            }
        }
        if service.is_empty() {
            continue;
        }
        let (p50, p95) = (quantile(&service, 0.5), quantile(&service, 0.95));
        let (raw_p50, raw_p95) = (quantile(&raw, 0.5), quantile(&raw, 0.95));
        let ratio = p95 / raw_p95;
        println!(
            "{:<22} service p50 {p50:>7.0} ms  p95 {p95:>7.0} ms | clickhouse p50 {raw_p50:>7.0} ms  p95 {raw_p95:>7.0} ms | ratio {ratio:.2} | first {first_ms:.0}/{raw_first_ms:.0} ms",
            endpoint.name
        );
        match endpoint.goal {
            Goal::Interactive => {
                worst_p95 = worst_p95.max(p95);
                worst_ratio = worst_ratio.max(ratio);
            }
            Goal::Report => pdf_p95 = p95,
            Goal::Search => search_p95 = p95,
        }
    }

    if !only.is_empty() {
        // Just the endpoints named: no dashboard load or CSV download.
        println!("query_p95_max_ms={worst_p95:.0}");
        println!("query_vs_clickhouse_p95={worst_ratio:.2}");
        drop(query);
        return db.remove().await;
    }

    // The dashboard as a browser first opens it: the last 24 hours.
    let loads: anyhow::Result<Vec<(f64, usize)>> =
        (0..samples.min(5)).map(|i| tokio::task::block_in_place(|| dashboard_first_load(port, &range(1, i)))).collect();

    // The CSV export of 7 days, streamed: rows per second of the download, and the service's peak
    // memory before and after it.
    let rss_before = peak_rss_mb(query.pid());
    let csv_path = format!("/v1/reports/events.csv?{}", range(7, 0));
    let started = Instant::now();
    let csv = tokio::task::block_in_place(|| download_csv(port, &csv_path));
    let csv_s = started.elapsed().as_secs_f64();
    let rss_after = peak_rss_mb(query.pid());

    println!("tracks={}", dataset.tracks);
    println!("query_p95_max_ms={worst_p95:.0}");
    println!("query_vs_clickhouse_p95={worst_ratio:.2}");
    match loads {
        Ok(loads) => {
            let load_ms: Vec<f64> = loads.iter().map(|(ms, _)| *ms).collect();
            let thumbnails = loads.first().map_or(0, |(_, n)| *n);
            println!(
                "dashboard_first_load_ms={:.0} (median of {} loads, {thumbnails} thumbnails each)",
                median(&load_ms),
                load_ms.len()
            );
        }
        Err(error) => println!("dashboard_first_load_ms=FAILED ({error:#})"),
    }
    println!("summary_pdf_24h_p95_ms={pdf_p95:.0}");
    println!("face_search_30d_p95_ms={search_p95:.0}");
    match csv {
        Ok((200, rows)) => println!(
            "csv_7d_rows={rows} csv_rows_per_s={:.0} ({csv_s:.1} s; service peak memory {rss_before:.0} MB before, {rss_after:.0} MB after)",
            rows as f64 / csv_s
        ),
        Ok((status, _)) => println!("csv_7d=FAILED (status {status})"),
        Err(error) => println!("csv_7d=FAILED ({error:#})"),
    }
    drop(query);
    db.remove().await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let sizes = std::env::var("BENCH_TRACKS").unwrap_or_else(|_| "1000000,10000000".to_owned());
    // 40 samples, so that p95 is a percentile (the third slowest) and not the slowest sample: with
    // 12, one slow read on either path decided the endpoint's ratio.
    let samples = env_number("BENCH_SAMPLES", 40);
    for size in sizes.split(',').filter_map(|s| s.trim().parse::<u64>().ok()) {
        println!("== {size} tracks");
        bench(size, samples).await?;
    }
    Ok(())
}
